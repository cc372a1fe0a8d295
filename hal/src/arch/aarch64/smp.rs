//! The other cores: started by PSCI CPU_ON, one at a time, each on stacks
//! of its own and with the boot core's translation tables, interrupts
//! masked (they poll; the GIC and the timer stay the boot core's).
//!
//! The board says how many cores run data-path work and how PSCI is
//! reached (`[cpu]` in its TOML: `data_path_cores`, `psci`). A core
//! starts at `secondary_start` with its MMU and caches off, so what it
//! reads before turning them on (the [`BootBlock`]) is cleaned to the
//! point of coherency first.
//!
//! Limits: at most 8 cores (Aff0 0..=7, one cluster); each secondary has
//! a 32 KiB main stack and an 8 KiB exception stack in .bss, with no guard
//! pages between them (the boot core's stacks have guards); a secondary
//! that faults reports it and ends the run, as the boot core does.

use crate::board::cpu::{DATA_PATH_CORES, PSCI_CONDUIT};
use aarch64_cpu::registers::{MAIR_EL1, Readable, SCTLR_EL1, TCR_EL1, TTBR0_EL1};
use core::arch::{asm, global_asm};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Cores the board runs data-path work on, the boot core included.
pub const CORES: usize = DATA_PATH_CORES;
const _: () = assert!(CORES >= 1 && CORES <= 8);

const MAIN_STACK: usize = 32 * 1024;
const EXCEPTION_STACK: usize = 8 * 1024;

/// PSCI 0.2 CPU_ON, SMC64 calling convention.
const PSCI_CPU_ON: u64 = 0xc400_0003;

/// Why a core did not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StartError {
    /// The board has no PSCI (`cpu.psci = "none"`).
    NoPsci,
    /// Not a core of the board's `data_path_cores` (or the boot core).
    NoSuchCore,
    /// PSCI refused: its return code (-2 invalid parameters, e.g. a core
    /// QEMU's `-smp` did not create; -4 already on).
    Refused(i64),
    /// PSCI accepted, but the core did not arrive within 100 ms.
    Timeout,
}

#[repr(C, align(16))]
struct Stacks {
    exception: [u8; EXCEPTION_STACK],
    main: [u8; MAIN_STACK],
}

struct StackCell(UnsafeCell<[Stacks; CORES - 1]>);
// SAFETY: each core's stacks are used by that core only, from its start.
unsafe impl Sync for StackCell {}
static STACKS: StackCell = StackCell(UnsafeCell::new(
    [const {
        Stacks {
            exception: [0; EXCEPTION_STACK],
            main: [0; MAIN_STACK],
        }
    }; CORES - 1],
));

/// What a starting core reads with its MMU off: the boot core's MMU
/// registers, its stack pointers, where to go. One cache line.
#[repr(C, align(64))]
struct BootBlock {
    mair: u64,
    tcr: u64,
    ttbr0: u64,
    sctlr: u64,
    sp_el1: u64,
    sp_el0: u64,
    entry: u64,
    core: u64,
}

struct BootCell(UnsafeCell<BootBlock>);
// SAFETY: written by the boot core only while no core is starting
// (`start` runs one core at a time and waits for it to arrive).
unsafe impl Sync for BootCell {}
static BOOT: BootCell = BootCell(UnsafeCell::new(BootBlock {
    mair: 0,
    tcr: 0,
    ttbr0: 0,
    sctlr: 0,
    sp_el1: 0,
    sp_el0: 0,
    entry: 0,
    core: 0,
}));

/// The Rust entry of the core starting now (a `fn(usize) -> !`).
static ENTRY: AtomicUsize = AtomicUsize::new(0);
/// Cores that have arrived in Rust, the boot core not counted.
static ARRIVED: AtomicUsize = AtomicUsize::new(0);

global_asm!(
    r#"
.section .text.hal_secondary, "ax"
.global __hal_secondary_start
__hal_secondary_start:              // x0: the BootBlock (PSCI context id)
    ldr     x1, ={sctlr_off}
    msr     sctlr_el1, x1           // MMU and caches off, as at reset
    mov     x1, #(3 << 20)          // CPACR_EL1.FPEN: no FP/SIMD traps
    msr     cpacr_el1, x1
    isb
    ldp     x1, x2, [x0]            // MAIR, TCR
    msr     mair_el1, x1
    msr     tcr_el1, x2
    ldp     x1, x2, [x0, #16]       // TTBR0, SCTLR
    msr     ttbr0_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    msr     sctlr_el1, x2           // the boot core's MMU and caches
    isb
    ldp     x1, x2, [x0, #32]       // SP_EL1 (exceptions), SP_EL0 (main)
    mov     sp, x1
    msr     sp_el0, x2
    msr     spsel, #0
    adrp    x1, __vectors
    add     x1, x1, :lo12:__vectors
    msr     vbar_el1, x1
    isb
    ldp     x1, x0, [x0, #48]       // entry, core index
    blr     x1
1:  wfe
    b       1b
"#,
    // RES1 bits of SCTLR_EL1 (ARMv8.0), as `_start` writes them.
    sctlr_off = const 0x30d0_0800u64,
);

/// Where a core lands in Rust, on its own stacks with its MMU on.
extern "C" fn secondary_main(core: usize) -> ! {
    ARRIVED.fetch_add(1, Ordering::AcqRel);
    let entry = ENTRY.load(Ordering::Acquire);
    // SAFETY: `start` stored a `fn(usize) -> !` before starting this core.
    let entry: fn(usize) -> ! = unsafe { core::mem::transmute(entry) };
    entry(core)
}

/// Starts core `core` (1 to [`CORES`] - 1) at `entry(core)`, and waits
/// until it runs Rust.
pub fn start(core: usize, entry: fn(usize) -> !) -> Result<(), StartError> {
    if PSCI_CONDUIT == 0 {
        return Err(StartError::NoPsci);
    }
    if core == 0 || core >= CORES {
        return Err(StartError::NoSuchCore);
    }
    unsafe extern "C" {
        fn __hal_secondary_start();
    }
    let stacks = STACKS.0.get().cast::<Stacks>().wrapping_add(core - 1);
    // SAFETY: only the address of this core's stacks is taken; nothing
    // on this core reads or writes them.
    let (sp_el1, sp_el0) = unsafe {
        (
            (&raw mut (*stacks).exception)
                .cast::<u8>()
                .wrapping_add(EXCEPTION_STACK) as u64,
            (&raw mut (*stacks).main)
                .cast::<u8>()
                .wrapping_add(MAIN_STACK) as u64,
        )
    };
    ENTRY.store(entry as usize, Ordering::Release);
    let block = BOOT.0.get();
    // SAFETY: no core is starting (the last one arrived, or none was
    // started), so the block is the boot core's alone.
    unsafe {
        block.write(BootBlock {
            mair: MAIR_EL1.get(),
            tcr: TCR_EL1.get(),
            ttbr0: TTBR0_EL1.get(),
            sctlr: SCTLR_EL1.get(),
            sp_el1,
            sp_el0,
            entry: secondary_main as *const () as u64,
            core: core as u64,
        });
        // The core reads the block with its caches off: clean it to the
        // point of coherency.
        asm!("dc cvac, {}", "dsb sy", in(reg) block, options(nostack));
    }
    let arrived = ARRIVED.load(Ordering::Acquire);
    let code = cpu_on(
        core as u64,
        __hal_secondary_start as *const () as u64,
        block as u64,
    );
    if code != 0 {
        return Err(StartError::Refused(code));
    }
    let counter = super::timer::GenericTimer;
    use crate::time::Counter;
    let t0 = counter.ticks();
    let limit = counter.frequency_hz() / 10;
    while ARRIVED.load(Ordering::Acquire) == arrived {
        if counter.ticks() - t0 > limit {
            return Err(StartError::Timeout);
        }
        core::hint::spin_loop();
    }
    Ok(())
}

/// Starts every other core of the board at `entry`: how many run, and
/// the first refusal (each is logged by the caller).
pub fn start_all(entry: fn(usize) -> !) -> (usize, Option<(usize, StartError)>) {
    let mut started = 0;
    // A while loop: on a one-core board `1..CORES` is a range clippy
    // refuses as empty.
    let mut core = 1;
    while core < CORES {
        if let Err(e) = start(core, entry) {
            return (started, Some((core, e)));
        }
        started += 1;
        core += 1;
    }
    (started, None)
}

/// PSCI CPU_ON through the board's conduit: 0 or a PSCI error code.
fn cpu_on(mpidr: u64, entry: u64, context: u64) -> i64 {
    let mut x0 = PSCI_CPU_ON;
    // SAFETY: a PSCI call; SMCCC lets it clobber the caller-saved
    // registers, and it touches no memory of ours.
    unsafe {
        if PSCI_CONDUIT == 2 {
            asm!("smc #0", inout("x0") x0, in("x1") mpidr, in("x2") entry, in("x3") context,
                 clobber_abi("C"), options(nostack));
        } else {
            asm!("hvc #0", inout("x0") x0, in("x1") mpidr, in("x2") entry, in("x3") context,
                 clobber_abi("C"), options(nostack));
        }
    }
    x0 as i64
}
