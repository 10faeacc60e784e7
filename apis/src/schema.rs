//! CRD schema building blocks.
//!
//! The Rust field types of Clusternet's APIs come from `k8s-openapi` (for example
//! `Vec<Toleration>`), which serialises them exactly like Go does. Their `schemars` schemas,
//! however, lack what controller-gen emits for the same Go types in Clusternet's CRDs: required
//! fields, `x-kubernetes-list-type` / `x-kubernetes-map-type`, the `Quantity` pattern, the
//! validations of `metav1.Condition`, and so on. The structs in this module are *schema-only*
//! mirrors of those upstream types (as of the `k8s.io/api` release Clusternet builds with) and are
//! used through `#[schemars(with = "...")]`; they are never constructed.
//!
//! The free functions are `#[schemars(schema_with = "...")]` helpers for Go scalar types whose
//! schema differs from the natural Rust one (`uint64`, `int`, `float32`, `[]byte`, ...).

// The mirror types only exist for their `JsonSchema` implementation.
#![allow(dead_code)]

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// The regular expression every `resource.Quantity` string must match.
pub(crate) const QUANTITY_PATTERN: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

/// Go `int64`/`uint64`: controller-gen maps both to `integer`/`int64`.
pub(crate) fn int64(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer", "format": "int64" })
}

/// Go `int`: `integer` without a format.
pub(crate) fn int(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer" })
}

/// Go `float32`/`float64`: `number` without a format.
pub(crate) fn number(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "number" })
}

/// Go `[]byte`: a base64 string.
pub(crate) fn bytes(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "format": "byte" })
}

/// Go `[][]byte`: a list of base64 strings.
pub(crate) fn bytes_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": { "type": "string", "format": "byte" },
    })
}

/// Go `runtime.RawExtension` marked `+kubebuilder:pruning:PreserveUnknownFields`: any object.
pub(crate) fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// `resource.Quantity`: an integer or a string matching [`QUANTITY_PATTERN`].
///
/// The `anyOf: [{type: integer}, {type: string}]` that controller-gen adds next to
/// `x-kubernetes-int-or-string` is inserted when the CRD is assembled (see `crate::crd`), because
/// kube's structural-schema rewriter would strip the types out of an `anyOf` here.
pub(crate) fn quantity(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "pattern": QUANTITY_PATTERN,
        "x-kubernetes-int-or-string": true,
    })
}

/// `corev1.ResourceList`: a map from resource name to [`quantity`].
pub(crate) fn resource_list(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": quantity(generator),
    })
}

/// A label selector: `matchLabels` and `matchExpressions` are ANDed; an empty selector matches
/// everything.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-map-type" = "atomic"))]
pub(crate) struct LabelSelector {
    /// Label selector requirements, ANDed together.
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    match_expressions: Option<Vec<LabelSelectorRequirement>>,
    /// Exact `{key: value}` pairs; each is equivalent to an `In` requirement with a single value.
    match_labels: Option<BTreeMap<String, String>>,
}

/// One requirement of a label selector: a key, an operator and values.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LabelSelectorRequirement {
    /// The label key the requirement applies to.
    key: String,
    /// How the key relates to the values: `In`, `NotIn`, `Exists` or `DoesNotExist`.
    operator: String,
    /// The values; non-empty for `In`/`NotIn`, empty for `Exists`/`DoesNotExist`.
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    values: Option<Vec<String>>,
}

/// Tolerates taints that match the `<key, value, effect>` triple under `operator`.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Toleration {
    /// The taint effect to match; empty matches every effect (`NoSchedule`, `PreferNoSchedule`,
    /// `NoExecute`).
    effect: Option<String>,
    /// The taint key to match; empty (with operator `Exists`) matches every key.
    key: Option<String>,
    /// `Exists` or `Equal` (the default).
    operator: Option<String>,
    /// For `NoExecute` taints: how long the taint is tolerated; unset means forever.
    toleration_seconds: Option<i64>,
    /// The taint value to match when the operator is `Equal`.
    value: Option<String>,
}

/// A taint: repels everything that does not tolerate it.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Taint {
    /// Required. What happens to things that do not tolerate the taint: `NoSchedule`,
    /// `PreferNoSchedule` or `NoExecute`.
    effect: String,
    /// Required. The taint key.
    key: String,
    /// When the taint was added (only written for `NoExecute` taints).
    #[serde(default)]
    #[schemars(schema_with = "date_time")]
    time_added: Option<String>,
    /// The taint value.
    value: Option<String>,
}

fn date_time(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "format": "date-time" })
}

/// How a group of replicas is spread over topology domains.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TopologySpreadConstraint {
    /// Selects the objects counted in each topology domain.
    label_selector: Option<LabelSelector>,
    /// Label keys whose values are taken from the incoming object and ANDed with `labelSelector`.
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    match_label_keys: Option<Vec<String>>,
    /// Required. The maximum permitted difference in the number of matching objects between
    /// any two topology domains.
    max_skew: i32,
    /// The minimum number of eligible domains.
    min_domains: Option<i32>,
    /// Whether node affinity/selector is honoured when computing skew: `Honor` or `Ignore`.
    node_affinity_policy: Option<String>,
    /// Whether node taints are honoured when computing skew: `Honor` or `Ignore`.
    node_taints_policy: Option<String>,
    /// Required. The label key that defines a topology domain.
    topology_key: String,
    /// Required. What to do when the constraint cannot be satisfied: `DoNotSchedule` or
    /// `ScheduleAnyway`.
    when_unsatisfiable: String,
}

/// A weighted node selector term: matching nodes get `weight` added to their score.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PreferredSchedulingTerm {
    /// The node selector term, associated with the weight.
    preference: NodeSelectorTerm,
    /// Weight in the range 1-100.
    weight: i32,
}

/// A node selector term: its requirements are ANDed.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-map-type" = "atomic"))]
pub(crate) struct NodeSelectorTerm {
    /// Requirements on node labels.
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    match_expressions: Option<Vec<NodeSelectorRequirement>>,
    /// Requirements on node fields.
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    match_fields: Option<Vec<NodeSelectorRequirement>>,
}

/// One requirement of a node selector: a key, an operator and values.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeSelectorRequirement {
    /// The label or field key the requirement applies to.
    key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt` or `Lt`.
    operator: String,
    /// The values to compare with.
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    values: Option<Vec<String>>,
}

/// A node selector: the union (OR) of its terms.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-map-type" = "atomic"))]
pub(crate) struct NodeSelector {
    /// Required. The terms, ORed together.
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    node_selector_terms: Vec<NodeSelectorTerm>,
}

/// Scheduling constraints: node affinity, pod affinity and pod anti-affinity.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Affinity {
    /// Node affinity scheduling rules.
    node_affinity: Option<NodeAffinity>,
    /// Rules to co-locate with other pods.
    pod_affinity: Option<PodAffinity>,
    /// Rules to keep away from other pods.
    pod_anti_affinity: Option<PodAntiAffinity>,
}

/// Node affinity scheduling rules.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeAffinity {
    /// Soft rules: nodes matching more (heavier) terms are preferred.
    #[serde(rename = "preferredDuringSchedulingIgnoredDuringExecution")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    preferred: Option<Vec<PreferredSchedulingTerm>>,
    /// Hard rules: only nodes matching them are eligible.
    #[serde(rename = "requiredDuringSchedulingIgnoredDuringExecution")]
    required: Option<NodeSelector>,
}

/// Rules to co-locate with other pods.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodAffinity {
    /// Soft rules, weighted.
    #[serde(rename = "preferredDuringSchedulingIgnoredDuringExecution")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    preferred: Option<Vec<WeightedPodAffinityTerm>>,
    /// Hard rules, all of which must hold.
    #[serde(rename = "requiredDuringSchedulingIgnoredDuringExecution")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    required: Option<Vec<PodAffinityTerm>>,
}

/// Rules to keep away from other pods.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodAntiAffinity {
    /// Soft rules, weighted.
    #[serde(rename = "preferredDuringSchedulingIgnoredDuringExecution")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    preferred: Option<Vec<WeightedPodAffinityTerm>>,
    /// Hard rules, all of which must hold.
    #[serde(rename = "requiredDuringSchedulingIgnoredDuringExecution")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    required: Option<Vec<PodAffinityTerm>>,
}

/// A pod affinity term with a weight.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WeightedPodAffinityTerm {
    /// Required. The pod affinity term, associated with the weight.
    pod_affinity_term: PodAffinityTerm,
    /// Weight in the range 1-100.
    weight: i32,
}

/// Selects a set of pods, in some namespaces, relative to a topology domain.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodAffinityTerm {
    /// The pods to match.
    label_selector: Option<LabelSelector>,
    /// Label keys whose values are taken from the incoming pod and ANDed with `labelSelector`.
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    match_label_keys: Option<Vec<String>>,
    /// Label keys whose values are taken from the incoming pod and negated in `labelSelector`.
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    mismatch_label_keys: Option<Vec<String>>,
    /// The namespaces to look in, by label.
    namespace_selector: Option<LabelSelector>,
    /// The namespaces to look in, by name.
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    namespaces: Option<Vec<String>>,
    /// The node label key that defines co-location.
    topology_key: String,
}

/// Compute resource requirements.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceRequirements {
    /// Dynamically allocated resources (resource claims) used.
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    claims: Option<Vec<ResourceClaim>>,
    /// The maximum amount of compute resources allowed.
    #[serde(default)]
    #[schemars(schema_with = "resource_list")]
    limits: Option<BTreeMap<String, String>>,
    /// The minimum amount of compute resources required.
    #[serde(default)]
    #[schemars(schema_with = "resource_list")]
    requests: Option<BTreeMap<String, String>>,
}

/// A reference to one resource claim.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceClaim {
    /// The name of an entry in the pod's resource claims.
    name: String,
    /// The name of a request within that claim, if only one request is meant.
    request: Option<String>,
}

/// One aspect of the observed state of an object (`metav1.Condition`).
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Condition {
    /// When the condition last changed from one status to another.
    #[schemars(schema_with = "date_time")]
    last_transition_time: String,
    /// A human-readable message about the transition; may be empty.
    #[schemars(length(max = 32768))]
    message: String,
    /// The `.metadata.generation` the condition was computed from.
    #[schemars(range(min = 0))]
    observed_generation: Option<i64>,
    /// A CamelCase, machine-readable reason for the last transition; never empty.
    #[schemars(
        length(min = 1, max = 1024),
        pattern(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    )]
    reason: String,
    /// The status of the condition: `True`, `False` or `Unknown`.
    status: ConditionStatus,
    /// The condition type, in CamelCase or `foo.example.com/CamelCase`.
    #[schemars(
        length(max = 316),
        pattern(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$")
    )]
    r#type: String,
}

#[derive(JsonSchema)]
enum ConditionStatus {
    True,
    False,
    Unknown,
}

/// Session affinity configuration of a service.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionAffinityConfig {
    /// Settings of client-IP based session affinity.
    #[serde(rename = "clientIP")]
    client_ip: Option<ClientIpConfig>,
}

/// Settings of client-IP based session affinity.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClientIpConfig {
    /// How long a client sticks to one backend, in seconds (0 < value <= 86400; default 10800).
    timeout_seconds: Option<i32>,
}
