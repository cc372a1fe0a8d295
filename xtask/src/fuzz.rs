//! `cargo xtask fuzz`: each fuzz target for a fixed time (cargo fuzz, on
//! the nightly toolchain; the project itself stays on the pinned stable).

use crate::workspace_root;
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

pub const TARGETS: [&str; 5] = ["mailbox", "admin", "frames", "rings", "vfio_user"];

/// The cargo-fuzz this project is tested with (installed when missing).
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";

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

/// One target's result: executions, and whether it found a crash.
pub struct FuzzRun {
    pub executions: u64,
    pub seconds: u64,
    pub crashed: bool,
    pub output: String,
}

/// Runs `target` for `seconds` on its corpus (which it grows).
pub fn run(target: &'static str, seconds: u64) -> Result<FuzzRun> {
    ensure_cargo_fuzz()?;
    let dir = workspace_root().join("fuzz");
    let corpus = dir.join("corpus").join(target);
    std::fs::create_dir_all(&corpus)?;
    // A scratch corpus for what this run finds, so the checked-in seeds
    // only change when someone decides to.
    let scratch = crate::target_dir().join("fuzz-corpus").join(target);
    std::fs::create_dir_all(&scratch)?;
    let mut child = Command::new("cargo")
        .current_dir(&dir)
        .env_remove("RUSTUP_TOOLCHAIN")
        .args(["+nightly", "fuzz", "run", "--release", target])
        .arg(&scratch)
        .arg(&corpus)
        .args([
            "--",
            &format!("-max_total_time={seconds}"),
            "-rss_limit_mb=2048",
            "-print_final_stats=1",
        ])
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
    let executions = output
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok(FuzzRun {
        executions,
        seconds,
        crashed: !status.success(),
        output,
    })
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
}
