//! A VM's memory as a VF reaches it: the DMA mappings its VMM handed over
//! (file descriptors of guest RAM, each mapped at an I/O virtual address,
//! which for a VM without a vIOMMU is the guest-physical address). The
//! mappings are the VF's IOMMU: the device reaches exactly what they map,
//! with the access they allow, and nothing else.
//!
//! [`Iommu`] is what the firmware's data path is given: per requester (the
//! function the access is for), a VM's mappings if the function is
//! attached to one, otherwise the simulation's own host memory with its
//! per-function windows.

use crate::hostmem::HostMemory;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;

/// Why a mapping was refused (the VMM gets the errno).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// Zero length, overflowing, or not page-aligned.
    Invalid,
    /// Overlaps a mapping already there.
    Overlap,
    /// More mappings than [`MAX_MAPPINGS`].
    TooMany,
    /// mmap failed (errno).
    Mmap(i32),
}

impl MapError {
    pub fn errno(self) -> i32 {
        match self {
            MapError::Invalid | MapError::Overlap => libc::EINVAL,
            MapError::TooMany => libc::ENOSPC,
            MapError::Mmap(e) => e,
        }
    }
}

/// Mappings one VF may hold (QEMU maps each RAM section: a handful).
pub const MAX_MAPPINGS: usize = 64;
const PAGE: u64 = 4096;

struct Mapping {
    iova: u64,
    len: u64,
    /// None: the VMM gave no file descriptor (ROM, a BAR): not reachable
    /// by DMA here, as the device cannot reach it without the VMM.
    mem: Option<NonNull<u8>>,
    writable: bool,
}

/// A VF's DMA mappings.
#[derive(Default)]
pub struct GuestMemory {
    maps: Vec<Mapping>,
    /// Accesses refused (outside every mapping, or a write to a read-only
    /// one): each is a queue fault the firmware counts too.
    pub faults: u64,
}

impl GuestMemory {
    /// Maps `len` bytes of `fd` from `offset` at `iova`.
    pub fn map(
        &mut self,
        iova: u64,
        len: u64,
        fd: Option<&OwnedFd>,
        offset: u64,
        readable: bool,
        writable: bool,
    ) -> Result<(), MapError> {
        let end = iova.checked_add(len).ok_or(MapError::Invalid)?;
        if len == 0 || ![iova, len, offset].iter().all(|v| v.is_multiple_of(PAGE)) {
            return Err(MapError::Invalid);
        }
        if self
            .maps
            .iter()
            .any(|m| iova < m.iova + m.len && m.iova < end)
        {
            return Err(MapError::Overlap);
        }
        if self.maps.len() >= MAX_MAPPINGS {
            return Err(MapError::TooMany);
        }
        let mem = match fd {
            Some(fd) => {
                let prot = (if readable { libc::PROT_READ } else { 0 })
                    | (if writable { libc::PROT_WRITE } else { 0 });
                let size = usize::try_from(len).map_err(|_| MapError::Invalid)?;
                let off = libc::off_t::try_from(offset).map_err(|_| MapError::Invalid)?;
                // SAFETY: a new shared mapping of the VMM's file; the kernel
                // checks the fd, the range and the protection.
                let p = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        size,
                        prot.max(libc::PROT_READ),
                        libc::MAP_SHARED,
                        fd.as_raw_fd(),
                        off,
                    )
                };
                if p == libc::MAP_FAILED {
                    return Err(MapError::Mmap(
                        std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
                    ));
                }
                NonNull::new(p.cast::<u8>())
            }
            None => None,
        };
        self.maps.push(Mapping {
            iova,
            len,
            mem,
            writable,
        });
        Ok(())
    }

    /// Removes the mappings inside `[iova, iova + len)` (all of them when
    /// `all`); returns how many went.
    pub fn unmap(&mut self, iova: u64, len: u64, all: bool) -> usize {
        let end = iova.saturating_add(len);
        let before = self.maps.len();
        self.maps.retain(|m| {
            let gone = all || (m.iova >= iova && m.iova + m.len <= end);
            if gone {
                unmap(m);
            }
            !gone
        });
        before - self.maps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// The lowest and highest mapped address (what the firmware's window
    /// check is given; the exact check is this memory's).
    pub fn span(&self) -> Option<(u64, u64)> {
        let lo = self.maps.iter().map(|m| m.iova).min()?;
        let hi = self.maps.iter().map(|m| m.iova + m.len).max()?;
        Some((lo, hi))
    }

    /// The host address of `[addr, addr + n)` if one mapping holds all of
    /// it with the access asked.
    fn at(&self, addr: u64, n: usize, write: bool) -> Option<*mut u8> {
        let end = addr.checked_add(n as u64)?;
        let m = self
            .maps
            .iter()
            .find(|m| addr >= m.iova && end <= m.iova + m.len)?;
        if write && !m.writable {
            return None;
        }
        let base = m.mem?;
        // SAFETY: inside the mapping (checked above).
        Some(unsafe { base.as_ptr().add((addr - m.iova) as usize) })
    }

    pub fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        match self.at(addr, buf.len(), false) {
            Some(p) => {
                // SAFETY: `at` checked the range; the guest may write the
                // same memory meanwhile, as with any DMA.
                unsafe { std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), buf.len()) };
                true
            }
            None => {
                self.faults += 1;
                false
            }
        }
    }

    pub fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        match self.at(addr, data.len(), true) {
            Some(p) => {
                // SAFETY: as in `read`, and the mapping is writable.
                unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
                true
            }
            None => {
                self.faults += 1;
                false
            }
        }
    }
}

fn unmap(m: &Mapping) {
    if let Some(p) = m.mem {
        // SAFETY: the mapping `map` made, of this length, unmapped once.
        unsafe { libc::munmap(p.as_ptr().cast(), m.len as usize) };
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        for m in &self.maps {
            unmap(m);
        }
    }
}

/// The device's DMA as the firmware uses it: each access goes to the
/// requesting function's VM mappings if it has any, else to the
/// simulation's host memory.
pub struct Iommu<'a> {
    pub host: &'a mut HostMemory,
    /// Function f's VM memory (0 = PF, 1 + n = VF n), if attached.
    pub guests: &'a mut [Option<GuestMemory>],
    requester: usize,
}

impl<'a> Iommu<'a> {
    pub fn new(host: &'a mut HostMemory, guests: &'a mut [Option<GuestMemory>]) -> Self {
        Iommu {
            host,
            guests,
            requester: 0,
        }
    }

    fn guest(&mut self) -> Option<&mut GuestMemory> {
        self.guests.get_mut(self.requester)?.as_mut()
    }
}

impl hal::port::Dma for Iommu<'_> {
    fn requester(&mut self, function: usize) {
        self.requester = function;
    }

    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        match self.guest() {
            Some(g) => g.read(addr, buf),
            None => self.host.read(addr, buf),
        }
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        match self.guest() {
            Some(g) => g.write(addr, data),
            None => self.host.write(addr, data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hal::port::Dma;
    use std::os::fd::FromRawFd;

    fn memfd(len: u64) -> OwnedFd {
        // SAFETY: a new anonymous file; the fd is owned from here on.
        let fd = unsafe { libc::memfd_create(c"guest".as_ptr(), 0) };
        assert!(fd >= 0);
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        assert_eq!(unsafe { libc::ftruncate(fd.as_raw_fd(), len as i64) }, 0);
        fd
    }

    #[test]
    // memfd_create and a shared mmap of it: Miri has neither.
    #[cfg_attr(miri, ignore)]
    fn accesses_reach_exactly_what_is_mapped() {
        let fd = memfd(0x4000);
        let mut g = GuestMemory::default();
        g.map(0x10_0000, 0x2000, Some(&fd), 0x1000, true, true)
            .unwrap();
        assert!(g.write(0x10_0ff0, &[7; 16]));
        let mut b = [0u8; 16];
        assert!(g.read(0x10_0ff0, &mut b));
        assert_eq!(b, [7; 16]);
        // What the file holds there (offset 0x1000 + 0xff0).
        let mut f = [0u8; 1];
        let n = unsafe { libc::pread(fd.as_raw_fd(), f.as_mut_ptr().cast(), 1, 0x1ff0) };
        assert_eq!((n, f[0]), (1, 7));
        assert!(!g.read(0x10_1ff8, &mut b), "runs past the end");
        assert!(!g.write(0x0f_fff0, &[0; 16]), "below");
        assert_eq!(g.faults, 2);
        assert_eq!(
            g.map(0x10_1000, 0x1000, Some(&fd), 0, true, true),
            Err(MapError::Overlap)
        );
        assert_eq!(
            g.map(0x20_0001, 0x1000, Some(&fd), 0, true, true),
            Err(MapError::Invalid)
        );
        g.map(0x30_0000, 0x1000, Some(&fd), 0, true, false).unwrap();
        assert!(!g.write(0x30_0000, &[1]), "read-only mapping");
        g.map(0x40_0000, 0x1000, None, 0, true, true).unwrap();
        assert!(!g.read(0x40_0000, &mut b), "no fd: not reachable");
        assert_eq!(g.span(), Some((0x10_0000, 0x40_1000)));
        assert_eq!(g.unmap(0x10_0000, 0x2000, false), 1);
        assert!(!g.read(0x10_0ff0, &mut b), "unmapped");
        assert_eq!(g.unmap(0, 0, true), 2);
        assert!(g.is_empty());
    }

    #[test]
    // memfd_create and a shared mmap of it: Miri has neither.
    #[cfg_attr(miri, ignore)]
    fn the_iommu_picks_the_requesters_memory() {
        let fd = memfd(0x1000);
        let mut host = HostMemory::new(2);
        let a = host.alloc(1, 16, 16).unwrap();
        let mut vm = GuestMemory::default();
        vm.map(0, 0x1000, Some(&fd), 0, true, true).unwrap();
        let mut guests = vec![None, None, Some(vm)];
        let mut io = Iommu::new(&mut host, &mut guests);
        io.requester(1);
        assert!(io.write(a, &[1; 4]), "VF 0: the simulation's memory");
        assert!(!io.write(0x100, &[1; 4]));
        io.requester(2);
        assert!(io.write(0x100, &[2; 4]), "VF 1: its VM's memory");
        assert!(!io.write(a, &[1; 4]), "not the simulation's");
        assert_eq!(guests[2].as_ref().unwrap().faults, 1);
    }
}
