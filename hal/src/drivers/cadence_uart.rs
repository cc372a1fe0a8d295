//! Cadence UART (`cdns,uart-r1p12`, the Zynq UltraScale+ UART; UG1085
//! "UART Controller" and its register reference): the console on zcu102.
//! Transmit only, polled.
//!
//! No maintained crate drives it (crates.io has none), hence this one. Like
//! the PL011 driver it passes bytes through unchanged, for defmt's binary
//! stream. Unlike the PL011, the transmitter is disabled at reset: nothing
//! leaves until [`CadenceUart::init`] enables it.

use super::{ConsoleUart, WouldBlock};
use core::ptr::NonNull;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! [u32,
    /// Control register.
    pub CR [
        /// Stop transmitter break (the reset value keeps it set).
        STOPBRK OFFSET(8) NUMBITS(1) [],
        TX_DIS OFFSET(5) NUMBITS(1) [],
        TX_EN OFFSET(4) NUMBITS(1) [],
        RX_DIS OFFSET(3) NUMBITS(1) [],
        RX_EN OFFSET(2) NUMBITS(1) [],
        /// Software reset of the transmit path; self-clearing.
        TXRST OFFSET(1) NUMBITS(1) [],
        /// Software reset of the receive path; self-clearing.
        RXRST OFFSET(0) NUMBITS(1) [],
    ],
    /// Mode register.
    pub MR [
        /// Channel mode.
        CHMODE OFFSET(8) NUMBITS(2) [Normal = 0],
        /// Stop bits.
        NBSTOP OFFSET(6) NUMBITS(2) [One = 0],
        /// Parity.
        PAR OFFSET(3) NUMBITS(3) [None = 0b100],
        /// Character length.
        CHRL OFFSET(1) NUMBITS(2) [Bits8 = 0],
        /// Clock source: 0 = uart_ref_clk, 1 = uart_ref_clk / 8.
        CLKS OFFSET(0) NUMBITS(1) [],
    ],
    /// Channel status register.
    pub SR [
        /// The transmitter state machine is active.
        TACTIVE OFFSET(11) NUMBITS(1) [],
        /// Transmit FIFO full.
        TXFULL OFFSET(4) NUMBITS(1) [],
        /// Transmit FIFO empty.
        TXEMPTY OFFSET(3) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXEMPTY OFFSET(1) NUMBITS(1) [],
    ],
];

register_structs! {
    /// Cadence UART registers (UG1085 register reference, module UART).
    pub CadenceRegisters {
        (0x00 => pub cr: ReadWrite<u32, CR::Register>),
        (0x04 => pub mr: ReadWrite<u32, MR::Register>),
        (0x08 => pub ier: WriteOnly<u32>),
        (0x0c => pub idr: WriteOnly<u32>),
        (0x10 => pub imr: ReadOnly<u32>),
        (0x14 => pub isr: ReadWrite<u32>),
        (0x18 => pub baudgen: ReadWrite<u32>),
        (0x1c => pub rxtout: ReadWrite<u32>),
        (0x20 => pub rxwm: ReadWrite<u32>),
        (0x24 => pub modemcr: ReadWrite<u32>),
        (0x28 => pub modemsr: ReadWrite<u32>),
        (0x2c => pub sr: ReadOnly<u32, SR::Register>),
        (0x30 => pub fifo: ReadWrite<u32>),
        (0x34 => pub bauddiv: ReadWrite<u32>),
        (0x38 => pub flowdel: ReadWrite<u32>),
        (0x3c => _reserved0),
        (0x44 => pub txwm: ReadWrite<u32>),
        (0x48 => @END),
    }
}

/// Every interrupt source in IDR/ISR (bits 0..=12).
const ALL_INTERRUPTS: u32 = 0x1fff;
/// Bound on the wait for the self-clearing resets, so a dead block does
/// not hang the boot before anything can be logged.
const RESET_SPINS: u32 = 100_000;

/// A Cadence UART at a fixed address.
pub struct CadenceUart {
    regs: NonNull<CadenceRegisters>,
}

// SAFETY: the driver only performs volatile accesses to its own registers;
// callers serialise use (the console holds it behind a lock).
unsafe impl Send for CadenceUart {}

impl CadenceUart {
    /// # Safety
    /// `base` must be the address of a Cadence UART's registers (or of
    /// memory laid out like them), valid for the driver's lifetime and not
    /// driven by anyone else.
    pub const unsafe fn new(base: NonNull<CadenceRegisters>) -> Self {
        Self { regs: base }
    }

    /// # Safety
    /// As [`CadenceUart::new`], with `base` non-zero.
    pub const unsafe fn at(base: usize) -> Self {
        // SAFETY: the caller's contract.
        unsafe { Self::new(NonNull::new_unchecked(base as *mut CadenceRegisters)) }
    }

    fn regs(&self) -> &CadenceRegisters {
        // SAFETY: `new`'s contract.
        unsafe { self.regs.as_ref() }
    }
}

impl ConsoleUart for CadenceUart {
    /// Interrupts masked, both paths reset, 8N1 in normal mode, transmitter
    /// and receiver on. The baud rate (BAUDGEN, BAUDDIV) is left as the
    /// boot loader set it, as for the PL011 (QEMU ignores it).
    fn init(&mut self) {
        let regs = self.regs();
        regs.idr.set(ALL_INTERRUPTS);
        regs.isr.set(ALL_INTERRUPTS); // write-1-to-clear
        regs.cr
            .write(CR::TXRST::SET + CR::RXRST::SET + CR::STOPBRK::SET);
        for _ in 0..RESET_SPINS {
            if !regs.cr.matches_any(&[CR::TXRST::SET, CR::RXRST::SET]) {
                break;
            }
            core::hint::spin_loop();
        }
        regs.mr
            .write(MR::CHMODE::Normal + MR::NBSTOP::One + MR::PAR::None + MR::CHRL::Bits8);
        regs.cr
            .write(CR::TX_EN::SET + CR::RX_EN::SET + CR::STOPBRK::SET);
    }

    fn try_write_byte(&mut self, byte: u8) -> Result<(), WouldBlock> {
        let regs = self.regs();
        if regs.sr.is_set(SR::TXFULL) {
            return Err(WouldBlock);
        }
        regs.fifo.set(byte.into());
        Ok(())
    }

    /// Whether every queued byte has left the wire: FIFO empty and the
    /// transmitter idle.
    fn is_idle(&self) -> bool {
        let sr = self.regs().sr.extract();
        sr.is_set(SR::TXEMPTY) && !sr.is_set(SR::TACTIVE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    /// Plain memory laid out like the registers.
    #[repr(C, align(4))]
    struct Fake([u32; 0x48 / 4]);

    impl Fake {
        fn uart(&mut self) -> CadenceUart {
            // SAFETY: the array has the size and alignment of the block.
            unsafe { CadenceUart::new(NonNull::from(&mut self.0).cast()) }
        }
        fn reg(&self, offset: usize) -> u32 {
            self.0[offset / 4]
        }
    }

    #[test]
    fn register_offsets_match_the_trm() {
        assert_eq!(size_of::<CadenceRegisters>(), 0x48);
        assert_eq!(offset_of!(CadenceRegisters, mr), 0x04);
        assert_eq!(offset_of!(CadenceRegisters, idr), 0x0c);
        assert_eq!(offset_of!(CadenceRegisters, isr), 0x14);
        assert_eq!(offset_of!(CadenceRegisters, baudgen), 0x18);
        assert_eq!(offset_of!(CadenceRegisters, sr), 0x2c);
        assert_eq!(offset_of!(CadenceRegisters, fifo), 0x30);
        assert_eq!(offset_of!(CadenceRegisters, bauddiv), 0x34);
        assert_eq!(offset_of!(CadenceRegisters, txwm), 0x44);
    }

    #[test]
    fn init_masks_interrupts_sets_8n1_and_enables_tx_and_rx() {
        // Reset bits read back as written in plain memory: init must not
        // wait forever for them.
        let mut fake = Fake([0; 0x48 / 4]);
        fake.0[0x18 / 4] = 0x28b; // BAUDGEN as the boot loader left it
        fake.uart().init();
        assert_eq!(fake.reg(0x0c), 0x1fff, "IDR: every source masked");
        assert_eq!(
            fake.reg(0x04),
            0x20,
            "MR: 8 bits, no parity, 1 stop, normal"
        );
        assert_eq!(fake.reg(0x00), 0x114, "CR: TX_EN RX_EN STOPBRK");
        assert_eq!(fake.reg(0x18), 0x28b, "baud rate untouched");
    }

    #[test]
    fn bytes_pass_through_unchanged() {
        let mut fake = Fake([0; 0x48 / 4]);
        fake.uart().write_bytes(b"\n");
        assert_eq!(fake.reg(0x30), u32::from(b'\n'), "no CRLF translation");
        fake.uart().write_bytes(&[0x00, 0xff]);
        assert_eq!(fake.reg(0x30), 0xff);
    }

    #[test]
    fn full_fifo_is_reported_not_overwritten() {
        let mut fake = Fake([0; 0x48 / 4]);
        fake.0[0x2c / 4] = 1 << 4; // TXFULL
        assert_eq!(fake.uart().try_write_byte(b'x'), Err(WouldBlock));
        assert_eq!(fake.reg(0x30), 0, "FIFO untouched");
        assert!(!fake.uart().is_idle(), "not empty");
        fake.0[0x2c / 4] = (1 << 3) | (1 << 11); // TXEMPTY but TACTIVE
        assert!(!fake.uart().is_idle());
        fake.0[0x2c / 4] = 1 << 3;
        assert!(fake.uart().is_idle());
    }
}
