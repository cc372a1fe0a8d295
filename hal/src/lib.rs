//! The hardware abstraction layer of the SR-IOV endpoint firmware.
//!
//! - [`board`]: the selected board's memory map and capacities, generated at
//!   build time from `board-configs/<board>.toml`.
//! - [`drivers`]: register blocks and drivers for the devices the firmware
//!   touches (tock-registers; each can be pointed at plain memory in a test).
//! - [`chip`]: the host-interface window shared with the PCIe-facing
//!   hardware (or its model).
//! - [`ixgbe`]: the 82599 VF register map and mailbox protocol.
//! - [`port`]: the traits the device logic uses for DMA and the uplink.
//! - [`mem`]: frame copies that stay word-sized under strict alignment.
//! - [`mapped`]: host memory the core reaches by load and store (the
//!   image's DMA).
//! - [`time`]: counters and delays (`embedded-hal`'s `DelayNs`).
//! - [`exit`]: the firmware's exit codes, shared with the host tooling.
//! - `arch` (aarch64 bare metal only): start-up, exceptions, MMU and caches,
//!   GIC, generic timer, console and semihosting.
//!
//! Everything but `arch` builds and is tested on the host.
#![cfg_attr(not(test), no_std)]

pub mod board {
    //! The selected board (`FW_BOARD`), as constants.
    include!(concat!(env!("OUT_DIR"), "/board.rs"));
}
pub mod chip;
pub mod drivers;
pub mod exit;
pub mod ixgbe;
pub mod mapped;
pub mod mem;
pub mod port;
pub mod time;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod arch;
