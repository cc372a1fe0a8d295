//! Descriptor rings with arbitrary descriptor contents, buffers and ring
//! registers (base, length, tails, enables), Tx doorbells and Rx traffic,
//! on the PF and the VFs. Nothing outside a function's window may be
//! written, and every frame must be accounted for.
#![no_main]
use hal::chip::HOST_MEMORY_BUS_BASE;
use libfuzzer_sys::fuzz_target;
use sriov_fw_fuzz::{Rig, WINDOW};

fuzz_target!(|data: &[u8]| {
    let mut rig = Rig::new();
    for op in data.chunks(12) {
        let pick = |i: usize| op.get(i).copied().unwrap_or(0);
        let val = u32::from_le_bytes([pick(4), pick(5), pick(6), pick(7)]);
        match pick(0) % 4 {
            // A queue register; addresses are nudged toward the window.
            0 => {
                let f = usize::from(pick(1)) % 9;
                let reg = usize::from(pick(3));
                let v = if matches!(reg % 11, 0 | 6) && pick(8) & 1 == 0 {
                    (HOST_MEMORY_BUS_BASE + f as u64 * WINDOW) as u32 + (val & 0xffff)
                } else if matches!(reg % 11, 1 | 7) && pick(8) & 1 == 0 {
                    (HOST_MEMORY_BUS_BASE >> 32) as u32
                } else {
                    val
                };
                rig.queue_reg(f, usize::from(pick(2)), reg, v);
            }
            // Bytes of host memory (descriptors, buffers) in a window.
            1 => {
                let f = u64::from(pick(1)) % 9;
                let at = (f * WINDOW + u64::from(val) % (WINDOW - 8)) as usize;
                rig.host.0[at..at + 4].copy_from_slice(
                    &op[8.min(op.len())..]
                        .iter()
                        .copied()
                        .chain([0; 4])
                        .take(4)
                        .collect::<Vec<_>>(),
                );
                rig.poll();
            }
            // A frame from the wire.
            2 => {
                let mut f = vec![0xffu8; 6];
                f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
                f.extend(std::iter::repeat_n(pick(1), usize::from(pick(2)) * 8));
                rig.uplink.rx.push_back(f);
                rig.poll();
            }
            _ => rig.poll(),
        }
        rig.check();
    }
});
