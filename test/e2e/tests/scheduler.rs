//! clusternet-scheduler and the FeedInventory controller on real control planes: Subscriptions
//! in the shape of Clusternet's examples (replication, static dividing by weights, dynamic
//! dividing) over shadow Deployments, decisions checked in `status.bindingClusters` /
//! `status.replicas` exactly; re-scheduling on label changes and when a cluster turns not ready
//! (which, as in Go Clusternet, re-schedules Replication but not an unchanged Dividing
//! subscription). Independent of the deployer: nothing here needs Bases or Descriptions.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use clusternet_test_support::clusternet::{self, EnvOptions, Environment};
use clusternet_test_support::{ControlPlane, free_port, wait_for};
use serde_json::{Value, json};

const FEED_KEY: &str = "apps/v1/Deployment/sched-demo/web";

fn deployment(replicas: i32) -> String {
    format!(
        r#"
apiVersion: shadow/v1alpha1
kind: Deployment
metadata:
  name: web
  namespace: sched-demo
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        resources:
          requests:
            cpu: 100m
            memory: 64Mi
"#
    )
}

const SUBSCRIPTIONS: &str = r#"
apiVersion: apps.clusternet.io/v1alpha1
kind: Subscription
metadata:
  name: app-replication
  namespace: sched-demo
spec:
  subscribers:
    - clusterAffinity:
        matchLabels:
          sched-test/all: "yes"
  feeds:
    - apiVersion: apps/v1
      kind: Deployment
      name: web
      namespace: sched-demo
---
apiVersion: apps.clusternet.io/v1alpha1
kind: Subscription
metadata:
  name: app-static
  namespace: sched-demo
spec:
  schedulingStrategy: Dividing
  dividingScheduling:
    type: Static
  subscribers:
    - clusterAffinity:
        matchLabels:
          sched-test/group: a
      weight: 1
    - clusterAffinity:
        matchLabels:
          sched-test/group: b
      weight: 2
  feeds:
    - apiVersion: apps/v1
      kind: Deployment
      name: web
      namespace: sched-demo
---
apiVersion: apps.clusternet.io/v1alpha1
kind: Subscription
metadata:
  name: app-dynamic
  namespace: sched-demo
spec:
  schedulingStrategy: Dividing
  dividingScheduling:
    type: Dynamic
    dynamicDividing:
      strategy: Spread
  subscribers:
    - clusterAffinity:
        matchLabels:
          sched-test/all: "yes"
  feeds:
    - apiVersion: apps/v1
      kind: Deployment
      name: web
      namespace: sched-demo
"#;

async fn apply(parent: &ControlPlane, yaml: &str) -> Result<String> {
    parent
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(yaml))
        .await
}

async fn status(parent: &ControlPlane, name: &str) -> Result<Value> {
    let out = parent
        .kubectl(["get", "subs", "-n", "sched-demo", name, "-o", "json"])
        .await?;
    let sub: Value = serde_json::from_str(&out)?;
    Ok(sub.get("status").cloned().unwrap_or(json!({})))
}

fn bindings(status: &Value) -> Vec<String> {
    status["bindingClusters"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the status of `name` satisfies `check`, returning it.
async fn wait_status(
    parent: &ControlPlane,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Result<Value> {
    wait_for(
        what,
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            let s = status(parent, name).await?;
            Ok(check(&s).then_some(s))
        },
    )
    .await
}

#[tokio::test]
async fn scheduler_binds_and_reschedules_subscriptions() -> Result<()> {
    let mut env = Environment::start(
        2,
        EnvOptions {
            scheduler: true,
            controller_manager_args: vec![
                "--feature-gates=SocketConnection=true,FeedInventory=true".into(),
            ],
            // Fast heartbeats so that a stopped agent is noticed in seconds (the agent stamps
            // lastObservedTime when it collects, so collect faster than it reports).
            agent_args: vec![
                "--cluster-status-update-frequency=2s".into(),
                "--cluster-status-collect-frequency=1s".into(),
            ],
            ..Default::default()
        },
    )
    .await?;
    let result = run(&mut env).await;
    result.with_context(|| env.logs())
}

async fn run(env: &mut Environment) -> Result<()> {
    let parent = &env.parent;
    // ManagedClusters by child name.
    let out = parent
        .kubectl(["get", "mcls", "-A", "-o", "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.metadata.labels.clusters\\.clusternet\\.io/cluster-name}{\"\\n\"}{end}"])
        .await?;
    let mcls: BTreeMap<String, String> = out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(key, name)| (name.to_string(), key.to_string()))
        .collect();
    let (c1, c2) = (
        mcls.get("child1").context("child1 mcls")?.clone(),
        mcls.get("child2").context("child2 mcls")?.clone(),
    );
    let label = |key: &str, labels: &[&str]| {
        let (ns, name) = key.split_once('/').unwrap_or_default();
        let mut args = vec!["label", "mcls", "-n", ns, name, "--overwrite"];
        args.extend_from_slice(labels);
        parent.kubectl(args.into_iter().map(String::from).collect::<Vec<_>>())
    };
    label(&c1, &["sched-test/all=yes", "sched-test/group=a"]).await?;
    label(&c2, &["sched-test/all=yes", "sched-test/group=b"]).await?;

    clusternet::wait_for_shadow_resource(
        parent,
        "deployments.shadow",
        true,
        Duration::from_secs(60),
    )
    .await?;
    parent
        .kubectl(["create", "namespace", "sched-demo"])
        .await?;
    apply(parent, &deployment(6)).await?;
    apply(parent, SUBSCRIPTIONS).await?;

    let mut both = vec![c1.clone(), c2.clone()];
    both.sort();
    // Weight 1 (child1) : 2 (child2), in the binder's cluster order.
    let weighted = |a: i64, b: i64| {
        if c1 < c2 {
            json!([a, b])
        } else {
            json!([b, a])
        }
    };

    // Replication: every matching cluster, no replicas.
    let s = wait_status(
        parent,
        "app-replication",
        "replication bound to both clusters",
        |s| bindings(s) == both,
    )
    .await?;
    assert!(
        s.get("replicas").is_none(),
        "replication has no replicas: {s}"
    );
    assert_eq!(s["desiredReleases"], json!(2));
    assert!(s["specHash"].as_u64().is_some_and(|h| h > 0), "{s}");

    // Static dividing: 6 replicas at 1:2 → 2 and 4.
    let expected = weighted(2, 4);
    let s = wait_status(parent, "app-static", "static dividing 2/4", |s| {
        s["replicas"][FEED_KEY] == expected
    })
    .await?;
    assert_eq!(bindings(&s), both);
    assert_eq!(s["replicas"].as_object().map(|m| m.len()), Some(1), "{s}");
    // The FeedInventory the scheduler used.
    let finv: Value = serde_json::from_str(
        &parent
            .kubectl([
                "get",
                "feedinventory",
                "-n",
                "sched-demo",
                "app-static",
                "-o",
                "json",
            ])
            .await?,
    )?;
    let order = &finv["spec"]["feeds"][0];
    assert_eq!(order["desiredReplicas"], json!(6));
    assert_eq!(order["replicaJsonPath"], json!("/spec/replicas"));
    assert_eq!(
        order["replicaRequirements"]["resources"]["requests"],
        json!({"cpu": "100m", "memory": "64Mi"})
    );
    assert_eq!(
        finv["metadata"]["ownerReferences"][0]["kind"],
        json!("Subscription")
    );
    assert_eq!(
        finv["metadata"]["ownerReferences"][0]["controller"],
        json!(true)
    );

    // The feed scales to 7: FeedInventory follows, the remainder goes to the heavier cluster.
    apply(parent, &deployment(7)).await?;
    let expected = weighted(2, 5);
    wait_status(
        parent,
        "app-static",
        "static dividing 2/5 after scaling",
        |s| s["replicas"][FEED_KEY] == expected,
    )
    .await?;

    // Dynamic dividing without predictors: Clusternet fails the cycle and binds nothing.
    wait_for(
        "FailedScheduling for app-dynamic",
        Duration::from_secs(60),
        Duration::from_millis(250),
        || async {
            let out = parent
                .kubectl([
                    "get",
                    "events",
                    "-n",
                    "sched-demo",
                    "--field-selector=involvedObject.name=app-dynamic,reason=FailedScheduling",
                    "-o",
                    "jsonpath={.items[*].message}",
                ])
                .await?;
            Ok(out.contains("predictor is disabled").then_some(out))
        },
    )
    .await?;
    assert!(bindings(&status(parent, "app-dynamic").await?).is_empty());

    // kubectl get subs lists them.
    let out = parent.kubectl(["get", "subs", "-n", "sched-demo"]).await?;
    for name in ["app-replication", "app-static", "app-dynamic"] {
        assert!(out.contains(name), "{out}");
    }

    // A label change re-schedules: child2 leaves the replication subscribers, then rejoins.
    label(&c2, &["sched-test/all-"]).await?;
    wait_status(
        parent,
        "app-replication",
        "replication without child2",
        |s| bindings(s) == vec![c1.clone()],
    )
    .await?;
    label(&c2, &["sched-test/all=yes"]).await?;
    wait_status(
        parent,
        "app-replication",
        "replication with child2 again",
        |s| bindings(s) == both,
    )
    .await?;

    // child2 turns not ready (its agent stops): the lifecycle controller taints it
    // clusters.clusternet.io/unschedulable and Replication drops it.
    env.agents.get_mut(1).context("agent of child2")?.stop();
    let (ns2, name2) = c2.split_once('/').unwrap_or_default();
    wait_for(
        "child2 tainted unschedulable",
        Duration::from_secs(60),
        Duration::from_millis(250),
        || async {
            let out = parent
                .kubectl([
                    "get",
                    "mcls",
                    "-n",
                    ns2,
                    name2,
                    "-o",
                    "jsonpath={.spec.taints[*].key}",
                ])
                .await?;
            Ok(out
                .contains("clusters.clusternet.io/unschedulable")
                .then_some(()))
        },
    )
    .await?;
    wait_status(
        parent,
        "app-replication",
        "replication fails over to child1",
        |s| bindings(s) == vec![c1.clone()],
    )
    .await?;
    // As in Go Clusternet, an unchanged Dividing subscription is not re-scheduled.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = status(parent, "app-static").await?;
    assert_eq!(bindings(&s), both, "{s}");
    assert_eq!(s["replicas"][FEED_KEY], weighted(2, 5));
    Ok(())
}

/// Dynamic dividing with the agents' built-in predictors, one reached through the hub's sockets
/// proxy and one directly: replicas follow each cluster's predicted capacity, and scaling is
/// incremental.
#[tokio::test]
async fn dynamic_dividing_with_agent_predictors() -> Result<()> {
    let (p1, p2) = (free_port()?, free_port()?);
    let mut env = Environment::start(
        2,
        EnvOptions {
            scheduler: true,
            controller_manager_args: vec![
                "--feature-gates=SocketConnection=true,FeedInventory=true".into(),
            ],
            agent_gates: "SocketConnection=true,AppPusher=true,Predictor=true".into(),
            child_agent_args: vec![
                vec![format!("--predictor-port={p1}")],
                // child2's predictor is called by the scheduler directly.
                vec![
                    format!("--predictor-port={p2}"),
                    "--predictor-direct-access=true".into(),
                ],
            ],
            ..Default::default()
        },
    )
    .await?;
    let result = run_dynamic(&mut env).await;
    result.with_context(|| env.logs())
}

async fn run_dynamic(env: &mut Environment) -> Result<()> {
    let parent = &env.parent;
    // 100m/64Mi per replica: child1 fits 20 (2 cpu), child2 fits 60 (6 cpu).
    env.children[0].add_node("worker-1", "2", "4Gi").await?;
    env.children[1].add_node("worker-1", "6", "12Gi").await?;
    let out = parent
        .kubectl(["get", "mcls", "-A", "-o", "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.metadata.labels.clusters\\.clusternet\\.io/cluster-name} {.status.predictorEnabled} {.status.predictorAddress}{\"\\n\"}{end}"])
        .await?;
    // namespace/name, cluster name, predictorEnabled, predictorAddress
    let mut mcls = BTreeMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert!(
            f.len() == 4 && f[2] == "true" && f[3].starts_with("http://localhost:"),
            "predictor not reported: {out}"
        );
        mcls.insert(f[1].to_string(), f[0].to_string());
    }
    let (c1, c2) = (
        mcls.get("child1").context("child1 mcls")?.clone(),
        mcls.get("child2").context("child2 mcls")?.clone(),
    );
    for (key, direct) in [(&c1, "false"), (&c2, "true")] {
        let (ns, name) = key.split_once('/').unwrap_or_default();
        let reported = parent
            .kubectl([
                "get",
                "mcls",
                "-n",
                ns,
                name,
                "-o",
                "jsonpath={.status.predictorDirectAccess}",
            ])
            .await?;
        assert_eq!(reported.trim(), direct, "predictorDirectAccess of {key}");
        parent
            .kubectl(["label", "mcls", "-n", ns, name, "sched-test/all=yes"])
            .await?;
    }
    clusternet::wait_for_shadow_resource(
        parent,
        "deployments.shadow",
        true,
        Duration::from_secs(60),
    )
    .await?;
    parent
        .kubectl(["create", "namespace", "sched-demo"])
        .await?;
    apply(parent, &deployment(8)).await?;
    // Only the dynamic subscription of the examples.
    let dynamic = SUBSCRIPTIONS
        .split("---")
        .find(|d| d.contains("app-dynamic"))
        .context("app-dynamic")?;
    apply(parent, dynamic).await?;
    let weighted = |a: i64, b: i64| {
        if c1 < c2 {
            json!([a, b])
        } else {
            json!([b, a])
        }
    };
    let mut both = vec![c1.clone(), c2.clone()];
    both.sort();
    // 8 over capacities 20:60 → 2 and 6.
    let expected = weighted(2, 6);
    let s = wait_status(parent, "app-dynamic", "dynamic dividing 2/6", |s| {
        s["replicas"][FEED_KEY] == expected
    })
    .await?;
    assert_eq!(bindings(&s), both);
    // Scale up by 4: the deviation is divided by capacity (1:3) and added.
    apply(parent, &deployment(12)).await?;
    let expected = weighted(3, 9);
    wait_status(parent, "app-dynamic", "dynamic dividing 3/9", |s| {
        s["replicas"][FEED_KEY] == expected
    })
    .await?;
    // Scale down by 8: divided by the current replicas (3:9) → -2, -6.
    apply(parent, &deployment(4)).await?;
    let expected = weighted(1, 3);
    wait_status(parent, "app-dynamic", "dynamic dividing 1/3", |s| {
        s["replicas"][FEED_KEY] == expected
    })
    .await?;
    Ok(())
}

/// `--config` with Go's SchedulerConfiguration on real control planes: a malformed file stops
/// the scheduler at start with a message naming the field or plugin; without a file the default
/// profile keeps a Subscription off a cluster with a NoSchedule taint; with a file whose second
/// profile disables the TaintToleration filter (`disabled: [{name: "*"}]`), Subscriptions of that
/// scheduler name land on the tainted cluster too, while the file's `default` profile still
/// filters.
#[tokio::test]
async fn scheduler_config_file_profiles_and_plugins() -> Result<()> {
    let env = Environment::start(2, EnvOptions::default()).await?;
    let result = run_config(&env).await;
    result.with_context(|| env.logs())
}

const CONFIG_SUBSCRIPTION: &str = r#"
apiVersion: apps.clusternet.io/v1alpha1
kind: Subscription
metadata:
  name: NAME
  namespace: sched-cfg
spec:
  schedulerName: SCHEDULER
  subscribers:
    - clusterAffinity:
        matchLabels:
          sched-cfg/all: "yes"
  feeds:
    - apiVersion: v1
      kind: ConfigMap
      name: settings
      namespace: sched-cfg
"#;

async fn config_status(parent: &ControlPlane, name: &str) -> Result<Value> {
    let out = parent
        .kubectl(["get", "subs", "-n", "sched-cfg", name, "-o", "json"])
        .await?;
    let sub: Value = serde_json::from_str(&out)?;
    Ok(sub.get("status").cloned().unwrap_or(json!({})))
}

async fn wait_bound(parent: &ControlPlane, name: &str, want: &[String]) -> Result<()> {
    wait_for(
        &format!("{name} bound to {want:?}"),
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            let s = config_status(parent, name).await?;
            Ok((bindings(&s) == want).then_some(()))
        },
    )
    .await
}

async fn run_config(env: &Environment) -> Result<()> {
    let parent = &env.parent;
    let dir = env.dir.path().join("scheduler-config");
    std::fs::create_dir_all(&dir)?;
    let out = parent
        .kubectl(["get", "mcls", "-A", "-o", "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.metadata.labels.clusters\\.clusternet\\.io/cluster-name}{\"\\n\"}{end}"])
        .await?;
    let mcls: BTreeMap<String, String> = out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(key, name)| (name.to_string(), key.to_string()))
        .collect();
    let c1 = mcls.get("child1").context("child1 mcls")?.clone();
    let c2 = mcls.get("child2").context("child2 mcls")?.clone();
    for key in [&c1, &c2] {
        let (ns, name) = key.split_once('/').unwrap_or_default();
        parent
            .kubectl(["label", "mcls", "-n", ns, name, "sched-cfg/all=yes"])
            .await?;
    }
    // child2 is dedicated: a NoSchedule taint that the Subscriptions do not tolerate.
    let (ns2, name2) = c2.split_once('/').unwrap_or_default();
    parent
        .kubectl([
            "patch",
            "mcls",
            "-n",
            ns2,
            name2,
            "--type=merge",
            "-p",
            r#"{"spec":{"taints":[{"key":"sched-cfg/dedicated","value":"gpu","effect":"NoSchedule"}]}}"#,
        ])
        .await?;
    parent.kubectl(["create", "namespace", "sched-cfg"]).await?;
    parent
        .kubectl([
            "create",
            "configmap",
            "settings",
            "-n",
            "sched-cfg",
            "--from-literal=k=v",
        ])
        .await?;
    let subscription = |name: &str, scheduler: &str| {
        CONFIG_SUBSCRIPTION
            .replace("NAME", name)
            .replace("SCHEDULER", scheduler)
    };

    // A malformed file: the scheduler exits non-zero at start, naming what is wrong.
    let bin = clusternet_test_support::paths::cargo_bin("clusternet-scheduler")?;
    for (file, text, message) in [
        (
            "unknown-plugin.yaml",
            "profiles:\n- schedulerName: default\n  plugins:\n    filter:\n      enabled:\n      - name: ClusterAffinity\n",
            r#"creating profile for scheduler name default: FilterPlugin "ClusterAffinity" does not exist"#,
        ),
        (
            "wrong-type.yaml",
            "profiles:\n- schedulerName: default\n  plugins:\n    score:\n      enabled:\n      - name: TaintToleration\n        weight: heavy\n",
            r#"profiles[0].plugins.score.enabled[0].weight: cannot unmarshal string "heavy" into int32"#,
        ),
        ("not-yaml.yaml", "profiles: [\n", "yaml: "),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text)?;
        let output = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::process::Command::new(&bin)
                .arg(format!("--config={}", path.display()))
                .arg(format!("--kubeconfig={}", parent.kubeconfig().display()))
                .arg("--leader-elect=false")
                .env("RUST_BACKTRACE", "0")
                .kill_on_drop(true)
                .output(),
        )
        .await
        .context("the scheduler did not exit on a malformed --config")??;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{file}: {:?}", output.status);
        assert!(
            stderr.contains(&format!("invalid --config {}: ", path.display()))
                && stderr.contains(message),
            "{file}: {stderr}"
        );
    }

    // No --config: Go's default profile. TaintToleration keeps child2 out; a Subscription for
    // another scheduler name is left alone.
    let mut scheduler = clusternet::install_scheduler(
        parent,
        &dir.join("default"),
        clusternet::Mode::Owned,
        &["--leader-elect=false".into()],
    )
    .await?;
    apply(parent, &subscription("by-default", "default")).await?;
    apply(parent, &subscription("by-no-taints", "no-taints")).await?;
    wait_bound(parent, "by-default", std::slice::from_ref(&c1)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = config_status(parent, "by-no-taints").await?;
    assert!(bindings(&s).is_empty(), "not this scheduler's: {s}");
    scheduler.stop();

    // With a SchedulerConfiguration: the default profile plus `no-taints` without filters.
    let config = dir.join("scheduler-config.yaml");
    std::fs::write(
        &config,
        r#"apiVersion: scheduler.clusternet.io/v1alpha1
kind: SchedulerConfiguration
percentageOfClustersToTolerate: 20
leaderElection:
  leaderElect: true
profiles:
  - schedulerName: default
  - schedulerName: no-taints
    plugins:
      filter:
        disabled:
          - name: "*"
"#,
    )?;
    let scheduler = clusternet::install_scheduler(
        parent,
        &dir.join("configured"),
        clusternet::Mode::Owned,
        &[
            format!("--config={}", config.display()),
            "--leader-elect=false".into(),
        ],
    )
    .await?;
    let mut both = vec![c1.clone(), c2.clone()];
    both.sort();
    wait_bound(parent, "by-no-taints", &both).await?;
    apply(parent, &subscription("by-default-again", "default")).await?;
    wait_bound(parent, "by-default-again", std::slice::from_ref(&c1)).await?;
    assert_eq!(
        bindings(&config_status(parent, "by-default").await?),
        vec![c1.clone()]
    );
    // The key Go ignores is ignored here too, and said so.
    let log = std::fs::read_to_string(&scheduler.log)?;
    assert!(
        log.contains("leaderElection: not a field of Clusternet's SchedulerConfiguration"),
        "{log}"
    );
    assert!(log.contains("no-taints"), "{log}");
    Ok(())
}
