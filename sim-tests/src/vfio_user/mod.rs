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
pub mod server;

pub use vfio_proto::{pci, protocol};

pub use server::{EndpointCounters, Server, VfBackend};

use crate::cosim::CoSim;
use crate::guestmem::GuestMemory;
use crate::model::Model;
use crate::model::config::offsets;
use crate::sim::Sim;
use crate::transport::Transport;
use std::time::{Duration, Instant};

/// A device with the hardware model behind it, in-process or under QEMU.
pub trait WithModel: Transport {
    fn model(&mut self) -> &mut Model;
    /// Lets the device run up to `now_ns` on its clock (the firmware's
    /// polls in-process; the hardware side's work under QEMU, where the
    /// firmware runs on its own).
    fn run_to(&mut self, now_ns: u64);
}

impl WithModel for Sim {
    fn model(&mut self) -> &mut Model {
        &mut self.model
    }
    fn run_to(&mut self, now_ns: u64) {
        self.run_until(now_ns);
    }
}

impl WithModel for CoSim {
    fn model(&mut self) -> &mut Model {
        &mut self.model
    }
    fn run_to(&mut self, now_ns: u64) {
        let behind = now_ns.saturating_sub(self.model.now_ns());
        self.model.advance(behind);
        self.model.sync();
    }
}

impl<D: WithModel> VfBackend for D {
    fn bar0_read32(&mut self, rid: u16, offset: u32) -> u32 {
        self.bar_read32(rid, offset)
    }

    fn bar0_write32(&mut self, rid: u16, offset: u32, value: u32) {
        self.bar_write32(rid, offset, value)
    }

    fn flr(&mut self, rid: u16) {
        crate::drivers::pf::initiate_flr(self, rid);
        // In-process the firmware finishes within a few polls; under QEMU
        // within the spec's 100 ms.
        for _ in 0..2000 {
            if self.config_read(rid, offsets::COMMAND, 4) != 0xffff_ffff {
                return;
            }
            self.delay_us(100);
        }
    }

    fn attach_memory(&mut self, rid: u16, mem: Option<GuestMemory>) {
        let m = self.model();
        if let Some(f) = m.function_index(rid) {
            m.set_guest_memory(f, mem);
        }
    }

    fn memory(&mut self, rid: u16) -> Option<&mut GuestMemory> {
        let m = self.model();
        let f = m.function_index(rid)?;
        m.guest_memory(f)
    }

    fn memory_changed(&mut self, rid: u16) {
        let m = self.model();
        if let Some(f) = m.function_index(rid) {
            m.publish_window(f);
        }
    }

    fn take_interrupts(&mut self, rid: u16) -> u32 {
        self.model().take_interrupts(rid)
    }
}

/// A device serving VMs in real time: its clock follows the wall clock,
/// and it runs between messages.
pub struct Served<D: WithModel> {
    pub dev: D,
    pub server: Server,
    started: Instant,
    started_ns: u64,
}

impl<D: WithModel> Served<D> {
    pub fn new(mut dev: D, server: Server) -> Served<D> {
        let started_ns = dev.model().now_ns();
        Served {
            dev,
            server,
            started: Instant::now(),
            started_ns,
        }
    }

    /// Serves what arrives within `wait`, lets the device run up to now,
    /// and delivers the interrupts that fired.
    pub fn pump(&mut self, wait: Duration) -> std::io::Result<()> {
        self.server.poll(&mut self.dev, wait)?;
        let now = self.started_ns + self.started.elapsed().as_nanos() as u64;
        self.dev.run_to(now);
        self.server.deliver_interrupts(&mut self.dev);
        Ok(())
    }
}
