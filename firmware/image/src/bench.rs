//! The benchmark mode: retired instructions per frame for the data path's
//! decisions, counted by the PMU under `-icount` (deterministic).
//!
//! Each measurement runs a burst of 64-byte frames through one path with
//! interrupts masked and reports the burst's count minus an empty loop over
//! the same frames. `cargo xtask bench --qemu` parses the `bench ...` lines,
//! prints the table and checks it against `docs/bench-budget.toml`.
//!
//! Two kinds of rows. The *decisions* (this module) cover parse, classify,
//! the per-destination port-VLAN filter and (VF Tx) the anti-spoof check,
//! built from the library's parts, without the descriptor or DMA work; they
//! run for 16..4096 filter entries and 8..256 VFs. The *full paths*
//! ([`full`]) run the real `Device` over a window in RAM, descriptors and
//! DMA included. The lines' `path=` names are the budget file's keys.

mod full;

use core::cell::UnsafeCell;
use core::hint::black_box;
use firmware::classifier::{Classifier, Destinations, EXACT_ENTRIES};
use firmware::device::Device;
use firmware::frame::{self, TPID_8021Q, Tag};
use firmware::mac::Mac;
use hal::arch::pmu::{InstructionCounter, without_interrupts};
use hal::board::capacities::TOTAL_VFS;
use hal::chip::MAX_FUNCTIONS;
use hal::exit::ExitCode;

/// Frames per burst.
const BURST: usize = 64;
/// Filter-table sizes (unicast is capped at the board's MAC filters).
const TABLE_SIZES: [usize; 5] = [16, 64, 256, 1024, 4096];
/// Enabled VFs the tables are spread over.
const VF_COUNTS: [usize; 3] = [8, 64, 256];
/// Destinations of the replication measurements.
const FAN_OUT: [usize; 4] = [1, 8, 64, 256];

struct Rig {
    classifier: Classifier,
    /// Port VLAN per function (0: none), the per-destination filter.
    port_vlan: [u16; MAX_FUNCTIONS],
    /// Each function's MAC, for anti-spoof.
    mac_of: [Mac; MAX_FUNCTIONS],
    unicast: Burst,
    multicast: Burst,
    tagged: Burst,
    out: [u8; 128],
    /// Unicast frames not addressed to VF 1 itself (what VF Tx delivers).
    vf_tx_expected: u32,
}

/// A burst's frames, each 16-aligned as the data path's buffers are (the
/// parser reads an aligned frame's addresses as words).
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Burst([[u8; 64]; BURST]);

impl core::ops::Deref for Burst {
    type Target = [[u8; 64]; BURST];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl core::ops::DerefMut for Burst {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

struct RigCell(UnsafeCell<Rig>);
// SAFETY: the bench runs on the one core, once.
unsafe impl Sync for RigCell {}
static RIG: RigCell = RigCell(UnsafeCell::new(Rig {
    classifier: Classifier::new(),
    port_vlan: [0; MAX_FUNCTIONS],
    mac_of: [Mac::ZERO; MAX_FUNCTIONS],
    unicast: Burst([[0; 64]; BURST]),
    multicast: Burst([[0; 64]; BURST]),
    tagged: Burst([[0; 64]; BURST]),
    out: [0; 128],
    vf_tx_expected: 0,
}));

fn unicast_mac(i: usize) -> Mac {
    let b = (i as u32).to_be_bytes();
    Mac([0x02, 0x5e, b[0], b[1], b[2], b[3]])
}

fn multicast_mac(i: usize) -> Mac {
    let b = (i as u32).to_be_bytes();
    Mac([0x01, 0x00, 0x5e, b[1] & 0x7f, b[2], b[3]])
}

fn write_frame(buf: &mut [u8; 64], dst: Mac, src: Mac, i: usize) {
    buf.fill(0);
    buf[..6].copy_from_slice(&dst.0);
    buf[6..12].copy_from_slice(&src.0);
    buf[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    // A minimal IPv4/UDP header so the parser walks L3 and L4.
    buf[14] = 0x45;
    buf[16..18].copy_from_slice(&50u16.to_be_bytes());
    buf[23] = 17;
    buf[26..30].copy_from_slice(&[10, 0, 0, 1]);
    buf[30..34].copy_from_slice(&[10, 0, (i >> 8) as u8, i as u8]);
    buf[34..36].copy_from_slice(&(1024 + i as u16).to_be_bytes());
    buf[36..38].copy_from_slice(&4789u16.to_be_bytes());
}

impl Rig {
    /// Installs `entries` unicast (up to the board's filters) and multicast
    /// entries over `vfs` VFs, and a burst of frames hitting them.
    fn build(&mut self, entries: usize, vfs: usize) {
        let c = &mut self.classifier;
        c.clear();
        c.set_default_pool(Some(0));
        self.port_vlan = [0; MAX_FUNCTIONS];
        let unicast = entries.min(EXACT_ENTRIES);
        for i in 0..unicast {
            let f = 1 + i % vfs;
            c.add_unicast(unicast_mac(i), f);
            if i < vfs {
                self.mac_of[f] = unicast_mac(i);
            }
        }
        for i in 0..entries {
            let h = hal::ixgbe::multicast_hash(multicast_mac(i).0, c.mc_filter_type);
            c.add_multicast_hash(h, 1 + i % vfs);
        }
        c.seal();
        // From VF 1's own address, so the anti-spoof check passes.
        let src = unicast_mac(0);
        self.vf_tx_expected = 0;
        for k in 0..BURST {
            // Spread the burst over the whole table.
            let i = k * unicast / BURST;
            if 1 + i % vfs != 1 {
                self.vf_tx_expected += 1;
            }
            write_frame(&mut self.unicast[k], unicast_mac(i), src, k);
            let j = k * entries / BURST;
            write_frame(&mut self.multicast[k], multicast_mac(j), src, k);
        }
    }

    /// Broadcast reaches the first `n` VFs.
    fn set_broadcast(&mut self, n: usize) {
        self.classifier.broadcast = firmware::classifier::PoolSet::EMPTY;
        for f in 1..=n {
            self.classifier.broadcast.insert(f);
        }
    }
}

/// The decision rig's classifier, built for `entries` over `vfs` VFs, for
/// `mode=cores`: that mode runs instead of the bench, so the rig is its
/// alone, and it only reads the classifier once built.
pub(crate) fn classifier_for_cores(entries: usize, vfs: usize) -> &'static Classifier {
    // SAFETY: called once, by the boot core, in a run without the bench.
    let rig = unsafe { &mut *RIG.0.get() };
    rig.build(entries, vfs);
    &rig.classifier
}

/// Destinations that pass the port-VLAN filter for a frame with `vid`.
#[inline(always)]
fn deliverable(rig: &Rig, set: &firmware::classifier::PoolSet, vid: u16) -> u32 {
    let mut n = 0;
    for f in set.iter() {
        if passes_port_vlan(rig, f, vid) {
            n += 1;
        }
    }
    n
}

/// The per-destination port-VLAN filter.
#[inline(always)]
fn passes_port_vlan(rig: &Rig, f: usize, vid: u16) -> bool {
    let pv = rig.port_vlan[f];
    pv == 0 || pv == vid
}

/// Wire → function: parse, classify, filter.
fn from_wire(rig: &Rig, f: &[u8]) -> u32 {
    match frame::parse(f) {
        Ok(p) => match rig.classifier.lookup(&p.dst, true).destinations() {
            Destinations::One(f) => u32::from(passes_port_vlan(rig, f, p.vid())),
            Destinations::Nobody => 0,
            Destinations::Set(set) => deliverable(rig, &set, p.vid()),
        },
        Err(_) => 0,
    }
}

/// The parser alone (what the decisions share).
fn parse_only(_: &Rig, f: &[u8]) -> u32 {
    // The whole parsed frame stored (as a caller that keeps it does): the
    // parser is inlined, and a result of one field would let LLVM drop the
    // reads of the others.
    frame::parse(f).map_or(0, |p| u32::from(black_box(&p).vid()) + 1)
}

/// The classifier alone: the destination MAC read straight from the frame.
fn classify_only(rig: &Rig, f: &[u8]) -> u32 {
    // Byte by byte: `copy_from_slice` of six bytes is a `memcpy` call,
    // counted as if it were the lookup's.
    let Some(&[a, b, c, d, e, g]) = f.first_chunk::<6>() else {
        return 0;
    };
    rig.classifier
        .lookup(&Mac([a, b, c, d, e, g]), true)
        .set()
        .len() as u32
}

/// VF 1 → VEB: parse, anti-spoof, classify, not back to the sender.
fn from_vf(rig: &Rig, f: &[u8]) -> u32 {
    let from = 1;
    match frame::parse(f) {
        Ok(p) if p.src == rig.mac_of[from] => {
            let t = rig.classifier.lookup(&p.dst, false);
            let local = match t.destinations() {
                Destinations::One(g) => u32::from(g != from && passes_port_vlan(rig, g, p.vid())),
                Destinations::Nobody => 0,
                Destinations::Set(mut set) => {
                    set.remove(from);
                    deliverable(rig, &set, p.vid())
                }
            };
            local + u32::from(!t.owned)
        }
        _ => 0,
    }
}

/// Instructions for one pass of `work` over `frames`, minus the same loop
/// doing nothing, divided by the burst.
fn per_frame(
    pmu: &InstructionCounter,
    rig: &Rig,
    frames: &[[u8; 64]; BURST],
    work: fn(&Rig, &[u8]) -> u32,
) -> (u64, u32) {
    fn nothing(_: &Rig, f: &[u8]) -> u32 {
        u32::from(f[0])
    }
    let run = |w: fn(&Rig, &[u8]) -> u32| {
        without_interrupts(|| {
            let mut acc = 0u32;
            let before = pmu.read();
            for f in frames.iter() {
                acc = acc.wrapping_add(black_box(w)(rig, black_box(&f[..])));
            }
            (pmu.read() - before, black_box(acc))
        })
    };
    let (empty, _) = run(nothing);
    let (total, acc) = run(work);
    (total.saturating_sub(empty) / BURST as u64, acc)
}

fn report(path: &str, entries: usize, vfs: usize, dests: usize, n: u64) {
    defmt::info!(
        "bench path={=str} entries={} vfs={} destinations={} instructions_per_frame={}",
        path,
        entries,
        vfs,
        dests,
        n
    );
}

/// A row measured with a queue manager: the core's instructions, and the
/// manager's DMA operations (hundredths) and bytes, per frame.
fn report_engine(
    path: &str,
    entries: usize,
    vfs: usize,
    dests: usize,
    n: u64,
    moves_x100: u64,
    bytes: u64,
) {
    defmt::info!(
        "bench path={=str} entries={} vfs={} destinations={} instructions_per_frame={} engine_moves_x100={} engine_bytes={}",
        path,
        entries,
        vfs,
        dests,
        n,
        moves_x100,
        bytes
    );
}

/// The whole bench, or (`only`) one full path repeated for a profile.
pub fn run(device: &mut Device<TOTAL_VFS>, only: Option<&str>) -> ExitCode {
    let pmu = match InstructionCounter::start() {
        Ok(p) => p,
        Err(e) => {
            defmt::error!(
                "bench: the PMU cannot count instructions ({}); run under QEMU with -icount shift=0",
                e
            );
            return ExitCode::Failure;
        }
    };
    if let Some(path) = only {
        return match full::profile(&pmu, device, path) {
            Ok(()) => ExitCode::Success,
            Err(e) => {
                defmt::error!("bench: profile of {=str}: {=str}", path, e);
                ExitCode::Failure
            }
        };
    }
    // SAFETY: the only reference to the rig, for the rest of the run.
    let rig = unsafe { &mut *RIG.0.get() };
    defmt::info!(
        "bench: {} frames per burst, unicast table capped at {} entries (board MAC filters)",
        BURST,
        EXACT_ENTRIES
    );
    for &vfs in VF_COUNTS.iter() {
        for &entries in TABLE_SIZES.iter() {
            rig.build(entries, vfs);
            let (n, hits) = per_frame(&pmu, rig, &rig.unicast, from_wire);
            if hits != BURST as u32 {
                defmt::error!("bench: {} of {} unicast frames classified", hits, BURST);
                return ExitCode::Failure;
            }
            report("wire-unicast-decision", entries, vfs, 1, n);
            let (n, _) = per_frame(&pmu, rig, &rig.unicast, parse_only);
            report("parse", entries, vfs, 1, n);
            let (n, _) = per_frame(&pmu, rig, &rig.unicast, classify_only);
            report("classify-unicast", entries, vfs, 1, n);
            let (n, _) = per_frame(&pmu, rig, &rig.multicast, from_wire);
            report("wire-multicast-decision", entries, vfs, 1, n);
            let (n, hits) = per_frame(&pmu, rig, &rig.unicast, from_vf);
            // Every frame reaches its one owner, but those to VF 1's own
            // address (not sent back to the sender).
            if hits != rig.vf_tx_expected {
                defmt::error!(
                    "bench: VF Tx delivered {} frames, expected {}",
                    hits,
                    rig.vf_tx_expected
                );
                return ExitCode::Failure;
            }
            report("vf-tx-decision", entries, vfs, 1, n);
        }
    }

    // Replication: broadcast to n VFs, with port VLANs on every other one
    // so the filter does real work.
    rig.build(16, 256);
    let bcast = {
        let mut b = [[0u8; 64]; BURST];
        for (k, f) in b.iter_mut().enumerate() {
            write_frame(f, Mac::BROADCAST, Mac([0x02, 0xbb, 0, 0, 0, 1]), k);
        }
        b
    };
    rig.tagged = Burst(bcast);
    for &n in FAN_OUT.iter() {
        rig.set_broadcast(n);
        for f in (2..=n).step_by(2) {
            rig.port_vlan[f] = 100;
        }
        let (cost, hits) = per_frame(&pmu, rig, &rig.tagged, from_wire);
        let expected = (n - n / 2) as u32 * BURST as u32;
        if hits != expected {
            defmt::error!("bench: broadcast reached {}, expected {}", hits, expected);
            return ExitCode::Failure;
        }
        report("wire-broadcast-decision", 16, 256, n, cost);
    }

    // Port VLAN on the way out and in, as the device does it: the frame
    // copied into a buffer with headroom (as it arrives), then the tag
    // pushed in place; or the tagged frame copied without its tag into a
    // second buffer. Against the plain copy.
    let tag = Tag {
        tpid: TPID_8021Q,
        tci: 100,
    };
    for (k, t) in rig.tagged.iter_mut().enumerate() {
        let mut wide = [0u8; 68];
        let _ = frame::insert_tag(&rig.unicast[k][..], tag, &mut wide);
        t.copy_from_slice(&wide[..64]);
    }
    let copy = |rig: &mut Rig, which: u8| {
        let frames = if which == 2 { rig.tagged } else { rig.unicast };
        let out = &mut rig.out;
        without_interrupts(|| {
            let before = pmu.read();
            for f in frames.iter() {
                let f = black_box(&f[..]);
                let o = black_box(&mut out[..]);
                match which {
                    0 => {
                        o[16..80].copy_from_slice(f);
                    }
                    1 => {
                        o[16..80].copy_from_slice(f);
                        black_box(frame::push_tag(o, 16, 64, tag));
                    }
                    _ => {
                        black_box(frame::strip_outer_tag(f, &mut o[16..]));
                    }
                }
            }
            (pmu.read() - before) / BURST as u64
        })
    };
    report("copy-64", 0, 0, 1, copy(rig, 0));
    report("port-vlan-insert", 0, 0, 1, copy(rig, 1));
    report("port-vlan-strip", 0, 0, 1, copy(rig, 2));

    if let Err(e) = full::run(&pmu, device, None).map(drop) {
        defmt::error!("bench: full path: {=str}", e);
        return ExitCode::Failure;
    }
    defmt::info!("bench done");
    ExitCode::Success
}
