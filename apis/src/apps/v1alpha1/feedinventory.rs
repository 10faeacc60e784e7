//! `FeedInventory`: the scheduling requirements of a subscription's feeds (same namespace and
//! name as the subscription).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Feed;
use crate::util::is_default;

/// The desired state of a `FeedInventory`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "apps.clusternet.io",
    version = "v1alpha1",
    kind = "FeedInventory",
    plural = "feedinventories",
    namespaced,
    shortname = "finv",
    category = "clusternet",
    derive = "Default",
    derive = "PartialEq",
    doc = "The feeds of a subscription with their scheduling requirements."
)]
#[serde(rename_all = "camelCase")]
pub struct FeedInventorySpec {
    /// The feeds and their scheduling requirements.
    pub feeds: Vec<FeedOrder>,
}

/// A feed and its scheduling requirements.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedOrder {
    /// The feed.
    #[serde(flatten)]
    pub feed: Feed,

    /// The desired number of replicas; unset (rather than zero) for feeds without replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,

    /// What a new replica needs to be scheduled.
    #[serde(default)]
    pub replica_requirements: ReplicaRequirements,

    /// The JSON path of the replica count in the feed, for example `/spec/replicas` for a
    /// Deployment, StatefulSet or ReplicaSet. Set whenever `desiredReplicas` is.
    #[serde(default, skip_serializing_if = "is_default")]
    pub replica_json_path: String,
}

/// What a new replica needs to be scheduled.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaRequirements {
    /// Node labels a node must have for a replica to be scheduled on it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("x-kubernetes-map-type" = "atomic"))]
    pub node_selector: BTreeMap<String, String>,

    /// The tolerations of a replica.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<crate::schema::Toleration>")]
    pub tolerations: Vec<Toleration>,

    /// The scheduling constraints of a replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<crate::schema::Affinity>")]
    pub affinity: Option<Affinity>,

    /// The compute resources a replica needs.
    #[serde(default)]
    #[schemars(with = "crate::schema::ResourceRequirements")]
    pub resources: ResourceRequirements,
}
