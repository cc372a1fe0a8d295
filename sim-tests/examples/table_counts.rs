//! Lookups in the unicast table filled to capacity, for cachegrind
//! (`cargo xtask bench` runs it so): `table_counts FILTERS KIND ROUNDS`,
//! KIND `hit`, `miss` or `burst`. The table and keys are the host bench's
//! (`sim-tests/benches/host.rs`, `mac_table`): 4096 keys looked up 32 at a
//! time, ROUNDS times over. Under cachegrind the counts are the same on
//! every run, so the difference between two ROUNDS is a per-lookup figure
//! that wall-clock medians on a shared machine cannot give.

use firmware::mac::Mac;
use firmware::mac_table::{Hit, MacTable, slots_for};
use sim_tests::frames::{TABLE_KEYS, spread_mac, table_keys};
use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [filters, kind, rounds] = args.as_slice() else {
        eprintln!("usage: table_counts FILTERS KIND ROUNDS (KIND: hit, miss or burst)");
        std::process::exit(2);
    };
    let (Ok(filters), Ok(rounds)) = (filters.parse::<usize>(), rounds.parse::<usize>()) else {
        eprintln!("table_counts: FILTERS and ROUNDS are numbers");
        std::process::exit(2);
    };
    let found = match filters {
        16 => run::<{ slots_for(16) }>(16, kind, rounds),
        64 => run::<{ slots_for(64) }>(64, kind, rounds),
        256 => run::<{ slots_for(256) }>(256, kind, rounds),
        1024 => run::<{ slots_for(1024) }>(1024, kind, rounds),
        4096 => run::<{ slots_for(4096) }>(4096, kind, rounds),
        _ => {
            eprintln!("table_counts: FILTERS is one of 16, 64, 256, 1024, 4096");
            std::process::exit(2);
        }
    };
    match found {
        Some(n) => println!("{n} lookups answered as expected"),
        None => {
            eprintln!("table_counts: KIND is hit, miss or burst");
            std::process::exit(2);
        }
    }
}

/// Fills the table as the bench does and runs the lookups: how many of
/// them answered as they should (every one), or None for an unknown kind.
fn run<const S: usize>(n: usize, kind: &str, rounds: usize) -> Option<usize> {
    let mut t = Box::new(MacTable::<S>::new());
    for i in 0..n {
        assert!(t.insert(&spread_mac(i), 1 + i % 256), "claim {i} of {n}");
    }
    let (hits, misses) = table_keys(n);
    let answered = match kind {
        "hit" => lookups(&t, &hits, rounds, |h| matches!(h, Hit::One(_))),
        "miss" => lookups(&t, &misses, rounds, |h| h == Hit::Miss),
        "burst" => bursts(&t, &hits, rounds),
        _ => return None,
    };
    assert_eq!(
        answered,
        TABLE_KEYS * rounds,
        "every {kind} must answer as one"
    );
    Some(answered)
}

#[inline(never)]
fn lookups<const S: usize>(
    t: &MacTable<S>,
    keys: &[Mac],
    rounds: usize,
    want: fn(Hit) -> bool,
) -> usize {
    let mut n = 0;
    for _ in 0..rounds {
        for chunk in keys.chunks(32) {
            for m in chunk {
                n += usize::from(want(t.get(black_box(m))));
            }
        }
    }
    n
}

#[inline(never)]
fn bursts<const S: usize>(t: &MacTable<S>, keys: &[Mac], rounds: usize) -> usize {
    let mut out = [Hit::Miss; 32];
    let mut n = 0;
    for _ in 0..rounds {
        for chunk in keys.chunks(32) {
            t.get_burst(black_box(chunk), &mut out);
            n += out.iter().filter(|h| matches!(h, Hit::One(_))).count();
        }
    }
    n
}
