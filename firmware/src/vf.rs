//! A VF's state: what the PF administered (kept across VF resets), what the
//! VF driver configured (cleared by every reset), and where it is in its
//! life.

use crate::mac::Mac;
use hal::ixgbe::{MbxApi, XcastMode};

/// Extra MAC addresses (SET_MACVLAN) one VF may hold. The 82599's PF
/// driver allows about 16 shared between all VFs; ours are per VF, drawn
/// from the board's `mac_filters` pool.
pub const MAX_MACVLANS_PER_VF: usize = 32;
/// VLAN filters one VF may hold (each distinct VID across all functions
/// takes one entry of the board's `vlan_filters` pool).
pub const MAX_VLANS_PER_VF: usize = 64;
/// Multicast hashes one VF may hold: what one SET_MULTICAST can carry.
pub const MAX_MC_HASHES_PER_VF: usize = hal::ixgbe::mbx::MAX_MULTICAST_HASHES;
/// Largest frame SET_LPE accepts (the 82599's jumbo limit).
pub const MAX_FRAME: u32 = 9728;
/// Smallest frame SET_LPE accepts: the minimum MTU (68) plus the header.
pub const MIN_FRAME: u32 = 68 + 18;
/// Frame size before the VF asks for more (1500-byte MTU).
pub const DEFAULT_MAX_FRAME: u16 = 1518;

/// Where a VF is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Lifecycle {
    /// Not enabled (beyond NumVFs, or VF Enable clear).
    Disabled,
    /// Enabled or reset; every message but VF_RESET gets a NACK.
    AwaitingReset,
    /// VF_RESET answered: the VF may configure itself.
    ClearToSend,
    /// The VF driver has configured something after its reset: it is up.
    Active,
    /// Stopped for misbehaving (mailbox flood, reset storm) until the PF
    /// releases it: every message is refused, all its traffic dropped.
    Quarantined,
}

impl Lifecycle {
    pub const fn code(self) -> u32 {
        match self {
            Self::Disabled => 0,
            Self::AwaitingReset => 1,
            Self::ClearToSend => 2,
            Self::Active => 3,
            Self::Quarantined => 4,
        }
    }

    pub const fn clear_to_send(self) -> bool {
        matches!(self, Self::ClearToSend | Self::Active)
    }
}

/// `ip link set ... vf N state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LinkState {
    /// Follow the uplink.
    Auto = 0,
    /// Up even when the uplink is down (VF↔VF traffic keeps flowing).
    Enable = 1,
    /// Down: all of the VF's traffic is dropped.
    Disable = 2,
}

impl LinkState {
    pub fn from_code(v: u32) -> Option<Self> {
        [Self::Auto, Self::Enable, Self::Disable]
            .into_iter()
            .find(|s| *s as u32 == v)
    }
}

/// The tag protocol of a port VLAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum VlanProto {
    Dot1Q,
    Dot1AD,
}

impl VlanProto {
    pub const fn ethertype(self) -> u16 {
        match self {
            Self::Dot1Q => 0x8100,
            Self::Dot1AD => 0x88a8,
        }
    }

    pub fn from_ethertype(v: u32) -> Option<Self> {
        match v {
            0x8100 => Some(Self::Dot1Q),
            0x88a8 => Some(Self::Dot1AD),
            _ => None,
        }
    }
}

/// A port VLAN: inserted on the VF's transmit, stripped on its receive;
/// the VF may not choose VLANs itself while one is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PortVlan {
    pub vid: u16,
    pub qos: u8,
    /// The tag's EtherType ([`VlanProto::ethertype`]). A plain number, not
    /// the enum: the enum's spare values would encode `None` in an
    /// `Option<PortVlan>`, and a never-used VF slot would not be all zeros.
    pub tpid: u16,
}

/// What the PF administered for this VF. Survives VF resets and FLR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdminConfig {
    /// Set by the PF: the VF may not change it unless trusted.
    pub mac: Option<Mac>,
    pub port_vlan: Option<PortVlan>,
    pub spoof_check: bool,
    pub trust: bool,
    pub link_state: LinkState,
    /// Mb/s, 0 = no limit.
    pub min_tx_rate: u32,
    pub max_tx_rate: u32,
    pub query_rss: bool,
}

impl AdminConfig {
    /// The defaults when VFs are enabled: spoof check on, trust off,
    /// query_rss off, link auto.
    pub const DEFAULT: AdminConfig = AdminConfig {
        mac: None,
        port_vlan: None,
        spoof_check: true,
        trust: false,
        link_state: LinkState::Auto,
        min_tx_rate: 0,
        max_tx_rate: 0,
        query_rss: false,
    };
}

/// A set of VLAN IDs, one bit each, with a summary word (bit `i` set:
/// word `i` has a VID), so that an empty set, and a walk of a set with a
/// few VIDs, cost one word rather than 64.
#[derive(Clone, PartialEq, Eq)]
pub struct VlanSet {
    words: [u64; 64],
    summary: u64,
}

impl VlanSet {
    pub const EMPTY: VlanSet = VlanSet {
        words: [0; 64],
        summary: 0,
    };

    pub fn contains(&self, vid: u16) -> bool {
        let vid = usize::from(vid & 0xfff);
        self.words[vid / 64] & (1 << (vid % 64)) != 0
    }

    /// Returns whether it was newly added.
    pub fn insert(&mut self, vid: u16) -> bool {
        let vid = usize::from(vid & 0xfff);
        let was = self.words[vid / 64] & (1 << (vid % 64)) != 0;
        self.words[vid / 64] |= 1 << (vid % 64);
        self.summary |= 1 << (vid / 64);
        !was
    }

    /// Returns whether it was present.
    pub fn remove(&mut self, vid: u16) -> bool {
        let vid = usize::from(vid & 0xfff);
        let w = &mut self.words[vid / 64];
        let was = *w & (1 << (vid % 64)) != 0;
        *w &= !(1 << (vid % 64));
        if *w == 0 {
            self.summary &= !(1 << (vid / 64));
        }
        was
    }

    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.summary == 0
    }

    /// The VIDs, lowest first: the summary's words and their set bits, not
    /// a test of each of the 4096 VIDs (a VF reset releases its VLANs
    /// through this, and the pool audit counts them).
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        let mut words = self.summary;
        let mut at = 0usize;
        let mut bits = 0u64;
        core::iter::from_fn(move || {
            while bits == 0 {
                if words == 0 {
                    return None;
                }
                at = words.trailing_zeros() as usize;
                words &= words - 1;
                bits = self.words[at];
            }
            let b = bits.trailing_zeros() as u16;
            bits &= bits - 1;
            Some(at as u16 * 64 + b)
        })
    }
}

/// What the VF driver configured. Cleared by every reset.
#[derive(Clone)]
pub struct OperConfig {
    /// The VF's current MAC (the admin one, or its own request).
    pub mac: Option<Mac>,
    pub api: MbxApi,
    pub xcast: XcastMode,
    pub max_frame: u16,
    pub vlans: VlanSet,
    pub mc_hashes: heapless::Vec<u16, MAX_MC_HASHES_PER_VF>,
    pub macvlans: heapless::Vec<Mac, MAX_MACVLANS_PER_VF>,
}

impl OperConfig {
    pub const RESET: OperConfig = OperConfig {
        mac: None,
        api: MbxApi::V1_0,
        xcast: XcastMode::None,
        max_frame: DEFAULT_MAX_FRAME,
        vlans: VlanSet::EMPTY,
        mc_hashes: heapless::Vec::new(),
        macvlans: heapless::Vec::new(),
    };
}

/// Mailbox and lifecycle counters of one VF (`ip -s link` has no place for
/// them; the admin query returns them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailboxCounters {
    pub requests: u32,
    pub acks: u32,
    pub nacks: u32,
    /// Messages refused before clear-to-send.
    pub before_cts: u32,
    /// Unknown IDs, bad lengths or counts, out-of-range values.
    pub malformed: u32,
    /// Protocol violations the hardware reported.
    pub violations: u32,
    pub resets: u32,
    pub xcast_downgrades: u32,
    /// Messages refused by the mailbox rate limit.
    pub rate_limited: u32,
}

impl MailboxCounters {
    pub const ZERO: MailboxCounters = MailboxCounters {
        requests: 0,
        acks: 0,
        nacks: 0,
        before_cts: 0,
        malformed: 0,
        violations: 0,
        resets: 0,
        xcast_downgrades: 0,
        rate_limited: 0,
    };
}

/// One VF.
#[derive(Clone)]
pub struct Vf {
    pub lifecycle: Lifecycle,
    pub admin: AdminConfig,
    pub oper: OperConfig,
    pub mailbox: MailboxCounters,
    /// A control message waits for the mailbox to be idle.
    pub pending_control: Option<u32>,
    /// Mailbox token bucket (messages) and when it was last refilled.
    pub mbx_tokens: u32,
    pub mbx_at_ns: u64,
    /// Resets in the current one-second window, and when it started.
    pub resets_in_window: u32,
    pub reset_window_ns: u64,
    /// Set up with the defaults ([`Vf::NEW`]): the first time the VF is
    /// enabled. Until then the slot is [`Vf::UNUSED`], all zeros.
    pub set_up: bool,
}

/// What of a VF the classifier is built from: whether it takes part, its
/// unicast claims, and its multicast mode and hashes. The device rebuilds
/// the classifier from these alone, and compares them before and after it
/// serves a VF, so that only what changes them costs a rebuild.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassifierInputs {
    /// Disabled or quarantined: none of its filters apply.
    pub excluded: bool,
    pub mac: Option<Mac>,
    pub macvlans: heapless::Vec<Mac, MAX_MACVLANS_PER_VF>,
    pub xcast: XcastMode,
    pub mc_hashes: heapless::Vec<u16, MAX_MC_HASHES_PER_VF>,
}

impl Vf {
    /// Disabled or quarantined: the classifier leaves out all its filters.
    pub fn classifier_excluded(&self) -> bool {
        matches!(self.lifecycle, Lifecycle::Disabled | Lifecycle::Quarantined)
    }

    pub fn classifier_inputs(&self) -> ClassifierInputs {
        ClassifierInputs {
            excluded: self.classifier_excluded(),
            mac: self.oper.mac,
            macvlans: self.oper.macvlans.clone(),
            xcast: self.oper.xcast,
            mc_hashes: self.oper.mc_hashes.clone(),
        }
    }
}

/// The misbehaviour policy (docs/robustness.md).
pub mod policy {
    /// Mailbox messages a VF may send per second, sustained.
    pub const MBX_PER_SECOND: u64 = 2_000;
    /// ...and in a burst (a bring-up takes about 20).
    pub const MBX_BURST: u32 = 256;
    /// Refused messages (beyond the rate) that quarantine the VF.
    pub const MBX_REFUSED_TO_QUARANTINE: u32 = 1_024;
    /// Resets (VFCTRL.RST, FLR) within one second that quarantine the VF.
    pub const RESETS_PER_SECOND_TO_QUARANTINE: u32 = 64;
}

impl Vf {
    pub const NEW: Vf = Vf {
        lifecycle: Lifecycle::Disabled,
        admin: AdminConfig::DEFAULT,
        oper: OperConfig::RESET,
        mailbox: MailboxCounters::ZERO,
        pending_control: None,
        mbx_tokens: policy::MBX_BURST,
        mbx_at_ns: 0,
        resets_in_window: 0,
        reset_window_ns: 0,
        set_up: true,
    };

    /// A slot no VF has used yet: every field zero, so that a device's VF
    /// table is zero-initialised (the image's device then lives in .bss,
    /// not in the loaded image). Enabling the VF makes it [`Vf::NEW`].
    pub const UNUSED: Vf = Vf {
        lifecycle: Lifecycle::Disabled,
        admin: AdminConfig {
            mac: None,
            port_vlan: None,
            spoof_check: false,
            trust: false,
            link_state: LinkState::Auto,
            min_tx_rate: 0,
            max_tx_rate: 0,
            query_rss: false,
        },
        oper: OperConfig {
            mac: None,
            api: MbxApi::V1_0,
            xcast: XcastMode::None,
            max_frame: 0,
            vlans: VlanSet::EMPTY,
            mc_hashes: heapless::Vec::new(),
            macvlans: heapless::Vec::new(),
        },
        mailbox: MailboxCounters::ZERO,
        pending_control: None,
        mbx_tokens: 0,
        mbx_at_ns: 0,
        resets_in_window: 0,
        reset_window_ns: 0,
        set_up: false,
    };

    /// Whether the VF's link is up under its link-state policy.
    pub fn link_up(&self, uplink_up: bool) -> bool {
        !matches!(self.lifecycle, Lifecycle::Disabled | Lifecycle::Quarantined)
            && match self.admin.link_state {
                LinkState::Auto => uplink_up,
                LinkState::Enable => true,
                LinkState::Disable => false,
            }
    }

    /// Whether the VF is trusted (trusted VFs may change an administered
    /// MAC, add MACs, and get promiscuous modes).
    pub fn trusted(&self) -> bool {
        self.admin.trust
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_set() {
        let mut s = VlanSet::EMPTY;
        assert!(s.insert(100));
        assert!(!s.insert(100));
        assert!(s.insert(4095));
        assert!(s.contains(100) && s.contains(4095) && !s.contains(99));
        assert_eq!(s.len(), 2);
        assert_eq!(s.iter().collect::<std::vec::Vec<_>>(), [100, 4095]);
        for v in [0, 63, 64, 127, 128] {
            s.insert(v);
        }
        assert_eq!(
            s.iter().collect::<std::vec::Vec<_>>(),
            [0, 63, 64, 100, 127, 128, 4095],
            "word edges, lowest first"
        );
        for v in [0, 63, 64, 127, 128] {
            s.remove(v);
        }
        assert!(s.remove(100));
        assert!(!s.remove(100));
        assert_eq!(s.len(), 1);
        assert_eq!(s.iter().collect::<std::vec::Vec<_>>(), [4095]);
        assert!(!s.is_empty());
        s.remove(4095);
        // Emptied word by word: the same value as a set never used.
        assert!(s.is_empty() && s == VlanSet::EMPTY && s.iter().next().is_none());
    }

    #[test]
    fn link_policy() {
        let mut vf = Vf::NEW;
        assert!(!vf.link_up(true), "disabled VFs are down");
        vf.lifecycle = Lifecycle::Active;
        assert!(vf.link_up(true) && !vf.link_up(false));
        vf.admin.link_state = LinkState::Enable;
        assert!(vf.link_up(false));
        vf.admin.link_state = LinkState::Disable;
        assert!(!vf.link_up(true));
    }
}
