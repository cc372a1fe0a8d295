//! Hostile VFs and faults: the misbehaving VF is stopped per policy, the PF
//! is told and can release it, and everyone else keeps working — measured
//! by their delivered frames. Every port's books balance throughout.

use firmware::drops::DropReason;
use firmware::mac::Mac;
use firmware::vf::VlanProto;
use hal::ixgbe::mbx;
use hal::ixgbe::vfreg::{VFCTRL, VFCTRL_RST};
use sim_tests::drivers::pf::PfDriver;
use sim_tests::frames::FrameSpec;
use sim_tests::lab::{Lab, PEER};
use sim_tests::model::PF_RID;
use sim_tests::transport::Transport;

/// Injects one frame for VF `vf` and returns how many it received.
fn delivered(lab: &mut Lab, vf: usize) -> usize {
    lab.wire(&FrameSpec::new(lab.macs[vf], PEER).build());
    lab.rx(vf).len()
}

#[test]
fn a_mailbox_flood_is_rate_limited_then_quarantined_and_others_keep_flowing() {
    let mut lab = Lab::new(3);
    let mut victim_got = 0;
    let mut refused = 0;
    for i in 0..3000 {
        let r = lab.vfs[0]
            .exchange(&mut lab.sim, &[mbx::GET_LINK_STATE, 0], 2)
            .unwrap();
        if r[0] & mbx::NACK != 0 {
            refused += 1;
        }
        if i % 100 == 0 {
            victim_got += delivered(&mut lab, 1);
        }
    }
    assert_eq!(victim_got, 30, "VF 1 got every frame during the flood");
    assert!(refused > 1024, "{refused} refused");
    let info = lab.pf.vf_info(&mut lab.sim, 0).unwrap();
    assert_eq!(info.lifecycle, 4, "quarantined");
    let ev = lab.pf.events(&mut lab.sim);
    assert!(
        ev.iter()
            .any(|e| e.name() == "vf-quarantined" && e.is_for(0) && e.data0 == 1),
        "{ev:?}"
    );
    // Quarantined: it sends nothing (dropped under its own reason), and it
    // is out of the classifier, so nothing is delivered to it.
    lab.send(0, &FrameSpec::new(PEER, lab.macs[0]).build());
    assert!(lab.wire_tx().is_empty());
    assert_eq!(lab.drops(0, DropReason::Quarantined), 1);
    assert_eq!(delivered(&mut lab, 0), 0);
    // The PF releases it; its driver comes back through the reset path.
    lab.pf.release_vf(&mut lab.sim, 0).unwrap();
    lab.restart_vf(0);
    assert_eq!(delivered(&mut lab, 0), 1);
    assert!(
        lab.pf
            .events(&mut lab.sim)
            .iter()
            .any(|e| e.name() == "vf-released")
    );
    lab.assert_balanced();
}

#[test]
fn a_reset_storm_is_quarantined() {
    let mut lab = Lab::new(2);
    for _ in 0..100 {
        lab.sim.bar_write32(lab.vfs[0].rid, VFCTRL, VFCTRL_RST);
    }
    assert_eq!(lab.pf.vf_info(&mut lab.sim, 0).unwrap().lifecycle, 4);
    let ev = lab.pf.events(&mut lab.sim);
    assert!(
        ev.iter()
            .any(|e| e.name() == "vf-quarantined" && e.data0 == 2),
        "{ev:?}"
    );
    assert_eq!(delivered(&mut lab, 1), 1, "VF 1 unaffected");
    // A driver's ordinary resets, a second apart, are fine.
    lab.pf.release_vf(&mut lab.sim, 0).unwrap();
    for _ in 0..3 {
        lab.vfs[0].reset(&mut lab.sim).unwrap();
        lab.sim.delay_us(1_000_000);
    }
    assert_ne!(lab.pf.vf_info(&mut lab.sim, 0).unwrap().lifecycle, 4);
}

#[test]
fn frames_above_the_vfs_max_frame_are_dropped_on_transmit() {
    let mut lab = Lab::new(2);
    lab.send(0, &FrameSpec::new(PEER, lab.macs[0]).payload(3000).build());
    assert!(lab.wire_tx().is_empty());
    assert_eq!(lab.drops(0, DropReason::Mtu), 1);
    lab.vfs[0].set_lpe(&mut lab.sim, 9018).unwrap();
    lab.send(0, &FrameSpec::new(PEER, lab.macs[0]).payload(3000).build());
    assert_eq!(lab.wire_tx().len(), 1);
    lab.assert_balanced();
}

#[test]
fn flr_in_the_middle_of_traffic_cuts_that_vf_only() {
    let mut lab = Lab::new(2);
    for _ in 0..5 {
        assert_eq!(delivered(&mut lab, 0), 1);
        lab.send(0, &FrameSpec::new(PEER, lab.macs[0]).build());
    }
    assert_eq!(lab.wire_tx().len(), 5);
    // Frames queued before the FLR are not sent after it.
    let frame = FrameSpec::new(PEER, lab.macs[0]).build();
    let rid = lab.vfs[0].rid;
    lab.sim.firmware_running = false;
    assert!(lab.rings[0].send(&mut lab.sim, 0, &frame, None));
    lab.sim.config_write(rid, 0x48, 2, 0x8000);
    lab.sim.firmware_running = true;
    lab.sim.delay_us(100_000);
    assert!(lab.wire_tx().is_empty(), "nothing leaves after the FLR");
    assert_eq!(delivered(&mut lab, 0), 0, "nothing reaches it");
    for _ in 0..5 {
        assert_eq!(delivered(&mut lab, 1), 1, "VF 1 unaffected");
    }
    lab.assert_balanced();
}

#[test]
fn pf_driver_reload_keeps_what_the_pf_administered() {
    let mut lab = Lab::new(2);
    let mac = Mac([0x02, 0x12, 0x34, 0x56, 0x78, 0x9a]);
    lab.pf.set_vf_mac(&mut lab.sim, 1, mac).unwrap();
    lab.pf
        .set_vf_vlan(&mut lab.sim, 1, 42, 1, VlanProto::Dot1Q)
        .unwrap();
    lab.pf.set_vf_trust(&mut lab.sim, 1, true).unwrap();
    // The PF function resets (driver unload/reload): SR-IOV goes away.
    lab.sim.config_write(PF_RID, 0x48, 2, 0x8000);
    let mut pf = PfDriver::probe(&mut lab.sim).unwrap();
    assert_eq!(pf.num_vfs(), 0);
    pf.sriov_configure(&mut lab.sim, 2).unwrap();
    let info = pf.vf_info(&mut lab.sim, 1).unwrap();
    assert_eq!(
        (info.mac, info.vlan, info.qos, info.trust),
        (mac, 42, 1, true)
    );
    assert_eq!(info.lifecycle, 1, "awaiting its driver's reset");
}

#[test]
fn a_stalled_host_only_costs_its_own_frames() {
    let mut lab = Lab::new(3);
    // VF 1's driver stops reaping: its 32-descriptor ring fills up.
    for _ in 0..50 {
        lab.wire(&FrameSpec::new(Mac::BROADCAST, PEER).build());
        assert_eq!(lab.rx(2).len(), 1, "VF 2 keeps receiving");
        let _ = lab.rx(0);
    }
    let drops = lab.drops(1, DropReason::NoRxBuffer);
    assert_eq!(drops, 50 - 31, "ring of 32 holds 31");
    assert_eq!(lab.rx(1).len(), 31);
    // Doorbells without progress: a Tx tail rung again and again on an
    // empty ring costs nothing and sends nothing.
    for _ in 0..20 {
        lab.rings[2].doorbell(&mut lab.sim, 0, None);
    }
    lab.sim.delay_us(100);
    assert!(lab.wire_tx().is_empty());
    lab.assert_balanced();
}
