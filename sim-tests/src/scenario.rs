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

/// A device under test as scenarios drive it: register access plus the
/// few things that are not a host driver's (the physical port's link).
pub trait Harness: Transport {
    fn set_uplink(&mut self, up: bool);
}

impl Harness for crate::sim::Sim {
    fn set_uplink(&mut self, up: bool) {
        crate::sim::Sim::set_uplink(self, up)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
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
    /// Function Level Reset of a VF.
    Flr { vf: u16 },
    /// The physical port's link.
    Uplink { up: bool },
    /// Compare fields of `ip link show` for one VF.
    ExpectVf {
        vf: u16,
        fields: BTreeMap<String, toml::Value>,
    },
    /// Drain the PF's event ring; each listed event must appear, in order.
    ExpectEvents { events: Vec<EventPattern> },
    /// Let time pass.
    Wait { us: u64 },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventPattern {
    pub kind: String,
    pub vf: Option<u32>,
    pub data0: Option<u32>,
    pub data1: Option<u32>,
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
        toml::from_str(&text).with_context(|| format!("parsing scenario {}", path.display()))
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
}

impl<'h, H: Harness> Runner<'h, H> {
    pub fn new(h: &'h mut H) -> Result<Self> {
        let pf = PfDriver::probe(h).map_err(|e| anyhow::anyhow!("PF probe: {e}"))?;
        Ok(Runner {
            h,
            pf,
            vfs: BTreeMap::new(),
        })
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
                    Ok(w) => json!({ "reply": w }),
                    Err(e) => json!({ "error": vf_error_name(&e) }),
                };
                let expected = match expect_reply {
                    Some(w) => json!({ "reply": w }),
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
            Step::Flr { vf } => {
                let rid = self.pf.vf_rid(self.h, *vf);
                let r = self.pf.flr(self.h, rid);
                let actual = match r {
                    Ok(()) => json!({ "result": "ok" }),
                    Err(e) => json!({ "result": pf_error_name(&e) }),
                };
                (name, json!({ "result": "ok" }), actual)
            }
            Step::Uplink { up } => {
                self.h.set_uplink(*up);
                (name, Value::Null, json!({ "up": up }))
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
                let seen: Vec<Value> = self
                    .pf
                    .events(self.h)
                    .iter()
                    .map(|e| json!({ "kind": e.name(), "vf": e.vf, "data0": e.data0, "data1": e.data1 }))
                    .collect();
                let mut at = 0;
                let mut found = Vec::new();
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
        })
    }

    fn pf_command(
        &mut self,
        command: &str,
        vf: u16,
        args: &BTreeMap<String, toml::Value>,
    ) -> Result<Result<Value, PfError>> {
        let h = &mut *self.h;
        let pf = &mut self.pf;
        let flag = |k: &str| arg_bool(args, k);
        Ok(match command {
            "set_vf_mac" => pf
                .set_vf_mac(h, vf, arg_mac(args, "mac")?)
                .map(|_| Value::Null),
            "set_vf_vlan" => {
                let proto = match arg_str(args, "proto").unwrap_or("802.1Q") {
                    "802.1Q" | "802.1q" => VlanProto::Dot1Q,
                    "802.1ad" | "802.1AD" => VlanProto::Dot1AD,
                    other => bail!("unknown VLAN protocol {other:?}"),
                };
                let vid = arg_u32(args, "vid")? as u16;
                let qos = arg_u32(args, "qos").unwrap_or(0) as u8;
                pf.set_vf_vlan(h, vf, vid, qos, proto).map(|_| Value::Null)
            }
            "set_vf_rate" => pf
                .set_vf_rate(
                    h,
                    vf,
                    arg_u32(args, "min").unwrap_or(0),
                    arg_u32(args, "max").unwrap_or(0),
                )
                .map(|_| Value::Null),
            "set_vf_spoofchk" => pf.set_vf_spoofchk(h, vf, flag("on")?).map(|_| Value::Null),
            "set_vf_trust" => pf.set_vf_trust(h, vf, flag("on")?).map(|_| Value::Null),
            "set_vf_query_rss" => pf.set_vf_query_rss(h, vf, flag("on")?).map(|_| Value::Null),
            "set_vf_link_state" => {
                let state = match arg_str(args, "state") {
                    Some("auto") => LinkState::Auto,
                    Some("enable") => LinkState::Enable,
                    Some("disable") => LinkState::Disable,
                    other => bail!("state must be auto, enable or disable, not {other:?}"),
                };
                pf.set_vf_link_state(h, vf, state).map(|_| Value::Null)
            }
            "set_bridge_mode" => {
                let mode = match arg_str(args, "mode") {
                    Some("veb") => BridgeMode::Veb,
                    Some("vepa") => BridgeMode::Vepa,
                    other => bail!("mode must be veb or vepa, not {other:?}"),
                };
                pf.set_bridge_mode(h, mode).map(|_| Value::Null)
            }
            "ping_vfs" => pf.ping_vfs(h).map(|_| Value::Null),
            "reset_vf_config" => pf.reset_vf_config(h, vf).map(|_| Value::Null),
            "raw" => {
                let words: Vec<u32> = match args.get("words") {
                    Some(toml::Value::Array(a)) => a
                        .iter()
                        .map(|v| v.as_integer().unwrap_or(0) as u32)
                        .collect(),
                    _ => bail!("raw needs words = [...]"),
                };
                pf.raw_command(h, &words).map(|w| json!(w))
            }
            other => bail!("unknown PF command {other:?}"),
        })
    }

    fn vf_op(
        &mut self,
        n: u16,
        op: &str,
        args: &BTreeMap<String, toml::Value>,
    ) -> Result<Result<Value, VfError>> {
        let rid = self.pf.vf_rid(self.h, n);
        let h = &mut *self.h;
        let vf = self.vfs.entry(n).or_insert_with(|| VfDriver::new(rid));
        // NumVFs may have changed since: keep following the offset.
        vf.rid = rid;
        if let Some(api) = arg_str(args, "max_api") {
            vf.max_api = parse_api(api)?;
        }
        Ok(match op {
            "bring_up" => vf.bring_up(h).map(|b| {
                json!({
                    "mac": b.mac.to_string(),
                    "mac_from_pf": b.mac_from_pf,
                    "api": b.api.name(),
                    "tx_queues": b.tx_queues,
                    "rx_queues": b.rx_queues,
                    "link_enabled": b.link_enabled,
                })
            }),
            "reset" => vf
                .reset(h)
                .map(|m| json!({ "mac": m.map(|m| m.to_string()) })),
            "negotiate_api" => vf.negotiate_api(h).map(|a| json!({ "api": a.name() })),
            "get_queues" => vf.get_queues(h).map(|q| {
                json!({ "tx": q[0], "rx": q[1], "trans_vlan": q[2], "default_queue": q[3] })
            }),
            "set_mac" => vf.set_mac(h, arg_mac(args, "mac")?).map(|_| Value::Null),
            "set_vlan" => vf
                .set_vlan(
                    h,
                    arg_u32(args, "vid")? as u16,
                    arg_bool(args, "add").unwrap_or(true),
                )
                .map(|_| Value::Null),
            "set_lpe" => vf.set_lpe(h, arg_u32(args, "max_frame")?).map(|_| Value::Null),
            "set_macvlan" => vf
                .set_macvlan(h, arg_u32(args, "index")?, arg_mac(args, "mac").unwrap_or(Mac::ZERO))
                .map(|_| Value::Null),
            "set_multicast" => {
                let macs: Vec<Mac> = match args.get("macs") {
                    Some(toml::Value::Array(a)) => a
                        .iter()
                        .map(|v| parse_mac(v.as_str().unwrap_or("")))
                        .collect::<Result<_>>()?,
                    _ => Vec::new(),
                };
                vf.set_multicast(h, &macs).map(|_| Value::Null)
            }
            "update_xcast" => {
                let mode = match arg_str(args, "mode") {
                    Some("none") => XcastMode::None,
                    Some("multi") => XcastMode::Multi,
                    Some("allmulti") => XcastMode::AllMulti,
                    Some("promisc") => XcastMode::Promisc,
                    other => bail!("mode must be none, multi, allmulti or promisc, not {other:?}"),
                };
                vf.update_xcast(h, mode)
                    .map(|m| json!({ "granted": xcast_name(m as u32) }))
            }
            "get_link_state" => vf.get_link_state(h).map(|e| json!({ "enabled": e })),
            "check_link" => Ok(json!({ "link": match vf.check_link(h) {
                LinkCheck::Up(_) => "up",
                LinkCheck::Down => "down",
                LinkCheck::ResetRequired => "reset-required",
            }})),
            "get_reta" => vf.get_reta(h).map(|r| json!({ "entries": r.len(), "queues_used": r.iter().copied().max().map_or(0, |m| m + 1) })),
            "get_rss_key" => vf.get_rss_key(h).map(|k| json!({ "bytes": k.len() })),
            other => bail!("unknown VF operation {other:?}"),
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
        Step::Uplink { .. } => "uplink",
        Step::ExpectVf { .. } => "expect_vf",
        Step::ExpectEvents { .. } => "expect_events",
        Step::Wait { .. } => "wait",
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
    let lifecycle = ["disabled", "awaiting-reset", "clear-to-send", "active"]
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

fn arg_str<'a>(args: &'a BTreeMap<String, toml::Value>, k: &str) -> Option<&'a str> {
    args.get(k).and_then(|v| v.as_str())
}

fn arg_u32(args: &BTreeMap<String, toml::Value>, k: &str) -> Result<u32> {
    match args.get(k).and_then(|v| v.as_integer()) {
        Some(i) if (0..=i64::from(u32::MAX)).contains(&i) => Ok(i as u32),
        Some(i) => bail!("argument {k} = {i} is out of range"),
        None => bail!("missing integer argument {k}"),
    }
}

fn arg_bool(args: &BTreeMap<String, toml::Value>, k: &str) -> Result<bool> {
    args.get(k)
        .and_then(|v| v.as_bool())
        .with_context(|| format!("missing boolean argument {k}"))
}

fn arg_mac(args: &BTreeMap<String, toml::Value>, k: &str) -> Result<Mac> {
    parse_mac(arg_str(args, k).with_context(|| format!("missing MAC argument {k}"))?)
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
