//! Property: whatever one VF does through its BAR and its rings (valid
//! driver calls, malformed messages, protocol violations, resets, hostile
//! descriptors), no other VF's configuration, counters or lifecycle change,
//! no memory outside its window changes, and nothing panics.

use firmware::mac::Mac;
use hal::ixgbe::vfreg::*;
use hal::ixgbe::{XcastMode, mbx};
use proptest::prelude::*;
use sim_tests::drivers::pf::{PfDriver, VfInfo, VfStats};
use sim_tests::drivers::queues::Rings;
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
    /// A Tx descriptor (and the doorbell) pointing anywhere: at the PF's
    /// canary, or at an arbitrary address.
    EvilTx {
        at_canary: bool,
        addr: u64,
        len: u16,
    },
    /// Every posted Rx buffer of queue 0 pointed anywhere, then a broadcast.
    EvilRx {
        at_canary: bool,
        addr: u64,
    },
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
        (any::<bool>(), any::<u64>(), 1u16..2000).prop_map(|(at_canary, addr, len)| Op::EvilTx {
            at_canary,
            addr,
            len
        }),
        (any::<bool>(), any::<u64>()).prop_map(|(at_canary, addr)| Op::EvilRx { at_canary, addr }),
    ]
}

/// The PF's canary buffer: no VF may ever change it.
const CANARY: [u8; 4096] = [0xc5; 4096];

fn apply(sim: &mut Sim, vf: &mut VfDriver, rings: Option<&mut Rings>, canary: u64, op: &Op) {
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
        Op::EvilTx {
            at_canary,
            addr,
            len,
        } => {
            if let Some(r) = rings {
                use hal::ixgbe::desc::*;
                let a = if *at_canary { canary } else { *addr };
                let cmd = u32::from(*len) | TX_DTYP_DATA | TX_CMD_DEXT | TX_CMD_EOP | TX_CMD_RS;
                if r.push_tx_desc(sim, 0, [a as u32, (a >> 32) as u32, cmd, 0]) {
                    r.doorbell(sim, 0, None);
                }
                sim.delay_us(5);
            }
            Ok(())
        }
        Op::EvilRx { at_canary, addr } => {
            if let Some(r) = rings {
                let a = if *at_canary { canary } else { *addr };
                let base = u64::from(sim.bar_read32(vf.rid, hal::ixgbe::queuereg::rdbal(0)))
                    | u64::from(sim.bar_read32(vf.rid, hal::ixgbe::queuereg::rdbah(0))) << 32;
                for i in 0..32u64 {
                    let mut d = [0u8; 16];
                    d[..8].copy_from_slice(&a.to_le_bytes());
                    sim.dma_write(base + 16 * i, &d);
                }
                // A frame for the VF itself, from the wire.
                let own = vf.perm_mac.unwrap_or(vf.chosen_mac());
                sim.inject(
                    &sim_tests::frames::FrameSpec::new(own, Mac([2, 9, 9, 9, 9, 9])).build(),
                );
                sim.delay_us(5);
                let _ = r.receive(sim);
            }
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
        let mut rings = Vec::new();
        for vf in vfs.iter_mut().take(4) {
            vf.bring_up(&mut sim).unwrap();
            rings.push(Rings::setup(&mut sim, vf.rid, 0, 1, 32, 2, false).unwrap());
        }
        let canary = sim.dma_alloc(sim_tests::model::PF_RID, 4096, 4096).unwrap();
        sim.dma_write(canary, &CANARY);
        for (who, op) in &ops {
            let before = snapshot(&mut sim, &mut pf);
            let r = rings.get_mut(usize::from(*who));
            apply(&mut sim, &mut vfs[usize::from(*who)], r, canary, op);
            let mut seen = [0u8; 4096];
            sim.dma_read(canary, &mut seen);
            prop_assert!(seen == CANARY, "VF {} changed the PF's memory with {:?}", who, op);
            let after = snapshot(&mut sim, &mut pf);
            // A frame from the wire (EvilRx) may legitimately reach a
            // trusted promiscuous VF: there, compare all but traffic.
            let wire = matches!(op, Op::EvilRx { .. });
            for n in 0..usize::from(VFS) {
                if n != usize::from(*who) {
                    if wire {
                        prop_assert_eq!(&before[n].0, &after[n].0, "VF {} changed when VF {} did {:?}", n, who, op);
                    } else {
                        prop_assert_eq!(&before[n], &after[n], "VF {} changed when VF {} did {:?}", n, who, op);
                    }
                }
            }
            prop_assert_eq!(sim.device.audit(), Ok(()), "after VF {} did {:?}", who, op);
            // The actor's administered settings are not its to change.
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
