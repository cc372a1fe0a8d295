//! 82599 descriptor rings as the hardware consumes them: an Rx frame put
//! into a ring (descriptor read, payload, write-back, head), a Tx frame taken
//! from one (context and data descriptors, payload, DD write-back), and
//! every check a driver's bad ring set-up or tail write needs.
//!
//! Written once and run by whoever owns the rings: the firmware core on a
//! board without a queue manager (`device::dataplane`), or the queue
//! manager itself where the hardware has one (`sim-tests/queue-manager`,
//! docs/data-path.md). The semantics a driver sees are the same either way.

use crate::drops::{DropReason, QueueFault};
use core::sync::atomic::{Ordering, fence};
use hal::chip::{FunctionBlock, QueueRegs};
use hal::ixgbe::desc::*;
use hal::ixgbe::queuereg::{RXDCTL_ENABLE, SRRCTL_BSIZEPKT_MASK, TXDCTL_ENABLE};
use hal::ixgbe::vfreg::{PSRTYPE_RQPL_MASK, PSRTYPE_RQPL_SHIFT};
use hal::port::Dma;
use tock_registers::interfaces::{Readable, Writeable};

/// The Rx queue of function `f` a frame goes to: queue 0 without an RSS
/// type, else the redirection table's entry for its hash over the queues
/// RSS spreads over. For a VF, those are VFPSRTYPE.RQPL's (one, two or
/// four, as its driver enabled them), never more than the board's
/// `board_queues`; the PF uses all of its queue pairs.
#[inline(always)]
pub fn rss_queue(
    block: &FunctionBlock,
    f: usize,
    board_queues: u32,
    hash: u32,
    pkt_info: u32,
) -> usize {
    if pkt_info & RSS_TYPE_MASK == 0 {
        return 0;
    }
    let queues = if f == 0 {
        board_queues
    } else {
        let rqpl = (block.psrtype.get() & PSRTYPE_RQPL_MASK) >> PSRTYPE_RQPL_SHIFT;
        // RQPL 3 is reserved on the 82599: taken as four.
        board_queues.min(1 << rqpl.min(2))
    };
    crate::rss::queue_for(hash, queues) as usize
}

/// Descriptors one frame may use before the firmware calls it malformed
/// (the 82599 allows 40).
pub const MAX_DESC_PER_FRAME: usize = 40;
/// Largest ring (the 82599's 8192 descriptors).
pub const MAX_RING: u32 = 8192;

/// Where a queue stands.
#[derive(Clone, Copy, Debug, Default)]
pub struct QueueState {
    pub rx_head: u32,
    pub tx_head: u32,
    /// TXDCTL.ENABLE as the last look at the Tx ring found it (whether
    /// work is left waits on it). Rx needs no such copy: RXDCTL is read per
    /// frame.
    pub tx_enabled: bool,
    /// Stopped by a fault until the driver disables and re-enables it.
    pub rx_stopped: bool,
    pub tx_stopped: bool,
    /// VLAN tag from the last Tx context descriptor.
    pub ctx_vlan: u16,
    /// The hardware's `rx_enable_seq` / `tx_enable_seq` last acted on.
    pub rx_enable_seen: u32,
    pub tx_enable_seen: u32,
}

impl QueueState {
    /// A queue not yet seen enabled.
    pub const IDLE: QueueState = QueueState {
        rx_head: 0,
        tx_head: 0,
        tx_enabled: false,
        rx_stopped: false,
        tx_stopped: false,
        ctx_vlan: 0,
        rx_enable_seen: 0,
        tx_enable_seen: 0,
    };
}

/// Adds a frame to a 36-bit octet counter kept as two registers (VFGORC,
/// VFGOTC).
#[inline(always)]
fn add_octets(
    lsb: &tock_registers::registers::ReadWrite<u32>,
    msb: &tock_registers::registers::ReadWrite<u32>,
    len: usize,
) {
    let n = (u64::from(msb.get()) << 32 | u64::from(lsb.get())).wrapping_add(len as u64)
        & 0xf_ffff_ffff;
    lsb.set(n as u32);
    msb.set((n >> 32) as u32);
}

/// A frame delivered into function `block`'s ring, in its statistics
/// registers as an 82599 counts it: VFGPRC, VFGORC, and VFMPRC for
/// multicast (broadcast has no VF counter of its own).
#[inline(always)]
pub fn count_received(block: &FunctionBlock, len: usize, multicast: bool) {
    block.gprc.set(block.gprc.get().wrapping_add(1));
    add_octets(&block.gorc_lsb, &block.gorc_msb, len);
    if multicast {
        block.mprc.set(block.mprc.get().wrapping_add(1));
    }
}

/// A frame function `block` sent, in VFGPTC and VFGOTC.
#[inline(always)]
pub fn count_sent(block: &FunctionBlock, len: usize) {
    block.gptc.set(block.gptc.get().wrapping_add(1));
    add_octets(&block.gotc_lsb, &block.gotc_msb, len);
}

/// A function's IOMMU window.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub start: u64,
    pub size: u64,
}

impl Window {
    pub fn of(block: &FunctionBlock) -> Window {
        Window {
            start: u64::from(block.dma_base_lo.get()) | u64::from(block.dma_base_hi.get()) << 32,
            size: u64::from(block.dma_size.get()),
        }
    }

    pub fn contains(&self, addr: u64, len: u64) -> bool {
        addr >= self.start && len <= self.size && addr - self.start <= self.size - len
    }
}

/// Rx write-back fields other than length and status.
#[derive(Clone, Copy)]
pub struct RxMeta {
    pub pkt_info: u32,
    pub rss_hash: u32,
    pub vlan: Option<u16>,
    pub looped_back: bool,
}

pub fn ring_base(lo: u32, hi: u32) -> u64 {
    u64::from(lo) | u64::from(hi) << 32
}

/// Ring length in descriptors, if the length register is usable.
pub fn ring_len(bytes: u32) -> Option<u32> {
    let n = bytes / SIZE as u32;
    (bytes != 0 && bytes.is_multiple_of(SIZE as u32) && n <= MAX_RING).then_some(n)
}

/// Puts a frame into an Rx ring. Err: the drop reason (and whether the
/// queue must stop).
pub fn rx_put(
    q: &mut QueueState,
    regs: &QueueRegs,
    win: Window,
    dma: &mut (impl Dma + ?Sized),
    frame: &[u8],
    meta: RxMeta,
) -> Result<(), (DropReason, Option<QueueFault>)> {
    let enabled = regs.rxdctl.get() & RXDCTL_ENABLE != 0;
    let enable_seq = regs.rx_enable_seq.get();
    if enable_seq != q.rx_enable_seen {
        // Enabled again since we last looked (perhaps disabled and
        // enabled between two polls, as ixgbevf does on every ring set-up):
        // the ring restarts where the driver put its head, faults are
        // forgiven.
        fence(Ordering::Acquire);
        *q = QueueState {
            rx_enable_seen: enable_seq,
            rx_head: regs.rx_start.get(),
            rx_stopped: false,
            ..*q
        };
        regs.rdh.set(q.rx_head);
        fence(Ordering::Release);
        regs.rx_enable_done.set(enable_seq);
    }
    if !enabled || q.rx_stopped {
        return Err((DropReason::RingDisabled, None));
    }
    let Some(n) = ring_len(regs.rdlen.get()) else {
        q.rx_stopped = true;
        return Err((DropReason::RingDisabled, Some(QueueFault::BadRingLength)));
    };
    let tail = regs.rdt.get();
    // One comparison on the per-frame path for both (the head is the
    // driver's after a restart, and the length may have changed since).
    if tail.max(q.rx_head) >= n {
        q.rx_stopped = true;
        return Err(if tail >= n {
            (DropReason::TailBeyondRing, Some(QueueFault::TailBeyondRing))
        } else {
            (DropReason::RingDisabled, Some(QueueFault::HeadBeyondRing))
        });
    }
    let bsize = match regs.srrctl.get() & SRRCTL_BSIZEPKT_MASK {
        0 => 2048,
        k => k as usize * 1024,
    };
    let chunks = frame.len().div_ceil(bsize).max(1);
    let free = (tail + n - q.rx_head) % n;
    if (free as usize) < chunks {
        return Err((DropReason::NoRxBuffer, None));
    }
    let base = ring_base(regs.rdbal.get(), regs.rdbah.get());
    let mut head = q.rx_head;
    for (i, chunk) in frame.chunks(bsize).enumerate() {
        let daddr = base + u64::from(head) * SIZE as u64;
        if !win.contains(daddr, SIZE as u64) {
            q.rx_stopped = true;
            return Err((DropReason::DmaFault, Some(QueueFault::DmaOutsideWindow)));
        }
        let Some(d) = dma.read_desc(daddr) else {
            q.rx_stopped = true;
            return Err((DropReason::DmaFault, Some(QueueFault::DmaOutsideWindow)));
        };
        let buf = ring_base(d[0], d[1]);
        if !win.contains(buf, chunk.len() as u64) || !dma.write(buf, chunk) {
            q.rx_stopped = true;
            return Err((DropReason::DmaFault, Some(QueueFault::DmaOutsideWindow)));
        }
        let last = i + 1 == chunks;
        let mut status = RX_STAT_DD;
        if last {
            status |= RX_STAT_EOP;
            if meta.vlan.is_some() {
                status |= RX_STAT_VP;
            }
            if meta.looped_back {
                status |= RX_STAT_LB;
            }
        }
        let vlan = if last {
            u32::from(meta.vlan.unwrap_or(0))
        } else {
            0
        };
        let wb = [
            meta.pkt_info,
            meta.rss_hash,
            status,
            chunk.len() as u32 | vlan << 16,
        ];
        // Status last (write_desc orders it after the data): the driver
        // may look at DD as soon as it lands.
        dma.write_desc(daddr, wb);
        head = (head + 1) % n;
    }
    q.rx_head = head;
    fence(Ordering::Release);
    regs.rdh.set(head);
    regs.rx_done_seq.set(regs.rx_done_seq.get().wrapping_add(1));
    Ok(())
}

/// What taking a frame from a Tx ring gave.
pub enum TxTake {
    /// Nothing (complete) to send.
    Empty,
    /// A frame of this length in the buffer; Some(tag) to insert.
    Frame(usize, Option<u16>),
    /// Descriptors consumed, frame dropped.
    Dropped(DropReason),
    /// The queue stopped.
    Fault(DropReason, QueueFault),
}

pub fn tx_take(
    q: &mut QueueState,
    regs: &QueueRegs,
    win: Window,
    dma: &mut (impl Dma + ?Sized),
    out: &mut [u8],
) -> TxTake {
    let enabled = regs.txdctl.get() & TXDCTL_ENABLE != 0;
    let enable_seq = regs.tx_enable_seq.get();
    if enable_seq != q.tx_enable_seen {
        fence(Ordering::Acquire);
        *q = QueueState {
            tx_enable_seen: enable_seq,
            tx_enabled: enabled,
            tx_head: regs.tx_start.get(),
            tx_stopped: false,
            ..*q
        };
        regs.tdh.set(q.tx_head);
        fence(Ordering::Release);
        regs.tx_enable_done.set(enable_seq);
    }
    q.tx_enabled = enabled;
    if !enabled || q.tx_stopped {
        return TxTake::Empty;
    }
    let Some(n) = ring_len(regs.tdlen.get()) else {
        q.tx_stopped = true;
        return TxTake::Fault(DropReason::RingDisabled, QueueFault::BadRingLength);
    };
    if q.tx_head >= n {
        q.tx_stopped = true;
        return TxTake::Fault(DropReason::RingDisabled, QueueFault::HeadBeyondRing);
    }
    let tail = regs.tdt.get();
    if tail >= n {
        q.tx_stopped = true;
        return TxTake::Fault(DropReason::TailBeyondRing, QueueFault::TailBeyondRing);
    }
    let base = ring_base(regs.tdbal.get(), regs.tdbah.get());
    let mut head = q.tx_head;
    // Context descriptors ahead of the frame.
    let mut len = 0usize;
    let mut bad = None;
    let mut vle = false;
    let mut data_descs = 0;
    let start = head;
    // Descriptors to write back (DD) once the frame is complete.
    let mut done: heapless::Vec<(u64, [u32; 4]), MAX_DESC_PER_FRAME> = heapless::Vec::new();
    loop {
        if head == tail {
            // Incomplete (or empty): keep what was seen for next time only
            // if nothing but context descriptors were consumed.
            if data_descs == 0 && head != start {
                finish_tx(q, regs, head);
            }
            return TxTake::Empty;
        }
        let daddr = base + u64::from(head) * SIZE as u64;
        let Some(d) = win
            .contains(daddr, SIZE as u64)
            .then(|| dma.read_desc(daddr))
            .flatten()
        else {
            q.tx_stopped = true;
            return TxTake::Fault(DropReason::DmaFault, QueueFault::DmaOutsideWindow);
        };
        let cmd = d[2];
        head = (head + 1) % n;
        if cmd & TX_CMD_DEXT == 0 {
            // Legacy descriptors are not supported: drop it alone.
            finish_tx(q, regs, head);
            return TxTake::Dropped(DropReason::BadDescriptor);
        }
        match cmd & TX_DTYP_MASK {
            TX_DTYP_CTXT => {
                if data_descs == 0 {
                    q.ctx_vlan = (d[0] >> 16) as u16;
                    continue;
                }
                bad = Some(DropReason::BadDescriptor);
            }
            TX_DTYP_DATA => {
                data_descs += 1;
                let blen = (cmd & TX_LEN_MASK) as usize;
                let addr = ring_base(d[0], d[1]);
                vle |= cmd & TX_CMD_VLE != 0;
                if blen == 0 {
                    bad = bad.or(Some(DropReason::BadDescriptor));
                } else if !win.contains(addr, blen as u64) {
                    q.tx_stopped = true;
                    return TxTake::Fault(DropReason::DmaFault, QueueFault::DmaOutsideWindow);
                } else if len + blen > out.len() {
                    bad = bad.or(Some(DropReason::Oversize));
                } else if bad.is_none() && !dma.read(addr, &mut out[len..len + blen]) {
                    q.tx_stopped = true;
                    return TxTake::Fault(DropReason::DmaFault, QueueFault::DmaOutsideWindow);
                } else {
                    len += blen;
                }
                let _ = done.push((daddr, d));
                if cmd & TX_CMD_EOP != 0 {
                    // Write back DD where the driver asked (RS).
                    // By reference: moving the Vec into the loop copied
                    // all 40 slots (a 1 KiB memcpy per frame).
                    for &(addr, mut wb) in done.iter() {
                        if wb[2] & TX_CMD_RS != 0 {
                            wb[3] |= TX_STAT_DD;
                            dma.write_desc(addr, wb);
                        }
                    }
                    finish_tx(q, regs, head);
                    return match bad {
                        Some(r) => TxTake::Dropped(r),
                        None => TxTake::Frame(len, vle.then_some(q.ctx_vlan)),
                    };
                }
                if data_descs >= MAX_DESC_PER_FRAME {
                    finish_tx(q, regs, head);
                    return TxTake::Dropped(DropReason::BadDescriptor);
                }
            }
            _ => bad = Some(DropReason::BadDescriptor),
        }
        if bad == Some(DropReason::BadDescriptor) && cmd & TX_DTYP_MASK != TX_DTYP_DATA {
            finish_tx(q, regs, head);
            return TxTake::Dropped(DropReason::BadDescriptor);
        }
    }
}

pub fn finish_tx(q: &mut QueueState, regs: &QueueRegs, head: u32) {
    q.tx_head = head;
    fence(Ordering::Release);
    regs.tdh.set(head);
    regs.tx_done_seq.set(regs.tx_done_seq.get().wrapping_add(1));
}
