//! The fuzz rig: the firmware's device logic over plain memory, with this
//! code playing the hardware's side of the window (sequence counters,
//! mailbox slots, queue registers, IOMMU windows). Every target checks the
//! same invariants after every step: no panic, the pools' books balance,
//! every port's frames are accounted for, and nothing outside a function's
//! DMA window is written.
//!
//! One rig lives for the whole process ([`Shared`]) and is put back into
//! its freshly set-up state before each input ([`Rig::reset`]): building a
//! device and megabytes of window and host memory per input is what held
//! the targets to a few hundred executions a second.

pub mod ops;
pub mod toml_edit;

use firmware::device::{Capacities, Device};
use hal::chip::{
    AdminBlock, FunctionBlock, Global, HOST_MEMORY_BUS_BASE, HostInterface, QueueRegs,
    REGISTERS_SIZE, SRIOV_CTRL, VfSlot,
};
use hal::port::{Dma, Uplink};
use std::collections::VecDeque;
use std::mem::{offset_of, size_of};
use std::sync::Mutex;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::ReadWrite;

/// VFs of the targets that do not say otherwise.
pub const VFS: usize = 8;
/// Each function's DMA window in the rig.
pub const WINDOW: u64 = 64 * 1024;
/// Granule of the host memory's dirty map.
const PAGE: usize = 4096;
/// Descriptors in the rings [`Rig::rx_ring`] and [`Rig::tx_ring`] set up.
const RING: usize = 8;

/// The bus address of host offset `off`.
fn bus(off: usize) -> u64 {
    HOST_MEMORY_BUS_BASE + off as u64
}

/// Host memory: the PF's and each VF's window, then one spare window
/// nobody owns. Remembers which pages were written, so that a reset zeroes
/// only those, and whether the firmware ever wrote outside the functions'
/// DMA windows (as the window's registers give them).
pub struct HostMem {
    bytes: Vec<u8>,
    dirty: Vec<u64>,
    /// Each function's DMA window (bus addresses, start..end), as the
    /// window said before the current poll.
    windows: Vec<(u64, u64)>,
    /// The first write that was not inside one function's window.
    pub stray: Option<(u64, usize)>,
}

impl HostMem {
    fn new(functions: usize) -> HostMem {
        let len = (functions + 1) * WINDOW as usize;
        HostMem {
            bytes: vec![0; len],
            dirty: vec![0; len.div_ceil(PAGE).div_ceil(64)],
            windows: Vec::with_capacity(functions),
            stray: None,
        }
    }

    fn mark(&mut self, off: usize, n: usize) {
        if n == 0 {
            return;
        }
        for p in off / PAGE..=(off + n - 1) / PAGE {
            self.dirty[p / 64] |= 1 << (p % 64);
        }
    }

    /// The bytes at host offset `off` (not a bus address), as the driver
    /// side writes them: descriptors, buffers. Clipped to the memory.
    pub fn poke(&mut self, off: usize, data: &[u8]) {
        let off = off.min(self.bytes.len());
        let n = data.len().min(self.bytes.len() - off);
        self.bytes[off..off + n].copy_from_slice(&data[..n]);
        self.mark(off, n);
    }

    /// Back to all zeros, page by written page.
    fn clear(&mut self) {
        for (i, w) in self.dirty.iter_mut().enumerate() {
            while *w != 0 {
                let p = i * 64 + w.trailing_zeros() as usize;
                *w &= *w - 1;
                let end = ((p + 1) * PAGE).min(self.bytes.len());
                self.bytes[p * PAGE..end].fill(0);
            }
        }
        self.stray = None;
    }

    /// The windows the firmware may write in this poll.
    fn set_windows(&mut self, hw: &HostInterface, functions: usize) {
        self.windows.clear();
        for b in &hw.function[..functions] {
            let start = u64::from(b.dma_base_hi.get()) << 32 | u64::from(b.dma_base_lo.get());
            let end = start.saturating_add(u64::from(b.dma_size.get()));
            self.windows.push((start, end));
        }
    }

    fn range(&self, addr: u64, n: usize) -> Option<usize> {
        let off = usize::try_from(addr.checked_sub(HOST_MEMORY_BUS_BASE)?).ok()?;
        off.checked_add(n)
            .is_some_and(|e| e <= self.bytes.len())
            .then_some(off)
    }
}

impl Dma for HostMem {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        let Some(off) = self.range(addr, buf.len()) else {
            return false;
        };
        buf.copy_from_slice(&self.bytes[off..off + buf.len()]);
        true
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        let n = data.len() as u64;
        let inside = self
            .windows
            .iter()
            .any(|&(s, e)| addr >= s && addr.checked_add(n).is_some_and(|end| end <= e));
        if !inside && self.stray.is_none() {
            self.stray = Some((addr, data.len()));
        }
        let Some(off) = self.range(addr, data.len()) else {
            return false;
        };
        self.bytes[off..off + data.len()].copy_from_slice(data);
        self.mark(off, data.len());
        true
    }
}

/// The physical port: frames offered to the firmware (each with how many
/// times it arrives: a burst is one buffer, not a copy per frame), and a
/// count of what it sent.
#[derive(Default)]
pub struct MemUplink {
    rx: VecDeque<(Vec<u8>, usize)>,
    pub tx: usize,
}

impl MemUplink {
    /// `frame` arrives `times` times in a row.
    pub fn offer(&mut self, frame: Vec<u8>, times: usize) {
        if times > 0 {
            self.rx.push_back((frame, times));
        }
    }

    fn clear(&mut self) {
        self.rx.clear();
        self.tx = 0;
    }
}

impl Uplink for MemUplink {
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        let (f, times) = self.rx.front_mut()?;
        let n = f.len().min(buf.len());
        buf[..n].copy_from_slice(&f[..n]);
        let len = f.len();
        *times -= 1;
        if *times == 0 {
            self.rx.pop_front();
        }
        Some(len)
    }
    fn transmit(&mut self, _frame: &[u8]) -> bool {
        self.tx += 1;
        true
    }
    fn link_up(&self) -> bool {
        true
    }
}

/// What [`Rig::reset`] puts back: the device and window as `new` left
/// them.
struct Pristine<const N: usize> {
    device: Box<Device<N>>,
    window: Vec<u64>,
    now: u64,
}

/// A device with `N` VFs enabled and served, and the hardware around it.
pub struct Rig<const N: usize> {
    window: Vec<u64>,
    pub host: HostMem,
    pub uplink: MemUplink,
    pub device: Box<Device<N>>,
    now: u64,
    /// `device.counters.scans` at the last audit.
    audited_scans: u64,
    /// The DMA windows [`HostMem`] checks against need reading again from
    /// the registers (only the hardware writes those: here,
    /// [`write_word`](Self::write_word)).
    windows_stale: bool,
    pristine: Pristine<N>,
}

fn bump(r: &ReadWrite<u32>) {
    r.set(r.get().wrapping_add(1));
}

/// The window's words (u64 index ranges) a device with `n` VFs and the
/// rig's hardware side can touch: the global and admin blocks, the first
/// `n` VF slots, the first `n + 1` function blocks. The rest (other
/// slots, the DMA engine the rig does not use) stays as `new` left it.
fn live_words(n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let words = move |start: usize, len: usize| start / 8..(start + len).div_ceil(8);
    // Each block up to its last register: the reserved tails are never
    // written (a fifth of what a reset would otherwise copy).
    let global = words(offset_of!(HostInterface, global), LIVE_GLOBAL);
    let admin = words(offset_of!(HostInterface, admin), size_of::<AdminBlock>());
    let vfs = (0..n).map(move |i| {
        words(
            offset_of!(HostInterface, vf) + i * size_of::<VfSlot>(),
            LIVE_VF_SLOT,
        )
    });
    let functions = (0..=n).map(move |f| {
        let at = offset_of!(HostInterface, function) + f * size_of::<FunctionBlock>();
        words(at, LIVE_FUNCTION_BLOCK)
    });
    [global, admin].into_iter().chain(vfs).chain(functions)
}

/// Whether window word `index` is one of a function's DMA window
/// registers (base and size), the only words [`HostMem`]'s check reads.
fn is_dma_window_word(index: usize) -> bool {
    let Some(at) = (index * 4).checked_sub(offset_of!(HostInterface, function)) else {
        return false;
    };
    let (block, field) = (
        at / size_of::<FunctionBlock>(),
        at % size_of::<FunctionBlock>(),
    );
    block < hal::chip::MAX_FUNCTIONS
        && (offset_of!(FunctionBlock, dma_base_lo)..=offset_of!(FunctionBlock, dma_size))
            .contains(&field)
}

/// Where each block's registers end (the rest of it is reserved).
const LIVE_GLOBAL: usize = size_of::<Global>();
const LIVE_VF_SLOT: usize = offset_of!(VfSlot, slot_seq) + 4;
const LIVE_FUNCTION_BLOCK: usize = offset_of!(FunctionBlock, mprc) + 4;

impl<const N: usize> Rig<N> {
    /// The functions: the PF and `N` VFs.
    pub const FUNCTIONS: usize = N + 1;

    pub fn new() -> Rig<N> {
        let caps = Capacities {
            total_vfs: N as u16,
            queue_pairs_per_vf: 2,
            pf_queue_pairs: 2,
            mac_filters: 32,
            vlan_filters: 16,
            multicast_hashes: 64,
        };
        let mut window = vec![0u64; REGISTERS_SIZE / 8];
        let mut device = Box::new(Device::new(caps));
        let hw = window_of(&mut window);
        for f in 0..Self::FUNCTIONS {
            let b = &hw.function[f];
            let start = HOST_MEMORY_BUS_BASE + f as u64 * WINDOW;
            b.dma_base_lo.set(start as u32);
            b.dma_base_hi.set((start >> 32) as u32);
            b.dma_size.set(WINDOW as u32);
        }
        device.attach(hw);
        let g = &hw.global;
        g.sriov_ctrl
            .write(SRIOV_CTRL::NUM_VFS.val(N as u32) + SRIOV_CTRL::VF_ENABLE::SET);
        bump(&g.sriov_seq);
        bump(&g.event_seq);
        let mut host = HostMem::new(Self::FUNCTIONS);
        let mut uplink = MemUplink::default();
        let now = 1_000;
        host.set_windows(hw, Self::FUNCTIONS);
        device.poll(hw, &mut host, &mut uplink, now);
        host.clear();
        let pristine = Pristine {
            device: Box::new(Device::new(caps)),
            window: window.clone(),
            now,
        };
        let mut rig = Rig {
            window,
            host,
            uplink,
            device,
            now,
            audited_scans: u64::MAX,
            windows_stale: true,
            pristine,
        };
        rig.pristine.device.restore_from(&rig.device);
        rig.check_dma_window_words();
        rig
    }

    /// [`is_dma_window_word`] against the registers themselves, once per
    /// process: a word it missed would leave [`HostMem`] checking DMA
    /// against stale windows.
    fn check_dma_window_words(&self) {
        for b in &self.hw().function[..] {
            for r in [&b.dma_base_lo, &b.dma_base_hi, &b.dma_size] {
                assert!(is_dma_window_word(self.word_of(r)), "a DMA window register");
            }
            for r in [&b.tx_doorbell_seq, &b.psrtype, &b.queues[7].tx_enable_seq] {
                assert!(
                    !is_dma_window_word(self.word_of(r)),
                    "not a DMA window register"
                );
            }
        }
        let after = &self.hw().dma_engine.req_seq;
        assert!(!is_dma_window_word(self.word_of(after)));
    }

    /// Back to the state `new` left: the device restored from the
    /// pristine one (`Device::restore_from`: what either classifier holds,
    /// not all of its 219 KB), the window's live blocks copied back, the
    /// written host pages zeroed, the uplink emptied.
    pub fn reset(&mut self) {
        self.device.restore_from(&self.pristine.device);
        for r in live_words(N) {
            self.window[r.clone()].copy_from_slice(&self.pristine.window[r]);
        }
        self.host.clear();
        self.uplink.clear();
        self.now = self.pristine.now;
        self.audited_scans = u64::MAX;
        self.windows_stale = true;
    }

    pub fn hw(&self) -> &HostInterface {
        // SAFETY: REGISTERS_SIZE bytes, 8-aligned, all-zero valid; the
        // registers are cells, so a shared reference may write them.
        unsafe { &*(self.window.as_ptr() as *const HostInterface) }
    }

    fn window_word(&self, index: usize) -> &ReadWrite<u32> {
        let words: &[ReadWrite<u32>] =
            // SAFETY: as in `hw`: the window is REGISTERS_SIZE bytes of
            // registers, 4-aligned.
            unsafe {
                std::slice::from_raw_parts(self.window.as_ptr().cast(), REGISTERS_SIZE / 4)
            };
        &words[index]
    }

    pub fn poll(&mut self) {
        self.now += 1_000;
        let hw: *const HostInterface = self.hw();
        // SAFETY: as in `hw`; the window is not resized.
        let hw = unsafe { &*hw };
        if std::mem::take(&mut self.windows_stale) {
            self.host.set_windows(hw, Self::FUNCTIONS);
        }
        self.device
            .poll(hw, &mut self.host, &mut self.uplink, self.now);
    }

    /// Time passes (rate limits refill) without anything happening.
    pub fn advance(&mut self, ns: u64) {
        self.now += ns;
    }

    /// Bumps the summary doorbell and polls: the firmware scans.
    pub fn event(&mut self) {
        bump(&self.hw().global.event_seq);
        self.poll();
    }

    /// A counter of VF `vf`'s slot moved: its group and the summary
    /// doorbell, then a poll.
    fn announce(&mut self, vf: usize) {
        hal::chip::announce_vf_slot(self.hw(), vf);
        self.poll();
    }

    /// VF `vf` sends a mailbox message: `words` written into the buffer,
    /// `len` the claimed length.
    pub fn message(&mut self, vf: usize, words: &[u32], len: u32) {
        let s = &self.hw().vf[vf % N];
        for (r, w) in s.request.iter().zip(words) {
            r.set(*w);
        }
        s.req_len.set(len);
        bump(&s.req_seq);
        self.announce(vf % N);
    }

    /// VF `vf` is reset (VFCTRL.RST, or FLR with `flr`).
    pub fn reset_vf(&mut self, vf: usize, flr: bool) {
        let s = &self.hw().vf[vf % N];
        s.reset_cause.set(if flr { 2 } else { 1 });
        bump(&s.reset_seq);
        self.announce(vf % N);
    }

    /// VF `vf` acknowledges a message, or breaks the protocol.
    pub fn ack(&mut self, vf: usize) {
        bump(&self.hw().vf[vf % N].vf_ack_seq);
        self.announce(vf % N);
    }

    pub fn violation(&mut self, vf: usize, code: u32) {
        // Any kind the window has a counter for.
        let s = &self.hw().vf[vf % N];
        bump(&s.violation_seq[code as usize % s.violation_seq.len()]);
        self.announce(vf % N);
    }

    /// The PF driver's admin request (`words`, claimed length `len`).
    pub fn admin(&mut self, words: &[u32], len: u32) {
        let a = &self.hw().admin;
        for (r, w) in a.request.iter().zip(words) {
            r.set(*w);
        }
        a.request_len.set(len);
        bump(&a.doorbell);
        // The PF driver drains events, so the ring does not fill forever.
        a.event_tail.set(a.event_head.get());
        self.event();
    }

    /// The last admin response: status (bits 31:16 of word 0) and length.
    pub fn admin_response(&self) -> (u32, u32) {
        let a = &self.hw().admin;
        (a.response[0].get() >> 16, a.response_len.get())
    }

    /// Writes a function's queue register by index (0..15, the hw-owned
    /// fields of `QueueRegs` in order) and rings its Tx doorbell.
    pub fn queue_reg(&mut self, f: usize, q: usize, reg: usize, value: u32) {
        let f = f % Self::FUNCTIONS;
        let r = hw_queue_regs(&self.hw().function[f].queues[q % 8]);
        r[reg % r.len()].set(value);
        hal::chip::ring_tx_doorbell(self.hw(), f);
        self.poll();
    }

    /// A well-formed Rx ring for queue `q` of function `f`: 8 descriptors
    /// of 2 KiB buffers in the function's window, 7 posted, the queue
    /// (re-)enabled. Called again, it re-arms the ring.
    pub fn rx_ring(&mut self, f: usize, q: usize) {
        let (f, q) = (f % Self::FUNCTIONS, q % 2);
        let win = f * WINDOW as usize;
        let ring = win + q * 0x1000;
        for i in 0..RING {
            let buf = bus(win + 0x8000 + q * 0x4000 + i * 2048);
            self.host.poke(ring + i * 16, &buf.to_le_bytes());
            self.host.poke(ring + i * 16 + 8, &[0; 8]);
        }
        let r = &self.hw().function[f].queues[q];
        r.rdbal.set(bus(ring) as u32);
        r.rdbah.set((bus(ring) >> 32) as u32);
        r.rdlen.set(RING as u32 * 16);
        r.srrctl.set(2);
        r.rx_start.set(0);
        r.rdt.set(RING as u32 - 1);
        r.rxdctl.set(hal::ixgbe::queuereg::RXDCTL_ENABLE);
        bump(&r.rx_enable_seq);
        self.poll();
    }

    /// A Tx ring for queue `q` of function `f` holding `frames` (one
    /// data descriptor each, up to 7), the queue (re-)enabled and its
    /// doorbell rung.
    pub fn tx_ring(&mut self, f: usize, q: usize, frames: &[Vec<u8>]) {
        use hal::ixgbe::desc::*;
        let (f, q) = (f % Self::FUNCTIONS, q % 2);
        let win = f * WINDOW as usize;
        let ring = win + 0x2000 + q * 0x1000;
        let n = frames.len().min(RING - 1);
        for (i, frame) in frames[..n].iter().enumerate() {
            let buf = win + 0x8000 + (2 + q) * 0x4000 + i * 2048;
            let len = frame.len().min(2048);
            self.host.poke(buf, &frame[..len]);
            let cmd =
                len as u32 | TX_DTYP_DATA | TX_CMD_DEXT | TX_CMD_EOP | TX_CMD_IFCS | TX_CMD_RS;
            let olinfo = (len as u32) << TX_PAYLEN_SHIFT;
            self.host.poke(ring + i * 16, &bus(buf).to_le_bytes());
            self.host.poke(ring + i * 16 + 8, &cmd.to_le_bytes());
            self.host.poke(ring + i * 16 + 12, &olinfo.to_le_bytes());
        }
        let r = &self.hw().function[f].queues[q];
        r.tdbal.set(bus(ring) as u32);
        r.tdbah.set((bus(ring) >> 32) as u32);
        r.tdlen.set(RING as u32 * 16);
        r.tx_start.set(0);
        r.tdt.set(n as u32);
        r.txdctl.set(hal::ixgbe::queuereg::TXDCTL_ENABLE);
        bump(&r.tx_enable_seq);
        hal::chip::ring_tx_doorbell(self.hw(), f);
        self.poll();
    }

    /// Word index in the window of a register.
    fn word_of<T>(&self, r: &T) -> usize {
        (r as *const T as usize - self.window.as_ptr() as usize) / 4
    }

    /// Every window field the firmware reads and the hardware writes, as
    /// word indices, for the PF and the `N` VFs.
    pub fn hw_fields(&self) -> HwFields {
        let hw = self.hw();
        let g = &hw.global;
        let mut global = vec![
            self.word_of(&g.event_seq),
            self.word_of(&g.sriov_seq),
            self.word_of(&g.sriov_ctrl),
            self.word_of(&g.pcie_error_seq),
            self.word_of(&g.pcie_error),
            self.word_of(&g.tx_doorbell_seq),
        ];
        global.extend(g.vf_group_seq.iter().map(|r| self.word_of(r)));
        global.extend(g.tx_doorbell_group_seq.iter().map(|r| self.word_of(r)));
        let a = &hw.admin;
        let mut admin: Vec<usize> = a.request.iter().map(|r| self.word_of(r)).collect();
        admin.extend([
            self.word_of(&a.request_len),
            self.word_of(&a.doorbell),
            self.word_of(&a.event_tail),
        ]);
        let slot = |s: &VfSlot| {
            let mut v = vec![
                self.word_of(&s.req_seq),
                self.word_of(&s.vf_ack_seq),
                self.word_of(&s.reset_seq),
                self.word_of(&s.reset_cause),
                self.word_of(&s.req_len),
            ];
            v.extend(s.violation_seq.iter().map(|r| self.word_of(r)));
            v.push(self.word_of(&s.slot_seq));
            v.extend(s.request.iter().map(|r| self.word_of(r)));
            v
        };
        let block = |b: &FunctionBlock| {
            let mut v: Vec<usize> = b
                .queues
                .iter()
                .flat_map(hw_queue_regs)
                .map(|r| self.word_of(r))
                .collect();
            v.extend([
                self.word_of(&b.tx_doorbell_seq),
                self.word_of(&b.dma_base_lo),
                self.word_of(&b.dma_base_hi),
                self.word_of(&b.dma_size),
                self.word_of(&b.psrtype),
                self.word_of(&b.dma_engine),
            ]);
            v
        };
        HwFields {
            global,
            admin,
            vf: hw.vf[..N].iter().map(slot).collect(),
            function: hw.function[..Self::FUNCTIONS].iter().map(block).collect(),
        }
    }

    /// Writes word `index` of the window (see [`hw_fields`](Self::hw_fields)).
    pub fn write_word(&mut self, index: usize, value: u32) {
        self.window_word(index).set(value);
        self.windows_stale |= is_dma_window_word(index);
    }

    pub fn read_word(&self, index: usize) -> u32 {
        self.window_word(index).get()
    }

    /// The invariants every target checks after every step. The pools'
    /// audit (the costly part with many VFs) runs when the control plane
    /// has scanned since the last one: only a scan changes what VFs hold
    /// (the data path reads their configuration); [`Shared::run`] audits
    /// once more after the last step, whatever happened.
    pub fn check(&mut self) {
        let scans = self.device.counters.scans;
        if scans != self.audited_scans {
            self.audited_scans = scans;
            self.audit();
        }
        self.check_books();
    }

    /// The pools' books balance.
    pub fn audit(&self) {
        if let Err(e) = self.device.audit() {
            panic!("pool audit: {e}");
        }
    }

    /// Every port's frames are accounted for, the classifier held every
    /// claim the pools allowed, and nothing was written outside a
    /// function's DMA window.
    pub fn check_books(&self) {
        if !self.device.books_balanced() {
            let up = self.device.uplink_counters();
            assert!(up.balanced(), "uplink books: {up:?}");
            for f in 0..Self::FUNCTIONS {
                if let Some(c) = self.device.port_counters(f) {
                    assert!(c.balanced(), "function {f} books: {c:?}");
                }
            }
            panic!("the books of a disabled VF do not balance");
        }
        assert_eq!(
            self.device.counters.classifier_refused, 0,
            "the classifier refused a unicast claim the MAC filter pool allowed"
        );
        if let Some((addr, n)) = self.host.stray {
            panic!("{n} bytes written at {addr:#x}, outside every function's DMA window");
        }
    }
}

impl<const N: usize> Default for Rig<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// The fields the firmware reads and the hardware writes, by block: word
/// indices into the window.
pub struct HwFields {
    pub global: Vec<usize>,
    pub admin: Vec<usize>,
    /// Per VF slot.
    pub vf: Vec<Vec<usize>>,
    /// Per function block (0 = PF).
    pub function: Vec<Vec<usize>>,
}

/// A queue's hw-owned registers, in `QueueRegs` order.
fn hw_queue_regs(qr: &QueueRegs) -> [&ReadWrite<u32>; 15] {
    [
        &qr.rdbal,
        &qr.rdbah,
        &qr.rdlen,
        &qr.rdt,
        &qr.srrctl,
        &qr.rxdctl,
        &qr.tdbal,
        &qr.tdbah,
        &qr.tdlen,
        &qr.tdt,
        &qr.txdctl,
        &qr.rx_start,
        &qr.tx_start,
        &qr.rx_enable_seq,
        &qr.tx_enable_seq,
    ]
}

fn window_of(window: &mut [u64]) -> &HostInterface {
    assert_eq!(window.len() * 8, REGISTERS_SIZE);
    // SAFETY: as in `Rig::hw`.
    unsafe { &*(window.as_ptr() as *const HostInterface) }
}

/// One rig per fuzzing process, reset before each input.
pub struct Shared<const N: usize>(Mutex<Option<Box<Rig<N>>>>);

impl<const N: usize> Shared<N> {
    pub const fn new() -> Self {
        Shared(Mutex::new(None))
    }

    /// Runs `f` on the rig, freshly reset.
    pub fn run(&self, f: impl FnOnce(&mut Rig<N>)) {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match slot.as_mut() {
            Some(rig) => rig.reset(),
            None => *slot = Some(Box::new(Rig::new())),
        }
        let rig = slot.as_mut().expect("set above");
        f(rig);
        // The firmware rebuilds its classifier at the first lookup after a
        // change: build it now, so that the claims of the input's last
        // configuration are checked even if no frame followed them.
        rig.device.sync_classifier();
        rig.audit();
        rig.check_books();
    }
}

impl<const N: usize> Default for Shared<N> {
    fn default() -> Self {
        Self::new()
    }
}
