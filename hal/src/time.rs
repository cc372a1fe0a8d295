//! Time: a free-running counter, conversions and a busy-wait delay.
//!
//! The device logic never reads a clock: the main loop passes it the time.
//! This module is what the main loop reads it from.

use embedded_hal::delay::DelayNs;

/// A free-running, monotonic counter: the generic timer on the target, a
/// fake in tests.
pub trait Counter {
    /// Current count.
    fn ticks(&self) -> u64;
    /// Counts per second (never 0).
    fn frequency_hz(&self) -> u64;
}

/// Ticks to nanoseconds, rounded down, without overflow for any `u64` input.
pub fn ticks_to_ns(ticks: u64, frequency_hz: u64) -> u64 {
    (u128::from(ticks) * 1_000_000_000 / u128::from(frequency_hz.max(1))) as u64
}

/// Nanoseconds to ticks, rounded up so that a wait is never short.
pub fn ns_to_ticks_ceil(ns: u64, frequency_hz: u64) -> u64 {
    (u128::from(ns) * u128::from(frequency_hz)).div_ceil(1_000_000_000) as u64
}

/// Busy-wait delay on a [`Counter`]: `embedded-hal`'s `DelayNs`.
pub struct Delay<C: Counter> {
    counter: C,
}

impl<C: Counter> Delay<C> {
    pub fn new(counter: C) -> Self {
        Self { counter }
    }
}

impl<C: Counter> DelayNs for Delay<C> {
    fn delay_ns(&mut self, ns: u32) {
        let wait = ns_to_ticks_ceil(ns.into(), self.counter.frequency_hz());
        let start = self.counter.ticks();
        // Wrapping subtraction: correct across a counter wrap.
        while self.counter.ticks().wrapping_sub(start) < wait {
            core::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A counter that advances by `step` every time it is read.
    struct Stepping {
        now: Cell<u64>,
        step: u64,
        hz: u64,
    }

    impl Counter for &Stepping {
        fn ticks(&self) -> u64 {
            let t = self.now.get();
            self.now.set(t.wrapping_add(self.step));
            t
        }
        fn frequency_hz(&self) -> u64 {
            self.hz
        }
    }

    #[test]
    fn conversions_round_the_safe_way() {
        // 62.5 MHz is QEMU's generic timer: 16 ns per tick.
        assert_eq!(ticks_to_ns(1, 62_500_000), 16);
        assert_eq!(ns_to_ticks_ceil(16, 62_500_000), 1);
        assert_eq!(ns_to_ticks_ceil(17, 62_500_000), 2);
        assert_eq!(ticks_to_ns(u64::MAX, 1_000_000_000), u64::MAX);
    }

    #[test]
    fn delay_waits_at_least_the_asked_time() {
        let c = Stepping {
            now: Cell::new(0),
            step: 3,
            hz: 62_500_000,
        };
        Delay::new(&c).delay_us(10); // 625 ticks
        let elapsed = c.now.get();
        assert!(elapsed >= 625, "waited only {elapsed} ticks");
        assert!(elapsed <= 625 + 2 * 3, "overshot: {elapsed} ticks");
    }

    #[test]
    fn delay_survives_counter_wrap() {
        let c = Stepping {
            now: Cell::new(u64::MAX - 100),
            step: 7,
            hz: 1_000_000_000,
        };
        Delay::new(&c).delay_ns(1000);
        let elapsed = c.now.get().wrapping_sub(u64::MAX - 100);
        assert!((1000..1000 + 14).contains(&elapsed), "elapsed {elapsed}");
    }
}
