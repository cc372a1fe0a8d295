//! The PF driver: SR-IOV enable through configuration space, and the PF
//! administration of VFs through the admin channel in the PF BAR.

use crate::model::config::{self, offsets};
use crate::model::{PF_RID, pfreg};
use crate::transport::Transport;
use firmware::admin::{self, BridgeMode, Opcode, Status};
use firmware::events::{Event, NO_VF};
use firmware::mac::Mac;
use firmware::vf::{LinkState, VlanProto};
use std::fmt;

/// Where the PF driver puts BARs (any address in the PCIe window works;
/// the model decodes by function, not by address).
const PF_BAR_ADDRESS: u32 = 0xe000_0000;
const VF_BAR_ADDRESS: u32 = 0xe100_0000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PfError {
    NoDevice,
    NoSriovCapability,
    FirmwareNotReady,
    /// NumVFs must go to 0 before it changes to another non-zero value.
    Busy {
        current: u16,
    },
    TooManyVfs {
        asked: u16,
        total: u16,
    },
    /// The firmware answered with this status.
    Admin(Status),
    /// No answer in time (the firmware stopped?).
    Timeout(&'static str),
}

impl fmt::Display for PfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PfError::NoDevice => write!(f, "no device at the PF's routing ID"),
            PfError::NoSriovCapability => write!(f, "the PF has no SR-IOV capability"),
            PfError::FirmwareNotReady => write!(f, "the firmware did not report READY"),
            PfError::Busy { current } => {
                write!(f, "{current} VFs are enabled: set 0 before another number")
            }
            PfError::TooManyVfs { asked, total } => {
                write!(f, "{asked} VFs asked, TotalVFs is {total}")
            }
            PfError::Admin(s) => write!(f, "firmware refused: {s:?}"),
            PfError::Timeout(what) => write!(f, "timed out waiting for {what}"),
        }
    }
}

impl std::error::Error for PfError {}

/// One event from the firmware's ring, raw and decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRecord {
    pub kind: u32,
    pub vf: u32,
    pub data0: u32,
    pub data1: u32,
}

impl EventRecord {
    pub fn name(&self) -> &'static str {
        Event::name(self.kind)
    }

    /// Whether this is about VF `vf` (0-based).
    pub fn is_for(&self, vf: u16) -> bool {
        self.vf == u32::from(vf)
    }
}

impl fmt::Display for EventRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.vf == u32::from(NO_VF) {
            write!(f, "{} ({:#x}, {:#x})", self.name(), self.data0, self.data1)
        } else {
            write!(
                f,
                "{} vf {} ({:#x}, {:#x})",
                self.name(),
                self.vf,
                self.data0,
                self.data1
            )
        }
    }
}

/// What `ip link show` prints per VF, plus the firmware's own state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VfInfo {
    pub vf: u16,
    pub mac: Mac,
    pub mac_administered: bool,
    pub vlan: u16,
    pub qos: u8,
    pub vlan_proto: u16,
    pub min_tx_rate: u32,
    pub max_tx_rate: u32,
    pub spoof_check: bool,
    pub trust: bool,
    pub query_rss: bool,
    pub link_state: LinkState,
    pub link_up: bool,
    /// 0 disabled, 1 awaiting reset, 2 clear to send, 3 active.
    pub lifecycle: u32,
    pub api: u32,
    pub xcast: u32,
    pub max_frame: u32,
    pub vlans: u32,
    pub mc_hashes: u32,
    pub macvlans: u32,
    pub mbx_requests: u32,
    pub mbx_nacks: u32,
    pub mbx_malformed: u32,
    pub mbx_violations: u32,
    pub mbx_before_cts: u32,
    pub resets: u32,
    pub xcast_downgrades: u32,
    pub mbx_rate_limited: u32,
}

/// `ip -s link` counters of one VF.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VfStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_multicast: u64,
    pub rx_broadcast: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_dropped: u64,
}

/// Device-wide facts (`GetInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub total_vfs: u32,
    pub vfs_enabled: u32,
    pub queue_pairs_per_vf: u32,
    pub mac_filters: (u32, u32),
    pub vlan_filters: (u32, u32),
    pub multicast_hashes: (u32, u32),
    pub bridge_mode: u32,
    pub uplink_up: bool,
    pub max_macvlans_per_vf: u32,
    pub max_vlans_per_vf: u32,
    pub max_mc_hashes_per_vf: u32,
}

/// Sets Device Control's Initiate FLR bit of function `rid` (what any
/// host does to start an FLR; the wait is the caller's).
pub fn initiate_flr(t: &mut impl Transport, rid: u16) {
    let devctl = t.config_read(rid, offsets::DEVCTL, 2);
    t.config_write(
        rid,
        offsets::DEVCTL,
        2,
        devctl | u32::from(config::DEVCTL_FLR),
    );
}

/// The PF driver.
pub struct PfDriver {
    sriov: u16,
    pub total_vfs: u16,
    num_vfs: u16,
    admin_seq: u32,
    event_tail: u32,
}

impl PfDriver {
    /// Finds the PF, its SR-IOV capability, enables memory decode, assigns
    /// BAR0 and waits for the firmware.
    pub fn probe(t: &mut impl Transport) -> Result<Self, PfError> {
        if t.config_read(PF_RID, offsets::VENDOR_ID, 2) == 0xffff {
            return Err(PfError::NoDevice);
        }
        let mut at = 0x100u16;
        let sriov = loop {
            let header = t.config_read(PF_RID, at, 4);
            if header & 0xffff == 0x0010 {
                break at;
            }
            at = (header >> 20) as u16;
            if at < 0x100 || header == 0 || header == 0xffff_ffff {
                return Err(PfError::NoSriovCapability);
            }
        };
        let total_vfs = t.config_read(PF_RID, sriov + 0x0e, 2) as u16;
        t.config_write(PF_RID, offsets::BAR0, 4, 0xffff_ffff);
        let _size = !(t.config_read(PF_RID, offsets::BAR0, 4) & !0xf) + 1;
        t.config_write(PF_RID, offsets::BAR0, 4, PF_BAR_ADDRESS);
        let cmd = t.config_read(PF_RID, offsets::COMMAND, 2);
        t.config_write(
            PF_RID,
            offsets::COMMAND,
            2,
            cmd | u32::from(config::CMD_MEMORY | config::CMD_BUS_MASTER),
        );
        let mut pf = PfDriver {
            sriov,
            total_vfs,
            num_vfs: 0,
            admin_seq: t.bar_read32(PF_RID, pfreg::ADMIN_DONE),
            event_tail: t.bar_read32(PF_RID, pfreg::EVENT_TAIL),
        };
        pf.wait_ready(t)?;
        pf.num_vfs = t.config_read(PF_RID, sriov + 0x10, 2) as u16;
        Ok(pf)
    }

    fn wait_ready(&mut self, t: &mut impl Transport) -> Result<(), PfError> {
        for _ in 0..1000 {
            if t.bar_read32(PF_RID, pfreg::STATUS) & 1 != 0 {
                return Ok(());
            }
            t.delay_us(1000);
        }
        Err(PfError::FirmwareNotReady)
    }

    /// VFs enabled now.
    pub fn num_vfs(&self) -> u16 {
        self.num_vfs
    }

    /// `echo N > sriov_numvfs`.
    pub fn sriov_configure(&mut self, t: &mut impl Transport, n: u16) -> Result<(), PfError> {
        if n == self.num_vfs {
            return Ok(());
        }
        if n > self.total_vfs {
            return Err(PfError::TooManyVfs {
                asked: n,
                total: self.total_vfs,
            });
        }
        if n != 0 && self.num_vfs != 0 {
            return Err(PfError::Busy {
                current: self.num_vfs,
            });
        }
        let ctrl = self.sriov + 0x08;
        if n == 0 {
            t.config_write(PF_RID, ctrl, 2, 0);
            t.config_write(PF_RID, self.sriov + 0x10, 2, 0);
            self.num_vfs = 0;
            return self.wait_served(t, 0);
        }
        t.config_write(PF_RID, self.sriov + 0x10, 2, u32::from(n));
        // VF BAR0: size it, place it (one BAR describes every VF's copy).
        let vf_bar = self.sriov + 0x24;
        t.config_write(PF_RID, vf_bar, 4, 0xffff_ffff);
        let _size = !(t.config_read(PF_RID, vf_bar, 4) & !0xf) + 1;
        t.config_write(PF_RID, vf_bar, 4, VF_BAR_ADDRESS);
        t.config_write(
            PF_RID,
            ctrl,
            2,
            u32::from(config::SRIOV_CTRL_VFE | config::SRIOV_CTRL_VF_MSE | config::SRIOV_CTRL_ARI),
        );
        // The spec: wait 100 ms after VF Enable before touching the VFs.
        t.delay_us(100_000);
        self.num_vfs = n;
        self.wait_served(t, n)
    }

    fn wait_served(&mut self, t: &mut impl Transport, n: u16) -> Result<(), PfError> {
        for _ in 0..1000 {
            if t.bar_read32(PF_RID, pfreg::VFS_ENABLED) == u32::from(n) {
                return Ok(());
            }
            t.delay_us(1000);
        }
        Err(PfError::Timeout("the firmware to serve the VFs"))
    }

    /// Routing ID of VF `n` (0-based), from First VF Offset and VF Stride
    /// as they are now (they follow NumVFs).
    pub fn vf_rid(&self, t: &mut impl Transport, n: u16) -> u16 {
        let offset = t.config_read(PF_RID, self.sriov + 0x14, 2) as u16;
        let stride = t.config_read(PF_RID, self.sriov + 0x16, 2) as u16;
        PF_RID + offset + n * stride
    }

    /// The functions as `lspci -n` prints them on a host that enumerated
    /// the device the way Linux does: a VF's vendor is its PF's (its own
    /// register reads 0xffff) and its device ID is the SR-IOV capability's
    /// VF Device ID. `01:00.0 0200: 8086:1505 (rev 01)`, then one line per
    /// enabled VF.
    pub fn lspci_n(&self, t: &mut impl Transport) -> Vec<String> {
        let line = |rid: u16, class: u32, vendor: u32, device: u32, rev: u32| {
            format!(
                "{:02x}:{:02x}.{} {:04x}: {vendor:04x}:{device:04x} (rev {rev:02x})",
                rid >> 8,
                (rid >> 3) & 0x1f,
                rid & 7,
                class >> 8,
            )
        };
        let id = t.config_read(PF_RID, offsets::VENDOR_ID, 4);
        let class_rev = t.config_read(PF_RID, offsets::CLASS_REV, 4);
        let vendor = id & 0xffff;
        let mut lines = vec![line(
            PF_RID,
            class_rev >> 8,
            vendor,
            id >> 16,
            class_rev & 0xff,
        )];
        let vf_device = t.config_read(PF_RID, self.sriov + 0x1a, 2);
        for n in 0..self.num_vfs {
            let rid = self.vf_rid(t, n);
            let class_rev = t.config_read(rid, offsets::CLASS_REV, 4);
            lines.push(line(
                rid,
                class_rev >> 8,
                vendor,
                vf_device,
                class_rev & 0xff,
            ));
        }
        lines
    }

    /// Function Level Reset of a function, with the spec's 100 ms wait and
    /// then polling until it answers configuration reads again.
    pub fn flr(&mut self, t: &mut impl Transport, rid: u16) -> Result<(), PfError> {
        self.start_flr(t, rid);
        t.delay_us(100_000);
        self.finish_flr(t, rid)
    }

    /// Starts an FLR and returns at once (the function is gone until it
    /// completes): traffic can be sent meanwhile.
    pub fn start_flr(&mut self, t: &mut impl Transport, rid: u16) {
        initiate_flr(t, rid);
    }

    /// Waits, as Linux does after its 100 ms, until the function answers
    /// configuration reads again.
    pub fn finish_flr(&mut self, t: &mut impl Transport, rid: u16) -> Result<(), PfError> {
        for _ in 0..1000 {
            if t.config_read(rid, offsets::COMMAND, 4) != 0xffff_ffff {
                return Ok(());
            }
            t.delay_us(1000);
        }
        Err(PfError::Timeout("the function to come back from FLR"))
    }

    /// One admin command; the response words (word 0 = status | opcode).
    pub fn command(
        &mut self,
        t: &mut impl Transport,
        op: u16,
        vf: u16,
        args: &[u32],
    ) -> Result<Vec<u32>, PfError> {
        let mut req = vec![u32::from(op) | u32::from(vf) << 16];
        req.extend_from_slice(args);
        self.raw_command(t, &req)
    }

    /// Sends request words as they are (malformed ones included).
    pub fn raw_command(
        &mut self,
        t: &mut impl Transport,
        req: &[u32],
    ) -> Result<Vec<u32>, PfError> {
        for (i, w) in req.iter().enumerate().take(hal::chip::ADMIN_WORDS) {
            t.bar_write32(PF_RID, pfreg::ADMIN_REQUEST + 4 * i as u32, *w);
        }
        t.bar_write32(PF_RID, pfreg::ADMIN_REQUEST_LEN, req.len() as u32);
        self.admin_seq = self.admin_seq.wrapping_add(1);
        t.bar_write32(PF_RID, pfreg::ADMIN_DOORBELL, self.admin_seq);
        let mut answered = false;
        for _ in 0..10_000 {
            if t.bar_read32(PF_RID, pfreg::ADMIN_DONE) == self.admin_seq {
                answered = true;
                break;
            }
            t.delay_us(10);
        }
        if !answered {
            return Err(PfError::Timeout("an admin response"));
        }
        let len =
            (t.bar_read32(PF_RID, pfreg::ADMIN_RESPONSE_LEN) as usize).min(hal::chip::ADMIN_WORDS);
        let resp: Vec<u32> = (0..len)
            .map(|i| t.bar_read32(PF_RID, pfreg::ADMIN_RESPONSE + 4 * i as u32))
            .collect();
        match Status::from_code((resp[0] >> 16) as u16) {
            Some(Status::Ok) => Ok(resp),
            Some(s) => Err(PfError::Admin(s)),
            None => Err(PfError::Admin(Status::NotSupported)),
        }
    }

    fn set(
        &mut self,
        t: &mut impl Transport,
        op: Opcode,
        vf: u16,
        args: &[u32],
    ) -> Result<(), PfError> {
        self.command(t, op as u16, vf, args).map(|_| ())
    }

    /// `ip link set DEV vf N mac MAC` (00:00:00:00:00:00 clears it).
    pub fn set_vf_mac(&mut self, t: &mut impl Transport, vf: u16, mac: Mac) -> Result<(), PfError> {
        let (a, b) = mac.to_words();
        self.set(t, Opcode::SetVfMac, vf, &[a, b])
    }

    /// `ip link set DEV vf N vlan VID qos Q proto P` (VID 0 clears).
    pub fn set_vf_vlan(
        &mut self,
        t: &mut impl Transport,
        vf: u16,
        vid: u16,
        qos: u8,
        proto: VlanProto,
    ) -> Result<(), PfError> {
        self.set(
            t,
            Opcode::SetVfVlan,
            vf,
            &[u32::from(vid), u32::from(qos), u32::from(proto.ethertype())],
        )
    }

    /// `ip link set DEV vf N min_tx_rate MIN max_tx_rate MAX`.
    pub fn set_vf_rate(
        &mut self,
        t: &mut impl Transport,
        vf: u16,
        min: u32,
        max: u32,
    ) -> Result<(), PfError> {
        self.set(t, Opcode::SetVfRate, vf, &[min, max])
    }

    /// `ip link set DEV vf N spoofchk on|off`.
    pub fn set_vf_spoofchk(
        &mut self,
        t: &mut impl Transport,
        vf: u16,
        on: bool,
    ) -> Result<(), PfError> {
        self.set(t, Opcode::SetVfSpoofCheck, vf, &[u32::from(on)])
    }

    /// `ip link set DEV vf N trust on|off`.
    pub fn set_vf_trust(
        &mut self,
        t: &mut impl Transport,
        vf: u16,
        on: bool,
    ) -> Result<(), PfError> {
        self.set(t, Opcode::SetVfTrust, vf, &[u32::from(on)])
    }

    /// `ip link set DEV vf N state auto|enable|disable`.
    pub fn set_vf_link_state(
        &mut self,
        t: &mut impl Transport,
        vf: u16,
        state: LinkState,
    ) -> Result<(), PfError> {
        self.set(t, Opcode::SetVfLinkState, vf, &[state as u32])
    }

    /// `ip link set DEV vf N query_rss on|off`.
    pub fn set_vf_query_rss(
        &mut self,
        t: &mut impl Transport,
        vf: u16,
        on: bool,
    ) -> Result<(), PfError> {
        self.set(t, Opcode::SetVfQueryRss, vf, &[u32::from(on)])
    }

    /// `bridge link set dev DEV hwmode veb|vepa`.
    pub fn set_bridge_mode(
        &mut self,
        t: &mut impl Transport,
        mode: BridgeMode,
    ) -> Result<(), PfError> {
        self.set(t, Opcode::SetBridgeMode, 0, &[mode as u32])
    }

    /// Tells the firmware the PF's own MAC (so VFs reach the PF locally).
    pub fn set_pf_mac(&mut self, t: &mut impl Transport, mac: Mac) -> Result<(), PfError> {
        let (a, b) = mac.to_words();
        self.set(t, Opcode::SetPfMac, 0, &[a, b])
    }

    /// Drops by reason of a port: a VF number, `admin::PF_PORT` or
    /// `admin::UPLINK_PORT`; one count per `DropReason`, in order.
    pub fn drops(&mut self, t: &mut impl Transport, port: u16) -> Result<Vec<u32>, PfError> {
        let r = self.command(t, Opcode::GetDrops as u16, port, &[])?;
        Ok(r[1..].to_vec())
    }

    /// Releases a quarantined VF.
    pub fn release_vf(&mut self, t: &mut impl Transport, vf: u16) -> Result<(), PfError> {
        self.set(t, Opcode::ReleaseVf, vf, &[])
    }

    /// Asks the firmware to stop (it answers first).
    pub fn shutdown(&mut self, t: &mut impl Transport) -> Result<(), PfError> {
        self.set(t, Opcode::Shutdown, 0, &[])
    }

    /// Pings every clear-to-send VF.
    pub fn ping_vfs(&mut self, t: &mut impl Transport) -> Result<(), PfError> {
        self.set(t, Opcode::PingVfs, 0, &[])
    }

    /// Restores a VF's administered settings (or all, with `admin::ALL_VFS`).
    pub fn reset_vf_config(&mut self, t: &mut impl Transport, vf: u16) -> Result<(), PfError> {
        self.set(t, Opcode::ResetVfConfig, vf, &[])
    }

    /// `ip link show DEV`, one VF.
    pub fn vf_info(&mut self, t: &mut impl Transport, vf: u16) -> Result<VfInfo, PfError> {
        use admin::vf_config::*;
        let r = self.command(t, Opcode::GetVfConfig as u16, vf, &[])?;
        let g = |i: usize| r.get(i).copied().unwrap_or(0);
        Ok(VfInfo {
            vf,
            mac: Mac::from_words(g(MAC_LO), g(MAC_HI)),
            mac_administered: g(MAC_ADMINISTERED) != 0,
            vlan: g(VLAN) as u16,
            qos: g(QOS) as u8,
            vlan_proto: g(VLAN_PROTO) as u16,
            min_tx_rate: g(MIN_TX_RATE),
            max_tx_rate: g(MAX_TX_RATE),
            spoof_check: g(FLAGS) & FLAG_SPOOF_CHECK != 0,
            trust: g(FLAGS) & FLAG_TRUST != 0,
            query_rss: g(FLAGS) & FLAG_QUERY_RSS != 0,
            link_state: LinkState::from_code(g(LINK_STATE)).unwrap_or(LinkState::Auto),
            link_up: g(LINK_UP) != 0,
            lifecycle: g(LIFECYCLE),
            api: g(API),
            xcast: g(XCAST),
            max_frame: g(MAX_FRAME),
            vlans: g(VLANS),
            mc_hashes: g(MC_HASHES),
            macvlans: g(MACVLANS),
            mbx_requests: g(MBX_REQUESTS),
            mbx_nacks: g(MBX_NACKS),
            mbx_malformed: g(MBX_MALFORMED),
            mbx_violations: g(MBX_VIOLATIONS),
            mbx_before_cts: g(MBX_BEFORE_CTS),
            resets: g(RESETS),
            xcast_downgrades: g(XCAST_DOWNGRADES),
            mbx_rate_limited: g(MBX_RATE_LIMITED),
        })
    }

    /// `ip -s link show DEV`, one VF's counters.
    pub fn vf_stats(&mut self, t: &mut impl Transport, vf: u16) -> Result<VfStats, PfError> {
        use admin::vf_stats::*;
        let r = self.command(t, Opcode::GetVfStats as u16, vf, &[])?;
        let q = |i: usize| u64::from(r[i]) | u64::from(r[i + 1]) << 32;
        Ok(VfStats {
            rx_bytes: q(RX_BYTES),
            rx_packets: q(RX_PACKETS),
            rx_multicast: q(RX_MULTICAST),
            rx_broadcast: q(RX_BROADCAST),
            rx_dropped: q(RX_DROPPED),
            tx_bytes: q(TX_BYTES),
            tx_packets: q(TX_PACKETS),
            tx_dropped: q(TX_DROPPED),
        })
    }

    /// Device-wide facts and pool use.
    pub fn info(&mut self, t: &mut impl Transport) -> Result<DeviceInfo, PfError> {
        use admin::info::*;
        let r = self.command(t, Opcode::GetInfo as u16, 0, &[])?;
        Ok(DeviceInfo {
            total_vfs: r[TOTAL_VFS],
            vfs_enabled: r[VFS_ENABLED],
            queue_pairs_per_vf: r[QUEUE_PAIRS_PER_VF],
            mac_filters: (r[MAC_FILTERS_USED], r[MAC_FILTERS]),
            vlan_filters: (r[VLAN_FILTERS_USED], r[VLAN_FILTERS]),
            multicast_hashes: (r[MULTICAST_HASHES_USED], r[MULTICAST_HASHES]),
            bridge_mode: r[BRIDGE_MODE],
            uplink_up: r[UPLINK_UP] != 0,
            max_macvlans_per_vf: r[MAX_MACVLANS_PER_VF],
            max_vlans_per_vf: r[MAX_VLANS_PER_VF],
            max_mc_hashes_per_vf: r[MAX_MC_HASHES_PER_VF],
        })
    }

    /// Drains the event ring.
    pub fn events(&mut self, t: &mut impl Transport) -> Vec<EventRecord> {
        let head = t.bar_read32(PF_RID, pfreg::EVENT_HEAD);
        let mut out = Vec::new();
        while self.event_tail != head {
            let at = pfreg::EVENTS + 16 * (self.event_tail % hal::chip::EVENT_RING_LEN as u32);
            out.push(EventRecord {
                kind: t.bar_read32(PF_RID, at),
                vf: t.bar_read32(PF_RID, at + 4),
                data0: t.bar_read32(PF_RID, at + 8),
                data1: t.bar_read32(PF_RID, at + 12),
            });
            self.event_tail = self.event_tail.wrapping_add(1);
        }
        t.bar_write32(PF_RID, pfreg::EVENT_TAIL, self.event_tail);
        out
    }

    /// Events the firmware had to drop because the ring was full.
    pub fn events_lost(&self, t: &mut impl Transport) -> u32 {
        t.bar_read32(PF_RID, pfreg::EVENTS_LOST)
    }

    /// The firmware's heartbeat (moves while it runs).
    pub fn heartbeat(&self, t: &mut impl Transport) -> u32 {
        t.bar_read32(PF_RID, pfreg::HEARTBEAT)
    }
}
