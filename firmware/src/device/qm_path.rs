//! The data path where a queue manager owns the rings ([`crate::qm`]).
//!
//! The core takes arrivals (frames from the wire and from the functions'
//! Tx queues, in the manager's buffers), decides, and posts what to do with
//! each; the manager does the descriptor and DMA work, the heads, the
//! statistics registers and the wire. The decisions are the core-ring
//! path's own (`rx_plan`, `egress_policy`, the classifier), so a frame goes
//! where it would go on a board without a manager, and is counted the
//! same: a delivery when it is posted, taken back if the manager reports
//! it failed.

use super::Device;
use super::dataplane::{HEADROOM, TX_BURST};
use crate::classifier::Destinations;
use crate::drops::{DropReason, QueueFault};
use crate::frame::{self, Parsed};
use crate::mac::Mac;
use crate::qm::{ARRIVALS, ArrivalKind, Op, Post, QmRings, WIRE, flags};
use hal::chip::HostInterface;

/// Why an arrival's or a failure's reason byte names no drop reason: the
/// manager's bug, counted as a bad descriptor rather than trusted.
fn drop_reason(code: u8) -> DropReason {
    DropReason::ALL
        .get(usize::from(code))
        .copied()
        .unwrap_or(DropReason::BadDescriptor)
}

impl<const N: usize> Device<N> {
    /// One poll where a queue manager owns the rings: the control plane as
    /// in [`poll`](Self::poll), then the data path over `qm`. The manager
    /// serves `qm` between polls (in the simulation and the bench) or
    /// beside them (on its own engine).
    pub fn poll_qm(&mut self, hw: &HostInterface, qm: &mut QmRings, now_ns: u64) {
        self.now_ns = now_ns;
        self.poll_control(hw);
        self.poll_data_qm(hw, qm, now_ns);
    }

    fn poll_data_qm(&mut self, hw: &HostInterface, qm: &mut QmRings, now_ns: u64) {
        if qm.wire_up != self.uplink_up {
            self.set_uplink(hw, qm.wire_up);
        }
        if qm.failed != qm.failures_read {
            self.qm_failures(hw, qm);
        }
        if self.qm_reset_pending {
            self.qm_resets(qm);
        }
        self.scan_doorbells(hw);
        if !self.tx_pending.is_empty() {
            self.qm_fetch(qm, now_ns);
        }
        if qm.produced != qm.consumed {
            self.sync_classifier();
            self.qm_arrivals(hw, qm);
        }
    }

    /// Forgets the ring state of functions enabled afresh.
    #[cold]
    fn qm_resets(&mut self, qm: &mut QmRings) {
        if qm.posts_free() < self.qm_reset.iter().count() {
            return;
        }
        for f in self.qm_reset.iter() {
            qm.post(Post {
                op: Op::Reset,
                function: f as u16,
                ..Post::default()
            });
        }
        self.qm_reset = crate::classifier::PoolSet::EMPTY;
        self.qm_reset_pending = false;
    }

    /// Asks the manager for the pending functions' frames: a burst per
    /// queue, or one frame while a rate limit holds the function (the
    /// bucket is checked per frame, as on the core's rings). The manager
    /// rings the function's doorbell again if it left work.
    fn qm_fetch(&mut self, qm: &mut QmRings, now_ns: u64) {
        let pending = self.tx_pending;
        for f in pending.iter() {
            if qm.posts_free() == 0 {
                return;
            }
            if f > usize::from(self.enabled) {
                self.tx_pending.remove(f);
                continue;
            }
            if !self.rate_allows(f, now_ns) {
                continue;
            }
            let limited = f > 0 && self.vfs[f - 1].admin.max_tx_rate != 0;
            qm.post(Post {
                op: Op::Fetch,
                function: f as u16,
                queue: self.queues_of(f) as u8,
                arrival: if limited { 1 } else { TX_BURST as u16 },
                ..Post::default()
            });
            self.tx_pending.remove(f);
        }
    }

    /// The arrivals published since the last poll, as far as the posts
    /// ring has room for a broadcast to every function from each.
    #[inline(never)]
    fn qm_arrivals(&mut self, hw: &HostInterface, qm: &mut QmRings) {
        // Room for a broadcast to every function from each (and a Sent).
        let room = usize::from(self.enabled) + 3;
        let mut i = qm.consumed;
        while i != qm.produced && qm.posts_free() >= room {
            let k = i as usize % ARRIVALS;
            let a = &qm.arrivals[k];
            let (from, len) = (a.from, a.len);
            if from == WIRE {
                self.qm_from_wire(qm, k, len as usize);
            } else {
                self.qm_from_function(hw, qm, k, usize::from(from));
            }
            i = i.wrapping_add(1);
        }
        qm.consumed = i;
    }

    /// A frame from the wire, at `HEADROOM` in its slot.
    #[inline(always)]
    fn qm_from_wire(&mut self, qm: &mut QmRings, k: usize, n: usize) {
        if !self.wire_admits(n) {
            return;
        }
        let parsed = frame::parse(&qm.slots[k].buf[HEADROOM..HEADROOM + n]);
        let Some((p, targets)) = self.wire_targets(n, &parsed) else {
            return;
        };
        self.qm_offer_to(qm, targets, k, n, p, 0);
    }

    /// What a function's Tx queue gave: a frame, or descriptors dropped.
    #[inline(always)]
    fn qm_from_function(&mut self, hw: &HostInterface, qm: &mut QmRings, k: usize, f: usize) {
        if f > usize::from(self.enabled) {
            // Disabled since the manager fetched it: the function's
            // counters are gone with it.
            return;
        }
        let a = &qm.arrivals[k];
        let (kind, reason, fault, queue) = (a.kind, a.reason, a.fault, a.queue);
        match kind {
            ArrivalKind::Frame => self.qm_transmit(hw, qm, f, k),
            ArrivalKind::Dropped => {
                let c = &mut self.dp(f).counters;
                c.tx_offered += 1;
                c.drop_tx(drop_reason(reason));
            }
            ArrivalKind::Fault => {
                let c = &mut self.dp(f).counters;
                c.tx_offered += 1;
                c.drop_tx(drop_reason(reason));
                let fault = QueueFault::from_code(fault).unwrap_or(QueueFault::DmaOutsideWindow);
                self.queue_fault(hw, f, usize::from(queue), true, fault);
            }
        }
    }

    /// A frame function `f` sent: policy, then switching, as
    /// `transmit` on the core's rings.
    #[inline(always)]
    fn qm_transmit(&mut self, hw: &HostInterface, qm: &mut QmRings, f: usize, k: usize) {
        // tx_offered with the outcome below: one look-up of the counters
        // on the way through.
        let a = &qm.arrivals[k];
        let (len, tag) = (a.len as usize, a.has_tag.then_some(a.tag));
        let slot = &mut qm.slots[k];
        let policy = Self::egress_policy(
            &self.vfs,
            &self.classifier,
            self.uplink_up,
            f,
            &mut slot.buf,
            &mut slot.at,
            len,
            tag,
        );
        let (len, p) = match policy {
            Ok(ok) => ok,
            Err(r) => {
                self.dp(f).counters.tx_offered += 1;
                return self.tx_refused(hw, f, r);
            }
        };
        let (local, to_wire) = self.destinations(f, &p);
        if local.is_empty() && !to_wire {
            let c = &mut self.dp(f).counters;
            c.tx_offered += 1;
            c.drop_tx(DropReason::NoDestination);
            return;
        }
        if f > 0 && self.vfs[f - 1].admin.max_tx_rate != 0 {
            self.dp_vf[f - 1].tokens -= len as i64 * 8 * 1000;
        }
        let c = &mut self.dp(f).counters;
        c.tx_offered += 1;
        c.tx_packets += 1;
        c.tx_bytes += len as u64;
        qm.arrivals[k].len = len as u32;
        let first = qm.posted;
        if !local.is_empty() {
            self.qm_offer_to(qm, local, k, len, &p, flags::LOOPED_BACK);
        }
        if to_wire {
            self.uplink.tx_offered += 1;
            if !self.uplink_up {
                self.uplink.drop_tx(DropReason::UplinkDown);
            } else {
                qm.post(Post {
                    op: Op::ToWire,
                    function: f as u16,
                    arrival: k as u16,
                    ..Post::default()
                });
                self.uplink.tx_packets += 1;
                self.uplink.tx_bytes += len as u64;
            }
        }
        // The sender's statistics registers: on the frame's first post,
        // or on a post of their own if nothing was posted.
        if qm.posted != first {
            let at = first as usize % crate::qm::POSTS;
            qm.posts[at] = Post::with_flag(qm.posts[at], flags::SENT);
        } else {
            qm.post(Post {
                op: Op::Sent,
                function: f as u16,
                arrival: k as u16,
                ..Post::default()
            });
        }
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn qm_offer_to(
        &mut self,
        qm: &mut QmRings,
        to: Destinations,
        k: usize,
        len: usize,
        p: &Parsed,
        base: u8,
    ) {
        let class = if p.dst == Mac::BROADCAST {
            flags::BROADCAST
        } else if p.dst.is_multicast() {
            flags::MULTICAST
        } else {
            0
        };
        let tagged = if p.outer().is_some() {
            flags::TAGGED
        } else {
            0
        };
        let base = base | class | tagged;
        match to {
            Destinations::One(f) => {
                if let Some(post) = self.qm_accept(f, k, len, p, base) {
                    qm.post(post);
                }
            }
            Destinations::Nobody => {}
            Destinations::Set(set) => {
                // The tail in a register over the destinations, published
                // once.
                let mut tail = qm.posted;
                for f in set.iter() {
                    if let Some(post) = self.qm_accept(f, k, len, p, base) {
                        qm.posts[tail as usize % crate::qm::POSTS] = post.encode();
                        tail = tail.wrapping_add(1);
                    }
                }
                qm.posted = tail;
            }
        }
    }

    /// Whether function `f` takes arrival `k`: its filters, counted as
    /// delivered if it does (a failure the manager reports later takes it
    /// back), and the post that delivers it.
    #[inline(always)]
    fn qm_accept(&mut self, f: usize, k: usize, len: usize, p: &Parsed, base: u8) -> Option<Post> {
        let accepted = self.rx_accepts(f, len, p);
        let queues = self.queues_of(f) as u8;
        let c = &mut self.dp(f).counters;
        c.rx_offered += 1;
        match accepted {
            Ok(strip) => {
                c.rx_packets += 1;
                c.rx_bytes += len as u64;
                if base & (flags::BROADCAST | flags::MULTICAST) != 0 {
                    c.rx_broadcast += u64::from(base & flags::BROADCAST != 0);
                    c.rx_multicast += u64::from(base & flags::MULTICAST != 0);
                }
                Some(Post {
                    op: Op::Deliver,
                    flags: base | (u8::from(strip) * flags::STRIP),
                    function: f as u16,
                    queue: queues,
                    _pad: 0,
                    arrival: k as u16,
                })
            }
            Err(r) => {
                c.drop_rx(r);
                None
            }
        }
    }

    /// Takes back what the manager could not do: a delivery (its receiver
    /// counts a drop instead; a fault stops the queue and is reported as on
    /// the core's rings) or a frame the wire did not take.
    #[cold]
    #[inline(never)]
    fn qm_failures(&mut self, hw: &HostInterface, qm: &mut QmRings) {
        while qm.failures_read != qm.failed {
            let e = qm.failures[qm.failures_read as usize % crate::qm::FAILURES];
            qm.failures_read = qm.failures_read.wrapping_add(1);
            let r = drop_reason(e.reason);
            let len = u64::from(e.len);
            if e.function == WIRE {
                let u = &mut self.uplink;
                u.tx_packets = u.tx_packets.saturating_sub(1);
                u.tx_bytes = u.tx_bytes.saturating_sub(len);
                u.drop_tx(r);
                continue;
            }
            let f = usize::from(e.function);
            if f > usize::from(self.enabled) {
                continue;
            }
            let c = &mut self.dp(f).counters;
            // Saturating: the function may have been enabled afresh (its
            // counters zeroed) since the post.
            c.rx_packets = c.rx_packets.saturating_sub(1);
            c.rx_bytes = c.rx_bytes.saturating_sub(len);
            c.rx_broadcast = c
                .rx_broadcast
                .saturating_sub(u64::from(e.flags & flags::BROADCAST != 0));
            c.rx_multicast = c
                .rx_multicast
                .saturating_sub(u64::from(e.flags & flags::MULTICAST != 0));
            c.drop_rx(r);
            if let Some(fault) = QueueFault::from_code(e.fault) {
                self.queue_fault(hw, f, usize::from(e.queue), false, fault);
            }
        }
    }
}
