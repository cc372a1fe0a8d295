//! The PF's administration in `ip link`'s own words: `link set vf N mac ..
//! vlan .. qos .. proto .. spoofchk .. trust .. state .. max_tx_rate ..
//! min_tx_rate .. query_rss ..` parsed as iproute2 parses it, carried out
//! through the PF driver in the order the kernel applies one netlink
//! request's attributes; and `[-s [-s]] [-j [-p]] link show` printed the way
//! iproute2 prints a PF with VFs (`vf N     link/ether .. brd ..`, then the
//! `RX:`/`TX:` header and value rows).
//!
//! Used by `cargo xtask ip` (against a running `cargo xtask run --forever`),
//! the demo's table, and the scenarios' `ip` command.

use crate::drivers::pf::{PfDriver, PfError, VfInfo, VfStats};
use crate::transport::Transport;
use firmware::mac::Mac;
use firmware::vf::{LinkState, VlanProto};
use serde_json::{Value, json};
use std::fmt::Write as _;

/// What one `ip` command asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpCommand {
    /// `link set [dev] [pf0] vf N SETTINGS`.
    Set { vf: u16, settings: VfSettings },
    /// `link show`: `stats` counts the `-s` options, `json` is `-j`,
    /// `pretty` is `-p`.
    Show { stats: u8, json: bool, pretty: bool },
}

/// The settings of one `ip link set ... vf N`; `None` leaves a setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VfSettings {
    pub mac: Option<Mac>,
    /// VID (0 clears the port VLAN), QoS, protocol.
    pub vlan: Option<(u16, u8, VlanProto)>,
    pub max_tx_rate: Option<u32>,
    pub min_tx_rate: Option<u32>,
    pub spoofchk: Option<bool>,
    pub state: Option<LinkState>,
    pub query_rss: Option<bool>,
    pub trust: Option<bool>,
}

/// The one device name this firmware's PF answers to.
pub const PF_NAME: &str = "pf0";

/// The words `ip link set DEV vf N` takes, for messages.
pub const SET_KEYWORDS: &str =
    "mac, vlan (qos, proto), rate, max_tx_rate, min_tx_rate, spoofchk, query_rss, state, trust";

/// Parses `ip`'s words after the program name: options (`-s`, `-j`, `-p`),
/// then `link set ...` or `link show ...`.
pub fn parse<S: AsRef<str>>(words: &[S]) -> Result<IpCommand, String> {
    let mut words = words.iter().map(AsRef::as_ref).peekable();
    let (mut stats, mut json, mut pretty) = (0u8, false, false);
    while let Some(w) = words.next_if(|w| w.starts_with('-')) {
        match w {
            "-s" | "-stats" | "-statistics" => stats = stats.saturating_add(1),
            "-j" | "-json" => json = true,
            "-p" | "-pretty" => pretty = true,
            _ => return Err(format!("option {w:?} is not known here (-s, -j, -p are)")),
        }
    }
    match words.next() {
        Some("link" | "l" | "li" | "lin") => {}
        Some(other) => return Err(format!("object {other:?} is not known here (only `link`)")),
        None => return Err("nothing to do: `link set ...` or `link show`".into()),
    }
    let rest: Vec<&str> = words.collect();
    match rest.split_first() {
        Some((&("set" | "s" | "se"), rest)) => {
            if stats != 0 || json {
                return Err("-s and -j go with `link show`, not `link set`".into());
            }
            let (vf, settings) = parse_set(rest)?;
            Ok(IpCommand::Set { vf, settings })
        }
        None | Some((&("show" | "sh" | "list" | "lst"), _)) => {
            let after_show = rest.get(1..).unwrap_or(&[]);
            let dev: Vec<&str> = after_show.iter().copied().filter(|w| *w != "dev").collect();
            match dev.as_slice() {
                [] | [PF_NAME] => Ok(IpCommand::Show {
                    stats,
                    json,
                    pretty,
                }),
                other => Err(format!(
                    "`link show {}`: the only device is {PF_NAME}",
                    other.join(" ")
                )),
            }
        }
        Some((other, _)) => Err(format!(
            "`link {other}` is not known here (`link set`, `link show`)"
        )),
    }
}

fn on_off(key: &str, value: Option<&str>) -> Result<bool, String> {
    match value {
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(v) => Err(format!("{key} {v:?}: \"on\" or \"off\"")),
        None => Err(format!("{key} needs \"on\" or \"off\"")),
    }
}

fn number<T: std::str::FromStr>(key: &str, value: Option<&str>, range: &str) -> Result<T, String> {
    let v = value.ok_or_else(|| format!("{key} needs a value ({range})"))?;
    v.parse()
        .map_err(|_| format!("{key} {v:?}: not a number in {range}"))
}

/// Parses six hex bytes with ':' (as `ip` takes a lladdr).
pub fn parse_mac(s: &str) -> Result<Mac, String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(format!(
            "{s:?} is not a MAC address (six hex bytes with ':')"
        ));
    }
    let mut m = [0u8; 6];
    for (b, p) in m.iter_mut().zip(parts) {
        if p.is_empty() || p.len() > 2 {
            return Err(format!("{s:?}: bad byte {p:?}"));
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| format!("{s:?}: bad byte {p:?}"))?;
    }
    Ok(Mac(m))
}

/// The words after `link set`: `[dev] [pf0] vf N` then settings.
pub fn parse_set(words: &[&str]) -> Result<(u16, VfSettings), String> {
    let mut it = words.iter().copied().peekable();
    it.next_if_eq(&"dev");
    it.next_if_eq(&PF_NAME);
    match it.next() {
        Some("vf") => {}
        Some(dev) if it.peek() == Some(&"vf") => {
            return Err(format!("device {dev:?}: the only device is {PF_NAME}"));
        }
        Some(w) => {
            return Err(format!(
                "{w:?}: only VF settings are taken here (`link set vf N ...`)"
            ));
        }
        None => return Err("`link set vf N ...`: which VF?".into()),
    }
    let vf: u16 = number("vf", it.next(), "0..=65535")?;
    let mut s = VfSettings::default();
    let mut legacy_rate = None;
    while let Some(key) = it.next() {
        match key {
            "mac" => {
                let v = it.next().ok_or("mac needs an address")?;
                s.mac = Some(parse_mac(v)?);
            }
            "vlan" => {
                let vid: u16 = number("vlan", it.next(), "0..=4095")?;
                if vid > 4095 {
                    return Err(format!("vlan {vid}: VLAN ids are 0..=4095"));
                }
                let mut qos = 0u8;
                let mut proto = VlanProto::Dot1Q;
                loop {
                    if it.next_if_eq(&"qos").is_some() {
                        qos = number("qos", it.next(), "0..=7")?;
                        if qos > 7 {
                            return Err(format!("qos {qos}: priorities are 0..=7"));
                        }
                    } else if it.next_if_eq(&"proto").is_some() {
                        proto = match it.next() {
                            Some("802.1Q" | "802.1q") => VlanProto::Dot1Q,
                            Some("802.1ad" | "802.1AD") => VlanProto::Dot1AD,
                            Some(p) => {
                                return Err(format!("proto {p:?}: \"802.1Q\" or \"802.1ad\""));
                            }
                            None => return Err("proto needs 802.1Q or 802.1ad".into()),
                        };
                    } else {
                        break;
                    }
                }
                s.vlan = Some((vid, qos, proto));
            }
            "rate" => legacy_rate = Some(number("rate", it.next(), "Mb/s, 0 for no limit")?),
            "max_tx_rate" => s.max_tx_rate = Some(number(key, it.next(), "Mb/s, 0 for no limit")?),
            "min_tx_rate" => s.min_tx_rate = Some(number(key, it.next(), "Mb/s, 0 for no floor")?),
            "spoofchk" => s.spoofchk = Some(on_off(key, it.next())?),
            "query_rss" => s.query_rss = Some(on_off(key, it.next())?),
            "trust" => s.trust = Some(on_off(key, it.next())?),
            "state" => {
                s.state = Some(match it.next() {
                    Some("auto") => LinkState::Auto,
                    Some("enable") => LinkState::Enable,
                    Some("disable") => LinkState::Disable,
                    Some(v) => return Err(format!("state {v:?}: auto, enable or disable")),
                    None => return Err("state needs auto, enable or disable".into()),
                })
            }
            "vf" => return Err("one VF per command (as iproute2 takes it)".into()),
            "node_guid" | "port_guid" => {
                return Err(format!("{key}: an InfiniBand setting; this is Ethernet"));
            }
            other => return Err(format!("{other:?} is not a VF setting ({SET_KEYWORDS})")),
        }
    }
    if let Some(rate) = legacy_rate {
        if s.max_tx_rate.is_some() {
            return Err("rate and max_tx_rate are the same setting: give one".into());
        }
        s.max_tx_rate = Some(rate);
    }
    if s == VfSettings::default() {
        return Err(format!("`vf {vf}` without a setting ({SET_KEYWORDS})"));
    }
    Ok((vf, s))
}

/// Carries `s` out on `vf`, in the kernel's order for one request (mac,
/// vlan, rate, spoofchk, link state, query_rss, trust). A rate given alone
/// keeps the other one, as iproute2 reads it back before sending both.
pub fn apply(
    pf: &mut PfDriver,
    t: &mut impl Transport,
    vf: u16,
    s: &VfSettings,
) -> Result<(), PfError> {
    if let Some(mac) = s.mac {
        pf.set_vf_mac(t, vf, mac)?;
    }
    if let Some((vid, qos, proto)) = s.vlan {
        pf.set_vf_vlan(t, vf, vid, qos, proto)?;
    }
    if s.max_tx_rate.is_some() || s.min_tx_rate.is_some() {
        let now = pf.vf_info(t, vf)?;
        pf.set_vf_rate(
            t,
            vf,
            s.min_tx_rate.unwrap_or(now.min_tx_rate),
            s.max_tx_rate.unwrap_or(now.max_tx_rate),
        )?;
    }
    if let Some(on) = s.spoofchk {
        pf.set_vf_spoofchk(t, vf, on)?;
    }
    if let Some(state) = s.state {
        pf.set_vf_link_state(t, vf, state)?;
    }
    if let Some(on) = s.query_rss {
        pf.set_vf_query_rss(t, vf, on)?;
    }
    if let Some(on) = s.trust {
        pf.set_vf_trust(t, vf, on)?;
    }
    Ok(())
}

/// One VF as `link show` prints it, plus its drops by reason (named).
#[derive(Debug, Clone)]
pub struct VfRow {
    pub info: VfInfo,
    pub stats: VfStats,
    pub drops: Vec<(&'static str, u32)>,
}

/// The PF as `link show` prints it.
#[derive(Debug, Clone)]
pub struct PfView {
    pub uplink_up: bool,
    pub vfs: Vec<VfRow>,
}

/// Reads every enabled VF's configuration, counters and drops.
pub fn read(pf: &mut PfDriver, t: &mut impl Transport) -> Result<PfView, PfError> {
    use firmware::drops::DropReason;
    let info = pf.info(t)?;
    let mut vfs = Vec::new();
    for n in 0..info.vfs_enabled as u16 {
        let drops = pf.drops(t, n)?;
        vfs.push(VfRow {
            info: pf.vf_info(t, n)?,
            stats: pf.vf_stats(t, n)?,
            drops: DropReason::ALL
                .iter()
                .zip(drops)
                .filter(|(_, c)| *c != 0)
                .map(|(r, c)| (r.name(), c))
                .collect(),
        });
    }
    Ok(PfView {
        uplink_up: info.uplink_up,
        vfs,
    })
}

fn link_state_name(s: LinkState) -> &'static str {
    match s {
        LinkState::Auto => "auto",
        LinkState::Enable => "enable",
        LinkState::Disable => "disable",
    }
}

fn is_dot1ad(info: &VfInfo) -> bool {
    info.vlan_proto == VlanProto::Dot1AD.ethertype()
}

/// iproute2's `print_num` without `-h`: the number left-aligned in
/// `width`, then a space.
fn num(out: &mut String, width: usize, n: u64) {
    let _ = write!(out, "{n:<width$} ");
}

/// `ip [-s [-s]] link show pf0`, as iproute2 lays it out. With two `-s`,
/// each VF's drops by reason follow (this firmware's own line).
pub fn show_text(view: &PfView, stats: u8) -> String {
    let mut out = String::new();
    let state = if view.uplink_up { "UP" } else { "DOWN" };
    let flags = if view.uplink_up {
        "BROADCAST,MULTICAST,UP,LOWER_UP"
    } else {
        "BROADCAST,MULTICAST,UP"
    };
    let _ = writeln!(out, "1: {PF_NAME}: <{flags}> state {state}");
    for row in &view.vfs {
        let i = &row.info;
        let _ = write!(
            out,
            "    vf {}     link/ether {} brd ff:ff:ff:ff:ff:ff",
            i.vf, i.mac
        );
        if i.vlan != 0 {
            let _ = write!(out, ", vlan {}", i.vlan);
        }
        if i.qos != 0 {
            let _ = write!(out, ", qos {}", i.qos);
        }
        if i.vlan != 0 && is_dot1ad(i) {
            let _ = write!(out, ", vlan protocol 802.1ad");
        }
        if i.max_tx_rate != 0 {
            let _ = write!(out, ", tx rate {} (Mbps)", i.max_tx_rate);
            let _ = write!(out, ", max_tx_rate {}Mbps", i.max_tx_rate);
        }
        if i.min_tx_rate != 0 {
            let _ = write!(out, ", min_tx_rate {}Mbps", i.min_tx_rate);
        }
        let on = |b: bool| if b { "on" } else { "off" };
        let _ = write!(
            out,
            ", spoof checking {}, link-state {}, trust {}, query_rss {}",
            on(i.spoof_check),
            link_state_name(i.link_state),
            on(i.trust),
            on(i.query_rss)
        );
        if stats > 0 {
            let s = &row.stats;
            out.push_str("\n    RX: bytes  packets  mcast   bcast   dropped \n    ");
            num(&mut out, 10, s.rx_bytes);
            num(&mut out, 8, s.rx_packets);
            num(&mut out, 7, s.rx_multicast);
            num(&mut out, 7, s.rx_broadcast);
            num(&mut out, 8, s.rx_dropped);
            out.push_str("\n    TX: bytes  packets   dropped \n    ");
            num(&mut out, 10, s.tx_bytes);
            num(&mut out, 8, s.tx_packets);
            num(&mut out, 8, s.tx_dropped);
            if stats > 1 && !row.drops.is_empty() {
                let named: Vec<String> =
                    row.drops.iter().map(|(n, c)| format!("{n} {c}")).collect();
                let _ = write!(out, "\n    drops: {}", named.join(", "));
            }
        }
        out.push('\n');
    }
    out
}

/// `ip -j [-s] link show pf0`: the objects and keys iproute2's JSON has
/// (`vfinfo_list`, `vlan_list`, `rate`, `stats` with `rx`/`tx`), and
/// `drops` by reason with two `-s`.
pub fn show_json(view: &PfView, stats: u8) -> Value {
    let vfs: Vec<Value> = view
        .vfs
        .iter()
        .map(|row| {
            let i = &row.info;
            let mut vlan = serde_json::Map::new();
            if i.vlan != 0 {
                vlan.insert("vlan".into(), json!(i.vlan));
            }
            if i.qos != 0 {
                vlan.insert("qos".into(), json!(i.qos));
            }
            if i.vlan != 0 && is_dot1ad(i) {
                vlan.insert("protocol".into(), json!("802.1ad"));
            }
            let mut vf = json!({
                "vf": i.vf,
                "link_type": "ether",
                "address": i.mac.to_string(),
                "broadcast": "ff:ff:ff:ff:ff:ff",
                "vlan_list": [vlan],
                "rate": { "max_tx": i.max_tx_rate, "min_tx": i.min_tx_rate },
                "spoofchk": i.spoof_check,
                "link_state": link_state_name(i.link_state),
                "trust": i.trust,
                "query_rss_en": i.query_rss,
            });
            if i.max_tx_rate != 0 {
                vf["tx_rate"] = json!(i.max_tx_rate);
            }
            if stats > 0 {
                let s = &row.stats;
                vf["stats"] = json!({
                    "rx": { "bytes": s.rx_bytes, "packets": s.rx_packets,
                            "multicast": s.rx_multicast, "broadcast": s.rx_broadcast,
                            "dropped": s.rx_dropped },
                    "tx": { "tx_bytes": s.tx_bytes, "tx_packets": s.tx_packets,
                            "dropped": s.tx_dropped },
                });
            }
            if stats > 1 {
                vf["drops"] = row
                    .drops
                    .iter()
                    .map(|(n, c)| ((*n).to_owned(), json!(c)))
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
            vf
        })
        .collect();
    let mut flags = vec!["BROADCAST", "MULTICAST", "UP"];
    if view.uplink_up {
        flags.push("LOWER_UP");
    }
    json!([{
        "ifindex": 1,
        "ifname": PF_NAME,
        "flags": flags,
        "operstate": if view.uplink_up { "UP" } else { "DOWN" },
        "link_type": "ether",
        "vfinfo_list": vfs,
    }])
}

/// Carries out a parsed command; the text `ip` would print.
pub fn run(pf: &mut PfDriver, t: &mut impl Transport, cmd: &IpCommand) -> Result<String, String> {
    match cmd {
        IpCommand::Set { vf, settings } => apply(pf, t, *vf, settings)
            .map(|_| String::new())
            .map_err(|e| format!("vf {vf}: {e}")),
        IpCommand::Show {
            stats,
            json,
            pretty,
        } => {
            let view = read(pf, t).map_err(|e| e.to_string())?;
            Ok(match (json, pretty) {
                (false, _) => show_text(&view, *stats),
                (true, false) => format!("{}\n", show_json(&view, *stats)),
                (true, true) => format!(
                    "{}\n",
                    serde_json::to_string_pretty(&show_json(&view, *stats)).unwrap_or_default()
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<&str> {
        s.split_whitespace().collect()
    }

    #[test]
    fn the_issues_example_parses_in_full() {
        let cmd = parse(&words(
            "link set vf 3 mac 02:11:22:33:44:55 vlan 100 qos 3 proto 802.1ad spoofchk on \
             trust off state disable max_tx_rate 500 min_tx_rate 100",
        ))
        .unwrap();
        assert_eq!(
            cmd,
            IpCommand::Set {
                vf: 3,
                settings: VfSettings {
                    mac: Some(Mac([0x02, 0x11, 0x22, 0x33, 0x44, 0x55])),
                    vlan: Some((100, 3, VlanProto::Dot1AD)),
                    max_tx_rate: Some(500),
                    min_tx_rate: Some(100),
                    spoofchk: Some(true),
                    state: Some(LinkState::Disable),
                    query_rss: None,
                    trust: Some(false),
                }
            }
        );
        // The device may be named, as `ip link set dev pf0 vf ...`.
        assert!(matches!(
            parse(&words("link set dev pf0 vf 0 trust on")),
            Ok(IpCommand::Set { vf: 0, .. })
        ));
        assert!(matches!(
            parse(&words("link set pf0 vf 1 rate 10")),
            Ok(IpCommand::Set { vf: 1, settings }) if settings.max_tx_rate == Some(10)
        ));
    }

    #[test]
    fn options_go_with_show() {
        assert_eq!(
            parse(&words("-s -s -j -p link show")).unwrap(),
            IpCommand::Show {
                stats: 2,
                json: true,
                pretty: true
            }
        );
        assert_eq!(
            parse(&words("link show dev pf0")).unwrap(),
            IpCommand::Show {
                stats: 0,
                json: false,
                pretty: false
            }
        );
        assert!(parse(&words("-s link set vf 0 trust on")).is_err());
    }

    #[test]
    fn bad_words_are_refused_by_name() {
        let err = |s: &str| parse(&words(s)).unwrap_err();
        assert!(err("link set vf 0 spoofchk maybe").contains("\"maybe\""));
        assert!(err("link set vf 0 vlan 4096").contains("4095"));
        assert!(err("link set vf 0 vlan 10 qos 8").contains("0..=7"));
        assert!(err("link set vf 0 vlan 10 proto 802.1x").contains("802.1ad"));
        assert!(err("link set vf 0 colour blue").contains("\"colour\""));
        assert!(err("link set vf 0").contains("without a setting"));
        assert!(err("link set vf x trust on").contains("\"x\""));
        assert!(err("link set vf 0 rate 1 max_tx_rate 2").contains("give one"));
        assert!(err("link set vf 0 trust on vf 1 trust on").contains("one VF"));
        assert!(err("link set eth0 vf 0 trust on").contains("eth0"));
        assert!(err("link set vf 0 mac 02:00:00:00:00").contains("six hex bytes"));
        assert!(err("link set vf 0 mac 02:00:00:00:00:zz").contains("\"zz\""));
        assert!(err("-x link show").contains("-x"));
        assert!(err("addr show").contains("addr"));
        assert!(err("link show eth3").contains("pf0"));
    }

    fn row(vf: u16, vlan: u16, qos: u8, proto: u16, max: u32, min: u32) -> VfRow {
        VfRow {
            info: VfInfo {
                vf,
                mac: Mac([0x02, 0, 0, 0, 1, vf as u8]),
                mac_administered: true,
                vlan,
                qos,
                vlan_proto: proto,
                min_tx_rate: min,
                max_tx_rate: max,
                spoof_check: true,
                trust: false,
                query_rss: false,
                link_state: LinkState::Auto,
                link_up: true,
                lifecycle: 3,
                api: 0,
                xcast: 0,
                max_frame: 1518,
                vlans: 0,
                mc_hashes: 0,
                macvlans: 0,
                mbx_requests: 0,
                mbx_nacks: 0,
                mbx_malformed: 0,
                mbx_violations: 0,
                mbx_before_cts: 0,
                resets: 0,
                xcast_downgrades: 0,
                mbx_rate_limited: 0,
            },
            stats: VfStats {
                rx_bytes: 208,
                rx_packets: 3,
                rx_multicast: 0,
                rx_broadcast: 2,
                rx_dropped: 0,
                tx_bytes: 120,
                tx_packets: 2,
                tx_dropped: 1,
            },
            drops: vec![("spoof-mac", 1)],
        }
    }

    #[test]
    fn show_lays_out_as_iproute2() {
        let view = PfView {
            uplink_up: true,
            vfs: vec![row(0, 0, 0, 0x8100, 0, 0), row(1, 100, 3, 0x88a8, 500, 100)],
        };
        let text = show_text(&view, 1);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "1: pf0: <BROADCAST,MULTICAST,UP,LOWER_UP> state UP"
        );
        assert_eq!(
            lines[1],
            "    vf 0     link/ether 02:00:00:00:01:00 brd ff:ff:ff:ff:ff:ff, spoof checking on, link-state auto, trust off, query_rss off"
        );
        assert_eq!(lines[2], "    RX: bytes  packets  mcast   bcast   dropped ");
        assert_eq!(
            lines[3],
            "    208        3        0       2       0        "
        );
        assert_eq!(lines[4], "    TX: bytes  packets   dropped ");
        assert_eq!(lines[5], "    120        2        1        ");
        assert_eq!(
            lines[6],
            "    vf 1     link/ether 02:00:00:00:01:01 brd ff:ff:ff:ff:ff:ff, vlan 100, qos 3, vlan protocol 802.1ad, tx rate 500 (Mbps), max_tx_rate 500Mbps, min_tx_rate 100Mbps, spoof checking on, link-state auto, trust off, query_rss off"
        );
        // Without -s: one line per VF; with -s -s: the drops too.
        assert_eq!(show_text(&view, 0).lines().count(), 3);
        assert!(show_text(&view, 2).contains("\n    drops: spoof-mac 1\n"));
    }

    #[test]
    fn json_has_iproute2s_keys() {
        let view = PfView {
            uplink_up: false,
            vfs: vec![row(1, 100, 3, 0x88a8, 500, 100)],
        };
        let v = show_json(&view, 1);
        assert_eq!(v[0]["ifname"], "pf0");
        assert_eq!(v[0]["operstate"], "DOWN");
        let vf = &v[0]["vfinfo_list"][0];
        assert_eq!(vf["address"], "02:00:00:00:01:01");
        assert_eq!(vf["vlan_list"][0]["vlan"], 100);
        assert_eq!(vf["vlan_list"][0]["protocol"], "802.1ad");
        assert_eq!(vf["rate"]["max_tx"], 500);
        assert_eq!(vf["rate"]["min_tx"], 100);
        assert_eq!(vf["spoofchk"], true);
        assert_eq!(vf["link_state"], "auto");
        assert_eq!(vf["stats"]["rx"]["broadcast"], 2);
        assert_eq!(vf["stats"]["tx"]["tx_packets"], 2);
        assert!(vf.get("drops").is_none());
        assert_eq!(
            show_json(&view, 2)[0]["vfinfo_list"][0]["drops"]["spoof-mac"],
            1
        );
    }
}
