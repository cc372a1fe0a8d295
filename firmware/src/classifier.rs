//! The receive classifier: which functions (pools) may take a frame, by its
//! destination address. Every lookup is O(1) whatever the table sizes:
//!
//! - unicast: a hash table from MAC to the functions owning it
//!   ([`crate::mac_table`]: a word a claim, capacity from the board's
//!   `mac_filters`);
//! - multicast: the 12-bit hash the VF registered, to the set of functions
//!   that registered it (per function, so groups do not leak between VFs);
//! - broadcast, all-multicast and promiscuous: one set each.
//!
//! Per-function checks (VLAN filter, MTU, link state) follow in the switch.
//! The tables are rebuilt from the functions' configuration when it changes
//! (a control-plane event), never on the per-frame path.

use crate::mac::Mac;
use crate::mac_table::{Hit, MacTable};
use hal::chip::MAX_FUNCTIONS;

/// Words in a [`PoolSet`].
pub const POOL_WORDS: usize = MAX_FUNCTIONS.div_ceil(64);
/// Entries the unicast table can hold (the board's `mac_filters`).
pub const EXACT_ENTRIES: usize = crate::mac_table::ENTRIES;

/// A set of functions: bit f is function f (0 = PF, 1 + n = VF n).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(align(16))]
pub struct PoolSet(pub [u64; POOL_WORDS]);

impl PoolSet {
    pub const EMPTY: PoolSet = PoolSet([0; POOL_WORDS]);

    #[inline]
    pub fn single(f: usize) -> PoolSet {
        let mut s = PoolSet::EMPTY;
        s.insert(f);
        s
    }

    #[inline]
    pub fn insert(&mut self, f: usize) {
        self.0[f / 64] |= 1 << (f % 64);
    }

    #[inline]
    pub fn remove(&mut self, f: usize) {
        self.0[f / 64] &= !(1 << (f % 64));
    }

    #[inline]
    pub fn contains(&self, f: usize) -> bool {
        self.0[f / 64] & (1 << (f % 64)) != 0
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        // OR the words together: no early exit, no per-word branch.
        self.0.iter().fold(0, |acc, w| acc | w) == 0
    }

    #[inline]
    pub fn union(mut self, other: &PoolSet) -> PoolSet {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a |= b;
        }
        self
    }

    #[inline]
    pub fn intersect(mut self, other: &PoolSet) -> PoolSet {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a &= b;
        }
        self
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The members, lowest first (cost: one step per member, not per bit).
    #[inline]
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

/// Who owns a unicast address (the source check of anti-spoof).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    Nobody,
    One(usize),
    /// Several functions (the caller asks each function's own list).
    Shared,
}

/// The receive classifier.
///
/// The sets a lookup answers with are kept ready: promiscuous and
/// all-multicast members are folded into each entry when the tables are
/// built ([`seal`](Self::seal)), so a lookup is one probe and a reference,
/// with no set copied or merged on the per-frame path.
pub struct Classifier {
    /// Owners of each address.
    exact: MacTable,
    /// Functions per multicast hash, all-multicast and promiscuous
    /// functions folded into the registered ones.
    multicast: [PoolSet; 4096],
    /// Multicast entries in use, so a rebuild clears only those.
    touched: heapless::Vec<u16, 4096>,
    /// Functions that accept broadcast.
    pub broadcast: PoolSet,
    /// Functions that accept every multicast frame.
    all_multicast: PoolSet,
    /// Functions that accept every unicast frame.
    promiscuous: PoolSet,
    /// For each function owning an address: itself and the promiscuous
    /// functions (what a hit answers; kept ready by `seal`).
    singles: [PoolSet; MAX_FUNCTIONS],
    /// The functions owning an address since the last clear.
    owners: PoolSet,
    /// Where unknown unicast from the wire goes (the PF).
    default_pool: Option<usize>,
    /// The filter type the VFs were told (multicast hash selection).
    pub mc_filter_type: u32,
    // What a miss answers (kept ready by `seal`).
    unknown_from_wire: PoolSet,
    unknown_multicast: PoolSet,
    /// Changed since the last `seal` (false when new: an empty table is
    /// sealed, and an all-zero classifier can live in .bss).
    stale: bool,
    /// Some function is promiscuous (kept by `seal`). Without one, a hit
    /// answers its one owner, with no set to copy or walk.
    promiscuous_any: bool,
}

/// Where a frame may go, before the per-function filters.
#[derive(Clone, Copy, Debug)]
pub struct Targets<'a> {
    set: Answer<'a>,
    /// The destination is a unicast address a function owns (VEB: such a
    /// frame stays local; anything else also goes to the wire).
    pub owned: bool,
}

/// A set kept ready in the classifier, or (an address several functions
/// share, rare) one gathered for this lookup.
#[derive(Clone, Copy, Debug)]
enum Answer<'a> {
    Ready(&'a PoolSet),
    Gathered(PoolSet),
    /// An address one function owns, or a miss from the wire with a
    /// default pool, and no function is promiscuous.
    One(usize),
    /// A miss no function takes.
    Nobody,
}

/// The functions a frame goes to, no longer borrowing the classifier:
/// while no function is promiscuous, unicast answers one function or none
/// (the common cases: no set to copy or walk); otherwise a set.
#[derive(Clone, Copy, Debug)]
pub enum Destinations {
    One(usize),
    Nobody,
    Set(PoolSet),
}

impl Destinations {
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        match self {
            Destinations::One(_) => false,
            Destinations::Nobody => true,
            Destinations::Set(s) => s.is_empty(),
        }
    }
}

impl Targets<'_> {
    /// Nobody (what [`Classifier::lookup_burst`]'s output may start as).
    pub const NONE: Targets<'static> = Targets {
        set: Answer::Ready(&PoolSet::EMPTY),
        owned: false,
    };

    /// The functions.
    #[inline(always)]
    pub fn set(&self) -> PoolSet {
        match self.set {
            Answer::Ready(s) => *s,
            Answer::Gathered(s) => s,
            Answer::One(f) => PoolSet::single(f),
            Answer::Nobody => PoolSet::EMPTY,
        }
    }

    /// The functions, as one where there is one known owner.
    #[inline(always)]
    pub fn destinations(&self) -> Destinations {
        match self.set {
            Answer::One(f) => Destinations::One(f),
            Answer::Nobody => Destinations::Nobody,
            Answer::Ready(s) => Destinations::Set(*s),
            Answer::Gathered(s) => Destinations::Set(s),
        }
    }
}

impl Classifier {
    pub const fn new() -> Classifier {
        Classifier {
            exact: MacTable::new(),
            multicast: [PoolSet::EMPTY; 4096],
            touched: heapless::Vec::new(),
            broadcast: PoolSet::EMPTY,
            all_multicast: PoolSet::EMPTY,
            promiscuous: PoolSet::EMPTY,
            singles: [PoolSet::EMPTY; MAX_FUNCTIONS],
            owners: PoolSet::EMPTY,
            default_pool: None,
            mc_filter_type: 0,
            unknown_from_wire: PoolSet::EMPTY,
            unknown_multicast: PoolSet::EMPTY,
            stale: false,
            promiscuous_any: false,
        }
    }

    /// Empties every table (before a rebuild).
    pub fn clear(&mut self) {
        self.exact.clear();
        for h in self.touched.iter() {
            self.multicast[usize::from(*h)] = PoolSet::EMPTY;
        }
        self.touched.clear();
        self.owners = PoolSet::EMPTY;
        self.broadcast = PoolSet::EMPTY;
        self.all_multicast = PoolSet::EMPTY;
        self.promiscuous = PoolSet::EMPTY;
        self.default_pool = None;
        self.stale = true;
    }

    /// Becomes what `from` is, as a copy would make it, touching only the
    /// entries either of the two holds: a copy moves all 219 KB (the
    /// multicast table is 164 KB of it), and the fuzz rig puts its device
    /// back before every input. Relies on what [`clear`](Self::clear) does:
    /// a multicast entry is empty unless it is in `touched`, a slot of the
    /// exact table is empty unless its line is marked used.
    pub fn restore_from(&mut self, from: &Classifier) {
        self.clear();
        let Classifier {
            exact,
            multicast,
            touched,
            broadcast,
            all_multicast,
            promiscuous,
            singles,
            owners,
            default_pool,
            mc_filter_type,
            unknown_from_wire,
            unknown_multicast,
            stale,
            promiscuous_any,
        } = self;
        exact.restore_from(&from.exact);
        for &h in &from.touched {
            multicast[usize::from(h)] = from.multicast[usize::from(h)];
        }
        touched.clone_from(&from.touched);
        *broadcast = from.broadcast;
        *all_multicast = from.all_multicast;
        *promiscuous = from.promiscuous;
        *singles = from.singles;
        *owners = from.owners;
        *default_pool = from.default_pool;
        *mc_filter_type = from.mc_filter_type;
        *unknown_from_wire = from.unknown_from_wire;
        *unknown_multicast = from.unknown_multicast;
        *stale = from.stale;
        *promiscuous_any = from.promiscuous_any;
    }

    /// Function `f` owns `mac`. False if the table is full (the pools'
    /// accounting keeps that from happening; the caller counts it).
    pub fn add_unicast(&mut self, mac: Mac, f: usize) -> bool {
        self.stale = true;
        self.owners.insert(f);
        self.exact.insert(&mac, f)
    }

    /// Function `f` registered multicast hash `h`.
    pub fn add_multicast_hash(&mut self, h: u16, f: usize) {
        self.stale = true;
        let e = &mut self.multicast[usize::from(h & 0xfff)];
        if e.is_empty() {
            // Capacity is the table's size: a hash is pushed once.
            let _ = self.touched.push(h & 0xfff);
        }
        e.insert(f);
    }

    /// Function `f` takes every multicast frame.
    pub fn add_all_multicast(&mut self, f: usize) {
        self.stale = true;
        self.all_multicast.insert(f);
    }

    /// Function `f` takes every frame.
    pub fn add_promiscuous(&mut self, f: usize) {
        self.stale = true;
        self.promiscuous.insert(f);
    }

    /// Where unknown unicast from the wire goes.
    pub fn set_default_pool(&mut self, f: Option<usize>) {
        self.stale = true;
        self.default_pool = f;
    }

    /// Folds the promiscuous and all-multicast sets into the multicast
    /// entries, each owner's answer and the misses' answers, so lookups
    /// need no merging. Call
    /// after changing the tables; lookups before it answer from stale sets
    /// (debug builds assert).
    pub fn seal(&mut self) {
        let prom = self.promiscuous;
        for f in self.owners.iter() {
            let mut s = prom;
            s.insert(f);
            self.singles[f] = s;
        }
        self.unknown_multicast = self.all_multicast.union(&prom);
        for h in self.touched.iter() {
            let e = &mut self.multicast[usize::from(*h)];
            *e = e.union(&self.unknown_multicast);
        }
        self.promiscuous_any = !prom.is_empty();
        self.unknown_from_wire = prom;
        if let Some(d) = self.default_pool {
            self.unknown_from_wire.insert(d);
        }
        self.stale = false;
    }

    /// Every function that may take a frame to `dst` (before per-function
    /// filters). `from_wire`: unknown unicast goes to the default pool.
    #[inline(always)]
    pub fn lookup(&self, dst: &Mac, from_wire: bool) -> Targets<'_> {
        debug_assert!(!self.stale, "classifier looked up before seal()");
        if dst.is_multicast() {
            return self.lookup_multicast(dst);
        }
        self.answer(dst, self.exact.get(dst), from_wire)
    }

    /// [`lookup`](Self::lookup) for a burst of destinations (`out[i]`
    /// answers `dsts[i]`): independent lookups, which an out-of-order core
    /// overlaps by itself (see `MacTable::get_burst`).
    pub fn lookup_burst<'a>(&'a self, dsts: &[Mac], from_wire: bool, out: &mut [Targets<'a>]) {
        for (d, o) in dsts.iter().zip(out.iter_mut()) {
            *o = self.lookup(d, from_wire);
        }
    }

    #[inline(always)]
    fn lookup_multicast(&self, dst: &Mac) -> Targets<'_> {
        let set = if *dst == Mac::BROADCAST {
            &self.broadcast
        } else {
            let h = hal::ixgbe::multicast_hash(dst.0, self.mc_filter_type);
            let e = &self.multicast[usize::from(h)];
            // An unregistered hash: only all-multicast and promiscuous.
            if e.is_empty() {
                &self.unknown_multicast
            } else {
                e
            }
        };
        Targets {
            set: Answer::Ready(set),
            owned: false,
        }
    }

    #[inline(always)]
    fn answer(&self, dst: &Mac, hit: Hit, from_wire: bool) -> Targets<'_> {
        let (set, owned) = match hit {
            Hit::One(f) if !self.promiscuous_any => (Answer::One(f), true),
            Hit::One(f) => (Answer::Ready(&self.singles[f]), true),
            Hit::Shared(at) => {
                let mut set = self.promiscuous;
                self.exact.owners(*dst, at, &mut set);
                (Answer::Gathered(set), true)
            }
            Hit::Miss if self.promiscuous_any => {
                let set = if from_wire {
                    &self.unknown_from_wire
                } else {
                    &self.promiscuous
                };
                (Answer::Ready(set), false)
            }
            Hit::Miss => match self.default_pool {
                Some(d) if from_wire => (Answer::One(d), false),
                _ => (Answer::Nobody, false),
            },
        };
        Targets { set, owned }
    }

    /// Who owns `mac`: one probe, however many addresses a function has.
    #[inline]
    pub fn owner_of(&self, mac: &Mac) -> Owner {
        match self.exact.get(mac) {
            Hit::Miss => Owner::Nobody,
            Hit::Shared(_) => Owner::Shared,
            Hit::One(f) => Owner::One(f),
        }
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

    /// Two classifiers whose tables overlap in part: after `restore_from`
    /// the target holds exactly what the source holds, entry by entry,
    /// including where only the target held something.
    #[test]
    fn restore_from_leaves_exactly_the_source() {
        let fill = |c: &mut Classifier, base: u8, f: usize| {
            for i in 0..40u8 {
                assert!(c.add_unicast(Mac([2, base, 0, 0, i / 7, i]), f + usize::from(i) % 9));
            }
            for h in (u16::from(base)..4096).step_by(97) {
                c.add_multicast_hash(h, f);
            }
            c.add_promiscuous(f + 1);
            c.add_all_multicast(f + 2);
            c.set_default_pool(Some(f));
            c.broadcast = PoolSet::single(f + 3);
            c.mc_filter_type = u32::from(base) % 4;
            c.seal();
        };
        let mut from = std::boxed::Box::new(Classifier::new());
        fill(&mut from, 1, 0);
        // Shares some addresses and hashes with `from`, not all.
        let mut to = std::boxed::Box::new(Classifier::new());
        fill(&mut to, 2, 7);
        assert!(to.add_unicast(Mac([2, 1, 0, 0, 0, 0]), 200));
        to.seal();
        to.restore_from(&from);
        assert!(to.exact == from.exact, "slots, used lines and count");
        assert!(to.multicast == from.multicast, "every multicast entry");
        assert_eq!(to.touched, from.touched);
        assert_eq!(
            (to.broadcast, to.all_multicast, to.promiscuous, to.owners),
            (
                from.broadcast,
                from.all_multicast,
                from.promiscuous,
                from.owners
            )
        );
        assert!(to.singles == from.singles);
        assert_eq!(
            (to.default_pool, to.mc_filter_type, to.stale),
            (from.default_pool, from.mc_filter_type, from.stale)
        );
        assert_eq!(
            (to.unknown_from_wire, to.unknown_multicast),
            (from.unknown_from_wire, from.unknown_multicast)
        );
        // Restored into an empty one, too.
        let mut empty = std::boxed::Box::new(Classifier::new());
        empty.restore_from(&from);
        assert!(empty.exact == from.exact);
        assert!(empty.multicast == from.multicast);
    }

    #[test]
    fn lookups() {
        let mut c = Classifier::new();
        let a = Mac([2, 0, 0, 0, 0, 1]);
        assert!(c.add_unicast(a, 3));
        assert!(c.add_unicast(a, 5), "two owners (macvlan on two VFs)");
        c.set_default_pool(Some(0));
        c.broadcast = PoolSet::single(3).union(&PoolSet::single(0));
        let group = Mac([1, 0, 0x5e, 0, 0, 7]);
        c.add_multicast_hash(hal::ixgbe::multicast_hash(group.0, 0), 5);
        c.seal();
        let hit = c.lookup(&a, true);
        assert_eq!(hit.set().iter().collect::<std::vec::Vec<_>>(), [3, 5]);
        assert!(hit.owned);
        let miss = Mac([2, 9, 9, 9, 9, 9]);
        assert_eq!(c.lookup(&miss, true).set(), PoolSet::single(0));
        assert!(!c.lookup(&miss, true).owned);
        assert!(
            c.lookup(&miss, false).set().is_empty(),
            "VF Tx miss: not to the PF"
        );
        assert_eq!(c.lookup(&Mac::BROADCAST, true).set().len(), 2);
        assert!(!c.lookup(&Mac::BROADCAST, true).owned);
        assert_eq!(c.lookup(&group, true).set(), PoolSet::single(5));
        assert!(
            c.lookup(&Mac([1, 0, 0x5e, 0, 0, 8]), true).set().is_empty(),
            "not registered: no leak"
        );
    }

    #[test]
    fn owners_for_the_source_check() {
        let mut c = Classifier::new();
        let a = Mac([2, 0, 0, 0, 0, 1]);
        let b = Mac([2, 0, 0, 0, 0, 2]);
        c.add_unicast(a, 3);
        c.add_unicast(a, 3);
        c.add_unicast(b, 3);
        c.add_unicast(b, 4);
        c.add_promiscuous(9);
        c.seal();
        assert_eq!(
            c.owner_of(&a),
            Owner::One(3),
            "promiscuity is not ownership"
        );
        assert_eq!(c.owner_of(&b), Owner::Shared);
        assert_eq!(c.owner_of(&Mac([2, 9, 9, 9, 9, 9])), Owner::Nobody);
    }

    #[test]
    fn unicast_answers_one_owner_or_nobody_until_someone_is_promiscuous() {
        let a = Mac([2, 0, 0, 0, 0, 7]);
        let mut c = Classifier::new();
        c.add_unicast(a, 7);
        c.set_default_pool(Some(0));
        c.seal();
        assert!(matches!(
            c.lookup(&a, true).destinations(),
            Destinations::One(7)
        ));
        assert_eq!(c.lookup(&a, true).set(), PoolSet::single(7));
        // A miss: the default pool from the wire, nobody from a VF.
        let other = Mac([2, 0, 0, 0, 0, 8]);
        assert!(matches!(
            c.lookup(&other, true).destinations(),
            Destinations::One(0)
        ));
        assert!(!c.lookup(&other, true).owned);
        assert!(matches!(
            c.lookup(&other, false).destinations(),
            Destinations::Nobody
        ));
        assert!(c.lookup(&other, false).set().is_empty());
        c.add_promiscuous(3);
        c.seal();
        let Destinations::Set(s) = c.lookup(&a, true).destinations() else {
            panic!("a promiscuous function must be in the answer");
        };
        assert_eq!(s.iter().collect::<std::vec::Vec<_>>(), [3, 7]);
        let Destinations::Set(s) = c.lookup(&other, true).destinations() else {
            panic!("a miss goes to the promiscuous function too");
        };
        assert_eq!(s.iter().collect::<std::vec::Vec<_>>(), [0, 3]);
        let Destinations::Set(s) = c.lookup(&other, false).destinations() else {
            panic!("a VF's miss goes to the promiscuous function");
        };
        assert_eq!(s, PoolSet::single(3));
        // And gone again once it is not.
        c.clear();
        c.add_unicast(a, 7);
        c.seal();
        assert!(matches!(
            c.lookup(&a, false).destinations(),
            Destinations::One(7)
        ));
    }

    #[test]
    fn promiscuous_and_all_multicast_are_folded_in() {
        let mut c = Classifier::new();
        let a = Mac([2, 0, 0, 0, 0, 1]);
        let group = Mac([1, 0, 0x5e, 0, 0, 7]);
        let other_group = Mac([1, 0, 0x5e, 0, 0, 9]);
        c.add_unicast(a, 3);
        c.add_multicast_hash(hal::ixgbe::multicast_hash(group.0, 0), 5);
        c.add_promiscuous(7);
        c.add_all_multicast(8);
        c.set_default_pool(Some(0));
        c.seal();
        fn set(c: &Classifier, d: &Mac, wire: bool) -> std::vec::Vec<usize> {
            c.lookup(d, wire).set().iter().collect()
        }
        assert_eq!(set(&c, &a, true), [3, 7]);
        assert_eq!(set(&c, &Mac([2, 9, 9, 9, 9, 9]), true), [0, 7]);
        assert_eq!(set(&c, &Mac([2, 9, 9, 9, 9, 9]), false), [7]);
        assert_eq!(set(&c, &group, true), [5, 7, 8]);
        assert_eq!(set(&c, &other_group, true), [7, 8]);
        // A rebuild starts from nothing: promiscuity does not linger.
        c.clear();
        c.add_unicast(a, 3);
        c.seal();
        assert_eq!(set(&c, &a, true), [3]);
        assert!(c.lookup(&other_group, true).set().is_empty());
    }

    #[test]
    fn clearing_forgets_every_group() {
        let mut c = Classifier::new();
        let g = Mac([1, 0, 0x5e, 0, 0, 7]);
        c.add_multicast_hash(hal::ixgbe::multicast_hash(g.0, 0), 3);
        c.add_multicast_hash(hal::ixgbe::multicast_hash(g.0, 0), 4);
        c.seal();
        assert_eq!(c.lookup(&g, true).set().len(), 2);
        c.clear();
        c.seal();
        assert!(c.lookup(&g, true).set().is_empty());
        c.add_multicast_hash(hal::ixgbe::multicast_hash(g.0, 0), 5);
        c.seal();
        assert_eq!(c.lookup(&g, true).set(), PoolSet::single(5));
    }

    #[test]
    fn table_refuses_when_full() {
        let mut c = Classifier::new();
        for i in 0..EXACT_ENTRIES {
            assert!(c.add_unicast(Mac([2, 0, 0, 0, (i >> 8) as u8, i as u8]), 1));
        }
        assert!(!c.add_unicast(Mac([2, 1, 1, 1, 1, 1]), 1));
    }

    #[test]
    fn burst_lookups_answer_as_single_ones() {
        let mut c = Classifier::new();
        let a = Mac([2, 0, 0, 0, 0, 1]);
        let shared = Mac([2, 0, 0, 0, 0, 2]);
        let group = Mac([1, 0, 0x5e, 0, 0, 7]);
        c.add_unicast(a, 3);
        c.add_unicast(shared, 4);
        c.add_unicast(shared, 6);
        c.add_multicast_hash(hal::ixgbe::multicast_hash(group.0, 0), 5);
        c.add_promiscuous(9);
        c.broadcast.insert(3);
        c.set_default_pool(Some(0));
        c.seal();
        let mut dsts = std::vec::Vec::new();
        for i in 0..40u8 {
            dsts.extend([a, shared, group, Mac::BROADCAST, Mac([2, 9, 9, 9, 9, i])]);
        }
        for wire in [true, false] {
            let mut out = std::vec![Targets::NONE; dsts.len()];
            c.lookup_burst(&dsts, wire, &mut out);
            for (d, t) in dsts.iter().zip(&out) {
                let one = c.lookup(d, wire);
                assert_eq!((t.set(), t.owned), (one.set(), one.owned), "{d:?}");
            }
        }
        let mut want = PoolSet::single(4);
        want.insert(6);
        want.insert(9);
        assert_eq!(
            c.lookup(&shared, true).set(),
            want,
            "owners and the promiscuous"
        );
    }
}
