//! What a run reports: one JSON line per step, the summary, and how
//! results are written in them (names of errors and states, hex).

use super::format::Scenario;
use crate::drivers::pf::{PfError, VfInfo};
use crate::drivers::vf::VfError;
use firmware::admin::Status;
use firmware::vf::LinkState;
use hal::ixgbe::MbxApi;
use serde_json::{Value, json};
use std::collections::BTreeMap;

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

/// Mailbox and admin words as they are read in a datasheet: `0x80000001`.
pub(super) fn hex_words(w: &[u32]) -> Vec<String> {
    w.iter().map(|w| format!("{w:#010x}")).collect()
}

pub(super) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(super) fn xcast_name(v: u32) -> &'static str {
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

pub(super) fn toml_map_to_json(m: &BTreeMap<String, toml::Value>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), toml_to_json(v)))
            .collect(),
    )
}
