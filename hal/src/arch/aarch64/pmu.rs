//! The PMU's retired-instruction count, for the benchmark mode.
//!
//! Event counter 0 counts INST_RETIRED (event 0x08) at EL1 and EL0. QEMU
//! implements that event only under `-icount`, and says so in PMCEID0_EL0;
//! [`InstructionCounter::start`] checks the bit rather than hand back a
//! counter that never moves.

use core::arch::asm;

/// ARMv8 common event: instruction architecturally executed.
const INST_RETIRED: u64 = 0x08;

/// Counter 0, counting retired instructions.
pub struct InstructionCounter(());

/// Why the PMU cannot count instructions here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PmuError {
    /// PMCEID0_EL0 does not list INST_RETIRED (under QEMU: no `-icount`).
    EventNotImplemented,
    /// PMCR_EL0.N is zero: no event counters.
    NoEventCounters,
}

impl InstructionCounter {
    /// Programs counter 0 for INST_RETIRED and starts it.
    pub fn start() -> Result<InstructionCounter, PmuError> {
        let (pmceid0, pmcr): (u64, u64);
        // SAFETY: reads of identification and control registers.
        unsafe {
            asm!("mrs {}, pmceid0_el0", out(reg) pmceid0, options(nomem, nostack));
            asm!("mrs {}, pmcr_el0", out(reg) pmcr, options(nomem, nostack));
        }
        if pmceid0 & (1 << INST_RETIRED) == 0 {
            return Err(PmuError::EventNotImplemented);
        }
        if (pmcr >> 11) & 0x1f == 0 {
            return Err(PmuError::NoEventCounters);
        }
        // SAFETY: programs counter 0 only; nothing else uses the PMU.
        // PMEVTYPER0: P=0, U=0 (count EL1 and EL0), event INST_RETIRED.
        // PMCR: E (enable) and P (reset event counters).
        unsafe {
            asm!("msr pmevtyper0_el0, {}", in(reg) INST_RETIRED, options(nomem, nostack));
            asm!("msr pmcntenset_el0, {}", in(reg) 1u64, options(nomem, nostack));
            asm!("msr pmcr_el0, {}", in(reg) (pmcr & !0xff) | 0b11, options(nomem, nostack));
            asm!("isb", options(nomem, nostack));
        }
        Ok(InstructionCounter(()))
    }

    /// Instructions retired since [`start`](Self::start) (64-bit read of a
    /// 32-bit counter: it wraps after 2^32, longer than any measurement).
    #[inline(always)]
    pub fn read(&self) -> u64 {
        let v: u64;
        // SAFETY: reads counter 0; the ISBs keep the read in program order.
        unsafe {
            asm!("isb", "mrs {}, pmevcntr0_el0", "isb", out(reg) v, options(nomem, nostack));
        }
        v & 0xffff_ffff
    }
}

/// Runs `f` with IRQs masked, so a timer tick cannot land in a measurement.
pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    let daif: u64;
    // SAFETY: saves DAIF and masks IRQ; restored below.
    unsafe {
        asm!("mrs {}, daif", "msr daifset, #2", out(reg) daif, options(nomem, nostack));
    }
    let r = f();
    // SAFETY: restores the saved mask.
    unsafe { asm!("msr daif, {}", in(reg) daif, options(nomem, nostack)) };
    r
}
