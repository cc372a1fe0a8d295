//! The arguments of `pf` commands and `vf` operations, typed. A scenario's
//! `args = { ... }` table is read into one of these when the scenario is
//! loaded: a misspelt or missing key, a value of the wrong type or out of
//! range is an error naming the step, the key and the keys allowed, never
//! a silent 0 or a value cut to fit.

use anyhow::{Context as _, Result};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// A `pf` step's command and its arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum PfCommand {
    SetVfMac {
        mac: String,
    },
    SetVfVlan {
        vid: u16,
        #[serde(default)]
        qos: u8,
        #[serde(default)]
        proto: VlanProtoArg,
    },
    SetVfRate {
        #[serde(default)]
        min: u32,
        #[serde(default)]
        max: u32,
    },
    SetVfSpoofchk {
        on: bool,
    },
    SetVfTrust {
        on: bool,
    },
    SetVfQueryRss {
        on: bool,
    },
    SetVfLinkState {
        state: LinkStateArg,
    },
    SetPfMac {
        mac: String,
    },
    SetBridgeMode {
        mode: BridgeModeArg,
    },
    /// The step's VF set in `ip link set DEV vf N`'s words (`set = "mac
    /// 02:00:00:00:00:33 vlan 100 qos 3 proto 802.1ad spoofchk on"`).
    IpLinkSet {
        set: String,
    },
    PingVfs {},
    ResetVfConfig {},
    ReleaseVf {},
    /// Any admin request, word by word.
    Raw {
        words: Vec<u32>,
    },
}

/// A `vf` step's operation and its arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum VfOp {
    BringUp {},
    Reset {},
    NegotiateApi {},
    GetQueues {},
    SetMac {
        mac: String,
    },
    SetVlan {
        vid: u16,
        #[serde(default = "yes")]
        add: bool,
    },
    SetLpe {
        max_frame: u32,
    },
    SetMacvlan {
        index: u32,
        mac: Option<String>,
    },
    SetMulticast {
        #[serde(default)]
        macs: Vec<String>,
    },
    UpdateXcast {
        mode: XcastArg,
    },
    GetLinkState {},
    CheckLink {},
    GetReta {},
    GetRssKey {},
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub enum VlanProtoArg {
    #[default]
    #[serde(rename = "802.1Q", alias = "802.1q")]
    Dot1Q,
    #[serde(rename = "802.1ad", alias = "802.1AD")]
    Dot1AD,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkStateArg {
    Auto,
    Enable,
    Disable,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BridgeModeArg {
    Veb,
    Vepa,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XcastArg {
    None,
    Multi,
    Allmulti,
    Promisc,
}

/// Reads `args` as the variant `name` of `T` (tagged by `tag`).
fn typed<T: DeserializeOwned>(
    tag: &str,
    name: &str,
    args: &BTreeMap<String, toml::Value>,
) -> Result<T> {
    let mut table: toml::Table = args.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if table.contains_key(tag) {
        anyhow::bail!("`{tag}` belongs to the step, not to its args");
    }
    table.insert(tag.into(), toml::Value::String(name.into()));
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| anyhow::anyhow!("{}", e.message()))
}

impl PfCommand {
    pub fn parse(command: &str, args: &BTreeMap<String, toml::Value>) -> Result<PfCommand> {
        let cmd: PfCommand =
            typed("command", command, args).with_context(|| format!("pf command {command:?}"))?;
        if let PfCommand::IpLinkSet { set } = &cmd {
            ip_link_settings(set).with_context(|| format!("pf command {command:?}"))?;
        }
        Ok(cmd)
    }
}

/// The settings of an `ip_link_set` step's words (the VF is the step's).
pub fn ip_link_settings(words: &str) -> Result<crate::drivers::iplink::VfSettings> {
    let mut all = vec!["vf", "0"];
    all.extend(words.split_whitespace());
    crate::drivers::iplink::parse_set(&all)
        .map(|(_, s)| s)
        .map_err(|e| anyhow::anyhow!("set = {words:?}: {e}"))
}

/// A `vf` step's operation, and the newest mailbox API its driver may
/// offer (`max_api`, allowed with every operation).
#[derive(Debug, Clone)]
pub struct VfCall {
    pub op: VfOp,
    pub max_api: Option<String>,
}

impl VfCall {
    pub fn parse(op: &str, args: &BTreeMap<String, toml::Value>) -> Result<VfCall> {
        let mut rest = args.clone();
        let max_api = match rest.remove("max_api") {
            None => None,
            Some(toml::Value::String(s)) => Some(s),
            Some(v) => {
                anyhow::bail!("vf op {op:?}: max_api must be a string like \"1.3\", not {v}")
            }
        };
        let op = typed("op", op, &rest).with_context(|| format!("vf op {op:?}"))?;
        Ok(VfCall { op, max_api })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> BTreeMap<String, toml::Value> {
        toml::from_str(s).unwrap()
    }

    #[test]
    fn a_misspelt_key_is_refused_with_the_keys_allowed() {
        let e = format!(
            "{:#}",
            PfCommand::parse("set_vf_vlan", &args("vidd = 100")).unwrap_err()
        );
        assert!(e.contains("set_vf_vlan") && e.contains("vidd"), "{e}");
        assert!(
            e.contains("`vid`") && e.contains("`qos`") && e.contains("`proto`"),
            "{e}"
        );
    }

    #[test]
    fn a_vid_beyond_16_bits_is_refused_not_cut() {
        let e = format!(
            "{:#}",
            VfCall::parse("set_vlan", &args("vid = 65636")).unwrap_err()
        );
        assert!(e.contains("65636"), "{e}");
        match VfCall::parse("set_vlan", &args("vid = 4096")).unwrap().op {
            VfOp::SetVlan { vid, add } => assert_eq!((vid, add), (4096, true)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_commands_and_values_name_the_choices() {
        let e = format!(
            "{:#}",
            PfCommand::parse("set_vf_foo", &args("")).unwrap_err()
        );
        assert!(e.contains("set_vf_foo") && e.contains("set_vf_mac"), "{e}");
        let e = format!(
            "{:#}",
            PfCommand::parse("set_vf_link_state", &args("state = \"off\"")).unwrap_err()
        );
        assert!(e.contains("off") && e.contains("disable"), "{e}");
        let e = format!(
            "{:#}",
            PfCommand::parse("set_vf_trust", &args("")).unwrap_err()
        );
        assert!(e.contains("missing field `on`"), "{e}");
        let e = format!(
            "{:#}",
            PfCommand::parse("ip_link_set", &args("set = \"trust maybe\"")).unwrap_err()
        );
        assert!(e.contains("ip_link_set") && e.contains("\"maybe\""), "{e}");
        assert!(PfCommand::parse("ip_link_set", &args("set = \"trust on vlan 5\"")).is_ok());
        let call = VfCall::parse("bring_up", &args("max_api = \"1.3\"")).unwrap();
        assert_eq!(call.max_api.as_deref(), Some("1.3"));
        assert!(VfCall::parse("bring_up", &args("extra = 1")).is_err());
    }
}
