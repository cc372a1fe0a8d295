//! The VF as the drivers written for the 82599 use it, and as the ixgbe PF
//! driver's rules say it must behave: identity, RSS queue limits, rings set
//! up again, link state, statistics across resets, violation events, and
//! the interrupt registers. Each case follows a path Linux's ixgbevf or
//! DPDK's ixgbevf PMD takes (cited), not only the paths our own drivers
//! take.

use firmware::drops::DropReason;
use firmware::mac::Mac;
use firmware::vf::LinkState;
use hal::ixgbe::vfreg::*;
use sim_tests::drivers::queues::Rings;
use sim_tests::frames::FrameSpec;
use sim_tests::lab::{Lab, PEER};
use sim_tests::transport::Transport;

/// Linux's ixgbe PF driver's ID table (ixgbe_pci_tbl, vendor 0x8086): our
/// PF must not be among them, or ixgbe would bind it.
const IXGBE_PF_IDS: &[u16] = &[
    0x10b6, 0x10c6, 0x10c7, 0x10c8, 0x150b, 0x10dd, 0x10ec, 0x10f1, 0x10e1, 0x10f4, 0x10db, 0x1508,
    0x10f7, 0x10fc, 0x1517, 0x10fb, 0x1507, 0x1514, 0x10f9, 0x152a, 0x1529, 0x151c, 0x10f8, 0x154d,
    0x154f, 0x1558, 0x1557, 0x154a, 0x1528, 0x1560, 0x1563, 0x15d1, 0x15aa, 0x15b0, 0x15ab, 0x15ad,
    0x15ac, 0x15ae, 0x15c2, 0x15c3, 0x15c4, 0x15c6, 0x15c7, 0x15c8, 0x15ce, 0x15e4, 0x15e5, 0x57ae,
    0x57af, 0x57b0, 0x57b1, 0x57b2,
];
/// Linux's ixgbevf ID table (ixgbevf_pci_tbl, vendor 0x8086).
const IXGBEVF_IDS: &[u16] = &[
    0x10ed, 0x152e, 0x1515, 0x1530, 0x1565, 0x1564, 0x15a8, 0x15a9, 0x15c5, 0x57ad,
];

fn udp(dst: Mac, port: u16) -> Vec<u8> {
    FrameSpec::new(dst, PEER)
        .udp([10, 0, 0, 1], [10, 0, 0, 2], port, 4789)
        .build()
}

#[test]
fn functions_enumerate_as_intel_ids_ixgbevf_binds_and_ixgbe_does_not() {
    let mut lab = Lab::new(2);
    let lines = lab.pf.lspci_n(&mut lab.sim);
    assert_eq!(
        lines,
        [
            "01:00.0 0200: 8086:1505 (rev 01)",
            "01:10.0 0200: 8086:10ed (rev 01)",
            "01:10.1 0200: 8086:10ed (rev 01)",
        ]
    );
    // The VF's own ID registers read 0xffff (SR-IOV): the OS uses the PF's
    // vendor, which is why the PF's must be Intel's.
    let vf = lab.vfs[0].rid;
    assert_eq!(lab.sim.config_read(vf, 0, 4), 0xffff_ffff);
    assert!(IXGBEVF_IDS.contains(&0x10ed));
    assert!(!IXGBE_PF_IDS.contains(&0x1505) && !IXGBEVF_IDS.contains(&0x1505));
}

#[test]
fn with_one_rx_queue_rss_uses_only_that_queue() {
    // ixgbevf with one Rx queue (and DPDK with nb_rx_queues = 1) writes
    // VFPSRTYPE.RQPL = 0 and enables queue 0 alone, although the board
    // gives every VF two queue pairs.
    let mut lab = Lab::new(1);
    lab.vfs[0].bring_up(&mut lab.sim).unwrap();
    let rid = lab.vfs[0].rid;
    lab.rings[0] = Rings::setup(&mut lab.sim, rid, 0, 1, 64, 2, false).unwrap();
    assert_eq!(lab.sim.bar_read32(rid, VFPSRTYPE) & PSRTYPE_RQPL_MASK, 0);
    for port in 0..32 {
        lab.wire(&udp(lab.macs[0], 1000 + port));
    }
    let got = lab.rx(0);
    assert_eq!(got.len(), 32, "every flow reaches the one queue");
    assert!(got.iter().all(|r| r.queue == 0));
    assert_eq!(lab.drops(0, DropReason::RingDisabled), 0);
    lab.assert_balanced();
}

#[test]
fn with_rqpl_one_rss_spreads_over_two_queues() {
    let mut lab = Lab::new(1);
    let rid = lab.vfs[0].rid;
    assert_eq!(
        lab.sim.bar_read32(rid, VFPSRTYPE) & PSRTYPE_RQPL_MASK,
        1 << PSRTYPE_RQPL_SHIFT,
        "two queues: RQPL 1, as ixgbevf writes BIT(29)"
    );
    for port in 0..32 {
        lab.wire(&udp(lab.macs[0], 1000 + port));
    }
    let got = lab.rx(0);
    assert_eq!(got.len(), 32);
    assert!(got.iter().any(|r| r.queue == 0) && got.iter().any(|r| r.queue == 1));
}

#[test]
fn a_ring_set_up_again_restarts_at_the_head_the_driver_wrote() {
    // ixgbevf_configure_rx_ring / _tx_ring on every reset, `ip link set
    // up`, MTU change and ring resize: queue off, RDH = RDT = 0, queue on,
    // and the next frame is expected in descriptor 0.
    let mut lab = Lab::new(1);
    for port in 0..5 {
        lab.wire(&udp(lab.macs[0], port));
    }
    assert_eq!(lab.rx(0).len(), 5);
    let wire_frame = FrameSpec::new(PEER, lab.macs[0]).build();
    for _ in 0..3 {
        lab.send(0, &wire_frame);
    }
    assert_eq!(lab.wire_tx().len(), 3);
    let rid = lab.vfs[0].rid;
    // No frame between the disable and the enable: the firmware never
    // sees the queue off.
    lab.rings[0] = Rings::setup(&mut lab.sim, rid, 0, 2, 32, 2, false).unwrap();
    lab.wire(&udp(lab.macs[0], 7));
    assert_eq!(lab.rx(0).len(), 1, "the frame is in descriptor 0");
    assert_eq!(
        lab.sim.bar_read32(rid, hal::ixgbe::queuereg::rdh(0))
            + lab.sim.bar_read32(rid, hal::ixgbe::queuereg::rdh(1)),
        1
    );
    lab.send(0, &wire_frame);
    assert_eq!(lab.wire_tx().len(), 1, "Tx restarts at descriptor 0 too");
    lab.assert_balanced();
}

#[test]
fn traffic_resumes_after_a_vf_reset_and_an_flr_in_the_middle_of_it() {
    let mut lab = Lab::new(2);
    let rid = lab.vfs[0].rid;
    for round in 0..3u16 {
        for port in 0..4 {
            lab.wire(&udp(lab.macs[0], 100 * round + port));
        }
        assert_eq!(lab.rx(0).len(), 4, "round {round}");
        match round {
            0 => lab.restart_vf(0),
            1 => {
                // The FLR starts while frames keep arriving: they are
                // dropped and counted, never written anywhere.
                lab.pf.start_flr(&mut lab.sim, rid);
                for port in 0..3 {
                    lab.wire(&udp(lab.macs[0], 900 + port));
                }
                lab.sim.delay_us(100_000);
                lab.pf.finish_flr(&mut lab.sim, rid).unwrap();
                lab.restart_vf(0);
            }
            _ => {}
        }
    }
    assert!(lab.rx(1).is_empty());
    lab.assert_balanced();
}

#[test]
fn link_state_disable_keeps_the_vfs_frames_and_counts_them_as_its_drops() {
    let mut lab = Lab::new(2);
    lab.pf
        .set_vf_link_state(&mut lab.sim, 1, LinkState::Disable)
        .unwrap();
    // ixgbe_set_vf_link_state: clear_to_send dropped, the VF pinged
    // without CTS; the VF resets and comes up with its link disabled.
    assert_eq!(lab.pf.vf_info(&mut lab.sim, 1).unwrap().lifecycle, 1);
    lab.restart_vf(1);
    assert_eq!(lab.vfs[1].get_link_state(&mut lab.sim), Ok(false));
    lab.pf_rx();
    lab.wire(&udp(lab.macs[1], 1));
    assert!(lab.pf_rx().is_empty(), "not to the default pool");
    assert!(lab.rx(1).is_empty());
    assert_eq!(lab.drops(1, DropReason::LinkDown), 1);
    // From another VF: stays inside (the VF's MAC filter is kept), dropped.
    lab.send(0, &FrameSpec::new(lab.macs[1], lab.macs[0]).build());
    assert!(lab.wire_tx().is_empty(), "not out of the wire");
    assert_eq!(lab.drops(1, DropReason::LinkDown), 2);
    let st = lab.pf.vf_stats(&mut lab.sim, 1).unwrap();
    assert_eq!((st.rx_packets, st.rx_dropped), (0, 2));
    // Enabled again: the same VF receives again (after its restart).
    lab.pf
        .set_vf_link_state(&mut lab.sim, 1, LinkState::Auto)
        .unwrap();
    lab.restart_vf(1);
    lab.wire(&udp(lab.macs[1], 2));
    assert_eq!(lab.rx(1).len(), 1);
    lab.assert_balanced();
}

#[test]
fn statistics_registers_restart_at_an_flr_and_survive_a_vf_reset() {
    let mut lab = Lab::new(1);
    let rid = lab.vfs[0].rid;
    for port in 0..2 {
        lab.wire(&udp(lab.macs[0], port));
    }
    lab.send(0, &FrameSpec::new(PEER, lab.macs[0]).build());
    let (gprc, gptc, gorc, gotc, _) = lab.rings[0].stats(&mut lab.sim);
    assert_eq!((gprc, gptc), (2, 1));
    assert!(gorc > 0 && gotc > 0);
    // VFCTRL.RST: the driver's own reset; ixgbevf re-bases its totals.
    lab.restart_vf(0);
    assert_eq!(lab.rings[0].stats(&mut lab.sim).0, 2);
    // FLR: the function may have a new owner, who reads nothing of the
    // previous one's traffic.
    lab.pf.flr(&mut lab.sim, rid).unwrap();
    lab.restart_vf(0);
    assert_eq!(lab.rings[0].stats(&mut lab.sim), (0, 0, 0, 0, 0));
    // The PF's books (ip -s link) are the operator's: they keep counting.
    let st = lab.pf.vf_stats(&mut lab.sim, 0).unwrap();
    assert_eq!((st.rx_packets, st.tx_packets), (2, 1));
}

#[test]
fn vfmprc_counts_multicast_but_not_broadcast() {
    let mut lab = Lab::new(1);
    let group = Mac([0x01, 0x00, 0x5e, 0x00, 0x00, 0x42]);
    lab.vfs[0].set_multicast(&mut lab.sim, &[group]).unwrap();
    lab.wire(&FrameSpec::new(Mac::BROADCAST, PEER).build());
    lab.wire(&FrameSpec::new(group, PEER).build());
    assert_eq!(lab.rx(0).len(), 2);
    let (gprc, _, _, _, mprc) = lab.rings[0].stats(&mut lab.sim);
    assert_eq!((gprc, mprc), (2, 1));
}

#[test]
fn statistics_registers_count_every_frame_of_a_burst_taken_in_one_poll() {
    // Frames taken in one poll (and a broadcast to every function) each
    // count, in packets and in octets: what any batching of the register
    // updates must keep (one per poll was measured, docs/performance.md).
    let mut lab = Lab::new(2);
    let frames: Vec<Vec<u8>> = (0..5).map(|i| udp(lab.macs[0], 100 + i * 37)).collect();
    let broadcast = FrameSpec::new(Mac::BROADCAST, PEER).build();
    for f in &frames {
        lab.sim.uplink.inject(f);
    }
    lab.sim.uplink.inject(&broadcast);
    lab.sim.uplink.inject(&broadcast);
    lab.sim.step();
    assert_eq!(lab.rx(0).len(), 7);
    assert_eq!(lab.rx(1).len(), 2);
    let unicast: u64 = frames.iter().map(|f| f.len() as u64).sum();
    let b = broadcast.len() as u64;
    let (gprc, gptc, gorc, gotc, mprc) = lab.rings[0].stats(&mut lab.sim);
    assert_eq!(
        (gprc, gptc, gorc, gotc, mprc),
        (7, 0, unicast + 2 * b, 0, 0)
    );
    let (gprc, _, gorc, _, _) = lab.rings[1].stats(&mut lab.sim);
    assert_eq!((gprc, gorc), (2, 2 * b));
    // And the next poll's frames add to them.
    lab.wire(&frames[0]);
    let (gprc, _, gorc, _, _) = lab.rings[0].stats(&mut lab.sim);
    assert_eq!((gprc, gorc), (8, unicast + 2 * b + frames[0].len() as u64));
    lab.assert_balanced();
}

#[test]
fn two_violations_between_two_polls_are_two_events_of_their_own_kinds() {
    let mut lab = Lab::new(1);
    let rid = lab.vfs[0].rid;
    lab.pf.events(&mut lab.sim);
    // Straight to the hardware, so the firmware does not poll in between.
    lab.sim.model.bar_write32(rid, VFMBMEM, 1);
    lab.sim.model.bar_write32(rid, VFMAILBOX, MBX_REQ);
    lab.sim.step();
    let kinds: Vec<u32> = lab
        .pf
        .events(&mut lab.sim)
        .iter()
        .filter(|e| e.name() == "mailbox-violation")
        .map(|e| e.data0)
        .collect();
    assert_eq!(
        kinds,
        [1, 2],
        "WriteWithoutOwnership, RequestWithoutOwnership"
    );
    assert_eq!(lab.pf.vf_info(&mut lab.sim, 0).unwrap().mbx_violations, 2);
}

/// The registers ixgbevf_irq_enable writes (ixgbevf_configure_msix: queue
/// vector 0, the mailbox on vector 1).
fn ixgbevf_irq_enable(t: &mut impl Transport, rid: u16) {
    t.bar_write32(rid, VTIVAR, 0x8080);
    t.bar_write32(rid, VTIVAR_MISC, 0x81);
    t.bar_write32(rid, VTEIAM, 0b11);
    t.bar_write32(rid, VTEIAC, 0b11);
    t.bar_write32(rid, VTEIMS, 0b11);
}

#[test]
fn a_pf_message_fires_the_mailbox_vector_which_auto_clears_and_auto_masks() {
    let mut lab = Lab::new(1);
    let rid = lab.vfs[0].rid;
    ixgbevf_irq_enable(&mut lab.sim, rid);
    assert_eq!(lab.sim.take_interrupts(rid), 0);
    lab.pf.ping_vfs(&mut lab.sim).unwrap();
    lab.sim.delay_us(10);
    assert_eq!(lab.sim.take_interrupts(rid), 0b10, "vector 1: the mailbox");
    let irq = lab.sim.model.interrupts(rid).unwrap();
    assert_eq!(irq.eicr & 0b10, 0, "VTEIAC: the cause cleared itself");
    assert_eq!(irq.eims, 0b01, "VTEIAM: the vector masked itself");
    // ixgbevf_msix_other reads the message later and re-enables the
    // vector; a message that arrived while masked fires then.
    lab.vfs[0].read_msg(&mut lab.sim, 1).unwrap();
    lab.pf.ping_vfs(&mut lab.sim).unwrap();
    lab.sim.delay_us(10);
    assert_eq!(lab.sim.take_interrupts(rid), 0, "masked");
    lab.sim.bar_write32(rid, VTEIMS, 0b10);
    assert_eq!(lab.sim.take_interrupts(rid), 0b10, "fires once unmasked");
}

#[test]
fn dpdk_finds_the_mailbox_cause_cleared_when_its_vector_fired() {
    // DPDK's ixgbevf PMD: misc cause on vector 0, VTEIAM = VTEIAC = VTEIMS
    // = 3; its handler masks everything, reads VTEICR, and handles the
    // mailbox only when what it reads is 0 (the auto-cleared vector 0).
    let mut lab = Lab::new(1);
    let rid = lab.vfs[0].rid;
    lab.sim.bar_write32(rid, VTIVAR_MISC, 0x80);
    for r in [VTEIAM, VTEIAC, VTEIMS] {
        lab.sim.bar_write32(rid, r, 0b11);
    }
    lab.pf
        .set_vf_mac(&mut lab.sim, 0, Mac([0x02, 0, 0, 0, 0x77, 0x01]))
        .unwrap();
    lab.sim.delay_us(10);
    assert_eq!(lab.sim.take_interrupts(rid), 0b01);
    lab.sim.bar_write32(rid, VTEIMC, 0b111);
    assert_eq!(lab.sim.bar_read32(rid, VTEICR) & 0b111, 0);
    let msg = lab.vfs[0].read_msg(&mut lab.sim, 1).unwrap();
    assert_eq!(msg[0], hal::ixgbe::mbx::PF_CONTROL_MSG, "the reset request");
}

#[test]
fn queue_causes_follow_vtivar_and_stay_set_without_auto_clear() {
    let mut lab = Lab::new(1);
    let rid = lab.vfs[0].rid;
    // Rx queue 0 → vector 0, Rx queue 1 → vector 1; no auto-clear or mask.
    lab.sim.bar_write32(rid, VTIVAR, 0x0081_0080);
    lab.sim.bar_write32(rid, VTEIMS, 0b11);
    let mut seen = 0;
    for port in 0..32 {
        lab.wire(&udp(lab.macs[0], port));
        seen |= lab.sim.take_interrupts(rid);
    }
    assert_eq!(seen, 0b11, "both queues' vectors fired");
    // Both causes are still set: nothing fires again until they clear.
    lab.wire(&udp(lab.macs[0], 0));
    assert_eq!(lab.sim.take_interrupts(rid), 0);
    assert_eq!(lab.sim.bar_read32(rid, VTEICR), 0b11, "read-to-clear");
    assert_eq!(lab.sim.bar_read32(rid, VTEICR), 0);
    let mut again = 0;
    for port in 0..32 {
        lab.wire(&udp(lab.macs[0], port));
        again |= lab.sim.take_interrupts(rid);
    }
    assert_eq!(again, 0b11);
    // VTEICS fires a vector by hand (ixgbevf's Tx hang check does).
    lab.sim.bar_read32(rid, VTEICR);
    lab.sim.bar_write32(rid, VTEICS, 0b01);
    assert_eq!(lab.sim.take_interrupts(rid), 0b01);
    // A VF reset returns the interrupt registers to 0.
    lab.restart_vf(0);
    let irq = lab.sim.model.interrupts(rid).unwrap();
    assert_eq!((irq.eicr, irq.eims, irq.ivar), (0, 0, [0; 4]));
}
