//! The hardware model: everything a host driver observes as hardware
//! behaviour (configuration space, BAR decode, read-to-clear bits, mailbox
//! ownership, FLR), implemented over the shared host-interface window
//! exactly as the chip's PCIe endpoint would. No policy lives here: that is
//! the firmware's, on the other side of the window.
//!
//! The API is plain register access per function, addressed by routing ID
//! (bus << 8 | device << 3 | function): 32-bit BAR reads and writes at an
//! offset, and configuration reads and writes of 1, 2 or 4 bytes. A driver
//! written against that (in Rust, or C through a thin FFI shim) needs nothing
//! else from the model. See docs/hardware-model.md.

pub mod config;
mod interrupts;

use interrupts::VECTOR_BITS;
pub use interrupts::{Interrupts, VF_MSIX_VECTORS};

use crate::guestmem::{GuestMemory, Iommu};
use crate::hostmem::{DmaWindow, HostMemory};
use crate::window::Window;
use config::*;
use hal::chip::SRIOV_CTRL;
use hal::chip::{AdminBlock, FW_STATUS, HostInterface, MailboxViolation, PcieError, RESET_CAUSE};
use hal::ixgbe::mbx::WORDS;
use hal::ixgbe::vfreg::*;
use std::rc::Rc;
use std::sync::atomic::{Ordering, fence};
use tock_registers::interfaces::{Readable, Writeable};

/// The PF's routing ID: bus 1, device 0, function 0.
pub const PF_RID: u16 = 0x0100;
/// The spec's limit for a function to complete an FLR.
pub const FLR_LIMIT_NS: u64 = 100_000_000;

/// PF BAR0 registers (the project's own; see docs/pf-admin.md).
pub mod pfreg {
    /// Firmware status (READY bit 0, HALTED bit 1).
    pub const STATUS: u32 = 0x0000;
    /// Firmware heartbeat: moves while the firmware runs.
    pub const HEARTBEAT: u32 = 0x0004;
    /// TotalVFs as the firmware serves it.
    pub const TOTAL_VFS: u32 = 0x0008;
    /// VFs the firmware serves now.
    pub const VFS_ENABLED: u32 = 0x000c;
    /// The admin block ([`hal::chip::AdminBlock`] layout) starts here.
    pub const ADMIN: u32 = 0x1000;
    pub const ADMIN_REQUEST: u32 = ADMIN;
    pub const ADMIN_REQUEST_LEN: u32 = ADMIN + 0x80;
    pub const ADMIN_DOORBELL: u32 = ADMIN + 0x84;
    pub const ADMIN_RESPONSE: u32 = ADMIN + 0x100;
    pub const ADMIN_RESPONSE_LEN: u32 = ADMIN + 0x180;
    pub const ADMIN_DONE: u32 = ADMIN + 0x184;
    pub const EVENT_HEAD: u32 = ADMIN + 0x188;
    pub const EVENT_TAIL: u32 = ADMIN + 0x18c;
    pub const EVENTS_LOST: u32 = ADMIN + 0x190;
    pub const EVENTS: u32 = ADMIN + 0x200;
    /// The PF's queue and statistics registers: the 82599 VF layout
    /// (`hal::ixgbe::queuereg`) shifted by this offset.
    pub const QUEUES: u32 = 0x8000;
}

/// Things the model saw hosts do wrong, or the firmware be late with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelCounters {
    /// Accesses to a function that does not exist or has memory decode off.
    pub unsupported_requests: u64,
    /// Writes to read-only registers (dropped).
    pub read_only_writes: u64,
    /// BAR offsets the model does not implement (reads 0, writes dropped).
    pub unmodelled: u64,
    /// FLRs the firmware completed later than 100 ms.
    pub flr_late: u64,
    /// Refused SR-IOV control writes.
    pub pcie_errors: u64,
    /// Mailbox protocol violations by VFs.
    pub mailbox_violations: u64,
}

/// One VF as the hardware keeps it.
#[derive(Clone, Debug, Default)]
struct VfHw {
    vfu: bool,
    buffer: [u32; WORDS],
    /// Highest buffer index written since VFU was taken, plus one.
    written: usize,
    pfsts: bool,
    pfack: bool,
    rstd: bool,
    /// Firmware progress already turned into VF-visible bits.
    seen_req_done: u32,
    seen_reply_seq: u32,
    seen_reset_done: u32,
    /// A firmware message waits for the VF to drop VFU (VF sees PFU).
    delivery_pending: bool,
    /// FLR started at this time and is not complete yet.
    flr_started: Option<u64>,
    command: u16,
    devctl: u16,
    irq: Interrupts,
    /// Queue completions already turned into causes.
    seen_rx_done: [u32; 8],
    seen_tx_done: [u32; 8],
}

/// The PCIe-facing hardware.
pub struct Model {
    /// Shared so that a borrow of the registers does not hold `self`.
    window: Rc<Window>,
    now_ns: u64,
    total_vfs: u16,
    // PF configuration space.
    command: u16,
    devctl: u16,
    bar0: Bar,
    sriov_ctrl: u16,
    num_vfs: u16,
    sys_page_size: u32,
    vf_bar0: Bar,
    vfs: Vec<VfHw>,
    /// Host memory behind the per-function IOMMU windows.
    pub host_memory: HostMemory,
    /// Function f's VM memory (0 = PF, 1 + n = VF n) while a VMM has
    /// attached it (`crate::vfio_user`): its DMA mappings are its IOMMU.
    pub guests: Vec<Option<GuestMemory>>,
    pub counters: ModelCounters,
}

impl Model {
    /// A device with `total_vfs` VFs (TotalVFs) over a fresh window.
    pub fn new(total_vfs: u16) -> Self {
        Self::with_window(
            Rc::new(Window::new()),
            HostMemory::new(total_vfs),
            total_vfs,
        )
    }

    /// A device over a given window and host memory (the co-simulation's
    /// shared file).
    pub fn with_window(window: Rc<Window>, host_memory: HostMemory, total_vfs: u16) -> Self {
        assert!(usize::from(total_vfs) <= hal::chip::MAX_VFS);
        let model = Model {
            window,
            now_ns: 0,
            total_vfs,
            command: 0,
            devctl: 0,
            bar0: Bar {
                address: 0,
                size: PF_BAR0_SIZE,
            },
            sriov_ctrl: 0,
            num_vfs: 0,
            sys_page_size: 1,
            vf_bar0: Bar {
                address: 0,
                size: VF_BAR0_SIZE,
            },
            vfs: vec![VfHw::default(); usize::from(total_vfs)],
            host_memory,
            guests: (0..=usize::from(total_vfs)).map(|_| None).collect(),
            counters: ModelCounters::default(),
        };
        // The IOMMU: each function's window, as the firmware must check it.
        for f in 0..=usize::from(total_vfs) {
            model.publish_window(f);
        }
        model
    }

    /// The window and host memory at once (the firmware needs both).
    pub fn split(&mut self) -> (Rc<Window>, Iommu<'_>) {
        (
            Rc::clone(&self.window),
            Iommu::new(&mut self.host_memory, &mut self.guests),
        )
    }

    /// Attaches function `f` (1 + n = VF n) to a VM's memory, or back to
    /// the simulation's (`None`): from now on its DMA goes through `mem`'s
    /// mappings, and the firmware's window check spans them.
    pub fn set_guest_memory(&mut self, f: usize, mem: Option<GuestMemory>) {
        let Some(slot) = self.guests.get_mut(f) else {
            return;
        };
        *slot = mem;
        self.publish_window(f);
    }

    /// Function f's VM memory, if attached.
    pub fn guest_memory(&mut self, f: usize) -> Option<&mut GuestMemory> {
        self.guests.get_mut(f)?.as_mut()
    }

    /// Publishes function f's window to the firmware (hw-owned fields):
    /// the span of its VM mappings (the exact check is the mappings'), or
    /// its window of the simulation's memory.
    pub fn publish_window(&self, f: usize) {
        let Some(block) = self.regs().function.get(f) else {
            return;
        };
        let (start, size) = match self.guests.get(f).and_then(|g| g.as_ref()) {
            Some(g) => g
                .span()
                .map_or((0, 0), |(lo, hi)| (lo, (hi - lo).min(u64::from(u32::MAX)))),
            None => self
                .host_memory
                .window(f)
                .map_or((0, 0), |w| (w.start, w.size)),
        };
        block.dma_base_lo.set(start as u32);
        block.dma_base_hi.set((start >> 32) as u32);
        block.dma_size.set(size as u32);
        // A VM's memory: the core reaches it only through the engine.
        let vm = self.guests.get(f).is_some_and(|g| g.is_some());
        block.dma_engine.set(u32::from(vm));
    }

    /// Performs the move the firmware posted to the DMA engine, if any,
    /// under the requesting function's mappings (the IOMMU rule holds for
    /// the engine as for any access); true if there was one.
    pub fn serve_dma_engine(&mut self) -> bool {
        use hal::chip::{DMA_ENGINE_BUFFER, dma_engine::*};
        use hal::port::Dma;
        let window = Rc::clone(&self.window);
        let e = &window.regs().dma_engine;
        let seq = e.req_seq.get();
        if seq == e.done_seq.get() {
            return false;
        }
        fence(Ordering::Acquire);
        let f = e.function.get() as usize;
        let len = e.len.get() as usize;
        let addr = u64::from(e.addr_lo.get()) | u64::from(e.addr_hi.get()) << 32;
        let status = if len > DMA_ENGINE_BUFFER || f >= self.guests.len() {
            BAD_REQUEST
        } else {
            let mut io = Iommu::new(&mut self.host_memory, &mut self.guests);
            io.requester(f);
            let mut data = vec![0u8; len];
            match e.op.get() {
                OP_READ if io.read(addr, &mut data) => {
                    for (r, b) in e.buffer.iter().zip(&data) {
                        r.set(*b);
                    }
                    DONE
                }
                OP_WRITE => {
                    for (b, r) in data.iter_mut().zip(e.buffer.iter()) {
                        *b = r.get();
                    }
                    if io.write(addr, &data) { DONE } else { REFUSED }
                }
                OP_READ => REFUSED,
                _ => BAD_REQUEST,
            }
        };
        if status == DONE {
            e.moves.set(e.moves.get().wrapping_add(1));
        } else {
            e.refused.set(e.refused.get().wrapping_add(1));
        }
        e.status.set(status);
        fence(Ordering::Release);
        e.done_seq.set(seq);
        true
    }

    /// Queue registers (the 82599 layout) of function `f` at `off`: reads.
    fn queue_read(&mut self, f: usize, off: u32) -> Option<u32> {
        use hal::ixgbe::queuereg::*;
        let b = &self.window.regs().function[f];
        let v = match off {
            VFGPRC => b.gprc.get(),
            VFGORC_LSB => b.gorc_lsb.get(),
            VFGORC_MSB => b.gorc_msb.get(),
            VFMPRC => b.mprc.get(),
            VFGPTC => b.gptc.get(),
            VFGOTC_LSB => b.gotc_lsb.get(),
            VFGOTC_MSB => b.gotc_msb.get(),
            0x1000..0x1200 | 0x2000..0x2200 => {
                let q = &b.queues[((off & 0xfff) / 0x40) as usize];
                match (off & 0xf000, off & 0x3f) {
                    (0x1000, 0x00) => q.rdbal.get(),
                    (0x1000, 0x04) => q.rdbah.get(),
                    (0x1000, 0x08) => q.rdlen.get(),
                    // Until the firmware restarted the ring, the head is
                    // what the driver wrote (ixgbevf's hang check reads it).
                    (0x1000, 0x10) if q.rx_enable_done.get() != q.rx_enable_seq.get() => {
                        q.rx_start.get()
                    }
                    (0x1000, 0x10) => q.rdh.get(),
                    (0x1000, 0x14) => q.srrctl.get(),
                    (0x1000, 0x18) => q.rdt.get(),
                    (0x1000, 0x28) => q.rxdctl.get(),
                    (0x2000, 0x00) => q.tdbal.get(),
                    (0x2000, 0x04) => q.tdbah.get(),
                    (0x2000, 0x08) => q.tdlen.get(),
                    (0x2000, 0x10) if q.tx_enable_done.get() != q.tx_enable_seq.get() => {
                        q.tx_start.get()
                    }
                    (0x2000, 0x10) => q.tdh.get(),
                    (0x2000, 0x18) => q.tdt.get(),
                    (0x2000, 0x28) => q.txdctl.get(),
                    (0x2000, 0x38 | 0x3c) => 0,
                    _ => return None,
                }
            }
            _ => return None,
        };
        Some(v)
    }

    /// Queue register writes of function `f`; false if not a queue register.
    fn queue_write(&mut self, f: usize, off: u32, v: u32) -> bool {
        use hal::ixgbe::queuereg::*;
        if !(0x1000..0x1200).contains(&off) && !(0x2000..0x2200).contains(&off) {
            return false;
        }
        if matches!(
            off,
            VFGPRC | VFGORC_LSB | VFGORC_MSB | VFMPRC | VFGPTC | VFGOTC_LSB | VFGOTC_MSB
        ) {
            // Statistics are read-only on the 82599 VF.
            self.counters.read_only_writes += 1;
            return true;
        }
        let window = Rc::clone(&self.window);
        let b = &window.regs().function[f];
        let q = &b.queues[((off & 0xfff) / 0x40) as usize];
        match (off & 0xf000, off & 0x3f) {
            (0x1000, 0x00) => q.rdbal.set(v & !0x7f),
            (0x1000, 0x04) => q.rdbah.set(v),
            (0x1000, 0x08) => q.rdlen.set(v & 0xf_ff80),
            // Heads belong to the device once the queue runs; what the
            // driver writes (0, at every ring set-up) is where the ring
            // restarts when the queue is next enabled.
            (0x1000, 0x10) => q.rx_start.set(v & 0xffff),
            (0x2000, 0x10) => q.tx_start.set(v & 0xffff),
            (0x1000, 0x14) => q.srrctl.set(v),
            (0x1000, 0x18) => q.rdt.set(v & 0xffff),
            (0x1000, 0x28) => {
                let was = q.rxdctl.get() & RXDCTL_ENABLE != 0;
                q.rxdctl.set(v);
                if !was && v & RXDCTL_ENABLE != 0 {
                    fence(Ordering::Release);
                    q.rx_enable_seq.set(q.rx_enable_seq.get().wrapping_add(1));
                }
            }
            (0x2000, 0x00) => q.tdbal.set(v & !0x7f),
            (0x2000, 0x04) => q.tdbah.set(v),
            (0x2000, 0x08) => q.tdlen.set(v & 0xf_ff80),
            (0x2000, 0x18) => {
                q.tdt.set(v & 0xffff);
                hal::chip::ring_tx_doorbell(window.regs(), f);
            }
            (0x2000, 0x28) => {
                let was = q.txdctl.get() & TXDCTL_ENABLE != 0;
                q.txdctl.set(v & !TXDCTL_SWFLSH);
                if !was && v & TXDCTL_ENABLE != 0 {
                    fence(Ordering::Release);
                    q.tx_enable_seq.set(q.tx_enable_seq.get().wrapping_add(1));
                }
            }
            // Head write-back is not supported: drivers write 0.
            (0x2000, 0x38 | 0x3c) => {
                if v != 0 {
                    self.counters.unmodelled += 1;
                }
            }
            _ => self.counters.unmodelled += 1,
        }
        true
    }

    /// A function's queues stop (reset, FLR, VF Enable change): disabled,
    /// tails and heads back to 0, so the next enable restarts each ring
    /// at 0; VFPSRTYPE back to one Rx queue.
    fn reset_queues(&self, f: usize) {
        let block = &self.regs().function[f];
        for q in block.queues.iter() {
            for r in [
                &q.rxdctl,
                &q.txdctl,
                &q.rdt,
                &q.tdt,
                &q.rx_start,
                &q.tx_start,
            ] {
                r.set(0);
            }
        }
        block.psrtype.set(0);
    }

    /// The window the firmware serves.
    pub fn regs(&self) -> &HostInterface {
        self.window.regs()
    }

    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// Advances the model's clock.
    pub fn advance(&mut self, ns: u64) {
        self.now_ns += ns;
    }

    /// VFs that exist now (VF Enable set): NumVFs, else 0.
    pub fn vfs_present(&self) -> u16 {
        if self.sriov_ctrl & SRIOV_CTRL_VFE != 0 {
            self.num_vfs
        } else {
            0
        }
    }

    /// Routing ID of VF `n` (0-based), per the SR-IOV capability now.
    pub fn vf_rid(&self, n: u16) -> u16 {
        PF_RID + first_vf_offset(self.num_vfs) + n * VF_STRIDE
    }

    /// Which function a routing ID names: `None` = PF, `Some(n)` = VF n.
    fn function(&self, rid: u16) -> Option<Option<usize>> {
        if rid == PF_RID {
            return Some(None);
        }
        let first = PF_RID + first_vf_offset(self.num_vfs);
        let n = rid.checked_sub(first)? / VF_STRIDE;
        (rid >= first && n < self.vfs_present()).then_some(Some(usize::from(n)))
    }

    /// The window-block index of a function that exists now (0 = PF,
    /// 1 + n = VF n).
    pub fn function_index(&self, rid: u16) -> Option<usize> {
        Some(match self.function(rid)? {
            None => 0,
            Some(n) => 1 + n,
        })
    }

    /// The IOMMU window of a function that exists now.
    pub fn dma_window(&self, rid: u16) -> Option<DmaWindow> {
        match self.function(rid)? {
            None => self.host_memory.window(0),
            Some(n) => self.host_memory.window(1 + n),
        }
    }

    /// Allocates host memory in the function's window.
    pub fn dma_alloc(&mut self, rid: u16, len: u64, align: u64) -> Option<u64> {
        let f = match self.function(rid)? {
            None => 0,
            Some(n) => 1 + n,
        };
        self.host_memory.alloc(f, len, align)
    }

    fn bump_event(&self) {
        let g = &self.regs().global;
        fence(Ordering::Release);
        g.event_seq.set(g.event_seq.get().wrapping_add(1));
    }

    // ---- configuration space -------------------------------------------

    /// Configuration read of `size` (1, 2, 4) bytes. A function that does
    /// not exist reads all ones, as on PCIe; so does a VF during its FLR.
    pub fn config_read(&mut self, rid: u16, offset: u16, size: u8) -> u32 {
        let all_ones = extract(0xffff_ffff, offset, size);
        match self.function(rid) {
            None => all_ones,
            Some(None) => extract(self.pf_config_dword(offset & !3), offset, size),
            Some(Some(n)) => {
                self.sync_vf(n);
                if self.vfs[n].flr_started.is_some() {
                    return all_ones;
                }
                extract(self.vf_config_dword(n, offset & !3), offset, size)
            }
        }
    }

    /// Configuration write of `size` bytes.
    pub fn config_write(&mut self, rid: u16, offset: u16, size: u8, value: u32) {
        match self.function(rid) {
            None => self.counters.unsupported_requests += 1,
            Some(None) => {
                let aligned = offset & !3;
                let merged = merge(self.pf_config_dword(aligned), offset, size, value);
                self.pf_config_store(aligned, merged);
            }
            Some(Some(n)) => {
                let aligned = offset & !3;
                let merged = merge(self.vf_config_dword(n, aligned), offset, size, value);
                self.vf_config_store(n, aligned, merged);
            }
        }
    }

    fn pf_config_dword(&self, off: u16) -> u32 {
        use offsets::*;
        let status_cap_list = 0x0010u32;
        match off {
            VENDOR_ID => u32::from(PF_VENDOR_ID) | u32::from(PF_DEVICE_ID) << 16,
            COMMAND => u32::from(self.command) | status_cap_list << 16,
            CLASS_REV => CLASS_ETHERNET | 0x01,
            BAR0 => self.bar0.read(),
            SUBSYSTEM => u32::from(PF_VENDOR_ID) | u32::from(PF_DEVICE_ID) << 16,
            CAP_PTR => u32::from(PCIE_CAP),
            PCIE_CAP => 0x10 | (0x0002 << 16), // cap ID 0x10, version 2, endpoint
            DEVCAP => DEVCAP_FLR,
            DEVCTL => u32::from(self.devctl & !DEVCTL_FLR),
            // ARI: ID 0x0e, version 1, next = SR-IOV.
            ARI_CAP => 0x000e | (1 << 16) | (u32::from(SRIOV_CAP) << 20),
            // SR-IOV: ID 0x10, version 1, last.
            SRIOV_CAP => 0x0010 | (1 << 16),
            SRIOV_CAPS => 0,
            SRIOV_CTRL => u32::from(self.sriov_ctrl),
            SRIOV_INITIAL_VFS => u32::from(self.total_vfs) | u32::from(self.total_vfs) << 16,
            SRIOV_NUM_VFS => u32::from(self.num_vfs),
            SRIOV_VF_OFFSET => {
                u32::from(first_vf_offset(self.num_vfs)) | u32::from(VF_STRIDE) << 16
            }
            // The dword holding VF Device ID (SRIOV_VF_DID, upper half).
            0x158 => u32::from(VF_DEVICE_ID) << 16,
            SRIOV_SUP_PGSIZE => SUPPORTED_PAGE_SIZES,
            SRIOV_SYS_PGSIZE => self.sys_page_size,
            SRIOV_VF_BAR0 => self.vf_bar0.read(),
            _ => 0,
        }
    }

    fn pf_config_store(&mut self, off: u16, v: u32) {
        use offsets::*;
        match off {
            COMMAND => self.command = v as u16 & (CMD_MEMORY | CMD_BUS_MASTER),
            BAR0 => self.bar0.write(v),
            DEVCTL => {
                if v as u16 & DEVCTL_FLR != 0 {
                    self.pf_flr();
                }
                self.devctl = v as u16 & !DEVCTL_FLR;
            }
            SRIOV_CTRL => self.write_sriov_ctrl(v as u16),
            SRIOV_NUM_VFS => self.write_num_vfs(v as u16),
            SRIOV_SYS_PGSIZE => {
                if v.is_power_of_two() && v & SUPPORTED_PAGE_SIZES != 0 {
                    self.sys_page_size = v;
                } else {
                    self.counters.read_only_writes += 1;
                }
            }
            SRIOV_VF_BAR0 => self.vf_bar0.write(v),
            _ => self.counters.read_only_writes += 1,
        }
    }

    fn pcie_error(&mut self, error: PcieError, rid: u16) {
        self.counters.pcie_errors += 1;
        let g = &self.regs().global;
        g.pcie_error.set(error as u32 | u32::from(rid) << 16);
        fence(Ordering::Release);
        g.pcie_error_seq.set(g.pcie_error_seq.get().wrapping_add(1));
        self.bump_event();
    }

    fn write_num_vfs(&mut self, n: u16) {
        if n == self.num_vfs {
            return;
        }
        if self.sriov_ctrl & SRIOV_CTRL_VFE != 0 {
            // SR-IOV: NumVFs may only change while VF Enable is clear.
            self.pcie_error(PcieError::NumVfsWhileEnabled, PF_RID);
            return;
        }
        if n > self.total_vfs {
            self.pcie_error(PcieError::NumVfsAboveTotal, PF_RID);
            return;
        }
        self.num_vfs = n;
    }

    fn write_sriov_ctrl(&mut self, v: u16) {
        let v = v & (SRIOV_CTRL_VFE | SRIOV_CTRL_VF_MSE | SRIOV_CTRL_ARI);
        let was = self.sriov_ctrl & SRIOV_CTRL_VFE != 0;
        let now = v & SRIOV_CTRL_VFE != 0;
        self.sriov_ctrl = v;
        if was == now {
            return;
        }
        if now && self.num_vfs == 0 {
            self.pcie_error(PcieError::EnableWithoutVfs, PF_RID);
        }
        // VFs appear or vanish: their hardware state starts fresh, level
        // with the firmware's progress marks (no stale read-to-clear bits).
        for f in 1..=self.vfs.len() {
            self.reset_queues(f);
        }
        let window = Rc::clone(&self.window);
        let slots = &window.regs().vf;
        for (vf, slot) in self.vfs.iter_mut().zip(slots.iter()) {
            *vf = VfHw {
                seen_req_done: slot.req_done.get(),
                seen_reply_seq: slot.reply_seq.get(),
                seen_reset_done: slot.reset_done.get(),
                ..VfHw::default()
            };
        }
        let g = &self.regs().global;
        g.sriov_ctrl.write(
            SRIOV_CTRL::NUM_VFS.val(u32::from(self.num_vfs))
                + if now {
                    SRIOV_CTRL::VF_ENABLE::SET
                } else {
                    SRIOV_CTRL::VF_ENABLE::CLEAR
                },
        );
        fence(Ordering::Release);
        g.sriov_seq.set(g.sriov_seq.get().wrapping_add(1));
        self.bump_event();
    }

    /// PF FLR: the PF function resets, and with it the SR-IOV capability
    /// (VF Enable and NumVFs clear, every VF goes away).
    fn pf_flr(&mut self) {
        self.command = 0;
        self.bar0.address = 0;
        if self.sriov_ctrl & SRIOV_CTRL_VFE != 0 {
            self.write_sriov_ctrl(0);
        }
        self.sriov_ctrl = 0;
        self.num_vfs = 0;
        self.vf_bar0.address = 0;
        self.sys_page_size = 1;
    }

    fn vf_config_dword(&self, n: usize, off: u16) -> u32 {
        use offsets::*;
        let vf = &self.vfs[n];
        match off {
            // VFs read all ones here (SR-IOV): software uses the PF's IDs.
            VENDOR_ID => 0xffff_ffff,
            COMMAND => u32::from(vf.command) | 0x0010 << 16,
            CLASS_REV => CLASS_ETHERNET | 0x01,
            SUBSYSTEM => u32::from(VF_VENDOR_ID) | u32::from(VF_DEVICE_ID) << 16,
            CAP_PTR => u32::from(PCIE_CAP),
            PCIE_CAP => 0x10 | (0x0002 << 16),
            DEVCAP => DEVCAP_FLR,
            DEVCTL => u32::from(vf.devctl),
            _ => 0,
        }
    }

    fn vf_config_store(&mut self, n: usize, off: u16, v: u32) {
        use offsets::*;
        match off {
            // Memory decode of VFs is the PF's VF MSE; only bus master here.
            COMMAND => self.vfs[n].command = v as u16 & CMD_BUS_MASTER,
            DEVCTL => {
                if v as u16 & DEVCTL_FLR != 0 {
                    self.vf_flr(n);
                }
                self.vfs[n].devctl = v as u16 & !DEVCTL_FLR;
            }
            _ => self.counters.read_only_writes += 1,
        }
    }

    /// FLR of VF `n`: the hardware state resets now; the firmware's part is
    /// done when it completes the reset it is told about.
    fn vf_flr(&mut self, n: usize) {
        let started = self.now_ns;
        let vf = &mut self.vfs[n];
        let (seen_req, seen_reply, seen_reset) =
            (vf.seen_req_done, vf.seen_reply_seq, vf.seen_reset_done);
        *vf = VfHw {
            seen_req_done: seen_req,
            seen_reply_seq: seen_reply,
            seen_reset_done: seen_reset,
            flr_started: Some(started),
            ..VfHw::default()
        };
        self.reset_queues(n + 1);
        self.request_reset(n, RESET_CAUSE::CAUSE::Flr);
    }

    fn request_reset(
        &self,
        n: usize,
        cause: tock_registers::fields::FieldValue<u32, RESET_CAUSE::Register>,
    ) {
        let slot = &self.regs().vf[n];
        slot.reset_cause.write(cause);
        fence(Ordering::Release);
        slot.reset_seq.set(slot.reset_seq.get().wrapping_add(1));
        hal::chip::announce_vf_slot(self.regs(), n);
    }

    // ---- BARs ------------------------------------------------------------

    /// 32-bit read at `offset` in the function's BAR0.
    pub fn bar_read32(&mut self, rid: u16, offset: u32) -> u32 {
        match self.decoding(rid) {
            None => {
                self.counters.unsupported_requests += 1;
                0xffff_ffff
            }
            Some(None) => self.pf_bar_read(offset),
            Some(Some(n)) => self.vf_bar_read(n, offset),
        }
    }

    /// 32-bit write at `offset` in the function's BAR0.
    pub fn bar_write32(&mut self, rid: u16, offset: u32, value: u32) {
        match self.decoding(rid) {
            None => self.counters.unsupported_requests += 1,
            Some(None) => self.pf_bar_write(offset, value),
            Some(Some(n)) => self.vf_bar_write(n, offset, value),
        }
    }

    /// The function, if it exists and decodes memory.
    fn decoding(&mut self, rid: u16) -> Option<Option<usize>> {
        match self.function(rid)? {
            None => (self.command & CMD_MEMORY != 0).then_some(None),
            Some(n) => {
                let mse = self.sriov_ctrl & SRIOV_CTRL_VF_MSE != 0;
                (mse && self.vfs[n].flr_started.is_none()).then_some(Some(n))
            }
        }
    }

    fn admin(&self) -> &AdminBlock {
        &self.regs().admin
    }

    fn pf_bar_read(&mut self, off: u32) -> u32 {
        let g = &self.regs().global;
        let a = self.admin();
        match off {
            pfreg::STATUS => g.fw_status.get(),
            pfreg::HEARTBEAT => g.heartbeat.get(),
            pfreg::TOTAL_VFS => g.total_vfs.get(),
            pfreg::VFS_ENABLED => g.vfs_enabled.get(),
            o if (pfreg::QUEUES..pfreg::QUEUES + 0x3000).contains(&o) => {
                self.queue_read(0, o - pfreg::QUEUES).unwrap_or_else(|| {
                    self.counters.unmodelled += 1;
                    0
                })
            }
            o if (pfreg::ADMIN..pfreg::ADMIN + 0x1200).contains(&o) && o % 4 == 0 => {
                let idx = ((o - pfreg::ADMIN) / 4) as usize;
                // A raw read, not a slice of registers: the block's reserved
                // gaps are plain bytes, which may not be viewed as cells
                // through a shared reference (Miri, Stacked Borrows).
                // SAFETY: idx < 0x1200 / 4 words: inside the block, aligned.
                unsafe { std::ptr::from_ref(a).cast::<u32>().add(idx).read_volatile() }
            }
            _ => {
                self.counters.unmodelled += 1;
                0
            }
        }
    }

    fn pf_bar_write(&mut self, off: u32, v: u32) {
        let a = self.admin();
        match off {
            o if (pfreg::ADMIN_REQUEST..pfreg::ADMIN_REQUEST + 0x80).contains(&o) => {
                a.request[((o - pfreg::ADMIN_REQUEST) / 4) as usize].set(v);
            }
            pfreg::ADMIN_REQUEST_LEN => a.request_len.set(v),
            pfreg::ADMIN_DOORBELL => {
                fence(Ordering::Release);
                a.doorbell.set(v);
                self.bump_event();
            }
            pfreg::EVENT_TAIL => a.event_tail.set(v),
            o if (pfreg::QUEUES..pfreg::QUEUES + 0x3000).contains(&o) => {
                if !self.queue_write(0, o - pfreg::QUEUES, v) {
                    self.counters.unmodelled += 1;
                }
            }
            _ => self.counters.read_only_writes += 1,
        }
    }

    /// Turns firmware progress on VF `n` into VF-visible bits.
    fn sync_vf(&mut self, n: usize) {
        let window = Rc::clone(&self.window);
        let slot = &window.regs().vf[n];
        let vf = &mut self.vfs[n];
        let req_done = slot.req_done.get();
        if req_done != vf.seen_req_done {
            vf.seen_req_done = req_done;
            vf.pfack = true;
        }
        let reset_done = slot.reset_done.get();
        if reset_done != vf.seen_reset_done && reset_done == slot.reset_seq.get() {
            vf.seen_reset_done = reset_done;
            vf.rstd = true;
            if let Some(started) = vf.flr_started.take()
                && self.now_ns - started > FLR_LIMIT_NS
            {
                self.counters.flr_late += 1;
            }
        }
        let reply_seq = slot.reply_seq.get();
        if reply_seq != vf.seen_reply_seq {
            if vf.vfu {
                vf.delivery_pending = true;
            } else {
                fence(Ordering::Acquire);
                vf.seen_reply_seq = reply_seq;
                vf.delivery_pending = false;
                let len = (slot.reply_len.get() as usize).min(WORDS);
                for i in 0..len {
                    vf.buffer[i] = slot.reply[i].get();
                }
                vf.pfsts = true;
                // The mailbox ("other") cause, if the driver routed it.
                let cause = Interrupts::route(vf.irq.ivar_misc);
                vf.irq.raise(cause);
            }
        }
    }

    /// Queue completions since the last look become causes on the
    /// vectors VTIVAR routes them to.
    fn queue_causes(vf: &mut VfHw, block: &hal::chip::FunctionBlock) {
        let mut causes = 0;
        for (q, regs) in block.queues.iter().enumerate() {
            let entry = |shift: u32| (vf.irq.ivar[q / 2] >> (shift + 16 * (q as u32 % 2))) & 0xff;
            let rx = regs.rx_done_seq.get();
            if rx != vf.seen_rx_done[q] {
                vf.seen_rx_done[q] = rx;
                causes |= Interrupts::route(entry(0));
            }
            let tx = regs.tx_done_seq.get();
            if tx != vf.seen_tx_done[q] {
                vf.seen_tx_done[q] = tx;
                causes |= Interrupts::route(entry(8));
            }
        }
        vf.irq.raise(causes);
    }

    /// Brings VF `n`'s interrupt causes up to date with the firmware's
    /// progress (mailbox messages, queue completions).
    fn sync_interrupts(&mut self, n: usize) {
        self.sync_vf(n);
        let window = Rc::clone(&self.window);
        Self::queue_causes(&mut self.vfs[n], &window.regs().function[n + 1]);
    }

    /// The MSI-X messages a VF sent since the last call (bit v = vector
    /// v): what a VMM turns into interrupts of the guest (through the
    /// eventfds it handed over).
    pub fn take_interrupts(&mut self, rid: u16) -> u32 {
        let Some(Some(n)) = self.function(rid) else {
            return 0;
        };
        self.sync_interrupts(n);
        std::mem::take(&mut self.vfs[n].irq.fired)
    }

    /// A VF's interrupt registers as the hardware holds them.
    pub fn interrupts(&self, rid: u16) -> Option<Interrupts> {
        self.function(rid)?.map(|n| self.vfs[n].irq)
    }

    fn violation(&mut self, n: usize, v: MailboxViolation) {
        self.counters.mailbox_violations += 1;
        let counter = &self.regs().vf[n].violation_seq[v.index()];
        counter.set(counter.get().wrapping_add(1));
        hal::chip::announce_vf_slot(self.regs(), n);
    }

    fn vf_bar_read(&mut self, n: usize, off: u32) -> u32 {
        self.sync_vf(n);
        let window = Rc::clone(&self.window);
        let slot = &window.regs().vf[n];
        let active = slot.active.get() != 0;
        let reset_pending = slot.reset_seq.get() != slot.reset_done.get();
        let vf = &mut self.vfs[n];
        match off {
            VFCTRL => 0,
            VFSTATUS => {
                if active {
                    VFSTATUS_ENABLED
                } else {
                    0
                }
            }
            VFLINKS => slot.links.get(),
            VFMAILBOX => {
                let mut v = 0;
                if vf.vfu {
                    v |= MBX_VFU;
                }
                if vf.delivery_pending {
                    v |= MBX_PFU;
                }
                if vf.pfsts {
                    v |= MBX_PFSTS;
                }
                if vf.pfack {
                    v |= MBX_PFACK;
                }
                if reset_pending || !active {
                    v |= MBX_RSTI;
                }
                if vf.rstd {
                    v |= MBX_RSTD;
                }
                (vf.pfsts, vf.pfack, vf.rstd) = (false, false, false);
                v
            }
            o if (VFMBMEM..VFMBMEM + 4 * WORDS as u32).contains(&o) => {
                vf.buffer[((o - VFMBMEM) / 4) as usize]
            }
            VTEICR => {
                // Read-to-clear: what is read is no longer pending.
                Self::queue_causes(vf, &window.regs().function[n + 1]);
                let causes = std::mem::take(&mut vf.irq.eicr);
                vf.irq.evaluate();
                causes
            }
            // VTEICS reads the causes too; VTEIMC is write-only.
            VTEICS => vf.irq.eicr,
            VTEIMC => 0,
            VTEIMS => vf.irq.eims,
            VTEIAC => vf.irq.eiac,
            VTEIAM => vf.irq.eiam,
            o if (VTIVAR..VTIVAR + 16).contains(&o) => vf.irq.ivar[((o - VTIVAR) / 4) as usize],
            VTIVAR_MISC => vf.irq.ivar_misc,
            VFPSRTYPE => window.regs().function[n + 1].psrtype.get(),
            o => self.queue_read(n + 1, o).unwrap_or_else(|| {
                self.counters.unmodelled += 1;
                0
            }),
        }
    }

    fn vf_bar_write(&mut self, n: usize, off: u32, v: u32) {
        self.sync_vf(n);
        match off {
            VFCTRL => {
                if v & VFCTRL_RST != 0 {
                    let reply_seq = self.regs().vf[n].reply_seq.get();
                    let vf = &mut self.vfs[n];
                    vf.vfu = false;
                    vf.written = 0;
                    // The mailbox forgets what was waiting for the VF: a
                    // message posted before the reset is not its reply.
                    (vf.pfsts, vf.pfack, vf.delivery_pending) = (false, false, false);
                    vf.seen_reply_seq = reply_seq;
                    // The interrupt registers return to their reset values.
                    vf.irq = Interrupts::default();
                    self.reset_queues(n + 1);
                    self.request_reset(n, RESET_CAUSE::CAUSE::VfctrlRst);
                }
            }
            VFMAILBOX => self.vf_mailbox_write(n, v),
            o if (VFMBMEM..VFMBMEM + 4 * WORDS as u32).contains(&o) => {
                let vf = &mut self.vfs[n];
                if !vf.vfu {
                    self.violation(n, MailboxViolation::WriteWithoutOwnership);
                    return;
                }
                let i = ((o - VFMBMEM) / 4) as usize;
                vf.buffer[i] = v;
                vf.written = vf.written.max(i + 1);
            }
            VTEICS | VTEIMS | VTEIMC | VTEICR | VTEIAC | VTEIAM => {
                // Causes that arrived since the last look count first.
                self.sync_interrupts(n);
                let irq = &mut self.vfs[n].irq;
                let v = v & VECTOR_BITS;
                match off {
                    VTEICS => irq.eicr |= v,
                    VTEIMS => irq.eims |= v,
                    VTEIMC => irq.eims &= !v,
                    VTEICR => irq.eicr &= !v,
                    VTEIAC => irq.eiac = v,
                    _ => irq.eiam = v,
                }
                irq.evaluate();
            }
            VTIVAR_MISC => self.vfs[n].irq.ivar_misc = v & 0x83,
            o if (VTIVAR..VTIVAR + 16).contains(&o) => {
                self.vfs[n].irq.ivar[((o - VTIVAR) / 4) as usize] = v & 0x8383_8383;
            }
            VFPSRTYPE => self.regs().function[n + 1].psrtype.set(v),
            VFSTATUS | VFLINKS => self.counters.read_only_writes += 1,
            o => {
                if !self.queue_write(n + 1, o, v) {
                    self.counters.unmodelled += 1;
                }
            }
        }
    }

    fn vf_mailbox_write(&mut self, n: usize, v: u32) {
        let window = Rc::clone(&self.window);
        let slot = &window.regs().vf[n];
        let busy = slot.req_seq.get() != slot.req_done.get();
        if v & MBX_REQ != 0 {
            if !self.vfs[n].vfu {
                self.violation(n, MailboxViolation::RequestWithoutOwnership);
            } else if busy {
                self.violation(n, MailboxViolation::RequestWhileBusy);
            } else {
                let vf = &self.vfs[n];
                for (r, w) in slot.request.iter().zip(vf.buffer.iter()) {
                    r.set(*w);
                }
                slot.req_len.set(vf.written as u32);
                fence(Ordering::Release);
                slot.req_seq.set(slot.req_seq.get().wrapping_add(1));
                hal::chip::announce_vf_slot(window.regs(), n);
            }
        }
        if v & MBX_ACK != 0 {
            slot.vf_ack_seq.set(slot.vf_ack_seq.get().wrapping_add(1));
            hal::chip::announce_vf_slot(window.regs(), n);
        }
        let vf = &mut self.vfs[n];
        let want = v & MBX_VFU != 0;
        if want && !vf.vfu {
            // The PF side has a message waiting: the lock is not granted.
            if !vf.delivery_pending {
                vf.vfu = true;
                vf.written = 0;
            }
        } else if !want && vf.vfu {
            vf.vfu = false;
            if vf.delivery_pending {
                self.sync_vf(n);
            }
        }
    }

    /// Whether the firmware says it is ready (PF BAR STATUS.READY).
    pub fn firmware_ready(&self) -> bool {
        self.regs().global.fw_status.is_set(FW_STATUS::READY)
    }

    /// Lets a test look at a VF's hardware state (mailbox lock holder).
    pub fn vf_holds_lock(&self, n: usize) -> bool {
        self.vfs.get(n).is_some_and(|v| v.vfu)
    }

    /// Marks FLR-pending VFs whose firmware part is done (called by the
    /// runner each step, so FLR completes without a VF access).
    pub fn sync(&mut self) {
        self.serve_dma_engine();
        for n in 0..usize::from(self.vfs_present()) {
            let vf = &self.vfs[n];
            // Interrupts need the hardware to notice events as they happen,
            // not when the VF next touches its BAR.
            let routed =
                vf.irq.ivar_misc & 0x80 != 0 || vf.irq.ivar.iter().any(|e| e & 0x8080_8080 != 0);
            if routed {
                self.sync_interrupts(n);
            } else if vf.flr_started.is_some() || vf.delivery_pending {
                self.sync_vf(n);
            }
        }
    }
}

#[cfg(test)]
mod tests;
