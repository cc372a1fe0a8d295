//! Arbitrary mailbox traffic from many VFs: messages of any words and
//! claimed length, resets, FLRs, acknowledgements and protocol violations.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sriov_fw_fuzz::{Rig, words};

fuzz_target!(|data: &[u8]| {
    let mut rig = Rig::new();
    for op in data.chunks(20) {
        let (kind, vf) = (op[0] % 8, usize::from(op.get(1).copied().unwrap_or(0)));
        let rest = op.get(2..).unwrap_or(&[]);
        match kind {
            0..=3 => {
                let w = words(rest);
                let len = u32::from(op.get(2).copied().unwrap_or(0) % 18);
                rig.message(vf, &w, len);
            }
            4 => rig.reset(vf, false),
            5 => rig.reset(vf, true),
            6 => rig.ack(vf),
            _ => rig.violation(vf, u32::from(op.get(2).copied().unwrap_or(0))),
        }
        rig.check();
    }
});
