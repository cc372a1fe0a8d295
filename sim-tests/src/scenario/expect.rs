//! The expectations: the `expect_*` steps (what each looks at), and the
//! rule that compares what was expected with what happened.

use super::Harness;
use super::format::{DescVlan, EventPattern, FrameArgs, RxExpect};
use super::qemu::wait_for_late;
use super::report::{hex, pf_error_name, toml_map_to_json, vf_info_json};
use super::steps::{Outcome, Runner};
use anyhow::{Context as _, Result};
use serde_json::{Value, json};
use std::collections::BTreeMap;

impl<H: Harness> Runner<'_, H> {
    pub(super) fn expect_wire_count(&mut self, name: String, min: usize, max: usize) -> Outcome {
        self.collect_wire();
        let n = std::mem::take(&mut self.wire).len();
        let in_range = (min..=max).contains(&n);
        (
            name,
            json!({ "in_range": true, "min": min, "max": max }),
            json!({ "in_range": in_range, "min": min, "max": max, "count": n }),
        )
    }

    pub(super) fn expect_vf(
        &mut self,
        name: String,
        vf: u16,
        fields: &BTreeMap<String, toml::Value>,
    ) -> Outcome {
        let actual = match self.pf.vf_info(self.h, vf) {
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

    pub(super) fn expect_events(&mut self, name: String, events: &[EventPattern]) -> Outcome {
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

    pub(super) fn expect_rx(
        &mut self,
        name: String,
        vf: Option<u16>,
        frames: &[RxExpect],
    ) -> Result<Outcome> {
        let rings = self
            .rings
            .get_mut(&vf)
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
        Ok((
            name,
            json!({ "count": expected.len(), "frames": expected }),
            json!({ "count": if count_ok { expected.len() } else { actual.len() }, "frames": actual }),
        ))
    }

    pub(super) fn expect_wire(&mut self, name: String, frames: &[FrameArgs]) -> Result<Outcome> {
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
        Ok((
            name,
            json!({ "frames": expected, "count": expected.len() }),
            json!({ "frames": actual, "count": actual.len() }),
        ))
    }

    pub(super) fn expect_drops(
        &mut self,
        name: String,
        port: &str,
        reason: &str,
        count: u32,
    ) -> Result<Outcome> {
        let port_id = match port {
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
                .is_none_or(|c| c >= u64::from(count))
        });
        Ok((name, json!({ "count": count }), actual))
    }

    pub(super) fn expect_interrupts(&mut self, name: String, vf: u16, vectors: u32) -> Outcome {
        let rid = self.pf.vf_rid(self.h, vf);
        let mut fired = 0;
        // Under QEMU the firmware's part may come a little later.
        wait_for_late(self.h, |h| {
            fired |= h.take_interrupts(rid);
            fired & vectors == vectors
        });
        (
            name,
            json!({ "vectors": vectors }),
            json!({ "vectors": fired }),
        )
    }

    pub(super) fn expect_stats(
        &mut self,
        name: String,
        vf: u16,
        fields: &BTreeMap<String, toml::Value>,
    ) -> Outcome {
        let actual = match self.pf.vf_stats(self.h, vf) {
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
}
