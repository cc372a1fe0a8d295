//! The shared resources VFs draw from: exact-match MAC filters, VLAN filter
//! entries and multicast hash entries. Sizes come from the board config.
//! Running out is reported (NACK, counter, PF event), never silent.

/// Which pool ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PoolKind {
    MacFilters = 1,
    VlanFilters = 2,
    MulticastHashes = 3,
}

/// A counted pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    pub capacity: u32,
    pub used: u32,
}

impl Pool {
    pub const fn new(capacity: u32) -> Pool {
        Pool { capacity, used: 0 }
    }

    pub fn free(&self) -> u32 {
        self.capacity - self.used
    }

    /// Takes `n` entries, or none if fewer are free.
    pub fn take(&mut self, n: u32) -> bool {
        if n <= self.free() {
            self.used += n;
            true
        } else {
            false
        }
    }

    pub fn give(&mut self, n: u32) {
        debug_assert!(n <= self.used, "giving back more than taken");
        self.used = self.used.saturating_sub(n);
    }
}

/// VLAN filter entries: one per distinct VID in use by any function (like
/// the 82599's VID → pool-mask table), reference-counted.
#[derive(Clone)]
pub struct VlanTable {
    refs: [u16; 4096],
    /// The sum of `refs` (so that an audit needs no pass over all VIDs).
    total: u32,
    pub pool: Pool,
}

impl VlanTable {
    pub const fn new(capacity: u32) -> VlanTable {
        VlanTable {
            refs: [0; 4096],
            total: 0,
            pool: Pool::new(capacity),
        }
    }

    /// One more function uses `vid`; takes an entry if it is the first.
    pub fn acquire(&mut self, vid: u16) -> bool {
        let r = &mut self.refs[usize::from(vid & 0xfff)];
        if *r == 0 && !self.pool.take(1) {
            return false;
        }
        *r += 1;
        self.total += 1;
        true
    }

    /// One function stopped using `vid`.
    pub fn release(&mut self, vid: u16) {
        let r = &mut self.refs[usize::from(vid & 0xfff)];
        debug_assert!(*r > 0, "releasing VID {vid} nobody holds");
        if *r > 0 {
            *r -= 1;
            self.total -= 1;
            if *r == 0 {
                self.pool.give(1);
            }
        }
    }

    /// Functions using `vid`.
    pub fn users(&self, vid: u16) -> u16 {
        self.refs[usize::from(vid & 0xfff)]
    }

    /// Uses summed over all VIDs.
    pub fn total(&self) -> u32 {
        self.total
    }
}

/// All pools.
#[derive(Clone)]
pub struct Pools {
    pub mac: Pool,
    pub vlan: VlanTable,
    pub multicast: Pool,
}

impl Pools {
    pub const fn new(mac: u32, vlan: u32, multicast: u32) -> Pools {
        Pools {
            mac: Pool::new(mac),
            vlan: VlanTable::new(vlan),
            multicast: Pool::new(multicast),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_refuses_beyond_capacity() {
        let mut p = Pool::new(3);
        assert!(p.take(2));
        assert!(!p.take(2), "only one left");
        assert_eq!(p.used, 2);
        p.give(2);
        assert!(p.take(3));
    }

    #[test]
    fn vlan_entries_are_shared_by_vid() {
        let mut t = VlanTable::new(2);
        assert!(t.acquire(0));
        assert!(t.acquire(0), "same VID, no new entry");
        assert!(t.acquire(10));
        assert!(!t.acquire(20), "two distinct VIDs fill it");
        assert_eq!(t.pool.used, 2);
        t.release(0);
        assert_eq!(t.pool.used, 2, "VID 0 still has a user");
        t.release(0);
        assert_eq!(t.pool.used, 1);
        assert!(t.acquire(20));
    }
}
