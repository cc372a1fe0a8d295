//! Arbitrary PF admin requests (any opcode, VF number, arguments, claimed
//! length), mixed with VF resets so per-VF state is exercised.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sriov_fw_fuzz::{Rig, words};

fuzz_target!(|data: &[u8]| {
    let mut rig = Rig::new();
    for op in data.chunks(24) {
        if op[0] == 0xff {
            rig.reset(usize::from(op.get(1).copied().unwrap_or(0)), false);
        } else {
            let w = words(op);
            let len = u32::from(op.get(1).copied().unwrap_or(0)) % 40;
            rig.admin(&w, len);
        }
        rig.check();
    }
});
