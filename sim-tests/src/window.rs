//! The host-interface window as the host side holds it: plain memory for
//! the in-process simulation, or a shared file mapped by both this process
//! and QEMU (the ivshmem BAR the firmware sees) for the co-simulation.

use anyhow::{Context, Result, bail};
use hal::chip::{HostInterface, REGISTERS_SIZE};
use std::path::Path;
use std::ptr::NonNull;

enum Backing {
    /// `ptr` is a `Box<[u64]>` of `HEAP_WORDS` (u64: 8-byte alignment,
    /// more than the registers need), freed by `drop`. Not kept as a Box:
    /// moving a Box asserts that it is unique, which invalidates `ptr` and
    /// every reference `regs` gave out (Stacked Borrows; Miri found it).
    Heap,
    File(#[allow(dead_code)] memmap2::MmapMut),
}

const HEAP_WORDS: usize = REGISTERS_SIZE / 8;

/// Memory laid out as [`HostInterface`] (then host memory, when shared).
pub struct Window {
    ptr: NonNull<u8>,
    len: usize,
    backing: Backing,
}

impl Window {
    /// Registers only, zeroed, in this process.
    pub fn new() -> Self {
        // The whole slice's pointer, not its first element's: that one
        // may reach only 8 bytes.
        let memory = Box::into_raw(vec![0u64; HEAP_WORDS].into_boxed_slice());
        Window {
            ptr: NonNull::new(memory.cast::<u8>()).expect("a Box is not null"),
            len: REGISTERS_SIZE,
            backing: Backing::Heap,
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
            backing: Backing::File(map),
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

impl Drop for Window {
    fn drop(&mut self) {
        if let Backing::Heap = self.backing {
            let words = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr().cast(), HEAP_WORDS);
            // SAFETY: `new`'s Box::into_raw, of that length, freed once.
            drop(unsafe { Box::<[u64]>::from_raw(words) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tock_registers::interfaces::{Readable, Writeable};

    /// Registers at both ends of the window, written and read through
    /// `regs` after the window moved (into an Rc, as the model holds it):
    /// under Miri, this is what the Box it used to be failed.
    #[test]
    fn heap_registers_survive_a_move() {
        let w = std::rc::Rc::new(Window::new());
        let last = hal::chip::MAX_FUNCTIONS - 1;
        w.regs().global.magic.set(hal::chip::WINDOW_MAGIC);
        w.regs().function[last].tx_doorbell_seq.set(7);
        let moved = std::rc::Rc::clone(&w);
        drop(w);
        assert_eq!(moved.regs().global.magic.get(), hal::chip::WINDOW_MAGIC);
        assert_eq!(moved.regs().function[last].tx_doorbell_seq.get(), 7);
        assert_eq!(moved.len(), REGISTERS_SIZE);
    }
}
