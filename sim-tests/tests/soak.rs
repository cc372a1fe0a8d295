//! The soak engine in-process: a few hundred steps pass every check, and
//! a seed replays the same run.

use sim_tests::sim::Sim;
use sim_tests::soak::{self, SoakOptions, SoakReport};
use std::time::Duration;

fn soak(seed: u64, steps: u64) -> SoakReport {
    let mut sim = Sim::with_board_capacities();
    let opts = SoakOptions {
        seed,
        duration: Duration::from_secs(600),
        max_steps: Some(steps),
        vfs: 8,
    };
    soak::run(&mut sim, &opts, |_| true).expect("the soak sets up")
}

#[test]
fn a_short_soak_passes_every_check() {
    for seed in [1, 2, 3] {
        let r = soak(seed, 400);
        assert!(r.failure.is_none(), "seed {seed}: {:?}\n{r}", r.failure);
        assert_eq!(r.steps, 400);
        assert!(r.frames > 0 && r.ops > 0 && r.delivered > 0, "{r}");
    }
}

#[test]
fn a_seed_replays_the_same_run() {
    let (a, b) = (soak(7, 150), soak(7, 150));
    assert_eq!(
        (
            a.frames,
            a.delivered,
            a.ops,
            &a.kinds,
            &a.op_counts,
            &a.drops
        ),
        (
            b.frames,
            b.delivered,
            b.ops,
            &b.kinds,
            &b.op_counts,
            &b.drops
        )
    );
    let c = soak(8, 150);
    assert_ne!(
        (a.frames, a.delivered, &a.op_counts),
        (c.frames, c.delivered, &c.op_counts)
    );
}
