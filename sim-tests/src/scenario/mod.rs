//! Scenarios: a TOML file of steps run against the device through the
//! drivers, each step printing one JSON object with what was expected and
//! what happened. The format is documented in docs/scenarios.md.
//!
//! - `format`: the file (serde types, loading and checks); `args`: the
//!   typed arguments of `pf` and `vf` steps.
//! - `steps`: the [`Runner`] and the steps that act; `expect`: the steps
//!   that look, and how expected and actual compare.
//! - `report`: the JSON a run prints; `qemu`: running under QEMU, and the
//!   waits real time needs.

mod args;
mod expect;
mod format;
mod qemu;
mod report;
mod steps;

pub use args::{PfCommand, VfCall, VfOp};
pub use expect::matches;
pub use format::{
    DescVlan, EventPattern, FrameArgs, NoVlan, RxExpect, Scenario, Step, TagArgs, UdpArgs,
    parse_mac,
};
pub use qemu::run_in_qemu;
pub use report::{
    StepReport, disagreements, pf_error_name, status_name, summary_json, vf_error_name,
    vf_info_json,
};
pub use steps::Runner;

use crate::transport::Transport;
use anyhow::Result;
use std::path::Path;

/// A device under test as scenarios drive it: register access plus the
/// few things that are not a host driver's (the physical port's link).
pub trait Harness: Transport {
    fn set_uplink(&mut self, up: bool);
    /// A frame arrives from the wire.
    fn inject(&mut self, frame: &[u8]);
    /// Frames that went out on the wire since the last call.
    fn take_wire(&mut self) -> Vec<Vec<u8>>;
    /// The wire refuses frames after `n` more (0: never).
    fn set_uplink_tx_limit(&mut self, n: usize);
    /// Whether the device runs in real time beside the harness (QEMU), so
    /// a frame may still be on its way when a step checks for it.
    fn real_time(&self) -> bool {
        false
    }
}

impl Harness for crate::sim::Sim {
    fn set_uplink(&mut self, up: bool) {
        crate::sim::Sim::set_uplink(self, up)
    }

    fn inject(&mut self, frame: &[u8]) {
        crate::sim::Sim::inject(self, frame)
    }

    fn take_wire(&mut self) -> Vec<Vec<u8>> {
        self.uplink.take_tx()
    }

    fn set_uplink_tx_limit(&mut self, n: usize) {
        self.uplink.tx_budget = (n != 0).then_some(n);
    }
}

/// Runs a scenario file in the in-process simulation (default board).
pub fn run_in_process(
    path: &Path,
    report: impl FnMut(&StepReport),
) -> Result<(Scenario, Vec<StepReport>)> {
    let scenario = Scenario::load(path)?;
    let mut sim = crate::sim::Sim::with_board_capacities();
    let mut runner = Runner::new(&mut sim)?;
    let reports = runner.run(&scenario, report);
    Ok((scenario, reports))
}
