//! The interrupt controller (the `arm-gic` crate) and interrupt dispatch.
//!
//! The board picks the GIC (`devices.gic.version`): a GICv2 with its
//! memory-mapped CPU interface (qemu-virt, zcu102's GIC-400), or a GICv3
//! with system-register CPU interfaces and redistributors (vck190's
//! GIC-500). Both sit behind [`Gic`]: set up, enable the tick, acknowledge,
//! end. The GICv3 is used in its Non-secure Group 1 view; at EL3 `_start`
//! (start.rs) puts every interrupt in that group before dropping to EL1.
//!
//! One interrupt source today: the timer tick. Anything else is counted and
//! logged as unexpected, then ended, so it cannot storm.

use crate::board::devices::{
    GIC_CPU_INTERFACE_START, GIC_DISTRIBUTOR_START, GIC_REDISTRIBUTOR_START, GIC_VERSION,
};
use crate::board::timer::INTID as TIMER_INTID;
use arm_gic::gicv2::GicV2;
use arm_gic::gicv3::{GicCpuInterface, GicV3};
use arm_gic::{IntId, InterruptGroup, Trigger, UniqueMmioPointer};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;

/// The GIC the board has.
enum Gic {
    V2(GicV2<'static>),
    V3(GicV3<'static>),
}

/// Only core 0 runs the firmware: its redistributor is the first.
const CPU: usize = 0;

static GIC: Mutex<Option<Gic>> = Mutex::new(None);
static UNEXPECTED: AtomicU64 = AtomicU64::new(0);

/// Interrupts that arrived with no handler.
pub fn unexpected_count() -> u64 {
    UNEXPECTED.load(Ordering::Relaxed)
}

impl Gic {
    /// The board's GIC, set up: distributor, this core's interface (and
    /// redistributor), every interrupt disabled.
    fn new() -> Result<Gic, &'static str> {
        if GIC_VERSION == 3 {
            let gicd = NonNull::new(GIC_DISTRIBUTOR_START as *mut _).ok_or("GICD at 0")?;
            let gicr = NonNull::new(GIC_REDISTRIBUTOR_START as *mut _).ok_or("GICR at 0")?;
            // SAFETY: the board config gives the GIC's regions; they are
            // mapped as device memory and only this driver touches them.
            // One core: the firmware drives only its own redistributor.
            let mut gic = unsafe { GicV3::new(UniqueMmioPointer::new(gicd), gicr, 1) }
                .map_err(|_| "GICv3: the redistributor's frames are not as expected")?;
            gic.setup(CPU);
            GicCpuInterface::set_priority_mask(0xff);
            Ok(Gic::V3(gic))
        } else {
            // SAFETY: as above, for the GICv2's distributor and CPU interface.
            let mut gic = unsafe {
                GicV2::new(
                    GIC_DISTRIBUTOR_START as *mut _,
                    GIC_CPU_INTERFACE_START as *mut _,
                )
            };
            gic.setup();
            Ok(Gic::V2(gic))
        }
    }

    /// Level-triggered, mid priority, enabled: a private (PPI) or shared
    /// interrupt, routed to this core.
    fn enable(&mut self, id: IntId) -> Result<(), &'static str> {
        match self {
            Gic::V2(gic) => {
                gic.set_interrupt_priority(id, 0x80);
                gic.set_trigger(id, Trigger::Level);
                gic.enable_interrupt(id, true).map_err(|_| "GICv2")
            }
            Gic::V3(gic) => {
                let cpu = id.is_private().then_some(CPU);
                gic.set_interrupt_priority(id, cpu, 0x80)
                    .and_then(|()| gic.set_trigger(id, cpu, Trigger::Level))
                    .and_then(|()| gic.enable_interrupt(id, cpu, true))
                    .map_err(|_| "GICv3")
            }
        }
    }

    fn acknowledge(&mut self) -> Option<IntId> {
        match self {
            // GICC_IAR: the non-secure CPU interface's view, whichever group
            // `setup` gave the interrupt.
            Gic::V2(gic) => gic.get_and_acknowledge_interrupt(InterruptGroup::Group0),
            // ICC_IAR1_EL1: Group 1 Non-secure, as EL3 (or QEMU) set it.
            Gic::V3(_) => GicCpuInterface::get_and_acknowledge_interrupt(InterruptGroup::Group1),
        }
    }

    fn end(&mut self, id: IntId) {
        match self {
            Gic::V2(gic) => gic.end_interrupt(id, InterruptGroup::Group0),
            Gic::V3(_) => GicCpuInterface::end_interrupt(id, InterruptGroup::Group1),
        }
    }
}

pub(super) fn init() {
    let mut gic = match Gic::new() {
        Ok(gic) => gic,
        Err(e) => panic!("GIC: {}", e),
    };
    let timer = IntId::ppi(TIMER_INTID - 16);
    if let Err(e) = gic.enable(timer) {
        fwlog::error!("{}: cannot enable the timer interrupt {}", e, TIMER_INTID);
    }
    *GIC.lock() = Some(gic);
}

/// The IRQ exception: acknowledge and dispatch until nothing is pending.
pub(super) fn handle_irq() {
    // The main code only holds the lock during `init`, with IRQs masked.
    let Some(mut guard) = GIC.try_lock() else {
        UNEXPECTED.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let Some(gic) = guard.as_mut() else { return };
    while let Some(id) = gic.acknowledge() {
        if id.raw_value() == TIMER_INTID {
            super::timer::on_tick();
        } else {
            UNEXPECTED.fetch_add(1, Ordering::Relaxed);
            fwlog::warn!("unexpected interrupt {}", id.raw_value());
        }
        gic.end(id);
    }
}
