//! Builds the hub's OpenAPI documents from what it serves.

use std::collections::HashMap;

use bytes::Bytes;

use crate::discovery::Registry;
use crate::openapi::OpenApi;

/// Publishes documents for the current discovery set.
pub fn publish(openapi: &OpenApi, registry: &Registry) {
    let snapshot = registry.snapshot();
    let mut docs = HashMap::new();
    let v2 = serde_json::json!({"swagger": "2.0", "info": {"title": "clusternet-hub", "version": env!("CARGO_PKG_VERSION")}, "paths": {}, "definitions": {}});
    docs.insert("/openapi/v2".to_string(), Bytes::from(v2.to_string()));
    let mut paths = serde_json::Map::new();
    for g in snapshot.groups() {
        for v in &g.versions {
            let doc = serde_json::json!({"openapi": "3.0.0", "info": {"title": "clusternet-hub", "version": env!("CARGO_PKG_VERSION")}, "paths": {}, "components": {"schemas": {}}});
            let bytes = Bytes::from(doc.to_string());
            let path = format!("apis/{}/{}", g.name, v.version);
            paths.insert(path.clone(), serde_json::json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", crate::discovery::hex_digest(&bytes).to_uppercase())}));
            docs.insert(format!("/openapi/v3/{path}"), bytes);
        }
    }
    docs.insert(
        "/openapi/v3".to_string(),
        Bytes::from(serde_json::json!({"paths": paths}).to_string()),
    );
    openapi.set(docs);
}
