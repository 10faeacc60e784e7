//! Multi-cluster apps end to end, the whole of Clusternet on real control planes (parent with
//! hub, controller-manager and scheduler; three children with agents, kube-scheduler and one KWOK
//! node each, so the pods Clusternet deploys really run), driven with kubectl and the fixtures
//! users copy from `deploy/examples/`: replication with a Globalization and Localizations (ready
//! in every child, and so in the Subscription's aggregated status), static dividing by weight,
//! dynamic dividing by the nodes' free capacity, a child that rejects an object, a child joining
//! the affinity later, a child going not ready, and deletion.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clusternet_e2e::examples::get;
use clusternet_test_support::clusternet::{EnvOptions, Environment};
use clusternet_test_support::kwok::NodeCapacity;
use clusternet_test_support::{ControlPlane, paths, wait_for};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);

fn example(path: &str) -> String {
    paths::workspace_root()
        .join("deploy/examples")
        .join(path)
        .display()
        .to_string()
}

async fn apply(cp: &ControlPlane, doc: &str) -> Result<String> {
    cp.kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(doc))
        .await
}

/// Waits until `check` holds for what `kubectl get <args>` shows in `cp`.
async fn until(
    what: &str,
    cp: &ControlPlane,
    args: &[&str],
    check: impl Fn(Option<&Value>) -> bool,
) -> Result<Option<Value>> {
    wait_for(what, TIMEOUT, POLL, || async {
        let v = get(cp, args).await?;
        Ok(check(v.as_ref()).then_some(v))
    })
    .await
}

fn replicas(d: Option<&Value>) -> Option<i64> {
    d?["spec"]["replicas"].as_i64()
}

/// `(ready, available)` replicas a Deployment reports.
fn ready(d: Option<&Value>) -> (i64, i64) {
    let status = d.map(|d| &d["status"]);
    let get = |k: &str| status.and_then(|s| s[k].as_i64()).unwrap_or(0);
    (get("readyReplicas"), get("availableReplicas"))
}

/// Waits until Deployment `namespace/name` in `cp` has `want` replicas, all ready and available.
async fn until_ready(cp: &ControlPlane, namespace: &str, name: &str, want: i64) -> Result<()> {
    until(
        &format!("{namespace}/{name} in {} {want}/{want} ready", cp.name()),
        cp,
        &["deploy", name, "-n", namespace],
        |d| replicas(d) == Some(want) && ready(d) == (want, want),
    )
    .await
    .map(drop)
}

/// `(cluster name, readyReplicas, availableReplicas)` of a feed in one cluster.
type ClusterReplicas = (String, i64, i64);

/// The aggregated status of the Deployment feed `namespace/name` of a Subscription: per cluster
/// name `(readyReplicas, availableReplicas)`, and the summary's.
fn aggregated(sub: &Value, namespace: &str, name: &str) -> (Vec<ClusterReplicas>, (i64, i64)) {
    let feed = sub["status"]["aggregatedStatuses"]
        .as_array()
        .and_then(|a| {
            a.iter().find(|f| {
                f["kind"] == "Deployment" && f["namespace"] == namespace && f["name"] == name
            })
        })
        .cloned()
        .unwrap_or(Value::Null);
    let figures = |s: &Value| {
        let r = &s["replicaStatus"];
        (
            r["readyReplicas"].as_i64().unwrap_or(0),
            r["availableReplicas"].as_i64().unwrap_or(0),
        )
    };
    let details = feed["feedStatusDetails"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|c| {
                    let (r, a) = figures(c);
                    (c["clusterName"].as_str().unwrap_or("").to_string(), r, a)
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    // The hub lists clusters in `bindingClusters` order (their dedicated namespaces, which are
    // derived from cluster ids), as Go Clusternet does; compare by cluster name.
    let mut details = details;
    details.sort();
    (details, figures(&feed["feedStatusSummary"]))
}

/// Millicores of a CPU quantity (`"2"`, `"100m"`, `"1.5"`).
fn millicores(q: &str) -> Result<i64> {
    Ok(match q.strip_suffix('m') {
        Some(m) => m.parse()?,
        None => (q.parse::<f64>()? * 1000.0).round() as i64,
    })
}

/// Free CPU (millicores) of the nodes of `cp`: allocatable minus the requests of the pods bound
/// to them that have not terminated — what the agent's predictor divides by.
async fn free_millicores(cp: &ControlPlane) -> Result<i64> {
    let nodes = get(cp, &["nodes"]).await?.context("nodes")?;
    let mut free = 0;
    for node in nodes["items"].as_array().context("items")? {
        free += millicores(
            node["status"]["allocatable"]["cpu"]
                .as_str()
                .context("cpu")?,
        )?;
    }
    let pods = get(cp, &["pods", "-A"]).await?.context("pods")?;
    for pod in pods["items"].as_array().context("items")? {
        let terminal =
            ["Succeeded", "Failed"].contains(&pod["status"]["phase"].as_str().unwrap_or(""));
        if terminal || pod["spec"]["nodeName"].as_str().is_none() {
            continue;
        }
        for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
            if let Some(cpu) = c["resources"]["requests"]["cpu"].as_str() {
                free -= millicores(cpu)?;
            }
        }
    }
    Ok(free)
}

/// The dedicated namespace of the cluster named `name` on the parent.
async fn cluster_namespace(parent: &ControlPlane, name: &str) -> Result<String> {
    let mcls = get(parent, &["mcls", "-A"]).await?.context("mcls")?;
    mcls["items"]
        .as_array()
        .context("items")?
        .iter()
        .find(|mc| mc["metadata"]["name"] == name)
        .and_then(|mc| mc["metadata"]["namespace"].as_str())
        .map(String::from)
        .with_context(|| format!("no ManagedCluster {name}"))
}

#[tokio::test]
async fn multi_cluster_apps_across_three_children() -> Result<()> {
    // Each agent serves Clusternet's predictor (on its own port: the children share a host);
    // a 2 s heartbeat makes the not-ready grace period 8 s (its Lease).
    let mut env = Environment::start(3, EnvOptions::multi_cluster_apps(3)?).await?;
    // One KWOK node per child, of 2, 6 and 2 CPUs: what dynamic dividing divides by.
    for (child, cpu) in env.children.iter().zip(["2", "6", "2"]) {
        child
            .add_kwok_node("kwok-node-0", &NodeCapacity::new(cpu, "16Gi", 110))
            .await?;
    }
    let result = scenarios(&mut env).await;
    result.with_context(|| env.logs())
}

/// Replicas the scheduler gave each bound cluster (by cluster name) for the Deployment feed.
fn decided_replicas(sub: &Value) -> Vec<(String, i64)> {
    let clusters: Vec<String> = sub["status"]["bindingClusters"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str()?.split('/').nth(1).map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let replicas = sub["status"]["replicas"]
        .as_object()
        .and_then(|m| m.iter().find(|(k, _)| k.contains("Deployment")))
        .and_then(|(_, v)| v.as_array().cloned())
        .unwrap_or_default();
    clusters
        .into_iter()
        .zip(replicas.iter().map(|r| r.as_i64().unwrap_or(-1)))
        .collect()
}

/// Waits until gold-tier binds child1 and not child3; the Subscription.
async fn child3_unbound(parent: &ControlPlane, when: &str) -> Result<Value> {
    until(
        &format!("child3 unbound from gold-tier {when}"),
        parent,
        &["subs", "gold-tier", "-n", "default"],
        |s| {
            s.is_some_and(|s| {
                let bound = s["status"]["bindingClusters"].to_string();
                bound.contains("child1") && !bound.contains("child3")
            })
        },
    )
    .await?
    .context("subscription")
}

/// Starts child3's agent again and waits until gold-tier binds it and its ConfigMap is back.
async fn child3_back(env: &mut Environment, when: &str) -> Result<()> {
    env.agents[2] = env.start_agent(2).await?;
    until(
        &format!("child3 bound again {when}"),
        &env.parent,
        &["subs", "gold-tier", "-n", "default"],
        |s| {
            s.is_some_and(|s| {
                s["status"]["bindingClusters"]
                    .to_string()
                    .contains("child3")
            })
        },
    )
    .await?;
    until(
        &format!("tier-config in child3 {when}"),
        &env.children[2],
        &["cm", "tier-config", "-n", "gold"],
        |c| c.is_some(),
    )
    .await?;
    Ok(())
}

/// Each ManagedCluster: name, Ready status, taint keys (a line each).
async fn fleet(parent: &ControlPlane) -> Result<String> {
    let out = parent
        .kubectl([
            "get",
            "mcls",
            "-A",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.spec.taints[*].key}{"\n"}{end}"#,
        ])
        .await?;
    Ok(out.trim().to_string())
}

async fn scenarios(env: &mut Environment) -> Result<()> {
    let parent = &env.parent;
    let children = &env.children;
    let mut namespaces = Vec::new();
    for i in 1..=3 {
        namespaces.push(cluster_namespace(parent, &format!("child{i}")).await?);
    }

    // ---- Replication with a Globalization and two Localizations (child1 only) ----------------
    parent
        .kubectl(["apply", "-f", &example("replication/feeds.yaml")])
        .await?;
    parent
        .kubectl(["apply", "-f", &example("replication/globalization.yaml")])
        .await?;
    let localizations = format!(
        r#"
apiVersion: apps.clusternet.io/v1alpha1
kind: Localization
metadata:
  name: nginx-higher-priority
  namespace: {ns}
spec:
  priority: 600
  feed: {{apiVersion: apps/v1, kind: Deployment, name: my-nginx, namespace: demo}}
  overrides:
  - name: scale
    type: JSONPatch
    value: '[{{"op": "replace", "path": "/spec/replicas", "value": 3}}]'
---
apiVersion: apps.clusternet.io/v1alpha1
kind: Localization
metadata:
  name: nginx-lower-priority
  namespace: {ns}
spec:
  priority: 300
  feed: {{apiVersion: apps/v1, kind: Deployment, name: my-nginx, namespace: demo}}
  overrides:
  - name: label-and-scale
    type: MergePatch
    value: '{{"metadata": {{"labels": {{"deployed-in": "child1"}}}}, "spec": {{"replicas": 1}}}}'
"#,
        ns = namespaces[0]
    );
    apply(parent, &localizations).await?;
    let created = Instant::now();
    parent
        .kubectl(["apply", "-f", &example("replication/subscription.yaml")])
        .await?;
    for (i, child) in children.iter().enumerate() {
        let want = if i == 0 { 3 } else { 2 };
        let d = until(
            &format!("my-nginx in child{} with {want} replicas", i + 1),
            child,
            &["deploy", "my-nginx", "-n", "demo"],
            |d| replicas(d) == Some(want),
        )
        .await?
        .context("deployment")?;
        let labels = &d["metadata"]["labels"];
        assert_eq!(labels["some-label"], "some-value", "Globalization: {d}");
        assert_eq!(
            d["metadata"]["annotations"]["overridden-by"], "globalization",
            "{d}"
        );
        // The lower-priority Localization applies first; its replicas lose to the higher one.
        let expected_local = if i == 0 { "child1" } else { "" };
        assert_eq!(
            labels["deployed-in"].as_str().unwrap_or_default(),
            expected_local,
            "{d}"
        );
        until(
            "my-nginx-svc",
            child,
            &["svc", "my-nginx-svc", "-n", "demo"],
            |s| s.is_some(),
        )
        .await?;
    }
    eprintln!(
        "replication: in all 3 children, overrides applied, {:?} after the Subscription",
        created.elapsed()
    );
    // The pods run: every child's Deployment turns ready, and the Subscription says so.
    for (i, child) in children.iter().enumerate() {
        until_ready(child, "demo", "my-nginx", if i == 0 { 3 } else { 2 }).await?;
    }
    eprintln!(
        "replication: my-nginx ready in all 3 children {:?} after the Subscription; child2:\n{}",
        created.elapsed(),
        children[1].kubectl(["get", "deploy", "-n", "demo"]).await?
    );
    let sub = until(
        "aggregated status with the ready replicas of every child",
        parent,
        &["subs", "app-demo", "-n", "default"],
        |s| {
            s.is_some_and(|s| {
                let (details, summary) = aggregated(s, "demo", "my-nginx");
                summary == (7, 7) && details.len() == 3
            })
        },
    )
    .await?
    .context("subscription")?;
    let (details, _) = aggregated(&sub, "demo", "my-nginx");
    assert_eq!(
        details,
        [
            ("child1".to_string(), 3, 3),
            ("child2".to_string(), 2, 2),
            ("child3".to_string(), 2, 2)
        ],
        "{sub}"
    );
    eprintln!(
        "replication: aggregated status (ready, available) per cluster {details:?}, {:?} after the Subscription",
        created.elapsed()
    );
    let bound = sub["status"]["bindingClusters"]
        .as_array()
        .context("bindingClusters")?;
    assert_eq!(bound.len(), 3, "{sub}");
    eprintln!(
        "kubectl get subs:\n{}",
        parent.kubectl(["get", "subs", "-n", "default"]).await?
    );

    // ---- Static dividing by weights: 6 replicas → child1 2, child2 4, child3 none ------------
    parent
        .kubectl(["apply", "-f", &example("static-dividing/feeds.yaml")])
        .await?;
    parent
        .kubectl(["apply", "-f", &example("static-dividing/subscription.yaml")])
        .await?;
    for (i, want) in [(0usize, 2i64), (1, 4)] {
        until(
            &format!("static dividing: {want} replicas in child{}", i + 1),
            &children[i],
            &["deploy", "my-nginx", "-n", "bar"],
            |d| replicas(d) == Some(want),
        )
        .await?;
        // Running pods take their CPU requests from the node (dynamic dividing sees that).
        until_ready(&children[i], "bar", "my-nginx", want).await?;
    }
    let sub = until(
        "static dividing status",
        parent,
        &["subs", "static-dividing-scheduling-demo", "-n", "default"],
        |s| s.is_some_and(|s| s["status"]["bindingClusters"].as_array().map(Vec::len) == Some(2)),
    )
    .await?
    .context("subscription")?;
    eprintln!("static dividing status: {}", sub["status"]);
    assert!(
        get(&children[2], &["ns", "bar"]).await?.is_none(),
        "child3 is not a subscriber of the static dividing"
    );

    // ---- Dynamic dividing: 6 replicas of 100m by the nodes' free CPU -------------------------
    // (2, 6 and 2 CPUs, minus what the running pods request: the static dividing's 2 and 4.)
    let mut capacity = Vec::new();
    for child in children.iter() {
        capacity.push(free_millicores(child).await? / 100);
    }
    eprintln!("dynamic dividing: replicas of 100m each child can take: {capacity:?}");
    parent
        .kubectl(["apply", "-f", &example("dynamic-dividing/feeds.yaml")])
        .await?;
    parent
        .kubectl([
            "apply",
            "-f",
            &example("dynamic-dividing/subscription.yaml"),
        ])
        .await?;
    let sub = until(
        "dynamic dividing decided",
        parent,
        &["subs", "dynamic-dividing-scheduling-demo", "-n", "default"],
        |s| s.is_some_and(|s| decided_replicas(s).len() == 3),
    )
    .await?
    .context("subscription")?;
    let decided = decided_replicas(&sub);
    eprintln!("dynamic dividing decided: {decided:?}");
    assert_eq!(
        decided.iter().map(|(_, r)| r).sum::<i64>(),
        6,
        "{decided:?}"
    );
    let most = decided.iter().max_by_key(|(_, r)| *r).context("decided")?;
    assert_eq!(
        most.0, "child2",
        "the largest cluster takes the most: {decided:?}"
    );
    // In proportion to the free capacity: each share within one replica of 6·cᵢ/Σc.
    let total: i64 = capacity.iter().sum();
    for (name, got) in &decided {
        let i: usize = name.trim_start_matches("child").parse::<usize>()? - 1;
        let exact = 6.0 * capacity[i] as f64 / total as f64;
        assert!(
            (*got as f64 - exact).abs() < 1.0,
            "{name}: {got} replicas for a {exact:.2} share of capacities {capacity:?}"
        );
    }
    for (name, want) in &decided {
        let i: usize = name.trim_start_matches("child").parse::<usize>()? - 1;
        until(
            &format!("dynamic dividing: {want} replicas in {name}"),
            &children[i],
            &["deploy", "my-nginx", "-n", "qux"],
            |d| replicas(d) == Some(*want),
        )
        .await?;
        until_ready(&children[i], "qux", "my-nginx", *want).await?;
    }
    let sub = until(
        "dynamic dividing: the ready replicas in the aggregated status",
        parent,
        &["subs", "dynamic-dividing-scheduling-demo", "-n", "default"],
        |s| s.is_some_and(|s| aggregated(s, "qux", "my-nginx").1 == (6, 6)),
    )
    .await?
    .context("subscription")?;
    eprintln!(
        "dynamic dividing: running and ready as decided; aggregated {:?}",
        aggregated(&sub, "qux", "my-nginx").0
    );

    // ---- A child joins the affinity later: it gets the app -----------------------------------
    for (i, namespace) in namespaces.iter().take(2).enumerate() {
        parent
            .kubectl([
                "label",
                "mcls",
                "-n",
                namespace,
                &format!("child{}", i + 1),
                "tier=gold",
            ])
            .await?;
    }
    let gold = r#"
apiVersion: shadow/v1alpha1
kind: Namespace
metadata:
  name: gold
---
apiVersion: shadow/v1alpha1
kind: ConfigMap
metadata:
  name: tier-config
  namespace: gold
data:
  tier: gold
---
apiVersion: apps.clusternet.io/v1alpha1
kind: Subscription
metadata:
  name: gold-tier
  namespace: default
spec:
  subscribers:
  - clusterAffinity:
      matchLabels:
        tier: gold
  feeds:
  - {apiVersion: v1, kind: Namespace, name: gold}
  - {apiVersion: v1, kind: ConfigMap, name: tier-config, namespace: gold}
"#;
    apply(parent, gold).await?;
    for child in &children[..2] {
        until(
            "tier-config",
            child,
            &["cm", "tier-config", "-n", "gold"],
            |c| c.is_some(),
        )
        .await?;
    }
    assert!(get(&children[2], &["ns", "gold"]).await?.is_none());
    let t = Instant::now();
    parent
        .kubectl(["label", "mcls", "-n", &namespaces[2], "child3", "tier=gold"])
        .await?;
    until(
        "tier-config in child3",
        &children[2],
        &["cm", "tier-config", "-n", "gold"],
        |c| c.is_some(),
    )
    .await?;
    eprintln!(
        "child3 labelled tier=gold → it has the app after {:?}",
        t.elapsed()
    );

    // ---- A child goes not ready: Replication drops it (as Clusternet), back when it returns --
    let t = Instant::now();
    env.agents[2].stop();
    let sub = child3_unbound(parent, "once not ready").await?;
    eprintln!(
        "child3's agent stopped → unbound after {:?}: {}",
        t.elapsed(),
        sub["status"]["bindingClusters"]
    );
    child3_back(env, "after its agent restarted").await?;

    // ---- The whole fleet goes silent at once: marked not ready, but nothing is taken off ------
    // (more than 2 and at least 55 % silent: the parent, not the clusters, is likely at fault,
    // as kube-controller-manager's node lifecycle judges a disrupted zone). Once two are back,
    // the one still silent is tainted and unbound as above.
    for agent in env.agents.iter_mut() {
        agent.stop();
    }
    let t = Instant::now();
    let parent = &env.parent;
    let seen = wait_for("all three clusters not ready", TIMEOUT, POLL, || async {
        let f = fleet(parent).await?;
        Ok((f.lines().count() == 3 && f.lines().all(|l| l.contains(" Unknown"))).then_some(f))
    })
    .await?;
    eprintln!(
        "all three agents stopped → all not ready after {:?}:\n{seen}",
        t.elapsed()
    );
    // Well past two resyncs of the lifecycle (5 s) after they were marked.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let f = fleet(parent).await?;
    anyhow::ensure!(
        !f.contains("clusters.clusternet.io/unschedulable"),
        "a fleet silent at once is not tainted unschedulable:\n{f}"
    );
    let sub = get(parent, &["subs", "gold-tier", "-n", "default"])
        .await?
        .context("gold-tier")?;
    let bound = sub["status"]["bindingClusters"].to_string();
    anyhow::ensure!(
        bound.contains("child1") && bound.contains("child3"),
        "nothing is unbound while the whole fleet is silent: {bound}"
    );
    anyhow::ensure!(
        std::fs::read_to_string(&env.controller_manager.log)?
            .contains("most clusters went silent at once"),
        "the controller-manager says why it holds off"
    );
    eprintln!("12 s later: still untainted, gold-tier still bound to {bound}");
    env.agents[0] = env.start_agent(0).await?;
    env.agents[1] = env.start_agent(1).await?;
    let t = Instant::now();
    let parent = &env.parent;
    child3_unbound(parent, "once it alone is silent").await?;
    eprintln!(
        "child1 and child2 back → child3 tainted and unbound after {:?}: {}",
        t.elapsed(),
        fleet(parent).await?
    );
    child3_back(env, "after the fleet came back").await?;
    let parent = &env.parent;
    let children = &env.children;

    // ---- A child rejects an object: a clear reason; the others still get theirs ---------------
    let broken = format!(
        r#"
apiVersion: apps.clusternet.io/v1alpha1
kind: Localization
metadata:
  name: break-it
  namespace: {ns}
spec:
  priority: 700
  overridePolicy: ApplyNow
  feed: {{apiVersion: apps/v1, kind: Deployment, name: my-nginx, namespace: demo}}
  overrides:
  - name: negative
    type: JSONPatch
    value: '[{{"op": "replace", "path": "/spec/replicas", "value": -1}}]'
"#,
        ns = namespaces[1]
    );
    apply(parent, &broken).await?;
    let failed = wait_for(
        "child2's Description to fail with the child's message",
        TIMEOUT,
        POLL,
        || async {
            let list = get(parent, &["descriptions", "-n", &namespaces[1]])
                .await?
                .context("descriptions")?;
            Ok(list["items"].as_array().and_then(|items| {
                items
                    .iter()
                    .find(|d| d["status"]["phase"] == "Failure")
                    .map(|d| {
                        d["status"]["reason"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string()
                    })
            }))
        },
    )
    .await?;
    assert!(failed.contains("spec.replicas"), "{failed}");
    eprintln!("child2 rejects replicas -1: {failed}");
    // The Service of the same Description is still there, and the other children unaffected.
    assert!(
        get(&children[1], &["svc", "my-nginx-svc", "-n", "demo"])
            .await?
            .is_some()
    );
    assert_eq!(
        replicas(
            get(&children[2], &["deploy", "my-nginx", "-n", "demo"])
                .await?
                .as_ref()
        ),
        Some(2)
    );
    parent
        .kubectl(["delete", "localization", "break-it", "-n", &namespaces[1]])
        .await?;

    // ---- Deleting the Subscription removes what it created in every child --------------------
    let t = Instant::now();
    parent
        .kubectl([
            "delete",
            "subs",
            "app-demo",
            "-n",
            "default",
            "--wait=false",
        ])
        .await?;
    for (i, child) in children.iter().enumerate() {
        until(
            &format!("my-nginx gone from child{}", i + 1),
            child,
            &["deploy", "my-nginx", "-n", "demo"],
            |d| d.is_none(),
        )
        .await?;
    }
    eprintln!(
        "Subscription deleted → gone from all 3 children in {:?}",
        t.elapsed()
    );

    // All along, the parent's kube-controller-manager watched every shadow kind (garbage
    // collector, namespace controller): none of its informers may have failed on them.
    let failures = parent.controller_manager_informer_failures("shadow")?;
    if !failures.is_empty() {
        anyhow::bail!(
            "kube-controller-manager's informers failed on the shadow group ({} lines), e.g.:\n{}",
            failures.len(),
            failures[..failures.len().min(5)].join("\n")
        );
    }
    Ok(())
}
