//! The CRDs committed in `deploy/crds/` must be exactly what `crdgen` generates from the types.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const REGENERATE: &str =
    "make crds   (or: cargo run -p clusternet-apis --bin crdgen -- deploy/crds)";

fn crds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/crds")
}

/// The first line where `expected` and `actual` differ, for the failure message.
fn first_difference(expected: &str, actual: &str) -> String {
    let mut expected_lines = expected.lines();
    let mut actual_lines = actual.lines();
    let mut line = 1;
    loop {
        match (expected_lines.next(), actual_lines.next()) {
            (Some(e), Some(a)) if e == a => line += 1,
            (None, None) => return "only line endings differ".to_string(),
            (e, a) => {
                return format!(
                    "line {line}:\n  generated: {}\n  committed: {}",
                    e.unwrap_or("<end of file>"),
                    a.unwrap_or("<end of file>")
                );
            }
        }
    }
}

#[test]
fn committed_crds_match_the_types() {
    let dir = crds_dir();
    let files = clusternet_apis::crd_files().expect("generate CRDs");
    let mut problems = Vec::new();

    for (name, crd) in &files {
        let generated = clusternet_apis::to_yaml(crd).expect("render CRD");
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Err(err) => problems.push(format!("deploy/crds/{name} is missing ({err})")),
            Ok(committed) if committed != generated => problems.push(format!(
                "deploy/crds/{name} is out of date, first difference at {}",
                first_difference(&generated, &committed)
            )),
            Ok(_) => {}
        }
    }

    // Generated files whose CRD no longer exists.
    let wanted: BTreeSet<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let generated_by_us = std::fs::read_to_string(entry.path())
                .is_ok_and(|text| text.starts_with(clusternet_apis::crd::GENERATED_HEADER));
            if generated_by_us && !wanted.contains(name.as_str()) {
                problems.push(format!("deploy/crds/{name} no longer corresponds to a CRD"));
            }
        }
    }

    assert!(
        problems.is_empty(),
        "the CRDs in deploy/crds/ do not match the Rust types in apis/:\n\n{}\n\nRegenerate them with:\n    {REGENERATE}\n",
        problems.join("\n\n")
    );
}

#[test]
fn generation_is_deterministic() {
    let render = || -> Vec<(String, String)> {
        clusternet_apis::crd_files()
            .expect("generate CRDs")
            .iter()
            .map(|(name, crd)| (name.clone(), clusternet_apis::to_yaml(crd).expect("render")))
            .collect()
    };
    assert_eq!(render(), render());
}

#[test]
fn file_names_follow_clusternet() {
    let names: Vec<String> = clusternet_apis::crd_files()
        .expect("generate CRDs")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        names,
        [
            "apps.clusternet.io_bases.yaml",
            "apps.clusternet.io_descriptions.yaml",
            "apps.clusternet.io_feedinventories.yaml",
            "apps.clusternet.io_globalizations.yaml",
            "apps.clusternet.io_helmcharts.yaml",
            "apps.clusternet.io_helmreleases.yaml",
            "apps.clusternet.io_localizations.yaml",
            "apps.clusternet.io_manifests.yaml",
            "apps.clusternet.io_subscriptions.yaml",
            "clusters.clusternet.io_clusterregistrationrequests.yaml",
            "clusters.clusternet.io_managedclusters.yaml",
            "multicluster.x-k8s.io_serviceexports.yaml",
            "multicluster.x-k8s.io_serviceimports.yaml",
        ]
    );
}
