//! `multicluster.x-k8s.io/v1alpha1`: `ServiceExport` and `ServiceImport` of the Multi-Cluster
//! Services API, in the shape of the CRDs Clusternet ships (`ServiceExport` has no spec;
//! `ServiceImport` allows at most one IP).

use k8s_openapi::api::core::v1::SessionAffinityConfig;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::macros::closed_enum;
use crate::util::is_default;

/// The API version.
pub const VERSION: &str = "v1alpha1";

/// `<group>/<version>`.
pub const API_VERSION: &str = "multicluster.x-k8s.io/v1alpha1";

/// Condition type of a `ServiceExport`: the exported service is valid (false for services that
/// cannot be exported, such as ExternalName services or missing ones).
pub const SERVICE_EXPORT_VALID: &str = "Valid";

/// Condition type of a `ServiceExport`: exports of the same service conflict.
pub const SERVICE_EXPORT_CONFLICT: &str = "Conflict";

/// The (empty) content of a `ServiceExport`: it has no spec. The service with the same namespace
/// and name is exported.
#[derive(
    CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema,
)]
#[kube(
    group = "multicluster.x-k8s.io",
    version = "v1alpha1",
    kind = "ServiceExport",
    plural = "serviceexports",
    namespaced,
    no_spec,
    shortname = "svcex",
    status = "ServiceExportStatus",
    derive = "Default",
    derive = "PartialEq",
    doc = "Declares that the Service with the same name and namespace as this export should be consumable from other clusters.",
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
pub struct ServiceExportSpec {}

/// The observed state of a `ServiceExport`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceExportStatus {
    /// The conditions of the export.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        with = "Vec<crate::schema::Condition>",
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"])
    )]
    pub conditions: Vec<Condition>,
}

closed_enum! {
    /// The type of a `ServiceImport`.
    #[derive(Default)]
    pub enum ServiceImportType {
        /// Reachable through the cluster-set IP.
        #[default]
        ClusterSetIp = "ClusterSetIP",
        /// Backend pods are addressed directly.
        Headless = "Headless",
    }
}

/// A service imported from the clusters of a cluster set.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "multicluster.x-k8s.io",
    version = "v1alpha1",
    kind = "ServiceImport",
    plural = "serviceimports",
    namespaced,
    shortname = "svcim",
    status = "ServiceImportStatus",
    derive = "Default",
    derive = "PartialEq",
    doc = "Describes a service imported from clusters in a ClusterSet.",
    printcolumn = r#"{"name": "Type", "type": "string", "description": "The type of this ServiceImport", "jsonPath": ".spec.type"}"#,
    printcolumn = r#"{"name": "IP", "type": "string", "description": "The VIP for this ServiceImport", "jsonPath": ".spec.ips"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ServiceImportSpec {
    /// The ports of the service.
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub ports: Vec<ServicePort>,

    /// The VIP of the service when its type is ClusterSetIP.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1))]
    pub ips: Vec<String>,

    /// The type of the service: ClusterSetIP or Headless.
    pub r#type: ServiceImportType,

    /// Session affinity: "ClientIP" or "None" (the default). Ignored for Headless services.
    #[serde(default, skip_serializing_if = "is_default")]
    pub session_affinity: String,

    /// Session affinity settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<crate::schema::SessionAffinityConfig>")]
    pub session_affinity_config: Option<SessionAffinityConfig>,
}

/// A port the service exposes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// The name of the port (a DNS label), unique within the service. Must match the `name` of
    /// the endpoint port; optional when the service has a single port.
    #[serde(default, skip_serializing_if = "is_default")]
    pub name: String,

    /// The IP protocol: "TCP" (the default), "UDP" or "SCTP".
    #[serde(default, skip_serializing_if = "is_default")]
    pub protocol: String,

    /// The application protocol, in Kubernetes label syntax: an IANA service name or a prefixed
    /// name such as `mycompany.com/my-custom-protocol`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,

    /// The port number.
    pub port: i32,
}

/// The observed state of a `ServiceImport`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceImportStatus {
    /// The exporting clusters this service was derived from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["cluster"]))]
    pub clusters: Vec<ClusterStatus>,
}

/// The part of a service that comes from one exporting cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// The name of the exporting cluster, an RFC 1123 DNS label.
    pub cluster: String,
}
