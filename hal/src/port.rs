//! The traits the device logic reaches the outside world through: host
//! memory (DMA) and the physical port. The board provides them (virtio-net
//! and the shared window under QEMU; the simulation's backends on the host).

/// Host memory as the device reaches it. Addresses are host bus addresses;
/// the device logic checks each function's IOMMU window before calling.
pub trait Dma {
    /// The accesses that follow are made for function `function` (0 = PF,
    /// 1 + n = VF n): PCIe's requester ID, by which an IOMMU picks the
    /// function's mappings (VFs in different VMs see the same addresses as
    /// different memory). Memory shared by all functions ignores it.
    #[inline]
    fn requester(&mut self, function: usize) {
        let _ = function;
    }

    /// Reads `buf.len()` bytes at `addr`; false if there is no memory there.
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool;
    /// Writes `data` at `addr`; false if there is no memory there.
    fn write(&mut self, addr: u64, data: &[u8]) -> bool;

    /// Reads the 16-byte descriptor at `addr` as four little-endian words.
    /// Memory-mapped implementations can do better than this byte copy
    /// (rings are 128-byte aligned, so a descriptor is 16-byte aligned).
    fn read_desc(&mut self, addr: u64) -> Option<[u32; 4]> {
        read_desc_bytes(self, addr)
    }

    /// Writes a descriptor back: words 0-1 first, then words 2-3 (status
    /// with DD, and the length) in one 8-byte write. Everything written
    /// before the call (the frame, words 0-1) is visible to the host
    /// before the status is.
    fn write_desc(&mut self, addr: u64, words: [u32; 4]) -> bool {
        write_desc_bytes(self, addr, words)
    }
}

/// [`Dma::read_desc`] by way of [`Dma::read`].
pub fn read_desc_bytes(dma: &mut (impl Dma + ?Sized), addr: u64) -> Option<[u32; 4]> {
    let mut b = [0u8; 16];
    if !dma.read(addr, &mut b) {
        return None;
    }
    let w = |i: usize| u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
    Some([w(0), w(1), w(2), w(3)])
}

/// [`Dma::write_desc`] by way of [`Dma::write`].
pub fn write_desc_bytes(dma: &mut (impl Dma + ?Sized), addr: u64, words: [u32; 4]) -> bool {
    let mut b = [0u8; 16];
    for (i, w) in words.iter().enumerate() {
        b[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    if !dma.write(addr, &b[..8]) {
        return false;
    }
    core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
    dma.write(addr + 8, &b[8..])
}

/// The physical port (the uplink).
pub trait Uplink {
    /// Copies the next received frame into `buf` and returns its length;
    /// `None` when nothing is waiting. A frame longer than `buf` is cut to
    /// `buf.len()` and its full length returned, so the caller can count it
    /// as oversize.
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize>;
    /// Queues a frame for the wire; false if it could not be taken.
    fn transmit(&mut self, frame: &[u8]) -> bool;
    /// Whether the link is up.
    fn link_up(&self) -> bool;
}
