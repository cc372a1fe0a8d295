//! The traits the device logic reaches the outside world through: host
//! memory (DMA) and the physical port. The board provides them (virtio-net
//! and the shared window under QEMU; the simulation's backends on the host).

/// Host memory as the device reaches it. Addresses are host bus addresses;
/// the device logic checks each function's IOMMU window before calling.
pub trait Dma {
    /// Reads `buf.len()` bytes at `addr`; false if there is no memory there.
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool;
    /// Writes `data` at `addr`; false if there is no memory there.
    fn write(&mut self, addr: u64, data: &[u8]) -> bool;
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
