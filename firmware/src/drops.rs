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

impl QueueFault {
    /// The fault a code names (0 and unknown codes: none).
    pub fn from_code(code: u8) -> Option<QueueFault> {
        Some(match code {
            1 => Self::DmaOutsideWindow,
            2 => Self::TailBeyondRing,
            3 => Self::BadRingLength,
            4 => Self::HeadBeyondRing,
            _ => return None,
        })
    }
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
        self.imbalance() == 0
    }

    /// Zero exactly when every frame is accounted for: the three
    /// differences folded without a branch, so checking 65 ports after
    /// every step of a fuzz input or a soak is a few adds per port (under
    /// coverage instrumentation each `==` of `&&` is a callback).
    pub fn imbalance(&self) -> u64 {
        let reasons = self.drops.iter().fold(0u64, |a, d| a.wrapping_add(*d));
        (self.rx_offered ^ self.rx_packets.wrapping_add(self.rx_dropped))
            | (self.tx_offered ^ self.tx_packets.wrapping_add(self.tx_dropped))
            | (reasons ^ self.rx_dropped.wrapping_add(self.tx_dropped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn books() -> PortCounters {
        let mut c = PortCounters::ZERO;
        c.rx_offered = 10;
        c.rx_packets = 7;
        c.rx_dropped = 3;
        c.tx_offered = 5;
        c.tx_packets = 4;
        c.tx_dropped = 1;
        c.drops[0] = 2;
        c.drops[DropReason::COUNT - 1] = 2;
        c
    }

    #[test]
    fn each_of_the_three_sums_unbalances_the_books() {
        assert!(books().balanced());
        let breaks: [fn(&mut PortCounters); 4] = [
            |c| c.rx_packets += 1,
            |c| c.tx_offered += 1,
            |c| c.drops[1] += 1,
            // Two errors that cancel in a sum but not in each difference.
            |c| {
                c.rx_offered += 1;
                c.tx_offered -= 1;
            },
        ];
        for (i, f) in breaks.iter().enumerate() {
            let mut c = books();
            f(&mut c);
            assert!(!c.balanced(), "break {i}: {c:?}");
        }
    }

    #[test]
    fn books_balance_across_the_counters_wrapping() {
        let mut c = books();
        c.rx_offered = 2;
        c.rx_packets = u64::MAX;
        c.rx_dropped = 3;
        assert!(c.balanced());
    }
}
