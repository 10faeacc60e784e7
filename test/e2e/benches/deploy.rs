//! Subscription created → object present in every bound child: p50/p99 over 100 Subscriptions
//! (Replication of one ConfigMap each to every child), against the direct path measured in the
//! same run (the same ConfigMap created straight in a child → seen by a watch on that child).
//!
//! Each Subscription is also traced hop by hop, from watches on the parent: bound by the
//! scheduler (`status.bindingClusters`), every Base created, every Description created, every
//! Description `Success`, the object in every child (p50/p99 of each hop's time from the
//! previous one).
//!
//! `make bench-deploy` (release build). `BENCH_SUBSCRIPTIONS` (100), `BENCH_CHILDREN` (3).

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

/// Hops of a Subscription seen on the parent: (hop, Subscription name or — for Descriptions —
/// Base UID, object) → first seen.
type Hops = Arc<Mutex<HashMap<(Hop, String, String), Instant>>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Hop {
    Bound,
    Base,
    Description,
    Success,
    /// (Owner, Base UID, Subscription name): which Subscription a Base belongs to.
    Owner,
}

/// Records the hops of Subscriptions (by `apps.clusternet.io/subs.name`) on the parent.
fn watch_hops(parent: kube::Client, hops: Hops) {
    use clusternet_apis::apps::v1alpha1::{Base, Description, DescriptionPhase, Subscription};
    use kube::ResourceExt;
    fn record<K, F>(api: Api<K>, hops: Hops, what: F)
    where
        K: kube::Resource<DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned
            + Send
            + 'static,
        F: Fn(&K) -> Vec<(Hop, String, String)> + Send + 'static,
    {
        tokio::spawn(async move {
            let mut events = std::pin::pin!(watcher(api, watcher::Config::default()));
            while let Some(event) = events.next().await {
                let Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj)) = event else {
                    continue;
                };
                let now = Instant::now();
                let mut hops = hops.lock().expect("hops");
                for key in what(&obj) {
                    hops.entry(key).or_insert(now);
                }
            }
        });
    }
    let sub_of = |labels: &std::collections::BTreeMap<String, String>| {
        labels
            .get(clusternet_apis::known::CONFIG_SUBSCRIPTION_NAME_LABEL)
            .cloned()
            .unwrap_or_default()
    };
    record(
        Api::<Subscription>::all(parent.clone()),
        hops.clone(),
        |s: &Subscription| {
            let bound = s
                .status
                .as_ref()
                .is_some_and(|st| !st.binding_clusters.is_empty());
            if bound {
                vec![(Hop::Bound, s.name_any(), String::new())]
            } else {
                vec![]
            }
        },
    );
    // Descriptions carry their Base's UID; the Base, its Subscription's name.
    record(
        Api::<Base>::all(parent.clone()),
        hops.clone(),
        move |b: &Base| {
            vec![
                (
                    Hop::Base,
                    sub_of(b.labels()),
                    b.namespace().unwrap_or_default(),
                ),
                (Hop::Owner, b.uid().unwrap_or_default(), sub_of(b.labels())),
            ]
        },
    );
    record(
        Api::<Description>::all(parent),
        hops,
        move |d: &Description| {
            let base = d
                .labels()
                .get(clusternet_apis::known::CONFIG_UID_LABEL)
                .cloned()
                .unwrap_or_default();
            let mut out = vec![(Hop::Description, base.clone(), d.name_any())];
            if d.status.as_ref().and_then(|s| s.phase) == Some(DescriptionPhase::Success) {
                out.push((Hop::Success, base, d.name_any()));
            }
            out
        },
    );
}

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
    let children = env_number("BENCH_CHILDREN", 3);
    eprintln!("starting parent + {children} children with the whole of Clusternet…");
    let env = Environment::start(children, EnvOptions::deployer()).await?;
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
    let hops: Hops = Arc::default();
    watch_hops(parent.clone(), hops.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut through = Vec::new();
    // Per Subscription: [bound, every Base, every Description, every Success, every child]
    // as time since the previous hop.
    let mut legs: Vec<[Duration; 5]> = Vec::new();
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
        // The parent's watches may report the last hops a little after the child's.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let hops = hops.lock().expect("hops");
        let bases: Vec<&String> = hops
            .keys()
            .filter(|(h, _, sub)| *h == Hop::Owner && *sub == name)
            .map(|(_, uid, _)| uid)
            .collect();
        let last = |hop: Hop| {
            hops.iter()
                .filter(|((h, owner, _), _)| {
                    *h == hop
                        && match hop {
                            Hop::Description | Hop::Success => bases.contains(&owner),
                            _ => *owner == name,
                        }
                })
                .map(|(_, at)| *at)
                .max()
        };
        let bound = hops
            .get(&(Hop::Bound, name.clone(), String::new()))
            .copied();
        if let (Some(b), Some(base), Some(desc), Some(ok)) = (
            bound,
            last(Hop::Base),
            last(Hop::Description),
            last(Hop::Success),
        ) {
            let since = |later: Instant, earlier: Instant| later.saturating_duration_since(earlier);
            legs.push([
                since(b, t),
                since(base, b),
                since(desc, base),
                since(ok, desc),
                since(at, desc),
            ]);
        }
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
    println!(
        "\nhop by hop ({} of {count} traced; each from the hop before, as the parent's watches saw them):",
        legs.len()
    );
    let names = [
        "created → bound by the scheduler",
        "bound → every Base created",
        "Bases → every Description created",
        "Descriptions → every Description Success",
        "Descriptions → object in every child",
    ];
    for (k, name) in names.iter().enumerate() {
        if legs.is_empty() {
            break;
        }
        let (p50, p99) = percentiles(legs.iter().map(|l| l[k]).collect());
        println!("{:<46} {:>9} {:>9}", name, ms(p50), ms(p99));
    }
    Ok(())
}
