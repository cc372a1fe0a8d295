//! The main stack's high-water mark. `_start` paints the stack with
//! [`PAINT`] before Rust runs; the deepest word no longer holding it is
//! as deep as the stack has been.

/// What an untouched stack word holds.
pub const PAINT: u64 = 0x5354_4143_4b21_5354; // "STACK!ST"

unsafe extern "C" {
    static __stack_bottom: u64;
    static __stack_top: u64;
}

/// (bytes used at the deepest point so far, stack size).
pub fn high_water() -> (usize, usize) {
    let bottom = (&raw const __stack_bottom) as usize;
    let top = (&raw const __stack_top) as usize;
    let mut at = bottom;
    // SAFETY: bottom..top is the main stack, mapped and 8-aligned; the
    // words below the current stack pointer are not live, only read.
    while at < top && unsafe { core::ptr::read_volatile(at as *const u64) } == PAINT {
        at += 8;
    }
    (top - at, top - bottom)
}
