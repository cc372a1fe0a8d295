//! What a fresh machine lacks: the Rust target and QEMU. Installed when we
//! can (rustup; apt-get as root), otherwise one line saying how.

use anyhow::{Context, Result, bail};
use std::process::Command;

pub const TARGET: &str = "aarch64-unknown-none";

fn toolchain() -> String {
    // rust-toolchain.toml pins the channel; rustup exports it to cargo's
    // children as RUSTUP_TOOLCHAIN.
    std::env::var("RUSTUP_TOOLCHAIN").unwrap_or_else(|_| "1.95.0".into())
}

/// Runs `cmd` to the end: its stdout, or an error with its command line
/// and what it said on stderr.
pub(crate) fn stdout_of(cmd: &mut Command) -> Result<Vec<u8>> {
    let line = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let out = cmd.output().with_context(|| format!("running {line}"))?;
    if !out.status.success() {
        bail!("{line}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(out.stdout)
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

/// Whether `program` is an executable file on PATH.
pub(crate) fn have(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| have_in(program, &paths))
}

/// Whether `program` is an executable in one of `paths` (PATH's syntax).
pub(crate) fn have_in(program: &str, paths: &std::ffi::OsStr) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(paths).any(|dir| {
        std::fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Finds qemu-system-aarch64, installing it with apt-get when running as
/// root on Debian/Ubuntu.
pub fn ensure_qemu() -> Result<()> {
    ensure_program(sim_tests::qemu::QEMU, "qemu-system-arm")
}

/// Finds `ping` (the real-Linux traffic test), installing iputils-ping the
/// same way.
pub fn ensure_ping() -> Result<()> {
    ensure_program("ping", "iputils-ping")
}

fn ensure_program(qemu: &str, package: &str) -> Result<()> {
    if have(qemu) {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !root || !have("apt-get") {
        bail!("{qemu} not found: install it (Debian/Ubuntu: `sudo apt-get install -y {package}`)");
    }
    eprintln!("{qemu} not found: installing {package} with apt-get");
    for args in [
        &["update", "-qq"][..],
        // Never at the cost of a package the machine has (installing
        // Debian 12's QEMU once removed a newer qemu-utils from backports).
        &["install", "-y", "-qq", "--no-remove", package][..],
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
        bail!("{qemu} still not found after installing {package}");
    }
    Ok(())
}
