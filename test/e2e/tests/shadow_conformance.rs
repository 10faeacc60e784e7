//! The shadow API answers like kube-apiserver for every kind, verb and representation: the
//! conformance matrix (`clusternet_e2e::conformance`), run against the parent's own resources
//!
//! - in-process: the hub's router in this test process, on a real parent (fast, no aggregator);
//! - end to end: through the parent's aggregator to a hub process, with kube-controller-
//!   manager's garbage collector and namespace controller watching the shadow group the whole
//!   time — and its log checked for watch and decode errors afterwards.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clusternet_e2e::conformance::{self, BodyStream, Endpoint, Kind, Matrix, Pair, fixtures};
use clusternet_e2e::direct::DirectClient;
use clusternet_test_support::certs::TestCa;
use clusternet_test_support::clusternet::{self, HubEnv};
use clusternet_test_support::{ControlPlane, wait_for};
use futures::{StreamExt, TryStreamExt};
use http::Request;
use serde_json::Value;
use tower::ServiceExt;

/// Kinds run at the same time (the machine has two cores; the parent does most of the work).
const PARALLEL: usize = 6;

async fn get_json(endpoint: &Endpoint, path: &str) -> Result<Value> {
    let req = Request::get(path)
        .header(http::header::ACCEPT, "application/json")
        .body(Bytes::new())?;
    let response = endpoint_call(endpoint, req).await?;
    let status = response.status();
    let chunks: Vec<Bytes> = response.into_body().try_collect().await?;
    let body = chunks.concat();
    if !status.is_success() {
        bail!("GET {path}: {status} {}", String::from_utf8_lossy(&body));
    }
    serde_json::from_slice(&body).with_context(|| format!("GET {path}"))
}

async fn endpoint_call(
    endpoint: &Endpoint,
    req: Request<Bytes>,
) -> Result<http::Response<BodyStream>> {
    endpoint.send(req).await
}

/// Every resource the parent serves, from its legacy discovery, in its priority order.
async fn parent_kinds(parent: &Endpoint) -> Result<Vec<Kind>> {
    let mut kinds = conformance::kinds_of(&get_json(parent, "/api/v1").await?);
    let groups = get_json(parent, "/apis").await?;
    for group in groups["groups"].as_array().into_iter().flatten() {
        let Some(gv) = group["preferredVersion"]["groupVersion"].as_str() else {
            continue;
        };
        kinds.extend(conformance::kinds_of(
            &get_json(parent, &format!("/apis/{gv}")).await?,
        ));
    }
    Ok(kinds)
}

/// The kinds to run, after checking that the shadow group mirrors exactly what it should: every
/// resource of the parent that can be stored and read back, outside Clusternet's own groups.
async fn kind_pairs(parent: &Endpoint, shadow: &Endpoint) -> Result<Vec<Pair>> {
    let real = parent_kinds(parent).await?;
    let shadow_kinds = conformance::kinds_of(&get_json(shadow, "/apis/shadow/v1alpha1").await?);
    let pairs = conformance::pairs(
        &real,
        &shadow_kinds,
        &[
            fixtures::CRD_GROUP.to_string(),
            "multicluster.x-k8s.io".to_string(),
        ],
    )?;
    let mut expected: Vec<&Kind> = Vec::new();
    for k in &real {
        let storable = ["create", "get", "list"]
            .iter()
            .all(|v| k.verbs.iter().any(|x| x == v));
        let excluded = k.group.ends_with("clusternet.io")
            || k.group == "shadow"
            || (k.group == "apiregistration.k8s.io" && k.plural == "apiservices");
        if storable && !excluded && !expected.iter().any(|e| e.plural == k.plural) {
            expected.push(k);
        }
    }
    let missing: Vec<String> = expected
        .iter()
        .filter(|k| !pairs.iter().any(|p| p.real == ***k))
        .map(|k| k.resource())
        .collect();
    if !missing.is_empty() {
        bail!("the shadow group does not mirror {}", missing.join(", "));
    }
    for needed in ["widgets", "gadgets"] {
        if !pairs.iter().any(|p| p.shadow.plural == needed) {
            bail!("the matrix's custom resource {needed} is not mirrored");
        }
    }
    Ok(pairs)
}

/// Adds the matrix's custom resources and its namespace to the parent.
async fn prepare(parent: &ControlPlane, namespace: &str) -> Result<()> {
    for crd in fixtures::crds() {
        parent
            .kubectl_cmd()
            .run_with_stdin(["apply", "-f", "-"], Some(&crd.to_string()))
            .await?;
    }
    parent
        .kubectl([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            &format!("crd/widgets.{}", fixtures::CRD_GROUP),
            &format!("crd/gadgets.{}", fixtures::CRD_GROUP),
        ])
        .await?;
    parent.kubectl(["create", "namespace", namespace]).await?;
    Ok(())
}

async fn run_matrix(
    parent: &ControlPlane,
    shadow: Endpoint,
    run: &str,
) -> Result<conformance::Report> {
    let namespace = format!("conformance-{run}");
    let parent_endpoint = Endpoint::kube(parent.client().await?);
    // The shadow group serves the matrix's CRDs once the hub has seen them.
    let pairs = wait_for(
        "the shadow group to mirror the matrix's custom resources",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            match kind_pairs(&parent_endpoint, &shadow).await {
                Ok(p) => Ok(Some(p)),
                Err(err) if format!("{err:#}").contains("custom resource") => Ok(None),
                Err(err) => Err(err),
            }
        },
    )
    .await?;
    let matrix = Matrix {
        parent: parent_endpoint,
        shadow,
        namespace,
        run: run.to_string(),
        parallel: PARALLEL,
    };
    let started = Instant::now();
    let report = matrix.run(&pairs).await?;
    println!(
        "{}\n(matrix ran in {:.1}s)",
        report.summary(),
        started.elapsed().as_secs_f64()
    );
    Ok(report)
}

fn check(report: &conformance::Report) -> Result<()> {
    let differing = report.differing();
    if !differing.is_empty() {
        bail!(
            "{} of {} cells differ from the parent's own resources (summary above)",
            differing.len(),
            report.cells.len()
        );
    }
    Ok(())
}

/// The hub's shadow group, in this process: its router with the shadow handler and the sync
/// loop that keeps its resources current, on `parent`.
async fn in_process_hub(parent: &ControlPlane) -> Result<Endpoint> {
    use clusternet_hub::discovery::Registry;
    use clusternet_hub::health::Health;
    use clusternet_hub::metrics::Metrics;
    use clusternet_hub::openapi::OpenApi;
    use clusternet_hub::router::{GroupHandler, Hub, router};
    use clusternet_hub::shadow;

    let client = parent.client().await?;
    let groups = vec![shadow::api_group_version()];
    let openapi = OpenApi::default();
    openapi.rebuild_builtin(&groups)?;
    let registry = Registry::new(groups);
    let resources = shadow::Resources::default();
    let sync = shadow::sync::Sync::new(
        client.clone(),
        resources.clone(),
        registry.clone(),
        openapi.clone(),
    );
    let ready = sync.ready_flag();
    tokio::spawn(sync.run());
    let mut handlers: HashMap<String, Arc<dyn GroupHandler>> = HashMap::new();
    handlers.insert(
        shadow::GROUP.into(),
        Arc::new(shadow::Shadow::new(
            client,
            "clusternet-reserved".into(),
            resources,
        )),
    );
    let hub = Arc::new(Hub {
        discovery: registry,
        health: Health {
            live: vec![],
            ready: vec![],
        },
        metrics: Metrics::new()?,
        openapi,
        groups: handlers,
    });
    let service = router(hub);
    wait_for(
        "the in-process shadow API to read the parent",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || async {
            Ok(ready
                .load(std::sync::atomic::Ordering::SeqCst)
                .then_some(()))
        },
    )
    .await?;
    Ok(Endpoint::from_fn(move |req: Request<Bytes>| {
        let service = service.clone();
        Box::pin(async move {
            let req = req.map(clusternet_hub::body::full);
            let response = service
                .oneshot(req)
                .await
                .unwrap_or_else(|never| match never {});
            Ok(response.map(|body| {
                http_body_util::BodyDataStream::new(body)
                    .map_err(|e| anyhow::anyhow!("reading the hub's answer: {e}"))
                    .boxed()
            }))
        })
    }))
}

#[tokio::test]
async fn in_process_the_shadow_api_answers_like_the_parent() -> Result<()> {
    let parent = ControlPlane::start("parent").await?;
    clusternet::install_crds(&parent).await?;
    clusternet::apply_deploy(&parent, "hub/00-namespaces.yaml").await?;
    prepare(&parent, "conformance-inproc").await?;
    let shadow = in_process_hub(&parent).await?;
    let report = run_matrix(&parent, shadow, "inproc").await?;
    check(&report)
}

#[tokio::test]
async fn through_the_aggregator_the_shadow_api_answers_like_the_parent_and_kube_controller_manager_stays_quiet()
-> Result<()> {
    let env = HubEnv::start("shadow-conformance", true).await?;
    let parent = &env.parent;
    let started = Instant::now();
    clusternet::wait_for_shadow_resource(
        parent,
        "deployments.shadow",
        true,
        Duration::from_secs(60),
    )
    .await?;
    prepare(parent, "conformance-e2e").await?;
    let shadow = Endpoint::kube(parent.client().await?);
    let report = run_matrix(parent, shadow.clone(), "e2e").await?;

    // Templates that stay, as a system in use has them, while kube-controller-manager's garbage
    // collector and namespace controller keep their metadata informers on every shadow kind.
    for doc in [
        "apiVersion: shadow/v1alpha1\nkind: ConfigMap\nmetadata:\n  name: steady\n  namespace: default\ndata:\n  a: b\n",
        "apiVersion: shadow/v1alpha1\nkind: Deployment\nmetadata:\n  name: steady\n  namespace: default\nspec:\n  selector:\n    matchLabels: {app: steady}\n  template:\n    metadata:\n      labels: {app: steady}\n    spec:\n      containers: [{name: c, image: nginx}]\n",
    ] {
        parent
            .kubectl_cmd()
            .run_with_stdin(["apply", "-f", "-"], Some(doc))
            .await?;
    }
    // The GC re-reads discovery every 30 s and starts informers for new resources then; a
    // broken watch shows within seconds after, about once a second per kind.
    let quiet_for = Duration::from_secs(150);
    if let Some(rest) = quiet_for.checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    // A resource that went away (the matrix's real CRDs, and so their shadow twins) fails its
    // informers until the garbage collector's next discovery sync, as for any deleted CRD.
    let served = conformance::kinds_of(&get_json(&shadow, "/apis/shadow/v1alpha1").await?);
    let all = parent.controller_manager_informer_failures("shadow")?;
    let logged = all.len();
    let complaints: Vec<String> = all
        .into_iter()
        .filter(|line| {
            let gone = line
                .split("the server could not find the requested resource (")
                .nth(1)
                .and_then(|rest| rest.split(".shadow)").next())
                .is_some_and(|plural| !served.iter().any(|k| k.plural == plural));
            !gone
        })
        .collect();
    let conformance = check(&report);

    // The log check proves something only if kube-controller-manager did watch the shadow
    // group: the hub's own count of shadow watches, less the matrix's.
    let watches = shadow_watches(&env).await?;
    let mut matrix_watches: BTreeMap<String, u64> = BTreeMap::new();
    for cell in report.cells.iter().filter(|c| c.verb == "watch") {
        *matrix_watches.entry(cell.kind.clone()).or_default() += 1;
    }
    let by_controllers: BTreeMap<&str, u64> = matrix_watches
        .iter()
        .map(|(kind, own)| {
            let all = watches.get(kind).copied().unwrap_or(0);
            (kind.as_str(), all.saturating_sub(*own))
        })
        .collect();
    println!(
        "kube-controller-manager's watches of shadow resources in {:.0}s: {} in all, per resource {:?}; {} log lines about failing shadow informers ({} more about resources the matrix removed)",
        started.elapsed().as_secs_f64(),
        by_controllers.values().sum::<u64>(),
        by_controllers,
        complaints.len(),
        logged - complaints.len()
    );
    let unwatched: Vec<&str> = by_controllers
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(k, _)| *k)
        .collect();
    if !unwatched.is_empty() {
        bail!(
            "kube-controller-manager never watched shadow {} (the log check would prove nothing)",
            unwatched.join(", ")
        );
    }
    if !complaints.is_empty() {
        bail!(
            "kube-controller-manager's informers fail on the shadow group ({} lines), e.g.:\n{}",
            complaints.len(),
            complaints[..complaints.len().min(5)].join("\n")
        );
    }
    conformance
}

/// The hub's count of answered (200) watches per shadow resource, from its `/metrics` (read
/// as the aggregator reads the hub: front-proxy certificate, an admin's identity headers).
async fn shadow_watches(env: &HubEnv) -> Result<BTreeMap<String, u64>> {
    let front_proxy = TestCa::from_files(
        &env.parent.pki("front-proxy-ca.crt"),
        &env.parent.pki("front-proxy-ca.key"),
    )?
    .issue_client("front-proxy-client", None)?;
    let hub = DirectClient::new(
        env.hub.addr,
        "clusternet-hub.clusternet-system.svc",
        &clusternet::hub_ca_pem(&env.parent).await?,
        Some(&front_proxy),
    )?;
    let reply = hub
        .get(
            "/metrics",
            &[
                ("x-remote-user", "kubernetes-admin"),
                ("x-remote-group", "system:masters"),
            ],
        )
        .await?;
    if !reply.status.is_success() {
        bail!("hub /metrics: {}", reply.status);
    }
    let text = String::from_utf8_lossy(&reply.body);
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let label = |name: &str| {
            line.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_string()
        };
        if label("group") == "shadow" && label("verb") == "watch" && label("code") == "200" {
            let count: u64 = line
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            *out.entry(label("resource")).or_default() += count;
        }
    }
    Ok(out)
}
