//! The host-interface window as the host side holds it: plain memory for
//! the in-process simulation (a shared-memory file under QEMU joins later).

use hal::chip::{HostInterface, REGISTERS_SIZE};
use std::ptr::NonNull;

/// Memory laid out as [`HostInterface`], zeroed at creation.
pub struct Window {
    // u64 elements: 8-byte alignment, more than the registers need.
    memory: Box<[u64]>,
}

impl Window {
    pub fn new() -> Self {
        Window {
            memory: vec![0u64; REGISTERS_SIZE / 8].into_boxed_slice(),
        }
    }

    /// The register blocks. Firmware and model share this view; every
    /// access is volatile, and each field has one writer.
    pub fn regs(&self) -> &HostInterface {
        let ptr = NonNull::from(&self.memory[0]).cast::<HostInterface>();
        // SAFETY: the allocation is REGISTERS_SIZE bytes, 8-aligned, and
        // zero is a valid value of every register. The registers are
        // UnsafeCells, so shared references allow their writes.
        unsafe { ptr.as_ref() }
    }
}

impl Default for Window {
    fn default() -> Self {
        Self::new()
    }
}
