//! Compares the printers with Kubernetes' own Go printers on objects the test control plane
//! cannot serve: alpha/beta kinds that are off by default and edge cases a real server would
//! not store (invalid selectors, conflicting conditions, non-canonical quantities).
//!
//! `tests/goprinters/cases.json` is produced by `hack/goprinters` (`cases.py | go run main.go`):
//! the Go program decodes each object with kube-apiserver's scheme (conversion to the internal
//! version plus defaulting), prints it with `pkg/printers/internalversion` (wide), and records
//! the defaulted object as a server would return it (`served`) and the wall-clock window of the
//! print call. The crate must produce identical cells and row conditions from `served` for a
//! "now" at either end of that window.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use clusternet_printers::{TableConvertor, TableInput, TableOptions};
use serde_json::Value;

#[test]
fn cells_match_go_printers() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/goprinters/cases.json");
    let cases: Vec<Value> =
        serde_json::from_slice(&std::fs::read(path).expect("cases")).expect("json");
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?");
        assert!(
            case.get("error").is_none(),
            "{name}: oracle error {}",
            case["error"]
        );
        let served = &case["served"];
        let api_version = served["apiVersion"].as_str().unwrap();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let conv = TableConvertor::for_kind(group, version, served["kind"].as_str().unwrap());
        assert!(!conv.is_default(), "{name}: no printer for {api_version}");
        let want_conditions = case.get("conditions").cloned().unwrap_or(Value::Null);
        let mut last = None;
        let ok = ["before", "after"].iter().any(|k| {
            let now: jiff::Timestamp = case[*k].as_str().unwrap().parse().unwrap();
            let table = conv.table(TableInput::Object(served), &TableOptions::default(), now);
            let row = &table["rows"][0];
            let got = (
                row["cells"].clone(),
                row.get("conditions").cloned().unwrap_or(Value::Null),
            );
            let matched = got.0 == case["cells"] && got.1 == want_conditions;
            last = Some(got);
            matched
        });
        if !ok {
            failures.push(format!(
                "{name}: got {:?}\n      want {} {}",
                last, case["cells"], want_conditions
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
