//! The SR-IOV endpoint's device logic: no_std, allocation-free, and built
//! and tested on the host. Board and arch code stay out of it (they are in
//! `hal` and the image); time is passed in, so a simulation that steps this
//! code is deterministic.
//!
//! - [`boot`]: how a run was asked to behave (the image's command line) and
//!   the checks the image runs on itself at boot.
#![cfg_attr(not(test), no_std)]

pub mod boot;
