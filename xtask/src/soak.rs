//! `cargo xtask soak`: the soak engine (`sim_tests::soak`) in-process or
//! against the image under QEMU, for a number of minutes; a failure
//! prints the command that replays it and exits 1.

use crate::image::{self, ImageArgs};
use crate::{interrupt, setup, workspace_root};
use anyhow::{Result, bail};
use sim_tests::soak::{self, SoakOptions, SoakReport};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct SoakArgs {
    /// How long to run, in minutes of wall-clock time (in-process the
    /// device's own time is simulated).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_080))]
    pub minutes: u64,
    /// Against the firmware image under QEMU (real time) instead of
    /// in-process (deterministic).
    #[arg(long)]
    pub qemu: bool,
    /// The seed of every choice (default: one from the clock, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop after this step: with --seed, replays a run up to where it
    /// failed.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: Option<u64>,
    /// The data path across this many cores instead (host threads, one
    /// a core: `firmware::cores`, random rounds checked for loss,
    /// duplicates and order; not the device's soak).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=4), conflicts_with_all = ["qemu", "steps"])]
    pub cores: Option<u8>,
    /// VFs enabled at most (the soak enables and disables them).
    #[arg(long, default_value_t = DEFAULT_VFS, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub vfs: u16,
    /// The image's build and board (with --qemu).
    #[command(flatten)]
    pub image: ImageArgs,
}

/// How often a line of progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// A seed from the clock, for a run not asked to replay one.
pub fn clock_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // Seconds and nanoseconds folded: small enough to type back.
    (t.as_secs() ^ u64::from(t.subsec_nanos()) << 20) % 1_000_000_000
}

/// The command that runs the same soak again (`minutes`, `vfs`, `qemu`
/// as given), up to `steps`.
pub fn replay_command(
    seed: u64,
    (minutes, vfs, qemu): (u64, u16, bool),
    steps: Option<u64>,
) -> String {
    let mut cmd = format!("cargo xtask soak --seed {seed} --minutes {minutes}");
    if let Some(s) = steps {
        cmd += &format!(" --steps {s}");
    }
    if vfs != DEFAULT_VFS {
        cmd += &format!(" --vfs {vfs}");
    }
    if qemu {
        cmd += " --qemu";
    }
    cmd
}

/// VFs the soak enables at most, unless told.
pub const DEFAULT_VFS: u16 = 8;

pub fn run(args: &SoakArgs) -> Result<ExitCode> {
    let seed = args.seed.unwrap_or_else(clock_seed);
    if let Some(cores) = args.cores {
        return across_cores(
            seed,
            usize::from(cores),
            Duration::from_secs(args.minutes * 60),
        );
    }
    let opts = SoakOptions {
        seed,
        duration: Duration::from_secs(args.minutes * 60),
        max_steps: args.steps,
        vfs: args.vfs,
    };
    interrupt::install()?;
    println!(
        "soak: seed {seed}, {} minute(s){}, up to {} VFs, {}",
        args.minutes,
        args.steps
            .map_or(String::new(), |s| format!(" or {s} steps")),
        args.vfs,
        if args.qemu {
            "the image under QEMU (real time)"
        } else {
            "in-process (deterministic)"
        }
    );
    let how = (args.minutes, args.vfs, args.qemu);
    println!("    replay: {}", replay_command(seed, how, None));
    let report = if args.qemu {
        in_qemu(args, &opts)?
    } else {
        let mut sim = sim_tests::sim::Sim::with_board_capacities();
        soak::run(&mut sim, &opts, progress())?
    };
    println!("{report}");
    match &report.failure {
        None if interrupt::received().is_some() => {
            println!(
                "stopped by a signal after step {}: no failure",
                report.steps
            );
            interrupt::check()?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            println!("soak passed: seed {seed}, every check held after every step");
            Ok(ExitCode::SUCCESS)
        }
        Some(f) => {
            println!("FAILED at step {}: {}", f.step, f.action);
            println!("    {}", f.message);
            println!(
                "    replay: {}{}",
                replay_command(seed, how, Some(f.step)),
                if args.qemu {
                    " (under QEMU the same choices, in real time: it may not fail the same way)"
                } else {
                    ""
                }
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Prints a line every [`PROGRESS_EVERY`]; stops the run on Ctrl-C.
fn progress() -> impl FnMut(&SoakReport) -> bool {
    let mut last = Instant::now();
    move |r| {
        if last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            eprintln!(
                "    {:.0} s: {} steps, {} frames, {} operations",
                r.elapsed.as_secs_f64(),
                r.steps,
                r.frames,
                r.ops
            );
        }
        interrupt::received().is_none()
    }
}

fn in_qemu(args: &SoakArgs, opts: &SoakOptions) -> Result<SoakReport> {
    use sim_tests::cosim::{CoSim, CoSimOptions, Wire};
    let mut image = args.image.clone();
    image.release |= !image.debug;
    let built = image::build(&image)?;
    setup::ensure_qemu()?;
    let mut copts = CoSimOptions::quiet(Wire::Udp);
    // The run, and time to boot and to shut down.
    copts.timeout = opts.duration + Duration::from_secs(300);
    let mut dev = CoSim::start(&built.board.config, &built.elf, &workspace_root(), copts)?;
    let result = soak::run(&mut dev, opts, progress());
    let failed = !matches!(&result, Ok(r) if r.failure.is_none());
    if failed {
        dev.stop();
    }
    let stalled = dev.stalled;
    let outcome = dev.finish()?;
    let report = result?;
    if stalled && !failed {
        bail!(
            "the firmware stopped answering (heartbeat):\n{}",
            outcome.log_text()
        );
    }
    if !failed && !sim_tests::cosim::clean_exit(&outcome) {
        bail!(
            "the firmware did not exit cleanly ({:?}):\n{}{}",
            outcome.ending,
            outcome.log_text(),
            outcome.stderr
        );
    }
    if failed {
        // The firmware's last words, for the failure printed next.
        let log = outcome.log_text();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        for line in tail.iter().rev() {
            println!("    | {line}");
        }
    }
    Ok(report)
}

/// `--cores N`: the data path across N cores on host threads
/// (`sim_tests::cores_soak`), with a progress line every 10 seconds.
pub fn across_cores(seed: u64, cores: usize, duration: Duration) -> Result<ExitCode> {
    use sim_tests::cores_soak::{Options, run};
    println!(
        "soak across {cores} cores: seed {seed}, {:.0} s, host threads (firmware::cores)",
        duration.as_secs_f64()
    );
    let mut last = std::time::Instant::now();
    let opts = Options {
        seed,
        duration,
        cores,
        max_rounds: None,
    };
    match run(&opts, |r| {
        if last.elapsed() >= PROGRESS_EVERY {
            last = std::time::Instant::now();
            println!(
                "  {} rounds, {} frames ({:.0}/min), {} handed between cores",
                r.rounds,
                r.frames,
                r.frames_per_minute(),
                r.handed_off
            );
        }
    }) {
        Ok(r) => {
            println!(
                "soak passed: {} rounds, {} frames ({:.0}/min), {} handed between cores, {} waits on a full ring; nothing lost, twice, misdirected or out of order",
                r.rounds,
                r.frames,
                r.frames_per_minute(),
                r.handed_off,
                r.waits
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("FAILED: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_command_carries_what_the_run_needs() {
        assert_eq!(
            replay_command(42, (5, DEFAULT_VFS, false), Some(17)),
            "cargo xtask soak --seed 42 --minutes 5 --steps 17"
        );
        assert_eq!(
            replay_command(7, (1, 3, true), None),
            "cargo xtask soak --seed 7 --minutes 1 --vfs 3 --qemu"
        );
    }
}
