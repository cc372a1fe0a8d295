//! VF lifecycle: SR-IOV enable and disable, resets, quarantine, and the
//! link each VF sees (its own link state, or the uplink's).

use super::{Device, FunctionDp};
use crate::classifier::PoolSet;
use crate::events::{Event, NO_VF, QuarantineReason, ResetCause};
use crate::mailbox;
use crate::vf::{self, LinkState, Vf};
use core::sync::atomic::{Ordering, fence};
use hal::chip::{HostInterface, SRIOV_CTRL};
use hal::ixgbe::vfreg::{VFLINKS_SPEED_10G, VFLINKS_UP};
use tock_registers::interfaces::{Readable, Writeable};

impl<const N: usize> Device<N> {
    /// The physical port's link changed (the uplink driver reports it).
    pub fn set_uplink(&mut self, hw: &HostInterface, up: bool) {
        if up == self.uplink_up {
            return;
        }
        self.uplink_up = up;
        self.classifier_dirty = true;
        fwlog::info!("uplink link {}", if up { "up" } else { "down" });
        self.post_event(hw, Event::LinkChange { vf: NO_VF, up });
        self.all_links_changed();
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

    pub(super) fn apply_sriov(&mut self, hw: &HostInterface) {
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
            self.qm_reset.insert(i + 1);
            self.qm_reset_pending = true;
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
        // Requests a new VF made before it was served are in its slot, and
        // its group may have moved before: look at every slot.
        self.full_scan = true;
        self.classifier_dirty = true;
        self.enabled = want;
        hw.global.vfs_enabled.set(u32::from(want));
        self.all_links_changed();
        self.post_event(hw, Event::SriovChanged { num_vfs: want });
    }

    pub(super) fn reset_vf(&mut self, hw: &HostInterface, i: usize, cause: ResetCause) {
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
        self.link_changed(i);
        fwlog::info!("VF {}: reset ({:?})", i, cause);
        if cause == ResetCause::Flr && was_up {
            // The function was reset under a running driver (the host's
            // FLR, not the driver's own reset): tell it, as for an
            // administrative change, so that it resets and sets itself up
            // again (ixgbevf would otherwise keep a link it cannot use).
            self.queue_control(i);
        }
    }

    /// Stops a misbehaving VF until the PF releases it.
    pub(super) fn quarantine(&mut self, hw: &HostInterface, i: usize, reason: QuarantineReason) {
        let vf = &mut self.vfs[i];
        mailbox::clear_oper(vf, &mut self.pools);
        vf.lifecycle = vf::Lifecycle::Quarantined;
        vf.pending_control = None;
        self.link_changed(i);
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

    /// Tells an up VF that it must reset to pick up an administrative
    /// change (ixgbe's way: clear-to-send dropped, then a ping).
    pub(super) fn require_vf_reset(&mut self, i: usize) {
        if self.vfs[i].lifecycle.clear_to_send() {
            self.vfs[i].lifecycle = vf::Lifecycle::AwaitingReset;
            self.queue_control(i);
        }
    }

    /// VF `i`'s VFLINKS may have changed: rewritten on this poll.
    pub(super) fn link_changed(&mut self, i: usize) {
        self.links_vfs.insert(i);
        self.links_dirty = true;
    }

    /// Every served VF's VFLINKS may have changed (the uplink, SR-IOV, the
    /// PF resetting every VF's configuration).
    pub(super) fn all_links_changed(&mut self) {
        for i in 0..usize::from(self.enabled) {
            self.links_vfs.insert(i);
        }
        self.links_dirty = true;
    }

    /// Rewrites VFLINKS of the VFs marked since the last time: one word
    /// for a VF's reset, not one per VF (256 on the large board).
    pub(super) fn refresh_links(&mut self, hw: &HostInterface) {
        self.links_dirty = false;
        let marked = core::mem::replace(&mut self.links_vfs, PoolSet::EMPTY);
        for i in marked.iter().take_while(|&i| i < usize::from(self.enabled)) {
            let up = self.vfs[i].link_up(self.uplink_up);
            hw.vf[i].links.set(if up {
                VFLINKS_UP | VFLINKS_SPEED_10G
            } else {
                0
            });
        }
    }
}
