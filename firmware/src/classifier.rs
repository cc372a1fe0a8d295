//! The receive classifier: which functions (pools) may take a frame, by its
//! destination address. Every lookup is O(1) whatever the table sizes:
//!
//! - unicast: a hash table from MAC to the set of functions owning it
//!   (`heapless::FnvIndexMap`, capacity from the board's `mac_filters`);
//! - multicast: the 12-bit hash the VF registered, to the set of functions
//!   that registered it (per function, so groups do not leak between VFs);
//! - broadcast, all-multicast and promiscuous: one set each.
//!
//! Per-function checks (VLAN filter, MTU, link state) follow in the switch.
//! The tables are rebuilt from the functions' configuration when it changes
//! (a control-plane event), never on the per-frame path.

use crate::mac::Mac;
use hal::chip::MAX_FUNCTIONS;

/// Words in a [`PoolSet`].
pub const POOL_WORDS: usize = MAX_FUNCTIONS.div_ceil(64);
/// Entries the unicast table can hold (the board's `mac_filters`).
pub const EXACT_ENTRIES: usize = hal::board::capacities::MAC_FILTERS;

/// A set of functions: bit f is function f (0 = PF, 1 + n = VF n).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolSet(pub [u64; POOL_WORDS]);

impl PoolSet {
    pub const EMPTY: PoolSet = PoolSet([0; POOL_WORDS]);

    pub fn single(f: usize) -> PoolSet {
        let mut s = PoolSet::EMPTY;
        s.insert(f);
        s
    }

    pub fn insert(&mut self, f: usize) {
        self.0[f / 64] |= 1 << (f % 64);
    }

    pub fn remove(&mut self, f: usize) {
        self.0[f / 64] &= !(1 << (f % 64));
    }

    pub fn contains(&self, f: usize) -> bool {
        self.0[f / 64] & (1 << (f % 64)) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    pub fn union(mut self, other: &PoolSet) -> PoolSet {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a |= b;
        }
        self
    }

    pub fn intersect(mut self, other: &PoolSet) -> PoolSet {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a &= b;
        }
        self
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The members, lowest first (cost: one step per member, not per bit).
    pub fn iter(&self) -> Members<'_> {
        Members {
            words: &self.0,
            index: 0,
            word: self.0[0],
        }
    }
}

/// Iterator over a [`PoolSet`]'s members. A plain word walk: the
/// `flat_map` it replaces cost about 100 instructions a frame.
pub struct Members<'a> {
    words: &'a [u64; POOL_WORDS],
    index: usize,
    word: u64,
}

impl Iterator for Members<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.word == 0 {
            self.index += 1;
            self.word = *self.words.get(self.index)?;
        }
        let bit = self.word.trailing_zeros() as usize;
        self.word &= self.word - 1;
        Some(self.index * 64 + bit)
    }
}

/// The receive classifier.
pub struct Classifier {
    exact: heapless::index_map::FnvIndexMap<Mac, PoolSet, EXACT_ENTRIES>,
    multicast: [PoolSet; 4096],
    /// Multicast entries in use, so a rebuild clears only those.
    touched: heapless::Vec<u16, 4096>,
    /// Functions that accept broadcast.
    pub broadcast: PoolSet,
    /// Functions that accept every multicast frame.
    pub all_multicast: PoolSet,
    /// Functions that accept every unicast frame.
    pub promiscuous: PoolSet,
    /// Where unknown unicast from the wire goes (the PF).
    pub default_pool: Option<usize>,
    /// The filter type the VFs were told (multicast hash selection).
    pub mc_filter_type: u32,
}

impl Classifier {
    pub const fn new() -> Classifier {
        Classifier {
            exact: heapless::index_map::FnvIndexMap::new(),
            multicast: [PoolSet::EMPTY; 4096],
            touched: heapless::Vec::new(),
            broadcast: PoolSet::EMPTY,
            all_multicast: PoolSet::EMPTY,
            promiscuous: PoolSet::EMPTY,
            default_pool: None,
            mc_filter_type: 0,
        }
    }

    /// Empties every table (before a rebuild).
    pub fn clear(&mut self) {
        self.exact.clear();
        for h in self.touched.iter() {
            self.multicast[usize::from(*h)] = PoolSet::EMPTY;
        }
        self.touched.clear();
        self.broadcast = PoolSet::EMPTY;
        self.all_multicast = PoolSet::EMPTY;
        self.promiscuous = PoolSet::EMPTY;
        self.default_pool = None;
    }

    /// Function `f` owns `mac`. False if the table is full (the pools'
    /// accounting keeps that from happening; the caller counts it).
    pub fn add_unicast(&mut self, mac: Mac, f: usize) -> bool {
        if let Some(set) = self.exact.get_mut(&mac) {
            set.insert(f);
            return true;
        }
        self.exact.insert(mac, PoolSet::single(f)).is_ok()
    }

    /// Function `f` registered multicast hash `h`.
    pub fn add_multicast_hash(&mut self, h: u16, f: usize) {
        let e = &mut self.multicast[usize::from(h & 0xfff)];
        if e.is_empty() {
            // Capacity is the table's size: a hash is pushed once.
            let _ = self.touched.push(h & 0xfff);
        }
        e.insert(f);
    }

    /// Functions owning the unicast address exactly.
    pub fn owners(&self, mac: &Mac) -> PoolSet {
        self.exact.get(mac).copied().unwrap_or(PoolSet::EMPTY)
    }

    /// Every function that may take a frame to `dst` (before per-function
    /// filters). `from_wire`: unknown unicast goes to the default pool.
    pub fn candidates(&self, dst: &Mac, from_wire: bool) -> PoolSet {
        if *dst == Mac::BROADCAST {
            return self.broadcast;
        }
        if dst.is_multicast() {
            let h = hal::ixgbe::multicast_hash(dst.0, self.mc_filter_type);
            return self.multicast[usize::from(h)]
                .union(&self.all_multicast)
                .union(&self.promiscuous);
        }
        let owners = self.owners(dst);
        let mut set = owners.union(&self.promiscuous);
        if owners.is_empty()
            && from_wire
            && let Some(d) = self.default_pool
        {
            set.insert(d);
        }
        set
    }
}

impl Default for Classifier {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_set_iterates_members() {
        let mut s = PoolSet::EMPTY;
        for f in [0, 63, 64, 256] {
            s.insert(f);
        }
        assert_eq!(s.iter().collect::<std::vec::Vec<_>>(), [0, 63, 64, 256]);
        assert_eq!(s.len(), 4);
        s.remove(63);
        assert!(!s.contains(63) && s.contains(64));
    }

    #[test]
    fn lookups() {
        let mut c = Classifier::new();
        let a = Mac([2, 0, 0, 0, 0, 1]);
        assert!(c.add_unicast(a, 3));
        assert!(c.add_unicast(a, 5), "two owners (macvlan on two VFs)");
        c.default_pool = Some(0);
        c.broadcast = PoolSet::single(3).union(&PoolSet::single(0));
        let group = Mac([1, 0, 0x5e, 0, 0, 7]);
        c.add_multicast_hash(hal::ixgbe::multicast_hash(group.0, 0), 5);
        assert_eq!(
            c.candidates(&a, true).iter().collect::<std::vec::Vec<_>>(),
            [3, 5]
        );
        assert_eq!(
            c.candidates(&Mac([2, 9, 9, 9, 9, 9]), true),
            PoolSet::single(0)
        );
        assert!(
            c.candidates(&Mac([2, 9, 9, 9, 9, 9]), false).is_empty(),
            "VF Tx miss: not to the PF"
        );
        assert_eq!(c.candidates(&Mac::BROADCAST, true).len(), 2);
        assert_eq!(c.candidates(&group, true), PoolSet::single(5));
        assert!(
            c.candidates(&Mac([1, 0, 0x5e, 0, 0, 8]), true).is_empty(),
            "not registered: no leak"
        );
    }

    #[test]
    fn clearing_forgets_every_group() {
        let mut c = Classifier::new();
        let g = Mac([1, 0, 0x5e, 0, 0, 7]);
        c.add_multicast_hash(hal::ixgbe::multicast_hash(g.0, 0), 3);
        c.add_multicast_hash(hal::ixgbe::multicast_hash(g.0, 0), 4);
        assert_eq!(c.candidates(&g, true).len(), 2);
        c.clear();
        assert!(c.candidates(&g, true).is_empty());
        c.add_multicast_hash(hal::ixgbe::multicast_hash(g.0, 0), 5);
        assert_eq!(c.candidates(&g, true), PoolSet::single(5));
    }

    #[test]
    fn table_refuses_when_full() {
        let mut c = Classifier::new();
        for i in 0..EXACT_ENTRIES {
            assert!(c.add_unicast(Mac([2, 0, 0, 0, (i >> 8) as u8, i as u8]), 1));
        }
        assert!(!c.add_unicast(Mac([2, 1, 1, 1, 1, 1]), 1));
    }
}
