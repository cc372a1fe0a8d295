//! The in-process simulation: the hardware model and the firmware's device
//! logic in one process, stepped deterministically. Time only moves when a
//! driver waits; the firmware runs after every host write and during every
//! wait, as a polling firmware on its own core would.

use crate::capture::PortCapture;
use crate::model::Model;
use crate::transport::Transport;
use crate::uplink::{MemoryUplink, PcapUplink, Tapped};
use firmware::device::{Capacities, Device};
use hal::chip::MAX_VFS;

/// How often the firmware polls while a driver waits.
pub const FIRMWARE_POLL_NS: u64 = 1_000;

pub struct Sim {
    pub model: Model,
    pub device: Box<Device<MAX_VFS>>,
    /// The physical port, in memory (unless `pcap_uplink` is set).
    pub uplink: MemoryUplink,
    /// The physical port as capture files instead.
    pub pcap_uplink: Option<PcapUplink>,
    /// Records the uplink's traffic (the `wire` port of a capture).
    pub uplink_capture: Option<PortCapture>,
    /// When false, the firmware does not run (a hung firmware).
    pub firmware_running: bool,
    /// How often the firmware polls in a long wait, after its first few
    /// microseconds. Under Miri a poll takes about a second: its tests
    /// make this coarse, or PCIe's 100 ms waits alone take a quarter of
    /// an hour.
    pub idle_poll_ns: u64,
    /// With a queue manager: the hardware owns the rings, the firmware
    /// posts its decisions (`firmware::qm`). Off unless asked for
    /// ([`Sim::with_queue_manager`], or `SRIOV_SIM_QM=1` for every `Sim`
    /// a test makes).
    pub queue_manager: Option<Box<QmSide>>,
}

/// The queue manager and the rings it shares with the firmware.
pub struct QmSide {
    pub manager: queue_manager::QueueManager,
    pub rings: firmware::qm::QmRings,
}

/// Whether `SRIOV_SIM_QM=1` asks every `Sim` for a queue manager.
pub fn queue_manager_by_default() -> bool {
    std::env::var_os("SRIOV_SIM_QM").is_some_and(|v| v == "1")
}

impl Sim {
    /// A device with the given capacities, firmware attached and running.
    pub fn new(caps: Capacities) -> Self {
        let model = Model::new(caps.total_vfs);
        let mut device = Box::new(Device::<MAX_VFS>::new(caps));
        device.attach(model.regs());
        let mut sim = Sim {
            model,
            device,
            uplink: MemoryUplink::default(),
            pcap_uplink: None,
            uplink_capture: None,
            firmware_running: true,
            idle_poll_ns: 100 * FIRMWARE_POLL_NS,
            queue_manager: queue_manager_by_default().then(Self::new_queue_manager),
        };
        sim.step();
        sim
    }

    /// As [`new`](Self::new), with the rings owned by a queue manager.
    pub fn with_queue_manager(caps: Capacities) -> Self {
        let mut sim = Self::new(caps);
        if sim.queue_manager.is_none() {
            sim.queue_manager = Some(Self::new_queue_manager());
        }
        sim
    }

    fn new_queue_manager() -> Box<QmSide> {
        Box::new(QmSide {
            manager: queue_manager::QueueManager::NEW,
            rings: firmware::qm::QmRings::NEW,
        })
    }

    /// The default board's capacities (qemu-virt).
    pub fn with_board_capacities() -> Self {
        Self::new(Capacities::from_board())
    }

    /// One firmware pass.
    pub fn step(&mut self) {
        if self.firmware_running {
            let now = self.model.now_ns();
            let (window, mut memory) = self.model.split();
            let inner: &mut dyn hal::port::Uplink = match &mut self.pcap_uplink {
                Some(p) => {
                    p.set_now(now);
                    p
                }
                None => &mut self.uplink,
            };
            let mut port = Tapped {
                inner,
                capture: self.uplink_capture.as_mut(),
                now_ns: now,
            };
            match &mut self.queue_manager {
                // The manager serves before the poll (arrivals) and after
                // it (the poll's posts), so a frame crosses in one step,
                // as on the core's rings.
                Some(qm) => {
                    let QmSide { manager, rings } = &mut **qm;
                    manager.serve(window.regs(), rings, &mut memory, &mut port);
                    self.device.poll_qm(window.regs(), rings, now);
                    manager.serve(window.regs(), rings, &mut memory, &mut port);
                }
                None => self.device.poll(window.regs(), &mut memory, &mut port, now),
            }
        }
        self.model.sync();
    }

    /// Lets time run up to `now_ns` (if it is ahead) with one firmware
    /// pass: for a harness that follows the wall clock.
    pub fn run_until(&mut self, now_ns: u64) {
        let behind = now_ns.saturating_sub(self.model.now_ns());
        self.model.advance(behind);
        self.step();
    }

    /// Sets the memory uplink's link (the firmware notices on its next poll).
    pub fn set_uplink(&mut self, up: bool) {
        self.uplink.down = !up;
        self.step();
    }

    /// A frame arrives from the wire; the firmware takes it on its next poll.
    pub fn inject(&mut self, frame: &[u8]) {
        self.uplink.inject(frame);
        self.step();
    }
}

impl Transport for Sim {
    fn config_read(&mut self, rid: u16, offset: u16, size: u8) -> u32 {
        self.model.config_read(rid, offset, size)
    }

    fn config_write(&mut self, rid: u16, offset: u16, size: u8, value: u32) {
        self.model.config_write(rid, offset, size, value);
        self.step();
    }

    fn bar_read32(&mut self, rid: u16, offset: u32) -> u32 {
        self.model.bar_read32(rid, offset)
    }

    fn bar_write32(&mut self, rid: u16, offset: u32, value: u32) {
        self.model.bar_write32(rid, offset, value);
        self.step();
    }

    fn delay_us(&mut self, us: u64) {
        // The firmware polls continuously on its own core. Here: every
        // microsecond for the first few, then every `idle_poll_ns` (100 µs:
        // fine enough for rate limiting and timers, cheap for the 100 ms
        // waits of PCIe).
        let mut left = us * 1000;
        let mut polls = 0u32;
        while left > 0 {
            let step = if polls < 16 {
                FIRMWARE_POLL_NS
            } else {
                self.idle_poll_ns
            };
            let d = left.min(step);
            self.model.advance(d);
            left -= d;
            self.step();
            polls += 1;
        }
        self.step();
    }

    fn now_ns(&self) -> u64 {
        self.model.now_ns()
    }

    fn dma_alloc(&mut self, rid: u16, len: u64, align: u64) -> Option<u64> {
        self.model.dma_alloc(rid, len, align)
    }

    fn dma_write(&mut self, addr: u64, data: &[u8]) -> bool {
        self.model.host_memory.write(addr, data)
    }

    fn dma_read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        self.model.host_memory.read(addr, buf)
    }

    fn take_interrupts(&mut self, rid: u16) -> u32 {
        self.model.take_interrupts(rid)
    }
}
