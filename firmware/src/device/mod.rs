//! The device: every VF, the shared pools, the PF administration, and the
//! loop that serves the host-interface window.
//!
//! [`Device::poll`] is called by the main loop (the image) or the simulation
//! runner. It reads the hardware's sequence counters, handles what moved,
//! and publishes results before the counters that announce them. It never
//! blocks and never panics on anything the host or a VF wrote.

mod dataplane;

pub use dataplane::{FunctionDp, QueueState, Scratch};

use crate::admin::{self, BridgeMode, Opcode, Status};
use crate::classifier::Classifier;
use crate::drops::{DropReason, PortCounters};
use crate::events::{Event, NO_VF, QuarantineReason, ResetCause};
use crate::mac::Mac;
use crate::mailbox::{self, Context, Reply};
use crate::pools::Pools;
use crate::vf::{self, AdminConfig, LinkState, PortVlan, Vf, VlanProto};
use core::sync::atomic::{Ordering, fence};
use hal::chip::{
    ADMIN_WORDS, EVENT_RING_LEN, FW_STATUS, HostInterface, LAYOUT_VERSION, MailboxViolation,
    PcieError, RESET_CAUSE, SRIOV_CTRL, VIOLATION_KINDS, VfSlot, WINDOW_MAGIC,
};
use hal::ixgbe::mbx::{self, CTS, NACK, WORDS};
use hal::ixgbe::vfreg::{VFLINKS_SPEED_10G, VFLINKS_UP};
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

/// Device-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceCounters {
    pub polls: u64,
    pub scans: u64,
    pub mailbox_messages: u64,
    pub admin_commands: u64,
    pub admin_errors: u64,
    pub pcie_errors: u64,
    pub events_posted: u64,
    pub events_lost: u64,
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
    links_dirty: bool,
    controls_pending: bool,
    classifier_dirty: bool,
    shutdown: bool,
    bridge: BridgeMode,
    /// Functions whose Tx queues have work (a doorbell, or a burst or the
    /// rate limit left some).
    tx_pending: crate::classifier::PoolSet,
    tx_group_seen: [u32; hal::chip::DOORBELL_GROUPS],
    // Control plane.
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
            },
            classifier: Classifier::new(),
            classifier_dirty: false,
            pf_mac: None,
            dp_pf: FunctionDp::NEW,
            dp_vf: [FunctionDp::NEW; N],
            uplink: PortCounters::ZERO,
            tx_doorbell_seen: 0,
            tx_group_seen: [0; hal::chip::DOORBELL_GROUPS],
            tx_pending: crate::classifier::PoolSet::EMPTY,
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

    /// Recounts what every VF holds against the pools' books. A mismatch
    /// is a leak or a double free; tests run this after every step.
    pub fn audit(&self) -> Result<(), &'static str> {
        let vfs = &self.vfs[..usize::from(self.enabled)];
        let macs: usize = vfs
            .iter()
            .map(|v| usize::from(v.oper.mac.is_some()) + v.oper.macvlans.len())
            .sum();
        if macs != self.pools.mac.used as usize {
            return Err("MAC filter pool out of balance");
        }
        let mc: usize = vfs.iter().map(|v| v.oper.mc_hashes.len()).sum();
        if mc != self.pools.multicast.used as usize {
            return Err("multicast pool out of balance");
        }
        let mut distinct = 0;
        for vid in 0..4096u16 {
            let users = vfs.iter().filter(|v| v.oper.vlans.contains(vid)).count();
            if users != usize::from(self.pools.vlan.users(vid)) {
                return Err("VLAN reference counts out of balance");
            }
            distinct += usize::from(users > 0);
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

    /// The physical port's link changed (the uplink driver reports it).
    pub fn set_uplink(&mut self, hw: &HostInterface, up: bool) {
        if up == self.uplink_up {
            return;
        }
        self.uplink_up = up;
        self.classifier_dirty = true;
        fwlog::info!("uplink link {}", if up { "up" } else { "down" });
        self.post_event(hw, Event::LinkChange { vf: NO_VF, up });
        self.refresh_links(hw);
        // Tell the VFs whose link follows the uplink (a ping with CTS: the
        // driver re-reads VFLINKS).
        for i in 0..usize::from(self.enabled) {
            let v = &self.vfs[i];
            if v.lifecycle.clear_to_send() && v.admin.link_state == LinkState::Auto {
                self.queue_control(i);
            }
        }
        self.deliver_controls(hw);
    }

    fn scan(&mut self, hw: &HostInterface) {
        self.counters.scans += 1;
        // Any control event may change what the classifier must say.
        self.classifier_dirty = true;
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
        for i in 0..usize::from(self.enabled) {
            self.serve_vf(hw, i);
        }
        if hw.admin.doorbell.get() != self.admin_done {
            self.serve_admin(hw);
        }
    }

    fn apply_sriov(&mut self, hw: &HostInterface) {
        let ctrl = &hw.global.sriov_ctrl;
        let want = if ctrl.is_set(SRIOV_CTRL::VF_ENABLE) {
            (ctrl.read(SRIOV_CTRL::NUM_VFS) as u16).min(self.caps.total_vfs)
        } else {
            0
        };
        if want == self.enabled {
            return;
        }
        for i in usize::from(want)..usize::from(self.enabled) {
            let vf = &mut self.vfs[i];
            mailbox::clear_oper(vf, &mut self.pools);
            vf.lifecycle = vf::Lifecycle::Disabled;
            vf.pending_control = None;
            hw.vf[i].active.set(0);
            hw.vf[i].links.set(0);
        }
        for i in usize::from(self.enabled)..usize::from(want) {
            let vf = &mut self.vfs[i];
            if !vf.set_up {
                *vf = Vf::NEW;
            }
            vf.lifecycle = vf::Lifecycle::AwaitingReset;
            vf.mailbox = Default::default();
            self.dp_vf[i] = FunctionDp::NEW;
            self.tx_pending.remove(i + 1);
            // A reset requested before the VF existed is moot.
            let slot = &hw.vf[i];
            let p = &mut self.progress[i];
            p.reset_done = slot.reset_seq.get();
            slot.reset_done.set(p.reset_done);
            p.vf_ack_seen = slot.vf_ack_seq.get();
            fence(Ordering::Release);
            slot.active.set(1);
        }
        fwlog::info!("SR-IOV: {} VFs served (was {})", want, self.enabled);
        self.enabled = want;
        hw.global.vfs_enabled.set(u32::from(want));
        self.links_dirty = true;
        self.post_event(hw, Event::SriovChanged { num_vfs: want });
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

    fn serve_vf(&mut self, hw: &HostInterface, i: usize) {
        let slot = &hw.vf[i];
        let index = i as u16;

        let reset_seq = slot.reset_seq.get();
        if reset_seq != self.progress[i].reset_done {
            let cause = match slot.reset_cause.read_as_enum(RESET_CAUSE::CAUSE) {
                Some(RESET_CAUSE::CAUSE::Value::Flr) => ResetCause::Flr,
                _ => ResetCause::VfRequest,
            };
            self.reset_vf(hw, i, cause);
            self.post_event(hw, Event::VfReset { vf: index, cause });
            self.progress[i].reset_done = reset_seq;
            fence(Ordering::Release);
            slot.reset_done.set(reset_seq);
        }

        // One counter per kind: each event carries its own kind, however
        // many arrived since the last poll.
        for violation in MailboxViolation::ALL {
            let k = violation.index();
            let seq = slot.violation_seq[k].get();
            let missed = seq.wrapping_sub(self.progress[i].violation_done[k]);
            if missed == 0 {
                continue;
            }
            self.progress[i].violation_done[k] = seq;
            slot.violation_done[k].set(seq);
            self.vfs[i].mailbox.violations += missed;
            fwlog::warn!(
                "VF {}: mailbox violation {:?} (x{})",
                index,
                violation,
                missed
            );
            self.post_event(
                hw,
                Event::MailboxViolation {
                    vf: index,
                    violation,
                },
            );
        }

        let req_seq = slot.req_seq.get();
        if req_seq != self.progress[i].req_done {
            fence(Ordering::Acquire);
            let mut msg = [0u32; WORDS];
            for (w, r) in msg.iter_mut().zip(slot.request.iter()) {
                *w = r.get();
            }
            let len = (slot.req_len.get() as usize).min(WORDS);
            // Consumed: the VF sees PFACK.
            self.progress[i].req_done = req_seq;
            slot.req_done.set(req_seq);
            self.mailbox_message(hw, i, &msg, len);
        }

        let ack_seq = slot.vf_ack_seq.get();
        if ack_seq != self.progress[i].vf_ack_seen {
            self.progress[i].vf_ack_seen = ack_seq;
            self.progress[i].unacked = false;
            // As ixgbe does: a VF that acks while not clear to send is told
            // NACK, which makes its driver reset.
            if !self.vfs[i].lifecycle.clear_to_send() {
                let mut words = [0; WORDS];
                words[0] = NACK;
                self.post_reply(hw, i, &Reply { words, len: 1 });
            }
        }
    }

    fn reset_vf(&mut self, hw: &HostInterface, i: usize, cause: ResetCause) {
        if cause == ResetCause::Flr {
            // After an FLR the function may belong to someone else: its
            // statistics registers start again from 0, as on the 82599
            // (a VFCTRL.RST keeps them; the driver re-bases).
            let b = &hw.function[i + 1];
            for r in [
                &b.gprc,
                &b.gptc,
                &b.gorc_lsb,
                &b.gorc_msb,
                &b.gotc_lsb,
                &b.gotc_msb,
                &b.mprc,
            ] {
                r.set(0);
            }
        }
        let now = self.now_ns;
        let vf = &mut self.vfs[i];
        if now.saturating_sub(vf.reset_window_ns) > 1_000_000_000 {
            vf.reset_window_ns = now;
            vf.resets_in_window = 0;
        }
        vf.resets_in_window += 1;
        if vf.lifecycle == vf::Lifecycle::Quarantined {
            vf.mailbox.resets += 1;
            return;
        }
        if vf.resets_in_window > vf::policy::RESETS_PER_SECOND_TO_QUARANTINE {
            self.quarantine(hw, i, QuarantineReason::ResetStorm);
            return;
        }
        let vf = &mut self.vfs[i];
        let was_up = vf.lifecycle.clear_to_send();
        mailbox::clear_oper(vf, &mut self.pools);
        vf.lifecycle = vf::Lifecycle::AwaitingReset;
        vf.pending_control = None;
        vf.mailbox.resets += 1;
        // The reset wiped the mailbox: no message is left to acknowledge.
        self.progress[i].unacked = false;
        self.links_dirty = true;
        fwlog::info!("VF {}: reset ({:?})", i, cause);
        if cause == ResetCause::Flr && was_up {
            // The function was reset under a running driver (the host's
            // FLR, not the driver's own reset): tell it, as for an
            // administrative change, so that it resets and sets itself up
            // again (ixgbevf would otherwise keep a link it cannot use).
            self.queue_control(i);
        }
    }

    /// Takes a token from the VF's mailbox bucket; false when it is over
    /// its rate (or quarantined).
    fn mailbox_allowed(&mut self, i: usize) -> bool {
        use vf::policy::*;
        let now = self.now_ns;
        let vf = &mut self.vfs[i];
        if vf.lifecycle == vf::Lifecycle::Quarantined {
            return false;
        }
        let elapsed = now.saturating_sub(vf.mbx_at_ns);
        let earned = (u128::from(elapsed) * u128::from(MBX_PER_SECOND) / 1_000_000_000) as u64;
        if earned > 0 {
            vf.mbx_tokens = (u64::from(vf.mbx_tokens) + earned).min(u64::from(MBX_BURST)) as u32;
            vf.mbx_at_ns = now;
        }
        if vf.mbx_tokens == 0 {
            return false;
        }
        vf.mbx_tokens -= 1;
        true
    }

    /// Stops a misbehaving VF until the PF releases it.
    fn quarantine(&mut self, hw: &HostInterface, i: usize, reason: QuarantineReason) {
        let vf = &mut self.vfs[i];
        mailbox::clear_oper(vf, &mut self.pools);
        vf.lifecycle = vf::Lifecycle::Quarantined;
        vf.pending_control = None;
        self.links_dirty = true;
        self.classifier_dirty = true;
        fwlog::warn!(
            "VF {}: quarantined ({:?}) until the PF releases it",
            i,
            reason
        );
        self.post_event(
            hw,
            Event::VfQuarantined {
                vf: i as u16,
                reason,
            },
        );
    }

    fn mailbox_message(&mut self, hw: &HostInterface, i: usize, msg: &[u32; WORDS], len: usize) {
        self.counters.mailbox_messages += 1;
        if !self.mailbox_allowed(i) {
            let quarantined = self.vfs[i].lifecycle == vf::Lifecycle::Quarantined;
            let m = &mut self.vfs[i].mailbox;
            m.requests += 1;
            m.nacks += 1;
            m.rate_limited += 1;
            let over = m.rate_limited;
            let mut words = [0; WORDS];
            // Still clear to send (unless quarantined): the VF may retry.
            words[0] = msg[0] | NACK | if quarantined { 0 } else { CTS };
            self.post_reply(hw, i, &Reply { words, len: 1 });
            if !quarantined && over >= vf::policy::MBX_REFUSED_TO_QUARANTINE {
                self.quarantine(hw, i, QuarantineReason::MailboxFlood);
            } else if over.is_power_of_two() {
                self.post_event(
                    hw,
                    Event::MailboxError {
                        vf: i as u16,
                        refusal: mailbox::Refusal::RateLimited,
                        msg_id: mbx::id(msg[0]) as u16,
                    },
                );
            }
            return;
        }
        let mut ctx = Context {
            pools: &mut self.pools,
            queue_pairs: u32::from(self.caps.queue_pairs_per_vf),
            rss_key: crate::rss::DEFAULT.key(),
            vf: i as u16,
        };
        let out = mailbox::handle(&mut self.vfs[i], &mut ctx, msg, len);
        if let Some(refusal) = out.refusal {
            let msg_id = mbx::id(msg[0]) as u16;
            fwlog::warn!("VF {}: message {:#x} refused: {:?}", i, msg_id, refusal);
            self.post_event(
                hw,
                Event::MailboxError {
                    vf: i as u16,
                    refusal,
                    msg_id,
                },
            );
        }
        for e in out.events {
            self.post_event(hw, e);
        }
        if let Some(reply) = out.reply {
            self.post_reply(hw, i, &reply);
        }
        if mbx::id(msg[0]) == mbx::VF_RESET {
            self.links_dirty = true;
        }
    }

    fn post_reply(&mut self, hw: &HostInterface, i: usize, reply: &Reply) {
        let slot: &VfSlot = &hw.vf[i];
        for (r, w) in slot.reply.iter().zip(reply.words.iter()) {
            r.set(*w);
        }
        slot.reply_len.set(reply.len as u32);
        let p = &mut self.progress[i];
        p.reply_seq = p.reply_seq.wrapping_add(1);
        p.unacked = true;
        fence(Ordering::Release);
        slot.reply_seq.set(p.reply_seq);
    }

    /// Control messages wait until the VF has no request in flight and has
    /// acknowledged the last message, so a ping never lands where the VF
    /// expects a reply (the race that makes ixgbevf resets fail on Linux).
    fn deliver_controls(&mut self, hw: &HostInterface) {
        let mut still = false;
        for i in 0..usize::from(self.enabled) {
            let Some(word) = self.vfs[i].pending_control else {
                continue;
            };
            let p = &self.progress[i];
            if hw.vf[i].req_seq.get() != p.req_done || p.unacked {
                still = true;
                continue;
            }
            self.vfs[i].pending_control = None;
            let mut words = [0; WORDS];
            words[0] = word;
            self.post_reply(hw, i, &Reply { words, len: 1 });
        }
        self.controls_pending = still;
    }

    /// Queues a control message to VF `i`: a ping (CTS set) or, when the
    /// VF lost clear-to-send, a reset notice (no CTS).
    fn queue_control(&mut self, i: usize) {
        let vf = &mut self.vfs[i];
        let cts = if vf.lifecycle.clear_to_send() { CTS } else { 0 };
        vf.pending_control = Some(mbx::PF_CONTROL_MSG | cts);
        self.controls_pending = true;
    }

    /// Tells an up VF that it must reset to pick up an administrative
    /// change (ixgbe's way: clear-to-send dropped, then a ping).
    fn require_vf_reset(&mut self, i: usize) {
        if self.vfs[i].lifecycle.clear_to_send() {
            self.vfs[i].lifecycle = vf::Lifecycle::AwaitingReset;
            self.queue_control(i);
        }
    }

    fn refresh_links(&mut self, hw: &HostInterface) {
        self.links_dirty = false;
        for i in 0..usize::from(self.enabled) {
            let up = self.vfs[i].link_up(self.uplink_up);
            hw.vf[i].links.set(if up {
                VFLINKS_UP | VFLINKS_SPEED_10G
            } else {
                0
            });
        }
    }

    fn post_event(&mut self, hw: &HostInterface, event: Event) {
        let a = &hw.admin;
        let tail = a.event_tail.get();
        if self.event_head.wrapping_sub(tail) as usize >= EVENT_RING_LEN {
            self.counters.events_lost += 1;
            a.events_lost.set(self.counters.events_lost as u32);
            return;
        }
        let e = &a.events[self.event_head as usize % EVENT_RING_LEN];
        let [kind, vf, d0, d1] = event.encode();
        e.kind.set(kind);
        e.vf.set(vf);
        e.data0.set(d0);
        e.data1.set(d1);
        self.event_head = self.event_head.wrapping_add(1);
        self.counters.events_posted += 1;
        fence(Ordering::Release);
        a.event_head.set(self.event_head);
    }

    fn serve_admin(&mut self, hw: &HostInterface) {
        let a = &hw.admin;
        let doorbell = a.doorbell.get();
        fence(Ordering::Acquire);
        let len = a.request_len.get() as usize;
        let mut req = [0u32; ADMIN_WORDS];
        for (w, r) in req.iter_mut().zip(a.request.iter()) {
            *w = r.get();
        }
        let mut resp = [0u32; ADMIN_WORDS];
        let (status, resp_len) = self.admin_command(hw, &req, len, &mut resp);
        self.counters.admin_commands += 1;
        let opcode = req[0] & 0xffff;
        if status != Status::Ok {
            self.counters.admin_errors += 1;
            fwlog::warn!(
                "admin: opcode {:#x} for VF {} refused: {:?}",
                opcode,
                req[0] >> 16,
                status
            );
        }
        resp[0] = ((status as u32) << 16) | opcode;
        for (r, w) in a.response.iter().zip(resp.iter()) {
            r.set(*w);
        }
        a.response_len.set(resp_len.max(1) as u32);
        self.admin_done = doorbell;
        fence(Ordering::Release);
        a.done.set(doorbell);
    }

    /// Executes one admin request; returns the status and response length.
    fn admin_command(
        &mut self,
        hw: &HostInterface,
        req: &[u32; ADMIN_WORDS],
        len: usize,
        resp: &mut [u32; ADMIN_WORDS],
    ) -> (Status, usize) {
        let Some(op) = Opcode::from_code(req[0] as u16) else {
            return (Status::UnknownOpcode, 1);
        };
        if len < op.request_words() || len > ADMIN_WORDS {
            return (Status::BadLength, 1);
        }
        let vf_field = (req[0] >> 16) as u16;
        let vf = usize::from(vf_field);
        if op.takes_vf() && vf >= usize::from(self.enabled) {
            return (Status::InvalidVf, 1);
        }
        let flag = |w: u32| match w {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        };
        let status = match op {
            Opcode::GetInfo => {
                self.info(resp);
                return (Status::Ok, admin::info::WORDS);
            }
            Opcode::GetVfConfig => {
                self.vf_config(vf, resp);
                return (Status::Ok, admin::vf_config::WORDS);
            }
            Opcode::GetVfStats => {
                self.vf_stats(vf, resp);
                return (Status::Ok, admin::vf_stats::WORDS);
            }
            Opcode::GetDrops => {
                let c = match vf_field {
                    admin::UPLINK_PORT => &self.uplink,
                    admin::PF_PORT => &self.dp_pf.counters,
                    n if usize::from(n) < usize::from(self.enabled) => {
                        &self.dp_vf[usize::from(n)].counters
                    }
                    _ => return (Status::InvalidVf, 1),
                };
                for (r, d) in resp[1..].iter_mut().zip(c.drops.iter()) {
                    *r = *d as u32;
                }
                return (Status::Ok, 1 + DropReason::COUNT);
            }
            Opcode::ReleaseVf => {
                let v = &mut self.vfs[vf];
                if v.lifecycle == vf::Lifecycle::Quarantined {
                    v.lifecycle = vf::Lifecycle::AwaitingReset;
                    v.mbx_tokens = vf::policy::MBX_BURST;
                    v.mbx_at_ns = self.now_ns;
                    v.resets_in_window = 0;
                    v.reset_window_ns = self.now_ns;
                    v.mailbox.rate_limited = 0;
                    self.links_dirty = true;
                    fwlog::info!("VF {}: released by the PF", vf);
                    self.post_event(hw, Event::VfReleased { vf: vf as u16 });
                }
                Status::Ok
            }
            Opcode::Shutdown => {
                fwlog::info!("admin: shutdown requested");
                self.shutdown = true;
                Status::Ok
            }
            Opcode::SetPfMac => {
                let mac = Mac::from_words(req[1], req[2]);
                if mac.is_zero() {
                    self.pf_mac = None;
                } else if mac.is_valid_unicast() {
                    self.pf_mac = Some(mac);
                } else {
                    return (Status::InvalidArgument, 1);
                }
                self.classifier_dirty = true;
                Status::Ok
            }
            Opcode::SetVfMac => self.admin_set_mac(hw, vf, Mac::from_words(req[1], req[2])),
            Opcode::SetVfVlan => self.admin_set_vlan(vf, req[1], req[2], req[3]),
            Opcode::SetVfRate => {
                let (min, max) = (req[1], req[2]);
                let out_of_range = max > admin::MAX_RATE_MBPS || min > admin::MAX_RATE_MBPS;
                if out_of_range || (max != 0 && min > max) {
                    Status::InvalidArgument
                } else {
                    self.vfs[vf].admin.min_tx_rate = min;
                    self.vfs[vf].admin.max_tx_rate = max;
                    // A new limit starts with a full bucket (its burst),
                    // filling from now: what unlimited traffic spent before
                    // is not charged to it.
                    let dp = &mut self.dp_vf[vf];
                    dp.tokens = dataplane::rate_burst(max);
                    dp.tokens_at_ns = self.now_ns;
                    Status::Ok
                }
            }
            Opcode::SetVfSpoofCheck => match flag(req[1]) {
                Some(on) => {
                    self.vfs[vf].admin.spoof_check = on;
                    Status::Ok
                }
                None => Status::InvalidArgument,
            },
            Opcode::SetVfTrust => match flag(req[1]) {
                Some(on) => {
                    let was = self.vfs[vf].admin.trust;
                    self.vfs[vf].admin.trust = on;
                    // Losing trust may take away what the VF holds.
                    if was && !on {
                        self.require_vf_reset(vf);
                    }
                    Status::Ok
                }
                None => Status::InvalidArgument,
            },
            Opcode::SetVfLinkState => match LinkState::from_code(req[1]) {
                Some(state) => {
                    let was = self.vfs[vf].admin.link_state;
                    let before = self.vfs[vf].link_up(self.uplink_up);
                    self.vfs[vf].admin.link_state = state;
                    let after = self.vfs[vf].link_up(self.uplink_up);
                    if before != after {
                        self.post_event(
                            hw,
                            Event::LinkChange {
                                vf: vf as u16,
                                up: after,
                            },
                        );
                    }
                    self.links_dirty = true;
                    // As ixgbe does: a link-state change restarts the VF
                    // (clear-to-send dropped, then a reset notice), so that
                    // its driver re-reads the link on the way up.
                    if self.vfs[vf].admin.link_state != was {
                        self.require_vf_reset(vf);
                    }
                    Status::Ok
                }
                None => Status::InvalidArgument,
            },
            Opcode::SetVfQueryRss => match flag(req[1]) {
                Some(on) => {
                    self.vfs[vf].admin.query_rss = on;
                    Status::Ok
                }
                None => Status::InvalidArgument,
            },
            Opcode::SetBridgeMode => match req[1] {
                0 => {
                    self.bridge = BridgeMode::Veb;
                    Status::Ok
                }
                1 => {
                    self.bridge = BridgeMode::Vepa;
                    Status::Ok
                }
                _ => Status::InvalidArgument,
            },
            Opcode::PingVfs => {
                for i in 0..usize::from(self.enabled) {
                    if self.vfs[i].lifecycle.clear_to_send() {
                        self.queue_control(i);
                    }
                }
                Status::Ok
            }
            Opcode::ResetVfConfig => {
                let range = if vf_field == admin::ALL_VFS {
                    0..N
                } else if vf < N && vf < usize::from(self.caps.total_vfs) {
                    vf..vf + 1
                } else {
                    return (Status::InvalidVf, 1);
                };
                for i in range {
                    if self.vfs[i].admin != AdminConfig::DEFAULT {
                        self.vfs[i].admin = AdminConfig::DEFAULT;
                        self.require_vf_reset(i);
                    }
                }
                self.links_dirty = true;
                Status::Ok
            }
        };
        self.classifier_dirty = true;
        (status, 1)
    }

    fn admin_set_mac(&mut self, hw: &HostInterface, vf: usize, mac: Mac) -> Status {
        if !mac.is_zero() && !mac.is_valid_unicast() {
            return Status::InvalidArgument;
        }
        let v = &mut self.vfs[vf];
        if mac.is_zero() {
            // The VF may choose its own again; what it has stays for now.
            v.admin.mac = None;
            return Status::Ok;
        }
        if v.oper.mac.is_none() && !self.pools.mac.take(1) {
            self.post_event(
                hw,
                Event::PoolExhausted {
                    vf: vf as u16,
                    pool: crate::pools::PoolKind::MacFilters,
                },
            );
            return Status::NoSpace;
        }
        let v = &mut self.vfs[vf];
        v.admin.mac = Some(mac);
        let changed = v.oper.mac != Some(mac);
        v.oper.mac = Some(mac);
        if changed {
            // The VF driver learns its new MAC through a reset.
            self.require_vf_reset(vf);
        }
        Status::Ok
    }

    fn admin_set_vlan(&mut self, vf: usize, vid: u32, qos: u32, proto: u32) -> Status {
        if vid >= 4095 || qos > 7 {
            return Status::InvalidArgument;
        }
        let Some(proto) = VlanProto::from_ethertype(proto) else {
            return Status::InvalidArgument;
        };
        let new = (vid != 0).then_some(PortVlan {
            vid: vid as u16,
            qos: qos as u8,
            tpid: proto.ethertype(),
        });
        if vid == 0 && qos != 0 {
            return Status::InvalidArgument;
        }
        let v = &mut self.vfs[vf];
        if v.admin.port_vlan == new {
            return Status::Ok;
        }
        if let Some(p) = new
            && self.pools.vlan.users(p.vid) == 0
            && self.pools.vlan.pool.free() == 0
        {
            return Status::NoSpace;
        }
        v.admin.port_vlan = new;
        // The VF's VLAN filters are rebuilt by the reset it is told to do.
        self.require_vf_reset(vf);
        Status::Ok
    }

    fn info(&self, r: &mut [u32; ADMIN_WORDS]) {
        use admin::info::*;
        r[TOTAL_VFS] = u32::from(self.caps.total_vfs);
        r[VFS_ENABLED] = u32::from(self.enabled);
        r[QUEUE_PAIRS_PER_VF] = u32::from(self.caps.queue_pairs_per_vf);
        r[MAC_FILTERS] = self.pools.mac.capacity;
        r[MAC_FILTERS_USED] = self.pools.mac.used;
        r[VLAN_FILTERS] = self.pools.vlan.pool.capacity;
        r[VLAN_FILTERS_USED] = self.pools.vlan.pool.used;
        r[MULTICAST_HASHES] = self.pools.multicast.capacity;
        r[MULTICAST_HASHES_USED] = self.pools.multicast.used;
        r[BRIDGE_MODE] = self.bridge as u32;
        r[UPLINK_UP] = u32::from(self.uplink_up);
        r[MAX_MACVLANS_PER_VF] = vf::MAX_MACVLANS_PER_VF as u32;
        r[MAX_VLANS_PER_VF] = vf::MAX_VLANS_PER_VF as u32;
        r[MAX_MC_HASHES_PER_VF] = vf::MAX_MC_HASHES_PER_VF as u32;
    }

    fn vf_config(&self, vf: usize, r: &mut [u32; ADMIN_WORDS]) {
        use admin::vf_config::*;
        let v = &self.vfs[vf];
        let (lo, hi) = v.oper.mac.or(v.admin.mac).unwrap_or(Mac::ZERO).to_words();
        r[MAC_LO] = lo;
        r[MAC_HI] = hi;
        r[MAC_ADMINISTERED] = u32::from(v.admin.mac.is_some());
        if let Some(p) = v.admin.port_vlan {
            r[VLAN] = u32::from(p.vid);
            r[QOS] = u32::from(p.qos);
            r[VLAN_PROTO] = u32::from(p.tpid);
        } else {
            r[VLAN_PROTO] = u32::from(VlanProto::Dot1Q.ethertype());
        }
        r[MIN_TX_RATE] = v.admin.min_tx_rate;
        r[MAX_TX_RATE] = v.admin.max_tx_rate;
        r[FLAGS] = (if v.admin.spoof_check {
            FLAG_SPOOF_CHECK
        } else {
            0
        }) | (if v.admin.trust { FLAG_TRUST } else { 0 })
            | (if v.admin.query_rss { FLAG_QUERY_RSS } else { 0 });
        r[LINK_STATE] = v.admin.link_state as u32;
        r[LIFECYCLE] = v.lifecycle.code();
        r[API] = v.oper.api as u32;
        r[XCAST] = v.oper.xcast as u32;
        r[MAX_FRAME] = u32::from(v.oper.max_frame);
        r[VLANS] = v.oper.vlans.len() as u32;
        r[MC_HASHES] = v.oper.mc_hashes.len() as u32;
        r[MACVLANS] = v.oper.macvlans.len() as u32;
        r[LINK_UP] = u32::from(v.link_up(self.uplink_up));
        r[MBX_REQUESTS] = v.mailbox.requests;
        r[MBX_NACKS] = v.mailbox.nacks;
        r[MBX_MALFORMED] = v.mailbox.malformed;
        r[MBX_VIOLATIONS] = v.mailbox.violations;
        r[MBX_BEFORE_CTS] = v.mailbox.before_cts;
        r[RESETS] = v.mailbox.resets;
        r[XCAST_DOWNGRADES] = v.mailbox.xcast_downgrades;
        r[MBX_RATE_LIMITED] = v.mailbox.rate_limited;
    }

    fn vf_stats(&self, vf: usize, r: &mut [u32; ADMIN_WORDS]) {
        use admin::vf_stats::*;
        let t = &self.dp_vf[vf].counters;
        for (at, v) in [
            (RX_BYTES, t.rx_bytes),
            (RX_PACKETS, t.rx_packets),
            (RX_MULTICAST, t.rx_multicast),
            (RX_BROADCAST, t.rx_broadcast),
            (RX_DROPPED, t.rx_dropped),
            (TX_BYTES, t.tx_bytes),
            (TX_PACKETS, t.tx_packets),
            (TX_DROPPED, t.tx_dropped),
        ] {
            r[at] = v as u32;
            r[at + 1] = (v >> 32) as u32;
        }
    }
}
