//! OpenAPI documents for the API groups clusternet-hub serves as an aggregated apiserver:
//! `proxies.clusternet.io/v1alpha1` (the `sockets` connect resource) and `shadow/v1alpha1`
//! (every kind of the parent cluster, mirrored with the parent's own schemas).
//!
//! The hub serves:
//! - `/openapi/v2`: one Swagger 2.0 document for all its group-versions, which kube-aggregator
//!   downloads (ETag-aware) and merges into the cluster's spec ([`v2`]);
//! - `/openapi/v3`: the discovery document listing each group-version with a content hash
//!   ([`v3::Discovery`]);
//! - `/openapi/v3/apis/<group>/<version>`: one OpenAPI 3.0 document per group-version, which
//!   `kubectl explain` reads and from which kubectl learns patch strategies ([`v3`]).
//!
//! Inputs are a description of the served resources ([`ApiGroupVersion`], [`Resource`]) and a
//! [`Catalog`] of schemas: the parent's documents plus definitions embedded here (meta types,
//! Scale, Socket). [`Specs`] builds and serializes everything at once; the [`v2`], [`v3`] and
//! [`shadow`] functions build single documents or schema sets. Everything is pure: no IO.
//!
//! ```
//! use clusternet_openapi::{proxies, shadow, Catalog, Dialect, GroupVersion, Options, Specs, Subresource};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // What the hub fetched from the parent (here: a stub; really /openapi/v2 and the
//! // /openapi/v3/apis/<g>/<v> documents of the mirrored group-versions, parsed once and kept).
//! let parent_v2: serde_json::Value = serde_json::json!({"swagger": "2.0", "paths": {}, "definitions": {}});
//! let parent_apps_v1: openapiv3::OpenAPI =
//!     serde_json::from_str(r#"{"openapi": "3.0.0", "info": {"title": "", "version": ""}, "paths": {}}"#)?;
//!
//! let mut v2 = Catalog::new(Dialect::V2)?;
//! v2.add_json(&parent_v2)?;
//! let mut v3 = Catalog::new(Dialect::V3)?;
//! v3.add_v3(&parent_apps_v1)?;
//!
//! let deployments = shadow::resource(GroupVersion::new("apps", "v1"), "deployments", "Deployment")
//!     .with_subresource(Subresource::scale());
//! let groups = [proxies::api_group_version(), shadow::api_group_version(vec![deployments])];
//! let specs = Specs::build(&groups, &v2, &v3, &Options::default())?;
//!
//! // GET /openapi/v2 with If-None-Match → 304 or the body with its ETag.
//! let doc = specs.v2();
//! let (etag, body) = (doc.etag(), doc.body().clone());
//! assert!(doc.matches_if_none_match(etag));
//! assert!(!body.is_empty());
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod builtin;
pub mod catalog;
pub mod error;
pub mod etag;
pub mod hub;
pub mod model;
pub mod proxies;
mod routes;
mod schemas;
pub mod shadow;
pub mod v2;
pub mod v3;

pub use catalog::{Catalog, Dialect};
pub use error::{Built, Error, Warning};
pub use etag::Document;
pub use hub::Specs;
pub use model::{
    ApiGroupVersion, Connect, GroupVersion, GroupVersionKind, HttpMethod, Options, ParamType,
    PatchType, QueryParameter, Resource, Subresource, Verb,
};
