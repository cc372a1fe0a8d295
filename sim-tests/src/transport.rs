//! How a host driver reaches the device: configuration space and BAR
//! registers of a function (by routing ID), and time. One trait, two
//! implementations: the in-process simulation ([`crate::sim::Sim`]) and,
//! for the QEMU co-simulation, the same model behind a shared window.

/// Register access and time, as a driver on a host sees them.
pub trait Transport {
    /// Configuration read of 1, 2 or 4 bytes.
    fn config_read(&mut self, rid: u16, offset: u16, size: u8) -> u32;
    /// Configuration write of 1, 2 or 4 bytes.
    fn config_write(&mut self, rid: u16, offset: u16, size: u8, value: u32);
    /// 32-bit read in the function's BAR0.
    fn bar_read32(&mut self, rid: u16, offset: u32) -> u32;
    /// 32-bit write in the function's BAR0.
    fn bar_write32(&mut self, rid: u16, offset: u32, value: u32);
    /// Waits (the device keeps running meanwhile).
    fn delay_us(&mut self, us: u64);
    /// The run's clock in ns since it began: simulated in-process, real
    /// where the device runs on its own (what captures are stamped with).
    fn now_ns(&self) -> u64;
    /// Allocates host memory the device may reach for function `rid`
    /// (inside that function's IOMMU window); `None` when it is full.
    fn dma_alloc(&mut self, rid: u16, len: u64, align: u64) -> Option<u64>;
    /// Writes host memory (the driver's side of DMA). False if outside.
    fn dma_write(&mut self, addr: u64, data: &[u8]) -> bool;
    /// Reads host memory. False if outside.
    fn dma_read(&mut self, addr: u64, buf: &mut [u8]) -> bool;
    /// The MSI-X messages the function sent since the last call (bit v =
    /// vector v): what the host's interrupt controller would have taken.
    fn take_interrupts(&mut self, rid: u16) -> u32;
}
