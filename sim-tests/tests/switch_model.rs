//! Property: for random VF configurations and random frames (from the wire
//! and from VFs), the firmware's switch delivers exactly what a simple
//! reference model says: which ports get which frames, with which tags.
//! The reference (`sim_tests::reference`, which the soak uses too) parses
//! with `etherparse`, not with the firmware's parser.

use firmware::admin::BridgeMode;
use firmware::mac::Mac;
use firmware::vf::{LinkState, VlanProto};
use hal::ixgbe::XcastMode;
use proptest::prelude::*;
use sim_tests::drivers::pf::PfDriver;
use sim_tests::drivers::queues::Rings;
use sim_tests::drivers::vf::VfDriver;
use sim_tests::frames::FrameSpec;
use sim_tests::model::{PF_RID, pfreg};
use sim_tests::reference::{Deliveries, Port, Reference, VfView};
use sim_tests::sim::Sim;
use sim_tests::transport::Transport;

const VFS: usize = 4;
const PF_MAC: Mac = Mac([0x02, 0xf0, 0, 0, 0, 1]);
const STRANGER: Mac = Mac([0x02, 0xee, 0, 0, 0, 9]);
/// Groups with distinct hashes (filter type 0: bytes 4-5).
const GROUPS: [Mac; 4] = [
    Mac([1, 0, 0x5e, 0, 0x10, 0]),
    Mac([1, 0, 0x5e, 0, 0x20, 0]),
    Mac([1, 0, 0x5e, 0, 0x30, 0]),
    Mac([1, 0, 0x5e, 0, 0x40, 0]),
];
const VIDS: [u16; 3] = [10, 20, 30];

#[derive(Clone, Debug)]
struct VfCfg {
    spoofchk: bool,
    port_vlan: Option<u16>,
    link: LinkState,
    trusted: bool,
    xcast: XcastMode,
    vlans: Vec<u16>,
    groups: Vec<usize>,
}

fn vf_cfg() -> impl Strategy<Value = VfCfg> {
    (
        any::<bool>(),
        prop_oneof![Just(None), Just(Some(10u16)), Just(Some(30u16))],
        prop_oneof![
            Just(LinkState::Auto),
            Just(LinkState::Enable),
            Just(LinkState::Disable)
        ],
        any::<bool>(),
        prop_oneof![
            Just(XcastMode::None),
            Just(XcastMode::Multi),
            Just(XcastMode::AllMulti),
            Just(XcastMode::Promisc)
        ],
        prop::sample::subsequence(VIDS.to_vec(), 0..=3),
        prop::sample::subsequence(vec![0usize, 1, 2], 0..=3),
    )
        .prop_map(
            |(spoofchk, port_vlan, link, trusted, xcast, vlans, groups)| VfCfg {
                spoofchk,
                port_vlan,
                link,
                trusted,
                xcast,
                vlans,
                groups,
            },
        )
}

#[derive(Clone, Debug)]
enum Dst {
    Vf(usize),
    Pf,
    Stranger,
    Broadcast,
    Group(usize),
}

#[derive(Clone, Debug)]
struct Traffic {
    /// None: from the wire; Some(i): sent by VF i.
    from: Option<usize>,
    dst: Dst,
    /// The sender claims another VF's MAC.
    forged: bool,
    vid: Option<u16>,
}

fn traffic() -> impl Strategy<Value = Traffic> {
    (
        prop::option::of(0..VFS),
        prop_oneof![
            (0..VFS).prop_map(Dst::Vf),
            Just(Dst::Pf),
            Just(Dst::Stranger),
            Just(Dst::Broadcast),
            (0..4usize).prop_map(Dst::Group),
        ],
        prop::bool::weighted(0.2),
        prop::option::of(prop::sample::select(VIDS.to_vec())),
    )
        .prop_map(|(from, dst, forged, vid)| Traffic {
            from,
            dst,
            forged,
            vid,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn switch_matches_the_reference(
        cfg in prop::collection::vec(vf_cfg(), VFS),
        veb in any::<bool>(),
        uplink_up in any::<bool>(),
        frames in prop::collection::vec(traffic(), 1..24),
    ) {
        let mut sim = Sim::with_board_capacities();
        let mut pf = PfDriver::probe(&mut sim).unwrap();
        pf.sriov_configure(&mut sim, VFS as u16).unwrap();
        pf.set_pf_mac(&mut sim, PF_MAC).unwrap();
        pf.set_bridge_mode(&mut sim, if veb { BridgeMode::Veb } else { BridgeMode::Vepa }).unwrap();
        let mut pf_rings = Rings::setup(&mut sim, PF_RID, pfreg::QUEUES, 1, 64, 2, false).unwrap();
        let mut rings = Vec::new();
        let mut macs = Vec::new();
        for (i, c) in cfg.iter().enumerate() {
            let n = i as u16;
            pf.set_vf_spoofchk(&mut sim, n, c.spoofchk).unwrap();
            pf.set_vf_trust(&mut sim, n, c.trusted).unwrap();
            if let Some(v) = c.port_vlan {
                pf.set_vf_vlan(&mut sim, n, v, 0, VlanProto::Dot1Q).unwrap();
            }
            // Before the VF comes up: a link-state change restarts a VF
            // that is up (ixgbe's rule), which would clear what it set.
            pf.set_vf_link_state(&mut sim, n, c.link).unwrap();
            let mut vf = VfDriver::new(pf.vf_rid(&mut sim, n));
            let up = vf.bring_up(&mut sim).unwrap();
            macs.push(up.mac);
            for v in &c.vlans {
                let _ = vf.set_vlan(&mut sim, *v, true);
            }
            let groups: Vec<Mac> = c.groups.iter().map(|g| GROUPS[*g]).collect();
            vf.set_multicast(&mut sim, &groups).unwrap();
            vf.update_xcast(&mut sim, c.xcast).unwrap();
            rings.push(Rings::setup(&mut sim, vf.rid, 0, 1, 64, 2, false).unwrap());
        }
        sim.set_uplink(uplink_up);
        sim.uplink.take_tx();
        let views: Vec<VfView> = cfg
            .iter()
            .zip(&macs)
            .map(|(c, mac)| VfView {
                mac: *mac,
                spoofchk: c.spoofchk,
                port_vlan: c.port_vlan,
                link: c.link,
                trusted: c.trusted,
                xcast: c.xcast,
                vlans: c.vlans.clone(),
                groups: c.groups.iter().map(|g| GROUPS[*g]).collect(),
                // What the VF driver's bring-up asks (SET_LPE 1518).
                max_frame: 1518,
            })
            .collect();
        let reference = Reference { vfs: &views, pf_mac: PF_MAC, uplink_up, veb };
        for t in &frames {
            let dst = match t.dst {
                Dst::Vf(i) => macs[i],
                Dst::Pf => PF_MAC,
                Dst::Stranger => STRANGER,
                Dst::Broadcast => Mac::BROADCAST,
                Dst::Group(g) => GROUPS[g],
            };
            let src = match t.from {
                None => STRANGER,
                Some(s) if t.forged => macs[(s + 1) % VFS],
                Some(s) => macs[s],
            };
            let mut spec = FrameSpec::new(dst, src);
            if let Some(v) = t.vid {
                spec = spec.vlan(0x8100, v);
            }
            let frame = spec.build();
            match t.from {
                None => sim.inject(&frame),
                Some(s) => prop_assert!(rings[s].send(&mut sim, 0, &frame, None)),
            }
            sim.delay_us(5);
            let mut got = Deliveries::new();
            let wire = sim.uplink.take_tx();
            if !wire.is_empty() {
                got.insert(Port::Wire, wire);
            }
            let pf_got: Vec<Vec<u8>> = pf_rings.receive(&mut sim).into_iter().map(|r| r.data).collect();
            if !pf_got.is_empty() {
                got.insert(Port::Pf, pf_got);
            }
            for (i, r) in rings.iter_mut().enumerate() {
                let v: Vec<Vec<u8>> = r.receive(&mut sim).into_iter().map(|r| r.data).collect();
                if !v.is_empty() {
                    got.insert(Port::Vf(i), v);
                }
            }
            prop_assert_eq!(got, reference.expect(t.from, t.vid, &frame), "traffic {:?}", t);
        }
        // Every frame accounted for, on every port.
        prop_assert!(sim.device.uplink_counters().balanced());
        for f in 0..=VFS {
            prop_assert!(sim.device.port_counters(f).unwrap().balanced());
        }
    }
}
