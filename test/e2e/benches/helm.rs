//! Memory of the components that run Helm while releases keep failing (Clusternet #493: Go's
//! hub grew to 840 MiB with 40 HelmReleases of which 30 failed). The same shape here, on real
//! control planes with the real Helm: one Subscription of 40 HelmCharts to a push-mode child,
//! 30 of them an atomic install of a chart whose template makes an invalid object (every
//! install fails in the child's apiserver and Helm removes it, so every attempt runs Helm
//! again), 10 a chart that installs. The controller-manager runs Helm for them
//! (through the hub's socket proxy); the table gives its RSS and the hub's as the failed
//! attempts (counted in the controller-manager's log) grow to `BENCH_HELM_ATTEMPTS` (200).
//!
//! `make bench-helm` (release build). `BENCH_HELM_FAILING` (30), `BENCH_HELM_GOOD` (10).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clusternet_e2e::examples::{children, get};
use clusternet_e2e::streams::rss_kib;
use clusternet_test_support::charts::ChartRepos;
use clusternet_test_support::clusternet::{EnvOptions, Environment};
use serde_json::{Value, json};

const FAILED: &str = "reconciling HelmRelease failed";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Failed reconciles in the controller-manager's log, read as it grows (each poll reads only
/// what was appended since the last).
#[derive(Default)]
struct FailedAttempts {
    offset: u64,
    count: usize,
    partial: String,
}

impl FailedAttempts {
    fn update(&mut self, log: &std::path::Path) -> usize {
        use std::io::{Read, Seek, SeekFrom};
        let mut appended = String::new();
        if let Ok(mut f) = std::fs::File::open(log)
            && f.seek(SeekFrom::Start(self.offset)).is_ok()
            && let Ok(n) = f.read_to_string(&mut appended)
        {
            self.offset += n as u64;
        }
        let text = std::mem::take(&mut self.partial) + &appended;
        let (complete, rest) = text.rsplit_once('\n').unwrap_or(("", &text));
        self.count += complete.lines().filter(|l| l.contains(FAILED)).count();
        self.partial = rest.to_string();
        self.count
    }
}

async fn apply(env: &Environment, docs: &[Value]) -> Result<()> {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": docs});
    env.parent
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(&list.to_string()))
        .await
        .map(|_| ())
}

/// Phases of the HelmReleases in `namespace`: (deployed, failed).
async fn release_phases(env: &Environment, namespace: &str) -> Result<(usize, usize)> {
    let list = get(&env.parent, &["helmreleases", "-n", namespace])
        .await?
        .context("helmreleases")?;
    let phases: Vec<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|hr| hr["status"]["phase"].as_str())
        .collect();
    Ok((
        phases.iter().filter(|p| **p == "deployed").count(),
        phases.iter().filter(|p| **p == "failed").count(),
    ))
}

#[tokio::main]
async fn main() -> Result<()> {
    let failing = env_number("BENCH_HELM_FAILING", 30);
    let good = env_number("BENCH_HELM_GOOD", 10);
    let attempts = env_number("BENCH_HELM_ATTEMPTS", 200);
    eprintln!(
        "starting parent + 1 push-mode child with the hub, scheduler and controller-manager…"
    );
    let options = EnvOptions {
        scheduler: true,
        controller_manager_args: vec!["--feature-gates=SocketConnection=true,Deployer=true".into()],
        ..Default::default()
    };
    let env = Environment::start(1, options).await?;
    let repos = ChartRepos::start(&env.dir.path().join("charts")).await?;
    let result = run(&env, &repos, failing, good, attempts).await;
    result.with_context(|| env.logs())
}

async fn run(
    env: &Environment,
    repos: &ChartRepos,
    failing: usize,
    good: usize,
    attempts: usize,
) -> Result<()> {
    let cm = env.controller_manager.pid;
    let hub = env.hub.process.pid;
    let namespace = children(&env.parent, 1).await?.remove(0).namespace;
    // The failing ones are atomic: Helm removes a failed install, so every attempt installs
    // again. (Without atomic, as in Go, a failed release whose spec does not change is left
    // failed and not run again.)
    let charts: Vec<(String, &str, bool)> = (0..failing)
        .map(|i| (format!("broken-{i}"), "broken", true))
        .chain((0..good).map(|i| (format!("hello-{i}"), "hello", false)))
        .collect();
    let mut docs: Vec<Value> = charts
        .iter()
        .map(|(name, chart, atomic)| {
            json!({
                "apiVersion": "apps.clusternet.io/v1alpha1",
                "kind": "HelmChart",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"repo": repos.http_url, "chart": chart, "version": "0.1.0",
                         "targetNamespace": "bench-helm", "atomic": atomic},
            })
        })
        .collect();
    docs.push(json!({
        "apiVersion": "apps.clusternet.io/v1alpha1",
        "kind": "Subscription",
        "metadata": {"name": "bench-helm", "namespace": "default"},
        "spec": {
            "schedulingStrategy": "Replication",
            "subscribers": [{"clusterAffinity": {"matchLabels": {
                "clusters.clusternet.io/cluster-name": "child1"}}}],
            "feeds": charts.iter().map(|(name, _, _)| json!({
                "apiVersion": "apps.clusternet.io/v1alpha1", "kind": "HelmChart",
                "name": name, "namespace": "default"})).collect::<Vec<_>>(),
        },
    }));

    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = (rss_kib(cm), rss_kib(hub));
    let started = Instant::now();
    apply(env, &docs).await?;
    eprintln!(
        "{} HelmCharts ({failing} failing, {good} installing) in one Subscription to child1; counting failed attempts…",
        failing + good
    );

    println!(
        "\nHelm releases that keep failing ({failing} failing + {good} deployed, push mode, real Helm {}):",
        repos
            .helm()
            .run(["version", "--short"])
            .await
            .unwrap_or_default()
            .trim()
    );
    println!(
        "{:>16} {:>9} {:>22} {:>14}",
        "failed attempts", "elapsed", "controller-manager RSS", "hub RSS"
    );
    println!(
        "{:>16} {:>9} {:>22} {:>14}",
        "idle",
        "-",
        mib(idle.0),
        mib(idle.1)
    );
    let step = (attempts / 8).max(1);
    let mut next = step;
    let mut peak = idle;
    let mut counted = FailedAttempts::default();
    let deadline = started + Duration::from_secs(900);
    loop {
        let n = counted.update(&env.controller_manager.log);
        let now = (rss_kib(cm), rss_kib(hub));
        peak = (peak.0.max(now.0), peak.1.max(now.1));
        if n >= next || n >= attempts {
            println!(
                "{:>16} {:>8.0?} {:>22} {:>14}",
                n,
                started.elapsed(),
                mib(now.0),
                mib(now.1)
            );
            next = (n / step + 1) * step;
        }
        if n >= attempts {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {n} failed attempts after {:?}", started.elapsed());
        }
        if !env.controller_manager.is_running() {
            bail!("the controller-manager exited");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (deployed, failed) = release_phases(env, &namespace).await?;
    println!(
        "peak: controller-manager {} (idle {}), hub {} (idle {}); HelmReleases now: {deployed} deployed, {failed} failed",
        mib(peak.0),
        mib(idle.0),
        mib(peak.1),
        mib(idle.1)
    );
    println!("(Clusternet #493, Go v0.11: hub 840 MiB with 40 HelmReleases, 30 failed)");
    Ok(())
}
