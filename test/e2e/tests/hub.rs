//! clusternet-hub as a real aggregated apiserver on a real parent.

use std::time::{Duration, Instant};

use anyhow::Result;
use clusternet_test_support::{ControlPlane, clusternet, paths};

#[tokio::test]
async fn apiservices_become_available_and_kubectl_discovers_sockets() -> Result<()> {
    let parent = ControlPlane::start("parent").await?;
    let dir = paths::scratch_dir("hub")?;
    let started = Instant::now();
    let _hub = clusternet::install_hub(
        &parent,
        dir.path(),
        clusternet::Mode::Owned,
        Default::default(),
    )
    .await?;
    let elapsed = started.elapsed();
    eprintln!("hub installed and both APIServices Available after {elapsed:?}");
    assert!(elapsed < Duration::from_secs(30));
    let out = parent.kubectl_cmd().output(["api-resources"], None).await?;
    assert!(out.success, "{}", out.stderr);
    assert!(out.stderr.is_empty(), "discovery errors: {}", out.stderr);
    assert!(
        out.stdout.lines().any(|l| l.starts_with("sockets ")),
        "{}",
        out.stdout
    );
    Ok(())
}
