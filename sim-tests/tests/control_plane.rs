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
