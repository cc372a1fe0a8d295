//! Mailbox traffic from many VFs: messages of any ID, words and claimed
//! length (known IDs likely), resets, FLRs, acknowledgements, protocol
//! violations, and time passing (rate limits refill, floods quarantine).
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sriov_fw_fuzz::ops::{Message, bring_up};
use sriov_fw_fuzz::{Shared, VFS};

#[derive(Arbitrary, Debug)]
enum Op {
    Message {
        vf: u8,
        msg: Message,
    },
    /// The same message up to 64 times: a flood, cheaply encoded (five
    /// of them pass the rate limit's burst of 256; twenty more, without
    /// waiting, quarantine the VF). Capped so that floods do not set the
    /// pace of every input.
    Repeat {
        vf: u8,
        msg: Message,
        times: u8,
    },
    BringUp {
        vf: u8,
    },
    Reset {
        vf: u8,
        flr: bool,
    },
    Ack {
        vf: u8,
    },
    Violation {
        vf: u8,
        kind: u8,
    },
    Wait {
        ms: u16,
    },
}

static RIG: Shared<VFS> = Shared::new();

fuzz_target!(|ops: Vec<Op>| {
    RIG.run(|rig| {
        for op in &ops {
            match op {
                Op::Message { vf, msg } => msg.send(rig, usize::from(*vf)),
                Op::Repeat { vf, msg, times } => {
                    for _ in 0..times % 65 {
                        msg.send(rig, usize::from(*vf));
                    }
                }
                Op::BringUp { vf } => bring_up(rig, usize::from(*vf)),
                Op::Reset { vf, flr } => rig.reset_vf(usize::from(*vf), *flr),
                Op::Ack { vf } => rig.ack(usize::from(*vf)),
                Op::Violation { vf, kind } => rig.violation(usize::from(*vf), u32::from(*kind)),
                Op::Wait { ms } => rig.advance(u64::from(*ms) * 1_000_000),
            }
            rig.check();
        }
    });
});
