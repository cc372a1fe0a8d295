//! The generic timer: the virtual counter as the clock, one of the EL1
//! timers as the periodic tick: the virtual timer (CNTV, INTID 27) or the
//! physical one (CNTP, INTID 30), as the board's `timer.intid` says.

use crate::board::timer::{FREQUENCY_HZ, PHYSICAL, TICK_HZ};
use crate::time::{Counter, ticks_to_ns};
use aarch64_cpu::registers::{
    CNTFRQ_EL0, CNTP_CTL_EL0, CNTP_CVAL_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0, CNTVCT_EL0, Readable,
    Writeable,
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

/// Counter frequency: CNTFRQ_EL0 (set by the firmware before us, or by
/// QEMU); the board's stated `timer.frequency_hz` if nobody set it.
pub fn frequency_hz() -> u64 {
    match CNTFRQ_EL0.get() {
        0 => FREQUENCY_HZ.max(1),
        hz => hz,
    }
}

/// CNTFRQ_EL0 as read, and the board's stated frequency (0: none), when
/// they differ: for the boot report.
pub fn frequency_mismatch() -> Option<(u64, u64)> {
    let read = CNTFRQ_EL0.get();
    (FREQUENCY_HZ != 0 && read != FREQUENCY_HZ).then_some((read, FREQUENCY_HZ))
}

/// Time since the counter started, in microseconds.
pub fn uptime_us() -> u64 {
    ticks_to_ns(GenericTimer.ticks(), frequency_hz()) / 1000
}

/// Periodic ticks taken since boot.
pub fn tick_count() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// The tick's compare value. Both timers compare against their own
/// counter; CNTVOFF_EL2 is 0 (start.rs), so the two counters agree.
fn set_deadline(cval: u64) {
    if PHYSICAL {
        CNTP_CVAL_EL0.set(cval);
    } else {
        CNTV_CVAL_EL0.set(cval);
    }
}

fn deadline() -> u64 {
    if PHYSICAL {
        CNTP_CVAL_EL0.get()
    } else {
        CNTV_CVAL_EL0.get()
    }
}

/// Arms the periodic tick at the board's `timer.tick_hz`.
pub(super) fn start_tick() {
    let interval = (frequency_hz() / u64::from(TICK_HZ)).max(1);
    INTERVAL.store(interval, Ordering::Relaxed);
    set_deadline(GenericTimer.ticks() + interval);
    if PHYSICAL {
        CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::SET + CNTP_CTL_EL0::IMASK::CLEAR);
    } else {
        CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
    }
}

/// The tick interrupt: count it and re-arm from the previous deadline, so
/// the tick does not drift with interrupt latency.
pub(super) fn on_tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
    set_deadline(deadline() + INTERVAL.load(Ordering::Relaxed));
}
