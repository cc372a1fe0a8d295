use super::*;
use crate::classifier::{Classifier, Destinations};
use crate::mac::Mac;
use std::sync::atomic::AtomicUsize;
use std::vec::Vec;

fn work(i: u32) -> Work {
    Work {
        frame: i,
        function: (i % 300) as u16,
        queue: (i % 7) as u8,
    }
}

fn drained<const D: usize>(r: &Handoff<D>) -> Vec<Work> {
    let mut v = Vec::new();
    r.drain(|w| v.push(w));
    v
}

#[test]
fn a_ring_keeps_order_refuses_when_full_and_wraps() {
    let r = Handoff::<4>::new();
    assert!(drained(&r).is_empty());
    let mut next_in = 0;
    let mut next_out = 0;
    // Many laps, at every fill level, published at once or in two.
    for lap in 0..60u32 {
        let fill = lap % 5;
        for k in 0..fill {
            assert!(r.push(work(next_in)));
            next_in += 1;
            if lap % 2 == 0 && k == 0 {
                r.publish();
            }
        }
        if fill == 4 {
            assert!(!r.push(work(999)), "a fifth work in a ring of four");
        }
        if fill > 1 && lap % 2 == 1 {
            assert!(drained(&r).is_empty(), "nothing visible before publish");
        }
        r.publish();
        assert_eq!(r.len(), fill as usize);
        for w in drained(&r) {
            assert_eq!(w, work(next_out));
            next_out += 1;
        }
        assert!(r.is_empty());
    }
    assert_eq!(next_in, next_out);
}

proptest::proptest! {
    #[test]
    fn a_work_survives_the_ring(frame: u32, function: u16, queue: u8) {
        let r = Handoff::<2>::new();
        let w = Work { frame, function, queue };
        proptest::prop_assert!(r.push(w));
        r.publish();
        proptest::prop_assert_eq!(drained(&r), [w]);
    }
}

#[test]
fn a_full_ring_stalls_then_moves_after_the_owner_drains() {
    let mesh = Mesh::<2, 2>::new();
    let mut local = Vec::new();
    // Function 1 belongs to core 1 of 2; function 2 to core 0.
    let to_one = |i| Work {
        frame: i,
        function: 1,
        queue: 0,
    };
    assert!(mesh.route(0, 2, to_one(0), &mut |w| local.push(w)));
    assert!(mesh.route(0, 2, to_one(1), &mut |w| local.push(w)));
    assert!(!mesh.route(0, 2, to_one(2), &mut |w| local.push(w)), "full");
    let own = Work {
        frame: 3,
        function: 2,
        queue: 0,
    };
    assert!(mesh.route(0, 2, own, &mut |w| local.push(w)));
    assert_eq!(local, [own], "core 0 delivers its own function at once");
    let mut theirs = Vec::new();
    assert_eq!(mesh.drain(1, 2, &mut |w| theirs.push(w)), 0, "not flushed");
    mesh.flush(0, 2);
    assert_eq!(mesh.drain(1, 2, &mut |w| theirs.push(w)), 2);
    assert_eq!(theirs, [to_one(0), to_one(1)]);
    assert!(mesh.route(0, 2, to_one(2), &mut |w| local.push(w)));
    let f = mesh.fold();
    assert_eq!(
        f,
        Folded {
            taken: 0,
            delivered: 3,
            handed_off: 3,
            unclaimed: 0,
            handoff_stalls: 1,
        }
    );
}

const FUNCTIONS: usize = 17;
const FLOWS: u32 = 64;
const BURST: usize = 32;

fn function_mac(f: usize) -> Mac {
    Mac([0x02, 0x5e, 0, 0, 1, f as u8])
}

/// Frame `i`: to one of the functions' addresses, or (one in nine) to an
/// address nobody owns, which the wire's default pool (the PF) takes; its
/// flow in the UDP source port.
fn frame(i: u32) -> [u8; 64] {
    let mut b = [0u8; 64];
    let dst = if i % 9 == 4 {
        Mac([0x02, 0x77, 0, 0, 0, i as u8])
    } else {
        function_mac((i as usize * 7) % FUNCTIONS)
    };
    b[..6].copy_from_slice(&dst.0);
    b[6..12].copy_from_slice(&[0x02, 0xee, 0, 0, 0, 1]);
    b[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    b[14] = 0x45;
    b[23] = 17;
    b[34..36].copy_from_slice(&((i % FLOWS) as u16).to_be_bytes());
    b
}

/// Classify frame `i` as a core does (the real parser and classifier).
fn classify(c: &Classifier, i: u32, b: &[u8]) -> Option<Work> {
    let p = crate::frame::parse(b).ok()?;
    let f = match c.lookup(&p.dst, true).destinations() {
        Destinations::One(f) => f,
        _ => return None,
    };
    Some(Work {
        frame: i,
        function: f as u16,
        queue: (i % FLOWS % 2) as u8,
    })
}

/// `cores` threads serve `frames` frames through a mesh with rings of `D`:
/// each function's log (frame numbers in delivery order) and the folded
/// counters.
fn serve<const D: usize>(cores: usize, frames: u32) -> (Vec<Vec<u32>>, Folded) {
    let mut c = Classifier::new();
    for f in 0..FUNCTIONS {
        assert!(c.add_unicast(function_mac(f), f));
    }
    c.set_default_pool(Some(0));
    c.seal();
    let wire: Vec<[u8; 64]> = (0..frames).map(frame).collect();
    let mesh = Mesh::<4, D>::new();
    let finished = AtomicUsize::new(0);
    let logs: Vec<Vec<Vec<u32>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores)
            .map(|me| {
                let (c, wire, mesh, finished) = (&c, &wire, &mesh, &finished);
                s.spawn(move || {
                    let mut logs = vec![Vec::new(); FUNCTIONS];
                    let mut deliver = |w: Work| {
                        let f = usize::from(w.function);
                        assert_eq!(owner(f, cores), me, "only the owner writes a queue");
                        logs[f].push(w.frame);
                    };
                    let counters = mesh.counters(me);
                    let mine: Vec<u32> = (0..frames)
                        .filter(|i| rx_core(synthetic_flow_hash(i % FLOWS), cores) == me)
                        .collect();
                    for burst in mine.chunks(BURST) {
                        let works = burst.iter().filter_map(|&i| {
                            bump(&counters.taken);
                            let w = classify(c, i, &wire[i as usize]);
                            if w.is_none() {
                                bump(&counters.unclaimed);
                            }
                            w
                        });
                        mesh.route_burst(me, cores, works, &mut deliver, std::thread::yield_now);
                    }
                    mesh.finish(me, cores, finished, &mut deliver, std::thread::yield_now);
                    logs
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut merged = vec![Vec::new(); FUNCTIONS];
    for (f, log) in merged.iter_mut().enumerate() {
        *log = logs[owner(f, cores)][f].clone();
    }
    (merged, mesh.fold())
}

/// Each function's frames, classified one by one without the mesh.
fn expected(frames: u32) -> Vec<Vec<u32>> {
    let mut c = Classifier::new();
    for f in 0..FUNCTIONS {
        c.add_unicast(function_mac(f), f);
    }
    c.set_default_pool(Some(0));
    c.seal();
    let mut want = vec![Vec::new(); FUNCTIONS];
    for i in 0..frames {
        if let Some(w) = classify(&c, i, &frame(i)) {
            want[usize::from(w.function)].push(i);
        }
    }
    want
}

/// Nothing lost, nothing twice, each function's frames of one flow in
/// their order on the wire, and the counters add up.
fn check(cores: usize, logs: &[Vec<u32>], folded: Folded, frames: u32, want: &[Vec<u32>]) {
    for (f, (got, want)) in logs.iter().zip(want).enumerate() {
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(
            &sorted, want,
            "{cores} cores: function {f}'s frames, once each"
        );
        for flow in 0..FLOWS {
            let of_flow: Vec<u32> = got.iter().copied().filter(|i| i % FLOWS == flow).collect();
            assert!(
                of_flow.windows(2).all(|p| p[0] < p[1]),
                "{cores} cores: function {f}, flow {flow} out of order"
            );
        }
    }
    let delivered: usize = logs.iter().map(Vec::len).sum();
    assert_eq!(folded.taken, u64::from(frames), "every frame taken once");
    assert_eq!(folded.delivered, delivered as u64);
    assert_eq!(folded.delivered + folded.unclaimed, folded.taken);
}

#[test]
fn four_cores_lose_nothing_duplicate_nothing_and_keep_each_flows_order() {
    const FRAMES: u32 = 60_000;
    let want = expected(FRAMES);
    // Sanity of the reference: every function gets frames, the PF most
    // (it takes the unknown addresses), and nothing is unclaimed.
    assert!(want.iter().all(|l| !l.is_empty()));
    assert_eq!(want.iter().map(Vec::len).sum::<usize>(), FRAMES as usize);
    for cores in [1, 2, 3, 4] {
        let (logs, folded) = serve::<256>(cores, FRAMES);
        check(cores, &logs, folded, FRAMES, &want);
        assert_eq!(folded.handed_off > 0, cores > 1, "{cores} cores: handoffs");
    }
    // Rings of two: the producers stall often, and still nothing is lost.
    let (logs, folded) = serve::<2>(4, FRAMES);
    check(4, &logs, folded, FRAMES, &want);
}
