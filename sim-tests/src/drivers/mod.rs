//! Host drivers: a PF driver shaped like `ip link` and `sriov_numvfs`, and
//! a VF driver that brings a VF up the way ixgbevf does. They talk to the
//! device only through a [`crate::transport::Transport`]; [`iplink`] puts
//! the PF driver's administration in `ip link`'s words.
pub mod iplink;
pub mod pf;
pub mod queues;
pub mod vf;
