//! Architecture support: AArch64 at EL1 on bare metal.
mod aarch64;
pub use aarch64::*;
