//! `cargo xtask run`: the firmware image on QEMU serving the host drivers.
//! Enables VFs, administers them, brings them up with the VF driver,
//! prints what `ip -s link show` would, and shuts the firmware down.

use crate::image::BuiltImage;
use crate::workspace_root;
use anyhow::{Context, Result, bail};
use firmware::mac::Mac;
use firmware::vf::VlanProto;
use sim_tests::cosim::{CoSim, CoSimOptions};
use sim_tests::drivers::pf::PfDriver;
use sim_tests::drivers::vf::VfDriver;
use sim_tests::transport::Transport;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub struct DemoArgs {
    pub vfs: u16,
    pub forever: bool,
    pub timeout: Duration,
}

fn step(what: &str) {
    eprintln!("==> {what}");
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
    step(&format!(
        "booting {} on QEMU ({}) with a shared-memory window",
        built.elf.display(),
        board.board.name
    ));
    let mut dev = CoSim::start(
        board,
        &built.elf,
        &workspace_root(),
        CoSimOptions {
            echo_log: true,
            timeout: if args.forever {
                Duration::from_secs(365 * 86400)
            } else {
                args.timeout
            },
            extra_args: Vec::new(),
        },
    )?;
    let started = Instant::now();
    let result = drive(&mut dev, args);
    if let Err(e) = &result {
        eprintln!("error: {e:#}");
    }
    if dev.stalled {
        eprintln!("the firmware stopped answering (heartbeat) — see its log above");
    }
    let outcome = dev.finish()?;
    eprintln!(
        "firmware and host drivers ran for {:.2?}",
        started.elapsed()
    );
    let code = crate::image::report_ending(&outcome);
    Ok(if result.is_ok() {
        code
    } else {
        ExitCode::FAILURE
    })
}

fn drive(dev: &mut CoSim, args: &DemoArgs) -> Result<()> {
    step("PF driver: probe (config space, BAR0, firmware READY)");
    let mut pf = PfDriver::probe(dev).map_err(|e| anyhow::anyhow!("PF probe: {e}"))?;
    step(&format!(
        "PF driver: sriov_numvfs = {} (TotalVFs {})",
        args.vfs, pf.total_vfs
    ));
    pf.sriov_configure(dev, args.vfs)
        .map_err(|e| anyhow::anyhow!("enabling VFs: {e}"))?;
    pf.set_pf_mac(dev, Mac([0x02, 0xf0, 0, 0, 0, 1]))
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    step(
        "PF driver: ip link set ... vf 0 mac, vf 1 vlan 100 qos 3, vf 2 trust on, vf 3 spoofchk off",
    );
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
    ));
    let mut vfs = Vec::new();
    for n in 0..args.vfs {
        let mut vf = VfDriver::new(pf.vf_rid(dev, n));
        let t = Instant::now();
        let up = vf
            .bring_up(dev)
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

    let events = pf.events(dev);
    step(&format!(
        "PF driver: {} events from the firmware",
        events.len()
    ));
    for e in events.iter().take(12) {
        eprintln!("    {e}");
    }
    if events.len() > 12 {
        eprintln!("    ... and {} more", events.len() - 12);
    }

    step("ip -s link show (as the PF driver reads it from the firmware)");
    print_table(dev, &mut pf, args.vfs)?;

    if args.forever {
        step("serving until Ctrl-C");
        loop {
            dev.delay_us(1_000_000);
            if !dev.running() {
                bail!("QEMU exited");
            }
        }
    }
    step("PF driver: shutdown");
    pf.shutdown(dev)
        .map_err(|e| anyhow::anyhow!("shutdown: {e}"))?;
    Ok(())
}

/// Prints each VF the way `ip -s link show` does, plus drops by reason.
pub fn print_table(dev: &mut CoSim, pf: &mut PfDriver, vfs: u16) -> Result<()> {
    use firmware::dataplane::DropReason;
    for n in 0..vfs {
        let info = pf.vf_info(dev, n).map_err(|e| anyhow::anyhow!("{e}"))?;
        let st = pf.vf_stats(dev, n).map_err(|e| anyhow::anyhow!("{e}"))?;
        let drops = pf.drops(dev, n).map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("    {info}");
        println!(
            "        RX: bytes {} packets {} mcast {} bcast {} dropped {}",
            st.rx_bytes, st.rx_packets, st.rx_multicast, st.rx_broadcast, st.rx_dropped
        );
        println!(
            "        TX: bytes {} packets {} dropped {}",
            st.tx_bytes, st.tx_packets, st.tx_dropped
        );
        let by_reason: Vec<String> = DropReason::ALL
            .iter()
            .zip(drops.iter())
            .filter(|(_, c)| **c != 0)
            .map(|(r, c)| format!("{} {c}", r.name()))
            .collect();
        if !by_reason.is_empty() {
            println!("        drops: {}", by_reason.join(", "));
        }
    }
    Ok(())
}
