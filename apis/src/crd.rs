//! CustomResourceDefinitions generated from the Rust types.
//!
//! `kube`'s `CustomResource` derive provides each CRD's names, scope, printer columns and
//! subresources ([`CustomResourceExt::crd`]). The OpenAPI schema is generated here with `schemars`
//! (OpenAPI 3 settings, every subschema inlined, like `kube` does) and then normalised so that it
//! matches what controller-gen emits for Go Clusternet:
//!
//! * `Option<T>` is an optional field, not a nullable one: no `nullable: true` anywhere, the
//!   `anyOf: [T, null]` that schemars emits for optional structs is folded into `T` (the field's
//!   own description wins over the type's).
//! * Enums whose variants carry docs (`oneOf` of single values) become one `enum`.
//! * Defaults only where Go has `+kubebuilder:default`. schemars derives a `default` from every
//!   `#[serde(default)]`; all of those are removed, and the Go defaults are declared on the fields
//!   with the marker `#[schemars(extend("x-clusternet-default" = ...))]`, which becomes `default`.
//! * Int-or-string values (`resource.Quantity`) get `anyOf: [{type: integer}, {type: string}]`.
//! * `required` lists are sorted; `title`s are dropped.
//! * The root schema gets `apiVersion`, `kind` and `metadata` like controller-gen's.
//!
//! Finally a few per-kind facts that the derive cannot express are applied: `listKind`, an empty
//! `subresources: {}` for kinds without status, and an optional `spec` where Go's is `omitempty`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceSubresources, CustomResourceValidation, JSONSchemaProps,
};
use kube::core::crd::v1::CustomResourceExt;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::apps::v1alpha1::{
    Base, Description, FeedInventory, Globalization, HelmChart, HelmRelease, Localization,
    Manifest, Subscription,
};
use crate::clusters::v1beta1::{ClusterRegistrationRequest, ManagedCluster};
use crate::multicluster::v1alpha1::{ServiceExport, ServiceImport};

/// The schema extension that declares a field's CRD default (Go's `+kubebuilder:default`).
/// It is renamed to `default` when the CRD is assembled.
pub(crate) const DEFAULT_MARKER: &str = "x-clusternet-default";

/// A CRD could not be generated or rendered. This is a bug in this crate.
#[derive(Debug)]
pub struct CrdError {
    crd: String,
    message: String,
}

impl CrdError {
    fn new(crd: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            crd: crd.into(),
            message: message.to_string(),
        }
    }
}

impl std::fmt::Display for CrdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CRD {}: {}", self.crd, self.message)
    }
}

impl std::error::Error for CrdError {}

/// Every CRD, in the order of [`crd_files`].
///
/// # Panics
///
/// If a schema cannot be turned into a `JSONSchemaProps`, which would be a bug in this crate
/// (the crate's tests generate every CRD). Use [`try_crds`] to get an error instead.
pub fn crds() -> Vec<CustomResourceDefinition> {
    match try_crds() {
        Ok(crds) => crds,
        Err(err) => panic!("generating Clusternet's CRDs failed: {err}"),
    }
}

/// Every CRD, in the order of [`crd_files`], or the first error.
pub fn try_crds() -> Result<Vec<CustomResourceDefinition>, CrdError> {
    Ok(crd_files()?.into_iter().map(|(_, crd)| crd).collect())
}

/// Every CRD with the name of its file in `deploy/crds/`, `<group>_<plural>.yaml` (the names of
/// Go Clusternet's `manifests/crds/`), sorted by file name.
pub fn crd_files() -> Result<Vec<(String, CustomResourceDefinition)>, CrdError> {
    // Clusternet's own CRDs come from controller-gen, which always sets `listKind` and writes
    // an empty `subresources: {}` for kinds with printer columns but no status. The MCS CRDs are
    // hand-written upstream and have neither.
    let controller_gen = Shape {
        spec: Spec::Required,
        list_kind: true,
        empty_subresources: true,
    };
    let mcs = Shape {
        spec: Spec::Optional,
        list_kind: false,
        empty_subresources: false,
    };
    let mut crds = vec![
        build::<Base>(controller_gen)?,
        build::<Description>(controller_gen)?,
        build::<FeedInventory>(Shape {
            empty_subresources: false,
            ..controller_gen
        })?,
        build::<Globalization>(controller_gen)?,
        build::<HelmChart>(controller_gen)?,
        build::<HelmRelease>(controller_gen)?,
        build::<Localization>(controller_gen)?,
        build::<Manifest>(Shape {
            spec: Spec::None,
            ..controller_gen
        })?,
        build::<Subscription>(controller_gen)?,
        build::<ClusterRegistrationRequest>(Shape {
            spec: Spec::Optional,
            ..controller_gen
        })?,
        build::<ManagedCluster>(Shape {
            spec: Spec::Optional,
            ..controller_gen
        })?,
        build::<ServiceExport>(Shape {
            spec: Spec::None,
            ..mcs
        })?,
        build::<ServiceImport>(mcs)?,
    ]
    .into_iter()
    .map(|crd| {
        (
            format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural),
            crd,
        )
    })
    .collect::<Vec<_>>();
    crds.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(crds)
}

/// The first line of every file `crdgen` writes.
pub const GENERATED_HEADER: &str =
    "# Generated from the Rust types in apis/ by `make crds` (crdgen). DO NOT EDIT.\n";

/// Renders a CRD as YAML, the way `crdgen` writes it: [`GENERATED_HEADER`], then one document.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, CrdError> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let body = serde_saphyr::to_string(crd).map_err(|err| CrdError::new(&name, err))?;
    Ok(format!("{GENERATED_HEADER}---\n{body}"))
}

/// Per-kind facts of a CRD that the derive does not express.
#[derive(Clone, Copy)]
struct Shape {
    spec: Spec,
    /// Set `names.listKind` to `<kind>List`.
    list_kind: bool,
    /// Write `subresources: {}` when there is no status subresource.
    empty_subresources: bool,
}

/// Whether the root schema has a `spec`, and whether it is required.
#[derive(Clone, Copy)]
enum Spec {
    /// `spec` without `omitempty` in Go: required.
    Required,
    /// `spec,omitempty` in Go: optional.
    Optional,
    /// No `spec` (its fields sit at the root, or there are none).
    None,
}

fn build<K>(shape: Shape) -> Result<CustomResourceDefinition, CrdError>
where
    K: CustomResourceExt + JsonSchema,
{
    let mut crd = K::crd();
    let name = K::crd_name();

    let mut schema = root_schema::<K>();
    if let Spec::Optional = shape.spec
        && let Some(Value::Array(required)) = schema.get_mut("required")
    {
        required.retain(|r| r != "spec");
        if required.is_empty() {
            schema.remove("required");
        }
    }
    let props: JSONSchemaProps =
        serde_json::from_value(Value::Object(schema)).map_err(|err| CrdError::new(name, err))?;

    if shape.list_kind {
        crd.spec.names.list_kind = Some(format!("{}List", crd.spec.names.kind));
    }
    for version in &mut crd.spec.versions {
        version.schema = Some(CustomResourceValidation {
            open_api_v3_schema: Some(props.clone()),
        });
        if shape.empty_subresources && version.subresources.is_none() {
            version.subresources = Some(CustomResourceSubresources::default());
        }
    }
    Ok(crd)
}

/// The normalised root schema of `K`, as JSON.
pub(crate) fn root_schema<K: JsonSchema>() -> Map<String, Value> {
    let generator = SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let mut schema = generator.into_root_schema_for::<K>().to_value();
    normalize(&mut schema);

    let mut root = match schema {
        Value::Object(root) => root,
        // A struct's schema is always an object; keep whatever it is under `properties` otherwise.
        other => Map::from_iter([("x-invalid".to_string(), other)]),
    };
    let properties = root
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(properties) = properties {
        properties.insert(
            "apiVersion".into(),
            json!({
                "description": "The versioned schema of this representation of an object. Servers convert recognised schemas to the latest internal value and may reject unrecognised values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                "type": "string",
            }),
        );
        properties.insert(
            "kind".into(),
            json!({
                "description": "The REST resource this object represents, in CamelCase. Servers may infer it from the endpoint the client submits requests to. Cannot be updated. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "type": "string",
            }),
        );
        properties.insert("metadata".into(), json!({ "type": "object" }));
    }
    root.insert("type".into(), json!("object"));
    root
}

/// Rewrites a schemars schema (and its subschemas) into the form controller-gen emits.
fn normalize(schema: &mut Value) {
    let Value::Object(map) = schema else {
        return;
    };

    fold_optional(map);
    hoist_enum_variants(map);

    map.remove("nullable");
    map.remove("title");
    map.remove("default");
    if let Some(default) = map.remove(DEFAULT_MARKER) {
        map.insert("default".into(), default);
    }
    if map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        map.insert(
            "anyOf".into(),
            json!([{ "type": "integer" }, { "type": "string" }]),
        );
    }
    if let Some(Value::Array(required)) = map.get_mut("required") {
        required.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        required.dedup();
        if required.is_empty() {
            map.remove("required");
        }
    }

    // Recurse into subschemas only: property names, enum values and extensions are data.
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        properties.values_mut().for_each(normalize);
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(sub) = map.get_mut(key) {
            normalize(sub);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(subs)) = map.get_mut(key) {
            subs.iter_mut().for_each(normalize);
        }
    }
}

/// Whether `schema` only accepts `null` (the second branch of an `Option<T>`'s `anyOf`).
fn is_null_schema(schema: &Value) -> bool {
    let Value::Object(map) = schema else {
        return false;
    };
    map.get("type") == Some(&json!("null"))
        || map.get("const") == Some(&Value::Null)
        || map.get("enum") == Some(&json!([null]))
}

/// Folds `anyOf: [T, null]` (an `Option<T>` whose schema is not a simple type) into `T`, keeping
/// the keys already present on the outer schema (the field's description).
fn fold_optional(map: &mut Map<String, Value>) {
    let Some(Value::Array(any_of)) = map.get("anyOf") else {
        return;
    };
    if any_of.len() != 2 || !is_null_schema(&any_of[1]) || is_null_schema(&any_of[0]) {
        return;
    }
    let inner = any_of[0].clone();
    map.remove("anyOf");
    if let Value::Object(inner) = inner {
        for (key, value) in inner {
            map.entry(key).or_insert(value);
        }
    }
    // The inner schema may itself be an `Option`.
    fold_optional(map);
}

/// Turns `oneOf: [{type: string, enum: [a]}, {type: string, enum: [b]}]` (a unit enum whose
/// variants have docs) into `type: string, enum: [a, b]`.
fn hoist_enum_variants(map: &mut Map<String, Value>) {
    let Some(Value::Array(one_of)) = map.get("oneOf") else {
        return;
    };
    let mut values = Vec::new();
    for variant in one_of {
        let Some(Value::Array(variant_values)) = variant.get("enum") else {
            return;
        };
        if variant.get("type") != Some(&json!("string")) {
            return;
        }
        values.extend(variant_values.iter().cloned());
    }
    map.remove("oneOf");
    map.insert("type".into(), json!("string"));
    map.insert("enum".into(), Value::Array(values));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first place where two JSON values differ (numbers compare by value: the typed
    /// schema stores `1000` as `1000.0`).
    fn first_difference(path: &str, a: &Value, b: &Value) -> Option<String> {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => a
                .keys()
                .chain(b.keys().filter(|key| !a.contains_key(*key)))
                .find_map(|key| match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => first_difference(&format!("{path}/{key}"), x, y),
                    (x, y) => Some(format!("{path}/{key}: {x:?} != {y:?}")),
                }),
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
                .iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| first_difference(&format!("{path}/{i}"), x, y)),
            (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
            (x, y) if x == y => None,
            (x, y) => Some(format!("{path}: {x} != {y}")),
        }
    }

    #[test]
    fn every_crd_converts_without_losing_schema_keys() {
        // Everything normalize() produced must survive the conversion to JSONSchemaProps:
        // serde would silently drop keys that are not part of the OpenAPI subset Kubernetes uses.
        fn check<K: CustomResourceExt + JsonSchema>() {
            let schema = Value::Object(root_schema::<K>());
            let props: JSONSchemaProps = serde_json::from_value(schema.clone()).expect("convert");
            let back = serde_json::to_value(&props).expect("serialise");
            if let Some(difference) = first_difference("", &schema, &back) {
                panic!("{} changed in the conversion: {difference}", K::crd_name());
            }
        }

        check::<Base>();
        check::<Description>();
        check::<FeedInventory>();
        check::<Globalization>();
        check::<HelmChart>();
        check::<HelmRelease>();
        check::<Localization>();
        check::<Manifest>();
        check::<Subscription>();
        check::<ClusterRegistrationRequest>();
        check::<ManagedCluster>();
        check::<ServiceExport>();
        check::<ServiceImport>();
    }

    #[test]
    fn the_conversion_check_can_fail() {
        let schema = json!({ "type": "object", "x-unknown": true, "maximum": 1000 });
        let props: JSONSchemaProps = serde_json::from_value(schema.clone()).expect("convert");
        let back = serde_json::to_value(&props).expect("serialise");
        assert_eq!(
            first_difference("", &schema, &back).as_deref(),
            Some("/x-unknown: Some(Bool(true)) != None")
        );
    }

    #[test]
    fn no_schemars_artifacts_are_left() {
        for (file, crd) in crd_files().expect("crds") {
            let text = serde_json::to_string(&crd).expect("serialise");
            for artifact in [
                "nullable",
                DEFAULT_MARKER,
                "\"oneOf\"",
                "\"title\"",
                "\"$ref\"",
                "uint",
            ] {
                assert!(!text.contains(artifact), "{file} contains {artifact}");
            }
        }
    }

    #[test]
    fn optional_struct_keeps_the_field_description() {
        let mut schema = json!({
            "description": "field doc",
            "anyOf": [
                { "description": "type doc", "type": "object", "properties": { "a": { "type": "string" } } },
                { "nullable": true, "enum": [null] },
            ],
        });
        normalize(&mut schema);
        assert_eq!(
            schema,
            json!({
                "description": "field doc",
                "type": "object",
                "properties": { "a": { "type": "string" } },
            })
        );
    }

    #[test]
    fn documented_enum_variants_are_hoisted() {
        let mut schema = json!({
            "description": "field doc",
            "oneOf": [
                { "type": "string", "enum": ["A"], "description": "a" },
                { "type": "string", "enum": ["B"], "description": "b" },
            ],
        });
        normalize(&mut schema);
        assert_eq!(
            schema,
            json!({ "description": "field doc", "type": "string", "enum": ["A", "B"] })
        );
    }

    #[test]
    fn only_marked_defaults_survive() {
        let mut schema = json!({
            "type": "object",
            "properties": {
                "a": { "type": "boolean", "default": false },
                "b": { "type": "string", "x-clusternet-default": "Pull" },
            },
            "required": ["z", "b", "a"],
        });
        normalize(&mut schema);
        assert_eq!(
            schema,
            json!({
                "type": "object",
                "properties": {
                    "a": { "type": "boolean" },
                    "b": { "type": "string", "default": "Pull" },
                },
                "required": ["a", "b", "z"],
            })
        );
    }
}
