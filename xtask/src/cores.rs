//! `cargo xtask bench --qemu --cores`: the image's `mode=cores` (the data
//! path across cores) under QEMU with `-smp N` for N = 1, 2 and 4 (up to
//! the board's `cpu.data_path_cores`), twice each:
//! - multi-threaded TCG (a host thread a core): frames per second, per
//!   core and in all, over one second of the guest's counter;
//! - `-icount shift=0` (one thread, the PMU counting): each core's
//!   instructions per frame, the median of its bursts.
//!
//! Every run checks itself (nothing lost, twice or reordered) and fails
//! otherwise; so does this command.

use anyhow::{Context, Result, bail};
use sim_tests::qemu::{Ending, QemuRun};
use std::time::Duration;

use crate::image::BuiltImage;

/// What one core reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CoreRow {
    pub core: usize,
    pub taken: u64,
    pub delivered: u64,
    pub handed_off: u64,
    pub stalls: u64,
    pub instructions_per_frame: Option<u64>,
}

/// One run at N cores.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    pub cores: usize,
    pub rows: Vec<CoreRow>,
    pub frames: u64,
    pub elapsed_us: Option<u64>,
    pub frames_per_second: Option<u64>,
}

/// `key=value` of a line, as a number.
fn field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

/// Reads the `cores n=...` lines of one run.
pub fn parse(lines: &[String]) -> Result<Run> {
    let mut run = Run::default();
    for l in lines {
        let Some(rest) = l.find("cores n=").map(|i| &l[i..]) else {
            continue;
        };
        run.cores = field(rest, "n").context("a cores line without n=")? as usize;
        if let Some(core) = field(rest, "core") {
            let core = core as usize;
            if run.rows.len() <= core {
                run.rows.resize(core + 1, CoreRow::default());
            }
            let row = &mut run.rows[core];
            row.core = core;
            if let Some(m) = field(rest, "instructions_per_frame_median") {
                row.instructions_per_frame = Some(m);
            } else {
                row.taken = field(rest, "taken").context("taken=")?;
                row.delivered = field(rest, "delivered").context("delivered=")?;
                row.handed_off = field(rest, "handed_off").context("handed_off=")?;
                row.stalls = field(rest, "stalls").context("stalls=")?;
            }
        } else if let Some(frames) = field(rest, "frames") {
            run.frames = frames;
            run.elapsed_us = field(rest, "elapsed_us");
            run.frames_per_second = field(rest, "frames_per_second");
        }
    }
    if run.cores == 0 || run.rows.len() != run.cores || run.frames == 0 {
        bail!(
            "mode=cores printed no complete report:\n{}",
            lines.join("\n")
        );
    }
    Ok(run)
}

/// Boots `mode=cores` on `cores` cores, timed (multi-threaded TCG) or
/// counted (`-icount`).
pub fn run_once(built: &BuiltImage, cores: usize, counted: bool) -> Result<Run> {
    let mut run = QemuRun::for_board(&built.board.config, &built.elf)?;
    run.append = Some("mode=cores".into());
    run.timeout = Some(Duration::from_secs(120));
    run.extra_args = vec!["-smp".into(), cores.to_string()];
    if counted {
        run.extra_args.extend(["-icount".into(), "shift=0".into()]);
    } else {
        // The default for an AArch64 guest on an x86-64 host; said so
        // that a QEMU which defaults otherwise still runs a thread a core.
        run.extra_args
            .extend(["-accel".into(), "tcg,thread=multi".into()]);
    }
    let outcome = run.run(&crate::workspace_root(), |_| {})?;
    if outcome.ending != Ending::Exited(0) {
        bail!(
            "mode=cores on {cores} cores ({}) ended {:?}:\n{}{}",
            if counted { "-icount" } else { "multi-threaded" },
            outcome.ending,
            outcome.log_text(),
            outcome.stderr
        );
    }
    if !outcome.logged("nothing lost, duplicated or reordered") {
        bail!(
            "mode=cores on {cores} cores did not report its checks:\n{}",
            outcome.log_text()
        );
    }
    let lines: Vec<String> = outcome.lines.iter().map(|l| l.message.clone()).collect();
    let r = parse(&lines)?;
    if r.cores != cores {
        bail!(
            "asked for {cores} cores, the image ran on {}:\n{}",
            r.cores,
            outcome.log_text()
        );
    }
    Ok(r)
}

/// Core counts to run: 1, 2, 4, up to what the board names.
pub fn counts(board_cores: usize) -> Vec<usize> {
    [1, 2, 4]
        .into_iter()
        .filter(|&n| n <= board_cores)
        .collect()
}

/// The whole measurement, printed.
pub fn bench(built: &BuiltImage) -> Result<()> {
    let board_cores = usize::from(built.board.config.cpu.data_path_cores);
    if board_cores < 2 {
        println!(
            "board {}: cpu.data_path_cores = {board_cores}: nothing to spread over",
            built.board.config.board.name
        );
    }
    println!(
        "the data path across cores (mode=cores; this machine has {} host cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:>5} {:>14} {:>12} {:>16} {:>10} {:>8}",
        "cores", "frames/s", "per core", "instr/frame", "handed", "stalls"
    );
    let mut one = None;
    for n in counts(board_cores) {
        let timed = run_once(built, n, false)?;
        let counted = run_once(built, n, true)?;
        let fps = timed.frames_per_second.unwrap_or(0);
        one.get_or_insert(fps);
        let per_core: Vec<String> = counted
            .rows
            .iter()
            .map(|r| {
                r.instructions_per_frame
                    .map_or("-".into(), |i| i.to_string())
            })
            .collect();
        let handed: u64 = timed.rows.iter().map(|r| r.handed_off).sum();
        let stalls: u64 = timed.rows.iter().map(|r| r.stalls).sum();
        println!(
            "{n:>5} {fps:>14} {:>12} {:>16} {:>9.0}% {stalls:>8}",
            fps / n as u64,
            per_core.join("/"),
            handed as f64 * 100.0 / timed.frames.max(1) as f64
        );
        for r in &timed.rows {
            println!(
                "      core {}: {} frames taken, {} delivered",
                r.core, r.taken, r.delivered
            );
        }
        if let Some(base) = one.filter(|&b| b > 0 && n > 1) {
            println!("      {:.2}x one core", fps as f64 / base as f64);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_timed_and_a_counted_report() {
        let timed: Vec<String> = [
            "cores n=2 core=0 laps=3 taken=10 delivered=12 handed_off=4 stalls=1 out_of_order=0 not_owner=0 wrong_function=0",
            "cores n=2 core=1 laps=3 taken=14 delivered=12 handed_off=6 stalls=0 out_of_order=0 not_owner=0 wrong_function=0",
            "cores n=2 filters=128 frames=24 handed_off=10 elapsed_us=1000 frames_per_second=24000",
        ]
        .map(String::from)
        .to_vec();
        let r = parse(&timed).unwrap();
        assert_eq!(r.cores, 2);
        assert_eq!(r.frames_per_second, Some(24000));
        assert_eq!(r.rows[1].taken, 14);
        assert_eq!(r.rows[0].stalls, 1);
        let mut counted = timed.clone();
        counted.insert(
            1,
            "cores n=2 core=0 bursts=9 instructions_per_frame_median=124".into(),
        );
        assert_eq!(
            parse(&counted).unwrap().rows[0].instructions_per_frame,
            Some(124)
        );
        assert!(parse(&timed[..1]).is_err(), "no total line");
        assert_eq!(counts(4), [1, 2, 4]);
        assert_eq!(counts(3), [1, 2]);
    }
}
