//! The soak's traffic: frames of every kind from the wire and from the
//! VFs, what the reference says becomes of each, and matching what
//! arrives against it.

use super::{GROUPS, PEER, PF_MAC, Pending, Soak, SoakTarget, VIDS};
use crate::frames::FrameSpec;
use crate::reference::{Port, Reference, Verdict, VfView};
use firmware::drops::DropReason;
use firmware::mac::Mac;

/// A delivered frame is recognised by its last bytes: this, then the
/// frame's sequence number.
const MARKER: &[u8; 4] = b"SOAK";
const MARKER_LEN: usize = MARKER.len() + 8;

/// How long a real-time harness waits, in all, for the frames a step is
/// still due, and in polls of how long.
const REAL_TIME_SETTLE_POLLS: u32 = 400;
const REAL_TIME_POLL_US: u64 = 1_000;
/// Polls with nothing new before a real-time harness gives a missing
/// frame up (it was dropped; the counters must say so).
const REAL_TIME_QUIET_POLLS: u32 = 100;
/// In-process, rate-limited frames are paced out within this (in polls of
/// [`PACE_POLL_US`]); frames are otherwise there at once.
const PACE_POLLS: u32 = 10_000;
const PACE_POLL_US: u64 = 100;

/// Who sends a frame.
#[derive(Clone, Copy, Debug)]
enum From {
    Wire,
    Vf(usize),
}

/// A frame the firmware must refuse, and the reason it counts.
#[derive(Clone, Copy, Debug)]
enum Malformed {
    Runt,
    BrokenTag,
    ThreeTags,
    Oversize,
}

impl Malformed {
    fn reason(self) -> DropReason {
        match self {
            Malformed::Runt => DropReason::Runt,
            Malformed::BrokenTag | Malformed::ThreeTags => DropReason::BadVlanHeader,
            Malformed::Oversize => DropReason::Oversize,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Malformed::Runt => "runt",
            Malformed::BrokenTag => "broken-tag",
            Malformed::ThreeTags => "three-tags",
            Malformed::Oversize => "oversize",
        }
    }
}

/// The sequence number in a frame's marker.
fn marker(frame: &[u8]) -> Option<u64> {
    let at = frame.len().checked_sub(MARKER_LEN)?;
    let tail = &frame[at..];
    (&tail[..4] == MARKER).then(|| u64::from_be_bytes(tail[4..].try_into().expect("8 bytes")))
}

fn put_marker(frame: &mut [u8], seq: u64) {
    if frame.len() >= 14 + MARKER_LEN {
        let at = frame.len() - MARKER_LEN;
        frame[at..at + 4].copy_from_slice(MARKER);
        frame[at + 4..].copy_from_slice(&seq.to_be_bytes());
    }
}

fn hex_prefix(b: &[u8]) -> String {
    let shown: String = b.iter().take(24).map(|x| format!("{x:02x}")).collect();
    format!(
        "{shown}{} ({} bytes)",
        if b.len() > 24 { ".." } else { "" },
        b.len()
    )
}

impl<H: SoakTarget> Soak<'_, H> {
    /// The reference's view of the VFs: what their drivers were granted,
    /// and what the PF administers now (the data path applies it at once).
    pub(super) fn views(&self) -> Vec<VfView> {
        self.vfs[..self.enabled]
            .iter()
            .map(|v| {
                let a = v
                    .admin
                    .as_ref()
                    .expect("an enabled VF's settings are known");
                VfView {
                    spoofchk: a.spoofchk,
                    port_vlan: a.port_vlan,
                    link: a.link,
                    trusted: a.trust,
                    ..v.view.clone()
                }
            })
            .collect()
    }

    /// A burst of one to four frames, each from the wire or a VF.
    pub(super) fn traffic(&mut self) -> Result<(), String> {
        let n = self.rng.range(1, 4);
        let mut what = Vec::new();
        for _ in 0..n {
            what.push(self.one_frame()?);
        }
        self.action = format!("traffic: {}", what.join("; "));
        Ok(())
    }

    fn one_frame(&mut self) -> Result<String, String> {
        // A link that is down carries nothing in (QEMU's virtio-net drops
        // what comes; the memory uplink would still hand it over).
        let from = if self.enabled == 0 || (self.uplink_up && self.rng.chance(40)) {
            From::Wire
        } else {
            From::Vf(self.rng.below(self.enabled as u64) as usize)
        };
        let (frame, vid, malformed, what) = if self.rng.chance(8) {
            let mut m = self.rng.pick(&[
                Malformed::Runt,
                Malformed::BrokenTag,
                Malformed::ThreeTags,
                Malformed::Oversize,
            ]);
            // QEMU's virtio-net drops a frame longer than the buffers the
            // firmware posts (9736 bytes, its largest): the port itself
            // does not carry it, so the firmware never sees it.
            if matches!((m, from), (Malformed::Oversize, From::Wire)) && self.h.real_time() {
                m = Malformed::ThreeTags;
            }
            (self.malformed(m, from), None, Some(m), m.name().to_string())
        } else {
            let (spec, what) = self.valid_frame(from);
            let vid = spec.tags.first().map(|(_, tci)| tci & 0x0fff);
            (spec.build(), vid, None, what)
        };
        let what = self.offer(from, frame, vid, malformed, what)?;
        // In real time a wire frame nobody gets gives nothing to wait
        // for: a frame for the PF behind it does (the firmware takes the
        // wire in order), so no check reads counters it is changing.
        if matches!(from, From::Wire) && self.h.real_time() {
            let fence = FrameSpec::new(PF_MAC, PEER).build();
            self.offer(From::Wire, fence, None, None, "pf (fence)".into())?;
        }
        Ok(what)
    }

    /// Sends one frame, with what the reference says becomes of it.
    fn offer(
        &mut self,
        from: From,
        mut frame: Vec<u8>,
        vid: Option<u16>,
        malformed: Option<Malformed>,
        what: String,
    ) -> Result<String, String> {
        self.seq += 1;
        let seq = self.seq;
        put_marker(&mut frame, seq);
        let kind = match malformed {
            Some(_) => "malformed",
            None if frame.len() > 1518 => "jumbo",
            None if vid.is_some() => "tagged",
            None => "plain",
        };
        *self.report.kinds.entry(kind).or_default() += 1;
        let verdict = match malformed {
            Some(_) => Verdict::default(),
            None => {
                let views = self.views();
                let r = Reference {
                    vfs: &views,
                    pf_mac: PF_MAC,
                    uplink_up: self.uplink_up,
                    veb: self.veb,
                };
                r.verdict(
                    match from {
                        From::Wire => None,
                        From::Vf(i) => Some(i),
                    },
                    vid,
                    &frame,
                )
            }
        };
        let who = match from {
            From::Wire => "wire".to_string(),
            From::Vf(i) => format!("vf{i}"),
        };
        let what = format!("#{seq} {who} -> {what}, {} bytes", frame.len());
        if verdict.uplink_down {
            self.uplink_predicted[DropReason::UplinkDown as usize] += 1;
        }
        match from {
            From::Wire => {
                if let Some(m) = malformed {
                    self.uplink_predicted[m.reason() as usize] += 1;
                }
                self.h.inject(&frame);
                self.counted.injected += 1;
            }
            From::Vf(i) => {
                let v = &mut self.vfs[i];
                if let Some(r) = malformed.map(|m| m.reason()).or(verdict.sender_drop) {
                    v.predicted[r as usize] += 1;
                }
                let q = self.rng.below(u64::from(super::QUEUES)) as usize;
                let rings = v.rings.as_mut().expect("an enabled VF has rings");
                if !rings.send(self.h, q, &frame, None) {
                    return Err(format!("{what}: VF {i}'s Tx ring is full"));
                }
                v.sent += 1;
            }
        }
        self.report.frames += 1;
        self.outstanding.insert(
            seq,
            Pending {
                what: what.clone(),
                expect: verdict.deliveries,
                sender_drop: verdict.sender_drop,
            },
        );
        Ok(what)
    }

    /// A frame the reference models: any destination, tags or not, small
    /// or jumbo, sometimes with a forged source.
    fn valid_frame(&mut self, from: From) -> (FrameSpec, String) {
        let vf_mac = |s: &Self, i: usize| s.vfs[i].view.mac;
        // A VF never sends to itself (that is `no-destination`, which the
        // reference does not model).
        let others: Vec<usize> = (0..self.enabled)
            .filter(|i| !matches!(from, From::Vf(s) if s == *i))
            .collect();
        let (dst, dst_name) = match self.rng.weighted(&[35, 10, 10, 20, 25]) {
            0 if !others.is_empty() => {
                let i = self.rng.pick(&others);
                (vf_mac(self, i), format!("vf{i}"))
            }
            1 => (PF_MAC, "pf".into()),
            3 => (Mac::BROADCAST, "broadcast".into()),
            4 => {
                let g = self.rng.below(GROUPS.len() as u64) as usize;
                (GROUPS[g], format!("group{g}"))
            }
            _ => (
                Mac([0x02, 0xee, 0, 0, 1, self.rng.below(4) as u8]),
                "stranger".into(),
            ),
        };
        let (src, forged) = match from {
            From::Wire => (PEER, false),
            From::Vf(_) if self.rng.chance(10) => {
                let forged = if !others.is_empty() && self.rng.chance(50) {
                    let o = self.rng.pick(&others);
                    vf_mac(self, o)
                } else {
                    Mac([0x02, 0x66, 0, 0, 0, self.rng.below(250) as u8])
                };
                (forged, true)
            }
            From::Vf(s) => (vf_mac(self, s), false),
        };
        let payload = if self.rng.chance(12) {
            self.rng.range(1480, 9000)
        } else {
            self.rng.range(46, 300)
        };
        let mut spec = FrameSpec::new(dst, src).payload(payload);
        if self.rng.chance(50) {
            let b = self.rng.below(250) as u8;
            spec = spec.udp(
                [10, 0, 0, b],
                [10, 0, 1, b ^ 0x55],
                1024 + self.rng.below(4000) as u16,
                self.rng.pick(&[53, 80, 443, 4789]),
            );
        }
        let mut tag = String::new();
        if self.rng.chance(40) {
            // Mostly the VLANs in use; sometimes a priority tag or a VLAN
            // nobody filters.
            let vid = match self.rng.weighted(&[70, 15, 15]) {
                0 => self.rng.pick(&VIDS),
                1 => 0,
                _ => 100,
            };
            let pcp = self.rng.below(8) as u16;
            spec = spec.vlan(0x8100, pcp << 13 | vid);
            tag = format!(" vlan {vid}");
        }
        let what = format!(
            "{dst_name}{tag}{}",
            if forged { " (forged source)" } else { "" }
        );
        (spec, what)
    }

    fn malformed(&mut self, m: Malformed, from: From) -> Vec<u8> {
        let src = match from {
            From::Wire => PEER,
            From::Vf(i) => self.vfs[i].view.mac,
        };
        let mut head = Mac::BROADCAST.0.to_vec();
        head.extend_from_slice(&src.0);
        match m {
            Malformed::Runt => {
                let n = self.rng.range(1, 13);
                head.truncate(n);
                head
            }
            Malformed::BrokenTag => {
                // A tag without the type after it.
                head.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
                head.truncate(self.rng.range(14, 17));
                head
            }
            Malformed::ThreeTags => {
                let mut spec = FrameSpec::new(Mac::BROADCAST, src);
                for vid in VIDS {
                    spec = spec.vlan(0x8100, vid);
                }
                spec.build()
            }
            Malformed::Oversize => FrameSpec::new(Mac::BROADCAST, src)
                .payload(self.rng.range(9740, 9800))
                .build(),
        }
    }

    /// Waits for what the step's frames are due to bring, and for every
    /// VF's Tx rings to drain; then what did not come is missing.
    pub(super) fn settle(&mut self) -> Result<(), String> {
        let real_time = self.h.real_time();
        let mut quiet = 0;
        let mut polls = 0;
        loop {
            let got = self.collect()?;
            let drained = self.tx_drained();
            let due: usize = self
                .outstanding
                .values()
                .map(|p| p.expect.values().map(Vec::len).sum::<usize>())
                .sum();
            quiet = if got == 0 { quiet + 1 } else { 0 };
            if drained && (due == 0 || !real_time || quiet >= REAL_TIME_QUIET_POLLS) {
                break;
            }
            polls += 1;
            let (limit, wait) = if real_time {
                (REAL_TIME_SETTLE_POLLS, REAL_TIME_POLL_US)
            } else {
                (PACE_POLLS, PACE_POLL_US)
            };
            if polls > limit {
                let stuck: Vec<String> = (0..self.enabled)
                    .filter(|i| {
                        let v = &mut self.vfs[*i];
                        !v.rings.as_mut().is_some_and(|r| r.tx_drained(self.h))
                    })
                    .map(|i| format!("vf{i}"))
                    .collect();
                return Err(format!(
                    "after {} ms, still waiting for {due} deliveries; Tx rings not drained: {}",
                    u64::from(polls) * wait / 1000,
                    if stuck.is_empty() {
                        "none".into()
                    } else {
                        stuck.join(", ")
                    }
                ));
            }
            self.h.delay_us(wait);
        }
        // What is still due was not delivered.
        for (_, p) in std::mem::take(&mut self.outstanding) {
            for (port, frames) in p.expect {
                if !frames.is_empty() {
                    *self.missing.entry(port).or_default() += frames.len() as u64;
                }
            }
        }
        Ok(())
    }

    fn tx_drained(&mut self) -> bool {
        let h = &mut *self.h;
        self.vfs[..self.enabled]
            .iter_mut()
            .all(|v| v.rings.as_mut().is_none_or(|r| r.tx_drained(h)))
    }

    /// Takes what every port got; checks each against what is due.
    fn collect(&mut self) -> Result<usize, String> {
        let mut n = 0;
        for f in self.h.take_wire() {
            self.counted.wire_seen += 1;
            self.arrived(Port::Wire, f)?;
            n += 1;
        }
        for r in self.pf_rings.receive(self.h) {
            self.counted.pf_received += 1;
            self.arrived(Port::Pf, r.data)?;
            n += 1;
        }
        for i in 0..self.enabled {
            let v = &mut self.vfs[i];
            let got = match v.rings.as_mut() {
                Some(r) => r.receive(self.h),
                None => Vec::new(),
            };
            v.received += got.len() as u64;
            for r in got {
                self.arrived(Port::Vf(i), r.data)?;
                n += 1;
            }
        }
        Ok(n)
    }

    fn arrived(&mut self, port: Port, data: Vec<u8>) -> Result<(), String> {
        let Some(seq) = marker(&data) else {
            return Err(format!(
                "{port} got a frame the soak did not send whole: {}",
                hex_prefix(&data)
            ));
        };
        let Some(p) = self.outstanding.get_mut(&seq) else {
            return Err(format!(
                "{port} got frame #{seq} after its step was over (late, or a second copy): {}",
                hex_prefix(&data)
            ));
        };
        let due = p.expect.get_mut(&port);
        match due.as_ref().and_then(|d| d.iter().position(|f| *f == data)) {
            Some(k) => {
                due.expect("found in it").remove(k);
                self.report.delivered += 1;
                Ok(())
            }
            None => {
                let expected = match due {
                    Some(d) if !d.is_empty() => format!(
                        "the reference gives it {}",
                        d.iter()
                            .map(|f| hex_prefix(f))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    _ => match p.sender_drop {
                        Some(r) => format!("the reference says its sender drops it ({})", r.name()),
                        None => "the reference says it must not get this frame".into(),
                    },
                };
                let everyone: Vec<String> = p
                    .expect
                    .iter()
                    .filter(|(_, f)| !f.is_empty())
                    .map(|(port, _)| port.to_string())
                    .collect();
                Err(format!(
                    "{port} got frame {} as {}; {expected} (still due at: {})",
                    p.what,
                    hex_prefix(&data),
                    if everyone.is_empty() {
                        "nobody".into()
                    } else {
                        everyone.join(", ")
                    }
                ))
            }
        }
    }
}
