//! `cargo xtask bench --qemu`: the image's benchmark mode under `-icount`,
//! its instruction counts as a table and JSON, held to the checked-in
//! budget (docs/bench-budget.toml).

use crate::image::BuiltImage;
use crate::workspace_root;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sim_tests::qemu::{Ending, QemuRun};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The budget file, relative to the workspace.
pub const BUDGET_FILE: &str = "docs/bench-budget.toml";

/// Suffix of the budget key for a replicated path's cost per extra
/// destination (`<path>-per-extra-destination`).
pub const PER_EXTRA_DESTINATION: &str = "-per-extra-destination";

/// One `bench ...` line of the image.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Row {
    pub path: String,
    pub entries: u64,
    pub vfs: u64,
    pub destinations: u64,
    pub instructions_per_frame: u64,
    /// With a queue manager owning the rings (`-qm` paths): its DMA
    /// operations and bytes per frame, the work the core no longer does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineWork>,
}

/// A queue manager's share of a frame.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct EngineWork {
    pub moves_per_frame: f64,
    pub bytes_per_frame: u64,
}

impl Eq for EngineWork {}

/// The per-path figures derived from the rows.
#[derive(Clone, Debug, Serialize)]
pub struct PathFigure {
    /// Worst case over table sizes and VF counts (what the budget holds).
    pub worst: u64,
    pub best: u64,
    /// (worst - best) / best, in percent: the flatness goal's figure.
    pub spread_percent: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub rows: Vec<Row>,
    pub paths: BTreeMap<String, PathFigure>,
    /// Replicated paths (rows for several destination counts): extra
    /// instructions per additional destination, by path.
    pub per_extra_destination: BTreeMap<String, f64>,
    /// The main stack's deepest use in the bench run, and its size.
    pub stack_high_water: Option<u64>,
    pub stack_size: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetFile {
    /// The boards the budget was measured on and holds (the counts depend
    /// on the image's layout, so a board's own counts need its own check).
    #[serde(default)]
    boards: Vec<String>,
    /// Path name → most instructions per frame allowed.
    budget: BTreeMap<String, u64>,
}

/// Whether the budget file holds `board`'s counts; the boards it holds.
pub fn budget_holds(budget_toml: &str, board: &str) -> Result<(bool, Vec<String>)> {
    let file: BudgetFile = toml::from_str(budget_toml).context("reading the budget file")?;
    Ok((file.boards.iter().any(|b| b == board), file.boards))
}

fn field(words: &BTreeMap<&str, &str>, key: &str, line: &str) -> Result<u64> {
    words
        .get(key)
        .with_context(|| format!("bench line without {key}=: {line}"))?
        .parse()
        .with_context(|| format!("bench line with a bad {key}=: {line}"))
}

/// Parses one decoded log message; `None` if it is not a bench line.
pub fn parse_line(message: &str) -> Result<Option<Row>> {
    let Some(rest) = message.strip_prefix("bench path=") else {
        return Ok(None);
    };
    let line = format!("path={rest}");
    let words: BTreeMap<&str, &str> = line
        .split_ascii_whitespace()
        .filter_map(|w| w.split_once('='))
        .collect();
    Ok(Some(Row {
        path: words["path"].to_owned(),
        entries: field(&words, "entries", &line)?,
        vfs: field(&words, "vfs", &line)?,
        destinations: field(&words, "destinations", &line)?,
        instructions_per_frame: field(&words, "instructions_per_frame", &line)?,
        engine: match words.contains_key("engine_moves_x100") {
            true => Some(EngineWork {
                moves_per_frame: field(&words, "engine_moves_x100", &line)? as f64 / 100.0,
                bytes_per_frame: field(&words, "engine_bytes", &line)?,
            }),
            false => None,
        },
    }))
}

pub fn summarise(rows: Vec<Row>, stack: Option<(u64, u64)>) -> Report {
    let mut paths = BTreeMap::new();
    for r in &rows {
        // Replication is reported per destination, not as one path figure
        // that grows with the fan-out.
        if r.destinations > 1 {
            continue;
        }
        let e = paths.entry(r.path.clone()).or_insert(PathFigure {
            worst: 0,
            best: u64::MAX,
            spread_percent: 0.0,
        });
        e.worst = e.worst.max(r.instructions_per_frame);
        e.best = e.best.min(r.instructions_per_frame);
    }
    for e in paths.values_mut() {
        e.spread_percent = (e.worst - e.best) as f64 * 100.0 / e.best.max(1) as f64;
    }
    // Per extra destination: between the fewest and the most destinations
    // a path was measured with, the worst row at each.
    let mut fan: BTreeMap<&str, BTreeMap<u64, u64>> = BTreeMap::new();
    for r in &rows {
        let at = fan.entry(&r.path).or_default();
        let worst = at.entry(r.destinations).or_default();
        *worst = (*worst).max(r.instructions_per_frame);
    }
    let per_extra_destination = fan
        .into_iter()
        .filter(|(_, at)| at.keys().any(|&d| d > 1) && at.len() > 1)
        .map(|(path, at)| {
            let (d0, n0) = at
                .first_key_value()
                .map(|(d, n)| (*d, *n))
                .unwrap_or_default();
            let (d1, n1) = at
                .last_key_value()
                .map(|(d, n)| (*d, *n))
                .unwrap_or_default();
            let x = (n1 as f64 - n0 as f64) / (d1 - d0) as f64;
            (path.to_owned(), x)
        })
        .collect();
    Report {
        rows,
        paths,
        per_extra_destination,
        stack_high_water: stack.map(|s| s.0),
        stack_size: stack.map(|s| s.1),
    }
}

/// The budget of each core's instructions per frame in `mode=cores`,
/// held by the test suite's multi-core check (crate::cores), not by a
/// bench row.
pub const DATA_PATH_CORE: &str = "data-path-core";

/// Paths over budget, and paths the budget does not name.
pub fn check_budget(report: &Report, budget_toml: &str) -> Result<Vec<String>> {
    let file: BudgetFile = toml::from_str(budget_toml).context("reading the budget file")?;
    let mut problems = Vec::new();
    for (path, fig) in &report.paths {
        match file.budget.get(path) {
            Some(&max) if fig.worst > max => problems.push(format!(
                "{path}: {} instructions/frame, budget {max} (over by {})",
                fig.worst,
                fig.worst - max
            )),
            Some(_) => {}
            None => problems.push(format!("{path}: measured but has no budget")),
        }
    }
    for (path, &x) in &report.per_extra_destination {
        let key = format!("{path}{PER_EXTRA_DESTINATION}");
        match file.budget.get(&key) {
            Some(&max) if x > max as f64 => {
                problems.push(format!("{key}: {x:.1} instructions, budget {max}"))
            }
            Some(_) => {}
            None => problems.push(format!("{key}: measured but has no budget")),
        }
    }
    for path in file.budget.keys().filter(|k| *k != DATA_PATH_CORE) {
        let measured = match path.strip_suffix(PER_EXTRA_DESTINATION) {
            Some(p) => report.per_extra_destination.contains_key(p),
            None => report.paths.contains_key(path),
        };
        if !measured {
            problems.push(format!("{path}: has a budget but was not measured"));
        }
    }
    Ok(problems)
}

/// Parses "stack high-water mark: USED of SIZE bytes".
pub fn parse_stack_line(message: &str) -> Option<(u64, u64)> {
    let rest = message.strip_prefix("stack high-water mark: ")?;
    let (used, rest) = rest.split_once(" of ")?;
    let size = rest.strip_suffix(" bytes")?;
    Some((used.parse().ok()?, size.parse().ok()?))
}

/// What a bench run printed: the rows, and the stack's high-water mark.
pub struct Measured {
    pub rows: Vec<Row>,
    /// (bytes used at the deepest, stack size).
    pub stack: (u64, u64),
}

/// Boots the bench mode under `-icount shift=0 -smp 1` and collects its rows.
pub fn measure(built: &BuiltImage) -> Result<Measured> {
    let mut run = QemuRun::for_board(&built.board.config, &built.elf)?;
    run.append = Some("mode=bench".into());
    run.timeout = Some(Duration::from_secs(300));
    run.extra_args = ["-icount", "shift=0"].map(String::from).to_vec();
    // One CPU where the machine allows it (xlnx-versal-virt insists on 4;
    // the others stay powered off there).
    if !run.board_sets_smp() {
        run.extra_args.extend(["-smp".into(), "1".into()]);
    }
    // A run takes minutes under -icount: say which path it is on.
    eprintln!("bench: the image's bench mode under QEMU -icount (a few minutes)");
    let started = std::time::Instant::now();
    let mut last_path = String::new();
    let outcome = run.run(&workspace_root(), |l| {
        if let Ok(Some(r)) = parse_line(&l.message)
            && r.path != last_path
        {
            eprintln!(
                "bench: {} ({:.0} s in)",
                r.path,
                started.elapsed().as_secs_f64()
            );
            last_path = r.path;
        }
    })?;
    if outcome.ending != Ending::Exited(0) {
        bail!(
            "the bench mode ended {:?}:\n{}{}",
            outcome.ending,
            outcome.log_text(),
            outcome.stderr
        );
    }
    let mut rows = Vec::new();
    let mut stack = None;
    for l in &outcome.lines {
        if let Some(r) = parse_line(&l.message)? {
            rows.push(r);
        }
        stack = stack.or(parse_stack_line(&l.message));
    }
    if rows.is_empty() {
        bail!("the bench mode printed no figures:\n{}", outcome.log_text());
    }
    let Some(stack) = stack else {
        bail!("the bench mode did not report its stack high-water mark");
    };
    // All of it "used" means the paint never happened (or a real overflow,
    // which the guard page would have reported first).
    if stack.0 == 0 || stack.0 >= stack.1 {
        bail!(
            "implausible stack high-water mark: {} of {} bytes",
            stack.0,
            stack.1
        );
    }
    Ok(Measured { rows, stack })
}

pub fn print(report: &Report) {
    println!(
        "{:<26} {:>8} {:>8} {:>8}",
        "path", "entries", "VFs", "instr/frame"
    );
    for r in &report.rows {
        let what = if r.destinations > 1 {
            format!("{} x{}", r.path, r.destinations)
        } else {
            r.path.clone()
        };
        let engine = r.engine.map_or(String::new(), |e| {
            format!(
                "   queue manager: {:.2} moves, {} bytes",
                e.moves_per_frame, e.bytes_per_frame
            )
        });
        println!(
            "{what:<26} {:>8} {:>8} {:>8}{engine}",
            r.entries, r.vfs, r.instructions_per_frame
        );
    }
    println!();
    for (path, f) in &report.paths {
        println!(
            "{path}: {} instructions/frame (worst; best {}, spread {:.1}%)",
            f.worst, f.best, f.spread_percent
        );
    }
    for (path, x) in &report.per_extra_destination {
        println!("{path}: {x:.1} instructions per extra destination");
    }
    if let (Some(used), Some(size)) = (report.stack_high_water, report.stack_size) {
        println!("stack high-water mark: {used} of {size} bytes");
    }
}

/// Writes the report as JSON under target/bench/; returns the path.
pub fn write_json(report: &Report) -> Result<PathBuf> {
    let dir = crate::target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("instructions.json");
    std::fs::write(&path, serde_json::to_string_pretty(report)?)?;
    Ok(path)
}

pub fn read_budget() -> Result<String> {
    let path = workspace_root().join(BUDGET_FILE);
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// Host benches: (group, bench, baseline in the same group, what it is).
const HOST: [(&str, &str, Option<&str>, &str); 10] = [
    (
        "classifier",
        "firmware_lookup",
        Some("baseline_hashmap"),
        "classifier lookup, 128 entries",
    ),
    (
        "frame",
        "parse",
        Some("baseline_copy64"),
        "parse a 64-byte frame",
    ),
    (
        "path",
        "uplink_to_vf",
        Some("baseline_idle_poll"),
        "uplink -> VF ring, in-process",
    ),
    (
        "path",
        "vf_to_uplink",
        Some("baseline_idle_poll"),
        "VF ring -> uplink, in-process",
    ),
    (
        "path",
        "vf_to_vf",
        Some("baseline_idle_poll"),
        "VF -> VF (VEB), in-process",
    ),
    (
        "control",
        "mailbox_round_trip",
        None,
        "mailbox request and reply",
    ),
    ("control", "vf_reset_handshake", None, "VF reset handshake"),
    ("control", "flr", None, "FLR of a VF"),
    ("control", "enable_64_vfs", None, "sriov_numvfs = 64"),
    ("control", "enable_256_vfs", None, "sriov_numvfs = 256"),
];

fn mean_ns(group: &str, name: &str) -> Result<f64> {
    let path = crate::target_dir()
        .join("criterion")
        .join(group)
        .join(name)
        .join("new/estimates.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    v["mean"]["point_estimate"]
        .as_f64()
        .with_context(|| format!("{}: no mean.point_estimate", path.display()))
}

/// Runs the Criterion benches (`sim-tests/benches/host.rs`) and prints
/// each figure with its ratio to the baseline measured in the same run.
pub fn host() -> Result<()> {
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .current_dir(workspace_root())
        .args(["bench", "-p", "sim-tests", "--bench", "host", "--"])
        .args(["--warm-up-time", "1", "--measurement-time", "3"])
        .status()
        .context("running cargo bench")?;
    if !status.success() {
        bail!("the host benches failed");
    }
    println!();
    println!(
        "{:<34} {:>12} {:>14} {:>22}",
        "bench", "mean", "per second", "vs baseline"
    );
    for (group, name, baseline, what) in HOST {
        let ns = mean_ns(group, name)?;
        let ratio = match baseline {
            Some(b) => format!("{:.2}x {b}", ns / mean_ns(group, b)?),
            None => String::new(),
        };
        let mean = if ns < 1_000.0 {
            format!("{ns:.1} ns")
        } else {
            format!("{:.2} us", ns / 1_000.0)
        };
        println!(
            "{:<34} {mean:>12} {:>14.0} {ratio:>26}  {what}",
            format!("{group}/{name}"),
            1e9 / ns
        );
    }
    table_at_capacity()?;
    let report = crate::target_dir().join("criterion/report/index.html");
    if !report.is_file() {
        bail!("Criterion wrote no HTML report at {}", report.display());
    }
    println!(
        "\nHTML report (plots per bench, change since the last run): {}",
        report.display()
    );
    Ok(())
}

/// The unicast table's sizes the host bench fills to capacity.
const TABLE_SIZES: [u32; 5] = [16, 64, 256, 1024, 4096];
/// The goal: time per lookup flat within 20% over those sizes.
const FLAT_WITHIN: f64 = 0.20;

/// Time per lookup of the unicast table at each size, and how flat it is.
fn table_at_capacity() -> Result<()> {
    println!("\nunicast table filled to capacity (ns per lookup, 32 per iteration):");
    println!(
        "{:>8} {:>8} {:>8} {:>10}",
        "filters", "hit", "miss", "burst hit"
    );
    const KINDS: [&str; 3] = ["hit", "miss", "burst32_hit"];
    // ns[kind][size], each estimate read once.
    let ns: Vec<Vec<f64>> = KINDS
        .iter()
        .map(|kind| {
            TABLE_SIZES
                .iter()
                .map(|n| mean_ns("mac_table", &format!("{kind}_{n}")).map(|t| t / 32.0))
                .collect::<Result<_>>()
        })
        .collect::<Result<_>>()?;
    for (i, n) in TABLE_SIZES.iter().enumerate() {
        println!(
            "{n:>8} {:>8.2} {:>8.2} {:>10.2}",
            ns[0][i], ns[1][i], ns[2][i]
        );
    }
    for (kind, row) in KINDS.iter().zip(&ns) {
        let lo = row.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = row.iter().cloned().fold(0.0, f64::max);
        let spread = hi / lo - 1.0;
        println!(
            "  {kind}: {lo:.2}..{hi:.2} ns, spread {:.0}% (goal: within {:.0}%): {}",
            spread * 100.0,
            FLAT_WITHIN * 100.0,
            if spread <= FLAT_WITHIN {
                "met"
            } else {
                "missed"
            }
        );
    }
    println!("  DPDK rte_hash peer: {}", dpdk_peer_status());
    table_counts()
}

/// The same lookups counted by cachegrind (`sim-tests/examples/
/// table_counts.rs`): instructions and simulated L1 data misses per
/// lookup, the same on every run, where wall-clock medians on a shared
/// machine move by as much as the sizes differ. Each figure is the
/// difference between three rounds over the 4096 keys and one, over the
/// two rounds' lookups, so the table's filling and the keys' set-up drop
/// out. Skipped, and said, without valgrind.
fn table_counts() -> Result<()> {
    if !crate::setup::have("valgrind") {
        println!("  cachegrind counts: valgrind not installed (Debian: valgrind): skipped");
        return Ok(());
    }
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .current_dir(workspace_root())
        .args([
            "build",
            "-q",
            "--release",
            "-p",
            "sim-tests",
            "--example",
            "table_counts",
        ])
        .status()
        .context("building the table_counts example")?;
    if !status.success() {
        bail!("building sim-tests' table_counts example failed");
    }
    let exe = crate::target_dir().join("release/examples/table_counts");
    println!(
        "
the same lookups under cachegrind (per lookup: instructions, L1 data misses):"
    );
    println!(
        "{:>8} {:>16} {:>16} {:>16}",
        "filters", "hit", "miss", "burst hit"
    );
    const KINDS: [&str; 3] = ["hit", "miss", "burst"];
    let mut rows = Vec::new();
    for n in TABLE_SIZES {
        let mut row = Vec::new();
        for kind in KINDS {
            let one = cachegrind(&exe, n, kind, 1)?;
            let three = cachegrind(&exe, n, kind, 3)?;
            let lookups = 2.0 * sim_tests::frames::TABLE_KEYS as f64;
            row.push((
                (three.0 - one.0) as f64 / lookups,
                (three.1 - one.1) as f64 / lookups,
            ));
        }
        println!(
            "{n:>8} {:>9.1} {:>6.3} {:>9.1} {:>6.3} {:>9.1} {:>6.3}",
            row[0].0, row[0].1, row[1].0, row[1].1, row[2].0, row[2].1
        );
        rows.push(row);
    }
    for (k, kind) in KINDS.iter().enumerate() {
        let ir: Vec<f64> = rows.iter().map(|r| r[k].0).collect();
        let lo = ir.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = ir.iter().cloned().fold(0.0, f64::max);
        println!(
            "  {kind}: {lo:.1}..{hi:.1} instructions a lookup, spread {:.0}%",
            (hi / lo - 1.0) * 100.0
        );
    }
    Ok(())
}

/// Instructions and L1 data misses (reads and writes) of one run of
/// `table_counts` under cachegrind, read from its summary.
fn cachegrind(exe: &std::path::Path, n: u32, kind: &str, rounds: usize) -> Result<(u64, u64)> {
    let out = std::process::Command::new("valgrind")
        .args([
            "--tool=cachegrind",
            "--cache-sim=yes",
            "--cachegrind-out-file=/dev/null",
        ])
        .arg(exe)
        .args([n.to_string(), kind.to_string(), rounds.to_string()])
        .output()
        .context("running valgrind")?;
    let text = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("table_counts {n} {kind} {rounds} under cachegrind failed:\n{text}");
    }
    cachegrind_summary(&text)
}

/// `I refs` and `D1 misses` of a cachegrind summary (`==PID== NAME: N,NNN
/// ...` lines on stderr).
fn cachegrind_summary(text: &str) -> Result<(u64, u64)> {
    let field = |name: &str| -> Result<u64> {
        text.lines()
            .find_map(|l| {
                let rest = l.split_once("== ")?.1.trim_start();
                let value = rest.strip_prefix(name)?.trim_start();
                let first = value.split_whitespace().next()?;
                first.replace(',', "").parse().ok()
            })
            .with_context(|| format!("cachegrind printed no `{name}` line:\n{text}"))
    };
    Ok((field("I   refs:")?, field("D1  misses:")?))
}

/// Why the DPDK peer (a C harness against Debian's libdpdk-dev) did not
/// run: it is measured only where libdpdk is installed, and this project
/// does not install it (on this machine Debian's libdpdk-dev brings 217
/// packages and upgrades systemd; see docs/performance.md).
fn dpdk_peer_status() -> String {
    let found = std::process::Command::new("pkg-config")
        .args(["--exists", "libdpdk"])
        .status()
        .is_ok_and(|s| s.success());
    if found {
        "libdpdk is installed, but the C harness is not written yet: skipped".into()
    } else {
        "skipped: libdpdk-dev is not installed (pkg-config finds no libdpdk)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cachegrind_summaries_are_read() {
        let text = "==24431== Cachegrind, a cache and branch-prediction profiler\n\
                    ==24431== I   refs:      1,831,699\n\
                    ==24431== I1  misses:        1,484\n\
                    ==24431== D   refs:        385,740  (237,436 rd   + 148,304 wr)\n\
                    ==24431== D1  misses:        9,188  (  6,754 rd   +   2,434 wr)\n\
                    ==24431== LLd misses:        4,008  (  1,637 rd   +   2,371 wr)\n";
        assert_eq!(cachegrind_summary(text).unwrap(), (1_831_699, 9_188));
        let err = cachegrind_summary("==1== I   refs:      12\n").unwrap_err();
        assert!(format!("{err:#}").contains("D1  misses:"), "{err:#}");
    }

    fn row(path: &str, entries: u64, dests: u64, n: u64) -> Row {
        Row {
            path: path.into(),
            entries,
            vfs: 8,
            destinations: dests,
            instructions_per_frame: n,
            engine: None,
        }
    }

    #[test]
    fn parses_the_stack_line() {
        assert_eq!(
            parse_stack_line("stack high-water mark: 1672 of 131072 bytes"),
            Some((1672, 131072))
        );
        assert_eq!(parse_stack_line("stack high-water mark: lots"), None);
    }

    #[test]
    fn parses_a_bench_line_and_ignores_others() {
        let r = parse_line(
            "bench path=vf-tx-decision entries=16 vfs=8 destinations=1 instructions_per_frame=57",
        )
        .unwrap()
        .unwrap();
        assert_eq!(r, row("vf-tx-decision", 16, 1, 57));
        assert_eq!(parse_line("bench done").unwrap(), None);
        assert!(parse_line("bench path=x entries=16").is_err());
    }

    #[test]
    fn worst_case_spread_and_per_destination_cost() {
        let rep = summarise(
            vec![
                row("a", 16, 1, 50),
                row("a", 4096, 1, 55),
                row("wire-broadcast-decision", 16, 1, 40),
                row("wire-broadcast-decision", 16, 9, 120),
            ],
            None,
        );
        assert_eq!(rep.paths["a"].worst, 55);
        assert!((rep.paths["a"].spread_percent - 10.0).abs() < 1e-9);
        assert_eq!(rep.paths["wire-broadcast-decision"].worst, 40);
        assert_eq!(rep.per_extra_destination["wire-broadcast-decision"], 10.0);
        assert!(!rep.per_extra_destination.contains_key("a"));
    }

    #[test]
    fn budget_names_the_boards_it_holds() {
        let text = "boards = [\"qemu-virt\"]\n[budget]\na = 1\n";
        assert_eq!(
            budget_holds(text, "qemu-virt").unwrap(),
            (true, vec!["qemu-virt".to_owned()])
        );
        assert!(!budget_holds(text, "vck190").unwrap().0);
        let real = read_budget().unwrap();
        assert!(budget_holds(&real, "qemu-virt").unwrap().0);
        assert!(budget_holds(&real, "qemu-virt-256vf").unwrap().0);
    }

    #[test]
    fn budget_reports_overruns_and_unbudgeted_paths() {
        let rep = summarise(vec![row("a", 16, 1, 81), row("b", 16, 1, 10)], None);
        let p = check_budget(&rep, "[budget]\na = 80\nc = 5\n").unwrap();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("over by 1"));
        assert!(p.iter().any(|s| s.starts_with("b:")));
        assert!(p.iter().any(|s| s.starts_with("c:")));
        assert!(
            check_budget(&rep, "[budget]\na = 81\nb = 10\n")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn replicated_paths_without_a_single_destination_row() {
        // The full broadcast is measured at 9 and 65 destinations (8 and 64
        // VFs plus the PF), at two table sizes each: the worst counts.
        let rep = summarise(
            vec![
                row("uplink-broadcast", 8, 9, 4000),
                row("uplink-broadcast", 368, 9, 4010),
                row("uplink-broadcast", 64, 65, 26400),
                row("uplink-broadcast", 2048, 65, 26410),
            ],
            None,
        );
        assert!(!rep.paths.contains_key("uplink-broadcast"));
        assert_eq!(rep.per_extra_destination["uplink-broadcast"], 400.0);
    }

    #[test]
    fn replication_cost_is_held_to_its_own_budget() {
        let rep = summarise(
            vec![
                row("wire-broadcast-decision", 16, 1, 40),
                row("wire-broadcast-decision", 16, 9, 200),
            ],
            None,
        );
        let over = check_budget(
            &rep,
            "[budget]\nwire-broadcast-decision = 40\nwire-broadcast-decision-per-extra-destination = 19\n",
        )
        .unwrap();
        assert_eq!(over.len(), 1, "{over:?}");
        assert!(over[0].contains("20.0 instructions, budget 19"));
    }
}
