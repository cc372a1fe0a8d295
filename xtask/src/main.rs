//! `cargo xtask`: the one entry point for building, running and testing the
//! firmware. It owns the target, the board selection and QEMU, so plain
//! `cargo build`/`cargo test` stay host builds.

mod bench;
mod boot_image;
mod cli;
mod control;
mod cores;
mod demo;
mod flame;
mod fuzz;
mod image;
mod interrupt;
mod linux;
mod miri;
mod plot;
mod profile;
mod run_checks;
mod setup;
mod size;
mod soak;
mod test;
mod vm;
mod vm_run;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Build, run and test the SR-IOV endpoint firmware"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args)]
struct FuzzArgs {
    /// Seconds per target.
    #[arg(long, default_value_t = 60, conflicts_with_all = ["minutes", "runs"])]
    seconds: u64,
    /// Only this target (repeat it for several: two campaigns on disjoint
    /// targets can run side by side, one per core).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(fuzz::TARGETS))]
    target: Vec<String>,
    /// Every target in turn, then what it found merged into
    /// fuzz/corpus/TARGET and the corpus minimised (commit it).
    #[arg(long, conflicts_with_all = ["coverage", "replay"])]
    campaign: bool,
    /// Minutes per target (instead of --seconds).
    #[arg(long, conflicts_with = "runs")]
    minutes: Option<u64>,
    /// Executions per target (instead of a time).
    #[arg(long)]
    runs: Option<u64>,
    /// Caps inputs at this many bytes (libFuzzer's -max_len; by default
    /// the corpus's longest, or 4096): faster runs, less per input.
    #[arg(long, value_parser = clap::value_parser!(u32).range(16..))]
    max_len: Option<u32>,
    /// Line and branch coverage of the firmware by the checked-in
    /// corpora: a summary per file, and an HTML report under
    /// <target>/fuzz-coverage/.
    #[arg(long, conflicts_with = "replay")]
    coverage: bool,
    /// Run --target once on this input (a crash's reproducer).
    #[arg(long, value_name = "FILE", requires = "target")]
    replay: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the firmware image for a board. With --format bin|uimage,
    /// also the file a boot loader loads, and the U-Boot commands for it.
    Build {
        #[command(flatten)]
        image: image::ImageArgs,
        /// elf: the linked image; bin: its bytes from the load address on
        /// (U-Boot `go`); uimage: those behind a U-Boot legacy header
        /// (`bootm`, QEMU `-kernel`).
        #[arg(long, value_enum, default_value_t = boot_image::Format::Elf)]
        format: boot_image::Format,
    },
    /// The main job: boot the image under QEMU, attach the hardware model
    /// and the host drivers, enable and configure VFs, pass traffic, print
    /// the per-VF table, shut down. With --append: just boot the image with
    /// that command line and stream its log (e.g. "mode=selftest").
    Run {
        #[command(flatten)]
        image: image::ImageArgs,
        /// VFs to enable.
        #[arg(long, default_value_t = 8)]
        vfs: u16,
        /// Keep serving until Ctrl-C.
        #[arg(long)]
        forever: bool,
        /// Boot with this command line instead of the demo.
        #[arg(long)]
        append: Option<String>,
        /// Boot the boot-loader file instead of the ELF: uimage through
        /// `-kernel` (entered as Linux is: EL2 or EL1), bin through QEMU's
        /// generic loader at the load address (no command line: the
        /// image's default, the self-test). Implies booting alone.
        #[arg(long, value_enum, default_value_t = boot_image::Format::Elf,
              conflicts_with_all = ["scenario", "vm", "tap", "pcap", "forever"])]
        format: boot_image::Format,
        /// Run this scenario against the firmware instead of the demo.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Put the uplink on this TAP device (real Linux networking).
        #[arg(long)]
        tap: Option<String>,
        /// Capture every port (wire, PF, each VF) into one pcapng FILE,
        /// an interface per port, with directions and wall-clock times.
        #[arg(long, value_name = "FILE")]
        pcap: Option<PathBuf>,
        /// Kill QEMU after this many seconds (ignored with --forever).
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// With --forever: the control socket `cargo xtask ip` talks to
        /// (default: <target>/run/control.sock).
        #[arg(long, value_name = "PATH", requires = "forever")]
        control: Option<PathBuf>,
        /// Boot the image alone (no host side), halted, with QEMU's gdb
        /// stub on this TCP port; prints the gdb-multiarch command.
        #[arg(long, value_name = "PORT", num_args = 0..=1, default_missing_value = "1234",
              conflicts_with_all = ["scenario", "vm", "tap", "pcap", "forever"])]
        gdb: Option<u16>,
        /// More QEMU arguments, after `--` (e.g. `-- -d guest_errors`).
        #[arg(last = true, value_name = "QEMU ARGS")]
        qemu_args: Vec<String>,
        /// The main job with a Linux VM: its eth0 and eth1 are VFs of the
        /// image, driven by Linux's own ixgbevf (as `cargo xtask vm --qemu`).
        #[arg(long)]
        vm: bool,
    },
    /// Run a scenario file in the in-process simulation: one JSON object
    /// per step, then a summary; exit status 1 on any mismatch.
    Sim {
        /// The scenario (see docs/scenarios.md), e.g.
        /// sim-tests/scenarios/vf-bring-up.toml.
        scenario: PathBuf,
        /// Against the firmware image under QEMU instead of in-process.
        #[arg(long)]
        qemu: bool,
        #[command(flatten)]
        image: image::ImageArgs,
    },
    /// Run every fuzz target (cargo fuzz, nightly) for a fixed time; or a
    /// campaign that keeps a minimised corpus (--campaign); or the
    /// corpus's coverage of the firmware (--coverage); or a crash's replay
    /// (--replay). Per target: executions, exec/s, edges, new inputs.
    Fuzz(FuzzArgs),
    /// Benchmarks. --qemu: instruction counts of the data path's decisions
    /// (the image's bench mode under `-icount`), `PATH: N
    /// instructions/frame`, target/bench/instructions.json, checked against
    /// docs/bench-budget.toml. Without: the host's Criterion benches.
    Bench {
        /// Under QEMU (instruction counts); without it, the host's
        /// Criterion benches (throughput and control-plane timings, as
        /// ratios against baselines from the same run).
        #[arg(long)]
        qemu: bool,
        /// With --qemu: trace one full path and print where its
        /// instructions go, by function and by source line.
        #[arg(long, value_name = "PATH", requires = "qemu",
              value_parser = clap::builder::PossibleValuesParser::new(cli::PROFILE_PATHS))]
        profile: Option<String>,
        /// With --profile: rows per table.
        #[arg(long, default_value_t = 20)]
        top: usize,
        /// With --qemu: also draw target/bench/instructions.svg (per path,
        /// by table size and VF count) and budget-history.svg (git log of
        /// the budget file).
        #[arg(long, requires = "qemu", conflicts_with = "profile")]
        plot: bool,
        /// With --profile: also write the call stacks as
        /// target/bench/profile-PATH.folded and a flame graph, .svg.
        #[arg(long, requires = "profile")]
        flamegraph: bool,
        /// With --qemu: the data path across 1, 2 and 4 cores instead
        /// (mode=cores): frames per second per core and in all, each
        /// core's instructions per frame.
        #[arg(long, requires = "qemu", conflicts_with_all = ["profile", "plot"])]
        cores: bool,
        #[command(flatten)]
        image: image::ImageArgs,
    },
    /// Where the image's memory goes: text, rodata, data, bss, stacks and
    /// static RAM per board (default: every board), from the release ELF.
    Size {
        /// Only this board.
        #[arg(long, value_parser = cli::BoardParser)]
        board: Option<String>,
        /// One JSON object per board (bytes), for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Run everything CI runs: fmt, clippy, host tests, QEMU tests.
    Test,
    /// A soak: random traffic of every kind from the wire and every VF,
    /// with control operations between (resets, FLR, administration, VF
    /// enable and disable, uplink flaps), every check after every step
    /// (docs/robustness.md). Prints frames and operations per minute; a
    /// failure prints the command that replays it, and exits 1.
    Soak(soak::SoakArgs),
    /// The tests that reach the `unsafe` code, under Miri (nightly; adds
    /// the miri and rust-src components when missing).
    Miri {
        /// Only the quick set `cargo xtask test` runs.
        #[arg(long)]
        quick: bool,
    },
    /// List the boards in board-configs/.
    Boards {
        /// A JSON array (name, description, TotalVFs, queue pairs, whether
        /// it runs under QEMU), for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Administer a running `cargo xtask run --forever` in `ip`'s words:
    /// `ip link set vf 3 mac 02:00:00:00:00:33 vlan 100 qos 3 proto 802.1ad
    /// spoofchk on trust off state disable max_tx_rate 500 min_tx_rate 100`,
    /// `ip -s link show`, `ip -j link show`.
    Ip {
        /// The run's control socket (default: <target>/run/control.sock).
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// `ip`'s words: [-s] [-j] [-p] link set|show ...
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        words: Vec<String>,
    },
    /// Print shell completions (bash, zsh, fish, elvish, powershell), e.g.
    /// `cargo xtask completions bash > ~/.local/share/bash-completion/completions/cargo-xtask`.
    Completions { shell: clap_complete::Shell },
    /// The runner `cargo run --target aarch64-unknown-none -p firmware-image`
    /// uses (.cargo/config.toml): boots ELF on QEMU with ARGS as the
    /// image's command line.
    #[command(hide = true)]
    Runner { elf: PathBuf, args: Vec<String> },
    /// Boot a Linux VM whose eth0 and eth1 are VFs of the firmware (Linux's
    /// own ixgbevf, over vfio-user); prepares a Debian 13 root on first use.
    Vm {
        /// Every console line and server log line.
        #[arg(long)]
        verbose: bool,
        /// Serve the VFs from the firmware image on QEMU virt (DMA through
        /// the hardware model's engine), not the in-process firmware.
        #[arg(long)]
        qemu: bool,
        /// Only serve two VFs on vfio-user sockets for a VM of your own
        /// (prints the QEMU command line), until Ctrl-C.
        #[arg(long, conflicts_with = "qemu")]
        serve: bool,
        /// The in-process firmware with the hardware's queue manager owning
        /// the rings (the core only decides; docs/performance.md).
        #[arg(long, conflicts_with_all = ["qemu", "serve"])]
        queue_manager: bool,
        #[command(flatten)]
        image: image::ImageArgs,
    },
}

fn sizes(board: Option<String>, json: bool) -> Result<ExitCode> {
    let boards = match board {
        Some(b) => vec![b],
        None => board_config::board_names(),
    };
    let mut all = Vec::new();
    for name in boards {
        let built = image::build(&image::ImageArgs {
            board: name.clone(),
            release: true,
            debug: false,
            log: "info".into(),
        })?;
        let size = size::of_elf(&built.elf)?;
        if json {
            all.push(size::to_json(&built.board.config.board.name, &size));
        } else {
            size::print(&name, &size);
        }
    }
    if json {
        println!("{}", serde_json::Value::Array(all));
    }
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask build [--format F]`: the file's path on stdout; for a
/// boot-loader format, how U-Boot starts it on stderr.
fn build(args: &image::ImageArgs, format: boot_image::Format) -> Result<ExitCode> {
    let built = image::build(args)?;
    let name = format!("sriov-fw {}", built.board.config.board.name);
    let path = boot_image::write(&built.elf, format, &name)?;
    println!("{}", path.display());
    if format != boot_image::Format::Elf {
        let file = path
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        eprintln!(
            "load address and entry {:#010x}; at the U-Boot prompt (the file on the SD card's first partition):",
            built.board.config.memory.ram.start
        );
        for line in boot_image::uboot_commands(format, &file, built.board.config.memory.ram.start) {
            eprintln!("    {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask boards [--json]`.
fn boards(json: bool) -> ExitCode {
    if json {
        println!("{}", boards_json());
        return ExitCode::SUCCESS;
    }
    for name in board_config::board_names() {
        match board_config::resolve(&name).and_then(|p| board_config::load(&p)) {
            Ok(b) => println!("{name:<20} {}", b.config.board.description),
            Err(e) => println!("{name:<20} INVALID: {e}"),
        }
    }
    ExitCode::SUCCESS
}

/// Every board as JSON: name, description, capacities, where it runs; an
/// invalid one with its error.
fn boards_json() -> serde_json::Value {
    board_config::board_names()
        .into_iter()
        .map(
            |name| match board_config::resolve(&name).and_then(|p| board_config::load(&p)) {
                Ok(b) => {
                    let c = &b.config;
                    serde_json::json!({
                        "name": name,
                        "description": c.board.description,
                        "total_vfs": c.capacities.total_vfs,
                        "queue_pairs_per_vf": c.capacities.queue_pairs_per_vf,
                        "qemu": c.qemu.is_some(),
                        "co_simulation": c.shared_memory.is_some(),
                        "valid": true,
                    })
                }
                Err(e) => serde_json::json!({
                    "name": name, "valid": false, "error": e.to_string(),
                }),
            },
        )
        .collect()
}

fn bench(
    qemu: bool,
    profile: Option<String>,
    top: usize,
    (plot, flamegraph, cores): (bool, bool, bool),
    mut args: image::ImageArgs,
) -> Result<ExitCode> {
    if !qemu {
        bench::host()?;
        return Ok(ExitCode::SUCCESS);
    }
    // Counts are only meaningful for the optimised build.
    args.release = true;
    let built = image::build(&args)?;
    setup::ensure_qemu()?;
    if let Some(path) = profile {
        profile::run(&built, &path, top, flamegraph)?;
        return Ok(ExitCode::SUCCESS);
    }
    if cores {
        cores::bench(&built)?;
        return Ok(ExitCode::SUCCESS);
    }
    let m = bench::measure(&built)?;
    let report = bench::summarise(m.rows, Some(m.stack));
    bench::print(&report);
    size::print(&built.board.config.board.name, &size::of_elf(&built.elf)?);
    println!("JSON: {}", bench::write_json(&report)?.display());
    let budget = bench::read_budget()?;
    if plot {
        plot::print(&report, &budget, &built.board.config.board.name)?;
    }
    let board = &built.board.config.board.name;
    let (held, boards) = bench::budget_holds(&budget, board)?;
    if !held {
        println!(
            "board {board}: counts only, no budget ({} holds {})",
            bench::BUDGET_FILE,
            boards.join(", ")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let problems = bench::check_budget(&report, &budget)?;
    if problems.is_empty() {
        println!("every path within {}", bench::BUDGET_FILE);
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            println!("OVER BUDGET {p}");
        }
        Ok(ExitCode::FAILURE)
    }
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_owned()
}

/// The target directory as cargo has it (`CARGO_TARGET_DIR`,
/// `build.target-dir` in a config file, or `<root>/target`): asked of
/// `cargo metadata` once, so that every image, bench and fuzz output lands
/// where cargo puts the builds.
pub fn target_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let asked = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .current_dir(workspace_root())
            .stderr(std::process::Stdio::inherit())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
            .and_then(|v| v["target_directory"].as_str().map(PathBuf::from));
        asked.unwrap_or_else(|| workspace_root().join("target"))
    })
    .clone()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Build { image, format } => build(&image, format),
        Cmd::Run {
            image,
            vfs,
            forever,
            append,
            scenario,
            tap,
            pcap,
            timeout,
            vm,
            control,
            gdb,
            qemu_args,
            format,
        } => match scenario {
            _ if pcap.is_some() && (vm || scenario.is_some() || append.is_some()) => {
                Err(anyhow::anyhow!(
                    "--pcap captures the main job only (not with --vm, --scenario or --append)"
                ))
            }
            _ if vm => (|| {
                setup::ensure_qemu()?;
                linux_vm(Some(&image::build(&image)?), false, false)
            })(),
            Some(path) => sim(&path, Some(image)),
            None => run(
                &image,
                RunArgs {
                    vfs,
                    forever,
                    append,
                    timeout,
                    tap,
                    pcap,
                    control,
                    gdb,
                    qemu_args,
                    format,
                },
            ),
        },
        Cmd::Sim {
            scenario,
            qemu,
            image,
        } => sim(&scenario, qemu.then_some(image)),
        Cmd::Fuzz(args) => fuzz_cmd(args),
        Cmd::Bench {
            qemu,
            profile,
            top,
            plot,
            flamegraph,
            cores,
            image,
        } => bench(qemu, profile, top, (plot, flamegraph, cores), image),
        Cmd::Size { board, json } => sizes(board, json),
        Cmd::Test => test::run_all(),
        Cmd::Soak(args) => soak::run(&args),
        Cmd::Miri { quick } => {
            miri::run(if quick { &miri::QUICK } else { &miri::ALL }).map(|()| ExitCode::SUCCESS)
        }
        Cmd::Vm {
            verbose,
            qemu,
            serve,
            queue_manager,
            image,
        } => (|| {
            interrupt::install()?;
            if serve {
                return vm_run::serve_only(verbose).map(|_| ExitCode::SUCCESS);
            }
            let built = if qemu {
                setup::ensure_qemu()?;
                Some(image::build(&image)?)
            } else {
                None
            };
            linux_vm(built.as_ref(), verbose, queue_manager)
        })(),
        Cmd::Boards { json } => Ok(boards(json)),
        Cmd::Ip { socket, words } => {
            control::client(&socket.unwrap_or_else(control::default_path), &words)
                .map(|status| ExitCode::from(status.clamp(0, 255) as u8))
        }
        Cmd::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "xtask", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Runner { elf, args } => runner(&elf, &args),
    };
    match result {
        Ok(code) => code,
        Err(e) => match e.downcast_ref::<interrupt::Interrupted>() {
            // Stopped by Ctrl-C or SIGTERM after the clean-up: the shell's
            // status for it.
            Some(interrupt::Interrupted(sig)) => {
                eprintln!("{e}: cleaned up");
                ExitCode::from(interrupt::exit_code(*sig) as u8)
            }
            None => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// `cargo xtask vm` and `run --vm`: the Linux VM's checks; exit status by
/// them, or 130/143 when Ctrl-C ended the VM early.
fn linux_vm(
    built: Option<&image::BuiltImage>,
    verbose: bool,
    queue_manager: bool,
) -> Result<ExitCode> {
    interrupt::install()?;
    let ok = vm_run::main(built, verbose, queue_manager)?;
    interrupt::check()?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn fuzz_cmd(a: FuzzArgs) -> Result<ExitCode> {
    if let Some(n) = a.max_len {
        fuzz::set_max_len(n);
    }
    let budget = match (a.minutes, a.runs) {
        (Some(m), _) => fuzz::Budget::Seconds(m * 60),
        (None, Some(n)) => fuzz::Budget::Runs(n),
        (None, None) => fuzz::Budget::Seconds(a.seconds),
    };
    if let Some(input) = &a.replay {
        let [target] = a.target.as_slice() else {
            anyhow::bail!("--replay takes exactly one --target");
        };
        return Ok(if fuzz::replay(target, input)? {
            println!("{target}: {} runs without a crash", input.display());
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    if a.coverage {
        return fuzz_coverage();
    }
    fuzz_all(budget, &a.target, a.campaign)
}

fn fuzz_all(budget: fuzz::Budget, only: &[String], campaign: bool) -> Result<ExitCode> {
    let mut failed = false;
    let mut rows = Vec::new();
    for target in fuzz::TARGETS {
        if !only.is_empty() && !only.iter().any(|o| o == target) {
            continue;
        }
        eprintln!("fuzzing {target} ({budget:?})");
        let (r, corpus) = if campaign {
            let round = fuzz::campaign_round(target, budget)?;
            (round.run, Some((round.corpus_files, round.corpus_bytes)))
        } else {
            (fuzz::run(target, budget)?, None)
        };
        if r.crashed && !r.started() {
            failed = true;
            println!(
                "{}\n{target}: DID NOT START: the fuzz build or libFuzzer's set-up failed (above); no crash of the target",
                r.output
            );
        } else if r.crashed {
            failed = true;
            println!(
                "{target}: CRASH after {} executions\n{}",
                r.executions, r.output
            );
            match &r.reproducer {
                Some(p) => println!(
                    "{target}: reproducer {}\n  replay: {}",
                    p.display(),
                    fuzz::replay_command(target, p)
                ),
                None => println!("{target}: libFuzzer wrote no reproducer"),
            }
        }
        let corpus = corpus.map_or(String::new(), |(n, bytes)| {
            format!(", corpus {n} inputs / {} KiB", bytes.div_ceil(1024))
        });
        let row = format!("{target}: {}{corpus}", r.summary());
        println!("{row}");
        rows.push(row);
    }
    if rows.len() > 1 {
        println!("\nsummary:");
        for row in &rows {
            println!("  {row}");
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn fuzz_coverage() -> Result<ExitCode> {
    let (files, html) = fuzz::coverage()?;
    for f in &files {
        println!("{}", fuzz::coverage_line(f));
    }
    let below: Vec<&str> = files
        .iter()
        .filter(|f| f.line_percent() < 80.0)
        .map(|f| f.file.as_str())
        .collect();
    println!("below 80% of lines: {}", below.join(", "));
    println!("HTML report: {}", html.display());
    Ok(ExitCode::SUCCESS)
}

fn sim(path: &Path, qemu: Option<image::ImageArgs>) -> Result<ExitCode> {
    use sim_tests::scenario;
    let print = |r: &scenario::StepReport| println!("{}", r.to_json());
    let (sc, reports) = match qemu {
        None => scenario::run_in_process(path, print)?,
        Some(mut args) => {
            args.release |= !args.debug;
            let built = image::build(&args)?;
            setup::ensure_qemu()?;
            scenario::run_in_qemu(
                path,
                &built.board.config,
                &built.elf,
                &workspace_root(),
                print,
            )?
        }
    };
    let summary = scenario::summary_json(&sc, &reports);
    println!("{summary}");
    Ok(if summary["failed"] == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

struct RunArgs {
    vfs: u16,
    forever: bool,
    append: Option<String>,
    timeout: u64,
    tap: Option<String>,
    pcap: Option<PathBuf>,
    control: Option<PathBuf>,
    gdb: Option<u16>,
    qemu_args: Vec<String>,
    format: boot_image::Format,
}

fn run(args: &image::ImageArgs, r: RunArgs) -> Result<ExitCode> {
    let mut args = args.clone();
    // Runs are for watching the firmware work: optimised unless asked.
    args.release |= !args.debug;
    let built = image::build(&args)?;
    setup::ensure_qemu()?;
    interrupt::install()?;
    if r.append.is_none() && r.gdb.is_none() && r.format == boot_image::Format::Elf {
        return demo::run(
            &built,
            &demo::DemoArgs {
                vfs: r.vfs,
                forever: r.forever,
                timeout: Duration::from_secs(r.timeout),
                tap: r.tap,
                pcap: r.pcap,
                control: r.control.unwrap_or_else(control::default_path),
                qemu_args: r.qemu_args,
            },
        );
    }
    let mut run = sim_tests::qemu::QemuRun::for_board(&built.board.config, &built.elf)?;
    run.boot = boot_image::qemu_boot(&built, r.format)?;
    run.append = match (r.forever, r.append) {
        (true, Some(a)) => Some(format!("mode=serve {a}")),
        (true, None) => Some("mode=serve".into()),
        (false, a) => a,
    };
    run.timeout = (!r.forever && r.gdb.is_none()).then(|| Duration::from_secs(r.timeout));
    if let Some(port) = r.gdb {
        run.extra_args
            .extend(["-S".into(), "-gdb".into(), format!("tcp::{port}")]);
    }
    run.extra_args.extend(r.qemu_args);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    run.stop = Some(std::sync::Arc::clone(&stop));
    eprintln!(
        "booting {} on {} ({} {}){}",
        built.elf.display(),
        built.board.config.board.name,
        sim_tests::qemu::QEMU,
        run.args().join(" "),
        if r.forever || r.gdb.is_some() {
            "; Ctrl-C to stop"
        } else {
            ""
        }
    );
    if let Some(port) = r.gdb {
        eprintln!(
            "halted at the first instruction; in another shell:\n    gdb-multiarch {} -ex 'target remote localhost:{port}'",
            built.elf.display()
        );
    }
    // Ctrl-C stops QEMU (there is no host side to shut the firmware down).
    let watcher = std::thread::spawn({
        let stop = std::sync::Arc::clone(&stop);
        move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if interrupt::received().is_some() {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    });
    let outcome = run.run(&workspace_root(), |line| println!("{line}"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = watcher.join();
    let outcome = outcome?;
    interrupt::check()?;
    Ok(image::report_ending(&outcome))
}

/// `cargo run --target aarch64-unknown-none -p firmware-image [-- ARGS]`:
/// the ELF on QEMU for the board it was built for (FW_BOARD, else the
/// default), ARGS as its command line; the exit status is the firmware's.
fn runner(elf: &Path, args: &[String]) -> Result<ExitCode> {
    setup::ensure_qemu()?;
    let spec = std::env::var(board_config::BOARD_ENV)
        .unwrap_or_else(|_| board_config::DEFAULT_BOARD.to_owned());
    let board = board_config::load(&board_config::resolve(&spec)?)?;
    let mut run = sim_tests::qemu::QemuRun::for_board(&board.config, elf)?;
    run.append = (!args.is_empty()).then(|| args.join(" "));
    eprintln!(
        "booting {} on {} ({} {})",
        elf.display(),
        board.config.board.name,
        sim_tests::qemu::QEMU,
        run.args().join(" ")
    );
    let outcome = run.run(&workspace_root(), |line| println!("{line}"))?;
    Ok(image::report_ending(&outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boards_json_lists_every_board_with_its_capacities() {
        let v = boards_json();
        let virt = v
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == "qemu-virt")
            .unwrap();
        assert_eq!(virt["total_vfs"], 64);
        assert_eq!(virt["qemu"], true);
        assert_eq!(
            v.as_array().unwrap().len(),
            board_config::board_names().len()
        );
    }

    #[test]
    fn soak_options_out_of_range_are_clear_errors() {
        for (args, says) in [
            (&["soak", "--minutes", "0"][..], "0 is not in 1..=10080"),
            (&["soak", "--steps", "0"][..], "0 is not in 1.."),
            (&["soak", "--vfs", "65"][..], "65 is not in 1..=64"),
            (&["soak", "--seed", "x"][..], "invalid digit"),
        ] {
            let argv = std::iter::once("xtask").chain(args.iter().copied());
            let e = Cli::try_parse_from(argv).err().expect("refused");
            assert!(e.to_string().contains(says), "{args:?}: {e}");
        }
        assert!(Cli::try_parse_from(["xtask", "soak", "--seed", "3", "--steps", "9"]).is_ok());
    }

    #[test]
    fn completions_know_the_commands_and_values() {
        use clap::CommandFactory;
        let mut out = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut Cli::command(),
            "xtask",
            &mut out,
        );
        let script = String::from_utf8(out).unwrap();
        for word in [
            "completions",
            "ip",
            "qemu-virt-256vf",
            "uplink-to-vf",
            "vfio_user",
        ] {
            assert!(script.contains(word), "no {word} in the bash completions");
        }
    }
}
