//! `Globalization`: cluster-scoped overrides for the clusters matching a label selector.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Feed, OverrideConfig, OverridePolicy};
use crate::util::is_default;

/// The desired state of a `Globalization`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "apps.clusternet.io",
    version = "v1alpha1",
    kind = "Globalization",
    plural = "globalizations",
    shortname = "glob",
    shortname = "global",
    category = "clusternet",
    derive = "Default",
    derive = "PartialEq",
    doc = "Cluster-scoped overrides of a group of resources, for every cluster matching the cluster affinity.",
    printcolumn = r#"{"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct GlobalizationSpec {
    /// When the overrides take effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-clusternet-default" = "ApplyLater"))]
    pub override_policy: Option<OverridePolicy>,

    /// Selects the ManagedClusters the overrides apply to, by label; all clusters when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<crate::schema::LabelSelector>")]
    pub cluster_affinity: Option<LabelSelector>,

    /// The overrides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<OverrideConfig>,

    /// The importance of this Globalization relative to others: they are applied from lower to
    /// higher priority, so values of a higher priority win. Like Go, 0 is not serialised, so
    /// the apiserver's default (500) applies.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(
        description = "The importance of this Globalization relative to others (0-1000): they are applied from lower to higher priority, so values of a higher priority win." ,
        range(min = 0, max = 1000),
        extend("x-clusternet-default" = 500)
    )]
    pub priority: i32,

    /// The object the overrides apply to.
    #[serde(default)]
    pub feed: Feed,
}
