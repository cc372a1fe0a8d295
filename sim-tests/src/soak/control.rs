//! The soak's control operations: what the PF administers, what the VF
//! drivers ask for, resets, FLRs, VF enable and disable, uplink flaps;
//! and bringing every VF that needs it back up, as its driver would.

use super::{Admin, BUF_KIB, DESCRIPTORS, GROUPS, QUEUES, Soak, SoakTarget, VIDS};
use crate::drivers::queues::Rings;
use crate::reference::Port;
use firmware::admin::BridgeMode;
use firmware::drops::DropReason;
use firmware::mac::Mac;
use firmware::vf::{LinkState, VlanProto};
use hal::ixgbe::XcastMode;

/// Bring-ups tried while the VF reset times out, under real time (ixgbevf
/// gives the PF 1 ms, then its watchdog tries again every 2 s for as long
/// as it takes; QEMU on a loaded host can miss the 1 ms many times over).
/// Each try is a reset: 30 in 0.6 s stay under the reset-storm limit.
const REAL_TIME_RESET_TRIES: u32 = 30;
/// How long the firmware may take to see the uplink's new link, in polls
/// of 1 ms.
const UPLINK_POLLS: u32 = 2_000;

/// The operations, and how often each is drawn.
const OPS: [(&str, u64); 15] = [
    ("vf-reset", 8),
    ("flr", 5),
    ("set-vf-mac", 5),
    ("port-vlan", 6),
    ("trust", 6),
    ("link-state", 6),
    ("rate", 5),
    ("spoofchk", 6),
    ("vf-vlan", 8),
    ("vf-multicast", 6),
    ("vf-xcast", 6),
    ("vf-lpe", 5),
    ("bridge-mode", 2),
    ("uplink-flap", 4),
    ("sriov", 2),
];

impl<H: SoakTarget> Soak<'_, H> {
    /// One control operation, then every VF that needs it brought back up.
    pub(super) fn control(&mut self) -> Result<(), String> {
        let weights: Vec<u64> = OPS.iter().map(|(_, w)| *w).collect();
        let mut op = OPS[self.rng.weighted(&weights)].0;
        // The uplink comes back sooner than it goes: most of the time the
        // wire carries traffic.
        if !self.uplink_up && self.rng.chance(30) {
            op = "uplink-flap";
        }
        // With no VF enabled, only what concerns the device.
        if self.enabled == 0 && !matches!(op, "bridge-mode" | "uplink-flap") {
            op = "sriov";
        }
        *self.report.op_counts.entry(op).or_default() += 1;
        let i = self.rng.below(self.enabled.max(1) as u64) as usize;
        let n = i as u16;
        self.action = format!("{op} (vf {i})");
        let pf_err = |e: crate::drivers::pf::PfError| format!("{op} on vf {i}: {e}");
        let vf_err = |e: crate::drivers::vf::VfError| {
            format!("vf {i} did not answer its mailbox ({op}): {e}")
        };
        match op {
            "vf-reset" => self.bring_up(i)?,
            "flr" => {
                let rid = self.pf.vf_rid(self.h, n);
                self.pf.flr(self.h, rid).map_err(pf_err)?;
                self.bring_up(i)?;
            }
            "set-vf-mac" => {
                let mac = if self.rng.chance(20) {
                    Mac::ZERO
                } else {
                    let r = self.rng.below(1 << 32) as u32;
                    Mac([
                        0x02,
                        0x5a,
                        (r >> 24) as u8,
                        (r >> 16) as u8,
                        (r >> 8) as u8,
                        r as u8,
                    ])
                };
                self.action = format!("set-vf-mac vf {i} {mac}");
                self.pf.set_vf_mac(self.h, n, mac).map_err(pf_err)?;
            }
            "port-vlan" => {
                let vid = self.rng.pick(&[0, VIDS[0], VIDS[2]]);
                self.action = format!("port-vlan vf {i} {vid}");
                self.pf
                    .set_vf_vlan(self.h, n, vid, 0, VlanProto::Dot1Q)
                    .map_err(pf_err)?;
                self.admin(i).port_vlan = (vid != 0).then_some(vid);
            }
            "trust" => {
                let on = !self.admin(i).trust;
                self.action = format!("trust vf {i} {on}");
                self.pf.set_vf_trust(self.h, n, on).map_err(pf_err)?;
                self.admin(i).trust = on;
            }
            "link-state" => {
                let s = self
                    .rng
                    .pick(&[LinkState::Auto, LinkState::Enable, LinkState::Disable]);
                self.action = format!("link-state vf {i} {s:?}");
                self.pf.set_vf_link_state(self.h, n, s).map_err(pf_err)?;
                self.admin(i).link = s;
            }
            "rate" => {
                let max = self.rng.pick(&[0, 100, 1_000, 10_000]);
                self.action = format!("rate vf {i} max {max}");
                self.pf.set_vf_rate(self.h, n, 0, max).map_err(pf_err)?;
                self.admin(i).max_rate = max;
            }
            "spoofchk" => {
                let on = !self.admin(i).spoofchk;
                self.action = format!("spoofchk vf {i} {on}");
                self.pf.set_vf_spoofchk(self.h, n, on).map_err(pf_err)?;
                self.admin(i).spoofchk = on;
            }
            "vf-vlan" => {
                let vid = self.rng.pick(&VIDS);
                let v = &mut self.vfs[i];
                let add = !v.wants.vlans.contains(&vid);
                self.action = format!(
                    "vf-vlan vf {i} {vid} {}",
                    if add { "add" } else { "remove" }
                );
                if add {
                    v.wants.vlans.push(vid);
                } else {
                    v.wants.vlans.retain(|x| *x != vid);
                }
                self.vf_vlan(i, vid, add).map_err(vf_err)?;
            }
            "vf-multicast" => {
                let groups: Vec<Mac> = GROUPS[..3]
                    .iter()
                    .copied()
                    .filter(|_| self.rng.chance(50))
                    .collect();
                self.action = format!("vf-multicast vf {i} {} groups", groups.len());
                self.vfs[i].wants.groups = groups.clone();
                let v = &mut self.vfs[i];
                v.driver.set_multicast(self.h, &groups).map_err(vf_err)?;
                v.view.groups = groups;
            }
            "vf-xcast" => {
                let mode = self.rng.pick(&[
                    XcastMode::None,
                    XcastMode::Multi,
                    XcastMode::AllMulti,
                    XcastMode::Promisc,
                ]);
                self.action = format!("vf-xcast vf {i} {mode:?}");
                let v = &mut self.vfs[i];
                v.wants.xcast = mode;
                v.view.xcast = v.driver.update_xcast(self.h, mode).map_err(vf_err)?;
            }
            "vf-lpe" => {
                let lpe = self.rng.pick(&[1518, 9018]);
                self.action = format!("vf-lpe vf {i} {lpe}");
                let v = &mut self.vfs[i];
                v.wants.lpe = lpe;
                v.driver.set_lpe(self.h, lpe).map_err(vf_err)?;
                v.view.max_frame = lpe as usize;
            }
            "bridge-mode" => {
                self.veb = !self.veb;
                let mode = if self.veb {
                    BridgeMode::Veb
                } else {
                    BridgeMode::Vepa
                };
                self.action = format!("bridge-mode {mode:?}");
                self.pf
                    .set_bridge_mode(self.h, mode)
                    .map_err(|e| format!("bridge-mode: {e}"))?;
            }
            "uplink-flap" => {
                let up = !self.uplink_up;
                self.action = format!("uplink {}", if up { "up" } else { "down" });
                self.set_uplink(up)?;
            }
            _ => {
                let n = self.rng.range(1, self.vfs.len());
                self.action = format!("sriov: disable, then enable {n}");
                self.disable()?;
                if self.rng.chance(20) {
                    // A while with no VFs at all.
                    self.action = "sriov: disable".into();
                } else {
                    self.enable(n)?;
                }
            }
        }
        self.sync()
    }

    fn admin(&mut self, i: usize) -> &mut Admin {
        self.vfs[i]
            .admin
            .as_mut()
            .expect("an enabled VF's settings are known")
    }

    /// SET_VLAN, recorded when the firmware grants it.
    fn vf_vlan(
        &mut self,
        i: usize,
        vid: u16,
        add: bool,
    ) -> Result<(), crate::drivers::vf::VfError> {
        let v = &mut self.vfs[i];
        match v.driver.set_vlan(self.h, vid, add) {
            Ok(()) => {
                v.view.vlans.retain(|x| *x != vid);
                if add {
                    v.view.vlans.push(vid);
                }
                Ok(())
            }
            // Refused (a port VLAN is set): nothing changed.
            Err(crate::drivers::vf::VfError::Nack(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The uplink's link, and waiting until the firmware sees it.
    pub(super) fn set_uplink(&mut self, up: bool) -> Result<(), String> {
        self.h.set_uplink(up);
        for _ in 0..UPLINK_POLLS {
            let info = self.pf.info(self.h).map_err(|e| format!("GetInfo: {e}"))?;
            if info.uplink_up == up {
                self.uplink_up = up;
                // VFs whose link follows the uplink were told: their
                // drivers look at the link, as ixgbevf's watchdog does.
                for v in &mut self.vfs[..self.enabled] {
                    let _ = v.driver.check_link(self.h);
                }
                return Ok(());
            }
            self.h.delay_us(1_000);
        }
        Err(format!(
            "the firmware did not see the uplink go {} within {} ms",
            if up { "up" } else { "down" },
            UPLINK_POLLS
        ))
    }

    /// `echo 0 > sriov_numvfs`.
    fn disable(&mut self) -> Result<(), String> {
        self.pf
            .sriov_configure(self.h, 0)
            .map_err(|e| format!("disabling the VFs: {e}"))?;
        for i in 0..self.enabled {
            self.last_drops.remove(&Port::Vf(i));
        }
        self.enabled = 0;
        Ok(())
    }

    /// `echo n > sriov_numvfs`, and every VF's driver loads.
    pub(super) fn enable(&mut self, n: usize) -> Result<(), String> {
        self.pf
            .sriov_configure(self.h, n as u16)
            .map_err(|e| format!("enabling {n} VFs: {e}"))?;
        self.enabled = n;
        for i in 0..n {
            let v = &mut self.vfs[i];
            // A VF's counters start again at 0 when it is enabled.
            v.sent = 0;
            v.received = 0;
            v.predicted = [0; DropReason::COUNT];
            self.last_drops
                .insert(Port::Vf(i), vec![0; DropReason::COUNT]);
            if v.admin.is_none() {
                // Its first time: the firmware's defaults.
                let info = self
                    .pf
                    .vf_info(self.h, i as u16)
                    .map_err(|e| format!("GetVfConfig vf {i}: {e}"))?;
                self.vfs[i].admin = Some(Admin {
                    spoofchk: info.spoof_check,
                    trust: info.trust,
                    link: info.link_state,
                    port_vlan: (info.vlan != 0).then_some(info.vlan),
                    max_rate: info.max_tx_rate,
                });
            }
            self.bring_up(i)?;
        }
        Ok(())
    }

    /// The VF's driver (re)starts: reset, bring-up, rings, and what it
    /// asks for; the reference's view of it follows what was granted.
    pub(super) fn bring_up(&mut self, i: usize) -> Result<(), String> {
        let rid = self.pf.vf_rid(self.h, i as u16);
        let tries = if self.h.real_time() {
            REAL_TIME_RESET_TRIES
        } else {
            1
        };
        let v = &mut self.vfs[i];
        v.driver.rid = rid;
        let up = v
            .driver
            .bring_up_retrying(self.h, tries)
            .map_err(|e| format!("vf {i} did not come up: {e}"))?;
        match v.rings.as_mut() {
            Some(r) => r.restart(self.h, rid),
            None => {
                v.rings = Some(
                    Rings::setup(self.h, rid, 0, QUEUES, DESCRIPTORS, BUF_KIB, false)
                        .map_err(|e| format!("vf {i}'s rings: {e}"))?,
                )
            }
        }
        let admin = v.admin.clone().expect("an enabled VF's settings are known");
        let view = &mut v.view;
        view.mac = up.mac;
        view.spoofchk = admin.spoofchk;
        view.port_vlan = admin.port_vlan;
        view.link = admin.link;
        view.trusted = admin.trust;
        // What the bring-up leaves: VLAN 0 (or the port VLAN), MULTI, no
        // groups, the default max frame.
        view.vlans = vec![admin.port_vlan.unwrap_or(0)];
        view.xcast = XcastMode::Multi;
        view.groups.clear();
        view.max_frame = 1518;
        let wants = v.wants.clone();
        let vf_err = |e: crate::drivers::vf::VfError| format!("vf {i} after bring-up: {e}");
        for vid in &wants.vlans {
            self.vf_vlan(i, *vid, true).map_err(vf_err)?;
        }
        let v = &mut self.vfs[i];
        v.driver
            .set_multicast(self.h, &wants.groups)
            .map_err(vf_err)?;
        v.view.groups = wants.groups.clone();
        v.view.xcast = v.driver.update_xcast(self.h, wants.xcast).map_err(vf_err)?;
        v.driver.set_lpe(self.h, wants.lpe).map_err(vf_err)?;
        v.view.max_frame = wants.lpe as usize;
        Ok(())
    }

    /// After an operation: the PF's settings are what it set, no VF is
    /// quarantined, and a VF the firmware reset (an administrative change
    /// does) is brought up again by its driver.
    fn sync(&mut self) -> Result<(), String> {
        for i in 0..self.enabled {
            let info = self
                .pf
                .vf_info(self.h, i as u16)
                .map_err(|e| format!("GetVfConfig vf {i}: {e}"))?;
            let admin = self.vfs[i].admin.clone().expect("known once enabled");
            let reported = Admin {
                spoofchk: info.spoof_check,
                trust: info.trust,
                link: info.link_state,
                port_vlan: (info.vlan != 0).then_some(info.vlan),
                max_rate: info.max_tx_rate,
            };
            if reported != admin {
                return Err(format!(
                    "vf {i}: the PF set {admin:?}, the firmware reports {reported:?}"
                ));
            }
            match info.lifecycle {
                4 => return Err(format!("vf {i} was quarantined: {info:?}")),
                2 | 3 => {}
                _ => self.bring_up(i)?,
            }
        }
        Ok(())
    }
}
