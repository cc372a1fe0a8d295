//! The queue manager's interface: where the hardware owns the rings.
//!
//! A SmartNIC's packet engine does what an 82599 does in silicon: it takes
//! frames from the wire and from the functions' Tx rings into its buffers,
//! and puts frames into the functions' Rx rings (descriptor fetch, payload
//! DMA, write-back, heads, the statistics registers). The core only
//! decides. This module is what the two sides share, in the core's memory:
//!
//! - **Arrivals** (manager → core): a ring of frames, each in its own
//!   buffer, from the wire (with the RSS hash the manager's parser
//!   computed) or from a function's Tx queue (or why the descriptors it
//!   took were dropped).
//! - **Posts** (core → manager): what to do with an arrival: deliver it
//!   into function F's Rx queue Q, send it to the wire, count it as sent;
//!   fetch up to N frames from F's Tx queues; forget a function's ring
//!   state (SR-IOV disabled).
//! - **Failures** (manager → core): a delivery or a transmission that did
//!   not happen, and why, so the core's counters stay exact. A delivery is
//!   counted when it is posted and taken back when it fails: the common
//!   case costs the core nothing to read.
//!
//! Each ring has one writer per index: the producer's tail, the consumer's
//! head. Ownership of an arrival's buffer passes to the core when the
//! manager publishes it and back once the core releases it (`consumed`),
//! which it does only after publishing every post that names it; the
//! manager serves posts before it reuses a buffer. In the simulation and
//! the bench both sides run in turn on one thread (`&mut` in turn); a
//! manager on its own engine needs the indices written with release and
//! read with acquire ordering.
//!
//! The implementation of the manager is hardware: `sim-tests/queue-manager`
//! (the hardware model's, and the bench rig's). Boards without one run the
//! same ring semantics on the core (`crate::rings`).

use crate::device::{BUF, HEADROOM};

/// Arrivals in flight (each with its buffer).
pub const ARRIVALS: usize = 64;
/// Posts in flight: enough for a poll's arrivals with a few destinations
/// each; the core stops taking arrivals while a broadcast to every
/// function might not fit (`POSTS_PER_ARRIVAL`).
pub const POSTS: usize = 2048;
/// Failures in flight; the manager stops serving posts while it is full,
/// so none is lost.
pub const FAILURES: usize = 256;
/// `Arrival::from` of a frame from the wire.
pub const WIRE: u16 = 0xffff;

/// What an arrival holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum ArrivalKind {
    /// A frame in the arrival's buffer.
    #[default]
    Frame = 0,
    /// Tx descriptors consumed, the frame dropped (`reason`).
    Dropped = 1,
    /// The Tx queue stopped (`reason`, `fault`).
    Fault = 2,
}

/// One arrival. The frame is `buf[at..at + len]` of its [`Slot`].
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(16))]
pub struct Arrival {
    /// The function whose Tx queue it came from, or [`WIRE`].
    pub from: u16,
    pub queue: u8,
    pub kind: ArrivalKind,
    /// For `Dropped`/`Fault`: a `DropReason` and a `QueueFault` (0: none).
    pub reason: u8,
    pub fault: u8,
    /// A Tx descriptor's VLAN tag to insert (`has_tag`).
    pub tag: u16,
    pub has_tag: bool,
    pub len: u32,
    /// RSS as the manager's parser computed it (the device-wide key).
    pub hash: u32,
    /// RSS type (bits 3:0) and packet type, as the Rx write-back reports.
    pub pkt_info: u32,
}

/// An arrival's buffer: headroom for tags the core pushes in place.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct Slot {
    pub buf: [u8; BUF],
    /// Where the frame starts (the manager puts it at [`HEADROOM`]).
    pub at: usize,
}

impl Slot {
    pub const EMPTY: Slot = Slot {
        buf: [0; BUF],
        at: HEADROOM,
    };
}

/// A post's operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Op {
    /// Put arrival `arrival` into one of `function`'s first `queue` Rx
    /// queues: the manager picks it by RSS (VFPSRTYPE.RQPL) and strips
    /// and reports a tag where that queue's RXDCTL.VME says so, as an
    /// 82599 does.
    #[default]
    Deliver = 0,
    /// Send arrival `arrival` out of the wire.
    ToWire = 1,
    /// Count arrival `arrival` in its sender's VFGPTC/VFGOTC.
    Sent = 2,
    /// Take up to `arrival` frames from each of `function`'s first `queue`
    /// Tx queues.
    Fetch = 3,
    /// Forget every function's ring state (SR-IOV disabled).
    Reset = 4,
}

/// `Post::flags`.
pub mod flags {
    /// Strip the outer VLAN tag on the way in (the function's port VLAN).
    pub const STRIP: u8 = 1;
    /// The frame has an outer VLAN tag (RXDCTL.VME strips and reports it).
    pub const TAGGED: u8 = 2;
    /// The frame came from a local function (the write-back's LB bit).
    pub const LOOPED_BACK: u8 = 4;
    /// Multicast (not broadcast): the receiver's VFMPRC counts it.
    pub const MULTICAST: u8 = 8;
    /// Broadcast: the receiver's counters class it so on a failure.
    pub const BROADCAST: u8 = 16;
    /// Also count the arrival in its sender's VFGPTC/VFGOTC (the first
    /// post of a frame a function sent; `Op::Sent` when nothing else is
    /// posted for it).
    pub const SENT: u8 = 32;
}

/// One post, as the core builds it; in the ring it is one 64-bit word
/// ([`Post::encode`]), so posting is a single store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Post {
    pub op: Op,
    pub flags: u8,
    pub function: u16,
    pub queue: u8,
    pub _pad: u8,
    /// The arrival (an index into the rings, modulo [`ARRIVALS`]), or a
    /// frame count (`Fetch`).
    pub arrival: u16,
}

impl Op {
    pub fn from_code(code: u8) -> Option<Op> {
        Some(match code {
            0 => Op::Deliver,
            1 => Op::ToWire,
            2 => Op::Sent,
            3 => Op::Fetch,
            4 => Op::Reset,
            _ => return None,
        })
    }
}

impl Post {
    /// The post as the ring holds it: op, flags, function, queue and
    /// arrival from the low byte up.
    #[inline(always)]
    pub const fn encode(self) -> u64 {
        self.op as u64
            | (self.flags as u64) << 8
            | (self.function as u64) << 16
            | (self.queue as u64) << 32
            | (self.arrival as u64) << 48
    }

    /// A post read back; `None` if its op is none of [`Op`]'s.
    pub fn decode(word: u64) -> Option<Post> {
        Some(Post {
            op: Op::from_code(word as u8)?,
            flags: (word >> 8) as u8,
            function: (word >> 16) as u16,
            queue: (word >> 32) as u8,
            _pad: 0,
            arrival: (word >> 48) as u16,
        })
    }

    /// `flag` set in an encoded post.
    pub const fn with_flag(word: u64, flag: u8) -> u64 {
        word | (flag as u64) << 8
    }
}

/// A post that did not happen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Failure {
    /// The receiving function (`Deliver`), or [`WIRE`] (`ToWire`).
    pub function: u16,
    pub queue: u8,
    /// A `DropReason`.
    pub reason: u8,
    /// A `QueueFault` (0: none): the queue stopped.
    pub fault: u8,
    /// The post's flags (the receiver's counters class the frame by them).
    pub flags: u8,
    pub len: u32,
}

/// The rings the core and its queue manager share.
pub struct QmRings {
    pub arrivals: [Arrival; ARRIVALS],
    pub slots: [Slot; ARRIVALS],
    /// Arrivals published (manager).
    pub produced: u32,
    /// Arrivals released, their buffers free again (core).
    pub consumed: u32,
    /// Encoded posts ([`Post::encode`]).
    pub posts: [u64; POSTS],
    /// Posts published (core).
    pub posted: u32,
    /// Posts served (manager).
    pub served: u32,
    pub failures: [Failure; FAILURES],
    /// Failures published (manager) and read (core).
    pub failed: u32,
    pub failures_read: u32,
    /// The wire's carrier, as the manager's MAC sees it.
    pub wire_up: bool,
}

impl QmRings {
    pub const NEW: QmRings = QmRings {
        arrivals: [Arrival {
            from: 0,
            queue: 0,
            kind: ArrivalKind::Frame,
            reason: 0,
            fault: 0,
            tag: 0,
            has_tag: false,
            len: 0,
            hash: 0,
            pkt_info: 0,
        }; ARRIVALS],
        slots: [Slot::EMPTY; ARRIVALS],
        produced: 0,
        consumed: 0,
        posts: [0; POSTS],
        posted: 0,
        served: 0,
        failures: [Failure {
            function: 0,
            queue: 0,
            reason: 0,
            fault: 0,
            flags: 0,
            len: 0,
        }; FAILURES],
        failed: 0,
        failures_read: 0,
        wire_up: false,
    };

    /// Posts the core may still publish before the manager serves some.
    #[inline(always)]
    pub fn posts_free(&self) -> usize {
        POSTS - self.posted.wrapping_sub(self.served) as usize
    }

    /// Publishes one post (the caller checked `posts_free`).
    #[inline(always)]
    pub fn post(&mut self, p: Post) {
        self.posts[self.posted as usize % POSTS] = p.encode();
        self.posted = self.posted.wrapping_add(1);
    }
}
