//! The PF administration channel: commands from the PF driver (see
//! [`crate::admin`]) and the event ring back to it.

use super::{Device, dataplane};
use crate::admin::{self, BridgeMode, Opcode, Status};
use crate::drops::DropReason;
use crate::events::Event;
use crate::mac::Mac;
use crate::vf::{self, AdminConfig, LinkState, PortVlan, VlanProto};
use core::sync::atomic::{Ordering, fence};
use hal::chip::{ADMIN_WORDS, EVENT_RING_LEN, HostInterface};
use tock_registers::interfaces::{Readable, Writeable};

impl<const N: usize> Device<N> {
    pub(super) fn post_event(&mut self, hw: &HostInterface, event: Event) {
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

    pub(super) fn serve_admin(&mut self, hw: &HostInterface) {
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
                    self.link_changed(vf);
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
                    self.link_changed(vf);
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
                self.all_links_changed();
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
}
