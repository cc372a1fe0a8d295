//! Building the image for a board.

use crate::{setup, workspace_root};
use anyhow::{Context, Result, bail};
use board_config::Board;
use clap::Args;
use sim_tests::qemu::{Ending, Outcome};
use std::path::PathBuf;
use std::process::{Command, ExitCode};

#[derive(Args, Clone, Debug)]
pub struct ImageArgs {
    /// Board name in board-configs/ or a path to a board TOML.
    #[arg(long, default_value = board_config::DEFAULT_BOARD, value_parser = crate::cli::BoardParser)]
    pub board: String,
    /// Optimised build.
    #[arg(long, conflicts_with = "debug")]
    pub release: bool,
    /// Unoptimised build (`run` defaults to --release).
    #[arg(long)]
    pub debug: bool,
    /// Lowest log level compiled in: trace, debug, info, warn, error
    /// (defmt's DEFMT_LOG filter, fixed at build time).
    #[arg(long, default_value = "info", value_parser = ["trace", "debug", "info", "warn", "error"])]
    pub log: String,
}

pub struct BuiltImage {
    pub board: Board,
    pub elf: PathBuf,
}

/// Validates the board, builds the image and copies it to
/// `<target dir>/firmware/<board>/<profile>/firmware.elf`.
pub fn build(args: &ImageArgs) -> Result<BuiltImage> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    if !LEVELS.contains(&args.log.as_str()) {
        bail!("--log {}: expected one of {}", args.log, LEVELS.join(", "));
    }
    // The build scripts validate too; doing it first gives the message
    // without cargo's noise around it.
    let path = board_config::resolve(&args.board)?;
    let board = board_config::load(&path)?;
    setup::ensure_target()?;

    let profile = if args.release { "release" } else { "debug" };
    let root = workspace_root();
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&root)
        .args([
            "build",
            "--package",
            "firmware-image",
            "--target",
            setup::TARGET,
        ])
        .env(board_config::BOARD_ENV, &path)
        .env("DEFMT_LOG", &args.log);
    if args.release {
        cmd.arg("--release");
    }
    eprintln!(
        "building the image for {} ({profile}, log {})",
        board.config.board.name, args.log
    );
    let status = cmd.status().context("running cargo build")?;
    if !status.success() {
        bail!("building the image for {} failed", board.config.board.name);
    }
    let built = crate::target_dir()
        .join(setup::TARGET)
        .join(profile)
        .join("firmware");
    let dir = crate::target_dir()
        .join("firmware")
        .join(&board.config.board.name)
        .join(profile);
    std::fs::create_dir_all(&dir)?;
    let elf = dir.join("firmware.elf");
    std::fs::copy(&built, &elf)
        .with_context(|| format!("copying {} to {}", built.display(), elf.display()))?;
    Ok(BuiltImage { board, elf })
}

/// Says how a run ended and turns it into this process's exit status.
pub fn report_ending(outcome: &Outcome) -> ExitCode {
    match outcome.ending {
        Ending::Exited(0) => {
            eprintln!("firmware exited cleanly (0) after {:.2?}", outcome.elapsed);
            ExitCode::SUCCESS
        }
        Ending::Exited(code) => {
            let what = hal::exit::ExitCode::from_code(code)
                .map_or("QEMU error (see its output below)", |c| c.meaning());
            eprintln!("firmware exited with {code}: {what}");
            if !outcome.stderr.is_empty() {
                eprintln!("{}", outcome.stderr.trim_end());
            }
            ExitCode::from(code.clamp(1, 255) as u8)
        }
        Ending::Signalled => {
            eprintln!("QEMU was killed by a signal");
            ExitCode::FAILURE
        }
        Ending::TimedOut => {
            eprintln!(
                "timed out after {:.0?}: the firmware did not exit (QEMU killed)",
                outcome.elapsed
            );
            ExitCode::FAILURE
        }
    }
}
