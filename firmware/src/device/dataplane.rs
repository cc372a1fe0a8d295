//! The data path: queues (82599 advanced descriptors in host memory, reached
//! only through each function's IOMMU window), and the switch between the
//! uplink and the functions.
//!
//! Wire → function: parse → classifier lookup → per function: link,
//! VLAN filter (port VLAN stripped), max frame, RSS queue pick → DMA into
//! the Rx ring → write-back.
//! Function → anywhere: Tx descriptors → anti-spoof → port VLAN insert →
//! rate limit → VEB (local functions, and the wire for what is not local)
//! or VEPA (the wire).

use super::Device;
use crate::classifier::{Destinations, Owner};
use crate::drops::{DropReason, PortCounters, QueueFault};
use crate::events::{Event, NO_VF};
use crate::frame::{self, MAX_FRAME, ParseError, Parsed, TPID_8021Q, Tag};
use crate::rings::{QueueState, RxMeta, TxTake, Window, rx_put, tx_take};
use crate::rss;
use hal::chip::{DOORBELL_GROUP, HostInterface, MAX_QUEUES};
use hal::ixgbe::queuereg::RXDCTL_VME;
use hal::port::{Dma, Uplink};
use tock_registers::interfaces::Readable;

/// Room before a frame for the tags the firmware may push in place (a Tx
/// descriptor's and a port VLAN's: 8 bytes), rounded up so that the frame
/// arrives 16-aligned (under strict alignment, LLVM copies a 64-byte frame
/// inline only from and to 16-aligned memory).
pub const HEADROOM: usize = 16;
/// Scratch buffer size: the headroom and the largest frame.
pub const BUF: usize = HEADROOM + MAX_FRAME;
/// Frames a Tx queue sends per poll before others get a turn.
pub const TX_BURST: usize = 32;
/// Frames taken from the uplink per poll.
pub const RX_BURST: usize = 64;

/// The frame being switched, with headroom before it so that VLAN tags go
/// in on the way out in place (12 bytes move, not the frame); and a second
/// buffer a frame is stripped into on the way in, so that what is copied
/// into a VF's ring stays aligned (an in-place strip left the DMA source
/// 4 bytes off, which cost more than the strip's own copy). Both frames
/// start [`HEADROOM`] bytes into 64-aligned buffers, so that copies into
/// and out of them move words, not bytes, when the other side is aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct Scratch {
    pub buf: [u8; BUF],
    pub stripped: [u8; BUF],
    /// Where the frame starts in `buf`.
    pub at: usize,
}

/// A function's data-path state.
#[derive(Clone, Copy, Debug)]
pub struct FunctionDp {
    pub counters: PortCounters,
    pub queues: [QueueState; MAX_QUEUES],
    pub tx_doorbell_seen: u32,
    /// Token bucket for max_tx_rate, in millibits (a rate in Mb/s earns
    /// exactly `rate` millibits a nanosecond, so no poll's share is lost to
    /// rounding, however often the firmware polls). May go negative: a
    /// frame is sent when the bucket is positive, then paid for.
    pub tokens: i64,
    pub tokens_at_ns: u64,
    pub queue_faults: u32,
}

impl FunctionDp {
    pub const NEW: FunctionDp = FunctionDp {
        counters: PortCounters::ZERO,
        queues: [QueueState::IDLE; MAX_QUEUES],
        tx_doorbell_seen: 0,
        tokens: 0,
        tokens_at_ns: 0,
        queue_faults: 0,
    };
}

/// The max_tx_rate bucket's size, in millibits: 1 ms at `rate` Mb/s, at
/// least one 1500-byte frame.
pub(super) fn rate_burst(rate: u32) -> i64 {
    (i64::from(rate) * 1000).max(12_000) * 1000
}

/// How a function takes a frame ([`Device::rx_plan`]).
pub(super) struct RxPlan {
    pub queue: usize,
    /// The outer tag comes off (port VLAN, or RXDCTL.VME).
    pub strip: bool,
    /// The tag the write-back reports (RXDCTL.VME).
    pub report_vlan: Option<u16>,
}

/// A frame on its way to its destinations (in scratch A), with what RSS
/// computed for it.
struct Incoming<'p> {
    len: usize,
    p: &'p Parsed,
    hash: u32,
    /// RSS type (bits 3:0) and packet type, as the descriptor reports them.
    pkt_info: u32,
    looped_back: bool,
}

/// Whether VF function `f` owns `src` among its MAC-VLANs (anti-spoof
/// past the VF's own MAC): one probe of the classifier, not a walk of up to
/// 32 addresses. Cold: a VF sending from its own MAC never gets here.
#[cold]
#[inline(never)]
fn owns_source(
    classifier: &crate::classifier::Classifier,
    vf: &crate::vf::Vf,
    f: usize,
    src: crate::mac::Mac,
) -> bool {
    match classifier.owner_of(&src) {
        Owner::One(o) => o == f,
        Owner::Nobody => false,
        Owner::Shared => vf.oper.macvlans.contains(&src),
    }
}

fn parse_drop(e: ParseError) -> DropReason {
    match e {
        ParseError::Runt => DropReason::Runt,
        ParseError::Oversize => DropReason::Oversize,
        ParseError::BrokenVlan | ParseError::TooManyTags => DropReason::BadVlanHeader,
    }
}

impl<const N: usize> Device<N> {
    pub(super) fn dp(&mut self, f: usize) -> &mut FunctionDp {
        if f == 0 {
            &mut self.dp_pf
        } else {
            &mut self.dp_vf[f - 1]
        }
    }

    /// A function's counters (0 = PF, 1 + n = VF n).
    pub fn port_counters(&self, f: usize) -> Option<&PortCounters> {
        if f == 0 {
            Some(&self.dp_pf.counters)
        } else {
            self.dp_vf[..usize::from(self.enabled)]
                .get(f - 1)
                .map(|d| &d.counters)
        }
    }

    /// Whether every port's books balance: the uplink's, the PF's and
    /// those of every VF slot, enabled or not (a disabled VF's counters
    /// must still add up). One pass with no branch per port, for checkers
    /// that run after every step; [`port_counters`](Self::port_counters)
    /// says which port it was.
    pub fn books_balanced(&self) -> bool {
        let vfs = self.dp_vf.iter().fold(0, |a, d| a | d.counters.imbalance());
        (self.uplink.imbalance() | self.dp_pf.counters.imbalance() | vfs) == 0
    }

    /// The uplink's counters (rx: from the wire; tx: to the wire).
    pub fn uplink_counters(&self) -> &PortCounters {
        &self.uplink
    }

    pub(super) fn queues_of(&self, f: usize) -> usize {
        usize::from(if f == 0 {
            self.caps.pf_queue_pairs
        } else {
            self.caps.queue_pairs_per_vf
        })
        .min(MAX_QUEUES)
    }

    /// The frame in scratch, `len` bytes of it.
    fn frame(&self, len: usize) -> &[u8] {
        &self.scratch.buf[self.scratch.at..self.scratch.at + len]
    }

    /// The data path's share of a poll.
    pub(super) fn poll_data(
        &mut self,
        hw: &HostInterface,
        dma: &mut (impl Dma + ?Sized),
        uplink: &mut (impl Uplink + ?Sized),
        now_ns: u64,
    ) {
        let up = uplink.link_up();
        if up != self.uplink_up {
            self.set_uplink(hw, up);
        }
        self.scan_doorbells(hw);
        // Only the functions with work: an idle poll costs the same with
        // 8 VFs or 256.
        if !self.tx_pending.is_empty() {
            self.sync_classifier();
            let pending = self.tx_pending;
            for f in pending.iter() {
                let more =
                    f <= usize::from(self.enabled) && self.serve_tx(hw, dma, uplink, f, now_ns);
                if !more {
                    self.tx_pending.remove(f);
                }
            }
        }
        // An idle poll ends at the first empty receive; a burst's frames
        // are taken out of line, after the classifier is brought up to date
        // (once, before the burst's first lookup).
        self.scratch.at = HEADROOM;
        let Some(n) = uplink.receive(&mut self.scratch.buf[HEADROOM..]) else {
            return;
        };
        self.sync_classifier();
        self.receive_burst(hw, dma, uplink, n);
    }

    /// Tx doorbells into the pending set: the summary, then the groups
    /// that moved, then the functions in those groups (not every function
    /// on every doorbell).
    #[inline(always)]
    pub(super) fn scan_doorbells(&mut self, hw: &HostInterface) {
        let g = &hw.global;
        let seq = g.tx_doorbell_seq.get();
        if seq != self.tx_doorbell_seen {
            self.tx_doorbell_seen = seq;
            let functions = usize::from(self.enabled) + 1;
            for group in 0..functions.div_ceil(DOORBELL_GROUP) {
                let gs = g.tx_doorbell_group_seq[group].get();
                if gs == self.tx_group_seen[group] {
                    continue;
                }
                self.tx_group_seen[group] = gs;
                let first = group * DOORBELL_GROUP;
                for f in first..functions.min(first + DOORBELL_GROUP) {
                    let s = hw.function[f].tx_doorbell_seq.get();
                    let dp = self.dp(f);
                    if s != dp.tx_doorbell_seen {
                        dp.tx_doorbell_seen = s;
                        self.tx_pending.insert(f);
                    }
                }
            }
        }
    }

    /// The uplink's burst: the frame of `n` bytes already in the scratch
    /// buffer, then up to `RX_BURST - 1` more.
    #[inline(never)]
    fn receive_burst(
        &mut self,
        hw: &HostInterface,
        dma: &mut (impl Dma + ?Sized),
        uplink: &mut (impl Uplink + ?Sized),
        mut n: usize,
    ) {
        let mut left = RX_BURST;
        loop {
            self.receive_from_wire(hw, dma, n);
            left -= 1;
            if left == 0 {
                return;
            }
            self.scratch.at = HEADROOM;
            match uplink.receive(&mut self.scratch.buf[HEADROOM..]) {
                Some(m) => n = m,
                None => return,
            }
        }
    }

    /// Rebuilds the classifier if what it is built from changed since the
    /// last rebuild. The data path calls this before its first lookup in
    /// a poll, so a run of control changes with no frame between them
    /// (a VF's bring-up, the PF configuring 64 VFs) costs one rebuild, not
    /// one per change.
    #[inline]
    pub fn sync_classifier(&mut self) {
        if self.classifier_dirty {
            self.rebuild_classifier();
        }
    }

    fn receive_from_wire(&mut self, hw: &HostInterface, dma: &mut (impl Dma + ?Sized), n: usize) {
        if !self.wire_admits(n) {
            return;
        }
        // Straight from the uplink: at HEADROOM (a constant offset keeps
        // the bounds checks and the alignment known).
        let parsed = frame::parse(&self.scratch.buf[HEADROOM..HEADROOM + n]);
        let Some((p, targets)) = self.wire_targets(n, &parsed) else {
            return;
        };
        let frame = self.incoming(n, p, false);
        self.offer_to(hw, dma, targets, &frame);
    }

    /// A frame of `n` bytes from the wire, counted as offered: false (and
    /// counted a drop) if it is longer than the data path carries. The
    /// same with the core's rings and a queue manager's.
    #[inline(always)]
    pub(super) fn wire_admits(&mut self, n: usize) -> bool {
        self.uplink.rx_offered += 1;
        if n > MAX_FRAME {
            self.uplink.drop_rx(DropReason::Oversize);
            return false;
        }
        true
    }

    /// Where a frame from the wire goes, given how it parsed: its
    /// destinations, counted as received on the uplink; None (and counted
    /// a drop) if it does not parse or nobody takes it.
    /// The parse result is borrowed where it lies: moving it out of the
    /// `Result` became a byte and a 31-byte memcpy call (the first byte,
    /// the group bit, was wanted sooner).
    #[inline(always)]
    pub(super) fn wire_targets<'p>(
        &mut self,
        n: usize,
        parsed: &'p Result<Parsed, ParseError>,
    ) -> Option<(&'p Parsed, Destinations)> {
        let p = match parsed {
            Ok(p) => p,
            Err(e) => {
                self.uplink.drop_rx(parse_drop(*e));
                return None;
            }
        };
        // Out of the classifier (a function, or a copy of a set of five
        // words): the offers after need the device mutably.
        let targets = self.classifier.lookup(&p.dst, true).destinations();
        if targets.is_empty() {
            self.uplink.drop_rx(DropReason::NoDestination);
            return None;
        }
        self.uplink.rx_packets += 1;
        self.uplink.rx_bytes += n as u64;
        Some((p, targets))
    }

    /// What every destination of the frame in scratch A shares: RSS is
    /// device-wide, so the L3 walk and the hash are done once per frame.
    fn incoming<'p>(&self, len: usize, p: &'p Parsed, looped_back: bool) -> Incoming<'p> {
        let l3 = p.l3(self.frame(len));
        let (hash, rss_type) = rss::DEFAULT.frame_hash(&l3).unwrap_or((0, 0));
        Incoming {
            len,
            p,
            hash,
            pkt_info: rss_type | rss::packet_type(&l3),
            looped_back,
        }
    }

    /// Offers the frame in scratch A to each destination.
    #[inline(always)]
    fn offer_to(
        &mut self,
        hw: &HostInterface,
        dma: &mut (impl Dma + ?Sized),
        to: Destinations,
        frame: &Incoming,
    ) {
        match to {
            Destinations::One(f) => self.offer(hw, dma, f, frame),
            Destinations::Nobody => {}
            Destinations::Set(set) => {
                for f in set.iter() {
                    self.offer(hw, dma, f, frame);
                }
            }
        }
    }

    /// Offers the frame in scratch A to function `f`. Inlined into both
    /// of `offer_to`'s calls: out of line, each broadcast destination paid
    /// 22 instructions more for the call.
    #[inline(always)]
    fn offer(
        &mut self,
        hw: &HostInterface,
        dma: &mut (impl Dma + ?Sized),
        f: usize,
        frame: &Incoming,
    ) {
        let (len, p) = (frame.len, frame.p);
        self.dp(f).counters.rx_offered += 1;
        match self.receive_into(hw, dma, f, frame) {
            Ok(()) => {
                let c = &mut self.dp(f).counters;
                c.rx_packets += 1;
                c.rx_bytes += len as u64;
                if p.dst == crate::mac::Mac::BROADCAST {
                    c.rx_broadcast += 1;
                } else if p.dst.is_multicast() {
                    c.rx_multicast += 1;
                }
                crate::rings::count_received(
                    &hw.function[f],
                    len,
                    p.dst.is_multicast() && p.dst != crate::mac::Mac::BROADCAST,
                );
            }
            Err(r) => self.dp(f).counters.drop_rx(r),
        }
    }

    /// Whether function `f` takes the frame, and how: its filters (link,
    /// VLAN, port VLAN, max frame), the RSS queue, and the tag to strip or
    /// report (RXDCTL.VME). The core's rings; with a queue manager the
    /// queue and VME are the manager's (`rx_accepts` alone).
    #[inline(always)]
    pub(super) fn rx_plan(
        &self,
        hw: &HostInterface,
        f: usize,
        len: usize,
        p: &Parsed,
        pkt_info: u32,
        hash: u32,
    ) -> Result<RxPlan, DropReason> {
        let mut strip = self.rx_accepts(f, len, p)?;
        let block = &hw.function[f];
        let q = crate::rings::rss_queue(block, f, self.queues_of(f) as u32, hash, pkt_info);
        let outer = p.outer();
        let mut report_vlan = None;
        if !strip && outer.is_some() && block.queues[q].rxdctl.get() & RXDCTL_VME != 0 {
            strip = true;
            report_vlan = outer.map(|t| t.tci);
        }
        Ok(RxPlan {
            queue: q,
            strip,
            report_vlan,
        })
    }

    /// Whether function `f` takes the frame (link, VLAN filter, port
    /// VLAN, max frame): Ok(true) if its port VLAN's tag comes off.
    #[inline(always)]
    pub(super) fn rx_accepts(&self, f: usize, len: usize, p: &Parsed) -> Result<bool, DropReason> {
        let outer = p.outer();
        let mut strip = false;
        let tags = p.tag_count();
        let mut max_frame = usize::from(crate::vf::MAX_FRAME as u16);
        if f > 0 {
            let vf = &self.vfs[f - 1];
            // One test for both (a quarantined VF's link is down), the
            // reason told apart only when it fails.
            if !vf.link_up(self.uplink_up) {
                return Err(if vf.lifecycle == crate::vf::Lifecycle::Quarantined {
                    DropReason::Quarantined
                } else {
                    DropReason::LinkDown
                });
            }
            match vf.admin.port_vlan {
                Some(pv) => match outer {
                    Some(t) if t.tpid == pv.tpid && t.vid() == pv.vid => strip = true,
                    _ => return Err(DropReason::VlanFilter),
                },
                None => {
                    if outer.is_some_and(|t| t.tpid != TPID_8021Q) {
                        return Err(DropReason::VlanFilter);
                    }
                    if !vf.oper.vlans.contains(p.vid()) {
                        return Err(DropReason::VlanFilter);
                    }
                }
            }
            max_frame = usize::from(vf.oper.max_frame);
        }
        // Max frame counts the header and FCS, not VLAN tags.
        if len - 4 * tags + 4 > max_frame {
            return Err(DropReason::Mtu);
        }
        Ok(strip)
    }

    fn receive_into(
        &mut self,
        hw: &HostInterface,
        dma: &mut (impl Dma + ?Sized),
        f: usize,
        frame: &Incoming,
    ) -> Result<(), DropReason> {
        let len = frame.len;
        let RxPlan {
            queue: q,
            strip,
            report_vlan,
        } = self.rx_plan(hw, f, len, frame.p, frame.pkt_info, frame.hash)?;
        let regs = &hw.function[f].queues[q];
        let meta = RxMeta {
            pkt_info: frame.pkt_info,
            rss_hash: frame.hash,
            vlan: report_vlan,
            looped_back: frame.looped_back,
        };
        let win = Window::of(&hw.function[f]);
        let frame = if strip {
            let (buf, at) = (&self.scratch.buf, self.scratch.at);
            let out = &mut self.scratch.stripped[HEADROOM..];
            let m =
                frame::strip_outer_tag(&buf[at..at + len], out).ok_or(DropReason::BadVlanHeader)?;
            &self.scratch.stripped[HEADROOM..HEADROOM + m]
        } else {
            &self.scratch.buf[self.scratch.at..self.scratch.at + len]
        };
        let dp = if f == 0 {
            &mut self.dp_pf
        } else {
            &mut self.dp_vf[f - 1]
        };
        // The destination's DMA (its IOMMU mappings).
        dma.requester(f);
        match rx_put(&mut dp.queues[q], regs, win, dma, frame, meta) {
            Ok(()) => Ok(()),
            Err((r, fault)) => {
                if let Some(fault) = fault {
                    self.queue_fault(hw, f, q, false, fault);
                }
                Err(r)
            }
        }
    }

    pub(super) fn queue_fault(
        &mut self,
        hw: &HostInterface,
        f: usize,
        q: usize,
        tx: bool,
        fault: QueueFault,
    ) {
        self.dp(f).queue_faults += 1;
        let vf = if f == 0 { NO_VF } else { (f - 1) as u16 };
        fwlog::warn!(
            "function {}: {} queue {} stopped: {:?}",
            f,
            if tx { "Tx" } else { "Rx" },
            q,
            fault
        );
        self.post_event(
            hw,
            Event::QueueFault {
                vf,
                queue: q as u8,
                tx,
                fault,
            },
        );
    }

    /// Sends what function `f` queued; true if work is left (burst or rate).
    fn serve_tx(
        &mut self,
        hw: &HostInterface,
        dma: &mut (impl Dma + ?Sized),
        uplink: &mut (impl Uplink + ?Sized),
        f: usize,
        now_ns: u64,
    ) -> bool {
        let mut more = false;
        let win = Window::of(&hw.function[f]);
        for q in 0..self.queues_of(f) {
            let regs = &hw.function[f].queues[q];
            for _ in 0..TX_BURST {
                if !self.rate_allows(f, now_ns) {
                    more = true;
                    break;
                }
                let dp = if f == 0 {
                    &mut self.dp_pf
                } else {
                    &mut self.dp_vf[f - 1]
                };
                self.scratch.at = HEADROOM;
                // The sender's DMA (a local delivery of its last frame
                // switched to the destination's).
                dma.requester(f);
                match tx_take(
                    &mut dp.queues[q],
                    regs,
                    win,
                    dma,
                    &mut self.scratch.buf[HEADROOM..],
                ) {
                    TxTake::Empty => break,
                    TxTake::Frame(len, tag) => self.transmit(hw, dma, uplink, f, len, tag),
                    TxTake::Dropped(r) => {
                        let c = &mut self.dp(f).counters;
                        c.tx_offered += 1;
                        c.drop_tx(r);
                    }
                    TxTake::Fault(r, fault) => {
                        let c = &mut self.dp(f).counters;
                        c.tx_offered += 1;
                        c.drop_tx(r);
                        self.queue_fault(hw, f, q, true, fault);
                        break;
                    }
                }
            }
            let q_state = self.dp(f).queues[q];
            if q_state.tx_enabled && !q_state.tx_stopped && regs.tdt.get() != q_state.tx_head {
                more = true;
            }
        }
        more
    }

    pub(super) fn rate_allows(&mut self, f: usize, now_ns: u64) -> bool {
        if f == 0 {
            return true;
        }
        let rate = self.vfs[f - 1].admin.max_tx_rate;
        let dp = &mut self.dp_vf[f - 1];
        if rate == 0 {
            return true;
        }
        // Mb/s = bits per microsecond = millibits per nanosecond. Burst:
        // 1 ms worth, at least one 1500-byte frame; a larger frame goes
        // when the bucket is positive and is paid for after (the bucket
        // goes negative).
        let burst = rate_burst(rate);
        let elapsed = now_ns.saturating_sub(dp.tokens_at_ns);
        dp.tokens_at_ns = now_ns;
        let earned = (u128::from(elapsed) * u128::from(rate)).min(burst as u128) as i64;
        dp.tokens = (dp.tokens + earned).min(burst);
        dp.tokens > 0
    }

    /// A frame function `f` sent (in scratch A): policy, then switching.
    fn transmit(
        &mut self,
        hw: &HostInterface,
        dma: &mut (impl Dma + ?Sized),
        uplink: &mut (impl Uplink + ?Sized),
        f: usize,
        len: usize,
        desc_tag: Option<u16>,
    ) {
        self.dp(f).counters.tx_offered += 1;
        let policy = Self::egress_policy(
            &self.vfs,
            &self.classifier,
            self.uplink_up,
            f,
            &mut self.scratch.buf,
            &mut self.scratch.at,
            len,
            desc_tag,
        );
        match policy {
            Err(r) => self.tx_refused(hw, f, r),
            Ok((len, p)) => {
                let (local, to_wire) = self.destinations(f, &p);
                if local.is_empty() && !to_wire {
                    // Unicast to the sender's own address.
                    self.dp(f).counters.drop_tx(DropReason::NoDestination);
                    return;
                }
                // Paid for only under a limit: a bucket drained by
                // unlimited traffic would hold a new limit's first frames.
                if f > 0 && self.vfs[f - 1].admin.max_tx_rate != 0 {
                    self.dp_vf[f - 1].tokens -= len as i64 * 8 * 1000;
                }
                let c = &mut self.dp(f).counters;
                c.tx_packets += 1;
                c.tx_bytes += len as u64;
                crate::rings::count_sent(&hw.function[f], len);
                if !local.is_empty() {
                    let frame = self.incoming(len, &p, true);
                    self.offer_to(hw, dma, local, &frame);
                }
                if to_wire {
                    self.send_to_wire(uplink, len);
                }
            }
        }
    }

    /// A frame function `f` sent that its policy refused: counted, and
    /// spoofing reported to the PF every power of two.
    pub(super) fn tx_refused(&mut self, hw: &HostInterface, f: usize, r: DropReason) {
        self.dp(f).counters.drop_tx(r);
        if f > 0 && matches!(r, DropReason::SpoofMac | DropReason::SpoofVlan) {
            let n = self.dp(f).counters.drops[r as usize];
            // Every power of two: visible without flooding the ring.
            if n.is_power_of_two() {
                self.post_event(
                    hw,
                    Event::SpoofDrops {
                        vf: (f - 1) as u16,
                        mac: r == DropReason::SpoofMac,
                        count: n as u32,
                    },
                );
            }
        }
    }

    /// Anti-spoof, descriptor VLAN insertion, port VLAN insertion, on the
    /// frame at `buf[*at..*at + len]` (the core's scratch, or a queue
    /// manager's arrival): tags go in place into the headroom, moving
    /// `at`. Returns the frame's length and how it parses, so the caller
    /// does not parse it again (it is parsed here once, and again only if a
    /// port VLAN tag went in). The device's state by field, so that the
    /// buffer may be the device's own scratch.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)] // the device by field: see above
    pub(super) fn egress_policy(
        vfs: &[crate::vf::Vf],
        classifier: &crate::classifier::Classifier,
        uplink_up: bool,
        f: usize,
        buf: &mut [u8; BUF],
        at: &mut usize,
        len: usize,
        desc_tag: Option<u16>,
    ) -> Result<(usize, Parsed), DropReason> {
        let mut len = len;
        if let Some(tci) = desc_tag {
            let tag = Tag {
                tpid: TPID_8021Q,
                tci,
            };
            *at = frame::push_tag(buf, *at, len, tag).ok_or(DropReason::Oversize)?;
            len += 4;
        }
        let p = frame::parse(&buf[*at..*at + len]).map_err(parse_drop)?;
        if f == 0 {
            return Ok((len, p));
        }
        let vf = &vfs[f - 1];
        if !vf.link_up(uplink_up) {
            return Err(if vf.lifecycle == crate::vf::Lifecycle::Quarantined {
                DropReason::Quarantined
            } else {
                DropReason::LinkDown
            });
        }
        // Max frame counts the header and FCS, not VLAN tags.
        let tags = p.tag_count();
        if len - 4 * tags + 4 > usize::from(vf.oper.max_frame) {
            return Err(DropReason::Mtu);
        }
        // Its own MAC inline (the common case); the rest out of line, the
        // address passed by value so the parsed frame stays in registers.
        if vf.admin.spoof_check
            && vf.oper.mac != Some(p.src)
            && !owns_source(classifier, vf, f, p.src)
        {
            return Err(DropReason::SpoofMac);
        }
        match vf.admin.port_vlan {
            Some(pv) => {
                if p.outer().is_some() && vf.admin.spoof_check {
                    return Err(DropReason::SpoofVlan);
                }
                let tag = Tag {
                    tpid: pv.tpid,
                    tci: u16::from(pv.qos) << 13 | pv.vid,
                };
                *at = frame::push_tag(buf, *at, len, tag).ok_or(DropReason::Oversize)?;
                // A third tag does not parse: the frame had two already.
                let p = frame::parse(&buf[*at..*at + len + 4])
                    .map_err(|_| DropReason::BadVlanHeader)?;
                return Ok((len + 4, p));
            }
            None => {
                if vf.admin.spoof_check
                    && (p.outer().is_some_and(|t| t.tpid != TPID_8021Q)
                        || !vf.oper.vlans.contains(p.vid()))
                {
                    return Err(DropReason::SpoofVlan);
                }
            }
        }
        Ok((len, p))
    }

    /// Where a frame from `from` goes. VEB: local functions, and the wire
    /// for what is not local (broadcast and multicast to both, never back
    /// to the sender). VEPA: the wire only.
    /// Inlined into its one caller: returned out of line, the answer
    /// (with a set, 80 bytes) was a `memcpy` call.
    #[inline(always)]
    pub(super) fn destinations(&self, from: usize, p: &Parsed) -> (Destinations, bool) {
        if self.bridge == crate::admin::BridgeMode::Vepa {
            return (Destinations::Nobody, true);
        }
        let t = self.classifier.lookup(&p.dst, false);
        let local = match t.destinations() {
            Destinations::One(g) if g == from => Destinations::Nobody,
            Destinations::Set(mut set) => {
                set.remove(from);
                Destinations::Set(set)
            }
            one => one,
        };
        // Only a unicast address a function owns stays off the wire.
        (local, !t.owned)
    }

    fn send_to_wire(&mut self, uplink: &mut (impl Uplink + ?Sized), len: usize) {
        self.uplink.tx_offered += 1;
        if !uplink.link_up() {
            self.uplink.drop_tx(DropReason::UplinkDown);
        } else if !uplink.transmit(self.frame(len)) {
            self.uplink.drop_tx(DropReason::UplinkFull);
        } else {
            self.uplink.tx_packets += 1;
            self.uplink.tx_bytes += len as u64;
        }
    }

    /// Rebuilds the classifier from the functions' configuration.
    #[inline(never)]
    fn rebuild_classifier(&mut self) {
        self.classifier_dirty = false;
        self.counters.classifier_rebuilds += 1;
        let c = &mut self.classifier;
        c.clear();
        c.set_default_pool(Some(0));
        c.broadcast.insert(0);
        c.add_all_multicast(0);
        let mut refused = 0u64;
        if let Some(mac) = self.pf_mac {
            refused += u64::from(!c.add_unicast(mac, 0));
        }
        for (i, vf) in self.vfs[..usize::from(self.enabled)].iter().enumerate() {
            let f = i + 1;
            // A VF whose link the PF disabled keeps its filters, as
            // ixgbe keeps them (it only clears the pool's Rx/Tx enables):
            // frames for it are its drops (link-down), not the PF's or the
            // wire's.
            if vf.classifier_excluded() {
                continue;
            }
            if let Some(mac) = vf.oper.mac {
                refused += u64::from(!c.add_unicast(mac, f));
            }
            for mac in &vf.oper.macvlans {
                refused += u64::from(!c.add_unicast(*mac, f));
            }
            c.broadcast.insert(f);
            use hal::ixgbe::XcastMode::*;
            if vf.oper.xcast >= Multi {
                for h in &vf.oper.mc_hashes {
                    c.add_multicast_hash(*h, f);
                }
            }
            if vf.oper.xcast >= AllMulti {
                c.add_all_multicast(f);
            }
            if vf.oper.xcast == Promisc {
                c.add_promiscuous(f);
            }
        }
        c.seal();
        if refused != 0 {
            self.counters.classifier_refused += refused;
            fwlog::error!(
                "classifier: {} unicast claims found no room (the MAC filter pool should have refused them)",
                refused
            );
        }
    }
}
