//! The entry point: from reset (or a boot loader) to Rust.
//!
//! On entry: EL3, EL2 or EL1, MMU off (or, from U-Boot's `go`, on at EL2
//! with an identity map), x0 may hold a DTB pointer (unused: the board
//! config is the source of truth). Secondary cores park. Whatever the entry
//! level, the firmware runs at Non-secure EL1:
//!
//! - EL3 (QEMU xlnx-versal-virt with an ELF; xlnx-zcu102 with secure=on):
//!   no FP/SIMD traps, every interrupt into Group 1 Non-secure (the GIC's
//!   Secure set-up: nothing else will do it, and Non-secure code cannot),
//!   the counter frequency if nobody set it, SCR_EL3 (lower levels
//!   AArch64, Non-secure, SMC undefined since nothing at EL3 serves it),
//!   then down to EL2 if the core has it, else straight to EL1.
//! - EL2 (QEMU virt,virtualization=on; U-Boot on the boards): EL1 AArch64
//!   with the counters and timers, no FP/SIMD or sysreg traps, ID registers
//!   as they are, GICv3 system registers usable below; down to EL1.
//! - EL1: the firmware's own set-up.
//!
//! Before Rust runs: FP/SIMD enabled (the compiler emits NEON anywhere),
//! SCTLR_EL1 in a known state, exception stack on SP_EL1, main stack on
//! SP_EL0, vectors installed, .bss zeroed, the main stack painted.

use crate::board::devices::{
    GIC_CPU_INTERFACE_START, GIC_DISTRIBUTOR_START, GIC_REDISTRIBUTOR_START, GIC_VERSION,
};
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
    b.eq    2f
    cmp     x19, #3
    b.ne    90f

    // EL3.
    msr     cptr_el3, xzr           // no FP/SIMD traps
    msr     mdcr_el3, xzr
.if {gic_version} == 3
    // GICv3 Secure set-up (GICD_CTLR.DS = 0: only Secure code may assign
    // groups). Every SPI, then our SGIs and PPIs, into Group 1 Non-secure.
    ldr     x0, ={gicd}
    ldr     w1, [x0, #0x4]          // GICD_TYPER.ITLinesNumber: IGROUPR1..=N
    and     w1, w1, #0x1f
    add     x2, x0, #0x84           // GICD_IGROUPR1
    add     x3, x0, #0xd04          // GICD_IGRPMODR1
    mov     w4, #-1
3:  cbz     w1, 4f
    str     w4, [x2], #4
    str     wzr, [x3], #4
    sub     w1, w1, #1
    b       3b
4:  ldr     x2, ={gicr}             // core 0's RD_base
    add     x3, x2, #0x10000        // its SGI_base
    str     w4, [x3, #0x80]         // GICR_IGROUPR0
    str     wzr, [x3, #0xd00]       // GICR_IGRPMODR0
    ldr     w5, [x2, #0x14]         // GICR_WAKER: ProcessorSleep off,
    bic     w5, w5, #2
    str     w5, [x2, #0x14]
5:  ldr     w5, [x2, #0x14]         // then wait for ChildrenAsleep to clear
    tbnz    w5, #2, 5b
    mov     w5, #0x37               // GICD_CTLR: ARE_S ARE_NS EnableGrp1S,1NS,0
    str     w5, [x0]
    mov     x5, #0xf                // ICC_SRE_EL3: SRE DFB DIB Enable
    msr     S3_6_C12_C12_5, x5
    isb
    mov     x5, #0xff               // ICC_PMR_EL1: Non-secure writes cannot
    msr     S3_0_C4_C6_0, x5        // raise a mask left in the Secure range
.else
    // GICv2 with the Security Extensions: every interrupt into Group 1,
    // both groups forwarded, and the priority mask opened from the Secure
    // side (a Non-secure write cannot lower a Secure-range mask).
    ldr     x0, ={gicd}
    ldr     w1, [x0, #0x4]          // GICD_TYPER.ITLinesNumber: IGROUPR0..=N
    and     w1, w1, #0x1f
    add     w1, w1, #1
    add     x2, x0, #0x80           // GICD_IGROUPR0
    mov     w4, #-1
3:  str     w4, [x2], #4
    subs    w1, w1, #1
    b.ne    3b
    mov     w5, #3                  // GICD_CTLR: EnableGrp0 | EnableGrp1
    str     w5, [x0]
    ldr     x2, ={gicc}
    mov     w5, #0xff
    str     w5, [x2, #0x4]          // GICC_PMR
.endif
    mrs     x5, cntfrq_el0          // writable only here: set it if nobody did
    cbnz    x5, 6f
    ldr     x5, ={frequency}
    msr     cntfrq_el0, x5
6:  mov     x5, #0x4b1              // SCR_EL3: RW SMD RES1(5:4) NS
    msr     scr_el3, x5
    mrs     x5, id_aa64pfr0_el1
    ubfx    x5, x5, #8, #4          // EL2 implemented?
    cbz     x5, 7f
    mov     x5, #0x3c9              // SPSR: D, A, I, F masked; EL2h
    msr     spsr_el3, x5
    adr     x5, 2f
    msr     elr_el3, x5
    eret
7:  mov     x5, #0x3c5              // no EL2: EL1h directly
    msr     spsr_el3, x5
    adr     x5, 10f
    msr     elr_el3, x5
    eret

2:  // EL2: make EL1 AArch64, give it the counters and timers, drop to it.
    mov     x19, #(1 << 31)         // HCR_EL2.RW
    msr     hcr_el2, x19
    mov     x19, #3                 // CNTHCTL_EL2.EL1PCTEN | EL1PCEN
    msr     cnthctl_el2, x19
    msr     cntvoff_el2, xzr
    mov     x19, #0x33ff            // CPTR_EL2: RES1 bits, no FP/SIMD trap
    msr     cptr_el2, x19
    msr     hstr_el2, xzr
    mrs     x19, midr_el1           // EL1 sees the real ID registers
    msr     vpidr_el2, x19
    mrs     x19, mpidr_el1
    msr     vmpidr_el2, x19
.if {gic_version} == 3
    mov     x19, #0xf               // ICC_SRE_EL2: SRE DFB DIB, EL1 may use SRE
    msr     S3_4_C12_C9_5, x19
    isb
.endif
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
    gic_version = const GIC_VERSION,
    gicd = const GIC_DISTRIBUTOR_START,
    gicr = const GIC_REDISTRIBUTOR_START,
    gicc = const GIC_CPU_INTERFACE_START,
    frequency = const crate::board::timer::FREQUENCY_HZ,
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
