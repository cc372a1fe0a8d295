//! Why frames are dropped and queues stop, and the counters every port
//! keeps. Every frame a port takes in is delivered or dropped under exactly
//! one reason.

/// Why a frame was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DropReason {
    /// Shorter than an Ethernet header.
    Runt = 0,
    /// Longer than the data path carries (9736 bytes).
    Oversize = 1,
    /// A VLAN header cut short, or more than two tags.
    BadVlanHeader = 2,
    /// No function accepts it (unregistered multicast, or a VF's unicast
    /// to its own address).
    NoDestination = 3,
    /// The receiving function does not accept its VLAN (or it lacks the
    /// function's port VLAN).
    VlanFilter = 4,
    /// Longer than the function's max frame (SET_LPE).
    Mtu = 5,
    /// The function's link is down (link state, or auto with the uplink down).
    LinkDown = 6,
    /// The Rx ring has no buffer posted (never blocks other functions).
    NoRxBuffer = 7,
    /// The queue is not enabled, or enabled without a usable ring.
    RingDisabled = 8,
    /// A descriptor or buffer address outside the function's IOMMU window
    /// (the queue stops).
    DmaFault = 9,
    /// Source MAC not the VF's (spoof check).
    SpoofMac = 10,
    /// VLAN not the VF's, or a tag under a port VLAN (spoof check).
    SpoofVlan = 11,
    /// A Tx descriptor that cannot be valid (zero length, wrong type, no
    /// end of packet within the limit).
    BadDescriptor = 12,
    /// A tail register beyond the ring (the queue stops).
    TailBeyondRing = 13,
    /// The uplink is down.
    UplinkDown = 14,
    /// The uplink did not take the frame.
    UplinkFull = 15,
    /// The function is quarantined for misbehaving.
    Quarantined = 16,
}

impl DropReason {
    pub const COUNT: usize = 17;
    pub const ALL: [DropReason; Self::COUNT] = [
        Self::Runt,
        Self::Oversize,
        Self::BadVlanHeader,
        Self::NoDestination,
        Self::VlanFilter,
        Self::Mtu,
        Self::LinkDown,
        Self::NoRxBuffer,
        Self::RingDisabled,
        Self::DmaFault,
        Self::SpoofMac,
        Self::SpoofVlan,
        Self::BadDescriptor,
        Self::TailBeyondRing,
        Self::UplinkDown,
        Self::UplinkFull,
        Self::Quarantined,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Runt => "runt",
            Self::Oversize => "oversize",
            Self::BadVlanHeader => "bad-vlan-header",
            Self::NoDestination => "no-destination",
            Self::VlanFilter => "vlan-filter",
            Self::Mtu => "mtu",
            Self::LinkDown => "link-down",
            Self::NoRxBuffer => "no-rx-buffer",
            Self::RingDisabled => "ring-disabled",
            Self::DmaFault => "dma-fault",
            Self::SpoofMac => "spoof-mac",
            Self::SpoofVlan => "spoof-vlan",
            Self::BadDescriptor => "bad-descriptor",
            Self::TailBeyondRing => "tail-beyond-ring",
            Self::UplinkDown => "uplink-down",
            Self::UplinkFull => "uplink-full",
            Self::Quarantined => "quarantined",
        }
    }
}

/// Why a queue stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum QueueFault {
    DmaOutsideWindow = 1,
    TailBeyondRing = 2,
    BadRingLength = 3,
    /// The head the driver wrote (RDH/TDH) is beyond the ring.
    HeadBeyondRing = 4,
}

/// A port's counters: what `ip -s link` shows, plus drops by reason.
/// Invariants: rx offered = rx_packets + rx_dropped; tx offered =
/// tx_packets + tx_dropped; the reasons add up to rx_dropped + tx_dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    pub rx_offered: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_multicast: u64,
    pub rx_broadcast: u64,
    pub rx_dropped: u64,
    pub tx_offered: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
    pub drops: [u64; DropReason::COUNT],
}

impl PortCounters {
    pub const ZERO: PortCounters = PortCounters {
        rx_offered: 0,
        rx_packets: 0,
        rx_bytes: 0,
        rx_multicast: 0,
        rx_broadcast: 0,
        rx_dropped: 0,
        tx_offered: 0,
        tx_packets: 0,
        tx_bytes: 0,
        tx_dropped: 0,
        drops: [0; DropReason::COUNT],
    };

    pub fn drop_rx(&mut self, r: DropReason) {
        self.rx_dropped += 1;
        self.drops[r as usize] += 1;
    }

    pub fn drop_tx(&mut self, r: DropReason) {
        self.tx_dropped += 1;
        self.drops[r as usize] += 1;
    }

    /// Whether every frame is accounted for.
    pub fn balanced(&self) -> bool {
        self.rx_offered == self.rx_packets + self.rx_dropped
            && self.tx_offered == self.tx_packets + self.tx_dropped
            && self.drops.iter().sum::<u64>() == self.rx_dropped + self.tx_dropped
    }
}
