//! The Intel 82599 VF programming model, as VF drivers (Linux ixgbevf,
//! DPDK) use it: the VF BAR register map and the PF/VF mailbox protocol.
//! Shared by the firmware (the PF side of the mailbox), the hardware model
//! (the VF BAR) and the host-side VF driver.

/// VF BAR0 register offsets.
pub mod vfreg {
    pub const VFCTRL: u32 = 0x0000;
    pub const VFSTATUS: u32 = 0x0008;
    pub const VFLINKS: u32 = 0x0010;
    pub const VFFRTIMER: u32 = 0x0048;
    pub const VTEICR: u32 = 0x0100;
    pub const VTEICS: u32 = 0x0104;
    pub const VTEIMS: u32 = 0x0108;
    pub const VTEIMC: u32 = 0x010c;
    pub const VTEIAC: u32 = 0x0110;
    pub const VTEIAM: u32 = 0x0114;
    /// VTIVAR(i), i = 0..3: queue pairs 2i and 2i+1 → MSI-X vectors.
    pub const VTIVAR: u32 = 0x0120;
    pub const VTIVAR_MISC: u32 = 0x0140;
    pub const VFMBMEM: u32 = 0x0200;
    pub const VFMAILBOX: u32 = 0x02fc;
    pub const VFPSRTYPE: u32 = 0x0300;
    /// VFPSRTYPE.RQPL (bits 31:29): Rx queues RSS may use, as a power of
    /// two (0: one, 1: two, 2: four). ixgbevf writes 1 with more than one
    /// Rx queue; DPDK writes log2 of its Rx queue count.
    pub const PSRTYPE_RQPL_SHIFT: u32 = 29;
    pub const PSRTYPE_RQPL_MASK: u32 = 0x7 << PSRTYPE_RQPL_SHIFT;

    /// VFCTRL.RST: the VF asks for a reset of itself.
    pub const VFCTRL_RST: u32 = 0x0400_0000;
    /// VFLINKS: link up, and the speed field (bits 29:28).
    pub const VFLINKS_UP: u32 = 0x4000_0000;
    pub const VFLINKS_SPEED_SHIFT: u32 = 28;
    pub const VFLINKS_SPEED_10G: u32 = 3 << VFLINKS_SPEED_SHIFT;
    pub const VFLINKS_SPEED_1G: u32 = 2 << VFLINKS_SPEED_SHIFT;
    pub const VFLINKS_SPEED_100M: u32 = 1 << VFLINKS_SPEED_SHIFT;
    /// VFSTATUS bit the 82599 sets while the function is enabled (LAN ID
    /// and link bits are not modelled).
    pub const VFSTATUS_ENABLED: u32 = 0x0000_0001;

    /// VFMAILBOX bits.
    pub const MBX_REQ: u32 = 0x01;
    pub const MBX_ACK: u32 = 0x02;
    pub const MBX_VFU: u32 = 0x04;
    pub const MBX_PFU: u32 = 0x08;
    pub const MBX_PFSTS: u32 = 0x10;
    pub const MBX_PFACK: u32 = 0x20;
    pub const MBX_RSTI: u32 = 0x40;
    pub const MBX_RSTD: u32 = 0x80;
    /// Bits cleared by reading VFMAILBOX.
    pub const MBX_R2C: u32 = MBX_PFSTS | MBX_PFACK | MBX_RSTD;
}

/// The 82599 VF queue and statistics registers (VF BAR0).
pub mod queuereg {
    pub const fn rdbal(q: u32) -> u32 {
        0x1000 + 0x40 * q
    }
    pub const fn rdbah(q: u32) -> u32 {
        0x1004 + 0x40 * q
    }
    pub const fn rdlen(q: u32) -> u32 {
        0x1008 + 0x40 * q
    }
    pub const fn rdh(q: u32) -> u32 {
        0x1010 + 0x40 * q
    }
    pub const fn srrctl(q: u32) -> u32 {
        0x1014 + 0x40 * q
    }
    pub const fn rdt(q: u32) -> u32 {
        0x1018 + 0x40 * q
    }
    pub const fn rxdctl(q: u32) -> u32 {
        0x1028 + 0x40 * q
    }
    pub const fn tdbal(q: u32) -> u32 {
        0x2000 + 0x40 * q
    }
    pub const fn tdbah(q: u32) -> u32 {
        0x2004 + 0x40 * q
    }
    pub const fn tdlen(q: u32) -> u32 {
        0x2008 + 0x40 * q
    }
    pub const fn tdh(q: u32) -> u32 {
        0x2010 + 0x40 * q
    }
    pub const fn tdt(q: u32) -> u32 {
        0x2018 + 0x40 * q
    }
    pub const fn txdctl(q: u32) -> u32 {
        0x2028 + 0x40 * q
    }
    pub const fn tdwbal(q: u32) -> u32 {
        0x2038 + 0x40 * q
    }
    pub const fn tdwbah(q: u32) -> u32 {
        0x203c + 0x40 * q
    }

    pub const VFGPRC: u32 = 0x101c;
    pub const VFGORC_LSB: u32 = 0x1020;
    pub const VFGORC_MSB: u32 = 0x1024;
    pub const VFMPRC: u32 = 0x1034;
    pub const VFGPTC: u32 = 0x201c;
    pub const VFGOTC_LSB: u32 = 0x2020;
    pub const VFGOTC_MSB: u32 = 0x2024;

    pub const RXDCTL_ENABLE: u32 = 0x0200_0000;
    pub const RXDCTL_VME: u32 = 0x4000_0000;
    pub const TXDCTL_ENABLE: u32 = 0x0200_0000;
    pub const TXDCTL_SWFLSH: u32 = 0x0400_0000;
    /// SRRCTL: packet buffer size in KiB (bits 6:0), descriptor type
    /// "advanced one buffer", drop when no descriptors.
    pub const SRRCTL_BSIZEPKT_MASK: u32 = 0x7f;
    pub const SRRCTL_DESCTYPE_ADV_ONEBUF: u32 = 0x0200_0000;
    pub const SRRCTL_DROP_EN: u32 = 0x1000_0000;
}

/// 82599 advanced descriptors (16 bytes each, little-endian in host memory).
pub mod desc {
    pub const SIZE: usize = 16;

    // Rx write-back: word 0 = pkt_info (15:0) | hdr_info (31:16); word 1 =
    // RSS hash; word 2 = status/error; word 3 = length (15:0) | VLAN (31:16).
    pub const RX_STAT_DD: u32 = 0x01;
    pub const RX_STAT_EOP: u32 = 0x02;
    pub const RX_STAT_VP: u32 = 0x08;
    pub const RX_STAT_L4CS: u32 = 0x20;
    pub const RX_STAT_IPCS: u32 = 0x40;
    /// Looped back from a local pool (VEB).
    pub const RX_STAT_LB: u32 = 0x4_0000;
    /// pkt_info: RSS type (3:0; 0: no hash) and packet type bits.
    pub const RSS_TYPE_MASK: u32 = 0xf;
    pub const RSS_TYPE_TCP_IPV4: u32 = 0x1;
    pub const RSS_TYPE_IPV4: u32 = 0x2;
    pub const RSS_TYPE_TCP_IPV6: u32 = 0x3;
    pub const RSS_TYPE_IPV6: u32 = 0x5;
    pub const RSS_TYPE_UDP_IPV4: u32 = 0x7;
    pub const RSS_TYPE_UDP_IPV6: u32 = 0x8;
    pub const PKTTYPE_IPV4: u32 = 0x10;
    pub const PKTTYPE_IPV6: u32 = 0x40;
    pub const PKTTYPE_TCP: u32 = 0x100;
    pub const PKTTYPE_UDP: u32 = 0x200;

    // Tx: word 2 = cmd_type_len, word 3 = olinfo_status.
    pub const TX_LEN_MASK: u32 = 0xffff;
    pub const TX_DTYP_MASK: u32 = 0x00f0_0000;
    pub const TX_DTYP_CTXT: u32 = 0x0020_0000;
    pub const TX_DTYP_DATA: u32 = 0x0030_0000;
    pub const TX_CMD_EOP: u32 = 0x0100_0000;
    pub const TX_CMD_IFCS: u32 = 0x0200_0000;
    pub const TX_CMD_RS: u32 = 0x0800_0000;
    pub const TX_CMD_DEXT: u32 = 0x2000_0000;
    pub const TX_CMD_VLE: u32 = 0x4000_0000;
    pub const TX_CMD_TSE: u32 = 0x8000_0000;
    /// Write-back: DD in the status word (word 3).
    pub const TX_STAT_DD: u32 = 0x01;
    pub const TX_OLINFO_CC: u32 = 0x80;
    pub const TX_PAYLEN_SHIFT: u32 = 14;
}

/// The mailbox messages (word 0 and payloads).
pub mod mbx {
    /// Words in the mailbox buffer.
    pub const WORDS: usize = 16;

    /// Word 0: message ID in bits 15:0, MSGINFO in 23:16, flags above.
    pub const MSG_ID_MASK: u32 = 0xffff;
    pub const MSGINFO_SHIFT: u32 = 16;
    pub const MSGINFO_MASK: u32 = 0xff << MSGINFO_SHIFT;
    pub const ACK: u32 = 0x8000_0000;
    pub const NACK: u32 = 0x4000_0000;
    pub const CTS: u32 = 0x2000_0000;

    pub const VF_RESET: u32 = 0x01;
    pub const SET_MAC_ADDR: u32 = 0x02;
    pub const SET_MULTICAST: u32 = 0x03;
    pub const SET_VLAN: u32 = 0x04;
    pub const SET_LPE: u32 = 0x05;
    pub const SET_MACVLAN: u32 = 0x06;
    pub const API_NEGOTIATE: u32 = 0x08;
    pub const GET_QUEUES: u32 = 0x09;
    pub const GET_RETA: u32 = 0x0a;
    pub const GET_RSS_KEY: u32 = 0x0b;
    pub const UPDATE_XCAST_MODE: u32 = 0x0c;
    pub const GET_LINK_STATE: u32 = 0x10;
    /// PF to VF: "ping", a control message (CTS set when the VF may talk).
    pub const PF_CONTROL_MSG: u32 = 0x0100;

    /// Reply length of VF_RESET: word 0, MAC in 1-2, multicast filter type.
    pub const RESET_REPLY_WORDS: usize = 4;
    /// Most multicast hashes one SET_MULTICAST carries.
    pub const MAX_MULTICAST_HASHES: usize = 30;
    /// GET_QUEUES reply word indices.
    pub const QUEUES_TX: usize = 1;
    pub const QUEUES_RX: usize = 2;
    pub const QUEUES_TRANS_VLAN: usize = 3;
    pub const QUEUES_DEF_QUEUE: usize = 4;
    pub const QUEUES_REPLY_WORDS: usize = 5;

    /// The message ID of word 0.
    pub const fn id(word0: u32) -> u32 {
        word0 & MSG_ID_MASK
    }

    /// MSGINFO of word 0.
    pub const fn info(word0: u32) -> u32 {
        (word0 & MSGINFO_MASK) >> MSGINFO_SHIFT
    }
}

/// Mailbox API versions: an enum on the wire, not major.minor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u32)]
pub enum MbxApi {
    V1_0 = 0,
    V2_0 = 1,
    V1_1 = 2,
    V1_2 = 3,
    V1_3 = 4,
    V1_4 = 5,
    V1_5 = 6,
}

impl MbxApi {
    /// Every version, oldest first by feature level.
    pub const ALL: [MbxApi; 7] = [
        Self::V1_0,
        Self::V2_0,
        Self::V1_1,
        Self::V1_2,
        Self::V1_3,
        Self::V1_4,
        Self::V1_5,
    ];

    pub fn from_wire(v: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|a| *a as u32 == v)
    }

    /// Feature level for comparisons: 1.0 < 1.1 < ... < 1.5; 2.0 (a DPDK
    /// variant) ranks as 1.1.
    pub const fn level(self) -> u8 {
        match self {
            Self::V1_0 => 10,
            Self::V2_0 | Self::V1_1 => 11,
            Self::V1_2 => 12,
            Self::V1_3 => 13,
            Self::V1_4 => 14,
            Self::V1_5 => 15,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::V1_0 => "1.0",
            Self::V2_0 => "2.0",
            Self::V1_1 => "1.1",
            Self::V1_2 => "1.2",
            Self::V1_3 => "1.3",
            Self::V1_4 => "1.4",
            Self::V1_5 => "1.5",
        }
    }
}

/// UPDATE_XCAST_MODE values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u32)]
pub enum XcastMode {
    /// Broadcast only.
    None = 0,
    /// Plus multicast whose hash the VF registered.
    Multi = 1,
    /// Plus all multicast.
    AllMulti = 2,
    /// Plus all unicast.
    Promisc = 3,
}

impl XcastMode {
    pub fn from_wire(v: u32) -> Option<Self> {
        [Self::None, Self::Multi, Self::AllMulti, Self::Promisc]
            .into_iter()
            .find(|m| *m as u32 == v)
    }
}

/// Multicast hash of a MAC address for the 82599's 4096-bit table: 12 bits
/// of the last two address bytes, picked by the filter type (the 82599
/// numbers address bits from byte 0 up, so type 0 is "bits 47:36").
pub fn multicast_hash(mac: [u8; 6], filter_type: u32) -> u16 {
    let (b4, b5) = (u16::from(mac[4]), u16::from(mac[5]));
    let v = match filter_type {
        0 => (b4 >> 4) | (b5 << 4),
        1 => (b4 >> 3) | (b5 << 5),
        2 => (b4 >> 2) | (b5 << 6),
        _ => b4 | (b5 << 8),
    };
    v & 0xfff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_wire_values_are_the_enum() {
        assert_eq!(MbxApi::from_wire(6), Some(MbxApi::V1_5));
        assert_eq!(MbxApi::from_wire(1), Some(MbxApi::V2_0));
        assert_eq!(MbxApi::from_wire(7), None);
        assert!(MbxApi::V1_2.level() > MbxApi::V1_1.level());
    }

    #[test]
    fn word0_fields() {
        let w = mbx::SET_MULTICAST | (5 << mbx::MSGINFO_SHIFT) | mbx::CTS;
        assert_eq!(mbx::id(w), mbx::SET_MULTICAST);
        assert_eq!(mbx::info(w), 5);
    }

    #[test]
    fn multicast_hash_uses_the_top_address_bits() {
        // 33:33:00:00:00:01 (IPv6 all-nodes), filter type 0: the 12 bits
        // above the lowest 36 are 0x010 >> 4 | 0x01 << 4.
        let mac = [0x33, 0x33, 0x00, 0x00, 0x00, 0x01];
        assert_eq!(multicast_hash(mac, 0), 0x010);
        assert_eq!(multicast_hash(mac, 3), 0x100);
        let mac = [0x01, 0x00, 0x5e, 0x00, 0xab, 0xcd];
        assert_eq!(multicast_hash(mac, 0), 0xcda);
        assert_eq!(multicast_hash(mac, 3), 0xdab);
    }
}
