//! `Base`: the feeds of a subscription as seen by one child cluster, before overrides are
//! rendered.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Feed;

/// The desired state of a `Base`.
#[derive(
    CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema,
)]
#[kube(
    group = "apps.clusternet.io",
    version = "v1alpha1",
    kind = "Base",
    plural = "bases",
    namespaced,
    category = "clusternet",
    derive = "Default",
    derive = "PartialEq",
    doc = "The resources and templates referenced by a subscription for one cluster, before overrides are rendered.",
    printcolumn = r#"{"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BaseSpec {
    /// The resources to deploy.
    pub feeds: Vec<Feed>,
}
