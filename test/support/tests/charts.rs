//! The local chart sources against the real Helm CLI and the real OCI registry: what the Helm
//! deployer's end-to-end tests rely on.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use anyhow::Result;
use clusternet_test_support::charts::{ChartRepos, REALM, raw_get};
use clusternet_test_support::paths;

#[tokio::test]
async fn helm_reads_every_chart_source() -> Result<()> {
    let t = Instant::now();
    let scratch = paths::scratch_dir("charts")?;
    let repos = ChartRepos::start(scratch.path()).await?;
    eprintln!(
        "chart sources up in {:.1}s: {} | {} | {}",
        t.elapsed().as_secs_f64(),
        repos.http_url,
        repos.auth_url,
        repos.oci_url
    );
    let helm = repos.helm();

    // The public repository, both versions of hello.
    let shown = helm
        .run([
            "show",
            "chart",
            "hello",
            "--repo",
            &repos.http_url,
            "--version",
            "0.2.0",
        ])
        .await?;
    assert!(shown.contains("name: hello"), "{shown}");
    assert!(shown.contains("version: 0.2.0"), "{shown}");
    let values = helm
        .run(["show", "values", "hello", "--repo", &repos.http_url])
        .await?;
    assert!(values.contains("greeting: hello"), "{values}");
    for (chart, version) in [("mysql", "9.2.0"), ("broken", "0.1.0"), ("broken", "0.2.0")] {
        let shown = helm
            .run([
                "show",
                "chart",
                chart,
                "--repo",
                &repos.http_url,
                "--version",
                version,
            ])
            .await?;
        assert!(shown.contains(&format!("version: {version}")), "{shown}");
    }

    // The basic-auth repository: 401 without credentials, the chart with them.
    let denied = helm
        .output([
            "show",
            "chart",
            "example",
            "--repo",
            &repos.auth_url,
            "--version",
            "0.0.1",
        ])
        .await?;
    assert!(!denied.success, "{denied:?}");
    assert!(denied.stderr.contains("401"), "{}", denied.stderr);
    eprintln!("without credentials: {}", denied.stderr.trim());
    let shown = helm
        .run([
            "show",
            "chart",
            "example",
            "--repo",
            &repos.auth_url,
            "--version",
            "0.0.1",
            "--username",
            &repos.username,
            "--password",
            &repos.password,
        ])
        .await?;
    assert!(shown.contains("name: example"), "{shown}");
    assert!(shown.contains("version: 0.0.1"), "{shown}");
    let wrong = helm
        .output([
            "show",
            "chart",
            "example",
            "--repo",
            &repos.auth_url,
            "--username",
            &repos.username,
            "--password",
            "wrong",
        ])
        .await?;
    assert!(!wrong.success && wrong.stderr.contains("401"), "{wrong:?}");
    // example is only there; hello only in the public one.
    let absent = helm
        .output(["show", "chart", "example", "--repo", &repos.http_url])
        .await?;
    assert!(!absent.success, "{absent:?}");

    // The OCI registry.
    for version in ["0.1.0", "0.2.0"] {
        let shown = helm
            .run([
                "show",
                "chart",
                &format!("{}/hello", repos.oci_url),
                "--version",
                version,
                "--plain-http",
            ])
            .await?;
        assert!(shown.contains(&format!("version: {version}")), "{shown}");
    }
    let shown = helm
        .run([
            "show",
            "chart",
            &format!("{}/mysql", repos.oci_url),
            "--version",
            "9.2.0",
            "--plain-http",
        ])
        .await?;
    assert!(shown.contains("name: mysql"), "{shown}");

    // A chart no repository has.
    let missing = helm
        .output(["show", "chart", "nope", "--repo", &repos.http_url])
        .await?;
    assert!(!missing.success, "{missing:?}");
    assert!(missing.stderr.contains("not found"), "{}", missing.stderr);
    eprintln!("unknown chart: {}", missing.stderr.trim());

    // The rendered templates are what the Helm tests look for.
    let rendered = helm
        .run([
            "template",
            "demo",
            "hello",
            "--repo",
            &repos.http_url,
            "--version",
            "0.2.0",
            "--namespace",
            "hello",
            "--set",
            "color=green",
        ])
        .await?;
    for line in [
        "name: demo-hello",
        "namespace: hello",
        "greeting: \"hello\"",
        "color: \"green\"",
        "chartVersion: \"0.2.0\"",
    ] {
        assert!(rendered.contains(line), "{line} in {rendered}");
    }

    // The file server itself: types, no way out of its directory, the auth challenge.
    let public = &repos.http_url.trim_start_matches("http://").to_string();
    let index = raw_get(public, "/index.yaml", &[]).await?;
    assert_eq!(index.status, 200);
    assert_eq!(index.header("content-type"), Some("text/yaml"));
    assert!(
        index
            .body
            .contains(&format!("{}/hello-0.2.0.tgz", repos.http_url))
    );
    let archive = raw_get(public, "/hello-0.1.0.tgz", &[]).await?;
    assert_eq!(archive.status, 200);
    assert_eq!(archive.header("content-type"), Some("application/gzip"));
    for target in [
        "/../helm/config/repositories.yaml",
        "/",
        "/nope.tgz",
        "/a/../index.yaml",
    ] {
        assert_eq!(raw_get(public, target, &[]).await?.status, 404, "{target}");
    }
    let challenge = raw_get(
        repos.auth_url.trim_start_matches("http://"),
        "/index.yaml",
        &[],
    )
    .await?;
    assert_eq!(challenge.status, 401);
    assert_eq!(
        challenge.header("www-authenticate"),
        Some(format!("Basic realm=\"{REALM}\"").as_str())
    );

    let took = t.elapsed();
    eprintln!("done in {:.1}s", took.as_secs_f64());
    assert!(took.as_secs() < 60, "took {took:?}");

    // Dropping stops the registry and the servers.
    let registry = repos.oci_host().to_string();
    drop(repos);
    assert!(raw_get(&registry, "/v2/", &[]).await.is_err());
    assert!(raw_get(public, "/index.yaml", &[]).await.is_err());
    Ok(())
}
