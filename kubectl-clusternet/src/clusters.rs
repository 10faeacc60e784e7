//! `kubectl clusternet clusters`: every ManagedCluster in one table.

use std::time::Duration;

use clusternet_apis::clusters::v1beta1::ManagedCluster;

use crate::table;

const NONE: &str = "<none>";

/// `True`, `False` or `Unknown`: the cluster's Ready condition.
fn ready(mc: &ManagedCluster) -> String {
    mc.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.clone())
        .unwrap_or_else(|| "Unknown".into())
}

fn since(
    t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    now: jiff::Timestamp,
) -> String {
    t.map(|t| {
        let secs = now.as_second() - t.0.as_second();
        table::human_duration(Duration::from_secs(secs.max(0) as u64))
    })
    .unwrap_or_else(|| NONE.into())
}

fn or_none(s: &str) -> String {
    if s.is_empty() { NONE.into() } else { s.into() }
}

/// The rows (header first); `wide` adds platform, API server, agent version and age.
pub fn rows(items: &[ManagedCluster], wide: bool, now: jiff::Timestamp) -> Vec<Vec<String>> {
    let mut header = vec![
        "NAME",
        "CLUSTER-ID",
        "NAMESPACE",
        "READY",
        "KUBERNETES",
        "SYNC-MODE",
        "NODES",
        "CPU",
        "MEMORY",
        "HEARTBEAT",
    ];
    if wide {
        header.extend(["PLATFORM", "API-SERVER", "AGENT", "AGE"]);
    }
    let mut out = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    for mc in items {
        let status = mc.status.clone().unwrap_or_default();
        let nodes = &status.node_statistics;
        let total = nodes.ready_nodes + nodes.not_ready_nodes + nodes.unknown_nodes;
        let quantity = |name: &str| {
            status
                .allocatable
                .get(name)
                .map(|q| q.0.clone())
                .unwrap_or_else(|| NONE.into())
        };
        let sync_mode = serde_json::to_value(mc.spec.sync_mode)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let mut row = vec![
            mc.metadata.name.clone().unwrap_or_default(),
            mc.spec.cluster_id.clone(),
            mc.metadata.namespace.clone().unwrap_or_default(),
            ready(mc),
            or_none(&status.k8s_version),
            or_none(&sync_mode),
            format!("{}/{total}", nodes.ready_nodes),
            quantity("cpu"),
            quantity("memory"),
            match status.last_observed_time.as_ref() {
                Some(t) => format!("{} ago", since(Some(t), now)),
                None => NONE.into(),
            },
        ];
        if wide {
            row.extend([
                or_none(&status.platform),
                or_none(&status.apiserver_url),
                or_none(&status.agent_version),
                since(mc.metadata.creation_timestamp.as_ref(), now),
            ]);
        }
        out.push(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_per_cluster() {
        let mc: ManagedCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "clusters.clusternet.io/v1beta1", "kind": "ManagedCluster",
            "metadata": {"name": "child1", "namespace": "clusternet-abc", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"clusterId": "id-1", "syncMode": "Dual"},
            "status": {
                "k8sVersion": "v1.36.3", "lastObservedTime": "2026-01-01T00:09:55Z",
                "allocatable": {"cpu": "2", "memory": "16Gi"},
                "nodeStatistics": {"readyNodes": 2, "notReadyNodes": 1},
                "healthz": true, "livez": true, "readyz": true,
                "conditions": [{"type": "Ready", "status": "False", "reason": "R", "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            },
        }))
        .unwrap();
        let now: jiff::Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let rows = rows(&[mc], true, now);
        assert_eq!(
            rows[1],
            [
                "child1",
                "id-1",
                "clusternet-abc",
                "False",
                "v1.36.3",
                "Dual",
                "2/3",
                "2",
                "16Gi",
                "5s ago",
                "<none>",
                "<none>",
                "<none>",
                "10m"
            ]
        );
    }
}
