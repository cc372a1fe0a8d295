//! Real Linux traffic through the firmware under QEMU. VF 0 is presented to
//! Linux as a TAP in its own network namespace (this process moves frames
//! between that TAP and the VF's rings, as a VF netdev driver would), and
//! the kernel's own ARP and ping cross the firmware's switch:
//!
//! 1. untagged: the uplink is a TAP in a second namespace (QEMU's tap
//!    netdev), the kernel on both ends;
//! 2. port VLAN 100: the uplink side's VLAN sub-interface is played by this
//!    process between the wire (QEMU's UDP netdev) and an untagged TAP in
//!    the uplink namespace, because the kernels we run on lack 802.1Q; it
//!    checks that every frame from the VF reaches the wire tagged 100.

use crate::image::BuiltImage;
use crate::workspace_root;
use anyhow::{Context, Result, bail};
use firmware::vf::VlanProto;
use sim_tests::cosim::{CoSim, CoSimOptions, Wire};
use sim_tests::drivers::pf::{PfDriver, PfError};
use sim_tests::drivers::queues::Rings;
use sim_tests::drivers::vf::VfDriver;
use sim_tests::tap::Tap;
use sim_tests::transport::Transport;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NS_UP: &str = "sriovfw-up";
const NS_VF: &str = "sriovfw-vf";
const TAP_UP: &str = "sriovfw-up0";
const TAP_VF: &str = "sriovfw-vf0";
const TAP_UP_VLAN: &str = "sriovfw-up1";
const VID: u16 = 100;

/// Whether this process may create namespaces and TAPs.
pub fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root && std::path::Path::new("/dev/net/tun").exists()
}

pub(crate) fn ip(args: &[&str]) -> Result<()> {
    crate::setup::stdout_of(Command::new("ip").args(args))?;
    Ok(())
}

fn in_ns(ns: &str, args: &[&str]) -> Result<()> {
    let mut all = vec!["netns", "exec", ns, "ip"];
    all.extend_from_slice(args);
    ip(&all)
}

fn cleanup() {
    for ns in [NS_UP, NS_VF] {
        let _ = Command::new("ip")
            .args(["netns", "del", ns])
            .stderr(Stdio::null())
            .status();
    }
    for dev in [TAP_UP, TAP_VF, TAP_UP_VLAN] {
        let _ = Command::new("ip")
            .args(["link", "del", dev])
            .stderr(Stdio::null())
            .status();
    }
}

fn pf_err(e: PfError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// The uplink side of a VLAN sub-interface, played by this process.
struct VlanTermination {
    tap: Tap,
    tagged: usize,
    untagged: usize,
}

/// The VID of an 802.1Q-tagged frame; `None` for an untagged or short one.
fn tagged_vid(f: &[u8]) -> Option<u16> {
    match f {
        [_, _, _, _, _, _, _, _, _, _, _, _, 0x81, 0x00, hi, lo, ..] => {
            Some(u16::from(hi & 0x0f) << 8 | u16::from(*lo))
        }
        _ => None,
    }
}

impl VlanTermination {
    fn pump(&mut self, dev: &mut CoSim) {
        let mut buf = vec![0u8; 9800];
        while let Some(n) = self.tap.recv(&mut buf) {
            let f = &buf[..n];
            let mut tagged = f[..12].to_vec();
            tagged.extend_from_slice(&[0x81, 0x00, (VID >> 8) as u8, VID as u8]);
            tagged.extend_from_slice(&f[12..]);
            dev.inject(&tagged);
        }
        for f in dev.take_wire() {
            if tagged_vid(&f) == Some(VID) && f.len() > 18 {
                self.tagged += 1;
                let mut plain = f[..12].to_vec();
                plain.extend_from_slice(&f[16..]);
                self.tap.send(&plain);
            } else {
                self.untagged += 1;
            }
        }
    }
}

/// Runs `ping` in the VF's namespace while moving frames between the VF's
/// TAP and its rings (and the emulated VLAN sub-interface, if any).
fn ping(
    dev: &mut CoSim,
    tap: &mut Tap,
    rings: &mut Rings,
    mut vlan: Option<&mut VlanTermination>,
    to: &str,
) -> Result<bool> {
    let mut child = Command::new("ip")
        .args([
            "netns", "exec", NS_VF, "ping", "-c", "3", "-i", "0.2", "-W", "2", to,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("running ping")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = vec![0u8; 9800];
    let status = loop {
        while let Some(n) = tap.recv(&mut buf) {
            rings.send(dev, 0, &buf[..n], None);
        }
        for f in rings.receive(dev) {
            tap.send(&f.data);
        }
        if let Some(v) = vlan.as_mut() {
            v.pump(dev);
        }
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("ping to {to} did not finish in 20 s");
        }
        dev.delay_us(200);
    };
    Ok(status.success())
}

fn start(built: &BuiltImage, wire: Wire) -> Result<CoSim> {
    CoSim::start(
        &built.board.config,
        &built.elf,
        &workspace_root(),
        CoSimOptions::quiet(wire),
    )
}

/// Ends a co-simulation; the firmware must have exited cleanly.
fn finish(dev: CoSim, result: Result<String>) -> Result<String> {
    if result.is_err() {
        dev.stop();
    }
    let outcome = dev.finish();
    let note = result?;
    let outcome = outcome?;
    if !sim_tests::cosim::clean_exit(&outcome) {
        bail!(
            "the firmware did not exit cleanly: {:?}\n{}",
            outcome.ending,
            outcome.log_text()
        );
    }
    Ok(note)
}

/// VF 0 up, with its queues.
fn vf0(dev: &mut CoSim, pf: &mut PfDriver) -> Result<(VfDriver, Rings, firmware::mac::Mac)> {
    let mut vf = VfDriver::new(pf.vf_rid(dev, 0));
    let mac = vf
        .bring_up_retrying(dev, crate::demo::REAL_TIME_RESET_TRIES)
        .map_err(|e| anyhow::anyhow!("VF bring-up: {e}"))?
        .mac;
    let queues = pf.info(dev).map_err(pf_err)?.queue_pairs_per_vf;
    let rings =
        Rings::setup(dev, vf.rid, 0, queues, 16, 2, false).map_err(|e| anyhow::anyhow!(e))?;
    Ok((vf, rings, mac))
}

pub fn ping_across_the_switch(built: &BuiltImage) -> Result<String> {
    cleanup();
    let result = both(built);
    cleanup();
    result
}

fn both(built: &BuiltImage) -> Result<String> {
    ip(&["tuntap", "add", "dev", TAP_UP, "mode", "tap"])?;
    let mut dev = start(built, Wire::Tap(TAP_UP.into()))?;
    let mut vf_tap = None;
    let r = untagged(&mut dev, &mut vf_tap);
    let first = finish(dev, r)?;
    let mut vf_tap = vf_tap.context("the VF's TAP was not created")?;
    let mut dev = start(built, Wire::Udp)?;
    let r = port_vlan(&mut dev, &mut vf_tap);
    let second = finish(dev, r)?;
    Ok(format!("{first}; {second}"))
}

fn untagged(dev: &mut CoSim, vf_tap: &mut Option<Tap>) -> Result<String> {
    let mut pf = PfDriver::probe(dev).map_err(pf_err)?;
    pf.sriov_configure(dev, 2).map_err(pf_err)?;
    let (_vf, mut rings, mac) = vf0(dev, &mut pf)?;
    let mut tap = Tap::open(TAP_VF)?;
    for ns in [NS_UP, NS_VF] {
        ip(&["netns", "add", ns])?;
    }
    ip(&["link", "set", TAP_UP, "netns", NS_UP])?;
    ip(&["link", "set", TAP_VF, "netns", NS_VF])?;
    in_ns(NS_UP, &["link", "set", TAP_UP, "up"])?;
    in_ns(NS_UP, &["addr", "add", "10.213.0.1/24", "dev", TAP_UP])?;
    in_ns(NS_VF, &["link", "set", TAP_VF, "address", &mac.to_string()])?;
    in_ns(NS_VF, &["link", "set", TAP_VF, "up"])?;
    in_ns(NS_VF, &["addr", "add", "10.213.0.2/24", "dev", TAP_VF])?;
    in_ns(NS_VF, &["addr", "add", "10.214.0.2/24", "dev", TAP_VF])?;
    let ok = ping(dev, &mut tap, &mut rings, None, "10.213.0.1")?;
    *vf_tap = Some(tap);
    if !ok {
        bail!("ping across the switch (untagged) failed");
    }
    let st = pf.vf_stats(dev, 0).map_err(pf_err)?;
    pf.shutdown(dev).map_err(pf_err)?;
    if st.rx_packets < 4 || st.tx_packets < 4 {
        bail!("VF 0 counters after ARP and 3 pings: {st:?}");
    }
    Ok(format!(
        "untagged: VF 0 rx {} tx {} packets",
        st.rx_packets, st.tx_packets
    ))
}

fn port_vlan(dev: &mut CoSim, tap: &mut Tap) -> Result<String> {
    let mut pf = PfDriver::probe(dev).map_err(pf_err)?;
    pf.sriov_configure(dev, 2).map_err(pf_err)?;
    pf.set_vf_vlan(dev, 0, VID, 0, VlanProto::Dot1Q)
        .map_err(pf_err)?;
    let (_vf, mut rings, _) = vf0(dev, &mut pf)?;
    let up = Tap::open(TAP_UP_VLAN)?;
    ip(&["link", "set", TAP_UP_VLAN, "netns", NS_UP])?;
    in_ns(NS_UP, &["link", "set", TAP_UP_VLAN, "up"])?;
    in_ns(NS_UP, &["addr", "add", "10.214.0.1/24", "dev", TAP_UP_VLAN])?;
    let mut vlan = VlanTermination {
        tap: up,
        tagged: 0,
        untagged: 0,
    };
    let ok = ping(dev, tap, &mut rings, Some(&mut vlan), "10.214.0.1")?;
    let st = pf.vf_stats(dev, 0).map_err(pf_err)?;
    pf.shutdown(dev).map_err(pf_err)?;
    if !ok {
        bail!(
            "ping with port VLAN {VID} failed ({} tagged, {} untagged frames on the wire)",
            vlan.tagged,
            vlan.untagged
        );
    }
    if vlan.untagged != 0 || vlan.tagged < 4 {
        bail!(
            "frames on the wire: {} tagged {VID}, {} not: the port VLAN was not inserted on every frame",
            vlan.tagged,
            vlan.untagged
        );
    }
    Ok(format!(
        "port VLAN {VID}: {} tagged frames on the wire, VF 0 rx {} tx {}",
        vlan.tagged, st.rx_packets, st.tx_packets
    ))
}
