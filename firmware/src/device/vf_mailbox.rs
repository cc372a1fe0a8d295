//! Serving each VF's slot in the window: the resets and mailbox violations
//! the hardware announces, mailbox requests (rate-limited, then handed to
//! [`crate::mailbox`]) and replies, and the PF's control messages.

use super::Device;
use crate::events::{Event, QuarantineReason, ResetCause};
use crate::mailbox::{self, Context, Reply};
use crate::vf;
use core::sync::atomic::{Ordering, fence};
use hal::chip::{HostInterface, MailboxViolation, RESET_CAUSE, VfSlot};
use hal::ixgbe::mbx::{self, CTS, NACK, WORDS};
use tock_registers::interfaces::{Readable, Writeable};

impl<const N: usize> Device<N> {
    pub(super) fn serve_vf(&mut self, hw: &HostInterface, i: usize) {
        let slot = &hw.vf[i];
        let index = i as u16;

        let reset_seq = slot.reset_seq.get();
        if reset_seq != self.progress[i].reset_done {
            let cause = match slot.reset_cause.read_as_enum(RESET_CAUSE::CAUSE) {
                Some(RESET_CAUSE::CAUSE::Value::Flr) => ResetCause::Flr,
                _ => ResetCause::VfRequest,
            };
            self.reset_vf(hw, i, cause);
            // Its filters are gone (or it is quarantined).
            self.classifier_dirty = true;
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
        // Only a message that changes what the classifier is built from
        // costs a rebuild (most are queries).
        let before = self.vfs[i].classifier_inputs();
        let out = mailbox::handle(&mut self.vfs[i], &mut ctx, msg, len);
        if self.vfs[i].classifier_inputs() != before {
            self.classifier_dirty = true;
        }
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
            self.link_changed(i);
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
    pub(super) fn deliver_controls(&mut self, hw: &HostInterface) {
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
    pub(super) fn queue_control(&mut self, i: usize) {
        let vf = &mut self.vfs[i];
        let cts = if vf.lifecycle.clear_to_send() { CTS } else { 0 };
        vf.pending_control = Some(mbx::PF_CONTROL_MSG | cts);
        self.controls_pending = true;
    }
}
