//! The soak of the data path across cores ([`firmware::cores`]) on host
//! threads, one a core: round after round of random traffic, each round
//! with its own number of cores (1 to the most asked for), ring depth (2
//! to 1024 works), burst size, flows and functions, until the time is up.
//!
//! The traffic is what the mesh carries: frames from the wire for one
//! function each (its address, or one nobody owns, which the default
//! pool, the PF, takes), and runts and broadcasts, which the cores count
//! as unclaimed (replication is not the mesh's; a broadcast would be
//! copied per destination before it is routed). Each frame's function is
//! decided by the generator, not asked of the code under test. After
//! every round:
//! - every frame went to its function once, delivered by the core that
//!   owns the function, and each function saw each flow in wire order;
//! - what the cores took, delivered and left unclaimed adds up, per
//!   core and folded.
//!
//! A failure names the seed and round, which replay it.

use anyhow::{Result, bail};
use firmware::classifier::{Classifier, Destinations};
use firmware::cores::{Folded, Mesh, Work, bump, owner, rx_core};
use firmware::mac::Mac;
use rand_core::{Rng as _, SeedableRng as _};
use rand_xorshift::XorShiftRng;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

/// Most cores a soak runs.
pub const MAX_CORES: usize = 4;
/// Functions: the PF and 64 VFs.
const FUNCTIONS: usize = 65;

/// How a soak runs.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub seed: u64,
    pub duration: Duration,
    /// Cores at most (each round picks 1 to this, mostly this).
    pub cores: usize,
    /// Stop after this round (a replay).
    pub max_rounds: Option<u64>,
}

/// What a soak did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub rounds: u64,
    pub frames: u64,
    pub handed_off: u64,
    pub waits: u64,
    pub elapsed: Duration,
}

impl Report {
    pub fn frames_per_minute(&self) -> f64 {
        self.frames as f64 * 60.0 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// One round's traffic.
struct Round {
    cores: usize,
    depth: usize,
    burst: usize,
    /// Each frame's bytes, its flow, and the function it is for.
    frames: Vec<([u8; 64], u32, Option<usize>)>,
    flows: u32,
}

fn function_mac(f: usize) -> Mac {
    Mac([0x02, 0x5e, 0x10, 0, 0, f as u8])
}

fn round(rng: &mut XorShiftRng, max_cores: usize) -> Round {
    let cores = if rng.next_u32().is_multiple_of(4) {
        1 + rng.next_u32() as usize % max_cores
    } else {
        max_cores
    };
    let depth = [2, 16, 256, 1024][rng.next_u32() as usize % 4];
    let burst = 1 + rng.next_u32() as usize % 64;
    let flows = 1 + rng.next_u32() % 256;
    let functions = 1 + rng.next_u32() as usize % FUNCTIONS;
    let n = 5_000 + rng.next_u32() as usize % 45_000;
    let frames = (0..n)
        .map(|_| {
            let flow = rng.next_u32() % flows;
            let mut b = [0u8; 64];
            let kind = rng.next_u32() % 100;
            let (dst, to) = match kind {
                0..=79 => {
                    let f = rng.next_u32() as usize % functions;
                    (function_mac(f), Some(f))
                }
                80..=91 => (Mac([0x02, 0x77, 0, 0, 1, kind as u8]), Some(0)),
                92..=95 => (Mac::BROADCAST, None),
                _ => (Mac([0; 6]), None),
            };
            b[..6].copy_from_slice(&dst.0);
            b[6..12].copy_from_slice(&[0x02, 0xee, 0, 0, 0, 1]);
            b[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
            b[14] = 0x45;
            b[23] = 17;
            b[34..36].copy_from_slice(&(flow as u16).to_be_bytes());
            // A runt: the frame ends inside its Ethernet header.
            if kind >= 96 {
                b[63] = 1;
            }
            (b, flow, to)
        })
        .collect();
    Round {
        cores,
        depth,
        burst,
        frames,
        flows,
    }
}

/// The length a frame is sent with (a runt is 10 bytes).
fn len(b: &[u8; 64]) -> usize {
    if b[63] == 1 { 10 } else { 60 }
}

/// What one core saw: each function's frames in delivery order, and
/// frames it delivered for a function it does not own.
struct CoreLog {
    per_function: Vec<Vec<u32>>,
    not_owner: u64,
}

fn play<const D: usize>(c: &Classifier, r: &Round) -> (Vec<CoreLog>, Folded) {
    let mesh: Box<Mesh<MAX_CORES, D>> = Box::default();
    let finished = AtomicUsize::new(0);
    let n = r.cores;
    let logs = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|me| {
                let mesh = &*mesh;
                let finished = &finished;
                s.spawn(move || {
                    let mut log = CoreLog {
                        per_function: vec![Vec::new(); FUNCTIONS],
                        not_owner: 0,
                    };
                    let mut deliver = |w: Work| {
                        let f = usize::from(w.function);
                        if owner(f, n) != me {
                            log.not_owner += 1;
                        }
                        log.per_function[f].push(w.frame);
                    };
                    let counters = mesh.counters(me);
                    let mine: Vec<u32> = (0..r.frames.len() as u32)
                        .filter(|&i| {
                            rx_core(
                                firmware::cores::synthetic_flow_hash(r.frames[i as usize].1),
                                n,
                            ) == me
                        })
                        .collect();
                    for burst in mine.chunks(r.burst) {
                        let works = burst.iter().filter_map(|&i| {
                            bump(&counters.taken);
                            let (b, flow, _) = &r.frames[i as usize];
                            let f = firmware::frame::parse(&b[..len(b)])
                                .ok()
                                .and_then(|p| match c.lookup(&p.dst, true).destinations() {
                                    Destinations::One(f) => Some(f),
                                    _ => None,
                                });
                            if f.is_none() {
                                bump(&counters.unclaimed);
                            }
                            Some(Work {
                                frame: i,
                                function: f? as u16,
                                queue: (flow % 2) as u8,
                            })
                        });
                        mesh.route_burst(me, n, works, &mut deliver, std::thread::yield_now);
                    }
                    mesh.finish(me, n, finished, &mut deliver, std::thread::yield_now);
                    log
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a soak core panicked"))
            .collect::<Vec<_>>()
    });
    (logs, mesh.fold())
}

/// The round's checks: an error names what broke.
fn check(r: &Round, logs: &[CoreLog], folded: &Folded) -> Result<()> {
    let n = r.cores;
    let mut want = vec![Vec::new(); FUNCTIONS];
    for (i, (_, _, to)) in r.frames.iter().enumerate() {
        if let Some(f) = to {
            want[*f].push(i as u32);
        }
    }
    let not_owner: u64 = logs.iter().map(|l| l.not_owner).sum();
    if not_owner != 0 {
        bail!("{not_owner} frames delivered by a core that does not own their function");
    }
    for (f, want) in want.iter().enumerate() {
        let got = &logs[owner(f, n)].per_function[f];
        let mut sorted = got.clone();
        sorted.sort_unstable();
        if &sorted != want {
            bail!(
                "function {f}: {} frames delivered, {} due (lost, duplicated or misdirected)",
                got.len(),
                want.len()
            );
        }
        let mut last = vec![None; r.flows as usize];
        for &i in got {
            let flow = r.frames[i as usize].1 as usize;
            if last[flow].is_some_and(|l| l > i) {
                bail!("function {f}, flow {flow}: frame {i} delivered after a later one");
            }
            last[flow] = Some(i);
        }
    }
    let delivered: u64 = logs
        .iter()
        .flat_map(|l| &l.per_function)
        .map(|v| v.len() as u64)
        .sum();
    let due = want.iter().map(Vec::len).sum::<usize>() as u64;
    if folded.taken != r.frames.len() as u64
        || folded.delivered != delivered
        || folded.delivered != due
        || folded.delivered + folded.unclaimed != folded.taken
    {
        bail!(
            "the counters do not add up: taken {}, delivered {} (logged {delivered}, due {due}), unclaimed {}, of {} frames",
            folded.taken,
            folded.delivered,
            folded.unclaimed,
            r.frames.len()
        );
    }
    Ok(())
}

/// Runs rounds until the time (or `max_rounds`) is up; the first failing
/// round's error, with its seed and number.
pub fn run(opts: &Options, mut progress: impl FnMut(&Report)) -> Result<Report> {
    if !(1..=MAX_CORES).contains(&opts.cores) {
        bail!("cores: {} is not 1 to {MAX_CORES}", opts.cores);
    }
    let mut c = Box::new(Classifier::new());
    for f in 0..FUNCTIONS {
        c.add_unicast(function_mac(f), f);
    }
    c.set_default_pool(Some(0));
    c.seal();
    let mut rng = XorShiftRng::seed_from_u64(opts.seed);
    let started = Instant::now();
    let mut report = Report::default();
    while started.elapsed() < opts.duration && opts.max_rounds.is_none_or(|m| report.rounds < m) {
        let r = round(&mut rng, opts.cores);
        let (logs, folded) = match r.depth {
            2 => play::<2>(&c, &r),
            16 => play::<16>(&c, &r),
            256 => play::<256>(&c, &r),
            _ => play::<1024>(&c, &r),
        };
        report.rounds += 1;
        if let Err(e) = check(&r, &logs, &folded) {
            bail!(
                "round {} ({} cores, rings of {}, bursts of {}, {} frames over {} flows): {e}; replay: seed {}, {} rounds",
                report.rounds,
                r.cores,
                r.depth,
                r.burst,
                r.frames.len(),
                r.flows,
                opts.seed,
                report.rounds
            );
        }
        report.frames += r.frames.len() as u64;
        report.handed_off += folded.handed_off;
        report.waits += folded.handoff_stalls;
        report.elapsed = started.elapsed();
        progress(&report);
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_rounds_on_four_cores_pass_and_a_misdirection_fails() {
        let opts = Options {
            seed: 7,
            duration: Duration::from_secs(600),
            cores: 4,
            max_rounds: Some(6),
        };
        let r = run(&opts, |_| {}).unwrap();
        assert_eq!(r.rounds, 6);
        assert!(r.handed_off > 0 && r.frames > 6 * 5_000);

        // The checks catch a frame delivered to the wrong function.
        let mut rng = XorShiftRng::seed_from_u64(1);
        let round = round(&mut rng, 2);
        let mut c = Box::new(Classifier::new());
        for f in 0..FUNCTIONS {
            c.add_unicast(function_mac(f), f);
        }
        c.set_default_pool(Some(0));
        c.seal();
        let (mut logs, folded) = play::<16>(&c, &round);
        check(&round, &logs, &folded).unwrap();
        let moved = (0..FUNCTIONS)
            .find_map(|f| {
                let frame = logs[owner(f, round.cores)].per_function[f].pop()?;
                Some((f, frame))
            })
            .unwrap();
        let other = (moved.0 + round.cores) % FUNCTIONS;
        logs[owner(other, round.cores)].per_function[other].push(moved.1);
        assert!(check(&round, &logs, &folded).is_err());
    }
}
