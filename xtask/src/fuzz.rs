//! `cargo xtask fuzz`: each fuzz target for a fixed time (cargo fuzz, on
//! the nightly toolchain; the project itself stays on the pinned stable).

use crate::workspace_root;
use anyhow::{Context, Result, bail};
use std::process::Command;

pub const TARGETS: [&str; 5] = ["mailbox", "admin", "frames", "rings", "vfio_user"];

/// Installs cargo-fuzz from crates.io when it is missing.
pub fn ensure_cargo_fuzz() -> Result<()> {
    let have = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if have {
        return Ok(());
    }
    eprintln!("cargo-fuzz not found: installing it from crates.io");
    let st = Command::new("cargo")
        .args(["install", "cargo-fuzz", "--locked"])
        .status()
        .context("running cargo install")?;
    if !st.success() {
        bail!("`cargo install cargo-fuzz --locked` failed");
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
    let out = Command::new("cargo")
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
        .output()
        .with_context(|| format!("running cargo +nightly fuzz run {target}"))?;
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let executions = output
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok(FuzzRun {
        executions,
        seconds,
        crashed: !out.status.success(),
        output,
    })
}
