//! The control plane end to end: hardware model + firmware device logic +
//! host drivers, everything through the drivers' register access.

use firmware::admin::{BridgeMode, Status};
use firmware::device::Capacities;
use firmware::mac::Mac;
use firmware::vf::{LinkState, VlanProto};
use hal::ixgbe::{MbxApi, XcastMode};
use sim_tests::drivers::pf::{PfDriver, PfError};
use sim_tests::drivers::vf::{LinkCheck, VfDriver, VfError};
use sim_tests::sim::Sim;
use sim_tests::transport::Transport;

fn setup(vfs: u16) -> (Sim, PfDriver) {
    let mut sim = Sim::with_board_capacities();
    let mut pf = PfDriver::probe(&mut sim).expect("probe");
    pf.sriov_configure(&mut sim, vfs).expect("enable VFs");
    (sim, pf)
}

fn vf_driver(sim: &mut Sim, pf: &PfDriver, n: u16) -> VfDriver {
    VfDriver::new(pf.vf_rid(sim, n))
}

const MAC_A: Mac = Mac([0x02, 0xaa, 0, 0, 0, 1]);
const MAC_B: Mac = Mac([0x02, 0xbb, 0, 0, 0, 2]);

#[test]
fn vf_comes_up_like_ixgbevf() {
    let (mut sim, mut pf) = setup(8);
    let mut vf = vf_driver(&mut sim, &pf, 0);
    let up = vf.bring_up(&mut sim).expect("bring-up");
    assert!(!up.mac_from_pf, "no admin MAC: the VF chose one");
    assert_eq!(up.api, MbxApi::V1_5, "newest API accepted");
    assert_eq!(up.tx_queues, 2);
    assert!(up.link_enabled);
    let info = pf.vf_info(&mut sim, 0).unwrap();
    assert_eq!(info.mac, vf.chosen_mac());
    assert_eq!(info.lifecycle, 3, "active");
    assert_eq!(info.api, MbxApi::V1_5 as u32);
    assert_eq!(info.vlans, 1, "VLAN 0");
    assert!(info.spoof_check && !info.trust, "defaults");
    assert_eq!(vf.check_link(&mut sim), LinkCheck::Up(3));
}

#[test]
fn admin_mac_is_given_at_reset_and_enforced() {
    let (mut sim, mut pf) = setup(4);
    pf.set_vf_mac(&mut sim, 1, MAC_A).unwrap();
    let mut vf = vf_driver(&mut sim, &pf, 1);
    let up = vf.bring_up(&mut sim).unwrap();
    assert!(up.mac_from_pf);
    assert_eq!(up.mac, MAC_A);
    // Untrusted: may not change it.
    assert!(matches!(vf.set_mac(&mut sim, MAC_B), Err(VfError::Nack(_))));
    let events = pf.events(&mut sim);
    assert!(
        events
            .iter()
            .any(|e| e.name() == "vf-mac-refused" && e.is_for(1)),
        "{events:?}"
    );
    // Trusted: may.
    pf.set_vf_trust(&mut sim, 1, true).unwrap();
    vf.set_mac(&mut sim, MAC_B).unwrap();
    assert_eq!(pf.vf_info(&mut sim, 1).unwrap().mac, MAC_B);
}

#[test]
fn older_vf_driver_uses_the_legacy_mailbox_throughout() {
    let (mut sim, mut pf) = setup(2);
    let mut vf = vf_driver(&mut sim, &pf, 0);
    vf.max_api = MbxApi::V1_4;
    let up = vf.bring_up(&mut sim).unwrap();
    assert_eq!(up.api, MbxApi::V1_4);
    assert_eq!(vf.check_link(&mut sim), LinkCheck::Up(3));
    vf.max_api = MbxApi::V1_1;
    let up = vf.bring_up(&mut sim).unwrap();
    assert_eq!(up.api, MbxApi::V1_1);
    assert_eq!(pf.vf_info(&mut sim, 0).unwrap().api, MbxApi::V1_1 as u32);
    // 1.1 has no xcast or link-state messages: they are refused.
    assert!(vf.update_xcast(&mut sim, XcastMode::Multi).is_err());
}

#[test]
fn port_vlan_blocks_vf_vlans_and_shows_in_queues() {
    let (mut sim, mut pf) = setup(2);
    pf.set_vf_vlan(&mut sim, 0, 100, 3, VlanProto::Dot1AD)
        .unwrap();
    let mut vf = vf_driver(&mut sim, &pf, 0);
    vf.reset(&mut sim).unwrap();
    vf.negotiate_api(&mut sim).unwrap();
    let q = vf.get_queues(&mut sim).unwrap();
    assert_eq!(q[2], 1, "transparent VLAN with a port VLAN");
    assert!(matches!(
        vf.set_vlan(&mut sim, 200, true),
        Err(VfError::Nack(_))
    ));
    let info = pf.vf_info(&mut sim, 0).unwrap();
    assert_eq!((info.vlan, info.qos, info.vlan_proto), (100, 3, 0x88a8));
    assert_eq!(info.vlans, 1, "only the port VLAN");
    let view = sim_tests::drivers::iplink::read(&mut pf, &mut sim).unwrap();
    let shown = sim_tests::drivers::iplink::show_text(&view, 0);
    assert!(
        shown.contains("vlan 100, qos 3, vlan protocol 802.1ad"),
        "{shown}"
    );
    // Out of range administration is refused with a status.
    for (vid, qos) in [(4095, 0), (100, 8), (0, 2)] {
        assert_eq!(
            pf.set_vf_vlan(&mut sim, 0, vid, qos, VlanProto::Dot1Q),
            Err(PfError::Admin(Status::InvalidArgument)),
            "vid {vid} qos {qos}"
        );
    }
    // Clearing it lets the VF choose again (after the reset it is told to do).
    pf.set_vf_vlan(&mut sim, 0, 0, 0, VlanProto::Dot1Q).unwrap();
    vf.bring_up(&mut sim).unwrap();
    vf.set_vlan(&mut sim, 200, true).unwrap();
    assert_eq!(pf.vf_info(&mut sim, 0).unwrap().vlans, 2);
}

#[test]
fn xcast_modes_follow_trust_visibly() {
    let (mut sim, mut pf) = setup(2);
    let mut vf = vf_driver(&mut sim, &pf, 1);
    vf.bring_up(&mut sim).unwrap();
    pf.events(&mut sim);
    assert_eq!(
        vf.update_xcast(&mut sim, XcastMode::AllMulti).unwrap(),
        XcastMode::Multi,
        "untrusted: lowered, and the reply says so"
    );
    let ev = pf.events(&mut sim);
    assert!(
        ev.iter()
            .any(|e| e.name() == "xcast-downgraded" && e.is_for(1) && e.data0 == 2 && e.data1 == 1),
        "{ev:?}"
    );
    assert_eq!(pf.vf_info(&mut sim, 1).unwrap().xcast_downgrades, 1);
    pf.set_vf_trust(&mut sim, 1, true).unwrap();
    assert_eq!(
        vf.update_xcast(&mut sim, XcastMode::Promisc).unwrap(),
        XcastMode::Promisc
    );
    assert_eq!(
        pf.vf_info(&mut sim, 1).unwrap().xcast,
        XcastMode::Promisc as u32
    );
}

#[test]
fn link_state_policy() {
    let (mut sim, mut pf) = setup(3);
    let mut vfs: Vec<VfDriver> = (0..3).map(|n| vf_driver(&mut sim, &pf, n)).collect();
    for vf in &mut vfs {
        vf.bring_up(&mut sim).unwrap();
    }
    pf.set_vf_link_state(&mut sim, 1, LinkState::Enable)
        .unwrap();
    pf.set_vf_link_state(&mut sim, 2, LinkState::Disable)
        .unwrap();
    // As ixgbe does, a link-state change restarts the VF: its driver is
    // told to reset and comes up again under the new state.
    // VF 1 reads the notice (no CTS: link down), acknowledges it, and the
    // next look gets the NACK that makes ixgbevf reset. (VF 2 reads its
    // link down before it gets to the mailbox.)
    assert_eq!(vfs[1].check_link(&mut sim), LinkCheck::Down);
    sim.delay_us(10);
    assert_eq!(vfs[1].check_link(&mut sim), LinkCheck::ResetRequired);
    assert_eq!(vfs[2].check_link(&mut sim), LinkCheck::Down);
    for vf in &mut vfs[1..] {
        vf.bring_up(&mut sim).unwrap();
    }
    assert_eq!(
        vfs[0].check_link(&mut sim),
        LinkCheck::Up(3),
        "VF 0 (auto) untouched, 10G"
    );
    assert_eq!(
        vfs[2].get_link_state(&mut sim),
        Ok(false),
        "disable: link not enabled"
    );
    assert_eq!(vfs[2].check_link(&mut sim), LinkCheck::Down);
    sim.set_uplink(false);
    assert_eq!(
        vfs[0].check_link(&mut sim),
        LinkCheck::Down,
        "auto follows the uplink"
    );
    assert!(
        matches!(vfs[1].check_link(&mut sim), LinkCheck::Up(_)),
        "enable stays up"
    );
    let ev = pf.events(&mut sim);
    assert!(
        ev.iter()
            .any(|e| e.name() == "link-change" && e.vf == 0xffff && e.data0 == 0),
        "{ev:?}"
    );
    sim.set_uplink(true);
    assert!(matches!(vfs[0].check_link(&mut sim), LinkCheck::Up(_)));
    assert!(!pf.vf_info(&mut sim, 2).unwrap().link_up);
}

#[test]
fn rss_queries_need_query_rss_and_api_1_2() {
    let (mut sim, mut pf) = setup(1);
    let mut vf = vf_driver(&mut sim, &pf, 0);
    vf.bring_up(&mut sim).unwrap();
    assert!(
        matches!(vf.get_reta(&mut sim), Err(VfError::Nack(_))),
        "query_rss off"
    );
    pf.set_vf_query_rss(&mut sim, 0, true).unwrap();
    let reta = vf.get_reta(&mut sim).unwrap();
    assert_eq!(reta.len(), 128);
    assert!(reta.iter().all(|q| *q < 2), "two queues");
    assert_eq!(
        reta.iter().filter(|q| **q == 1).count(),
        64,
        "spread evenly"
    );
    let key = vf.get_rss_key(&mut sim).unwrap();
    assert_eq!(key, firmware::rss::DEFAULT_RSS_KEY);
}

#[test]
fn messages_before_clear_to_send_get_a_one_word_nack() {
    let (mut sim, mut pf) = setup(1);
    let mut vf = vf_driver(&mut sim, &pf, 0);
    // No VF_RESET yet: everything but VF_RESET is refused.
    let r = vf
        .exchange(&mut sim, &[hal::ixgbe::mbx::GET_QUEUES, 0, 0, 0, 0], 5)
        .unwrap();
    assert_eq!(r[0], hal::ixgbe::mbx::GET_QUEUES | hal::ixgbe::mbx::NACK);
    assert_eq!(r[1..], [0, 0, 0, 0], "one word written, the rest untouched");
    let info = pf.vf_info(&mut sim, 0).unwrap();
    assert_eq!((info.mbx_before_cts, info.lifecycle), (1, 1));
    assert!(
        pf.events(&mut sim)
            .iter()
            .any(|e| e.name() == "mailbox-error")
    );
}

#[test]
fn malformed_messages_are_refused_and_counted() {
    use hal::ixgbe::mbx::*;
    let (mut sim, mut pf) = setup(2);
    let mut vf = vf_driver(&mut sim, &pf, 0);
    vf.bring_up(&mut sim).unwrap();
    let before = pf.vf_info(&mut sim, 0).unwrap();
    let cases: [(&[u32], &str); 7] = [
        (&[0x0077], "unknown ID"),
        (&[SET_MAC_ADDR], "too short for a MAC"),
        (&[SET_MULTICAST | (31 << MSGINFO_SHIFT); 16], "31 hashes"),
        (
            &[SET_MULTICAST | (6 << MSGINFO_SHIFT), 1, 2],
            "6 hashes in 2 words",
        ),
        (
            &[SET_VLAN | (1 << MSGINFO_SHIFT), 0x1000],
            "VID out of range",
        ),
        (&[SET_LPE, 20_000], "frame too large"),
        (&[API_NEGOTIATE, 99, 0], "unknown API"),
    ];
    for (msg, what) in cases {
        let r = vf.exchange(&mut sim, msg, 1).unwrap();
        assert_eq!(
            r[0] & (NACK | CTS),
            NACK | CTS,
            "{what}: NACK, still clear to send"
        );
    }
    let after = pf.vf_info(&mut sim, 0).unwrap();
    assert_eq!(after.mbx_malformed - before.mbx_malformed, 7);
    assert_eq!(after.mbx_nacks - before.mbx_nacks, 7);
    // Nothing else changed.
    assert_eq!(
        (after.mac, after.vlans, after.max_frame, after.api),
        (before.mac, before.vlans, before.max_frame, before.api)
    );
    let errors = pf
        .events(&mut sim)
        .iter()
        .filter(|e| e.name() == "mailbox-error")
        .count();
    assert_eq!(errors, 7);
    // Invalid MACs.
    for mac in [Mac::ZERO, Mac([0x01, 0, 0x5e, 0, 0, 1])] {
        assert!(matches!(vf.set_mac(&mut sim, mac), Err(VfError::Nack(_))));
    }
    assert_eq!(pf.vf_info(&mut sim, 0).unwrap().mac, before.mac);
}

#[test]
fn mailbox_protocol_violations_are_caught_by_the_hardware() {
    use hal::ixgbe::vfreg::*;
    let (mut sim, mut pf) = setup(2);
    let mut vf = vf_driver(&mut sim, &pf, 0);
    vf.bring_up(&mut sim).unwrap();
    pf.events(&mut sim);
    let rid = vf.rid;
    let before = sim.bar_read32(rid, VFMBMEM);
    // A write without holding VFU is dropped.
    sim.bar_write32(rid, VFMBMEM, 0xdead_beef);
    assert_eq!(sim.bar_read32(rid, VFMBMEM), before);
    // REQ without VFU sends nothing.
    sim.bar_write32(rid, VFMAILBOX, MBX_REQ);
    let info = pf.vf_info(&mut sim, 0).unwrap();
    assert_eq!(info.mbx_violations, 2);
    let ev = pf.events(&mut sim);
    let kinds: Vec<u32> = ev
        .iter()
        .filter(|e| e.name() == "mailbox-violation")
        .map(|e| e.data0)
        .collect();
    assert_eq!(kinds, [1, 2], "{ev:?}");
    assert_eq!(sim.model.counters.mailbox_violations, 2);
    // The VF still works.
    vf.set_vlan(&mut sim, 5, true).unwrap();
}

#[test]
fn vf_beyond_num_vfs_does_not_exist() {
    let (mut sim, mut pf) = setup(2);
    let rid = pf.vf_rid(&mut sim, 2);
    assert_eq!(
        sim.config_read(rid, 0x04, 4),
        0xffff_ffff,
        "no such function"
    );
    let ur = sim.model.counters.unsupported_requests;
    assert_eq!(
        sim.bar_read32(rid, hal::ixgbe::vfreg::VFMAILBOX),
        0xffff_ffff
    );
    sim.bar_write32(
        rid,
        hal::ixgbe::vfreg::VFCTRL,
        hal::ixgbe::vfreg::VFCTRL_RST,
    );
    assert_eq!(sim.model.counters.unsupported_requests, ur + 2);
    assert_eq!(
        pf.set_vf_trust(&mut sim, 2, true),
        Err(PfError::Admin(Status::InvalidVf))
    );
    assert_eq!(
        pf.vf_info(&mut sim, 7).map(|_| ()),
        Err(PfError::Admin(Status::InvalidVf))
    );
}

#[test]
fn num_vfs_cannot_change_while_enabled() {
    let (mut sim, mut pf) = setup(4);
    assert_eq!(
        pf.sriov_configure(&mut sim, 8),
        Err(PfError::Busy { current: 4 })
    );
    // A driver that writes NumVFs anyway: refused by the hardware, reported.
    let sriov = 0x140;
    pf.events(&mut sim);
    sim.config_write(sim_tests::model::PF_RID, sriov + 0x10, 2, 8);
    assert_eq!(
        sim.config_read(sim_tests::model::PF_RID, sriov + 0x10, 2),
        4
    );
    let ev = pf.events(&mut sim);
    assert!(
        ev.iter().any(|e| e.name() == "pcie-error" && e.data0 == 1),
        "{ev:?}"
    );
    assert_eq!(pf.info(&mut sim).unwrap().vfs_enabled, 4);
    // The right way: 0 first.
    pf.sriov_configure(&mut sim, 0).unwrap();
    pf.sriov_configure(&mut sim, 8).unwrap();
    assert_eq!(pf.info(&mut sim).unwrap().vfs_enabled, 8);
    assert_eq!(
        pf.sriov_configure(&mut sim, 0)
            .and(pf.sriov_configure(&mut sim, 65)),
        Err(PfError::TooManyVfs {
            asked: 65,
            total: 64
        })
    );
}

#[test]
fn flr_clears_what_the_vf_set_and_keeps_what_the_pf_set() {
    let (mut sim, mut pf) = setup(2);
    pf.set_vf_vlan(&mut sim, 1, 42, 0, VlanProto::Dot1Q)
        .unwrap();
    pf.set_vf_spoofchk(&mut sim, 1, false).unwrap();
    let mut vf = vf_driver(&mut sim, &pf, 1);
    vf.bring_up(&mut sim).unwrap();
    vf.set_multicast(&mut sim, &[Mac([1, 0, 0x5e, 0, 0, 1])])
        .unwrap();
    assert_eq!(pf.vf_info(&mut sim, 1).unwrap().mc_hashes, 1);
    let rid = vf.rid;
    pf.events(&mut sim);
    pf.flr(&mut sim, rid).unwrap();
    assert_eq!(sim.model.counters.flr_late, 0, "done within 100 ms");
    let info = pf.vf_info(&mut sim, 1).unwrap();
    assert_eq!((info.lifecycle, info.mc_hashes, info.resets), (1, 0, 2));
    assert_eq!(info.mac, Mac::ZERO, "the VF's own MAC is gone");
    assert_eq!(
        (info.vlan, info.spoof_check),
        (42, false),
        "administered settings stay"
    );
    let ev = pf.events(&mut sim);
    assert!(
        ev.iter()
            .any(|e| e.name() == "vf-reset" && e.is_for(1) && e.data0 == 2),
        "{ev:?}"
    );
    // The VF driver comes back through its reset path.
    vf.bring_up(&mut sim).unwrap();
    assert_eq!(pf.vf_info(&mut sim, 1).unwrap().lifecycle, 3);
}

#[test]
fn config_space_reads_all_ones_during_flr() {
    let (mut sim, mut pf) = setup(1);
    let rid = pf.vf_rid(&mut sim, 0);
    sim.firmware_running = false;
    sim.config_write(rid, 0x48, 2, 0x8000);
    assert_eq!(sim.config_read(rid, 0x04, 4), 0xffff_ffff);
    sim.delay_us(150_000);
    sim.firmware_running = true;
    sim.delay_us(10);
    assert_ne!(sim.config_read(rid, 0x04, 4), 0xffff_ffff);
    assert_eq!(
        sim.model.counters.flr_late, 1,
        "a firmware slower than 100 ms is caught"
    );
    let _ = pf.events(&mut sim);
}

#[test]
fn vf_reset_clears_configuration_and_api() {
    let (mut sim, mut pf) = setup(2);
    pf.set_vf_trust(&mut sim, 0, true).unwrap();
    let mut vf = vf_driver(&mut sim, &pf, 0);
    vf.bring_up(&mut sim).unwrap();
    vf.set_vlan(&mut sim, 7, true).unwrap();
    vf.set_macvlan(&mut sim, 1, MAC_B).unwrap();
    vf.set_lpe(&mut sim, 9000).unwrap();
    let used = pf.info(&mut sim).unwrap().mac_filters.0;
    vf.reset(&mut sim).unwrap();
    let info = pf.vf_info(&mut sim, 0).unwrap();
    assert_eq!(
        (info.vlans, info.macvlans, info.api, info.max_frame),
        (1, 0, 0, 1518)
    );
    assert!(info.trust, "administered");
    assert_eq!(
        pf.info(&mut sim).unwrap().mac_filters.0,
        used - 2,
        "MAC and macvlan entries given back"
    );
}

#[test]
fn admin_mac_change_tells_an_up_vf_to_reset() {
    let (mut sim, mut pf) = setup(1);
    let mut vf = vf_driver(&mut sim, &pf, 0);
    vf.bring_up(&mut sim).unwrap();
    pf.set_vf_mac(&mut sim, 0, MAC_A).unwrap();
    // The ping without CTS, then (after the VF acks it) a NACK.
    assert_eq!(vf.check_link(&mut sim), LinkCheck::Down);
    assert_eq!(vf.check_link(&mut sim), LinkCheck::ResetRequired);
    let up = vf.bring_up(&mut sim).unwrap();
    assert_eq!(up.mac, MAC_A);
}

#[test]
fn pools_run_out_loudly() {
    let caps = Capacities {
        total_vfs: 4,
        queue_pairs_per_vf: 2,
        pf_queue_pairs: 2,
        mac_filters: 4,
        vlan_filters: 2,
        multicast_hashes: 40,
    };
    let mut sim = Sim::new(caps);
    let mut pf = PfDriver::probe(&mut sim).unwrap();
    pf.sriov_configure(&mut sim, 2).unwrap();
    let mut a = vf_driver(&mut sim, &pf, 0);
    let mut b = vf_driver(&mut sim, &pf, 1);
    pf.set_vf_trust(&mut sim, 0, true).unwrap();
    a.bring_up(&mut sim).unwrap();
    b.bring_up(&mut sim).unwrap();
    // 2 primary MACs used; 2 left for macvlans.
    a.set_macvlan(&mut sim, 1, MAC_A).unwrap();
    a.set_macvlan(&mut sim, 2, MAC_B).unwrap();
    pf.events(&mut sim);
    assert!(a.set_macvlan(&mut sim, 3, Mac([2, 0, 0, 0, 0, 3])).is_err());
    // VLAN filters: VID 0 shared by both, one more distinct VID fits.
    a.set_vlan(&mut sim, 10, true).unwrap();
    b.set_vlan(&mut sim, 10, true).unwrap();
    assert!(b.set_vlan(&mut sim, 11, true).is_err());
    // Multicast: 30 + 30 > 40.
    let macs: Vec<Mac> = (0..30).map(|i| Mac([1, 0, 0x5e, 0, 1, i])).collect();
    a.set_multicast(&mut sim, &macs).unwrap();
    assert!(b.set_multicast(&mut sim, &macs).is_err());
    let pools: Vec<u32> = pf
        .events(&mut sim)
        .iter()
        .filter(|e| e.name() == "pool-exhausted")
        .map(|e| e.data0)
        .collect();
    assert_eq!(pools, [1, 2, 3], "MAC, VLAN, multicast");
    let info = pf.info(&mut sim).unwrap();
    assert_eq!(
        (info.mac_filters, info.vlan_filters, info.multicast_hashes),
        ((4, 4), (2, 2), (30, 40))
    );
}

#[test]
fn admin_bad_input_gets_a_status() {
    let (mut sim, mut pf) = setup(2);
    assert_eq!(
        pf.command(&mut sim, 0x7777, 0, &[]),
        Err(PfError::Admin(Status::UnknownOpcode))
    );
    assert_eq!(
        pf.raw_command(&mut sim, &[0x02]),
        Err(PfError::Admin(Status::BadLength)),
        "SetVfMac without a MAC"
    );
    assert_eq!(
        pf.set_vf_mac(&mut sim, 0, Mac([1, 2, 3, 4, 5, 6])),
        Err(PfError::Admin(Status::InvalidArgument))
    );
    assert_eq!(
        pf.set_vf_rate(&mut sim, 0, 500, 100),
        Err(PfError::Admin(Status::InvalidArgument)),
        "min above max"
    );
    assert_eq!(
        pf.command(&mut sim, 0x07, 0, &[9]),
        Err(PfError::Admin(Status::InvalidArgument)),
        "link state 9"
    );
    assert_eq!(
        pf.command(&mut sim, 0x0b, 0, &[2]),
        Err(PfError::Admin(Status::InvalidArgument)),
        "bridge mode 2"
    );
    pf.set_vf_rate(&mut sim, 1, 100, 1000).unwrap();
    pf.set_bridge_mode(&mut sim, BridgeMode::Vepa).unwrap();
    assert_eq!(pf.info(&mut sim).unwrap().bridge_mode, 1);
    let info = pf.vf_info(&mut sim, 1).unwrap();
    assert_eq!((info.min_tx_rate, info.max_tx_rate), (100, 1000));
    pf.reset_vf_config(&mut sim, firmware::admin::ALL_VFS)
        .unwrap();
    assert_eq!(pf.vf_info(&mut sim, 1).unwrap().max_tx_rate, 0);
}

#[test]
fn vfs_as_many_as_the_board_allows() {
    let caps = Capacities {
        total_vfs: 256,
        queue_pairs_per_vf: 1,
        pf_queue_pairs: 2,
        mac_filters: 1024,
        vlan_filters: 256,
        multicast_hashes: 4096,
    };
    let mut sim = Sim::new(caps);
    let mut pf = PfDriver::probe(&mut sim).unwrap();
    assert_eq!(pf.total_vfs, 256);
    pf.sriov_configure(&mut sim, 256).unwrap();
    for n in [0u16, 127, 128, 255] {
        let mut vf = vf_driver(&mut sim, &pf, n);
        let up = vf.bring_up(&mut sim).unwrap();
        assert_eq!(up.tx_queues, 1);
        assert_eq!(pf.vf_info(&mut sim, n).unwrap().mac, vf.chosen_mac());
    }
    assert_eq!(
        pf.vf_rid(&mut sim, 0),
        sim_tests::model::PF_RID + 1,
        "offset 1 above 128 VFs"
    );
}

#[test]
fn heartbeat_moves_while_the_firmware_runs() {
    let (mut sim, pf) = setup(1);
    let a = pf.heartbeat(&mut sim);
    sim.delay_us(100);
    let b = pf.heartbeat(&mut sim);
    assert_ne!(a, b);
    sim.firmware_running = false;
    sim.delay_us(100);
    assert_eq!(pf.heartbeat(&mut sim), pf.heartbeat(&mut sim));
}

#[test]
fn a_ping_never_overwrites_an_unread_reply() {
    use hal::ixgbe::mbx::{ACK, CTS, GET_QUEUES, PF_CONTROL_MSG};
    let (mut sim, mut pf) = setup(1);
    let mut vf = vf_driver(&mut sim, &pf, 0);
    vf.max_api = MbxApi::V1_4; // legacy mailbox: the VF reads when it wants
    vf.bring_up(&mut sim).unwrap();
    vf.write_msg(&mut sim, &[GET_QUEUES, 0, 0, 0, 0]).unwrap();
    // The firmware has replied; the VF has not read it yet. The PF pings.
    pf.ping_vfs(&mut sim).unwrap();
    sim.delay_us(1000);
    let reply = vf.read_msg(&mut sim, 5).unwrap();
    assert_eq!(reply[0], GET_QUEUES | ACK | CTS, "the reply, not the ping");
    // Once the reply is acknowledged, the ping is delivered.
    sim.delay_us(10);
    let ping = vf.read_msg(&mut sim, 1).unwrap();
    assert_eq!(ping[0], PF_CONTROL_MSG | CTS);
}

#[test]
fn uplink_change_pings_vfs_that_follow_it() {
    use hal::ixgbe::mbx::{CTS, PF_CONTROL_MSG};
    use hal::ixgbe::vfreg::MBX_PFSTS;
    let (mut sim, mut pf) = setup(2);
    let mut a = vf_driver(&mut sim, &pf, 0);
    let mut b = vf_driver(&mut sim, &pf, 1);
    a.bring_up(&mut sim).unwrap();
    b.bring_up(&mut sim).unwrap();
    pf.set_vf_link_state(&mut sim, 1, LinkState::Enable)
        .unwrap();
    // The change itself restarts VF 1 (ixgbe's rule); then it stays up.
    b.bring_up(&mut sim).unwrap();
    sim.set_uplink(false);
    assert_ne!(a.read_mailbox(&mut sim) & MBX_PFSTS, 0, "auto: told");
    assert_eq!(a.read_msg(&mut sim, 1).unwrap()[0], PF_CONTROL_MSG | CTS);
    assert_eq!(
        b.read_mailbox(&mut sim) & MBX_PFSTS,
        0,
        "enable: not affected"
    );
}

#[test]
fn dma_memory_is_allocated_in_the_functions_window() {
    let (mut sim, mut pf) = setup(2);
    let rid0 = pf.vf_rid(&mut sim, 0);
    let rid1 = pf.vf_rid(&mut sim, 1);
    let a = sim.dma_alloc(rid0, 4096, 4096).unwrap();
    let b = sim.dma_alloc(rid1, 4096, 4096).unwrap();
    let w0 = sim.model.dma_window(rid0).unwrap();
    assert!(w0.contains(a, 4096) && !w0.contains(b, 1));
    assert!(sim.dma_write(a, b"frame"));
    let mut buf = [0u8; 5];
    assert!(sim.dma_read(a, &mut buf));
    assert_eq!(&buf, b"frame");
    let gone = pf.vf_rid(&mut sim, 2);
    assert_eq!(sim.dma_alloc(gone, 64, 64), None, "no such VF");
    let _ = pf.events(&mut sim);
}

/// The simulation with the firmware stopped until the harness first waits
/// out a reset retry (a firmware that misses the VF's 1 ms, then answers).
struct LateFirmware(Sim);

impl Transport for LateFirmware {
    fn config_read(&mut self, rid: u16, offset: u16, size: u8) -> u32 {
        self.0.config_read(rid, offset, size)
    }
    fn config_write(&mut self, rid: u16, offset: u16, size: u8, value: u32) {
        self.0.config_write(rid, offset, size, value)
    }
    fn bar_read32(&mut self, rid: u16, offset: u32) -> u32 {
        self.0.bar_read32(rid, offset)
    }
    fn bar_write32(&mut self, rid: u16, offset: u32, value: u32) {
        self.0.bar_write32(rid, offset, value)
    }
    fn delay_us(&mut self, us: u64) {
        if us == sim_tests::drivers::vf::RESET_RETRY_US {
            self.0.firmware_running = true;
        }
        self.0.delay_us(us)
    }
    fn now_ns(&self) -> u64 {
        self.0.now_ns()
    }
    fn dma_alloc(&mut self, rid: u16, len: u64, align: u64) -> Option<u64> {
        self.0.dma_alloc(rid, len, align)
    }
    fn dma_write(&mut self, addr: u64, data: &[u8]) -> bool {
        self.0.dma_write(addr, data)
    }
    fn dma_read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        self.0.dma_read(addr, buf)
    }
    fn take_interrupts(&mut self, rid: u16) -> u32 {
        self.0.take_interrupts(rid)
    }
}

#[test]
fn a_reset_the_firmware_misses_is_tried_again() {
    let (mut sim, pf) = setup(1);
    let rid = pf.vf_rid(&mut sim, 0);
    sim.firmware_running = false;
    let mut vf = VfDriver::new(rid);
    assert!(matches!(vf.bring_up(&mut sim), Err(VfError::ResetFailed)));
    assert!(
        matches!(vf.bring_up_retrying(&mut sim, 1), Err(VfError::ResetFailed)),
        "one try is one try"
    );
    let mut late = LateFirmware(sim);
    let before = late.0.model.now_ns();
    let up = vf.bring_up_retrying(&mut late, 3).unwrap();
    assert!(
        late.0.model.now_ns() - before >= sim_tests::drivers::vf::RESET_RETRY_US * 1000,
        "it waited before trying again"
    );
    assert!(up.link_enabled);
    // A reset alone, the same way, and how many times it was tried again.
    late.0.firmware_running = false;
    let (again, retried) = vf.reset_retrying(&mut late.0, 2);
    assert!(matches!(again, Err(VfError::ResetFailed)));
    assert_eq!(retried, 1, "two tries are one retry");
    late.0.firmware_running = false;
    let (done, retried) = vf.reset_retrying(&mut late, 3);
    assert!(done.is_ok(), "{done:?}");
    assert_eq!(retried, 1, "answered on the second try");
}

fn rebuilds(sim: &Sim) -> u64 {
    sim.device.counters.classifier_rebuilds
}

/// A frame from the wire for nobody: the data path's first lookup, which
/// is where a stale classifier is rebuilt.
fn wire_frame(sim: &mut Sim) {
    let f = sim_tests::frames::FrameSpec::new(Mac([2, 7, 7, 7, 7, 7]), Mac([2, 9, 9, 9, 9, 9]));
    sim.inject(&f.build());
}

#[test]
fn only_changes_of_what_it_is_built_from_rebuild_the_classifier() {
    let (mut sim, pf) = setup(2);
    let mut vf = vf_driver(&mut sim, &pf, 0);
    vf.bring_up(&mut sim).unwrap();
    wire_frame(&mut sim);
    let before = rebuilds(&sim);
    // Queries and a VLAN (the switch checks VLANs per frame; the classifier
    // does not hold them) leave it as it is.
    vf.get_queues(&mut sim).unwrap();
    vf.get_link_state(&mut sim).unwrap();
    vf.set_vlan(&mut sim, 7, true).unwrap();
    wire_frame(&mut sim);
    assert_eq!(rebuilds(&sim), before);
    vf.set_mac(&mut sim, MAC_B).unwrap();
    wire_frame(&mut sim);
    assert_eq!(rebuilds(&sim), before + 1, "a new MAC");
    // Untrusted: all-multicast is refused down to the mode it has.
    vf.update_xcast(&mut sim, XcastMode::AllMulti).unwrap();
    wire_frame(&mut sim);
    assert_eq!(rebuilds(&sim), before + 1, "the same multicast mode");
    vf.set_multicast(&mut sim, &[Mac([0x01, 0, 0x5e, 0, 0, 7])])
        .unwrap();
    wire_frame(&mut sim);
    assert_eq!(rebuilds(&sim), before + 2, "a multicast hash");
    vf.reset(&mut sim).unwrap();
    wire_frame(&mut sim);
    assert_eq!(rebuilds(&sim), before + 3, "a reset clears the filters");
}

#[test]
fn changes_without_traffic_between_them_cost_one_rebuild_before_the_next_frame() {
    let (mut sim, mut pf) = setup(2);
    let mut vf0 = vf_driver(&mut sim, &pf, 0);
    let mut vf1 = vf_driver(&mut sim, &pf, 1);
    vf0.bring_up(&mut sim).unwrap();
    wire_frame(&mut sim);
    let before = rebuilds(&sim);
    // A bring-up, a MAC change and the PF's MAC for another VF: each
    // changes what the classifier is built from; no frame comes between.
    vf1.bring_up(&mut sim).unwrap();
    vf0.set_mac(&mut sim, MAC_B).unwrap();
    pf.set_vf_mac(&mut sim, 1, Mac([0x02, 0xcc, 0, 0, 0, 3]))
        .unwrap();
    assert_eq!(rebuilds(&sim), before, "no lookup yet, no rebuild");
    // The next frame finds the table as the last change left it.
    let to_b = sim_tests::frames::FrameSpec::new(MAC_B, Mac([2, 9, 9, 9, 9, 9])).build();
    sim.inject(&to_b);
    assert_eq!(rebuilds(&sim), before + 1, "one rebuild for all three");
    let offered = sim.device.port_counters(1).unwrap().rx_offered;
    assert_eq!(offered, 1, "the frame for VF 0's new MAC went to VF 0");
}

#[test]
fn a_scan_reads_only_the_mailbox_groups_and_slots_that_moved() {
    let (mut sim, pf) = setup(16);
    // VF 9 (group 1) announces a request the way a broken model would:
    // its slot counter and the summary, but not its group's counter.
    use tock_registers::interfaces::{Readable, Writeable};
    let bump = |r: &tock_registers::registers::ReadWrite<u32>| r.set(r.get().wrapping_add(1));
    let hw = sim.model.regs();
    let slot = &hw.vf[9];
    let done = slot.req_done.get();
    slot.request[0].set(hal::ixgbe::mbx::GET_QUEUES);
    slot.req_len.set(1);
    bump(&slot.req_seq);
    bump(&hw.global.event_seq);
    sim.step();
    let slot = &sim.model.regs().vf[9];
    assert_eq!(slot.req_done.get(), done, "group 1 did not move");
    // A VF of group 0 moves group 0: still not group 1.
    let mut vf0 = vf_driver(&mut sim, &pf, 0);
    vf0.bring_up(&mut sim).unwrap();
    let slot = &sim.model.regs().vf[9];
    assert_eq!(slot.req_done.get(), done);
    // Group 1 moves, but not VF 9's own slot counter (VF 8's did).
    let hw = sim.model.regs();
    bump(&hw.vf[8].slot_seq);
    bump(&hw.global.vf_group_seq[1]);
    bump(&hw.global.event_seq);
    sim.step();
    assert_eq!(
        sim.model.regs().vf[9].req_done.get(),
        done,
        "its slot did not move"
    );
    hal::chip::announce_vf_slot(sim.model.regs(), 9);
    sim.step();
    assert_eq!(sim.model.regs().vf[9].req_done.get(), done.wrapping_add(1));
}

#[test]
fn a_vf_reset_rewrites_its_own_vflinks_and_no_other() {
    use tock_registers::interfaces::{Readable, Writeable};
    let (mut sim, pf) = setup(16);
    let mut vf3 = vf_driver(&mut sim, &pf, 3);
    vf3.bring_up(&mut sim).unwrap();
    let up = hal::ixgbe::vfreg::VFLINKS_UP | hal::ixgbe::vfreg::VFLINKS_SPEED_10G;
    let hw = sim.model.regs();
    assert_eq!(hw.vf[3].links.get(), up);
    assert_eq!(hw.vf[12].links.get(), up, "SR-IOV wrote every VF's");
    // A word the firmware would not write again unless it rewrote all.
    hw.vf[12].links.set(0xdead);
    hw.vf[3].links.set(0);
    vf3.bring_up(&mut sim).unwrap();
    let hw = sim.model.regs();
    assert_eq!(hw.vf[3].links.get(), up, "the reset VF's link, rewritten");
    assert_eq!(hw.vf[12].links.get(), 0xdead, "another VF's, untouched");
    // The uplink going down is every VF's business.
    sim.set_uplink(false);
    let hw = sim.model.regs();
    assert_eq!((hw.vf[3].links.get(), hw.vf[12].links.get()), (0, 0));
}
