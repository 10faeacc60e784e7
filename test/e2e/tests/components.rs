//! The components as Go Clusternet's manifests run them: the HTTPS health and metrics servers
//! of the agent, controller-manager and scheduler (what `curl` and Prometheus see, with and
//! without authorization), and Go's flags.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use anyhow::{Context, Result};
use clusternet_test_support::ControlPlane;
use clusternet_test_support::clusternet::{EnvOptions, Environment};

/// `curl -sk` of `https://<addr><path>` with extra arguments: (HTTP code, body).
async fn curl(addr: SocketAddr, path: &str, extra: &[&str]) -> Result<(u16, String)> {
    let out = tokio::process::Command::new("curl")
        .args(["-sk", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(extra)
        .arg(format!("https://{addr}{path}"))
        .output()
        .await
        .context("running curl")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    Ok((code.trim().parse().unwrap_or(0), body.to_string()))
}

/// A token of a new ServiceAccount `default/<name>` in `cp`, allowed `get` on `/metrics`
/// when `metrics` (as a Prometheus scraper is).
async fn token(cp: &ControlPlane, name: &str, metrics: bool) -> Result<String> {
    cp.kubectl(["create", "serviceaccount", name, "-n", "default"])
        .await?;
    if metrics {
        let _ = cp
            .kubectl([
                "create",
                "clusterrole",
                "test-metrics-reader",
                "--verb=get",
                "--non-resource-url=/metrics",
            ])
            .await;
        cp.kubectl([
            "create",
            "clusterrolebinding",
            &format!("{name}-metrics"),
            "--clusterrole=test-metrics-reader",
            &format!("--serviceaccount=default:{name}"),
        ])
        .await?;
    }
    Ok(cp
        .kubectl(["create", "token", name, "-n", "default"])
        .await?
        .trim()
        .to_string())
}

/// Health is open, /metrics needs `get /metrics` in the component's own cluster (the parent
/// for the controller-manager and scheduler, the child for the agent); a bad token is 401, a
/// token of the other cluster too, anonymous and an unprivileged user are 403.
#[tokio::test(flavor = "multi_thread")]
async fn health_and_metrics_over_https_with_delegated_authorization() -> Result<()> {
    let env = Environment::start(
        1,
        EnvOptions {
            scheduler: true,
            ..EnvOptions::deployer()
        },
    )
    .await?;
    env.wait_ready(std::time::Duration::from_secs(60)).await?;
    let parent_reader = token(&env.parent, "prometheus", true).await?;
    let parent_nobody = token(&env.parent, "nobody", false).await?;
    let child_reader = token(&env.children[0], "prometheus", true).await?;
    let child_nobody = token(&env.children[0], "nobody", false).await?;
    let scheduler = env.scheduler.as_ref().context("scheduler")?;
    let components = [
        (
            &env.controller_manager,
            &parent_reader,
            &parent_nobody,
            &child_reader,
            Some("clusternet-controller-manager"),
        ),
        (
            scheduler,
            &parent_reader,
            &parent_nobody,
            &child_reader,
            Some("clusternet-scheduler"),
        ),
        (
            &env.agents[0],
            &child_reader,
            &child_nobody,
            &parent_reader,
            Some("clusternet-agent"),
        ),
    ];
    for (component, reader, nobody, foreign, lease) in components {
        let addr = component.serving_address()?;
        let name = &component.name;
        for path in ["/healthz", "/livez", "/readyz"] {
            let (code, body) = curl(addr, path, &[]).await?;
            assert_eq!((code, body.as_str()), (200, "ok"), "{name} {path}");
        }
        let (code, body) = curl(addr, "/readyz?verbose", &[]).await?;
        assert_eq!(code, 200, "{name}: {body}");
        assert!(body.contains("[+]ping ok"), "{name}: {body}");

        let (code, body) = curl(addr, "/metrics", &[]).await?;
        assert_eq!(code, 403, "{name} anonymous /metrics: {body}");
        assert!(
            body.contains("forbidden: User \"system:anonymous\" cannot get path \"/metrics\""),
            "{name}: {body}"
        );
        let bearer = |t: &str| format!("Authorization: Bearer {t}");
        let (code, _) = curl(addr, "/metrics", &["-H", &bearer("not-a-token")]).await?;
        assert_eq!(code, 401, "{name}: a bad token");
        let (code, _) = curl(addr, "/metrics", &["-H", &bearer(foreign)]).await?;
        assert_eq!(code, 401, "{name}: a token of the other cluster");
        let (code, body) = curl(addr, "/metrics", &["-H", &bearer(nobody)]).await?;
        assert_eq!(code, 403, "{name}: a user without get /metrics: {body}");
        assert!(
            body.contains("system:serviceaccount:default:nobody"),
            "{name}: {body}"
        );
        let (code, body) = curl(addr, "/metrics", &["-H", &bearer(reader)]).await?;
        assert_eq!(code, 200, "{name}: {body}");
        assert!(
            body.contains("process_resident_memory_bytes"),
            "{name}: {body}"
        );
        if let Some(lease) = lease {
            assert!(
                body.contains(&format!(
                    "leader_election_master_status{{name=\"{lease}\"}} 1"
                )),
                "{name}: {body}"
            );
        }
        let (code, _) = curl(addr, "/nothing", &["-H", &bearer(reader)]).await?;
        assert_eq!(
            code, 403,
            "{name}: other paths are not allowed to the reader"
        );
        println!(
            "{name} at {addr}: health 200 anonymous; /metrics 403 anonymous, 401 bad or foreign token, 403 unprivileged, 200 with get /metrics"
        );
    }
    Ok(())
}
