//! Ethernet MAC addresses, and how the mailbox carries them.

use core::fmt;

/// A MAC address, in wire order. Aligned to 8 (two bytes of padding): the
/// target is built with strict alignment, and a less aligned address moved
/// inside a larger value became a `memcpy` call.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[repr(align(8))]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const ZERO: Mac = Mac([0; 6]);
    pub const BROADCAST: Mac = Mac([0xff; 6]);

    pub const fn is_zero(&self) -> bool {
        let b = self.0;
        b[0] | b[1] | b[2] | b[3] | b[4] | b[5] == 0
    }

    /// The group bit: multicast (broadcast included).
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }

    /// A unicast address that is not zero: what a function may own.
    pub const fn is_valid_unicast(&self) -> bool {
        !self.is_zero() && !self.is_multicast()
    }

    /// From mailbox words: bytes 0-3 in the first word (byte 0 lowest),
    /// bytes 4-5 in the low half of the second, as the 82599 packs them.
    pub const fn from_words(w1: u32, w2: u32) -> Mac {
        let a = w1.to_le_bytes();
        let b = w2.to_le_bytes();
        Mac([a[0], a[1], a[2], a[3], b[0], b[1]])
    }

    /// To mailbox words (the inverse of [`Mac::from_words`]).
    pub const fn to_words(&self) -> (u32, u32) {
        let m = self.0;
        (
            u32::from_le_bytes([m[0], m[1], m[2], m[3]]),
            u32::from_le_bytes([m[4], m[5], 0, 0]),
        )
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Mac {
    fn format(&self, f: defmt::Formatter) {
        let m = self.0;
        defmt::write!(
            f,
            "{=u8:02x}:{=u8:02x}:{=u8:02x}:{=u8:02x}:{=u8:02x}:{=u8:02x}",
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_in_82599_order() {
        let mac = Mac([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
        let (w1, w2) = mac.to_words();
        assert_eq!(w1, 0x3322_1102);
        assert_eq!(w2, 0x0000_5544);
        assert_eq!(
            Mac::from_words(w1, w2 | 0xffff_0000),
            mac,
            "high half ignored"
        );
    }

    #[test]
    fn classes() {
        assert!(Mac([2, 0, 0, 0, 0, 1]).is_valid_unicast());
        assert!(!Mac::ZERO.is_valid_unicast());
        assert!(!Mac([1, 0, 0x5e, 0, 0, 1]).is_valid_unicast());
        assert!(Mac::BROADCAST.is_multicast());
        assert_eq!(
            std::format!("{}", Mac([0xa, 0xb, 0xc, 0, 1, 0xff])),
            "0a:0b:0c:00:01:ff"
        );
    }
}
