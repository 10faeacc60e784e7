//! Discovery: what the hub serves, and the documents that describe it.
//!
//! One [`ApiGroup`] list is the source of truth; from it come the legacy documents
//! (`/apis` → `APIGroupList`, `/apis/<g>` → `APIGroup`, `/apis/<g>/<v>` → `APIResourceList`) and
//! aggregated discovery (`/apis` → `apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`, with ETag).
//! The set changes at run time (shadow resources follow the parent's CRDs), so documents live in
//! an immutable [`Snapshot`] that is rebuilt and swapped whole on change: readers never see a
//! half-updated set and serving a document is a clone of prepared bytes.

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIResource, APIResourceList, GroupVersionForDiscovery,
};
use kube::core::discovery::v2::{
    APIGroupDiscovery, APIResourceDiscovery, APISubresourceDiscovery, APIVersionDiscovery,
    GroupVersionKind,
};
use serde_json::json;

use crate::negotiate::DiscoveryFormat;

/// A subresource (`status`, `scale`, `proxy`).
#[derive(Clone, Debug, PartialEq)]
pub struct Subresource {
    /// Name after the slash.
    pub name: String,
    /// Kind it returns, with group and version (e.g. `autoscaling/v1 Scale`); empty group and
    /// version mean the parent's.
    pub kind: String,
    /// Group of `kind` (None: the resource's group).
    pub group: Option<String>,
    /// Version of `kind` (None: the resource's version).
    pub version: Option<String>,
    /// Verbs.
    pub verbs: Vec<String>,
}

/// One served resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// Plural name (URL segment).
    pub name: String,
    /// Singular name.
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Kind.
    pub kind: String,
    /// Verbs.
    pub verbs: Vec<String>,
    /// Short names.
    pub short_names: Vec<String>,
    /// Categories.
    pub categories: Vec<String>,
    /// Subresources.
    pub subresources: Vec<Subresource>,
}

/// One version of a group.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiVersion {
    /// Version name.
    pub version: String,
    /// Resources.
    pub resources: Vec<Resource>,
}

/// One API group (versions preferred first).
#[derive(Clone, Debug, PartialEq)]
pub struct ApiGroup {
    /// Group name.
    pub name: String,
    /// Versions, preferred first.
    pub versions: Vec<ApiVersion>,
}

/// Verbs of a connect-only resource (kube-apiserver lists the verbs of the HTTP methods it
/// connects: GET, POST, PUT, PATCH, DELETE), as `pods/proxy` shows them.
pub fn connect_verbs() -> Vec<String> {
    ["create", "delete", "get", "patch", "update"]
        .map(String::from)
        .to_vec()
}

/// The prepared discovery documents for one set of groups.
#[derive(Debug)]
pub struct Snapshot {
    groups: Vec<ApiGroup>,
    group_list: Bytes,
    aggregated_v2: Bytes,
    aggregated_v2beta1: Bytes,
    etag: String,
}

impl Snapshot {
    /// Prepares every document for `groups`.
    pub fn new(groups: Vec<ApiGroup>) -> Self {
        let group_list = to_bytes(&json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": groups.iter().map(legacy_group).collect::<Vec<_>>(),
        }));
        let items: Vec<APIGroupDiscovery> = groups.iter().map(aggregated_group).collect();
        let aggregated = |api_version: &str| {
            to_bytes(&json!({
                "kind": "APIGroupDiscoveryList",
                "apiVersion": api_version,
                "metadata": {},
                "items": items,
            }))
        };
        let aggregated_v2 = aggregated("apidiscovery.k8s.io/v2");
        let aggregated_v2beta1 = aggregated("apidiscovery.k8s.io/v2beta1");
        let etag = format!("\"{}\"", hex_digest(&aggregated_v2));
        Self {
            groups,
            group_list,
            aggregated_v2,
            aggregated_v2beta1,
            etag,
        }
    }

    /// The groups.
    pub fn groups(&self) -> &[ApiGroup] {
        &self.groups
    }

    /// `/apis` in the given format, with the ETag for aggregated formats.
    pub fn apis(&self, format: DiscoveryFormat) -> (Bytes, Option<&str>) {
        match format {
            DiscoveryFormat::Legacy => (self.group_list.clone(), None),
            DiscoveryFormat::AggregatedV2 => (self.aggregated_v2.clone(), Some(&self.etag)),
            DiscoveryFormat::AggregatedV2beta1 => {
                (self.aggregated_v2beta1.clone(), Some(&self.etag))
            }
        }
    }

    /// `/apis/<group>`.
    pub fn group(&self, name: &str) -> Option<Bytes> {
        let group = self.groups.iter().find(|g| g.name == name)?;
        let mut doc = serde_json::to_value(legacy_group(group)).ok()?;
        if let Some(map) = doc.as_object_mut() {
            map.insert("kind".into(), "APIGroup".into());
            map.insert("apiVersion".into(), "v1".into());
        }
        Some(to_bytes(&doc))
    }

    /// `/apis/<group>/<version>`.
    pub fn resource_list(&self, group: &str, version: &str) -> Option<Bytes> {
        let g = self.groups.iter().find(|g| g.name == group)?;
        let v = g.versions.iter().find(|v| v.version == version)?;
        let mut resources = Vec::new();
        for r in &v.resources {
            resources.push(APIResource {
                name: r.name.clone(),
                singular_name: r.singular.clone(),
                namespaced: r.namespaced,
                kind: r.kind.clone(),
                verbs: r.verbs.clone(),
                short_names: (!r.short_names.is_empty()).then(|| r.short_names.clone()),
                categories: (!r.categories.is_empty()).then(|| r.categories.clone()),
                ..Default::default()
            });
            for s in &r.subresources {
                resources.push(APIResource {
                    name: format!("{}/{}", r.name, s.name),
                    singular_name: String::new(),
                    namespaced: r.namespaced,
                    kind: s.kind.clone(),
                    group: s.group.clone(),
                    version: s.version.clone(),
                    verbs: s.verbs.clone(),
                    ..Default::default()
                });
            }
        }
        let list = APIResourceList {
            group_version: format!("{group}/{version}"),
            resources,
        };
        let mut doc = serde_json::to_value(list).ok()?;
        if let Some(map) = doc.as_object_mut() {
            map.insert("kind".into(), "APIResourceList".into());
            map.insert("apiVersion".into(), "v1".into());
        }
        Some(to_bytes(&doc))
    }

    /// Looks a resource up by group, version and plural.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<&Resource> {
        self.groups
            .iter()
            .find(|g| g.name == group)?
            .versions
            .iter()
            .find(|v| v.version == version)?
            .resources
            .iter()
            .find(|r| r.name == plural)
    }
}

/// The live discovery set: a snapshot that can be replaced while requests read it.
#[derive(Debug, Clone)]
pub struct Registry {
    current: Arc<RwLock<Arc<Snapshot>>>,
}

impl Registry {
    /// A registry serving `groups`.
    pub fn new(groups: Vec<ApiGroup>) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(Snapshot::new(groups)))),
        }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces one group (by name) or adds it; returns whether anything changed.
    pub fn set_group(&self, group: ApiGroup) -> bool {
        let mut guard = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut groups = guard.groups.clone();
        match groups.iter_mut().find(|g| g.name == group.name) {
            Some(existing) if *existing == group => return false,
            Some(existing) => *existing = group,
            None => groups.push(group),
        }
        *guard = Arc::new(Snapshot::new(groups));
        true
    }
}

fn legacy_group(group: &ApiGroup) -> APIGroup {
    let versions: Vec<GroupVersionForDiscovery> = group
        .versions
        .iter()
        .map(|v| GroupVersionForDiscovery {
            group_version: format!("{}/{}", group.name, v.version),
            version: v.version.clone(),
        })
        .collect();
    APIGroup {
        name: group.name.clone(),
        preferred_version: versions.first().cloned(),
        server_address_by_client_cidrs: None,
        versions,
    }
}

fn aggregated_group(group: &ApiGroup) -> APIGroupDiscovery {
    APIGroupDiscovery {
        metadata: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(group.name.clone()),
            ..Default::default()
        }),
        versions: group
            .versions
            .iter()
            .map(|v| APIVersionDiscovery {
                version: Some(v.version.clone()),
                freshness: Some("Current".into()),
                resources: v
                    .resources
                    .iter()
                    .map(|r| APIResourceDiscovery {
                        resource: Some(r.name.clone()),
                        response_kind: Some(GroupVersionKind {
                            group: Some(group.name.clone()),
                            version: Some(v.version.clone()),
                            kind: Some(r.kind.clone()),
                        }),
                        scope: Some(
                            if r.namespaced {
                                "Namespaced"
                            } else {
                                "Cluster"
                            }
                            .into(),
                        ),
                        singular_resource: Some(r.singular.clone()),
                        verbs: r.verbs.clone(),
                        short_names: r.short_names.clone(),
                        categories: r.categories.clone(),
                        subresources: r
                            .subresources
                            .iter()
                            .map(|s| APISubresourceDiscovery {
                                subresource: Some(s.name.clone()),
                                response_kind: Some(GroupVersionKind {
                                    group: Some(
                                        s.group.clone().unwrap_or_else(|| group.name.clone()),
                                    ),
                                    version: Some(
                                        s.version.clone().unwrap_or_else(|| v.version.clone()),
                                    ),
                                    kind: Some(s.kind.clone()),
                                }),
                                accepted_types: Vec::new(),
                                verbs: s.verbs.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn to_bytes(value: &impl serde::Serialize) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

/// Lower-case hex SHA-256 of `data`.
pub fn hex_digest(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<ApiGroup> {
        vec![ApiGroup {
            name: "proxies.clusternet.io".into(),
            versions: vec![ApiVersion {
                version: "v1alpha1".into(),
                resources: vec![Resource {
                    name: "sockets".into(),
                    singular: "socket".into(),
                    namespaced: false,
                    kind: "Socket".into(),
                    verbs: connect_verbs(),
                    short_names: vec!["ss".into()],
                    categories: vec!["clusternet".into()],
                    subresources: vec![Subresource {
                        name: "proxy".into(),
                        kind: "Socket".into(),
                        group: None,
                        version: None,
                        verbs: connect_verbs(),
                    }],
                }],
            }],
        }]
    }

    #[test]
    fn legacy_documents() {
        let snap = Snapshot::new(sample());
        let (apis, etag) = snap.apis(DiscoveryFormat::Legacy);
        assert!(etag.is_none());
        let apis: serde_json::Value = serde_json::from_slice(&apis).unwrap();
        assert_eq!(apis["kind"], "APIGroupList");
        assert_eq!(
            apis["groups"][0]["preferredVersion"]["groupVersion"],
            "proxies.clusternet.io/v1alpha1"
        );

        let group: serde_json::Value =
            serde_json::from_slice(&snap.group("proxies.clusternet.io").unwrap()).unwrap();
        assert_eq!(group["kind"], "APIGroup");
        assert_eq!(group["name"], "proxies.clusternet.io");

        let list: serde_json::Value = serde_json::from_slice(
            &snap
                .resource_list("proxies.clusternet.io", "v1alpha1")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(list["kind"], "APIResourceList");
        assert_eq!(list["groupVersion"], "proxies.clusternet.io/v1alpha1");
        assert_eq!(list["resources"][0]["name"], "sockets");
        assert_eq!(list["resources"][0]["shortNames"], json!(["ss"]));
        assert_eq!(list["resources"][0]["categories"], json!(["clusternet"]));
        assert_eq!(list["resources"][1]["name"], "sockets/proxy");
        assert_eq!(
            list["resources"][1]["verbs"],
            json!(["create", "delete", "get", "patch", "update"])
        );
        assert!(snap.resource_list("proxies.clusternet.io", "v1").is_none());
        assert!(snap.group("shadow").is_none());
    }

    #[test]
    fn aggregated_documents_and_etag() {
        let snap = Snapshot::new(sample());
        let (doc, etag) = snap.apis(DiscoveryFormat::AggregatedV2);
        let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(doc["kind"], "APIGroupDiscoveryList");
        assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2");
        let res = &doc["items"][0]["versions"][0]["resources"][0];
        assert_eq!(res["resource"], "sockets");
        assert_eq!(res["scope"], "Cluster");
        assert_eq!(res["responseKind"]["kind"], "Socket");
        assert_eq!(res["subresources"][0]["subresource"], "proxy");
        assert_eq!(doc["items"][0]["versions"][0]["freshness"], "Current");
        let etag = etag.unwrap().to_string();
        assert!(etag.starts_with('"') && etag.ends_with('"'));
        // Same content, same ETag; changed content, new ETag.
        assert_eq!(
            Snapshot::new(sample())
                .apis(DiscoveryFormat::AggregatedV2)
                .1
                .unwrap(),
            etag
        );
        let registry = Registry::new(sample());
        assert!(!registry.set_group(sample().remove(0)));
        let mut changed = sample().remove(0);
        changed.versions[0].resources[0]
            .short_names
            .push("sock".into());
        assert!(registry.set_group(changed));
        assert_ne!(
            registry
                .snapshot()
                .apis(DiscoveryFormat::AggregatedV2)
                .1
                .unwrap(),
            etag
        );
    }
}
