//! The GICv2 (the `arm-gic` crate) and interrupt dispatch.
//!
//! One interrupt source today: the timer tick. Anything else is counted and
//! logged as unexpected, then ended, so it cannot storm.

use crate::board::devices::{GIC_CPU_INTERFACE_START, GIC_DISTRIBUTOR_START};
use crate::board::timer::INTID as TIMER_INTID;
use arm_gic::gicv2::GicV2;
use arm_gic::gicv2::registers::{Gicc, Gicd};
use arm_gic::{IntId, InterruptGroup, Trigger};
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;

static GIC: Mutex<Option<GicV2<'static>>> = Mutex::new(None);
static UNEXPECTED: AtomicU64 = AtomicU64::new(0);

/// Interrupts that arrived with no handler.
pub fn unexpected_count() -> u64 {
    UNEXPECTED.load(Ordering::Relaxed)
}

pub(super) fn init() {
    // SAFETY: the board config gives the GIC's addresses; they are mapped as
    // device memory and only this driver touches them.
    let mut gic = unsafe {
        GicV2::new(
            GIC_DISTRIBUTOR_START as *mut Gicd,
            GIC_CPU_INTERFACE_START as *mut Gicc,
        )
    };
    gic.setup();
    let timer = IntId::ppi(TIMER_INTID - 16);
    gic.set_interrupt_priority(timer, 0x80);
    gic.set_trigger(timer, Trigger::Level);
    if gic.enable_interrupt(timer, true).is_err() {
        fwlog::error!("GIC: cannot enable the timer interrupt {}", TIMER_INTID);
    }
    *GIC.lock() = Some(gic);
}

/// The IRQ exception: acknowledge and dispatch until nothing is pending.
pub(super) fn handle_irq() {
    // The main code only holds the lock during `init`, with IRQs masked.
    let Some(mut guard) = GIC.try_lock() else {
        UNEXPECTED.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let Some(gic) = guard.as_mut() else { return };
    // IAR/EOIR: the non-secure CPU interface's view, whichever group the
    // interrupt was given by `setup`.
    while let Some(id) = gic.get_and_acknowledge_interrupt(InterruptGroup::Group0) {
        if id.raw_value() == TIMER_INTID {
            super::timer::on_tick();
        } else {
            UNEXPECTED.fetch_add(1, Ordering::Relaxed);
            fwlog::warn!("unexpected interrupt {}", id.raw_value());
        }
        gic.end_interrupt(id, InterruptGroup::Group0);
    }
}
