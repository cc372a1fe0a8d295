//! Descriptor rings of the PF and the VFs: well-formed rings (Rx buffers
//! posted, Tx frames queued) and everything a driver may get wrong about
//! them: any queue register (bases, lengths, tails, enables, heads), any
//! descriptor and buffer contents, doorbells, traffic from the wire.
//! Nothing outside a function's window may be written, and every frame
//! must be accounted for.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sriov_fw_fuzz::ops::{Addr, Frame, bring_up};
use sriov_fw_fuzz::{Shared, VFS, WINDOW};

#[derive(Arbitrary, Debug)]
enum Op {
    BringUp {
        vf: u8,
    },
    RxRing {
        f: u8,
        q: u8,
    },
    TxRing {
        f: u8,
        q: u8,
        frames: Vec<Frame>,
    },
    /// One of the 15 hw-owned queue registers (then a doorbell).
    Reg {
        f: u8,
        q: u8,
        reg: u8,
        value: Addr,
    },
    /// A descriptor anywhere in the function's window.
    Desc {
        f: u8,
        at: u16,
        buffer: Addr,
        hi: Addr,
        cmd: u32,
        olinfo: u32,
    },
    Bytes {
        f: u8,
        at: u16,
        data: Vec<u8>,
    },
    Frame(Frame),
    Doorbell {
        f: u8,
    },
    Poll,
}

static RIG: Shared<VFS> = Shared::new();
const FUNCTIONS: usize = VFS + 1;

fuzz_target!(|ops: Vec<Op>| {
    RIG.run(|rig| {
        for op in &ops {
            match op {
                Op::BringUp { vf } => bring_up(rig, usize::from(*vf)),
                Op::RxRing { f, q } => rig.rx_ring(usize::from(*f), usize::from(*q)),
                Op::TxRing { f, q, frames } => {
                    let frames: Vec<_> = frames.iter().map(Frame::bytes).collect();
                    rig.tx_ring(usize::from(*f), usize::from(*q), &frames);
                }
                Op::Reg { f, q, reg, value } => {
                    let f = usize::from(*f) % FUNCTIONS;
                    rig.queue_reg(f, usize::from(*q), usize::from(*reg), value.value(f));
                }
                Op::Desc {
                    f,
                    at,
                    buffer,
                    hi,
                    cmd,
                    olinfo,
                } => {
                    let f = usize::from(*f) % FUNCTIONS;
                    let at = f * WINDOW as usize + usize::from(*at & !15);
                    let mut d = [0u8; 16];
                    d[..4].copy_from_slice(&buffer.value(f).to_le_bytes());
                    d[4..8].copy_from_slice(&hi.value(f).to_le_bytes());
                    d[8..12].copy_from_slice(&cmd.to_le_bytes());
                    d[12..].copy_from_slice(&olinfo.to_le_bytes());
                    rig.host.poke(at, &d);
                }
                Op::Bytes { f, at, data } => {
                    let f = usize::from(*f) % FUNCTIONS;
                    rig.host.poke(f * WINDOW as usize + usize::from(*at), data);
                }
                Op::Frame(f) => {
                    rig.uplink.offer(f.bytes(), 1);
                    rig.poll();
                }
                Op::Doorbell { f } => {
                    hal::chip::ring_tx_doorbell(rig.hw(), usize::from(*f) % FUNCTIONS);
                    rig.poll();
                }
                Op::Poll => rig.poll(),
            }
            rig.check();
        }
    });
});
