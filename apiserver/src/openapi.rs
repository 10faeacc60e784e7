//! The OpenAPI documents the hub serves (`/openapi/v2`, `/openapi/v3`,
//! `/openapi/v3/apis/<group>/<version>`), kept as prepared bytes with ETags and replaced whole
//! when the served API set changes. The documents themselves are built by
//! `clusternet-openapi`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use crate::discovery::hex_digest;

/// Documents by request path, each with its ETag.
type Documents = HashMap<String, (Bytes, String)>;

/// Prepared OpenAPI documents by request path.
#[derive(Clone, Debug, Default)]
pub struct OpenApi {
    docs: Arc<RwLock<Arc<Documents>>>,
}

impl OpenApi {
    /// Replaces every document: `docs` maps request paths (`/openapi/v2`, …) to JSON.
    pub fn set(&self, docs: HashMap<String, Bytes>) {
        let prepared = docs
            .into_iter()
            .map(|(path, body)| {
                let etag = format!("\"{}\"", hex_digest(&body).to_uppercase());
                (path, (body, etag))
            })
            .collect();
        if let Ok(mut guard) = self.docs.write() {
            *guard = Arc::new(prepared);
        }
    }

    /// The document at `path` and its ETag.
    pub fn document(&self, path: &str) -> Option<(Bytes, String)> {
        let docs = self.docs.read().ok()?.clone();
        docs.get(path).cloned()
    }
}
