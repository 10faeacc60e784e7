//! Everything in `deploy/` is accepted by a real parent: CRDs for real, the rest by a
//! server-side dry-run (namespaced objects need their namespace, so namespaces are applied
//! first for real).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::{Context, Result};
use clusternet_test_support::{ControlPlane, paths};

#[tokio::test]
async fn deploy_manifests_pass_a_server_side_dry_run() -> Result<()> {
    let parent = ControlPlane::start("parent").await?;
    let deploy = paths::workspace_root().join("deploy");
    parent
        .kubectl([
            "apply",
            "--server-side",
            "-f",
            &deploy.join("crds").to_string_lossy(),
        ])
        .await?;
    parent
        .kubectl([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd",
            "--all",
        ])
        .await?;
    parent
        .kubectl([
            "apply",
            "--server-side",
            "-f",
            &deploy.join("hub/00-namespaces.yaml").to_string_lossy(),
        ])
        .await?;
    let mut checked = 0;
    let mut dirs: Vec<_> = std::fs::read_dir(&deploy)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        // CRDs are installed for real above; examples are templates for the shadow API,
        // exercised end to end by tests/apps.rs; charts are Helm charts, rendered, compared
        // with these manifests and installed by tests/charts.rs.
        if dir.ends_with("crds") || dir.ends_with("examples") || dir.ends_with("charts") {
            continue;
        }
        let out = parent
            .kubectl([
                "apply",
                "--server-side",
                "--dry-run=server",
                "-f",
                &dir.to_string_lossy(),
            ])
            .await
            .with_context(|| format!("dry-run of {}", dir.display()))?;
        for line in out.lines() {
            assert!(
                line.ends_with("(server dry run)"),
                "{}: {line}",
                dir.display()
            );
            checked += 1;
        }
        eprintln!(
            "{}: {} objects accepted",
            dir.display(),
            out.lines().count()
        );
    }
    assert!(checked >= 15, "only {checked} objects checked");
    Ok(())
}
