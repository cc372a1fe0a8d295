//! A ready-made device for data-path tests: the in-process simulation with
//! VFs enabled and up, the PF's MAC set, and queues on every function.

use crate::drivers::pf::PfDriver;
use crate::drivers::queues::{Rings, RxFrame};
use crate::drivers::vf::VfDriver;
use crate::model::{PF_RID, pfreg};
use crate::sim::Sim;
use crate::transport::Transport;
use firmware::drops::DropReason;
use firmware::mac::Mac;

pub const PF_MAC: Mac = Mac([0x02, 0xf0, 0, 0, 0, 1]);
pub const PEER: Mac = Mac([0x02, 0xee, 0, 0, 0, 9]);

pub struct Lab {
    pub sim: Sim,
    pub pf: PfDriver,
    pub pf_rings: Rings,
    pub vfs: Vec<VfDriver>,
    pub rings: Vec<Rings>,
    pub macs: Vec<Mac>,
}

impl Lab {
    pub fn new(n: u16) -> Lab {
        Self::on(Sim::with_board_capacities(), n)
    }

    /// [`Lab::new`] on a given simulation (smaller capacities than the
    /// board's).
    pub fn on(mut sim: Sim, n: u16) -> Lab {
        let mut pf = PfDriver::probe(&mut sim).unwrap();
        pf.sriov_configure(&mut sim, n).unwrap();
        pf.set_pf_mac(&mut sim, PF_MAC).unwrap();
        let pf_rings = Rings::setup(&mut sim, PF_RID, pfreg::QUEUES, 2, 32, 2, false).unwrap();
        let mut lab = Lab {
            sim,
            pf,
            pf_rings,
            vfs: Vec::new(),
            rings: Vec::new(),
            macs: Vec::new(),
        };
        for i in 0..n {
            let mut vf = VfDriver::new(lab.pf.vf_rid(&mut lab.sim, i));
            let up = vf.bring_up(&mut lab.sim).unwrap();
            let rings = Rings::setup(&mut lab.sim, vf.rid, 0, 2, 32, 2, false).unwrap();
            lab.macs.push(up.mac);
            lab.vfs.push(vf);
            lab.rings.push(rings);
        }
        lab.pf.events(&mut lab.sim);
        lab
    }

    /// The VF driver goes through its reset path again (and sets its
    /// queues up again, as a reset clears them).
    pub fn restart_vf(&mut self, i: usize) {
        self.vfs[i].bring_up(&mut self.sim).unwrap();
        self.rings[i] = Rings::setup(&mut self.sim, self.vfs[i].rid, 0, 2, 32, 2, false).unwrap();
    }

    pub fn wire(&mut self, frame: &[u8]) {
        self.sim.inject(frame);
        self.sim.delay_us(10);
    }

    pub fn rx(&mut self, vf: usize) -> Vec<RxFrame> {
        self.rings[vf].receive(&mut self.sim)
    }

    pub fn pf_rx(&mut self) -> Vec<RxFrame> {
        self.pf_rings.receive(&mut self.sim)
    }

    pub fn send(&mut self, vf: usize, frame: &[u8]) {
        assert!(self.rings[vf].send(&mut self.sim, 0, frame, None));
        self.sim.delay_us(10);
    }

    pub fn wire_tx(&mut self) -> Vec<Vec<u8>> {
        self.sim.uplink.take_tx()
    }

    pub fn drops(&mut self, port: u16, r: DropReason) -> u32 {
        self.pf.drops(&mut self.sim, port).unwrap()[r as usize]
    }

    /// Every port's books balance.
    pub fn assert_balanced(&self) {
        let d = &self.sim.device;
        assert!(
            d.uplink_counters().balanced(),
            "uplink {:?}",
            d.uplink_counters()
        );
        for f in 0..=self.vfs.len() {
            let c = d.port_counters(f).unwrap();
            assert!(c.balanced(), "function {f}: {c:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::FrameSpec;
    use firmware::device::Capacities;

    /// A device small enough for Miri (`cargo xtask miri`), whose polls
    /// in long waits are 10 ms apart (`Sim::idle_poll_ns`).
    fn small() -> Sim {
        let mut sim = Sim::new(Capacities {
            total_vfs: 1,
            queue_pairs_per_vf: 2,
            pf_queue_pairs: 2,
            mac_filters: 8,
            vlan_filters: 8,
            multicast_hashes: 8,
        });
        sim.idle_poll_ns = 10_000_000;
        sim
    }

    fn udp(dst: Mac, src: Mac) -> Vec<u8> {
        FrameSpec::new(dst, src)
            .udp([10, 0, 0, 1], [10, 0, 0, 2], 1000, 2000)
            .build()
    }

    /// The data path with the PF alone: the model and the firmware over
    /// the window, descriptors and frames by DMA in host memory. The
    /// fewest polls that reach all of it (Miri's quick set).
    #[test]
    fn pf_frames_both_ways() {
        let mut sim = small();
        let mut pf = PfDriver::probe(&mut sim).unwrap();
        pf.set_pf_mac(&mut sim, PF_MAC).unwrap();
        let mut rings = Rings::setup(&mut sim, PF_RID, pfreg::QUEUES, 1, 8, 1, false).unwrap();
        let f = udp(PF_MAC, PEER);
        sim.inject(&f);
        sim.delay_us(10);
        let got = rings.receive(&mut sim);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data, f);
        let back = udp(PEER, PF_MAC);
        assert!(rings.send(&mut sim, 0, &back, None));
        sim.delay_us(10);
        assert_eq!(sim.uplink.take_tx(), vec![back]);
    }

    /// A VF too: SR-IOV enabled, the VF's mailbox bring-up, its rings.
    #[test]
    fn a_small_lab_passes_frames_both_ways() {
        let mut lab = Lab::on(small(), 1);
        let f = udp(lab.macs[0], PEER);
        lab.wire(&f);
        let got = lab.rx(0);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data, f);
        let back = udp(PEER, lab.macs[0]);
        lab.send(0, &back);
        assert_eq!(lab.wire_tx(), vec![back]);
        lab.assert_balanced();
    }
}
