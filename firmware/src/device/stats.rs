//! What the device counts and reports: its own counters, and the answers
//! to the admin channel's GetInfo, GetVfConfig and GetVfStats.

use super::Device;
use crate::admin;
use crate::mac::Mac;
use crate::vf::{self, VlanProto};
use hal::chip::ADMIN_WORDS;

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
    /// Unicast claims the classifier's table had no room for at a rebuild
    /// (the MAC filter pool keeps it from happening: nonzero is a bug).
    pub classifier_refused: u64,
    /// Times the classifier was rebuilt (after a change of what it is
    /// built from: VF filters, resets, SR-IOV, admin requests, the uplink).
    pub classifier_rebuilds: u64,
}

impl<const N: usize> Device<N> {
    pub(super) fn info(&self, r: &mut [u32; ADMIN_WORDS]) {
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

    pub(super) fn vf_config(&self, vf: usize, r: &mut [u32; ADMIN_WORDS]) {
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

    pub(super) fn vf_stats(&self, vf: usize, r: &mut [u32; ADMIN_WORDS]) {
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
