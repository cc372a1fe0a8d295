//! The host side of the firmware: everything that runs on a workstation to
//! drive it.
//!
//! - [`defmt_log`]: decodes the image's defmt stream (level, timestamp,
//!   `file:line`) with the `defmt-decoder` crate.
//! - [`qemu`]: boots an image under QEMU with a timeout and collects its
//!   decoded log and exit status.
//!
//! The hardware model, the host drivers and the in-process runner join these
//! in the control-plane and data-plane work.

pub mod defmt_log;
pub mod qemu;
