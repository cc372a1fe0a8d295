//! The generic timer: the virtual counter as the clock, the EL1 virtual
//! timer (CNTV) as the periodic tick.

use crate::board::timer::TICK_HZ;
use crate::time::{Counter, ticks_to_ns};
use aarch64_cpu::registers::{
    CNTFRQ_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0, CNTVCT_EL0, Readable, Writeable,
};
use core::sync::atomic::{AtomicU64, Ordering};

static TICKS: AtomicU64 = AtomicU64::new(0);
static INTERVAL: AtomicU64 = AtomicU64::new(0);

/// The virtual counter, as a [`Counter`].
#[derive(Clone, Copy, Default)]
pub struct GenericTimer;

impl Counter for GenericTimer {
    fn ticks(&self) -> u64 {
        aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
        CNTVCT_EL0.get()
    }
    fn frequency_hz(&self) -> u64 {
        frequency_hz()
    }
}

/// Counter frequency (CNTFRQ_EL0, set by firmware before us or by QEMU).
pub fn frequency_hz() -> u64 {
    CNTFRQ_EL0.get().max(1)
}

/// Time since the counter started, in microseconds.
pub fn uptime_us() -> u64 {
    ticks_to_ns(GenericTimer.ticks(), frequency_hz()) / 1000
}

/// Periodic ticks taken since boot.
pub fn tick_count() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Arms the periodic tick at the board's `timer.tick_hz`.
pub(super) fn start_tick() {
    let interval = (frequency_hz() / u64::from(TICK_HZ)).max(1);
    INTERVAL.store(interval, Ordering::Relaxed);
    CNTV_CVAL_EL0.set(GenericTimer.ticks() + interval);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// The tick interrupt: count it and re-arm from the previous deadline, so
/// the tick does not drift with interrupt latency.
pub(super) fn on_tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
    let next = CNTV_CVAL_EL0.get() + INTERVAL.load(Ordering::Relaxed);
    CNTV_CVAL_EL0.set(next);
}
