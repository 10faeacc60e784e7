//! The OpenAPI documents the hub serves (`/openapi/v2`, `/openapi/v3`,
//! `/openapi/v3/apis/<group>/<version>`), built by `clusternet-openapi` as prepared bytes with
//! ETags and replaced whole when the served API set changes.

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use clusternet_openapi::{ApiGroupVersion, Catalog, Dialect, Options, Specs};

/// The current documents.
#[derive(Clone, Debug, Default)]
pub struct OpenApi {
    specs: Arc<RwLock<Option<Arc<Specs>>>>,
}

impl OpenApi {
    /// Builds documents for `served` from schema catalogs (`v2` over the parent's
    /// `/openapi/v2`, `v3` over its per-group-version documents) and swaps them in.
    pub fn rebuild(
        &self,
        served: &[ApiGroupVersion],
        v2: &Catalog<'_>,
        v3: &Catalog<'_>,
    ) -> Result<(), clusternet_openapi::Error> {
        let options = Options {
            title: "clusternet-hub".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            ..Options::default()
        };
        let specs = Specs::build(served, v2, v3, &options)?;
        for warning in specs.warnings() {
            tracing::debug!(%warning, "openapi");
        }
        if let Ok(mut guard) = self.specs.write() {
            *guard = Some(Arc::new(specs));
        }
        Ok(())
    }

    /// Builds documents for `served` with no parent schemas (enough for proxies.clusternet.io,
    /// whose schemas are built in).
    pub fn rebuild_builtin(
        &self,
        served: &[ApiGroupVersion],
    ) -> Result<(), clusternet_openapi::Error> {
        let v2 = Catalog::new(Dialect::V2)?;
        let v3 = Catalog::new(Dialect::V3)?;
        self.rebuild(served, &v2, &v3)
    }

    /// The document at request path `path` and its ETag. A stale `?hash=` still gets the
    /// current document: kube-apiserver would redirect, but the aggregator rejects redirects
    /// from extension apiservers.
    pub fn document(&self, path: &str) -> Option<(Bytes, String)> {
        let specs = self.specs.read().ok()?.clone()?;
        let doc = match path.trim_end_matches('/') {
            "/openapi/v2" => specs.v2(),
            "/openapi/v3" => specs.v3_discovery(),
            p => specs.v3(p.strip_prefix("/openapi/v3/")?)?,
        };
        Some((doc.body().clone(), doc.etag().to_string()))
    }
}
