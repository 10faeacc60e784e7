//! Shared helpers of the integration tests: fixtures (real kube-apiserver v1.36 documents, see
//! `fixtures/README.md`) and structural checks of built documents.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

/// A fixture as JSON.
pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture as an `openapiv3` model.
pub fn fixture_v3(name: &str) -> openapiv3::OpenAPI {
    serde_json::from_value(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every `$ref` string anywhere in `v`.
pub fn all_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => {
                        out.insert(r.clone());
                    }
                    _ => all_refs(x, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| all_refs(x, out)),
        _ => {}
    }
}

/// Panics unless every `$ref` in the document resolves inside it.
pub fn assert_refs_resolve(doc: &Value) {
    let mut refs = BTreeSet::new();
    all_refs(doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("non-local reference {r}"));
        assert!(doc.pointer(pointer).is_some(), "dangling reference {r}");
    }
}

/// The `x-kubernetes-group-version-kind` entries of a schema as `group/version/kind` strings.
pub fn gvks(schema: &Value) -> Vec<String> {
    let list = match &schema["x-kubernetes-group-version-kind"] {
        Value::Array(items) => items.clone(),
        v @ Value::Object(_) => vec![v.clone()],
        _ => Vec::new(),
    };
    list.iter()
        .map(|g| {
            format!(
                "{}/{}/{}",
                g["group"].as_str().unwrap(),
                g["version"].as_str().unwrap(),
                g["kind"].as_str().unwrap()
            )
        })
        .collect()
}

/// Follows a schema to the named schema it wraps (`$ref`, or an `allOf` with one `$ref`).
pub fn deref<'d>(doc: &'d Value, schema: &'d Value) -> &'d Value {
    let r = schema["$ref"]
        .as_str()
        .or_else(|| schema["allOf"][0]["$ref"].as_str());
    match r {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling {r}")),
        None => schema,
    }
}

/// What `kubectl explain <resource>.<version>.<group> --recursive` does with a v3 document:
/// take the kind from the list (or get) operation's `x-kubernetes-group-version-kind`, find the
/// schema listing that kind, then walk `fields` through properties, following references. Returns
/// the field's schema as written in its parent (extensions included).
pub fn explain<'d>(
    doc: &'d Value,
    group: &str,
    version: &str,
    plural: &str,
    fields: &[&str],
) -> &'d Value {
    let prefix = if group.is_empty() {
        "/api".to_string()
    } else {
        format!("/apis/{group}")
    };
    let candidates = [
        format!("{prefix}/{version}/{plural}"),
        format!("{prefix}/{version}/{plural}/{{name}}"),
        format!("{prefix}/{version}/namespaces/{{namespace}}/{plural}"),
        format!("{prefix}/{version}/namespaces/{{namespace}}/{plural}/{{name}}"),
    ];
    let gvk = candidates
        .iter()
        .filter_map(|p| doc["paths"].get(p))
        .flat_map(|item| ["get", "post", "put", "patch", "delete"].map(|m| &item[m]))
        .map(|op| &op["x-kubernetes-group-version-kind"])
        .find(|g| g.is_object())
        .unwrap_or_else(|| panic!("GVR {group}/{version}/{plural} not found in OpenAPI schema"));
    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("components.schemas");
    let mut schema = schemas
        .values()
        .find(|s| {
            s["x-kubernetes-group-version-kind"]
                .as_array()
                .is_some_and(|l| l.contains(gvk))
        })
        .unwrap_or_else(|| panic!("GVK {gvk} not found in OpenAPI schema"));
    for field in fields {
        let mut s = deref(doc, schema);
        if s["type"] == "array" {
            s = deref(doc, &s["items"]);
        }
        schema = s["properties"]
            .get(*field)
            .unwrap_or_else(|| panic!("field {field} does not exist"));
    }
    schema
}

/// Structural checks of a Swagger 2.0 document (the parts kube-aggregator and gnostic rely on).
pub fn assert_valid_swagger2(doc: &Value) {
    assert_eq!(doc["swagger"], "2.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().expect("paths");
    assert!(doc["definitions"].is_object(), "definitions");
    for (path, item) in paths {
        assert!(path.starts_with('/'), "{path}");
        let item = item.as_object().expect("path item");
        let path_params: Vec<&Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        for (method, op) in item {
            if method == "parameters" {
                continue;
            }
            assert!(
                ["get", "put", "post", "delete", "options", "head", "patch"]
                    .contains(&method.as_str()),
                "{path} {method}"
            );
            assert!(op["operationId"].is_string(), "{path} {method} operationId");
            let responses = op["responses"].as_object().expect("responses");
            assert!(!responses.is_empty());
            for (code, r) in responses {
                assert!(code.parse::<u16>().is_ok(), "{code}");
                assert!(r["description"].is_string(), "{path} {method} {code}");
            }
            let op_params: Vec<&Value> = op
                .get("parameters")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            let mut seen = BTreeSet::new();
            let mut bodies = 0;
            for p in op_params.iter().chain(path_params.iter()) {
                let (name, place) = (
                    p["name"].as_str().expect("name"),
                    p["in"].as_str().expect("in"),
                );
                assert!(["query", "header", "path", "formData", "body"].contains(&place));
                if place == "body" {
                    bodies += 1;
                    assert!(p["schema"].is_object());
                } else {
                    assert!(p["type"].is_string(), "{path} {name}");
                }
                if place == "path" {
                    assert_eq!(p["required"], true, "{path} {name}");
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{path} has no {{{name}}}"
                    );
                }
                // Operation parameters override path parameters of the same name and place.
                seen.insert((name.to_string(), place.to_string()));
            }
            assert!(bodies <= 1, "{path} {method}: several bodies");
            for segment in path.split('/').filter(|s| s.starts_with('{')) {
                let name = segment.trim_matches(|c| c == '{' || c == '}');
                assert!(
                    seen.contains(&(name.to_string(), "path".to_string())),
                    "{path}: {{{name}}} undeclared"
                );
            }
        }
    }
    assert_refs_resolve(doc);
    let mut refs = BTreeSet::new();
    all_refs(doc, &mut refs);
    assert!(
        refs.iter().all(|r| r.starts_with("#/definitions/")),
        "v2 documents refer to definitions only"
    );
}

/// Structural checks of an OpenAPI 3 document.
pub fn assert_valid_openapi3(doc: &Value) {
    assert_eq!(doc["openapi"], "3.0.0");
    assert!(doc["paths"].is_object() && doc["components"]["schemas"].is_object());
    assert_refs_resolve(doc);
    let mut refs = BTreeSet::new();
    all_refs(doc, &mut refs);
    assert!(refs.iter().all(|r| r.starts_with("#/components/schemas/")));
    // The model round-trips.
    let model: openapiv3::OpenAPI =
        serde_json::from_value(doc.clone()).expect("parses as OpenAPI 3");
    assert_eq!(serde_json::to_value(model).unwrap(), *doc);
}
