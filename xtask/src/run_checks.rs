//! `cargo xtask test`'s checks of `cargo xtask run` as a user has it:
//! `run --forever` administered from another process over the control
//! socket (`cargo xtask ip`), then stopped with SIGINT, after which the
//! firmware must have shut down cleanly, the capture be complete, the
//! window file and the socket be gone, and the exit status be 130; `run
//! --gdb`'s stub; and docs/boards.md's `defmt-print` command.

use anyhow::{Context, Result, bail, ensure};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the run may take to reach "serving until Ctrl-C".
const TO_SERVING: Duration = Duration::from_secs(240);

pub fn sigint_cleans_up() -> Result<String> {
    sigint_cleans_up_with(&std::env::current_exe()?)
}

/// The same with the xtask binary at `exe`.
pub fn sigint_cleans_up_with(exe: &std::path::Path) -> Result<String> {
    let scratch = crate::target_dir().join("xtask-tmp").join("forever");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let socket = scratch.join("control.sock");
    let caps = scratch.join("run.pcapng");
    let mut child = Command::new(exe)
        .args(["run", "--forever", "--vfs", "4", "--control"])
        .arg(&socket)
        .arg("--pcap")
        .arg(&caps)
        .current_dir(crate::workspace_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting cargo xtask run --forever")?;
    let mut seen = Seen::of(&mut child);
    let result = (|| -> Result<String> {
        if !seen.until(TO_SERVING, |l| l.contains("serving until Ctrl-C")) {
            bail!("the run did not reach \"serving until Ctrl-C\"");
        }
        let window = seen
            .err
            .lines()
            .find_map(|l| l.trim().strip_prefix("window: "))
            .map(std::path::PathBuf::from)
            .context("the run did not say where its window file is")?;
        ensure!(
            window.exists(),
            "{} missing while serving",
            window.display()
        );

        // Another process administers it, in ip's words.
        let ip = |words: &[&str]| {
            Command::new(exe)
                .arg("ip")
                .arg("--socket")
                .arg(&socket)
                .args(words)
                .output()
        };
        let set = ip(&[
            "link", "set", "vf", "3", "trust", "on", "vlan", "42", "qos", "2",
        ])?;
        ensure!(
            set.status.success(),
            "ip link set: {}",
            String::from_utf8_lossy(&set.stderr)
        );
        let show = ip(&["-s", "link", "show"])?;
        let shown = String::from_utf8_lossy(&show.stdout).into_owned();
        let vf3 = shown
            .lines()
            .find(|l| l.trim_start().starts_with("vf 3 "))
            .with_context(|| format!("no vf 3 in ip -s link show:\n{shown}"))?;
        ensure!(
            vf3.contains(", vlan 42, qos 2,") && vf3.contains("trust on"),
            "vf 3 after the set: {vf3}"
        );
        let bad = ip(&["link", "set", "vf", "3", "trust", "maybe"])?;
        ensure!(
            bad.status.code() == Some(2) && String::from_utf8_lossy(&bad.stderr).contains("maybe"),
            "a bad word: exit {:?}, {}",
            bad.status.code(),
            String::from_utf8_lossy(&bad.stderr)
        );

        sigint_ends_with_130(&mut child, &mut seen, Duration::from_secs(30))?;
        for (what, text, log) in [
            (
                "the host side",
                &seen.err,
                "SIGINT: shutting the firmware down",
            ),
            ("the firmware", &seen.out, "admin: shutdown requested"),
            ("the host side", &seen.err, "firmware exited cleanly (0)"),
        ] {
            ensure!(text.contains(log), "{what} never said {log:?}");
        }
        ensure!(!window.exists(), "{} left behind", window.display());
        ensure!(!socket.exists(), "{} left behind", socket.display());
        let frames = crate::run_checks::captured_frames(&caps)?;
        Ok(format!(
            "ip set and show over the socket; SIGINT: exit 130, clean firmware exit, window and socket removed, {frames} frames captured"
        ))
    })();
    let _ = child.kill();
    let _ = child.wait();
    result.map_err(|e| anyhow::anyhow!("{e:#}\n--- stderr\n{}\n--- stdout\n{}", seen.err, seen.out))
}

/// Sends `child` SIGINT (as Ctrl-C would) and waits up to `wait` for it to
/// exit with 130, its output kept meanwhile.
fn sigint_ends_with_130(
    child: &mut std::process::Child,
    seen: &mut Seen,
    wait: Duration,
) -> Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + wait;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if Instant::now() > deadline {
            bail!("still running {wait:?} after SIGINT");
        }
        seen.until(Duration::from_millis(100), |_| false);
    };
    seen.until(Duration::from_millis(500), |_| false);
    ensure!(
        status.code() == Some(130),
        "exit status {:?} after SIGINT (130 expected)",
        status.code()
    );
    Ok(())
}

/// The run's output lines as they arrive, kept.
struct Seen {
    rx: mpsc::Receiver<(bool, String)>,
    out: String,
    err: String,
}

impl Seen {
    /// Starts reading `child`'s piped stdout and stderr, a thread each.
    fn of(child: &mut std::process::Child) -> Seen {
        let (tx, rx) = mpsc::channel::<(bool, String)>();
        let pipes: [(bool, Option<Box<dyn std::io::Read + Send>>); 2] = [
            (false, child.stdout.take().map(|p| Box::new(p) as _)),
            (true, child.stderr.take().map(|p| Box::new(p) as _)),
        ];
        for (is_err, pipe) in pipes {
            let Some(pipe) = pipe else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(|l| l.ok()) {
                    let _ = tx.send((is_err, line));
                }
            });
        }
        Seen {
            rx,
            out: String::new(),
            err: String::new(),
        }
    }

    /// Takes lines for up to `wait`, until one satisfies `hit` (true) or
    /// the time is up or both pipes closed (false).
    fn until(&mut self, wait: Duration, hit: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok((is_err, line)) => {
                    let buf = if is_err { &mut self.err } else { &mut self.out };
                    buf.push_str(&line);
                    buf.push('\n');
                    if hit(&line) {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }
}

/// Frames in the run's capture, read to its end (a capture cut short,
/// its buffered tail lost, is an error), with the wire and VF 0 among its
/// ports.
pub fn captured_frames(path: &std::path::Path) -> Result<usize> {
    let frames = sim_tests::capture::read_all(path)
        .with_context(|| format!("reading the capture {}", path.display()))?;
    for port in ["wire", "pf", "vf0"] {
        ensure!(
            frames.iter().any(|f| f.port == port),
            "no frames on port {port} in {}",
            path.display()
        );
    }
    Ok(frames.len())
}

/// `cargo xtask run --gdb PORT`: QEMU starts halted and its gdb stub
/// answers a status query (`?`, the first thing gdb asks); SIGINT ends it.
pub fn gdb_stub_answers() -> Result<String> {
    use std::io::{Read, Write};
    let exe = std::env::current_exe()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = Command::new(&exe)
        .args(["run", "--gdb", &port.to_string()])
        .current_dir(crate::workspace_root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut seen = Seen::of(&mut child);
    let result = (|| -> Result<String> {
        if !seen.until(TO_SERVING, |l| l.contains("gdb-multiarch")) {
            bail!("no gdb command printed");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut stream = loop {
            match std::net::TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => return Err(e.into()),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        // `?` with its checksum (0x3f): the stop reason.
        stream.write_all(b"$?#3f")?;
        let mut reply = Vec::new();
        let mut buf = [0u8; 256];
        while !reply.contains(&b'#') {
            let n = stream.read(&mut buf)?;
            ensure!(n > 0, "the stub closed the connection");
            reply.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&reply).into_owned();
        ensure!(
            text.contains("$T") || text.contains("$S"),
            "the stub answered {text:?} to `?`"
        );
        sigint_ends_with_130(&mut child, &mut seen, Duration::from_secs(20))?;
        Ok(format!(
            "halted, the stub answered {}",
            text.trim_start_matches('+')
        ))
    })();
    let _ = child.kill();
    let _ = child.wait();
    result.map_err(|e| anyhow::anyhow!("{e:#}\n--- stderr\n{}", seen.err))
}

/// docs/boards.md's `defmt-print` command, on the image's UART under
/// QEMU: the self-test's log decoded by Knurling's tool with the ELF.
pub fn defmt_print_decodes(built: &crate::image::BuiltImage) -> Result<String> {
    let mut run = sim_tests::qemu::QemuRun::for_board(&built.board.config, &built.elf)?;
    run.append = Some("mode=selftest ticks=5".into());
    let mut qemu = Command::new(sim_tests::qemu::QEMU);
    sim_tests::qemu::owned_child(&mut qemu);
    let mut qemu = qemu
        .args(run.args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let uart = qemu.stdout.take().expect("piped");
    let decoded = Command::new("defmt-print")
        .arg("-e")
        .arg(&built.elf)
        .stdin(Stdio::from(uart))
        .output();
    let status = qemu.wait()?;
    let decoded = decoded.context("running defmt-print")?;
    let text = String::from_utf8_lossy(&decoded.stdout);
    ensure!(
        status.code() == Some(0) && text.contains("self-test passed"),
        "QEMU exit {:?}; defmt-print printed:\n{text}{}",
        status.code(),
        String::from_utf8_lossy(&decoded.stderr)
    );
    Ok(format!("{} lines decoded", text.lines().count()))
}

#[cfg(test)]
mod tests {
    /// The check alone (it boots QEMU; run with `cargo test -p xtask --
    /// --ignored forever` after `cargo build -p xtask`).
    #[test]
    #[ignore]
    fn forever_then_sigint() {
        let exe = std::env::var_os("XTASK_EXE")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| crate::target_dir().join("debug/xtask"));
        println!("{}", super::sigint_cleans_up_with(&exe).unwrap());
    }
}
