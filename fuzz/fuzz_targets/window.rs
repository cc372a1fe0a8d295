//! The host writing any value to any field of the window the firmware
//! reads (the hardware-owned ones: sequence counters, SR-IOV control,
//! mailbox and admin requests and their lengths, queue registers, IOMMU
//! windows), on a full 64-VF configuration, interleaved with polls. The
//! invariants hold whatever was written; DMA stays inside the windows as
//! the registers give them at the time.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sriov_fw_fuzz::ops::{Frame, Message, bring_up};
use sriov_fw_fuzz::{HwFields, Rig, Shared};

const VFS: usize = 64;

/// Which field: a block, then an index into that block's fields.
#[derive(Arbitrary, Debug)]
enum Field {
    Global(u8),
    Admin(u8),
    Vf { vf: u8, field: u8 },
    Function { f: u8, field: u16 },
}

/// What is written: a counter bumped, a small value, or anything.
#[derive(Arbitrary, Debug)]
enum Value {
    Bump,
    Small(u8),
    Any(u32),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Write {
        field: Field,
        value: Value,
    },
    /// Bumps the summary doorbell, then polls (the firmware scans).
    Event,
    Poll,
    /// Ordinary traffic among the writes, so there is state to corrupt.
    BringUp {
        vf: u8,
    },
    Message {
        vf: u8,
        msg: Message,
    },
    RxRing {
        f: u8,
    },
    Frame(Frame),
}

static RIG: Shared<VFS> = Shared::new();
static FIELDS: std::sync::OnceLock<HwFields> = std::sync::OnceLock::new();

fn word(fields: &HwFields, field: &Field) -> usize {
    let pick = |v: &[usize], i: usize| v[i % v.len()];
    match *field {
        Field::Global(i) => pick(&fields.global, usize::from(i)),
        Field::Admin(i) => pick(&fields.admin, usize::from(i)),
        Field::Vf { vf, field } => {
            let slot = &fields.vf[usize::from(vf) % fields.vf.len()];
            pick(slot, usize::from(field))
        }
        Field::Function { f, field } => {
            let block = &fields.function[usize::from(f) % fields.function.len()];
            pick(block, usize::from(field))
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    RIG.run(|rig: &mut Rig<VFS>| {
        let fields = FIELDS.get_or_init(|| rig.hw_fields());
        for op in &ops {
            match op {
                Op::Write { field, value } => {
                    let w = word(fields, field);
                    let v = match *value {
                        Value::Bump => rig.read_word(w).wrapping_add(1),
                        Value::Small(v) => u32::from(v),
                        Value::Any(v) => v,
                    };
                    rig.write_word(w, v);
                    // Nothing ran: nothing to check until the next poll.
                    continue;
                }
                Op::Event => rig.event(),
                Op::Poll => rig.poll(),
                Op::BringUp { vf } => bring_up(rig, usize::from(*vf)),
                Op::Message { vf, msg } => msg.send(rig, usize::from(*vf)),
                Op::RxRing { f } => rig.rx_ring(usize::from(*f), 0),
                Op::Frame(f) => {
                    rig.uplink.offer(f.bytes(), 1);
                    rig.poll();
                }
            }
            rig.check();
        }
    });
});
