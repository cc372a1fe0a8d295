//! The vfio-user server: one UNIX socket per VF, each presenting that VF
//! to a VMM (QEMU's `vfio-user-pci`) as a PCI device. One thread serves
//! every socket and the device beside them: [`Server::poll`] waits for
//! messages, answers them against the device, and signals the VMM's
//! eventfds for the MSI-X vectors the hardware model fired.

use super::conn::{Conn, ConnError, Message};
use super::pci::{self, ConfigEffect, MSIX_VECTORS, VfConfig};
use super::protocol::{self, Header, MAX_DATA_XFER, MAX_MSG_FDS, Out, Request, vfio};
use crate::guestmem::GuestMemory;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the server needs of the device behind its sockets: the VF's BAR0
/// (the hardware model's registers), its FLR, its IOMMU, its interrupts.
pub trait VfBackend {
    fn bar0_read32(&mut self, rid: u16, offset: u32) -> u32;
    fn bar0_write32(&mut self, rid: u16, offset: u32, value: u32);
    /// A Function Level Reset, complete when this returns.
    fn flr(&mut self, rid: u16);
    /// Attaches the VF to a VM's memory (`Some`, initially empty) or
    /// detaches it (`None`).
    fn attach_memory(&mut self, rid: u16, mem: Option<GuestMemory>);
    fn memory(&mut self, rid: u16) -> Option<&mut GuestMemory>;
    /// The mappings changed: the firmware's view of the window follows.
    fn memory_changed(&mut self, rid: u16);
    fn take_interrupts(&mut self, rid: u16) -> u32;
}

/// What one VF's socket saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointCounters {
    pub connections: u64,
    /// A second client while one was connected: refused.
    pub rejected: u64,
    pub disconnects: u64,
    pub messages: u64,
    /// Requests answered with an error (malformed, unsupported, refused).
    pub errors: u64,
    pub dma_maps: u64,
    pub dma_unmaps: u64,
    /// MSI-X messages delivered to the VMM, and those with no eventfd.
    pub interrupts: u64,
    pub interrupts_unwired: u64,
    pub resets: u64,
    pub region_accesses: u64,
}

struct Endpoint {
    vf: u16,
    rid: u16,
    path: PathBuf,
    listener: UnixListener,
    conn: Option<Conn>,
    config: VfConfig,
    /// The VMM's eventfds for MSI-X vectors 0..3.
    msix: [Option<File>; MSIX_VECTORS],
    /// Error and request notifiers (accepted, never signalled).
    notifiers: Vec<OwnedFd>,
    counters: EndpointCounters,
}

pub struct Server {
    endpoints: Vec<Endpoint>,
    /// Log lines go here (stderr by default).
    pub log: Box<dyn FnMut(&str)>,
}

/// The capabilities the server offers (protocol 0.0, as QEMU speaks it).
fn capabilities() -> String {
    format!(
        "{{\"capabilities\":{{\"max_msg_fds\":{MAX_MSG_FDS},\"max_data_xfer_size\":{MAX_DATA_XFER},\"pgsizes\":4096,\"max_dma_maps\":{}}}}}",
        crate::guestmem::MAX_MAPPINGS
    )
}

impl Server {
    /// Binds `dir/vf<N>.sock` for each `(vf, rid)`. Stale sockets are
    /// replaced.
    pub fn bind(dir: &Path, vfs: &[(u16, u16)]) -> io::Result<Server> {
        std::fs::create_dir_all(dir)?;
        let mut endpoints = Vec::new();
        for &(vf, rid) in vfs {
            let path = dir.join(format!("vf{vf}.sock"));
            let _ = std::fs::remove_file(&path);
            let listener = UnixListener::bind(&path)?;
            listener.set_nonblocking(true)?;
            endpoints.push(Endpoint {
                vf,
                rid,
                path,
                listener,
                conn: None,
                config: VfConfig::default(),
                msix: [None, None, None],
                notifiers: Vec::new(),
                counters: EndpointCounters::default(),
            });
        }
        Ok(Server {
            endpoints,
            log: Box::new(|l| eprintln!("{l}")),
        })
    }

    pub fn socket_paths(&self) -> Vec<PathBuf> {
        self.endpoints.iter().map(|e| e.path.clone()).collect()
    }

    pub fn counters(&self, vf: u16) -> Option<EndpointCounters> {
        self.endpoints
            .iter()
            .find(|e| e.vf == vf)
            .map(|e| e.counters)
    }

    pub fn connected(&self, vf: u16) -> bool {
        self.endpoints
            .iter()
            .any(|e| e.vf == vf && e.conn.is_some())
    }

    /// Waits up to `timeout` for a client to connect or send, and serves
    /// every message that is there; then delivers interrupts.
    pub fn poll(&mut self, dev: &mut impl VfBackend, timeout: Duration) -> io::Result<()> {
        let mut fds: Vec<libc::pollfd> = Vec::new();
        for e in &self.endpoints {
            let fd = match &e.conn {
                Some(c) => c.stream.as_raw_fd(),
                None => e.listener.as_raw_fd(),
            };
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
            // A second client is noticed (and refused) while one is on.
            if e.conn.is_some() {
                fds.push(libc::pollfd {
                    fd: e.listener.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
        }
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `fds` is a live array of pollfd for the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let ready: Vec<i32> = fds
            .iter()
            .filter(|p| p.revents != 0)
            .map(|p| p.fd)
            .collect();
        for i in 0..self.endpoints.len() {
            let listener = self.endpoints[i].listener.as_raw_fd();
            if ready.contains(&listener) {
                self.accept(i, dev);
            }
            let conn = self.endpoints[i]
                .conn
                .as_ref()
                .map(|c| c.stream.as_raw_fd());
            if conn.is_some_and(|fd| ready.contains(&fd)) {
                self.serve_one(i, dev);
            }
        }
        self.deliver_interrupts(dev);
        Ok(())
    }

    fn accept(&mut self, i: usize, dev: &mut impl VfBackend) {
        let e = &mut self.endpoints[i];
        let Ok((stream, _)) = e.listener.accept() else {
            return;
        };
        if e.conn.is_some() {
            e.counters.rejected += 1;
            (self.log)(&format!(
                "vfio-user vf{}: a second client refused (one VMM per VF)",
                e.vf
            ));
            drop(stream);
            return;
        }
        match stream
            .set_nonblocking(false)
            .and_then(|_| Conn::new(stream))
        {
            Ok(c) => {
                e.conn = Some(c);
                e.counters.connections += 1;
                e.config.reset();
                dev.attach_memory(e.rid, Some(GuestMemory::default()));
                (self.log)(&format!("vfio-user vf{}: client connected", e.vf));
            }
            Err(err) => (self.log)(&format!("vfio-user vf{}: accept: {err}", e.vf)),
        }
    }

    /// The client went away (or broke the stream): its memory is no
    /// longer reachable, its eventfds are dropped, and the VF is reset so
    /// the next VM finds it as new.
    fn disconnect(&mut self, i: usize, dev: &mut impl VfBackend, why: &ConnError) {
        let e = &mut self.endpoints[i];
        (self.log)(&format!("vfio-user vf{}: disconnected: {why}", e.vf));
        e.conn = None;
        e.counters.disconnects += 1;
        e.msix = [None, None, None];
        e.notifiers.clear();
        e.config.reset();
        dev.attach_memory(e.rid, None);
        dev.flr(e.rid);
    }

    fn serve_one(&mut self, i: usize, dev: &mut impl VfBackend) {
        let Some(conn) = self.endpoints[i].conn.as_mut() else {
            return;
        };
        let msg = match conn.receive() {
            Ok(m) => m,
            Err(why) => {
                self.disconnect(i, dev, &why);
                return;
            }
        };
        self.endpoints[i].counters.messages += 1;
        let h = msg.header;
        let result = self.handle(i, dev, msg);
        let e = &mut self.endpoints[i];
        if let Err(errno) = result {
            e.counters.errors += 1;
            (self.log)(&format!(
                "vfio-user vf{}: command {} (id {}) refused: errno {errno}",
                e.vf, h.cmd, h.id
            ));
        }
        if h.wants_reply() {
            let bytes = protocol::reply(&h, result);
            let sent = e.conn.as_mut().map(|c| c.send(&bytes));
            if let Some(Err(why)) = sent {
                self.disconnect(i, dev, &why);
            }
        }
    }

    fn handle(&mut self, i: usize, dev: &mut impl VfBackend, msg: Message) -> Result<Vec<u8>, i32> {
        let Message { header, body, fds } = msg;
        let req = protocol::parse(&header, &body)?;
        let e = &mut self.endpoints[i];
        let rid = e.rid;
        // Only DMA_MAP and SET_IRQS carry descriptors.
        if !fds.is_empty() && !matches!(req, Request::DmaMap { .. } | Request::SetIrqs { .. }) {
            return Err(libc::EINVAL);
        }
        match req {
            Request::Version { major, .. } => {
                if major != 0 {
                    return Err(libc::ENOTSUP);
                }
                let mut json = capabilities().into_bytes();
                json.push(0);
                Ok(Out::default().u16(0).u16(0).bytes(&json).0)
            }
            Request::DmaMap {
                flags,
                offset,
                iova,
                size,
            } => {
                if fds.len() > 1 {
                    return Err(libc::EINVAL);
                }
                let mem = dev.memory(rid).ok_or(libc::ENODEV)?;
                mem.map(
                    iova,
                    size,
                    fds.first(),
                    offset,
                    flags & vfio::DMA_MAP_FLAG_READ != 0,
                    flags & vfio::DMA_MAP_FLAG_WRITE != 0,
                )
                .map_err(|err| err.errno())?;
                e.counters.dma_maps += 1;
                dev.memory_changed(rid);
                Ok(Vec::new())
            }
            Request::DmaUnmap {
                argsz,
                flags,
                iova,
                size,
            } => {
                if flags & vfio::DMA_UNMAP_FLAG_GET_DIRTY_BITMAP != 0 {
                    return Err(libc::ENOTSUP);
                }
                let all = flags & vfio::DMA_UNMAP_FLAG_ALL != 0;
                let mem = dev.memory(rid).ok_or(libc::ENODEV)?;
                mem.unmap(iova, size, all);
                e.counters.dma_unmaps += 1;
                dev.memory_changed(rid);
                Ok(Out::default()
                    .u32(argsz.min(24))
                    .u32(flags)
                    .u64(iova)
                    .u64(size)
                    .0)
            }
            Request::DeviceGetInfo { .. } => Ok(Out::default()
                .u32(16)
                .u32(vfio::DEVICE_FLAGS_PCI | vfio::DEVICE_FLAGS_RESET)
                .u32(vfio::PCI_NUM_REGIONS)
                .u32(vfio::PCI_NUM_IRQS)
                .0),
            Request::RegionInfo { index, .. } => {
                let (size, flags) = pci::region(index).ok_or(libc::EINVAL)?;
                Ok(Out::default()
                    .u32(32)
                    .u32(flags)
                    .u32(index)
                    .u32(0)
                    .u64(size)
                    .u64(0)
                    .0)
            }
            Request::IrqInfo { index, .. } => {
                let (count, flags) = pci::irq(index).ok_or(libc::EINVAL)?;
                Ok(Out::default().u32(16).u32(flags).u32(index).u32(count).0)
            }
            Request::SetIrqs {
                flags,
                index,
                start,
                count,
                data,
            } => self.set_irqs(i, flags, index, start, count, data, fds),
            Request::RegionRead {
                offset,
                region,
                count,
            } => {
                e.counters.region_accesses += 1;
                let mut data = vec![0u8; count as usize];
                match region {
                    0 => bar0_read(dev, rid, offset, &mut data)?,
                    3 => e.config.bar3_read(offset, &mut data),
                    vfio::PCI_CONFIG_REGION_INDEX => e.config.read(offset, &mut data),
                    _ => return Err(libc::EINVAL),
                }
                Ok(Out::default()
                    .u64(offset)
                    .u32(region)
                    .u32(count)
                    .bytes(&data)
                    .0)
            }
            Request::RegionWrite {
                offset,
                region,
                data,
            } => {
                e.counters.region_accesses += 1;
                match region {
                    0 => bar0_write(dev, rid, offset, data)?,
                    3 => e.config.bar3_write(offset, data),
                    vfio::PCI_CONFIG_REGION_INDEX => {
                        if e.config.write(offset, data) == ConfigEffect::Flr {
                            e.counters.resets += 1;
                            dev.flr(rid);
                        }
                    }
                    _ => return Err(libc::EINVAL),
                }
                Ok(Out::default()
                    .u64(offset)
                    .u32(region)
                    .u32(data.len() as u32)
                    .0)
            }
            // A VFIO device reset is an FLR.
            Request::DeviceReset => {
                e.counters.resets += 1;
                e.config.reset();
                dev.flr(rid);
                Ok(Vec::new())
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn set_irqs(
        &mut self,
        i: usize,
        flags: u32,
        index: u32,
        start: u32,
        count: u32,
        data: &[u8],
        fds: Vec<OwnedFd>,
    ) -> Result<Vec<u8>, i32> {
        let e = &mut self.endpoints[i];
        let (max, _) = pci::irq(index).ok_or(libc::EINVAL)?;
        let end = start.checked_add(count).ok_or(libc::EINVAL)?;
        if end > max {
            return Err(libc::EINVAL);
        }
        let action = flags & vfio::IRQ_SET_ACTION_TYPE_MASK;
        let data_type = flags & vfio::IRQ_SET_DATA_TYPE_MASK;
        if index != vfio::PCI_MSIX_IRQ_INDEX {
            // Error and request notifiers: kept, never signalled.
            if data_type == vfio::IRQ_SET_DATA_EVENTFD {
                e.notifiers.extend(fds);
            }
            return Ok(Vec::new());
        }
        match (action, data_type) {
            (vfio::IRQ_SET_ACTION_TRIGGER, vfio::IRQ_SET_DATA_EVENTFD) => {
                if fds.len() > count as usize {
                    return Err(libc::EINVAL);
                }
                // Vectors without a descriptor are unwired (QEMU sends
                // none to take a vector away).
                let mut fds = fds.into_iter();
                for v in start..end {
                    e.msix[v as usize] = fds.next().map(File::from);
                }
            }
            (vfio::IRQ_SET_ACTION_TRIGGER, vfio::IRQ_SET_DATA_NONE) => {
                if count == 0 {
                    e.msix = [None, None, None];
                } else {
                    for v in start..end {
                        signal(&mut e.msix[v as usize], &mut e.counters);
                    }
                }
            }
            (vfio::IRQ_SET_ACTION_TRIGGER, vfio::IRQ_SET_DATA_BOOL) => {
                if data.len() < count as usize {
                    return Err(libc::EINVAL);
                }
                for (v, b) in (start..end).zip(data) {
                    if *b != 0 {
                        signal(&mut e.msix[v as usize], &mut e.counters);
                    }
                }
            }
            // Masking is the VMM's (it emulates the table): not offered.
            _ => return Err(libc::ENOTSUP),
        }
        Ok(Vec::new())
    }

    /// Signals the eventfds of the vectors the hardware fired.
    pub fn deliver_interrupts(&mut self, dev: &mut impl VfBackend) {
        for e in &mut self.endpoints {
            if e.conn.is_none() {
                continue;
            }
            let fired = dev.take_interrupts(e.rid);
            for v in 0..MSIX_VECTORS {
                if fired & (1 << v) != 0 {
                    signal(&mut e.msix[v], &mut e.counters);
                }
            }
        }
    }
}

fn signal(fd: &mut Option<File>, c: &mut EndpointCounters) {
    match fd {
        Some(f) => {
            // An eventfd adds what is written; a full counter (never, at
            // these rates) would only lose a duplicate.
            let _ = f.write(&1u64.to_ne_bytes());
            c.interrupts += 1;
        }
        None => c.interrupts_unwired += 1,
    }
}

/// BAR0 reads of 1, 2, 4 or 8 bytes, as 32-bit register reads.
fn bar0_read(dev: &mut impl VfBackend, rid: u16, offset: u64, buf: &mut [u8]) -> Result<(), i32> {
    let end = offset.checked_add(buf.len() as u64).ok_or(libc::EINVAL)?;
    if end > pci::BAR0_SIZE || !matches!(buf.len(), 1 | 2 | 4 | 8) {
        return Err(libc::EINVAL);
    }
    let dword = offset & !3;
    if buf.len() <= 4 && (offset & 3) as usize + buf.len() > 4 {
        return Err(libc::EINVAL);
    }
    let mut bytes = dev.bar0_read32(rid, dword as u32).to_le_bytes().to_vec();
    if buf.len() == 8 {
        if offset & 7 != 0 {
            return Err(libc::EINVAL);
        }
        bytes.extend_from_slice(&dev.bar0_read32(rid, dword as u32 + 4).to_le_bytes());
    }
    let at = (offset & 3) as usize;
    buf.copy_from_slice(&bytes[at..at + buf.len()]);
    Ok(())
}

/// BAR0 writes of 4 or 8 bytes (the 82599's registers are 32-bit; a
/// narrower write would need a read that clears read-to-clear bits).
fn bar0_write(dev: &mut impl VfBackend, rid: u16, offset: u64, data: &[u8]) -> Result<(), i32> {
    let end = offset.checked_add(data.len() as u64).ok_or(libc::EINVAL)?;
    if end > pci::BAR0_SIZE || offset & 3 != 0 || !matches!(data.len(), 4 | 8) {
        return Err(libc::EINVAL);
    }
    for (k, w) in data.chunks_exact(4).enumerate() {
        let v = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        dev.bar0_write32(rid, offset as u32 + 4 * k as u32, v);
    }
    Ok(())
}

/// A test client's connection (tests and examples).
pub fn connect(path: &Path) -> io::Result<UnixStream> {
    UnixStream::connect(path)
}

/// Sends a request and waits for its reply (tests): the reply header and
/// body.
pub fn request(
    s: &mut UnixStream,
    id: u16,
    command: u16,
    body: &[u8],
    fds: &[i32],
) -> io::Result<(Header, Vec<u8>)> {
    use std::io::Read;
    let h = Header {
        id,
        cmd: command,
        size: (protocol::HEADER + body.len()) as u32,
        flags: protocol::TYPE_COMMAND,
        error: 0,
    };
    let mut m = h.encode().to_vec();
    m.extend_from_slice(body);
    super::conn::send_with_fds(s, &m, fds)?;
    let mut head = [0u8; protocol::HEADER];
    s.read_exact(&mut head)?;
    let r = Header::parse(&head);
    let mut rest = vec![0u8; (r.size as usize).saturating_sub(protocol::HEADER)];
    s.read_exact(&mut rest)?;
    Ok((r, rest))
}
