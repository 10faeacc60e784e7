//! `make bench-fleet`: N clusters on one parent and one hub, each with the real agent code
//! (registration, heartbeat, tunnel, pull-mode deployer). Two real child control planes carry
//! the clusters: the first two are the children's own agents (processes, as everywhere else);
//! the other N-2 agents run as tasks of this process, each with its own identity — its own
//! namespace `fleet-<i>` in a child for its Lease (whose UID is its cluster ID) and Secrets,
//! its own registration, credentials and tunnel.
//!
//! For each N (`BENCH_FLEET_SIZES`, default `10,100,1000`) on a fresh parent, hub,
//! controller-manager and scheduler:
//! * proxied GET (parent → hub → tunnel → agent → child) to a random cluster with the 2 first
//!   tunnels, then with all N;
//! * registration: the N-2 agents started at once → every ManagedCluster Ready;
//! * steady state over 30 s: hub, parent control plane (etcd + kube-apiserver + controllers,
//!   one process) and this process (the agents) RSS and CPU;
//! * a Replication Subscription of one small Deployment to all N, and a Dividing one (static,
//!   N replicas): created → every Description Success;
//! * hub killed and started again: until every tunnel is back; then every Description still
//!   Success and exactly N ManagedClusters.
//!
//! The clusters share two child apiservers, so each cluster's copy of a feed is put in its own
//! namespace there by a Localization (`/metadata/namespace` → `app-<cluster>`), as a user
//! would; and the in-process agents renew their Leases every 10 s rather than 2 s (each child
//! apiserver would otherwise take N/4 Lease writes a second that a real fleet spreads over N
//! apiservers).
//!
//! The table goes to stdout and, with `BENCH_FLEET_REPORT=<file>`, into that Markdown file;
//! `BENCH_FLEET_KEEP_LOGS=<dir>` keeps the hub's, controller-manager's and scheduler's logs.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use clusternet_apis::apps::v1alpha1::{Description, DescriptionPhase};
use clusternet_apis::clusters::v1beta1::{CLUSTER_READY, ManagedCluster};
use clusternet_e2e::streams::rss_kib;
use clusternet_test_support::certs::TestCa;
use clusternet_test_support::clusternet::{self, EnvOptions, Environment};
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

fn ms(d: Duration) -> String {
    if d >= Duration::from_secs(10) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    }
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    if samples.is_empty() {
        return Default::default();
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (at(0.50), at(0.99), samples[samples.len() - 1])
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // state is field 3 of stat, i.e. index 0 here; utime 14 → 11, stime 15 → 12.
    (ticks(11) + ticks(12)) / 100.0
}

#[derive(Default)]
struct Figures {
    n: usize,
    registration: (Duration, Duration, Duration),
    /// Cores used while registering: parent control plane, controller-manager, hub, agents.
    registration_cores: [f64; 4],
    hub_rss_mib: f64,
    hub_mcpu: f64,
    parent_rss_mib: f64,
    parent_mcpu: f64,
    agent_rss_mib: f64,
    agent_mcpu: f64,
    replication: (Duration, Duration, Duration),
    dividing: (Duration, Duration, Duration),
    /// Clusters the Dividing Subscription was bound to.
    dividing_bound: usize,
    proxy_two: (Duration, Duration, Duration),
    proxy_all: (Duration, Duration, Duration),
    restart: Duration,
    after_restart: String,
}

/// A cluster as the bench reaches it: id, name, dedicated namespace, child index.
#[derive(Clone, Debug)]
struct Cluster {
    id: String,
    name: String,
    namespace: String,
    child: usize,
}

/// First-seen times of Ready ManagedClusters (by cluster name) and Successful Descriptions (by
/// namespace/name).
#[derive(Default)]
struct Seen {
    ready: HashMap<String, Instant>,
    success: HashMap<String, Instant>,
}

/// Watches the parent until the returned handles are dropped (with a backoff: a run's parent
/// goes away at its end, and a watcher without one retries in a tight loop).
fn watch_parent(
    parent: kube::Client,
    seen: Arc<Mutex<Seen>>,
) -> [tokio_util::task::AbortOnDropHandle<()>; 2] {
    use kube::runtime::WatchStreamExt;
    let s = seen.clone();
    let mcs: Api<ManagedCluster> = Api::all(parent.clone());
    let clusters = tokio::spawn(async move {
        let mut events = std::pin::pin!(watcher(mcs, watcher::Config::default()).default_backoff());
        while let Some(event) = events.next().await {
            let Ok(watcher::Event::Apply(mc) | watcher::Event::InitApply(mc)) = event else {
                continue;
            };
            let ready = mc.status.as_ref().is_some_and(|st| {
                st.conditions
                    .iter()
                    .any(|c| c.type_ == CLUSTER_READY && c.status == "True")
            });
            if ready {
                let name = mc.spec.cluster_id.clone();
                s.lock()
                    .expect("seen")
                    .ready
                    .entry(name)
                    .or_insert_with(Instant::now);
            }
        }
    });
    let descs: Api<Description> = Api::all(parent);
    let descriptions = tokio::spawn(async move {
        let mut events =
            std::pin::pin!(watcher(descs, watcher::Config::default()).default_backoff());
        while let Some(event) = events.next().await {
            let Ok(watcher::Event::Apply(d) | watcher::Event::InitApply(d)) = event else {
                continue;
            };
            if d.status.as_ref().and_then(|s| s.phase) == Some(DescriptionPhase::Success) {
                let key = format!("{}/{}", d.namespace().unwrap_or_default(), d.name_any());
                seen.lock()
                    .expect("seen")
                    .success
                    .entry(key)
                    .or_insert_with(Instant::now);
            }
        }
    });
    [
        tokio_util::task::AbortOnDropHandle::new(clusters),
        tokio_util::task::AbortOnDropHandle::new(descriptions),
    ]
}

/// Waits until `done` holds, printing progress every 10 s.
async fn until<F, Fut>(what: &str, timeout: Duration, mut done: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (bool, String)>,
{
    let start = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let (ok, progress) = done().await;
        if ok {
            return Ok(());
        }
        if start.elapsed() > timeout {
            bail!("{what}: not done within {timeout:?} ({progress})");
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            eprintln!(
                "  … {what}: {progress} ({:.0} s)",
                start.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// p50/p99/max of proxied GETs of `/api/v1/namespaces/default` to random clusters.
async fn proxied_gets(
    parent: &kube::Client,
    clusters: &[Cluster],
    tokens: &[String],
    count: usize,
) -> Result<(Duration, Duration, Duration)> {
    use rand::Rng;
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let c = &clusters[rand::rng().random_range(0..clusters.len())];
        let request = http::Request::get(format!(
            "/apis/proxies.clusternet.io/v1alpha1/sockets/{}/proxy/direct/api/v1/namespaces/default",
            c.id
        ))
        .header("Impersonate-User", "clusternet")
        .header("Impersonate-Extra-Clusternet-Token", &tokens[c.child])
        .body(Vec::new())?;
        let t = Instant::now();
        let body = parent.request_text(request).await?;
        samples.push(t.elapsed());
        if !body.contains("\"name\":\"default\"") {
            bail!("cluster {}: unexpected answer {body}", c.name);
        }
    }
    Ok(percentiles(samples))
}

/// Every Ready cluster, with the child its apiserver URL names.
async fn clusters(parent: &kube::Client, children: &[String]) -> Result<Vec<Cluster>> {
    let list = Api::<ManagedCluster>::all(parent.clone())
        .list(&ListParams::default())
        .await?;
    let mut out = Vec::new();
    for mc in list.items {
        let url = mc
            .status
            .as_ref()
            .map(|s| s.apiserver_url.clone())
            .unwrap_or_default();
        let Some(child) = children
            .iter()
            .position(|c| c.trim_end_matches('/') == url.trim_end_matches('/'))
        else {
            bail!("ManagedCluster {} reports apiserver {url:?}", mc.name_any());
        };
        out.push(Cluster {
            id: mc.spec.cluster_id.clone(),
            name: mc
                .labels()
                .get(clusternet_apis::known::CLUSTER_NAME_LABEL)
                .cloned()
                .unwrap_or_default(),
            namespace: mc.namespace().unwrap_or_default(),
            child,
        });
    }
    Ok(out)
}

/// The hub's /metrics, asked as the aggregator would for a cluster admin.
async fn hub_metrics(env: &Environment, ca: &TestCa) -> Result<String> {
    let hub_ca = clusternet::hub_ca_pem(&env.parent).await?;
    let front = ca.issue_client("front-proxy-client", None)?;
    let https = hub_client(&env.hub.addr.to_string(), &hub_ca, &front).await?;
    let request = http::Request::get("/metrics")
        .header("X-Remote-User", "bench-admin")
        .header("X-Remote-Group", "system:masters")
        .body(Vec::new())?;
    https.request_text(request).await.context("hub /metrics")
}

async fn hub_client(
    addr: &str,
    hub_ca: &str,
    front: &clusternet_test_support::certs::Pem,
) -> Result<kube::Client> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "hub", "cluster": {"server": format!("https://{addr}"),
            "certificate-authority-data": b64(hub_ca), "tls-server-name": "clusternet-hub.clusternet-system.svc"}}],
        "users": [{"name": "aggregator", "user": {"client-certificate-data": b64(&front.cert), "client-key-data": b64(&front.key)}}],
        "contexts": [{"name": "hub", "context": {"cluster": "hub", "user": "aggregator"}}],
        "current-context": "hub"});
    let kubeconfig: kube::config::Kubeconfig = serde_json::from_value(config)?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

fn socket_count(metrics: &str) -> usize {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("clusternet_socket_connections_count "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as usize
}

async fn run(n: usize) -> Result<Figures> {
    anyhow::ensure!(n >= 3, "N must be at least 3");
    eprintln!("N = {n}: starting parent + hub + controller-manager + scheduler + 2 children…");
    let mut env = Environment::start(2, EnvOptions::deployer()).await?;
    let measured = measure(&mut env, n).await;
    // Kept whether or not the run got to its end: a run that fails is the one to read.
    if let Ok(dir) = std::env::var("BENCH_FLEET_KEEP_LOGS") {
        for c in [&env.controller_manager, &env.hub.process]
            .into_iter()
            .chain(env.scheduler.iter())
        {
            let to = std::path::Path::new(&dir).join(format!("{}-{n}.log", c.name));
            std::fs::copy(&c.log, &to).with_context(|| format!("keeping {}", c.log.display()))?;
        }
    }
    measured
}

async fn measure(env: &mut Environment, n: usize) -> Result<Figures> {
    let parent = env.parent.client().await?;
    let child_urls: Vec<String> = env
        .children
        .iter()
        .map(|c| c.server().to_string())
        .collect();
    let mut tokens = Vec::new();
    for k in 0..env.children.len() {
        tokens.push(env.child_token(k, "bench", "cluster-admin").await?);
    }
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let _watches = watch_parent(parent.clone(), seen.clone());
    let mut figures = Figures {
        n,
        ..Default::default()
    };

    let two = clusters(&parent, &child_urls).await?;
    figures.proxy_two = proxied_gets(&parent, &two, &tokens, 300).await?;

    // The in-process agents' namespaces, in the children in turn.
    let fleet = n - 2;
    let child_clients =
        futures::future::try_join_all(env.children.iter().map(|c| c.client())).await?;
    let namespaces: Vec<(usize, String)> = (0..fleet)
        .map(|i| (i % env.children.len(), format!("fleet-{i}")))
        .collect();
    // Each with what deploy/agent gives clusternet-system: the identity the agent applies
    // applications with (ServiceAccount clusternet-app-deployer, its token Secret, cluster-admin).
    futures::stream::iter(namespaces.iter().cloned().map(|(k, ns)| {
        let client = child_clients[k].clone();
        async move {
            let create = |api: Api<kube::api::DynamicObject>, object: Value| async move {
                let object = serde_json::from_value(object)?;
                api.create(&PostParams::default(), &object).await?;
                anyhow::Ok(())
            };
            let typed = |group: &str, version: &str, kind: &str, plural: &str, namespace: Option<&str>| {
                let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
                let resource = kube::api::ApiResource::from_gvk_with_plural(&gvk, plural);
                match namespace {
                    Some(ns) => Api::<kube::api::DynamicObject>::namespaced_with(client.clone(), ns, &resource),
                    None => Api::<kube::api::DynamicObject>::all_with(client.clone(), &resource),
                }
            };
            create(
                typed("", "v1", "Namespace", "namespaces", None),
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .await?;
            create(
                typed("", "v1", "ServiceAccount", "serviceaccounts", Some(&ns)),
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "clusternet-app-deployer", "namespace": ns}}),
            )
            .await?;
            create(
                typed("", "v1", "Secret", "secrets", Some(&ns)),
                json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                    "metadata": {"name": "clusternet-app-deployer", "namespace": ns,
                        "annotations": {"kubernetes.io/service-account.name": "clusternet-app-deployer"}}}),
            )
            .await?;
            create(
                typed("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", None),
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                    "metadata": {"name": format!("clusternet:app:deployer:{ns}")},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                    "subjects": [{"kind": "ServiceAccount", "name": "clusternet-app-deployer", "namespace": ns}]}),
            )
            .await
        }
    }))
    .buffer_unordered(32)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<Result<Vec<_>>>()?;

    // Registration: every in-process agent at once.
    let busy = [
        env.parent.pid(),
        env.controller_manager.pid,
        env.hub.process.pid,
        std::process::id(),
    ];
    let busy_before: Vec<f64> = busy.iter().map(|p| cpu_seconds(*p)).collect();
    let started = Instant::now();
    let mut agents = tokio::task::JoinSet::new();
    for (i, (k, ns)) in namespaces.iter().enumerate() {
        let args = [
            "clusternet-agent".to_string(),
            format!("--kubeconfig={}", env.children[*k].kubeconfig().display()),
            format!("--cluster-reg-parent-url={}", env.parent.server()),
            format!("--cluster-reg-token={}", env.token.token),
            format!("--cluster-reg-name=fleet-{i}"),
            // No health and metrics server per in-process agent.
            "--secure-port=0".into(),
            format!("--leader-elect-resource-namespace={ns}"),
            "--leader-elect-lease-duration=60s".into(),
            "--leader-elect-renew-deadline=40s".into(),
            "--leader-elect-retry-period=10s".into(),
            "--feature-gates=SocketConnection=true".into(),
            "--cluster-sync-mode=Pull".into(),
            "-v=0".into(),
        ];
        let opts = clusternet_agent::options::Options::try_parse_from(args)?;
        agents.spawn(async move {
            if let Err(err) = clusternet_agent::app::run(opts).await {
                eprintln!("agent fleet-{i} stopped: {err:#}");
            }
        });
    }
    until("registration", Duration::from_secs(900), || async {
        let ready = seen.lock().expect("seen").ready.len();
        (ready >= n, format!("{ready} of {n} Ready"))
    })
    .await?;
    for (i, pid) in busy.iter().enumerate() {
        figures.registration_cores[i] =
            (cpu_seconds(*pid) - busy_before[i]) / started.elapsed().as_secs_f64();
    }
    let all = clusters(&parent, &child_urls).await?;
    anyhow::ensure!(
        all.len() == n,
        "{} ManagedClusters for {n} clusters",
        all.len()
    );
    {
        let seen = seen.lock().expect("seen");
        let fleet_ids: Vec<&String> = all
            .iter()
            .filter(|c| c.name.starts_with("fleet-"))
            .map(|c| &c.id)
            .collect();
        figures.registration = percentiles(
            fleet_ids
                .iter()
                .filter_map(|id| seen.ready.get(*id))
                .map(|at| at.saturating_duration_since(started))
                .collect(),
        );
    }
    eprintln!("  all {n} Ready after {:?}", started.elapsed());

    // Steady state: N idle tunnels and heartbeats at the default interval.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let pids = [env.hub.process.pid, env.parent.pid(), std::process::id()];
    let before: Vec<f64> = pids.iter().map(|p| cpu_seconds(*p)).collect();
    let window = Duration::from_secs(30);
    tokio::time::sleep(window).await;
    let mcpu = |i: usize| (cpu_seconds(pids[i]) - before[i]) / window.as_secs_f64() * 1000.0;
    let mib = |pid: u32| rss_kib(pid) as f64 / 1024.0;
    figures.hub_mcpu = mcpu(0);
    figures.parent_mcpu = mcpu(1);
    figures.agent_mcpu = mcpu(2) / fleet as f64;
    figures.hub_rss_mib = mib(pids[0]);
    figures.parent_rss_mib = mib(pids[1]);
    figures.agent_rss_mib = mib(pids[2]) / fleet as f64;

    figures.proxy_all = proxied_gets(&parent, &all, &tokens, 300).await?;

    // Feeds and each cluster's namespace for them.
    for (k, client) in child_clients.iter().enumerate() {
        let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        for c in all.iter().filter(|c| c.child == k) {
            let object =
                serde_json::from_value(json!({"metadata": {"name": format!("app-{}", c.name)}}))?;
            api.create(&PostParams::default(), &object).await?;
        }
    }
    let post = |uri: String, body: Value| {
        let parent = parent.clone();
        async move {
            let request = http::Request::post(uri)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&body)?)?;
            parent.request_text(request).await.context("POST")
        }
    };
    post(
        "/apis/shadow/v1alpha1/namespaces".into(),
        json!({"apiVersion": "shadow/v1alpha1", "kind": "Namespace", "metadata": {"name": "fleet-app"}}),
    )
    .await?;
    for (name, replicas) in [("replicated", 1), ("divided", n)] {
        post(
            "/apis/shadow/v1alpha1/namespaces/fleet-app/deployments".into(),
            json!({"apiVersion": "shadow/v1alpha1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": "fleet-app"},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}},
                                      "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10"}]}}}}),
        )
        .await?;
    }
    futures::stream::iter(all.iter().flat_map(|c| {
        ["replicated", "divided"].map(|name| (c.clone(), name))
    }).map(|(c, name)| {
        async move {
            let patch = json!([{"op": "replace", "path": "/metadata/namespace", "value": format!("app-{}", c.name)}]);
            post(
                format!("/apis/apps.clusternet.io/v1alpha1/namespaces/{}/localizations", c.namespace),
                json!({"apiVersion": "apps.clusternet.io/v1alpha1", "kind": "Localization",
                    "metadata": {"name": format!("{name}-namespace"), "namespace": c.namespace},
                    "spec": {"overridePolicy": "ApplyNow", "priority": 500,
                             "feed": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "namespace": "fleet-app"},
                             "overrides": [{"name": "namespace", "type": "JSONPatch", "value": patch.to_string()}]}}),
            )
            .await
        }
    }))
    .buffer_unordered(16)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<Result<Vec<_>>>()?;

    let mut expected = 0;
    for (sub, feed, dividing) in [("rep", "replicated", false), ("div", "divided", true)] {
        let mut spec = json!({
            "subscribers": [{"clusterAffinity": {"matchExpressions": [{"key": "clusters.clusternet.io/cluster-id", "operator": "Exists"}]}}],
            "feeds": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": feed, "namespace": "fleet-app"}]});
        if dividing {
            spec["schedulingStrategy"] = json!("Dividing");
            spec["dividingScheduling"] = json!({"type": "Static"});
            spec["subscribers"][0]["weight"] = json!(1);
        }
        let t = Instant::now();
        post(
            "/apis/apps.clusternet.io/v1alpha1/namespaces/default/subscriptions".into(),
            json!({"apiVersion": "apps.clusternet.io/v1alpha1", "kind": "Subscription",
                "metadata": {"name": format!("fleet-{sub}"), "namespace": "default"}, "spec": spec}),
        )
        .await?;
        let prefix = format!("fleet-{sub}-");
        let ours = |seen: &Seen| -> Vec<Duration> {
            seen.success
                .iter()
                .filter(|(k, _)| {
                    k.split_once('/')
                        .is_some_and(|(_, name)| name.starts_with(&prefix))
                })
                .map(|(_, at)| at.saturating_duration_since(t))
                .collect()
        };
        // Every bound cluster: the scheduler, as Go's, scores only a share of the feasible
        // clusters past 100 (kube-scheduler's adaptive percentage), and Dividing binds those.
        let subs: Api<clusternet_apis::apps::v1alpha1::Subscription> =
            Api::namespaced(parent.clone(), "default");
        let name = format!("fleet-{sub}");
        until(
            &format!("Subscription {name}"),
            Duration::from_secs(900),
            || async {
                let bound = subs
                    .get_opt(&name)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|s| s.status)
                    .map(|s| s.binding_clusters.len())
                    .unwrap_or(0);
                let done = ours(&seen.lock().expect("seen")).len();
                // Replication binds every cluster: a count that dips (clusters marked lost
                // meanwhile) must not end the wait early.
                let all_bound = dividing || bound >= n;
                (
                    bound > 0 && all_bound && done >= bound,
                    format!("{done} of {bound} bound Descriptions Success"),
                )
            },
        )
        .await?;
        let latencies = ours(&seen.lock().expect("seen"));
        expected += latencies.len();
        if dividing {
            figures.dividing_bound = latencies.len();
            figures.dividing = percentiles(latencies);
        } else {
            figures.replication = percentiles(latencies);
        }
    }

    // Hub restart with N agents.
    let front_ca = TestCa::from_files(
        &env.parent.pki("front-proxy-ca.crt"),
        &env.parent.pki("front-proxy-ca.key"),
    )?;
    let killed = Instant::now();
    env.kill_hub();
    env.start_hub_again().await?;
    until(
        "tunnels back after the hub restart",
        Duration::from_secs(600),
        || async {
            let metrics = hub_metrics(env, &front_ca).await.unwrap_or_default();
            let tunnels = socket_count(&metrics);
            (tunnels >= n, format!("{tunnels} of {n} tunnels"))
        },
    )
    .await?;
    figures.restart = killed.elapsed();
    // Pushed Descriptions may have failed while the hub was down; each is applied again once
    // its tunnel is back. Nothing may be lost: every one Success again, N ManagedClusters.
    let back = Instant::now();
    let list = Api::<Description>::all(parent.clone());
    let mut success = 0;
    while back.elapsed() < Duration::from_secs(120) {
        let items = list.list(&ListParams::default()).await?.items;
        success = items
            .iter()
            .filter(|d| d.name_any().starts_with("fleet-"))
            .filter(|d| d.status.as_ref().and_then(|s| s.phase) == Some(DescriptionPhase::Success))
            .count();
        if success >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let managed = clusters(&parent, &child_urls).await?.len();
    figures.after_restart = format!(
        "{success}/{expected} Descriptions Success {:.1} s after the tunnels; {managed} ManagedClusters",
        back.elapsed().as_secs_f64()
    );
    let _ = proxied_gets(&parent, &all, &tokens, 50)
        .await
        .context("proxied GETs after the hub restart")?;

    agents.abort_all();
    while agents.join_next().await.is_some() {}
    Ok(figures)
}

fn table(runs: &[Figures]) -> String {
    let mut rows: Vec<(&str, Vec<String>)> = vec![
        (
            "registration, all started at once → every ManagedCluster Ready: p50 / p99 / max",
            vec![],
        ),
        (
            "cores busy while registering: parent / controller-manager / hub / agents",
            vec![],
        ),
        ("hub RSS / mCPU, idle tunnels and heartbeats", vec![]),
        (
            "parent control plane RSS / mCPU (etcd + kube-apiserver + controllers)",
            vec![],
        ),
        ("agent RSS / mCPU per cluster (in-process agents)", vec![]),
        (
            "Replication Subscription → every Description Success: p50 / p99",
            vec![],
        ),
        (
            "Dividing Subscription (N replicas, static) → every bound cluster's Description Success: p50 / p99 (clusters bound)",
            vec![],
        ),
        ("proxied GET, 2 tunnels: p50 / p99", vec![]),
        ("proxied GET, N tunnels: p50 / p99", vec![]),
        ("hub killed → every tunnel back", vec![]),
        ("after the restart", vec![]),
    ];
    for f in runs {
        let cells = [
            format!(
                "{} / {} / {}",
                ms(f.registration.0),
                ms(f.registration.1),
                ms(f.registration.2)
            ),
            f.registration_cores
                .iter()
                .map(|c| format!("{c:.2}"))
                .collect::<Vec<_>>()
                .join(" / "),
            format!("{:.0} MiB / {:.0}", f.hub_rss_mib, f.hub_mcpu),
            format!("{:.0} MiB / {:.0}", f.parent_rss_mib, f.parent_mcpu),
            format!("{:.2} MiB / {:.2}", f.agent_rss_mib, f.agent_mcpu),
            format!("{} / {}", ms(f.replication.0), ms(f.replication.1)),
            format!(
                "{} / {} ({})",
                ms(f.dividing.0),
                ms(f.dividing.1),
                f.dividing_bound
            ),
            format!("{} / {}", ms(f.proxy_two.0), ms(f.proxy_two.1)),
            format!("{} / {}", ms(f.proxy_all.0), ms(f.proxy_all.1)),
            ms(f.restart),
            f.after_restart.clone(),
        ];
        for (row, cell) in rows.iter_mut().zip(cells) {
            row.1.push(cell);
        }
    }
    let mut out = String::from("| |");
    for f in runs {
        out.push_str(&format!(" N = {} |", f.n));
    }
    out.push_str("\n|---|");
    for _ in runs {
        out.push_str("---|");
    }
    out.push('\n');
    for (name, cells) in rows {
        out.push_str(&format!("| {name} | {} |\n", cells.join(" | ")));
    }
    out
}

#[tokio::main]
async fn main() -> Result<()> {
    let sizes: Vec<usize> = std::env::var("BENCH_FLEET_SIZES")
        .unwrap_or_else(|_| "10,100,1000".into())
        .split(',')
        .map(|s| s.trim().parse().context("BENCH_FLEET_SIZES"))
        .collect::<Result<_>>()?;
    let mut runs = Vec::new();
    for n in sizes {
        runs.push(run(n).await?);
        println!("{}", table(&runs));
        // After each N, so that a run stopped later still leaves what it measured.
        write_report(&runs)?;
    }
    // Every run's control planes and components are stopped and its agents aborted by now;
    // exit without the runtime's shutdown, which waits for blocking work the in-process agents
    // may have left (a finished run was seen not to exit).
    std::process::exit(0)
}

fn write_report(runs: &[Figures]) -> Result<()> {
    let report = table(runs);
    if let Ok(path) = std::env::var("BENCH_FLEET_REPORT") {
        let header = format!(
            "# Fleet benchmark\n\n`make bench-fleet` at commit {} on {} ({} cores), release build; one parent, one hub,\ntwo child control planes shared by the clusters (see `test/e2e/benches/fleet.rs` for what each row\nmeasures).\n\n",
            std::env::var("BENCH_COMMIT").unwrap_or_else(|_| "?".into()),
            std::env::var("BENCH_MACHINE").unwrap_or_else(|_| "this machine".into()),
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0)
        );
        std::fs::write(&path, format!("{header}{report}"))?;
        eprintln!("report written to {path}");
    }
    Ok(())
}
