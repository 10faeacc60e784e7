//! Aggregated status: the feeds' statuses in every bound cluster, summed up onto
//! `Subscription.status.aggregatedStatuses`, as Go Clusternet's `aggregatestatus` controller
//! computes them from `Description.status.manifestStatuses` (written by the applier).
//!
//! Per feed and bound cluster: `available` when the cluster's Description reports a status for
//! the feed, and the replica figures of Deployments and StatefulSets (`apps/v1`) and Jobs
//! (`batch/v1`). The summary sums the figures, takes the highest `observedGeneration`, and is
//! available only when every cluster is. Entries follow `spec.feeds` and `bindingClusters`.
//!
//! Differences from Go, on purpose: Go finds Descriptions by a `subs.name` label that its own
//! Descriptions never carry (so it never aggregates anything for generic feeds); we find them
//! by `subs.uid`. Go fails the whole aggregation when a Description belongs to a cluster that is
//! no longer bound (the moment a cluster is unbound); we skip that Description.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use clusternet_apis::apps::v1alpha1::{
    AggregatedStatus, Description, Feed, FeedStatus, FeedStatusPerCluster, ManifestStatus,
    ReplicaStatus,
};
use clusternet_apis::known;
use kube::ResourceExt;
use serde_json::Value;

/// A bound cluster: its ID and ManagedCluster name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundCluster {
    /// `ManagedCluster.spec.clusterId`.
    pub id: String,
    /// The ManagedCluster's name.
    pub name: String,
}

/// Computes `status.aggregatedStatuses` for a Subscription with `feeds`, bound to `clusters`
/// (in `bindingClusters` order), from its live (not deleting) Descriptions.
pub fn aggregate(
    feeds: &[Feed],
    clusters: &[BoundCluster],
    descriptions: &[&Description],
) -> Result<Vec<AggregatedStatus>> {
    let blank: Vec<FeedStatusPerCluster> = clusters
        .iter()
        .map(|c| FeedStatusPerCluster {
            cluster_id: c.id.clone(),
            cluster_name: c.name.clone(),
            feed_status: FeedStatus::default(),
        })
        .collect();
    let mut details: BTreeMap<&Feed, Vec<FeedStatusPerCluster>> =
        feeds.iter().map(|f| (f, blank.clone())).collect();
    for desc in descriptions {
        if desc.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let id = desc
            .labels()
            .get(known::CLUSTER_ID_LABEL)
            .cloned()
            .unwrap_or_default();
        let name = desc
            .labels()
            .get(known::CLUSTER_NAME_LABEL)
            .cloned()
            .unwrap_or_default();
        let Some(index) = clusters.iter().position(|c| c.id == id && c.name == name) else {
            continue;
        };
        for status in desc.status.iter().flat_map(|s| &s.manifest_statuses) {
            let Some(per_cluster) = details.get_mut(&status.feed) else {
                bail!(
                    "Description {} reports a status for {}, which is not a feed of the Subscription",
                    desc.name_any(),
                    super::render::format_feed(&status.feed)
                );
            };
            per_cluster[index].feed_status = FeedStatus {
                available: true,
                replica_status: replica_status(status)?.unwrap_or_default(),
            };
        }
    }
    Ok(feeds
        .iter()
        .map(|feed| {
            let per_cluster = details.remove(feed).unwrap_or_default();
            AggregatedStatus {
                feed: feed.clone(),
                feed_status_summary: summary(&per_cluster),
                feed_status_details: per_cluster,
            }
        })
        .collect())
}

fn summary(per_cluster: &[FeedStatusPerCluster]) -> FeedStatus {
    let mut sum = FeedStatus {
        available: true,
        ..Default::default()
    };
    for c in per_cluster {
        let (s, r) = (&mut sum.replica_status, &c.feed_status.replica_status);
        sum.available &= c.feed_status.available;
        s.replicas += r.replicas;
        s.updated_replicas += r.updated_replicas;
        s.current_replicas += r.current_replicas;
        s.ready_replicas += r.ready_replicas;
        s.available_replicas += r.available_replicas;
        s.unavailable_replicas += r.unavailable_replicas;
        s.active += r.active;
        s.succeeded += r.succeeded;
        s.failed += r.failed;
        s.observed_generation = s.observed_generation.max(r.observed_generation);
    }
    sum
}

/// The replica figures of a workload's observed status (Deployment, StatefulSet, Job).
fn replica_status(status: &ManifestStatus) -> Result<Option<ReplicaStatus>> {
    let want = match status.feed.kind.as_str() {
        "Deployment" | "StatefulSet" => "apps/v1",
        "Job" => "batch/v1",
        _ => return Ok(None),
    };
    if status.feed.api_version != want {
        bail!(
            "feed {} apiVersion is not {want}",
            super::render::format_feed(&status.feed)
        );
    }
    let observed = status.observed_status.clone().unwrap_or(Value::Null);
    let int = |key: &str| observed.get(key).and_then(Value::as_i64).unwrap_or(0);
    let i32_ = |key: &str| i32::try_from(int(key)).unwrap_or(i32::MAX);
    Ok(Some(match status.feed.kind.as_str() {
        "Deployment" => ReplicaStatus {
            observed_generation: int("observedGeneration"),
            replicas: i32_("replicas"),
            updated_replicas: i32_("updatedReplicas"),
            ready_replicas: i32_("readyReplicas"),
            available_replicas: i32_("availableReplicas"),
            unavailable_replicas: i32_("unavailableReplicas"),
            ..Default::default()
        },
        "StatefulSet" => ReplicaStatus {
            observed_generation: int("observedGeneration"),
            replicas: i32_("replicas"),
            updated_replicas: i32_("updatedReplicas"),
            current_replicas: i32_("currentReplicas"),
            ready_replicas: i32_("readyReplicas"),
            available_replicas: i32_("availableReplicas"),
            ..Default::default()
        },
        _ => ReplicaStatus {
            active: i32_("active"),
            succeeded: i32_("succeeded"),
            failed: i32_("failed"),
            ..Default::default()
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusternet_apis::apps::v1alpha1::{DescriptionSpec, DescriptionStatus};
    use serde_json::json;

    fn feed(api_version: &str, kind: &str, name: &str) -> Feed {
        Feed {
            kind: kind.into(),
            api_version: api_version.into(),
            namespace: "default".into(),
            name: name.into(),
        }
    }

    fn desc(id: &str, name: &str, statuses: Vec<ManifestStatus>) -> Description {
        let mut d = Description::new("d", DescriptionSpec::default());
        d.metadata.labels = Some(BTreeMap::from([
            (known::CLUSTER_ID_LABEL.to_string(), id.to_string()),
            (known::CLUSTER_NAME_LABEL.to_string(), name.to_string()),
        ]));
        d.status = Some(DescriptionStatus {
            manifest_statuses: statuses,
            ..Default::default()
        });
        d
    }

    #[test]
    fn sums_workloads_over_clusters() {
        let deploy = feed("apps/v1", "Deployment", "web");
        let svc = feed("v1", "Service", "web");
        let clusters = vec![
            BoundCluster {
                id: "1".into(),
                name: "c1".into(),
            },
            BoundCluster {
                id: "2".into(),
                name: "c2".into(),
            },
        ];
        let d1 = desc(
            "1",
            "c1",
            vec![
                ManifestStatus {
                    feed: deploy.clone(),
                    observed_status: Some(
                        json!({"observedGeneration": 2, "replicas": 2, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 2, "unavailableReplicas": 1}),
                    ),
                },
                ManifestStatus {
                    feed: svc.clone(),
                    observed_status: Some(json!({"loadBalancer": {}})),
                },
            ],
        );
        let d2 = desc(
            "2",
            "c2",
            vec![ManifestStatus {
                feed: deploy.clone(),
                observed_status: Some(
                    json!({"observedGeneration": 5, "replicas": 3, "readyReplicas": 3}),
                ),
            }],
        );
        // a Description of a cluster no longer bound is ignored
        let stale = desc(
            "9",
            "gone",
            vec![ManifestStatus {
                feed: deploy.clone(),
                observed_status: None,
            }],
        );
        let out = aggregate(
            &[deploy.clone(), svc.clone()],
            &clusters,
            &[&d1, &d2, &stale],
        )
        .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].feed, deploy);
        let s = &out[0].feed_status_summary;
        assert!(s.available);
        assert_eq!(s.replica_status.replicas, 5);
        assert_eq!(s.replica_status.ready_replicas, 4);
        assert_eq!(s.replica_status.unavailable_replicas, 1);
        assert_eq!(s.replica_status.observed_generation, 5);
        assert_eq!(out[0].feed_status_details[1].cluster_name, "c2");
        assert_eq!(
            out[0].feed_status_details[1]
                .feed_status
                .replica_status
                .replicas,
            3
        );
        // the Service has no status from c2: not available overall
        assert!(out[1].feed_status_details[0].feed_status.available);
        assert!(!out[1].feed_status_details[1].feed_status.available);
        assert!(!out[1].feed_status_summary.available);
        assert_eq!(
            serde_json::to_value(&out[1]).unwrap()["feedStatusDetails"][1],
            json!({"clusterId": "2", "clusterName": "c2", "replicaStatus": {}})
        );
    }

    #[test]
    fn jobs_and_errors() {
        let job = feed("batch/v1", "Job", "j");
        let clusters = vec![BoundCluster {
            id: "1".into(),
            name: "c1".into(),
        }];
        let d = desc(
            "1",
            "c1",
            vec![ManifestStatus {
                feed: job.clone(),
                observed_status: Some(json!({"active": 1, "succeeded": 2})),
            }],
        );
        let out = aggregate(std::slice::from_ref(&job), &clusters, &[&d]).unwrap();
        assert_eq!(out[0].feed_status_summary.replica_status.succeeded, 2);
        // a status for something that is not a feed fails, as in Go
        let other = desc(
            "1",
            "c1",
            vec![ManifestStatus {
                feed: feed("v1", "ConfigMap", "x"),
                observed_status: None,
            }],
        );
        assert!(aggregate(std::slice::from_ref(&job), &clusters, &[&other]).is_err());
        let bad = desc(
            "1",
            "c1",
            vec![ManifestStatus {
                feed: feed("batch/v2", "Job", "j"),
                observed_status: None,
            }],
        );
        let bad_feed = feed("batch/v2", "Job", "j");
        assert!(aggregate(&[bad_feed], &clusters, &[&bad]).is_err());
        // no clusters: summary available (vacuous, as Go)
        let out = aggregate(std::slice::from_ref(&job), &[], &[]).unwrap();
        assert!(out[0].feed_status_summary.available);
    }
}
