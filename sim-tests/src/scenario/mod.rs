//! Scenarios: a TOML file of steps run against the device through the
//! drivers, each step printing one JSON object with what was expected and
//! what happened. The format is documented in docs/scenarios.md.

use crate::drivers::pf::{PfDriver, PfError, VfInfo};
use crate::drivers::vf::{LinkCheck, VfDriver, VfError};
use crate::transport::Transport;
use anyhow::{Context as _, Result, bail};
use firmware::admin::{BridgeMode, Status};
use firmware::mac::Mac;
use firmware::vf::{LinkState, VlanProto};
use hal::ixgbe::{MbxApi, XcastMode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

mod args;
use args::{BridgeModeArg, LinkStateArg, VlanProtoArg, XcastArg};
pub use args::{PfCommand, VfCall, VfOp};

/// A device under test as scenarios drive it: register access plus the
/// few things that are not a host driver's (the physical port's link).
pub trait Harness: Transport {
    fn set_uplink(&mut self, up: bool);
    /// A frame arrives from the wire.
    fn inject(&mut self, frame: &[u8]);
    /// Frames that went out on the wire since the last call.
    fn take_wire(&mut self) -> Vec<Vec<u8>>;
    /// The wire refuses frames after `n` more (0: never).
    fn set_uplink_tx_limit(&mut self, n: usize);
    /// Whether the device runs in real time beside the harness (QEMU), so
    /// a frame may still be on its way when a step checks for it.
    fn real_time(&self) -> bool {
        false
    }
}

/// How long a real-time harness waits for frames a step expects but has
/// not seen yet, in polls of [`LATE_FRAME_POLL_US`]. In-process, frames
/// are there at once and nothing waits.
const LATE_FRAME_POLLS: u32 = 250;
const LATE_FRAME_POLL_US: u64 = 2_000;
/// Bring-ups a real-time harness tries while the VF reset times out.
const REAL_TIME_RESET_TRIES: u32 = 5;

/// Calls `arrived` once; on a real-time harness, keeps polling it (up to
/// 0.5 s) until it says what a step expects has arrived.
fn wait_for_late<H: Harness>(h: &mut H, mut arrived: impl FnMut(&mut H) -> bool) {
    let mut polls = 0;
    while !arrived(h) && h.real_time() && polls < LATE_FRAME_POLLS {
        h.delay_us(LATE_FRAME_POLL_US);
        polls += 1;
    }
}

impl Harness for crate::sim::Sim {
    fn set_uplink(&mut self, up: bool) {
        crate::sim::Sim::set_uplink(self, up)
    }

    fn inject(&mut self, frame: &[u8]) {
        crate::sim::Sim::inject(self, frame)
    }

    fn take_wire(&mut self) -> Vec<Vec<u8>> {
        self.uplink.take_tx()
    }

    fn set_uplink_tx_limit(&mut self, n: usize) {
        self.uplink.tx_budget = (n != 0).then_some(n);
    }
}

fn unhex(s: &str) -> Result<Vec<u8>> {
    let s: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    if !s.len().is_multiple_of(2) {
        bail!("hex string of odd length");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .with_context(|| format!("bad hex {:?}", &s[i..i + 2]))
        })
        .collect()
}

/// Mailbox and admin words as they are read in a datasheet: `0x80000001`.
fn hex_words(w: &[u32]) -> Vec<String> {
    w.iter().map(|w| format!("{w:#010x}")).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Where it runs: "in-process", "qemu" (default: both). Scenarios that
    /// change the uplink's link or refuse frames at the wire are
    /// in-process only: QEMU's netdev is not under their control.
    #[serde(default = "both_backends")]
    pub backends: Vec<String>,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

fn both_backends() -> Vec<String> {
    vec!["in-process".into(), "qemu".into()]
}

impl Scenario {
    pub fn runs_on(&self, backend: &str) -> bool {
        self.backends.iter().any(|b| b == backend)
    }
}

/// One step. `expect` fields are optional: a step without one only has to
/// succeed (or, for `expect_error`, to fail with that error).
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// `echo N > sriov_numvfs`.
    EnableVfs {
        count: u16,
        expect_error: Option<String>,
    },
    /// A PF admin command (`ip link set DEV vf N ...`).
    Pf {
        command: String,
        #[serde(default)]
        vf: u16,
        #[serde(default)]
        args: BTreeMap<String, toml::Value>,
        /// `ok` (default) or a status name: `invalid_vf`, `invalid_argument`, ...
        #[serde(default = "ok")]
        expect_status: String,
    },
    /// A VF driver operation (`bring_up`, `reset`, `set_mac`, ...).
    Vf {
        vf: u16,
        op: String,
        #[serde(default)]
        args: BTreeMap<String, toml::Value>,
        /// `ok` (default), `nack`, or another error name.
        #[serde(default = "ok")]
        expect: String,
        /// Fields of the operation's result to compare.
        #[serde(default)]
        expect_result: BTreeMap<String, toml::Value>,
    },
    /// A raw mailbox message from a VF (any words, malformed ones too).
    VfMessage {
        vf: u16,
        words: Vec<u32>,
        #[serde(default = "one")]
        reply_words: usize,
        /// Exact reply words expected (a prefix of the reply).
        expect_reply: Option<Vec<u32>>,
    },
    /// A raw 32-bit write in a VF's BAR.
    VfWrite { vf: u16, offset: u32, value: u32 },
    /// A raw 32-bit read in a VF's BAR, compared under `mask`.
    VfRead {
        vf: u16,
        offset: u32,
        expect: u32,
        #[serde(default = "all_bits")]
        mask: u32,
    },
    /// A raw configuration write to the PF (e.g. NumVFs while enabled).
    PfConfigWrite { offset: u16, size: u8, value: u32 },
    /// Function Level Reset of a VF: the spec's 100 ms, then until it
    /// answers again. `wait = false` only starts it (frames can be sent
    /// meanwhile); a later `flr_wait` step finishes it.
    Flr {
        vf: u16,
        #[serde(default = "yes")]
        wait: bool,
    },
    /// Waits out an FLR a `flr` step with `wait = false` started.
    FlrWait { vf: u16 },
    /// The physical port: its link, and optionally how many more frames it
    /// takes before refusing (0 = unlimited).
    Uplink { up: bool, tx_limit: Option<usize> },
    /// Compare fields of `ip link show` for one VF.
    ExpectVf {
        vf: u16,
        fields: BTreeMap<String, toml::Value>,
    },
    /// Drain the PF's event ring; each listed event must appear, in order.
    ExpectEvents { events: Vec<EventPattern> },
    /// Let time pass.
    Wait { us: u64 },
    /// Set up a function's queues (VF `vf`, or the PF without `vf`).
    Queues {
        vf: Option<u16>,
        #[serde(default = "one_u32")]
        queues: u32,
        #[serde(default = "descs")]
        descriptors: u32,
        #[serde(default = "two")]
        buf_kib: u32,
        #[serde(default)]
        vme: bool,
    },
    /// A frame arrives from the wire.
    Inject { frame: FrameArgs },
    /// Raw bytes arrive from the wire (hex), malformed ones included.
    InjectRaw { hex: String },
    /// A function sends a frame (VF `vf`, or the PF); `vlan`: a tag for
    /// the descriptor to insert.
    Send {
        vf: Option<u16>,
        frame: FrameArgs,
        vlan: Option<u16>,
        #[serde(default)]
        queue: usize,
    },
    /// What a function received since the last look (exactly these, in order).
    ExpectRx {
        vf: Option<u16>,
        frames: Vec<RxExpect>,
    },
    /// What went out on the wire since the last look (exactly these).
    ExpectWire { frames: Vec<FrameArgs> },
    /// A port's drops for one reason: `port` = "vfN", "pf" or "uplink".
    ExpectDrops {
        port: String,
        reason: String,
        count: u32,
    },
    /// A raw Tx descriptor on a function's queue (four words), and the
    /// doorbell unless `doorbell = false`.
    TxDescriptor {
        vf: Option<u16>,
        #[serde(default)]
        queue: usize,
        words: [u32; 4],
        #[serde(default = "yes")]
        doorbell: bool,
    },
    /// The driver stops posting Rx buffers on a queue.
    StarveRx {
        vf: Option<u16>,
        #[serde(default)]
        queue: usize,
    },
    /// How many frames went out on the wire since the last look.
    ExpectWireCount { min: usize, max: usize },
    /// The MSI-X vectors a VF fired since the last look (bit v = vector
    /// v), as the host's interrupt controller would have taken them.
    ExpectInterrupts { vf: u16, vectors: u32 },
    /// `ip -s link` counters of a VF.
    ExpectStats {
        vf: u16,
        fields: BTreeMap<String, toml::Value>,
    },
}

/// A frame in a scenario. MACs may be written "vf:N" (VF N's address) or
/// "pf" (the PF's, set with a `pf` step `set_pf_mac`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameArgs {
    pub dst: String,
    pub src: String,
    /// VLAN tags, outer first: `[{ vid = 100 }]`, with `tpid` (default
    /// 0x8100) and `pcp`.
    #[serde(default)]
    pub tags: Vec<TagArgs>,
    /// An IPv4 UDP flow.
    pub udp: Option<UdpArgs>,
    /// Payload bytes (default 46).
    pub payload: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagArgs {
    pub vid: u16,
    #[serde(default = "tpid")]
    pub tpid: u16,
    #[serde(default)]
    pub pcp: u8,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpArgs {
    pub src: String,
    pub dst: String,
    pub sport: u16,
    pub dport: u16,
}

/// An expected received frame: its bytes (as `FrameArgs` build them) and
/// write-back fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RxExpect {
    #[serde(flatten)]
    pub frame: FrameArgs,
    /// VP set with this tag in the descriptor (VME), or `"none"`: VP clear
    /// (no tag was stripped into the descriptor).
    pub desc_vlan: Option<DescVlan>,
    /// LB: switched locally.
    pub looped_back: Option<bool>,
    pub queue: Option<u32>,
    pub descriptors: Option<usize>,
}

/// An expected descriptor VLAN: a tag, or none at all.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum DescVlan {
    Tag(u16),
    Absent(NoVlan),
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoVlan {
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventPattern {
    pub kind: String,
    pub vf: Option<u32>,
    pub data0: Option<u32>,
    pub data1: Option<u32>,
}

fn yes() -> bool {
    true
}
fn one_u32() -> u32 {
    1
}
fn descs() -> u32 {
    32
}
fn two() -> u32 {
    2
}
fn tpid() -> u16 {
    0x8100
}

fn ok() -> String {
    "ok".into()
}
fn one() -> usize {
    1
}
fn all_bits() -> u32 {
    0xffff_ffff
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let scenario: Scenario = toml::from_str(&text)
            .with_context(|| format!("parsing scenario {}", path.display()))?;
        scenario
            .check()
            .with_context(|| format!("scenario {}", path.display()))?;
        Ok(scenario)
    }

    /// Every step's arguments read as their command or operation takes
    /// them, before anything runs: a mistake names the step and the key.
    pub fn check(&self) -> Result<()> {
        for (i, step) in self.steps.iter().enumerate() {
            let at = || format!("step {} ({})", i + 1, action_name(step));
            match step {
                Step::Pf { command, args, .. } => {
                    PfCommand::parse(command, args).with_context(at)?;
                }
                Step::Vf { op, args, .. } => {
                    VfCall::parse(op, args).with_context(at)?;
                }
                Step::InjectRaw { hex } if hex.trim().is_empty() => {
                    // Nothing to carry: a wire frame has at least one byte.
                    return Err(anyhow::anyhow!(
                        "an empty frame cannot be carried by the wire; give at least one byte"
                    ))
                    .with_context(at);
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// One step's outcome, printed as a JSON line.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub index: usize,
    pub action: String,
    pub ok: bool,
    pub expected: Value,
    pub actual: Value,
}

impl StepReport {
    pub fn to_json(&self) -> Value {
        json!({
            "step": self.index,
            "action": self.action,
            "ok": self.ok,
            "expected": self.expected,
            "actual": self.actual,
        })
    }
}

/// Runs the scenario's steps in order, calling `report` after each.
pub struct Runner<'h, H: Harness> {
    h: &'h mut H,
    pf: PfDriver,
    vfs: BTreeMap<u16, VfDriver>,
    /// Queues by function: None = PF.
    rings: BTreeMap<Option<u16>, crate::drivers::queues::Rings>,
    pf_mac: Option<Mac>,
    wire: Vec<Vec<u8>>,
}

impl<'h, H: Harness> Runner<'h, H> {
    pub fn new(h: &'h mut H) -> Result<Self> {
        let pf = PfDriver::probe(h).map_err(|e| anyhow::anyhow!("PF probe: {e}"))?;
        Ok(Runner {
            h,
            pf,
            vfs: BTreeMap::new(),
            rings: BTreeMap::new(),
            pf_mac: None,
            wire: Vec::new(),
        })
    }

    /// Asks the firmware to stop (the co-simulation's clean end).
    pub fn shutdown(&mut self) -> Result<()> {
        self.pf
            .shutdown(self.h)
            .map_err(|e| anyhow::anyhow!("shutdown: {e}"))
    }

    pub fn run(
        &mut self,
        scenario: &Scenario,
        mut report: impl FnMut(&StepReport),
    ) -> Vec<StepReport> {
        let mut out = Vec::new();
        for (i, step) in scenario.steps.iter().enumerate() {
            let r = self.step(i + 1, step);
            report(&r);
            out.push(r);
        }
        out
    }

    fn step(&mut self, index: usize, step: &Step) -> StepReport {
        let (action, expected, actual) = match self.execute(step) {
            Ok(t) => t,
            Err(e) => (
                action_name(step),
                Value::Null,
                json!({ "error": format!("{e:#}") }),
            ),
        };
        let ok = matches(&expected, &actual);
        StepReport {
            index,
            action,
            ok,
            expected,
            actual,
        }
    }

    fn execute(&mut self, step: &Step) -> Result<(String, Value, Value)> {
        let name = action_name(step);
        Ok(match step {
            Step::EnableVfs {
                count,
                expect_error,
            } => {
                let r = self.pf.sriov_configure(self.h, *count);
                let actual = match &r {
                    Ok(()) => json!({ "result": "ok", "vfs": self.pf.num_vfs() }),
                    Err(e) => json!({ "result": pf_error_name(e) }),
                };
                let expected = match expect_error {
                    None => json!({ "result": "ok", "vfs": count }),
                    Some(e) => json!({ "result": e }),
                };
                (name, expected, actual)
            }
            Step::Pf {
                command,
                vf,
                args,
                expect_status,
            } => {
                let r = self.pf_command(command, *vf, args)?;
                let actual = match r {
                    Ok(v) => json!({ "status": "ok", "result": v }),
                    Err(e) => json!({ "status": pf_error_name(&e) }),
                };
                (
                    format!("pf {command}"),
                    json!({ "status": expect_status }),
                    actual,
                )
            }
            Step::Vf {
                vf,
                op,
                args,
                expect,
                expect_result,
            } => {
                let r = self.vf_op(*vf, op, args)?;
                let mut expected = json!({ "result": expect });
                if !expect_result.is_empty() {
                    expected["value"] = toml_map_to_json(expect_result);
                }
                let actual = match r {
                    Ok(v) => json!({ "result": "ok", "value": v }),
                    Err(e) => json!({ "result": vf_error_name(&e), "detail": e.to_string() }),
                };
                (format!("vf {op}"), expected, actual)
            }
            Step::VfMessage {
                vf,
                words,
                reply_words,
                expect_reply,
            } => {
                let n = (*reply_words).clamp(1, 16);
                let r = {
                    let h = &mut *self.h;
                    let rid = self.pf.vf_rid(h, *vf);
                    let d = self.vfs.entry(*vf).or_insert_with(|| VfDriver::new(rid));
                    d.exchange(h, words, n)
                };
                let actual = match r {
                    Ok(w) => json!({ "words": hex_words(words), "reply": hex_words(&w) }),
                    Err(e) => json!({ "words": hex_words(words), "error": vf_error_name(&e) }),
                };
                let expected = match expect_reply {
                    Some(w) => json!({ "reply": hex_words(w) }),
                    None => Value::Null,
                };
                (name, expected, actual)
            }
            Step::VfWrite { vf, offset, value } => {
                let rid = self.pf.vf_rid(self.h, *vf);
                self.h.bar_write32(rid, *offset, *value);
                (
                    name,
                    Value::Null,
                    json!({ "offset": offset, "value": value }),
                )
            }
            Step::VfRead {
                vf,
                offset,
                expect,
                mask,
            } => {
                let rid = self.pf.vf_rid(self.h, *vf);
                let v = self.h.bar_read32(rid, *offset) & mask;
                (
                    name,
                    json!({ "value": expect & mask }),
                    json!({ "value": v }),
                )
            }
            Step::PfConfigWrite {
                offset,
                size,
                value,
            } => {
                self.h
                    .config_write(crate::model::PF_RID, *offset, *size, *value);
                (
                    name,
                    Value::Null,
                    json!({ "offset": offset, "value": value }),
                )
            }
            Step::Flr { vf, wait: false } => {
                let rid = self.pf.vf_rid(self.h, *vf);
                self.pf.start_flr(self.h, rid);
                (name, Value::Null, json!({ "started": true }))
            }
            Step::FlrWait { vf } => {
                let rid = self.pf.vf_rid(self.h, *vf);
                self.h.delay_us(100_000);
                let r = self.pf.finish_flr(self.h, rid);
                let actual = match r {
                    Ok(()) => json!({ "result": "ok" }),
                    Err(e) => json!({ "result": pf_error_name(&e) }),
                };
                (name, json!({ "result": "ok" }), actual)
            }
            Step::Flr { vf, wait: true } => {
                let rid = self.pf.vf_rid(self.h, *vf);
                let r = self.pf.flr(self.h, rid);
                let actual = match r {
                    Ok(()) => json!({ "result": "ok" }),
                    Err(e) => json!({ "result": pf_error_name(&e) }),
                };
                (name, json!({ "result": "ok" }), actual)
            }
            Step::Uplink { up, tx_limit } => {
                self.h.set_uplink(*up);
                if let Some(n) = tx_limit {
                    self.h.set_uplink_tx_limit(*n);
                }
                (name, Value::Null, json!({ "up": up }))
            }
            Step::TxDescriptor {
                vf,
                queue,
                words,
                doorbell,
            } => {
                let rings = self
                    .rings
                    .get_mut(vf)
                    .context("set the function's queues up first (a `queues` step)")?;
                let written = rings.push_tx_desc(self.h, *queue, *words);
                if *doorbell {
                    rings.doorbell(self.h, *queue, None);
                }
                self.h.delay_us(5);
                self.collect_wire();
                (
                    name,
                    json!({ "written": true }),
                    json!({ "written": written }),
                )
            }
            Step::StarveRx { vf, queue } => {
                let rings = self
                    .rings
                    .get_mut(vf)
                    .context("set the function's queues up first (a `queues` step)")?;
                rings.starve_rx(self.h, *queue);
                (name, Value::Null, json!({ "queue": queue }))
            }
            Step::ExpectWireCount { min, max } => {
                self.collect_wire();
                let n = std::mem::take(&mut self.wire).len();
                let in_range = (*min..=*max).contains(&n);
                (
                    name,
                    json!({ "in_range": true, "min": min, "max": max }),
                    json!({ "in_range": in_range, "min": min, "max": max, "count": n }),
                )
            }
            Step::ExpectVf { vf, fields } => {
                let actual = match self.pf.vf_info(self.h, *vf) {
                    Ok(info) => vf_info_json(&info),
                    Err(e) => json!({ "error": pf_error_name(&e) }),
                };
                let expected = toml_map_to_json(fields);
                // Show only the compared fields.
                let shown = match &actual {
                    Value::Object(m) => Value::Object(
                        m.iter()
                            .filter(|(k, _)| fields.contains_key(*k) || *k == "error")
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    ),
                    v => v.clone(),
                };
                (name, expected, shown)
            }
            Step::ExpectEvents { events } => {
                // Under QEMU the firmware runs on its own: give it a moment
                // to act on what the previous steps did.
                self.h.delay_us(2_000);
                let mut seen: Vec<Value> = Vec::new();
                let mut found = Vec::new();
                let pf = &mut self.pf;
                // Under QEMU an event may be posted a little later.
                wait_for_late(self.h, |h| {
                    seen.extend(pf.events(h).iter().map(
                        |e| json!({ "kind": e.name(), "vf": e.vf, "data0": e.data0, "data1": e.data1 }),
                    ));
                    found.clear();
                    let mut at = 0;
                    for p in events {
                        let hit = seen[at..].iter().position(|e| {
                            e["kind"] == p.kind.as_str()
                                && p.vf.is_none_or(|v| e["vf"] == v)
                                && p.data0.is_none_or(|v| e["data0"] == v)
                                && p.data1.is_none_or(|v| e["data1"] == v)
                        });
                        match hit {
                            Some(k) => {
                                found.push(seen[at + k].clone());
                                at += k + 1;
                            }
                            None => break,
                        }
                    }
                    found.len() == events.len()
                });
                let expected: Vec<Value> = events.iter().map(pattern_json).collect();
                let all_found = found.len() == events.len();
                let actual = if all_found {
                    json!({ "matched": expected, "events": seen })
                } else {
                    json!({ "matched": found.iter().map(|_| Value::Null).collect::<Vec<_>>(), "events": seen })
                };
                (name, json!({ "matched": expected }), actual)
            }
            Step::Wait { us } => {
                self.h.delay_us(*us);
                (name, Value::Null, json!({ "waited_us": us }))
            }
            Step::Queues {
                vf,
                queues,
                descriptors,
                buf_kib,
                vme,
            } => {
                let (rid, base) = match vf {
                    Some(n) => (self.pf.vf_rid(self.h, *n), 0),
                    None => (crate::model::PF_RID, crate::model::pfreg::QUEUES),
                };
                let rings = crate::drivers::queues::Rings::setup(
                    self.h,
                    rid,
                    base,
                    *queues,
                    *descriptors,
                    *buf_kib,
                    *vme,
                )
                .map_err(|e| anyhow::anyhow!(e))?;
                self.rings.insert(*vf, rings);
                (name, Value::Null, json!({ "queues": queues }))
            }
            Step::Inject { frame } => {
                let f = self.build(frame)?;
                self.h.inject(&f);
                self.h.delay_us(5);
                self.collect_wire();
                (name, Value::Null, json!({ "len": f.len() }))
            }
            Step::InjectRaw { hex } => {
                let bytes = unhex(hex)?;
                if bytes.is_empty() {
                    bail!("an empty frame cannot be carried by the wire; give at least one byte");
                }
                self.h.inject(&bytes);
                self.h.delay_us(5);
                self.collect_wire();
                (name, Value::Null, json!({ "len": bytes.len() }))
            }
            Step::Send {
                vf,
                frame,
                vlan,
                queue,
            } => {
                let f = self.build(frame)?;
                let rings = self
                    .rings
                    .get_mut(vf)
                    .context("set the function's queues up first (a `queues` step)")?;
                let queued = rings.send(self.h, *queue, &f, *vlan);
                self.h.delay_us(5);
                self.collect_wire();
                (
                    name,
                    json!({ "queued": true }),
                    json!({ "queued": queued, "len": f.len() }),
                )
            }
            Step::ExpectRx { vf, frames } => {
                let rings = self
                    .rings
                    .get_mut(vf)
                    .context("set the function's queues up first (a `queues` step)")?;
                // Under QEMU a loaded machine can delay a frame past the
                // step that sent it.
                let mut got = Vec::new();
                wait_for_late(self.h, |h| {
                    got.extend(rings.receive(h));
                    got.len() >= frames.len()
                });
                let actual: Vec<Value> = got
                    .iter()
                    .map(|r| {
                        json!({
                            "len": r.data.len(),
                            "data": hex(&r.data),
                            "desc_vlan": if r.status & hal::ixgbe::desc::RX_STAT_VP != 0 { json!(r.vlan) } else { json!("none") },
                            "looped_back": r.status & hal::ixgbe::desc::RX_STAT_LB != 0,
                            "queue": r.queue,
                            "descriptors": r.descriptors,
                        })
                    })
                    .collect();
                let mut expected = Vec::new();
                for e in frames {
                    let f = self.build(&e.frame)?;
                    let mut v = json!({ "len": f.len(), "data": hex(&f) });
                    match e.desc_vlan {
                        Some(DescVlan::Tag(t)) => v["desc_vlan"] = json!(t),
                        Some(DescVlan::Absent(_)) => v["desc_vlan"] = json!("none"),
                        None => {}
                    }
                    if let Some(lb) = e.looped_back {
                        v["looped_back"] = json!(lb);
                    }
                    if let Some(q) = e.queue {
                        v["queue"] = json!(q);
                    }
                    if let Some(d) = e.descriptors {
                        v["descriptors"] = json!(d);
                    }
                    expected.push(v);
                }
                let count_ok = expected.len() == actual.len();
                (
                    name,
                    json!({ "count": expected.len(), "frames": expected }),
                    json!({ "count": if count_ok { expected.len() } else { actual.len() }, "frames": actual }),
                )
            }
            Step::ExpectWire { frames } => {
                let wire = &mut self.wire;
                wait_for_late(self.h, |h| {
                    wire.extend(h.take_wire());
                    wire.len() >= frames.len()
                });
                let got = std::mem::take(&mut self.wire);
                let mut expected = Vec::new();
                for f in frames {
                    expected.push(hex(&self.build(f)?));
                }
                let actual: Vec<String> = got.iter().map(|f| hex(f)).collect();
                (
                    name,
                    json!({ "frames": expected, "count": expected.len() }),
                    json!({ "frames": actual, "count": actual.len() }),
                )
            }
            Step::ExpectDrops {
                port,
                reason,
                count,
            } => {
                let port_id = match port.as_str() {
                    "uplink" => firmware::admin::UPLINK_PORT,
                    "pf" => firmware::admin::PF_PORT,
                    p => p
                        .strip_prefix("vf")
                        .and_then(|n| n.parse().ok())
                        .with_context(|| format!("port {p:?}: vfN, pf or uplink"))?,
                };
                let r = firmware::drops::DropReason::ALL
                    .into_iter()
                    .find(|r| r.name() == reason)
                    .with_context(|| format!("unknown drop reason {reason:?}"))?;
                let mut actual = Value::Null;
                let pf = &mut self.pf;
                // Counters only grow: under QEMU, wait for one that is
                // still short of the expected count.
                wait_for_late(self.h, |h| {
                    actual = match pf.drops(h, port_id) {
                        Ok(d) => json!({ "count": d[r as usize] }),
                        Err(e) => json!({ "error": pf_error_name(&e) }),
                    };
                    actual["count"]
                        .as_u64()
                        .is_none_or(|c| c >= u64::from(*count))
                });
                (name, json!({ "count": count }), actual)
            }
            Step::ExpectInterrupts { vf, vectors } => {
                let rid = self.pf.vf_rid(self.h, *vf);
                let mut fired = 0;
                // Under QEMU the firmware's part may come a little later.
                wait_for_late(self.h, |h| {
                    fired |= h.take_interrupts(rid);
                    fired & vectors == *vectors
                });
                (
                    name,
                    json!({ "vectors": vectors }),
                    json!({ "vectors": fired }),
                )
            }
            Step::ExpectStats { vf, fields } => {
                let actual = match self.pf.vf_stats(self.h, *vf) {
                    Ok(s) => json!({
                        "rx_packets": s.rx_packets, "rx_bytes": s.rx_bytes,
                        "rx_multicast": s.rx_multicast, "rx_broadcast": s.rx_broadcast,
                        "rx_dropped": s.rx_dropped, "tx_packets": s.tx_packets,
                        "tx_bytes": s.tx_bytes, "tx_dropped": s.tx_dropped,
                    }),
                    Err(e) => json!({ "error": pf_error_name(&e) }),
                };
                (name, toml_map_to_json(fields), actual)
            }
        })
    }

    fn collect_wire(&mut self) {
        self.wire.extend(self.h.take_wire());
    }

    fn mac(&mut self, s: &str) -> Result<Mac> {
        if s == "pf" {
            return self
                .pf_mac
                .context("\"pf\": set the PF's MAC first (pf command set_pf_mac)");
        }
        if let Some(n) = s.strip_prefix("vf:") {
            let n: u16 = n.parse().with_context(|| format!("{s:?}"))?;
            let info = self
                .pf
                .vf_info(self.h, n)
                .map_err(|e| anyhow::anyhow!("{s}: {e}"))?;
            return Ok(info.mac);
        }
        if s == "broadcast" {
            return Ok(Mac::BROADCAST);
        }
        parse_mac(s)
    }

    fn build(&mut self, a: &FrameArgs) -> Result<Vec<u8>> {
        let mut spec = crate::frames::FrameSpec::new(self.mac(&a.dst)?, self.mac(&a.src)?);
        for t in &a.tags {
            spec = spec.vlan(t.tpid, u16::from(t.pcp) << 13 | t.vid);
        }
        if let Some(u) = &a.udp {
            let ip = |s: &str| -> Result<[u8; 4]> {
                let v: std::net::Ipv4Addr = s.parse().with_context(|| format!("{s:?}"))?;
                Ok(v.octets())
            };
            spec = spec.udp(ip(&u.src)?, ip(&u.dst)?, u.sport, u.dport);
        }
        if let Some(p) = a.payload {
            spec = spec.payload(p);
        }
        Ok(spec.build())
    }

    fn pf_command(
        &mut self,
        command: &str,
        vf: u16,
        args: &BTreeMap<String, toml::Value>,
    ) -> Result<Result<Value, PfError>> {
        let h = &mut *self.h;
        let pf = &mut self.pf;
        let done = |r: Result<(), PfError>| r.map(|_| Value::Null);
        Ok(match PfCommand::parse(command, args)? {
            PfCommand::SetVfMac { mac } => done(pf.set_vf_mac(h, vf, parse_mac(&mac)?)),
            PfCommand::SetVfVlan { vid, qos, proto } => {
                let proto = match proto {
                    VlanProtoArg::Dot1Q => VlanProto::Dot1Q,
                    VlanProtoArg::Dot1AD => VlanProto::Dot1AD,
                };
                done(pf.set_vf_vlan(h, vf, vid, qos, proto))
            }
            PfCommand::SetVfRate { min, max } => done(pf.set_vf_rate(h, vf, min, max)),
            PfCommand::SetVfSpoofchk { on } => done(pf.set_vf_spoofchk(h, vf, on)),
            PfCommand::SetVfTrust { on } => done(pf.set_vf_trust(h, vf, on)),
            PfCommand::SetVfQueryRss { on } => done(pf.set_vf_query_rss(h, vf, on)),
            PfCommand::SetVfLinkState { state } => {
                let state = match state {
                    LinkStateArg::Auto => LinkState::Auto,
                    LinkStateArg::Enable => LinkState::Enable,
                    LinkStateArg::Disable => LinkState::Disable,
                };
                done(pf.set_vf_link_state(h, vf, state))
            }
            PfCommand::SetPfMac { mac } => {
                let mac = parse_mac(&mac)?;
                self.pf_mac = Some(mac);
                done(pf.set_pf_mac(h, mac))
            }
            PfCommand::SetBridgeMode { mode } => done(pf.set_bridge_mode(
                h,
                match mode {
                    BridgeModeArg::Veb => BridgeMode::Veb,
                    BridgeModeArg::Vepa => BridgeMode::Vepa,
                },
            )),
            PfCommand::PingVfs {} => done(pf.ping_vfs(h)),
            PfCommand::ResetVfConfig {} => done(pf.reset_vf_config(h, vf)),
            PfCommand::ReleaseVf {} => done(pf.release_vf(h, vf)),
            PfCommand::Raw { words } => pf.raw_command(h, &words).map(|w| json!(hex_words(&w))),
        })
    }

    fn vf_op(
        &mut self,
        n: u16,
        op: &str,
        args: &BTreeMap<String, toml::Value>,
    ) -> Result<Result<Value, VfError>> {
        let call = VfCall::parse(op, args)?;
        let rid = self.pf.vf_rid(self.h, n);
        let h = &mut *self.h;
        let vf = self.vfs.entry(n).or_insert_with(|| VfDriver::new(rid));
        // NumVFs may have changed since: keep following the offset.
        vf.rid = rid;
        if let Some(api) = &call.max_api {
            vf.max_api = parse_api(api)?;
        }
        let done = |r: Result<(), VfError>| r.map(|_| Value::Null);
        Ok(match call.op {
            VfOp::BringUp {} => vf
                .bring_up_retrying(h, if h.real_time() { REAL_TIME_RESET_TRIES } else { 1 })
                .map(|b| {
                    json!({
                        "mac": b.mac.to_string(),
                        "mac_from_pf": b.mac_from_pf,
                        "api": b.api.name(),
                        "tx_queues": b.tx_queues,
                        "rx_queues": b.rx_queues,
                        "link_enabled": b.link_enabled,
                    })
                }),
            VfOp::Reset {} => vf
                .reset(h)
                .map(|m| json!({ "mac": m.map(|m| m.to_string()) })),
            VfOp::NegotiateApi {} => vf.negotiate_api(h).map(|a| json!({ "api": a.name() })),
            // What the firmware answered, not what a driver makes of it.
            VfOp::GetQueues {} => vf.get_queues_raw(h).map(|q| {
                json!({ "tx": q[0], "rx": q[1], "trans_vlan": q[2], "default_queue": q[3] })
            }),
            VfOp::SetMac { mac } => done(vf.set_mac(h, parse_mac(&mac)?)),
            VfOp::SetVlan { vid, add } => done(vf.set_vlan(h, vid, add)),
            VfOp::SetLpe { max_frame } => done(vf.set_lpe(h, max_frame)),
            VfOp::SetMacvlan { index, mac } => {
                let mac = mac.as_deref().map(parse_mac).transpose()?;
                done(vf.set_macvlan(h, index, mac.unwrap_or(Mac::ZERO)))
            }
            VfOp::SetMulticast { macs } => {
                let macs = macs.iter().map(|m| parse_mac(m)).collect::<Result<Vec<_>>>()?;
                done(vf.set_multicast(h, &macs))
            }
            VfOp::UpdateXcast { mode } => {
                let mode = match mode {
                    XcastArg::None => XcastMode::None,
                    XcastArg::Multi => XcastMode::Multi,
                    XcastArg::Allmulti => XcastMode::AllMulti,
                    XcastArg::Promisc => XcastMode::Promisc,
                };
                vf.update_xcast(h, mode)
                    .map(|m| json!({ "granted": xcast_name(m as u32) }))
            }
            VfOp::GetLinkState {} => vf.get_link_state(h).map(|e| json!({ "enabled": e })),
            VfOp::CheckLink {} => Ok(json!({ "link": match vf.check_link(h) {
                LinkCheck::Up(_) => "up",
                LinkCheck::Down => "down",
                LinkCheck::ResetRequired => "reset-required",
            }})),
            VfOp::GetReta {} => vf.get_reta(h).map(|r| json!({ "entries": r.len(), "queues_used": r.iter().copied().max().map_or(0, |m| m + 1) })),
            VfOp::GetRssKey {} => vf.get_rss_key(h).map(|k| json!({ "bytes": k.len() })),
        })
    }
}

/// Runs a scenario file in the in-process simulation (default board).
pub fn run_in_process(
    path: &Path,
    report: impl FnMut(&StepReport),
) -> Result<(Scenario, Vec<StepReport>)> {
    let scenario = Scenario::load(path)?;
    let mut sim = crate::sim::Sim::with_board_capacities();
    let mut runner = Runner::new(&mut sim)?;
    let reports = runner.run(&scenario, report);
    Ok((scenario, reports))
}

/// Runs a scenario file against the firmware image under QEMU.
pub fn run_in_qemu(
    path: &Path,
    board: &board_config::BoardConfig,
    elf: &Path,
    workspace_root: &Path,
    report: impl FnMut(&StepReport),
) -> Result<(Scenario, Vec<StepReport>)> {
    use crate::cosim::{CoSim, CoSimOptions, Wire};
    let scenario = Scenario::load(path)?;
    if !scenario.runs_on("qemu") {
        bail!(
            "scenario {} runs only on: {}",
            scenario.name,
            scenario.backends.join(", ")
        );
    }
    let mut dev = CoSim::start(board, elf, workspace_root, CoSimOptions::quiet(Wire::Udp))?;
    let result = (|| -> Result<Vec<StepReport>> {
        let mut runner = Runner::new(&mut dev)?;
        let reports = runner.run(&scenario, report);
        runner.shutdown()?;
        Ok(reports)
    })();
    if result.is_err() {
        dev.stop();
    }
    let outcome = dev.finish()?;
    let reports = result?;
    if !crate::cosim::clean_exit(&outcome) {
        bail!(
            "the firmware did not exit cleanly ({:?}):\n{}{}",
            outcome.ending,
            outcome.log_text(),
            outcome.stderr
        );
    }
    Ok((scenario, reports))
}

/// Steps whose actual results differ between two runs of one scenario.
pub fn disagreements(a: &[StepReport], b: &[StepReport]) -> Vec<String> {
    let mut out = Vec::new();
    if a.len() != b.len() {
        out.push(format!("{} steps against {}", a.len(), b.len()));
    }
    for (x, y) in a.iter().zip(b) {
        if x.ok != y.ok || x.actual != y.actual {
            out.push(format!(
                "step {} ({}): {} vs {}",
                x.index, x.action, x.actual, y.actual
            ));
        }
    }
    out
}

/// The summary line's JSON.
pub fn summary_json(scenario: &Scenario, reports: &[StepReport]) -> Value {
    let failed = reports.iter().filter(|r| !r.ok).count();
    json!({
        "scenario": scenario.name,
        "steps": reports.len(),
        "passed": reports.len() - failed,
        "failed": failed,
    })
}

/// Whether `actual` satisfies `expected`: null expects nothing (the step
/// only had to run); objects compare the expected keys only; anything else
/// compares exactly. An actual `error` fails unless it was expected.
pub fn matches(expected: &Value, actual: &Value) -> bool {
    if actual.get("error").is_some() && expected.get("error").is_none() && !expected.is_null() {
        return false;
    }
    match (expected, actual) {
        (Value::Null, a) => a.get("error").is_none(),
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| matches(v, av))),
        (Value::Array(e), Value::Array(a)) => {
            e.len() <= a.len() && e.iter().zip(a).all(|(x, y)| matches(x, y))
        }
        (Value::Number(e), Value::Number(a)) => e.as_f64() == a.as_f64(),
        (e, a) => e == a,
    }
}

fn action_name(step: &Step) -> String {
    match step {
        Step::EnableVfs { .. } => "enable_vfs",
        Step::Pf { .. } => "pf",
        Step::Vf { .. } => "vf",
        Step::VfMessage { .. } => "vf_message",
        Step::VfWrite { .. } => "vf_write",
        Step::VfRead { .. } => "vf_read",
        Step::PfConfigWrite { .. } => "pf_config_write",
        Step::Flr { .. } => "flr",
        Step::FlrWait { .. } => "flr_wait",
        Step::Uplink { .. } => "uplink",
        Step::ExpectVf { .. } => "expect_vf",
        Step::ExpectEvents { .. } => "expect_events",
        Step::Wait { .. } => "wait",
        Step::Queues { .. } => "queues",
        Step::Inject { .. } => "inject",
        Step::InjectRaw { .. } => "inject_raw",
        Step::Send { .. } => "send",
        Step::ExpectRx { .. } => "expect_rx",
        Step::ExpectWire { .. } => "expect_wire",
        Step::ExpectDrops { .. } => "expect_drops",
        Step::ExpectStats { .. } => "expect_stats",
        Step::ExpectInterrupts { .. } => "expect_interrupts",
        Step::TxDescriptor { .. } => "tx_descriptor",
        Step::StarveRx { .. } => "starve_rx",
        Step::ExpectWireCount { .. } => "expect_wire_count",
    }
    .into()
}

fn pattern_json(p: &EventPattern) -> Value {
    let mut v = json!({ "kind": p.kind });
    if let Some(x) = p.vf {
        v["vf"] = json!(x);
    }
    if let Some(x) = p.data0 {
        v["data0"] = json!(x);
    }
    if let Some(x) = p.data1 {
        v["data1"] = json!(x);
    }
    v
}

fn xcast_name(v: u32) -> &'static str {
    match v {
        0 => "none",
        1 => "multi",
        2 => "allmulti",
        3 => "promisc",
        _ => "?",
    }
}

/// `ip link show` fields of a VF as JSON (names used by `expect_vf`).
pub fn vf_info_json(i: &VfInfo) -> Value {
    let lifecycle = [
        "disabled",
        "awaiting-reset",
        "clear-to-send",
        "active",
        "quarantined",
    ]
    .get(i.lifecycle as usize)
    .copied()
    .unwrap_or("?");
    let api = MbxApi::from_wire(i.api).map_or("?", |a| a.name());
    json!({
        "mac": i.mac.to_string(),
        "mac_administered": i.mac_administered,
        "vlan": i.vlan,
        "qos": i.qos,
        "vlan_proto": if i.vlan_proto == 0x88a8 { "802.1ad" } else { "802.1Q" },
        "min_tx_rate": i.min_tx_rate,
        "max_tx_rate": i.max_tx_rate,
        "spoofchk": i.spoof_check,
        "trust": i.trust,
        "query_rss": i.query_rss,
        "link_state": match i.link_state { LinkState::Auto => "auto", LinkState::Enable => "enable", LinkState::Disable => "disable" },
        "link_up": i.link_up,
        "lifecycle": lifecycle,
        "api": api,
        "xcast": xcast_name(i.xcast),
        "max_frame": i.max_frame,
        "vlans": i.vlans,
        "mc_hashes": i.mc_hashes,
        "macvlans": i.macvlans,
        "mbx_requests": i.mbx_requests,
        "mbx_nacks": i.mbx_nacks,
        "mbx_malformed": i.mbx_malformed,
        "mbx_violations": i.mbx_violations,
        "mbx_before_cts": i.mbx_before_cts,
        "resets": i.resets,
        "xcast_downgrades": i.xcast_downgrades,
        "mbx_rate_limited": i.mbx_rate_limited,
    })
}

pub fn pf_error_name(e: &PfError) -> String {
    match e {
        PfError::Admin(s) => status_name(*s).into(),
        PfError::Busy { .. } => "busy".into(),
        PfError::TooManyVfs { .. } => "too_many_vfs".into(),
        PfError::Timeout(_) => "timeout".into(),
        PfError::NoDevice => "no_device".into(),
        PfError::NoSriovCapability => "no_sriov".into(),
        PfError::FirmwareNotReady => "firmware_not_ready".into(),
    }
}

pub fn status_name(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::UnknownOpcode => "unknown_opcode",
        Status::BadLength => "bad_length",
        Status::InvalidVf => "invalid_vf",
        Status::InvalidArgument => "invalid_argument",
        Status::NoSpace => "no_space",
        Status::NotSupported => "not_supported",
    }
}

pub fn vf_error_name(e: &VfError) -> &'static str {
    match e {
        VfError::ResetFailed => "reset_failed",
        VfError::LockTimeout => "lock_timeout",
        VfError::NoReply => "no_reply",
        VfError::InvalidResetReply(_) => "invalid_reset_reply",
        VfError::Nack(_) => "nack",
        VfError::UnexpectedReply(_) => "unexpected_reply",
    }
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => json!(s),
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(f) => json!(f),
        toml::Value::Boolean(b) => json!(b),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
        toml::Value::Datetime(d) => json!(d.to_string()),
    }
}

fn toml_map_to_json(m: &BTreeMap<String, toml::Value>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), toml_to_json(v)))
            .collect(),
    )
}

/// `02:aa:00:00:00:01`.
pub fn parse_mac(s: &str) -> Result<Mac> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        bail!("{s:?} is not a MAC address (six hex bytes with ':')");
    }
    let mut m = [0u8; 6];
    for (b, p) in m.iter_mut().zip(parts) {
        *b = u8::from_str_radix(p, 16).with_context(|| format!("{s:?}: bad byte {p:?}"))?;
    }
    Ok(Mac(m))
}

fn parse_api(s: &str) -> Result<MbxApi> {
    MbxApi::ALL
        .into_iter()
        .find(|a| a.name() == s)
        .with_context(|| format!("unknown mailbox API {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_rules() {
        assert!(matches(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!matches(&json!({"a": 1}), &json!({"a": 2})));
        assert!(!matches(&json!({"a": 1}), &json!({"b": 1})));
        assert!(matches(&Value::Null, &json!({"x": 1})));
        assert!(!matches(&Value::Null, &json!({"error": "boom"})));
        assert!(matches(&json!([1, 2]), &json!([1, 2, 3])), "prefix");
        assert!(!matches(&json!([1, 3]), &json!([1, 2, 3])));
    }

    #[test]
    fn mac_parsing() {
        assert_eq!(
            parse_mac("02:aa:00:00:00:01").unwrap(),
            Mac([2, 0xaa, 0, 0, 0, 1])
        );
        assert!(parse_mac("02:aa:00").is_err());
        assert!(parse_mac("02:aa:00:00:00:zz").is_err());
    }
}
