//! The frame parser and the classifier/switch: arbitrary frames from the
//! uplink to VFs configured by the first bytes (MACs, VLANs, multicast,
//! xcast through the mailbox).
#![no_main]
use hal::ixgbe::mbx;
use libfuzzer_sys::fuzz_target;
use sriov_fw_fuzz::Rig;

fuzz_target!(|data: &[u8]| {
    // The parser alone, on the raw input.
    let _ = firmware::frame::parse(data);
    let mut rig = Rig::new();
    let (config, frames) = data.split_at(data.len().min(16));
    for (vf, c) in config.chunks(2).enumerate() {
        let b = c[0];
        rig.message(vf, &[mbx::VF_RESET], 1);
        rig.message(vf, &[mbx::API_NEGOTIATE, 5], 2);
        let mac = [0x02, 0, 0, 0, vf as u8, b];
        rig.message(
            vf,
            &[
                mbx::SET_MAC_ADDR,
                u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]),
                u32::from(mac[4]) | u32::from(mac[5]) << 8,
            ],
            3,
        );
        rig.message(
            vf,
            &[
                mbx::SET_VLAN | 1 << 16,
                u32::from(c.get(1).copied().unwrap_or(0)),
            ],
            2,
        );
        rig.message(vf, &[mbx::SET_MULTICAST | 1 << 16, u32::from(b) << 4], 2);
        rig.message(vf, &[mbx::UPDATE_XCAST_MODE, u32::from(b % 4)], 2);
    }
    let mut rest = frames;
    while rest.len() > 2 {
        let n = (usize::from(rest[0]) << 4 | usize::from(rest[1] & 0xf)).min(rest.len() - 2);
        rig.uplink.rx.push_back(rest[2..2 + n].to_vec());
        rest = &rest[2 + n..];
        rig.poll();
        rig.check();
    }
});
