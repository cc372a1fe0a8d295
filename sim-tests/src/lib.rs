//! The host side of the firmware: everything that runs on a workstation to
//! drive it.
//!
//! - [`defmt_log`]: decodes the image's defmt stream (level, timestamp,
//!   `file:line`) with the `defmt-decoder` crate.
//! - [`qemu`]: boots an image under QEMU with a timeout and collects its
//!   decoded log and exit status.
//!
//! - [`model`]: the hardware model (config space, SR-IOV, FLR, PF and VF
//!   BARs over the shared window); [`window`]: that window's memory;
//!   [`hostmem`]: host memory behind per-function IOMMU windows.
//! - [`drivers`]: the PF driver and an ixgbevf-like VF driver, talking only
//!   through a [`transport::Transport`].
//! - [`sim`]: the in-process simulation (model + firmware device logic).
//! - [`uplink`]: the physical port in memory and as capture files.
//! - [`capture`]: every port in one pcapng file ([`pcapng`] writes it),
//!   and reading pcap or pcapng back; [`sniff`]: the wire under `--tap`.
//! - [`cosim`]: the same drivers against the firmware image under QEMU.
//! - [`scenario`]: scenario files run through the drivers, JSON per step.
//! - [`reference`]: a model of the switch the firmware is held to;
//!   [`soak`]: random traffic and control operations for minutes, checked
//!   against it after every step.
//! - [`cores_soak`]: the data path across cores (`firmware::cores`) on
//!   host threads, random rounds checked for loss, duplicates and order.

pub mod capture;
pub mod cores_soak;
pub mod cosim;
pub mod defmt_log;
pub mod drivers;
pub mod frames;
pub mod guestmem;
pub mod hostmem;
pub mod lab;
pub mod model;
pub mod pcapng;
pub mod qemu;
pub mod qmp;
pub mod reference;
pub mod scenario;
pub mod sim;
pub mod sniff;
pub mod soak;
pub mod tap;
pub mod transport;
pub mod uplink;
pub mod vfio_user;
pub mod window;
