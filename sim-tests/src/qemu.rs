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

/// The oldest QEMU the tooling runs with: the co-simulation's wire is a
/// `-netdev dgram`, which QEMU has since 7.2 (Debian 12's).
pub const MIN_QEMU: (u32, u32) = (7, 2);

/// `major.minor.micro` of a `qemu-system-* --version` banner.
pub fn parse_version(banner: &str) -> Option<(u32, u32, u32)> {
    let rest = banner.split("version ").nth(1)?;
    let word = rest
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()?;
    let mut parts = word.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// The installed QEMU's version (asked once).
pub fn version() -> Result<(u32, u32, u32)> {
    static VERSION: std::sync::OnceLock<Option<(u32, u32, u32)>> = std::sync::OnceLock::new();
    let v = VERSION.get_or_init(|| {
        let out = Command::new(QEMU).arg("--version").output().ok()?;
        parse_version(&String::from_utf8_lossy(&out.stdout))
    });
    v.with_context(|| format!("cannot tell {QEMU}'s version (`{QEMU} --version`)"))
}

/// Refuses a QEMU older than [`MIN_QEMU`], saying which is installed.
pub fn check_version() -> Result<()> {
    let (major, minor, micro) = version()?;
    if (major, minor) < MIN_QEMU {
        bail!(
            "{QEMU} is {major}.{minor}.{micro}; the tooling needs {}.{} or later (Debian 12's qemu-system-arm is 7.2)",
            MIN_QEMU.0,
            MIN_QEMU.1
        );
    }
    Ok(())
}

/// QEMU's switch for one guest instruction per translation block:
/// `-accel tcg,one-insn-per-tb=on` from 8.1, the deprecated `-singlestep`
/// before.
pub fn one_insn_per_tb(version: (u32, u32, u32)) -> Vec<String> {
    if (version.0, version.1) >= (8, 1) {
        vec!["-accel".into(), "tcg,one-insn-per-tb=on".into()]
    } else {
        vec!["-singlestep".into()]
    }
}

/// Makes `cmd`'s process this one's alone: out of the terminal's process
/// group, so that Ctrl-C reaches only the host side, which then shuts the
/// firmware down and stops QEMU itself; and killed (SIGKILL) if the thread
/// that started it dies, so that no QEMU outlives a host side that ended
/// abruptly.
pub fn owned_child(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    // SAFETY: prctl is async-signal-safe, touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// What QEMU boots; the ELF always decodes the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BootFile {
    /// `-kernel ELF` (QEMU enters at the core's highest EL).
    #[default]
    Elf,
    /// `-kernel FILE`: a uImage (or arm64 Image); a Linux-type one is
    /// entered the Linux way (EL2 or EL1, x0 = DTB).
    Kernel(PathBuf),
    /// `-device loader,file=FILE,addr=ADDR,cpu-num=0`: raw bytes at ADDR,
    /// the boot core started there. No `-kernel`, so no `-append` either
    /// (the image runs its default mode).
    Raw(PathBuf, u64),
}

/// One QEMU run of an image.
#[derive(Clone, Debug)]
pub struct QemuRun {
    pub elf: PathBuf,
    pub boot: BootFile,
    /// `-M` value (board's `qemu.machine` unless overridden).
    pub machine: String,
    pub cpu: String,
    pub ram_bytes: u64,
    pub semihosting: bool,
    /// The image's command line (`-append`).
    pub append: Option<String>,
    /// `None` runs until the guest exits (use only interactively).
    pub timeout: Option<Duration>,
    /// The board's `qemu.args`: what the machine needs (`-smp 4` on
    /// xlnx-versal-virt), before `extra_args`.
    pub board_args: Vec<String>,
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
            boot: BootFile::Elf,
            machine: q.machine.clone(),
            cpu: q.cpu.clone(),
            ram_bytes: q.memory_bytes(&board.memory.ram),
            semihosting: board.board.exit == ExitMethod::Semihosting,
            append: None,
            timeout: Some(Duration::from_secs(60)),
            board_args: q.args.clone(),
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
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match &self.boot {
            BootFile::Elf => args.extend(["-kernel".into(), self.elf.display().to_string()]),
            BootFile::Kernel(file) => args.extend(["-kernel".into(), file.display().to_string()]),
            BootFile::Raw(file, addr) => args.extend([
                "-device".into(),
                format!("loader,file={},addr={addr:#x},cpu-num=0", file.display()),
            ]),
        }
        if self.semihosting {
            args.extend([
                "-semihosting-config".into(),
                "enable=on,target=native".into(),
            ]);
        }
        if let Some(append) = self
            .append
            .as_ref()
            .filter(|_| !matches!(self.boot, BootFile::Raw(..)))
        {
            args.extend(["-append".into(), append.clone()]);
        }
        args.extend(self.board_args.iter().cloned());
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// Whether the board fixes the CPU count itself (then a caller's
    /// `-smp 1` would be refused by the machine).
    pub fn board_sets_smp(&self) -> bool {
        self.board_args.iter().any(|a| a == "-smp")
    }

    /// Boots the image and waits for it to end (or the timeout), calling
    /// `on_line` for each decoded line as it arrives.
    pub fn run(&self, workspace_root: &Path, mut on_line: impl FnMut(&LogLine)) -> Result<Outcome> {
        let mut decoder = LogDecoder::from_elf(&self.elf, workspace_root)?;
        let started = Instant::now();
        check_version()?;
        let mut cmd = Command::new(QEMU);
        owned_child(&mut cmd);
        let mut child = cmd
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_the_banner() {
        let debian12 = "QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u12)\nCopyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n";
        assert_eq!(parse_version(debian12), Some((7, 2, 15)));
        assert_eq!(
            parse_version("QEMU emulator version 11.1.0 (Debian 1:11.1+ds-1~bpo13+1)"),
            Some((11, 1, 0))
        );
        assert_eq!(parse_version("QEMU emulator version 8.1"), Some((8, 1, 0)));
        assert_eq!(parse_version("not qemu"), None);
    }

    #[test]
    fn one_insn_per_tb_follows_the_version() {
        assert_eq!(one_insn_per_tb((7, 2, 15)), ["-singlestep"]);
        assert_eq!(one_insn_per_tb((8, 0, 5)), ["-singlestep"]);
        assert_eq!(
            one_insn_per_tb((8, 1, 0)),
            ["-accel", "tcg,one-insn-per-tb=on"]
        );
    }
}
