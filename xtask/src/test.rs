//! `cargo xtask test`: everything CI checks, with one summary line at the
//! end (`summary: N passed, M failed`). Host unit tests count one each;
//! every other check (fmt, clippy, builds, QEMU runs) counts as one.

use crate::image::{self, ImageArgs};
use crate::{setup, workspace_root};
use anyhow::{Context, Result, bail};
use sim_tests::qemu::{Ending, Outcome, QemuRun};
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Summary {
    passed: usize,
    failed: Vec<String>,
    skipped: Vec<String>,
}

impl Summary {
    fn record(&mut self, name: &str, started: Instant, result: Result<String>) {
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(note) if note.is_empty() => {
                println!("PASS {name} ({secs:.1}s)");
                self.passed += 1;
            }
            Ok(note) => {
                println!("PASS {name} ({secs:.1}s): {note}");
                self.passed += 1;
            }
            Err(e) => {
                println!("FAIL {name} ({secs:.1}s): {e:#}");
                self.failed.push(name.to_owned());
            }
        }
    }

    fn skip(&mut self, name: &str, why: &str) {
        println!("SKIP {name}: {why}");
        self.skipped.push(format!("{name} ({why})"));
    }

    fn check(&mut self, name: &str, f: impl FnOnce() -> Result<String>) {
        println!("---- {name}");
        let started = Instant::now();
        let result = f();
        self.record(name, started, result);
    }
}

/// Most initialised data an image may carry (the device and the bench rig
/// are zero-initialised and belong in .bss).
const MAX_DATA: u64 = 4096;
/// The development boards, with the exception level QEMU's model enters
/// the image at.
const DEV_BOARDS: [(&str, u8); 2] = [("vck190", 3), ("zcu102", 1)];
/// Their silicon variants, and the board whose QEMU model has the same
/// processing system: built and checked here, served on the boards.
const SILICON_BOARDS: [(&str, &str); 2] =
    [("vck190-silicon", "vck190"), ("zcu102-silicon", "zcu102")];

/// The bench mode's counts, held to the checked-in budget; and the
/// image's .data, held small.
fn bench_budgets(built: &image::BuiltImage) -> Result<String> {
    let m = crate::bench::measure(built)?;
    let report = crate::bench::summarise(m.rows, Some(m.stack));
    let problems = crate::bench::check_budget(&report, &crate::bench::read_budget()?)?;
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    let worst = |path: &str| report.paths.get(path).map_or(0, |f| f.worst);
    let size = crate::size::of_elf(&built.elf)?;
    // The device is built all zeros so that it lives in .bss: one non-zero
    // default would put its hundreds of KiB back into the loaded image.
    if size.data > MAX_DATA {
        bail!(
            ".data is {} bytes (at most {MAX_DATA}): a static with a non-zero initialiser grew it",
            size.data
        );
    }
    Ok(format!(
        "{} paths within budget; wire-unicast-decision {} and uplink-to-vf {} instructions/frame; stack high-water {} of {} bytes; static RAM {} KiB",
        report.paths.len(),
        worst("wire-unicast-decision"),
        worst("uplink-to-vf"),
        m.stack.0,
        m.stack.1,
        size.static_ram / 1024
    ))
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

fn succeed(cmd: &mut Command, what: &str) -> Result<String> {
    let status = cmd.status().with_context(|| format!("running {what}"))?;
    anyhow::ensure!(status.success(), "{what} failed ({status})");
    Ok(String::new())
}

pub fn run_all() -> Result<ExitCode> {
    let started = Instant::now();
    let mut s = Summary::default();
    setup::ensure_target()?;

    s.check("cargo fmt --check", || {
        succeed(cargo().args(["fmt", "--all", "--", "--check"]), "cargo fmt")
    });
    s.check("clippy (host crates)", || {
        succeed(
            cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]),
            "cargo clippy",
        )
    });
    s.check("clippy (image, aarch64-unknown-none)", || {
        succeed(
            cargo()
                .args(["clippy", "--target", setup::TARGET])
                .args(["-p", "firmware-image", "-p", "firmware", "-p", "hal"])
                .args(["--", "-D", "warnings"])
                .env("DEFMT_LOG", "info"),
            "cargo clippy for the target",
        )
    });
    // The development boards compile other arch code (GICv3, the Cadence
    // UART, start-up from EL3/EL2): lint it as built for them.
    let linted = DEV_BOARDS
        .iter()
        .map(|(b, _)| *b)
        .chain(SILICON_BOARDS.map(|(b, _)| b));
    for board in linted {
        s.check(&format!("clippy (image for {board})"), || {
            let path = board_config::resolve(board)?;
            succeed(
                cargo()
                    .args(["clippy", "--target", setup::TARGET])
                    .args(["-p", "firmware-image", "-p", "hal"])
                    .args(["--", "-D", "warnings"])
                    .env(board_config::BOARD_ENV, &path)
                    .env("DEFMT_LOG", "info"),
                "cargo clippy for the board",
            )
        });
    }
    host_tests(&mut s);
    s.check(
        "in-process data path with a queue manager owning the rings (SRIOV_SIM_QM=1)",
        || {
            // The same drivers and 82599 cases against the hardware's
            // rings instead of the core's (docs/data-path.md): the device
            // a driver sees must not change.
            let mut cmd = cargo();
            cmd.args(["test", "-q", "-p", "sim-tests"]);
            for t in QM_SUITES {
                cmd.args(["--test", t]);
            }
            succeed(
                cmd.env("SRIOV_SIM_QM", "1"),
                "the in-process suites with the queue manager",
            )
        },
    );
    s.check("host benches run once (cargo test --bench host)", || {
        // Criterion's test mode: every bench body runs once, so a bench
        // that panics (a path that stopped delivering) fails here; the
        // figures come from `cargo xtask bench`.
        succeed(
            cargo().args(["test", "-p", "sim-tests", "--bench", "host"]),
            "the host benches",
        )
    });
    scenarios(&mut s);
    s.check("soak (in-process, 1 minute)", soak_one_minute);
    s.check(
        "soak across 4 cores (host threads, 20 s)",
        soak_across_cores,
    );
    miri_quick(&mut s);

    let qemu_ready = setup::ensure_qemu();
    let default_image = ImageArgs {
        board: board_config::DEFAULT_BOARD.into(),
        release: true,
        debug: false,
        log: "info".into(),
    };
    let qemu_ok = qemu_ready.is_ok();
    let mut built = None;
    s.check("build image (qemu-virt, release)", || {
        built = Some(image::build(&default_image)?);
        Ok(String::new())
    });
    match (&built, qemu_ready) {
        (Some(built), Ok(())) => {
            qemu_checks(&mut s, built);
            s.check(
                "bench: instruction budgets (docs/bench-budget.toml)",
                || bench_budgets(built),
            );
            s.check(
                "data path across 4 cores (mode=cores, -smp 4): nothing lost, twice or reordered",
                || data_path_cores(built),
            );
            cosim_checks(&mut s, built);
            linux_vm(&mut s, crate::vm_run::Firmware::Qemu(built));
        }
        (_, Err(e)) => s.record("QEMU available", Instant::now(), Err(e)),
        (None, _) => {}
    }
    linux_vm(
        &mut s,
        crate::vm_run::Firmware::InProcess {
            queue_manager: false,
        },
    );
    linux_vm(
        &mut s,
        crate::vm_run::Firmware::InProcess {
            queue_manager: true,
        },
    );
    second_board(&mut s);
    if qemu_ok {
        development_boards(&mut s);
    }
    silicon_boards(&mut s, qemu_ok);
    bad_board_rejected(&mut s);
    fuzz_smoke(&mut s);

    println!(
        "\n{} checks in {:.0?}",
        s.passed + s.failed.len(),
        started.elapsed()
    );
    for name in &s.failed {
        println!("failed: {name}");
    }
    for name in &s.skipped {
        println!("skipped: {name}");
    }
    if s.skipped.is_empty() {
        println!("summary: {} passed, {} failed", s.passed, s.failed.len());
    } else {
        println!(
            "summary: {} passed, {} failed, {} skipped",
            s.passed,
            s.failed.len(),
            s.skipped.len()
        );
    }
    Ok(if s.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Linux's ixgbevf in a real VM drives two VFs of the firmware (in-process,
/// or the image on QEMU) over vfio-user (the root is prepared on first
/// use): one line per check the guest or the host side made.
fn linux_vm(s: &mut Summary, firmware: crate::vm_run::Firmware) {
    let (name, short) = match firmware {
        crate::vm_run::Firmware::InProcess {
            queue_manager: false,
        } => (
            "Linux VM (ixgbevf over vfio-user, in-process firmware)",
            "Linux VM",
        ),
        crate::vm_run::Firmware::InProcess {
            queue_manager: true,
        } => (
            "Linux VM (ixgbevf over vfio-user, in-process firmware, a queue manager owning the rings)",
            "Linux VM, queue manager",
        ),
        crate::vm_run::Firmware::Qemu(_) => (
            "Linux VM (ixgbevf over vfio-user, the image on QEMU)",
            "Linux VM, image on QEMU",
        ),
    };
    println!("---- {name}");
    let started = Instant::now();
    match crate::vm_run::run(firmware, false, false) {
        Err(e) => s.record(name, started, Err(e)),
        Ok(Err(crate::vm::Unavailable(why))) => s.skip(name, &why),
        Ok(Ok(report)) => {
            for c in report.checks.iter().chain(&report.host_checks) {
                let r = if c.ok {
                    Ok(c.detail.clone())
                } else {
                    Err(anyhow::anyhow!("{}", c.detail))
                };
                s.record(&format!("{short}: {}", c.name), started, r);
            }
            let boot = report.boot_to_link_up.map_or("no link".into(), |t| {
                format!("link up {:.1} s after QEMU started", t.as_secs_f64())
            });
            let r = if report.finished {
                Ok(format!(
                    "{boot}, {:.0} s in all",
                    report.elapsed.as_secs_f64()
                ))
            } else {
                Err(anyhow::anyhow!(
                    "the guest did not finish its checks ({boot})"
                ))
            };
            s.record(name, started, r);
        }
    }
}

/// `cargo test` on the host crates, its output passed through and its
/// result lines counted.
/// The in-process suites run again with `SRIOV_SIM_QM=1`.
const QM_SUITES: [&str; 7] = [
    "data_plane",
    "compat_82599",
    "control_plane",
    "isolation",
    "robustness",
    "switch_model",
    "queue_manager",
];

fn host_tests(s: &mut Summary) {
    println!("---- host tests (cargo test)");
    let started = Instant::now();
    // Without it the capture test fails saying so.
    if let Err(e) = setup::ensure_tshark() {
        println!("{e:#}");
    }
    let child = cargo()
        .args(["test", "--color", "never"])
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return s.record("host tests", started, Err(e.into())),
    };
    let (mut passed, mut failed) = (0, 0);
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let Ok(line) = line else { break };
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            passed += count_before(rest, " passed");
            failed += count_before(rest, " failed");
        }
        if let Some(name) = line
            .strip_prefix("test ")
            .and_then(|l| l.strip_suffix(" ... FAILED"))
        {
            s.failed.push(format!("host test {name}"));
        }
    }
    let status = child.wait();
    s.passed += passed;
    let ok = status.as_ref().is_ok_and(|st| st.success());
    if !ok && failed == 0 {
        // Did not build, or crashed outside a test: count it once.
        s.record(
            "host tests (build)",
            started,
            Err(anyhow::anyhow!("cargo test failed")),
        );
    } else {
        println!(
            "{} host tests: {passed} passed, {failed} failed ({:.1}s)",
            if failed == 0 { "PASS" } else { "FAIL" },
            started.elapsed().as_secs_f64()
        );
    }
}

/// The number just before `label` in a cargo test result line.
fn count_before(text: &str, label: &str) -> usize {
    text.split(';')
        .find_map(|part| part.trim().strip_suffix(label.trim()))
        .and_then(|n| {
            n.trim()
                .trim_start_matches("ok. ")
                .trim_start_matches("FAILED. ")
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The scenario files of a directory, sorted.
fn scenario_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// Every scenario in sim-tests/scenarios, in-process, one check each.
fn scenarios(s: &mut Summary) {
    let dir = workspace_root().join("sim-tests/scenarios");
    let files = scenario_files(&dir);
    if files.is_empty() {
        s.record(
            "scenarios",
            Instant::now(),
            Err(anyhow::anyhow!("no scenario files in {}", dir.display())),
        );
    }
    for f in files {
        let name = format!(
            "scenario {} (in-process)",
            f.file_stem().unwrap_or_default().to_string_lossy()
        );
        s.check(&name, || {
            let (sc, reports) = sim_tests::scenario::run_in_process(&f, |_| {})?;
            let failed: Vec<String> = reports
                .iter()
                .filter(|r| !r.ok)
                .map(|r| r.to_json().to_string())
                .collect();
            anyhow::ensure!(
                failed.is_empty(),
                "{} step(s) failed:\n{}",
                failed.len(),
                failed.join("\n")
            );
            Ok(format!("{} steps", sc.steps.len()))
        });
    }
}

/// The in-process soak for a minute, from a seed of the clock (a failure
/// prints the command that replays it).
fn soak_one_minute() -> Result<String> {
    let seed = crate::soak::clock_seed();
    let opts = sim_tests::soak::SoakOptions {
        seed,
        duration: Duration::from_secs(60),
        max_steps: None,
        vfs: crate::soak::DEFAULT_VFS,
    };
    let mut sim = sim_tests::sim::Sim::with_board_capacities();
    let r = sim_tests::soak::run(&mut sim, &opts, |_| true)?;
    match &r.failure {
        None => Ok(format!(
            "seed {seed}: {} steps, {:.0} frames/min, {:.0} operations/min",
            r.steps,
            r.frames_per_minute(),
            r.ops_per_minute()
        )),
        Some(f) => bail!(
            "step {} ({}): {}; replay: {}",
            f.step,
            f.action,
            f.message,
            crate::soak::replay_command(seed, (1, crate::soak::DEFAULT_VFS, false), Some(f.step))
        ),
    }
}

/// The data path across 4 cores on host threads for 20 seconds
/// (`cargo xtask soak --cores 4`), a seed from the clock.
fn soak_across_cores() -> Result<String> {
    let seed = crate::soak::clock_seed();
    let opts = sim_tests::cores_soak::Options {
        seed,
        duration: Duration::from_secs(20),
        cores: 4,
        max_rounds: None,
    };
    let r = sim_tests::cores_soak::run(&opts, |_| {})?;
    Ok(format!(
        "seed {seed}: {} rounds, {} frames, {} handed between cores, {} waits",
        r.rounds, r.frames, r.handed_off, r.waits
    ))
}

/// One QEMU boot of the image and what it must show.
struct Boot<'a> {
    name: &'a str,
    append: &'a str,
    machine: Option<&'a str>,
    exit: i32,
    logged: Vec<String>,
}

impl<'a> Boot<'a> {
    /// A boot on the board's own machine, for the checks that need no name.
    fn expect(append: &'a str, exit: i32, logged: Vec<String>) -> Self {
        Boot {
            name: "",
            append,
            machine: None,
            exit,
            logged,
        }
    }
}

/// The release image with info logs, as the QEMU checks boot it.
fn release_image(board: &str) -> Result<image::BuiltImage> {
    image::build(&ImageArgs {
        board: board.into(),
        release: true,
        debug: false,
        log: "info".into(),
    })
}

fn boot(built: &image::BuiltImage, b: &Boot) -> Result<String> {
    let mut run = QemuRun::for_board(&built.board.config, &built.elf)?;
    run.append = Some(b.append.to_owned());
    run.timeout = Some(Duration::from_secs(30));
    if let Some(m) = b.machine {
        run.machine = m.to_owned();
    }
    let outcome = run.run(&workspace_root(), |_| {})?;
    verify(&outcome, b.exit, &b.logged)
}

pub(crate) fn verify(outcome: &Outcome, exit: i32, logged: &[String]) -> Result<String> {
    let missing: Vec<&String> = logged.iter().filter(|t| !outcome.logged(t)).collect();
    if outcome.ending == Ending::Exited(exit) && missing.is_empty() {
        return Ok(format!("exit {exit}, {} log lines", outcome.lines.len()));
    }
    anyhow::bail!(
        "expected exit {exit}, got {:?}; missing from the log: {missing:?}\n--- log\n{}--- QEMU stderr\n{}",
        outcome.ending,
        outcome.log_text(),
        outcome.stderr
    )
}

fn qemu_checks(s: &mut Summary, built: &image::BuiltImage) {
    const DEFMT_PRINT: &str = "defmt-print decodes the UART with the ELF (docs/boards.md)";
    if crate::setup::have("defmt-print") {
        s.check(DEFMT_PRINT, || {
            crate::run_checks::defmt_print_decodes(built)
        });
    } else {
        s.skip(
            DEFMT_PRINT,
            "defmt-print not installed (cargo install defmt-print)",
        );
    }
    let c = &built.board.config;
    let ram = c.memory.ram;
    let ram_end = ram.start + ram.size;
    let selftest = Boot {
        name: "QEMU: boots, reports, ticks, exits 0",
        append: "mode=selftest ticks=20",
        machine: None,
        exit: 0,
        logged: vec![
            format!("on board {}", c.board.name),
            format!(
                "memory map: memory.ram {:#010x}..{:#010x}",
                ram.start, ram_end
            ),
            format!("memory map: devices.uart {:#010x}", c.devices.uart.start),
            "MMU on, D-cache on, I-cache on".into(),
            format!("tick {} Hz on INTID {}", c.timer.tick_hz, c.timer.intid),
            "20 ticks in".into(),
            "self-test passed".into(),
        ],
    };
    let el2 = Boot {
        name: "QEMU: enters at EL2, drops to EL1",
        append: "mode=selftest ticks=5",
        machine: Some(&format!(
            "{},virtualization=on",
            c.qemu.as_ref().map_or("virt", |q| q.machine.as_str())
        )),
        exit: 0,
        logged: vec![
            "entered at EL2, running at EL1".into(),
            "self-test passed".into(),
        ],
    };
    let unmapped = Boot {
        name: "QEMU: unmapped access is reported, exit 4",
        append: "mode=fault-unmapped",
        machine: None,
        exit: 4,
        logged: vec![
            "EXCEPTION synchronous".into(),
            "data abort (EC=0x25)".into(),
            format!("FAR={:#018x}", ram_end),
            "translation fault".into(),
            "LR=".into(),
        ],
    };
    let stack = Boot {
        name: "QEMU: stack overflow hits the guard page, exit 4",
        append: "mode=fault-stack",
        machine: None,
        exit: 4,
        logged: vec!["EXCEPTION synchronous".into(), "stack overflow".into()],
    };
    let panic = Boot {
        name: "QEMU: panic prints message and location, exit 3",
        append: "mode=panic",
        machine: None,
        exit: 3,
        logged: vec![
            "PANIC at firmware/image/src/main.rs:".into(),
            "panic requested on the command line".into(),
        ],
    };
    let bad_cmdline = Boot {
        name: "QEMU: bad command line is refused, exit 2",
        append: "mode=warp",
        machine: None,
        exit: 2,
        logged: vec!["unknown mode \"warp\"".into()],
    };
    for b in [selftest, el2, unmapped, stack, panic, bad_cmdline] {
        s.check(b.name, || boot(built, &b));
    }
}

/// The co-simulation: the README's main job, every scenario under QEMU
/// agreeing with in-process, and the start-up failures.
fn cosim_checks(s: &mut Summary, built: &image::BuiltImage) {
    use sim_tests::cosim::{CoSim, CoSimOptions, Wire};
    use sim_tests::scenario;

    s.check(
        "cargo xtask run (the main job) exits 0, every traffic check ok",
        || {
            let exe = std::env::current_exe()?;
            let out = Command::new(exe)
                .args(["run", "--timeout", "60"])
                .current_dir(workspace_root())
                .output()?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let oks = stderr
                .lines()
                .filter(|l| l.trim_start().starts_with("ok "))
                .count();
            let fails = stderr
                .lines()
                .filter(|l| l.trim_start().starts_with("FAIL"))
                .count();
            anyhow::ensure!(
                out.status.success()
                    && fails == 0
                    && oks >= 15
                    && stdout.contains("vf 7     link/ether"),
                "exit {:?}, {oks} ok, {fails} failed\n{stderr}\n{stdout}",
                out.status.code()
            );
            Ok(format!("{oks} traffic checks"))
        },
    );

    s.check(
        "cargo xtask run --forever: administered with cargo xtask ip, then SIGINT cleans up",
        crate::run_checks::sigint_cleans_up,
    );
    s.check(
        "cargo xtask run --gdb: QEMU halted, its gdb stub answers, SIGINT ends it",
        crate::run_checks::gdb_stub_answers,
    );

    let dir = workspace_root().join("sim-tests/scenarios");
    let files = scenario_files(&dir);
    for f in files {
        let Ok(sc) = scenario::Scenario::load(&f) else {
            continue;
        };
        if !sc.runs_on("qemu") {
            continue;
        }
        let name = format!("scenario {} under QEMU agrees with in-process", sc.name);
        s.check(&name, || {
            let (_, here) = scenario::run_in_process(&f, |_| {})?;
            let (_, there) = scenario::run_in_qemu(
                &f,
                &built.board.config,
                &built.elf,
                &workspace_root(),
                |_| {},
            )?;
            let failed: Vec<String> = there
                .iter()
                .filter(|r| !r.ok)
                .map(|r| r.to_json().to_string())
                .collect();
            anyhow::ensure!(failed.is_empty(), "under QEMU:\n{}", failed.join("\n"));
            let differ = scenario::disagreements(&here, &there);
            anyhow::ensure!(differ.is_empty(), "results differ:\n{}", differ.join("\n"));
            Ok(format!("{} steps", there.len()))
        });
    }

    let c = &built.board.config;
    let ping = crate::setup::ensure_ping();
    if let Err(e) = &ping {
        s.skip(
            "real Linux: ping and ARP across the switch",
            &format!("{e:#}"),
        );
    } else if crate::linux::privileged() {
        s.check(
            "real Linux: ping and ARP across the switch (TAP, namespaces)",
            || crate::linux::ping_across_the_switch(built),
        );
    } else {
        s.skip(
            "real Linux: ping and ARP across the switch",
            "needs root and /dev/net/tun",
        );
    }
    s.check(
        "co-sim: no shared-memory window is a clear error, exit 2",
        || {
            boot(
                built,
                &Boot {
                    name: "",
                    append: "mode=serve",
                    machine: None,
                    exit: 2,
                    logged: vec!["no shared-memory window".into()],
                },
            )
        },
    );
    s.check(
        "co-sim: a window too small is a clear error, exit 2",
        || {
            let path = std::env::temp_dir().join(format!("sriov-fw-small-{}", std::process::id()));
            std::fs::write(&path, vec![0u8; 1 << 20])?;
            let mut run = QemuRun::for_board(c, &built.elf)?;
            run.append = Some("mode=serve".into());
            run.timeout = Some(Duration::from_secs(30));
            run.extra_args = vec![
                "-object".into(),
                format!(
                    "memory-backend-file,id=hostmem,share=on,mem-path={},size=1M",
                    path.display()
                ),
                "-device".into(),
                "ivshmem-plain,memdev=hostmem".into(),
            ];
            let outcome = run.run(&workspace_root(), |_| {});
            let _ = std::fs::remove_file(&path);
            verify(
                &outcome?,
                2,
                &["shared-memory window of 1048576 bytes".into()],
            )
        },
    );
    s.check(
        "co-sim: no uplink device: serves without one, says so",
        || {
            let mut dev = CoSim::start(
                c,
                &built.elf,
                &workspace_root(),
                CoSimOptions::quiet(Wire::None),
            )?;
            let mut pf = sim_tests::drivers::pf::PfDriver::probe(&mut dev)
                .map_err(|e| anyhow::anyhow!("probe: {e}"))?;
            pf.shutdown(&mut dev).map_err(|e| anyhow::anyhow!("{e}"))?;
            verify(&dev.finish()?, 0, &["no uplink (NotFound)".into()])
        },
    );
    s.check(
        "co-sim: a firmware that stops answering is detected",
        || {
            use sim_tests::transport::Transport;
            let mut dev = CoSim::start(
                c,
                &built.elf,
                &workspace_root(),
                CoSimOptions::quiet(Wire::Udp),
            )?;
            let mut pf = sim_tests::drivers::pf::PfDriver::probe(&mut dev)
                .map_err(|e| anyhow::anyhow!("probe: {e}"))?;
            // Answering first (so the heartbeat has moved), then stopped.
            pf.info(&mut dev).map_err(|e| anyhow::anyhow!("{e}"))?;
            anyhow::ensure!(pf.heartbeat(&mut dev) != 0, "no heartbeat before the stop");
            dev.stop();
            // A driver's periodic check, 3 s of it.
            for _ in 0..30 {
                dev.delay_us(100_000);
            }
            let answer = pf.info(&mut dev);
            let stalled = dev.stalled;
            let _ = dev.finish();
            anyhow::ensure!(answer.is_err(), "the admin query answered");
            anyhow::ensure!(stalled, "the heartbeat watch did not notice");
            Ok(String::new())
        },
    );
}

/// Each fuzz target for a few seconds (the full runs: `cargo xtask fuzz`).
/// The quick Miri set (`cargo xtask miri` runs all of it; the model's
/// register tests and the VF's bring-up take minutes more).
fn miri_quick(s: &mut Summary) {
    if let Err(e) = crate::miri::ensure_miri() {
        s.skip("miri (quick set)", &format!("{e:#}"));
        return;
    }
    s.check(
        "miri (quick set: hal, window, host memory, PF data path)",
        || crate::miri::run(&crate::miri::QUICK).map(|()| String::new()),
    );
}

fn fuzz_smoke(s: &mut Summary) {
    // Eight targets: a minute and a half in all, after the one build.
    const SECONDS: u64 = 8;
    if let Err(e) = crate::fuzz::ensure_cargo_fuzz() {
        s.skip("fuzz smoke round", &format!("{e:#}"));
        return;
    }
    for target in crate::fuzz::TARGETS {
        s.check(&format!("fuzz {target} ({SECONDS} s smoke round)"), || {
            let r = crate::fuzz::run(target, crate::fuzz::Budget::Seconds(SECONDS))?;
            anyhow::ensure!(
                !r.crashed || r.started(),
                "did not start (the fuzz build or libFuzzer's set-up failed):\n{}",
                r.output
            );
            anyhow::ensure!(!r.crashed, "crash:\n{}", r.output);
            anyhow::ensure!(r.executions > 0, "no executions:\n{}", r.output);
            Ok(format!("{}, no crash", r.summary()))
        });
    }
}

/// A second board is one TOML: it builds and boots, and its 256 VFs and
/// 1024 MAC filters stay within the same instruction budgets.
fn second_board(s: &mut Summary) {
    let mut built = None;
    s.check("second board (qemu-virt-256vf) builds and boots", || {
        let built = &*built.insert(release_image("qemu-virt-256vf")?);
        let c = &built.board.config;
        boot(
            built,
            &Boot::expect(
                "mode=selftest ticks=5",
                0,
                vec![
                    format!("on board {}", c.board.name),
                    format!("capacities: {} VFs", c.capacities.total_vfs),
                    format!(
                        "memory map: memory.ram {:#010x}..{:#010x}",
                        c.memory.ram.start,
                        c.memory.ram.start + c.memory.ram.size
                    ),
                ],
            ),
        )
    });
    if let Some(built) = &built {
        s.check(
            "bench: instruction budgets on qemu-virt-256vf (256 VFs)",
            || bench_budgets(built),
        );
    }
}

/// `mode=cores` on 4 cores, multi-threaded (the soak of the handoff under
/// real concurrency: the image fails itself on a lost, duplicated or
/// reordered frame) and under `-icount` (each core's instructions per
/// frame, held to the same budget as one core's).
fn data_path_cores(built: &image::BuiltImage) -> Result<String> {
    let timed = crate::cores::run_once(built, 4, false)?;
    let counted = crate::cores::run_once(built, 4, true)?;
    let budget: toml::Table = toml::from_str(&crate::bench::read_budget()?)?;
    let limit = budget
        .get("budget")
        .and_then(|b| b.get(crate::bench::DATA_PATH_CORE))
        .and_then(|v| v.as_integer())
        .context("docs/bench-budget.toml has no data-path-core budget")? as u64;
    let per_core: Vec<u64> = counted
        .rows
        .iter()
        .map(|r| r.instructions_per_frame.context("a core without a median"))
        .collect::<Result<_>>()?;
    if let Some(over) = per_core.iter().find(|&&i| i > limit) {
        bail!("a core's data path takes {over} instructions a frame, over the budget of {limit}");
    }
    let handed: u64 = timed.rows.iter().map(|r| r.handed_off).sum();
    Ok(format!(
        "{} frames in {} ms ({} handed between cores), {:?} instructions a frame per core",
        timed.frames,
        timed.elapsed_us.unwrap_or(0) / 1000,
        handed,
        per_core
    ))
}

/// The development boards (docs/boards/): each builds and boots its
/// self-test from the entry level its QEMU model gives (vck190: EL3,
/// zcu102: EL1, and EL3 with secure=on), a panic exits 3, and the
/// boot-loader images are right: `mkimage -l` reads the uImage's header,
/// QEMU boots the uImage (vck190 enters at EL2 then) and the raw binary.
fn development_boards(s: &mut Summary) {
    for (board, entry_el) in DEV_BOARDS {
        let mut built = None;
        s.check(
            &format!("{board}: builds, boots at EL{entry_el}, self-test passes"),
            || {
                let built = &*built.insert(release_image(board)?);
                let c = &built.board.config;
                let logged = vec![
                    format!("on board {board}"),
                    format!("entered at EL{entry_el}, running at EL1"),
                    format!("memory map: devices.uart {:#010x}", c.devices.uart.start),
                    "MMU on, D-cache on, I-cache on".into(),
                    format!("tick {} Hz on INTID {}", c.timer.tick_hz, c.timer.intid),
                    "self-test passed".into(),
                ];
                boot(built, &Boot::expect("mode=selftest ticks=5", 0, logged))
            },
        );
        let Some(built) = &built else { continue };
        s.check(&format!("{board}: panic is reported, exit 3"), || {
            let logged = vec!["panic requested on the command line".into()];
            boot(built, &Boot::expect("mode=panic", 3, logged))
        });
        s.check(
            &format!("{board}: unmapped access is reported, exit 4"),
            || {
                let ram = built.board.config.memory.ram;
                let logged = vec![
                    "data abort (EC=0x25)".into(),
                    format!("FAR={:#018x}", ram.start + ram.size),
                ];
                boot(built, &Boot::expect("mode=fault-unmapped", 4, logged))
            },
        );
        s.check(
            &format!("{board}: the co-simulation refuses clearly (no PCI bus here)"),
            || {
                cosim_refuses(
                    built,
                    &format!("board {board} has no [shared_memory] window"),
                )?;
                Ok(String::new())
            },
        );
        if board == "zcu102" {
            s.check(
                "zcu102: secure=on enters at EL3, GICv2 groups set there",
                || {
                    let logged = vec![
                        "entered at EL3, running at EL1".into(),
                        "self-test passed".into(),
                    ];
                    let mut b = Boot::expect("mode=selftest ticks=5", 0, logged);
                    b.machine = Some("xlnx-zcu102,secure=on");
                    boot(built, &b)
                },
            );
        }
        s.check(
            &format!("{board}: uImage header (mkimage -l), boots on QEMU"),
            || uimage_checks(built, if board == "vck190" { 2 } else { 1 }),
        );
        s.check(
            &format!("{board}: raw binary boots at its load address"),
            || {
                let mut run = QemuRun::for_board(&built.board.config, &built.elf)?;
                run.boot = crate::boot_image::qemu_boot(built, crate::boot_image::Format::Bin)?;
                run.timeout = Some(Duration::from_secs(30));
                let outcome = run.run(&workspace_root(), |_| {})?;
                // No command line through the loader: the default self-test.
                verify(&outcome, 0, &["self-test passed".into()])
            },
        );
    }
}

/// `mkimage -l` shows the board's load address, entry, arch, type and
/// name (it only recognises the image when both CRCs are right); QEMU's
/// `-kernel` takes it as a Linux image and enters at `entry_el`.
fn uimage_checks(built: &image::BuiltImage, entry_el: u8) -> Result<String> {
    let (path, load) = uimage_header(built)?;
    let mut run = QemuRun::for_board(&built.board.config, &built.elf)?;
    run.boot = sim_tests::qemu::BootFile::Kernel(path);
    run.append = Some("mode=selftest ticks=5".into());
    run.timeout = Some(Duration::from_secs(30));
    let outcome = run.run(&workspace_root(), |_| {})?;
    verify(
        &outcome,
        0,
        &[
            format!("entered at EL{entry_el}, running at EL1"),
            "self-test passed".into(),
        ],
    )?;
    Ok(format!("load and entry {load}, boots at EL{entry_el}"))
}

/// The co-simulation does not start for `built`, and its error says
/// `wanted`.
fn cosim_refuses(built: &image::BuiltImage, wanted: &str) -> Result<()> {
    use sim_tests::cosim::{CoSim, CoSimOptions, Wire};
    let started = CoSim::start(
        &built.board.config,
        &built.elf,
        &workspace_root(),
        CoSimOptions::quiet(Wire::None),
    );
    let Err(e) = started else {
        bail!("the co-simulation started");
    };
    let e = format!("{e:#}");
    anyhow::ensure!(e.contains(wanted), "{e}");
    Ok(())
}

/// A silicon image on its sibling's QEMU model: no semihosting, so it
/// serves by default; the log names the AXI window and has `then`; QEMU
/// runs on (the image neither exits nor can) until the timeout.
fn silicon_on_qemu(board: &str, sibling: &str, then: &[String]) -> Result<String> {
    let built = release_image(board)?;
    let model = board_config::load(&board_config::resolve(sibling)?)?;
    let shm = built
        .board
        .config
        .shared_memory
        .context("a silicon board has a window")?;
    let mut run = QemuRun::for_board(&model.config, &built.elf)?;
    run.semihosting = false;
    run.timeout = Some(Duration::from_secs(15));
    let outcome = run.run(&workspace_root(), |_| {})?;
    let mut logged = vec![
        format!("on board {board}"),
        "mode: Serve".into(),
        format!(
            "host interface: {} KiB window at {:#x} (AXI)",
            shm.size / 1024,
            shm.start
        ),
    ];
    logged.extend_from_slice(then);
    let missing: Vec<&String> = logged.iter().filter(|t| !outcome.logged(t)).collect();
    anyhow::ensure!(
        outcome.ending == Ending::TimedOut && missing.is_empty(),
        "expected QEMU to run until the timeout, got {:?}; missing from the log: {missing:?}\n--- log\n{}--- QEMU stderr\n{}",
        outcome.ending,
        outcome.log_text(),
        outcome.stderr
    );
    Ok(format!(
        "{} log lines, ran until the timeout",
        outcome.lines.len()
    ))
}

/// Writes the image's uImage and checks its header with `mkimage -l`: the
/// file and the load address.
fn uimage_header(built: &image::BuiltImage) -> Result<(std::path::PathBuf, String)> {
    use crate::boot_image::{Format, qemu_boot};
    setup::ensure_mkimage()?;
    let sim_tests::qemu::BootFile::Kernel(path) = qemu_boot(built, Format::Uimage)? else {
        bail!("a uImage boots through -kernel");
    };
    let out = crate::setup::stdout_of(Command::new("mkimage").arg("-l").arg(&path))?;
    let listing = String::from_utf8_lossy(&out);
    let load = format!("{:08x}", built.board.config.memory.ram.start);
    let wanted = [
        format!("Image Name:   sriov-fw {}", built.board.config.board.name),
        "Image Type:   AArch64 Linux Kernel Image (uncompressed)".into(),
        format!("Load Address: {load}"),
        format!("Entry Point:  {load}"),
    ];
    let missing: Vec<_> = wanted
        .iter()
        .filter(|w| !listing.contains(w.as_str()))
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "mkimage -l lacks {missing:?}:
{listing}"
    );
    Ok((path, load))
}

/// The silicon variants of the development boards: they build (the AXI
/// window, halting instead of exiting), their uImage is right, and the
/// co-simulation refuses a window QEMU has nothing behind. On QEMU's model
/// of the same processing system they start, serve by default and attach
/// to the AXI window; what happens then is the model's (no PL): Versal's
/// decodes nothing there, so the first access is a data abort, reported,
/// then the core halts; ZynqMP's has its virtio-mmio transports there,
/// which ignore the writes, so the loop serves no VFs. They serve only on
/// the boards (docs/boards/*.md).
fn silicon_boards(s: &mut Summary, qemu_ok: bool) {
    for (board, sibling) in SILICON_BOARDS {
        if qemu_ok {
            let (then, logged): (&str, Vec<String>) = if sibling == "vck190" {
                // `Device::attach` first clears fw_status: the fault is
                // there, in the board's window.
                let far = board_config::resolve(board)
                    .and_then(|p| board_config::load(&p))
                    .ok()
                    .and_then(|c| c.config.shared_memory)
                    .map(|w| {
                        let at = std::mem::offset_of!(hal::chip::Global, fw_status) as u64;
                        format!("FAR={:#018x}", w.start + at)
                    })
                    .unwrap_or_else(|| format!("{board}'s window (board file unreadable)"));
                ("faults there, halts", vec!["data abort".into(), far])
            } else {
                ("serves no VFs", vec!["serving: 0 VFs".into()])
            };
            s.check(
                &format!("{board}: on {sibling}'s QEMU model, attaches to the AXI window, {then}"),
                || silicon_on_qemu(board, sibling, &logged),
            );
        }
        s.check(
            &format!("{board}: builds, uImage header (mkimage -l), no co-simulation"),
            || {
                let built = release_image(board)?;
                let (_, load) = uimage_header(&built)?;
                cosim_refuses(&built, "window is on the AXI bus")?;
                Ok(format!("load and entry {load}"))
            },
        );
    }
}

/// A broken board file stops the build in the build script, naming the
/// file, the field and the problem.
fn bad_board_rejected(s: &mut Summary) {
    s.check("bad board config is rejected at build time", || {
        let dir = crate::target_dir().join("xtask-tmp");
        std::fs::create_dir_all(&dir)?;
        let bad = dir.join("overlapping-uart.toml");
        let base = board_config::boards_dir().join("qemu-virt.toml");
        std::fs::write(
            &bad,
            format!(
                "extends = {:?}\n[devices]\nuart = {{ start = 0x4000_0000, size = 0x1000 }}\n",
                base.display().to_string()
            ),
        )?;
        let out = cargo()
            .args([
                "build",
                "--release",
                "-p",
                "firmware-image",
                "--target",
                setup::TARGET,
            ])
            .env(board_config::BOARD_ENV, &bad)
            .env("DEFMT_LOG", "info")
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let wanted = [
            bad.display().to_string(),
            "field `devices.uart`".into(),
            "overlaps `memory.ram`".into(),
        ];
        anyhow::ensure!(!out.status.success(), "the build succeeded");
        let missing: Vec<_> = wanted
            .iter()
            .filter(|w| !stderr.contains(w.as_str()))
            .collect();
        anyhow::ensure!(missing.is_empty(), "message lacks {missing:?}:\n{stderr}");
        Ok(String::new())
    });
}
