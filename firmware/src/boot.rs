//! What a run of the image was asked to do, and the boot self-checks.
//!
//! Under QEMU the command line comes from `-append` (read by semihosting);
//! on silicon it is empty and the image serves. Words are `key=value`;
//! QEMU may put the image's path first, which is skipped.

use core::fmt;

/// Longest `ticks=` a self-test may ask for (100 s at 100 Hz).
pub const MAX_SELFTEST_TICKS: u32 = 10_000;
/// Ticks the self-test waits for when the command line does not say.
pub const DEFAULT_SELFTEST_TICKS: u32 = 20;

/// What the image does after boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mode {
    /// Report the board and the core's state, check the timer tick over
    /// `ticks` ticks, exit 0 (or non-zero with the reason).
    SelfTest { ticks: u32 },
    /// Keep serving until stopped.
    Serve,
    /// Read an address nothing is mapped at (tests the fault report).
    FaultUnmapped,
    /// Recurse until the stack runs into its guard page.
    FaultStackOverflow,
    /// Panic on purpose (tests the panic report).
    Panic,
    /// Count the instructions of the data paths with the PMU and exit
    /// (`cargo xtask bench --qemu`; needs `-icount`). With `only`, just
    /// that full path, repeated, for a profile
    /// (`cargo xtask bench --qemu --profile PATH`).
    Bench { only: Option<PathName> },
    /// Run the data path across every core the board names
    /// ([`crate::cores`]), check that nothing was lost, duplicated or
    /// reordered, report frames per second (or, under `-icount`,
    /// instructions per frame) and exit (`cargo xtask bench --qemu
    /// --cores`).
    Cores,
}

/// Longest `only=` path name.
pub const PATH_NAME_MAX: usize = 32;

/// A bench path's name from the command line (lowercase letters, digits
/// and `-`), kept by value so that [`Mode`] stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PathName {
    bytes: [u8; PATH_NAME_MAX],
    len: u8,
}

impl PathName {
    fn new(s: &str) -> Option<PathName> {
        let ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
        if s.is_empty() || s.len() > PATH_NAME_MAX || !s.bytes().all(ok) {
            return None;
        }
        let mut bytes = [0; PATH_NAME_MAX];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Some(PathName {
            bytes,
            len: s.len() as u8,
        })
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII was let in (`new`).
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Debug for PathName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for PathName {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "{=str}", self.as_str())
    }
}

/// Why a command line was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CmdlineError<'a> {
    UnknownKey(&'a str),
    UnknownMode(&'a str),
    BadTicks(&'a str),
    /// `ticks=` given for a mode that does not wait for ticks.
    TicksWithoutSelfTest,
    /// `only=` is not a path name.
    BadPathName(&'a str),
    /// `only=` given for a mode other than bench.
    OnlyWithoutBench,
}

impl fmt::Display for CmdlineError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKey(k) => write!(f, "unknown key {k:?} (known: mode, ticks, only)"),
            Self::UnknownMode(m) => write!(
                f,
                "unknown mode {m:?} (known: selftest, serve, fault-unmapped, fault-stack, panic, bench, cores)"
            ),
            Self::BadTicks(v) => {
                write!(f, "ticks={v:?} is not a number in 1..={MAX_SELFTEST_TICKS}")
            }
            Self::TicksWithoutSelfTest => write!(f, "ticks= only applies to mode=selftest"),
            Self::BadPathName(v) => write!(
                f,
                "only={v:?} is not a path name (lowercase letters, digits, '-'; at most {PATH_NAME_MAX})"
            ),
            Self::OnlyWithoutBench => write!(f, "only= only applies to mode=bench"),
        }
    }
}

/// Parses the command line. An empty line means the board's default:
/// `default` (serve on silicon, self-test under QEMU tests).
pub fn parse_command_line(line: &str, default: Mode) -> Result<Mode, CmdlineError<'_>> {
    let mut mode = None;
    let mut ticks = None;
    let mut only = None;
    for word in line.split_ascii_whitespace() {
        let Some((key, value)) = word.split_once('=') else {
            // A bare word: the image path QEMU puts first. Anything else
            // bare is a mistake worth reporting.
            if word.contains('/') || word.ends_with(".elf") {
                continue;
            }
            return Err(CmdlineError::UnknownKey(word));
        };
        match key {
            "mode" => {
                mode = Some(match value {
                    "selftest" => Mode::SelfTest { ticks: 0 },
                    "serve" => Mode::Serve,
                    "fault-unmapped" => Mode::FaultUnmapped,
                    "fault-stack" => Mode::FaultStackOverflow,
                    "panic" => Mode::Panic,
                    "bench" => Mode::Bench { only: None },
                    "cores" => Mode::Cores,
                    other => return Err(CmdlineError::UnknownMode(other)),
                })
            }
            "ticks" => match value.parse::<u32>() {
                Ok(n) if (1..=MAX_SELFTEST_TICKS).contains(&n) => ticks = Some(n),
                _ => return Err(CmdlineError::BadTicks(value)),
            },
            "only" => only = Some(PathName::new(value).ok_or(CmdlineError::BadPathName(value))?),
            _ => return Err(CmdlineError::UnknownKey(key)),
        }
    }
    match (mode.unwrap_or(default), ticks, only) {
        (Mode::SelfTest { ticks: t }, n, None) => Ok(Mode::SelfTest {
            ticks: n.unwrap_or(if t == 0 { DEFAULT_SELFTEST_TICKS } else { t }),
        }),
        (_, Some(_), _) => Err(CmdlineError::TicksWithoutSelfTest),
        (Mode::Bench { .. }, None, only) => Ok(Mode::Bench { only }),
        (_, None, Some(_)) => Err(CmdlineError::OnlyWithoutBench),
        (m, None, None) => Ok(m),
    }
}

/// The periodic tick was wrong: how many arrived against how many the
/// counter says should have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TickRateError {
    pub observed: u64,
    pub expected: u64,
}

/// Checks that `observed` ticks over `elapsed_ns` match `tick_hz`, allowing
/// one tick either way (the window's edges fall between ticks).
pub fn check_tick_rate(observed: u64, elapsed_ns: u64, tick_hz: u32) -> Result<(), TickRateError> {
    let expected = (u128::from(elapsed_ns) * u128::from(tick_hz) / 1_000_000_000) as u64;
    if observed.abs_diff(expected) <= 1 {
        Ok(())
    } else {
        Err(TickRateError { observed, expected })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVE: Mode = Mode::Serve;

    #[test]
    fn empty_line_takes_the_default() {
        assert_eq!(parse_command_line("", SERVE), Ok(Mode::Serve));
        assert_eq!(
            parse_command_line("  ", Mode::SelfTest { ticks: 0 }),
            Ok(Mode::SelfTest {
                ticks: DEFAULT_SELFTEST_TICKS
            })
        );
    }

    #[test]
    fn qemu_image_path_is_skipped() {
        let line = "target/aarch64-unknown-none/release/firmware mode=panic";
        assert_eq!(parse_command_line(line, SERVE), Ok(Mode::Panic));
    }

    #[test]
    fn modes_and_ticks() {
        assert_eq!(
            parse_command_line("mode=selftest ticks=5", SERVE),
            Ok(Mode::SelfTest { ticks: 5 })
        );
        assert_eq!(
            parse_command_line("mode=fault-unmapped", SERVE),
            Ok(Mode::FaultUnmapped)
        );
        assert_eq!(
            parse_command_line("mode=fault-stack", SERVE),
            Ok(Mode::FaultStackOverflow)
        );
        assert_eq!(
            parse_command_line("mode=bench", Mode::SelfTest { ticks: 0 }),
            Ok(Mode::Bench { only: None })
        );
        assert_eq!(parse_command_line("mode=cores", SERVE), Ok(Mode::Cores));
        assert_eq!(
            parse_command_line("mode=cores only=vf-to-vf", SERVE),
            Err(CmdlineError::OnlyWithoutBench)
        );
        let Ok(Mode::Bench { only: Some(p) }) =
            parse_command_line("mode=bench only=uplink-to-vf", SERVE)
        else {
            panic!("mode=bench only=... did not parse");
        };
        assert_eq!(p.as_str(), "uplink-to-vf");
    }

    #[test]
    fn only_is_a_bench_path_name() {
        let long = "x".repeat(PATH_NAME_MAX + 1);
        for bad in ["", "Uplink", "a b", "a_b", long.as_str()] {
            let line = std::format!("mode=bench only={bad}");
            assert!(
                matches!(
                    parse_command_line(&line, SERVE),
                    Err(CmdlineError::BadPathName(_)) | Err(CmdlineError::UnknownKey(_))
                ),
                "{line}"
            );
        }
        assert_eq!(
            parse_command_line("mode=serve only=vf-to-vf", SERVE),
            Err(CmdlineError::OnlyWithoutBench)
        );
        assert_eq!(
            parse_command_line("mode=selftest only=vf-to-vf", SERVE),
            Err(CmdlineError::OnlyWithoutBench)
        );
    }

    #[test]
    fn bad_input_is_named() {
        assert_eq!(
            parse_command_line("mode=reboot", SERVE),
            Err(CmdlineError::UnknownMode("reboot"))
        );
        assert_eq!(
            parse_command_line("speed=9", SERVE),
            Err(CmdlineError::UnknownKey("speed"))
        );
        assert_eq!(
            parse_command_line("verbose", SERVE),
            Err(CmdlineError::UnknownKey("verbose"))
        );
        for bad in ["ticks=0", "ticks=-1", "ticks=x", "ticks=10001"] {
            let value = bad.trim_start_matches("ticks=");
            assert_eq!(
                parse_command_line(bad, Mode::SelfTest { ticks: 0 }),
                Err(CmdlineError::BadTicks(value))
            );
        }
        assert_eq!(
            parse_command_line("mode=serve ticks=3", SERVE),
            Err(CmdlineError::TicksWithoutSelfTest)
        );
        let shown = std::format!("{}", CmdlineError::UnknownMode("x"));
        assert!(shown.contains("fault-unmapped"), "{shown}");
    }

    #[test]
    fn tick_rate_tolerates_one_tick_of_edge() {
        // 100 Hz over 200 ms is 20 ticks.
        assert_eq!(check_tick_rate(20, 200_000_000, 100), Ok(()));
        assert_eq!(check_tick_rate(19, 200_000_000, 100), Ok(()));
        assert_eq!(check_tick_rate(21, 200_000_000, 100), Ok(()));
        assert_eq!(
            check_tick_rate(0, 200_000_000, 100),
            Err(TickRateError {
                observed: 0,
                expected: 20
            })
        );
        assert!(check_tick_rate(40, 200_000_000, 100).is_err());
    }
}
