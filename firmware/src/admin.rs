//! The PF administration protocol: what the PF driver can ask, mirroring
//! `ip link set DEV vf N ...` and `ip -s link show`.
//!
//! A request is up to 32 words in the admin block: word 0 = opcode (bits
//! 15:0) and VF number (bits 31:16, 0-based as `ip link` counts), then the
//! arguments. The response: word 0 = status (bits 31:16) and the opcode
//! echoed (bits 15:0), then the results. See docs/pf-admin.md.

/// Admin opcodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u16)]
pub enum Opcode {
    /// → [`info`] words.
    GetInfo = 0x01,
    /// [1..2] MAC (zero clears the administered MAC).
    SetVfMac = 0x02,
    /// [1] VID (0 clears), [2] QoS 0..7, [3] protocol ethertype 0x8100/0x88a8.
    SetVfVlan = 0x03,
    /// [1] min Mb/s, [2] max Mb/s (0 = no limit).
    SetVfRate = 0x04,
    /// [1] 0/1.
    SetVfSpoofCheck = 0x05,
    /// [1] 0/1.
    SetVfTrust = 0x06,
    /// [1] 0 auto, 1 enable, 2 disable.
    SetVfLinkState = 0x07,
    /// [1] 0/1.
    SetVfQueryRss = 0x08,
    /// → [`vf_config`] words.
    GetVfConfig = 0x09,
    /// → [`vf_stats`] words.
    GetVfStats = 0x0a,
    /// [1] 0 VEB, 1 VEPA.
    SetBridgeMode = 0x0b,
    /// Send a ping (control message with CTS) to every clear-to-send VF.
    PingVfs = 0x0c,
    /// Restore one VF's administered settings to the defaults (VF number
    /// 0xffff: all VFs).
    ResetVfConfig = 0x0d,
    /// [1..2] the PF's own MAC (VFs reach the PF through the switch).
    SetPfMac = 0x0e,
    /// → drops by reason for a port: VF number, [`PF_PORT`] or
    /// [`UPLINK_PORT`]; one word per reason (low 32 bits), in
    /// `DropReason` order.
    GetDrops = 0x0f,
    /// Stop serving: the firmware answers, then ends its run (under QEMU:
    /// exit status 0). For test harnesses and orderly power-down.
    Shutdown = 0x10,
    /// Release a quarantined VF: it starts over, awaiting its reset.
    ReleaseVf = 0x11,
}

impl Opcode {
    pub fn from_code(v: u16) -> Option<Self> {
        use Opcode::*;
        [
            GetInfo,
            SetVfMac,
            SetVfVlan,
            SetVfRate,
            SetVfSpoofCheck,
            SetVfTrust,
            SetVfLinkState,
            SetVfQueryRss,
            GetVfConfig,
            GetVfStats,
            SetBridgeMode,
            PingVfs,
            ResetVfConfig,
            SetPfMac,
            GetDrops,
            Shutdown,
            ReleaseVf,
        ]
        .into_iter()
        .find(|o| *o as u16 == v)
    }

    /// Words a request of this opcode needs (word 0 included).
    pub const fn request_words(self) -> usize {
        match self {
            Opcode::GetInfo | Opcode::GetVfConfig | Opcode::GetVfStats | Opcode::GetDrops => 1,
            Opcode::PingVfs | Opcode::ResetVfConfig | Opcode::Shutdown | Opcode::ReleaseVf => 1,
            Opcode::SetVfMac | Opcode::SetVfRate | Opcode::SetPfMac => 3,
            Opcode::SetVfVlan => 4,
            _ => 2,
        }
    }

    /// Whether word 0's VF field must name an enabled VF.
    pub const fn takes_vf(self) -> bool {
        !matches!(
            self,
            Opcode::GetInfo
                | Opcode::SetBridgeMode
                | Opcode::PingVfs
                | Opcode::ResetVfConfig
                | Opcode::SetPfMac
                | Opcode::GetDrops
                | Opcode::Shutdown
        )
    }
}

/// Response status: what went wrong, not just whether.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u16)]
pub enum Status {
    Ok = 0,
    UnknownOpcode = 1,
    /// Fewer words than the opcode needs, or more than the block holds.
    BadLength = 2,
    /// No such VF: at or beyond NumVFs (or VFs not enabled).
    InvalidVf = 3,
    /// An argument out of range (MAC, VID, QoS, protocol, rate, mode).
    InvalidArgument = 4,
    /// A shared table is full.
    NoSpace = 5,
    /// Valid, but this device cannot do it.
    NotSupported = 6,
}

impl Status {
    pub fn from_code(v: u16) -> Option<Self> {
        use Status::*;
        [
            Ok,
            UnknownOpcode,
            BadLength,
            InvalidVf,
            InvalidArgument,
            NoSpace,
            NotSupported,
        ]
        .into_iter()
        .find(|s| *s as u16 == v)
    }
}

/// The VF field value that means "all VFs" (ResetVfConfig).
pub const ALL_VFS: u16 = 0xffff;
/// GetDrops: the PF's own port.
pub const PF_PORT: u16 = 0xfffe;
/// GetDrops: the uplink.
pub const UPLINK_PORT: u16 = 0xfffd;

/// Bridge modes (`bridge link set ... hwmode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BridgeMode {
    /// Local switching between the vports (default).
    Veb = 0,
    /// Everything a VF sends goes to the wire.
    Vepa = 1,
}

/// GetInfo response word indices.
pub mod info {
    pub const TOTAL_VFS: usize = 1;
    pub const VFS_ENABLED: usize = 2;
    pub const QUEUE_PAIRS_PER_VF: usize = 3;
    pub const MAC_FILTERS: usize = 4;
    pub const MAC_FILTERS_USED: usize = 5;
    pub const VLAN_FILTERS: usize = 6;
    pub const VLAN_FILTERS_USED: usize = 7;
    pub const MULTICAST_HASHES: usize = 8;
    pub const MULTICAST_HASHES_USED: usize = 9;
    pub const BRIDGE_MODE: usize = 10;
    pub const UPLINK_UP: usize = 11;
    pub const MAX_MACVLANS_PER_VF: usize = 12;
    pub const MAX_VLANS_PER_VF: usize = 13;
    pub const MAX_MC_HASHES_PER_VF: usize = 14;
    pub const WORDS: usize = 15;
}

/// GetVfConfig response word indices.
pub mod vf_config {
    /// The VF's current MAC (administered or its own), words 1-2.
    pub const MAC_LO: usize = 1;
    pub const MAC_HI: usize = 2;
    /// 1 if the PF administered the MAC.
    pub const MAC_ADMINISTERED: usize = 3;
    /// Port VLAN: VID (0 = none), QoS, protocol ethertype.
    pub const VLAN: usize = 4;
    pub const QOS: usize = 5;
    pub const VLAN_PROTO: usize = 6;
    pub const MIN_TX_RATE: usize = 7;
    pub const MAX_TX_RATE: usize = 8;
    /// Bit 0 spoof check, bit 1 trust, bit 2 query_rss.
    pub const FLAGS: usize = 9;
    pub const LINK_STATE: usize = 10;
    /// 0 disabled, 1 awaiting reset, 2 clear to send, 3 active.
    pub const LIFECYCLE: usize = 11;
    /// Negotiated mailbox API (wire value).
    pub const API: usize = 12;
    pub const XCAST: usize = 13;
    pub const MAX_FRAME: usize = 14;
    pub const VLANS: usize = 15;
    pub const MC_HASHES: usize = 16;
    pub const MACVLANS: usize = 17;
    /// 1 if the VF's link is up now.
    pub const LINK_UP: usize = 18;
    /// Mailbox counters.
    pub const MBX_REQUESTS: usize = 19;
    pub const MBX_NACKS: usize = 20;
    pub const MBX_MALFORMED: usize = 21;
    pub const MBX_VIOLATIONS: usize = 22;
    pub const MBX_BEFORE_CTS: usize = 23;
    pub const RESETS: usize = 24;
    pub const XCAST_DOWNGRADES: usize = 25;
    /// Messages refused by the mailbox rate limit.
    pub const MBX_RATE_LIMITED: usize = 26;
    pub const WORDS: usize = 27;

    pub const FLAG_SPOOF_CHECK: u32 = 1;
    pub const FLAG_TRUST: u32 = 2;
    pub const FLAG_QUERY_RSS: u32 = 4;
}

/// GetVfStats response: eight 64-bit counters, low word first.
pub mod vf_stats {
    pub const RX_BYTES: usize = 1;
    pub const RX_PACKETS: usize = 3;
    pub const RX_MULTICAST: usize = 5;
    pub const RX_BROADCAST: usize = 7;
    pub const RX_DROPPED: usize = 9;
    pub const TX_BYTES: usize = 11;
    pub const TX_PACKETS: usize = 13;
    pub const TX_DROPPED: usize = 15;
    pub const WORDS: usize = 17;
}

/// Largest rate `SetVfRate` accepts (Mb/s): 400G.
pub const MAX_RATE_MBPS: u32 = 400_000;
