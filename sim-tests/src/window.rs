//! The host-interface window as the host side holds it: plain memory for
//! the in-process simulation, or a shared file mapped by both this process
//! and QEMU (the ivshmem BAR the firmware sees) for the co-simulation.

use anyhow::{Context, Result, bail};
use hal::chip::{HostInterface, REGISTERS_SIZE};
use std::path::Path;
use std::ptr::NonNull;

enum Backing {
    // u64 elements: 8-byte alignment, more than the registers need.
    Heap(#[allow(dead_code)] Box<[u64]>),
    File(#[allow(dead_code)] memmap2::MmapMut),
}

/// Memory laid out as [`HostInterface`] (then host memory, when shared).
pub struct Window {
    ptr: NonNull<u8>,
    len: usize,
    _backing: Backing,
}

impl Window {
    /// Registers only, zeroed, in this process.
    pub fn new() -> Self {
        let mut memory = vec![0u64; REGISTERS_SIZE / 8].into_boxed_slice();
        let ptr = NonNull::from(&mut memory[0]).cast::<u8>();
        Window {
            ptr,
            len: REGISTERS_SIZE,
            _backing: Backing::Heap(memory),
        }
    }

    /// A shared file of `size` bytes (created or truncated, then zeroed:
    /// QEMU does not zero it), mapped read-write and shared.
    pub fn create_shared(path: &Path, size: usize) -> Result<Self> {
        if size < REGISTERS_SIZE {
            bail!(
                "a window of {size:#x} bytes is smaller than the registers ({REGISTERS_SIZE:#x})"
            );
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .with_context(|| format!("creating the shared-memory file {}", path.display()))?;
        file.set_len(size as u64)
            .with_context(|| format!("sizing {} to {size:#x} bytes", path.display()))?;
        // SAFETY: the file is ours for the run; QEMU maps it too, and the
        // window's single-writer protocol is what makes sharing sound.
        let mut map = unsafe { memmap2::MmapMut::map_mut(&file) }
            .with_context(|| format!("mapping {}", path.display()))?;
        map.fill(0);
        let ptr = NonNull::new(map.as_mut_ptr()).expect("mapping is not null");
        Ok(Window {
            ptr,
            len: size,
            _backing: Backing::File(map),
        })
    }

    /// The register blocks. Firmware and model share this view; every
    /// access is volatile, and each field has one writer.
    pub fn regs(&self) -> &HostInterface {
        // SAFETY: the memory is at least REGISTERS_SIZE bytes, 8-aligned
        // (heap u64s or a page-aligned mapping), and zero is a valid value
        // of every register. The registers are UnsafeCells, so shared
        // references allow their writes.
        unsafe { self.ptr.cast::<HostInterface>().as_ref() }
    }

    /// Bytes of the window.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The memory after the registers (host memory in the co-simulation).
    pub(crate) fn tail(&self) -> (NonNull<u8>, usize) {
        // SAFETY: REGISTERS_SIZE <= len, checked at creation.
        (
            unsafe { self.ptr.add(REGISTERS_SIZE) },
            self.len - REGISTERS_SIZE,
        )
    }
}

impl Default for Window {
    fn default() -> Self {
        Self::new()
    }
}
