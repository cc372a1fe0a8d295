//! The data path end to end: frames from the uplink and from VF and PF
//! Tx rings, switched by the firmware, seen through the drivers' rings.

use firmware::admin::{self, BridgeMode};
use firmware::drops::DropReason;
use firmware::mac::Mac;
use firmware::vf::{LinkState, VlanProto};
use hal::ixgbe::desc::*;
use sim_tests::frames::FrameSpec;
use sim_tests::transport::Transport;

use sim_tests::lab::{Lab, PEER, PF_MAC};

#[test]
fn unicast_from_the_wire_reaches_its_vf_only() {
    let mut lab = Lab::new(3);
    let f = FrameSpec::new(lab.macs[1], PEER)
        .udp([10, 0, 0, 1], [10, 0, 0, 2], 1000, 2000)
        .build();
    lab.wire(&f);
    let got = lab.rx(1);
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.data, f);
    assert_eq!(
        r.status & (RX_STAT_DD | RX_STAT_EOP | RX_STAT_VP | RX_STAT_LB),
        RX_STAT_DD | RX_STAT_EOP
    );
    assert_eq!(r.pkt_info & 0xf, RSS_TYPE_UDP_IPV4);
    assert_eq!(
        r.pkt_info & (PKTTYPE_IPV4 | PKTTYPE_UDP),
        PKTTYPE_IPV4 | PKTTYPE_UDP
    );
    assert!(lab.rx(0).is_empty() && lab.rx(2).is_empty() && lab.pf_rx().is_empty());
    // The VF reads its own counters through its BAR; the PF through admin.
    let (gprc, _, gorc, _, _) = lab.rings[1].stats(&mut lab.sim);
    assert_eq!((gprc, gorc), (1, f.len() as u64));
    let st = lab.pf.vf_stats(&mut lab.sim, 1).unwrap();
    assert_eq!((st.rx_packets, st.rx_bytes), (1, f.len() as u64));
    lab.assert_balanced();
}

#[test]
fn unknown_unicast_from_the_wire_goes_to_the_pf() {
    let mut lab = Lab::new(2);
    let f = FrameSpec::new(Mac([2, 9, 9, 9, 9, 9]), PEER).build();
    lab.wire(&f);
    assert_eq!(lab.pf_rx().len(), 1);
    assert!(lab.rx(0).is_empty() && lab.rx(1).is_empty());
}

#[test]
fn broadcast_from_the_wire_reaches_every_function() {
    let mut lab = Lab::new(4);
    lab.wire(&FrameSpec::new(Mac::BROADCAST, PEER).build());
    for vf in 0..4 {
        assert_eq!(lab.rx(vf).len(), 1, "VF {vf}");
        assert_eq!(
            lab.pf
                .vf_stats(&mut lab.sim, vf as u16)
                .unwrap()
                .rx_broadcast,
            1
        );
    }
    assert_eq!(lab.pf_rx().len(), 1);
}

#[test]
fn vf_to_vf_stays_inside_in_veb_and_goes_out_in_vepa() {
    let mut lab = Lab::new(3);
    let f = FrameSpec::new(lab.macs[2], lab.macs[0]).build();
    lab.send(0, &f);
    let got = lab.rx(2);
    assert_eq!(got.len(), 1);
    assert_ne!(got[0].status & RX_STAT_LB, 0, "looped back locally");
    assert!(lab.wire_tx().is_empty(), "not on the wire");
    // VF to PF, locally too.
    lab.send(0, &FrameSpec::new(PF_MAC, lab.macs[0]).build());
    assert_eq!(lab.pf_rx().len(), 1);
    lab.pf
        .set_bridge_mode(&mut lab.sim, BridgeMode::Vepa)
        .unwrap();
    lab.send(0, &f);
    assert!(lab.rx(2).is_empty(), "VEPA: the external switch hairpins");
    assert_eq!(lab.wire_tx(), vec![f]);
    lab.assert_balanced();
}

#[test]
fn vf_broadcast_reaches_everyone_but_the_sender() {
    let mut lab = Lab::new(3);
    let f = FrameSpec::new(Mac::BROADCAST, lab.macs[1]).build();
    lab.send(1, &f);
    assert_eq!(lab.rx(0).len(), 1);
    assert_eq!(lab.rx(2).len(), 1);
    assert!(lab.rx(1).is_empty(), "no echo");
    assert_eq!(lab.pf_rx().len(), 1);
    assert_eq!(lab.wire_tx(), vec![f]);
    let (_, gptc, _, gotc, _) = lab.rings[1].stats(&mut lab.sim);
    assert_eq!((gptc, gotc), (1, 60));
}

#[test]
fn multicast_only_where_registered() {
    let mut lab = Lab::new(3);
    let group = Mac([0x01, 0x00, 0x5e, 0x00, 0x00, 0x07]);
    lab.vfs[1].set_multicast(&mut lab.sim, &[group]).unwrap();
    lab.wire(&FrameSpec::new(group, PEER).build());
    assert_eq!(lab.rx(1).len(), 1);
    assert!(
        lab.rx(0).is_empty() && lab.rx(2).is_empty(),
        "no leak to other VFs"
    );
    assert_eq!(lab.pf_rx().len(), 1, "the PF takes all multicast");
    let (_, _, _, _, mprc) = lab.rings[1].stats(&mut lab.sim);
    assert_eq!(mprc, 1);
    // ALLMULTI (trusted) takes every group.
    lab.pf.set_vf_trust(&mut lab.sim, 2, true).unwrap();
    lab.vfs[2]
        .update_xcast(&mut lab.sim, hal::ixgbe::XcastMode::AllMulti)
        .unwrap();
    lab.wire(&FrameSpec::new(Mac([1, 0, 0x5e, 1, 2, 3]), PEER).build());
    assert_eq!(lab.rx(2).len(), 1);
    assert!(lab.rx(1).is_empty());
    // Nobody registered this one (and the PF is not listening): counted.
    lab.assert_balanced();
}

#[test]
fn vlan_filter_and_stripping() {
    let mut lab = Lab::new(1);
    let tagged = FrameSpec::new(lab.macs[0], PEER)
        .vlan(0x8100, 0x2000 | 100)
        .build();
    lab.wire(&tagged);
    assert!(lab.rx(0).is_empty());
    assert_eq!(lab.drops(0, DropReason::VlanFilter), 1);
    lab.vfs[0].set_vlan(&mut lab.sim, 100, true).unwrap();
    lab.wire(&tagged);
    let got = lab.rx(0);
    assert_eq!(got[0].data, tagged, "VME off: the tag stays");
    // With VME the tag moves into the descriptor.
    let rid = lab.vfs[0].rid;
    let rxdctl = lab.sim.bar_read32(rid, hal::ixgbe::queuereg::rxdctl(0));
    lab.sim.bar_write32(
        rid,
        hal::ixgbe::queuereg::rxdctl(0),
        rxdctl | hal::ixgbe::queuereg::RXDCTL_VME,
    );
    lab.wire(&tagged);
    let got = lab.rx(0);
    assert_ne!(got[0].status & RX_STAT_VP, 0);
    assert_eq!(got[0].vlan, 0x2000 | 100);
    assert_eq!(got[0].data, FrameSpec::new(lab.macs[0], PEER).build());
    // Priority-tagged (VID 0) is VLAN 0, always accepted.
    lab.wire(
        &FrameSpec::new(lab.macs[0], PEER)
            .vlan(0x8100, 0x6000)
            .build(),
    );
    assert_eq!(lab.rx(0).len(), 1);
}

#[test]
fn port_vlan_is_inserted_and_stripped() {
    for (proto, tpid) in [(VlanProto::Dot1Q, 0x8100u16), (VlanProto::Dot1AD, 0x88a8)] {
        let mut lab = Lab::new(2);
        lab.pf.set_vf_vlan(&mut lab.sim, 0, 300, 5, proto).unwrap();
        lab.restart_vf(0);
        let plain = FrameSpec::new(PEER, lab.macs[0]).build();
        lab.send(0, &plain);
        let wire = lab.wire_tx();
        let expect = FrameSpec::new(PEER, lab.macs[0])
            .vlan(tpid, 5 << 13 | 300)
            .build();
        assert_eq!(wire, vec![expect.clone()], "{proto:?} inserted");
        // From the wire: stripped (hidden from the VF, as the 82599 does).
        let to_vf = FrameSpec::new(lab.macs[0], PEER).vlan(tpid, 300).build();
        lab.wire(&to_vf);
        let got = lab.rx(0);
        assert_eq!(got[0].data, FrameSpec::new(lab.macs[0], PEER).build());
        assert_eq!(got[0].status & RX_STAT_VP, 0);
        // Untagged, or the wrong VLAN: not for this VF.
        lab.wire(&FrameSpec::new(lab.macs[0], PEER).build());
        lab.wire(&FrameSpec::new(lab.macs[0], PEER).vlan(tpid, 301).build());
        assert!(lab.rx(0).is_empty());
        assert_eq!(lab.drops(0, DropReason::VlanFilter), 2);
        // The VF may not tag on its own under a port VLAN.
        assert!(lab.rings[0].send(&mut lab.sim, 0, &plain, Some(7)));
        lab.sim.delay_us(10);
        assert_eq!(lab.drops(0, DropReason::SpoofVlan), 1);
    }
}

#[test]
fn spoofed_frames_are_dropped_counted_and_reported() {
    let mut lab = Lab::new(2);
    let forged = FrameSpec::new(PEER, lab.macs[1]).build();
    lab.send(0, &forged);
    assert!(lab.wire_tx().is_empty());
    assert_eq!(lab.drops(0, DropReason::SpoofMac), 1);
    let ev = lab.pf.events(&mut lab.sim);
    assert!(
        ev.iter()
            .any(|e| e.name() == "spoof-drops" && e.is_for(0) && e.data0 == 1 && e.data1 == 1),
        "{ev:?}"
    );
    // A VLAN the VF did not register.
    lab.send(
        0,
        &FrameSpec::new(PEER, lab.macs[0]).vlan(0x8100, 42).build(),
    );
    assert_eq!(lab.drops(0, DropReason::SpoofVlan), 1);
    // Spoof check off: both pass.
    lab.pf.set_vf_spoofchk(&mut lab.sim, 0, false).unwrap();
    lab.send(0, &forged);
    assert_eq!(lab.wire_tx().len(), 1);
    assert_eq!(lab.pf.vf_stats(&mut lab.sim, 0).unwrap().tx_dropped, 2);
    lab.assert_balanced();
}

#[test]
fn link_state_gates_traffic() {
    let mut lab = Lab::new(3);
    lab.pf
        .set_vf_link_state(&mut lab.sim, 2, LinkState::Disable)
        .unwrap();
    lab.wire(&FrameSpec::new(lab.macs[2], PEER).build());
    assert!(lab.rx(2).is_empty());
    lab.send(2, &FrameSpec::new(PEER, lab.macs[2]).build());
    assert!(lab.wire_tx().is_empty());
    // Uplink down: auto VFs are down, enable VFs keep talking to each other.
    lab.pf
        .set_vf_link_state(&mut lab.sim, 1, LinkState::Enable)
        .unwrap();
    lab.pf
        .set_vf_link_state(&mut lab.sim, 2, LinkState::Enable)
        .unwrap();
    lab.sim.set_uplink(false);
    lab.send(1, &FrameSpec::new(lab.macs[2], lab.macs[1]).build());
    assert_eq!(lab.rx(2).len(), 1, "enable: VF to VF flows");
    lab.send(0, &FrameSpec::new(lab.macs[2], lab.macs[0]).build());
    assert!(lab.rx(2).is_empty(), "auto: down with the uplink");
    assert_eq!(lab.drops(0, DropReason::LinkDown), 1);
    lab.send(1, &FrameSpec::new(PEER, lab.macs[1]).build());
    assert_eq!(lab.drops(admin::UPLINK_PORT, DropReason::UplinkDown), 1);
    lab.assert_balanced();
}

#[test]
fn rss_spreads_flows_over_the_vf_queues() {
    let mut lab = Lab::new(1);
    let mut per_queue = [0; 2];
    for port in 0..64u16 {
        let f = FrameSpec::new(lab.macs[0], PEER)
            .udp([10, 0, 0, 1], [10, 0, 0, 2], 1000 + port, 53)
            .build();
        lab.wire(&f);
        for r in lab.rx(0) {
            assert_eq!(
                r.queue,
                (r.rss_hash % 128) % 2,
                "RETA: entry i -> queue i mod 2"
            );
            per_queue[r.queue as usize] += 1;
        }
    }
    assert_eq!(per_queue[0] + per_queue[1], 64);
    assert!(
        per_queue[0] > 10 && per_queue[1] > 10,
        "spread: {per_queue:?}"
    );
}

#[test]
fn max_tx_rate_paces_a_vf() {
    let mut lab = Lab::new(1);
    lab.pf.set_vf_rate(&mut lab.sim, 0, 0, 10).unwrap(); // 10 Mb/s
    let f = FrameSpec::new(PEER, lab.macs[0]).payload(1000).build(); // ~8.3 kbit
    let mut sent = 0;
    for _ in 0..200 {
        if lab.rings[0].send(&mut lab.sim, 0, &f, None) {
            sent += 1;
        }
        lab.sim.delay_us(100);
    }
    // 20 ms at 10 Mb/s is 200 kbit: about 24 frames (+ the initial burst).
    let out = lab.wire_tx().len();
    assert!(sent > out, "frames wait in the ring, not dropped");
    assert!((20..=40).contains(&out), "{out} frames in 20 ms");
    assert_eq!(lab.pf.vf_stats(&mut lab.sim, 0).unwrap().tx_dropped, 0);
}

#[test]
fn a_rate_limit_set_after_unlimited_traffic_lets_frames_go_at_once() {
    // Found by Linux's ixgbevf in the VM: the bucket was charged while no
    // limit was set, so a limit set after traffic held every frame until
    // the debt was earned back (forever, with sub-microsecond polls).
    let mut lab = Lab::new(1);
    let f = FrameSpec::new(PEER, lab.macs[0]).payload(1000).build();
    for _ in 0..100 {
        lab.send(0, &f);
    }
    assert_eq!(lab.wire_tx().len(), 100, "unlimited");
    lab.pf.set_vf_rate(&mut lab.sim, 0, 0, 1).unwrap(); // 1 Mb/s
    lab.send(0, &f);
    assert_eq!(
        lab.wire_tx().len(),
        1,
        "the first frame under the new limit goes"
    );
    // And it paces: ~8.3 kbit frames at 1 Mb/s, about one per 8 ms.
    for _ in 0..10 {
        assert!(lab.rings[0].send(&mut lab.sim, 0, &f, None));
    }
    lab.sim.delay_us(20_000);
    let out = lab.wire_tx().len();
    assert!((2..=4).contains(&out), "{out} frames in 20 ms at 1 Mb/s");
}

// ---- bad input, each a test -------------------------------------------

#[test]
fn runts_oversize_and_broken_tags_from_the_wire_are_counted() {
    let mut lab = Lab::new(1);
    lab.wire(&[0u8; 10]);
    lab.wire(&vec![0u8; 9800]);
    let mut broken = FrameSpec::new(lab.macs[0], PEER).build();
    broken.truncate(12);
    broken.extend_from_slice(&[0x81, 0x00, 0x00]);
    lab.wire(&broken);
    let three_tags = FrameSpec::new(lab.macs[0], PEER)
        .vlan(0x88a8, 1)
        .vlan(0x8100, 2)
        .vlan(0x8100, 3)
        .build();
    lab.wire(&three_tags);
    let up = admin::UPLINK_PORT;
    assert_eq!(lab.drops(up, DropReason::Runt), 1);
    assert_eq!(lab.drops(up, DropReason::Oversize), 1);
    assert_eq!(lab.drops(up, DropReason::BadVlanHeader), 2);
    assert!(lab.rx(0).is_empty());
    lab.assert_balanced();
}

#[test]
fn qinq_reaches_only_a_vf_with_that_outer_port_vlan() {
    let mut lab = Lab::new(2);
    lab.pf
        .set_vf_vlan(&mut lab.sim, 1, 10, 0, VlanProto::Dot1AD)
        .unwrap();
    lab.restart_vf(1);
    let qinq = FrameSpec::new(Mac::BROADCAST, PEER)
        .vlan(0x88a8, 10)
        .vlan(0x8100, 20)
        .build();
    lab.wire(&qinq);
    assert!(lab.rx(0).is_empty(), "a plain VF does not take 802.1ad");
    let got = lab.rx(1);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].data,
        FrameSpec::new(Mac::BROADCAST, PEER)
            .vlan(0x8100, 20)
            .build(),
        "outer stripped, inner kept"
    );
}

#[test]
fn frames_longer_than_a_buffer_span_descriptors_or_hit_the_mtu() {
    let mut lab = Lab::new(1);
    let jumbo = FrameSpec::new(lab.macs[0], PEER).payload(5000).build();
    lab.wire(&jumbo);
    assert!(lab.rx(0).is_empty(), "max frame 1518 until SET_LPE");
    assert_eq!(lab.drops(0, DropReason::Mtu), 1);
    lab.vfs[0].set_lpe(&mut lab.sim, 9018).unwrap();
    lab.wire(&jumbo);
    let got = lab.rx(0);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, jumbo);
    assert_eq!(got[0].descriptors, 3, "2 KiB buffers");
    // A jumbo sent by the VF: several Tx descriptors, one frame on the wire.
    let out = FrameSpec::new(PEER, lab.macs[0]).payload(5000).build();
    lab.send(0, &out);
    assert_eq!(lab.wire_tx(), vec![out]);
    lab.assert_balanced();
}

#[test]
fn an_rx_ring_without_buffers_drops_without_blocking_others() {
    let mut lab = Lab::new(2);
    lab.rings[0].starve_rx(&mut lab.sim, 0);
    lab.rings[0].starve_rx(&mut lab.sim, 1);
    for _ in 0..5 {
        lab.wire(&FrameSpec::new(Mac::BROADCAST, PEER).build());
    }
    assert!(lab.rx(0).is_empty());
    assert_eq!(lab.rx(1).len(), 5, "the other VF gets every frame");
    assert_eq!(lab.drops(0, DropReason::NoRxBuffer), 5);
    lab.assert_balanced();
}

#[test]
fn zero_length_and_unknown_tx_descriptors_are_dropped() {
    let mut lab = Lab::new(1);
    let r = &mut lab.rings[0];
    let cmd = TX_DTYP_DATA | TX_CMD_DEXT | TX_CMD_EOP | TX_CMD_RS;
    assert!(r.push_tx_desc(&mut lab.sim, 0, [0, 0, cmd, 0]));
    assert!(r.push_tx_desc(&mut lab.sim, 0, [0, 0, 0x7 << 20 | TX_CMD_DEXT | 60, 0]));
    r.doorbell(&mut lab.sim, 0, None);
    lab.sim.delay_us(10);
    assert_eq!(lab.drops(0, DropReason::BadDescriptor), 2);
    // The ring keeps going afterwards.
    lab.send(0, &FrameSpec::new(PEER, lab.macs[0]).build());
    assert_eq!(lab.wire_tx().len(), 1);
    lab.assert_balanced();
}

#[test]
fn dma_outside_the_window_stops_only_that_queue() {
    let mut lab = Lab::new(2);
    // VF 1's buffer is outside VF 0's window.
    let theirs = lab.sim.dma_alloc(lab.vfs[1].rid, 64, 64).unwrap();
    lab.sim.dma_write(theirs, &[0xab; 64]);
    let cmd = 60 | TX_DTYP_DATA | TX_CMD_DEXT | TX_CMD_EOP | TX_CMD_RS;
    let r = &mut lab.rings[0];
    assert!(r.push_tx_desc(
        &mut lab.sim,
        0,
        [theirs as u32, (theirs >> 32) as u32, cmd, 0]
    ));
    r.doorbell(&mut lab.sim, 0, None);
    lab.sim.delay_us(10);
    assert!(
        lab.wire_tx().is_empty(),
        "nothing read from another function's memory went out"
    );
    assert_eq!(lab.drops(0, DropReason::DmaFault), 1);
    let ev = lab.pf.events(&mut lab.sim);
    assert!(
        ev.iter()
            .any(|e| e.name() == "queue-fault" && e.is_for(0) && e.data0 == 0x100 && e.data1 == 1),
        "{ev:?}"
    );
    // Queue 0 stopped; queue 1 and the other VF still work.
    assert!(lab.rings[0].send(
        &mut lab.sim,
        0,
        &FrameSpec::new(PEER, lab.macs[0]).build(),
        None
    ));
    lab.sim.delay_us(10);
    assert!(lab.wire_tx().is_empty());
    assert!(lab.rings[0].send(
        &mut lab.sim,
        1,
        &FrameSpec::new(PEER, lab.macs[0]).build(),
        None
    ));
    lab.send(1, &FrameSpec::new(PEER, lab.macs[1]).build());
    assert_eq!(lab.wire_tx().len(), 2);
    // An Rx descriptor pointing outside the window: nothing is written there.
    let rx_ring = lab
        .sim
        .bar_read32(lab.vfs[1].rid, hal::ixgbe::queuereg::rdbal(0));
    let rx_ring = u64::from(rx_ring)
        | u64::from(
            lab.sim
                .bar_read32(lab.vfs[1].rid, hal::ixgbe::queuereg::rdbah(0)),
        ) << 32;
    let victim = lab.sim.dma_alloc(lab.vfs[0].rid, 64, 64).unwrap();
    let head = lab
        .sim
        .bar_read32(lab.vfs[1].rid, hal::ixgbe::queuereg::rdh(0));
    let mut d = [0u8; 16];
    d[..8].copy_from_slice(&victim.to_le_bytes());
    lab.sim.dma_write(rx_ring + u64::from(head) * 16, &d);
    lab.wire(&FrameSpec::new(lab.macs[1], PEER).build());
    let mut after = [0u8; 64];
    lab.sim.dma_read(victim, &mut after);
    assert_eq!(after, [0u8; 64], "VF 0's memory untouched");
    assert_eq!(lab.drops(1, DropReason::DmaFault), 1);
    lab.assert_balanced();
}

#[test]
fn a_tail_beyond_the_ring_stops_the_queue() {
    let mut lab = Lab::new(1);
    lab.rings[0].doorbell(&mut lab.sim, 0, Some(500));
    lab.sim.delay_us(10);
    assert_eq!(lab.drops(0, DropReason::TailBeyondRing), 1);
    let ev = lab.pf.events(&mut lab.sim);
    assert!(
        ev.iter().any(|e| e.name() == "queue-fault" && e.data1 == 2),
        "{ev:?}"
    );
}

#[test]
fn a_ring_enabled_without_configuration_is_refused() {
    let mut lab = Lab::new(1);
    let rid = lab.vfs[0].rid;
    use hal::ixgbe::queuereg::*;
    // Queue 1: enabled with a zero length.
    lab.sim.bar_write32(rid, rxdctl(1), 0);
    lab.sim.bar_write32(rid, rdlen(1), 0);
    lab.sim.bar_write32(rid, rxdctl(1), RXDCTL_ENABLE);
    let mut sent = 0;
    for port in 0..16u16 {
        let f = FrameSpec::new(lab.macs[0], PEER)
            .udp([1, 1, 1, 1], [2, 2, 2, 2], port, 9)
            .build();
        lab.wire(&f);
        sent += 1;
    }
    let got = lab.rx(0).len() as u32;
    let refused = lab.drops(0, DropReason::RingDisabled);
    assert!(refused > 0, "some flows hash to queue 1");
    assert_eq!(got + refused, sent);
    let ev = lab.pf.events(&mut lab.sim);
    assert!(
        ev.iter()
            .any(|e| e.name() == "queue-fault" && e.data0 == 1 && e.data1 == 3),
        "{ev:?}"
    );
}

#[test]
fn vf_frames_to_its_own_address_go_nowhere_counted() {
    let mut lab = Lab::new(1);
    lab.send(0, &FrameSpec::new(lab.macs[0], lab.macs[0]).build());
    assert!(lab.wire_tx().is_empty());
    assert_eq!(lab.drops(0, DropReason::NoDestination), 1);
    lab.assert_balanced();
}

#[test]
fn queue_completions_raise_the_routed_interrupt_causes() {
    use hal::ixgbe::vfreg::VTEICR;
    let mut lab = Lab::new(1);
    let rid = lab.vfs[0].rid;
    // Queue pair 0: Rx to vector 0, Tx to vector 1 (VTIVAR(0) at 0x120).
    lab.sim.bar_write32(rid, 0x120, 0x8180);
    assert_eq!(lab.sim.bar_read32(rid, VTEICR), 0);
    lab.wire(&FrameSpec::new(lab.macs[0], PEER).build());
    assert_eq!(lab.sim.bar_read32(rid, VTEICR), 0b01, "Rx cause");
    assert_eq!(lab.sim.bar_read32(rid, VTEICR), 0, "read to clear");
    lab.send(0, &FrameSpec::new(PEER, lab.macs[0]).build());
    assert_eq!(lab.sim.bar_read32(rid, VTEICR), 0b10, "Tx cause");
    let _ = lab.rx(0);
}
