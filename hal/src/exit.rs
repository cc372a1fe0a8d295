//! How a firmware run ends. Under QEMU (semihosting) the code becomes QEMU's
//! exit status, which is how the host tooling reads a verdict.

/// A firmware exit code. 1 is left out: QEMU itself exits with 1 when the
/// guest ends without semihosting, so it would be ambiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// The firmware finished what it was asked to do.
    Success = 0,
    /// A self-test or requested mode failed and said why in the log.
    Failure = 2,
    /// A Rust panic; the log holds the message and location.
    Panic = 3,
    /// An unexpected exception; the log holds the exception report.
    Exception = 4,
}

impl ExitCode {
    /// The code as a number (QEMU's exit status under semihosting).
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// What the code means, for people reading a run's ending.
    pub const fn meaning(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure reported by the firmware (see its log)",
            Self::Panic => "panic (message and location in the log)",
            Self::Exception => "exception (report in the log)",
        }
    }

    /// Reads a QEMU exit status back.
    pub fn from_code(code: i32) -> Option<Self> {
        [Self::Success, Self::Failure, Self::Panic, Self::Exception]
            .into_iter()
            .find(|c| i32::from(c.code()) == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_avoid_qemus_own_status() {
        for c in [
            ExitCode::Success,
            ExitCode::Failure,
            ExitCode::Panic,
            ExitCode::Exception,
        ] {
            assert_eq!(ExitCode::from_code(c.code().into()), Some(c));
            assert_ne!(c.code(), 1);
        }
        assert_eq!(ExitCode::from_code(1), None);
    }
}
