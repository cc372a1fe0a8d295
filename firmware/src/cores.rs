//! The data path across cores, without a lock.
//!
//! Each function's receive queues belong to one core ([`owner`]), so only
//! that core ever writes a function's ring: no lock on a ring tail. The
//! uplink's receive work is spread over the cores (core `c` takes the
//! frames whose RSS queue is `c`), and a frame one core classified for a
//! function another core owns is handed over through a single-producer,
//! single-consumer ring ([`Handoff`]) from the one to the other: a
//! [`Mesh`] holds one ring for every ordered pair of cores. Every core
//! counts in its own cache line ([`CoreCounters`]), folded when read
//! ([`Mesh::fold`]).
//!
//! What a ring carries is a [`Work`]: the frame's handle (where it lies in
//! packet memory), the function and the queue. A slot is one atomic word,
//! so the whole module is safe code: misuse (two producers on one ring)
//! would lose work, never memory safety.
//!
//! A core works in bursts: it routes a burst, [`Mesh::flush`]es what it
//! handed over (one tail write a ring), then [`Mesh::drain`]s what the
//! others handed it (one tail read a ring).
//!
//! A full ring is not a drop: the producing core keeps the frame (it stays
//! in the uplink's ring, as a NIC leaves a descriptor it cannot yet
//! serve), flushes, drains its own incoming rings, and tries again
//! ([`CoreCounters::handoff_stalls`] counts the waits). Since every core
//! drains while it waits, two cores full towards each other still move.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The core that owns function `f`'s queues, of `cores`: functions
/// round-robin, so the PF and the VFs spread evenly whatever their count.
#[inline(always)]
pub fn owner(f: usize, cores: usize) -> usize {
    f % cores
}

/// The RSS hash a MAC's parser would report for synthetic flow `flow` (a
/// splitmix64 finaliser: any good spread will do). For the rigs that make
/// traffic for the handoff: its tests, the soak and the image's
/// `mode=cores`, so that all three spread flows over cores alike.
pub fn synthetic_flow_hash(flow: u32) -> u32 {
    let mut x = u64::from(flow).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (x ^ (x >> 27)) as u32
}

/// The core whose share of the uplink's receive work a frame of RSS hash
/// `hash` is (its RSS queue, one per core).
#[inline(always)]
pub fn rx_core(hash: u32, cores: usize) -> usize {
    crate::rss::queue_for(hash, cores as u32) as usize
}

/// A frame for a function's queue, as one word: handle in the low 32
/// bits, function in the next 16, queue in the next 8 (bit 63 set, so a
/// slot is never all zeros).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Work {
    pub frame: u32,
    pub function: u16,
    pub queue: u8,
}

impl Work {
    const PRESENT: u64 = 1 << 63;

    #[inline(always)]
    fn pack(self) -> u64 {
        Self::PRESENT
            | u64::from(self.queue) << 48
            | u64::from(self.function) << 32
            | u64::from(self.frame)
    }

    #[inline(always)]
    fn unpack(w: u64) -> Work {
        Work {
            frame: w as u32,
            function: (w >> 32) as u16,
            queue: (w >> 48) as u8,
        }
    }
}

/// A 64-byte line of its own: the two ends of a ring and each core's
/// counters are written by different cores.
#[repr(C, align(64))]
struct Line<T>(T);

/// A single-producer, single-consumer ring of `D` (a power of two) works.
/// Head and tail run freely and wrap; `tail - head` is the fill.
///
/// Each end keeps, in its own line, its index and its last reading of the
/// other's, and publishes in batches: the producer [`push`](Self::push)es
/// a burst and [`publish`](Self::publish)es its tail once; the consumer
/// [`drain`](Self::drain)s everything published with one reading of the
/// tail and frees it with one write of the head. So the line the other
/// core writes is read once a burst (or when the ring looks full), not
/// once a frame: read every frame, a ring's two lines bounced between
/// the cores on every frame.
#[repr(C)]
pub struct Handoff<const D: usize> {
    /// The consumer's: `head` (published), `tail_seen`.
    consumer: Line<[AtomicU32; 2]>,
    /// The producer's: `tail` (published), `next` (pushed, not yet
    /// published), `head_seen`.
    producer: Line<[AtomicU32; 3]>,
    slots: [AtomicU64; D],
}

const HEAD: usize = 0;
const TAIL_SEEN: usize = 1;
const TAIL: usize = 0;
const NEXT: usize = 1;
const HEAD_SEEN: usize = 2;

impl<const D: usize> Handoff<D> {
    const SIZE: () = assert!(D.is_power_of_two() && D <= 1 << 16);

    pub const fn new() -> Self {
        let () = Self::SIZE;
        Handoff {
            consumer: Line([const { AtomicU32::new(0) }; 2]),
            producer: Line([const { AtomicU32::new(0) }; 3]),
            slots: [const { AtomicU64::new(0) }; D],
        }
    }

    /// The producer's side: false if the ring is full (nothing written).
    /// The work is not visible until [`publish`](Self::publish).
    #[inline]
    pub fn push(&self, w: Work) -> bool {
        let p = &self.producer.0;
        let next = p[NEXT].load(Ordering::Relaxed);
        if next.wrapping_sub(p[HEAD_SEEN].load(Ordering::Relaxed)) as usize >= D {
            // Acquire: the consumer's reads of the slots it freed are done.
            let head = self.consumer.0[HEAD].load(Ordering::Acquire);
            p[HEAD_SEEN].store(head, Ordering::Relaxed);
            if next.wrapping_sub(head) as usize >= D {
                return false;
            }
        }
        self.slots[next as usize % D].store(w.pack(), Ordering::Relaxed);
        p[NEXT].store(next.wrapping_add(1), Ordering::Relaxed);
        true
    }

    /// Makes every pushed work visible to the consumer.
    #[inline]
    pub fn publish(&self) {
        let p = &self.producer.0;
        let next = p[NEXT].load(Ordering::Relaxed);
        if p[TAIL].load(Ordering::Relaxed) != next {
            // Release: the slots are written before the tail says so.
            p[TAIL].store(next, Ordering::Release);
        }
    }

    /// The consumer's side: every published work, oldest first, into
    /// `take`; how many.
    #[inline]
    pub fn drain(&self, mut take: impl FnMut(Work)) -> usize {
        let c = &self.consumer.0;
        let head = c[HEAD].load(Ordering::Relaxed);
        let mut tail = c[TAIL_SEEN].load(Ordering::Relaxed);
        if tail == head {
            tail = self.producer.0[TAIL].load(Ordering::Acquire);
            if tail == head {
                return 0;
            }
            c[TAIL_SEEN].store(tail, Ordering::Relaxed);
        }
        let mut at = head;
        while at != tail {
            take(Work::unpack(
                self.slots[at as usize % D].load(Ordering::Relaxed),
            ));
            at = at.wrapping_add(1);
        }
        // Release: the slots are read before the producer may reuse them.
        c[HEAD].store(tail, Ordering::Release);
        tail.wrapping_sub(head) as usize
    }

    /// Works published and not yet drained (a snapshot).
    pub fn len(&self) -> usize {
        let tail = self.producer.0[TAIL].load(Ordering::Acquire);
        tail.wrapping_sub(self.consumer.0[HEAD].load(Ordering::Acquire)) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<const D: usize> Default for Handoff<D> {
    fn default() -> Self {
        Self::new()
    }
}

/// One core's counters, written by that core only (a load and a store,
/// no atomic read-modify-write), read by anyone.
#[derive(Default)]
pub struct CoreCounters {
    /// Frames this core took from its share of the uplink.
    pub taken: AtomicU64,
    /// Frames this core put into a queue it owns (its own and handed).
    pub delivered: AtomicU64,
    /// Frames it handed to another core.
    pub handed_off: AtomicU64,
    /// Frames its classification sent nowhere.
    pub unclaimed: AtomicU64,
    /// Times a handoff ring was full and the frame waited.
    pub handoff_stalls: AtomicU64,
}

/// Adds one to a counter only its core writes.
#[inline(always)]
pub fn bump(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// The counters folded over the cores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Folded {
    pub taken: u64,
    pub delivered: u64,
    pub handed_off: u64,
    pub unclaimed: u64,
    pub handoff_stalls: u64,
}

/// Rings between every ordered pair of `C` cores, `D` works each, and each
/// core's counters.
pub struct Mesh<const C: usize, const D: usize> {
    /// `rings[from][to]`; the diagonal is unused.
    rings: [[Handoff<D>; C]; C],
    counters: [Line<CoreCounters>; C],
}

impl<const C: usize, const D: usize> Mesh<C, D> {
    pub const fn new() -> Self {
        Mesh {
            rings: [const { [const { Handoff::new() }; C] }; C],
            counters: [const {
                Line(CoreCounters {
                    taken: AtomicU64::new(0),
                    delivered: AtomicU64::new(0),
                    handed_off: AtomicU64::new(0),
                    unclaimed: AtomicU64::new(0),
                    handoff_stalls: AtomicU64::new(0),
                })
            }; C],
        }
    }

    /// Core `c`'s own counters.
    pub fn counters(&self, c: usize) -> &CoreCounters {
        &self.counters[c].0
    }

    /// Every core's counters summed (each read once: a snapshot while the
    /// cores run, exact once they stop).
    pub fn fold(&self) -> Folded {
        let mut f = Folded::default();
        for c in &self.counters {
            let c = &c.0;
            f.taken += c.taken.load(Ordering::Relaxed);
            f.delivered += c.delivered.load(Ordering::Relaxed);
            f.handed_off += c.handed_off.load(Ordering::Relaxed);
            f.unclaimed += c.unclaimed.load(Ordering::Relaxed);
            f.handoff_stalls += c.handoff_stalls.load(Ordering::Relaxed);
        }
        f
    }

    /// Core `me` of `cores` (at most `C`) routes work it classified: into
    /// `deliver` if it owns the function, else onto the ring to the owner
    /// (visible at the next [`flush`](Self::flush)). False if that ring
    /// is full: the caller keeps the work, flushes and drains, and tries
    /// again.
    #[inline]
    pub fn route(&self, me: usize, cores: usize, w: Work, deliver: &mut impl FnMut(Work)) -> bool {
        let to = owner(usize::from(w.function), cores);
        let mine = self.counters(me);
        if to == me {
            deliver(w);
            bump(&mine.delivered);
            return true;
        }
        if self.rings[me][to].push(w) {
            bump(&mine.handed_off);
            true
        } else {
            bump(&mine.handoff_stalls);
            false
        }
    }

    /// Core `me` publishes what it routed to the others (once a burst).
    #[inline]
    pub fn flush(&self, me: usize, cores: usize) {
        for to in 0..cores {
            if to != me {
                self.rings[me][to].publish();
            }
        }
    }

    /// Core `me` delivers everything the other cores published for it:
    /// how many.
    #[inline]
    pub fn drain(&self, me: usize, cores: usize, deliver: &mut impl FnMut(Work)) -> usize {
        let mut n = 0;
        for from in 0..cores {
            if from != me {
                n += self.rings[from][me].drain(&mut *deliver);
            }
        }
        if n != 0 {
            let d = &self.counters(me).delivered;
            d.store(d.load(Ordering::Relaxed) + n as u64, Ordering::Relaxed);
        }
        n
    }
}

impl<const C: usize, const D: usize> Mesh<C, D> {
    /// Core `me` routes a burst of works it classified, each to its
    /// function's owner, waiting while a ring is full (flushing, draining
    /// and calling `wait`, the caller's back-off); then publishes the
    /// burst and delivers what the others handed it. True if it waited.
    #[inline]
    pub fn route_burst(
        &self,
        me: usize,
        cores: usize,
        works: impl IntoIterator<Item = Work>,
        deliver: &mut impl FnMut(Work),
        mut wait: impl FnMut(),
    ) -> bool {
        let mut waited = false;
        for w in works {
            while !self.route(me, cores, w, deliver) {
                waited = true;
                self.flush(me, cores);
                self.drain(me, cores, deliver);
                wait();
            }
        }
        self.flush(me, cores);
        self.drain(me, cores, deliver);
        waited
    }

    /// Core `me` has taken its last frame: it says so in `finished` and
    /// delivers what the others hand it until every one of the `cores`
    /// has said so (a core still routing may still hand it frames).
    /// `finished` counts up from 0 for one run of the cores.
    pub fn finish(
        &self,
        me: usize,
        cores: usize,
        finished: &core::sync::atomic::AtomicUsize,
        deliver: &mut impl FnMut(Work),
        mut wait: impl FnMut(),
    ) {
        self.flush(me, cores);
        finished.fetch_add(1, Ordering::AcqRel);
        while finished.load(Ordering::Acquire) < cores {
            self.drain(me, cores, deliver);
            wait();
        }
        // Every core flushed before it said so: this drain takes the rest.
        self.drain(me, cores, deliver);
    }
}

impl<const C: usize, const D: usize> Default for Mesh<C, D> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;
