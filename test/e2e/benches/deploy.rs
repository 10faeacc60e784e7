//! Subscription created → object present in every bound child: p50/p99 over 100 Subscriptions
//! (Replication of one ConfigMap each to every child), against the direct path measured in the
//! same run (the same ConfigMap created straight in a child → seen by a watch on that child).
//!
//! `make bench-deploy` (release build). `BENCH_SUBSCRIPTIONS` (100), `BENCH_CHILDREN` (2).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clusternet_test_support::clusternet::{EnvOptions, Environment};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use serde_json::json;

type Seen = Arc<Mutex<HashMap<(usize, String), Instant>>>;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Records when each ConfigMap in namespace `bench` first appears in child `i`.
fn watch_child(i: usize, client: kube::Client, seen: Seen) {
    tokio::spawn(async move {
        let api: Api<ConfigMap> = Api::namespaced(client, "bench");
        let mut events = std::pin::pin!(watcher(api, watcher::Config::default()));
        while let Some(event) = events.next().await {
            let objects = match event {
                Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => vec![cm],
                _ => continue,
            };
            let now = Instant::now();
            let mut seen = seen.lock().expect("seen");
            for cm in objects {
                if let Some(name) = cm.metadata.name {
                    seen.entry((i, name)).or_insert(now);
                }
            }
        }
    });
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (at(0.50), at(0.99))
}

async fn wait_seen(seen: &Seen, keys: &[(usize, String)], timeout: Duration) -> Result<Instant> {
    let deadline = Instant::now() + timeout;
    loop {
        {
            let seen = seen.lock().expect("seen");
            if keys.iter().all(|k| seen.contains_key(k)) {
                return Ok(keys.iter().map(|k| seen[k]).max().expect("keys"));
            }
        }
        if Instant::now() > deadline {
            bail!("not every child got {keys:?} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<()> {
    let count = env_number("BENCH_SUBSCRIPTIONS", 100);
    let children = env_number("BENCH_CHILDREN", 2);
    eprintln!("starting parent + {children} children with the whole of Clusternet…");
    let env = Environment::start(
        children,
        EnvOptions {
            scheduler: true,
            controller_manager_args: vec![
                "--feature-gates=SocketConnection=true,Deployer=true,FeedInventory=true".into(),
            ],
            ..Default::default()
        },
    )
    .await?;
    let parent = env.parent.client().await?;
    let seen: Seen = Arc::default();
    for (i, child) in env.children.iter().enumerate() {
        child.kubectl(["create", "namespace", "bench"]).await?;
        watch_child(i, child.client().await?, seen.clone());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Direct: create in child 0, seen by the watch on child 0.
    let direct_api: Api<ConfigMap> = Api::namespaced(env.children[0].client().await?, "bench");
    let mut direct = Vec::new();
    for n in 0..count {
        let name = format!("direct-{n:03}");
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": name}, "data": {"n": n.to_string()}}),
        )?;
        let t = Instant::now();
        direct_api.create(&PostParams::default(), &cm).await?;
        let at = wait_seen(&seen, &[(0, name)], Duration::from_secs(30)).await?;
        direct.push(at - t);
    }

    // Feeds first (templates in the shadow API), then one Subscription at a time.
    let shadow = |path: &str| format!("/apis/shadow/v1alpha1/{path}");
    let post = |uri: String, body: serde_json::Value| {
        let parent = parent.clone();
        async move {
            let request = http::Request::post(uri)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&body)?)?;
            parent.request_text(request).await.context("POST")
        }
    };
    post(
        shadow("namespaces"),
        json!({"apiVersion": "shadow/v1alpha1", "kind": "Namespace", "metadata": {"name": "bench"}}),
    )
    .await
    .ok(); // may exist
    for n in 0..count {
        post(
            shadow("namespaces/bench/configmaps"),
            json!({"apiVersion": "shadow/v1alpha1", "kind": "ConfigMap",
                   "metadata": {"name": format!("sub-{n:03}"), "namespace": "bench"}, "data": {"n": n.to_string()}}),
        )
        .await?;
    }
    let mut through = Vec::new();
    let started = Instant::now();
    for n in 0..count {
        let name = format!("sub-{n:03}");
        let subscription = json!({"apiVersion": "apps.clusternet.io/v1alpha1", "kind": "Subscription",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"subscribers": [{"clusterAffinity": {"matchExpressions": [{"key": "clusters.clusternet.io/cluster-id", "operator": "Exists"}]}}],
                     "feeds": [{"apiVersion": "v1", "kind": "ConfigMap", "name": name, "namespace": "bench"}]}});
        let t = Instant::now();
        post(
            "/apis/apps.clusternet.io/v1alpha1/namespaces/default/subscriptions".into(),
            subscription,
        )
        .await?;
        let keys: Vec<_> = (0..children).map(|i| (i, name.clone())).collect();
        let at = wait_seen(&seen, &keys, Duration::from_secs(60)).await?;
        through.push(at - t);
    }
    let total = started.elapsed();

    let (d50, d99) = percentiles(direct);
    let (s50, s99) = percentiles(through);
    println!(
        "{count} Subscriptions (Replication of one ConfigMap to {children} children), created one after another; release build, same machine"
    );
    println!("{:<46} {:>9} {:>9}", "", "p50", "p99");
    println!(
        "{:<46} {:>9} {:>9}",
        "direct: create in a child → seen there",
        ms(d50),
        ms(d99)
    );
    println!(
        "{:<46} {:>9} {:>9}",
        "Subscription created → present in every child",
        ms(s50),
        ms(s99)
    );
    println!(
        "{:<46} {:>9.1} {:>9.1}",
        "ratio",
        s50.as_secs_f64() / d50.as_secs_f64(),
        s99.as_secs_f64() / d99.as_secs_f64()
    );
    println!("all {count} Subscriptions delivered in {total:?}");
    Ok(())
}
