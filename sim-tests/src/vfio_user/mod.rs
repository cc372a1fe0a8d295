//! VFs for virtual machines: a vfio-user server (QEMU's `vfio-user-pci`
//! client) that presents each VF of the device to a VMM as an assigned
//! 82599 VF. The server is PCI plumbing only: BAR0 is the hardware model's
//! register file, DMA goes through the VF's mappings of the VM's memory
//! (its IOMMU, `crate::guestmem`), and MSI-X messages are the model's.
//!
//! Written here rather than on rust-vmm's `vfio_user` crate: see
//! docs/linux-vm.md ("Why our own vfio-user server") for what that crate
//! lacks for this use.

pub mod conn;
pub mod pci;
pub mod protocol;
pub mod server;

pub use server::{EndpointCounters, Server, VfBackend};

use crate::guestmem::GuestMemory;
use crate::model::config::{DEVCTL_FLR, offsets};
use crate::sim::Sim;
use crate::transport::Transport;
use std::time::{Duration, Instant};

impl VfBackend for Sim {
    fn bar0_read32(&mut self, rid: u16, offset: u32) -> u32 {
        self.bar_read32(rid, offset)
    }

    fn bar0_write32(&mut self, rid: u16, offset: u32, value: u32) {
        self.bar_write32(rid, offset, value)
    }

    fn flr(&mut self, rid: u16) {
        let devctl = self.config_read(rid, offsets::DEVCTL, 2);
        self.config_write(rid, offsets::DEVCTL, 2, devctl | u32::from(DEVCTL_FLR));
        // The firmware finishes its part within a few polls.
        for _ in 0..1000 {
            if self.config_read(rid, offsets::COMMAND, 4) != 0xffff_ffff {
                return;
            }
            self.delay_us(1);
        }
    }

    fn attach_memory(&mut self, rid: u16, mem: Option<GuestMemory>) {
        if let Some(f) = self.model.function_index(rid) {
            self.model.set_guest_memory(f, mem);
        }
    }

    fn memory(&mut self, rid: u16) -> Option<&mut GuestMemory> {
        let f = self.model.function_index(rid)?;
        self.model.guest_memory(f)
    }

    fn memory_changed(&mut self, rid: u16) {
        if let Some(f) = self.model.function_index(rid) {
            self.model.publish_window(f);
        }
    }

    fn take_interrupts(&mut self, rid: u16) -> u32 {
        self.model.take_interrupts(rid)
    }
}

/// The in-process device serving VMs in real time: the simulation's
/// clock follows the wall clock, the firmware polls between messages.
pub struct Served {
    pub sim: Sim,
    pub server: Server,
    started: Instant,
    started_ns: u64,
}

impl Served {
    pub fn new(sim: Sim, server: Server) -> Served {
        let started_ns = sim.model.now_ns();
        Served {
            sim,
            server,
            started: Instant::now(),
            started_ns,
        }
    }

    /// Serves what arrives within `wait`, lets the firmware run up to now,
    /// and delivers the interrupts that fired.
    pub fn pump(&mut self, wait: Duration) -> std::io::Result<()> {
        self.server.poll(&mut self.sim, wait)?;
        let now = self.started_ns + self.started.elapsed().as_nanos() as u64;
        self.sim.run_until(now);
        self.server.deliver_interrupts(&mut self.sim);
        Ok(())
    }
}
