//! Device drivers. Each register block is declared with tock-registers next
//! to its driver; the base address comes from [`crate::board`].
pub mod pci;
pub mod pl011;
