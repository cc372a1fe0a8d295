//! Property: whatever one VF does through its BAR (valid driver calls,
//! malformed messages, protocol violations, resets), no other VF's
//! configuration, counters or lifecycle change, and nothing panics.

use firmware::mac::Mac;
use hal::ixgbe::vfreg::*;
use hal::ixgbe::{XcastMode, mbx};
use proptest::prelude::*;
use sim_tests::drivers::pf::{PfDriver, VfInfo, VfStats};
use sim_tests::drivers::vf::VfDriver;
use sim_tests::sim::Sim;
use sim_tests::transport::Transport;

const VFS: u16 = 6;

#[derive(Debug, Clone)]
enum Op {
    /// Any 16 words through the mailbox, with any length.
    Raw(Vec<u32>),
    /// A message with a real ID and random payload.
    Message(u32, u32, [u32; 3]),
    SetMac([u8; 6]),
    SetVlan(u16, bool),
    Xcast(u32),
    Multicast(u8),
    BringUp,
    VfctrlReset,
    WriteWithoutLock(u8, u32),
    RequestWithoutLock,
    AckUnprompted,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        prop::collection::vec(any::<u32>(), 1..=16).prop_map(Op::Raw),
        (0u32..0x14, any::<u8>(), any::<[u32; 3]>()).prop_map(|(id, info, w)| Op::Message(
            id,
            u32::from(info),
            w
        )),
        any::<[u8; 6]>().prop_map(Op::SetMac),
        (any::<u16>(), any::<bool>()).prop_map(|(v, a)| Op::SetVlan(v, a)),
        (0u32..6).prop_map(Op::Xcast),
        (0u8..40).prop_map(Op::Multicast),
        Just(Op::BringUp),
        Just(Op::VfctrlReset),
        (0u8..16, any::<u32>()).prop_map(|(i, v)| Op::WriteWithoutLock(i, v)),
        Just(Op::RequestWithoutLock),
        Just(Op::AckUnprompted),
    ]
}

fn apply(sim: &mut Sim, vf: &mut VfDriver, op: &Op) {
    // Errors are expected: the property is about everyone else.
    let _ = match op {
        Op::Raw(words) => vf.exchange(sim, words, 1).map(|_| ()),
        Op::Message(id, info, w) => vf
            .exchange(
                sim,
                &[id | (info << mbx::MSGINFO_SHIFT), w[0], w[1], w[2]],
                4,
            )
            .map(|_| ()),
        Op::SetMac(m) => vf.set_mac(sim, Mac(*m)),
        Op::SetVlan(v, add) => vf.set_vlan(sim, *v, *add),
        Op::Xcast(m) => match XcastMode::from_wire(*m) {
            Some(mode) => vf.update_xcast(sim, mode).map(|_| ()),
            None => vf
                .exchange(sim, &[mbx::UPDATE_XCAST_MODE, *m], 2)
                .map(|_| ()),
        },
        Op::Multicast(n) => {
            let macs: Vec<Mac> = (0..*n).map(|i| Mac([1, 0, 0x5e, 0, 0, i])).collect();
            vf.set_multicast(sim, &macs)
        }
        Op::BringUp => vf.bring_up(sim).map(|_| ()),
        Op::VfctrlReset => {
            sim.bar_write32(vf.rid, VFCTRL, VFCTRL_RST);
            Ok(())
        }
        Op::WriteWithoutLock(i, v) => {
            sim.bar_write32(vf.rid, VFMBMEM + 4 * u32::from(*i), *v);
            Ok(())
        }
        Op::RequestWithoutLock => {
            sim.bar_write32(vf.rid, VFMAILBOX, MBX_REQ);
            Ok(())
        }
        Op::AckUnprompted => {
            sim.bar_write32(vf.rid, VFMAILBOX, MBX_ACK);
            Ok(())
        }
    };
}

/// What the PF sees of every VF: configuration, mailbox and traffic
/// counters.
fn snapshot(sim: &mut Sim, pf: &mut PfDriver) -> Vec<(VfInfo, VfStats)> {
    (0..VFS)
        .map(|n| {
            (
                pf.vf_info(sim, n).expect("admin query"),
                pf.vf_stats(sim, n).expect("admin query"),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn one_vf_cannot_touch_another(ops in prop::collection::vec((0..VFS, op()), 1..40)) {
        let mut sim = Sim::with_board_capacities();
        let mut pf = PfDriver::probe(&mut sim).unwrap();
        pf.sriov_configure(&mut sim, VFS).unwrap();
        pf.set_vf_mac(&mut sim, 2, Mac([2, 0, 0, 0, 0, 0x22])).unwrap();
        pf.set_vf_trust(&mut sim, 3, true).unwrap();
        let mut vfs: Vec<VfDriver> = (0..VFS).map(|n| VfDriver::new(pf.vf_rid(&mut sim, n))).collect();
        for vf in vfs.iter_mut().take(4) {
            vf.bring_up(&mut sim).unwrap();
        }
        for (who, op) in &ops {
            let before = snapshot(&mut sim, &mut pf);
            apply(&mut sim, &mut vfs[usize::from(*who)], op);
            let after = snapshot(&mut sim, &mut pf);
            for n in 0..usize::from(VFS) {
                if n != usize::from(*who) {
                    prop_assert_eq!(&before[n], &after[n], "VF {} changed when VF {} did {:?}", n, who, op);
                }
            }
            // The actor's administered settings are not its to change.
            prop_assert_eq!(sim.device.audit(), Ok(()), "after VF {} did {:?}", who, op);
            let (b, a) = (&before[usize::from(*who)].0, &after[usize::from(*who)].0);
            prop_assert_eq!((b.mac_administered, b.trust, b.spoof_check, b.vlan, b.link_state),
                            (a.mac_administered, a.trust, a.spoof_check, a.vlan, a.link_state));
        }
        // The PF's channel still works, and every VF can still come up.
        let info = pf.info(&mut sim).unwrap();
        prop_assert!(info.mac_filters.0 <= info.mac_filters.1);
        for vf in vfs.iter_mut() {
            prop_assert!(vf.bring_up(&mut sim).is_ok());
        }
        prop_assert_eq!(sim.device.audit(), Ok(()));
    }
}
