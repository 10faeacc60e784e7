//! The deployer on real control planes (parent, hub, controller-manager with gate `Deployer`,
//! two registered children): feeds through the shadow API, a Subscription whose status is
//! written as clusternet-scheduler writes it, Globalizations and Localizations; then Bases and
//! Descriptions are checked object by object (names, labels, finalizers, owners, and the exact
//! rendered manifests), and feed changes, ApplyNow/ApplyLater, unbinding and deletion.
//!
//! The applier removes a Description's finalizer once the child is clean. Where no applier
//! removes it within a grace period, the test removes it itself (as the applier would) and
//! says so on stderr; everything else is the product's own work.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use base64::Engine;
use clusternet_test_support::clusternet::{self, EnvOptions, Environment};
use clusternet_test_support::{ControlPlane, wait_for};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);

async fn apply(cp: &ControlPlane, doc: &str) -> Result<String> {
    cp.kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(doc))
        .await
}

async fn get_json(cp: &ControlPlane, args: &[&str]) -> Result<Value> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend(["-o", "json"]);
    Ok(serde_json::from_str(&cp.kubectl(all).await?)?)
}

fn deployment(image: &str) -> String {
    format!(
        r#"
apiVersion: shadow/v1alpha1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels:
    app: web
spec:
  replicas: 1
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
        image: {image}
"#
    )
}

const CONFIGMAP: &str = r#"
apiVersion: shadow/v1alpha1
kind: ConfigMap
metadata:
  name: web-conf
  namespace: default
data:
  mode: plain
"#;

/// A bound cluster.
#[derive(Clone, Debug)]
struct Cluster {
    namespace: String,
    name: String,
    id: String,
}

async fn clusters(env: &Environment) -> Result<Vec<Cluster>> {
    let list = get_json(&env.parent, &["mcls", "-A"]).await?;
    let mut out: Vec<Cluster> = list["items"]
        .as_array()
        .context("items")?
        .iter()
        .map(|mc| Cluster {
            namespace: mc["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .into(),
            name: mc["metadata"]["name"].as_str().unwrap_or_default().into(),
            id: mc["spec"]["clusterId"].as_str().unwrap_or_default().into(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The Bases of a Subscription (by its UID label), keyed by namespace.
async fn bases(parent: &ControlPlane, sub_uid: &str) -> Result<BTreeMap<String, Value>> {
    let list = get_json(
        parent,
        &[
            "bases",
            "-A",
            "-l",
            &format!("apps.clusternet.io/subs.uid={sub_uid}"),
        ],
    )
    .await?;
    Ok(list["items"]
        .as_array()
        .context("items")?
        .iter()
        .map(|b| {
            (
                b["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                b.clone(),
            )
        })
        .collect())
}

async fn descriptions(parent: &ControlPlane, sub_uid: &str) -> Result<Vec<Value>> {
    let list = get_json(
        parent,
        &[
            "descriptions",
            "-A",
            "-l",
            &format!("apps.clusternet.io/subs.uid={sub_uid}"),
        ],
    )
    .await?;
    Ok(list["items"].as_array().context("items")?.clone())
}

/// The objects of a Description's `spec.raw`, decoded.
fn raw_objects(desc: &Value) -> Result<Vec<Value>> {
    desc["spec"]["raw"]
        .as_array()
        .context("spec.raw")?
        .iter()
        .map(|r| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(r.as_str().context("raw item")?)?;
            Ok(serde_json::from_slice(&bytes)?)
        })
        .collect()
}

/// The stored template of a shadow object (what the deployer reads).
async fn template(parent: &ControlPlane, manifest: &str) -> Result<Value> {
    let m = get_json(
        parent,
        &["manifests", "-n", "clusternet-reserved", manifest],
    )
    .await?;
    Ok(m["template"].clone())
}

/// The template as Clusternet renders it without overrides: uid, managedFields, status dropped.
fn rendered(mut t: Value) -> Value {
    if let Some(meta) = t["metadata"].as_object_mut() {
        meta.remove("uid");
        meta.remove("managedFields");
    }
    if let Some(obj) = t.as_object_mut() {
        obj.remove("status");
    }
    t
}

/// Waits until the Description of `base` renders exactly `want`.
async fn wait_rendered(
    parent: &ControlPlane,
    sub_uid: &str,
    ns: &str,
    want: &[Value],
    what: &str,
) -> Result<Value> {
    wait_for(what, TIMEOUT, POLL, || async {
        let descs = descriptions(parent, sub_uid).await?;
        let Some(desc) = descs.iter().find(|d| d["metadata"]["namespace"] == ns) else {
            return Ok(None);
        };
        let got = raw_objects(desc)?;
        if got == want {
            Ok(Some(desc.clone()))
        } else {
            bail!("rendered {}", serde_json::to_string(&got)?)
        }
    })
    .await
}

/// Waits for the Descriptions in `ns` (of `sub_uid`) to be gone. Descriptions are held by the
/// applier's finalizer; if none removes it within 20 s, the test removes it as the applier
/// would after cleaning the child.
async fn wait_descriptions_gone(
    parent: &ControlPlane,
    sub_uid: &str,
    ns: Option<&str>,
) -> Result<()> {
    let mine = |d: &Value| ns.is_none_or(|ns| d["metadata"]["namespace"] == ns);
    let started = std::time::Instant::now();
    loop {
        let descs: Vec<Value> = descriptions(parent, sub_uid)
            .await?
            .into_iter()
            .filter(mine)
            .collect();
        if descs.is_empty() {
            return Ok(());
        }
        for d in &descs {
            ensure!(
                d["metadata"]["deletionTimestamp"].is_string()
                    || started.elapsed() < Duration::from_secs(10),
                "Description {} was not deleted",
                d["metadata"]["name"]
            );
        }
        if started.elapsed() > Duration::from_secs(20) {
            for d in &descs {
                let (dns, name) = (
                    d["metadata"]["namespace"].as_str().unwrap_or_default(),
                    d["metadata"]["name"].as_str().unwrap_or_default(),
                );
                eprintln!(
                    "no applier released Description {dns}/{name}: removing its finalizer as the applier would"
                );
                parent
                    .kubectl([
                        "patch",
                        "description",
                        name,
                        "-n",
                        dns,
                        "--type=merge",
                        "-p",
                        r#"{"metadata":{"finalizers":null}}"#,
                    ])
                    .await?;
            }
        }
        if started.elapsed() > TIMEOUT {
            bail!("Descriptions not gone: {descs:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn subscription_to_bases_and_descriptions_with_overrides() -> Result<()> {
    let env = Environment::start(
        2,
        EnvOptions {
            controller_manager_args: vec![
                "--feature-gates=SocketConnection=true,Deployer=true".into(),
            ],
            ..Default::default()
        },
    )
    .await?;
    let result = scenario(&env).await;
    if result.is_err() {
        eprintln!("{}", env.logs());
    }
    result
}

async fn scenario(env: &Environment) -> Result<()> {
    let parent = &env.parent;
    clusternet::wait_for_shadow_resource(parent, "deployments.shadow", true, TIMEOUT).await?;
    let cs = clusters(env).await?;
    ensure!(cs.len() == 2, "clusters: {cs:?}");
    let (c1, c2) = (&cs[0], &cs[1]);

    // Feeds through the shadow API.
    apply(parent, &deployment("nginx:1.25")).await?;
    apply(parent, CONFIGMAP).await?;
    let deploy_manifest = "deployments.default.web";
    let cm_manifest = "configmaps.default.web-conf";

    // Overrides, in the shape of Clusternet's examples: two Globalizations (one for child1
    // only) and a Localization for child1 with a lower priority than one of them — it still
    // applies last, as Localizations always follow Globalizations.
    apply(
        parent,
        &format!(
            r#"
apiVersion: apps.clusternet.io/v1alpha1
kind: Globalization
metadata:
  name: web-all
spec:
  overridePolicy: ApplyLater
  priority: 900
  feed:
    apiVersion: apps/v1
    kind: Deployment
    namespace: default
    name: web
  overrides:
  - name: tier
    type: MergePatch
    value: |-
      {{"metadata":{{"labels":{{"from":"web-all","tier":"a"}}}}}}
---
apiVersion: apps.clusternet.io/v1alpha1
kind: Globalization
metadata:
  name: web-child1
spec:
  overridePolicy: ApplyLater
  priority: 400
  clusterAffinity:
    matchLabels:
      clusters.clusternet.io/cluster-name: {c1}
  feed:
    apiVersion: apps/v1
    kind: Deployment
    namespace: default
    name: web
  overrides:
  - name: extra
    type: MergePatch
    value: |-
      metadata:
        labels:
          from: web-child1
          tier: b
          extra: b
---
apiVersion: apps.clusternet.io/v1alpha1
kind: Localization
metadata:
  name: web-local
  namespace: {ns1}
spec:
  overridePolicy: ApplyLater
  priority: 600
  feed:
    apiVersion: apps/v1
    kind: Deployment
    namespace: default
    name: web
  overrides:
  - name: scale
    type: JSONPatch
    value: |-
      [{{"path": "/spec/replicas", "value": 3, "op": "replace"}},
       {{"path": "/metadata/labels/from", "value": "web-local", "op": "replace"}}]
"#,
            c1 = c1.name,
            ns1 = c1.namespace
        ),
    )
    .await?;

    // The override controllers label each override with the feed's Manifest UID (and add
    // their finalizer); ApplyLater overrides count from the next render on.
    let deploy_uid = get_json(
        parent,
        &["manifests", "-n", "clusternet-reserved", deploy_manifest],
    )
    .await?["metadata"]["uid"]
        .as_str()
        .context("manifest uid")?
        .to_string();
    for (args, what) in [
        (vec!["globalization", "web-all"], "web-all"),
        (vec!["globalization", "web-child1"], "web-child1"),
        (
            vec!["localization", "web-local", "-n", c1.namespace.as_str()],
            "web-local",
        ),
    ] {
        wait_for(
            &format!("{what} labelled for its feed"),
            TIMEOUT,
            POLL,
            || async {
                let o = get_json(parent, &args).await?;
                Ok((o["metadata"]["labels"][&deploy_uid] == "Deployment"
                    && o["metadata"]["finalizers"] == json!(["apps.clusternet.io/finalizer"]))
                .then_some(()))
            },
        )
        .await?;
    }

    // The Subscription, then its status as clusternet-scheduler writes it.
    apply(
        parent,
        r#"
apiVersion: apps.clusternet.io/v1alpha1
kind: Subscription
metadata:
  name: web-app
  namespace: default
spec:
  subscribers:
  - clusterAffinity: {}
  feeds:
  - apiVersion: apps/v1
    kind: Deployment
    namespace: default
    name: web
  - apiVersion: v1
    kind: ConfigMap
    namespace: default
    name: web-conf
"#,
    )
    .await?;
    let sub = get_json(parent, &["subs", "web-app", "-n", "default"]).await?;
    let sub_uid = sub["metadata"]["uid"]
        .as_str()
        .context("sub uid")?
        .to_string();
    let bind = |bindings: Vec<String>| {
        json!({"status": {"bindingClusters": bindings, "specHash": 12345}}).to_string()
    };
    parent
        .kubectl([
            "patch",
            "subs",
            "web-app",
            "-n",
            "default",
            "--subresource=status",
            "--type=merge",
            "-p",
            &bind(vec![
                format!("{}/{}", c1.namespace, c1.name),
                format!("{}/{}", c2.namespace, c2.name),
            ]),
        ])
        .await?;

    // Subscription: finalizer and `<uid>: Subscription`.
    wait_for(
        "Subscription finalizer and label",
        TIMEOUT,
        POLL,
        || async {
            let s = get_json(parent, &["subs", "web-app", "-n", "default"]).await?;
            Ok(
                (s["metadata"]["finalizers"] == json!(["apps.clusternet.io/finalizer"])
                    && s["metadata"]["labels"][&sub_uid] == "Subscription")
                    .then_some(()),
            )
        },
    )
    .await?;

    // One Base per bound cluster, named, labelled and finalized as Clusternet.
    let bs = wait_for("a Base per bound cluster", TIMEOUT, POLL, || async {
        let bs = bases(parent, &sub_uid).await?;
        Ok((bs.len() == 2
            && bs.values().all(|b| {
                b["metadata"]["labels"][b["metadata"]["uid"].as_str().unwrap_or("-")] == "Base"
            }))
        .then_some(bs))
    })
    .await?;
    for c in [c1, c2] {
        let b = &bs[&c.namespace];
        let name = b["metadata"]["name"].as_str().context("base name")?;
        let suffix = name.strip_prefix("web-app-").context("base name prefix")?;
        ensure!(
            suffix.len() == 5
                && suffix
                    .chars()
                    .all(|ch| "bcdfghjklmnpqrstvwxz2456789".contains(ch)),
            "base name {name}"
        );
        let base_uid = b["metadata"]["uid"].as_str().context("base uid")?;
        let mut want = json!({
                "clusternet.io/created-by": "clusternet-controller-manager",
                "apps.clusternet.io/config.kind": "Subscription",
                "apps.clusternet.io/config.name": "web-app",
                "apps.clusternet.io/config.namespace": "default",
                "apps.clusternet.io/config.uid": sub_uid,
                "apps.clusternet.io/subs.name": "web-app",
                "apps.clusternet.io/subs.namespace": "default",
                "apps.clusternet.io/subs.uid": sub_uid,
                "clusters.clusternet.io/cluster-id": c.id,
                "clusters.clusternet.io/cluster-name": c.name,
        });
        want[base_uid] = json!("Base");
        assert_eq!(b["metadata"]["labels"], want);
        assert_eq!(
            b["metadata"]["finalizers"],
            json!(["apps.clusternet.io/finalizer"])
        );
        assert_eq!(b["spec"]["feeds"], sub["spec"]["feeds"]);
    }

    // Descriptions with exactly the overridden objects.
    let deploy_t = rendered(template(parent, deploy_manifest).await?);
    let cm_t = rendered(template(parent, cm_manifest).await?);
    let mut d1 = deploy_t.clone();
    for (k, v) in [("from", "web-local"), ("tier", "a"), ("extra", "b")] {
        d1["metadata"]["labels"][k] = json!(v);
    }
    d1["spec"]["replicas"] = json!(3);
    let mut d2 = deploy_t.clone();
    for (k, v) in [("from", "web-all"), ("tier", "a")] {
        d2["metadata"]["labels"][k] = json!(v);
    }
    wait_rendered(
        parent,
        &sub_uid,
        &c1.namespace,
        &[d1.clone(), cm_t.clone()],
        "child1's Description",
    )
    .await?;
    wait_rendered(
        parent,
        &sub_uid,
        &c2.namespace,
        &[d2.clone(), cm_t.clone()],
        "child2's Description",
    )
    .await?;
    for c in [c1, c2] {
        let b = &bs[&c.namespace];
        let base_name = b["metadata"]["name"].as_str().unwrap_or_default();
        let desc = get_json(
            parent,
            &[
                "description",
                &format!("{base_name}-generic"),
                "-n",
                &c.namespace,
            ],
        )
        .await?;
        assert_eq!(desc["spec"]["deployer"], "Generic");
        assert_eq!(
            desc["metadata"]["labels"],
            json!({
                "clusternet.io/created-by": "clusternet-controller-manager",
                "apps.clusternet.io/config.kind": "Base",
                "apps.clusternet.io/config.namespace": c.namespace,
                "apps.clusternet.io/config.uid": b["metadata"]["uid"],
                "apps.clusternet.io/subs.namespace": "default",
                "apps.clusternet.io/subs.uid": sub_uid,
                "clusters.clusternet.io/cluster-id": c.id,
                "clusters.clusternet.io/cluster-name": c.name,
            })
        );
        assert_eq!(
            desc["metadata"]["finalizers"],
            json!(["apps.clusternet.io/finalizer"])
        );
        let owner = &desc["metadata"]["ownerReferences"][0];
        assert_eq!(
            (
                owner["kind"].as_str(),
                owner["name"].as_str(),
                owner["controller"].as_bool()
            ),
            (Some("Base"), Some(base_name), Some(true))
        );
        assert_eq!(owner["uid"], b["metadata"]["uid"]);
    }

    // Feeds carry the back-references `<baseUID>: Base` and `<subUID>: Subscription`.
    for m in [deploy_manifest, cm_manifest] {
        let labels = get_json(parent, &["manifests", "-n", "clusternet-reserved", m]).await?["metadata"]["labels"].clone();
        assert_eq!(labels[&sub_uid], "Subscription", "{m}: {labels}");
        for b in bs.values() {
            assert_eq!(
                labels[b["metadata"]["uid"].as_str().unwrap_or("-")],
                "Base",
                "{m}: {labels}"
            );
        }
    }

    // Aggregated status: one entry per feed, one detail per bound cluster.
    wait_for("aggregated statuses", TIMEOUT, POLL, || async {
        let s = get_json(parent, &["subs", "web-app", "-n", "default"]).await?;
        let agg = &s["status"]["aggregatedStatuses"];
        let ok = agg.as_array().is_some_and(|a| a.len() == 2)
            && agg[0]["kind"] == "Deployment"
            && agg[1]["kind"] == "ConfigMap"
            && agg[0]["feedStatusDetails"][0]["clusterId"] == c1.id.as_str()
            && agg[0]["feedStatusDetails"][1]["clusterName"] == c2.name.as_str();
        Ok(ok.then_some(()))
    })
    .await?;

    // A feed changes: every Description follows, overrides still applied.
    apply(parent, &deployment("nginx:1.27")).await?;
    let deploy_t = rendered(template(parent, deploy_manifest).await?);
    ensure!(deploy_t["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27");
    // The whole template changed (image and kubectl's last-applied annotation): the
    // overrides apply on top of it again.
    let mut d1n = deploy_t.clone();
    d1n["metadata"]["labels"] = d1["metadata"]["labels"].clone();
    d1n["spec"]["replicas"] = json!(3);
    let mut d2n = deploy_t.clone();
    d2n["metadata"]["labels"] = d2["metadata"]["labels"].clone();
    let (d1, d2) = (d1n, d2n);
    wait_rendered(
        parent,
        &sub_uid,
        &c1.namespace,
        &[d1.clone(), cm_t.clone()],
        "child1's Description after the feed changed",
    )
    .await?;
    wait_rendered(
        parent,
        &sub_uid,
        &c2.namespace,
        &[d2.clone(), cm_t.clone()],
        "child2's Description after the feed changed",
    )
    .await?;

    // ApplyLater waits for the next render; ApplyNow renders at once (and takes the waiting
    // one along).
    apply(
        parent,
        &format!(
            r#"
apiVersion: apps.clusternet.io/v1alpha1
kind: Localization
metadata:
  name: later
  namespace: {ns2}
spec:
  overridePolicy: ApplyLater
  feed: {{apiVersion: apps/v1, kind: Deployment, namespace: default, name: web}}
  overrides:
  - {{name: later, type: MergePatch, value: '{{"metadata":{{"annotations":{{"later":"yes"}}}}}}'}}
"#,
            ns2 = c2.namespace
        ),
    )
    .await?;
    wait_for(
        "the ApplyLater Localization labelled",
        TIMEOUT,
        POLL,
        || async {
            let o = get_json(parent, &["localization", "later", "-n", &c2.namespace]).await?;
            Ok((o["metadata"]["labels"][&deploy_uid] == "Deployment").then_some(()))
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let desc2 = wait_rendered(
        parent,
        &sub_uid,
        &c2.namespace,
        &[d2.clone(), cm_t.clone()],
        "child2's Description unchanged by ApplyLater",
    )
    .await?;
    let _ = desc2;
    apply(parent, &format!(r#"
apiVersion: apps.clusternet.io/v1alpha1
kind: Localization
metadata:
  name: now
  namespace: {ns2}
spec:
  overridePolicy: ApplyNow
  priority: 100
  feed: {{apiVersion: apps/v1, kind: Deployment, namespace: default, name: web}}
  overrides:
  - {{name: now, type: MergePatch, value: '{{"metadata":{{"annotations":{{"now":"yes","later":"overridden"}}}}}}'}}
"#, ns2 = c2.namespace)).await?;
    let mut d2_now = d2.clone();
    // `now` (priority 100) applies before `later` (priority 500): later's value wins.
    d2_now["metadata"]["annotations"]["now"] = json!("yes");
    d2_now["metadata"]["annotations"]["later"] = json!("yes");
    wait_rendered(
        parent,
        &sub_uid,
        &c2.namespace,
        &[d2_now, cm_t.clone()],
        "child2's Description after an ApplyNow Localization",
    )
    .await?;

    // Deleting an ApplyNow Localization rolls it back at once.
    parent
        .kubectl([
            "delete",
            "localization",
            "now",
            "-n",
            &c2.namespace,
            "--wait=false",
        ])
        .await?;
    let mut d2_later = d2.clone();
    d2_later["metadata"]["annotations"]["later"] = json!("yes");
    wait_rendered(
        parent,
        &sub_uid,
        &c2.namespace,
        &[d2_later, cm_t.clone()],
        "child2's Description after the ApplyNow Localization was deleted",
    )
    .await?;
    wait_for(
        "the deleted Localization released",
        TIMEOUT,
        POLL,
        || async {
            let out = parent
                .kubectl(["get", "localization", "-n", &c2.namespace, "-o", "name"])
                .await?;
            Ok((!out.contains("localization.apps.clusternet.io/now")).then_some(()))
        },
    )
    .await?;

    // Unbinding child2 removes its Base (after its Description).
    parent
        .kubectl([
            "patch",
            "subs",
            "web-app",
            "-n",
            "default",
            "--subresource=status",
            "--type=merge",
            "-p",
            &bind(vec![format!("{}/{}", c1.namespace, c1.name)]),
        ])
        .await?;
    wait_descriptions_gone(parent, &sub_uid, Some(&c2.namespace)).await?;
    wait_for("child2's Base gone", TIMEOUT, POLL, || async {
        let bs = bases(parent, &sub_uid).await?;
        Ok((bs.len() == 1 && bs.contains_key(&c1.namespace)).then_some(()))
    })
    .await?;
    let labels = get_json(
        parent,
        &["manifests", "-n", "clusternet-reserved", deploy_manifest],
    )
    .await?["metadata"]["labels"]
        .clone();
    ensure!(
        labels
            .get(bs[&c2.namespace]["metadata"]["uid"].as_str().unwrap_or("-"))
            .is_none(),
        "child2's Base label left on the feed: {labels}"
    );

    // Deleting the Subscription deletes its Bases and their Descriptions, then itself.
    parent
        .kubectl(["delete", "subs", "web-app", "-n", "default", "--wait=false"])
        .await?;
    wait_for(
        "the Subscription held by its finalizer",
        TIMEOUT,
        POLL,
        || async {
            let s = get_json(parent, &["subs", "web-app", "-n", "default"]).await;
            Ok(match s {
                Ok(s) => s["metadata"]["deletionTimestamp"].is_string().then_some(()),
                // Gone already: only possible if an applier released the Description at once.
                Err(_) => Some(()),
            })
        },
    )
    .await?;
    wait_descriptions_gone(parent, &sub_uid, None).await?;
    wait_for(
        "all Bases and the Subscription gone",
        TIMEOUT,
        POLL,
        || async {
            let bs = bases(parent, &sub_uid).await?;
            let subs = parent
                .kubectl(["get", "subs", "-n", "default", "-o", "name"])
                .await?;
            Ok((bs.is_empty() && subs.trim().is_empty()).then_some(()))
        },
    )
    .await?;
    for m in [deploy_manifest, cm_manifest] {
        let labels = get_json(parent, &["manifests", "-n", "clusternet-reserved", m]).await?["metadata"]["labels"].clone();
        ensure!(
            labels.get(&sub_uid).is_none(),
            "{m} still labelled for the deleted Subscription: {labels}"
        );
    }
    Ok(())
}
