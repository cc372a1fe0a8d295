//! What a fresh machine lacks: the Rust target and QEMU. Installed when we
//! can (rustup; apt-get as root), otherwise one line saying how.

use anyhow::{Context, Result, bail};
use std::process::{Command, Stdio};

pub const TARGET: &str = "aarch64-unknown-none";

fn toolchain() -> String {
    // rust-toolchain.toml pins the channel; rustup exports it to cargo's
    // children as RUSTUP_TOOLCHAIN.
    std::env::var("RUSTUP_TOOLCHAIN").unwrap_or_else(|_| "1.95.0".into())
}

/// Adds the bare-metal target to the pinned toolchain if it is missing.
pub fn ensure_target() -> Result<()> {
    let toolchain = toolchain();
    let out = Command::new("rustup")
        .args(["target", "list", "--installed", "--toolchain", &toolchain])
        .output()
        .context("running rustup (is it installed?)")?;
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == TARGET)
    {
        return Ok(());
    }
    eprintln!("adding the Rust target {TARGET} to toolchain {toolchain}");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET, "--toolchain", &toolchain])
        .status()
        .context("running rustup target add")?;
    if !status.success() {
        bail!("`rustup target add {TARGET} --toolchain {toolchain}` failed");
    }
    Ok(())
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Finds qemu-system-aarch64, installing it with apt-get when running as
/// root on Debian/Ubuntu.
pub fn ensure_qemu() -> Result<()> {
    let qemu = sim_tests::qemu::QEMU;
    if have(qemu) {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !root || !have("apt-get") {
        bail!(
            "{qemu} not found: install it (Debian/Ubuntu: `sudo apt-get install -y qemu-system-arm`)"
        );
    }
    eprintln!("{qemu} not found: installing qemu-system-arm with apt-get");
    for args in [
        &["update", "-qq"][..],
        &["install", "-y", "-qq", "qemu-system-arm"][..],
    ] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get")?;
        if !status.success() {
            bail!("`apt-get {}` failed", args.join(" "));
        }
    }
    if !have(qemu) {
        bail!("{qemu} still not found after installing qemu-system-arm");
    }
    Ok(())
}
