//! A reference model of the switch, independent of the firmware: which
//! ports get a frame, with which tags, given the functions' configuration,
//! and why a function's frame goes nowhere. It parses with `etherparse`,
//! not with the firmware's parser. The switch property test
//! (`tests/switch_model.rs`) and the soak ([`crate::soak`]) hold the
//! firmware to it.
//!
//! What it models: the VF filters (MAC, broadcast, registered multicast
//! groups, xcast modes with trust), 802.1Q VLAN filters and port VLANs
//! (QoS 0), spoof check, link states against the uplink, max frame, VEB
//! and VEPA. Not modelled (callers do not send such frames): extra MACs,
//! 802.1ad tags, descriptor VLAN insertion, frames the PF sends.

use etherparse::{Ethernet2HeaderSlice, SingleVlanHeaderSlice};
use firmware::drops::DropReason;
use firmware::mac::Mac;
use firmware::vf::LinkState;
use hal::ixgbe::XcastMode;
use std::collections::BTreeMap;
use std::fmt;

/// A VF as the reference sees it: what the PF administered and what the
/// firmware granted its driver.
#[derive(Clone, Debug)]
pub struct VfView {
    pub mac: Mac,
    pub spoofchk: bool,
    /// An 802.1Q port VLAN (QoS 0).
    pub port_vlan: Option<u16>,
    pub link: LinkState,
    pub trusted: bool,
    /// The mode the firmware granted (not the one asked for).
    pub xcast: XcastMode,
    /// The VLAN filters the VF holds.
    pub vlans: Vec<u16>,
    /// The multicast groups it registered; groups a caller sends must
    /// have distinct hashes (the firmware filters by hash).
    pub groups: Vec<Mac>,
    /// SET_LPE: the largest frame, header and FCS counted, tags not.
    pub max_frame: usize,
}

/// A port of the switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Port {
    Wire,
    Pf,
    Vf(usize),
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Port::Wire => write!(f, "wire"),
            Port::Pf => write!(f, "pf"),
            Port::Vf(i) => write!(f, "vf{i}"),
        }
    }
}

/// The frames each port gets, as it gets them (tags pushed or stripped).
pub type Deliveries = BTreeMap<Port, Vec<Vec<u8>>>;

/// What becomes of one frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub deliveries: Deliveries,
    /// The sending VF dropped it, for this reason (nothing delivered).
    pub sender_drop: Option<DropReason>,
    /// It was for the wire, which is down (the uplink's `uplink-down`).
    pub uplink_down: bool,
}

/// The PF takes frames up to the data path's largest.
const PF_MAX_FRAME: usize = firmware::vf::MAX_FRAME as usize;

/// The switch's configuration at one moment.
pub struct Reference<'a> {
    pub vfs: &'a [VfView],
    pub pf_mac: Mac,
    pub uplink_up: bool,
    pub veb: bool,
}

/// The frame's length as max frame counts it: tags off, FCS on.
fn nominal_len(frame: &[u8]) -> usize {
    let mut tags = 0;
    while tags < 2 {
        let at = 12 + 4 * tags;
        match frame.get(at..at + 2) {
            Some([0x81, 0x00]) | Some([0x88, 0xa8]) => tags += 1,
            _ => break,
        }
    }
    frame.len() - 4 * tags + 4
}

impl Reference<'_> {
    fn link_up(&self, i: usize) -> bool {
        match self.vfs[i].link {
            LinkState::Enable => true,
            LinkState::Auto => self.uplink_up,
            LinkState::Disable => false,
        }
    }

    /// What VF `i` receives of `frame` (None: not accepted).
    pub fn vf_rx(&self, i: usize, frame: &[u8]) -> Option<Vec<u8>> {
        let c = &self.vfs[i];
        if !self.link_up(i) || c.link == LinkState::Disable {
            return None;
        }
        let eth = Ethernet2HeaderSlice::from_slice(frame).ok()?;
        let dst = Mac(eth.destination());
        let promisc = c.xcast == XcastMode::Promisc && c.trusted;
        let xcast = if c.trusted {
            c.xcast
        } else {
            c.xcast.min(XcastMode::Multi)
        };
        let accept = if dst == Mac::BROADCAST {
            true
        } else if dst.is_multicast() {
            let registered = c.groups.contains(&dst);
            (xcast >= XcastMode::Multi && registered) || xcast >= XcastMode::AllMulti
        } else {
            dst == c.mac || promisc
        };
        if !accept || nominal_len(frame) > c.max_frame {
            return None;
        }
        let tagged = eth.ether_type().0 == 0x8100;
        let vid = if tagged {
            Some(
                SingleVlanHeaderSlice::from_slice(&frame[14..])
                    .ok()?
                    .vlan_identifier()
                    .value(),
            )
        } else {
            None
        };
        match c.port_vlan {
            Some(pv) => (vid == Some(pv)).then(|| {
                let mut f = frame[..12].to_vec();
                f.extend_from_slice(&frame[16..]);
                f
            }),
            None => match vid {
                None | Some(0) => Some(frame.to_vec()),
                Some(v) => c.vlans.contains(&v).then(|| frame.to_vec()),
            },
        }
    }

    fn owner(&self, dst: Mac) -> bool {
        dst == self.pf_mac || self.vfs.iter().any(|v| v.mac == dst)
    }

    /// Where `frame` goes: from the wire (`from` None) or sent by VF
    /// `from`, which put the 802.1Q tag `vid` in it (if any).
    pub fn expect(&self, from: Option<usize>, vid: Option<u16>, frame: &[u8]) -> Deliveries {
        self.verdict(from, vid, frame).deliveries
    }

    /// [`expect`](Self::expect), with why a VF's frame went nowhere.
    pub fn verdict(&self, from: Option<usize>, vid: Option<u16>, frame: &[u8]) -> Verdict {
        let mut out = Verdict::default();
        let mut put = |port: Port, f: Vec<u8>| out.deliveries.entry(port).or_default().push(f);
        let dst = Mac(Ethernet2HeaderSlice::from_slice(frame)
            .expect("an Ethernet frame")
            .destination());
        let Some(s) = from else {
            let known = self.owner(dst);
            for i in 0..self.vfs.len() {
                if let Some(f) = self.vf_rx(i, frame) {
                    put(Port::Vf(i), f);
                }
            }
            if (dst.is_multicast() || dst == self.pf_mac || !known)
                && nominal_len(frame) <= PF_MAX_FRAME
            {
                put(Port::Pf, frame.to_vec());
            }
            return out;
        };
        let c = &self.vfs[s];
        if let Err(r) = self.egress(s, vid, frame) {
            out.sender_drop = Some(r);
            return out;
        }
        // The port VLAN is pushed as the outer tag.
        let wire = match c.port_vlan {
            Some(pv) => {
                let mut f = frame[..12].to_vec();
                f.extend_from_slice(&[0x81, 0x00, (pv >> 8) as u8, pv as u8]);
                f.extend_from_slice(&frame[12..]);
                f
            }
            None => frame.to_vec(),
        };
        let mut to_wire = true;
        if self.veb {
            let unicast_known = !dst.is_multicast() && self.owner(dst);
            for i in (0..self.vfs.len()).filter(|i| *i != s) {
                if let Some(f) = self.vf_rx(i, &wire) {
                    put(Port::Vf(i), f);
                }
            }
            if (dst.is_multicast() || dst == self.pf_mac) && nominal_len(&wire) <= PF_MAX_FRAME {
                put(Port::Pf, wire.clone());
            }
            to_wire = !unicast_known;
        }
        if to_wire {
            if self.uplink_up {
                put(Port::Wire, wire);
            } else {
                out.uplink_down = true;
            }
        }
        out
    }

    /// The sending VF's checks, in the firmware's order.
    fn egress(&self, s: usize, vid: Option<u16>, frame: &[u8]) -> Result<(), DropReason> {
        let c = &self.vfs[s];
        if !self.link_up(s) {
            return Err(DropReason::LinkDown);
        }
        if nominal_len(frame) > c.max_frame {
            return Err(DropReason::Mtu);
        }
        if c.spoofchk {
            let src = Mac(Ethernet2HeaderSlice::from_slice(frame)
                .expect("an Ethernet frame")
                .source());
            if src != c.mac {
                return Err(DropReason::SpoofMac);
            }
            let vid_ok = match (c.port_vlan, vid) {
                (Some(_), Some(_)) => false,
                (None, Some(v)) => c.vlans.contains(&v),
                _ => true,
            };
            if !vid_ok {
                return Err(DropReason::SpoofVlan);
            }
        }
        Ok(())
    }
}
