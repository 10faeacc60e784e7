//! Patch metadata: how strategic merge patch treats each field.
//!
//! kube-apiserver reads `patchStrategy`/`patchMergeKey` from Go struct tags; the same information
//! is published in OpenAPI as `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key` on
//! the property schemas. [`LookupPatchMeta`] is strategicpatch's `LookupPatchMeta` interface: a
//! cursor into a schema that yields the sub-schema and [`PatchMeta`] of a field of an object, or
//! of the items of a list field.
//!
//! Implementations:
//!
//! * [`OpenApiPatchMeta`] walks an OpenAPI v3 (or v2) schema given as `serde_json::Value`,
//!   resolving `$ref`s (and `allOf: [{$ref}]` wrappers) through a [`SchemaResolver`];
//! * [`NoPatchMeta`] knows nothing: maps merge, lists are replaced;
//! * [`PathPatchMeta`] looks fields up by their path in a table, for hand-written kinds.
//!
//! ```
//! use clusternet_apimachinery::patch::{LookupPatchMeta, OpenApiPatchMeta};
//! use serde_json::json;
//!
//! let schemas = json!({
//!     "Pod": {"properties": {"spec": {"allOf": [{"$ref": "#/components/schemas/PodSpec"}]}}},
//!     "PodSpec": {"properties": {"containers": {
//!         "type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/Container"}]},
//!         "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"}}},
//!     "Container": {"properties": {"name": {"type": "string"}}},
//! });
//! let schemas = schemas.as_object().unwrap();
//! let pod = OpenApiPatchMeta::from_ref("#/components/schemas/Pod", schemas).unwrap();
//! let (spec, _) = pod.lookup_struct("spec").unwrap();
//! let (_container, meta) = spec.lookup_slice("containers").unwrap();
//! assert_eq!(meta.strategies(), ["merge"]);
//! assert_eq!(meta.merge_key(), Some("name"));
//! ```

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

/// The patch strategy and merge key of one field (`strategicpatch.PatchMeta`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatchMeta {
    strategies: Vec<String>,
    merge_key: String,
}

impl PatchMeta {
    /// Metadata from the extension values: `strategy` is comma-separated (`merge,retainKeys`),
    /// empty strings mean "none".
    pub fn new(strategy: &str, merge_key: &str) -> Self {
        PatchMeta {
            strategies: if strategy.is_empty() {
                Vec::new()
            } else {
                strategy.split(',').map(str::to_string).collect()
            },
            merge_key: merge_key.to_string(),
        }
    }

    /// `merge` by `key` (a list of maps), or a set union (a list of scalars) if `key` is empty.
    pub fn merge(key: &str) -> Self {
        Self::new("merge", key)
    }

    /// The strategies (`merge`, `replace`, `retainKeys`).
    pub fn strategies(&self) -> &[String] {
        &self.strategies
    }

    /// The merge key, if any.
    pub fn merge_key(&self) -> Option<&str> {
        if self.merge_key.is_empty() {
            None
        } else {
            Some(&self.merge_key)
        }
    }

    pub(crate) fn merge_key_str(&self) -> &str {
        &self.merge_key
    }
}

/// Why patch metadata could not be looked up; strategic merge patch fails with this message
/// (kube-apiserver: 500).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LookupError(pub String);

/// strategicpatch's `LookupPatchMeta`: a position in a schema.
pub trait LookupPatchMeta: Sized {
    /// The schema of field `key` of the object at this position, and the field's metadata.
    fn lookup_struct(&self, key: &str) -> Result<(Self, PatchMeta), LookupError>;
    /// For the list field `key` of the object at this position: the schema of its items, and
    /// the field's metadata.
    fn lookup_slice(&self, key: &str) -> Result<(Self, PatchMeta), LookupError>;
    /// The type name used in "cannot merge lists without merge key for `<name>`".
    fn name(&self) -> String {
        "struct".to_string()
    }
}

/// No schema information: every field has empty metadata, so maps merge and lists are replaced
/// (strategic merge patch without directives then behaves like a JSON merge patch, except that
/// `null` deletes and directives are still honoured).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoPatchMeta;

impl LookupPatchMeta for NoPatchMeta {
    fn lookup_struct(&self, _key: &str) -> Result<(Self, PatchMeta), LookupError> {
        Ok((NoPatchMeta, PatchMeta::default()))
    }

    fn lookup_slice(&self, _key: &str) -> Result<(Self, PatchMeta), LookupError> {
        Ok((NoPatchMeta, PatchMeta::default()))
    }
}

/// Patch metadata by field path. Path segments are field names; the items of a list are the
/// segment `[]`, e.g. `spec.template.spec.containers` for the list and
/// `spec.template.spec.containers.[].env` for the `env` of each container.
///
/// ```
/// use clusternet_apimachinery::patch::{LookupPatchMeta, PatchMeta, PathPatchMeta};
///
/// let table = [("spec.ports", PatchMeta::merge("port"))].into_iter().collect();
/// let root = PathPatchMeta::new(&table);
/// let (spec, _) = root.lookup_struct("spec").unwrap();
/// let (_, meta) = spec.lookup_slice("ports").unwrap();
/// assert_eq!(meta.merge_key(), Some("port"));
/// ```
#[derive(Clone, Debug)]
pub struct PathPatchMeta<'a> {
    table: &'a BTreeMap<&'a str, PatchMeta>,
    path: String,
}

impl<'a> PathPatchMeta<'a> {
    /// The root of a table of `path → metadata`.
    pub fn new(table: &'a BTreeMap<&'a str, PatchMeta>) -> Self {
        PathPatchMeta {
            table,
            path: String::new(),
        }
    }

    fn child(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }
}

impl LookupPatchMeta for PathPatchMeta<'_> {
    fn lookup_struct(&self, key: &str) -> Result<(Self, PatchMeta), LookupError> {
        let path = self.child(key);
        let meta = self.table.get(path.as_str()).cloned().unwrap_or_default();
        Ok((
            PathPatchMeta {
                table: self.table,
                path,
            },
            meta,
        ))
    }

    fn lookup_slice(&self, key: &str) -> Result<(Self, PatchMeta), LookupError> {
        let path = self.child(key);
        let meta = self.table.get(path.as_str()).cloned().unwrap_or_default();
        Ok((
            PathPatchMeta {
                table: self.table,
                path: format!("{path}.[]"),
            },
            meta,
        ))
    }
}

/// Resolves a `$ref` (`#/components/schemas/<name>`, `#/definitions/<name>`) to a schema.
///
/// Implemented for a `components.schemas` (or `definitions`) map, for a whole OpenAPI document
/// (the reference is followed as a JSON pointer) and for closures.
pub trait SchemaResolver<'a> {
    /// The schema `reference` points to.
    fn resolve(&self, reference: &str) -> Option<&'a Value>;
}

fn ref_name(reference: &str) -> &str {
    reference
        .strip_prefix("#/components/schemas/")
        .or_else(|| reference.strip_prefix("#/definitions/"))
        .unwrap_or(reference)
}

/// A `components.schemas` (v3) or `definitions` (v2) map.
impl<'a> SchemaResolver<'a> for &'a Map<String, Value> {
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        self.get(ref_name(reference))
    }
}

impl<'a> SchemaResolver<'a> for &'a BTreeMap<String, Value> {
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        self.get(ref_name(reference))
    }
}

impl<'a, S: std::hash::BuildHasher> SchemaResolver<'a> for &'a HashMap<String, Value, S> {
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        self.get(ref_name(reference))
    }
}

/// A whole OpenAPI document: `#/...` references are JSON pointers into it.
impl<'a> SchemaResolver<'a> for &'a Value {
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        self.pointer(reference.strip_prefix('#')?)
    }
}

/// A closure from reference to schema.
#[derive(Clone, Copy, Debug)]
pub struct FnResolver<F>(pub F);

impl<'a, F: Fn(&str) -> Option<&'a Value>> SchemaResolver<'a> for FnResolver<F> {
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        (self.0)(reference)
    }
}

/// How [`OpenApiPatchMeta`] treats `x-kubernetes-list-type` on fields without
/// `x-kubernetes-patch-strategy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListTypes {
    /// Ignore them, as kube-apiserver's strategic merge patch does for built-in kinds (whose
    /// patch strategies come from struct tags: `ResourceRequirements.claims` is a
    /// `list-type: map` that strategic merge patch replaces). Use this for built-in kinds.
    #[default]
    Ignore,
    /// `list-type: map` with exactly one `x-kubernetes-list-map-keys` entry merges by that key,
    /// `list-type: set` merges as a set union, as structured-merge-diff does for custom
    /// resources that declare them. Use this to offer strategic merge patch on CRD-like kinds.
    Merge,
}

/// Patch metadata from an OpenAPI schema (`strategicpatch.PatchMetaFromOpenAPIV3`).
///
/// Unlike kube-apiserver's lookups, a field the schema does not know (or a schema with
/// `x-kubernetes-preserve-unknown-fields`) is not an error: it, and everything under it, has no
/// metadata. (For built-in kinds kube-apiserver never looks up unknown fields: its stored
/// objects are typed, and lookups only happen where both object and patch have a map or list.)
/// Maps with `additionalProperties` descend into that schema.
#[derive(Clone, Copy, Debug)]
pub struct OpenApiPatchMeta<'a, R> {
    schema: Option<&'a Value>,
    resolver: R,
    list_types: ListTypes,
}

impl<'a, R: SchemaResolver<'a> + Copy> OpenApiPatchMeta<'a, R> {
    /// A lookup rooted at `schema` (typically a kind's schema).
    pub fn new(schema: &'a Value, resolver: R) -> Self {
        OpenApiPatchMeta {
            schema: Some(schema),
            resolver,
            list_types: ListTypes::Ignore,
        }
    }

    /// A lookup rooted at the schema `reference` resolves to.
    pub fn from_ref(reference: &str, resolver: R) -> Option<Self> {
        Some(Self::new(resolver.resolve(reference)?, resolver))
    }

    /// Sets how `x-kubernetes-list-type` is treated.
    pub fn with_list_types(mut self, list_types: ListTypes) -> Self {
        self.list_types = list_types;
        self
    }

    /// Follows `$ref` and single `allOf` wrappers to the schema that has the properties.
    fn resolved(&self, schema: &'a Value) -> &'a Value {
        let mut current = schema;
        for _ in 0..64 {
            if let Some(reference) = current.get("$ref").and_then(Value::as_str) {
                match self.resolver.resolve(reference) {
                    Some(next) => {
                        current = next;
                        continue;
                    }
                    None => return current,
                }
            }
            if current.get("properties").is_none()
                && let Some(first) = current
                    .get("allOf")
                    .and_then(Value::as_array)
                    .and_then(|all| all.first())
            {
                current = first;
                continue;
            }
            return current;
        }
        current
    }

    fn child(&self, schema: Option<&'a Value>) -> Self {
        OpenApiPatchMeta {
            schema,
            resolver: self.resolver,
            list_types: self.list_types,
        }
    }

    /// The (unresolved) schema of field `key`, or `None` if unknown.
    fn field(&self, key: &str) -> Option<&'a Value> {
        let object = self.resolved(self.schema?);
        if object
            .get("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool)
            == Some(true)
            && object.get("properties").is_none()
        {
            return None;
        }
        if let Some(field) = object.get("properties").and_then(|p| p.get(key)) {
            return Some(field);
        }
        match object.get("additionalProperties") {
            Some(additional @ Value::Object(_)) => Some(additional),
            _ => None,
        }
    }

    fn meta_of(&self, field: &Value) -> PatchMeta {
        let strategy = field
            .get("x-kubernetes-patch-strategy")
            .and_then(Value::as_str);
        let merge_key = field
            .get("x-kubernetes-patch-merge-key")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(strategy) = strategy {
            return PatchMeta::new(strategy, merge_key);
        }
        if self.list_types == ListTypes::Merge {
            match field.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("map") => {
                    if let Some([Value::String(key)]) = field
                        .get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                    {
                        return PatchMeta::merge(key);
                    }
                }
                Some("set") => return PatchMeta::merge(""),
                _ => {}
            }
        }
        PatchMeta::new("", merge_key)
    }
}

impl<'a, R: SchemaResolver<'a> + Copy> LookupPatchMeta for OpenApiPatchMeta<'a, R> {
    fn lookup_struct(&self, key: &str) -> Result<(Self, PatchMeta), LookupError> {
        let Some(field) = self.field(key) else {
            return Ok((self.child(None), PatchMeta::default()));
        };
        Ok((self.child(Some(self.resolved(field))), self.meta_of(field)))
    }

    fn lookup_slice(&self, key: &str) -> Result<(Self, PatchMeta), LookupError> {
        let Some(field) = self.field(key) else {
            return Ok((self.child(None), PatchMeta::default()));
        };
        let meta = self.meta_of(field);
        let items = self.resolved(field).get("items").map(|i| self.resolved(i));
        Ok((self.child(items), meta))
    }
}

/// Finds the schema of a kind in a `components.schemas` (or `definitions`) map by its
/// `x-kubernetes-group-version-kind` extension.
pub fn find_schema_by_gvk<'a>(
    schemas: &'a Map<String, Value>,
    group: &str,
    version: &str,
    kind: &str,
) -> Option<&'a Value> {
    schemas.values().find(|schema| {
        schema
            .get("x-kubernetes-group-version-kind")
            .and_then(Value::as_array)
            .is_some_and(|gvks| {
                gvks.iter().any(|gvk| {
                    gvk.get("group").and_then(Value::as_str).unwrap_or_default() == group
                        && gvk.get("version").and_then(Value::as_str) == Some(version)
                        && gvk.get("kind").and_then(Value::as_str) == Some(kind)
                })
            })
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schemas() -> Value {
        json!({
            "Deployment": {
                "type": "object",
                "x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "Deployment"}],
                "properties": {
                    "metadata": {"default": {}, "allOf": [{"$ref": "#/components/schemas/ObjectMeta"}]},
                    "spec": {"$ref": "#/components/schemas/Spec"}
                }
            },
            "ObjectMeta": {"properties": {
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "finalizers": {"type": "array", "items": {"type": "string"},
                               "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"}
            }},
            "Spec": {"properties": {
                "volumes": {"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/Volume"}]},
                            "x-kubernetes-patch-strategy": "merge,retainKeys",
                            "x-kubernetes-patch-merge-key": "name"},
                "claims": {"type": "array", "items": {"type": "object"},
                           "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
                "ports": {"type": "array", "items": {"type": "object"},
                          "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "protocol"]},
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }},
            "Volume": {"properties": {"name": {"type": "string"}, "emptyDir": {"type": "object"}}}
        })
    }

    #[test]
    fn resolves_refs_and_reads_extensions() {
        let doc = schemas();
        let map = doc.as_object().unwrap();
        let root = OpenApiPatchMeta::new(&map["Deployment"], map);
        let (meta, m) = root.lookup_struct("metadata").unwrap();
        assert_eq!(m, PatchMeta::default());
        let (_, fin) = meta.lookup_slice("finalizers").unwrap();
        assert_eq!(fin, PatchMeta::merge(""));
        let (labels, _) = meta.lookup_struct("labels").unwrap();
        let (label, _) = labels.lookup_struct("any").unwrap();
        assert_eq!(label.schema, Some(&json!({"type": "string"})));
        let (spec, _) = root.lookup_struct("spec").unwrap();
        let (volume, vm) = spec.lookup_slice("volumes").unwrap();
        assert_eq!(vm.strategies(), ["merge", "retainKeys"]);
        assert_eq!(vm.merge_key(), Some("name"));
        assert_eq!(volume.schema, Some(&map["Volume"]));
        // Unknown fields have no metadata, and neither has anything below them.
        let (unknown, um) = spec.lookup_struct("nope").unwrap();
        assert_eq!(um, PatchMeta::default());
        assert_eq!(unknown.lookup_slice("x").unwrap().1, PatchMeta::default());
        let (free, _) = spec.lookup_struct("free").unwrap();
        assert_eq!(free.lookup_struct("x").unwrap().1, PatchMeta::default());
    }

    #[test]
    fn list_types_only_when_asked() {
        let doc = schemas();
        let map = doc.as_object().unwrap();
        let root = OpenApiPatchMeta::new(&map["Deployment"], map);
        let spec = root.lookup_struct("spec").unwrap().0;
        assert_eq!(spec.lookup_slice("claims").unwrap().1, PatchMeta::default());
        let spec = spec.with_list_types(ListTypes::Merge);
        assert_eq!(
            spec.lookup_slice("claims").unwrap().1,
            PatchMeta::merge("name")
        );
        // Two map keys cannot be expressed as one merge key: replaced.
        assert_eq!(spec.lookup_slice("ports").unwrap().1, PatchMeta::default());
        assert_eq!(spec.lookup_slice("tags").unwrap().1, PatchMeta::merge(""));
    }

    #[test]
    fn document_resolver_and_gvk() {
        let doc = json!({"components": {"schemas": schemas()}});
        let root = OpenApiPatchMeta::from_ref("#/components/schemas/Deployment", &doc).unwrap();
        let (spec, _) = root.lookup_struct("spec").unwrap();
        assert_eq!(
            spec.lookup_slice("volumes").unwrap().1.merge_key(),
            Some("name")
        );
        let map = doc["components"]["schemas"].as_object().unwrap();
        assert!(find_schema_by_gvk(map, "apps", "v1", "Deployment").is_some());
        assert!(find_schema_by_gvk(map, "", "v1", "Deployment").is_none());
        let by_fn = FnResolver(|r: &str| map.get(ref_name(r)));
        assert!(OpenApiPatchMeta::from_ref("#/components/schemas/Spec", by_fn).is_some());
    }
}
