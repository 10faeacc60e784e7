//! `Localization` (overrides for one cluster) and the override settings it shares with
//! `Globalization`.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Feed;
use crate::macros::closed_enum;
use crate::util::is_default;

closed_enum! {
    /// When overrides take effect.
    #[derive(Default)]
    pub enum OverridePolicy {
        /// Apply to every matching object at once, including objects already deployed.
        ApplyNow = "ApplyNow",
        /// Apply on the next update of a matching object (of the Subscription, Manifest,
        /// HelmChart, ...) or to new objects (the default).
        #[default]
        ApplyLater = "ApplyLater",
    }
}

closed_enum! {
    /// How an override value is applied. Strategic merge patches are not supported, because
    /// `patchStrategy` and `patchMergeKey` cannot be known for arbitrary objects.
    pub enum OverrideType {
        /// Helm values, merged into the values of matching HelmCharts (HelmCharts only).
        Helm = "Helm",
        /// A JSON patch (RFC 6902) applied to matching objects (not HelmCharts).
        JsonPatch = "JSONPatch",
        /// A JSON merge patch (RFC 7386) applied to matching objects (not HelmCharts).
        MergePatch = "MergePatch",
        /// A JSON patch applied to the content of one field (`fieldPath`) of matching objects
        /// (not HelmCharts).
        FieldJsonPatch = "FieldJSONPatch",
        /// A JSON merge patch applied to the content of one field (`fieldPath`) of matching
        /// objects (not HelmCharts).
        FieldMergePatch = "FieldMergePatch",
    }
}

closed_enum! {
    /// The format of the field patched by a field patch.
    #[derive(Default)]
    pub enum FieldFormatType {
        /// YAML (the default).
        #[default]
        Yaml = "YAML",
        /// JSON.
        Json = "JSON",
    }
}

/// One override.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverrideConfig {
    /// The name of the override.
    #[serde(default, skip_serializing_if = "is_default")]
    pub name: String,

    /// The override value, in YAML or JSON.
    pub value: String,

    /// How the value is applied.
    pub r#type: OverrideType,

    /// Whether the value overrides the HelmChart object itself rather than the chart's values.
    #[serde(default, skip_serializing_if = "is_default")]
    pub override_chart: bool,

    /// The path of the field a field patch applies to.
    #[serde(default, skip_serializing_if = "is_default")]
    pub field_path: String,

    /// The format of the field a field patch applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_format: Option<FieldFormatType>,
}

/// The desired state of a `Localization`.
#[derive(
    CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema,
)]
#[kube(
    group = "apps.clusternet.io",
    version = "v1alpha1",
    kind = "Localization",
    plural = "localizations",
    namespaced,
    shortname = "loc",
    shortname = "local",
    category = "clusternet",
    derive = "Default",
    derive = "PartialEq",
    doc = "Overrides of a group of resources for the one cluster whose dedicated namespace holds the Localization.",
    printcolumn = r#"{"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct LocalizationSpec {
    /// When the overrides take effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-clusternet-default" = "ApplyLater"))]
    pub override_policy: Option<OverridePolicy>,

    /// The overrides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<OverrideConfig>,

    /// The importance of this Localization relative to others: they are applied from lower to
    /// higher priority, so values of a higher priority win. Like Go, 0 is not serialised, so
    /// the apiserver's default (500) applies.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(
        description = "The importance of this Localization relative to others (0-1000): they are applied from lower to higher priority, so values of a higher priority win." ,
        range(min = 0, max = 1000),
        extend("x-clusternet-default" = 500)
    )]
    pub priority: i32,

    /// The object the overrides apply to.
    #[serde(default)]
    pub feed: Feed,
}
