//! `cargo xtask miri`: the tests that reach the project's `unsafe` code,
//! under Miri (nightly; the project itself stays on the pinned stable).
//! docs/robustness.md lists what runs, what cannot and why.

use crate::workspace_root;
use anyhow::{Context, Result, bail};
use std::process::Command;

/// Pointers made from integers are refused (none of the code run here
/// needs them: the fixed addresses are in the image, which Miri cannot
/// run). Isolation stays on: nothing here needs the host's files or clock.
pub const MIRIFLAGS: &str = "-Zmiri-strict-provenance";

/// One `cargo miri test`: its cargo arguments, then the test binary's.
pub struct Run {
    pub name: &'static str,
    pub cargo: &'static [&'static str],
    pub filters: &'static [&'static str],
}

/// hal: hal::mem, hal::mapped (the image's DMA), the drivers over plain
/// memory.
const HAL: Run = Run {
    name: "hal",
    cargo: &["-p", "hal"],
    filters: &[],
};

/// The device logic's own tests (no `unsafe` of its own: what they check
/// is the safe code and what it calls in heapless and tock-registers).
const FIRMWARE: Run = Run {
    name: "firmware",
    cargo: &["-p", "firmware"],
    filters: &[],
};

/// The simulation's window and host memory, the model's register tests,
/// and the firmware over them end to end on a small device.
const SIM: Run = Run {
    name: "sim-tests: window, host memory, model, small lab",
    cargo: &["-p", "sim-tests", "--lib"],
    filters: &[
        "window::",
        "hostmem::",
        "guestmem::",
        "model::tests::",
        "lab::",
    ],
};

/// The quick part of [`SIM`]: the window, host memory, and the data path
/// with the PF alone (the model's tests and the VF's bring-up are what
/// take minutes).
const SIM_QUICK: Run = Run {
    name: "sim-tests: window, host memory, PF data path",
    cargo: &["-p", "sim-tests", "--lib"],
    filters: &["window::", "hostmem::", "lab::tests::pf_frames_both_ways"],
};

/// Everything (`cargo xtask miri`).
pub const ALL: [Run; 3] = [HAL, FIRMWARE, SIM];
/// What `cargo xtask test` runs (`cargo xtask miri --quick`).
pub const QUICK: [Run; 2] = [HAL, SIM_QUICK];

/// Adds Miri and the standard library's source to the nightly toolchain
/// (installing a minimal nightly first if there is none).
pub fn ensure_miri() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["component", "list", "--installed", "--toolchain", "nightly"])
        .output()
        .context("running rustup (is it installed?)")?;
    if !installed.status.success() {
        eprintln!("no nightly toolchain: installing it (minimal, with miri and rust-src)");
        let args = ["toolchain", "install", "nightly", "--profile", "minimal"];
        return rustup(&[&args[..], &["--component", "miri,rust-src"]].concat());
    }
    let list = String::from_utf8_lossy(&installed.stdout);
    let missing: Vec<&str> = ["miri", "rust-src"]
        .into_iter()
        .filter(|c| {
            !list
                .lines()
                .any(|l| l == *c || l.starts_with(&format!("{c}-")))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("adding {} to the nightly toolchain", missing.join(" and "));
    rustup(
        &[
            &["component", "add", "--toolchain", "nightly"][..],
            &missing,
        ]
        .concat(),
    )
}

fn rustup(args: &[&str]) -> Result<()> {
    let status = Command::new("rustup")
        .args(args)
        .status()
        .context("running rustup")?;
    if !status.success() {
        bail!("`rustup {}` failed", args.join(" "));
    }
    Ok(())
}

/// The command line of one run (MIRIFLAGS: ours, then the caller's).
pub fn command(run: &Run) -> Command {
    let mut cmd = Command::new("cargo");
    let flags = match std::env::var("MIRIFLAGS") {
        Ok(more) if !more.trim().is_empty() => format!("{MIRIFLAGS} {more}"),
        _ => MIRIFLAGS.to_owned(),
    };
    cmd.current_dir(workspace_root())
        // The pinned toolchain's RUSTUP_TOOLCHAIN would win over +nightly.
        .env_remove("RUSTUP_TOOLCHAIN")
        .env("MIRIFLAGS", flags)
        .args(["+nightly", "miri", "test"])
        .args(run.cargo);
    if !run.filters.is_empty() {
        cmd.arg("--").args(run.filters);
    }
    cmd
}

/// Runs `runs` one after the other; the first that fails stops them.
pub fn run(runs: &[Run]) -> Result<()> {
    ensure_miri()?;
    for r in runs {
        eprintln!("miri: {}", r.name);
        let started = std::time::Instant::now();
        let status = command(r)
            .status()
            .context("running cargo +nightly miri test")?;
        if !status.success() {
            bail!("miri: {} failed ({status})", r.name);
        }
        eprintln!(
            "miri: {} passed in {:.0} s",
            r.name,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(c: &Command) -> Vec<String> {
        c.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_quick_set_is_part_of_the_full_one() {
        for run in &QUICK {
            let full = ALL.iter().find(|r| r.cargo == run.cargo).unwrap();
            assert!(
                run.filters
                    .iter()
                    .all(|f| full.filters.iter().any(|g| f.starts_with(g))),
                "{}",
                run.name
            );
        }
    }

    #[test]
    fn filters_go_to_the_test_binary() {
        let sim = args(&command(&SIM));
        assert_eq!(
            sim[..6],
            ["+nightly", "miri", "test", "-p", "sim-tests", "--lib"]
        );
        assert_eq!(sim[6], "--");
        assert!(!args(&command(&HAL)).contains(&"--".to_owned()));
    }
}
