//! The vfio-user protocol (QEMU's docs/interop/vfio-user.rst) as the
//! server side needs it, and the PCI face of an assigned 82599 VF: pure
//! decoding and state, no I/O, so that it is tested and fuzzed alone. The
//! server that uses them is `sim_tests::vfio_user`.

pub mod pci;
pub mod protocol;
