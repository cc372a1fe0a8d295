//! Running against the image under QEMU, where the firmware runs in real
//! time beside the scenario: the run itself, and how long steps wait for
//! what is still on its way.

use super::Harness;
use super::format::Scenario;
use super::report::StepReport;
use super::steps::Runner;
use anyhow::{Result, bail};
use std::path::Path;

/// How long a real-time harness waits for frames a step expects but has
/// not seen yet, in polls of [`LATE_FRAME_POLL_US`]. In-process, frames
/// are there at once and nothing waits.
const LATE_FRAME_POLLS: u32 = 250;
const LATE_FRAME_POLL_US: u64 = 2_000;
/// Bring-ups a real-time harness tries while the VF reset times out.
pub(super) const REAL_TIME_RESET_TRIES: u32 = 5;

/// Calls `arrived` once; on a real-time harness, keeps polling it (up to
/// 0.5 s) until it says what a step expects has arrived.
pub(super) fn wait_for_late<H: Harness>(h: &mut H, mut arrived: impl FnMut(&mut H) -> bool) {
    let mut polls = 0;
    while !arrived(h) && h.real_time() && polls < LATE_FRAME_POLLS {
        h.delay_us(LATE_FRAME_POLL_US);
        polls += 1;
    }
}

/// Runs a scenario file against the firmware image under QEMU.
pub fn run_in_qemu(
    path: &Path,
    board: &board_config::BoardConfig,
    elf: &Path,
    workspace_root: &Path,
    report: impl FnMut(&StepReport),
) -> Result<(Scenario, Vec<StepReport>)> {
    use crate::cosim::{CoSim, CoSimOptions, Wire};
    let scenario = Scenario::load(path)?;
    if !scenario.runs_on("qemu") {
        bail!(
            "scenario {} runs only on: {}",
            scenario.name,
            scenario.backends.join(", ")
        );
    }
    let mut dev = CoSim::start(board, elf, workspace_root, CoSimOptions::quiet(Wire::Udp))?;
    let result = (|| -> Result<Vec<StepReport>> {
        let mut runner = Runner::new(&mut dev)?;
        let reports = runner.run(&scenario, report);
        runner.shutdown()?;
        Ok(reports)
    })();
    if result.is_err() {
        dev.stop();
    }
    let outcome = dev.finish()?;
    let reports = result?;
    if !crate::cosim::clean_exit(&outcome) {
        bail!(
            "the firmware did not exit cleanly ({:?}):\n{}{}",
            outcome.ending,
            outcome.log_text(),
            outcome.stderr
        );
    }
    Ok((scenario, reports))
}
