//! The device: every VF, the shared pools, the PF administration, and the
//! loop that serves the host-interface window.
//!
//! [`Device::poll`] is called by the main loop (the image) or the simulation
//! runner. It reads the hardware's sequence counters, handles what moved,
//! and publishes results before the counters that announce them. It never
//! blocks and never panics on anything the host or a VF wrote.
//!
//! Here: the [`Device`] itself, attaching to the window, and the poll. The
//! rest is split by what it serves: `lifecycle` (VF enable, reset,
//! quarantine, links), `vf_mailbox` (each VF's slot and mailbox),
//! `pf_admin` (the PF's commands and the event ring), `stats` (counters
//! and reports), `dataplane` (queues and the switch).

mod dataplane;
mod lifecycle;
mod pf_admin;
mod qm_path;
mod stats;
mod vf_mailbox;

pub use crate::rings::QueueState;
pub use dataplane::{BUF, FunctionDp, HEADROOM, RX_BURST, Scratch, TX_BURST};
pub use stats::DeviceCounters;

use crate::admin::BridgeMode;
use crate::classifier::Classifier;
use crate::drops::PortCounters;
use crate::events::Event;
use crate::mac::Mac;
use crate::pools::Pools;
use crate::vf::{Vf, VlanSet};
use core::sync::atomic::{Ordering, fence};
use hal::chip::{
    FW_STATUS, HostInterface, LAYOUT_VERSION, PcieError, VF_GROUP, VF_GROUPS, VIOLATION_KINDS,
    WINDOW_MAGIC,
};
use hal::port::{Dma, Uplink};
use tock_registers::interfaces::{Readable, Writeable};

/// The device's capacities (from the board config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacities {
    pub total_vfs: u16,
    pub queue_pairs_per_vf: u8,
    pub pf_queue_pairs: u8,
    pub mac_filters: u32,
    pub vlan_filters: u32,
    pub multicast_hashes: u32,
}

impl Capacities {
    /// No capacities at all: the all-zero placeholder of a device whose
    /// capacities are set at run time ([`Device::set_capacities`]).
    pub const NONE: Capacities = Capacities {
        total_vfs: 0,
        queue_pairs_per_vf: 0,
        pf_queue_pairs: 0,
        mac_filters: 0,
        vlan_filters: 0,
        multicast_hashes: 0,
    };

    /// The selected board's capacities.
    pub const fn from_board() -> Capacities {
        use hal::board::capacities::*;
        Capacities {
            total_vfs: TOTAL_VFS as u16,
            queue_pairs_per_vf: QUEUE_PAIRS_PER_VF as u8,
            pf_queue_pairs: PF_QUEUE_PAIRS as u8,
            mac_filters: MAC_FILTERS as u32,
            vlan_filters: VLAN_FILTERS as u32,
            multicast_hashes: MULTICAST_HASHES as u32,
        }
    }
}

/// Per-VF progress through the hardware's sequence counters (mirrors of
/// what we last wrote to the fw-owned fields).
#[derive(Clone, Copy, Default)]
struct Progress {
    req_done: u32,
    reset_done: u32,
    violation_done: [u32; VIOLATION_KINDS],
    vf_ack_seen: u32,
    reply_seq: u32,
    /// `slot_seq` as the last scan of the slot saw it.
    slot_seen: u32,
    /// A message was posted that the VF has not acknowledged yet.
    unacked: bool,
}

// The per-VF state must fit the board's static-RAM budget.
const _: () = assert!(
    core::mem::size_of::<Vf>() + core::mem::size_of::<Progress>()
        <= hal::board::budget::PER_VF_BYTES
);

/// The SR-IOV device with room for `N` VFs.
///
/// `repr(C)` with the fields every poll touches first: their offsets stay
/// small whatever `N` and the per-VF state sizes are (an offset past what a
/// load's immediate encodes costs instructions on every access; the idle
/// poll paid 36 more when the per-VF state grew by 8 bytes), and the large
/// per-VF arrays come last.
#[repr(C)]
pub struct Device<const N: usize> {
    // Every poll.
    pub counters: DeviceCounters,
    now_ns: u64,
    heartbeat: u32,
    event_seen: u32,
    tx_doorbell_seen: u32,
    enabled: u16,
    uplink_up: bool,
    /// Whether `links_vfs` holds any VF: the one byte every poll tests
    /// (the set's own emptiness test reads five words).
    links_dirty: bool,
    /// The VFs whose VFLINKS the next poll rewrites.
    links_vfs: crate::classifier::PoolSet,
    controls_pending: bool,
    classifier_dirty: bool,
    shutdown: bool,
    bridge: BridgeMode,
    /// Functions whose Tx queues have work (a doorbell, or a burst or the
    /// rate limit left some).
    tx_pending: crate::classifier::PoolSet,
    tx_group_seen: [u32; hal::chip::DOORBELL_GROUPS],
    /// With a queue manager (`poll_qm`): functions enabled afresh whose
    /// ring state the manager must forget before their next frame.
    qm_reset_pending: bool,
    qm_reset: crate::classifier::PoolSet,
    // Control plane.
    /// Each mailbox group's `vf_group_seq` as the last scan saw it.
    vf_group_done: [u32; VF_GROUPS],
    /// The next scan serves every VF slot, whatever the groups say (after
    /// attaching, and when VFs were enabled).
    full_scan: bool,
    caps: Capacities,
    sriov_done: u32,
    pcie_error_done: u32,
    admin_done: u32,
    event_head: u32,
    pf_mac: Option<Mac>,
    pools: Pools,
    // Data path.
    uplink: PortCounters,
    dp_pf: FunctionDp,
    scratch: Scratch,
    classifier: Classifier,
    // Per VF.
    vfs: [Vf; N],
    progress: [Progress; N],
    dp_vf: [FunctionDp; N],
}

impl<const N: usize> Device<N> {
    /// A device with no VFs enabled. `caps.total_vfs` is clamped to `N`.
    ///
    /// Everything but the capacities starts at zero (the uplink is taken
    /// to be up, and the classifier built, by [`attach`](Self::attach)), so
    /// that `Device::new(Capacities::NONE)` is all zeros: a static of it
    /// lives in .bss, and [`set_capacities`](Self::set_capacities) fills
    /// in the board's at run time.
    pub const fn new(caps: Capacities) -> Self {
        let caps = Self::clamp(caps);
        Device {
            caps,
            vfs: [const { Vf::UNUSED }; N],
            progress: [Progress {
                req_done: 0,
                reset_done: 0,
                violation_done: [0; VIOLATION_KINDS],
                vf_ack_seen: 0,
                reply_seq: 0,
                slot_seen: 0,
                unacked: false,
            }; N],
            pools: Pools::new(caps.mac_filters, caps.vlan_filters, caps.multicast_hashes),
            enabled: 0,
            uplink_up: false,
            bridge: BridgeMode::Veb,
            event_seen: 0,
            sriov_done: 0,
            pcie_error_done: 0,
            admin_done: 0,
            event_head: 0,
            heartbeat: 0,
            links_dirty: false,
            links_vfs: crate::classifier::PoolSet::EMPTY,
            controls_pending: false,
            counters: DeviceCounters {
                polls: 0,
                scans: 0,
                mailbox_messages: 0,
                admin_commands: 0,
                admin_errors: 0,
                pcie_errors: 0,
                events_posted: 0,
                events_lost: 0,
                classifier_refused: 0,
                classifier_rebuilds: 0,
            },
            classifier: Classifier::new(),
            classifier_dirty: false,
            pf_mac: None,
            dp_pf: FunctionDp::NEW,
            dp_vf: [FunctionDp::NEW; N],
            uplink: PortCounters::ZERO,
            tx_doorbell_seen: 0,
            tx_group_seen: [0; hal::chip::DOORBELL_GROUPS],
            vf_group_done: [0; VF_GROUPS],
            full_scan: false,
            tx_pending: crate::classifier::PoolSet::EMPTY,
            qm_reset_pending: false,
            qm_reset: crate::classifier::PoolSet::EMPTY,
            scratch: Scratch {
                buf: [0; dataplane::BUF],
                stripped: [0; dataplane::BUF],
                at: 0,
            },
            shutdown: false,
            now_ns: 0,
        }
    }

    /// What the board's tables allow, within what this device has room
    /// for.
    const fn clamp(caps: Capacities) -> Capacities {
        let mut caps = caps;
        if caps.total_vfs as usize > N {
            caps.total_vfs = N as u16;
        }
        // The unicast table's storage is sized by the board at build time.
        if caps.mac_filters as usize > crate::classifier::EXACT_ENTRIES {
            caps.mac_filters = crate::classifier::EXACT_ENTRIES as u32;
        }
        caps
    }

    /// Sets the capacities of a device made with [`Capacities::NONE`]
    /// (see [`new`](Self::new)). Before [`attach`](Self::attach) only:
    /// false, and nothing changed, once VFs are enabled.
    pub fn set_capacities(&mut self, caps: Capacities) -> bool {
        if self.enabled != 0 {
            return false;
        }
        self.caps = Self::clamp(caps);
        let c = self.caps;
        self.pools = Pools::new(c.mac_filters, c.vlan_filters, c.multicast_hashes);
        true
    }

    pub fn capacities(&self) -> Capacities {
        self.caps
    }

    /// VFs served now.
    pub fn enabled_vfs(&self) -> u16 {
        self.enabled
    }

    /// A VF's state (for the data path, the image's reports, and tests).
    pub fn vf(&self, index: usize) -> Option<&Vf> {
        self.vfs[..usize::from(self.enabled)].get(index)
    }

    pub fn pools(&self) -> &Pools {
        &self.pools
    }

    /// Becomes what `from` is, as a bitwise copy would make it, in time
    /// that follows what the two classifiers hold rather than their size
    /// ([`Classifier::restore_from`]): the fuzz rig puts its device back
    /// before every input. Every field is named, so one added to `Device`
    /// and not here does not compile.
    pub fn restore_from(&mut self, from: &Self) {
        let Device {
            counters,
            now_ns,
            heartbeat,
            event_seen,
            tx_doorbell_seen,
            enabled,
            uplink_up,
            links_dirty,
            links_vfs,
            controls_pending,
            classifier_dirty,
            shutdown,
            bridge,
            tx_pending,
            tx_group_seen,
            qm_reset_pending,
            qm_reset,
            vf_group_done,
            full_scan,
            caps,
            sriov_done,
            pcie_error_done,
            admin_done,
            event_head,
            pf_mac,
            pools,
            uplink,
            dp_pf,
            scratch,
            classifier,
            vfs,
            progress,
            dp_vf,
        } = self;
        *counters = from.counters;
        *now_ns = from.now_ns;
        *heartbeat = from.heartbeat;
        *event_seen = from.event_seen;
        *tx_doorbell_seen = from.tx_doorbell_seen;
        *enabled = from.enabled;
        *uplink_up = from.uplink_up;
        *links_dirty = from.links_dirty;
        *links_vfs = from.links_vfs;
        *controls_pending = from.controls_pending;
        *classifier_dirty = from.classifier_dirty;
        *shutdown = from.shutdown;
        *bridge = from.bridge;
        *tx_pending = from.tx_pending;
        *tx_group_seen = from.tx_group_seen;
        *qm_reset_pending = from.qm_reset_pending;
        *qm_reset = from.qm_reset;
        *vf_group_done = from.vf_group_done;
        *full_scan = from.full_scan;
        *caps = from.caps;
        *sriov_done = from.sriov_done;
        *pcie_error_done = from.pcie_error_done;
        *admin_done = from.admin_done;
        *event_head = from.event_head;
        *pf_mac = from.pf_mac;
        pools.clone_from(&from.pools);
        *uplink = from.uplink;
        *dp_pf = from.dp_pf;
        *scratch = from.scratch;
        classifier.restore_from(&from.classifier);
        vfs.clone_from(&from.vfs);
        *progress = from.progress;
        *dp_vf = from.dp_vf;
    }

    /// Recounts what every VF holds against the pools' books. A mismatch
    /// is a leak or a double free; tests run this after every step.
    pub fn audit(&self) -> Result<(), &'static str> {
        let vfs = &self.vfs[..usize::from(self.enabled)];
        // One pass over the VFs (a checker runs this after every scan, 64
        // VFs of it in the window fuzz target): the filters they hold, and
        // their VLANs counted per VID. Then each VID held against the
        // table's count of it, and the uses against the table's total
        // (equal: the VIDs nobody holds count 0). Linear in what the VFs
        // hold, plus clearing 8.5 KB of stack.
        let (mut macs, mut mc, mut held) = (0usize, 0usize, 0u32);
        let mut users = [0u16; 4096];
        let mut seen = VlanSet::EMPTY;
        for v in vfs {
            macs += usize::from(v.oper.mac.is_some()) + v.oper.macvlans.len();
            mc += v.oper.mc_hashes.len();
            // Most VFs hold none: one test, not the set's iterator.
            if v.oper.vlans.is_empty() {
                continue;
            }
            for vid in v.oper.vlans.iter() {
                users[usize::from(vid)] += 1;
                seen.insert(vid);
                held += 1;
            }
        }
        if macs != self.pools.mac.used as usize {
            return Err("MAC filter pool out of balance");
        }
        if mc != self.pools.multicast.used as usize {
            return Err("multicast pool out of balance");
        }
        let mut distinct = 0;
        for vid in seen.iter() {
            distinct += 1;
            if users[usize::from(vid)] != self.pools.vlan.users(vid) {
                return Err("VLAN reference counts out of balance");
            }
        }
        if held != self.pools.vlan.total() {
            return Err("VLAN reference counts out of balance");
        }
        if distinct != self.pools.vlan.pool.used as usize {
            return Err("VLAN pool out of balance");
        }
        Ok(())
    }

    /// The PF asked the firmware to stop (admin `Shutdown`).
    pub fn shutdown_requested(&self) -> bool {
        self.shutdown
    }

    pub fn bridge_mode(&self) -> BridgeMode {
        self.bridge
    }

    pub fn uplink_up(&self) -> bool {
        self.uplink_up
    }

    /// Takes the window over: publishes the layout and capacities, adopts
    /// whatever the hardware's counters say now (anything already pending
    /// is handled by the first poll), and announces READY.
    pub fn attach(&mut self, hw: &HostInterface) {
        let g = &hw.global;
        g.fw_status.set(0);
        // Until the uplink driver says otherwise; and the classifier is
        // built on the first poll.
        self.uplink_up = true;
        self.classifier_dirty = true;
        g.magic.set(WINDOW_MAGIC);
        g.layout_version.set(LAYOUT_VERSION);
        g.total_vfs.set(u32::from(self.caps.total_vfs));
        g.queue_pairs_per_vf
            .set(u32::from(self.caps.queue_pairs_per_vf));
        g.vfs_enabled.set(0);
        for (slot, p) in hw.vf.iter().zip(self.progress.iter_mut()) {
            // Requests that predate us were never seen by a firmware that
            // could answer them: answer them now (req_done stays behind).
            p.req_done = slot.req_done.get();
            p.reply_seq = slot.reply_seq.get();
            p.reset_done = slot.reset_done.get();
            for (done, fw) in p.violation_done.iter_mut().zip(slot.violation_done.iter()) {
                *done = fw.get();
            }
            p.vf_ack_seen = slot.vf_ack_seq.get();
            slot.active.set(0);
            slot.links.set(0);
        }
        self.sriov_done = g.sriov_done.get();
        self.pcie_error_done = g.pcie_error_done.get();
        self.admin_done = hw.admin.done.get();
        self.event_head = hw.admin.event_head.get();
        // Force one full scan.
        self.event_seen = g.event_seq.get().wrapping_sub(1);
        self.full_scan = true;
        if g.sriov_seq.get() == self.sriov_done {
            self.sriov_done = self.sriov_done.wrapping_sub(1);
        }
        fence(Ordering::Release);
        g.fw_status.write(FW_STATUS::READY::SET);
        fwlog::info!(
            "host interface attached: {} VFs max, {} queue pairs each",
            self.caps.total_vfs,
            self.caps.queue_pairs_per_vf
        );
    }

    /// One pass of the main loop: the control plane (whatever the hardware
    /// announced), then the data path (Tx doorbells, frames from the
    /// uplink). `now_ns` is the time, passed in (rate limiting uses it).
    pub fn poll(
        &mut self,
        hw: &HostInterface,
        dma: &mut (impl Dma + ?Sized),
        uplink: &mut (impl Uplink + ?Sized),
        now_ns: u64,
    ) {
        self.now_ns = now_ns;
        self.poll_control(hw);
        self.poll_data(hw, dma, uplink, now_ns);
    }

    /// The control plane's share of a poll. Inlined: with one caller per
    /// `Dma` type the image has (mapped memory, the DMA engine), LLVM
    /// otherwise keeps it out of line, and an idle poll pays the call.
    #[inline(always)]
    pub fn poll_control(&mut self, hw: &HostInterface) {
        self.counters.polls += 1;
        self.heartbeat = self.heartbeat.wrapping_add(1);
        hw.global.heartbeat.set(self.heartbeat);
        let seq = hw.global.event_seq.get();
        if seq != self.event_seen {
            self.event_seen = seq;
            fence(Ordering::Acquire);
            self.scan(hw);
        }
        if self.controls_pending {
            self.deliver_controls(hw);
        }
        if self.links_dirty {
            self.refresh_links(hw);
        }
    }

    fn scan(&mut self, hw: &HostInterface) {
        self.counters.scans += 1;
        let g = &hw.global;
        let sriov_seq = g.sriov_seq.get();
        if sriov_seq != self.sriov_done {
            self.apply_sriov(hw);
            self.sriov_done = sriov_seq;
            g.sriov_done.set(sriov_seq);
        }
        let err_seq = g.pcie_error_seq.get();
        if err_seq != self.pcie_error_done {
            self.pcie_error_done = err_seq;
            self.pcie_error(hw);
            g.pcie_error_done.set(err_seq);
        }
        // The groups whose counter moved, then the slots of those whose
        // counter moved: a message from one VF costs the same with 8 VFs
        // or 256, and reads one word per slot of its group.
        let enabled = usize::from(self.enabled);
        let full = core::mem::take(&mut self.full_scan);
        for group in 0..enabled.div_ceil(VF_GROUP) {
            let seq = g.vf_group_seq[group].get();
            if seq == self.vf_group_done[group] && !full {
                continue;
            }
            self.vf_group_done[group] = seq;
            fence(Ordering::Acquire);
            let first = group * VF_GROUP;
            for i in first..enabled.min(first + VF_GROUP) {
                let seq = hw.vf[i].slot_seq.get();
                if seq == self.progress[i].slot_seen && !full {
                    continue;
                }
                self.progress[i].slot_seen = seq;
                fence(Ordering::Acquire);
                self.serve_vf(hw, i);
            }
        }
        if hw.admin.doorbell.get() != self.admin_done {
            self.serve_admin(hw);
            // Admin requests set what VFs may claim, and the PF's MAC.
            self.classifier_dirty = true;
        }
    }

    fn pcie_error(&mut self, hw: &HostInterface) {
        self.counters.pcie_errors += 1;
        let raw = hw.global.pcie_error.get();
        let rid = (raw >> 16) as u16;
        match PcieError::from_code(raw & 0xff) {
            Some(error) => {
                fwlog::warn!("PCIe: refused config write {:?} from {:#x}", error, rid);
                self.post_event(hw, Event::PcieError { error, rid });
            }
            None => fwlog::warn!("PCIe: unknown error code {:#x}", raw),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn books_balanced_sees_the_uplink_the_pf_and_every_vf_slot() {
        let caps = Capacities {
            total_vfs: 4,
            ..Capacities::NONE
        };
        let mut d = std::boxed::Box::new(Device::<4>::new(caps));
        d.enabled = 2;
        assert!(d.books_balanced());
        let breaks: [fn(&mut Device<4>); 4] = [
            |d| d.uplink.rx_offered += 1,
            |d| d.dp_pf.counters.tx_dropped += 1,
            |d| d.dp_vf[0].counters.rx_packets += 1,
            // A slot past the enabled VFs.
            |d| d.dp_vf[3].counters.drops[0] += 1,
        ];
        for (i, f) in breaks.iter().enumerate() {
            let mut d = std::boxed::Box::new(Device::<4>::new(caps));
            d.enabled = 2;
            f(&mut d);
            assert!(!d.books_balanced(), "break {i}");
        }
    }

    #[test]
    fn audit_finds_vlan_books_out_of_balance() {
        let caps = Capacities {
            total_vfs: 4,
            vlan_filters: 8,
            ..Capacities::NONE
        };
        let mut d = std::boxed::Box::new(Device::<4>::new(caps));
        d.enabled = 3;
        assert_eq!(d.audit(), Ok(()));
        // A VID at either end of a word, used by VFs the table does not
        // count, then counted.
        for (vf, vid) in [(0, 63), (2, 63), (1, 4095)] {
            d.vfs[vf].oper.vlans.insert(vid);
            assert_eq!(d.audit(), Err("VLAN reference counts out of balance"));
            assert!(d.pools.vlan.acquire(vid));
            assert_eq!(d.audit(), Ok(()));
        }
        // Counted for a VF that is not enabled.
        d.vfs[3].oper.vlans.insert(7);
        assert_eq!(d.audit(), Ok(()), "VF 3 is not enabled");
        assert!(d.pools.vlan.acquire(7));
        assert_eq!(d.audit(), Err("VLAN reference counts out of balance"));
        d.pools.vlan.release(7);
        d.pools.vlan.pool.used += 1;
        assert_eq!(d.audit(), Err("VLAN pool out of balance"));
    }
}
