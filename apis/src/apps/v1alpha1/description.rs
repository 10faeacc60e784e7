//! `Description`: the final, rendered resources to install in one child cluster.

use k8s_openapi::ByteString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Feed;
use crate::macros::closed_enum;
use crate::util::is_default;

closed_enum! {
    /// Which deployer installs a `Description`.
    #[derive(Default)]
    pub enum DescriptionDeployer {
        /// Helm charts, installed as Helm releases.
        Helm = "Helm",
        /// Plain Kubernetes objects, applied as they are.
        #[default]
        Generic = "Generic",
    }
}

closed_enum! {
    /// The phase of a `Description`. Besides the generic phases, the Helm deployer reports the
    /// states of Helm releases.
    pub enum DescriptionPhase {
        /// Not processed yet.
        Pending = "Pending",
        /// Everything has been deployed.
        Success = "Success",
        /// Deploying failed.
        Failure = "Failure",
        /// A Helm install is under way.
        Installing = "Installing",
        /// A Helm upgrade is under way.
        Upgrading = "Upgrading",
        /// A Helm uninstall is under way.
        Uninstalling = "Uninstalling",
        /// The Helm release is outdated: a newer one exists.
        Superseded = "Superseded",
        /// The Helm release is in an uncertain state.
        Unknown = "Unknown",
    }
}

/// The desired state of a `Description`.
#[derive(
    CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema,
)]
#[kube(
    group = "apps.clusternet.io",
    version = "v1alpha1",
    kind = "Description",
    plural = "descriptions",
    namespaced,
    shortname = "desc",
    category = "clusternet",
    status = "DescriptionStatus",
    derive = "Default",
    derive = "PartialEq",
    doc = "The rendered resources to be installed in one child cluster.",
    printcolumn = r#"{"name": "DEPLOYER", "type": "string", "jsonPath": ".spec.deployer"}"#,
    printcolumn = r#"{"name": "STATUS", "type": "string", "jsonPath": ".status.phase"}"#,
    printcolumn = r#"{"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DescriptionSpec {
    /// The deployer that installs this Description.
    pub deployer: DescriptionDeployer,

    /// The Helm charts to install.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<ChartReference>,

    /// The serialised objects: for the Generic deployer the final objects, for the Helm deployer
    /// the override values of each chart (aligned with `charts`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::bytes_list")]
    pub raw: Vec<ByteString>,

    /// The serialised HelmChart objects, after overrides (aligned with `charts`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::bytes_list")]
    pub chart_raw: Vec<ByteString>,
}

/// The observed state of a `Description`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DescriptionStatus {
    /// The phase of the Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<DescriptionPhase>,

    /// Why the Description is in this phase.
    #[serde(default, skip_serializing_if = "is_default")]
    pub reason: String,

    /// The observed statuses of the objects in the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifest_statuses: Vec<ManifestStatus>,
}

/// The observed status of one feed in a child cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManifestStatus {
    /// The feed.
    #[serde(flatten)]
    pub feed: Feed,

    /// The `.status` of the object in the child cluster, as it is.
    ///
    /// Go writes an empty `runtime.RawExtension` as `null` (pruned by the apiserver); an unset
    /// status is omitted here instead, which server-side apply accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        description = "The `.status` of the object in the child cluster, as it is.",
        schema_with = "crate::schema::preserve_unknown_object"
    )]
    pub observed_status: Option<serde_json::Value>,
}

/// A reference to a HelmChart.
#[derive(
    Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct ChartReference {
    /// The namespace of the HelmChart.
    pub namespace: String,

    /// The name of the HelmChart.
    pub name: String,
}
