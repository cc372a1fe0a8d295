//! The entry point: from reset (or a boot loader) to Rust.
//!
//! On entry: any exception level of 1 or 2, MMU off, x0 may hold a DTB
//! pointer (unused: the board config is the source of truth). Secondary
//! cores park. At EL2 the image drops to EL1 (HCR_EL2.RW, timer access).
//! Before Rust runs: FP/SIMD enabled (the compiler emits NEON anywhere),
//! SCTLR_EL1 in a known state, exception stack on SP_EL1, main stack on
//! SP_EL0, vectors installed, .bss zeroed, the main stack painted.

use core::arch::global_asm;

global_asm!(
    r#"
.section .text.boot, "ax"
.global _start
_start:
    mrs     x19, mpidr_el1
    and     x19, x19, #0xff
    cbnz    x19, 90f                // only core 0 runs the firmware

    mrs     x19, CurrentEL
    ubfx    x19, x19, #2, #2
    adrp    x20, {entry_el}
    strb    w19, [x20, :lo12:{entry_el}]
    cmp     x19, #1
    b.eq    10f
    cmp     x19, #2
    b.ne    90f                     // EL3 is not supported: park

    // EL2: make EL1 AArch64, give it the counters and timers, drop to it.
    mov     x19, #(1 << 31)         // HCR_EL2.RW
    msr     hcr_el2, x19
    mov     x19, #3                 // CNTHCTL_EL2.EL1PCTEN | EL1PCEN
    msr     cnthctl_el2, x19
    msr     cntvoff_el2, xzr
    mov     x19, #0x3c5             // SPSR: D, A, I, F masked; EL1h
    msr     spsr_el2, x19
    adr     x19, 10f
    msr     elr_el2, x19
    eret

10: // EL1
    ldr     x19, ={sctlr}
    msr     sctlr_el1, x19          // MMU and caches off, little-endian
    mov     x19, #(3 << 20)         // CPACR_EL1.FPEN: no FP/SIMD traps
    msr     cpacr_el1, x19
    isb

    adrp    x19, __exception_stack_top
    add     x19, x19, :lo12:__exception_stack_top
    mov     sp, x19                 // SPSel = 1: this is SP_EL1
    adrp    x19, __stack_top
    add     x19, x19, :lo12:__stack_top
    msr     sp_el0, x19
    msr     spsel, #0               // run on SP_EL0; exceptions use SP_EL1

    adrp    x19, __vectors
    add     x19, x19, :lo12:__vectors
    msr     vbar_el1, x19
    isb

    adrp    x19, __bss_start
    add     x19, x19, :lo12:__bss_start
    adrp    x20, __bss_end
    add     x20, x20, :lo12:__bss_end
20: cmp     x19, x20
    b.hs    30f
    stp     xzr, xzr, [x19], #16
    b       20b

30: // Paint the main stack so its high-water mark can be measured
    // (`stack::high_water`); nothing runs on it yet.
    adrp    x19, __stack_bottom
    add     x19, x19, :lo12:__stack_bottom
    adrp    x20, __stack_top
    add     x20, x20, :lo12:__stack_top
    ldr     x21, ={paint}
40: cmp     x19, x20
    b.hs    50f
    stp     x21, x21, [x19], #16
    b       40b

50: bl      __hal_start_rust
90: wfe
    b       90b
"#,
    entry_el = sym ENTRY_EL,
    // RES1 bits of SCTLR_EL1 (ARMv8.0): 29, 28, 23, 22, 20, 11.
    sctlr = const 0x30d0_0800u64,
    paint = const super::stack::PAINT,
);

/// The exception level at entry, written by `_start` before .bss is zeroed,
/// so it lives in .data.
#[unsafe(link_section = ".data")]
static mut ENTRY_EL: u8 = 0xff;

pub(super) fn entry_el() -> u8 {
    // SAFETY: written once by `_start` before any Rust code runs.
    unsafe { core::ptr::addr_of!(ENTRY_EL).read_volatile() }
}

#[unsafe(no_mangle)]
extern "C" fn __hal_start_rust() -> ! {
    unsafe extern "Rust" {
        /// Defined by the image with [`crate::entry!`].
        safe fn __firmware_main() -> !;
    }
    __firmware_main()
}

/// Names the image's main function: `hal::entry!(main);` with
/// `fn main() -> !`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(export_name = "__firmware_main")]
        fn __firmware_main() -> ! {
            let main: fn() -> ! = $main;
            main()
        }
    };
}
