//! The firmware image: board glue and the main loop. Everything that is
//! device logic lives in the `firmware` library; everything that touches
//! the core lives in `hal::arch`.
#![no_std]
#![no_main]

mod bench;
mod cores;
mod serve;

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};
use firmware::boot::{self, Mode};
use firmware::device::{Capacities, Device};
use hal::arch::{self, timer};
use hal::board;
use hal::exit::ExitCode;
use hal::time::{Counter, ticks_to_ns};

hal::entry!(main);

/// The device logic's state: hundreds of KiB, in static memory, never on
/// the stack. The mode that serves (or benchmarks) takes it, once. Built
/// all zeros (so it is in .bss, not in the loaded image) and given the
/// board's capacities when taken.
struct DeviceCell(UnsafeCell<Device<{ board::capacities::TOTAL_VFS }>>);
// SAFETY: handed out at most once (DEVICE_TAKEN), on the one firmware core.
unsafe impl Sync for DeviceCell {}
static DEVICE: DeviceCell = DeviceCell(UnsafeCell::new(Device::new(Capacities::NONE)));
static DEVICE_TAKEN: AtomicBool = AtomicBool::new(false);

/// The device, the first time it is asked for.
pub(crate) fn take_device() -> Option<&'static mut Device<{ board::capacities::TOTAL_VFS }>> {
    if DEVICE_TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    // SAFETY: the flag makes this the only reference, ever.
    let device = unsafe { &mut *DEVICE.0.get() };
    device.set_capacities(Capacities::from_board());
    Some(device)
}

fn main() -> ! {
    let state = arch::init();
    report_boot(&state);

    let mut buf = [0u8; 256];
    let line = if board::EXIT_BY_SEMIHOSTING {
        arch::semihosting::command_line(&mut buf).unwrap_or("")
    } else {
        ""
    };
    // Without a command line: a board that can exit runs the self-test
    // (what `cargo xtask run` shows); silicon serves.
    let default = if board::EXIT_BY_SEMIHOSTING {
        Mode::SelfTest { ticks: 0 }
    } else {
        Mode::Serve
    };
    let mode = match boot::parse_command_line(line, default) {
        Ok(mode) => mode,
        Err(e) => {
            defmt::error!(
                "bad command line {=str}: {}",
                line,
                defmt::Display2Format(&e)
            );
            arch::exit(ExitCode::Failure)
        }
    };
    defmt::info!("mode: {}", mode);

    match mode {
        Mode::SelfTest { ticks } => {
            let code = self_test(ticks);
            report_stack();
            arch::exit(code)
        }
        Mode::Serve => serve::serve(),
        Mode::FaultUnmapped => {
            // The page after RAM is in no region of any board map.
            let addr = board::memory::RAM_END_INCLUSIVE + 1;
            defmt::warn!("reading unmapped address {:#x} on purpose", addr);
            // SAFETY: deliberately faults; the exception report ends the run.
            let v = unsafe { core::ptr::read_volatile(addr as *const u32) };
            defmt::error!("read of an unmapped address returned {:#x}", v);
            arch::exit(ExitCode::Failure)
        }
        Mode::FaultStackOverflow => {
            defmt::warn!("overflowing the stack on purpose");
            let depth = recurse(0);
            defmt::error!("recursion returned at depth {}", depth);
            arch::exit(ExitCode::Failure)
        }
        Mode::Panic => panic!("panic requested on the command line"),
        Mode::Cores => {
            let code = cores::run();
            report_stack();
            arch::exit(code)
        }
        Mode::Bench { only } => {
            let Some(device) = take_device() else {
                arch::exit(ExitCode::Failure)
            };
            let code = bench::run(device, only.as_ref().map(|p| p.as_str()));
            report_stack();
            arch::exit(code)
        }
    }
}

fn report_boot(state: &arch::BootState) {
    defmt::info!(
        "sriov-fw {=str} on board {=str}: {=str}",
        env!("CARGO_PKG_VERSION"),
        board::NAME,
        board::DESCRIPTION
    );
    defmt::info!(
        "core {} entered at EL{}, running at EL{}",
        arch::core_id(),
        state.entry_el,
        arch::current_el()
    );
    for &(name, start, size) in board::MEMORY_MAP {
        defmt::info!(
            "memory map: {=str} {:#010x}..{:#010x} ({} KiB)",
            name,
            start,
            start + size,
            size / 1024
        );
    }
    let m = &state.mmu;
    defmt::info!(
        "MMU {=str}, D-cache {=str}, I-cache {=str} (SCTLR_EL1={:#x}, {} of {} page tables)",
        on_off(m.mmu_on),
        on_off(m.dcache_on),
        on_off(m.icache_on),
        m.sctlr,
        m.tables_used,
        m.tables_total
    );
    use board::capacities as cap;
    defmt::info!(
        "capacities: {} VFs x {} queue pairs, PF {} queue pairs, {} MAC filters, {} VLAN filters, {} multicast hashes",
        cap::TOTAL_VFS,
        cap::QUEUE_PAIRS_PER_VF,
        cap::PF_QUEUE_PAIRS,
        cap::MAC_FILTERS,
        cap::VLAN_FILTERS,
        cap::MULTICAST_HASHES
    );
    defmt::info!(
        "interrupt controller GICv{}, console UART {=str}",
        board::devices::GIC_VERSION,
        board::devices::UART_KIND
    );
    defmt::info!(
        "timer: counter at {} Hz, tick {} Hz on INTID {}",
        state.timer_hz,
        board::timer::TICK_HZ,
        board::timer::INTID
    );
    if let Some((read, stated)) = timer::frequency_mismatch() {
        defmt::warn!(
            "timer: CNTFRQ_EL0 reads {} Hz but the board states {} Hz (timer.frequency_hz); using {} Hz",
            read,
            stated,
            state.timer_hz
        );
    }
}

/// The main stack's deepest use so far (it is painted at reset).
pub(crate) fn report_stack() {
    let (used, size) = arch::stack::high_water();
    defmt::info!("stack high-water mark: {} of {} bytes", used, size);
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// Waits for `ticks` timer interrupts and checks their rate against the
/// counter.
fn self_test(ticks: u32) -> ExitCode {
    let counter = timer::GenericTimer;
    let hz = counter.frequency_hz();
    // Generous: a stalled timer ends the test instead of hanging it.
    let deadline_ns = u64::from(ticks) * 4_000_000_000 / u64::from(board::timer::TICK_HZ);
    let first = timer::tick_count();
    // Start the window on a tick edge so the count is exact.
    while timer::tick_count() == first {
        arch::wait_for_interrupt();
    }
    let start_ticks = timer::tick_count();
    let start = counter.ticks();
    while timer::tick_count() - start_ticks < u64::from(ticks) {
        arch::wait_for_interrupt();
        if ticks_to_ns(counter.ticks() - start, hz) > deadline_ns {
            break;
        }
    }
    let observed = timer::tick_count() - start_ticks;
    let elapsed_ns = ticks_to_ns(counter.ticks() - start, hz);
    match boot::check_tick_rate(observed, elapsed_ns, board::timer::TICK_HZ) {
        Ok(()) => {
            defmt::info!(
                "timer: {} ticks in {} us, rate ok; unexpected interrupts: {}",
                observed,
                elapsed_ns / 1000,
                arch::gic::unexpected_count()
            );
            defmt::info!("self-test passed");
            ExitCode::Success
        }
        Err(e) => {
            defmt::error!(
                "timer: {} ticks in {} us, expected {}: tick rate wrong",
                e.observed,
                elapsed_ns / 1000,
                e.expected
            );
            ExitCode::Failure
        }
    }
}

/// Deep recursion the optimiser cannot turn into a loop.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [depth; 64];
    // SAFETY: a volatile write keeps the frame alive.
    unsafe { core::ptr::write_volatile(&mut frame[depth as usize % 64], depth) };
    if depth == u64::MAX {
        return depth;
    }
    recurse(depth + 1) + frame[(depth as usize + 1) % 64]
}
