//! The frame parser and the classifier/switch: frames from the uplink,
//! built from parts (destinations the VFs own, multicast, broadcast, any;
//! VLAN tags; any ethertype and length) or raw bytes, to VFs configured by
//! mailbox messages and PF admin requests (MACs, VLANs, multicast, xcast
//! modes, port VLANs, spoof checks, link states, bridge mode).
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sriov_fw_fuzz::ops::{AdminRequest, Frame, Message, bring_up};
use sriov_fw_fuzz::{Shared, VFS};

#[derive(Arbitrary, Debug)]
enum Op {
    BringUp {
        vf: u8,
    },
    Message {
        vf: u8,
        msg: Message,
    },
    Admin(AdminRequest),
    /// An Rx ring with buffers posted (frames get delivered, not only
    /// classified).
    RxRing {
        f: u8,
        q: u8,
    },
    Frame(Frame),
    /// A burst of the same frame (fills Rx rings, exceeds a poll's budget).
    Burst {
        frame: Frame,
        times: u8,
    },
    Raw(Vec<u8>),
    Poll,
}

static RIG: Shared<VFS> = Shared::new();

fuzz_target!(|ops: Vec<Op>| {
    RIG.run(|rig| {
        for op in &ops {
            match op {
                Op::BringUp { vf } => bring_up(rig, usize::from(*vf)),
                Op::Message { vf, msg } => msg.send(rig, usize::from(*vf)),
                Op::Admin(req) => {
                    req.send(rig);
                }
                Op::RxRing { f, q } => rig.rx_ring(usize::from(*f), usize::from(*q)),
                Op::Frame(f) => {
                    rig.uplink.offer(f.bytes(), 1);
                    rig.poll();
                }
                Op::Burst { frame, times } => {
                    rig.uplink.offer(frame.bytes(), usize::from(*times));
                    rig.poll();
                }
                Op::Raw(bytes) => {
                    // The parser alone, then the whole path.
                    let _ = firmware::frame::parse(bytes);
                    rig.uplink.offer(bytes.clone(), 1);
                    rig.poll();
                }
                Op::Poll => rig.poll(),
            }
            rig.check();
        }
    });
});
