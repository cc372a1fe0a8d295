//! `cargo xtask run`: the firmware image on QEMU serving the host drivers.
//! Enables VFs, administers them, brings them up with the VF driver,
//! prints what `ip -s link show` would, and shuts the firmware down.

use crate::image::BuiltImage;
use crate::workspace_root;
use anyhow::{Context, Result, bail};
use firmware::mac::Mac;
use firmware::vf::VlanProto;
use sim_tests::capture::Capture;
use sim_tests::cosim::{CoSim, CoSimOptions};
use sim_tests::drivers::pf::PfDriver;
use sim_tests::drivers::vf::{VfDriver, VfError};
use sim_tests::transport::Transport;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub struct DemoArgs {
    pub vfs: u16,
    pub forever: bool,
    pub timeout: Duration,
    /// Put the uplink on this TAP device instead of the UDP wire.
    pub tap: Option<String>,
    /// Capture every port (wire, PF, each VF) into this pcapng file.
    pub pcap: Option<std::path::PathBuf>,
    /// With `forever`: the control socket `cargo xtask ip` talks to.
    pub control: std::path::PathBuf,
    /// More QEMU arguments, passed through.
    pub qemu_args: Vec<String>,
}

/// Bring-ups the demo tries while the VF reset times out (the firmware
/// runs in real time under QEMU; see `VfDriver::bring_up_retrying`).
pub const REAL_TIME_RESET_TRIES: u32 = 5;

/// Announces the next step, unless Ctrl-C (or SIGTERM) came: then the
/// steps end there and the firmware is shut down.
fn step(what: &str) -> Result<()> {
    crate::interrupt::check()?;
    eprintln!("==> {what}");
    Ok(())
}

pub fn run(built: &BuiltImage, args: &DemoArgs) -> Result<ExitCode> {
    let board = &built.board.config;
    if args.vfs > board.capacities.total_vfs {
        bail!(
            "--vfs {}: the board {} has TotalVFs {}",
            args.vfs,
            board.board.name,
            board.capacities.total_vfs
        );
    }
    if let Some(name) = &args.tap {
        let valid = !name.is_empty()
            && name.len() <= 15
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid {
            bail!(
                "--tap {name:?}: not a usable interface name (1 to 15 letters, digits, '-', '_', '.')"
            );
        }
    }
    if let Some(path) = &args.pcap {
        check_capture_path(path)?;
    }
    step(&format!(
        "booting {} on QEMU ({}) with a shared-memory window",
        built.elf.display(),
        board.board.name
    ))?;
    let mut dev = CoSim::start(
        board,
        &built.elf,
        &workspace_root(),
        CoSimOptions {
            wire: match &args.tap {
                Some(name) => sim_tests::cosim::Wire::Tap(name.clone()),
                None => sim_tests::cosim::Wire::Udp,
            },
            echo_log: true,
            timeout: if args.forever {
                Duration::from_secs(365 * 86400)
            } else {
                args.timeout
            },
            extra_args: args.qemu_args.clone(),
        },
    )?;
    eprintln!("    window: {}", dev.window_path().display());
    let started = Instant::now();
    // The capture lives here: every way out of this function flushes it.
    let capture = args
        .pcap
        .as_deref()
        .map(|path| start_capture(&mut dev, path))
        .transpose();
    let result = match &capture {
        Ok(c) => drive(&mut dev, args, c.as_ref()),
        Err(e) => Err(anyhow::anyhow!("{e:#}")),
    };
    if let Err(e) = &result {
        let interrupted = e.downcast_ref::<crate::interrupt::Interrupted>().is_some();
        if !interrupted {
            eprintln!("error: {e:#}");
        }
        // After a shutdown the firmware exits by itself; otherwise (or if
        // it does not within a few seconds) QEMU is stopped.
        let deadline = Instant::now() + Duration::from_secs(5);
        while dev.running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if dev.running() {
            eprintln!("stopping QEMU");
            dev.stop();
        }
    }
    if dev.stalled {
        eprintln!("the firmware stopped answering (heartbeat) — see its log above");
    }
    let outcome = dev.finish();
    let saved = match &capture {
        Ok(Some(c)) => end_capture(c),
        _ => Ok(()),
    };
    let outcome = outcome?;
    eprintln!(
        "firmware and host drivers ran for {:.2?}",
        started.elapsed()
    );
    let code = crate::image::report_ending(&outcome);
    saved?;
    match result {
        Ok(()) => Ok(code),
        // Ctrl-C: the clean-up is done; main turns it into 130/143.
        Err(e) if e.downcast_ref::<crate::interrupt::Interrupted>().is_some() => Err(e),
        Err(_) => Ok(ExitCode::FAILURE),
    }
}

/// Refuses a `--pcap` that cannot be a capture file before QEMU starts.
fn check_capture_path(path: &std::path::Path) -> Result<()> {
    if path.is_dir() {
        bail!(
            "--pcap {}: a directory; --pcap takes the capture file (one pcapng for every port), e.g. {}",
            path.display(),
            path.join("run.pcapng").display()
        );
    }
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir)
            .with_context(|| format!("--pcap {}: creating {}", path.display(), dir.display())),
        _ => Ok(()),
    }
}

/// One pcapng for every port; the wire's interface first.
fn start_capture(dev: &mut CoSim, path: &std::path::Path) -> Result<Capture> {
    let capture = Capture::create(path, dev.now_ns())?;
    dev.capture_wire(&capture)?;
    eprintln!("    capturing every port to {}", path.display());
    Ok(capture)
}

/// Flushes the capture and says what it holds.
fn end_capture(capture: &Capture) -> Result<()> {
    capture.flush()?;
    eprintln!(
        "captured {} frame(s) on {} to {}",
        capture.frames(),
        capture.ports().join(", "),
        capture.path().display()
    );
    Ok(())
}

/// "N runs: min, median, max" of some wall-clock times.
fn spread(times: &mut [Duration]) -> String {
    times.sort();
    format!(
        "{} runs: min {:.1?}, median {:.1?}, max {:.1?}",
        times.len(),
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    )
}

/// Wall-clock control-plane timings against the firmware under QEMU (the
/// figures docs/performance.md quotes): mailbox round trips, the VF reset
/// handshake, and FLR with the VF brought back up. Messages are spaced
/// 2 ms apart (the firmware's rate limit is 2000/s), resets 50 ms apart
/// (more than 64 a second quarantines a VF).
fn control_timing(dev: &mut CoSim, pf: &mut PfDriver, vf: &mut VfDriver) -> Result<()> {
    let vf_err = |e: VfError| anyhow::anyhow!("control timing: {e}");
    step("control-plane timings (VF 0, wall clock)")?;
    // `runs` timings of `op`, each after `gap_us` of quiet.
    let mut timed = |runs: usize, gap_us: u64, op: &mut dyn FnMut(&mut CoSim) -> Result<()>| {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            dev.delay_us(gap_us);
            let t = Instant::now();
            op(dev)?;
            times.push(t.elapsed());
        }
        anyhow::Ok(spread(&mut times))
    };
    let rtt = timed(20, 2_000, &mut |d| {
        vf.get_queues(d).map(drop).map_err(vf_err)
    })?;
    eprintln!("    mailbox round trip (GET_QUEUES): {rtt}");
    // Tried again, as ixgbevf's watchdog would, when QEMU on a loaded
    // machine misses the driver's 1 ms for the PF side (counted and said:
    // such a run's times include the retry's wait).
    let mut retried = 0;
    let reset = timed(5, 50_000, &mut |d| {
        let (done, again) = vf.reset_retrying(d, REAL_TIME_RESET_TRIES);
        retried += again;
        done.map(drop).map_err(vf_err)
    })?;
    eprintln!(
        "    VF reset handshake (VFCTRL.RST to the VF_RESET reply; ixgbevf waits 10 ms in it): {reset}{}",
        if retried > 0 {
            format!(" ({retried} tried again: the PF side missed ixgbevf's 1 ms)")
        } else {
            String::new()
        }
    );
    let flr = timed(3, 50_000, &mut |d| {
        pf.flr(d, vf.rid)
            .map_err(|e| anyhow::anyhow!("control timing: FLR: {e}"))
    })?;
    eprintln!("    FLR (the spec's 100 ms wait, then config space answers): {flr}");
    let t = Instant::now();
    vf.bring_up_retrying(dev, REAL_TIME_RESET_TRIES)
        .map_err(vf_err)?;
    eprintln!("    VF driver back up after FLR: {:.1?}", t.elapsed());
    Ok(())
}

fn drive(dev: &mut CoSim, args: &DemoArgs, capture: Option<&Capture>) -> Result<()> {
    step("PF driver: probe (config space, BAR0, firmware READY)")?;
    let probed = PfDriver::probe(dev);
    let mut pf = probed.map_err(|e| {
        if dev.running() {
            anyhow::anyhow!("PF probe: {e}")
        } else {
            anyhow::anyhow!("QEMU exited before the firmware could serve (its error follows)")
        }
    })?;
    // Whatever happens from here (a failed check, Ctrl-C), the firmware
    // is shut down at the end, so that it exits cleanly and logs why.
    let result = administer_and_serve(dev, &mut pf, args, capture);
    if dev.running() {
        if let Some(sig) = crate::interrupt::received() {
            eprintln!(
                "==> {}: shutting the firmware down",
                crate::interrupt::name(sig)
            );
        } else {
            eprintln!("==> PF driver: shutdown");
        }
        pf.shutdown(dev)
            .map_err(|e| anyhow::anyhow!("shutdown: {e}"))?;
    }
    result
}

fn administer_and_serve(
    dev: &mut CoSim,
    pf: &mut PfDriver,
    args: &DemoArgs,
    capture: Option<&Capture>,
) -> Result<()> {
    step(&format!(
        "PF driver: sriov_numvfs = {} (TotalVFs {})",
        args.vfs, pf.total_vfs
    ))?;
    let t = Instant::now();
    pf.sriov_configure(dev, args.vfs)
        .map_err(|e| anyhow::anyhow!("enabling VFs: {e}"))?;
    eprintln!("    {} VFs enabled in {:.1?}", args.vfs, t.elapsed());
    pf.set_pf_mac(dev, Mac([0x02, 0xf0, 0, 0, 0, 1]))
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    step(
        "PF driver: ip link set ... vf 0 mac, vf 1 vlan 100 qos 3, vf 2 trust on, vf 3 spoofchk off",
    )?;
    let admin =
        |r: Result<(), sim_tests::drivers::pf::PfError>| r.map_err(|e| anyhow::anyhow!("{e}"));
    if args.vfs > 0 {
        admin(pf.set_vf_mac(dev, 0, Mac([0x02, 0x00, 0x00, 0x00, 0x01, 0x00])))?;
    }
    if args.vfs > 1 {
        admin(pf.set_vf_vlan(dev, 1, 100, 3, VlanProto::Dot1Q))?;
    }
    if args.vfs > 2 {
        admin(pf.set_vf_trust(dev, 2, true))?;
    }
    if args.vfs > 3 {
        admin(pf.set_vf_spoofchk(dev, 3, false))?;
    }

    step(&format!(
        "VF driver: bring up {} VFs the way ixgbevf does",
        args.vfs
    ))?;
    let mut vfs = Vec::new();
    for n in 0..args.vfs {
        let mut vf = VfDriver::new(pf.vf_rid(dev, n));
        let t = Instant::now();
        let up = vf
            .bring_up_retrying(dev, REAL_TIME_RESET_TRIES)
            .map_err(|e| anyhow::anyhow!("VF {n} bring-up: {e}"))
            .with_context(|| "the VF driver talks to the firmware through the mailbox")?;
        eprintln!(
            "    vf {n}: {} ({}), mailbox API {}, {} queue pairs, up in {:.1?}",
            up.mac,
            if up.mac_from_pf {
                "assigned by the PF"
            } else {
                "chosen by the VF"
            },
            up.api.name(),
            up.tx_queues,
            t.elapsed()
        );
        vfs.push(vf);
    }

    // A failed traffic check is reported at the end, after the rest ran.
    let checked = if args.tap.is_some() {
        eprintln!(
            "    (uplink on a TAP device: the wire belongs to Linux; traffic checks skipped)"
        );
        Ok(())
    } else {
        traffic(dev, pf, &vfs, capture)
    };

    if let Some(vf) = vfs.first_mut() {
        control_timing(dev, pf, vf)?;
    }

    let events = pf.events(dev);
    step(&format!(
        "PF driver: {} events from the firmware",
        events.len()
    ))?;
    for e in events.iter().take(12) {
        eprintln!("    {e}");
    }
    if events.len() > 12 {
        eprintln!("    ... and {} more", events.len() - 12);
    }

    let beat = pf.heartbeat(dev);
    dev.delay_us(10_000);
    eprintln!(
        "    firmware heartbeat: {} -> {} over 10 ms (the host's liveness check)",
        beat,
        pf.heartbeat(dev)
    );
    step("ip -s link show (as the PF driver reads it from the firmware)")?;
    print_table(dev, pf)?;

    if args.forever {
        serve_forever(dev, pf, &args.control, capture)?;
    }
    checked
}

/// Serves until Ctrl-C (or SIGTERM): the firmware keeps running, and
/// `cargo xtask ip ...` administers it through the control socket.
fn serve_forever(
    dev: &mut CoSim,
    pf: &mut PfDriver,
    control: &std::path::Path,
    capture: Option<&Capture>,
) -> Result<()> {
    let socket = crate::control::ControlSocket::bind(control)?;
    step(&format!(
        "serving until Ctrl-C; administer it from another shell: cargo xtask ip link set vf 0 trust on, cargo xtask ip -s link show (control socket {})",
        socket.path().display()
    ))?;
    loop {
        for _ in 0..50 {
            dev.delay_us(20_000);
            socket.serve_pending(|words| {
                eprintln!("    ip {}", words.join(" "));
                match sim_tests::drivers::iplink::parse(words) {
                    Err(e) => (2, format!("ip: {e}\n")),
                    Ok(cmd) => match sim_tests::drivers::iplink::run(pf, dev, &cmd) {
                        Ok(out) => (0, out),
                        Err(e) => (1, format!("ip: {e}\n")),
                    },
                }
            });
            crate::interrupt::check()?;
        }
        if !dev.running() {
            bail!("QEMU exited");
        }
        // Readable while it runs (Wireshark can open it meanwhile).
        if let Some(c) = capture {
            c.flush()?;
        }
    }
}
/// Checks one delivery, prints it, and says whether it matched.
fn expect(what: &str, got: usize, want: usize, failures: &mut Vec<String>) {
    let ok = got == want;
    eprintln!(
        "    {} {what}: {got} frame(s){}",
        if ok { "ok  " } else { "FAIL" },
        if ok {
            String::new()
        } else {
            format!(", expected {want}")
        }
    );
    if !ok {
        failures.push(what.to_owned());
    }
}

/// Traffic through the firmware's switch: from the wire (UDP into QEMU's
/// virtio-net), between VFs, out to the wire.
fn traffic(
    dev: &mut CoSim,
    pf: &mut PfDriver,
    vfs: &[VfDriver],
    capture: Option<&Capture>,
) -> Result<()> {
    use sim_tests::drivers::queues::Rings;
    use sim_tests::frames::FrameSpec;
    use sim_tests::model::{PF_RID, pfreg};
    let n = vfs.len();
    if n < 4 {
        eprintln!("    (traffic needs at least 4 VFs; skipped)");
        return Ok(());
    }
    step("drivers: set up queue pairs (82599 advanced descriptors in host memory)")?;
    let queues = pf
        .info(dev)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .queue_pairs_per_vf;
    let mut pf_rings = Rings::setup(dev, PF_RID, pfreg::QUEUES, 1, 32, 2, false)
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut rings = Vec::new();
    let mut macs = Vec::new();
    for (i, vf) in vfs.iter().enumerate() {
        rings.push(
            Rings::setup(dev, vf.rid, 0, queues, 32, 2, false).map_err(|e| anyhow::anyhow!(e))?,
        );
        macs.push(
            pf.vf_info(dev, i as u16)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .mac,
        );
    }
    if let Some(c) = capture {
        pf_rings.capture = Some(c.port("pf")?);
        for (i, r) in rings.iter_mut().enumerate() {
            r.capture = Some(c.port(&format!("vf{i}"))?);
        }
    }
    let peer = Mac([0x02, 0xee, 0, 0, 0, 0x99]);
    let group = Mac([0x01, 0x00, 0x5e, 0x00, 0x00, 0x42]);
    let mut failures = Vec::new();
    // Each step injects up to one frame per VF; give the firmware (under
    // TCG) time for all of them, not a fixed 5 ms that 64 VFs outgrow.
    let settle_us = 5_000 + 1_000 * n as u64;
    let settle = |dev: &mut CoSim| dev.delay_us(settle_us);
    let rx = |dev: &mut CoSim, rings: &mut Vec<Rings>, i: usize| rings[i].receive(dev).len();
    // VF 1 has port VLAN 100: untagged frames are not for it.
    let untagged_takers = n - 1;

    step("traffic")?;
    for (i, mac) in macs.iter().enumerate() {
        dev.inject(
            &FrameSpec::new(*mac, peer)
                .udp(
                    [192, 0, 2, 1],
                    [192, 0, (i >> 8) as u8, i as u8],
                    4000,
                    4000,
                )
                .build(),
        );
    }

    settle(dev);
    let got: usize = (0..n).map(|i| rx(dev, &mut rings, i)).sum();
    expect(
        "uplink -> each VF (unicast; VF 1 only takes VLAN 100)",
        got,
        untagged_takers,
        &mut failures,
    );

    dev.inject(&FrameSpec::new(Mac::BROADCAST, peer).build());
    settle(dev);
    let got: usize = (0..n).map(|i| rx(dev, &mut rings, i)).sum();
    expect(
        "uplink broadcast -> every VF but VF 1 (port VLAN)",
        got,
        untagged_takers,
        &mut failures,
    );
    expect(
        "uplink broadcast -> PF",
        pf_rings.receive(dev).len(),
        1,
        &mut failures,
    );

    rings[0].send(dev, 0, &FrameSpec::new(macs[2], macs[0]).build(), None);
    settle(dev);
    expect(
        "VF 0 -> VF 2 (switched inside, VEB)",
        rx(dev, &mut rings, 2),
        1,
        &mut failures,
    );
    expect(
        "VF 0 -> VF 2 on the wire",
        dev.take_wire().len(),
        0,
        &mut failures,
    );

    rings[0].send(dev, 0, &FrameSpec::new(peer, macs[0]).build(), None);
    settle(dev);
    expect("VF 0 -> the wire", dev.take_wire().len(), 1, &mut failures);

    rings[3].send(
        dev,
        0,
        &FrameSpec::new(Mac::BROADCAST, macs[3]).build(),
        None,
    );
    settle(dev);
    let others: usize = [0, 1, 2].iter().map(|i| rx(dev, &mut rings, *i)).sum();
    expect(
        "VF 3 broadcast -> VF 0 and VF 2 (VF 1: port VLAN)",
        others,
        2,
        &mut failures,
    );
    expect(
        "VF 3 broadcast -> not back to VF 3",
        rx(dev, &mut rings, 3),
        0,
        &mut failures,
    );
    expect(
        "VF 3 broadcast -> the wire",
        dev.take_wire().len(),
        1,
        &mut failures,
    );
    let _ = pf_rings.receive(dev);

    rings[1].send(dev, 0, &FrameSpec::new(peer, macs[1]).build(), None);
    settle(dev);
    let wire = dev.take_wire();
    let tagged = wire
        .iter()
        .filter(|f| {
            f.len() > 16
                && f[12..14] == [0x81, 0x00]
                && (u16::from(f[14]) << 8 | u16::from(f[15])) & 0xfff == 100
        })
        .count();
    expect(
        "VF 1 -> the wire with port VLAN 100 inserted",
        tagged,
        1,
        &mut failures,
    );
    dev.inject(&FrameSpec::new(macs[1], peer).vlan(0x8100, 100).build());
    settle(dev);
    let got = rings[1].receive(dev);
    let stripped = got
        .iter()
        .filter(|r| r.data.len() > 14 && r.data[12..14] != [0x81, 0x00])
        .count();
    expect(
        "uplink VLAN 100 -> VF 1, tag stripped",
        stripped,
        1,
        &mut failures,
    );

    let mut vf3 = VfDriver::new(vfs[3].rid);
    vf3.mc_filter_type = 0;
    vf3.set_multicast(dev, &[group])
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    dev.inject(&FrameSpec::new(group, peer).build());
    settle(dev);
    expect(
        "uplink multicast -> VF 3 (registered)",
        rx(dev, &mut rings, 3),
        1,
        &mut failures,
    );
    let leaks: usize = [0, 1, 2].iter().map(|i| rx(dev, &mut rings, *i)).sum();
    expect(
        "uplink multicast -> other VFs (not registered)",
        leaks,
        0,
        &mut failures,
    );
    let _ = pf_rings.receive(dev);

    rings[0].send(dev, 0, &FrameSpec::new(peer, macs[1]).build(), None);
    settle(dev);
    expect(
        "VF 0 with VF 1's source MAC (spoof check on)",
        dev.take_wire().len(),
        0,
        &mut failures,
    );
    rings[3].send(dev, 0, &FrameSpec::new(peer, macs[1]).build(), None);
    settle(dev);
    expect(
        "VF 3 with VF 1's source MAC (spoof check off)",
        dev.take_wire().len(),
        1,
        &mut failures,
    );

    if !failures.is_empty() {
        bail!("traffic checks failed: {}", failures.join("; "));
    }
    Ok(())
}

/// Prints each VF the way `ip -s -s link show` does (the drops by
/// reason last).
pub fn print_table(
    dev: &mut impl sim_tests::transport::Transport,
    pf: &mut PfDriver,
) -> Result<()> {
    use sim_tests::drivers::iplink;
    let view = iplink::read(pf, dev).map_err(|e| anyhow::anyhow!("{e}"))?;
    print!("{}", iplink::show_text(&view, 2));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_capture_path;

    #[test]
    fn pcap_takes_a_file_not_a_directory_and_makes_its_parent() {
        let dir = std::env::temp_dir().join(format!("xtask-pcap-{}", std::process::id()));
        let e = check_capture_path(&std::env::temp_dir()).unwrap_err();
        assert!(
            e.to_string()
                .contains("a directory; --pcap takes the capture file"),
            "{e}"
        );
        let file = dir.join("deeper").join("run.pcapng");
        check_capture_path(&file).unwrap();
        assert!(file.parent().unwrap().is_dir());
        check_capture_path(std::path::Path::new("run.pcapng")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
