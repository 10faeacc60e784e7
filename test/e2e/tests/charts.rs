//! The Helm charts of `deploy/charts/` against the plain manifests of `deploy/` and real
//! control planes, with the real Helm (built from helm.sh/helm/v4 by `make helm`):
//!
//! - `helm lint` passes for each chart, and `helm template` with the default values renders
//!   exactly the plain manifests (documents compared as sets keyed by
//!   apiVersion/kind/namespace/name; comments and layout do not matter). The plain manifests
//!   change (flag lists in Deployment args); this is what keeps the charts in step.
//! - The value names of clusternet/charts that mean something here are all there with their
//!   types, and a values file in clusternet/charts' shape (their names and kinds of values,
//!   another image) renders the flags it asks for.
//! - `helm install` (server-side apply, Helm 4's default) of the hub, controller-manager and
//!   scheduler charts into a real parent and of the agent chart into a real child: the releases
//!   are deployed, every object exists and was applied server-side by helm, and
//!   `helm uninstall` removes them. The pods never run (the control planes have no nodes and
//!   the images are not pulled): only what the apiserver accepts is checked here; the binaries
//!   themselves run in the other suites.
//! - A values override the apiserver must refuse (a replica count that is not a number, a
//!   toleration operator that does not exist, a field the schema does not have) fails the
//!   install, and the object is not created.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use clusternet_test_support::charts::Helm;
use clusternet_test_support::{ControlPlane, paths, wait_for};
use serde_json::{Value, json};

/// Every chart is installed into this namespace (the plain manifests name it).
const NAMESPACE: &str = "clusternet-system";

/// A chart of `deploy/charts/` and the plain manifests it renders.
struct ChartCase {
    /// Directory under `deploy/charts/`; also the release name.
    chart: &'static str,
    /// Cluster it is installed into: the parent or a child.
    on_child: bool,
    /// Plain manifests (files or directories under `deploy/`; a name ending in `*` is a
    /// prefix of files in that directory).
    plain: &'static [&'static str],
    /// Objects of the plain manifests the chart does not render: (kind, name, why).
    plain_only: &'static [(&'static str, &'static str, &'static str)],
    /// CRDs in the chart's `crds/` (installed once, never upgraded or deleted by Helm); the
    /// others of `deploy/crds` it carries are templates (part of the release).
    crds_dir: &'static [&'static str],
    /// clusternet/charts' value names this chart keeps, with their type (`?`: null allowed,
    /// meaning "not passed: the binary's default").
    values: &'static [(&'static str, &'static str)],
    /// A values file in clusternet/charts' shape (their names and their kinds of values; only
    /// the image is ours) ...
    theirs: &'static str,
    /// ... and the container args it must render.
    theirs_args: &'static [&'static str],
}

/// The release namespace is not rendered by the charts: `helm install --namespace
/// clusternet-system --create-namespace` creates it, and Helm must write the release record
/// into it before it applies anything, so a chart cannot create its own release namespace.
const RELEASE_NAMESPACE: (&str, &str, &str) = (
    "Namespace",
    NAMESPACE,
    "the release namespace (helm install --create-namespace)",
);

/// Value names every chart shares with clusternet/charts.
const COMMON_VALUES: &[(&str, &str)] = &[
    ("nameOverride", "string"),
    ("fullnameOverride", "string"),
    ("commonLabels", "map"),
    ("commonAnnotations", "map"),
    ("replicaCount", "int"),
    ("serviceAccount.name", "string"),
    ("image.registry", "string"),
    ("image.repository", "string"),
    ("image.tag", "string"),
    ("image.pullPolicy", "string"),
    ("image.pullSecrets", "list"),
    ("leaderElect", "bool?"),
    ("featureGates", "string"),
    ("kubeAPI.burst", "string?"),
    ("kubeAPI.qps", "string?"),
    ("extraArgs", "map"),
    ("resources.limits", "map"),
    ("resources.requests", "map"),
    ("hostNetwork", "bool"),
    ("nodeSelector", "map"),
    ("priorityClassName", "string"),
    ("tolerations", "list"),
    ("podAffinityPreset", "string"),
    ("podAntiAffinityPreset", "string"),
    ("nodeAffinityPreset.type", "string"),
    ("nodeAffinityPreset.key", "string"),
    ("nodeAffinityPreset.values", "list"),
    ("affinity", "map"),
];
// Not kept: `kubeVersion` (clusternet/charts feeds it to the bitnami helpers that pick
// apiVersions for old clusters; these charts have one apiVersion per kind and state the
// Kubernetes versions they need in Chart.yaml), and the hub's `anonymousAuthSupported` (unused
// by clusternet/charts' hub templates too). Helm ignores values a chart does not read, so a
// values file setting them still installs.

const CHARTS: &[ChartCase] = &[
    ChartCase {
        chart: "clusternet-hub",
        on_child: false,
        plain: &["hub", "crds"],
        plain_only: &[RELEASE_NAMESPACE],
        crds_dir: &[
            "multicluster.x-k8s.io_serviceexports.yaml",
            "multicluster.x-k8s.io_serviceimports.yaml",
        ],
        values: &[
            ("securePort", "int"),
            ("peerPort", "int?"),
            ("reservedNamespace", "string"),
        ],
        theirs: r#"
replicaCount: 3
serviceAccount: {name: clusternet-hub}
securePort: 443
peerPort: 8123
image: {registry: ghcr.io, repository: clusternet-rs/clusternet-hub, tag: v0.1.0, pullPolicy: IfNotPresent, pullSecrets: []}
reservedNamespace: clusternet-reserved
anonymousAuthSupported: true
leaderElect: true
featureGates: "SocketConnection=true,ShadowAPI=true"
kubeAPI: {burst: "100", qps: "50.0"}
extraArgs: {v: 4}
resources: {limits: {}, requests: {}}
hostNetwork: false
nodeSelector: {}
priorityClassName: ""
tolerations: []
podAffinityPreset: ""
podAntiAffinityPreset: soft
nodeAffinityPreset: {type: "", key: "", values: []}
affinity: {}
kubeVersion: ""
nameOverride: ""
fullnameOverride: ""
commonLabels: {}
commonAnnotations: {}
"#,
        theirs_args: &[
            "--secure-port=443",
            "--leader-elect=true",
            "--leader-elect-resource-namespace=$(POD_NAMESPACE)",
            "--peer-port=8123",
            "--feature-gates=SocketConnection=true,ShadowAPI=true",
            "--reserved-namespace=clusternet-reserved",
            "--serving-cert-secret=$(POD_NAMESPACE)/clusternet-hub-serving-cert",
            "--ca-bundle-apiservices=v1alpha1.proxies.clusternet.io,v1alpha1.shadow",
            "--kube-api-burst=100",
            "--kube-api-qps=50.0",
            "--v=4",
        ],
    },
    ChartCase {
        chart: "clusternet-controller-manager",
        on_child: false,
        plain: &["controller-manager"],
        plain_only: &[],
        crds_dir: &[],
        values: &[
            ("securePort", "int?"),
            ("controllers", "string"),
            ("reservedNamespace", "string?"),
            ("anonymousAuthSupported", "bool?"),
        ],
        theirs: r#"
replicaCount: 3
serviceAccount: {name: clusternet-controller-manager}
securePort: 443
controllers: "*"
image: {registry: ghcr.io, repository: clusternet-rs/clusternet-controller-manager, tag: v0.1.0, pullPolicy: IfNotPresent, pullSecrets: []}
reservedNamespace: clusternet-reserved
anonymousAuthSupported: true
leaderElect: true
featureGates: "SocketConnection=true,Deployer=true,FeedInUseProtection=true,FeedInventory=true,ClusterInit=false"
kubeAPI: {burst: "100", qps: "50.0"}
extraArgs: {}
resources: {limits: {}, requests: {}}
hostNetwork: false
nodeSelector: {}
priorityClassName: ""
tolerations: []
podAffinityPreset: ""
podAntiAffinityPreset: soft
nodeAffinityPreset: {type: "", key: "", values: []}
affinity: {}
"#,
        theirs_args: &[
            "--secure-port=443",
            "--anonymous-auth-supported=true",
            "--feature-gates=SocketConnection=true,Deployer=true,FeedInUseProtection=true,FeedInventory=true,ClusterInit=false",
            "--leader-elect=true",
            "--leader-elect-resource-namespace=$(SYSTEM_NAMESPACE)",
            "--reserved-namespace=clusternet-reserved",
            "--controllers=*",
            "--kube-api-burst=100",
            "--kube-api-qps=50.0",
            "--helm-binary=/usr/local/bin/helm",
        ],
    },
    ChartCase {
        chart: "clusternet-scheduler",
        on_child: false,
        plain: &["scheduler"],
        plain_only: &[],
        crds_dir: &[],
        values: &[],
        theirs: r#"
replicaCount: 3
serviceAccount: {name: clusternet-scheduler}
image: {registry: ghcr.io, repository: clusternet-rs/clusternet-scheduler, tag: v0.1.0, pullPolicy: IfNotPresent, pullSecrets: []}
leaderElect: true
featureGates: "FailOver=true,FeasibleClustersToleration=true"
kubeAPI: {burst: "100", qps: "50.0"}
extraArgs: {}
resources: {limits: {}, requests: {}}
hostNetwork: false
nodeSelector: {}
priorityClassName: ""
tolerations: []
podAffinityPreset: ""
podAntiAffinityPreset: soft
nodeAffinityPreset: {type: "", key: "", values: []}
affinity: {}
"#,
        theirs_args: &[
            "--feature-gates=FailOver=true,FeasibleClustersToleration=true",
            "--leader-elect=true",
            "--leader-elect-resource-namespace=$(SYSTEM_NAMESPACE)",
            "--kube-api-burst=100",
            "--kube-api-qps=50.0",
        ],
    },
    ChartCase {
        chart: "clusternet-agent",
        on_child: true,
        plain: &["agent", "crds/multicluster.x-k8s.io_*"],
        plain_only: &[RELEASE_NAMESPACE],
        crds_dir: &[
            "multicluster.x-k8s.io_serviceexports.yaml",
            "multicluster.x-k8s.io_serviceimports.yaml",
        ],
        values: &[("parentURL", "string"), ("registrationToken", "string")],
        theirs: r#"
parentURL: "https://192.0.2.10:6443"
registrationToken: "abcdef.0123456789abcdef"
replicaCount: 3
serviceAccount: {name: clusternet-agent}
image: {registry: ghcr.io, repository: clusternet-rs/clusternet-agent, tag: v0.1.0, pullPolicy: IfNotPresent, pullSecrets: []}
leaderElect: true
featureGates: "SocketConnection=true,AppPusher=true,Recovery=true,Predictor=true"
kubeAPI: {burst: "100", qps: "50.0"}
extraArgs:
  cluster-sync-mode: Dual
  use-metrics-server: false
  predictor-direct-access: false
  predictor-port: 8080
resources: {limits: {}, requests: {}}
hostNetwork: false
nodeSelector: {}
priorityClassName: ""
tolerations: []
podAffinityPreset: ""
podAntiAffinityPreset: soft
nodeAffinityPreset: {type: "", key: "", values: []}
affinity: {}
"#,
        theirs_args: &[
            "--cluster-reg-parent-url=$(PARENT_URL)",
            "--leader-elect=true",
            "--leader-elect-resource-namespace=$(AGENT_NAMESPACE)",
            "--feature-gates=SocketConnection=true,AppPusher=true,Recovery=true,Predictor=true",
            "--kube-api-burst=100",
            "--kube-api-qps=50.0",
            "--helm-binary=/usr/local/bin/helm",
            "--cluster-sync-mode=Dual",
            "--predictor-direct-access=false",
            "--predictor-port=8080",
            "--use-metrics-server=false",
        ],
    },
];

/// What the agent chart adds when given parentURL and registrationToken (the plain manifests
/// ask the user to create this Secret by hand).
fn registration_secret(parent_url: &str, token: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "clusternet-agent-cluster-registration", "namespace": NAMESPACE},
        "type": "Opaque",
        "stringData": {"parentURL": parent_url, "regToken": token},
    })
}

fn chart_dir(chart: &str) -> PathBuf {
    paths::workspace_root().join("deploy/charts").join(chart)
}

fn helm_home() -> Result<(tempfile::TempDir, Helm)> {
    let dir = paths::scratch_dir("charts")?;
    let helm = Helm::new(&dir.path().join("helm"))?;
    Ok((dir, helm))
}

/// The objects of a multi-document YAML text (comment-only and empty documents dropped).
fn documents(text: &str, origin: &str) -> Result<Vec<Value>> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).with_context(|| format!("parsing {origin}"))?;
    Ok(docs.into_iter().filter(Value::is_object).collect())
}

/// apiVersion/kind/namespace/name.
fn key(doc: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    format!(
        "{}/{}/{}/{}",
        s(&doc["apiVersion"]),
        s(&doc["kind"]),
        s(&doc["metadata"]["namespace"]),
        s(&doc["metadata"]["name"])
    )
}

fn keyed(docs: Vec<Value>, origin: &str) -> Result<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for doc in docs {
        let k = key(&doc);
        ensure!(out.insert(k.clone(), doc).is_none(), "{origin}: {k} twice");
    }
    Ok(out)
}

/// The plain manifests a chart stands for, keyed, without its `plain_only` objects.
fn plain_objects(case: &ChartCase) -> Result<BTreeMap<String, Value>> {
    let deploy = paths::workspace_root().join("deploy");
    let mut files = Vec::new();
    for entry in case.plain {
        let (dir, prefix) = match entry.strip_suffix('*') {
            Some(p) => {
                let p = Path::new(p);
                (
                    deploy.join(p.parent().unwrap()),
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                )
            }
            None => (deploy.join(entry), String::new()),
        };
        for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = e?.path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && name.ends_with(".yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut docs = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f)?;
        docs.extend(documents(&text, &f.display().to_string())?);
    }
    let mut objects = keyed(docs, "plain manifests")?;
    for (kind, name, why) in case.plain_only {
        let before = objects.len();
        objects.retain(|_, doc| !(doc["kind"] == *kind && doc["metadata"]["name"] == *name));
        ensure!(
            objects.len() == before - 1,
            "{}: plain-only {kind} {name} ({why}) is not in the plain manifests",
            case.chart
        );
    }
    Ok(objects)
}

/// `helm template <chart> deploy/charts/<chart> --namespace clusternet-system --include-crds`
/// with `args`, keyed.
async fn render(helm: &Helm, chart: &str, args: &[&str]) -> Result<BTreeMap<String, Value>> {
    let dir = chart_dir(chart);
    let mut all = vec![
        "template",
        chart,
        dir.to_str().unwrap(),
        "--namespace",
        NAMESPACE,
        "--include-crds",
    ];
    all.extend_from_slice(args);
    let out = helm.run(&all).await?;
    keyed(documents(&out, &format!("helm template {chart}"))?, chart)
}

/// The differences of `a` (chart) and `b` (plain) below `path`, one line each.
fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => diff(&p, u, v, out),
                    (Some(u), None) => out.push(format!("  {p}: only in the chart: {u}")),
                    (None, Some(v)) => out.push(format!("  {p}: only in the plain manifest: {v}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}[{i}]"), u, v, out);
            }
        }
        _ if a != b => out.push(format!("  {path}: chart {a} | plain {b}")),
        _ => {}
    }
}

/// Nothing, or a readable account of how the rendered and the plain objects differ.
fn compare(
    what: &str,
    rendered: &BTreeMap<String, Value>,
    plain: &BTreeMap<String, Value>,
) -> Option<String> {
    let mut lines = Vec::new();
    for k in rendered.keys().filter(|k| !plain.contains_key(*k)) {
        lines.push(format!(
            "{k}: rendered by the chart, not in the plain manifests"
        ));
    }
    for k in plain.keys().filter(|k| !rendered.contains_key(*k)) {
        lines.push(format!(
            "{k}: in the plain manifests, not rendered by the chart"
        ));
    }
    for (k, a) in rendered {
        if let Some(b) = plain.get(k) {
            let mut d = Vec::new();
            diff("", a, b, &mut d);
            if !d.is_empty() {
                lines.push(format!("{k} differs:"));
                lines.extend(d);
            }
        }
    }
    (!lines.is_empty()).then(|| format!("{what}:\n{}", lines.join("\n")))
}

/// The value at dotted `path` of `values`: None when a key is missing, Some(Null) when null.
fn lookup<'a>(values: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(values, |v, k| v.as_object()?.get(k))
}

fn type_ok(value: &Value, ty: &str) -> bool {
    let (ty, nullable) = match ty.strip_suffix('?') {
        Some(t) => (t, true),
        None => (ty, false),
    };
    match value {
        Value::Null => nullable,
        Value::String(_) => ty == "string",
        Value::Bool(_) => ty == "bool",
        Value::Number(n) => ty == "int" && n.is_i64(),
        Value::Object(_) => ty == "map",
        Value::Array(_) => ty == "list",
    }
}

fn deployment(objects: &BTreeMap<String, Value>) -> Result<&Value> {
    let mut deployments = objects.values().filter(|d| d["kind"] == "Deployment");
    let d = deployments.next().context("no Deployment rendered")?;
    ensure!(deployments.next().is_none(), "more than one Deployment");
    Ok(d)
}

#[tokio::test]
async fn charts_lint_and_render_the_plain_manifests() -> Result<()> {
    let (_dir, helm) = helm_home()?;
    let mut failures = Vec::new();
    let on_disk: BTreeSet<String> =
        std::fs::read_dir(paths::workspace_root().join("deploy/charts"))?
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    let listed: BTreeSet<String> = CHARTS.iter().map(|c| c.chart.to_string()).collect();
    assert_eq!(
        on_disk, listed,
        "deploy/charts/ and the charts this test knows"
    );

    for case in CHARTS {
        let started = std::time::Instant::now();
        let dir = chart_dir(case.chart);
        // Lint with the default values and with clusternet/charts-style ones.
        let scratch = paths::scratch_dir("charts-values")?;
        let file = scratch.path().join("values.yaml");
        std::fs::write(&file, case.theirs)?;
        helm.run(["lint", "--strict", dir.to_str().unwrap()])
            .await
            .with_context(|| format!("helm lint {}", case.chart))?;
        helm.run([
            "lint",
            "--strict",
            dir.to_str().unwrap(),
            "-f",
            file.to_str().unwrap(),
        ])
        .await
        .with_context(|| {
            format!(
                "helm lint {} -f <clusternet/charts-style values>",
                case.chart
            )
        })?;

        let plain = plain_objects(case)?;
        let rendered = render(&helm, case.chart, &[]).await?;
        if let Some(d) = compare(
            &format!("{}: default values", case.chart),
            &rendered,
            &plain,
        ) {
            failures.push(d);
        }

        // The chart's crds/ holds exactly the CRDs listed (the others are templates).
        let mut crds: Vec<String> = match std::fs::read_dir(dir.join("crds")) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        crds.sort();
        assert_eq!(crds, case.crds_dir, "{}: crds/", case.chart);

        // Every clusternet/charts value name it keeps, with its type.
        let values: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(dir.join("values.yaml"))?)?;
        for (name, ty) in COMMON_VALUES.iter().chain(case.values) {
            match lookup(&values, name) {
                None => failures.push(format!("{}: values.yaml has no {name}", case.chart)),
                Some(v) if !type_ok(v, ty) => {
                    failures.push(format!("{}: {name} is {v}, not {ty}", case.chart))
                }
                Some(_) => {}
            }
        }

        // A values file in clusternet/charts' shape renders what it asks for.
        let theirs: Value = serde_saphyr::from_str(case.theirs)?;
        let objects = render(&helm, case.chart, &["-f", file.to_str().unwrap()]).await?;
        let d = deployment(&objects)?;
        let args: Vec<&str> = d["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .context("args")?
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        if args != case.theirs_args {
            failures.push(format!(
                "{}: clusternet/charts-style values: args {args:?}, expected {:?}",
                case.chart, case.theirs_args
            ));
        }
        assert_eq!(
            d["spec"]["replicas"], theirs["replicaCount"],
            "{}",
            case.chart
        );
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(
            pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
                [0]["podAffinityTerm"]["topologyKey"],
            "kubernetes.io/hostname",
            "{}: podAntiAffinityPreset soft",
            case.chart
        );
        assert!(
            pod.get("hostNetwork").is_none(),
            "{}: hostNetwork false",
            case.chart
        );

        // Overrides land where clusternet/charts puts them.
        let objects = render(
            &helm,
            case.chart,
            &[
                "--set",
                "image.registry=registry.example,image.repository=x/y,image.tag=v9",
                "--set",
                "replicaCount=5,nodeSelector.zone=a,image.pullSecrets[0]=pull",
                "--set",
                "commonLabels.team=fleet,commonAnnotations.note=hi",
                "--set-json",
                r#"tolerations=[{"key":"k","operator":"Exists"}]"#,
                "--set",
                "resources.limits.memory=1Gi,extraArgs.v=4",
                "--set",
                "parentURL=https://192.0.2.10:6443,registrationToken=abcdef.0123456789abcdef",
            ],
        )
        .await?;
        let d = deployment(&objects)?;
        let pod = &d["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        assert_eq!(c["image"], "registry.example/x/y:v9", "{}", case.chart);
        assert_eq!(d["spec"]["replicas"], 5, "{}", case.chart);
        assert_eq!(pod["nodeSelector"], json!({"zone": "a"}), "{}", case.chart);
        assert_eq!(
            pod["imagePullSecrets"],
            json!([{"name": "pull"}]),
            "{}",
            case.chart
        );
        assert_eq!(
            pod["tolerations"],
            json!([{"key": "k", "operator": "Exists"}])
        );
        assert_eq!(
            c["resources"]["limits"],
            json!({"memory": "1Gi"}),
            "{}",
            case.chart
        );
        assert_eq!(
            c["args"].as_array().unwrap().last().unwrap(),
            "--v=4",
            "{}",
            case.chart
        );
        for obj in objects
            .values()
            .filter(|o| o["kind"] != "CustomResourceDefinition")
        {
            assert_eq!(obj["metadata"]["labels"]["team"], "fleet", "{}", key(obj));
            assert_eq!(obj["metadata"]["annotations"]["note"], "hi", "{}", key(obj));
        }
        eprintln!(
            "{}: lint ok, {} objects rendered and compared, values checked ({:?})",
            case.chart,
            rendered.len(),
            started.elapsed()
        );
    }

    // The agent with the registration values: the plain manifests plus the Secret they ask the
    // user to create.
    let agent = CHARTS
        .iter()
        .find(|c| c.chart == "clusternet-agent")
        .unwrap();
    let mut plain = plain_objects(agent)?;
    let secret = registration_secret("https://192.0.2.10:6443", "abcdef.0123456789abcdef");
    plain.insert(key(&secret), secret);
    let rendered = render(
        &helm,
        agent.chart,
        &[
            "--set",
            "parentURL=https://192.0.2.10:6443,registrationToken=abcdef.0123456789abcdef",
        ],
    )
    .await?;
    if let Some(d) = compare(
        "clusternet-agent: with parentURL and registrationToken",
        &rendered,
        &plain,
    ) {
        failures.push(d);
    }
    // One of the two alone is refused.
    let out = helm
        .output([
            "template",
            "clusternet-agent",
            chart_dir("clusternet-agent").to_str().unwrap(),
            "--set",
            "parentURL=https://192.0.2.10:6443",
        ])
        .await?;
    assert!(
        !out.success && out.stderr.contains("registrationToken is required"),
        "{}",
        out.stderr
    );

    if !failures.is_empty() {
        bail!(
            "the charts and the plain manifests differ:\n\n{}",
            failures.join("\n\n")
        );
    }
    Ok(())
}

/// `helm <args> --kubeconfig <cluster>`.
async fn helm_on(helm: &Helm, cluster: &ControlPlane, args: &[&str]) -> Result<String> {
    let mut all: Vec<&str> = args.to_vec();
    let kubeconfig = cluster.kubeconfig().display().to_string();
    all.extend(["--kubeconfig", &kubeconfig]);
    helm.run(&all).await
}

/// The objects of release `release` as `helm get manifest` shows them, as one List.
async fn release_objects(helm: &Helm, cluster: &ControlPlane, release: &str) -> Result<Value> {
    let manifest = helm_on(
        helm,
        cluster,
        &["get", "manifest", release, "-n", NAMESPACE],
    )
    .await?;
    let items = documents(&manifest, release)?;
    ensure!(!items.is_empty(), "{release}: empty manifest");
    Ok(json!({"apiVersion": "v1", "kind": "List", "items": items}))
}

/// `kubectl get -f -` of `list` with `args`.
async fn kubectl_get(cluster: &ControlPlane, list: &Value, args: &[&str]) -> Result<String> {
    let mut all = vec!["get", "-f", "-", "-o", "name"];
    all.extend_from_slice(args);
    cluster
        .kubectl_cmd()
        .run_with_stdin(all, Some(&list.to_string()))
        .await
}

async fn release_status(helm: &Helm, cluster: &ControlPlane, release: &str) -> Result<String> {
    let out = helm_on(
        helm,
        cluster,
        &[
            "list",
            "-n",
            NAMESPACE,
            "--deployed",
            "--failed",
            "--pending",
            "-o",
            "json",
        ],
    )
    .await?;
    let list: Vec<Value> = serde_json::from_str(&out)?;
    Ok(list
        .iter()
        .find(|r| r["name"] == release)
        .map(|r| r["status"].as_str().unwrap_or("?").to_string())
        .unwrap_or_else(|| "absent".into()))
}

#[tokio::test]
async fn charts_install_on_a_real_parent_and_child() -> Result<()> {
    let [parent, child] = ControlPlane::start_many(["parent", "child"]).await?;
    let (_dir, helm) = helm_home()?;
    let registration = [
        "--set".to_string(),
        format!(
            "parentURL={},registrationToken=abcdef.0123456789abcdef",
            parent.server()
        ),
    ];

    // Server-side dry runs of the clusternet/charts-style values first: the apiserver accepts
    // what they render (the hub's CRDs are not there yet, which a dry run of the objects alone
    // does not need).
    let scratch = paths::scratch_dir("charts-install")?;
    for case in CHARTS {
        let file = scratch.path().join(format!("{}-theirs.yaml", case.chart));
        std::fs::write(&file, case.theirs)?;
        let cluster = if case.on_child { &child } else { &parent };
        let dir = chart_dir(case.chart);
        helm_on(
            &helm,
            cluster,
            &[
                "install",
                case.chart,
                dir.to_str().unwrap(),
                "-n",
                NAMESPACE,
                "--dry-run=server",
                "-f",
                file.to_str().unwrap(),
            ],
        )
        .await
        .with_context(|| {
            format!(
                "{}: server dry run of clusternet/charts-style values",
                case.chart
            )
        })?;
    }

    // Install: hub first (CRDs, the socketsproxy ClusterRole the scheduler binds), then the
    // others; the agent into the child with its registration values. The pods stay Pending: no
    // nodes, no images. That is expected; only the apiserver's acceptance is tested here.
    let mut installed = Vec::new();
    for case in CHARTS {
        let started = std::time::Instant::now();
        let cluster = if case.on_child { &child } else { &parent };
        let dir = chart_dir(case.chart);
        let mut args = vec![
            "install",
            case.chart,
            dir.to_str().unwrap(),
            "-n",
            NAMESPACE,
            "--create-namespace",
            // Helm 4's default, stated: objects are applied server-side (the apiserver
            // validates and merges), with Helm's OpenAPI validation as well.
            "--server-side=true",
        ];
        if case.on_child {
            args.extend(registration.iter().map(String::as_str));
        }
        helm_on(&helm, cluster, &args)
            .await
            .with_context(|| format!("helm install {}", case.chart))?;
        assert_eq!(
            release_status(&helm, cluster, case.chart).await?,
            "deployed"
        );
        let objects = release_objects(&helm, cluster, case.chart).await?;
        let names = kubectl_get(cluster, &objects, &[]).await?;
        let count = objects["items"].as_array().unwrap().len();
        assert_eq!(names.lines().count(), count, "{}: {names}", case.chart);
        // Applied by helm with server-side apply.
        let deployment: Value = serde_json::from_str(
            &cluster
                .kubectl([
                    "get",
                    "deployment",
                    case.chart,
                    "-n",
                    NAMESPACE,
                    "-o",
                    "json",
                    "--show-managed-fields",
                ])
                .await?,
        )?;
        let managers = deployment["metadata"]["managedFields"].as_array().unwrap();
        assert!(
            managers
                .iter()
                .any(|m| m["manager"] == "helm" && m["operation"] == "Apply"),
            "{}: managedFields {managers:?}",
            case.chart
        );
        // CRDs of crds/ are installed too (outside the release).
        for crd in case.crds_dir {
            let name = crd.trim_end_matches(".yaml");
            let (group, plural) = name.split_once('_').unwrap();
            cluster
                .kubectl(["get", "crd", &format!("{plural}.{group}")])
                .await?;
        }
        eprintln!(
            "{}: installed into {} ({count} objects, {:?})",
            case.chart,
            cluster.name(),
            started.elapsed()
        );
        installed.push((case, objects));
    }
    // The agent's registration Secret holds what it was given.
    let url = child
        .kubectl([
            "get",
            "secret",
            "clusternet-agent-cluster-registration",
            "-n",
            NAMESPACE,
            "-o",
            "jsonpath={.data.parentURL}",
        ])
        .await?;
    let url = base64::engine::general_purpose::STANDARD.decode(url.trim())?;
    assert_eq!(String::from_utf8(url)?, parent.server());

    // Uninstall (reverse order): every object of the release goes (namespaces and CRDs are
    // finalized asynchronously, hence the wait); the CRDs of crds/ stay, as Helm documents.
    for (case, objects) in installed.iter().rev() {
        let cluster = if case.on_child { &child } else { &parent };
        helm_on(&helm, cluster, &["uninstall", case.chart, "-n", NAMESPACE]).await?;
        assert_eq!(release_status(&helm, cluster, case.chart).await?, "absent");
        wait_for(
            &format!("{}'s objects gone", case.chart),
            Duration::from_secs(90),
            Duration::from_millis(500),
            || async {
                let left = kubectl_get(cluster, objects, &["--ignore-not-found"]).await?;
                Ok(left.trim().is_empty().then_some(()))
            },
        )
        .await?;
        for crd in case.crds_dir {
            let (group, plural) = crd.trim_end_matches(".yaml").split_once('_').unwrap();
            cluster
                .kubectl(["get", "crd", &format!("{plural}.{group}")])
                .await?;
        }
        eprintln!("{}: uninstalled, objects gone", case.chart);
    }

    // Values the apiserver must refuse. With Helm's own OpenAPI check off, so that it is the
    // apiserver that refuses; the replica count also with it on (refused either way).
    let scheduler = chart_dir("clusternet-scheduler");
    let refused: &[(&str, &[&str], &str)] = &[
        (
            "replicaCount not a number",
            &["--set", "replicaCount=x", "--disable-openapi-validation"],
            ".spec.replicas: expected numeric (int or float), got string",
        ),
        (
            "replicaCount not a number (Helm's OpenAPI check on)",
            &["--set", "replicaCount=x"],
            ".spec.replicas: expected numeric (int or float), got string",
        ),
        (
            "a toleration operator that does not exist",
            &[
                "--set-json",
                r#"tolerations=[{"key":"k","operator":"Sometimes"}]"#,
                "--disable-openapi-validation",
            ],
            "Unsupported value: \"Sometimes\"",
        ),
        (
            "a field the schema does not have",
            &[
                "--set-json",
                r#"affinity={"nodeAffinity":{"sometimes":true}}"#,
                "--disable-openapi-validation",
            ],
            ".spec.template.spec.affinity.nodeAffinity.sometimes: field not declared in schema",
        ),
    ];
    for (what, args, expect) in refused {
        let kubeconfig = parent.kubeconfig().display().to_string();
        let mut all = vec![
            "install",
            "clusternet-scheduler",
            scheduler.to_str().unwrap(),
            "-n",
            NAMESPACE,
            "--kubeconfig",
            &kubeconfig,
        ];
        all.extend_from_slice(args);
        let out = helm.output(&all).await?;
        // (Helm logs each linked file of the charts at INFO; not part of the answer.)
        let answer: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| !l.contains("symbolic link"))
            .collect();
        eprintln!("{what}: refused: {}", answer.join(" "));
        assert!(!out.success, "{what}: installed: {}", out.stdout);
        assert!(out.stderr.contains(expect), "{what}: {}", out.stderr);
        let left = parent
            .kubectl([
                "get",
                "deployment",
                "clusternet-scheduler",
                "-n",
                NAMESPACE,
                "--ignore-not-found",
                "-o",
                "name",
            ])
            .await?;
        assert!(
            left.trim().is_empty(),
            "{what}: the Deployment exists: {left}"
        );
        let status = release_status(&helm, &parent, "clusternet-scheduler").await?;
        assert!(
            status == "failed" || status == "absent",
            "{what}: release {status}"
        );
        if status == "failed" {
            helm_on(
                &helm,
                &parent,
                &["uninstall", "clusternet-scheduler", "-n", NAMESPACE],
            )
            .await?;
        }
    }
    Ok(())
}
