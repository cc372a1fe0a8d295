//! The firmware's log lines reach the host (through the `fwlog` shim's `log`
//! backend): every refusal says what was refused and why.

use sim_tests::drivers::pf::PfDriver;
use sim_tests::drivers::vf::VfDriver;
use sim_tests::sim::Sim;
use sim_tests::transport::Transport;
use std::sync::Mutex;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        LINES
            .lock()
            .unwrap()
            .push(format!("{} {}", record.level(), record.args()));
    }
    fn flush(&self) {}
}

#[test]
fn refusals_are_logged() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let mut sim = Sim::with_board_capacities();
    let mut pf = PfDriver::probe(&mut sim).unwrap();
    pf.sriov_configure(&mut sim, 2).unwrap();
    let mut vf = VfDriver::new(pf.vf_rid(&mut sim, 1));
    vf.bring_up(&mut sim).unwrap();
    vf.exchange(&mut sim, &[0x77], 1).unwrap();
    let _ = pf.set_vf_trust(&mut sim, 5, true);
    // A buffer write without holding the mailbox lock.
    sim.bar_write32(vf.rid, hal::ixgbe::vfreg::VFMBMEM, 1);
    let lines = LINES.lock().unwrap().clone();
    let has = |s: &str| lines.iter().any(|l| l.contains(s));
    assert!(has("INFO SR-IOV: 2 VFs served"), "{lines:#?}");
    assert!(
        has("WARN VF 1: message 0x77 refused: UnknownMessage"),
        "{lines:#?}"
    );
    assert!(
        has("WARN admin: opcode 0x6 for VF 5 refused: InvalidVf"),
        "{lines:#?}"
    );
    assert!(
        has("WARN VF 1: mailbox violation WriteWithoutOwnership"),
        "{lines:#?}"
    );
}
