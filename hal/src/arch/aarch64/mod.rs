//! AArch64 at EL1 (entered at EL3, EL2 or EL1): start-up, exceptions, MMU and caches, GIC, generic timer,
//! console and semihosting.
//!
//! Boot order, kept by [`init`]: console → MMU and caches → GIC → timer →
//! interrupts unmasked. The image calls [`init`] first thing in its main.

pub mod console;
pub mod exception;
pub mod free_ram;
pub mod gic;
pub mod mmu;
pub mod pmu;
pub mod semihosting;
pub mod smp;
pub mod stack;
mod start;
pub mod timer;
pub mod virtio_net;

use crate::exit::ExitCode;
use aarch64_cpu::registers::{CurrentEL, DAIF, MPIDR_EL1, Readable, Writeable};

/// What [`init`] set up, for the boot report.
#[derive(Debug, Clone, Copy)]
pub struct BootState {
    /// Exception level the image entered at (1, or 2 or 3 if it dropped
    /// to 1).
    pub entry_el: u8,
    pub mmu: mmu::MmuState,
    pub timer_hz: u64,
}

/// Brings the core up. Call once, first thing in the image's main.
pub fn init() -> BootState {
    console::init();
    let mmu = mmu::init();
    gic::init();
    timer::start_tick();
    // SAFETY: the vectors are installed and every interrupt source that is
    // enabled has a handler.
    DAIF.write(DAIF::D::Masked + DAIF::A::Unmasked + DAIF::I::Unmasked + DAIF::F::Masked);
    BootState {
        entry_el: start::entry_el(),
        mmu,
        timer_hz: timer::frequency_hz(),
    }
}

/// The exception level the code runs at now.
pub fn current_el() -> u8 {
    CurrentEL.read(CurrentEL::EL) as u8
}

/// The core's affinity (MPIDR_EL1 Aff0).
pub fn core_id() -> u8 {
    MPIDR_EL1.read(MPIDR_EL1::Aff0) as u8
}

/// Ends the run: the log is flushed, then QEMU exits with `code`
/// (semihosting boards) or the core halts (other boards).
pub fn exit(code: ExitCode) -> ! {
    console::flush();
    if crate::board::EXIT_BY_SEMIHOSTING {
        semihosting::exit(code.code().into());
    }
    halt()
}

/// Masks interrupts and sleeps forever.
pub fn halt() -> ! {
    DAIF.write(DAIF::D::Masked + DAIF::A::Masked + DAIF::I::Masked + DAIF::F::Masked);
    loop {
        aarch64_cpu::asm::wfe();
    }
}

/// Waits for the next interrupt (the main loop's idle).
pub fn wait_for_interrupt() {
    aarch64_cpu::asm::wfi();
}
