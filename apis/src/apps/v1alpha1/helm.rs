//! `HelmChart` (a Helm chart as a feed) and `HelmRelease` (a chart installed in one child
//! cluster), with the Helm options they share.

use k8s_openapi::ByteString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::macros::{closed_enum, open_enum};
use crate::util::is_default;

/// The regular expression a Helm repository URL must match (http, https or oci).
pub const HELM_REPO_PATTERN: &str =
    r"^(http|https|oci)?://(?:[a-zA-Z]|[0-9]|[$-_@.&+]|[!*\(\),]|(?:%[0-9a-fA-F][0-9a-fA-F]))+$";

/// The key of the user name in a chart pull secret.
pub const CHART_PULL_SECRET_USERNAME_KEY: &str = "username";

/// The key of the password in a chart pull secret.
pub const CHART_PULL_SECRET_PASSWORD_KEY: &str = "password";

closed_enum! {
    /// Whether a HelmChart has been found in its repository.
    pub enum HelmChartPhase {
        /// The chart exists.
        Found = "Found",
        /// The chart does not exist.
        NotFound = "NotFound",
    }
}

open_enum! {
    /// The state of a Helm release (Helm's `release.Status`). The CRD accepts any string.
    pub enum HelmReleasePhase {
        /// The release is in an uncertain state.
        Unknown = "unknown",
        /// The release has been pushed to Kubernetes.
        Deployed = "deployed",
        /// The release has been uninstalled.
        Uninstalled = "uninstalled",
        /// The release is outdated: a newer one exists.
        Superseded = "superseded",
        /// The release failed.
        Failed = "failed",
        /// An uninstall is under way.
        Uninstalling = "uninstalling",
        /// An install is under way.
        PendingInstall = "pending-install",
        /// An upgrade is under way.
        PendingUpgrade = "pending-upgrade",
        /// A rollback is under way.
        PendingRollback = "pending-rollback",
    }
}

/// Where a chart comes from and how Helm installs it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmOptions {
    /// The Helm repository, for example `https://charts.bitnami.com/bitnami`; OCI registries
    /// such as `oci://localhost:5000/helm-charts` are supported too.
    #[serde(rename = "repo")]
    #[schemars(pattern(HELM_REPO_PATTERN))]
    pub repository: String,

    /// The secret holding the credentials of the chart repository.
    #[serde(default)]
    pub chart_pull_secret: ChartPullSecret,

    /// Use plain HTTP with an OCI registry. Opt-in, only for registries that do not serve HTTPS.
    #[serde(rename = "plainHTTP", default, skip_serializing_if = "Option::is_none")]
    pub plain_http: Option<bool>,

    /// The name of the chart in the repository.
    pub chart: String,

    /// The chart version; the latest version when empty.
    #[serde(rename = "version", default, skip_serializing_if = "is_default")]
    pub chart_version: String,

    /// Create the release namespace if it does not exist; true when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-clusternet-default" = true))]
    pub create_namespace: Option<bool>,

    /// The timeout, in seconds, of install, upgrade, rollback and uninstall. Like Go, 0 is not
    /// serialised, so the apiserver's default (300) applies.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(
        description = "The timeout, in seconds, of install, upgrade, rollback and uninstall.",
        extend("x-clusternet-default" = 300)
    )]
    pub timeout_seconds: i32,

    /// Wait for the resources after install, upgrade or uninstall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<bool>,

    /// Also wait for Jobs after an upgrade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for_job: Option<bool>,

    /// Reuse the release name if it belongs to a deleted release still in the history. Unsafe in
    /// production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<bool>,

    /// On install: uninstall the release if the install fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atomic: Option<bool>,

    /// On upgrade: roll back the release if the upgrade fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_atomic: Option<bool>,

    /// Do not install CRDs when an upgrade installs the release.
    #[serde(rename = "skipCRDs", default, skip_serializing_if = "Option::is_none")]
    pub skip_crds: Option<bool>,

    /// Replace the CRDs of the chart and its sub-charts before install and upgrade; ignored when
    /// `skipCRDs` is true.
    #[serde(
        rename = "replaceCRDs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub replace_crds: Option<bool>,

    /// Do not run hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_hooks: Option<bool>,

    /// Ignore some warnings and upgrade anyway. Use with care.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
}

/// The secret holding the credentials of a chart repository (keys `username` and `password`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartPullSecret {
    /// The name of the secret.
    #[serde(default, skip_serializing_if = "is_default")]
    pub name: String,

    /// The namespace of the secret.
    #[serde(default, skip_serializing_if = "is_default")]
    pub namespace: String,
}

/// The desired state of a `HelmChart`.
#[derive(
    CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema,
)]
#[kube(
    group = "apps.clusternet.io",
    version = "v1alpha1",
    kind = "HelmChart",
    plural = "helmcharts",
    namespaced,
    shortname = "chart",
    shortname = "charts",
    category = "clusternet",
    status = "HelmChartStatus",
    derive = "Default",
    derive = "PartialEq",
    doc = "A Helm chart that subscriptions can use as a feed.",
    printcolumn = r#"{"name": "CHART", "type": "string", "description": "The helm chart name", "jsonPath": ".spec.chart"}"#,
    printcolumn = r#"{"name": "VERSION", "type": "string", "description": "The helm chart version", "jsonPath": ".spec.version"}"#,
    printcolumn = r#"{"name": "REPO", "type": "string", "description": "The helm repo url", "jsonPath": ".spec.repo"}"#,
    printcolumn = r#"{"name": "STATUS", "type": "string", "description": "The helm chart status", "jsonPath": ".status.phase"}"#,
    printcolumn = r#"{"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartSpec {
    /// The chart and how to install it.
    #[serde(flatten)]
    pub helm_options: HelmOptions,

    /// The namespace the chart is installed into.
    pub target_namespace: String,
}

/// The observed state of a `HelmChart`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartStatus {
    /// Whether the chart was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<HelmChartPhase>,

    /// Why the chart is in this phase.
    #[serde(default, skip_serializing_if = "is_default")]
    pub reason: String,
}

/// The desired state of a `HelmRelease`.
#[derive(
    CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema,
)]
#[kube(
    group = "apps.clusternet.io",
    version = "v1alpha1",
    kind = "HelmRelease",
    plural = "helmreleases",
    namespaced,
    shortname = "hr",
    category = "clusternet",
    status = "HelmReleaseStatus",
    derive = "Default",
    derive = "PartialEq",
    doc = "A Helm release of a chart in one child cluster.",
    printcolumn = r#"{"name": "CHART", "type": "string", "description": "The helm chart name", "jsonPath": ".spec.chart"}"#,
    printcolumn = r#"{"name": "VERSION", "type": "string", "description": "The helm chart version", "jsonPath": ".spec.version"}"#,
    printcolumn = r#"{"name": "REPO", "type": "string", "description": "The helm repo url", "jsonPath": ".spec.repo"}"#,
    printcolumn = r#"{"name": "STATUS", "type": "string", "description": "The helm release status", "jsonPath": ".status.phase"}"#,
    printcolumn = r#"{"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct HelmReleaseSpec {
    /// The chart and how to install it.
    #[serde(flatten)]
    pub helm_options: HelmOptions,

    /// The release name in the child cluster; when unset,
    /// `{Description name}-{HelmChart namespace}-{HelmChart name}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,

    /// The namespace the chart is installed into.
    pub target_namespace: String,

    /// The values of this release (JSON), overriding the chart's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::bytes")]
    pub overrides: Option<ByteString>,
}

/// The observed state of a `HelmRelease`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmReleaseStatus {
    /// When the release was first deployed.
    #[serde(default, skip_serializing_if = "is_default")]
    pub first_deployed: String,

    /// When the release was last deployed.
    #[serde(default, skip_serializing_if = "is_default")]
    pub last_deployed: String,

    /// A human-readable log entry about the release.
    #[serde(default, skip_serializing_if = "is_default")]
    pub description: String,

    /// The current state of the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<HelmReleasePhase>,

    /// The rendered `templates/NOTES.txt`, if any.
    #[serde(default, skip_serializing_if = "is_default")]
    pub notes: String,

    /// The revision of the release.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(schema_with = "crate::schema::int")]
    pub version: i64,
}
