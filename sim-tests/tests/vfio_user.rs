//! The vfio-user server end to end, with a client that does what QEMU's
//! `vfio-user-pci` does (version, DMA mappings of a memfd, device and
//! region info, config space, MSI-X eventfds, BAR0 accesses), and our VF
//! driver on top of it: bring-up through the mailbox, rings in the
//! "guest's" memory, frames both ways, interrupts through the eventfds.
//! Then what a hostile or broken VMM does.

use firmware::mac::Mac;
use sim_tests::drivers::pf::PfDriver;
use sim_tests::drivers::queues::Rings;
use sim_tests::drivers::vf::VfDriver;
use sim_tests::frames::FrameSpec;
use sim_tests::sim::Sim;
use sim_tests::transport::Transport;
use sim_tests::vfio_user::protocol::{self, Out, cmd, vfio};
use sim_tests::vfio_user::{EndpointCounters, Served, Server, server};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const VF0_MAC: Mac = Mac([0x02, 0x00, 0x00, 0x00, 0x0a, 0x00]);
const PEER: Mac = Mac([0x02, 0xee, 0, 0, 0, 9]);
const GUEST_BASE: u64 = 0x4000_0000;
const GUEST_SIZE: u64 = 4 << 20;

type Job = Box<dyn FnOnce(&mut Served<Sim>) + Send>;

/// The device, served on its own thread (the simulation is not `Send`:
/// it is built there).
struct Device {
    jobs: mpsc::Sender<Job>,
    dir: PathBuf,
}

impl Device {
    fn start(name: &str) -> Device {
        let dir =
            std::env::temp_dir().join(format!("vfio-user-test-{}-{name}", std::process::id()));
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready) = mpsc::channel();
        let d = dir.clone();
        std::thread::spawn(move || {
            let mut sim = Sim::with_board_capacities();
            let mut pf = PfDriver::probe(&mut sim).unwrap();
            pf.sriov_configure(&mut sim, 2).unwrap();
            pf.set_vf_mac(&mut sim, 0, VF0_MAC).unwrap();
            let vfs: Vec<(u16, u16)> = (0..2).map(|n| (n, pf.vf_rid(&mut sim, n))).collect();
            let mut server = Server::bind(&d, &vfs).unwrap();
            server.log = Box::new(|_| {});
            let mut served = Served::new(sim, server);
            ready_tx.send(()).unwrap();
            loop {
                if served.pump(Duration::from_micros(200)).is_err() {
                    return;
                }
                loop {
                    match rx.try_recv() {
                        Ok(job) => job(&mut served),
                        Err(mpsc::TryRecvError::Empty) => break,
                        Err(mpsc::TryRecvError::Disconnected) => return,
                    }
                }
            }
        });
        ready.recv().unwrap();
        Device { jobs, dir }
    }

    fn socket(&self, vf: u16) -> PathBuf {
        self.dir.join(format!("vf{vf}.sock"))
    }

    fn run<T: Send + 'static>(&self, f: impl FnOnce(&mut Served<Sim>) -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        self.jobs
            .send(Box::new(move |s| {
                let _ = tx.send(f(s));
            }))
            .unwrap();
        rx.recv().unwrap()
    }

    fn counters(&self, vf: u16) -> EndpointCounters {
        self.run(move |s| s.server.counters(vf).unwrap())
    }
}

fn memfd(len: u64) -> OwnedFd {
    // SAFETY: a new anonymous file, owned from here on.
    let fd = unsafe { OwnedFd::from_raw_fd(libc::memfd_create(c"guest-ram".as_ptr(), 0)) };
    assert_eq!(unsafe { libc::ftruncate(fd.as_raw_fd(), len as i64) }, 0);
    fd
}

fn eventfd() -> OwnedFd {
    // SAFETY: a new eventfd, owned from here on.
    unsafe { OwnedFd::from_raw_fd(libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC)) }
}

/// A VMM as QEMU is one: guest RAM in a memfd, mapped for the device.
struct Vmm {
    s: UnixStream,
    id: u16,
    ram: *mut u8,
    next: u64,
    vectors: Vec<OwnedFd>,
    started: std::time::Instant,
}

impl Vmm {
    fn connect(dev: &Device, vf: u16) -> Vmm {
        let s = server::connect(&dev.socket(vf)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let ram = memfd(GUEST_SIZE);
        // SAFETY: a shared mapping of our own memfd.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                GUEST_SIZE as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                ram.as_raw_fd(),
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        let mut vmm = Vmm {
            s,
            id: 0,
            ram: p.cast(),
            next: GUEST_BASE + 0x1000,
            vectors: Vec::new(),
            started: std::time::Instant::now(),
        };
        let json = b"{\"capabilities\":{\"max_msg_fds\":16}}\0";
        let (h, body) = vmm.call(
            cmd::VERSION,
            &Out::default().u16(0).u16(0).bytes(json).0,
            &[],
        );
        assert_eq!(h.flags, protocol::TYPE_REPLY);
        let text = String::from_utf8_lossy(&body[4..]);
        assert!(text.contains("\"max_msg_fds\":8"), "{text}");
        let map = Out::default()
            .u32(32)
            .u32(vfio::DMA_MAP_FLAG_READ | vfio::DMA_MAP_FLAG_WRITE)
            .u64(0)
            .u64(GUEST_BASE)
            .u64(GUEST_SIZE)
            .0;
        let (h, _) = vmm.call(cmd::DMA_MAP, &map, &[ram.as_raw_fd()]);
        assert_eq!(h.flags, protocol::TYPE_REPLY, "mapped");
        vmm
    }

    fn call(&mut self, command: u16, body: &[u8], fds: &[i32]) -> (protocol::Header, Vec<u8>) {
        self.id = self.id.wrapping_add(1);
        server::request(&mut self.s, self.id, command, body, fds).unwrap()
    }

    fn region_read(&mut self, region: u32, offset: u64, count: u32) -> Vec<u8> {
        let (h, body) = self.call(
            cmd::REGION_READ,
            &Out::default().u64(offset).u32(region).u32(count).0,
            &[],
        );
        assert_eq!(h.flags, protocol::TYPE_REPLY, "read {region}:{offset:#x}");
        body[16..].to_vec()
    }

    fn region_write(&mut self, region: u32, offset: u64, data: &[u8]) -> protocol::Header {
        let body = Out::default()
            .u64(offset)
            .u32(region)
            .u32(data.len() as u32)
            .bytes(data)
            .0;
        self.call(cmd::REGION_WRITE, &body, &[]).0
    }

    fn wire_msix(&mut self) {
        self.vectors = (0..3).map(|_| eventfd()).collect();
        let fds: Vec<i32> = self.vectors.iter().map(|f| f.as_raw_fd()).collect();
        let body = Out::default()
            .u32(20)
            .u32(vfio::IRQ_SET_ACTION_TRIGGER | vfio::IRQ_SET_DATA_EVENTFD)
            .u32(vfio::PCI_MSIX_IRQ_INDEX)
            .u32(0)
            .u32(3)
            .0;
        let (h, _) = self.call(cmd::DEVICE_SET_IRQS, &body, &fds);
        assert_eq!(h.flags, protocol::TYPE_REPLY);
    }

    fn guest(&self, addr: u64, len: usize) -> Option<*mut u8> {
        let off = addr.checked_sub(GUEST_BASE)?;
        (off + len as u64 <= GUEST_SIZE).then(|| unsafe { self.ram.add(off as usize) })
    }
}

/// The VF driver reaches the VF only through the VMM: config space and
/// BAR0 as vfio-user regions, memory in the VM's RAM, interrupts on the
/// eventfds.
impl Transport for Vmm {
    fn config_read(&mut self, _rid: u16, offset: u16, size: u8) -> u32 {
        let b = self.region_read(
            vfio::PCI_CONFIG_REGION_INDEX,
            u64::from(offset),
            u32::from(size),
        );
        b.iter().rev().fold(0, |v, x| v << 8 | u32::from(*x))
    }
    fn config_write(&mut self, _rid: u16, offset: u16, size: u8, value: u32) {
        let b = value.to_le_bytes();
        self.region_write(
            vfio::PCI_CONFIG_REGION_INDEX,
            u64::from(offset),
            &b[..usize::from(size)],
        );
    }
    fn bar_read32(&mut self, _rid: u16, offset: u32) -> u32 {
        let b = self.region_read(0, u64::from(offset), 4);
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    fn bar_write32(&mut self, _rid: u16, offset: u32, value: u32) {
        self.region_write(0, u64::from(offset), &value.to_le_bytes());
    }
    fn delay_us(&mut self, us: u64) {
        std::thread::sleep(Duration::from_micros(us));
    }
    fn now_ns(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }
    fn dma_alloc(&mut self, _rid: u16, len: u64, align: u64) -> Option<u64> {
        let at = self.next.div_ceil(align) * align;
        self.guest(at, len as usize)?;
        self.next = at + len;
        Some(at)
    }
    fn dma_write(&mut self, addr: u64, data: &[u8]) -> bool {
        match self.guest(addr, data.len()) {
            // SAFETY: inside our mapping of the guest RAM.
            Some(p) => unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) },
            None => return false,
        }
        true
    }
    fn dma_read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        match self.guest(addr, buf.len()) {
            // SAFETY: as above.
            Some(p) => unsafe { std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), buf.len()) },
            None => return false,
        }
        true
    }
    fn take_interrupts(&mut self, _rid: u16) -> u32 {
        let mut fired = 0;
        for (v, fd) in self.vectors.iter().enumerate() {
            let mut n = [0u8; 8];
            // SAFETY: an 8-byte read of an eventfd we own.
            if unsafe { libc::read(fd.as_raw_fd(), n.as_mut_ptr().cast(), 8) } == 8 {
                fired |= 1 << v;
            }
        }
        fired
    }
}

fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

#[test]
fn a_vmm_sees_an_82599_vf_and_our_driver_runs_traffic_through_it() {
    let dev = Device::start("traffic");
    let mut vmm = Vmm::connect(&dev, 0);
    let (_, info) = vmm.call(
        cmd::DEVICE_GET_INFO,
        &Out::default().u32(16).u32(0).u32(0).u32(0).0,
        &[],
    );
    let word = |b: &[u8], i: usize| {
        u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
    };
    assert_eq!(
        word(&info, 1),
        vfio::DEVICE_FLAGS_PCI | vfio::DEVICE_FLAGS_RESET
    );
    assert_eq!((word(&info, 2), word(&info, 3)), (9, 5));
    for (index, size) in [(0u32, 0x4000u64), (3, 0x4000), (7, 4096), (1, 0)] {
        let (_, r) = vmm.call(
            cmd::DEVICE_GET_REGION_INFO,
            &Out::default()
                .u32(32)
                .u32(0)
                .u32(index)
                .u32(0)
                .u64(0)
                .u64(0)
                .0,
            &[],
        );
        let got = u64::from(word(&r, 4)) | u64::from(word(&r, 5)) << 32;
        assert_eq!(got, size, "region {index}");
    }
    let (_, irq) = vmm.call(
        cmd::DEVICE_GET_IRQ_INFO,
        &Out::default().u32(16).u32(0).u32(2).u32(0).0,
        &[],
    );
    assert_eq!(word(&irq, 3), 3, "three MSI-X vectors");
    let config = vmm.region_read(vfio::PCI_CONFIG_REGION_INDEX, 0, 4096);
    assert_eq!(&config[0..4], &[0x86, 0x80, 0xed, 0x10], "8086:10ed");
    vmm.wire_msix();

    // ixgbevf's bring-up, through vfio-user.
    let mut vf = VfDriver::new(0);
    let up = vf.bring_up(&mut vmm).unwrap();
    assert_eq!((up.mac, up.mac_from_pf), (VF0_MAC, true));
    for (reg, v) in [
        (0x120, 0x8080),
        (0x140, 0x81),
        (0x114, 3),
        (0x110, 3),
        (0x108, 3),
    ] {
        vmm.bar_write32(0, reg, v);
    }
    let mut rings = Rings::setup(&mut vmm, 0, 0, 1, 32, 2, false).unwrap();
    vmm.take_interrupts(0);

    // The wire to the VF: DMA into the "guest's" RAM, and vector 0 fires.
    let frame = FrameSpec::new(VF0_MAC, PEER)
        .udp([10, 0, 0, 1], [10, 0, 0, 2], 7, 9)
        .build();
    let f = frame.clone();
    dev.run(move |s| s.dev.inject(&f));
    let got = wait_for(|| {
        let r = rings.receive(&mut vmm);
        (!r.is_empty()).then_some(r)
    })
    .expect("the frame reached the ring in guest memory");
    assert_eq!(got[0].data, frame);
    assert!(
        wait_for(|| (vmm.take_interrupts(0) & 1 != 0).then_some(())).is_some(),
        "MSI-X vector 0 signalled on its eventfd"
    );
    // The VF to the wire: DMA out of the guest's RAM.
    let out = FrameSpec::new(PEER, VF0_MAC).build();
    assert!(rings.send(&mut vmm, 0, &out, None));
    let wire = wait_for(|| {
        let w = dev.run(|s| s.dev.uplink.take_tx());
        (!w.is_empty()).then_some(w)
    })
    .expect("on the wire");
    assert_eq!(wire, vec![out]);
    let c = dev.counters(0);
    assert_eq!((c.connections, c.dma_maps, c.errors), (1, 1, 0));
    assert!(c.interrupts >= 1 && c.region_accesses > 20);
}

#[test]
fn hostile_and_broken_vmms_get_errors_and_the_other_vfs_keep_working() {
    let dev = Device::start("hostile");
    let mut vmm = Vmm::connect(&dev, 0);
    // A second client on the same socket is refused (closed at once).
    let mut second = server::connect(&dev.socket(0)).unwrap();
    second
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(second.read(&mut [0u8; 1]).unwrap_or(0), 0, "closed");
    assert_eq!(dev.counters(0).rejected, 1);
    // Unknown commands, bad regions, bad sizes, narrow BAR writes: errors.
    for (command, body) in [
        (99u16, vec![]),
        (cmd::REGION_READ, Out::default().u64(0).u32(5).u32(4).0),
        (cmd::REGION_READ, Out::default().u64(0x3ffe).u32(0).u32(4).0),
        (
            cmd::REGION_WRITE,
            Out::default().u64(0).u32(0).u32(2).bytes(&[1, 2]).0,
        ),
        (
            cmd::DMA_MAP,
            Out::default()
                .u32(32)
                .u32(3)
                .u64(0)
                .u64(0x123)
                .u64(0x1000)
                .0,
        ),
        (
            cmd::DEVICE_SET_IRQS,
            Out::default().u32(20).u32(0x24).u32(2).u32(2).u32(5).0,
        ),
        (cmd::DMA_READ, vec![]),
    ] {
        let (h, _) = vmm.call(command, &body, &[]);
        assert_eq!(
            h.flags & protocol::FLAG_ERROR,
            protocol::FLAG_ERROR,
            "command {command}"
        );
        assert_ne!(h.error, 0, "an errno, command {command}");
    }
    assert_eq!(dev.counters(0).errors, 7);
    // Any value at any config offset: no panic, IDs unchanged.
    for off in (0..4096u64).step_by(4) {
        vmm.region_write(
            vfio::PCI_CONFIG_REGION_INDEX,
            off,
            &0xffff_ffffu32.to_le_bytes(),
        );
    }
    let config = vmm.region_read(vfio::PCI_CONFIG_REGION_INDEX, 0, 4);
    assert_eq!(config, [0x86, 0x80, 0xed, 0x10]);
    // A ring at an address the VMM never mapped: a counted queue fault,
    // no write anywhere.
    let mut vf = VfDriver::new(0);
    vf.bring_up(&mut vmm).unwrap();
    use hal::ixgbe::queuereg::*;
    vmm.bar_write32(0, rxdctl(0), 0);
    vmm.bar_write32(0, rdbal(0), 0x100_0000);
    vmm.bar_write32(0, rdbah(0), 0);
    vmm.bar_write32(0, rdlen(0), 32 * 16);
    vmm.bar_write32(0, rdh(0), 0);
    vmm.bar_write32(0, rxdctl(0), RXDCTL_ENABLE);
    vmm.bar_write32(0, rdt(0), 8);
    dev.run(|s| s.dev.inject(&FrameSpec::new(VF0_MAC, PEER).build()));
    let faults = wait_for(|| {
        let f = dev.run(|s| {
            s.dev
                .device
                .port_counters(1)
                .map(|c| c.drops[firmware::drops::DropReason::DmaFault as usize])
        });
        f.filter(|n| *n > 0)
    });
    assert_eq!(faults, Some(1));
    // A VMM that dies in the middle of a message: the VF is reset and
    // detached; a new VMM gets it back.
    let h = protocol::Header {
        id: 1,
        cmd: cmd::REGION_WRITE,
        size: 64,
        flags: 0,
        error: 0,
    };
    use std::io::Write;
    vmm.s.write_all(&h.encode()).unwrap();
    vmm.s.write_all(&[0; 8]).unwrap();
    drop(vmm);
    assert!(wait_for(|| (dev.counters(0).disconnects == 1).then_some(())).is_some());
    let mut again = Vmm::connect(&dev, 0);
    assert_eq!(again.config_read(0, 0, 2), 0x8086);
    // A message claiming a size beyond the limit ends that connection.
    let h = protocol::Header {
        id: 2,
        cmd: cmd::REGION_READ,
        size: u32::MAX,
        flags: 0,
        error: 0,
    };
    again.s.write_all(&h.encode()).unwrap();
    assert!(wait_for(|| (dev.counters(0).disconnects == 2).then_some(())).is_some());
    // VF 1, on its own socket, was never disturbed.
    let mut other = Vmm::connect(&dev, 1);
    let mut vf1 = VfDriver::new(0);
    assert!(vf1.bring_up(&mut other).is_ok());
    assert_eq!(dev.counters(1).errors, 0);
}
