//! The PF's admin channel: every opcode (the known ones likely, any 16-bit
//! code possible), any VF field, arguments and claimed length, mixed with
//! VF bring-ups and resets so per-VF state is there to administer. Every
//! request is answered: a status, and a response length within the block.
#![no_main]
use arbitrary::Arbitrary;
use firmware::admin::Status;
use hal::chip::ADMIN_WORDS;
use libfuzzer_sys::fuzz_target;
use sriov_fw_fuzz::ops::{AdminRequest, Message, bring_up};
use sriov_fw_fuzz::{Shared, VFS};

#[derive(Arbitrary, Debug)]
enum Op {
    Admin(AdminRequest),
    BringUp { vf: u8 },
    Message { vf: u8, msg: Message },
    Reset { vf: u8, flr: bool },
}

static RIG: Shared<VFS> = Shared::new();

fuzz_target!(|ops: Vec<Op>| {
    RIG.run(|rig| {
        for op in &ops {
            match op {
                Op::Admin(req) => {
                    let (status, len) = req.send(rig);
                    assert!(
                        (1..=ADMIN_WORDS as u32).contains(&len),
                        "response length {len} (status {status})"
                    );
                    assert!(
                        Status::from_code(status as u16).is_some(),
                        "status {status}"
                    );
                }
                Op::BringUp { vf } => bring_up(rig, usize::from(*vf)),
                Op::Message { vf, msg } => msg.send(rig, usize::from(*vf)),
                Op::Reset { vf, flr } => rig.reset_vf(usize::from(*vf), *flr),
            }
            rig.check();
        }
    });
});
