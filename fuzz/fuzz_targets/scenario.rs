//! The scenario TOML parser and its checks (`Scenario::from_toml`, what
//! `Scenario::load` does after reading the file): any text, or edits of a
//! known-good scenario (any key of any step set to any value, removed, or
//! added). Nothing panics; errors say which scenario.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sim_tests::scenario::Scenario;
use sriov_fw_fuzz::toml_edit::{Base, Document};

static BASE: Base = Base::new(include_str!("../../sim-tests/scenarios/dp-policy.toml"));
fuzz_target!(|data: &[u8]| {
    match BASE.document(data) {
        Some(Document::Text(text)) => {
            if let Err(e) = Scenario::from_toml(&text, "fuzz") {
                assert!(format!("{e:#}").contains("fuzz"), "{e:#}");
            }
        }
        // Edits skip the text: what `from_toml` does after parsing.
        Some(Document::Table(table)) => {
            if let Ok(s) = toml::Value::Table(table).try_into::<Scenario>() {
                let _ = s.check();
            }
        }
        None => {}
    }
});
