//! The shadow API (`shadow/v1alpha1`) on a real parent, driven with kubectl: templates stored as
//! Manifests, kubectl-native output, watches, CRDs picked up at run time, kube-controller-
//! manager's metadata informers, bad input.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clusternet_test_support::clusternet::{self, HubEnv};
use clusternet_test_support::{ControlPlane, paths, wait_for};
use serde_json::{Value, json};

async fn env() -> Result<HubEnv> {
    let env = HubEnv::start("shadow", true).await?;
    let parent = &env.parent;
    // The shadow resources reach kubectl through the aggregator's discovery.
    clusternet::wait_for_shadow_resource(
        parent,
        "deployments.shadow",
        true,
        Duration::from_secs(60),
    )
    .await?;
    Ok(env)
}

const DEPLOYMENT: &str = r#"
apiVersion: shadow/v1alpha1
kind: Deployment
metadata:
  name: my-nginx
  namespace: default
  labels:
    app: nginx
spec:
  replicas: 2
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
"#;

const SERVICE: &str = r#"
apiVersion: shadow/v1alpha1
kind: Service
metadata:
  name: my-nginx-svc
  namespace: default
spec:
  type: NodePort
  selector:
    app: nginx
  ports:
  - port: 80
"#;

const CONFIGMAP: &str = r#"
apiVersion: shadow/v1alpha1
kind: ConfigMap
metadata:
  name: server-conf
  namespace: default
data:
  server.conf: |
    listen 80;
"#;

async fn manifest_names(parent: &ControlPlane) -> Result<Vec<String>> {
    let out = parent
        .kubectl([
            "get",
            "manifests",
            "-n",
            "clusternet-reserved",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
        ])
        .await?;
    Ok(out.lines().map(String::from).collect())
}

#[tokio::test]
async fn kubectl_apply_get_watch_patch_delete_as_users_type_them() -> Result<()> {
    let env = env().await?;
    let parent = &env.parent;

    // kubectl get -w, running the whole time.
    let mut watch = tokio::process::Command::new(paths::kubectl_bin()?)
        .args(["--kubeconfig"])
        .arg(parent.kubeconfig())
        .args([
            "get",
            "deployments.v1alpha1.shadow",
            "-n",
            "default",
            "-w",
            "--output-watch-events",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    for (doc, what) in [
        (DEPLOYMENT, "deployment.shadow/my-nginx created"),
        (SERVICE, "service.shadow/my-nginx-svc created"),
        (CONFIGMAP, "configmap.shadow/server-conf created"),
    ] {
        let out = parent
            .kubectl_cmd()
            .run_with_stdin(["apply", "-f", "-"], Some(doc))
            .await?;
        assert_eq!(out.trim(), what);
    }
    // Stored as Clusternet stores them.
    let mut names = manifest_names(parent).await?;
    names.sort();
    assert_eq!(
        names,
        [
            "configmaps.default.server-conf",
            "deployments.default.my-nginx",
            "services.default.my-nginx-svc"
        ]
    );
    let labels = parent
        .kubectl([
            "get",
            "manifest",
            "deployments.default.my-nginx",
            "-n",
            "clusternet-reserved",
            "-o",
            "jsonpath={.metadata.labels}",
        ])
        .await?;
    let labels: Value = serde_json::from_str(&labels)?;
    assert_eq!(labels["apps.clusternet.io/config.kind"], "Deployment");
    assert_eq!(labels["apps.clusternet.io/config.group"], "apps");
    assert_eq!(labels["apps.clusternet.io/config.namespace"], "default");
    assert_eq!(labels["app"], "nginx");

    // The Deployment columns, as kube-apiserver prints Deployments.
    let out = parent
        .kubectl(["get", "deployments.v1alpha1.shadow", "-n", "default"])
        .await?;
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{out}"
    );
    assert!(
        out.lines()
            .nth(1)
            .unwrap_or_default()
            .starts_with("my-nginx   0/2"),
        "{out}"
    );
    let out = parent
        .kubectl([
            "get",
            "services.v1alpha1.shadow",
            "-n",
            "default",
            "-o",
            "wide",
        ])
        .await?;
    assert!(
        out.starts_with("NAME           TYPE       CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE"),
        "{out}"
    );

    // The raw object: served in the shadow group-version (so every follow-up request stays in
    // the shadow API), defaulted by the parent's dry-run, trimmed.
    let raw = parent
        .kubectl([
            "get",
            "--raw",
            "/apis/shadow/v1alpha1/namespaces/default/deployments/my-nginx",
        ])
        .await?;
    let object: Value = serde_json::from_str(&raw)?;
    assert_eq!(object["apiVersion"], "shadow/v1alpha1");
    assert_eq!(object["kind"], "Deployment");
    assert_eq!(
        object["spec"]["strategy"]["type"], "RollingUpdate",
        "defaulted by the dry-run"
    );
    assert!(object.get("status").is_none());
    assert_eq!(
        object["metadata"]["labels"]["clusternet.io/created-by"],
        "clusternet-hub"
    );

    // A second apply with a changed field patches it (kubectl computes a strategic merge patch
    // from the OpenAPI the hub publishes).
    let changed = DEPLOYMENT
        .replace("replicas: 2", "replicas: 3")
        .replace("nginx:1.25", "nginx:1.27");
    let out = parent
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(&changed))
        .await?;
    assert_eq!(out.trim(), "deployment.shadow/my-nginx configured");
    let got = parent
        .kubectl([
            "get",
            "deployments.v1alpha1.shadow",
            "my-nginx",
            "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}",
        ])
        .await?;
    assert_eq!(got, "3 nginx:1.27");
    // Unchanged apply is a no-op.
    let out = parent
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(&changed))
        .await?;
    assert_eq!(out.trim(), "deployment.shadow/my-nginx unchanged");
    // The template the controllers read keeps the original apiVersion.
    let template = parent
        .kubectl([
            "get",
            "manifest",
            "deployments.default.my-nginx",
            "-n",
            "clusternet-reserved",
            "-o",
            "jsonpath={.template.apiVersion}",
        ])
        .await?;
    assert_eq!(template, "apps/v1");

    parent
        .kubectl_cmd()
        .run_with_stdin(["delete", "-f", "-"], Some(&changed))
        .await?;
    assert!(
        !manifest_names(parent)
            .await?
            .iter()
            .any(|n| n.starts_with("deployments."))
    );

    // The watch saw it all, as it happened.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = watch.start_kill();
    let out = watch.wait_with_output().await?;
    let seen = String::from_utf8_lossy(&out.stdout).to_string();
    let events: Vec<&str> = seen
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        events.starts_with(&["ADDED", "MODIFIED"]) && events.last() == Some(&"DELETED"),
        "{seen}"
    );
    assert!(
        seen.lines().next().unwrap_or_default().contains("READY"),
        "watch prints the table header: {seen}"
    );
    Ok(())
}

#[tokio::test]
async fn api_semantics_metadata_clients_conflicts_selectors_and_bad_input() -> Result<()> {
    let env = env().await?;
    let parent = &env.parent;
    let client = parent.client().await?;
    parent
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(CONFIGMAP))
        .await?;
    parent
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(DEPLOYMENT))
        .await?;
    let base = "/apis/shadow/v1alpha1/namespaces/default/configmaps";

    let request =
        |method: &str, path: &str, accept: &str, content_type: &str, body: Option<Value>| {
            let client = client.clone();
            let req = http::Request::builder()
                .method(method)
                .uri(path)
                .header("accept", accept)
                .header("content-type", content_type)
                .body(body.map(|b| b.to_string().into_bytes()).unwrap_or_default());
            async move {
                let req = req?;
                let resp = client.send(req.map(kube::client::Body::from)).await?;
                let status = resp.status().as_u16();
                let ct = resp
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let bytes = http_body_util::BodyExt::collect(resp.into_body())
                    .await?
                    .to_bytes();
                anyhow::Ok((status, ct, bytes))
            }
        };

    // PartialObjectMetadataList, as kube-controller-manager's metadata informers ask.
    let accept = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
    let (status, ct, body) = request("GET", base, accept, "application/json", None).await?;
    assert_eq!(status, 200);
    // As from kube-apiserver: the serializer's media type; the body says what it is.
    assert_eq!(ct, "application/json");
    let list: Value = serde_json::from_slice(&body)?;
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["items"][0]["kind"], "PartialObjectMetadata");
    assert_eq!(list["items"][0]["metadata"]["name"], "server-conf");
    assert!(list["items"][0].get("data").is_none());

    // Optimistic concurrency: an update with a stale resourceVersion is a 409.
    let (_, _, body) = request(
        "GET",
        &format!("{base}/server-conf"),
        "application/json",
        "",
        None,
    )
    .await?;
    let mut cm: Value = serde_json::from_slice(&body)?;
    let stale = cm.clone();
    cm["data"]["extra"] = json!("1");
    let (status, _, _) = request(
        "PUT",
        &format!("{base}/server-conf"),
        "application/json",
        "application/json",
        Some(cm),
    )
    .await?;
    assert_eq!(status, 200);
    let (status, _, body) = request(
        "PUT",
        &format!("{base}/server-conf"),
        "application/json",
        "application/json",
        Some(stale),
    )
    .await?;
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
    let status_obj: Value = serde_json::from_slice(&body)?;
    assert_eq!(status_obj["reason"], "Conflict");

    // Field and label selectors.
    let selected = |resource: &'static str, flag: &'static str, selector: &'static str| async move {
        let out = parent
            .kubectl(["get", resource, flag, selector, "-o", "name"])
            .await?;
        anyhow::Ok(out.trim().to_string())
    };
    assert_eq!(
        selected(
            "configmaps.v1alpha1.shadow",
            "--field-selector",
            "metadata.name=server-conf"
        )
        .await?,
        "configmap.shadow/server-conf"
    );
    assert_eq!(
        selected("deployments.v1alpha1.shadow", "-l", "app=nginx").await?,
        "deployment.shadow/my-nginx"
    );
    assert_eq!(
        selected("deployments.v1alpha1.shadow", "-l", "app=other").await?,
        ""
    );
    let bad = parent
        .kubectl_cmd()
        .output(
            [
                "get",
                "configmaps.v1alpha1.shadow",
                "--field-selector",
                "spec.nodeName=x",
            ],
            None,
        )
        .await?;
    assert!(
        !bad.success && bad.stderr.contains("is not a known field selector"),
        "{}",
        bad.stderr
    );

    // A watch from a resourceVersion far in the past is 410 Gone (the parent's own answer).
    let (status, _, body) = request(
        "GET",
        &format!("{base}?watch=true&resourceVersion=1"),
        "application/json",
        "",
        None,
    )
    .await?;
    let text = String::from_utf8_lossy(&body);
    assert!(
        status == 410 || text.contains("\"code\":410"),
        "{status}: {text}"
    );

    // Malformed or schema-invalid objects: 400/422, nothing stored.
    let before = manifest_names(parent).await?;
    for (plural, body, want) in [
        // Wrong type of a field.
        (
            "configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}, "data": {"a": 1}}),
            400,
        ),
        // Schema-invalid for the real kind (the parent's validation).
        (
            "deployments",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"}, "spec": {"replicas": -1, "selector": {}, "template": {}}}),
            422,
        ),
        // A kind that does not belong on this path.
        (
            "configmaps",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad"}}),
            400,
        ),
        // An invalid name.
        (
            "configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_A_Name"}}),
            422,
        ),
    ] {
        let path = format!("/apis/shadow/v1alpha1/namespaces/default/{plural}");
        let (status, ct, resp) = request(
            "POST",
            &path,
            "application/json",
            "application/json",
            Some(body.clone()),
        )
        .await?;
        assert_eq!(status, want, "{body}: {}", String::from_utf8_lossy(&resp));
        assert_eq!(ct, "application/json");
        let s: Value = serde_json::from_slice(&resp)?;
        assert_eq!(s["kind"], "Status");
    }
    let (status, _, _) =
        request("POST", base, "application/json", "application/json", None).await?;
    assert_eq!(status, 400);
    let (status, _, _) = request(
        "POST",
        base,
        "application/json",
        "application/x-unknown",
        Some(json!({})),
    )
    .await?;
    assert_eq!(status, 415);
    assert_eq!(
        manifest_names(parent).await?,
        before,
        "nothing may be stored by bad requests"
    );

    // Server-side apply as kubectl does it: a field another manager set conflicts until forced,
    // named as on the object (not the Manifest holding it).
    let applied = CONFIGMAP.replace("listen 80;", "listen 8080;");
    let out = parent
        .kubectl_cmd()
        .output(["apply", "--server-side", "-f", "-"], Some(&applied))
        .await?;
    assert!(
        !out.success
            && out.stderr.contains("Apply failed with")
            && out.stderr.contains(".data.server.conf")
            && !out.stderr.contains("template"),
        "{}",
        out.stderr
    );
    let out = parent
        .kubectl_cmd()
        .run_with_stdin(
            ["apply", "--server-side", "--force-conflicts", "-f", "-"],
            Some(&applied),
        )
        .await?;
    assert_eq!(
        out.trim(),
        "configmap.shadow/server-conf serverside-applied"
    );
    let data = parent
        .kubectl([
            "get",
            "configmaps.v1alpha1.shadow",
            "server-conf",
            "-n",
            "default",
            "-o",
            "jsonpath={.data.server\\.conf}",
        ])
        .await?;
    assert_eq!(data.trim(), "listen 8080;");

    // dryRun creates nothing.
    let dry = CONFIGMAP.replace("server-conf", "dry-one");
    parent
        .kubectl_cmd()
        .run_with_stdin(["create", "--dry-run=server", "-f", "-"], Some(&dry))
        .await?;
    assert!(
        !manifest_names(parent)
            .await?
            .iter()
            .any(|n| n.contains("dry-one"))
    );

    // kubectl delete --all acts on each listed item by its apiVersion: it must stay in the
    // shadow API and never touch the parent's real ConfigMap of the same name.
    parent
        .kubectl([
            "create",
            "configmap",
            "server-conf",
            "-n",
            "default",
            "--from-literal=real=yes",
        ])
        .await?;
    parent
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(CONFIGMAP))
        .await?;
    // The templates are gone; the real ConfigMap of the same name is untouched.
    let only_templates_deleted = || async {
        let manifests = manifest_names(parent).await?;
        assert!(
            !manifests.iter().any(|n| n.starts_with("configmaps.")),
            "{manifests:?}"
        );
        let real = parent
            .kubectl([
                "get",
                "configmap",
                "server-conf",
                "-n",
                "default",
                "-o",
                "jsonpath={.data.real}",
            ])
            .await?;
        assert_eq!(real, "yes");
        anyhow::Ok(())
    };
    parent
        .kubectl([
            "delete",
            "configmaps.v1alpha1.shadow",
            "--all",
            "-n",
            "default",
        ])
        .await?;
    only_templates_deleted().await?;
    // And the API's deletecollection.
    parent
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(CONFIGMAP))
        .await?;
    let (status, _, body) =
        request("DELETE", base, "application/json", "application/json", None).await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    only_templates_deleted().await?;
    drop(env.hub);
    Ok(())
}

#[tokio::test]
async fn crds_created_later_appear_under_shadow_and_round_trip() -> Result<()> {
    let env = env().await?;
    let parent = &env.parent;
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                   "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}},
                   "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]}]}});
    parent
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(&crd.to_string()))
        .await?;
    let created = Instant::now();
    // The hub's own discovery of the group-version (the aggregator passes it through), read as
    // fast as it can be: from the moment it names widgets, widgets answer. Discovery that runs
    // ahead of the handlers sends clients that trust it a 404 (CI, shadow_scale, cm-00008).
    let client = parent.client().await?;
    let mut polls = 0;
    loop {
        let request = http::Request::get("/apis/shadow/v1alpha1").body(Vec::new())?;
        let doc: Value = serde_json::from_str(&client.request_text(request).await?)?;
        polls += 1;
        let named = doc["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["name"] == "widgets");
        if named {
            let request = http::Request::get("/apis/shadow/v1alpha1/namespaces/default/widgets")
                .body(Vec::new())?;
            client.request_text(request).await.with_context(|| {
                format!("listing widgets as soon as discovery names them ({polls} polls)")
            })?;
            break;
        }
        if created.elapsed() > Duration::from_secs(60) {
            bail!("widgets not in the hub's discovery after 60 s: {doc}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    clusternet::wait_for_shadow_resource(parent, "widgets.shadow", true, Duration::from_secs(60))
        .await?;
    eprintln!(
        "CRD created → widgets served under shadow in {:?}",
        created.elapsed()
    );
    assert!(created.elapsed() < Duration::from_secs(60));

    let widget = "apiVersion: shadow/v1alpha1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: default\nspec:\n  size: 3\n";
    parent
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(widget))
        .await?;
    let out = parent
        .kubectl(["get", "widgets.v1alpha1.shadow", "-n", "default"])
        .await?;
    assert!(
        out.lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            == ["NAME", "SIZE"],
        "{out}"
    );
    let got = parent
        .kubectl([
            "get",
            "widgets.v1alpha1.shadow",
            "w1",
            "-n",
            "default",
            "-o",
            "json",
        ])
        .await?;
    let got: Value = serde_json::from_str(&got)?;
    assert_eq!(
        (
            got["apiVersion"].as_str(),
            got["kind"].as_str(),
            got["spec"]["size"].as_i64()
        ),
        (Some("shadow/v1alpha1"), Some("Widget"), Some(3))
    );
    // Schema validation comes from the CRD on the parent.
    let bad = parent
        .kubectl_cmd()
        .output(
            ["apply", "-f", "-"],
            Some(&widget.replace("size: 3", "size: big")),
        )
        .await?;
    assert!(!bad.success, "a schema-invalid widget must be refused");
    parent
        .kubectl(["delete", "widgets.v1alpha1.shadow", "w1", "-n", "default"])
        .await?;

    // And when the CRD goes, so does the shadow resource.
    parent
        .kubectl(["delete", "crd", "widgets.example.com"])
        .await?;
    clusternet::wait_for_shadow_resource(parent, "widgets.shadow", false, Duration::from_secs(60))
        .await
}

#[tokio::test]
async fn kube_controller_manager_lives_with_the_shadow_group() -> Result<()> {
    let env = env().await?;
    let parent = &env.parent;
    // Shadow objects in a namespace that is then deleted: the namespace controller deletes
    // them through the shadow API (deletecollection), and the namespace goes.
    parent.kubectl(["create", "ns", "team-a"]).await?;
    parent
        .kubectl_cmd()
        .run_with_stdin(
            ["apply", "-f", "-"],
            Some(&CONFIGMAP.replace("default", "team-a")),
        )
        .await?;
    parent
        .kubectl(["delete", "ns", "team-a", "--wait=false"])
        .await?;
    wait_for(
        "namespace team-a deleted",
        Duration::from_secs(90),
        Duration::from_millis(500),
        || async {
            let out = parent
                .kubectl_cmd()
                .output(["get", "ns", "team-a"], None)
                .await?;
            Ok((!out.success).then_some(()))
        },
    )
    .await
    .context("namespace deletion with the shadow group registered")?;
    assert!(
        !manifest_names(parent)
            .await?
            .iter()
            .any(|n| n.contains(".team-a."))
    );

    // The garbage collector and the namespace controller watch every shadow resource with
    // metadata informers; their log must not complain about the shadow group.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let log = std::fs::read_to_string(parent.controller_manager_log())?;
    let mut complaints: Vec<String> = log
        .lines()
        .filter(|l| {
            (l.starts_with('E') || l.starts_with('W'))
                && (l.contains("shadow") || l.contains("proxies.clusternet.io"))
        })
        .map(String::from)
        .collect();
    // Failing informers log at Info level too ("Warning: watch ended with error").
    complaints.extend(parent.controller_manager_informer_failures("shadow")?);
    if !complaints.is_empty() {
        bail!(
            "kube-controller-manager complained about the hub's groups:\n{}",
            complaints.join("\n")
        );
    }
    Ok(())
}
