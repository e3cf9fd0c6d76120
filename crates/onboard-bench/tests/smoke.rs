//! Every scenario at its tiny size, through the real binaries, so that none of
//! them can rot: the figures are not checked (a debug build on a busy CI machine
//! says nothing about speed), only that each scenario runs and reports.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const SCENARIOS: [&str; 7] = [
    "get-user",
    "list-users",
    "register",
    "feed-latency",
    "feed-fanout",
    "idle-connections",
    "webhook-delivery",
];

#[test]
fn every_scenario_runs_at_tiny_size_and_reports_beside_its_floor() {
    let bench = Path::new(env!("CARGO_BIN_EXE_onboard-bench"));
    let server = bench.with_file_name("onboard");
    assert!(
        server.is_file(),
        "{} is missing: `cargo test --workspace` builds it, or run `cargo build -p onboard-cli`",
        server.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("tiny.json");
    let out = Command::new(bench)
        .args(["all", "--size", "tiny", "--json"])
        .arg(&json)
        .output()
        .expect("Failed to run onboard-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");

    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["size"], "tiny");
    assert_eq!(report["failures"], Value::Array(vec![]));
    let rows = report["rows"].as_array().unwrap();
    for scenario in SCENARIOS {
        let mine: Vec<&Value> = rows.iter().filter(|r| r["scenario"] == scenario).collect();
        assert!(!mine.is_empty(), "no rows for {scenario}:\n{stdout}");
        assert!(
            mine.iter().any(|r| r["floor"].is_number()),
            "{scenario} has no floor:\n{stdout}"
        );
        assert!(stdout.contains(scenario), "{scenario} is not in the table");
    }
}
