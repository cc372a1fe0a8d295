//! A real Linux VM whose NICs are VFs of the firmware: Linux's own
//! ixgbevf (from Debian 13's kernel, unmodified) in a QEMU 11 guest, two
//! VFs attached over vfio-user, the firmware's uplink a TAP in a network
//! namespace. The firmware is the in-process device logic, or the image on
//! QEMU `virt` (its DMA to the VM's memory through the DMA engine). The guest's /init (vm_init.sh) runs the checks and asks for
//! the PF's actions; this side serves the VFs, plays the PF administrator
//! and the host at the far end of the wire, and collects the verdicts.

use crate::image::BuiltImage;
use crate::linux::ip;
use crate::vm::{self, Unavailable, VmAssets};
use anyhow::{Context, Result, bail};
use firmware::drops::DropReason;
use firmware::mac::Mac;
use firmware::vf::LinkState;
use sim_tests::cosim::{CoSim, CoSimOptions, Wire};
use sim_tests::drivers::pf::{PfDriver, PfError};
use sim_tests::sim::Sim;
use sim_tests::tap::Tap;
use sim_tests::transport::Transport;
use sim_tests::vfio_user::{Served, Server, WithModel};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const INIT: &str = include_str!("vm_init.sh");
const NS: &str = "sriovfw-vmhost";
const TAP: &str = "sriovfw-vm0";
const HOST_IP: &str = "10.215.0.1/24";
pub const VF_MACS: [Mac; 2] = [
    Mac([0x02, 0x00, 0x00, 0x00, 0x0a, 0x00]),
    Mac([0x02, 0x00, 0x00, 0x00, 0x0a, 0x01]),
];
const NEW_MAC: Mac = Mac([0x02, 0x00, 0x00, 0x00, 0x0a, 0x99]);
const PF_MAC: Mac = Mac([0x02, 0xf0, 0x00, 0x00, 0x00, 0x01]);
/// The whole run, boot to poweroff, under TCG.
const LIMIT: Duration = Duration::from_secs(300);
/// The image on QEMU outlives the VM: after it come the PF's last reads
/// and the shutdown.
const IMAGE_LIMIT: Duration = Duration::from_secs(360);

/// One verdict the guest printed.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// What a run produced.
#[derive(Debug, Default)]
pub struct Report {
    pub checks: Vec<Check>,
    /// Host-side checks (the firmware's view, the far end's).
    pub host_checks: Vec<Check>,
    pub dmesg: Vec<String>,
    /// What the guest measured (round trip, a fast ping's rate and loss).
    pub figures: Vec<String>,
    multicast_before: u64,
    spoof_before: u32,
    vlan_before: (u64, u32),
    rate_before: Option<(Instant, u64, u64)>,
    pub boot_to_link_up: Option<Duration>,
    pub elapsed: Duration,
    pub finished: bool,
}

impl Report {
    pub fn all_ok(&self) -> bool {
        self.finished && self.checks.iter().chain(&self.host_checks).all(|c| c.ok)
    }
}

fn pf_err(e: PfError) -> anyhow::Error {
    anyhow::anyhow!("PF driver: {e}")
}

fn ns_out(args: &[&str]) -> String {
    Command::new("ip")
        .args(["netns", "exec", NS])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn cleanup() {
    let _ = Command::new("ip").args(["netns", "del", NS]).output();
    let _ = Command::new("ip").args(["link", "del", TAP]).output();
}

/// The far end of the wire: a TAP in its own namespace, 10.215.0.1. With
/// `tap`, this process holds the TAP (the in-process uplink); without, it
/// exists already (QEMU's netdev holds it).
fn far_end(open: bool) -> Result<Option<Tap>> {
    let tap = if open { Some(Tap::open(TAP)?) } else { None };
    ip(&["netns", "add", NS])?;
    ip(&["link", "set", TAP, "netns", NS])?;
    let in_ns = |a: &[&str]| {
        let mut all = vec!["netns", "exec", NS, "ip"];
        all.extend_from_slice(a);
        ip(&all)
    };
    in_ns(&["link", "set", TAP, "mtu", "9000"])?;
    in_ns(&["link", "set", TAP, "up"])?;
    in_ns(&["addr", "add", HOST_IP, "dev", TAP])?;
    Ok(tap)
}

/// The wire: frames between the far end's TAP and the in-process uplink.
fn bridge(tap: &mut Tap, sim: &mut Sim, buf: &mut [u8]) {
    for _ in 0..64 {
        let Some(n) = tap.recv(buf) else { break };
        sim.uplink.inject(&buf[..n]);
    }
    for f in sim.uplink.take_tx() {
        tap.send(&f);
    }
}

/// `vmtool` (sim-tests/guest-tool), built static for the guest: what its
/// busybox cannot do (hold a multicast group, send a spoofed frame).
fn guest_tool() -> Result<Vec<u8>> {
    let status = Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args(["rustc", "-q", "-p", "guest-tool", "--release", "--"])
        .args(["-C", "target-feature=+crt-static", "-C", "strip=symbols"])
        .current_dir(crate::workspace_root())
        .status()
        .context("building the guest tool")?;
    if !status.success() {
        bail!("building the guest tool (sim-tests/guest-tool) failed");
    }
    let path = crate::target_dir().join("release/guest-tool");
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

/// 802.1Q for the guest (a module, with what it needs, in load order),
/// decompressed from the root's kernel: /lib/vlan/NAME.ko.
fn vlan_modules(a: &VmAssets) -> Result<Vec<(String, Vec<u8>)>> {
    let modules = std::fs::read_dir(a.root.join("lib/modules"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.join("kernel/net/8021q").is_dir())
        .context("no 8021q module in the VM's root")?;
    let mut out = Vec::new();
    for (name, at) in [
        ("llc", "kernel/net/llc/llc.ko.xz"),
        ("stp", "kernel/net/802/stp.ko.xz"),
        ("garp", "kernel/net/802/garp.ko.xz"),
        ("mrp", "kernel/net/802/mrp.ko.xz"),
        ("8021q", "kernel/net/8021q/8021q.ko.xz"),
    ] {
        let o = Command::new("xz")
            .arg("-dc")
            .arg(modules.join(at))
            .output()
            .context("running xz")?;
        if !o.status.success() || o.stdout.is_empty() {
            bail!(
                "decompressing {at}: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
        }
        out.push((format!("/lib/vlan/{name}.ko"), o.stdout));
    }
    Ok(out)
}

/// The PF's part: VFs 0 and 1 enabled, with the MACs the VM must see.
fn administer(dev: &mut impl Transport) -> Result<(PfDriver, Vec<u16>)> {
    let mut pf = PfDriver::probe(dev).map_err(pf_err)?;
    pf.sriov_configure(dev, 2).map_err(pf_err)?;
    pf.set_pf_mac(dev, PF_MAC).map_err(pf_err)?;
    for (n, mac) in VF_MACS.iter().enumerate() {
        pf.set_vf_mac(dev, n as u16, *mac).map_err(pf_err)?;
    }
    let rids = (0..2).map(|n| pf.vf_rid(dev, n)).collect();
    Ok((pf, rids))
}

fn serve<D: WithModel>(
    dev: D,
    rids: &[u16],
    dir: &std::path::Path,
    verbose: bool,
) -> Result<Served<D>> {
    let vfs: Vec<(u16, u16)> = rids
        .iter()
        .enumerate()
        .map(|(n, r)| (n as u16, *r))
        .collect();
    let mut server = Server::bind(dir, &vfs).context("binding the vfio-user sockets")?;
    server.log = if verbose {
        Box::new(|l| eprintln!("    host: {l}"))
    } else {
        Box::new(|_| {})
    };
    Ok(Served::new(dev, server))
}

/// Which firmware serves the VM's VFs.
pub enum Firmware<'a> {
    /// The in-process firmware; with `queue_manager`, the hardware's queue
    /// manager owns the rings (firmware::qm).
    InProcess {
        queue_manager: bool,
    },
    Qemu(&'a BuiltImage),
}

/// Prepares (first use), boots and runs the VM; `Ok(Err(_))` when this
/// machine cannot run it (the reason).
pub fn run(
    firmware: Firmware,
    verbose: bool,
    verbose_table: bool,
) -> Result<Result<Report, Unavailable>> {
    let assets = match vm::prepare()? {
        Ok(a) => a,
        Err(u) => return Ok(Err(u)),
    };
    if !crate::linux::privileged() {
        return Ok(Err(Unavailable(
            "needs root and /dev/net/tun for the far end's TAP and namespace".into(),
        )));
    }
    // The far end sends the multicast check's frames with ping: without
    // it that check fails with nothing said (found on a machine without
    // iputils-ping).
    crate::setup::ensure_ping().context("the far end's ping (the multicast check)")?;
    cleanup();
    let dir = crate::target_dir().join("vm/run");
    std::fs::create_dir_all(&dir)?;
    let initramfs = dir.join("initramfs.cpio");
    let tool = guest_tool()?;
    let mut extra: Vec<(String, Vec<u8>)> = vec![("/bin/vmtool".into(), tool)];
    extra.extend(vlan_modules(&assets)?);
    let extra: Vec<(&str, &[u8])> = extra
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    vm::build_initramfs(&assets, INIT, &extra, &initramfs)?;
    let sockets = dir.join("sockets");
    let r = match firmware {
        Firmware::InProcess { queue_manager } => (|| {
            let mut tap = far_end(true)?.context("the far end's TAP")?;
            let mut sim = if queue_manager {
                Sim::with_queue_manager(firmware::device::Capacities::from_board())
            } else {
                Sim::with_board_capacities()
            };
            let (mut pf, rids) = administer(&mut sim)?;
            let mut served = serve(sim, &rids, &sockets, verbose)?;
            let mut buf = vec![0u8; 10_000];
            let mut wire = |sim: &mut Sim| bridge(&mut tap, sim, &mut buf);
            let report = drive(
                &assets,
                &initramfs,
                &mut served,
                &mut pf,
                &rids,
                &mut wire,
                Duration::from_micros(100),
                verbose,
                verbose_table,
            );
            Ok(report)
        })(),
        Firmware::Qemu(built) => (|| {
            // QEMU's netdev opens the TAP; it must exist first.
            ip(&["tuntap", "add", "dev", TAP, "mode", "tap"])?;
            let mut opts = CoSimOptions::quiet(Wire::Tap(TAP.into()));
            opts.timeout = IMAGE_LIMIT;
            let mut dev = CoSim::start(
                &built.board.config,
                &built.elf,
                &crate::workspace_root(),
                opts,
            )?;
            // Once the firmware answers, QEMU has opened the TAP by name:
            // only then may it move into the far end's namespace.
            let (mut pf, rids) = administer(&mut dev)?;
            far_end(false)?;
            let mut served = serve(dev, &rids, &sockets, verbose)?;
            // The firmware waits on the engine's every move: no sleeping.
            let report = drive(
                &assets,
                &initramfs,
                &mut served,
                &mut pf,
                &rids,
                &mut |_| std::thread::yield_now(),
                Duration::ZERO,
                verbose,
                verbose_table,
            );
            let mut dev = served.dev;
            let shut = pf.shutdown(&mut dev).map_err(pf_err);
            let outcome = dev.finish();
            let mut report = report;
            let clean = shut.is_ok() && outcome.as_ref().is_ok_and(sim_tests::cosim::clean_exit);
            report.host_checks.push(Check {
                name: "firmware-exit".into(),
                ok: clean,
                detail: match &outcome {
                    Ok(o) if !clean => format!(
                        "{}{}",
                        match o.ending {
                            sim_tests::qemu::Ending::TimedOut => format!(
                                "QEMU was killed at its {} s timeout; last lines: ",
                                IMAGE_LIMIT.as_secs()
                            ),
                            _ => String::new(),
                        },
                        o.log_text()
                            .lines()
                            .rev()
                            .take(5)
                            .collect::<Vec<_>>()
                            .join(" | ")
                    ),
                    Ok(_) => "the image exited cleanly".into(),
                    Err(e) => format!("{e:#}"),
                },
            });
            Ok(report)
        })(),
    };
    cleanup();
    r.map(Ok)
}

/// What `ip -s link show` would print of the two VFs, as the PF driver
/// reads it from the firmware.
fn vf_table(dev: &mut impl Transport, pf: &mut PfDriver) {
    println!("==> ip -s link show (as the PF driver reads it from the firmware)");
    if let Err(e) = crate::demo::print_table(dev, pf) {
        println!("    {e:#}");
    }
}

/// Boots the guest and serves it until it says DONE: console lines
/// parsed, the PF's actions done, `wire` called between passes; then the
/// host side's checks (and, with `table`, the per-VF table).
#[allow(clippy::too_many_arguments)]
fn drive<D: WithModel>(
    assets: &VmAssets,
    initramfs: &std::path::Path,
    served: &mut Served<D>,
    pf: &mut PfDriver,
    rids: &[u16],
    wire: &mut dyn FnMut(&mut D),
    wait: Duration,
    verbose: bool,
    table: bool,
) -> Report {
    let sockets = served.server.socket_paths();
    let mut qemu = vm::qemu_command(assets, initramfs, "quiet panic=-1", 512, &sockets);
    sim_tests::qemu::owned_child(&mut qemu);
    qemu.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut report = Report::default();
    let mut child = match qemu.spawn().context("starting QEMU") {
        Ok(c) => c,
        Err(e) => {
            report.host_checks.push(Check {
                name: "run".into(),
                ok: false,
                detail: format!("{e:#}"),
            });
            return report;
        }
    };
    let lines = console(&mut child);
    let result = (|| -> Result<()> {
        loop {
            served.pump(wait)?;
            wire(&mut served.dev);
            while let Ok(line) = lines.try_recv() {
                if verbose || line.starts_with("@@CHECK") {
                    println!("    vm: {line}");
                }
                if !guest_line(&line, &mut report, served, pf, rids, started)? {
                    return Ok(());
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                bail!("QEMU exited ({status}) before the guest said DONE");
            }
            if started.elapsed() > LIMIT {
                bail!("the VM did not finish within {} s", LIMIT.as_secs());
            }
            crate::interrupt::check()?;
        }
    })();
    report.elapsed = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        report.host_checks.push(Check {
            name: "run".into(),
            ok: false,
            detail: format!("{e:#}"),
        });
    }
    host_checks(&mut report, served, pf);
    if table {
        vf_table(&mut served.dev, pf);
    }
    report
}

/// QEMU's serial console, line by line (stderr too, marked).
fn console(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
                let _ = tx.send(line.trim_end_matches('\r').to_owned());
            }
        });
    }
    if let Some(err) = child.stderr.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(|l| l.ok()) {
                let _ = tx.send(format!("qemu: {line}"));
            }
        });
    }
    rx
}

/// Acts on one console line; false once the guest is done.
fn guest_line<D: WithModel>(
    line: &str,
    report: &mut Report,
    served: &mut Served<D>,
    pf: &mut PfDriver,
    rids: &[u16],
    started: Instant,
) -> Result<bool> {
    let Some(rest) = line.find("@@").map(|at| &line[at + 2..]) else {
        return Ok(true);
    };
    let (word, args) = rest.split_once(' ').unwrap_or((rest, ""));
    match word {
        "CHECK" => {
            let mut it = args.splitn(3, ' ');
            let name = it.next().unwrap_or("?").to_owned();
            let ok = it.next() == Some("ok");
            if name == "link-up-eth0" && ok {
                report.boot_to_link_up = Some(started.elapsed());
            }
            report.checks.push(Check {
                name,
                ok,
                detail: it.next().unwrap_or("").to_owned(),
            });
        }
        "DMESG" => report.dmesg.push(args.to_owned()),
        "PERF" => report.figures.push(args.to_owned()),
        "MULTICAST" => {
            let after = pf
                .vf_stats(&mut served.dev, 0)
                .map_err(pf_err)?
                .rx_multicast;
            report.host_checks.push(Check {
                name: "multicast-firmware-view".into(),
                ok: after - report.multicast_before == 3,
                detail: format!(
                    "VF 0 received {} multicast frames (the guest counted {args})",
                    after - report.multicast_before
                ),
            });
        }
        "HOST" => {
            let sim = &mut served.dev;
            match args {
                "set-mac" => pf.set_vf_mac(sim, 0, NEW_MAC).map_err(pf_err)?,
                "link-disable" => pf
                    .set_vf_link_state(sim, 0, LinkState::Disable)
                    .map_err(pf_err)?,
                "link-auto" => pf
                    .set_vf_link_state(sim, 0, LinkState::Auto)
                    .map_err(pf_err)?,
                "flr" => pf.flr(sim, rids[0]).map_err(pf_err)?,
                "trust" => pf.set_vf_trust(sim, 0, true).map_err(pf_err)?,
                "vlan-start" => {
                    report.vlan_before = (
                        pf.vf_stats(sim, 0).map_err(pf_err)?.tx_packets,
                        pf.drops(sim, 0).map_err(pf_err)?[DropReason::SpoofVlan as usize],
                    );
                }
                "vlan-check" => {
                    let i = pf.vf_info(sim, 0).map_err(pf_err)?;
                    let tx = pf.vf_stats(sim, 0).map_err(pf_err)?.tx_packets;
                    let spoofed = pf.drops(sim, 0).map_err(pf_err)?[DropReason::SpoofVlan as usize];
                    let sent = tx - report.vlan_before.0;
                    report.host_checks.push(Check {
                        name: "vlan-subinterface".into(),
                        ok: i.vlans >= 2 && sent >= 3 && spoofed == report.vlan_before.1,
                        detail: format!(
                            "VF 0 holds {} VLAN filters (0 and 100 wanted); {sent} frames sent from eth0.100, {} refused by the VLAN spoof check",
                            i.vlans,
                            spoofed - report.vlan_before.1
                        ),
                    });
                }
                "rate-start" => {
                    pf.set_vf_rate(sim, 0, 0, 1).map_err(pf_err)?;
                    let st = pf.vf_stats(sim, 0).map_err(pf_err)?;
                    report.rate_before = Some((Instant::now(), st.tx_bytes, st.tx_packets));
                }
                "rate-check" => {
                    let st = pf.vf_stats(sim, 0).map_err(pf_err)?;
                    pf.set_vf_rate(sim, 0, 0, 0).map_err(pf_err)?;
                    if let Some((t0, bytes, packets)) = report.rate_before {
                        let secs = t0.elapsed().as_secs_f64();
                        let mbps = (st.tx_bytes - bytes) as f64 * 8.0 / secs / 1e6;
                        let sent = st.tx_packets - packets;
                        report.host_checks.push(Check {
                            name: "max-tx-rate-paced".into(),
                            // Paced (not all 300 through), near 1 Mb/s.
                            ok: (50..300).contains(&sent) && mbps <= 1.3,
                            detail: format!("{sent} of 300 frames in {secs:.1} s: {mbps:.2} Mb/s with max_tx_rate 1"),
                        });
                    }
                }
                "vlan-in" => {
                    // Broadcast ARP request, tagged 100: who has 10.217.0.2?
                    let frame = concat!(
                        "ffffffffffff",
                        "02ee00000009",
                        "81000064",
                        "0806",
                        "0001080006040001",
                        "02ee00000009",
                        "0ad90001",
                        "000000000000",
                        "0ad90002",
                        "000000000000000000000000000000000000"
                    );
                    let tool = crate::target_dir().join("release/guest-tool");
                    let _ = Command::new("ip")
                        .args(["netns", "exec", NS])
                        .arg(tool)
                        .args(["send-hex", TAP, frame, "3"])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn();
                }
                "spoof-start" => {
                    report.spoof_before =
                        pf.drops(sim, 0).map_err(pf_err)?[DropReason::SpoofMac as usize];
                }
                "spoof-check" => {
                    let after = pf.drops(sim, 0).map_err(pf_err)?[DropReason::SpoofMac as usize];
                    report.host_checks.push(Check {
                        name: "spoofed-source-dropped".into(),
                        ok: after - report.spoof_before == 5,
                        detail: format!(
                            "{} spoof-mac drops counted for VF 0 (5 sent)",
                            after - report.spoof_before
                        ),
                    });
                }
                "multicast" => {
                    report.multicast_before = pf.vf_stats(sim, 0).map_err(pf_err)?.rx_multicast;
                    // Three frames to the joined group, three to another.
                    for group in ["224.1.2.3", "224.1.2.4"] {
                        let _ = Command::new("ip")
                            .args([
                                "netns", "exec", NS, "ping", "-c", "3", "-i", "0.2", "-W", "1",
                                "-I", TAP, group,
                            ])
                            .stdout(Stdio::null())
                            .stderr(Stdio::null())
                            .spawn();
                    }
                }
                "check-promisc-untrusted" | "check-promisc-trusted" => {
                    let trusted = args.ends_with("-trusted");
                    let i = pf.vf_info(sim, 0).map_err(pf_err)?;
                    let want = if trusted { 3 } else { 1 };
                    report.host_checks.push(Check {
                        name: args.trim_start_matches("check-").into(),
                        ok: i.xcast == want && (trusted || i.xcast_downgrades > 0),
                        detail: format!(
                            "xcast {} (want {want}: {}), {} downgrades",
                            i.xcast,
                            if trusted { "promisc" } else { "multi" },
                            i.xcast_downgrades
                        ),
                    });
                }
                a if a.starts_with("stats ") => {
                    let mut n = a
                        .split(' ')
                        .skip(1)
                        .map(|v| v.parse::<u64>().unwrap_or(u64::MAX));
                    let (rx, tx) = (n.next().unwrap_or(u64::MAX), n.next().unwrap_or(u64::MAX));
                    let st = pf.vf_stats(sim, 0).map_err(pf_err)?;
                    // A frame may be in flight between the two reads.
                    let close = |a: u64, b: u64| a.abs_diff(b) <= 2;
                    report.host_checks.push(Check {
                        name: "stats-agree".into(),
                        ok: close(rx, st.rx_packets) && close(tx, st.tx_packets),
                        detail: format!(
                            "guest rx {rx} tx {tx}; PF's view rx {} tx {}",
                            st.rx_packets, st.tx_packets
                        ),
                    });
                }
                // The far end learnt the guest's address (ARP both ways).
                "check-arp" => {
                    let neigh = ns_out(&["ip", "neigh"]);
                    let mac = VF_MACS[0].to_string();
                    report.host_checks.push(Check {
                        name: "arp-far-end".into(),
                        ok: neigh
                            .lines()
                            .any(|l| l.contains("10.215.0.2 ") && l.contains(&mac)),
                        detail: neigh.lines().next().unwrap_or("").to_owned(),
                    });
                }
                other => bail!("the guest asked for an unknown host action {other:?}"),
            }
        }
        "DONE" => {
            report.finished = true;
            return Ok(false);
        }
        _ => {}
    }
    Ok(true)
}

/// What the host side checks: the firmware's view of the VFs and the far
/// end's.
fn host_checks<D: WithModel>(report: &mut Report, served: &mut Served<D>, pf: &mut PfDriver) {
    let mut push = |name: &str, ok: bool, detail: String| {
        report.host_checks.push(Check {
            name: name.into(),
            ok,
            detail,
        })
    };
    let d = &report.dmesg;
    push(
        "ixgbevf-probed",
        d.iter()
            .any(|l| l.contains("Intel(R) 82599 Virtual Function")),
        d.first().cloned().unwrap_or_default(),
    );
    push(
        "mac-from-pf",
        d.iter().any(|l| l.contains(&VF_MACS[1].to_string())),
        "eth1 took the MAC the PF assigned".into(),
    );
    push(
        "link-up-10g",
        d.iter().any(|l| l.contains("NIC Link is Up 10 Gbps")),
        String::new(),
    );
    let sim = &mut served.dev;
    match pf.vf_info(sim, 1) {
        Ok(i) => push(
            "api-negotiated",
            hal::ixgbe::MbxApi::from_wire(i.api) == Some(hal::ixgbe::MbxApi::V1_5),
            format!(
                "VF 1 mailbox API (wire {}), lifecycle {}",
                i.api, i.lifecycle
            ),
        ),
        Err(e) => push("api-negotiated", false, e.to_string()),
    }
}

/// `cargo xtask vm --serve`: two VFs of the in-process firmware on
/// vfio-user sockets for a VMM of your own, the uplink on the far end's
/// TAP, until Ctrl-C; then the per-VF table.
pub fn serve_only(verbose: bool) -> Result<bool> {
    if !crate::linux::privileged() {
        bail!("serving needs root and /dev/net/tun (the uplink's TAP and namespace)");
    }
    cleanup();
    let sockets = crate::target_dir().join("vm/serve");
    let result = (|| -> Result<()> {
        let mut tap = far_end(true)?.context("the far end's TAP")?;
        let mut sim = Sim::with_board_capacities();
        let (mut pf, rids) = administer(&mut sim)?;
        let mut served = serve(sim, &rids, &sockets, true)?;
        let _ = verbose;
        println!("==> serving VF 0 and VF 1 (8086:10ed) on vfio-user sockets:");
        for (n, p) in served.server.socket_paths().iter().enumerate() {
            println!("    vf{n}: {} (MAC {})", p.display(), VF_MACS[n]);
        }
        println!("    the uplink: TAP {TAP} in namespace {NS}, {HOST_IP}");
        println!("    attach a VM (QEMU 10.1 or later), for example:");
        println!(
            "    qemu-system-x86_64 -accel tcg -machine q35,memory-backend=mem -object memory-backend-memfd,id=mem,size=512M,share=on -m 512 \\"
        );
        for (n, p) in served.server.socket_paths().iter().enumerate() {
            println!(
                "      -device '{{\"driver\":\"vfio-user-pci\",\"socket\":{{\"type\":\"unix\",\"path\":\"{}\"}},\"addr\":\"0x{:x}.0\"}}' \\",
                p.display(),
                3 + n
            );
        }
        println!("      ...   (Ctrl-C here to stop)");
        let mut buf = vec![0u8; 10_000];
        while crate::interrupt::received().is_none() {
            served.pump(Duration::from_micros(100))?;
            bridge(&mut tap, &mut served.dev, &mut buf);
        }
        vf_table(&mut served.dev, &mut pf);
        // Stopped by the signal: main reports it and exits 130/143.
        crate::interrupt::check()
    })();
    cleanup();
    result.map(|_| true)
}

/// `cargo xtask vm`: the run, printed; exit status by its checks.
pub fn main(image: Option<&BuiltImage>, verbose: bool, queue_manager: bool) -> Result<bool> {
    let firmware = match image {
        Some(built) => {
            println!(
                "==> a Linux VM with two VFs of the firmware image on QEMU virt (ixgbevf over vfio-user)"
            );
            Firmware::Qemu(built)
        }
        None => {
            println!(
                "==> a Linux VM with two VFs of the in-process firmware (ixgbevf over vfio-user){}",
                if queue_manager {
                    ", a queue manager owning the rings"
                } else {
                    ""
                }
            );
            Firmware::InProcess { queue_manager }
        }
    };
    let report = match run(firmware, verbose, true)? {
        Ok(r) => r,
        Err(Unavailable(why)) => {
            println!("    skipped: {why}");
            return Ok(true);
        }
    };
    for l in &report.dmesg {
        println!("    dmesg: {l}");
    }
    for c in report.checks.iter().chain(&report.host_checks) {
        println!(
            "    {} {}{}",
            if c.ok { "ok  " } else { "FAIL" },
            c.name,
            if c.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", c.detail)
            }
        );
    }
    if let Some(t) = report.boot_to_link_up {
        println!("    QEMU start to eth0 link up: {:.1} s", t.as_secs_f64());
    }
    for f in &report.figures {
        println!("    measured: {f}");
    }
    println!(
        "    {} checks, {} failed, {:.1} s",
        report.checks.len() + report.host_checks.len(),
        report
            .checks
            .iter()
            .chain(&report.host_checks)
            .filter(|c| !c.ok)
            .count(),
        report.elapsed.as_secs_f64()
    );
    Ok(report.all_ok())
}
