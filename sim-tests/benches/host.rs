//! Host-side benches of the device logic: the data path's decisions and
//! full in-process paths (frames per second per core), and control-plane
//! timings. Every group has a baseline measured in the same run, so
//! `cargo xtask bench` can report ratios that mean something on a noisy
//! machine (docs/performance.md).

use criterion::{
    BatchSize, Bencher, Criterion, PlottingBackend, Throughput, criterion_group, criterion_main,
};
use firmware::classifier::Classifier;
use firmware::device::Capacities;
use firmware::frame;
use firmware::mac::Mac;
use firmware::mac_table::{Hit, MacTable, slots_for};
use sim_tests::drivers::pf::PfDriver;
use sim_tests::frames::{FrameSpec, TABLE_KEYS, spread_mac, table_keys};
use sim_tests::lab::{Lab, PEER};
use sim_tests::sim::Sim;
use sim_tests::transport::Transport;
use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn mac(i: usize) -> Mac {
    let b = (i as u32).to_be_bytes();
    Mac([0x02, 0x5e, b[0], b[1], b[2], b[3]])
}

/// The classifier against a std `HashMap<(Mac, vlan), pool>`, 128 entries.
fn classifier(c: &mut Criterion) {
    let mut g = c.benchmark_group("classifier");
    g.throughput(Throughput::Elements(1));
    let mut cl = Classifier::new();
    let mut map: HashMap<(Mac, u16), usize> = HashMap::new();
    for i in 0..128 {
        cl.add_unicast(mac(i), 1 + i % 64);
        map.insert((mac(i), 0), 1 + i % 64);
    }
    cl.seal();
    let keys: Vec<Mac> = (0..64).map(|k| mac(k * 2)).collect();
    let mut k = 0;
    g.bench_function("firmware_lookup", |b| {
        b.iter(|| {
            k = (k + 1) % keys.len();
            black_box(cl.lookup(black_box(&keys[k]), true).set().len())
        })
    });
    g.bench_function("baseline_hashmap", |b| {
        b.iter(|| {
            k = (k + 1) % keys.len();
            black_box(map.get(&(*black_box(&keys[k]), 0)))
        })
    });
    g.finish();
}

/// The unicast table filled to its capacity at 16 to 4096 filters: 32
/// lookups per iteration (hits, misses, and the hits as one burst), so a
/// figure over 32 is the time per lookup. Keys are random addresses
/// (`sim_tests::frames::spread_mac`), so the larger tables pay their
/// cache misses.
fn mac_table(c: &mut Criterion) {
    let mut g = c.benchmark_group("mac_table");
    g.throughput(Throughput::Elements(32));
    table_at::<{ slots_for(16) }>(&mut g, 16);
    table_at::<{ slots_for(64) }>(&mut g, 64);
    table_at::<{ slots_for(256) }>(&mut g, 256);
    table_at::<{ slots_for(1024) }>(&mut g, 1024);
    table_at::<{ slots_for(4096) }>(&mut g, 4096);
    g.finish();
}

fn table_at<const S: usize>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: usize,
) {
    let mut t = Box::new(MacTable::<S>::new());
    for i in 0..n {
        assert!(t.insert(&spread_mac(i), 1 + i % 256), "claim {i} of {n}");
    }
    let (hits, misses) = table_keys(n);
    for (m, want_hit) in [(&hits[0], true), (&misses[0], false)] {
        assert_eq!(t.get(m) != Hit::Miss, want_hit);
    }
    let mut at = 0;
    let mut next = move || {
        at = (at + 32) % TABLE_KEYS;
        at
    };
    g.bench_function(format!("hit_{n}"), |b| {
        b.iter(|| {
            let k = next();
            let mut sum = 0;
            for m in &hits[k..k + 32] {
                sum += matches!(t.get(black_box(m)), Hit::One(_)) as u32;
            }
            black_box(sum)
        })
    });
    g.bench_function(format!("miss_{n}"), |b| {
        b.iter(|| {
            let k = next();
            let mut sum = 0;
            for m in &misses[k..k + 32] {
                sum += matches!(t.get(black_box(m)), Hit::Miss) as u32;
            }
            black_box(sum)
        })
    });
    let mut out = [Hit::Miss; 32];
    g.bench_function(format!("burst32_hit_{n}"), |b| {
        b.iter(|| {
            let k = next();
            t.get_burst(black_box(&hits[k..k + 32]), &mut out);
            black_box(out[31])
        })
    });
}

/// Parsing a 64-byte frame against copying it.
fn frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame");
    g.throughput(Throughput::Elements(1));
    let mut f = FrameSpec::new(mac(1), PEER)
        .udp([10, 0, 0, 1], [10, 0, 0, 2], 1, 2)
        .build();
    f.resize(64, 0);
    let mut out = [0u8; 64];
    g.bench_function("parse", |b| {
        b.iter(|| black_box(frame::parse(black_box(&f))))
    });
    g.bench_function("baseline_copy64", |b| {
        b.iter(|| {
            out.copy_from_slice(black_box(&f[..64]));
            black_box(&out);
        })
    });
    g.finish();
}

/// Whole in-process paths: the modelled host driver, the window, the
/// firmware's poll, the descriptors, the DMA, and back.
fn paths(c: &mut Criterion) {
    let mut g = c.benchmark_group("path");
    g.throughput(Throughput::Elements(1));
    let mut lab = Lab::new(8);
    let to_vf0 = FrameSpec::new(lab.macs[0], PEER)
        .udp([10, 0, 0, 1], [10, 0, 0, 2], 1, 2)
        .build();
    let vf0_to_wire = FrameSpec::new(PEER, lab.macs[0])
        .udp([10, 0, 0, 2], [10, 0, 0, 1], 2, 1)
        .build();
    let vf0_to_vf2 = FrameSpec::new(lab.macs[2], lab.macs[0])
        .udp([10, 0, 0, 2], [10, 0, 0, 3], 2, 1)
        .build();
    g.bench_function("uplink_to_vf", |b| {
        b.iter(|| {
            lab.wire(&to_vf0);
            assert_eq!(lab.rx(0).len(), 1);
        })
    });
    g.bench_function("vf_to_uplink", |b| {
        b.iter(|| {
            lab.send(0, &vf0_to_wire);
            assert_eq!(lab.wire_tx().len(), 1);
        })
    });
    g.bench_function("vf_to_vf", |b| {
        b.iter(|| {
            lab.send(0, &vf0_to_vf2);
            assert_eq!(lab.rx(2).len(), 1);
        })
    });
    // The same harness with no firmware work: one simulated poll.
    g.bench_function("baseline_idle_poll", |b| b.iter(|| lab.sim.step()));
    g.finish();
}

/// Times `op` only. The firmware's mailbox policy (2000 messages/s, 64
/// resets/s) would refuse a tight loop, as it should, so `gap_us` of
/// simulated time passes before each operation, outside the timed part.
fn timed(b: &mut Bencher, lab: &mut Lab, gap_us: u64, mut op: impl FnMut(&mut Lab)) {
    b.iter_custom(|iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            lab.sim.delay_us(gap_us);
            let t = Instant::now();
            op(lab);
            total += t.elapsed();
        }
        total
    })
}

/// Control-plane timings, in-process.
fn control(c: &mut Criterion) {
    let mut g = c.benchmark_group("control");
    g.sample_size(10);
    let mut lab = Lab::new(8);
    g.bench_function("mailbox_round_trip", |b| {
        timed(b, &mut lab, 1_000, |lab| {
            black_box(lab.vfs[0].get_queues(&mut lab.sim).unwrap());
        })
    });
    g.bench_function("vf_reset_handshake", |b| {
        timed(b, &mut lab, 50_000, |lab| {
            black_box(lab.vfs[0].reset(&mut lab.sim).unwrap());
        })
    });
    g.bench_function("flr", |b| {
        timed(b, &mut lab, 50_000, |lab| {
            let rid = lab.vfs[1].rid;
            lab.pf.flr(&mut lab.sim, rid).unwrap();
        })
    });
    for n in [64u16, 256] {
        let caps = Capacities {
            total_vfs: n,
            ..Capacities::from_board()
        };
        g.bench_function(format!("enable_{n}_vfs"), |b| {
            b.iter_batched(
                || {
                    let mut sim = Sim::new(caps);
                    let pf = PfDriver::probe(&mut sim).unwrap();
                    (sim, pf)
                },
                |(mut sim, mut pf)| pf.sriov_configure(&mut sim, n).unwrap(),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    // plotters, not gnuplot: the HTML report's plots (target/criterion/
    // report/) look the same whether gnuplot is installed or not.
    config = Criterion::default().plotting_backend(PlottingBackend::Plotters);
    targets = classifier, mac_table, frames, paths, control
}
criterion_main!(benches);
