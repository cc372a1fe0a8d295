//! `cargo xtask fuzz`: each fuzz target for a fixed time, a campaign that
//! keeps a minimised corpus, a crash's replay, and the corpus's coverage of
//! the firmware (cargo fuzz, on the nightly toolchain; the project itself
//! stays on the pinned stable).

use crate::workspace_root;
use anyhow::{Context, Result, bail, ensure};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const TARGETS: [&str; 8] = [
    "mailbox",
    "admin",
    "frames",
    "rings",
    "window",
    "vfio_user",
    "board_config",
    "scenario",
];

/// The targets that drive the firmware's device logic (the others fuzz
/// the vfio-user decoding and the TOML parsers): their corpora are what
/// `--coverage` measures the firmware with.
pub const FIRMWARE_TARGETS: [&str; 5] = ["mailbox", "admin", "frames", "rings", "window"];

/// The cargo-fuzz this project is tested with (installed when missing).
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// No sanitizer: the firmware and the decoders are safe Rust (no `unsafe`;
/// bounds and overflow are Rust's own checks, and a panic is the finding),
/// and AddressSanitizer cost 3.5 times the executions (docs/robustness.md).
const SANITIZER: [&str; 2] = ["--sanitizer", "none"];

/// Installs cargo-fuzz from crates.io when it is missing.
pub fn ensure_cargo_fuzz() -> Result<()> {
    let have = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if have {
        return Ok(());
    }
    eprintln!("cargo-fuzz not found: installing {CARGO_FUZZ_VERSION} from crates.io");
    let st = Command::new("cargo")
        .args([
            "install",
            "cargo-fuzz",
            "--locked",
            "--version",
            CARGO_FUZZ_VERSION,
        ])
        .status()
        .context("running cargo install")?;
    if !st.success() {
        bail!("`cargo install cargo-fuzz --locked --version {CARGO_FUZZ_VERSION}` failed");
    }
    Ok(())
}

fn fuzz_dir() -> PathBuf {
    workspace_root().join("fuzz")
}

/// The checked-in corpus of `target`.
pub fn corpus_dir(target: &str) -> PathBuf {
    fuzz_dir().join("corpus").join(target)
}

/// `cargo +nightly ...` in the fuzz workspace: nightly whatever toolchain
/// runs xtask, and its own target directory (fuzz/target: nightly builds
/// with other flags have nothing to share with the workspace's, and the
/// coverage binaries are looked for there).
fn nightly_cargo() -> Command {
    let mut c = Command::new("cargo");
    c.current_dir(fuzz_dir())
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO_TARGET_DIR")
        .arg("+nightly");
    c
}

/// Targets run without comparison tracing (cargo-fuzz's
/// `--no-trace-compares`): a callback on every comparison was a third of
/// `window`'s time, and without them it ran a third more executions and
/// reached as many edges from an empty corpus (docs/robustness.md). They
/// are built in a target directory of their own, so that the other
/// targets' build keeps its flags and is not rebuilt in turn.
pub const NO_TRACE_COMPARES: [&str; 1] = ["window"];

/// `cargo +nightly fuzz SUBCOMMAND --release -s none TARGET`.
fn cargo_fuzz(sub: &str, target: &str) -> Command {
    let mut c = nightly_cargo();
    c.args(["fuzz", sub, "--release"]).args(SANITIZER);
    if sub == "run" && NO_TRACE_COMPARES.contains(&target) {
        c.arg("--no-trace-compares")
            .arg("--target-dir")
            .arg(fuzz_dir().join("target").join("no-trace-compares"));
    }
    c.arg(target);
    c
}

/// libFuzzer's `-max_len` for every run of this process (`--max-len`).
static MAX_LEN: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// Caps every input at `n` bytes (libFuzzer's `-max_len`): shorter inputs
/// run faster and explore less per input.
pub fn set_max_len(n: u32) {
    let _ = MAX_LEN.set(n);
}

/// How long a run goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    Seconds(u64),
    Runs(u64),
}

impl Budget {
    fn flag(self) -> String {
        match self {
            Budget::Seconds(s) => format!("-max_total_time={s}"),
            Budget::Runs(n) => format!("-runs={n}"),
        }
    }
}

/// One target's run, from libFuzzer's own final statistics.
#[derive(Debug, Default)]
pub struct FuzzRun {
    pub executions: u64,
    /// libFuzzer's `stat::average_exec_per_sec` (executions over the run's
    /// wall time).
    pub exec_per_sec: u64,
    /// Coverage edges (`cov:` of the last status line).
    pub edges: u64,
    /// Inputs added to the corpus (`stat::new_units_added`).
    pub new_inputs: u64,
    pub crashed: bool,
    /// The crashing input libFuzzer wrote, if it did.
    pub reproducer: Option<PathBuf>,
    pub output: String,
}

impl FuzzRun {
    /// Whether libFuzzer ran at all: it prints `INFO: Seed:` first. A
    /// failed build or a failed start leaves the process failed without
    /// it, and is no crash of the target.
    pub fn started(&self) -> bool {
        self.output.contains("INFO: Seed:")
    }

    /// `executions, exec/s, edges, new inputs` in one line.
    pub fn summary(&self) -> String {
        format!(
            "{} executions, {} exec/s, {} edges, {} new inputs",
            self.executions, self.exec_per_sec, self.edges, self.new_inputs
        )
    }
}

/// Runs `target` within `budget` on its checked-in corpus; new inputs go to
/// a scratch directory, emptied first (the checked-in seeds only change
/// when a campaign merges). Emptied, because libFuzzer first runs every
/// input it is given and counts that time in its rate: a scratch corpus
/// grown over earlier rounds to thousands of inputs made a 10-second
/// round's rate a measure of its loading, not of the target.
pub fn run(target: &'static str, budget: Budget) -> Result<FuzzRun> {
    let scratch = crate::target_dir().join("fuzz-corpus").join(target);
    let _ = std::fs::remove_dir_all(&scratch);
    run_into(target, budget, &scratch)
}

fn run_into(target: &str, budget: Budget, scratch: &Path) -> Result<FuzzRun> {
    ensure_cargo_fuzz()?;
    let corpus = corpus_dir(target);
    std::fs::create_dir_all(&corpus)?;
    std::fs::create_dir_all(scratch)?;
    let mut child = cargo_fuzz("run", target)
        .arg(scratch)
        .arg(&corpus)
        .args([
            "--",
            // One process (no -jobs/-fork): the rates are one core's, and
            // a crash stops the run.
            &budget.flag(),
            "-rss_limit_mb=2048",
            "-print_final_stats=1",
        ])
        .args(MAX_LEN.get().map(|n| format!("-max_len={n}")))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running cargo +nightly fuzz run {target}"))?;
    // libFuzzer and cargo talk on stderr: the build's progress and
    // libFuzzer's status lines are shown as they come, everything kept for
    // a crash report.
    let stdout = child.stdout.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut { stdout }, &mut s);
        s
    });
    let mut output = String::new();
    for line in BufReader::new(child.stderr.take().expect("piped"))
        .lines()
        .map_while(|l| l.ok())
    {
        if shows_progress(&line) {
            eprintln!("    {target}: {}", line.trim());
        }
        output.push_str(&line);
        output.push('\n');
    }
    let status = child.wait()?;
    output.push_str(&out_reader.join().unwrap_or_default());
    let mut r = parse_output(&output);
    r.crashed = !status.success();
    r.reproducer = r.reproducer.map(|p| fuzz_dir().join(p));
    r.output = output;
    Ok(r)
}

/// libFuzzer's final statistics, its last coverage figure and the crash
/// artifact it wrote, from its output.
fn parse_output(output: &str) -> FuzzRun {
    let stat = |name: &str| {
        output
            .lines()
            .find_map(|l| l.strip_prefix(&format!("stat::{name}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let edges = output
        .lines()
        .rev()
        .find_map(|l| {
            let mut w = l.split_whitespace().skip_while(|w| *w != "cov:");
            w.next()?;
            w.next()?.parse().ok()
        })
        .unwrap_or(0);
    let reproducer = output.lines().find_map(|l| {
        let rest = l.split_once("Test unit written to ")?.1;
        Some(PathBuf::from(rest.trim()))
    });
    FuzzRun {
        executions: stat("number_of_executed_units"),
        exec_per_sec: stat("average_exec_per_sec"),
        edges,
        new_inputs: stat("new_units_added"),
        crashed: false,
        reproducer,
        output: String::new(),
    }
}

/// The one command that replays a crash.
pub fn replay_command(target: &str, input: &Path) -> String {
    format!(
        "cargo xtask fuzz --target {target} --replay {}",
        input.display()
    )
}

/// Runs `target` once on `input` (a crash's reproducer).
pub fn replay(target: &str, input: &Path) -> Result<bool> {
    ensure_cargo_fuzz()?;
    ensure!(input.is_file(), "{}: no such file", input.display());
    let input = std::fs::canonicalize(input)?;
    let st = cargo_fuzz("run", target)
        .arg(&input)
        .status()
        .with_context(|| format!("running cargo +nightly fuzz run {target}"))?;
    Ok(st.success())
}

/// A campaign's round of one target: the run, then the corpus it leaves.
pub struct CampaignRound {
    pub run: FuzzRun,
    pub corpus_files: usize,
    pub corpus_bytes: u64,
}

/// Fuzzes `target` within `budget`, then merges what it found into the
/// checked-in corpus and minimises it (libFuzzer's merge, as `cargo fuzz
/// cmin` does it: the smallest set of inputs with the same edges). After a
/// crash the corpus is left as it was.
pub fn campaign_round(target: &'static str, budget: Budget) -> Result<CampaignRound> {
    let work = crate::target_dir().join("fuzz-campaign").join(target);
    let _ = std::fs::remove_dir_all(&work);
    let found = work.join("found");
    let r = run_into(target, budget, &found)?;
    if !r.crashed {
        let merged = work.join("merged");
        std::fs::create_dir_all(&merged)?;
        let out = cargo_fuzz("run", target)
            .arg(&merged)
            .arg(corpus_dir(target))
            .arg(&found)
            // Edges only, not hit counts: a tenth of the inputs (a
            // corpus small enough to commit) for the same edges.
            .args(["--", "-merge=1", "-use_counters=0", "-rss_limit_mb=2048"])
            .output()
            .with_context(|| format!("merging {target}'s corpus"))?;
        ensure!(
            out.status.success(),
            "merging {target}'s corpus failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        replace_dir(&merged, &corpus_dir(target))?;
    }
    let (corpus_files, corpus_bytes) = dir_size(&corpus_dir(target))?;
    Ok(CampaignRound {
        run: r,
        corpus_files,
        corpus_bytes,
    })
}

/// Makes `to` hold exactly the files of `from`.
fn replace_dir(from: &Path, to: &Path) -> Result<()> {
    for e in std::fs::read_dir(to)? {
        std::fs::remove_file(e?.path())?;
    }
    for e in std::fs::read_dir(from)? {
        let e = e?;
        std::fs::copy(e.path(), to.join(e.file_name()))?;
    }
    Ok(())
}

fn dir_size(dir: &Path) -> Result<(usize, u64)> {
    let mut n = 0;
    let mut bytes = 0;
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        n += 1;
        bytes += e?.metadata()?.len();
    }
    Ok((n, bytes))
}

/// One file's line and branch coverage.
#[derive(Debug, PartialEq)]
pub struct FileCoverage {
    pub file: String,
    pub lines: (u64, u64),
    pub branches: (u64, u64),
}

impl FileCoverage {
    pub fn line_percent(&self) -> f64 {
        percent(self.lines)
    }
}

fn percent((covered, total): (u64, u64)) -> f64 {
    if total == 0 {
        100.0
    } else {
        100.0 * covered as f64 / total as f64
    }
}

/// The firmware's coverage by the checked-in corpora of the targets that
/// drive it: each target's coverage build run over its corpus, the
/// profiles merged, a text summary per file returned and an HTML report
/// written to `<target>/fuzz-coverage/`.
pub fn coverage() -> Result<(Vec<FileCoverage>, PathBuf)> {
    ensure_cargo_fuzz()?;
    let bin = llvm_tools_dir()?;
    let mut profiles = Vec::new();
    let mut objects = Vec::new();
    for target in FIRMWARE_TARGETS {
        eprintln!("coverage: running {target} over its corpus");
        // Branch counters as well as lines (cargo fuzz adds its own
        // -Cinstrument-coverage to these flags).
        let out = nightly_cargo()
            .env("RUSTFLAGS", "-Zcoverage-options=branch")
            .args(["fuzz", "coverage", target])
            .arg(corpus_dir(target))
            .output()
            .with_context(|| format!("running cargo +nightly fuzz coverage {target}"))?;
        ensure!(
            out.status.success(),
            "cargo fuzz coverage {target} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        profiles.push(fuzz_dir().join(format!("coverage/{target}/coverage.profdata")));
        objects.push(fuzz_dir().join(format!("target/{HOST}/coverage/{HOST}/release/{target}")));
    }
    let out_dir = crate::target_dir().join("fuzz-coverage");
    std::fs::create_dir_all(&out_dir)?;
    let merged = out_dir.join("firmware.profdata");
    let st = Command::new(bin.join("llvm-profdata"))
        .args(["merge", "-sparse", "-o"])
        .arg(&merged)
        .args(&profiles)
        .status()
        .context("running llvm-profdata")?;
    ensure!(st.success(), "llvm-profdata merge failed");
    let firmware_src = workspace_root().join("firmware/src");
    let llvm_cov = |sub: &str| {
        let mut c = Command::new(bin.join("llvm-cov"));
        c.arg(sub)
            .arg(format!("-instr-profile={}", merged.display()));
        let (first, rest) = objects.split_first().expect("targets");
        c.arg(first);
        for o in rest {
            c.arg(format!("-object={}", o.display()));
        }
        c
    };
    let html = out_dir.join("html");
    let st = llvm_cov("show")
        .args(["-format=html", "-show-branches=count"])
        .arg(format!("-output-dir={}", html.display()))
        .arg(&firmware_src)
        .status()
        .context("running llvm-cov show")?;
    ensure!(st.success(), "llvm-cov show failed");
    let out = llvm_cov("export")
        .args(["-format=text", "-summary-only"])
        .arg(&firmware_src)
        .output()
        .context("running llvm-cov export")?;
    ensure!(
        out.status.success(),
        "llvm-cov export failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("reading llvm-cov's export")?;
    let root = workspace_root();
    Ok((files_of(&json, &root), html.join("index.html")))
}

const HOST: &str = "x86_64-unknown-linux-gnu";

/// Per-file summaries from `llvm-cov export -summary-only`, paths made
/// relative to `root`, sorted by path.
fn files_of(json: &serde_json::Value, root: &Path) -> Vec<FileCoverage> {
    let pair = |s: &serde_json::Value, k: &str| {
        (
            s[k]["covered"].as_u64().unwrap_or(0),
            s[k]["count"].as_u64().unwrap_or(0),
        )
    };
    let mut files: Vec<FileCoverage> = json["data"][0]["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| {
            let name = f["filename"].as_str()?;
            let name = Path::new(name)
                .strip_prefix(root)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| name.to_owned());
            Some(FileCoverage {
                file: name,
                lines: pair(&f["summary"], "lines"),
                branches: pair(&f["summary"], "branches"),
            })
        })
        .collect();
    files.sort_by(|a, b| a.file.cmp(&b.file));
    files
}

/// One line per file: `path  lines covered/total (p%)  branches ...`.
pub fn coverage_line(f: &FileCoverage) -> String {
    format!(
        "{:<40} lines {:>5}/{:<5} {:>5.1}%  branches {:>4}/{:<4} {:>5.1}%",
        f.file,
        f.lines.0,
        f.lines.1,
        percent(f.lines),
        f.branches.0,
        f.branches.1,
        percent(f.branches)
    )
}

/// Where nightly's llvm-tools-preview put llvm-cov and llvm-profdata.
fn llvm_tools_dir() -> Result<PathBuf> {
    let out = Command::new("rustc")
        .env_remove("RUSTUP_TOOLCHAIN")
        .args(["+nightly", "--print", "sysroot"])
        .output()
        .context("running rustc +nightly --print sysroot")?;
    ensure!(
        out.status.success(),
        "rustc +nightly --print sysroot failed"
    );
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let dir = Path::new(&sysroot).join(format!("lib/rustlib/{HOST}/bin"));
    ensure!(
        dir.join("llvm-cov").is_file(),
        "no llvm-cov in {}: rustup +nightly component add llvm-tools-preview",
        dir.display()
    );
    Ok(dir)
}

/// The lines of cargo's and libFuzzer's output worth showing while a
/// target runs: the build, libFuzzer's start and its periodic status.
fn shows_progress(line: &str) -> bool {
    let l = line.trim_start();
    l.starts_with("Compiling")
        || l.starts_with("Finished")
        || l.starts_with("error")
        || l.starts_with("==")
        || l.split_whitespace()
            .nth(1)
            .is_some_and(|w| ["INITED", "pulse", "DONE"].contains(&w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_are_the_status_ones() {
        assert!(shows_progress(
            "#65536\tpulse  cov: 512 ft: 900 corp: 40/2Kb exec/s: 21845 rss: 60Mb"
        ));
        assert!(shows_progress(
            "   Compiling firmware v0.1.0 (/work/main/firmware)"
        ));
        assert!(shows_progress(
            "#2\tINITED cov: 10 ft: 10 corp: 1/1b exec/s: 0 rss: 30Mb"
        ));
        assert!(!shows_progress(
            "#1234\tNEW    cov: 513 ft: 901 corp: 41/2Kb lim: 4 exec/s: 0"
        ));
        assert!(!shows_progress("stat::number_of_executed_units: 1000"));
    }

    #[test]
    fn a_failed_build_is_not_a_start() {
        let mut r = parse_output("error: could not compile `sriov-fw-fuzz` (lib)\n");
        r.output = "error: could not compile `sriov-fw-fuzz` (lib)\n".into();
        assert!(!r.started());
        r.output = "INFO: Seed: 1234\n#2\tINITED cov: 10\n".into();
        assert!(r.started());
    }

    #[test]
    fn final_stats_and_the_crash_artifact_are_read() {
        let out = "#2\tINITED cov: 10 ft: 10 corp: 1/1b exec/s: 0 rss: 30Mb\n\
                   #300000\tDONE   cov: 523 ft: 2207 corp: 514/38Kb lim: 142 exec/s: 30000 rss: 31Mb\n\
                   ==1== ERROR: libFuzzer: deadly signal\n\
                   artifact_prefix='/w/fuzz/artifacts/rings/'; Test unit written to /w/fuzz/artifacts/rings/crash-ab12\n\
                   stat::number_of_executed_units: 300000\n\
                   stat::average_exec_per_sec:     30000\n\
                   stat::new_units_added:          512\n";
        let r = parse_output(out);
        assert_eq!(r.executions, 300_000);
        assert_eq!(r.exec_per_sec, 30_000);
        assert_eq!(r.edges, 523);
        assert_eq!(r.new_inputs, 512);
        assert_eq!(
            r.reproducer.as_deref(),
            Some(Path::new("/w/fuzz/artifacts/rings/crash-ab12"))
        );
        assert_eq!(
            replay_command("rings", Path::new("fuzz/artifacts/rings/crash-ab12")),
            "cargo xtask fuzz --target rings --replay fuzz/artifacts/rings/crash-ab12"
        );
        assert_eq!(parse_output("nothing").executions, 0);
    }

    #[test]
    fn coverage_summaries_are_read_per_file() {
        let json: serde_json::Value = serde_json::from_str(
            r#"{"data":[{"files":[
                {"filename":"/w/firmware/src/vf.rs","summary":{"lines":{"count":100,"covered":91},"branches":{"count":10,"covered":5}}},
                {"filename":"/w/firmware/src/admin.rs","summary":{"lines":{"count":0,"covered":0},"branches":{"count":0,"covered":0}}}
            ]}]}"#,
        )
        .unwrap();
        let files = files_of(&json, Path::new("/w"));
        assert_eq!(files[0].file, "firmware/src/admin.rs");
        assert_eq!(files[0].line_percent(), 100.0, "nothing to cover");
        assert_eq!(files[1].lines, (91, 100));
        assert!(coverage_line(&files[1]).contains("91/100"));
        assert!(coverage_line(&files[1]).contains("50.0%"));
    }
}
