//! The clients every component builds ([`clusternet_component_base::client::client`]) against a
//! real kube-apiserver: HTTP/2, watches sharing a few connections, and requests still answered
//! while more watches are open than one connection carries.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use clusternet_component_base::client;
use clusternet_component_base::transport::STREAMS_PER_CONNECTION;
use clusternet_test_support::ControlPlane;
use clusternet_test_support::process::connections_to;
use futures::AsyncBufReadExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_share_http2_connections_and_requests_still_pass() -> Result<()> {
    let cp = ControlPlane::start("transport").await?;
    let port: u16 = cp
        .server()
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .context("apiserver port")?;
    let config = client::config(Some(cp.kubeconfig())).await?;
    let kube = client::client(config)?;

    let answer = kube
        .send(http::Request::get("/version").body(kube::client::Body::empty())?)
        .await?;
    ensure!(
        answer.version() == http::Version::HTTP_2,
        "kube-apiserver answered in {:?}",
        answer.version()
    );

    // Past one connection's share: watches on a second connection, not queued behind.
    let watches = STREAMS_PER_CONNECTION + 50;
    let mut open = Vec::new();
    for i in 0..watches {
        let request = http::Request::get(format!(
            "/api/v1/namespaces/default/configmaps?watch=1&labelSelector=w%3D{i}"
        ))
        .body(Vec::new())?;
        let mut lines = kube.request_stream(request).await?.lines();
        open.push(tokio::spawn(async move {
            use futures::StreamExt;
            while lines.next().await.is_some() {}
        }));
    }
    let ns = tokio::time::timeout(
        Duration::from_secs(10),
        kube.request_text(http::Request::get("/api/v1/namespaces/default").body(Vec::new())?),
    )
    .await
    .context("a GET with every watch open was not answered within 10 s")??;
    ensure!(ns.contains("\"name\":\"default\""), "{ns}");

    let connections = connections_to(std::process::id(), port);
    eprintln!("{watches} watches and a GET: {connections} connections to the apiserver");
    ensure!(
        (2..=3).contains(&connections),
        "{watches} watches held {connections} connections (want 2: {STREAMS_PER_CONNECTION} streams each)"
    );
    for task in open {
        task.abort();
    }
    Ok(())
}
