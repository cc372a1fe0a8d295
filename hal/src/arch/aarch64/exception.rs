//! Exception vectors, the IRQ path, and the fatal report.
//!
//! Normal code runs on SP_EL0; every exception switches to SP_EL1, a
//! separate stack, so a main-stack overflow (a fault in the guard page) can
//! still be reported. Synchronous exceptions, SErrors, FIQs and anything
//! from a lower EL are fatal: the report gives the class, ESR, ELR, FAR and
//! the registers, then the run ends with [`ExitCode::Exception`].

use crate::exit::ExitCode;
use aarch64_cpu::registers::{ESR_EL1, FAR_EL1, Readable};
use core::arch::global_asm;
use core::sync::atomic::{AtomicU32, Ordering};

/// Registers saved on exception entry, as laid out by the vectors.
#[repr(C)]
pub struct ExceptionFrame {
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    _pad: u64,
}

const FRAME_SIZE: usize = core::mem::size_of::<ExceptionFrame>();
const _: () = assert!(FRAME_SIZE == 272 && FRAME_SIZE.is_multiple_of(16));

global_asm!(
    r#"
.macro VECTOR kind
.balign 0x80
    sub     sp, sp, #{frame}
    stp     x0, x1, [sp, #0x00]
    stp     x2, x3, [sp, #0x10]
    stp     x4, x5, [sp, #0x20]
    stp     x6, x7, [sp, #0x30]
    stp     x8, x9, [sp, #0x40]
    stp     x10, x11, [sp, #0x50]
    stp     x12, x13, [sp, #0x60]
    stp     x14, x15, [sp, #0x70]
    stp     x16, x17, [sp, #0x80]
    stp     x18, x19, [sp, #0x90]
    stp     x20, x21, [sp, #0xa0]
    stp     x22, x23, [sp, #0xb0]
    stp     x24, x25, [sp, #0xc0]
    stp     x26, x27, [sp, #0xd0]
    stp     x28, x29, [sp, #0xe0]
    mrs     x0, elr_el1
    mrs     x1, spsr_el1
    stp     x30, x0, [sp, #0xf0]
    str     x1, [sp, #0x100]
    mov     x0, sp
    mov     x1, #\kind
    bl      __hal_exception
    b       __hal_exception_return
.endm

.section .text.vectors, "ax"
.balign 0x800
.global __vectors
__vectors:
    VECTOR 0
    VECTOR 1
    VECTOR 2
    VECTOR 3
    VECTOR 4
    VECTOR 5
    VECTOR 6
    VECTOR 7
    VECTOR 8
    VECTOR 9
    VECTOR 10
    VECTOR 11
    VECTOR 12
    VECTOR 13
    VECTOR 14
    VECTOR 15

__hal_exception_return:
    ldr     x1, [sp, #0x100]
    ldp     x30, x0, [sp, #0xf0]
    msr     spsr_el1, x1
    msr     elr_el1, x0
    ldp     x0, x1, [sp, #0x00]
    ldp     x2, x3, [sp, #0x10]
    ldp     x4, x5, [sp, #0x20]
    ldp     x6, x7, [sp, #0x30]
    ldp     x8, x9, [sp, #0x40]
    ldp     x10, x11, [sp, #0x50]
    ldp     x12, x13, [sp, #0x60]
    ldp     x14, x15, [sp, #0x70]
    ldp     x16, x17, [sp, #0x80]
    ldp     x18, x19, [sp, #0x90]
    ldp     x20, x21, [sp, #0xa0]
    ldp     x22, x23, [sp, #0xb0]
    ldp     x24, x25, [sp, #0xc0]
    ldp     x26, x27, [sp, #0xd0]
    ldp     x28, x29, [sp, #0xe0]
    add     sp, sp, #{frame}
    eret
"#,
    frame = const FRAME_SIZE,
);

/// Vector index: `origin * 4 + kind`.
const ORIGINS: [&str; 4] = [
    "current EL, SP_EL0",
    "current EL, SP_ELx",
    "lower EL, AArch64",
    "lower EL, AArch32",
];
const KINDS: [&str; 4] = ["synchronous", "IRQ", "FIQ", "SError"];

/// How many fatal paths are running (a fault inside the report).
static FATAL_DEPTH: AtomicU32 = AtomicU32::new(0);

#[unsafe(no_mangle)]
extern "C" fn __hal_exception(frame: &mut ExceptionFrame, vector: u64) {
    let (origin, kind) = ((vector / 4) as usize, (vector % 4) as usize);
    if kind == 1 && origin < 2 {
        super::gic::handle_irq();
        return;
    }
    fatal(frame, origin, kind)
}

fn fatal(frame: &ExceptionFrame, origin: usize, kind: usize) -> ! {
    match FATAL_DEPTH.fetch_add(1, Ordering::SeqCst) {
        0 => {}
        // The report itself faulted: one short line, then stop.
        1 => {
            super::console::break_in();
            fwlog::error!("fault while reporting a fault: ELR={:#018x}", frame.elr);
            super::exit(ExitCode::Exception)
        }
        _ => super::halt(),
    }
    super::console::break_in();
    let esr = ESR_EL1.get();
    let far = FAR_EL1.get();
    let ec = ((esr >> 26) & 0x3f) as u8;
    fwlog::error!(
        "EXCEPTION {} from {}: {} (EC={:#04x}) ESR={:#010x} ELR={:#018x} FAR={:#018x}",
        KINDS[kind],
        ORIGINS[origin],
        class_name(ec),
        ec,
        esr,
        frame.elr,
        far
    );
    if kind == 0 && (ec == 0x24 || ec == 0x25 || ec == 0x20 || ec == 0x21) {
        let iss = esr & 0x1ff_ffff;
        let write = ec >= 0x24 && iss & (1 << 6) != 0;
        fwlog::error!(
            "  {} {}, {}",
            abort_status(iss as u8 & 0x3f),
            if ec >= 0x24 {
                "on data access"
            } else {
                "on instruction fetch"
            },
            if write { "write" } else { "read" },
        );
        if let Some(stack) = guard_page_hit(far) {
            fwlog::error!(
                "  FAR is in the {} stack's guard page: stack overflow",
                stack
            );
        }
    }
    fwlog::error!("  SPSR={:#010x} LR={:#018x}", frame.spsr, frame.x[30]);
    for (i, pair) in frame.x[..30].chunks(2).enumerate() {
        fwlog::error!(
            "  x{}={:#018x} x{}={:#018x}",
            2 * i,
            pair[0],
            2 * i + 1,
            pair[1]
        );
    }
    super::exit(ExitCode::Exception)
}

/// Exception class names (Arm ARM, ESR_ELx.EC).
fn class_name(ec: u8) -> &'static str {
    match ec {
        0x00 => "unknown reason",
        0x01 => "trapped WFI/WFE",
        0x07 => "trapped FP/SIMD access",
        0x0e => "illegal execution state",
        0x15 => "SVC",
        0x18 => "trapped MSR/MRS/system instruction",
        0x20 => "instruction abort from a lower EL",
        0x21 => "instruction abort",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower EL",
        0x25 => "data abort",
        0x26 => "SP alignment fault",
        0x2c => "trapped floating-point exception",
        0x2f => "SError",
        0x30 | 0x31 => "breakpoint",
        0x32 | 0x33 => "software step",
        0x34 | 0x35 => "watchpoint",
        0x3c => "BRK instruction",
        _ => "other",
    }
}

/// Data/instruction fault status codes (ISS bits 5:0).
fn abort_status(fsc: u8) -> &'static str {
    match fsc {
        0x04..=0x07 => "translation fault (unmapped address)",
        0x09..=0x0b => "access flag fault",
        0x0d..=0x0f => "permission fault",
        0x10 => "synchronous external abort",
        0x21 => "alignment fault",
        0x30 => "TLB conflict abort",
        _ => "other fault",
    }
}

fn guard_page_hit(far: u64) -> Option<&'static str> {
    unsafe extern "C" {
        static __stack_guard_start: u8;
        static __stack_bottom: u8;
        static __exception_stack_guard_start: u8;
        static __exception_stack_bottom: u8;
    }
    let range = |a: *const u8, b: *const u8| (a as u64)..(b as u64);
    if range(&raw const __stack_guard_start, &raw const __stack_bottom).contains(&far) {
        Some("main")
    } else if range(
        &raw const __exception_stack_guard_start,
        &raw const __exception_stack_bottom,
    )
    .contains(&far)
    {
        Some("exception")
    } else {
        None
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // SAFETY: masks interrupts for good; this path never returns.
    unsafe { core::arch::asm!("msr daifset, #3", options(nomem, nostack)) };
    if FATAL_DEPTH.fetch_add(1, Ordering::SeqCst) > 0 {
        super::halt();
    }
    super::console::break_in();
    let (file, line) = info
        .location()
        .map_or(("<unknown>", 0), |l| (l.file(), l.line()));
    #[cfg(feature = "defmt")]
    defmt::error!(
        "PANIC at {}:{}: {}",
        file,
        line,
        defmt::Display2Format(&info.message())
    );
    #[cfg(not(feature = "defmt"))]
    fwlog::error!("PANIC at {}:{}", file, line);
    super::exit(ExitCode::Panic)
}
