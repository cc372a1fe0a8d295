//! The checks after every step: each port's books and drop reasons, the
//! pools, and every VF's mailbox.

use super::{Soak, SoakTarget};
use crate::reference::Port;
use firmware::admin::{PF_PORT, UPLINK_PORT};
use firmware::drops::DropReason;
use firmware::vf::LinkState;
use std::collections::BTreeSet;

/// How a drop reason's count must relate to what the soak predicted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Exactly what the soak caused.
    Exact,
    /// At least that (the reason also has causes the soak does not track).
    AtLeast,
    /// Anything (a consequence of the configuration, not of one frame).
    Any,
    /// Never: the soak does nothing that causes it.
    Zero,
}

fn vf_rule(r: DropReason) -> Rule {
    use DropReason::*;
    match r {
        Runt | Oversize | SpoofMac | SpoofVlan => Rule::Exact,
        // Also on receive: a tag the strip cannot take, a frame over the
        // max frame, a link that is down.
        BadVlanHeader | Mtu | LinkDown => Rule::AtLeast,
        VlanFilter | NoRxBuffer => Rule::Any,
        NoDestination | RingDisabled | DmaFault | BadDescriptor | TailBeyondRing | UplinkDown
        | UplinkFull | Quarantined => Rule::Zero,
    }
}

fn uplink_rule(r: DropReason) -> Rule {
    use DropReason::*;
    match r {
        Runt | Oversize | BadVlanHeader | UplinkDown => Rule::Exact,
        UplinkFull => Rule::Any,
        // The PF takes unknown unicast, broadcast and multicast: there is
        // always a destination.
        _ => Rule::Zero,
    }
}

fn pf_rule(r: DropReason) -> Rule {
    match r {
        DropReason::NoRxBuffer => Rule::Any,
        _ => Rule::Zero,
    }
}

impl<H: SoakTarget> Soak<'_, H> {
    /// Every check, after a step has settled.
    pub(super) fn check(&mut self) -> Result<(), String> {
        for i in 0..self.enabled {
            let n = i as u16;
            let s = self
                .pf
                .vf_stats(self.h, n)
                .map_err(|e| format!("GetVfStats vf {i}: {e}"))?;
            let d = self.drops(n)?;
            let v = &self.vfs[i];
            if s.tx_packets + s.tx_dropped != v.sent {
                return Err(format!(
                    "vf {i} sent {} frames; the firmware counts {} sent + {} dropped",
                    v.sent, s.tx_packets, s.tx_dropped
                ));
            }
            if s.rx_packets != v.received {
                return Err(format!(
                    "vf {i}'s driver received {} frames; the firmware counts {} delivered",
                    v.received, s.rx_packets
                ));
            }
            let reasons: u64 = d.iter().map(|x| u64::from(*x)).sum();
            if reasons != s.rx_dropped + s.tx_dropped {
                return Err(format!(
                    "vf {i}: drops by reason add up to {reasons}, its drops are {} received + {} sent",
                    s.rx_dropped, s.tx_dropped
                ));
            }
            let predicted = v.predicted;
            self.account(Port::Vf(i), &d, &predicted, vf_rule, DropReason::NoRxBuffer)?;
        }
        let d = self.drops(PF_PORT)?;
        self.account(
            Port::Pf,
            &d,
            &[0; DropReason::COUNT],
            pf_rule,
            DropReason::NoRxBuffer,
        )?;
        let d = self.drops(UPLINK_PORT)?;
        let predicted = self.uplink_predicted;
        self.account(
            Port::Wire,
            &d,
            &predicted,
            uplink_rule,
            DropReason::UplinkFull,
        )?;
        if let Some((port, n)) = self.missing.iter().find(|(_, n)| **n > 0) {
            return Err(format!(
                "{port}: {n} frame(s) the reference gives it neither arrived nor were counted as dropped there"
            ));
        }
        self.pools()?;
        self.mailboxes()?;
        self.h.inside_checks(&self.counted)
    }

    fn drops(&mut self, port: u16) -> Result<Vec<u32>, String> {
        self.pf
            .drops(self.h, port)
            .map_err(|e| format!("GetDrops {port:#x}: {e}"))
    }

    /// One port's drop reasons against the rules; what is missing there
    /// is taken off the new drops of reason `explains`.
    fn account(
        &mut self,
        port: Port,
        drops: &[u32],
        predicted: &[u64; DropReason::COUNT],
        rule: fn(DropReason) -> Rule,
        explains: DropReason,
    ) -> Result<(), String> {
        for r in DropReason::ALL {
            let (got, want) = (u64::from(drops[r as usize]), predicted[r as usize]);
            let ok = match rule(r) {
                Rule::Exact => got == want,
                Rule::AtLeast => got >= want,
                Rule::Any => true,
                Rule::Zero => got == 0,
            };
            if !ok {
                return Err(format!(
                    "{port}: {} drops counted {got}, the soak caused {want}{}",
                    r.name(),
                    if rule(r) == Rule::Zero {
                        " (it never should)"
                    } else {
                        ""
                    }
                ));
            }
        }
        let last = self
            .last_drops
            .insert(port, drops.to_vec())
            .unwrap_or_else(|| vec![0; DropReason::COUNT]);
        for r in DropReason::ALL {
            let new = u64::from(drops[r as usize].wrapping_sub(last[r as usize]));
            if new > 0 {
                *self.report.drops.entry(r.name()).or_default() += new;
            }
        }
        if let Some(m) = self.missing.get_mut(&port) {
            let new = u64::from(drops[explains as usize].wrapping_sub(last[explains as usize]));
            *m = m.saturating_sub(new);
        }
        Ok(())
    }

    /// The pools' books as the PF sees them: one MAC filter per VF (the
    /// soak adds no extra MACs), a multicast hash per group a VF
    /// registered, a VLAN filter per VLAN in use.
    fn pools(&mut self) -> Result<(), String> {
        let info = self.pf.info(self.h).map_err(|e| format!("GetInfo: {e}"))?;
        let views = &self.vfs[..self.enabled];
        let macs = self.enabled as u32;
        let hashes: usize = views.iter().map(|v| v.view.groups.len()).sum();
        let vlans: BTreeSet<u16> = views.iter().flat_map(|v| v.view.vlans.clone()).collect();
        for (what, used, held) in [
            ("MAC filters", info.mac_filters.0, macs),
            ("multicast hashes", info.multicast_hashes.0, hashes as u32),
            ("VLAN filters", info.vlan_filters.0, vlans.len() as u32),
        ] {
            if used != held {
                return Err(format!("pools: {used} {what} in use, the VFs hold {held}"));
            }
        }
        Ok(())
    }

    /// Every enabled VF (all are up) answers GET_LINK_STATE, with its
    /// link state.
    fn mailboxes(&mut self) -> Result<(), String> {
        for i in 0..self.enabled {
            let v = &mut self.vfs[i];
            let enabled = v.view.link != LinkState::Disable;
            match v.driver.get_link_state(self.h) {
                Ok(e) if e == enabled => {}
                Ok(e) => {
                    return Err(format!(
                        "vf {i}: GET_LINK_STATE says enabled={e}, its link state is {:?}",
                        v.view.link
                    ));
                }
                Err(e) => return Err(format!("vf {i} did not answer its mailbox: {e}")),
            }
        }
        Ok(())
    }
}
