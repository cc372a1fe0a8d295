//! The exact-match table of unicast addresses: MAC → the function that owns
//! it. One 64-bit word per claim, no side tables:
//!
//! ```text
//!  63                      16 15 14      9 8          0
//! +-------------------------+--+---------+------------+
//! |  the address's 6 bytes  |S | reach   | function+1 |
//! +-------------------------+--+---------+------------+
//! ```
//!
//! S marks an address more than one function claimed (a MAC-VLAN on two
//! VFs); each claim then has its own slot further along the probe, so a
//! lookup of an address one function owns stops at its first match and
//! only a shared one walks its cluster. A zero word is an empty slot (a
//! claim's low bits are never zero).
//!
//! Reach belongs to the slot's index, not to its claim: 1 + how far past
//! this slot the furthest claim whose home it is lies (0: no claim's home
//! is here; saturating at 63, which means "to the first empty slot"). A
//! lookup walks from its home only that far, so a miss whose home no
//! claim shares (half of them at two-thirds load) ends at its first word,
//! and the others after the few slots their home's claims took, instead
//! of at the end of the cluster, which grows with the table.
//!
//! Open addressing with linear probing over
//! [`SLOTS`] = 3/2 × the board's MAC filters (at most 2/3 full, since the
//! pools cap the claims at `mac_filters`): at capacity a hit takes 2
//! probes and a miss 5 on average (eight slots a cache line), and at 4096
//! filters the table is 48 KiB, with the classifier's answer per owner
//! (12 KiB) inside 64 KiB. The home slot is the high half of
//! (address × a 64-bit odd constant) × SLOTS ("fastrange"): one multiply
//! and one multiply-high, no division, any table size.
//!
//! The table is rebuilt, never edited: [`MacTable::clear`] and inserts.
//! With no deletions a probe ends at the first empty slot, and `clear`
//! zeroes only the cache lines inserts touched (a bitmap of lines), so a
//! rebuild costs what the table holds, not its capacity.
//!
//! Unkeyed, like the hash it replaced: a VF choosing colliding addresses
//! lengthens probes by at most its own MAC quota.

use crate::classifier::PoolSet;
use crate::mac::Mac;

/// Claims the board's table holds (its `mac_filters`).
pub const ENTRIES: usize = hal::board::capacities::MAC_FILTERS;
/// Slots of the board's table.
pub const SLOTS: usize = slots_for(ENTRIES);

/// Slots for `entries` claims: 3/2 of them, whole cache lines of eight.
pub const fn slots_for(entries: usize) -> usize {
    if entries < 4 {
        LINE
    } else {
        (entries * 3 / 2).next_multiple_of(LINE)
    }
}

/// Slots per 64-byte cache line.
const LINE: usize = 8;
/// The bitmap of used lines: 1024 lines, 8192 slots at most.
const LINE_WORDS: usize = 16;

/// A slot's flag: other functions claim the same address.
const SHARED: u64 = 1 << 15;
/// A slot's reach (see the module's text).
const REACH_SHIFT: u32 = 9;
const REACH: u64 = 0x3f << REACH_SHIFT;
/// The reach that means "to the first empty slot".
const FAR: u64 = 63;
/// A slot's function + 1 (never zero in a used slot).
const FUNCTION: u64 = 0x1ff;
const _: () = assert!(hal::chip::MAX_FUNCTIONS < FUNCTION as usize);

/// Fibonacci hashing's multiplier (2^64 / φ, odd).
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// What a lookup found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hit {
    Miss,
    /// One function owns the address.
    One(usize),
    /// Several do; [`MacTable::owners`] from this slot gathers them.
    Shared(usize),
}

/// The table's word for an address: its six bytes, little-endian (a
/// word and a half-word load: `Mac` is 8-aligned).
#[inline(always)]
fn key(mac: &Mac) -> u64 {
    let b = mac.0;
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], 0, 0])
}

#[inline(always)]
fn home<const S: usize>(key: u64) -> usize {
    let h = key.wrapping_mul(GOLDEN);
    ((u128::from(h) * S as u128) >> 64) as usize
}

/// The slot after `i`, wrapping at the end of the table.
#[inline(always)]
fn next<const S: usize>(i: usize) -> usize {
    if i + 1 == S { 0 } else { i + 1 }
}

/// The table, `S` slots (the board's by default; the host benches build
/// other sizes).
#[cfg_attr(test, derive(PartialEq))]
pub struct MacTable<const S: usize = SLOTS> {
    slots: [u64; S],
    /// Cache lines holding a claim since the last clear.
    used_lines: [u64; LINE_WORDS],
    len: usize,
}

impl<const S: usize> MacTable<S> {
    /// Bytes the table takes (what docs/performance.md reports).
    pub const BYTES: usize = core::mem::size_of::<Self>();
    /// Claims it holds: two-thirds of its slots.
    pub const CAPACITY: usize = S * 2 / 3;
    const FITS: () = assert!(S >= LINE && S.is_multiple_of(LINE) && S <= LINE * 64 * LINE_WORDS);

    pub const fn new() -> Self {
        let () = Self::FITS;
        MacTable {
            slots: [0; S],
            used_lines: [0; LINE_WORDS],
            len: 0,
        }
    }

    /// Claims held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the table: only the lines inserts touched.
    pub fn clear(&mut self) {
        for (w, bits) in self.used_lines.iter_mut().enumerate() {
            while *bits != 0 {
                let line = w * 64 + bits.trailing_zeros() as usize;
                *bits &= *bits - 1;
                self.slots[line * LINE..(line + 1) * LINE].fill(0);
            }
        }
        self.len = 0;
    }

    /// Becomes what `from` is: the lines either holds, not all of the
    /// slots (see [`Classifier::restore_from`](crate::classifier::Classifier::restore_from)).
    pub fn restore_from(&mut self, from: &Self) {
        self.clear();
        for (w, &bits) in from.used_lines.iter().enumerate() {
            let mut bits = bits;
            while bits != 0 {
                let line = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let lines = line * LINE..(line + 1) * LINE;
                self.slots[lines.clone()].copy_from_slice(&from.slots[lines]);
            }
        }
        self.used_lines = from.used_lines;
        self.len = from.len;
    }

    /// Function `f` claims `mac`. True if it does now (a repeated claim
    /// takes no slot); false if the table holds [`Self::CAPACITY`] claims
    /// (the board's table: at least its [`ENTRIES`]).
    pub fn insert(&mut self, mac: &Mac, f: usize) -> bool {
        let k = key(mac);
        let mine = (f as u64 + 1) & FUNCTION;
        let mut i = home::<S>(k);
        let mut first_match = None;
        loop {
            let s = self.slots[i];
            if s == 0 {
                break;
            }
            if s >> 16 == k {
                if s & FUNCTION == mine {
                    return true;
                }
                first_match.get_or_insert(i);
            }
            i = next::<S>(i);
        }
        if self.len >= Self::CAPACITY {
            return false;
        }
        let mut claim = k << 16 | mine;
        if let Some(m) = first_match {
            // The first slot of the address is where lookups stop.
            self.slots[m] |= SHARED;
            claim |= SHARED;
        }
        self.slots[i] = claim;
        // The home's reach covers the new claim (the home holds a claim:
        // this one, or one the probe walked past).
        // A claim that wrapped past the table's end makes the reach far:
        // a reach short of it never wraps, so a lookup walks one slice.
        let h = home::<S>(k);
        let reach = if i >= h {
            ((i - h) as u64 + 1).min(FAR)
        } else {
            FAR
        };
        let old = (self.slots[h] & REACH) >> REACH_SHIFT;
        if reach > old {
            self.slots[h] = (self.slots[h] & !REACH) | reach << REACH_SHIFT;
        }
        self.used_lines[i / LINE / 64] |= 1 << (i / LINE % 64);
        self.len += 1;
        true
    }

    /// Who owns `mac`. Always inlined: the data path's decisions are
    /// built around it (out of line, a decision paid 50 more).
    #[inline(always)]
    pub fn get(&self, mac: &Mac) -> Hit {
        let k = key(mac);
        let i = home::<S>(k);
        self.resolve(k, i, self.slots[i])
    }

    /// The probe from slot `i`, whose word `s` the caller already read:
    /// as far as the home's reach.
    #[inline(always)]
    fn resolve(&self, k: u64, i: usize, s: u64) -> Hit {
        #[inline(always)]
        fn found(s: u64, at: usize) -> Hit {
            if s & SHARED == 0 {
                Hit::One((s & FUNCTION) as usize - 1)
            } else {
                Hit::Shared(at)
            }
        }
        if s == 0 {
            return Hit::Miss;
        }
        if s >> 16 == k {
            return found(s, i);
        }
        let reach = ((s & REACH) >> REACH_SHIFT) as usize;
        if reach as u64 == FAR {
            return self.to_first_empty(k, i);
        }
        // The slots after the home that its claims reach: within the
        // table, since a claim that wrapped made the reach far. A plain
        // loop: as a slice walk it cost a decision 10 more to set up,
        // and most walks are one or two slots.
        let end = i + reach;
        let mut j = i + 1;
        while j < end {
            let Some(&s) = self.slots.get(j) else { break };
            if s >> 16 == k {
                return found(s, j);
            }
            j += 1;
        }
        Hit::Miss
    }

    /// The walk past a home whose reach saturated: to the first empty
    /// slot, as plain linear probing does.
    #[cold]
    #[inline(never)]
    fn to_first_empty(&self, k: u64, i: usize) -> Hit {
        let mut j = next::<S>(i);
        while j != i {
            let s = self.slots[j];
            if s == 0 {
                break;
            }
            if s >> 16 == k {
                return if s & SHARED == 0 {
                    Hit::One((s & FUNCTION) as usize - 1)
                } else {
                    Hit::Shared(j)
                };
            }
            j = next::<S>(j);
        }
        Hit::Miss
    }

    /// Adds every owner of `mac` to `set`, from the slot a
    /// [`Hit::Shared`] gave (the rest of the address's cluster). The
    /// address by value: by reference, every lookup's caller had to keep
    /// the frame's addresses in memory for this rare, out-of-line call.
    #[cold]
    pub fn owners(&self, mac: Mac, from: usize, set: &mut PoolSet) {
        let k = key(&mac);
        let mut i = from;
        loop {
            let s = self.slots[i];
            if s == 0 {
                return;
            }
            if s >> 16 == k {
                set.insert((s & FUNCTION) as usize - 1);
            }
            i = next::<S>(i);
        }
    }

    /// [`get`](Self::get) for a burst: `out[i]` answers `macs[i]`. One
    /// pass of independent probes: an out-of-order core overlaps their
    /// loads by itself. (Reading every home slot first, then resolving,
    /// measured slower on the host: 8-10 ns a lookup against 5-7 for this
    /// loop, the table being in cache.)
    pub fn get_burst(&self, macs: &[Mac], out: &mut [Hit]) {
        for (m, o) in macs.iter().zip(out.iter_mut()) {
            *o = self.get(m);
        }
    }
}

// 8 bytes a slot and 3/2 slots a claim (12 bytes a claim), plus the line
// bitmap: what docs/performance.md gives for 4096 filters.
const _: () = assert!(MacTable::<SLOTS>::BYTES <= ENTRIES * 12 + LINE * 8 + 8 * LINE_WORDS + 8);
const _: () = assert!(MacTable::<SLOTS>::CAPACITY >= ENTRIES);

impl<const S: usize> Default for MacTable<S> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(i: u32) -> Mac {
        let b = i.to_be_bytes();
        Mac([0x02, 0x5e, b[0], b[1], b[2], b[3]])
    }

    #[test]
    fn one_owner_shared_owners_and_misses() {
        let mut t = MacTable::<SLOTS>::new();
        assert!(t.insert(&mac(1), 3));
        assert!(t.insert(&mac(2), 0));
        assert!(t.insert(&mac(2), 7));
        assert!(t.insert(&mac(2), 3));
        assert!(t.insert(&mac(1), 3), "a repeated claim");
        assert_eq!(t.len(), 4);
        assert_eq!(t.get(&mac(1)), Hit::One(3));
        assert_eq!(t.get(&mac(9)), Hit::Miss);
        let Hit::Shared(at) = t.get(&mac(2)) else {
            panic!("mac 2 has three owners");
        };
        let mut set = PoolSet::EMPTY;
        t.owners(mac(2), at, &mut set);
        assert_eq!(set.iter().collect::<std::vec::Vec<_>>(), [0, 3, 7]);
        assert_eq!(t.get(&Mac([0; 6])), Hit::Miss, "zero is not an empty match");
    }

    #[test]
    fn full_table_refuses_then_clear_empties_it() {
        let mut t = MacTable::<SLOTS>::new();
        let cap = MacTable::<SLOTS>::CAPACITY as u32;
        for i in 0..cap {
            assert!(t.insert(&mac(i), (i % 200) as usize), "claim {i}");
        }
        assert!(!t.insert(&mac(cap), 1), "past the capacity");
        assert!(t.insert(&mac(5), 5), "a repeat needs no slot");
        for i in 0..cap {
            assert_eq!(t.get(&mac(i)), Hit::One((i % 200) as usize));
        }
        t.clear();
        assert!(t.is_empty());
        assert!(t.slots.iter().all(|&s| s == 0), "every used line zeroed");
        for i in 0..cap {
            assert_eq!(t.get(&mac(i)), Hit::Miss);
        }
        assert!(t.insert(&mac(7), 1));
        assert_eq!(t.get(&mac(7)), Hit::One(1));
    }

    #[test]
    fn a_small_table_full_of_collisions() {
        // Eight slots, five claims (four addresses, one of them shared):
        // probes cross most of the table and wrap.
        let mut t = MacTable::<8>::new();
        assert_eq!(MacTable::<8>::CAPACITY, 5);
        let macs: std::vec::Vec<Mac> = (0..4).map(mac).collect();
        for (f, m) in macs.iter().enumerate() {
            assert!(t.insert(m, f));
        }
        assert!(t.insert(&macs[2], 7), "a second owner");
        assert!(!t.insert(&mac(99), 1), "full");
        for (f, m) in macs.iter().enumerate() {
            let want = if f == 2 {
                matches!(t.get(m), Hit::Shared(_))
            } else {
                t.get(m) == Hit::One(f)
            };
            assert!(want, "{m:?}");
        }
        assert_eq!(t.get(&mac(99)), Hit::Miss, "a miss on a full table ends");
    }

    /// The table against a map from address to its owners, on tables
    /// small enough that clusters wrap and fill.
    fn agrees_with_a_map<const S: usize>(claims: &[(u16, u8)], probes: &[u16]) {
        use std::collections::BTreeMap;
        let mut t = MacTable::<S>::new();
        let mut model: BTreeMap<u16, std::vec::Vec<usize>> = BTreeMap::new();
        for &(a, f) in claims {
            let f = usize::from(f);
            let before: usize = model.values().map(|v| v.len()).sum();
            let repeat = model.get(&a).is_some_and(|v| v.contains(&f));
            let took = t.insert(&mac(u32::from(a)), f);
            assert_eq!(
                took,
                repeat || before < MacTable::<S>::CAPACITY,
                "claim {a} by {f}"
            );
            if took && !repeat {
                model.entry(a).or_default().push(f);
            }
        }
        for &a in probes.iter().chain(model.keys()) {
            let got = t.get(&mac(u32::from(a)));
            match model.get(&a).map(|v| v.as_slice()) {
                None => assert_eq!(got, Hit::Miss, "address {a}"),
                Some(&[f]) => assert_eq!(got, Hit::One(f), "address {a}"),
                Some(owners) => {
                    let Hit::Shared(at) = got else {
                        panic!("address {a}: {got:?}, owners {owners:?}");
                    };
                    let mut set = PoolSet::EMPTY;
                    t.owners(mac(u32::from(a)), at, &mut set);
                    let mut want = owners.to_vec();
                    want.sort();
                    assert_eq!(set.iter().collect::<std::vec::Vec<_>>(), want);
                }
            }
        }
        // Cleared and restored, the table answers as before.
        let mut copy = MacTable::<S>::new();
        copy.insert(&mac(60_000), 1);
        copy.restore_from(&t);
        assert!(copy == t, "restore_from copies the slots and lines");
        t.clear();
        assert!(t.slots.iter().all(|&w| w == 0));
    }

    proptest::proptest! {
        #[test]
        fn tables_agree_with_a_map(
            claims in proptest::collection::vec((0u16..200, 0u8..12), 0..120),
            probes in proptest::collection::vec(0u16..400, 0..64),
        ) {
            agrees_with_a_map::<8>(&claims, &probes);
            agrees_with_a_map::<24>(&claims, &probes);
            agrees_with_a_map::<96>(&claims, &probes);
        }
    }

    #[test]
    fn a_home_whose_reach_saturates_walks_to_the_first_empty_slot() {
        // 70 addresses with one home: the last lie past the 62 slots a
        // reach can say.
        let h = 5;
        let same: std::vec::Vec<Mac> = (0..10_000_000u32)
            .map(mac)
            .filter(|m| home::<SLOTS>(key(m)) == h)
            .take(71)
            .collect();
        assert_eq!(same.len(), 71);
        let mut t = MacTable::<SLOTS>::new();
        for (f, m) in same[..70].iter().enumerate() {
            assert!(t.insert(m, f));
        }
        assert_eq!((t.slots[h] & REACH) >> REACH_SHIFT, FAR);
        for (f, m) in same[..70].iter().enumerate() {
            assert_eq!(t.get(m), Hit::One(f), "claim {f}, {f} slots past its home");
        }
        assert_eq!(t.get(&same[70]), Hit::Miss, "the same home, never inserted");
        // A home right after the run: its reach is its own.
        let next: Mac = (0..10_000_000u32)
            .map(mac)
            .find(|m| home::<SLOTS>(key(m)) == h + 1)
            .unwrap();
        assert_eq!(t.get(&next), Hit::Miss);
        assert!(t.insert(&next, 99));
        assert_eq!(t.get(&next), Hit::One(99));
    }

    #[test]
    fn probes_wrap_around_the_end() {
        // Addresses whose home is the last slot, found by search.
        let mut t = MacTable::<SLOTS>::new();
        let last: std::vec::Vec<Mac> = (0..1_000_000u32)
            .map(mac)
            .filter(|m| home::<SLOTS>(key(m)) == SLOTS - 1)
            .take(3)
            .collect();
        assert_eq!(last.len(), 3);
        for (f, m) in last.iter().enumerate() {
            assert!(t.insert(m, f));
        }
        assert_eq!(t.slots[0] >> 16, key(&last[1]), "second claim wrapped to 0");
        for (f, m) in last.iter().enumerate() {
            assert_eq!(t.get(m), Hit::One(f));
        }
    }

    #[test]
    fn burst_answers_as_single_lookups() {
        let mut t = MacTable::<SLOTS>::new();
        for i in 0..ENTRIES as u32 / 2 {
            t.insert(&mac(i * 2), (i % 9) as usize);
        }
        t.insert(&mac(4), 8);
        let macs: std::vec::Vec<Mac> = (0..70).map(mac).collect();
        let mut out = [Hit::Miss; 70];
        t.get_burst(&macs, &mut out);
        for (m, h) in macs.iter().zip(out) {
            assert_eq!(h, t.get(m));
        }
        assert_eq!(out[1], Hit::Miss);
        assert_eq!(out[2], Hit::One(1));
        assert!(matches!(out[4], Hit::Shared(_)));
    }
}
