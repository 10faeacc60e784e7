//! `Manifest`: the stored copy of a resource used as a feed. The hub keeps one per shadow object
//! in the `clusternet-reserved` namespace.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The content of a `Manifest`. `Manifest` has no `spec`: `template` sits at the root of the
/// object, next to `metadata`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "apps.clusternet.io",
    version = "v1alpha1",
    kind = "Manifest",
    plural = "manifests",
    namespaced,
    no_spec,
    category = "clusternet",
    derive = "Default",
    derive = "PartialEq",
    doc = "A stored Kubernetes object (the template) that subscriptions can use as a feed.",
    printcolumn = r#"{"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ManifestSpec {
    /// The raw Kubernetes object.
    #[schemars(schema_with = "crate::schema::preserve_unknown_object")]
    pub template: serde_json::Value,
}
