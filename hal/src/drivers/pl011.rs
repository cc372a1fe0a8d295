//! Arm PrimeCell PL011 UART: the console. Transmit only, polled.
//!
//! The firmware's log is defmt's binary stream, so the UART must pass bytes
//! through unchanged: no newline translation here.

use super::{ConsoleUart, WouldBlock};
use core::ptr::NonNull;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! [u32,
    /// Flag register.
    pub FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// UART busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) [],
    ],
    /// Line control register.
    pub LCR_H [
        /// Word length.
        WLEN OFFSET(5) NUMBITS(2) [Bits5 = 0, Bits6 = 1, Bits7 = 2, Bits8 = 3],
        /// FIFOs enabled.
        FEN OFFSET(4) NUMBITS(1) [],
    ],
    /// Control register.
    pub CR [
        RXE OFFSET(9) NUMBITS(1) [],
        TXE OFFSET(8) NUMBITS(1) [],
        UARTEN OFFSET(0) NUMBITS(1) [],
    ],
];

register_structs! {
    /// PL011 registers (Arm DDI 0183).
    pub Pl011Registers {
        (0x000 => pub dr: ReadWrite<u32>),
        (0x004 => pub rsr_ecr: ReadWrite<u32>),
        (0x008 => _reserved0),
        (0x018 => pub fr: ReadOnly<u32, FR::Register>),
        (0x01c => _reserved1),
        (0x024 => pub ibrd: ReadWrite<u32>),
        (0x028 => pub fbrd: ReadWrite<u32>),
        (0x02c => pub lcr_h: ReadWrite<u32, LCR_H::Register>),
        (0x030 => pub cr: ReadWrite<u32, CR::Register>),
        (0x034 => pub ifls: ReadWrite<u32>),
        (0x038 => pub imsc: ReadWrite<u32>),
        (0x03c => pub ris: ReadOnly<u32>),
        (0x040 => pub mis: ReadOnly<u32>),
        (0x044 => pub icr: WriteOnly<u32>),
        (0x048 => @END),
    }
}

/// A PL011 at a fixed address.
pub struct Pl011 {
    regs: NonNull<Pl011Registers>,
}

// SAFETY: the driver only performs volatile accesses to its own registers;
// callers serialise use (the console holds it behind a lock).
unsafe impl Send for Pl011 {}

impl Pl011 {
    /// # Safety
    /// `base` must be the address of a PL011's registers (or of memory laid
    /// out like them), valid for the driver's lifetime and not driven by
    /// anyone else.
    pub const unsafe fn new(base: NonNull<Pl011Registers>) -> Self {
        Self { regs: base }
    }

    /// # Safety
    /// As [`Pl011::new`], with `base` non-zero.
    pub const unsafe fn at(base: usize) -> Self {
        // SAFETY: the caller's contract.
        unsafe { Self::new(NonNull::new_unchecked(base as *mut Pl011Registers)) }
    }

    fn regs(&self) -> &Pl011Registers {
        // SAFETY: `new`'s contract.
        unsafe { self.regs.as_ref() }
    }
}

impl ConsoleUart for Pl011 {
    /// 8 data bits, no parity, one stop bit, FIFOs on, transmitter and
    /// receiver on. The baud rate is left as firmware before us set it
    /// (QEMU ignores it; silicon boards set it in their boot loader).
    fn init(&mut self) {
        let regs = self.regs();
        regs.cr.set(0);
        regs.lcr_h.write(LCR_H::WLEN::Bits8 + LCR_H::FEN::SET);
        regs.imsc.set(0);
        regs.icr.set(0x7ff);
        regs.cr.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    fn try_write_byte(&mut self, byte: u8) -> Result<(), WouldBlock> {
        let regs = self.regs();
        if regs.fr.is_set(FR::TXFF) {
            return Err(WouldBlock);
        }
        regs.dr.set(byte.into());
        Ok(())
    }

    fn is_idle(&self) -> bool {
        !self.regs().fr.is_set(FR::BUSY)
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
        fn uart(&mut self) -> Pl011 {
            // SAFETY: the array has the size and alignment of the block.
            unsafe { Pl011::new(NonNull::from(&mut self.0).cast()) }
        }
        fn reg(&self, offset: usize) -> u32 {
            self.0[offset / 4]
        }
    }

    #[test]
    fn register_offsets_match_the_trm() {
        assert_eq!(size_of::<Pl011Registers>(), 0x48);
        assert_eq!(offset_of!(Pl011Registers, fr), 0x18);
        assert_eq!(offset_of!(Pl011Registers, lcr_h), 0x2c);
        assert_eq!(offset_of!(Pl011Registers, cr), 0x30);
        assert_eq!(offset_of!(Pl011Registers, icr), 0x44);
    }

    #[test]
    fn init_sets_8n1_fifo_and_enables() {
        let mut fake = Fake([0xffff_ffff; 0x48 / 4]);
        fake.uart().init();
        assert_eq!(fake.reg(0x2c), (3 << 5) | (1 << 4), "LCR_H: 8 bits, FIFO");
        assert_eq!(fake.reg(0x30), (1 << 9) | (1 << 8) | 1, "CR: RXE TXE EN");
        assert_eq!(fake.reg(0x38), 0, "interrupts masked");
    }

    #[test]
    fn bytes_pass_through_unchanged() {
        let mut fake = Fake([0; 0x48 / 4]);
        let mut uart = fake.uart();
        uart.write_bytes(b"\n");
        assert_eq!(fake.reg(0), u32::from(b'\n'), "no CRLF translation");
        let mut uart = fake.uart();
        uart.write_bytes(&[0x00, 0xff]);
        assert_eq!(fake.reg(0), 0xff);
    }

    #[test]
    fn full_fifo_is_reported_not_overwritten() {
        let mut fake = Fake([0; 0x48 / 4]);
        fake.0[0x18 / 4] = 1 << 5; // TXFF
        assert_eq!(fake.uart().try_write_byte(b'x'), Err(WouldBlock));
        assert_eq!(fake.reg(0), 0, "DR untouched");
        fake.0[0x18 / 4] = 1 << 3; // BUSY
        assert!(!fake.uart().is_idle());
    }
}
