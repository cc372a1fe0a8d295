//! The scenario file: its TOML format (serde types, read and checked at
//! load) and the strings steps write values in (MACs, hex, API names).

use super::args::{PfCommand, VfCall};
use anyhow::{Context as _, Result, bail};
use firmware::mac::Mac;
use hal::ixgbe::MbxApi;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

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

    pub fn load(path: &Path) -> Result<Scenario> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Scenario::from_toml(&text, &path.display().to_string())
    }

    /// A scenario from its text, read and checked as [`load`](Self::load)
    /// does; `name` says where it came from in errors.
    pub fn from_toml(text: &str, name: &str) -> Result<Scenario> {
        let scenario: Scenario =
            toml::from_str(text).with_context(|| format!("parsing scenario {name}"))?;
        scenario
            .check()
            .with_context(|| format!("scenario {name}"))?;
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

pub(super) fn action_name(step: &Step) -> String {
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

pub(super) fn unhex(s: &str) -> Result<Vec<u8>> {
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

/// `02:aa:00:00:00:01`.
pub fn parse_mac(s: &str) -> Result<Mac> {
    crate::drivers::iplink::parse_mac(s).map_err(|e| anyhow::anyhow!(e))
}

pub(super) fn parse_api(s: &str) -> Result<MbxApi> {
    MbxApi::ALL
        .into_iter()
        .find(|a| a.name() == s)
        .with_context(|| format!("unknown mailbox API {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
