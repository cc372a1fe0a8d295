//! Device drivers. Each register block is declared with tock-registers next
//! to its driver; the base address comes from [`crate::board`].
//!
//! The console UARTs ([`pl011::Pl011`], [`cadence_uart::CadenceUart`])
//! share [`ConsoleUart`] and a `const unsafe fn at(base)`; the board picks
//! one as `hal::board::devices::Uart`.
pub mod cadence_uart;
pub mod pci;
pub mod pl011;

/// The transmit FIFO is full; try again later.
#[derive(Debug, PartialEq, Eq)]
pub struct WouldBlock;

/// A polled, transmit-only console UART. Bytes pass through unchanged (no
/// newline translation): the log is defmt's binary stream.
pub trait ConsoleUart {
    /// Sets the line up (8N1, FIFOs, transmitter on); keeps the baud rate
    /// the boot loader set (QEMU ignores it).
    fn init(&mut self);
    /// Queues one byte, or says the FIFO is full.
    fn try_write_byte(&mut self, byte: u8) -> Result<(), WouldBlock>;
    /// Whether every queued byte has left the wire.
    fn is_idle(&self) -> bool;

    /// Queues every byte, waiting for FIFO space as needed.
    fn write_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            while self.try_write_byte(b).is_err() {
                core::hint::spin_loop();
            }
        }
    }

    /// Waits until every queued byte has been sent.
    fn flush(&mut self) {
        while !self.is_idle() {
            core::hint::spin_loop();
        }
    }
}
