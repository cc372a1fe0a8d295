//! Receive-side scaling: the Toeplitz hash over IPv4/IPv6 addresses and
//! TCP/UDP ports (82599 and Microsoft RSS compatible), and the queue pick.
//! Written here rather than taken from a crate: it is 20 lines, must not
//! allocate, and is checked against Microsoft's published vectors.

use crate::frame::{L3, L4};
use hal::ixgbe::desc::*;

/// Entries in the redirection table (82599).
pub const RETA_ENTRIES: usize = 128;

/// The Toeplitz hash of `input` under `key` (at least input + 4 bytes).
pub fn toeplitz(key: &[u8; 40], input: &[u8]) -> u32 {
    let mut hash = 0u32;
    // A 64-bit window on the key: the top 32 bits are the current key slice.
    let mut window = u64::from_be_bytes([
        key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
    ]);
    let mut next = 8;
    for (i, byte) in input.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= (window >> 32) as u32;
            }
            window <<= 1;
        }
        // Refill the low byte the 8 shifts emptied.
        if i + 1 < input.len() || next < key.len() {
            window |= u64::from(*key.get(next).unwrap_or(&0));
            next += 1;
        }
    }
    hash
}

/// The hash and the descriptor's RSS type for a frame; `None` when the
/// frame is not IP (no hash; queue 0).
pub fn hash(key: &[u8; 40], l3: &L3) -> Option<(u32, u32)> {
    let mut input = [0u8; 36];
    let (n, kind) = match *l3 {
        L3::V4 { src, dst, l4 } => {
            input[..4].copy_from_slice(&src);
            input[4..8].copy_from_slice(&dst);
            match l4 {
                L4::Tcp { src, dst } => (ports(&mut input, 8, src, dst), RSS_TYPE_TCP_IPV4),
                L4::Udp { src, dst } => (ports(&mut input, 8, src, dst), RSS_TYPE_UDP_IPV4),
                L4::None => (8, RSS_TYPE_IPV4),
            }
        }
        L3::V6 { src, dst, l4 } => {
            input[..16].copy_from_slice(&src);
            input[16..32].copy_from_slice(&dst);
            match l4 {
                L4::Tcp { src, dst } => (ports(&mut input, 32, src, dst), RSS_TYPE_TCP_IPV6),
                L4::Udp { src, dst } => (ports(&mut input, 32, src, dst), RSS_TYPE_UDP_IPV6),
                L4::None => (32, RSS_TYPE_IPV6),
            }
        }
        L3::Other => return None,
    };
    Some((toeplitz(key, &input[..n]), kind))
}

fn ports(input: &mut [u8; 36], at: usize, src: u16, dst: u16) -> usize {
    input[at..at + 2].copy_from_slice(&src.to_be_bytes());
    input[at + 2..at + 4].copy_from_slice(&dst.to_be_bytes());
    at + 4
}

/// The default redirection table entry for `hash` over `queues` queues
/// (the table a VF reads with GET_RETA: entry i = i mod queues).
pub fn queue_for(hash: u32, queues: u32) -> u32 {
    (hash as usize % RETA_ENTRIES) as u32 % queues.max(1)
}

/// pkt_info packet-type bits for the descriptor.
pub fn packet_type(l3: &L3) -> u32 {
    let l4 = |l4: &L4| match l4 {
        L4::Tcp { .. } => PKTTYPE_TCP,
        L4::Udp { .. } => PKTTYPE_UDP,
        L4::None => 0,
    };
    match l3 {
        L3::V4 { l4: x, .. } => PKTTYPE_IPV4 | l4(x),
        L3::V6 { l4: x, .. } => PKTTYPE_IPV6 | l4(x),
        L3::Other => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DEFAULT_RSS_KEY;

    fn v4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, tcp: bool) -> L3 {
        L3::V4 {
            src,
            dst,
            l4: if tcp {
                L4::Tcp {
                    src: sport,
                    dst: dport,
                }
            } else {
                L4::None
            },
        }
    }

    /// Microsoft's "Verifying the RSS Hash Calculation" vectors for IPv4.
    #[test]
    fn microsoft_ipv4_vectors() {
        let cases = [
            (
                [66, 9, 149, 187],
                2794,
                [161, 142, 100, 80],
                1766,
                0x323e_8fc2,
                0x51cc_c178,
            ),
            (
                [199, 92, 111, 2],
                14230,
                [65, 69, 140, 83],
                4739,
                0xd718_262a,
                0xc626_b0ea,
            ),
            (
                [24, 19, 198, 95],
                12898,
                [12, 22, 207, 184],
                38024,
                0xd2d0_a5de,
                0x5c2b_394a,
            ),
            (
                [38, 27, 205, 30],
                48228,
                [209, 142, 163, 6],
                2217,
                0x8298_9176,
                0xafc7_327f,
            ),
            (
                [153, 39, 163, 191],
                44251,
                [202, 188, 127, 2],
                1303,
                0x5d18_09c5,
                0x10e8_28a2,
            ),
        ];
        for (src, sport, dst, dport, ip_only, with_tcp) in cases {
            let (h, t) = hash(&DEFAULT_RSS_KEY, &v4(src, sport, dst, dport, false)).unwrap();
            assert_eq!((h, t), (ip_only, RSS_TYPE_IPV4), "{src:?} -> {dst:?}");
            let (h, t) = hash(&DEFAULT_RSS_KEY, &v4(src, sport, dst, dport, true)).unwrap();
            assert_eq!(
                (h, t),
                (with_tcp, RSS_TYPE_TCP_IPV4),
                "{src:?} -> {dst:?} TCP"
            );
        }
    }

    #[test]
    fn non_ip_has_no_hash() {
        assert_eq!(hash(&DEFAULT_RSS_KEY, &L3::Other), None);
        assert_eq!(queue_for(129, 2), 1);
        assert_eq!(queue_for(7, 1), 0);
    }
}
