//! Proxied vs direct: a small GET to a child cluster's apiserver, straight to the child and
//! through the parent (kube-apiserver's aggregation proxy → hub → websocket tunnel → agent →
//! child), both measured in the same run on the same machine. Prints p50/p99 latency and
//! requests/s at 1, 16 and 64 concurrent clients, and the ratios proxied/direct.
//!
//! Then the hub's own write path: shadow create/update/patch of ConfigMaps through the parent
//! beside the same writes of plain ConfigMaps to the parent, and the hub's connections to the
//! parent with 0 and with 200 shadow watches open (each is passed through to the parent).
//!
//! `make bench-proxy` (release build). `BENCH_SECONDS` sets the time per measurement (5),
//! `BENCH_WRITES` the writes of each kind (300).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clusternet_test_support::certs::TestCa;
use clusternet_test_support::clusternet::{self, EnvOptions, Environment};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

const PATH: &str = "/api/v1/namespaces/default";
const LEVELS: [usize; 3] = [1, 16, 64];

#[derive(Clone)]
struct Target {
    client: kube::Client,
    /// Path prefix before the child path (the hub serves `sockets/<id>/proxy/direct` itself).
    prefix: String,
    /// Impersonation headers (the proxied path carries the child credential as extras).
    headers: Vec<(&'static str, String)>,
}

impl Target {
    async fn get(&self) -> Result<()> {
        let mut request = http::Request::get(format!("{}{PATH}", self.prefix));
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        let body = self.client.request_text(request.body(Vec::new())?).await?;
        if !body.contains("\"name\":\"default\"") {
            bail!("unexpected answer: {body}");
        }
        Ok(())
    }
}

struct Figures {
    p50: Duration,
    p99: Duration,
    per_second: f64,
}

async fn measure(target: &Target, clients: usize, seconds: f64) -> Result<Figures> {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (target, stop) = (target.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                target.get().await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = started.elapsed();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Ok(Figures {
        p50: at(0.50),
        p99: at(0.99),
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
    })
}

async fn client_from(path: &std::path::Path) -> Result<kube::Client> {
    let kubeconfig = Kubeconfig::read_from(path)?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("kubeconfig {}", path.display()))?;
    Ok(kube::Client::try_from(config)?)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    eprintln!("starting parent + 1 child with Clusternet (tunnel mode)…");
    let env = Environment::start(1, EnvOptions::default()).await?;
    let child = &env.children[0];
    let token = env.child_token(0, "bench", "cluster-admin").await?;

    // Direct: the child's own apiserver with the same ServiceAccount token.
    let direct_kubeconfig = env
        .parent
        .kubeconfig()
        .with_file_name("bench-direct.kubeconfig");
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": child.server(), "certificate-authority": child.pki("ca.crt")}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c"});
    std::fs::write(&direct_kubeconfig, config.to_string())?;
    let direct = Target {
        client: client_from(&direct_kubeconfig).await?,
        prefix: String::new(),
        headers: Vec::new(),
    };
    // Proxied: the parent's admin impersonates `clusternet` with the token as extra, the way
    // Clusternet documents child kubeconfigs; the server is sockets/<id>/proxy/direct.
    let proxied_config = {
        let kubeconfig = Kubeconfig::read_from(env.parent.kubeconfig())?;
        let mut config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        config.cluster_url = env.proxy_url(0).await?.parse()?;
        config
    };
    let proxied = Target {
        client: kube::Client::try_from(proxied_config)?,
        prefix: String::new(),
        headers: vec![
            ("Impersonate-User", "clusternet".to_string()),
            ("Impersonate-Extra-Clusternet-Token", token.clone()),
        ],
    };
    // The hub alone (no parent in front): what the aggregator would send it — its front-proxy
    // client certificate and the X-Remote-* identity headers.
    let hub_direct = {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let front_proxy = TestCa::from_files(
            &env.parent.pki("front-proxy-ca.crt"),
            &env.parent.pki("front-proxy-ca.key"),
        )?
        .issue_client("front-proxy-client", None)?;
        let hub_ca = clusternet::hub_ca_pem(&env.parent).await?;
        let config = json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "hub", "cluster": {"server": format!("https://{}", env.hub.addr),
                "certificate-authority-data": b64(&hub_ca), "tls-server-name": "clusternet-hub.clusternet-system.svc"}}],
            "users": [{"name": "aggregator", "user": {"client-certificate-data": b64(&front_proxy.cert), "client-key-data": b64(&front_proxy.key)}}],
            "contexts": [{"name": "hub", "context": {"cluster": "hub", "user": "aggregator"}}],
            "current-context": "hub"});
        let path = env
            .parent
            .kubeconfig()
            .with_file_name("bench-hub.kubeconfig");
        std::fs::write(&path, config.to_string())?;
        Target {
            client: client_from(&path).await?,
            prefix: format!(
                "/apis/proxies.clusternet.io/v1alpha1/sockets/{}/proxy/direct",
                env.cluster_id(0).await?
            ),
            headers: vec![
                ("X-Remote-User", "clusternet".to_string()),
                ("X-Remote-Group", "system:authenticated".to_string()),
                ("X-Remote-Extra-Clusternet-Token", token.clone()),
            ],
        }
    };
    // Warm both paths (connections, the hub's child transport, caches).
    for _ in 0..200 {
        direct.get().await?;
        proxied.get().await?;
        hub_direct.get().await?;
    }

    println!(
        "GET {PATH} on a child ({seconds} s per cell, release build, one machine):\n  direct = child apiserver; via parent = parent kube-apiserver → hub → tunnel → agent → child;\n  hub only = hub → tunnel → agent → child (what the parent's aggregator sends the hub)"
    );
    println!(
        "{:>7} | {:>9} {:>9} {:>7} | {:>9} {:>9} {:>7} | {:>9} {:>9} {:>7} | {:>13} {:>13}",
        "clients",
        "direct",
        "p99",
        "req/s",
        "via parent",
        "p99",
        "req/s",
        "hub only",
        "p99",
        "req/s",
        "parent ×p50/p99",
        "hub ×p50/p99"
    );
    for clients in LEVELS {
        let d = measure(&direct, clients, seconds).await?;
        let p = measure(&proxied, clients, seconds).await?;
        let h = measure(&hub_direct, clients, seconds).await?;
        let ratio = |x: &Figures| {
            format!(
                "{:.2}/{:.2}",
                x.p50.as_secs_f64() / d.p50.as_secs_f64(),
                x.p99.as_secs_f64() / d.p99.as_secs_f64()
            )
        };
        println!(
            "{:>7} | {:>9} {:>9} {:>7.0} | {:>9} {:>9} {:>7.0} | {:>9} {:>9} {:>7.0} | {:>13} {:>13}",
            clients,
            ms(d.p50),
            ms(d.p99),
            d.per_second,
            ms(p.p50),
            ms(p.p99),
            p.per_second,
            ms(h.p50),
            ms(h.p99),
            h.per_second,
            ratio(&p),
            ratio(&h),
        );
        println!(
            "{:>7}   requests/s ratio: via parent {:.2}, hub only {:.2}",
            "",
            p.per_second / d.per_second,
            h.per_second / d.per_second
        );
    }
    writes(&env, &hub_direct).await?;
    watches(&env).await?;
    Ok(())
}

/// p50/p90/p99 and the share of samples over 30 ms of `samples` (sorted in place).
fn spread(samples: &mut [Duration]) -> (Duration, Duration, Duration, usize) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    let slow = samples
        .iter()
        .filter(|d| **d >= Duration::from_millis(30))
        .count();
    (at(0.50), at(0.90), at(0.99), slow)
}

/// Shadow create/update/patch through the parent vs the same writes of ConfigMaps to the
/// parent, alternating so every path sees the same machine; with the hub alone (what the
/// aggregator sends it) and a dry-run create on the parent (the validation each shadow write
/// asks the parent for) to show where the time goes.
async fn writes(env: &Environment, hub: &Target) -> Result<()> {
    let n: usize = std::env::var("BENCH_WRITES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let ns = "bench-writes";
    env.parent.kubectl(["create", "namespace", ns]).await?;
    let admin = client_from(env.parent.kubeconfig()).await?;
    let as_admin = vec![
        ("X-Remote-User", "bench-admin".to_string()),
        ("X-Remote-Group", "system:masters".to_string()),
    ];
    let shadow = format!("/apis/shadow/v1alpha1/namespaces/{ns}/configmaps");
    // (label, client, collection, headers, dry-run)
    let paths = [
        (
            "direct",
            admin.clone(),
            format!("/api/v1/namespaces/{ns}/configmaps"),
            vec![],
            false,
        ),
        (
            "dry-run",
            admin.clone(),
            format!("/api/v1/namespaces/{ns}/configmaps"),
            vec![],
            true,
        ),
        ("hub", hub.client.clone(), shadow.clone(), as_admin, false),
        ("shadow", admin.clone(), shadow, vec![], false),
        // What the hub stores: the same object as a Manifest, written straight to the parent.
        (
            "manifest",
            admin,
            "/apis/apps.clusternet.io/v1alpha1/namespaces/clusternet-reserved/manifests".into(),
            vec![],
            false,
        ),
    ];
    // A template-sized object (about 2 KiB, like a small Deployment).
    let filler = "x".repeat(2000);
    let mut samples: Vec<[Vec<Duration>; 3]> = paths.iter().map(|_| Default::default()).collect();
    for i in 0..n + 20 {
        for (p, (what, client, collection, headers, dry_run)) in paths.iter().enumerate() {
            let timed = |request: http::request::Builder, body: Vec<u8>| {
                let mut request = request;
                for (name, value) in headers {
                    request = request.header(*name, value);
                }
                let client = client.clone();
                async move {
                    let request = request.body(body)?;
                    let t = Instant::now();
                    let body = client.request_text(request).await?;
                    anyhow::Ok((t.elapsed(), body))
                }
            };
            let name = format!("{what}-{i}");
            let mut object = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": ns}, "data": {"a": "1", "filler": filler}});
            let manifest = *what == "manifest";
            if manifest {
                object = json!({"apiVersion": "apps.clusternet.io/v1alpha1", "kind": "Manifest",
                    "metadata": {"name": format!("configmaps.{ns}.{name}"), "namespace": "clusternet-reserved",
                        "labels": {"apps.clusternet.io/config.kind": "ConfigMap", "apps.clusternet.io/config.name": name,
                            "apps.clusternet.io/config.namespace": ns}},
                    "template": object});
            }
            let name = if manifest {
                format!("configmaps.{ns}.{name}")
            } else {
                name
            };
            let query = if *dry_run { "?dryRun=All" } else { "" };
            let (t_create, created) = timed(
                http::Request::post(format!("{collection}{query}"))
                    .header("Content-Type", "application/json"),
                serde_json::to_vec(&object)?,
            )
            .await?;
            if i >= 20 {
                samples[p][0].push(t_create);
            }
            if *dry_run {
                continue;
            }
            let mut created: serde_json::Value = serde_json::from_str(&created)?;
            if manifest {
                created["template"]["data"]["a"] = json!("2");
            } else {
                created["data"]["a"] = json!("2");
            }
            let (t_update, updated) = timed(
                http::Request::put(format!("{collection}/{name}"))
                    .header("Content-Type", "application/json"),
                serde_json::to_vec(&created)?,
            )
            .await?;
            if !updated.contains("\"a\":\"2\"") {
                bail!("{what} update: {updated}");
            }
            let (t_patch, patched) = timed(
                http::Request::patch(format!("{collection}/{name}"))
                    .header("Content-Type", "application/merge-patch+json"),
                if manifest {
                    br#"{"template":{"data":{"b":"3"}}}"#.to_vec()
                } else {
                    br#"{"data":{"b":"3"}}"#.to_vec()
                },
            )
            .await?;
            if !patched.contains("\"b\":\"3\"") {
                bail!("{what} patch: {patched}");
            }
            // The first 20 of each warm connections and caches.
            if i >= 20 {
                samples[p][1].push(t_update);
                samples[p][2].push(t_patch);
            }
        }
    }
    println!(
        "\nConfigMap writes (2 KiB), 1 client, {n} of each, paths alternating:\n  direct = the parent's kube-apiserver; dry-run = the same create with ?dryRun=All (the\n  validation a shadow write asks the parent for); manifest = the same object written as the\n  Manifest the hub stores, straight to the parent; hub = /apis/shadow/v1alpha1 sent to the\n  hub as the aggregator sends it; shadow = the same through the parent (what users see);\n  floor = dry-run + manifest, the two parent writes a shadow write waits for in turn"
    );
    println!(
        "{:>7} | {:>9} {:>9} {:>6} | {:>9} {:>9} {:>9} | {:>9} {:>9} | {:>9} {:>9} {:>9} {:>6} | {:>10}",
        "write",
        "direct",
        "p99",
        "≥30ms",
        "dry-run",
        "manifest",
        "floor",
        "hub",
        "p99",
        "shadow",
        "p90",
        "p99",
        "≥30ms",
        "shadow ×p50/p99"
    );
    for (k, kind) in ["create", "update", "patch"].iter().enumerate() {
        let (d50, _, d99, dslow) = spread(&mut samples[0][k]);
        let dry = if samples[1][k].is_empty() {
            "-".to_string()
        } else {
            ms(spread(&mut samples[1][k]).0)
        };
        let (h50, _, h99, _) = spread(&mut samples[2][k]);
        let (s50, s90, s99, sslow) = spread(&mut samples[3][k]);
        let (m50, _, _, _) = spread(&mut samples[4][k]);
        // Update and patch validate with a dry-run of the same size as create's.
        let dry50 = spread(&mut samples[1][0].clone()).0;
        println!(
            "{:>7} | {:>9} {:>9} {:>6} | {:>9} {:>9} {:>9} | {:>9} {:>9} | {:>9} {:>9} {:>9} {:>6} | {:>10}",
            kind,
            ms(d50),
            ms(d99),
            dslow,
            dry,
            ms(m50),
            ms(dry50 + m50),
            ms(h50),
            ms(h99),
            ms(s50),
            ms(s90),
            ms(s99),
            sslow,
            format!(
                "{:.2}/{:.2}",
                s50.as_secs_f64() / d50.as_secs_f64(),
                s99.as_secs_f64() / d99.as_secs_f64()
            )
        );
    }
    Ok(())
}

/// The hub's established connections to the parent's kube-apiserver with 0 and 200 shadow
/// watches open through the parent.
async fn watches(env: &Environment) -> Result<()> {
    use clusternet_test_support::process::connections_to;
    use futures::AsyncReadExt;
    let port: u16 = env
        .parent
        .server()
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .context("parent port")?;
    let hub = env.hub.process.pid;
    let settle = || tokio::time::sleep(Duration::from_secs(3));
    settle().await;
    let idle = connections_to(hub, port);
    let client = client_from(env.parent.kubeconfig()).await?;
    let mut open = Vec::new();
    for i in 0..200 {
        let request = http::Request::get(format!(
            "/apis/shadow/v1alpha1/namespaces/bench-writes/configmaps?watch=1&labelSelector=w%3D{i}"
        ))
        .body(Vec::new())?;
        let mut lines = client.request_stream(request).await?;
        open.push(tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            while lines.read(&mut buf).await.unwrap_or(0) > 0 {}
        }));
    }
    settle().await;
    let busy = connections_to(hub, port);
    for task in open {
        task.abort();
    }
    println!(
        "\nhub → parent kube-apiserver, established TCP connections: {idle} idle, {busy} with 200 shadow watches open"
    );
    Ok(())
}
