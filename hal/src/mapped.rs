//! Host memory the core reaches by load and store (the image's DMA): the
//! shared window's host-memory part when serving, free RAM in the bench.
//! Here rather than in the image so that host tests, and Miri, reach it.

use crate::chip::HOST_MEMORY_BUS_BASE;
use crate::port::Dma;

/// `len` bytes of host memory at core address `base`, seen by the device
/// from bus address `HOST_MEMORY_BUS_BASE`.
pub struct MappedDma {
    /// A pointer, not an address: what is reached through it keeps the
    /// provenance `new` was given.
    base: *mut u8,
    len: u64,
}

impl MappedDma {
    /// # Safety
    /// `base..base + len` must be mapped, writable memory that nothing in
    /// the firmware uses as anything else for as long as this lives.
    #[inline]
    pub unsafe fn new(base: *mut u8, len: u64) -> MappedDma {
        MappedDma { base, len }
    }

    /// The core address of `n` bytes at bus address `addr`, if all inside.
    // Inline across crates: the data path calls these per frame (they
    // were inlined when this lived in the image crate).
    #[inline]
    fn at(&self, addr: u64, n: usize) -> Option<*mut u8> {
        let off = addr.checked_sub(HOST_MEMORY_BUS_BASE)?;
        // SAFETY: `off + n <= len`: inside the memory `new` was given.
        (off.checked_add(n as u64)? <= self.len).then(|| unsafe { self.base.add(off as usize) })
    }

    /// A descriptor's core address, if inside and 16-byte aligned.
    #[inline]
    fn desc_at(&self, addr: u64) -> Option<*mut u64> {
        self.at(addr, 16)
            .filter(|p| p.addr() % 16 == 0)
            .map(|p| p.cast::<u64>())
    }
}

impl Dma for MappedDma {
    #[inline]
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        match self.at(addr, buf.len()) {
            Some(p) => {
                // SAFETY: inside the memory `new` was given (checked by `at`).
                // A plain copy: what is read (Tx buffers into the scratch
                // buffer) is aligned alike in practice.
                unsafe { core::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), buf.len()) };
                true
            }
            None => false,
        }
    }

    #[inline]
    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        match self.at(addr, data.len()) {
            Some(p) => {
                // SAFETY: inside the memory `new` was given (checked by
                // `at`), which nothing else in the firmware uses. What is
                // written may be 4 bytes off (a frame that got a tag on
                // its way between two VFs): `hal::mem::copy`.
                let host = unsafe { core::slice::from_raw_parts_mut(p, data.len()) };
                crate::mem::copy(host, data);
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
            return crate::port::read_desc_bytes(self, addr);
        };
        // SAFETY: inside the memory and 16-byte aligned (desc_at).
        let (lo, hi) = unsafe { (u64::from_le(p.read()), u64::from_le(p.add(1).read())) };
        Some([lo as u32, (lo >> 32) as u32, hi as u32, (hi >> 32) as u32])
    }

    /// Two aligned 8-byte stores, the status half last.
    #[inline]
    fn write_desc(&mut self, addr: u64, w: [u32; 4]) -> bool {
        let Some(p) = self.desc_at(addr) else {
            return crate::port::write_desc_bytes(self, addr, w);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Host memory as a test holds it: 16-aligned, as rings are.
    #[repr(C, align(16))]
    struct Memory([u64; 64]);

    fn dma(memory: &mut Memory) -> MappedDma {
        // SAFETY: the test's memory, used only through this while it lives.
        unsafe { MappedDma::new(memory.0.as_mut_ptr().cast(), 512) }
    }

    #[test]
    fn reads_and_writes_stay_inside() {
        let mut memory = Memory([0; 64]);
        let mut d = dma(&mut memory);
        let end = HOST_MEMORY_BUS_BASE + 512;
        // Source 1 and destination 5 past 8-aligned: 4 bytes off in
        // alignment, hal::mem::copy's word loop.
        let sevens = [0x0707_0707_0707_0707u64; 6];
        // SAFETY: the array's own bytes.
        let src = unsafe { core::slice::from_raw_parts(sevens.as_ptr().cast::<u8>(), 48) };
        assert!(d.write(HOST_MEMORY_BUS_BASE + 5, &src[1..41]));
        let mut buf = [0u8; 42];
        assert!(d.read(HOST_MEMORY_BUS_BASE + 4, &mut buf));
        assert_eq!((buf[0], buf[1], buf[40], buf[41]), (0, 7, 7, 0));
        assert!(d.write(end - 4, &[1; 4]), "the last bytes");
        assert!(!d.write(end - 3, &[1; 4]), "past the end");
        assert!(!d.read(HOST_MEMORY_BUS_BASE - 1, &mut buf[..1]), "below");
        assert!(!d.read(u64::MAX, &mut buf[..2]), "overflowing");
    }

    #[test]
    fn descriptors_aligned_and_not() {
        let mut memory = Memory([0; 64]);
        let w = [1, 2, 3, 0xdead_beef];
        {
            let mut d = dma(&mut memory);
            // Aligned: the two 8-byte stores and loads.
            let at = HOST_MEMORY_BUS_BASE + 16 * 3;
            assert!(d.write_desc(at, w));
            assert_eq!(d.read_desc(at), Some(w));
            // Misaligned: the byte path, same result.
            let at = HOST_MEMORY_BUS_BASE + 16 * 5 + 4;
            assert!(d.write_desc(at, w));
            assert_eq!(d.read_desc(at), Some(w));
            assert_eq!(d.read_desc(HOST_MEMORY_BUS_BASE + 512 - 8), None);
        }
        assert_eq!(memory.0[6], 1 | 2 << 32, "little-endian words");
        assert_eq!(memory.0[7], 3 | 0xdead_beef << 32);
    }
}
