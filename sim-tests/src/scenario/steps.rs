//! Running a scenario's steps: the [`Runner`] that carries the drivers
//! between steps, and what each step that acts (rather than looks) does.

use super::Harness;
use super::args::{BridgeModeArg, LinkStateArg, PfCommand, VfCall, VfOp, VlanProtoArg, XcastArg};
use super::expect::matches;
use super::format::{FrameArgs, Scenario, Step, action_name, parse_api, parse_mac, unhex};
use super::qemu::REAL_TIME_RESET_TRIES;
use super::report::{
    StepReport, hex_words, pf_error_name, toml_map_to_json, vf_error_name, xcast_name,
};
use crate::drivers::pf::{PfDriver, PfError};
use crate::drivers::vf::{LinkCheck, VfDriver, VfError};
use anyhow::{Context as _, Result, bail};
use firmware::admin::BridgeMode;
use firmware::mac::Mac;
use firmware::vf::{LinkState, VlanProto};
use hal::ixgbe::XcastMode;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// What a step did: its action's name, what was expected, what happened.
pub(super) type Outcome = (String, Value, Value);

/// Runs the scenario's steps in order, calling `report` after each.
pub struct Runner<'h, H: Harness> {
    pub(super) h: &'h mut H,
    pub(super) pf: PfDriver,
    pub(super) vfs: BTreeMap<u16, VfDriver>,
    /// Queues by function: None = PF.
    pub(super) rings: BTreeMap<Option<u16>, crate::drivers::queues::Rings>,
    pub(super) pf_mac: Option<Mac>,
    pub(super) wire: Vec<Vec<u8>>,
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

    fn execute(&mut self, step: &Step) -> Result<Outcome> {
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
            Step::ExpectWireCount { min, max } => self.expect_wire_count(name, *min, *max),
            Step::ExpectVf { vf, fields } => self.expect_vf(name, *vf, fields),
            Step::ExpectEvents { events } => self.expect_events(name, events),
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
            Step::ExpectRx { vf, frames } => self.expect_rx(name, *vf, frames)?,
            Step::ExpectWire { frames } => self.expect_wire(name, frames)?,
            Step::ExpectDrops {
                port,
                reason,
                count,
            } => self.expect_drops(name, port, reason, *count)?,
            Step::ExpectInterrupts { vf, vectors } => self.expect_interrupts(name, *vf, *vectors),
            Step::ExpectStats { vf, fields } => self.expect_stats(name, *vf, fields),
        })
    }

    pub(super) fn collect_wire(&mut self) {
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

    pub(super) fn build(&mut self, a: &FrameArgs) -> Result<Vec<u8>> {
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
            PfCommand::IpLinkSet { set } => done(crate::drivers::iplink::apply(
                pf,
                h,
                vf,
                &super::args::ip_link_settings(&set)?,
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
