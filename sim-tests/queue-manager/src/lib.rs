//! The queue manager: the hardware that owns the functions' rings where a
//! SmartNIC has one (the interface: `firmware::qm`).
//!
//! Between the core's polls it serves the posts the core published (frames
//! into Rx rings with their write-backs and statistics registers, frames
//! to the wire, Tx fetches) and publishes new arrivals (frames from Tx
//! rings and from the wire, each with the RSS hash its parser computed).
//! The ring semantics are `firmware::rings`, the same code the core runs
//! on a board without a manager, so a driver sees the same device either
//! way. Everything it moves is counted in [`Work`]: the engine's share of a
//! frame, which the bench reports beside the core's.
#![cfg_attr(not(test), no_std)]

use firmware::device::{HEADROOM, RX_BURST};
use firmware::drops::DropReason;
use firmware::frame;
use firmware::qm::{
    ARRIVALS, Arrival, ArrivalKind, FAILURES, Failure, Op, Post, QmRings, WIRE, flags,
};
use firmware::rings::{
    QueueState, RxMeta, TxTake, Window, count_received, count_sent, rss_queue, rx_put, tx_take,
};
use firmware::rss;
use hal::chip::{HostInterface, MAX_FUNCTIONS, MAX_QUEUES};
use hal::ixgbe::queuereg::RXDCTL_VME;
use hal::port::{Dma, Uplink};
use tock_registers::interfaces::Readable;

/// What the manager did: its share of the frames, for the bench.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// DMA operations on host memory: descriptor reads and write-backs,
    /// payload reads and writes.
    pub moves: u64,
    /// Bytes those operations moved.
    pub bytes: u64,
    /// Frames the wire gave and took.
    pub wire_in: u64,
    pub wire_out: u64,
    /// Posts served and arrivals published.
    pub posts: u64,
    pub arrivals: u64,
    /// Failures reported to the core.
    pub failures: u64,
    /// Serves that stopped early because the failure ring was full.
    pub failures_full: u64,
    /// Posts with an op the manager does not know (skipped).
    pub bad_posts: u64,
}

/// Counts what passes through a `Dma`.
struct Counted<'a, D: Dma + ?Sized> {
    dma: &'a mut D,
    work: &'a mut Work,
}

impl<D: Dma + ?Sized> Dma for Counted<'_, D> {
    fn requester(&mut self, function: usize) {
        self.dma.requester(function)
    }
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        self.work.moves += 1;
        self.work.bytes += buf.len() as u64;
        self.dma.read(addr, buf)
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        self.work.moves += 1;
        self.work.bytes += data.len() as u64;
        self.dma.write(addr, data)
    }
    fn read_desc(&mut self, addr: u64) -> Option<[u32; 4]> {
        self.work.moves += 1;
        self.work.bytes += 16;
        self.dma.read_desc(addr)
    }
    fn write_desc(&mut self, addr: u64, words: [u32; 4]) -> bool {
        self.work.moves += 1;
        self.work.bytes += 16;
        self.dma.write_desc(addr, words)
    }
}

/// The manager's own state: every function's ring positions, and a buffer
/// a frame is stripped into on its way into a ring.
pub struct QueueManager {
    queues: [[QueueState; MAX_QUEUES]; MAX_FUNCTIONS],
    stripped: [u8; firmware::device::BUF],
    pub work: Work,
}

impl Default for QueueManager {
    fn default() -> Self {
        Self::NEW
    }
}

impl QueueManager {
    pub const NEW: QueueManager = QueueManager {
        queues: [[QueueState::IDLE; MAX_QUEUES]; MAX_FUNCTIONS],
        stripped: [0; firmware::device::BUF],
        work: Work {
            moves: 0,
            bytes: 0,
            wire_in: 0,
            wire_out: 0,
            posts: 0,
            arrivals: 0,
            failures: 0,
            failures_full: 0,
            bad_posts: 0,
        },
    };

    /// One pass: the wire's carrier, the core's posts, then new arrivals
    /// from the wire (at most a burst) into the buffers the core released.
    pub fn serve(
        &mut self,
        hw: &HostInterface,
        rings: &mut QmRings,
        dma: &mut (impl Dma + ?Sized),
        wire: &mut (impl Uplink + ?Sized),
    ) {
        rings.wire_up = wire.link_up();
        self.serve_posts(hw, rings, dma, wire);
        let mut n = 0;
        while n < RX_BURST && Self::room(rings) {
            let k = rings.produced as usize % ARRIVALS;
            let slot = &mut rings.slots[k];
            slot.at = HEADROOM;
            let Some(len) = wire.receive(&mut slot.buf[HEADROOM..]) else {
                break;
            };
            self.work.wire_in += 1;
            // A frame longer than the buffer is reported at its length
            // (the core counts it oversize); only what fits is parsed.
            let seen = len.min(slot.buf.len() - HEADROOM);
            let (hash, pkt_info) = rss_of(&slot.buf[HEADROOM..HEADROOM + seen]);
            self.publish(
                rings,
                Arrival {
                    from: WIRE,
                    len: len as u32,
                    hash,
                    pkt_info,
                    ..Arrival::default()
                },
            );
            n += 1;
        }
    }

    /// Whether an arrival buffer is free.
    fn room(rings: &QmRings) -> bool {
        (rings.produced.wrapping_sub(rings.consumed) as usize) < ARRIVALS
    }

    fn publish(&mut self, rings: &mut QmRings, a: Arrival) {
        rings.arrivals[rings.produced as usize % ARRIVALS] = a;
        rings.produced = rings.produced.wrapping_add(1);
        self.work.arrivals += 1;
    }

    fn fail(&mut self, rings: &mut QmRings, e: Failure) {
        rings.failures[rings.failed as usize % FAILURES] = e;
        rings.failed = rings.failed.wrapping_add(1);
        self.work.failures += 1;
    }

    fn serve_posts(
        &mut self,
        hw: &HostInterface,
        rings: &mut QmRings,
        dma: &mut (impl Dma + ?Sized),
        wire: &mut (impl Uplink + ?Sized),
    ) {
        while rings.served != rings.posted {
            // Room for this post's failure, if it fails: none is lost.
            if rings.failed.wrapping_sub(rings.failures_read) as usize >= FAILURES {
                self.work.failures_full += 1;
                return;
            }
            let word = rings.posts[rings.served as usize % firmware::qm::POSTS];
            let Some(p) = Post::decode(word) else {
                // Not a post the manager knows: skipped, counted.
                rings.served = rings.served.wrapping_add(1);
                self.work.bad_posts += 1;
                continue;
            };
            rings.served = rings.served.wrapping_add(1);
            self.work.posts += 1;
            if p.flags & flags::SENT != 0 || p.op == Op::Sent {
                Self::count_sender(hw, rings, usize::from(p.arrival));
            }
            match p.op {
                Op::Deliver => self.deliver(hw, rings, dma, &p),
                Op::ToWire => {
                    let k = usize::from(p.arrival) % ARRIVALS;
                    let (a, slot) = (&rings.arrivals[k], &rings.slots[k]);
                    let len = a.len as usize;
                    let ok = wire.transmit(&slot.buf[slot.at..slot.at + len]);
                    if ok {
                        self.work.wire_out += 1;
                    } else {
                        let reason = if wire.link_up() {
                            DropReason::UplinkFull
                        } else {
                            DropReason::UplinkDown
                        };
                        self.fail(
                            rings,
                            Failure {
                                function: WIRE,
                                reason: reason as u8,
                                len: len as u32,
                                ..Failure::default()
                            },
                        );
                    }
                }
                Op::Sent => {}
                Op::Fetch => self.fetch(hw, rings, dma, &p),
                Op::Reset => {
                    if let Some(q) = self.queues.get_mut(usize::from(p.function)) {
                        *q = [QueueState::IDLE; MAX_QUEUES];
                    }
                }
            }
        }
    }

    fn deliver(
        &mut self,
        hw: &HostInterface,
        rings: &mut QmRings,
        dma: &mut (impl Dma + ?Sized),
        p: &Post,
    ) {
        let f = usize::from(p.function);
        let k = usize::from(p.arrival) % ARRIVALS;
        let (a, slot) = (&rings.arrivals[k], &rings.slots[k]);
        let len = a.len as usize;
        let mut failure = Failure {
            function: p.function,
            flags: p.flags,
            len: len as u32,
            ..Failure::default()
        };
        let Some(block) = hw.function.get(f) else {
            failure.reason = DropReason::RingDisabled as u8;
            return self.fail(rings, failure);
        };
        // The queue by RSS, over the queues the function's driver enabled.
        let board_queues = u32::from(p.queue).min(MAX_QUEUES as u32);
        let q = rss_queue(block, f, board_queues, a.hash, a.pkt_info).min(MAX_QUEUES - 1);
        failure.queue = q as u8;
        let regs = &block.queues[q];
        let frame = &slot.buf[slot.at..slot.at + len];
        // RXDCTL.VME: the queue strips the outer tag and reports it (a
        // port VLAN's tag is stripped and not reported).
        let vme = p.flags & flags::STRIP == 0
            && p.flags & flags::TAGGED != 0
            && regs.rxdctl.get() & RXDCTL_VME != 0
            && len >= 16;
        let vlan = vme.then(|| u16::from_be_bytes([frame[14], frame[15]]));
        let frame = if p.flags & flags::STRIP != 0 || vme {
            match frame::strip_outer_tag(frame, &mut self.stripped) {
                Some(m) => &self.stripped[..m],
                None => {
                    failure.reason = DropReason::BadVlanHeader as u8;
                    return self.fail(rings, failure);
                }
            }
        } else {
            frame
        };
        let meta = RxMeta {
            pkt_info: a.pkt_info,
            rss_hash: a.hash,
            vlan,
            looped_back: p.flags & flags::LOOPED_BACK != 0,
        };
        dma.requester(f);
        let mut counted = Counted {
            dma,
            work: &mut self.work,
        };
        match rx_put(
            &mut self.queues[f][q],
            regs,
            Window::of(block),
            &mut counted,
            frame,
            meta,
        ) {
            Ok(()) => {
                // The VF's statistics registers, as an 82599 counts them.
                count_received(block, len, p.flags & flags::MULTICAST != 0);
            }
            Err((reason, fault)) => {
                failure.reason = reason as u8;
                failure.fault = fault.map_or(0, |f| f as u8);
                self.fail(rings, failure);
            }
        }
    }

    /// The sender's VFGPTC/VFGOTC for arrival `k` (a frame it sent that
    /// its policy passed).
    fn count_sender(hw: &HostInterface, rings: &QmRings, k: usize) {
        let a = &rings.arrivals[k % ARRIVALS];
        if let Some(block) = hw.function.get(usize::from(a.from)) {
            count_sent(block, a.len as usize);
        }
    }

    /// Up to `p.arrival` frames from each of the function's first
    /// `p.queue` Tx queues, while buffers are free; rings the function's
    /// doorbell again if it left any (the core then fetches again).
    fn fetch(
        &mut self,
        hw: &HostInterface,
        rings: &mut QmRings,
        dma: &mut (impl Dma + ?Sized),
        p: &Post,
    ) {
        let f = usize::from(p.function);
        let Some(block) = hw.function.get(f) else {
            return;
        };
        let win = Window::of(block);
        let mut more = false;
        for q in 0..usize::from(p.queue).min(MAX_QUEUES) {
            let regs = &block.queues[q];
            for _ in 0..p.arrival {
                if !Self::room(rings) {
                    more = true;
                    break;
                }
                let k = rings.produced as usize % ARRIVALS;
                let slot = &mut rings.slots[k];
                slot.at = HEADROOM;
                dma.requester(f);
                let mut counted = Counted {
                    dma: &mut *dma,
                    work: &mut self.work,
                };
                let took = tx_take(
                    &mut self.queues[f][q],
                    regs,
                    win,
                    &mut counted,
                    &mut slot.buf[HEADROOM..],
                );
                let mut a = Arrival {
                    from: f as u16,
                    queue: q as u8,
                    ..Arrival::default()
                };
                match took {
                    TxTake::Empty => break,
                    TxTake::Frame(len, tag) => {
                        let (hash, pkt_info) = rss_of(&slot.buf[HEADROOM..HEADROOM + len]);
                        a.len = len as u32;
                        a.hash = hash;
                        a.pkt_info = pkt_info;
                        a.tag = tag.unwrap_or(0);
                        a.has_tag = tag.is_some();
                    }
                    TxTake::Dropped(r) => {
                        a.kind = ArrivalKind::Dropped;
                        a.reason = r as u8;
                    }
                    TxTake::Fault(r, fault) => {
                        a.kind = ArrivalKind::Fault;
                        a.reason = r as u8;
                        a.fault = fault as u8;
                        self.publish(rings, a);
                        break;
                    }
                }
                self.publish(rings, a);
            }
            let s = self.queues[f][q];
            if s.tx_enabled && !s.tx_stopped && regs.tdt.get() != s.tx_head {
                more = true;
            }
        }
        if more {
            hal::chip::ring_tx_doorbell(hw, f);
        }
    }
}

/// RSS as the manager's parser computes it for a frame (the device-wide
/// key): the hash, and the RSS and packet types the write-back reports.
fn rss_of(frame: &[u8]) -> (u32, u32) {
    match frame::parse(frame) {
        Ok(p) => {
            let l3 = p.l3(frame);
            let (hash, rss_type) = rss::DEFAULT.frame_hash(&l3).unwrap_or((0, 0));
            (hash, rss_type | rss::packet_type(&l3))
        }
        Err(_) => (0, 0),
    }
}
