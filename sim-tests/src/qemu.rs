//! Booting an image under QEMU: the command line comes from the board
//! config, every run has a timeout, the UART's defmt stream is decoded as
//! it arrives, and the exit status is the firmware's verdict (semihosting).

use crate::defmt_log::{LogDecoder, LogLine};
use anyhow::{Context, Result, bail};
use board_config::{BoardConfig, ExitMethod};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The QEMU binary for AArch64 guests.
pub const QEMU: &str = "qemu-system-aarch64";

/// One QEMU run of an image.
#[derive(Clone, Debug)]
pub struct QemuRun {
    pub elf: PathBuf,
    /// `-M` value (board's `qemu.machine` unless overridden).
    pub machine: String,
    pub cpu: String,
    pub ram_bytes: u64,
    pub semihosting: bool,
    /// The image's command line (`-append`).
    pub append: Option<String>,
    /// `None` runs until the guest exits (use only interactively).
    pub timeout: Option<Duration>,
    pub extra_args: Vec<String>,
    /// Set to stop the run early (QEMU is killed).
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// QEMU exited with this status (the firmware's code under semihosting).
    Exited(i32),
    /// Killed by a signal.
    Signalled,
    /// The timeout passed; QEMU was killed.
    TimedOut,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub ending: Ending,
    pub lines: Vec<LogLine>,
    /// What QEMU itself printed on stderr.
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    /// Whether some decoded line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.lines.iter().any(|l| l.message.contains(text))
    }

    /// The decoded log as text, one line each.
    pub fn log_text(&self) -> String {
        self.lines.iter().map(|l| format!("{l}\n")).collect()
    }
}

impl QemuRun {
    /// A run of `elf` on `board`, which must say how QEMU runs it.
    pub fn for_board(board: &BoardConfig, elf: &Path) -> Result<Self> {
        let Some(q) = &board.qemu else {
            bail!(
                "board {} has no [qemu] section: it does not run under QEMU",
                board.board.name
            );
        };
        Ok(Self {
            elf: elf.to_owned(),
            machine: q.machine.clone(),
            cpu: q.cpu.clone(),
            ram_bytes: board.memory.ram.size,
            semihosting: board.board.exit == ExitMethod::Semihosting,
            append: None,
            timeout: Some(Duration::from_secs(60)),
            extra_args: Vec::new(),
            stop: None,
        })
    }

    /// The QEMU arguments for this run.
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "-M",
            &self.machine,
            "-cpu",
            &self.cpu,
            "-m",
            &format!("{}M", self.ram_bytes.div_ceil(1 << 20)),
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "stdio",
            "-nic",
            "none",
            "-kernel",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(self.elf.display().to_string());
        if self.semihosting {
            args.extend([
                "-semihosting-config".into(),
                "enable=on,target=native".into(),
            ]);
        }
        if let Some(append) = &self.append {
            args.extend(["-append".into(), append.clone()]);
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// Boots the image and waits for it to end (or the timeout), calling
    /// `on_line` for each decoded line as it arrives.
    pub fn run(&self, workspace_root: &Path, mut on_line: impl FnMut(&LogLine)) -> Result<Outcome> {
        let mut decoder = LogDecoder::from_elf(&self.elf, workspace_root)?;
        let started = Instant::now();
        let mut child = Command::new(QEMU)
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {QEMU}"))?;

        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
        let stderr_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr_pipe.read_to_string(&mut s);
            s
        });

        let mut lines = Vec::new();
        let deadline = self.timeout.map(|t| started + t);
        let mut timed_out = false;
        loop {
            if self
                .stop
                .as_ref()
                .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
            {
                let _ = child.kill();
                break;
            }
            let wait = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) => left.min(Duration::from_millis(100)),
                    None => {
                        timed_out = true;
                        let _ = child.kill();
                        break;
                    }
                },
                None => Duration::from_millis(100),
            };
            match rx.recv_timeout(wait) {
                Ok(bytes) => {
                    for line in decoder.feed(&bytes) {
                        on_line(&line);
                        lines.push(line);
                    }
                }
                // The pipe closed: QEMU is gone.
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        let status = child.wait().context("waiting for QEMU")?;
        let _ = reader.join();
        // Bytes that arrived before the pipe closed.
        for bytes in rx.try_iter() {
            for line in decoder.feed(&bytes) {
                on_line(&line);
                lines.push(line);
            }
        }
        let stderr = stderr_reader.join().unwrap_or_default();
        let ending = if timed_out {
            Ending::TimedOut
        } else {
            status.code().map_or(Ending::Signalled, Ending::Exited)
        };
        Ok(Outcome {
            ending,
            lines,
            stderr,
            elapsed: started.elapsed(),
        })
    }
}
