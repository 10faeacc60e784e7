//! The schema catalog: every schema a document may draw from, indexed by name and by the kinds
//! (`x-kubernetes-group-version-kind`) they describe.
//!
//! A catalog borrows the parent cluster's documents instead of copying them: the hub keeps the
//! parsed parent documents (they change only when the parent's APIs or CRDs change) and builds
//! a fresh catalog over them for every rebuild, which costs an index of names, not a copy.
//! Only the schemas a document needs are converted and copied, when it is built.
//!
//! Schemas are looked up in this order: schemas added with [`Catalog::insert`], then the added
//! documents in the order they were added, then the definitions embedded in this crate
//! (meta types, `autoscaling/v1` Scale, Clusternet's Socket), so a catalog with no parent
//! documents at all still builds complete documents for the `proxies.clusternet.io` group.
//!
//! ```
//! use clusternet_openapi::{Catalog, Dialect, GroupVersionKind};
//!
//! # fn main() -> Result<(), clusternet_openapi::Error> {
//! let parent: serde_json::Value = serde_json::json!({
//!     "openapi": "3.0.0",
//!     "info": {"title": "Kubernetes", "version": "1.36"},
//!     "paths": {},
//!     "components": {"schemas": {
//!         "io.k8s.api.core.v1.ConfigMap": {
//!             "type": "object",
//!             "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "ConfigMap"}]
//!         }
//!     }}
//! });
//! let mut catalog = Catalog::new(Dialect::V3)?;
//! catalog.add_json(&parent)?;
//! assert_eq!(catalog.find(&GroupVersionKind::new("", "v1", "ConfigMap")), Some("io.k8s.api.core.v1.ConfigMap"));
//! // Embedded meta types are always there.
//! assert!(catalog.contains("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use openapiv3::{Components, OpenAPI};
use serde_json::{Map, Value};

use crate::builtin::{self, GVK_EXTENSION};
use crate::error::Error;
use crate::model::GroupVersionKind;

/// An OpenAPI dialect: Swagger 2.0 (`/openapi/v2`) or OpenAPI 3.0 (`/openapi/v3/...`).
///
/// Schemas differ between the two (`#/definitions/` or `#/components/schemas/` references,
/// `$ref` siblings or `allOf` wrappers), so one catalog and one document hold one dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dialect {
    /// Swagger 2.0.
    V2,
    /// OpenAPI 3.0.
    V3,
}

impl Dialect {
    /// The prefix of a reference to a named schema.
    pub fn ref_prefix(self) -> &'static str {
        match self {
            Dialect::V2 => "#/definitions/",
            Dialect::V3 => "#/components/schemas/",
        }
    }

    /// A reference to the schema `name`.
    pub fn reference(self, name: &str) -> String {
        format!("{}{}", self.ref_prefix(), name)
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::V2 => "v2 (Swagger 2.0)",
            Dialect::V3 => "v3",
        })
    }
}

/// One borrowed document's schemas.
enum Source<'a> {
    Model(&'a Components),
    Json(&'a Map<String, Value>),
}

impl Source<'_> {
    fn contains(&self, name: &str) -> bool {
        match self {
            Source::Model(c) => c.schemas.contains_key(name),
            Source::Json(m) => m.contains_key(name),
        }
    }

    fn get(&self, name: &str) -> Result<Option<Value>, Error> {
        match self {
            Source::Model(c) => c
                .schemas
                .get(name)
                .map(|s| {
                    serde_json::to_value(s).map_err(|source| Error::Schema {
                        name: name.to_string(),
                        source,
                    })
                })
                .transpose(),
            Source::Json(m) => Ok(m.get(name).cloned()),
        }
    }
}

/// Schemas by name and by kind; see the [module docs](self).
pub struct Catalog<'a> {
    dialect: Dialect,
    overrides: BTreeMap<String, Value>,
    override_kinds: HashMap<GroupVersionKind, String>,
    sources: Vec<Source<'a>>,
    source_kinds: HashMap<GroupVersionKind, String>,
    builtin: &'static Map<String, Value>,
    builtin_kinds: HashMap<GroupVersionKind, String>,
}

impl fmt::Debug for Catalog<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog")
            .field("dialect", &self.dialect)
            .field("overrides", &self.overrides.len())
            .field("sources", &self.sources.len())
            .field(
                "kinds",
                &(self.override_kinds.len() + self.source_kinds.len() + self.builtin_kinds.len()),
            )
            .finish()
    }
}

impl<'a> Catalog<'a> {
    /// A catalog holding only the embedded definitions.
    ///
    /// Fails only if the embedded definitions are corrupt, which this crate's tests rule out.
    pub fn new(dialect: Dialect) -> Result<Self, Error> {
        let builtin = builtin::schemas(dialect)?;
        let mut builtin_kinds = HashMap::new();
        for (name, schema) in builtin {
            index_kinds(&mut builtin_kinds, name, schema.get(GVK_EXTENSION));
        }
        Ok(Self {
            dialect,
            overrides: BTreeMap::new(),
            override_kinds: HashMap::new(),
            sources: Vec::new(),
            source_kinds: HashMap::new(),
            builtin,
            builtin_kinds,
        })
    }

    /// The dialect of the catalog's schemas.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Adds a parsed OpenAPI 3 document (e.g. the parent's `/openapi/v3/apis/apps/v1`). Its
    /// schemas come after those of documents added earlier.
    pub fn add_v3(&mut self, document: &'a OpenAPI) -> Result<&mut Self, Error> {
        self.require_dialect(Dialect::V3)?;
        if let Some(components) = &document.components {
            for (name, schema) in &components.schemas {
                if let openapiv3::ReferenceOr::Item(schema) = schema {
                    index_kinds(
                        &mut self.source_kinds,
                        name,
                        schema.schema_data.extensions.get(GVK_EXTENSION),
                    );
                }
            }
            self.sources.push(Source::Model(components));
        }
        Ok(self)
    }

    /// Adds a JSON document: a Swagger 2.0 document (its `definitions`) to a v2 catalog, or an
    /// OpenAPI 3 document (its `components.schemas`) to a v3 catalog.
    pub fn add_json(&mut self, document: &'a Value) -> Result<&mut Self, Error> {
        let (got, schemas) = if let Some(definitions) = document.get("definitions") {
            (Dialect::V2, definitions)
        } else if let Some(components) = document.get("components") {
            (
                Dialect::V3,
                components.get("schemas").unwrap_or(&Value::Null),
            )
        } else if document.get("swagger").is_some() {
            (Dialect::V2, &Value::Null)
        } else if document.get("openapi").is_some() {
            (Dialect::V3, &Value::Null)
        } else {
            return Err(Error::UnknownDocument(
                "neither `definitions` nor `components` present",
            ));
        };
        self.require_dialect(got)?;
        match schemas {
            Value::Object(map) => {
                for (name, schema) in map {
                    index_kinds(&mut self.source_kinds, name, schema.get(GVK_EXTENSION));
                }
                self.sources.push(Source::Json(map));
            }
            Value::Null => {}
            _ => return Err(Error::UnknownDocument("schemas are not a JSON object")),
        }
        Ok(self)
    }

    /// Adds (or replaces) one schema, written in the catalog's dialect. Inserted schemas take
    /// precedence over every document.
    pub fn insert(&mut self, name: impl Into<String>, schema: Value) -> &mut Self {
        let name = name.into();
        self.override_kinds.retain(|_, n| *n != name);
        index_kinds(&mut self.override_kinds, &name, schema.get(GVK_EXTENSION));
        self.overrides.insert(name, schema);
        self
    }

    /// The name of the schema describing `kind`, if any.
    pub fn find(&self, kind: &GroupVersionKind) -> Option<&str> {
        self.override_kinds
            .get(kind)
            .or_else(|| self.source_kinds.get(kind))
            .or_else(|| self.builtin_kinds.get(kind))
            .map(String::as_str)
    }

    /// Whether a schema called `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.overrides.contains_key(name)
            || self.sources.iter().any(|s| s.contains(name))
            || self.builtin.contains_key(name)
    }

    /// A copy of the schema called `name`, as JSON in the catalog's dialect.
    pub fn get(&self, name: &str) -> Result<Option<Value>, Error> {
        if let Some(schema) = self.overrides.get(name) {
            return Ok(Some(schema.clone()));
        }
        for source in &self.sources {
            if let Some(schema) = source.get(name)? {
                return Ok(Some(schema));
            }
        }
        Ok(self.builtin.get(name).cloned())
    }

    fn require_dialect(&self, got: Dialect) -> Result<(), Error> {
        if got == self.dialect {
            Ok(())
        } else {
            Err(Error::DialectMismatch {
                expected: self.dialect,
                got,
            })
        }
    }
}

/// Reads an `x-kubernetes-group-version-kind` value (a list, or one object as on operations).
pub(crate) fn parse_gvks(value: Option<&Value>) -> Vec<GroupVersionKind> {
    fn one(v: &Value) -> Option<GroupVersionKind> {
        let field = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let kind = field("kind");
        (!kind.is_empty()).then(|| GroupVersionKind {
            group: field("group"),
            version: field("version"),
            kind,
        })
    }
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(one).collect(),
        Some(v @ Value::Object(_)) => one(v).into_iter().collect(),
        _ => Vec::new(),
    }
}

fn index_kinds(
    index: &mut HashMap<GroupVersionKind, String>,
    name: &str,
    extension: Option<&Value>,
) {
    for gvk in parse_gvks(extension) {
        index.entry(gvk).or_insert_with(|| name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dialects_do_not_mix() {
        let v2 = json!({"swagger": "2.0", "definitions": {}});
        let v3 = json!({"openapi": "3.0.0", "components": {"schemas": {}}});
        let mut c = Catalog::new(Dialect::V3).unwrap();
        assert!(matches!(
            c.add_json(&v2),
            Err(Error::DialectMismatch { .. })
        ));
        assert!(c.add_json(&v3).is_ok());
        assert!(matches!(
            c.add_json(&json!({"x": 1})),
            Err(Error::UnknownDocument(_))
        ));
        let mut c = Catalog::new(Dialect::V2).unwrap();
        assert!(c.add_json(&v2).is_ok());
    }

    #[test]
    fn precedence_is_insert_then_documents_then_builtin() {
        let gvk = GroupVersionKind::new("", "v1", "Status");
        let doc = json!({"swagger": "2.0", "definitions": {
            "a.Status": {"x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Status"}]},
            "io.k8s.apimachinery.pkg.apis.meta.v1.Status": {"description": "parent's"}
        }});
        let mut c = Catalog::new(Dialect::V2).unwrap();
        assert_eq!(c.find(&gvk), Some(builtin::STATUS));
        c.add_json(&doc).unwrap();
        assert_eq!(c.find(&gvk), Some("a.Status"));
        assert_eq!(
            c.get(builtin::STATUS).unwrap().unwrap()["description"],
            "parent's"
        );
        c.insert("b.Status", json!({"x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Status"}]}));
        assert_eq!(c.find(&gvk), Some("b.Status"));
        c.insert("b.Status", json!({}));
        assert_eq!(c.find(&gvk), Some("a.Status"));
        assert!(c.get("nope").unwrap().is_none());
    }

    #[test]
    fn operation_style_gvk_objects_parse() {
        let v = json!({"group": "apps", "version": "v1", "kind": "Deployment"});
        assert_eq!(
            parse_gvks(Some(&v)),
            vec![GroupVersionKind::new("apps", "v1", "Deployment")]
        );
        assert!(parse_gvks(Some(&json!([{"group": "x"}]))).is_empty());
    }
}
