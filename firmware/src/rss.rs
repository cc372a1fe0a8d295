//! Receive-side scaling: the Toeplitz hash over IPv4/IPv6 addresses and
//! TCP/UDP ports (82599 and Microsoft RSS compatible), and the queue pick.
//! Written here rather than taken from a crate: it is short, must not
//! allocate, and is checked against Microsoft's published vectors.
//!
//! The data path uses [`Toeplitz`], tables derived from the key once (two
//! lookups per input byte); [`toeplitz`], the bit-by-bit definition, is
//! what the tables are tested against.

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

/// The longest hash input: IPv6 addresses and ports.
pub const MAX_INPUT: usize = 36;

/// Input bytes with a whole-byte table: IPv4 addresses and ports.
pub const BYTE_TABLES: usize = 12;

/// The Toeplitz hash under one key, by table: for each input byte (the
/// first [`BYTE_TABLES`]) or nibble (the rest, IPv6's), the XOR of the key
/// windows its set bits select. 16.5 KiB per key, built at compile time for
/// the default key ([`DEFAULT`]): one lookup per IPv4 input byte.
pub struct Toeplitz {
    key: [u8; 40],
    /// [2i]: byte i's high nibble, [2i + 1]: its low nibble.
    table: [[u32; 16]; 2 * MAX_INPUT],
    /// [i][b]: byte i's share when it is b.
    bytes: [[u32; 256]; BYTE_TABLES],
}

/// The default RSS key (the widely used Toeplitz key from Microsoft's RSS
/// specification), until the PF sets another.
pub const DEFAULT_RSS_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// The tables for the default key ([`DEFAULT_RSS_KEY`]), in read-only
/// memory: the key is device-wide and nothing changes it.
pub static DEFAULT: Toeplitz = Toeplitz::new(&DEFAULT_RSS_KEY);

impl Toeplitz {
    pub const fn new(key: &[u8; 40]) -> Toeplitz {
        // The 32 key bits starting at bit `p` (bit 0 = key[0]'s MSB).
        const fn window(key: &[u8; 40], p: usize) -> u32 {
            let b = p / 8;
            let w = (key[b] as u64) << 32
                | (key[b + 1] as u64) << 24
                | (key[b + 2] as u64) << 16
                | (key[b + 3] as u64) << 8
                | (if b + 4 < 40 { key[b + 4] } else { 0 }) as u64;
            (w >> (8 - p % 8)) as u32
        }
        let mut table = [[0u32; 16]; 2 * MAX_INPUT];
        let mut n = 0;
        while n < 2 * MAX_INPUT {
            let mut v = 0;
            while v < 16 {
                let mut x = 0;
                let mut bit = 0;
                while bit < 4 {
                    if v & (8 >> bit) != 0 {
                        x ^= window(key, 4 * n + bit);
                    }
                    bit += 1;
                }
                table[n][v] = x;
                v += 1;
            }
            n += 1;
        }
        let mut bytes = [[0u32; 256]; BYTE_TABLES];
        let mut i = 0;
        while i < BYTE_TABLES {
            let mut b = 0;
            while b < 256 {
                bytes[i][b] = table[2 * i][b >> 4] ^ table[2 * i + 1][b & 15];
                b += 1;
            }
            i += 1;
        }
        Toeplitz {
            key: *key,
            table,
            bytes,
        }
    }

    pub fn key(&self) -> &[u8; 40] {
        &self.key
    }

    /// The hash of `input` (at most [`MAX_INPUT`] bytes; more are ignored).
    pub fn hash(&self, input: &[u8]) -> u32 {
        let mut h = 0;
        for (pair, &b) in self.table.chunks_exact(2).zip(input) {
            h ^= pair[0][usize::from(b >> 4)] ^ pair[1][usize::from(b & 15)];
        }
        h
    }

    /// The hash's share of `bytes` at input offset `AT` (Toeplitz is linear
    /// in its input: the hash of a concatenation is the XOR of the parts'
    /// shares). Unrolled, no bounds checks, no input buffer to fill.
    #[inline(always)]
    fn share<const AT: usize, const N: usize>(&self, bytes: &[u8; N]) -> u32 {
        const { assert!(AT + N <= MAX_INPUT) };
        let mut h = 0;
        for (i, &b) in bytes.iter().enumerate() {
            h ^= if AT + N <= BYTE_TABLES {
                self.bytes[AT + i][usize::from(b)]
            } else {
                let t = &self.table[2 * (AT + i)..];
                t[0][usize::from(b >> 4)] ^ t[1][usize::from(b & 15)]
            };
        }
        h
    }

    /// The hash and the descriptor's RSS type for a frame; `None` when the
    /// frame is not IP (no hash; queue 0).
    pub fn frame_hash(&self, l3: &L3) -> Option<(u32, u32)> {
        Some(match *l3 {
            L3::V4 { src, dst, l4 } => {
                let addrs = self.share::<0, 4>(&src) ^ self.share::<4, 4>(&dst);
                let (ports, kind) = match l4 {
                    L4::Tcp { src, dst } => ((src, dst), RSS_TYPE_TCP_IPV4),
                    L4::Udp { src, dst } => ((src, dst), RSS_TYPE_UDP_IPV4),
                    L4::None => return Some((addrs, RSS_TYPE_IPV4)),
                };
                let ports = self.share::<8, 2>(&ports.0.to_be_bytes())
                    ^ self.share::<10, 2>(&ports.1.to_be_bytes());
                (addrs ^ ports, kind)
            }
            // IPv6 is rarer and longer: the general form is good enough.
            L3::V6 { .. } => {
                let (input, n, kind) = hash_input(l3)?;
                (self.hash(&input[..n]), kind)
            }
            L3::Other => return None,
        })
    }
}

/// The hash and the descriptor's RSS type for a frame, bit by bit; `None`
/// when the frame is not IP (no hash; queue 0).
pub fn hash(key: &[u8; 40], l3: &L3) -> Option<(u32, u32)> {
    let (input, n, kind) = hash_input(l3)?;
    Some((toeplitz(key, &input[..n]), kind))
}

/// The bytes RSS hashes for a frame, how many, and the RSS type.
fn hash_input(l3: &L3) -> Option<([u8; MAX_INPUT], usize, u32)> {
    let mut input = [0u8; MAX_INPUT];
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
    Some((input, n, kind))
}

fn ports(input: &mut [u8; MAX_INPUT], at: usize, src: u16, dst: u16) -> usize {
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
        let tables = Toeplitz::new(&DEFAULT_RSS_KEY);
        for (src, sport, dst, dport, ip_only, with_tcp) in cases {
            let ip = v4(src, sport, dst, dport, false);
            let tcp = v4(src, sport, dst, dport, true);
            assert_eq!(tables.frame_hash(&ip), Some((ip_only, RSS_TYPE_IPV4)));
            assert_eq!(tables.frame_hash(&tcp), Some((with_tcp, RSS_TYPE_TCP_IPV4)));
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

    /// Under Miri: a few cases, and no regressions file (finding it needs
    /// the working directory, which Miri's isolation does not give).
    fn config() -> proptest::prelude::ProptestConfig {
        let default = proptest::prelude::ProptestConfig::default();
        if cfg!(miri) {
            proptest::prelude::ProptestConfig {
                cases: 4,
                failure_persistence: None,
                ..default
            }
        } else {
            default
        }
    }

    proptest::proptest! {
        #![proptest_config(config())]

        /// Any key, any input up to the longest: tables and bits agree.
        #[test]
        fn tables_match_the_definition(
            key in proptest::array::uniform32(proptest::prelude::any::<u8>()),
            tail in proptest::array::uniform8(proptest::prelude::any::<u8>()),
            input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..=MAX_INPUT),
        ) {
            let mut k = [0u8; 40];
            k[..32].copy_from_slice(&key);
            k[32..].copy_from_slice(&tail);
            proptest::prop_assert_eq!(Toeplitz::new(&k).hash(&input), toeplitz(&k, &input));
        }

        /// Every L3/L4 shape: the data path's hash is the definition's.
        #[test]
        fn frame_hash_matches_the_definition(
            a in proptest::array::uniform16(proptest::prelude::any::<u8>()),
            b in proptest::array::uniform16(proptest::prelude::any::<u8>()),
            sport: u16,
            dport: u16,
            l4 in 0..3u8,
            v6: bool,
        ) {
            let l4 = match l4 {
                0 => L4::None,
                1 => L4::Tcp { src: sport, dst: dport },
                _ => L4::Udp { src: sport, dst: dport },
            };
            let l3 = if v6 {
                L3::V6 { src: a, dst: b, l4 }
            } else {
                L3::V4 { src: [a[0], a[1], a[2], a[3]], dst: [b[0], b[1], b[2], b[3]], l4 }
            };
            let tables = Toeplitz::new(&DEFAULT_RSS_KEY);
            proptest::prop_assert_eq!(tables.frame_hash(&l3), hash(&DEFAULT_RSS_KEY, &l3));
        }
    }

    #[test]
    fn non_ip_has_no_hash() {
        assert_eq!(hash(&DEFAULT_RSS_KEY, &L3::Other), None);
        assert_eq!(queue_for(129, 2), 1);
        assert_eq!(queue_for(7, 1), 0);
    }
}
