//! The `shadow/v1alpha1` group: every resource kind of the parent cluster (built-ins and CRDs),
//! mirrored into one group-version, with schemas taken from the parent's own OpenAPI.
//!
//! A shadow resource is an ordinary [`Resource`] whose [`source`](Resource::source) is the
//! parent group-version it mirrors. Its kind's schema is the one the parent publishes for
//! `<source>/<Kind>`, copied with everything it references and with all extensions
//! (`x-kubernetes-patch-merge-key` and friends, which kubectl's strategic merge relies on).
//! Only `x-kubernetes-group-version-kind` changes: it names `shadow/v1alpha1 <Kind>` (and the
//! list kind `shadow/v1alpha1 <Kind>List`), because that is the kind kubectl gets from the hub's
//! discovery and looks up in the OpenAPI document — `kubectl explain deployments.v1alpha1.shadow`
//! finds the list operation of `/apis/shadow/v1alpha1/namespaces/{namespace}/deployments`, reads
//! its `shadow/v1alpha1, Kind=Deployment`, and searches the schemas for that kind. Object bodies
//! keep their original `apiVersion`/`kind` (Clusternet returns `apps/v1 Deployment`); set
//! [`Options::keep_source_gvk`] to list the source kind as well.
//!
//! Schema names stay the parent's (`io.k8s.api.apps.v1.Deployment`), which are unique per source
//! group, so `io.k8s.api.core.v1.Event` and `io.k8s.api.events.v1.Event` never collide. What
//! can collide is the served kind: both would be `shadow/v1alpha1 Event`. Clusternet keeps one
//! resource per plural; the builders keep the first resource (or kind) given and report the rest
//! as [`Warning::ConflictingKind`].
//!
//! Feed only the parent's own group-versions: not `shadow` or `proxies.clusternet.io`, which
//! the aggregator serves from the hub itself.
//!
//! ```
//! use clusternet_openapi::{shadow, Catalog, Dialect, GroupVersion, GroupVersionKind, Options};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The parent's /openapi/v3/api/v1, cut down to one kind.
//! let core_v1: openapiv3::OpenAPI = serde_json::from_value(serde_json::json!({
//!     "openapi": "3.0.0",
//!     "info": {"title": "Kubernetes", "version": "1.36"},
//!     "paths": {},
//!     "components": {"schemas": {"io.k8s.api.core.v1.ConfigMap": {
//!         "type": "object",
//!         "properties": {"metadata": {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]}},
//!         "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "ConfigMap"}]
//!     }}}
//! }))?;
//! let mut catalog = Catalog::new(Dialect::V3)?;
//! catalog.add_v3(&core_v1)?;
//!
//! // Just the schemas…
//! let kinds = [GroupVersionKind::new("", "v1", "ConfigMap")];
//! let schemas = shadow::schemas(&catalog, &kinds, &Options::default())?.document;
//! assert_eq!(schemas["io.k8s.api.core.v1.ConfigMap"]["x-kubernetes-group-version-kind"][0]["group"], "shadow");
//! assert!(schemas.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
//!
//! // …or the whole /openapi/v3/apis/shadow/v1alpha1 document.
//! let configmaps = shadow::resource(GroupVersion::new("", "v1"), "configmaps", "ConfigMap");
//! let doc = shadow::v3_document(&catalog, vec![configmaps], &Options::default())?.document;
//! assert!(doc.paths.paths.contains_key("/apis/shadow/v1alpha1/namespaces/{namespace}/configmaps"));
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;

use openapiv3::{OpenAPI, ReferenceOr, Schema};
use serde_json::{Map, Value};

use crate::catalog::{Catalog, Dialect};
use crate::error::{Built, Error, Warning};
use crate::model::{ApiGroupVersion, GroupVersion, GroupVersionKind, Options, Resource};
use crate::schemas::SchemaSet;

/// The group name (literally `shadow`).
pub const GROUP: &str = clusternet_apis::known::SHADOW_GROUP;
/// The version.
pub const VERSION: &str = clusternet_apis::known::SHADOW_VERSION;

/// `shadow/v1alpha1`.
pub fn group_version() -> GroupVersion {
    GroupVersion::new(GROUP, VERSION)
}

/// A namespaced shadow resource mirroring `source` with all verbs; adjust it with the
/// [`Resource`] builder methods (e.g. [`Resource::cluster_scoped`], [`Resource::with_subresource`]).
pub fn resource(
    source: GroupVersion,
    plural: impl Into<String>,
    kind: impl Into<String>,
) -> Resource {
    Resource::new(plural, kind).mirroring(source)
}

/// The shadow group-version with `resources`.
pub fn api_group_version(resources: Vec<Resource>) -> ApiGroupVersion {
    ApiGroupVersion::new(group_version(), resources)
}

/// Extracts the schemas of source `kinds` (e.g. `apps/v1 Deployment`) from the catalog, with
/// everything they reference, and rewrites each kind's `x-kubernetes-group-version-kind` to
/// `shadow/v1alpha1 <Kind>`. Works in the catalog's dialect: OpenAPI 3 schemas from `/openapi/v3`
/// documents, Swagger 2.0 definitions from `/openapi/v2`.
///
/// A kind missing from the catalog gets a permissive object schema and a warning; a kind whose
/// name an earlier kind already took is skipped with a warning.
pub fn schemas(
    catalog: &Catalog<'_>,
    kinds: &[GroupVersionKind],
    options: &Options,
) -> Result<Built<BTreeMap<String, Value>>, Error> {
    let served = group_version();
    let mut set = SchemaSet::new(catalog);
    let mut warnings = Vec::new();
    let mut taken: BTreeMap<&str, String> = BTreeMap::new();
    for source in kinds {
        let name = set.resolve(source, None);
        match taken.get(source.kind.as_str()) {
            Some(existing) if *existing != name => {
                warnings.push(Warning::ConflictingKind {
                    group_version: served.api_version(),
                    kind: source.kind.clone(),
                    skipped: source.to_string(),
                });
                continue;
            }
            _ => {}
        }
        taken.insert(&source.kind, name.clone());
        set.add_kind(&name, served.with_kind(&source.kind));
        if options.keep_source_gvk {
            set.add_kind(&name, source.clone());
        }
        set.use_schema(&name);
    }
    let (schemas, more) = set.finish(std::slice::from_ref(&served))?;
    warnings.extend(more);
    Ok(Built::new(schemas, warnings))
}

/// [`schemas`] from the parent's OpenAPI 3 documents, as `openapiv3` models.
pub fn v3_schemas(
    parents: &[&OpenAPI],
    kinds: &[GroupVersionKind],
    options: &Options,
) -> Result<Built<BTreeMap<String, ReferenceOr<Schema>>>, Error> {
    let mut catalog = Catalog::new(Dialect::V3)?;
    for doc in parents {
        catalog.add_v3(doc)?;
    }
    let built = schemas(&catalog, kinds, options)?;
    Ok(Built {
        document: crate::v3::to_model(built.document)?,
        warnings: built.warnings,
    })
}

/// [`schemas`] from the parent's `/openapi/v2` document, as Swagger 2.0 definitions.
pub fn v2_definitions(
    parent: &Value,
    kinds: &[GroupVersionKind],
    options: &Options,
) -> Result<Built<Map<String, Value>>, Error> {
    let mut catalog = Catalog::new(Dialect::V2)?;
    catalog.add_json(parent)?;
    let built = schemas(&catalog, kinds, options)?;
    Ok(Built {
        document: built.document.into_iter().collect(),
        warnings: built.warnings,
    })
}

/// The `/openapi/v3/apis/shadow/v1alpha1` document for `resources` (see [`crate::v3::build`]).
pub fn v3_document(
    catalog: &Catalog<'_>,
    resources: Vec<Resource>,
    options: &Options,
) -> Result<Built<OpenAPI>, Error> {
    crate::v3::build(&api_group_version(resources), catalog, options)
}
