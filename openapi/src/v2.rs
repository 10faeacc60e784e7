//! The Swagger 2.0 document (`/openapi/v2`) covering every served group-version.
//!
//! kube-aggregator downloads it and merges it into the cluster's spec. Its merge keeps
//! definitions that are equal apart from `x-kubernetes-group-version-kind` as one definition and
//! unions their kind lists, so mirrored kinds keep their source names
//! (`io.k8s.api.apps.v1.Deployment`) and only their kind list changes: in the merged spec the
//! parent's Deployment then lists both `apps/v1` and `shadow/v1alpha1`, exactly as
//! kube-apiserver describes one type served in several group-versions. Parameters are written
//! inline (no top-level `parameters`), which the merge needs no renaming for.
//!
//! There is no Swagger 2.0 model crate, so the document is plain [`serde_json::Value`].
//!
//! ```
//! use clusternet_openapi::{proxies, v2, Catalog, Dialect, Options};
//!
//! # fn main() -> Result<(), clusternet_openapi::Error> {
//! let catalog = Catalog::new(Dialect::V2)?;
//! let doc = v2::build(&[proxies::api_group_version()], &catalog, &Options::default())?.document;
//! assert_eq!(doc["swagger"], "2.0");
//! assert_eq!(doc["definitions"][proxies::SOCKET_SCHEMA]["x-kubernetes-group-version-kind"][0]["kind"], "Socket");
//! # Ok(())
//! # }
//! ```

use serde_json::{Map, Value, json};

use crate::catalog::{Catalog, Dialect};
use crate::error::{Built, Error};
use crate::model::{ApiGroupVersion, Options};
use crate::routes::{Operation, Param, Payload, RouteBuilder, Routes};
use crate::schemas::SchemaSet;

/// Builds the Swagger 2.0 document of all `groups`.
///
/// `catalog` must be a [`Dialect::V2`] catalog; for mirrored (shadow) resources it holds the
/// parent's `/openapi/v2` document.
pub fn build(
    groups: &[ApiGroupVersion],
    catalog: &Catalog<'_>,
    options: &Options,
) -> Result<Built<Value>, Error> {
    if catalog.dialect() != Dialect::V2 {
        return Err(Error::DialectMismatch {
            expected: Dialect::V2,
            got: catalog.dialect(),
        });
    }
    let mut set = SchemaSet::new(catalog);
    let mut builder = RouteBuilder::new(&mut set, options)?;
    for group in groups {
        builder.group_version(group);
    }
    let (routes, mut warnings) = builder.finish();
    let served: Vec<_> = groups.iter().map(|g| g.group_version.clone()).collect();
    let (schemas, more) = set.finish(&served)?;
    warnings.extend(more);
    let definitions: Map<String, Value> = schemas.into_iter().collect();
    Ok(Built::new(render(&routes, definitions, options), warnings))
}

fn render(routes: &Routes, definitions: Map<String, Value>, options: &Options) -> Value {
    let mut paths = Map::new();
    for (path, route) in routes {
        let mut item = Map::new();
        for (method, op) in &route.operations {
            item.insert(method.as_str().to_lowercase(), operation(op, options));
        }
        if !route.params.is_empty() {
            item.insert(
                "parameters".into(),
                Value::Array(route.params.iter().map(parameter).collect()),
            );
        }
        paths.insert(path.clone(), Value::Object(item));
    }
    json!({
        "swagger": "2.0",
        "info": {"title": options.title, "version": options.version},
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {
            "BearerToken": {
                "description": "Bearer Token authentication",
                "type": "apiKey",
                "name": "authorization",
                "in": "header"
            }
        },
        "security": [{"BearerToken": []}]
    })
}

fn parameter(p: &Param) -> Value {
    let mut v = json!({
        "uniqueItems": true,
        "type": p.param_type.as_str(),
        "description": p.description,
        "name": p.name,
        "in": p.location.as_str(),
    });
    if p.required {
        v["required"] = json!(true);
    }
    v
}

fn schema_of(payload: &Payload) -> Value {
    match payload {
        Payload::Schema(name) => json!({"$ref": Dialect::V2.reference(name)}),
        Payload::Text => json!({"type": "string"}),
    }
}

fn operation(op: &Operation, options: &Options) -> Value {
    let produces = op
        .responses
        .iter()
        .find(|r| r.payload.is_some())
        .map(|r| r.media.types(options))
        .unwrap_or_else(|| options.media_types.clone());
    let mut params = Vec::new();
    if let Some(body) = &op.body {
        let mut p = json!({"name": "body", "in": "body", "schema": schema_of(&Payload::Schema(body.schema.clone()))});
        if body.required {
            p["required"] = json!(true);
        }
        params.push(p);
    }
    params.extend(op.params.iter().map(parameter));
    let mut responses = Map::new();
    for r in &op.responses {
        let mut v = json!({"description": r.description()});
        if let Some(payload) = &r.payload {
            v["schema"] = schema_of(payload);
        }
        responses.insert(r.code.to_string(), v);
    }
    let mut v = json!({
        "description": op.description,
        "consumes": op.consumes.types(options),
        "produces": produces,
        "schemes": ["https"],
        "tags": [op.tag],
        "operationId": op.id,
        "responses": responses,
    });
    if !params.is_empty() {
        v["parameters"] = Value::Array(params);
    }
    if let Some(action) = op.action {
        v["x-kubernetes-action"] = json!(action);
    }
    if let Some(gvk) = &op.gvk {
        v[crate::builtin::GVK_EXTENSION] =
            json!({"group": gvk.group, "kind": gvk.kind, "version": gvk.version});
    }
    v
}
