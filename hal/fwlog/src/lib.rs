//! The one logging shim of the workspace.
//!
//! Library crates log with `fwlog::info!("...", args)` and never name a
//! backend. The backend is chosen by this crate's features, which only the
//! top of a build turns on:
//!
//! - `defmt`: the firmware image. Compact frames over the UART, decoded on
//!   the host from the ELF (`cargo xtask run`). Levels are filtered at build
//!   time by `DEFMT_LOG` (`cargo xtask build --log debug`).
//! - `log`: host tools and simulations that want to see the firmware's log.
//! - neither: host unit tests. Arguments are still evaluated for type
//!   checking, nothing is printed, nothing is linked.
//!
//! Format strings must be understood by both defmt and `core::fmt`: use
//! `{}`, `{:?}`, `{:x}`, `{:#x}`, `{:#010x}` and nothing defmt-only like
//! `{=u8}`. Arguments must implement `defmt::Format` and `Debug`/`Display`.
#![no_std]

#[doc(hidden)]
#[cfg(feature = "defmt")]
pub use defmt as __defmt;
#[doc(hidden)]
#[cfg(feature = "log")]
pub use log as __log;

/// Routes one log call to the backend chosen by this crate's features.
#[doc(hidden)]
#[cfg(feature = "defmt")]
#[macro_export]
macro_rules! __at_level {
    ($level:ident, $($t:tt)*) => {{
        // defmt's macros expand to paths that start with `defmt::`; this
        // import lets callers log without depending on defmt themselves.
        #[allow(unused_imports)]
        use $crate::__defmt as defmt;
        defmt::$level!($($t)*)
    }};
}

#[doc(hidden)]
#[cfg(all(feature = "log", not(feature = "defmt")))]
#[macro_export]
macro_rules! __at_level {
    ($level:ident, $($t:tt)*) => { $crate::__log::$level!($($t)*) };
}

#[doc(hidden)]
#[cfg(not(any(feature = "log", feature = "defmt")))]
#[macro_export]
macro_rules! __at_level {
    ($level:ident, $fmt:literal $(, $arg:expr)* $(,)?) => {{
        // Type-check and borrow the arguments so that a build without a
        // backend warns about the same things as one with it.
        let _ = ($(&$arg),*);
    }};
}

/// Logs at trace level.
#[macro_export]
macro_rules! trace { ($($t:tt)*) => { $crate::__at_level!(trace, $($t)*) }; }
/// Logs at debug level.
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::__at_level!(debug, $($t)*) }; }
/// Logs at info level.
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::__at_level!(info, $($t)*) }; }
/// Logs at warn level.
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::__at_level!(warn, $($t)*) }; }
/// Logs at error level.
#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::__at_level!(error, $($t)*) }; }
