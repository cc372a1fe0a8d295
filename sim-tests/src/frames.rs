//! Building test frames (with `etherparse`, independent of the firmware's
//! own parser).

use etherparse::PacketBuilder;
use firmware::mac::Mac;

/// A frame's description, as tests and scenarios give it.
#[derive(Clone, Debug, Default)]
pub struct FrameSpec {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    /// Outer tag first: (TPID, TCI).
    pub tags: Vec<(u16, u16)>,
    /// IPv4 UDP flow (src, dst, sport, dport); otherwise an ARP-like frame.
    pub udp4: Option<([u8; 4], [u8; 4], u16, u16)>,
    pub payload: usize,
}

impl FrameSpec {
    pub fn new(dst: Mac, src: Mac) -> Self {
        FrameSpec {
            dst: dst.0,
            src: src.0,
            payload: 46,
            ..Default::default()
        }
    }

    pub fn vlan(mut self, tpid: u16, tci: u16) -> Self {
        self.tags.push((tpid, tci));
        self
    }

    pub fn udp(mut self, src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Self {
        self.udp4 = Some((src, dst, sport, dport));
        self
    }

    pub fn payload(mut self, n: usize) -> Self {
        self.payload = n;
        self
    }

    pub fn build(&self) -> Vec<u8> {
        let body = vec![0x5a; self.payload];
        let mut f = Vec::new();
        match self.udp4 {
            Some((s, d, sp, dp)) => {
                let b = PacketBuilder::ethernet2(self.src, self.dst)
                    .ipv4(s, d, 64)
                    .udp(sp, dp);
                b.write(&mut f, &body).expect("frame builds");
            }
            None => {
                f.extend_from_slice(&self.dst);
                f.extend_from_slice(&self.src);
                f.extend_from_slice(&0x0806u16.to_be_bytes());
                f.extend_from_slice(&body);
            }
        }
        // Insert the tags after the source MAC (outer first).
        for (i, (tpid, tci)) in self.tags.iter().enumerate() {
            let at = 12 + 4 * i;
            let mut tag = tpid.to_be_bytes().to_vec();
            tag.extend_from_slice(&tci.to_be_bytes());
            f.splice(at..at, tag);
        }
        f
    }
}

/// The `i`-th address the unicast table's benches use: random bits
/// (splitmix64 of `i`, so every run has the same keys) under a locally
/// administered unicast prefix. Not a multiplicative stride: a stride by
/// the golden ratio, as the table's own hash multiplies by, made
/// structured collisions (1.6 to 3.2 probes a hit depending on the size,
/// against 1.4 to 2.0 for random keys), so the spread over sizes measured
/// the keys.
pub fn spread_mac(i: usize) -> Mac {
    let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let b = z.to_be_bytes();
    Mac([0x02, b[0], b[1], b[2], b[3], b[4]])
}

/// Keys the unicast table's benches look up per round.
pub const TABLE_KEYS: usize = 4096;

/// The keys for a table holding `spread_mac(0..n)`: [`TABLE_KEYS`] hits
/// cycling over the `n` inserted in an order unrelated to their slots, and
/// as many misses (addresses never inserted).
pub fn table_keys(n: usize) -> (Vec<Mac>, Vec<Mac>) {
    let hits = (0..TABLE_KEYS)
        .map(|k| spread_mac((k * 40_503) % n))
        .collect();
    let misses = (0..TABLE_KEYS).map(|k| spread_mac(n + k)).collect();
    (hits, misses)
}
