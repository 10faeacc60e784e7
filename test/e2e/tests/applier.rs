//! Applying Descriptions into child clusters, on real control planes: child1's agent pulls
//! (`--cluster-sync-mode=Pull`), child2 is pushed to by the controller-manager through the hub
//! (`Dual` with the agent's `AppPusher` gate on). Descriptions are created directly in the cluster
//! namespaces on the parent, as the deployer would write them, and driven through: first apply,
//! update, prune, drift put back, one invalid object, deletion.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine;
use clusternet_test_support::clusternet::{EnvOptions, Environment};
use clusternet_test_support::{ControlPlane, wait_for};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(45);
const POLL: Duration = Duration::from_millis(200);

fn description(name: &str, namespace: &str, cluster_id: &str, objects: &[Value]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    json!({
        "apiVersion": "apps.clusternet.io/v1alpha1",
        "kind": "Description",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "clusters.clusternet.io/cluster-id": cluster_id,
                "clusternet.io/created-by": "clusternet-controller-manager",
            },
        },
        "spec": {
            "deployer": "Generic",
            "raw": objects.iter().map(|o| b64.encode(o.to_string())).collect::<Vec<_>>(),
        },
    })
    .to_string()
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn config_map(ns: &str, name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "applier-e2e"},
            // What a shadow template carries from the parent; never sent to the child.
            "uid": "00000000-0000-0000-0000-000000000000", "resourceVersion": "12"},
        "data": {"key": value}})
}

fn deployment(ns: &str, name: &str, containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": containers}}}})
}

/// `kubectl get <what> -o jsonpath=<path>` in `cp`, `None` when it does not exist.
async fn get(cp: &ControlPlane, what: &[&str], path: &str) -> Result<Option<String>> {
    let mut args: Vec<String> = vec!["get".into()];
    args.extend(what.iter().map(|s| s.to_string()));
    args.push("--ignore-not-found".into());
    args.push(format!("-o=jsonpath={path}"));
    let out = cp.kubectl(&args).await?;
    // An existing object prints its jsonpath; a missing one prints nothing. Query a path that
    // is always set (`{.metadata.name}`) to tell them apart.
    let mut exists: Vec<String> = vec!["get".into()];
    exists.extend(what.iter().map(|s| s.to_string()));
    exists.push("--ignore-not-found".into());
    exists.push("-o=name".into());
    if cp.kubectl(&exists).await?.trim().is_empty() {
        return Ok(None);
    }
    Ok(Some(out))
}

async fn apply(parent: &ControlPlane, manifest: &str) -> Result<()> {
    parent
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(manifest))
        .await
        .map(|_| ())
}

async fn wait_value(
    what: &str,
    cp: &ControlPlane,
    object: &[&str],
    path: &str,
    want: Option<&str>,
) -> Result<()> {
    wait_for(what, WAIT, POLL, || async {
        let got = get(cp, object, path).await?;
        Ok((got.as_deref() == want).then_some(()))
    })
    .await
}

/// The whole life of one Description in child `i`.
async fn scenario(env: &Environment, i: usize) -> Result<()> {
    let parent = &env.parent;
    let child = &env.children[i];
    let other = &env.children[1 - i];
    let id = env.cluster_id(i).await?;
    let cluster_ns = parent
        .kubectl([
            "get",
            "mcls",
            "-A",
            "-l",
            &format!("clusters.clusternet.io/cluster-id={id}"),
            "-o",
            "jsonpath={.items[0].metadata.namespace}",
        ])
        .await?;
    anyhow::ensure!(!cluster_ns.is_empty(), "no ManagedCluster for {id}");
    let app_ns = format!("applier-e2e-{}", child.name());
    let desc = "app-generic";
    let desc_ref = ["description", desc, "-n", cluster_ns.as_str()];
    let owner = format!("{cluster_ns}.{desc}");
    let cm = ["configmap", "cfg", "-n", app_ns.as_str()];
    let extra = ["configmap", "extra", "-n", app_ns.as_str()];
    let deploy = ["deployment", "web", "-n", app_ns.as_str()];
    let nginx = json!([{"name": "web", "image": "nginx:1.25"}]);

    // 1. First revision: a Namespace, a ConfigMap and a Deployment.
    apply(
        parent,
        &description(
            desc,
            &cluster_ns,
            &id,
            &[
                config_map(&app_ns, "cfg", "v1"),
                namespace(&app_ns),
                deployment(&app_ns, "web", nginx.clone()),
            ],
        ),
    )
    .await?;
    wait_value("ConfigMap applied", child, &cm, "{.data.key}", Some("v1")).await?;
    wait_value(
        "Description Success",
        parent,
        &desc_ref,
        "{.status.phase}",
        Some("Success"),
    )
    .await?;
    let status = parent
        .kubectl(["get", "description", desc, "-n", &cluster_ns, "-o", "json"])
        .await?;
    let status: Value = serde_json::from_str(&status)?;
    assert_eq!(
        status["metadata"]["finalizers"],
        json!(["apps.clusternet.io/finalizer"]),
        "{status}"
    );
    let feeds: Vec<String> = status["status"]["manifestStatuses"]
        .as_array()
        .context("manifestStatuses")?
        .iter()
        .map(|m| format!("{}/{}/{}", m["kind"], m["namespace"], m["name"]).replace('"', ""))
        .collect();
    assert_eq!(
        feeds,
        [
            format!("ConfigMap/{app_ns}/cfg"),
            format!("Namespace/null/{app_ns}"),
            format!("Deployment/{app_ns}/web"),
        ],
        "{status}"
    );
    assert!(
        get(child, &deploy, "{.metadata.name}").await?.is_some(),
        "Deployment not applied"
    );
    let live: Value = serde_json::from_str(
        &child
            .kubectl([
                "get",
                "configmap",
                "cfg",
                "-n",
                &app_ns,
                "-o",
                "json",
                "--show-managed-fields",
            ])
            .await?,
    )?;
    assert_eq!(
        live["metadata"]["annotations"]["apps.clusternet.io/owned-by-description"],
        json!(owner)
    );
    assert!(
        live["metadata"]["annotations"]["clusternet.io/last-applied-configuration"].is_string()
    );
    assert_ne!(
        live["metadata"]["uid"],
        json!("00000000-0000-0000-0000-000000000000")
    );
    let managers: Vec<&str> = live["metadata"]["managedFields"]
        .as_array()
        .context("managedFields")?
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(managers, ["clusternet"], "{live}");
    // Only this child got it.
    assert!(
        get(other, &["namespace", &app_ns], "{.metadata.name}")
            .await?
            .is_none(),
        "{app_ns} leaked into {}",
        other.name()
    );

    // 2. Update: new ConfigMap value, one more ConfigMap, the Deployment removed → pruned.
    apply(
        parent,
        &description(
            desc,
            &cluster_ns,
            &id,
            &[
                namespace(&app_ns),
                config_map(&app_ns, "cfg", "v2"),
                config_map(&app_ns, "extra", "x"),
            ],
        ),
    )
    .await?;
    wait_value("ConfigMap updated", child, &cm, "{.data.key}", Some("v2")).await?;
    wait_value("ConfigMap added", child, &extra, "{.data.key}", Some("x")).await?;
    wait_value(
        "Deployment pruned",
        child,
        &deploy,
        "{.metadata.name}",
        None,
    )
    .await?;

    // 3. Drift: edited and deleted directly in the child → put back.
    child
        .kubectl([
            "patch",
            "configmap",
            "cfg",
            "-n",
            &app_ns,
            "--type=merge",
            "-p",
            r#"{"data":{"key":"edited-in-child"},"metadata":{"labels":{"app":"hijacked"}}}"#,
        ])
        .await?;
    child
        .kubectl(["delete", "configmap", "extra", "-n", &app_ns])
        .await?;
    wait_value(
        "edited ConfigMap put back",
        child,
        &cm,
        "{.data.key}",
        Some("v2"),
    )
    .await?;
    wait_value(
        "edited label put back",
        child,
        &cm,
        "{.metadata.labels.app}",
        Some("applier-e2e"),
    )
    .await?;
    wait_value(
        "deleted ConfigMap put back",
        child,
        &extra,
        "{.data.key}",
        Some("x"),
    )
    .await?;

    // 4. One invalid object: Failure with the child's message, the others still applied.
    apply(
        parent,
        &description(
            desc,
            &cluster_ns,
            &id,
            &[
                namespace(&app_ns),
                config_map(&app_ns, "cfg", "v3"),
                deployment(&app_ns, "broken", json!([])),
                config_map(&app_ns, "extra", "x"),
                config_map(&app_ns, "after-bad", "ok"),
            ],
        ),
    )
    .await?;
    wait_value(
        "Description Failure",
        parent,
        &desc_ref,
        "{.status.phase}",
        Some("Failure"),
    )
    .await?;
    let reason = get(parent, &desc_ref, "{.status.reason}")
        .await?
        .unwrap_or_default();
    assert!(
        reason.contains(r#"Deployment.apps "broken" is invalid"#)
            && reason.contains("spec.template.spec.containers"),
        "reason: {reason}"
    );
    // Clusternet's events on the Description, for `kubectl describe`.
    wait_for("deploy events", WAIT, POLL, || async {
        let reasons = parent
            .kubectl([
                "get",
                "events",
                "-n",
                &cluster_ns,
                "--field-selector",
                &format!("involvedObject.name={desc}"),
                "-o",
                "jsonpath={.items[*].reason}",
            ])
            .await?;
        let reasons: Vec<&str> = reasons.split_whitespace().collect();
        Ok([
            "SuccessfullyDeployed",
            "UnSuccessfullyDeployed",
            "SuccessfullyPruningFeed",
        ]
        .iter()
        .all(|r| reasons.contains(r))
        .then_some(()))
    })
    .await?;
    wait_value(
        "valid objects still applied",
        child,
        &cm,
        "{.data.key}",
        Some("v3"),
    )
    .await?;
    wait_value(
        "valid object after the bad one applied",
        child,
        &["configmap", "after-bad", "-n", &app_ns],
        "{.data.key}",
        Some("ok"),
    )
    .await?;
    assert!(
        get(
            child,
            &["deployment", "broken", "-n", &app_ns],
            "{.metadata.name}"
        )
        .await?
        .is_none()
    );

    // 5. Deletion: everything leaves the child, then the finalizer goes and so does the
    // Description.
    parent
        .kubectl([
            "delete",
            "description",
            desc,
            "-n",
            &cluster_ns,
            "--wait=false",
        ])
        .await?;
    wait_value(
        "Description gone",
        parent,
        &desc_ref,
        "{.metadata.name}",
        None,
    )
    .await?;
    for name in ["cfg", "extra", "after-bad"] {
        // Deleted, or going with its namespace.
        wait_for("ConfigMap offloaded", WAIT, POLL, || async {
            let ts = get(
                child,
                &["configmap", name, "-n", &app_ns],
                "{.metadata.deletionTimestamp}",
            )
            .await?;
            let ns = get(child, &["namespace", &app_ns], "{.status.phase}").await?;
            Ok((ts.is_none() || ns.as_deref() == Some("Terminating")).then_some(()))
        })
        .await?;
    }
    wait_for("Namespace offloaded", WAIT, POLL, || async {
        let phase = get(child, &["namespace", &app_ns], "{.status.phase}").await?;
        Ok(matches!(phase.as_deref(), None | Some("Terminating")).then_some(()))
    })
    .await?;
    Ok(())
}

/// A component log without terminal colour codes.
fn plain_log(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path)?;
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC '[' parameters, ending with a letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

#[tokio::test]
async fn descriptions_pulled_and_pushed_into_children() -> Result<()> {
    let env = Environment::start(
        2,
        EnvOptions {
            child_agent_args: vec![vec!["--cluster-sync-mode=Pull".into()], vec![]],
            controller_manager_args: vec![
                "--feature-gates=SocketConnection=true,Deployer=true".into(),
            ],
            ..Default::default()
        },
    )
    .await?;
    // The modes are what the test means them to be.
    for (i, mode) in [(0, "Pull"), (1, "Dual")] {
        let id = env.cluster_id(i).await?;
        let got = env
            .parent
            .kubectl([
                "get",
                "mcls",
                "-A",
                "-l",
                &format!("clusters.clusternet.io/cluster-id={id}"),
                "-o",
                "jsonpath={.items[0].spec.syncMode}/{.items[0].status.appPusher}",
            ])
            .await?;
        assert_eq!(got, format!("{mode}/true"));
    }
    let result = futures::future::try_join(scenario(&env, 0), scenario(&env, 1)).await;
    if let Err(err) = result {
        return Err(err.context(env.logs()));
    }
    // Who deployed: child1's agent (pull), the controller-manager through the hub for child2.
    let agent1 = plain_log(&env.agents[0].log)?;
    let agent2 = plain_log(&env.agents[1].log)?;
    let cm = plain_log(&env.controller_manager.log)?;
    assert!(agent1.contains("pull mode"), "agent1 did not pull");
    assert!(!agent2.contains("pull mode"), "agent2 pulled");
    let id2 = env.cluster_id(1).await?;
    assert!(
        cm.lines().any(|l| l.contains("pushing Descriptions")
            && l.contains(&id2)
            && l.contains("via_hub=true")),
        "controller-manager did not push to child2 through the hub"
    );
    let id1 = env.cluster_id(0).await?;
    assert!(
        !cm.lines()
            .any(|l| l.contains("pushing Descriptions") && l.contains(&id1)),
        "controller-manager pushed to the pull-mode child1"
    );
    Ok(())
}
