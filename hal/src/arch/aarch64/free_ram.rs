//! RAM past the image: from the end of the page tables (`__image_end`) to
//! the end of the board's RAM, mapped read-write by the MMU set-up and used
//! by nothing else. Modes that need a large scratch area (the benchmark's
//! host-interface window and host memory) take it from here instead of
//! adding it to every image's static RAM.

use crate::board::memory::RAM_END_INCLUSIVE;
use core::sync::atomic::{AtomicBool, Ordering};

unsafe extern "C" {
    static __image_end: u8;
}

static TAKEN: AtomicBool = AtomicBool::new(false);

/// The free RAM as (start, length), page-aligned; `None` if it was taken
/// already. Whoever takes it owns it for the rest of the run.
pub fn take() -> Option<(usize, usize)> {
    if TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    let start = ((&raw const __image_end) as usize).next_multiple_of(4096);
    let end = RAM_END_INCLUSIVE + 1;
    Some((start, end.saturating_sub(start)))
}
