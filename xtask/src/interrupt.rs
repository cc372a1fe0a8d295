//! Ctrl-C and SIGTERM for the long-running commands (`run --forever`,
//! `vm --serve`, a demo in progress): the first signal asks the command to
//! wind down (the firmware's shutdown, captures closed, the window file
//! removed) and exit 130 or 143; a second ends the process at once.
//!
//! signal-hook does the handler side: its flag actions are the usual
//! async-signal-safe stores, and `register_conditional_shutdown` is the
//! second-signal exit.

use anyhow::{Context, Result};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct Flags {
    /// The last signal received (0: none).
    signal: Arc<AtomicUsize>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// The signals that stop a command.
const SIGNALS: [i32; 2] = [libc::SIGINT, libc::SIGTERM];

/// Installs the handlers (once; later calls do nothing).
pub fn install() -> Result<()> {
    if FLAGS.get().is_some() {
        return Ok(());
    }
    let armed = Arc::new(AtomicBool::new(false));
    let signal = Arc::new(AtomicUsize::new(0));
    for sig in SIGNALS {
        // Order matters: the exit must see the flag from the *previous*
        // signal, so it is registered before the action that sets it.
        signal_hook::flag::register_conditional_shutdown(sig, exit_code(sig), Arc::clone(&armed))
            .context("installing the second-signal exit")?;
        signal_hook::flag::register(sig, Arc::clone(&armed)).context("installing a handler")?;
        signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize)
            .context("installing a handler")?;
    }
    let _ = FLAGS.set(Flags { signal });
    Ok(())
}

/// The stopping signal received so far, if any.
pub fn received() -> Option<i32> {
    let sig = FLAGS.get()?.signal.load(Ordering::SeqCst);
    (sig != 0).then_some(sig as i32)
}

/// The shell's convention for a process ended by `sig`: 128 + its number
/// (130 for SIGINT, 143 for SIGTERM).
pub fn exit_code(sig: i32) -> i32 {
    128 + sig
}

/// The signal's name for messages.
pub fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// An error saying the command was stopped by a signal; `main` turns it
/// into the exit status.
#[derive(Debug)]
pub struct Interrupted(pub i32);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stopped by {}", name(self.0))
    }
}

impl std::error::Error for Interrupted {}

/// `Err(Interrupted)` once a stopping signal has arrived: a `?` at each
/// step boundary ends the step sequence there.
pub fn check() -> Result<()> {
    match received() {
        Some(sig) => Err(Interrupted(sig).into()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code(libc::SIGINT), 130);
        assert_eq!(exit_code(libc::SIGTERM), 143);
    }

    /// In a child process (this test binary again): the first SIGINT only
    /// sets the flag, the second ends the process at once with 130.
    #[test]
    fn a_second_signal_ends_at_once() {
        if std::env::var_os("XTASK_SECOND_SIGNAL_CHILD").is_some() {
            install().unwrap();
            // SAFETY: raise has no memory-safety preconditions.
            unsafe { libc::raise(libc::SIGINT) };
            assert_eq!(
                received(),
                Some(libc::SIGINT),
                "the first one is only noted"
            );
            // SAFETY: as above.
            unsafe { libc::raise(libc::SIGINT) };
            std::thread::sleep(std::time::Duration::from_secs(10));
            std::process::exit(0);
        }
        let started = std::time::Instant::now();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "interrupt::tests::a_second_signal_ends_at_once"])
            .env("XTASK_SECOND_SIGNAL_CHILD", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(130));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn a_raised_signal_is_seen_and_becomes_interrupted() {
        install().unwrap();
        // SIGTERM to ourselves: the first one only sets the flag.
        // SAFETY: raise has no memory-safety preconditions.
        unsafe { libc::raise(libc::SIGTERM) };
        assert_eq!(received(), Some(libc::SIGTERM));
        let e = check().unwrap_err();
        assert_eq!(e.downcast_ref::<Interrupted>().unwrap().0, libc::SIGTERM);
    }
}
