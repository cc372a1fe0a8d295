//! Device drivers. Each register block is declared with tock-registers next
//! to its driver; the base address comes from [`crate::board`].
//!
//! The console UARTs ([`pl011::Pl011`], [`cadence_uart::CadenceUart`])
//! share one interface: `const unsafe fn at(base)`, `init`, `write_bytes`,
//! `flush`. The board picks one as `hal::board::devices::Uart`.
pub mod cadence_uart;
pub mod pci;
pub mod pl011;
