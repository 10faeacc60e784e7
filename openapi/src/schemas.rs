//! Assembling the schema section of one document: the schemas its operations name, everything
//! they reference (transitively), with `x-kubernetes-group-version-kind` set to the kinds the
//! document serves.
//!
//! Schemas are copied as JSON, so every vendor extension of the source (`x-kubernetes-patch-
//! strategy`, `x-kubernetes-patch-merge-key`, `x-kubernetes-list-type`, `x-kubernetes-list-map-
//! keys`, `x-kubernetes-int-or-string`, …) survives untouched; only the group-version-kind list
//! of the served kinds (and of the per-group-version meta kinds) is rewritten.
//!
//! A document never refers to a schema it does not contain: a kind the catalog has no schema
//! for gets a permissive object schema, and so does a dangling reference; both are reported as
//! [`Warning`]s.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::builtin::{self, GVK_EXTENSION, PER_GROUP_VERSION_KINDS};
use crate::catalog::{Catalog, Dialect, parse_gvks};
use crate::error::{Error, Warning};
use crate::model::{GroupVersion, GroupVersionKind};

const API_VERSION_DESCRIPTION: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DESCRIPTION: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const OBJECT_META_DESCRIPTION: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const LIST_META_DESCRIPTION: &str = "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// Appends the names of the schemas `schema` references (in `dialect`'s reference form).
///
/// The walk follows schema keywords only, so a property that happens to be called `$ref` (as in
/// CustomResourceDefinition's JSONSchemaProps) or a `$ref` inside a default value is not taken
/// for a reference.
pub(crate) fn collect_refs(schema: &Value, dialect: Dialect, out: &mut Vec<String>) {
    let Value::Object(map) = schema else { return };
    for (key, value) in map {
        match key.as_str() {
            "$ref" => {
                if let Some(name) = value
                    .as_str()
                    .and_then(|r| r.strip_prefix(dialect.ref_prefix()))
                {
                    out.push(name.replace("~1", "/").replace("~0", "~"));
                }
            }
            "properties" | "patternProperties" | "definitions" => {
                if let Value::Object(props) = value {
                    for prop in props.values() {
                        collect_refs(prop, dialect, out);
                    }
                }
            }
            "allOf" | "anyOf" | "oneOf" | "items" => match value {
                Value::Array(items) => {
                    for item in items {
                        collect_refs(item, dialect, out);
                    }
                }
                other => collect_refs(other, dialect, out),
            },
            "additionalProperties" | "additionalItems" | "not" => collect_refs(value, dialect, out),
            _ => {}
        }
    }
}

/// A property that refers to a named schema, with a description, in `dialect`'s idiom
/// (`$ref` with siblings in v2, an `allOf` wrapper in v3 — as kube-apiserver writes them).
pub(crate) fn ref_property(dialect: Dialect, name: &str, description: &str) -> Value {
    match dialect {
        Dialect::V2 => json!({"description": description, "$ref": dialect.reference(name)}),
        Dialect::V3 => {
            json!({"description": description, "allOf": [{"$ref": dialect.reference(name)}]})
        }
    }
}

fn gvk_json(gvk: &GroupVersionKind) -> Value {
    json!({"group": gvk.group, "kind": gvk.kind, "version": gvk.version})
}

/// The name a schema for `gvk` would have under the convention kube-apiserver uses for custom
/// resources: the reversed group, the version, the kind (`com.example.v1.Widget`).
pub(crate) fn conventional_name(gvk: &GroupVersionKind) -> String {
    let group = if gvk.group.is_empty() {
        "io.k8s.api.core".to_string()
    } else {
        gvk.group.split('.').rev().collect::<Vec<_>>().join(".")
    };
    format!("{group}.{}.{}", gvk.version, gvk.kind)
}

/// The schemas of one document under construction.
pub(crate) struct SchemaSet<'c, 'a> {
    catalog: &'c Catalog<'a>,
    /// Schemas made up here (stand-ins for missing kinds).
    synthesized: BTreeMap<String, Value>,
    /// Schema name → the kinds its `x-kubernetes-group-version-kind` must list.
    kinds: BTreeMap<String, BTreeSet<GroupVersionKind>>,
    /// Names the operations refer to.
    roots: BTreeSet<String>,
    pub(crate) warnings: Vec<Warning>,
}

impl<'c, 'a> SchemaSet<'c, 'a> {
    pub(crate) fn new(catalog: &'c Catalog<'a>) -> Self {
        Self {
            catalog,
            synthesized: BTreeMap::new(),
            kinds: BTreeMap::new(),
            roots: BTreeSet::new(),
            warnings: Vec::new(),
        }
    }

    pub(crate) fn dialect(&self) -> Dialect {
        self.catalog.dialect()
    }

    /// Marks `name` as used by an operation.
    pub(crate) fn use_schema(&mut self, name: &str) {
        if !self.roots.contains(name) {
            self.roots.insert(name.to_string());
        }
    }

    /// The schema describing `source`, without using it yet: the catalog's, or else one under
    /// the conventional name if the catalog has that, or else a permissive stand-in
    /// (with a [`Warning::MissingSchema`]). `list_of` makes the stand-in a list of that schema.
    pub(crate) fn resolve(&mut self, source: &GroupVersionKind, list_of: Option<&str>) -> String {
        if let Some(name) = self.catalog.find(source) {
            return name.to_string();
        }
        let name = conventional_name(source);
        if self.catalog.contains(&name) || self.synthesized.contains_key(&name) {
            return name;
        }
        self.warnings.push(Warning::MissingSchema {
            kind: source.clone(),
        });
        let dialect = self.dialect();
        let mut schema = match list_of {
            Some(item) => json!({
                "description": format!("{} is a list of {}.", source.kind, item.rsplit('.').next().unwrap_or(item)),
                "type": "object",
                "required": ["items"],
                "properties": {
                    "apiVersion": {"description": API_VERSION_DESCRIPTION, "type": "string"},
                    "kind": {"description": KIND_DESCRIPTION, "type": "string"},
                    "items": {"description": "List of objects.", "type": "array", "items": {"$ref": dialect.reference(item)}},
                    "metadata": ref_property(dialect, builtin::LIST_META, LIST_META_DESCRIPTION),
                },
            }),
            None => json!({
                "description": format!(
                    "{} ({}). The parent cluster publishes no schema for this kind, so any content is accepted.",
                    source.kind,
                    source.group_version()
                ),
                "type": "object",
                "properties": {
                    "apiVersion": {"description": API_VERSION_DESCRIPTION, "type": "string"},
                    "kind": {"description": KIND_DESCRIPTION, "type": "string"},
                    "metadata": ref_property(dialect, builtin::OBJECT_META, OBJECT_META_DESCRIPTION),
                },
                "x-kubernetes-preserve-unknown-fields": true,
            }),
        };
        if let Value::Object(map) = &mut schema {
            map.insert(GVK_EXTENSION.into(), json!([gvk_json(source)]));
        }
        self.synthesized.insert(name.clone(), schema);
        name
    }

    /// Requires `name`'s group-version-kind list to include `gvk`. The first call for a name
    /// replaces the list the source schema had.
    pub(crate) fn add_kind(&mut self, name: &str, gvk: GroupVersionKind) {
        self.kinds.entry(name.to_string()).or_default().insert(gvk);
    }

    /// Collects the used schemas and everything they reference. `served` are the group-versions
    /// of the document, added to the per-group-version meta kinds (DeleteOptions, WatchEvent).
    pub(crate) fn finish(
        mut self,
        served: &[GroupVersion],
    ) -> Result<(BTreeMap<String, Value>, Vec<Warning>), Error> {
        let dialect = self.dialect();
        let mut out: BTreeMap<String, Value> = BTreeMap::new();
        let mut queue: Vec<(String, Option<String>)> =
            self.roots.iter().rev().map(|n| (n.clone(), None)).collect();
        while let Some((name, from)) = queue.pop() {
            if out.contains_key(&name) {
                continue;
            }
            let schema = match self.synthesized.get(&name) {
                Some(s) => Some(s.clone()),
                None => self.catalog.get(&name)?,
            };
            let mut schema = match schema {
                Some(s) => s,
                None => {
                    self.warnings.push(Warning::DanglingReference {
                        from: from.unwrap_or_else(|| "(operation)".into()),
                        to: name.clone(),
                    });
                    json!({
                        "description": format!("{name} was not available; any object is accepted."),
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": true,
                    })
                }
            };
            if let Value::Object(map) = &mut schema {
                self.set_kinds(&name, map, served);
            }
            let mut refs = Vec::new();
            collect_refs(&schema, dialect, &mut refs);
            refs.sort();
            refs.dedup();
            for r in refs.into_iter().rev() {
                if !out.contains_key(&r) {
                    queue.push((r, Some(name.clone())));
                }
            }
            out.insert(name, schema);
        }
        Ok((out, self.warnings))
    }

    fn set_kinds(&self, name: &str, map: &mut Map<String, Value>, served: &[GroupVersion]) {
        let list: Option<BTreeSet<GroupVersionKind>> = if let Some(kinds) = self.kinds.get(name) {
            Some(kinds.clone())
        } else if PER_GROUP_VERSION_KINDS.contains(&name) {
            let existing = parse_gvks(map.get(GVK_EXTENSION));
            let kind = existing
                .first()
                .map(|g| g.kind.clone())
                .unwrap_or_else(|| name.rsplit('.').next().unwrap_or(name).to_string());
            let mut kinds: BTreeSet<GroupVersionKind> = match self.dialect() {
                // A v3 document describes one group-version: core v1 plus the served one, as
                // kube-apiserver writes it. A v2 document is merged by the aggregator, which
                // unions these lists anyway.
                Dialect::V3 => {
                    std::iter::once(GroupVersionKind::new("", "v1", kind.clone())).collect()
                }
                Dialect::V2 => existing.into_iter().collect(),
            };
            kinds.extend(served.iter().map(|gv| gv.with_kind(kind.clone())));
            Some(kinds)
        } else {
            None
        };
        if let Some(kinds) = list {
            map.insert(
                GVK_EXTENSION.into(),
                Value::Array(kinds.iter().map(gvk_json).collect()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_follow_schema_keywords_only() {
        let s = json!({
            "properties": {
                "$ref": {"type": "string"},
                "a": {"allOf": [{"$ref": "#/components/schemas/A"}], "default": {"$ref": "#/components/schemas/NotARef"}},
                "b": {"type": "array", "items": {"$ref": "#/components/schemas/B"}},
                "c": {"additionalProperties": {"$ref": "#/components/schemas/C"}},
                "d": {"$ref": "#/definitions/V2Only"}
            }
        });
        let mut out = Vec::new();
        collect_refs(&s, Dialect::V3, &mut out);
        out.sort();
        assert_eq!(out, ["A", "B", "C"]);
        out.clear();
        collect_refs(&s, Dialect::V2, &mut out);
        assert_eq!(out, ["V2Only"]);
    }

    #[test]
    fn conventional_names() {
        assert_eq!(
            conventional_name(&GroupVersionKind::new("example.com", "v1", "Widget")),
            "com.example.v1.Widget"
        );
        assert_eq!(
            conventional_name(&GroupVersionKind::new("", "v1", "Pod")),
            "io.k8s.api.core.v1.Pod"
        );
    }

    #[test]
    fn missing_kinds_get_stand_ins_that_resolve() {
        let catalog = Catalog::new(Dialect::V3).unwrap();
        let mut set = SchemaSet::new(&catalog);
        let kind = set.resolve(&GroupVersionKind::new("example.com", "v1", "Gadget"), None);
        let list = set.resolve(
            &GroupVersionKind::new("example.com", "v1", "GadgetList"),
            Some(&kind),
        );
        set.use_schema(&list);
        let (schemas, warnings) = set.finish(&[]).unwrap();
        assert_eq!(warnings.len(), 2);
        assert!(schemas.contains_key("com.example.v1.Gadget"));
        assert!(schemas.contains_key(builtin::LIST_META));
        assert!(schemas.contains_key(builtin::OBJECT_META));
        assert_eq!(
            schemas["com.example.v1.Gadget"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
    }

    #[test]
    fn dangling_references_are_stubbed() {
        let mut catalog = Catalog::new(Dialect::V2).unwrap();
        catalog.insert(
            "X",
            json!({"properties": {"y": {"$ref": "#/definitions/Y"}}}),
        );
        let mut set = SchemaSet::new(&catalog);
        set.use_schema("X");
        let (schemas, warnings) = set.finish(&[]).unwrap();
        assert!(schemas.contains_key("Y"));
        assert_eq!(
            warnings,
            [Warning::DanglingReference {
                from: "X".into(),
                to: "Y".into()
            }]
        );
    }
}
