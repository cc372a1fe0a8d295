//! Host memory the core reaches by load and store: the shared window's
//! host-memory part when serving, a static buffer in the bench.

use hal::chip::HOST_MEMORY_BUS_BASE;
use hal::port::Dma;

/// `len` bytes of host memory at core address `base`, seen by the device
/// from bus address `HOST_MEMORY_BUS_BASE`.
pub struct MappedDma {
    base: usize,
    len: u64,
}

impl MappedDma {
    /// # Safety
    /// `base..base + len` must be mapped, writable memory that nothing in
    /// the firmware uses as anything else for as long as this lives.
    pub unsafe fn new(base: usize, len: u64) -> MappedDma {
        MappedDma { base, len }
    }

    /// The core address of `n` bytes at bus address `addr`, if all inside.
    fn at(&self, addr: u64, n: usize) -> Option<usize> {
        let off = addr.checked_sub(HOST_MEMORY_BUS_BASE)?;
        (off.checked_add(n as u64)? <= self.len).then(|| self.base + off as usize)
    }

    /// A descriptor's core address, if inside and 16-byte aligned.
    fn desc_at(&self, addr: u64) -> Option<*mut u64> {
        self.at(addr, 16)
            .filter(|p| p % 16 == 0)
            .map(|p| p as *mut u64)
    }
}

impl Dma for MappedDma {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        match self.at(addr, buf.len()) {
            Some(p) => {
                // SAFETY: inside the memory `new` was given (checked by `at`).
                // A plain copy: what is read (Tx buffers into the scratch
                // buffer) is aligned alike in practice.
                unsafe {
                    core::ptr::copy_nonoverlapping(p as *const u8, buf.as_mut_ptr(), buf.len())
                };
                true
            }
            None => false,
        }
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        match self.at(addr, data.len()) {
            Some(p) => {
                // SAFETY: inside the memory `new` was given (checked by
                // `at`), which nothing else in the firmware uses. What is
                // written may be 4 bytes off (a frame that got a tag on
                // its way between two VFs): `hal::mem::copy`.
                let host = unsafe { core::slice::from_raw_parts_mut(p as *mut u8, data.len()) };
                hal::mem::copy(host, data);
                true
            }
            None => false,
        }
    }

    /// Two aligned 8-byte loads instead of a byte copy.
    #[inline]
    fn read_desc(&mut self, addr: u64) -> Option<[u32; 4]> {
        let Some(p) = self.desc_at(addr) else {
            // Unaligned (a ring the driver misplaced) or outside: bytes.
            return hal::port::read_desc_bytes(self, addr);
        };
        // SAFETY: inside the memory and 16-byte aligned (desc_at).
        let (lo, hi) = unsafe { (u64::from_le(p.read()), u64::from_le(p.add(1).read())) };
        Some([lo as u32, (lo >> 32) as u32, hi as u32, (hi >> 32) as u32])
    }

    /// Two aligned 8-byte stores, the status half last.
    #[inline]
    fn write_desc(&mut self, addr: u64, w: [u32; 4]) -> bool {
        let Some(p) = self.desc_at(addr) else {
            return hal::port::write_desc_bytes(self, addr, w);
        };
        let lo = u64::from(w[0]) | u64::from(w[1]) << 32;
        let hi = u64::from(w[2]) | u64::from(w[3]) << 32;
        // SAFETY: as in `read_desc`.
        unsafe {
            p.write(lo.to_le());
            core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
            p.add(1).write(hi.to_le());
        }
        true
    }
}
