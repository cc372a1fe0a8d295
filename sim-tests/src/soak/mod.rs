//! The soak: random traffic of every kind (unicast, broadcast, multicast,
//! VLAN tags, jumbo, malformed) from the wire and from every VF,
//! interleaved with control operations (VF resets, FLR, MAC, VLAN, trust,
//! link-state, rate and spoof-check changes, VF multicast, xcast and max
//! frame, bridge mode, VF enable and disable, uplink link flaps), for as
//! long as it is given. After every step it checks:
//!
//! - every frame delivered is one the reference model of the switch
//!   ([`crate::reference`]) says that port gets, with the bytes it says;
//!   one it says is due and that did not come is counted as a drop at
//!   that port (no Rx buffer, uplink full);
//! - the books, per port and per reason: what each VF sent = its
//!   tx_packets + tx_dropped, what it received = its rx_packets, its
//!   reasons add up to its drops; the reasons the soak can predict
//!   (malformed frames, spoofing, link down, uplink down) are counted
//!   exactly, and reasons the soak never provokes stay at zero;
//! - the pools' books: filters in use = what the VFs hold;
//! - every VF that is enabled and up answers its mailbox;
//! - in-process, also the device's own books ([`SoakTarget`]).
//!
//! The same engine runs in-process ([`crate::sim::Sim`]: deterministic,
//! a seed replays a run) and against the image under QEMU
//! ([`crate::cosim::CoSim`]: real time, so each step waits for what is on
//! its way before it checks).

mod checks;
mod control;
mod traffic;

use crate::drivers::pf::PfDriver;
use crate::drivers::queues::Rings;
use crate::drivers::vf::VfDriver;
use crate::model::{PF_RID, pfreg};
use crate::reference::{Port, VfView};
use crate::scenario::Harness;
use anyhow::{Context as _, Result};
use firmware::admin::BridgeMode;
use firmware::drops::DropReason;
use firmware::mac::Mac;
use firmware::vf::LinkState;
use hal::ixgbe::XcastMode;
use rand_core::{Rng as _, SeedableRng as _};
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

/// The PF's MAC (set at the start, so VFs reach it locally).
pub const PF_MAC: Mac = Mac([0x02, 0xf0, 0, 0, 0, 1]);
/// A station on the wire.
pub const PEER: Mac = Mac([0x02, 0xee, 0, 0, 0, 9]);
/// Multicast groups with distinct hashes (filter type 0: bytes 4-5); the
/// last is never registered.
pub const GROUPS: [Mac; 4] = [
    Mac([1, 0, 0x5e, 0, 0x10, 0]),
    Mac([1, 0, 0x5e, 0, 0x20, 0]),
    Mac([1, 0, 0x5e, 0, 0x30, 0]),
    Mac([1, 0, 0x5e, 0, 0x40, 0]),
];
/// The VLANs VFs filter and port VLANs use.
pub const VIDS: [u16; 3] = [10, 20, 30];
/// Queue pairs, descriptors per ring and buffer size (KiB) of every
/// function's rings.
const QUEUES: u32 = 2;
const DESCRIPTORS: u32 = 64;
const BUF_KIB: u32 = 2;
/// Simulated time each step lets pass, at least: keeps the mailbox
/// checks (one message per VF per step) under the firmware's rate limit,
/// and its resets under the reset-storm limit, as a real host would be.
const STEP_US: u64 = 2_000;

/// What to run.
#[derive(Clone, Debug)]
pub struct SoakOptions {
    pub seed: u64,
    /// Wall-clock budget (in-process, time inside is simulated).
    pub duration: Duration,
    /// Stop after this step (to replay a failure up to where it happened).
    pub max_steps: Option<u64>,
    /// VFs enabled at most (the soak enables and disables them).
    pub vfs: u16,
}

/// A check that did not hold.
#[derive(Clone, Debug)]
pub struct Failure {
    pub step: u64,
    /// What the step did.
    pub action: String,
    /// What was expected and what was found.
    pub message: String,
}

/// What a run did, and how it ended.
#[derive(Clone, Debug, Default)]
pub struct SoakReport {
    pub seed: u64,
    pub steps: u64,
    pub elapsed: Duration,
    /// Frames offered: injected from the wire and sent by VFs.
    pub frames: u64,
    /// Deliveries checked against the reference (a broadcast counts once
    /// per port that got it).
    pub delivered: u64,
    /// Control operations.
    pub ops: u64,
    /// Frames by kind, operations by name.
    pub kinds: BTreeMap<&'static str, u64>,
    pub op_counts: BTreeMap<&'static str, u64>,
    /// Drops the firmware counted, by reason, over every port.
    pub drops: BTreeMap<&'static str, u64>,
    pub failure: Option<Failure>,
}

impl SoakReport {
    fn per_minute(&self, n: u64) -> f64 {
        let m = self.elapsed.as_secs_f64() / 60.0;
        if m > 0.0 { n as f64 / m } else { 0.0 }
    }

    pub fn frames_per_minute(&self) -> f64 {
        self.per_minute(self.frames)
    }

    pub fn ops_per_minute(&self) -> f64 {
        self.per_minute(self.ops)
    }

    pub fn steps_per_minute(&self) -> f64 {
        self.per_minute(self.steps)
    }
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} steps in {:.1} s: {} frames ({:.0}/min), {} deliveries checked, {} operations ({:.0}/min), {:.0} steps/min",
            self.steps,
            self.elapsed.as_secs_f64(),
            self.frames,
            self.frames_per_minute(),
            self.delivered,
            self.ops,
            self.ops_per_minute(),
            self.steps_per_minute(),
        )?;
        let list = |m: &BTreeMap<&str, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(f, "frames: {}", list(&self.kinds))?;
        writeln!(f, "operations: {}", list(&self.op_counts))?;
        write!(f, "drops: {}", list(&self.drops))
    }
}

/// A device the soak can drive: a scenario [`Harness`], plus the checks
/// only an in-process device allows (its own counters and pools).
pub trait SoakTarget: Harness {
    /// The device's own books against what the soak counted.
    fn inside_checks(&self, _counted: &Counted) -> Result<(), String> {
        Ok(())
    }
}

/// What the soak counted on the ports the admin channel has no packet
/// counters for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counted {
    pub injected: u64,
    pub wire_seen: u64,
    pub pf_received: u64,
}

impl SoakTarget for crate::sim::Sim {
    fn inside_checks(&self, c: &Counted) -> Result<(), String> {
        let d = &self.device;
        d.audit().map_err(|e| format!("pools: {e}"))?;
        let up = d.uplink_counters();
        if !up.balanced() {
            return Err(format!("the uplink's books do not balance: {up:?}"));
        }
        for f in 0..=usize::from(d.enabled_vfs()) {
            let pc = d.port_counters(f).expect("an enabled function");
            if !pc.balanced() {
                return Err(format!("function {f}'s books do not balance: {pc:?}"));
            }
        }
        let pf = d.port_counters(0).expect("the PF");
        for (what, firmware, soak) in [
            ("frames from the wire", up.rx_offered, c.injected),
            ("frames to the wire", up.tx_packets, c.wire_seen),
            ("frames the PF received", pf.rx_packets, c.pf_received),
        ] {
            if firmware != soak {
                return Err(format!(
                    "{what}: the firmware counted {firmware}, the soak {soak}"
                ));
            }
        }
        Ok(())
    }
}

impl SoakTarget for crate::cosim::CoSim {}

/// The seeded generator every choice comes from.
pub(crate) struct Rng(rand_xorshift::XorShiftRng);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(rand_xorshift::XorShiftRng::seed_from_u64(seed))
    }

    /// 0..n (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }

    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below((hi - lo + 1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }

    /// An index drawn by weight.
    fn weighted(&mut self, weights: &[u64]) -> usize {
        let mut r = self.below(weights.iter().sum());
        for (i, w) in weights.iter().enumerate() {
            if r < *w {
                return i;
            }
            r -= w;
        }
        weights.len() - 1
    }
}

/// What the PF administered for a VF.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Admin {
    spoofchk: bool,
    trust: bool,
    link: LinkState,
    port_vlan: Option<u16>,
    max_rate: u32,
}

/// What the VF's driver asks for after every bring-up.
#[derive(Clone, Debug)]
struct Wants {
    vlans: Vec<u16>,
    groups: Vec<Mac>,
    xcast: XcastMode,
    lpe: u32,
}

struct VfState {
    driver: VfDriver,
    rings: Option<Rings>,
    /// None until the VF is first enabled (then read from the firmware:
    /// its defaults), then what the soak set.
    admin: Option<Admin>,
    wants: Wants,
    /// What the firmware granted: the reference's view of it.
    view: VfView,
    /// Since the VF was enabled (its counters start at 0 then).
    sent: u64,
    received: u64,
    /// Drops by reason the soak caused (malformed frames, spoofing, ...).
    predicted: [u64; DropReason::COUNT],
}

/// A frame on its way: where the reference says it goes.
struct Pending {
    what: String,
    expect: crate::reference::Deliveries,
    sender_drop: Option<DropReason>,
}

/// The soak's state between steps.
struct Soak<'h, H: SoakTarget> {
    h: &'h mut H,
    rng: Rng,
    pf: PfDriver,
    pf_rings: Rings,
    vfs: Vec<VfState>,
    enabled: usize,
    uplink_up: bool,
    veb: bool,
    seq: u64,
    outstanding: BTreeMap<u64, Pending>,
    counted: Counted,
    uplink_predicted: [u64; DropReason::COUNT],
    /// Each port's drops by reason at the end of the last step.
    last_drops: BTreeMap<Port, Vec<u32>>,
    /// Deliveries due this step that did not come, by port.
    missing: BTreeMap<Port, u64>,
    step: u64,
    action: String,
    report: SoakReport,
}

/// Runs a soak on `h` (a device just started, the PF not yet probed).
/// `progress` is called after every step with the report so far; it
/// returns false to end the run there (Ctrl-C). A check that fails ends
/// the run with [`SoakReport::failure`] set; `Err` is for a device that
/// could not be set up at all.
pub fn run<H: SoakTarget>(
    h: &mut H,
    opts: &SoakOptions,
    mut progress: impl FnMut(&SoakReport) -> bool,
) -> Result<SoakReport> {
    anyhow::ensure!(opts.vfs >= 1, "the soak needs at least one VF");
    let started = Instant::now();
    let mut soak = Soak::new(h, opts)?;
    loop {
        let done =
            opts.max_steps.is_some_and(|m| soak.step >= m) || started.elapsed() >= opts.duration;
        if done {
            break;
        }
        soak.step += 1;
        let result = soak.one_step();
        soak.report.steps = soak.step;
        soak.report.elapsed = started.elapsed();
        if let Err(message) = result {
            soak.report.failure = Some(Failure {
                step: soak.step,
                action: soak.action.clone(),
                message,
            });
            break;
        }
        if !progress(&soak.report) {
            break;
        }
    }
    soak.report.elapsed = started.elapsed();
    if soak.report.failure.is_none() {
        soak.pf
            .shutdown(soak.h)
            .map_err(|e| anyhow::anyhow!("shutdown: {e}"))?;
    }
    Ok(soak.report)
}

impl<'h, H: SoakTarget> Soak<'h, H> {
    fn new(h: &'h mut H, opts: &SoakOptions) -> Result<Self> {
        let mut pf = PfDriver::probe(h).map_err(|e| anyhow::anyhow!("PF probe: {e}"))?;
        anyhow::ensure!(
            opts.vfs <= pf.total_vfs,
            "{} VFs asked, the device has {}",
            opts.vfs,
            pf.total_vfs
        );
        pf.set_pf_mac(h, PF_MAC)
            .map_err(|e| anyhow::anyhow!("set_pf_mac: {e}"))?;
        let pf_rings = Rings::setup(
            h,
            PF_RID,
            pfreg::QUEUES,
            QUEUES,
            DESCRIPTORS,
            BUF_KIB,
            false,
        )
        .map_err(|e| anyhow::anyhow!(e))
        .context("the PF's rings")?;
        let vfs = (0..opts.vfs)
            .map(|_| VfState {
                driver: VfDriver::new(0),
                rings: None,
                admin: None,
                wants: Wants {
                    vlans: Vec::new(),
                    groups: Vec::new(),
                    xcast: XcastMode::Multi,
                    lpe: 1518,
                },
                view: VfView {
                    mac: Mac::ZERO,
                    spoofchk: false,
                    port_vlan: None,
                    link: LinkState::Auto,
                    trusted: false,
                    xcast: XcastMode::Multi,
                    vlans: Vec::new(),
                    groups: Vec::new(),
                    max_frame: 1518,
                },
                sent: 0,
                received: 0,
                predicted: [0; DropReason::COUNT],
            })
            .collect();
        let mut soak = Soak {
            h,
            rng: Rng::new(opts.seed),
            pf,
            pf_rings,
            vfs,
            enabled: 0,
            uplink_up: true,
            veb: true,
            seq: 0,
            outstanding: BTreeMap::new(),
            counted: Counted::default(),
            uplink_predicted: [0; DropReason::COUNT],
            last_drops: BTreeMap::new(),
            missing: BTreeMap::new(),
            step: 0,
            action: "set-up".into(),
            report: SoakReport {
                seed: opts.seed,
                ..Default::default()
            },
        };
        let setup = (|| {
            soak.pf
                .set_bridge_mode(soak.h, BridgeMode::Veb)
                .map_err(|e| format!("set_bridge_mode: {e}"))?;
            soak.set_uplink(true)?;
            soak.enable(usize::from(opts.vfs))?;
            soak.settle()?;
            soak.check()
        })();
        setup.map_err(|e| anyhow::anyhow!("setting the soak up: {e}"))?;
        Ok(soak)
    }

    /// One step: traffic (most steps) or a control operation, then the
    /// wait for what is on its way, then every check.
    fn one_step(&mut self) -> Result<(), String> {
        self.h.delay_us(STEP_US);
        // With no VF and the uplink down, nobody can send.
        let senders = self.enabled > 0 || self.uplink_up;
        if senders && self.rng.chance(70) {
            self.traffic()?;
        } else {
            self.control()?;
            self.report.ops += 1;
        }
        self.settle()?;
        self.check()
    }
}
