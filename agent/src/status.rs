//! The heartbeat: `ManagedCluster.status` as Clusternet's agent fills it — Kubernetes version and
//! platform, API server URL, healthz/livez/readyz, node statistics, capacity and allocatable,
//! the Ready condition, `lastObservedTime` and `heartbeatFrequencySeconds`, the service and
//! pod CIDRs (from the control-plane pods' flags, else `SERVICE_CIDR`/`CLUSTER_CIDR`; see
//! [`find_service_ip_range`]) — plus node labels with the configured prefixes aggregated onto
//! the ManagedCluster's labels.
//!
//! The first report goes out as soon as the cluster is registered. The status is collected
//! every `--cluster-status-collect-frequency` from a watched node cache (no per-report node
//! listing). Liveness is a Lease named after the ManagedCluster in its namespace, renewed every
//! `--cluster-status-update-frequency` (as the kubelet's node Lease); the status is written
//! when it changes and at least every [`STATUS_REFRESH`] (Clusternet's default period, which
//! `heartbeatFrequencySeconds` then announces, so a Go controller-manager still sees a live
//! cluster). At 1,000 clusters a 10 s status write per cluster kept the parent's CPU busy
//! (100 writes/s of a 2 KB custom resource, each sent to every ManagedCluster watch). Where
//! the parent refuses the Lease (older RBAC), the status is written every update period, as
//! Go's agent does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clusternet_apis::clusters::v1beta1::{
    CLUSTER_READY, ManagedCluster, ManagedClusterStatus, NodeStatistics, PodStatistics,
    ResourceUsage,
};
use clusternet_apis::known;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, MicroTime, Time};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use tokio::sync::RwLock;

/// What the reporter needs to know about its agent.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Cluster ID (label on the ManagedCluster).
    pub cluster_id: String,
    /// Dedicated namespace in the parent.
    pub namespace: String,
    /// URL of the child's kube-apiserver as this agent reaches it.
    pub apiserver_url: String,
    /// Heartbeat period.
    pub update_frequency: Duration,
    /// Collection period.
    pub collect_frequency: Duration,
    /// SocketConnection gate (the hub reaches this cluster through the tunnel).
    pub use_socket: bool,
    /// AppPusher gate (the parent may push applications).
    pub app_pusher: bool,
    /// Label prefixes aggregated from nodes.
    pub label_prefixes: Vec<String>,
    /// Share of worker nodes that must agree on a label.
    pub label_threshold: f32,
    /// Gate Predictor: a replica predictor is available at `predictor_address`.
    pub predictor_enabled: bool,
    /// Address of the replica predictor (`--predictor-addr`, or the built-in one).
    pub predictor_address: String,
    /// Whether clusternet-scheduler can reach the predictor directly.
    pub predictor_direct_access: bool,
    /// `--kube-api-qps` and `--kube-api-burst`, reported as Go's agent reports them.
    pub kube_qps: f32,
    /// See `kube_qps`.
    pub kube_burst: i32,
    /// `--use-metrics-server`: report pod statistics and resource usage from metrics.k8s.io.
    pub use_metrics_server: bool,
}

/// Runs the heartbeat until the process ends.
pub async fn run(child: kube::Client, parent: kube::Client, settings: Settings) -> Result<()> {
    // Stops with the heartbeat.
    let (nodes, _node_watch) = clusternet_component_base::cache::spawn(
        Api::<Node>::all(child.clone()),
        watcher::Config::default(),
        "heartbeat nodes",
    );
    // The control-plane pods whose flags tell the CIDRs (Go lists them from its all-pods
    // informer; here only the pods with the labels it looks for are watched).
    let mut pod_watches = Vec::new();
    let mut pods = Vec::new();
    for selector in CIDR_POD_SELECTORS {
        let (store, watch) = clusternet_component_base::cache::spawn(
            Api::<Pod>::all(child.clone()),
            watcher::Config::default().labels(selector),
            "heartbeat control-plane pods",
        );
        pods.push(store);
        pod_watches.push(watch);
    }
    let pods = ControlPlanePods(pods);
    // Nodes may take a moment to list; the first report does not wait more than a second for them.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        nodes.wait_until_ready().await.ok();
        for store in &pods.0 {
            store.wait_until_ready().await.ok();
        }
    })
    .await;

    let collected: Arc<RwLock<Option<ManagedClusterStatus>>> = Arc::new(RwLock::new(None));
    let liveness = Arc::new(Liveness::default());
    let (named, name) = tokio::sync::watch::channel(None);
    // Its own task, as the kubelet renews its node Lease: a slow child or a slow status write
    // must not hold the renewal back (measured at N = 1,000: clusters whose collection took
    // longer than the grace period were marked lost while their agents ran).
    let _renewer = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(
        Renewer {
            leases: Api::namespaced(parent.clone(), &settings.namespace),
            state: LeaseState::default(),
            liveness: liveness.clone(),
            cluster_id: settings.cluster_id.clone(),
            update_frequency: settings.update_frequency,
        }
        .run(name),
    ));
    let mut reporter = Reporter {
        parent: Api::namespaced(parent, &settings.namespace),
        name: None,
        named,
        last: None,
        reported: None,
        reported_at: None,
        labels_reported: None,
        liveness,
        settings: settings.clone(),
    };
    let mut cidrs = CidrLog::default();
    let first = collect(&child, &nodes, &pods, &settings).await;
    cidrs.log(&first);
    *collected.write().await = Some(first);
    let mut update = tokio::time::interval(settings.update_frequency);
    let mut collect_tick = tokio::time::interval(settings.collect_frequency);
    // A slow parent delays the loop: ticks missed meanwhile are not made up in a burst.
    update.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    collect_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // The status is written when it changed, every update period when the Lease cannot
        // carry liveness, and at least every [`STATUS_REFRESH`].
        let tick = tokio::select! {
            _ = update.tick() => true,
            _ = collect_tick.tick() => {
                let status = collect(&child, &nodes, &pods, &settings).await;
                cidrs.log(&status);
                *collected.write().await = Some(status);
                false
            }
        };
        let status = collected.read().await.clone();
        if let Some(status) = status
            && reporter.due(&status, &nodes, tick)
            && let Err(err) = reporter.report(status, &nodes).await
        {
            tracing::warn!(error = %format!("{err:#}"), "reporting cluster status");
        }
    }
}

/// How often an unchanged status is written while the Lease carries liveness: Clusternet's
/// default `--cluster-status-update-frequency`, so that a Go controller-manager, which judges
/// liveness by `lastObservedTime` and `heartbeatFrequencySeconds`, sees a live cluster.
pub const STATUS_REFRESH: Duration = Duration::from_secs(180);

/// Whether the parent refused the Lease for good (no permission, or no such API): the status
/// then carries liveness, as before the Lease, and the Lease is tried again after a while.
const LEASE_RETRY: Duration = Duration::from_secs(300);

/// The agent's heartbeat Lease on the parent (as the kubelet's node Lease): renewed every
/// update period, so that liveness costs one small write instead of a ManagedCluster status.
#[derive(Default)]
struct LeaseState {
    /// The Lease as the parent last returned it (the next renewal writes over it).
    last: Option<Lease>,
    /// When the last renewal succeeded.
    renewed_at: Option<std::time::Instant>,
    /// The Lease may not be used before this (it was refused).
    off_until: Option<std::time::Instant>,
}

/// What the Lease's renewer tells the status reporter.
#[derive(Default)]
struct Liveness {
    /// The Lease carries liveness: it was written and has not been refused since (a renewal
    /// turned away for load does not switch to status writes, which cost the parent more).
    in_use: std::sync::atomic::AtomicBool,
    /// The next status must be written: the Lease lapsed or was changed by someone else, so
    /// the lifecycle controller may have marked the cluster not ready.
    force_report: std::sync::atomic::AtomicBool,
}

/// Renews the heartbeat Lease every update period.
struct Renewer {
    leases: Api<Lease>,
    state: LeaseState,
    liveness: Arc<Liveness>,
    cluster_id: String,
    update_frequency: Duration,
}

impl Renewer {
    /// Waits for the ManagedCluster's name, then renews its Lease every update period until
    /// the heartbeat stops.
    async fn run(mut self, mut name: tokio::sync::watch::Receiver<Option<String>>) {
        let name = match name.wait_for(Option::is_some).await {
            Ok(known) => known.clone().unwrap_or_default(),
            Err(_) => return,
        };
        let mut tick = tokio::time::interval(self.update_frequency);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.renew_within_period(&name).await;
        }
    }

    /// Renews the Lease, and when the parent turns the renewal away for load (429) or cannot
    /// be reached, tries again after a short jittered wait (1 s, 2 s, 4 s ±50 %) until the
    /// next period begins: a renewal rejected while the parent's queues are full is let
    /// through seconds later, instead of a whole period later, when the Lease may have lapsed.
    async fn renew_within_period(&mut self, name: &str) {
        let started = tokio::time::Instant::now();
        let mut delay = LEASE_RENEW_RETRY;
        while self.renew(name).await == Renewal::Retry {
            let wait = crate::registration::jittered(delay);
            if started.elapsed() + wait >= self.update_frequency {
                break;
            }
            tokio::time::sleep(wait).await;
            delay *= 2;
        }
    }

    /// How long a renewal holds: four update periods, as the kubelet's node Lease (40 s renewed
    /// every 10 s). Three were too few at N = 1,000 on a saturated parent: a renewal's PUT took
    /// up to 15–20 s to execute there, and the next one starts only after it.
    fn lease_duration(&self) -> Duration {
        self.update_frequency * 4
    }

    fn force_report(&self) {
        self.liveness
            .force_report
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Renews the heartbeat Lease (named after the ManagedCluster, in its namespace), once the
    /// ManagedCluster is known. A renewal that comes after the Lease lapsed, or finds that
    /// someone else wrote it, makes the next status write happen at once.
    async fn renew(&mut self, name: &str) -> Renewal {
        let now = std::time::Instant::now();
        if self.state.off_until.is_some_and(|until| now < until) {
            return Renewal::Done;
        }
        let lapsed = self
            .state
            .renewed_at
            .is_none_or(|at| at.elapsed() >= self.lease_duration());
        let mut lease = self.state.last.take().unwrap_or_else(|| Lease {
            metadata: kube::api::ObjectMeta {
                name: Some(name.to_string()),
                labels: Some(BTreeMap::from([(
                    known::CLUSTER_ID_LABEL.to_string(),
                    self.cluster_id.clone(),
                )])),
                ..Default::default()
            },
            ..Default::default()
        });
        lease.spec = Some(LeaseSpec {
            holder_identity: Some(self.cluster_id.clone()),
            lease_duration_seconds: i32::try_from(self.lease_duration().as_secs().max(1)).ok(),
            renew_time: Some(MicroTime(jiff::Timestamp::now())),
            ..lease.spec.unwrap_or_default()
        });
        let written = if lease.metadata.resource_version.is_some() {
            self.leases
                .replace(name, &PostParams::default(), &lease)
                .await
        } else {
            self.leases.create(&PostParams::default(), &lease).await
        };
        match written {
            Ok(lease) => {
                self.state.last = Some(lease);
                self.state.renewed_at = Some(now);
                self.liveness
                    .in_use
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                if lapsed {
                    self.force_report();
                }
            }
            // Someone else wrote it (or it exists from an earlier run): read it, write over
            // it at once, and report the status now.
            Err(kube::Error::Api(s)) if s.code == 409 => {
                self.state.last = match self.leases.get_opt(name).await {
                    Ok(fresh) => fresh,
                    // Still there: the next renewal conflicts and reads it again.
                    Err(_) => Some(lease),
                };
                self.force_report();
                return Renewal::Retry;
            }
            // Deleted meanwhile: created again next time.
            Err(kube::Error::Api(s))
                if s.code == 404
                    && s.reason == "NotFound"
                    && lease.metadata.resource_version.is_some() => {}
            Err(kube::Error::Api(s)) if s.code == 403 || s.code == 404 => {
                tracing::warn!(lease = %name, error = %s.message, retry_in = ?LEASE_RETRY, "the parent refuses the heartbeat Lease: the status carries liveness instead");
                self.state = LeaseState {
                    off_until: Some(now + LEASE_RETRY),
                    ..Default::default()
                };
                self.liveness
                    .in_use
                    .store(false, std::sync::atomic::Ordering::Relaxed);
                self.force_report();
            }
            // Throttled or unreachable: the retry writes over the same version.
            Err(err) => {
                tracing::warn!(lease = %name, error = %err, "renewing the heartbeat Lease");
                self.state.last = Some(lease);
                return Renewal::Retry;
            }
        }
        Renewal::Done
    }
}

/// What became of one renewal.
#[derive(Debug, PartialEq, Eq)]
enum Renewal {
    /// Written, or settled until the next period (conflict, refused, deleted).
    Done,
    /// Turned away for load or not delivered: worth trying again within the period.
    Retry,
}

/// The first wait before a renewal turned away is tried again (then doubled).
const LEASE_RENEW_RETRY: Duration = Duration::from_secs(1);

/// The status as written, without what changes on every collection.
fn comparable(status: &ManagedClusterStatus) -> ManagedClusterStatus {
    let mut s = status.clone();
    s.last_observed_time = None;
    for c in &mut s.conditions {
        c.last_transition_time = Time(jiff::Timestamp::UNIX_EPOCH);
    }
    s
}

async fn healthy(child: &kube::Client, path: &str) -> bool {
    let Ok(req) = http::Request::get(path).body(Vec::new()) else {
        return false;
    };
    matches!(child.request_text(req).await, Ok(body) if body.trim() == "ok")
}

/// Collects the status of the child cluster (lastObservedTime = now).
async fn collect(
    child: &kube::Client,
    nodes: &Store<Node>,
    pods: &ControlPlanePods,
    settings: &Settings,
) -> ManagedClusterStatus {
    let mut status = ManagedClusterStatus {
        agent_version: format!("v{}", env!("CARGO_PKG_VERSION")),
        apiserver_url: settings.apiserver_url.clone(),
        use_socket: settings.use_socket,
        app_pusher: Some(settings.app_pusher),
        predictor_enabled: settings.predictor_enabled,
        predictor_address: settings.predictor_address.clone(),
        predictor_direct_access: settings.predictor_direct_access,
        kube_qps: settings.kube_qps,
        kube_burst: settings.kube_burst,
        heartbeat_frequency_seconds: Some(settings.update_frequency.as_secs() as i64),
        ..Default::default()
    };
    match child.apiserver_version().await {
        Ok(v) => {
            status.k8s_version = v.git_version;
            status.platform = v.platform;
        }
        Err(err) => tracing::debug!(error = %err, "reading the child's /version"),
    }
    let (healthz, livez, readyz) = tokio::join!(
        healthy(child, "/healthz"),
        healthy(child, "/livez"),
        healthy(child, "/readyz")
    );
    (status.healthz, status.livez, status.readyz) = (healthz, livez, readyz);
    let pods = pods.state();
    status.cluster_cidr =
        find_pod_ip_range(&pods, std::env::var("CLUSTER_CIDR").ok()).unwrap_or_default();
    status.service_cidr =
        find_service_ip_range(&pods, std::env::var("SERVICE_CIDR").ok()).unwrap_or_default();
    if settings.use_metrics_server {
        (status.pod_statistics, status.resource_usage) = metrics_usage(child).await;
    }
    let nodes = nodes.state();
    status.node_statistics = node_statistics(&nodes);
    let (capacity, allocatable) = node_resources(&nodes);
    status.capacity = capacity;
    status.allocatable = allocatable;
    let ready = (status.livez && status.readyz) || status.healthz;
    status.conditions = vec![Condition {
        type_: CLUSTER_READY.into(),
        status: if ready { "True" } else { "False" }.into(),
        reason: if ready {
            "ManagedClusterReady"
        } else {
            "ManagedClusterNotReady"
        }
        .into(),
        message: if ready {
            "managed cluster is ready."
        } else {
            "managed cluster is not ready."
        }
        .into(),
        last_transition_time: Time(jiff::Timestamp::now()),
        observed_generation: None,
    }];
    status.last_observed_time = Some(Time(jiff::Timestamp::now()));
    status
}

/// The metrics.k8s.io API of metrics-server (Go's agent uses its typed client).
fn metrics_api(kind: &str, plural: &str) -> kube::discovery::ApiResource {
    kube::discovery::ApiResource {
        group: "metrics.k8s.io".into(),
        version: "v1beta1".into(),
        api_version: "metrics.k8s.io/v1beta1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// Go's `getPodStatistics` and `getResourceUsage`: PodMetrics of all namespaces (running =
/// with containers) and the sum of NodeMetrics' usage. Either is None, with a warning, when
/// metrics.k8s.io cannot be listed (no metrics-server), as Go leaves it unset.
async fn metrics_usage(child: &kube::Client) -> (Option<PodStatistics>, Option<ResourceUsage>) {
    use kube::api::DynamicObject;
    let pods = Api::<DynamicObject>::all_with(child.clone(), &metrics_api("PodMetrics", "pods"));
    let nodes = Api::<DynamicObject>::all_with(child.clone(), &metrics_api("NodeMetrics", "nodes"));
    let all = ListParams::default();
    let (pods, nodes) = tokio::join!(pods.list(&all), nodes.list(&all));
    let pods = match pods {
        Ok(list) => Some(pod_statistics(&list.items)),
        Err(err) => {
            tracing::warn!(error = %err, "failed to list podMetrics (--use-metrics-server)");
            None
        }
    };
    let nodes = match nodes {
        Ok(list) => Some(resource_usage(&list.items)),
        Err(err) => {
            tracing::warn!(error = %err, "failed to list nodeMetrics (--use-metrics-server)");
            None
        }
    };
    (pods, nodes)
}

fn pod_statistics(items: &[kube::api::DynamicObject]) -> PodStatistics {
    let running = items
        .iter()
        .filter(|m| {
            m.data["containers"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        })
        .count();
    PodStatistics {
        running_pods: i32::try_from(running).unwrap_or(i32::MAX),
        total_pods: i32::try_from(items.len()).unwrap_or(i32::MAX),
    }
}

fn resource_usage(items: &[kube::api::DynamicObject]) -> ResourceUsage {
    let sum = |key: &str| -> f64 {
        items
            .iter()
            .filter_map(|m| m.data["usage"][key].as_str())
            .filter_map(parse_quantity)
            .sum()
    };
    ResourceUsage {
        cpu_usage: format_quantity("cpu", sum("cpu")),
        memory_usage: format_quantity("memory", sum("memory")),
    }
}

/// The label selectors of the pods [`find_service_ip_range`] and [`find_pod_ip_range`] read.
const CIDR_POD_SELECTORS: [&str; 3] = [
    "component in (kube-apiserver,kube-controller-manager)",
    "app.kubernetes.io/component in (kube-apiserver,kube-controller-manager)",
    "k8s-app=kube-proxy",
];

/// The watched control-plane pods.
struct ControlPlanePods(Vec<Store<Pod>>);

impl ControlPlanePods {
    /// All of them, once each, in namespace/name order.
    fn state(&self) -> Vec<Arc<Pod>> {
        let mut all: BTreeMap<(String, String), Arc<Pod>> = BTreeMap::new();
        for store in &self.0 {
            for pod in store.state() {
                let key = (
                    pod.metadata.namespace.clone().unwrap_or_default(),
                    pod.metadata.name.clone().unwrap_or_default(),
                );
                all.insert(key, pod);
            }
        }
        all.into_values().collect()
    }
}

/// Warns when a CIDR cannot be discovered (once per change, not at every collection as Go).
#[derive(Default)]
struct CidrLog {
    last: Option<(String, String)>,
}

impl CidrLog {
    fn log(&mut self, status: &ManagedClusterStatus) {
        let now = (status.service_cidr.clone(), status.cluster_cidr.clone());
        if self.last.as_ref() == Some(&now) {
            return;
        }
        if now.0.is_empty() {
            tracing::warn!("failed to discover service CIDR: can't get service ip range");
        }
        if now.1.is_empty() {
            tracing::warn!("failed to discover cluster CIDR: can't get pod ip range");
        }
        if !now.0.is_empty() || !now.1.is_empty() {
            tracing::info!(service_cidr = %now.0, cluster_cidr = %now.1, "discovered cluster CIDRs");
        }
        self.last = Some(now);
    }
}

/// The service CIDR as Clusternet's agent finds it (`findServiceIPRange`): the first
/// `--service-cluster-ip-range` among the pods labelled `component=kube-apiserver`, then
/// `app.kubernetes.io/component=kube-apiserver`, then the same two for
/// `kube-controller-manager`; else the `SERVICE_CIDR` environment variable.
pub fn find_service_ip_range(pods: &[Arc<Pod>], env: Option<String>) -> Option<String> {
    const PARAMETER: &str = "--service-cluster-ip-range";
    for value in ["kube-apiserver", "kube-controller-manager"] {
        for key in ["component", "app.kubernetes.io/component"] {
            if let Some(found) = find_pod_command_parameter(pods, key, value, PARAMETER) {
                return Some(found);
            }
        }
    }
    env.filter(|e| !e.is_empty())
}

/// The pod CIDR as Clusternet's agent finds it (`findPodIPRange`): the first
/// `--cluster-cidr` among the pods labelled `component=kube-controller-manager`, then
/// `app.kubernetes.io/component=kube-controller-manager`, then `k8s-app=kube-proxy`; else the
/// `CLUSTER_CIDR` environment variable.
pub fn find_pod_ip_range(pods: &[Arc<Pod>], env: Option<String>) -> Option<String> {
    const PARAMETER: &str = "--cluster-cidr";
    for (key, value) in [
        ("component", "kube-controller-manager"),
        ("app.kubernetes.io/component", "kube-controller-manager"),
        ("k8s-app", "kube-proxy"),
    ] {
        if let Some(found) = find_pod_command_parameter(pods, key, value, PARAMETER) {
            return Some(found);
        }
    }
    env.filter(|e| !e.is_empty())
}

/// `findPodCommandParameter`: in the pods labelled `key=value`, container by container, the
/// parameter's value in the command, then in the args (an empty value does not count).
fn find_pod_command_parameter(
    pods: &[Arc<Pod>],
    key: &str,
    value: &str,
    parameter: &str,
) -> Option<String> {
    pods.iter()
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.get(key).map(String::as_str) == Some(value))
        })
        .filter_map(|p| p.spec.as_ref())
        .flat_map(|spec| spec.containers.iter())
        .find_map(|c| {
            [c.command.as_deref(), c.args.as_deref()]
                .into_iter()
                .flatten()
                .map(|args| parameter_value(args, parameter))
                .find(|v| !v.is_empty())
        })
}

/// `getParameterValue`: the value of the first argument starting with `parameter` (the text
/// after its `=`, up to a next `=`), also inside an argument holding a whole shell command
/// (`/bin/sh -c "exec kube-apiserver --a=b …"`). Go indexes past the end (and the agent
/// crashes) for a flag written without `=`; here `--flag value` takes the next word and any
/// other `=`-less match counts as empty.
pub fn parameter_value(args: &[String], parameter: &str) -> String {
    fn value(word: &str, next: Option<&str>, parameter: &str) -> Option<String> {
        if !word.starts_with(parameter) {
            return None;
        }
        Some(match word.split('=').nth(1) {
            Some(v) => v.to_string(),
            None if word == parameter => next.unwrap_or_default().to_string(),
            None => String::new(),
        })
    }
    for (i, arg) in args.iter().enumerate() {
        if let Some(v) = value(arg, args.get(i + 1).map(String::as_str), parameter) {
            return v;
        }
        if arg.contains(' ') {
            let words: Vec<&str> = arg.split(' ').collect();
            for (j, word) in words.iter().enumerate() {
                if let Some(v) = value(word, words.get(j + 1).copied(), parameter) {
                    return v;
                }
            }
        }
    }
    String::new()
}

/// Counts nodes by their Ready condition (missing condition = lost), as Clusternet does.
pub fn node_statistics(nodes: &[Arc<Node>]) -> NodeStatistics {
    let mut stats = NodeStatistics::default();
    for node in nodes {
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
        match ready.map(|c| c.status.as_str()) {
            None => stats.lost_nodes += 1,
            Some("True") => stats.ready_nodes += 1,
            Some("False") => stats.not_ready_nodes += 1,
            Some(_) => stats.unknown_nodes += 1,
        }
    }
    stats
}

/// Sums of cpu, memory and (when present) nvidia.com/gpu over all nodes: (capacity, allocatable).
pub fn node_resources(
    nodes: &[Arc<Node>],
) -> (BTreeMap<String, Quantity>, BTreeMap<String, Quantity>) {
    fn capacity(n: &Node) -> Option<&BTreeMap<String, Quantity>> {
        n.status.as_ref().and_then(|s| s.capacity.as_ref())
    }
    fn allocatable(n: &Node) -> Option<&BTreeMap<String, Quantity>> {
        n.status.as_ref().and_then(|s| s.allocatable.as_ref())
    }
    let sum = |pick: fn(&Node) -> Option<&BTreeMap<String, Quantity>>, key: &str| -> Option<f64> {
        let values: Vec<f64> = nodes
            .iter()
            .filter_map(|n| pick(n)?.get(key))
            .filter_map(|q| parse_quantity(&q.0))
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    };
    let mut cap = BTreeMap::new();
    let mut alloc = BTreeMap::new();
    for key in ["cpu", "memory"] {
        cap.insert(
            key.to_string(),
            format_quantity(key, sum(capacity, key).unwrap_or(0.0)),
        );
        alloc.insert(
            key.to_string(),
            format_quantity(key, sum(allocatable, key).unwrap_or(0.0)),
        );
    }
    if let Some(gpus) = sum(capacity, known::NVIDIA_GPU_RESOURCE_NAME).filter(|g| *g > 0.0) {
        cap.insert(
            known::NVIDIA_GPU_RESOURCE_NAME.to_string(),
            format_quantity("gpu", gpus),
        );
        alloc.insert(
            known::NVIDIA_GPU_RESOURCE_NAME.to_string(),
            format_quantity(
                "gpu",
                sum(allocatable, known::NVIDIA_GPU_RESOURCE_NAME).unwrap_or(0.0),
            ),
        );
    }
    (cap, alloc)
}

/// Parses a Kubernetes quantity (`4`, `3500m`, `16Gi`, `2e3`) into base units.
fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let value: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    Some(value * scale)
}

/// Formats a sum the way Kubernetes canonicalises it: cpu in whole or milli cores, memory in
/// bytes (binary suffix when exact), counts as integers.
fn format_quantity(key: &str, value: f64) -> Quantity {
    let s = match key {
        "cpu" if (value.fract()).abs() < 1e-9 => format!("{}", value as i64),
        "cpu" => format!("{}m", (value * 1000.0).round() as i64),
        "memory" => {
            let bytes = value.round() as i64;
            let units = [
                ("Ei", 60),
                ("Pi", 50),
                ("Ti", 40),
                ("Gi", 30),
                ("Mi", 20),
                ("Ki", 10),
            ];
            units
                .iter()
                .find(|(_, shift)| bytes != 0 && bytes % (1i64 << shift) == 0)
                .map(|(suffix, shift)| format!("{}{suffix}", bytes >> shift))
                .unwrap_or_else(|| bytes.to_string())
        }
        _ => format!("{}", value.round() as i64),
    };
    Quantity(s)
}

/// Node labels with one of `prefixes` shared by at least `threshold` of the worker nodes
/// (control-plane nodes excluded), the most common value per key — Clusternet's
/// `aggregateLimitedLabels`.
pub fn aggregate_node_labels(
    nodes: &[Arc<Node>],
    prefixes: &[String],
    threshold: f32,
) -> BTreeMap<String, String> {
    let is_control_plane = |n: &Node| {
        n.metadata.labels.as_ref().is_some_and(|l| {
            l.contains_key("node-role.kubernetes.io/control-plane")
                || l.contains_key("node-role.kubernetes.io/master")
        })
    };
    let workers: Vec<&Arc<Node>> = nodes.iter().filter(|n| !is_control_plane(n)).collect();
    if workers.is_empty() {
        return BTreeMap::new();
    }
    let mut counts: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for node in &workers {
        for (k, v) in node.metadata.labels.iter().flatten() {
            if prefixes.iter().any(|p| k.starts_with(p.as_str())) {
                *counts.entry(k).or_default().entry(v).or_default() += 1;
            }
        }
    }
    let mut out = BTreeMap::new();
    for (key, values) in counts {
        if let Some((value, n)) = values
            .into_iter()
            .max_by_key(|(v, n)| (*n, std::cmp::Reverse(*v)))
            && n as f32 / workers.len() as f32 >= threshold
        {
            out.insert(key.to_string(), value.to_string());
        }
    }
    out
}

struct Reporter {
    parent: Api<ManagedCluster>,
    name: Option<String>,
    /// Tells the Lease's renewer the ManagedCluster's name, once known.
    named: tokio::sync::watch::Sender<Option<String>>,
    /// The object as the parent last returned it (from our own write): the next heartbeat
    /// writes over it directly, so a heartbeat is one request, not a GET and a PUT. Anyone
    /// else's change in between makes the write a 409, which reads it afresh.
    last: Option<ManagedCluster>,
    /// The status last written ([`comparable`]), and when.
    reported: Option<ManagedClusterStatus>,
    reported_at: Option<std::time::Instant>,
    /// The aggregated node labels as last written.
    labels_reported: Option<BTreeMap<String, String>>,
    liveness: Arc<Liveness>,
    settings: Settings,
}

impl Reporter {
    fn lease_in_use(&self) -> bool {
        self.liveness
            .in_use
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `heartbeatFrequencySeconds` to report: how often the status is written for sure.
    fn status_period(&self) -> Duration {
        if self.lease_in_use() {
            STATUS_REFRESH.max(self.settings.update_frequency)
        } else {
            self.settings.update_frequency
        }
    }

    /// Whether `status` must be written now (`tick`: an update period has passed): it or the
    /// node labels to aggregate changed, or it is time.
    fn due(&mut self, status: &ManagedClusterStatus, nodes: &Store<Node>, tick: bool) -> bool {
        let mut status = comparable(status);
        status.heartbeat_frequency_seconds = Some(self.status_period().as_secs() as i64);
        if self
            .liveness
            .force_report
            .swap(false, std::sync::atomic::Ordering::Relaxed)
            || self.reported.as_ref() != Some(&status)
            || self.labels_reported.as_ref() != Some(&self.wanted_labels(nodes))
        {
            return true;
        }
        tick && (!self.lease_in_use()
            || self.reported_at.is_none_or(|at| {
                at.elapsed() + self.settings.update_frequency / 2 >= self.status_period()
            }))
    }

    async fn managed_cluster(&mut self) -> Result<ManagedCluster> {
        if let Some(mc) = self.last.take() {
            return Ok(mc);
        }
        if let Some(name) = &self.name
            && let Some(mc) = self.parent.get_opt(name).await?
        {
            return Ok(mc);
        }
        let selector = format!("{}={}", known::CLUSTER_ID_LABEL, self.settings.cluster_id);
        let list = self
            .parent
            .list(&ListParams::default().labels(&selector))
            .await?;
        let mc = list.items.into_iter().next().with_context(|| {
            format!(
                "no ManagedCluster labelled {selector} in {}",
                self.settings.namespace
            )
        })?;
        self.name = mc.metadata.name.clone();
        self.named.send_replace(self.name.clone());
        Ok(mc)
    }

    /// Writes labels and status, keeping the Ready condition's lastTransitionTime while its
    /// status does not change, and retrying on conflicts.
    async fn report(
        &mut self,
        mut status: ManagedClusterStatus,
        nodes: &Store<Node>,
    ) -> Result<()> {
        let mut mc = self.managed_cluster().await?;
        let name = mc
            .metadata
            .name
            .clone()
            .context("ManagedCluster without name")?;
        if let Some(patched) = self.patch_labels(&mc, &name, nodes).await? {
            mc = patched;
        }
        let ready = |s: Option<&ManagedClusterStatus>| {
            s.and_then(|s| s.conditions.iter().find(|c| c.type_ == CLUSTER_READY))
                .map(|c| c.status.clone())
        };
        let (was, is) = (ready(mc.status.as_ref()), ready(Some(&status)));
        if was.is_some() && was != is {
            tracing::info!(cluster = %name, was = ?was, is = ?is, healthz = status.healthz,
                livez = status.livez, readyz = status.readyz, "the cluster's Ready condition changes");
        }
        for attempt in 0..5 {
            if let Some(old) = mc
                .status
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == CLUSTER_READY))
                && let Some(new) = status
                    .conditions
                    .iter_mut()
                    .find(|c| c.type_ == CLUSTER_READY)
                && old.status == new.status
            {
                new.last_transition_time = old.last_transition_time.clone();
            }
            // The heartbeat is the report: stamped now, not when the figures were collected
            // (Go stamps at collection, so a collect period longer than the update period
            // makes a live cluster look stale to the lifecycle controller).
            status.last_observed_time = Some(Time(jiff::Timestamp::now()));
            status.heartbeat_frequency_seconds = Some(self.status_period().as_secs() as i64);
            mc.status = Some(status.clone());
            match self
                .parent
                .replace_status(&name, &PostParams::default(), &mc)
                .await
            {
                Ok(written) => {
                    self.last = Some(written);
                    self.reported = Some(comparable(&status));
                    self.reported_at = Some(std::time::Instant::now());
                    return Ok(());
                }
                Err(kube::Error::Api(s)) if s.code == 409 && attempt < 4 => {
                    mc = self.parent.get(&name).await?;
                }
                Err(err) => return Err(err).context("updating ManagedCluster status"),
            }
        }
        Ok(())
    }

    fn wanted_labels(&self, nodes: &Store<Node>) -> BTreeMap<String, String> {
        aggregate_node_labels(
            &nodes.state(),
            &self.settings.label_prefixes,
            self.settings.label_threshold,
        )
    }

    async fn patch_labels(
        &mut self,
        mc: &ManagedCluster,
        name: &str,
        nodes: &Store<Node>,
    ) -> Result<Option<ManagedCluster>> {
        let wanted = self.wanted_labels(nodes);
        let current = mc.metadata.labels.clone().unwrap_or_default();
        let mut patch = serde_json::Map::new();
        for (k, v) in &current {
            if self
                .settings
                .label_prefixes
                .iter()
                .any(|p| k.starts_with(p.as_str()))
                && wanted.get(k) != Some(v)
            {
                patch.insert(k.clone(), serde_json::Value::Null);
            }
        }
        for (k, v) in &wanted {
            if current.get(k) != Some(v) {
                patch.insert(k.clone(), v.clone().into());
            }
        }
        if patch.is_empty() {
            self.labels_reported = Some(wanted);
            return Ok(None);
        }
        let body = serde_json::json!({"metadata": {"labels": patch}});
        let patched = self
            .parent
            .patch(name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .context("patching ManagedCluster labels")?;
        self.labels_reported = Some(wanted);
        Ok(Some(patched))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod renewer {
        use super::*;
        use clusternet_test_support::mock::respond;
        use http::{Request, Response};
        use kube::client::Body;

        fn lease(rv: &str) -> serde_json::Value {
            serde_json::json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "mc", "namespace": "clusternet-x", "resourceVersion": rv},
                "spec": {"holderIdentity": "id"}})
        }

        fn too_many() -> serde_json::Value {
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "reason": "TooManyRequests", "code": 429,
                "message": "the server has received too many requests and has asked us to try again later"})
        }

        fn renewer(client: kube::Client) -> Renewer {
            Renewer {
                leases: Api::namespaced(client, "clusternet-x"),
                state: LeaseState::default(),
                liveness: Arc::new(Liveness::default()),
                cluster_id: "id".to_string(),
                update_frequency: Duration::from_secs(10),
            }
        }

        /// A renewal the parent turns away for load is tried again within the period, over the
        /// same version, seconds later rather than a whole period later.
        #[tokio::test(start_paused = true)]
        async fn a_throttled_renewal_is_retried_within_the_period() {
            let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
            let mut renewer = renewer(kube::Client::new(service, "default"));
            let parent = tokio::spawn(async move {
                let (req, send) = handle.next_request().await.unwrap();
                assert_eq!(req.method(), http::Method::POST);
                respond(send, 201, lease("1"));
                let mut times = Vec::new();
                for answer in [429, 429, 200] {
                    let (req, send) = handle.next_request().await.unwrap();
                    assert_eq!(req.method(), http::Method::PUT);
                    assert_eq!(
                        req.uri().path(),
                        "/apis/coordination.k8s.io/v1/namespaces/clusternet-x/leases/mc"
                    );
                    times.push(tokio::time::Instant::now());
                    if answer == 429 {
                        respond(send, 429, too_many());
                    } else {
                        respond(send, 200, lease("2"));
                    }
                }
                times
            });
            renewer.renew_within_period("mc").await;
            assert!(
                renewer
                    .liveness
                    .in_use
                    .load(std::sync::atomic::Ordering::Relaxed)
            );
            let before = tokio::time::Instant::now();
            renewer.renew_within_period("mc").await;
            let times = tokio::time::timeout(Duration::from_secs(60), parent)
                .await
                .expect("the renewal was not tried again within the period")
                .unwrap();
            assert!(
                times[2] - before < Duration::from_secs(10),
                "renewed {:?} after the period began",
                times[2] - before
            );
            assert!(times[1] > times[0] && times[2] > times[1]);
            assert_eq!(
                renewer
                    .state
                    .last
                    .as_ref()
                    .and_then(|l| l.metadata.resource_version.as_deref()),
                Some("2")
            );
        }

        /// Retries stop when the next period begins: a parent that keeps turning renewals away
        /// gets at most a few more requests per period.
        #[tokio::test(start_paused = true)]
        async fn retries_stop_at_the_end_of_the_period() {
            let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
            let mut renewer = renewer(kube::Client::new(service, "default"));
            let parent = tokio::spawn(async move {
                let mut count = 0;
                while let Some((_, send)) = handle.next_request().await {
                    count += 1;
                    respond(send, 429, too_many());
                }
                count
            });
            let started = tokio::time::Instant::now();
            renewer.renew_within_period("mc").await;
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{:?}",
                started.elapsed()
            );
            drop(renewer);
            let count = parent.await.unwrap();
            assert!((3..=5).contains(&count), "{count} attempts in one period");
        }
    }

    #[test]
    fn metrics_server_usage_as_gos() {
        let obj = |v: serde_json::Value| -> kube::api::DynamicObject {
            serde_json::from_value(v).unwrap()
        };
        let pods = [
            obj(
                serde_json::json!({"metadata": {"name": "a"}, "containers": [{"name": "c", "usage": {"cpu": "1m", "memory": "1Mi"}}]}),
            ),
            obj(serde_json::json!({"metadata": {"name": "b"}, "containers": []})),
        ];
        assert_eq!(
            pod_statistics(&pods),
            PodStatistics {
                running_pods: 1,
                total_pods: 2
            }
        );
        let nodes = [
            obj(
                serde_json::json!({"metadata": {"name": "n1"}, "usage": {"cpu": "250m", "memory": "1Gi"}}),
            ),
            obj(
                serde_json::json!({"metadata": {"name": "n2"}, "usage": {"cpu": "1", "memory": "512Mi"}}),
            ),
        ];
        let usage = resource_usage(&nodes);
        assert_eq!(usage.cpu_usage, format_quantity("cpu", 1.25));
        assert_eq!(
            usage.memory_usage,
            format_quantity("memory", 1.5 * 1024.0 * 1024.0 * 1024.0)
        );
    }

    fn pod(name: &str, labels: &[(&str, &str)], command: &[&str], args: &[&str]) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "namespace": "kube-system",
                    "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_,_>>()},
                "spec": {"containers": [{"name": "c", "command": command, "args": args}]},
            }))
            .unwrap(),
        )
    }

    #[test]
    fn cidrs_as_clusternet_finds_them() {
        let apiserver = pod(
            "kube-apiserver-node",
            &[("component", "kube-apiserver"), ("tier", "control-plane")],
            &[
                "kube-apiserver",
                "--advertise-address=10.0.0.1",
                "--service-cluster-ip-range=10.96.0.0/12",
            ],
            &[],
        );
        let kcm = pod(
            "kube-controller-manager-node",
            &[("component", "kube-controller-manager")],
            &[
                "kube-controller-manager",
                "--cluster-cidr=10.244.0.0/16",
                "--service-cluster-ip-range=10.100.0.0/16",
            ],
            &[],
        );
        let proxy = pod(
            "kube-proxy-x",
            &[("k8s-app", "kube-proxy")],
            &[
                "/bin/sh",
                "-c",
                "exec kube-proxy --cluster-cidr=192.168.0.0/16 --v=2",
            ],
            &[],
        );
        let env = || Some("1.2.3.0/24".to_string());
        // kube-apiserver first, then kube-controller-manager; the environment last.
        let all = vec![kcm.clone(), apiserver.clone(), proxy.clone()];
        assert_eq!(
            find_service_ip_range(&all, env()).as_deref(),
            Some("10.96.0.0/12")
        );
        assert_eq!(
            find_service_ip_range(std::slice::from_ref(&kcm), env()).as_deref(),
            Some("10.100.0.0/16")
        );
        assert_eq!(
            find_service_ip_range(std::slice::from_ref(&proxy), env()).as_deref(),
            Some("1.2.3.0/24")
        );
        assert_eq!(find_service_ip_range(&[], None), None);
        assert_eq!(find_service_ip_range(&[], Some(String::new())), None);
        // Pod CIDR: kube-controller-manager, then kube-proxy (also inside `sh -c`), not the
        // kube-apiserver.
        assert_eq!(
            find_pod_ip_range(&all, None).as_deref(),
            Some("10.244.0.0/16")
        );
        assert_eq!(
            find_pod_ip_range(&[proxy, apiserver.clone()], None).as_deref(),
            Some("192.168.0.0/16")
        );
        assert_eq!(
            find_pod_ip_range(&[apiserver], env()).as_deref(),
            Some("1.2.3.0/24")
        );
        // The app.kubernetes.io/component label; the flag in args; an empty value skipped.
        let labelled = pod(
            "apiserver",
            &[("app.kubernetes.io/component", "kube-apiserver")],
            &["kube-apiserver", "--service-cluster-ip-range="],
            &["--service-cluster-ip-range=fd00::/108"],
        );
        assert_eq!(
            find_service_ip_range(&[labelled], None).as_deref(),
            Some("fd00::/108")
        );
    }

    #[test]
    fn parameter_values() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = "--service-cluster-ip-range";
        assert_eq!(
            parameter_value(
                &args(&["--service-cluster-ip-range=10.0.0.0/16,fd00::/112"]),
                p
            ),
            "10.0.0.0/16,fd00::/112"
        );
        assert_eq!(
            parameter_value(&args(&["--service-cluster-ip-range", "10.1.0.0/16"]), p),
            "10.1.0.0/16"
        );
        assert_eq!(
            parameter_value(
                &args(&["sh -c kube-apiserver --service-cluster-ip-range=10.2.0.0/16"]),
                p
            ),
            "10.2.0.0/16"
        );
        assert_eq!(
            parameter_value(&args(&["--service-cluster-ip-rangex"]), p),
            ""
        );
        assert_eq!(parameter_value(&args(&["--other=1"]), p), "");
    }

    fn node(
        name: &str,
        labels: &[(&str, &str)],
        ready: Option<&str>,
        cpu: &str,
        mem: &str,
    ) -> Arc<Node> {
        let mut n: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_,_>>()},
            "status": {"capacity": {"cpu": cpu, "memory": mem}, "allocatable": {"cpu": cpu, "memory": mem}}
        }))
        .unwrap();
        if let Some(r) = ready {
            n.status.as_mut().unwrap().conditions = Some(vec![
                serde_json::from_value(serde_json::json!({"type": "Ready", "status": r})).unwrap(),
            ]);
        }
        Arc::new(n)
    }

    #[test]
    fn statistics_and_resources() {
        let nodes = vec![
            node("a", &[], Some("True"), "4", "8Gi"),
            node("b", &[], Some("False"), "2500m", "4Gi"),
            node("c", &[], Some("Unknown"), "500m", "1024Mi"),
            node("d", &[], None, "1", "1000"),
        ];
        let s = node_statistics(&nodes);
        assert_eq!(
            (
                s.ready_nodes,
                s.not_ready_nodes,
                s.unknown_nodes,
                s.lost_nodes
            ),
            (1, 1, 1, 1)
        );
        let (cap, alloc) = node_resources(&nodes);
        assert_eq!(cap["cpu"].0, "8");
        assert_eq!(
            cap["memory"].0,
            (13 * 1024 * 1024 * 1024 + 1000i64).to_string()
        );
        assert_eq!(alloc["cpu"].0, "8");
        let (cap, _) = node_resources(&nodes[1..3]);
        assert_eq!(cap["cpu"].0, "3");
        assert_eq!(cap["memory"].0, "5Gi");
        assert!(!cap.contains_key("nvidia.com/gpu"));
        assert_eq!(node_resources(&[]).0["cpu"].0, "0");
    }

    #[test]
    fn labels_aggregate_over_workers_with_threshold() {
        let p = vec!["node.clusternet.io/".to_string()];
        let nodes = vec![
            node(
                "cp",
                &[
                    ("node-role.kubernetes.io/control-plane", ""),
                    ("node.clusternet.io/zone", "x"),
                ],
                Some("True"),
                "1",
                "1",
            ),
            node(
                "w1",
                &[
                    ("node.clusternet.io/zone", "a"),
                    ("node.clusternet.io/gpu", "yes"),
                ],
                Some("True"),
                "1",
                "1",
            ),
            node(
                "w2",
                &[("node.clusternet.io/zone", "a"), ("other/zone", "a")],
                Some("True"),
                "1",
                "1",
            ),
            node(
                "w3",
                &[("node.clusternet.io/zone", "a")],
                Some("True"),
                "1",
                "1",
            ),
            node(
                "w4",
                &[("node.clusternet.io/zone", "b")],
                Some("True"),
                "1",
                "1",
            ),
        ];
        let got = aggregate_node_labels(&nodes, &p, 0.75);
        assert_eq!(
            got,
            BTreeMap::from([("node.clusternet.io/zone".to_string(), "a".to_string())])
        );
        assert!(aggregate_node_labels(&nodes, &p, 0.8).is_empty());
        assert_eq!(
            aggregate_node_labels(&nodes, &p, 0.25)
                .get("node.clusternet.io/gpu")
                .map(String::as_str),
            Some("yes")
        );
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("3500m"), Some(3.5));
        assert_eq!(parse_quantity("16Gi"), Some(16.0 * 1024f64.powi(3)));
        assert_eq!(parse_quantity("2e3"), Some(2000.0));
        assert_eq!(parse_quantity("1x"), None);
        assert_eq!(format_quantity("cpu", 1.25).0, "1250m");
        assert_eq!(format_quantity("memory", 3.0 * 1024.0 * 1024.0).0, "3Mi");
    }
}
