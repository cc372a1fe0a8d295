//! Every scenario in sim-tests/scenarios passes in the in-process simulation.
use sim_tests::scenario::run_in_process;
use std::path::Path;

#[test]
fn every_scenario_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "scenarios found: {files:?}");
    for f in files {
        let (_, reports) =
            run_in_process(&f, |_| {}).unwrap_or_else(|e| panic!("{}: {e:#}", f.display()));
        let failed: Vec<String> = reports
            .iter()
            .filter(|r| !r.ok)
            .map(|r| r.to_json().to_string())
            .collect();
        assert!(failed.is_empty(), "{}:\n{}", f.display(), failed.join("\n"));
    }
}
