//! Everything the hub serves under `/openapi`, built in one go and ready to serve.
//!
//! The hub rebuilds a [`Specs`] whenever what it serves changes (the parent's CRDs or APIs) and
//! swaps it in whole; serving is then a clone of prepared bytes with a precomputed ETag.
//!
//! | URL | document |
//! |---|---|
//! | `/openapi/v2` | [`Specs::v2`] |
//! | `/openapi/v3` | [`Specs::v3_discovery`] |
//! | `/openapi/v3/apis/<group>/<version>` | [`Specs::v3`]`("apis/<group>/<version>")` |
//!
//! A request for `/openapi/v3/<path>?hash=<H>` whose `H` is not the current hash should be
//! answered with the current document (kube-apiserver redirects, but kube-aggregator rejects
//! redirects from extension apiservers); only a matching hash earns
//! `Cache-Control: public, immutable`.
//!
//! ```
//! use clusternet_openapi::{proxies, shadow, Catalog, Dialect, GroupVersion, Options, Specs};
//!
//! # fn main() -> Result<(), clusternet_openapi::Error> {
//! // Parent documents: none fetched yet.
//! let v2 = Catalog::new(Dialect::V2)?;
//! let v3 = Catalog::new(Dialect::V3)?;
//! let groups = [
//!     proxies::api_group_version(),
//!     shadow::api_group_version(vec![shadow::resource(GroupVersion::new("", "v1"), "configmaps", "ConfigMap")]),
//! ];
//! let specs = Specs::build(&groups, &v2, &v3, &Options::default())?;
//! assert!(specs.v3("apis/proxies.clusternet.io/v1alpha1").is_some());
//! assert!(specs.v3("/apis/shadow/v1alpha1").is_some());
//! let discovery: serde_json::Value = serde_json::from_slice(specs.v3_discovery().body()).unwrap_or_default();
//! assert!(discovery["paths"]["apis/shadow/v1alpha1"]["serverRelativeURL"].is_string());
//! // Without the parent's spec ConfigMap has a stand-in schema, and says so.
//! assert!(!specs.warnings().is_empty());
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;

use crate::catalog::Catalog;
use crate::error::{Error, Warning};
use crate::etag::Document;
use crate::model::{ApiGroupVersion, Options};
use crate::v3::Discovery;

/// The serialized `/openapi/v2`, `/openapi/v3` and `/openapi/v3/<group-version>` documents.
#[derive(Clone, Debug)]
pub struct Specs {
    v2: Document,
    v3: BTreeMap<String, Document>,
    v3_discovery: Document,
    warnings: Vec<Warning>,
}

impl Specs {
    /// Builds all documents for `groups`, drawing schemas from `v2` (a [`Dialect::V2`] catalog
    /// over the parent's `/openapi/v2`) and `v3` (a [`Dialect::V3`] catalog over the parent's
    /// `/openapi/v3/...` documents of the mirrored group-versions).
    ///
    /// [`Dialect::V2`]: crate::Dialect::V2
    /// [`Dialect::V3`]: crate::Dialect::V3
    pub fn build(
        groups: &[ApiGroupVersion],
        v2: &Catalog<'_>,
        v3: &Catalog<'_>,
        options: &Options,
    ) -> Result<Self, Error> {
        let built = crate::v2::build(groups, v2, options)?;
        let mut warnings = built.warnings;
        let v2_doc = Document::from_json(&built.document)?;
        let mut docs = BTreeMap::new();
        for group in groups {
            let built = crate::v3::build(group, v3, options)?;
            warnings.extend(built.warnings);
            docs.insert(
                group.group_version.openapi_v3_path(),
                Document::from_json(&built.document)?,
            );
        }
        let discovery =
            Document::from_json(&Discovery::new(docs.iter().map(|(p, d)| (p.as_str(), d))))?;
        warnings.sort();
        warnings.dedup();
        Ok(Self {
            v2: v2_doc,
            v3: docs,
            v3_discovery: discovery,
            warnings,
        })
    }

    /// `/openapi/v2`.
    pub fn v2(&self) -> &Document {
        &self.v2
    }

    /// `/openapi/v3`.
    pub fn v3_discovery(&self) -> &Document {
        &self.v3_discovery
    }

    /// The document of one group-version, by its path (`apis/<group>/<version>`; a leading
    /// `/` or `/openapi/v3/` is ignored).
    pub fn v3(&self, path: &str) -> Option<&Document> {
        let path = path
            .strip_prefix("/openapi/v3/")
            .unwrap_or(path)
            .trim_matches('/');
        self.v3.get(path)
    }

    /// All group-version documents by path.
    pub fn v3_documents(&self) -> impl Iterator<Item = (&str, &Document)> {
        self.v3.iter().map(|(p, d)| (p.as_str(), d))
    }

    /// What the builders had to work around (missing schemas, skipped resources), for logging.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}
