//! PCI configuration through ECAM: find a device, size and place a BAR,
//! turn memory decode on. Enough to reach the shared-memory window (QEMU's
//! ivshmem) on boards that have one.

use core::ptr::NonNull;

/// A function's location.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Bdf {
    pub bus: u8,
    pub dev: u8,
    pub func: u8,
}

/// Why a BAR could not be placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BarError {
    /// The BAR reads as not implemented (size 0).
    NotImplemented,
    /// The BAR is an I/O BAR, not memory.
    NotMemory,
    /// The address is not aligned to the BAR's size.
    Misaligned { size: u64 },
}

/// ECAM: each function's 4 KiB configuration space at
/// `base + (bus << 20 | dev << 15 | func << 12)`.
pub struct Ecam {
    base: NonNull<u32>,
    size: usize,
}

// SAFETY: accesses are volatile and the owner serialises them.
unsafe impl Send for Ecam {}

pub const COMMAND: u16 = 0x04;
pub const COMMAND_MEMORY: u32 = 0x2;
pub const BAR0: u16 = 0x10;

impl Ecam {
    /// # Safety
    /// `base` must be the ECAM region (or memory laid out like it) of
    /// `size` bytes, mapped as device memory, driven by nobody else.
    pub const unsafe fn new(base: NonNull<u32>, size: usize) -> Self {
        Ecam { base, size }
    }

    fn offset(&self, f: Bdf, reg: u16) -> Option<usize> {
        let off = (usize::from(f.bus) << 20)
            | (usize::from(f.dev) << 15)
            | (usize::from(f.func) << 12)
            | usize::from(reg & 0xffc);
        (off + 4 <= self.size).then_some(off)
    }

    pub fn read32(&self, f: Bdf, reg: u16) -> u32 {
        match self.offset(f, reg) {
            // SAFETY: inside the region (`new`'s contract), 4-aligned.
            Some(off) => unsafe { self.base.byte_add(off).read_volatile() },
            None => u32::MAX,
        }
    }

    pub fn write32(&mut self, f: Bdf, reg: u16, v: u32) {
        if let Some(off) = self.offset(f, reg) {
            // SAFETY: as in `read32`.
            unsafe { self.base.byte_add(off).write_volatile(v) }
        }
    }

    /// The first function on bus 0 with these IDs.
    pub fn find(&self, vendor: u16, device: u16) -> Option<Bdf> {
        let want = u32::from(vendor) | u32::from(device) << 16;
        (0..32u8)
            .map(|dev| Bdf {
                bus: 0,
                dev,
                func: 0,
            })
            .find(|f| self.read32(*f, 0) == want)
    }

    /// Sizes memory BAR `index` (a 64-bit BAR uses `index` and `index+1`),
    /// places it at `addr` and turns memory decode on. Returns its size.
    pub fn place_bar(&mut self, f: Bdf, index: u8, addr: u64) -> Result<u64, BarError> {
        let reg = BAR0 + 4 * u16::from(index);
        let orig = self.read32(f, reg);
        if orig & 1 != 0 {
            return Err(BarError::NotMemory);
        }
        let is64 = (orig >> 1) & 3 == 2;
        // Decode off while sizing.
        let cmd = self.read32(f, COMMAND);
        self.write32(f, COMMAND, cmd & !COMMAND_MEMORY);
        self.write32(f, reg, u32::MAX);
        let lo = self.read32(f, reg) & !0xf;
        let hi = if is64 {
            self.write32(f, reg + 4, u32::MAX);
            self.read32(f, reg + 4)
        } else {
            u32::MAX
        };
        let mask = u64::from(hi) << 32 | u64::from(lo);
        let size = (!mask).wrapping_add(1);
        if lo == 0 || size == 0 {
            self.write32(f, reg, orig);
            return Err(BarError::NotImplemented);
        }
        if !addr.is_multiple_of(size) {
            self.write32(f, reg, orig);
            return Err(BarError::Misaligned { size });
        }
        self.write32(f, reg, addr as u32);
        if is64 {
            self.write32(f, reg + 4, (addr >> 32) as u32);
        }
        self.write32(f, COMMAND, cmd | COMMAND_MEMORY);
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bus 0, devices 0 and 1: plain memory, so BAR sizing reads back what
    /// was written (the test sets the size mask by hand).
    struct Fake(std::vec::Vec<u32>);

    impl Fake {
        fn new() -> Self {
            Fake(std::vec![u32::MAX; 2 * 32 * 1024 / 4])
        }
        fn at(&mut self, dev: usize, reg: usize) -> &mut u32 {
            &mut self.0[(dev << 15 | reg) / 4]
        }
        fn ecam(&mut self) -> Ecam {
            let len = self.0.len() * 4;
            // SAFETY: the vector outlives the Ecam in each test.
            unsafe { Ecam::new(NonNull::new(self.0.as_mut_ptr()).unwrap(), len) }
        }
    }

    #[test]
    fn finds_a_device_by_ids() {
        let mut fake = Fake::new();
        *fake.at(1, 0) = 0x1110_1af4;
        let ecam = fake.ecam();
        assert_eq!(
            ecam.find(0x1af4, 0x1110),
            Some(Bdf {
                bus: 0,
                dev: 1,
                func: 0
            })
        );
        assert_eq!(
            ecam.find(0x1af4, 0x1000),
            None,
            "absent devices read all ones"
        );
    }

    #[test]
    fn placing_checks_type_and_alignment() {
        let mut fake = Fake::new();
        *fake.at(1, COMMAND as usize) = 0;
        *fake.at(1, 0x18) = 0x0000_0001; // BAR2: an I/O BAR
        let f = Bdf {
            bus: 0,
            dev: 1,
            func: 0,
        };
        assert_eq!(
            fake.ecam().place_bar(f, 2, 0x1000_0000),
            Err(BarError::NotMemory)
        );
        *fake.at(1, 0x18) = 0x0000_000c; // 64-bit prefetchable memory
        // Plain memory reads back all ones: size 16 bytes, so any 16-byte
        // aligned address fits; a misaligned one does not.
        assert_eq!(
            fake.ecam().place_bar(f, 2, 0x1000_0008),
            Err(BarError::Misaligned { size: 0x10 })
        );
        assert_eq!(fake.ecam().place_bar(f, 2, 0x1000_0000), Ok(0x10));
        assert_eq!(*fake.at(1, 0x18), 0x1000_0000);
        assert_eq!(*fake.at(1, 0x1c), 0);
        assert_eq!(
            *fake.at(1, COMMAND as usize) & COMMAND_MEMORY,
            COMMAND_MEMORY
        );
    }
}
