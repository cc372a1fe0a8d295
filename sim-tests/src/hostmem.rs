//! Host memory as the device sees it through its IOMMU: one window per
//! function (the PF and each VF), allocated by that function's driver. The
//! device may only touch a function's memory inside that function's window;
//! the check is `HostMemory::window_of`.

use crate::window::Window;
use std::ptr::NonNull;
use std::rc::Rc;

/// Bytes of host memory per function window.
pub const WINDOW_SIZE: u64 = hal::chip::DMA_WINDOW_SIZE;
/// Where host memory starts in the bus address space.
pub const BASE: u64 = hal::chip::HOST_MEMORY_BUS_BASE;

/// A function's IOMMU window: `[start, start + size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaWindow {
    pub start: u64,
    pub size: u64,
}

impl DmaWindow {
    pub fn contains(&self, addr: u64, len: u64) -> bool {
        addr >= self.start && len <= self.size && addr - self.start <= self.size - len
    }
}

enum Storage {
    Owned(Vec<u8>),
    /// The tail of a shared window: QEMU's guest reaches it too.
    Shared {
        ptr: NonNull<u8>,
        len: usize,
        _window: Rc<Window>,
    },
}

/// Host memory: function `f` (0 = PF, 1 + n = VF n) owns window `f`.
pub struct HostMemory {
    storage: Storage,
    next: Vec<u64>,
    window_size: u64,
}

impl HostMemory {
    /// Memory for the PF and `vfs` VFs (zero pages cost nothing until used).
    pub fn new(vfs: u16) -> Self {
        let functions = 1 + usize::from(vfs);
        HostMemory {
            storage: Storage::Owned(vec![0; functions * WINDOW_SIZE as usize]),
            next: vec![0; functions],
            window_size: WINDOW_SIZE,
        }
    }

    /// Host memory in the shared window after the registers, each
    /// function's window the largest power of two up to [`WINDOW_SIZE`]
    /// that fits; `None` below 64 KiB each.
    pub fn in_window(window: Rc<Window>, vfs: u16) -> Option<Self> {
        let functions = 1 + usize::from(vfs);
        let (ptr, len) = window.tail();
        let mut window_size = WINDOW_SIZE;
        while functions as u64 * window_size > len as u64 {
            window_size /= 2;
            if window_size < 0x1_0000 {
                return None;
            }
        }
        Some(HostMemory {
            storage: Storage::Shared {
                ptr,
                len,
                _window: window,
            },
            next: vec![0; functions],
            window_size,
        })
    }

    /// Bytes needed for `vfs` VFs' windows (and the PF's).
    pub const fn bytes_needed(vfs: u16) -> usize {
        (1 + vfs as usize) * WINDOW_SIZE as usize
    }

    fn raw(&self) -> (*const u8, usize) {
        match &self.storage {
            Storage::Owned(v) => (v.as_ptr(), v.len()),
            Storage::Shared { ptr, len, .. } => (ptr.as_ptr(), *len),
        }
    }

    /// [`raw`](Self::raw) to write through: `Vec::as_ptr`'s may not be.
    fn raw_mut(&mut self) -> *mut u8 {
        match &mut self.storage {
            Storage::Owned(v) => v.as_mut_ptr(),
            Storage::Shared { ptr, .. } => ptr.as_ptr(),
        }
    }

    /// Function index → its window.
    pub fn window(&self, function: usize) -> Option<DmaWindow> {
        (function < self.next.len()).then(|| DmaWindow {
            start: BASE + function as u64 * self.window_size,
            size: self.window_size,
        })
    }

    /// Allocates `len` bytes aligned to `align` (a power of two) in the
    /// function's window; `None` when it is full.
    pub fn alloc(&mut self, function: usize, len: u64, align: u64) -> Option<u64> {
        let w = self.window(function)?;
        if len == 0 || !align.is_power_of_two() {
            return None;
        }
        let offset = self.next[function].checked_next_multiple_of(align)?;
        if offset.checked_add(len)? > w.size {
            return None;
        }
        self.next[function] = offset + len;
        Some(w.start + offset)
    }

    /// Forgets a function's allocations (its driver went away).
    pub fn reset(&mut self, function: usize) {
        if let Some(w) = self.window(function) {
            self.next[function] = 0;
            let s = (w.start - BASE) as usize;
            let p = self.raw_mut();
            // SAFETY: the window is inside the storage (checked at creation).
            unsafe { std::ptr::write_bytes(p.add(s), 0, w.size as usize) };
        }
    }

    fn range(&self, addr: u64, len: usize) -> Option<std::ops::Range<usize>> {
        let start = usize::try_from(addr.checked_sub(BASE)?).ok()?;
        let end = start.checked_add(len)?;
        (end <= self.raw().1).then_some(start..end)
    }

    /// Host-side write (a driver filling a buffer). False if outside memory.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        match self.range(addr, data.len()) {
            Some(r) => {
                // SAFETY: in bounds; raw copies, as another process may be
                // reading this memory at the same time.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        data.as_ptr(),
                        self.raw_mut().add(r.start),
                        data.len(),
                    )
                };
                true
            }
            None => false,
        }
    }

    /// Host-side read. False if outside memory.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        match self.range(addr, buf.len()) {
            Some(r) => {
                // SAFETY: in bounds; see `write`.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        self.raw().0.add(r.start),
                        buf.as_mut_ptr(),
                        buf.len(),
                    )
                };
                true
            }
            None => false,
        }
    }
}

impl hal::port::Dma for HostMemory {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        HostMemory::read(self, addr, buf)
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        HostMemory::write(self, addr, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_stay_in_their_window() {
        let mut m = HostMemory::new(2);
        let a = m.alloc(1, 100, 64).unwrap();
        let b = m.alloc(1, 100, 4096).unwrap();
        let w = m.window(1).unwrap();
        assert!(w.contains(a, 100) && w.contains(b, 100));
        assert_eq!(b % 4096, 0);
        assert!(b >= a + 100, "no overlap");
        assert!(!m.window(2).unwrap().contains(a, 1), "not VF 1's");
        assert_eq!(m.alloc(1, WINDOW_SIZE, 1), None, "full");
        assert_eq!(m.window(2).unwrap().start, BASE + 2 * WINDOW_SIZE);
        assert_eq!(m.alloc(3, 1, 1), None, "no such function");
        assert_eq!(m.alloc(0, 0, 1), None, "empty");
    }

    #[test]
    fn reads_and_writes_round_trip() {
        let mut m = HostMemory::new(1);
        let a = m.alloc(0, 8, 8).unwrap();
        assert!(m.write(a, &[1, 2, 3, 4]));
        let mut buf = [0; 4];
        assert!(m.read(a, &mut buf));
        assert_eq!(buf, [1, 2, 3, 4]);
        assert!(!m.read(BASE - 1, &mut buf), "below memory");
        assert!(!m.write(BASE + 2 * WINDOW_SIZE, &[0]), "above memory");
        m.reset(0);
        assert!(m.read(a, &mut buf));
        assert_eq!(buf, [0; 4], "reset zeroes the window");
    }

    #[test]
    fn window_bounds() {
        let w = DmaWindow {
            start: 0x1000,
            size: 0x100,
        };
        assert!(w.contains(0x1000, 0x100));
        assert!(!w.contains(0x1001, 0x100));
        assert!(!w.contains(0xfff, 1));
        assert!(!w.contains(0x1000, u64::MAX));
    }
}
