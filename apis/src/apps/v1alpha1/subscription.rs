//! `Subscription` and the types it shares with the other kinds (`Feed`, `Subscriber`, the
//! dividing-scheduling settings and the aggregated feed statuses).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PreferredSchedulingTerm, Toleration, TopologySpreadConstraint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::macros::closed_enum;
use crate::util::is_default;

closed_enum! {
    /// How a subscription's replicas are placed on the matching clusters.
    #[derive(Default)]
    pub enum SchedulingStrategyType {
        /// Every matching cluster gets a full copy (the default).
        #[default]
        Replication = "Replication",
        /// The replicas are divided among the matching clusters.
        Dividing = "Dividing",
    }
}

closed_enum! {
    /// How replicas are divided in `Dividing` scheduling.
    #[derive(Default)]
    pub enum ReplicaDividingType {
        /// By the fixed weights of the subscribers (the default).
        #[default]
        Static = "Static",
        /// By what each cluster's resource predictor says fits.
        Dynamic = "Dynamic",
    }
}

closed_enum! {
    /// The strategy of `Dynamic` dividing.
    #[derive(Default)]
    pub enum DynamicDividingStrategy {
        /// Spread the replicas over as many clusters as possible (the default).
        #[default]
        Spread = "Spread",
        /// Pack the replicas into as few clusters as possible.
        Binpack = "Binpack",
    }
}

closed_enum! {
    /// Whether a subscription may preempt subscriptions of lower priority.
    ///
    /// The CRD accepts `PreemptLowerPriority` and `PreemptNever`, which is what this enum writes.
    /// Go Clusternet's constant `PreemptNever` has the value `"Never"` ([`GO_PREEMPT_NEVER`]),
    /// which its own CRD rejects; no Clusternet component writes it.
    #[derive(Default)]
    pub enum PreemptionPolicy {
        /// May preempt subscriptions of lower priority (the default).
        #[default]
        PreemptLowerPriority = "PreemptLowerPriority",
        /// Never preempts other subscriptions.
        PreemptNever = "PreemptNever",
    }
}

/// The value of Go Clusternet's `PreemptNever` constant. Not accepted by the CRD's enum; see
/// [`PreemptionPolicy`].
pub const GO_PREEMPT_NEVER: &str = "Never";

/// The desired state of a `Subscription`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "apps.clusternet.io",
    version = "v1alpha1",
    kind = "Subscription",
    plural = "subscriptions",
    namespaced,
    shortname = "sub",
    shortname = "subs",
    category = "clusternet",
    status = "SubscriptionStatus",
    derive = "Default",
    derive = "PartialEq",
    doc = "A policy that deploys a group of resources (feeds) to one or more clusters (subscribers).",
    printcolumn = r#"{"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionSpec {
    /// The scheduler that handles this subscription; the default scheduler when unset.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(extend("x-clusternet-default" = "default"))]
    pub scheduler_name: String,

    /// Schedule by subgroups: every subscriber's matching clusters form one subgroup (see
    /// `subGroupStrategy`). Works with every scheduling strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling_by_sub_group: Option<bool>,

    /// The scheduling strategy; `Replication` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-clusternet-default" = "Replication"))]
    pub scheduling_strategy: Option<SchedulingStrategyType>,

    /// How replicas are divided; only used with the `Dividing` strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dividing_scheduling: Option<DividingScheduling>,

    /// The priority of the subscription for clusternet-scheduler: higher values are scheduled
    /// first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,

    /// Whether this subscription may preempt subscriptions of lower priority;
    /// `PreemptLowerPriority` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-clusternet-default" = "PreemptLowerPriority"))]
    pub preemption_policy: Option<PreemptionPolicy>,

    /// The clusters that subscribe to the feeds.
    pub subscribers: Vec<Subscriber>,

    /// Tolerations for the taints of ManagedClusters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<crate::schema::Toleration>")]
    pub cluster_tolerations: Vec<Toleration>,

    /// The resources to deploy.
    pub feeds: Vec<Feed>,
}

/// The observed state of a `Subscription`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionStatus {
    /// The clusters the subscription is bound to, as `<namespace>/<ManagedCluster name>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binding_clusters: Vec<String>,

    /// For each feed (keyed `<apiVersion>/<kind>[/<namespace>]/<name>`), the desired replicas in
    /// each of `bindingClusters`, in the same order.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub replicas: BTreeMap<String, Vec<i32>>,

    /// A hash of the current spec.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(schema_with = "crate::schema::int64")]
    pub spec_hash: u64,

    /// The number of Helm releases this subscription needs.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(schema_with = "crate::schema::int")]
    pub desired_releases: i64,

    /// The number of completed releases of this subscription.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(schema_with = "crate::schema::int")]
    pub completed_releases: i64,

    /// The statuses of the feeds, aggregated over the child clusters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aggregated_statuses: Vec<AggregatedStatus>,
}

/// The aggregated status of one feed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AggregatedStatus {
    /// The feed.
    #[serde(flatten)]
    pub feed: Feed,

    /// The feed's statuses in all child clusters, summed up.
    #[serde(default)]
    pub feed_status_summary: FeedStatus,

    /// The feed's status in each child cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feed_status_details: Vec<FeedStatusPerCluster>,
}

/// The status of a feed in one child cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedStatusPerCluster {
    /// The ID of the child cluster.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(pattern(crate::clusters::v1beta1::CLUSTER_ID_PATTERN))]
    pub cluster_id: String,

    /// The name of the child cluster.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(
        length(max = 30),
        pattern(crate::clusters::v1beta1::CLUSTER_NAME_PATTERN)
    )]
    pub cluster_name: String,

    /// The brief status of the feed in that cluster.
    #[serde(flatten)]
    pub feed_status: FeedStatus,
}

/// The brief status of a feed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedStatus {
    /// Whether the feed status has been synced to the corresponding Description.
    #[serde(default, skip_serializing_if = "is_default")]
    pub available: bool,

    /// The replica status of a workload feed (Deployment, StatefulSet, Job, ...).
    #[serde(default)]
    pub replica_status: ReplicaStatus,
}

/// Brief information about the replicas of a workload feed in a child cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaStatus {
    /// The generation the workload controller has observed.
    #[serde(default, skip_serializing_if = "is_default")]
    pub observed_generation: i64,

    /// Non-terminated pods of the workload.
    #[serde(default, skip_serializing_if = "is_default")]
    pub replicas: i32,

    /// Non-terminated pods of the workload that have the desired template.
    #[serde(default, skip_serializing_if = "is_default")]
    pub updated_replicas: i32,

    /// Pods created from the current revision (StatefulSet).
    #[serde(default, skip_serializing_if = "is_default")]
    pub current_replicas: i32,

    /// Pods of the workload with a Ready condition.
    #[serde(default, skip_serializing_if = "is_default")]
    pub ready_replicas: i32,

    /// Pods of the workload that have been ready for at least minReadySeconds.
    #[serde(default, skip_serializing_if = "is_default")]
    pub available_replicas: i32,

    /// Pods still missing for the workload to be fully available (running but not yet
    /// available, or not created yet).
    #[serde(default, skip_serializing_if = "is_default")]
    pub unavailable_replicas: i32,

    /// Pending and running pods (Job).
    #[serde(default, skip_serializing_if = "is_default")]
    pub active: i32,

    /// Pods that reached phase Succeeded (Job).
    #[serde(default, skip_serializing_if = "is_default")]
    pub succeeded: i32,

    /// Pods that reached phase Failed (Job).
    #[serde(default, skip_serializing_if = "is_default")]
    pub failed: i32,
}

/// A group of subscribing clusters.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscriber {
    /// Selects ManagedClusters by their labels.
    #[schemars(with = "crate::schema::LabelSelector")]
    pub cluster_affinity: LabelSelector,

    /// The static weight of this subscriber when replicas are divided (static dividing only).
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(range(min = 0))]
    pub weight: i32,

    /// Treat the matching clusters as one subgroup (for example a region or a zone) rather than
    /// as individual clusters. Only used when `schedulingBySubGroup` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_group_strategy: Option<SubGroupStrategy>,
}

/// How a subgroup of clusters is scheduled.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubGroupStrategy {
    /// The minimum number of clusters to pick from this subgroup; all of them if it has fewer.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(range(min = 0))]
    pub min_clusters: i32,
}

/// The key of a feed in `status.replicas`: `<apiVersion>/<kind>/<namespace>/<name>`, or
/// `<apiVersion>/<kind>/<name>` for cluster-scoped feeds (Clusternet's `GetFeedKey`).
pub fn feed_key(feed: &Feed) -> String {
    if feed.namespace.is_empty() {
        format!("{}/{}/{}", feed.api_version, feed.kind, feed.name)
    } else {
        format!(
            "{}/{}/{}/{}",
            feed.api_version, feed.kind, feed.namespace, feed.name
        )
    }
}

/// A reference to a resource to deploy.
#[derive(
    Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct Feed {
    /// The kind of the resource, in CamelCase.
    pub kind: String,

    /// The API version of the resource.
    pub api_version: String,

    /// The namespace of the resource (empty for cluster-scoped resources).
    #[serde(default, skip_serializing_if = "is_default")]
    pub namespace: String,

    /// The name of the resource.
    pub name: String,
}

/// How replicas are divided among the target clusters.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DividingScheduling {
    /// The type of dividing.
    #[schemars(extend("x-clusternet-default" = "Static"))]
    pub r#type: ReplicaDividingType,

    /// Settings of dynamic dividing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_dividing: Option<DynamicDividing>,
}

/// How replicas are divided among the target clusters dynamically.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DynamicDividing {
    /// The dynamic dividing strategy.
    #[schemars(extend("x-clusternet-default" = "Spread"))]
    pub strategy: DynamicDividingStrategy,

    /// How replicas spread over topology domains (all constraints are ANDed). Only for the
    /// `Spread` strategy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<crate::schema::TopologySpreadConstraint>")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,

    /// Cluster preferences: replicas go to clusters matching heavier terms first, and the rest
    /// to the others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<crate::schema::PreferredSchedulingTerm>")]
    pub preferred_clusters: Vec<PreferredSchedulingTerm>,

    /// The minimum number of target clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_clusters: Option<i32>,

    /// The maximum number of target clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_clusters: Option<i32>,
}
