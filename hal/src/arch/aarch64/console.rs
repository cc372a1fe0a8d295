//! The console: the board's UART (`devices.uart.kind`: PL011 or Cadence),
//! carrying defmt frames.
//!
//! The defmt global logger lives here (feature `defmt`). A frame is written
//! with IRQs masked, so interrupt handlers may log too. The fatal paths
//! (exception, panic) call [`break_in`] first: if they interrupted a frame,
//! it is terminated so the host decoder drops it and resynchronises, instead
//! of the fatal report being lost in a corrupt frame.

use crate::board::devices::{UART_START, Uart};
use crate::drivers::ConsoleUart;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

struct Console {
    uart: UnsafeCell<Uart>,
    #[cfg(feature = "defmt")]
    encoder: UnsafeCell<defmt::Encoder>,
    /// DAIF at `acquire`, restored at `release`.
    #[cfg(feature = "defmt")]
    saved_daif: UnsafeCell<u64>,
}

// SAFETY: the fields are only touched while `TAKEN` is held with IRQs
// masked, on the single core that runs the firmware.
unsafe impl Sync for Console {}

static TAKEN: AtomicBool = AtomicBool::new(false);

static CONSOLE: Console = Console {
    // SAFETY: the board config puts a UART of this kind at UART_START (the
    // config checks the region holds its registers), mapped as device memory
    // (identity) before and after the MMU is on; nobody else drives it.
    uart: UnsafeCell::new(unsafe { Uart::at(UART_START) }),
    #[cfg(feature = "defmt")]
    encoder: UnsafeCell::new(defmt::Encoder::new()),
    #[cfg(feature = "defmt")]
    saved_daif: UnsafeCell::new(0),
};

/// Runs `f` on the UART with the console held.
fn with_uart<R>(f: impl FnOnce(&mut Uart) -> R) -> R {
    let daif = mask_irqs();
    while TAKEN.swap(true, Ordering::Acquire) {
        core::hint::spin_loop();
    }
    // SAFETY: `TAKEN` is ours and IRQs are masked.
    let r = f(unsafe { &mut *CONSOLE.uart.get() });
    TAKEN.store(false, Ordering::Release);
    restore_irqs(daif);
    r
}

pub(super) fn init() {
    with_uart(|uart| uart.init());
}

/// Waits until everything logged so far has left the UART.
pub fn flush() {
    with_uart(|uart| uart.flush());
}

/// Takes the console over from whatever was writing to it (fatal paths
/// only: the interrupted writer never resumes).
pub(super) fn break_in() {
    if TAKEN.swap(false, Ordering::AcqRel) {
        #[cfg(feature = "defmt")]
        // SAFETY: the owner was interrupted and will not run again.
        unsafe {
            // A zero byte ends an rzCOBS frame: the truncated one is
            // discarded by the decoder, which then resynchronises.
            (*CONSOLE.uart.get()).write_bytes(&[0]);
            *CONSOLE.encoder.get() = defmt::Encoder::new();
        }
    }
}

fn mask_irqs() -> u64 {
    let daif: u64;
    // SAFETY: reads DAIF, then masks IRQ and FIQ; no memory effects.
    unsafe {
        core::arch::asm!("mrs {}, daif", "msr daifset, #3", out(reg) daif, options(nomem, nostack));
    }
    daif
}

fn restore_irqs(daif: u64) {
    // SAFETY: restores the mask bits saved by `mask_irqs`.
    unsafe { core::arch::asm!("msr daif, {}", in(reg) daif, options(nomem, nostack)) };
}

#[cfg(feature = "defmt")]
mod logger {
    use super::*;

    #[defmt::global_logger]
    struct Logger;

    // SAFETY: acquire/release bracket every frame; `TAKEN` with IRQs masked
    // gives exclusive access on the single firmware core.
    unsafe impl defmt::Logger for Logger {
        fn acquire() {
            let daif = mask_irqs();
            if TAKEN.swap(true, Ordering::Acquire) {
                // Only a fatal path can interrupt a frame with IRQs masked,
                // and it calls `break_in` first: this is a logic error.
                panic!("defmt logger re-entered");
            }
            // SAFETY: we hold the console.
            unsafe {
                *CONSOLE.saved_daif.get() = daif;
                let uart = &mut *CONSOLE.uart.get();
                (*CONSOLE.encoder.get()).start_frame(|b| uart.write_bytes(b));
            }
        }

        unsafe fn flush() {
            // SAFETY: called between acquire and release.
            unsafe { (*CONSOLE.uart.get()).flush() };
        }

        unsafe fn release() {
            // SAFETY: called after acquire; we hold the console.
            let daif = unsafe {
                let uart = &mut *CONSOLE.uart.get();
                (*CONSOLE.encoder.get()).end_frame(|b| uart.write_bytes(b));
                *CONSOLE.saved_daif.get()
            };
            TAKEN.store(false, Ordering::Release);
            restore_irqs(daif);
        }

        unsafe fn write(bytes: &[u8]) {
            // SAFETY: called between acquire and release.
            unsafe {
                let uart = &mut *CONSOLE.uart.get();
                (*CONSOLE.encoder.get()).write(bytes, |b| uart.write_bytes(b));
            }
        }
    }

    defmt::timestamp!("{=u64:us}", super::super::timer::uptime_us());
}
