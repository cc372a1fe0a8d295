//! The data path with a queue manager owning the rings (`firmware::qm`,
//! `sim-tests/queue-manager`): what the manager moves, and the
//! back-pressure that keeps every frame accounted for when its rings fill.
//!
//! The rest of the in-process suites run with the manager too
//! (`SRIOV_SIM_QM=1`, a step of `cargo xtask test`): the same drivers and
//! the same 82599 cases must see the same device either way.

use firmware::device::Capacities;
use firmware::drops::DropReason;
use firmware::mac::Mac;
use queue_manager::Work;
use sim_tests::frames::FrameSpec;
use sim_tests::lab::{Lab, PEER};
use sim_tests::sim::Sim;
use sim_tests::transport::Transport;

fn lab(vfs: u16) -> Lab {
    Lab::on(Sim::with_queue_manager(Capacities::from_board()), vfs)
}

fn work(lab: &Lab) -> Work {
    lab.sim.queue_manager.as_ref().unwrap().manager.work
}

#[test]
fn the_manager_moves_each_frame_the_core_decides() {
    let mut lab = lab(2);
    let before = work(&lab);
    let f = FrameSpec::new(lab.macs[1], PEER)
        .udp([10, 0, 0, 1], [10, 0, 0, 2], 1000, 2000)
        .build();
    lab.wire(&f);
    let got = lab.rx(1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, f);
    let w = work(&lab);
    // Into a ring: the descriptor read, the payload, the write-back.
    assert_eq!(w.wire_in - before.wire_in, 1);
    assert_eq!(w.moves - before.moves, 3);
    assert_eq!(w.bytes - before.bytes, 16 + f.len() as u64 + 16);
    // The VF's statistics registers are the manager's.
    let (gprc, _, gorc, _, _) = lab.rings[1].stats(&mut lab.sim);
    assert_eq!((gprc, gorc), (1, f.len() as u64));

    // VF to the wire: descriptor, payload, DD write-back (RS).
    let before = work(&lab);
    let out = FrameSpec::new(Mac([2, 9, 9, 9, 9, 9]), lab.macs[0]).build();
    lab.send(0, &out);
    assert_eq!(lab.wire_tx(), vec![out.clone()]);
    let w = work(&lab);
    assert_eq!(w.wire_out - before.wire_out, 1);
    assert_eq!(w.moves - before.moves, 3);
    assert_eq!(w.bytes - before.bytes, 16 + out.len() as u64 + 16);
    let (_, gptc, _, gotc, _) = lab.rings[0].stats(&mut lab.sim);
    assert_eq!((gptc, gotc), (1, out.len() as u64));
    lab.assert_balanced();
}

#[test]
fn broadcasts_to_every_vf_past_the_post_and_failure_rings_are_all_counted() {
    // 64 VFs: a broadcast is 65 posts, so a burst of 64 needs more than
    // the 2048 posts the ring holds (the core stops taking arrivals and
    // goes on next poll); every VF's 32 buffers fill, so the rest fail
    // NoRxBuffer, far more than the 256 failures the ring holds (the
    // manager stops serving until the core has read them).
    let mut lab = lab(64);
    for _ in 0..64 {
        lab.sim
            .uplink
            .inject(&FrameSpec::new(Mac::BROADCAST, PEER).build());
    }
    lab.sim.delay_us(100);
    let w = work(&lab);
    assert!(w.failures_full > 0, "the failure ring filled: {w:?}");
    assert_eq!(w.wire_in, 64);
    for vf in 0..64 {
        let got = lab.rx(vf).len() as u32;
        let dropped = lab.drops(vf as u16, DropReason::NoRxBuffer);
        assert_eq!(
            got + dropped,
            64,
            "VF {vf}: {got} received, {dropped} dropped"
        );
        assert!(got >= 31, "VF {vf}: its ring's buffers were used ({got})");
    }
    lab.assert_balanced();
    assert_eq!(lab.sim.device.uplink_counters().rx_packets, 64);
}

#[test]
fn an_ipv4_multicast_group_a_vf_joined_reaches_it() {
    let mut lab = lab(2);
    let group = Mac([0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]);
    lab.vfs[0].set_multicast(&mut lab.sim, &[group]).unwrap();
    for _ in 0..3 {
        let f = FrameSpec::new(group, PEER)
            .udp([10, 215, 0, 1], [224, 1, 2, 3], 1000, 2000)
            .build();
        lab.wire(&f);
    }
    assert_eq!(lab.rx(0).len(), 3);
    let (_, _, _, _, mprc) = lab.rings[0].stats(&mut lab.sim);
    assert_eq!(mprc, 3);
    lab.assert_balanced();
}
