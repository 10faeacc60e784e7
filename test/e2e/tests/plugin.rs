//! `kubectl clusternet` end to end: the plugin found by kubectl on PATH, driven exactly as
//! Clusternet's users drive Go's, against a parent with the hub, controller-manager and
//! scheduler and three children that run pods (kube-scheduler + KWOK). Each directory under
//! `examples/` (in the shape of Clusternet's own examples: plain `v1`/`apps/v1` templates, a
//! Namespace feed, the same Subscription fields) is applied with `kubectl clusternet apply -f
//! <dir>/`, lands in the children the Subscription picks with the replicas it implies, and
//! `kubectl clusternet delete -f <dir>/` removes it. Then the other kubectl commands, a child
//! through `--cluster-id`, and this plugin's `clusters`, `kubeconfig` and `get --clusters`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use clusternet_e2e::examples::{self, dir_arg, get, user_copy};
use clusternet_test_support::clusternet::{EnvOptions, Environment};
use clusternet_test_support::kubectl::Kubectl;
use clusternet_test_support::kwok::NodeCapacity;
use clusternet_test_support::{ControlPlane, wait_for};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(250);

/// `kubectl clusternet` as the parent's admin.
fn plugin(parent: &ControlPlane) -> Kubectl {
    parent.kubectl_cmd().clusternet()
}

async fn run(k: &Kubectl, args: &[&str]) -> Result<String> {
    k.run(args).await
}

/// Replicas of Deployment `ns/name` in each child (None where there is none).
async fn replicas(children: &[ControlPlane], ns: &str, name: &str) -> Result<Vec<Option<i64>>> {
    let mut out = Vec::new();
    for child in children {
        out.push(
            get(child, &["deploy", name, "-n", ns])
                .await?
                .and_then(|d| d["spec"]["replicas"].as_i64()),
        );
    }
    Ok(out)
}

async fn until_replicas(
    children: &[ControlPlane],
    ns: &str,
    name: &str,
    check: impl Fn(&[Option<i64>]) -> bool,
) -> Result<Vec<Option<i64>>> {
    let last = std::sync::Mutex::new(Vec::new());
    let found = wait_for(
        &format!("{ns}/{name} in the children"),
        TIMEOUT,
        POLL,
        || async {
            let r = replicas(children, ns, name).await?;
            *last.lock().unwrap_or_else(|e| e.into_inner()) = r.clone();
            Ok(check(&r).then_some(r))
        },
    )
    .await;
    found.with_context(|| {
        let last = last.lock().unwrap_or_else(|e| e.into_inner()).clone();
        format!("replicas in child1..3, last seen: {last:?}")
    })
}

#[tokio::test]
async fn kubectl_clusternet_runs_clusternets_examples_and_reaches_children() -> Result<()> {
    let mut env = Environment::start(3, EnvOptions::multi_cluster_apps(3)?).await?;
    for (child, cpu) in env.children.iter().zip(["2", "6", "2"]) {
        child
            .add_kwok_node("kwok-node-0", &NodeCapacity::new(cpu, "16Gi", 110))
            .await?;
    }
    let result = scenarios(&mut env).await;
    result.with_context(|| env.logs())
}

async fn scenarios(env: &mut Environment) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let Environment {
        parent,
        children,
        agents,
        ..
    } = env;
    let parent = &*parent;
    let children = &children[..];
    let k = plugin(parent);
    let registered = examples::children(parent, 3).await?;
    let replace = examples::placeholders(&registered);
    let ids: Vec<(String, String, String)> = registered
        .into_iter()
        .map(|c| (c.name, c.id, c.namespace))
        .collect();

    // ---- version, api-resources, clusters ----------------------------------------------------
    let version: Value = serde_json::from_str(&run(&k, &["version"]).await?)?;
    ensure!(
        version["gitVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with('v')),
        "{version}"
    );
    let resources = run(&k, &["api-resources"]).await?;
    ensure!(
        resources.contains("deployments") && resources.contains("subscriptions"),
        "{resources}"
    );
    let table = run(&k, &["clusters"]).await?;
    eprintln!("kubectl clusternet clusters:\n{table}");
    ensure!(
        table.starts_with("NAME ") && table.contains("CLUSTER-ID"),
        "{table}"
    );
    for (name, id, ns) in &ids {
        let row = table
            .lines()
            .find(|l| l.starts_with(name.as_str()))
            .context("row")?;
        ensure!(
            row.contains(id.as_str()) && row.contains(ns.as_str()) && row.contains(" True "),
            "{row}"
        );
    }
    let unknown = k.output(["frobnicate"], None).await?;
    ensure!(
        !unknown.success
            && unknown
                .stderr
                .starts_with("error: unknown command \"frobnicate\""),
        "{unknown:?}"
    );

    // ---- replication-scheduling: all three, a Globalization on child1+2, a Localization on 1
    let dir = user_copy(scratch.path(), "replication-scheduling", &replace)?;
    let applied = run(&k, &["apply", "-f", &dir_arg(&dir)]).await?;
    eprintln!("kubectl clusternet apply -f replication-scheduling/:\n{applied}");
    ensure!(
        applied.contains("deployment.apps/my-nginx created"),
        "{applied}"
    );
    ensure!(
        get(parent, &["deploy", "my-nginx", "-n", "foo"])
            .await?
            .is_none(),
        "the template went to the shadow API, not to the parent's own Deployments"
    );
    until_replicas(children, "foo", "my-nginx", |r| {
        r == [Some(1), Some(3), Some(3)]
    })
    .await?;
    let labels = |d: &Option<Value>| {
        d.as_ref()
            .map(|d| d["metadata"]["labels"]["some-label"].clone())
    };
    let d1 = get(&children[0], &["deploy", "my-nginx", "-n", "foo"]).await?;
    let d3 = get(&children[2], &["deploy", "my-nginx", "-n", "foo"]).await?;
    ensure!(
        labels(&d1) == Some("some-value".into()),
        "Globalization on child1: {d1:?}"
    );
    ensure!(
        labels(&d3) == Some(Value::Null),
        "no Globalization on child3"
    );
    ensure!(
        d1.as_ref()
            .is_some_and(|d| d["metadata"]["annotations"]["foo"] == "bar"),
        "Localization"
    );
    let listed = run(&k, &["get", "deploy", "-A"]).await?;
    eprintln!("kubectl clusternet get deploy -A:\n{listed}");
    ensure!(
        listed
            .lines()
            .next()
            .is_some_and(|h| h.contains("NAMESPACE") && h.contains("UP-TO-DATE")),
        "{listed}"
    );
    ensure!(
        listed
            .lines()
            .any(|l| l.starts_with("foo ") && l.contains("my-nginx")),
        "{listed}"
    );

    // A second apply after an edit patches the template (same uid) and the children follow.
    let uid = |k: Kubectl| async move {
        k.run([
            "get",
            "deploy",
            "my-nginx",
            "-n",
            "foo",
            "-o",
            "jsonpath={.metadata.uid}",
        ])
        .await
    };
    let before = uid(k.clone()).await?;
    let file = dir.join("nginx-deployment.yaml");
    let text = std::fs::read_to_string(&file)?.replace("replicas: 3", "replicas: 4");
    std::fs::write(&file, text)?;
    let again = run(&k, &["apply", "-f", &dir_arg(&dir)]).await?;
    ensure!(
        again.contains("deployment.apps/my-nginx configured"),
        "{again}"
    );
    ensure!(
        uid(k.clone()).await? == before,
        "apply patched, it did not recreate"
    );
    until_replicas(children, "foo", "my-nginx", |r| {
        r == [Some(1), Some(4), Some(4)]
    })
    .await?;

    // edit with an editor script, label, annotate, scale.
    let editor = scratch.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/replicas: 4/replicas: 5/' \"$1\"\n",
    )?;
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let edited = k
        .clone()
        .env("KUBE_EDITOR", &editor.display().to_string())
        .run(["edit", "deploy", "my-nginx", "-n", "foo"])
        .await?;
    ensure!(
        edited.contains("deployment.apps/my-nginx edited"),
        "{edited}"
    );
    until_replicas(children, "foo", "my-nginx", |r| {
        r[1] == Some(5) && r[2] == Some(5)
    })
    .await?;
    run(
        &k,
        &["label", "deploy", "my-nginx", "-n", "foo", "tier=web"],
    )
    .await?;
    run(
        &k,
        &[
            "annotate",
            "deploy",
            "my-nginx",
            "-n",
            "foo",
            "owner=platform",
        ],
    )
    .await?;
    let meta = run(
        &k,
        &[
            "get",
            "deploy",
            "my-nginx",
            "-n",
            "foo",
            "-o",
            "jsonpath={.metadata.labels.tier}/{.metadata.annotations.owner}",
        ],
    )
    .await?;
    ensure!(meta == "web/platform", "{meta}");
    wait_for("the label in child2", TIMEOUT, POLL, || async {
        let d = get(&children[1], &["deploy", "my-nginx", "-n", "foo"]).await?;
        Ok(d.is_some_and(|d| d["metadata"]["labels"]["tier"] == "web")
            .then_some(()))
    })
    .await?;
    let scaled = run(
        &k,
        &["scale", "deploy", "my-nginx", "-n", "foo", "--replicas=2"],
    )
    .await?;
    ensure!(scaled.contains("scaled"), "{scaled}");
    until_replicas(children, "foo", "my-nginx", |r| {
        r[1] == Some(2) && r[2] == Some(2)
    })
    .await?;
    let deleted = run(&k, &["delete", "-f", &dir_arg(&dir)]).await?;
    eprintln!("kubectl clusternet delete -f replication-scheduling/:\n{deleted}");
    until_replicas(children, "foo", "my-nginx", |r| {
        r.iter().all(Option::is_none)
    })
    .await?;

    // ---- static-dividing-scheduling: 6 replicas by weights 1:2 → 2 and 4, none in child3 ----
    let dir = user_copy(scratch.path(), "static-dividing-scheduling", &replace)?;
    run(&k, &["apply", "-f", &dir_arg(&dir)]).await?;
    let r = until_replicas(children, "bar", "my-nginx", |r| {
        r == [Some(2), Some(4), None]
    })
    .await?;
    eprintln!("static dividing: {r:?}");
    run(&k, &["delete", "-f", &dir_arg(&dir)]).await?;
    until_replicas(children, "bar", "my-nginx", |r| {
        r.iter().all(Option::is_none)
    })
    .await?;

    // ---- dynamic-dividing-scheduling: 6 replicas by free capacity (nodes of 2, 6, 2 CPUs) ---
    let dir = user_copy(scratch.path(), "dynamic-dividing-scheduling", &replace)?;
    run(&k, &["apply", "-f", &dir_arg(&dir)]).await?;
    let r = until_replicas(children, "baz", "my-nginx", |r| {
        r.iter().flatten().sum::<i64>() == 6 && r[1].unwrap_or(0) > r[0].unwrap_or(0)
    })
    .await?;
    eprintln!("dynamic dividing: {r:?}");
    run(&k, &["delete", "-f", &dir_arg(&dir)]).await?;
    until_replicas(children, "baz", "my-nginx", |r| {
        r.iter().all(Option::is_none)
    })
    .await?;

    // ---- scheduling-group: regions; weights 2 (ap-shanghai: child1, child2) : 1 (ap-beijing)
    for (i, region) in ["ap-shanghai", "ap-shanghai", "ap-beijing"]
        .iter()
        .enumerate()
    {
        parent
            .kubectl([
                "label",
                "mcls",
                "-n",
                &ids[i].2,
                &ids[i].0,
                &format!("region={region}"),
            ])
            .await?;
    }
    let dir = user_copy(scratch.path(), "scheduling-group", &replace)?;
    run(&k, &["apply", "-f", &dir_arg(&dir)]).await?;
    let r = until_replicas(children, "qux", "my-nginx", |r| {
        r[2] == Some(2) && r[0].unwrap_or(0) + r[1].unwrap_or(0) == 4
    })
    .await?;
    eprintln!("scheduling group: {r:?}");
    run(&k, &["delete", "-f", &dir_arg(&dir)]).await?;
    until_replicas(children, "qux", "my-nginx", |r| {
        r.iter().all(Option::is_none)
    })
    .await?;
    wait_for(
        "namespace qux gone from the children",
        TIMEOUT,
        POLL,
        || async {
            for child in children {
                if get(child, &["ns", "qux"]).await?.is_some() {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        },
    )
    .await?;

    // ---- fieldpatch: a JSON document in a ConfigMap field, merged for child1 only ----------
    let dir = user_copy(scratch.path(), "fieldpatch", &replace)?;
    run(&k, &["apply", "-f", &dir_arg(&dir)]).await?;
    let conf = |v: Option<Value>| -> Option<Value> {
        serde_json::from_str(v?["data"]["server.conf"].as_str()?).ok()
    };
    wait_for(
        "server-conf patched in child1 only",
        TIMEOUT,
        POLL,
        || async {
            let c1 = conf(get(&children[0], &["cm", "server-conf", "-n", "qux"]).await?);
            let c2 = conf(get(&children[1], &["cm", "server-conf", "-n", "qux"]).await?);
            Ok((c1.as_ref().is_some_and(|c| {
                c["region_id"] == "us-west-1" && c["server"]["bind_port"] == 8080
            }) && c2.as_ref().is_some_and(|c| c["region_id"] == "default"))
            .then_some(()))
        },
    )
    .await?;
    until_replicas(children, "qux", "server-deployment", |r| {
        r.iter().flatten().sum::<i64>() == 3
    })
    .await?;
    run(&k, &["delete", "-f", &dir_arg(&dir)]).await?;
    until_replicas(children, "qux", "server-deployment", |r| {
        r.iter().all(Option::is_none)
    })
    .await?;

    // ---- --cluster-id with --child-kubeconfig: straight to child1, no rewriting -------------
    let (_, id1, _) = &ids[0];
    let child1_kubeconfig = children[0].kubeconfig().display().to_string();
    children[0]
        .kubectl(["create", "namespace", "only-in-child1"])
        .await?;
    let direct = [
        "--cluster-id",
        id1.as_str(),
        "--child-kubeconfig",
        child1_kubeconfig.as_str(),
    ];
    let ns = run(&k, &[&direct[..], &["get", "ns"]].concat()).await?;
    ensure!(ns.contains("only-in-child1"), "{ns}");
    let cm = scratch.path().join("cm.yaml");
    std::fs::write(
        &cm,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: via-hub\n  namespace: default\ndata:\n  a: b\n",
    )?;
    let cm = cm.display().to_string();
    run(&k, &[&direct[..], &["apply", "-f", cm.as_str()]].concat()).await?;
    ensure!(
        get(&children[0], &["cm", "via-hub", "-n", "default"])
            .await?
            .is_some(),
        "in child1"
    );
    ensure!(
        get(parent, &["cm", "via-hub", "-n", "default"])
            .await?
            .is_none(),
        "not in the parent"
    );
    // Child-side identity: alice may not list ConfigMaps in child1 until a RoleBinding says so.
    let as_alice = [
        &direct[..],
        &["--clusternet-as", "alice", "get", "cm", "-n", "default"],
    ]
    .concat();
    let denied = k.output(&as_alice, None).await?;
    ensure!(
        !denied.success
            && denied
                .stderr
                .contains("User \"alice\" cannot list resource \"configmaps\""),
        "{denied:?}"
    );
    children[0]
        .kubectl([
            "create",
            "rolebinding",
            "alice-view",
            "--clusterrole=view",
            "--user=alice",
            "-n",
            "default",
        ])
        .await?;
    let allowed = run(&k, &as_alice).await?;
    ensure!(allowed.contains("via-hub"), "{allowed}");

    // ---- kubeconfig <cluster>: plain kubectl reaches child1 through the hub -----------------
    let kc = run(&k, &["kubeconfig", "child1"]).await?;
    let kc_path = scratch.path().join("child1.kubeconfig");
    std::fs::write(&kc_path, &kc)?;
    let via = Kubectl::new(&kc_path).run(["get", "ns"]).await?;
    ensure!(via.contains("only-in-child1"), "{via}");
    ensure!(
        k.output(["kubeconfig", "no-such-cluster"], None)
            .await
            .map(|o| !o.success)?,
        "an unknown cluster is an error"
    );
    // The deployer credentials are for those the parent lets read them: a user who may list
    // ManagedClusters but not read Secrets gets no kubeconfig and no multi-cluster read.
    parent
        .kubectl(["create", "serviceaccount", "viewer", "-n", "default"])
        .await?;
    parent
        .kubectl([
            "create",
            "clusterrole",
            "clusternet-viewer",
            "--verb=get,list,watch",
            "--resource=managedclusters.clusters.clusternet.io",
        ])
        .await?;
    parent
        .kubectl([
            "create",
            "clusterrolebinding",
            "clusternet-viewer",
            "--clusterrole=clusternet-viewer",
            "--serviceaccount=default:viewer",
        ])
        .await?;
    let viewer = clusternet_test_support::clusternet::service_account_kubeconfig(
        parent,
        "default",
        "viewer",
        &scratch.path().join("viewer.kubeconfig"),
    )
    .await?;
    let as_viewer = Kubectl::new(&viewer).clusternet();
    let refused = as_viewer.output(["kubeconfig", "child1"], None).await?;
    ensure!(
        !refused.success
            && refused.stderr.contains("child-cluster-deployer")
            && refused.stdout.is_empty(),
        "{refused:?}"
    );
    let refused = as_viewer
        .output(["get", "ns", "--clusters=all"], None)
        .await?;
    ensure!(
        !refused.success && refused.stderr.matches("Warning: cluster").count() == 3,
        "{refused:?}"
    );

    // ---- get --clusters=all: one table with a CLUSTER column --------------------------------
    let all = run(&k, &["get", "cm", "--clusters=all", "-A"]).await?;
    eprintln!(
        "kubectl clusternet get cm --clusters=all -A:\n{}",
        all.lines().take(8).collect::<Vec<_>>().join("\n")
    );
    ensure!(
        all.starts_with("CLUSTER ") && all.lines().next().is_some_and(|h| h.contains("NAMESPACE")),
        "{all}"
    );
    for name in ["child1", "child2", "child3"] {
        ensure!(
            all.lines()
                .any(|l| l.starts_with(name) && l.contains("kube-root-ca.crt")),
            "{name}: {all}"
        );
    }
    ensure!(
        all.lines()
            .any(|l| l.starts_with("child1") && l.contains("via-hub")),
        "{all}"
    );
    let yaml = run(
        &k,
        &[
            "get",
            "cm",
            "via-hub",
            "-n",
            "default",
            "--clusters=child1,child2",
            "-o",
            "json",
        ],
    )
    .await;
    ensure!(
        yaml.is_ok(),
        "child2 has no via-hub but child1 does: {yaml:?}"
    );
    let list: Value = serde_json::from_str(&yaml?)?;
    ensure!(
        list["items"][0]["metadata"]["annotations"]["clusters.clusternet.io/cluster-name"]
            == "child1",
        "{list}"
    );

    // ---- an agent stops: `clusters` shows it not ready, `get --clusters` warns and goes on --
    agents[2].stop();
    let table = wait_for("child3 not ready in `clusters`", TIMEOUT, POLL, || async {
        let t = run(&k, &["clusters"]).await?;
        let row = t
            .lines()
            .find(|l| l.starts_with("child3"))
            .unwrap_or("")
            .to_string();
        Ok((!row.contains(" True ")).then_some(t))
    })
    .await?;
    eprintln!("kubectl clusternet clusters, child3's agent stopped:\n{table}");
    let started = std::time::Instant::now();
    let out = k
        .output(["get", "cm", "--clusters=all", "-A"], None)
        .await?;
    eprintln!(
        "with child3's agent stopped ({:?}), stderr: {}",
        started.elapsed(),
        out.stderr.trim()
    );
    ensure!(out.success, "{out:?}");
    // The hub's answer, passed on as it came (not a timeout).
    ensure!(
        out.stderr.contains("Warning: cluster \"child3\"") && out.stderr.contains("disconnected"),
        "{out:?}"
    );
    ensure!(
        out.stdout.lines().any(|l| l.starts_with("child1"))
            && out.stdout.lines().any(|l| l.starts_with("child2"))
            && !out.stdout.lines().any(|l| l.starts_with("child3")),
        "{}",
        out.stdout
    );
    Ok(())
}
