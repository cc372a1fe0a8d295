//! `mode=cores`: the data path across every core the board names
//! (`[cpu] data_path_cores`, started by PSCI), with `firmware::cores`.
//!
//! The boot core builds the classifier (64 VFs and the PF, the board's
//! MAC filters) and a wire of frames over 64 flows, each frame with the
//! RSS hash a MAC's parser would give it, and hands each core its share:
//! the frames whose RSS queue is that core's. Then every core, the boot
//! core too, walks its share lap after lap: parse, classify, and route
//! the frame to the core that owns its function (delivered at once if
//! that is itself, else over the handoff ring), draining what the others
//! handed it. Delivering here is counting into the function's queue and
//! checking order: the descriptor and DMA work is the DMA engine's, not
//! measured here. The control plane (set-up, timing, the report) stays on
//! the boot core.
//!
//! Without `-icount` (multi-threaded TCG, a host thread per core) the run
//! lasts a second of the counter and reports frames per second; under
//! `-icount` (one thread, the PMU counting every core's instructions) it
//! runs a fixed number of laps and reports instructions per frame. Either
//! way it fails if a frame was lost, delivered twice, out of its flow's
//! order, or delivered by a core that does not own its function.

use core::cell::UnsafeCell;
use core::hint::black_box;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use firmware::classifier::{Classifier, Destinations};
use firmware::cores::{Mesh, Work, bump, owner, rx_core};
use firmware::frame;
use hal::arch::pmu::InstructionCounter;
use hal::arch::smp::{self, CORES};
use hal::arch::timer::GenericTimer;
use hal::exit::ExitCode;
use hal::time::{Counter, ticks_to_ns};

/// Frames on the wire (one lap).
const WIRE: usize = 512;
/// Flows they belong to (the UDP source port).
const FLOWS: usize = 64;
/// VFs the classifier spreads the addresses over (plus the PF).
const VFS: usize = 64;
const FUNCTIONS: usize = VFS + 1;
/// Laps under `-icount`: 64 x 512 frames.
const COUNTED_LAPS: u32 = 64;
/// Handoff ring size.
const RING: usize = 1024;
/// Frames a core takes between publishing and draining (an Rx burst).
const BURST: usize = 32;

#[repr(C, align(16))]
struct Wire {
    frames: [[u8; 64]; WIRE],
    /// Each core's share: frame indices, in wire order.
    share: [[u16; WIRE]; CORES],
    share_len: [usize; CORES],
}

/// What each core keeps of the functions it owns: the last sequence
/// number delivered per flow (order), and its checks.
#[repr(C, align(64))]
struct CoreState {
    last: [[u32; FLOWS]; FUNCTIONS],
    out_of_order: u32,
    not_owner: u32,
    wrong_function: u32,
    /// Under `-icount`: instructions of each whole burst that did not
    /// stall (taking, routing, publishing, draining), up to
    /// [`MAX_BURSTS`].
    bursts: [u32; MAX_BURSTS],
    burst_count: usize,
}

/// Bursts a core records the cost of.
const MAX_BURSTS: usize = 1024;

struct Statics {
    wire: UnsafeCell<Wire>,
    state: [UnsafeCell<CoreState>; CORES],
}
// SAFETY: the wire is written by the boot core before any core is told
// to go (GO, Release) and only read after; each `state[c]` is touched by
// core `c` only, and read by the boot core after that core is DONE.
unsafe impl Sync for Statics {}

static STATICS: Statics = Statics {
    wire: UnsafeCell::new(Wire {
        frames: [[0; 64]; WIRE],
        share: [[0; WIRE]; CORES],
        share_len: [0; CORES],
    }),
    state: [const {
        UnsafeCell::new(CoreState {
            last: [[0; FLOWS]; FUNCTIONS],
            out_of_order: 0,
            not_owner: 0,
            wrong_function: 0,
            bursts: [0; MAX_BURSTS],
            burst_count: 0,
        })
    }; CORES],
};
static MESH: Mesh<CORES, RING> = Mesh::new();
/// Cores taking part (set before GO).
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Laps each core runs (0: until STOP).
static LAPS: AtomicU32 = AtomicU32::new(0);
static GO: AtomicBool = AtomicBool::new(false);
static STOP: AtomicBool = AtomicBool::new(false);
/// Cores done taking frames, and cores done altogether.
static FINISHED: AtomicUsize = AtomicUsize::new(0);
static DONE: AtomicUsize = AtomicUsize::new(0);
/// The classifier every core reads (never written once GO is set).
static CLASSIFIER: AtomicUsize = AtomicUsize::new(0);
static LAPS_RUN: [AtomicU64; CORES] = [const { AtomicU64::new(0) }; CORES];

fn unicast_mac(i: usize) -> firmware::mac::Mac {
    let b = (i as u32).to_be_bytes();
    firmware::mac::Mac([0x02, 0x5e, b[0], b[1], b[2], b[3]])
}

/// The function frame `i` is for: the owner of its address, or (one in
/// eight: an address nobody owns) the default pool, the PF.
fn addressed(i: usize, filters: usize) -> (firmware::mac::Mac, usize) {
    if i % 8 == 5 {
        (firmware::mac::Mac([0x02, 0x77, 0, 0, 0, i as u8]), 0)
    } else {
        let a = (i * 7) % filters;
        (unicast_mac(a), 1 + a % VFS)
    }
}

/// The mode: start the cores, build the wire, run, check, report.
pub fn run() -> ExitCode {
    let (started, refused) = smp::start_all(secondary);
    if let Some((core, e)) = refused {
        defmt::warn!(
            "cores: core {} did not start ({}): running on {} of the board's {}",
            core,
            e,
            started + 1,
            CORES
        );
    }
    let n = started + 1;
    let filters = hal::board::capacities::MAC_FILTERS.min(firmware::classifier::EXACT_ENTRIES);
    let classifier = crate::bench::classifier_for_cores(filters, VFS);
    CLASSIFIER.store(classifier as *const Classifier as usize, Ordering::Relaxed);
    // SAFETY: no other core reads the wire before GO.
    let wire = unsafe { &mut *STATICS.wire.get() };
    for (i, f) in wire.frames.iter_mut().enumerate() {
        let (dst, _) = addressed(i, filters);
        write_frame(f, dst, i % FLOWS);
        let c = rx_core(firmware::cores::synthetic_flow_hash((i % FLOWS) as u32), n);
        wire.share[c][wire.share_len[c]] = i as u16;
        wire.share_len[c] += 1;
    }
    let pmu = InstructionCounter::start().ok();
    let laps = if pmu.is_some() { COUNTED_LAPS } else { 0 };
    LAPS.store(laps, Ordering::Relaxed);
    RUNNING.store(n, Ordering::Relaxed);
    let counter = GenericTimer;
    let hz = counter.frequency_hz();
    let before = pmu.as_ref().map(|p| p.read());
    let t0 = counter.ticks();
    GO.store(true, Ordering::Release);
    serve_share(0, n, Some((t0, hz)));
    while DONE.load(Ordering::Acquire) < n {
        core::hint::spin_loop();
    }
    let elapsed_ns = ticks_to_ns(counter.ticks() - t0, hz);
    let instructions = pmu.as_ref().zip(before).map(|(p, b)| p.read() - b);
    report(n, filters, elapsed_ns, instructions)
}

/// A secondary core: waits for GO, serves its share, then parks.
fn secondary(core: usize) -> ! {
    while !GO.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    let n = RUNNING.load(Ordering::Relaxed);
    if core < n {
        serve_share(core, n, None);
    }
    hal::arch::halt()
}

/// Core `me` of `n` walks its share lap after lap (the boot core, with
/// `clock`, also ends a timed run), then drains until every core is done.
fn serve_share(me: usize, n: usize, clock: Option<(u64, u64)>) {
    // SAFETY: written before GO, read-only since.
    let wire = unsafe { &*STATICS.wire.get() };
    // SAFETY: set before GO, and the classifier is not written after.
    let classifier = unsafe { &*(CLASSIFIER.load(Ordering::Relaxed) as *const Classifier) };
    // SAFETY: this core's state is its own until it is DONE.
    let state = unsafe { &mut *STATICS.state[me].get() };
    let share = &wire.share[me][..wire.share_len[me]];
    let laps = LAPS.load(Ordering::Relaxed);
    // Each core's own PMU counter (under -icount it follows the one
    // instruction count every vCPU shares, so a burst's figure is
    // trusted only as a median: see `median_burst`).
    let pmu = if laps != 0 {
        InstructionCounter::start().ok()
    } else {
        None
    };
    let mut bursts = [0u32; MAX_BURSTS];
    let mut burst_count = 0;
    let mut burst_start = pmu.as_ref().map_or(0, |p| p.read());
    let mut deliver = |w: Work| into_queue(state, me, n, w);
    let counters = MESH.counters(me);
    let counter = GenericTimer;
    let mut lap: u32 = 0;
    loop {
        // A burst at a time, as a core takes them from its Rx queue.
        for burst in share.chunks(BURST) {
            let works = burst.iter().filter_map(|&i| {
                let i = usize::from(i);
                bump(&counters.taken);
                let f = match frame::parse(black_box(&wire.frames[i][..])) {
                    Ok(p) => match classifier.lookup(&p.dst, true).destinations() {
                        Destinations::One(f) => Some(f),
                        _ => None,
                    },
                    Err(_) => None,
                };
                if f.is_none() {
                    bump(&counters.unclaimed);
                }
                Some(Work {
                    frame: lap * WIRE as u32 + i as u32,
                    function: f? as u16,
                    queue: (i % FLOWS % 2) as u8,
                })
            });
            let waited = MESH.route_burst(me, n, works, &mut deliver, core::hint::spin_loop);
            if let Some(p) = &pmu {
                let now = p.read();
                // Whole bursts that did not wait on a full ring.
                if !waited && burst.len() == BURST && burst_count < MAX_BURSTS {
                    bursts[burst_count] = (now - burst_start) as u32;
                    burst_count += 1;
                }
                burst_start = now;
            }
        }
        lap += 1;
        if laps != 0 {
            if lap == laps {
                break;
            }
        } else if let Some((t0, hz)) = clock {
            if counter.ticks() - t0 >= hz {
                STOP.store(true, Ordering::Release);
                break;
            }
        } else if STOP.load(Ordering::Acquire) {
            break;
        }
    }
    LAPS_RUN[me].store(u64::from(lap), Ordering::Relaxed);
    MESH.finish(me, n, &FINISHED, &mut deliver, core::hint::spin_loop);
    state.bursts = bursts;
    state.burst_count = burst_count;
    DONE.fetch_add(1, Ordering::AcqRel);
}

/// Into function `w.function`'s queue: counted, and checked against the
/// function's owner, the frame's address and its flow's order.
#[inline(always)]
fn into_queue(state: &mut CoreState, me: usize, n: usize, w: Work) {
    let f = usize::from(w.function);
    if owner(f, n) != me {
        state.not_owner += 1;
        return;
    }
    let i = w.frame as usize % WIRE;
    let filters = hal::board::capacities::MAC_FILTERS.min(firmware::classifier::EXACT_ENTRIES);
    if addressed(i, filters).1 != f {
        state.wrong_function += 1;
    }
    let last = &mut state.last[f % FUNCTIONS][i % FLOWS];
    // Sequence numbers start at 0: store them plus one, 0 meaning none.
    if w.frame < *last {
        state.out_of_order += 1;
    }
    *last = w.frame + 1;
}

fn write_frame(buf: &mut [u8; 64], dst: firmware::mac::Mac, flow: usize) {
    buf.fill(0);
    buf[..6].copy_from_slice(&dst.0);
    buf[6..12].copy_from_slice(&[0x02, 0xbb, 0, 0, 0, 1]);
    buf[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    buf[14] = 0x45;
    buf[16..18].copy_from_slice(&50u16.to_be_bytes());
    buf[23] = 17;
    buf[34..36].copy_from_slice(&(flow as u16).to_be_bytes());
    buf[36..38].copy_from_slice(&4789u16.to_be_bytes());
}

/// A core's instructions per frame under `-icount`: the median of its
/// unstalled bursts over the burst's frames. The PMU follows the count
/// every vCPU shares, so a burst during which QEMU switched to another
/// vCPU counts that vCPU's work too; those are the outliers a median
/// ignores (the switches are thousands of instructions apart).
fn median_burst(s: &CoreState) -> Option<u32> {
    let mut b = s.bursts;
    let b = &mut b[..s.burst_count];
    if b.is_empty() {
        return None;
    }
    b.sort_unstable();
    Some(b[b.len() / 2] / BURST as u32)
}

/// The per-core and total lines, after the checks.
fn report(n: usize, filters: usize, elapsed_ns: u64, instructions: Option<u64>) -> ExitCode {
    let f = MESH.fold();
    let mut failed = false;
    let mut expected_taken = 0;
    for (c, laps) in LAPS_RUN.iter().enumerate().take(n) {
        // SAFETY: core `c` is DONE: its state is no longer written.
        let s = unsafe { &*STATICS.state[c].get() };
        let k = MESH.counters(c);
        let laps = laps.load(Ordering::Relaxed);
        // SAFETY: read-only since GO.
        expected_taken += laps * unsafe { (*STATICS.wire.get()).share_len[c] } as u64;
        defmt::info!(
            "cores n={} core={} laps={} taken={} delivered={} handed_off={} stalls={} out_of_order={} not_owner={} wrong_function={}",
            n,
            c,
            laps,
            k.taken.load(Ordering::Relaxed),
            k.delivered.load(Ordering::Relaxed),
            k.handed_off.load(Ordering::Relaxed),
            k.handoff_stalls.load(Ordering::Relaxed),
            s.out_of_order,
            s.not_owner,
            s.wrong_function
        );
        if instructions.is_some() {
            match median_burst(s) {
                Some(m) => defmt::info!(
                    "cores n={} core={} bursts={} instructions_per_frame_median={}",
                    n,
                    c,
                    s.burst_count,
                    m
                ),
                None => defmt::warn!("cores n={} core={}: no burst ran unstalled", n, c),
            }
        }
        failed |= s.out_of_order != 0 || s.not_owner != 0 || s.wrong_function != 0;
    }
    if f.taken != expected_taken || f.delivered + f.unclaimed != f.taken {
        defmt::error!(
            "cores: {} frames taken (laps say {}), {} delivered, {} unclaimed: frames lost or duplicated",
            f.taken,
            expected_taken,
            f.delivered,
            f.unclaimed
        );
        failed = true;
    }
    if f.unclaimed != 0 {
        defmt::error!("cores: {} frames classified to nobody", f.unclaimed);
        failed = true;
    }
    match instructions {
        Some(i) => defmt::info!(
            "cores n={} filters={} frames={} handed_off={} instructions_per_frame={}",
            n,
            filters,
            f.delivered,
            f.handed_off,
            i / f.delivered.max(1)
        ),
        None => defmt::info!(
            "cores n={} filters={} frames={} handed_off={} elapsed_us={} frames_per_second={}",
            n,
            filters,
            f.delivered,
            f.handed_off,
            elapsed_ns / 1000,
            (u128::from(f.delivered) * 1_000_000_000 / u128::from(elapsed_ns.max(1))) as u64
        ),
    }
    if failed {
        defmt::error!("cores: the data path across {} cores failed its checks", n);
        ExitCode::Failure
    } else {
        defmt::info!("cores: {} cores, nothing lost, duplicated or reordered", n);
        ExitCode::Success
    }
}
