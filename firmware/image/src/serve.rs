//! Serving: find the host-interface window, attach the device logic, and
//! run the main loop (control plane, data path, heartbeat) until the PF
//! asks for a shutdown.

use firmware::device::Device;
use firmware::dma_engine::EngineDma;
use hal::arch::{self, timer};
use hal::board::{self, capacities::TOTAL_VFS};
use hal::chip::{DMA_WINDOW_SIZE, HostInterface, REGISTERS_SIZE};
use hal::drivers::pci::Ecam;
use hal::exit::ExitCode;
use hal::mapped::MappedDma;
use hal::port::Uplink;
use hal::time::{Counter, ticks_to_ns};

/// QEMU's ivshmem device: the shared-memory window.
const IVSHMEM: (u16, u16) = (0x1af4, 0x1110);
/// Its shared-memory BAR.
const IVSHMEM_BAR: u8 = 2;

/// No physical port: link down, takes nothing.
struct NoUplink;

impl Uplink for NoUplink {
    fn receive(&mut self, _buf: &mut [u8]) -> Option<usize> {
        None
    }
    fn transmit(&mut self, _frame: &[u8]) -> bool {
        false
    }
    fn link_up(&self) -> bool {
        false
    }
}

/// Places the ivshmem BAR at the board's window address; its size.
fn find_window() -> Result<usize, &'static str> {
    use board::devices::{PCIE_ECAM_SIZE, PCIE_ECAM_START};
    // SAFETY: the board's ECAM region, mapped as device memory; only we use it.
    let mut ecam = unsafe {
        Ecam::new(
            core::ptr::NonNull::new(PCIE_ECAM_START as *mut u32).ok_or("ECAM at address 0")?,
            PCIE_ECAM_SIZE,
        )
    };
    let f = ecam
        .find(IVSHMEM.0, IVSHMEM.1)
        .ok_or("no shared-memory window: no ivshmem device on PCI bus 0")?;
    let size = ecam
        .place_bar(f, IVSHMEM_BAR, board::shared_memory::START as u64)
        .map_err(|_| "the ivshmem BAR could not be placed at the board's window address")?;
    Ok(size as usize)
}

pub fn serve() -> ! {
    if !board::shared_memory::PRESENT {
        defmt::error!(
            "board {=str} has no shared-memory window to serve",
            board::NAME
        );
        arch::exit(ExitCode::Failure)
    }
    // A PCIe window is a BAR to find and place; an AXI one (silicon: the
    // programmable logic's register file) is where the board says.
    let size = if board::shared_memory::ON_PCIE {
        match find_window() {
            Ok(size) => size,
            Err(e) => {
                defmt::error!("{=str} (QEMU: -device ivshmem-plain,memdev=...)", e);
                arch::exit(ExitCode::Failure)
            }
        }
    } else {
        board::shared_memory::SIZE
    };
    let needed = REGISTERS_SIZE
        + (usize::from(board::capacities::TOTAL_VFS as u16) + 1) * (DMA_WINDOW_SIZE as usize / 2);
    if size < needed || size > board::shared_memory::SIZE {
        defmt::error!(
            "shared-memory window of {} bytes: the board needs {} to {} (registers and host memory)",
            size,
            needed,
            board::shared_memory::SIZE
        );
        arch::exit(ExitCode::Failure)
    }
    defmt::info!(
        "host interface: {} KiB window at {:#x} ({=str})",
        size / 1024,
        board::shared_memory::START,
        if board::shared_memory::ON_PCIE {
            "PCIe BAR"
        } else {
            "AXI"
        }
    );
    // SAFETY: the window is mapped (Normal non-cacheable) at START and laid
    // out as HostInterface; the host side follows the one-writer rule.
    let hw: &HostInterface = unsafe { &*(board::shared_memory::START as *const HostInterface) };
    let Some(device) = crate::take_device() else {
        defmt::error!("serve: the device was already taken");
        arch::exit(ExitCode::Failure)
    };
    device.attach(hw);
    // SAFETY: the window's host-memory part, mapped, used only as DMA.
    let dma = unsafe {
        MappedDma::new(
            (board::shared_memory::START + REGISTERS_SIZE) as *mut u8,
            (size - REGISTERS_SIZE) as u64,
        )
    };
    // Functions whose memory is a VM's go through the DMA engine.
    let mut dma = EngineDma::new(hw, dma);
    match arch::virtio_net::VirtioUplink::probe() {
        Ok(mut uplink) => {
            defmt::info!("uplink: virtio-net {=[u8]:02x}", uplink.mac);
            run(device, hw, &mut dma, &mut uplink)
        }
        Err(e) => {
            defmt::warn!("no uplink ({}): serving without a physical port", e);
            run(device, hw, &mut dma, &mut NoUplink)
        }
    }
}

fn run(
    device: &mut Device<TOTAL_VFS>,
    hw: &HostInterface,
    dma: &mut EngineDma<MappedDma>,
    uplink: &mut (impl Uplink + ?Sized),
) -> ! {
    let counter = timer::GenericTimer;
    let hz = counter.frequency_hz();
    let mut next_report = 0u64;
    loop {
        let now = ticks_to_ns(counter.ticks(), hz);
        device.poll(hw, dma, uplink, now);
        if device.shutdown_requested() {
            defmt::info!(
                "shutting down after {} polls, {} mailbox messages, {} admin commands",
                device.counters.polls,
                device.counters.mailbox_messages,
                device.counters.admin_commands
            );
            let e = dma.counters;
            if e.moves + e.refused + e.timeouts != 0 {
                defmt::info!(
                    "DMA engine: {} moves, {} bytes, {} refused, {} timed out",
                    e.moves,
                    e.bytes,
                    e.refused,
                    e.timeouts
                );
            }
            crate::report_stack();
            arch::exit(ExitCode::Success)
        }
        if now >= next_report {
            defmt::info!(
                "serving: {} VFs, uptime {} ms",
                device.enabled_vfs(),
                now / 1_000_000
            );
            next_report = now + 10_000_000_000;
        }
    }
}
