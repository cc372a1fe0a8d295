//! The SR-IOV endpoint's device logic: no_std, allocation-free, and built
//! and tested on the host. Board and arch code stay out of it (they are in
//! `hal` and the image); time is passed in, so a simulation that steps this
//! code is deterministic.
//!
//! - [`boot`]: how a run was asked to behave (the image's command line) and
//!   the checks the image runs on itself at boot.
//! - [`device`]: the SR-IOV device: VF lifecycle, mailbox, PF administration,
//!   serving the host-interface window.
//! - [`mailbox`]: the PF side of the ixgbe VF mailbox, under PF policy.
//! - [`admin`]: the PF administration protocol; [`events`]: what the PF hears.
//! - [`vf`], [`pools`], [`mac`]: VF state, shared tables, MAC addresses.
//! - [`cores`]: the data path across cores (queue owners, lock-free
//!   handoff rings, per-core counters).
#![cfg_attr(not(test), no_std)]

pub mod admin;
pub mod boot;
pub mod classifier;
pub mod cores;
pub mod device;
pub mod dma_engine;
pub mod drops;
pub mod events;
pub mod frame;
pub mod mac;
pub mod mac_table;
pub mod mailbox;
pub mod pools;
pub mod qm;
pub mod rings;
pub mod rss;
pub mod vf;
