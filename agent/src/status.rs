//! The heartbeat: `ManagedCluster.status` as Clusternet's agent fills it — Kubernetes version and
//! platform, API server URL, healthz/livez/readyz, node statistics, capacity and allocatable,
//! the Ready condition, `lastObservedTime` and `heartbeatFrequencySeconds` — plus node labels
//! with the configured prefixes aggregated onto the ManagedCluster's labels.
//!
//! The first report goes out as soon as the cluster is registered; then every
//! `--cluster-status-update-frequency`, with the status collected every
//! `--cluster-status-collect-frequency` from a watched node cache (no per-report node listing).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clusternet_apis::clusters::v1beta1::{
    CLUSTER_READY, ManagedCluster, ManagedClusterStatus, NodeStatistics,
};
use clusternet_apis::known;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
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
}

/// Runs the heartbeat until the process ends.
pub async fn run(child: kube::Client, parent: kube::Client, settings: Settings) -> Result<()> {
    // Stops with the heartbeat.
    let (nodes, _node_watch) = clusternet_component_base::cache::spawn(
        Api::<Node>::all(child.clone()),
        watcher::Config::default(),
        "heartbeat nodes",
    );
    // Nodes may take a moment to list; the first report does not wait more than a second for them.
    let _ = tokio::time::timeout(Duration::from_secs(1), nodes.wait_until_ready()).await;

    let collected: Arc<RwLock<Option<ManagedClusterStatus>>> = Arc::new(RwLock::new(None));
    let reporter = Reporter {
        parent: Api::namespaced(parent, &settings.namespace),
        name: None,
        settings: settings.clone(),
    };
    *collected.write().await = Some(collect(&child, &nodes, &settings).await);
    let mut reporter = reporter;
    let mut update = tokio::time::interval(settings.update_frequency);
    let mut collect_tick = tokio::time::interval(settings.collect_frequency);
    loop {
        tokio::select! {
            _ = update.tick() => {
                let status = collected.read().await.clone();
                if let Some(status) = status
                    && let Err(err) = reporter.report(status, &nodes).await
                {
                    tracing::warn!(error = %format!("{err:#}"), "reporting cluster status");
                }
            }
            _ = collect_tick.tick() => {
                let status = collect(&child, &nodes, &settings).await;
                *collected.write().await = Some(status);
            }
        }
    }
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
    settings: Settings,
}

impl Reporter {
    async fn managed_cluster(&mut self) -> Result<ManagedCluster> {
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
        self.patch_labels(&mc, &name, nodes).await?;
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
            mc.status = Some(status.clone());
            match self
                .parent
                .replace_status(&name, &PostParams::default(), &mc)
                .await
            {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(s)) if s.code == 409 && attempt < 4 => {
                    mc = self.parent.get(&name).await?;
                }
                Err(err) => return Err(err).context("updating ManagedCluster status"),
            }
        }
        Ok(())
    }

    async fn patch_labels(
        &self,
        mc: &ManagedCluster,
        name: &str,
        nodes: &Store<Node>,
    ) -> Result<()> {
        let wanted = aggregate_node_labels(
            &nodes.state(),
            &self.settings.label_prefixes,
            self.settings.label_threshold,
        );
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
            return Ok(());
        }
        let body = serde_json::json!({"metadata": {"labels": patch}});
        self.parent
            .patch(name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .context("patching ManagedCluster labels")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
