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

use clusternet_openapi::{ApiGroupVersion, Resource};

use crate::negotiate::DiscoveryFormat;

/// Discovery verbs of a resource: its own verbs plus those of its connect methods, sorted as
/// kube-apiserver lists them.
fn verbs(
    verbs: &[clusternet_openapi::Verb],
    connect: Option<&clusternet_openapi::Connect>,
) -> Vec<String> {
    let mut all: Vec<&str> = verbs.iter().map(|v| v.as_str()).collect();
    if let Some(connect) = connect {
        all.extend(
            connect
                .methods
                .iter()
                .filter_map(|m| m.discovery_verb())
                .map(|v| v.as_str()),
        );
    }
    all.sort_unstable();
    all.dedup();
    all.into_iter().map(String::from).collect()
}

/// One API group (versions preferred first), assembled from the served group-versions.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiGroup {
    /// Group name.
    pub name: String,
    /// Its versions, preferred first.
    pub versions: Vec<ApiGroupVersion>,
}

fn group_by_name(served: &[ApiGroupVersion]) -> Vec<ApiGroup> {
    let mut groups: Vec<ApiGroup> = Vec::new();
    for gv in served {
        match groups.iter_mut().find(|g| g.name == gv.group_version.group) {
            Some(group) => group.versions.push(gv.clone()),
            None => groups.push(ApiGroup {
                name: gv.group_version.group.clone(),
                versions: vec![gv.clone()],
            }),
        }
    }
    groups
}

/// The prepared discovery documents for one set of served group-versions.
#[derive(Debug)]
pub struct Snapshot {
    served: Vec<ApiGroupVersion>,
    groups: Vec<ApiGroup>,
    group_list: Bytes,
    aggregated_v2: Bytes,
    aggregated_v2beta1: Bytes,
    etag: String,
}

impl Snapshot {
    /// Prepares every document for `served`.
    pub fn new(served: Vec<ApiGroupVersion>) -> Self {
        let groups = group_by_name(&served);
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
            served,
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

    /// The served group-versions.
    pub fn served(&self) -> &[ApiGroupVersion] {
        &self.served
    }

    /// The served group-versions with `gv` in place of the one of its name (or added).
    pub fn served_with(&self, gv: &ApiGroupVersion) -> Vec<ApiGroupVersion> {
        let mut served = self.served.clone();
        match served
            .iter_mut()
            .find(|s| s.group_version == gv.group_version)
        {
            Some(existing) => *existing = gv.clone(),
            None => served.push(gv.clone()),
        }
        served
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
        let gv = self.group_version(group, version)?;
        let mut resources = Vec::new();
        for r in &gv.resources {
            resources.push(APIResource {
                name: r.plural.clone(),
                singular_name: r.singular.clone(),
                namespaced: r.namespaced,
                kind: r.kind.clone(),
                verbs: verbs(&r.verbs, r.connect.as_ref()),
                short_names: (!r.short_names.is_empty()).then(|| r.short_names.clone()),
                categories: (!r.categories.is_empty()).then(|| r.categories.clone()),
                ..Default::default()
            });
            for s in &r.subresources {
                let (kind, group, version) = match &s.kind {
                    Some(k) => (
                        k.kind.clone(),
                        Some(k.group.clone()),
                        Some(k.version.clone()),
                    ),
                    None => (r.kind.clone(), None, None),
                };
                resources.push(APIResource {
                    name: format!("{}/{}", r.plural, s.name),
                    singular_name: String::new(),
                    namespaced: r.namespaced,
                    kind,
                    group,
                    version,
                    verbs: verbs(&s.verbs, s.connect.as_ref()),
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

    fn group_version(&self, group: &str, version: &str) -> Option<&ApiGroupVersion> {
        self.served
            .iter()
            .find(|gv| gv.group_version.group == group && gv.group_version.version == version)
    }

    /// Looks a resource up by group, version and plural.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<&Resource> {
        self.group_version(group, version)?
            .resources
            .iter()
            .find(|r| r.plural == plural)
    }
}

/// The live discovery set: a snapshot that can be replaced while requests read it.
#[derive(Debug, Clone)]
pub struct Registry {
    current: Arc<RwLock<Arc<Snapshot>>>,
}

impl Registry {
    /// A registry serving `served`.
    pub fn new(served: Vec<ApiGroupVersion>) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(Snapshot::new(served)))),
        }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces one group-version (or adds it); returns whether anything changed.
    pub fn set(&self, gv: ApiGroupVersion) -> bool {
        let mut guard = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if guard.served.contains(&gv) {
            return false;
        }
        *guard = Arc::new(Snapshot::new(guard.served_with(&gv)));
        true
    }
}

fn legacy_group(group: &ApiGroup) -> APIGroup {
    let versions: Vec<GroupVersionForDiscovery> = group
        .versions
        .iter()
        .map(|v| GroupVersionForDiscovery {
            group_version: format!("{}/{}", group.name, v.group_version.version),
            version: v.group_version.version.clone(),
        })
        .collect();
    APIGroup {
        name: group.name.clone(),
        preferred_version: versions.first().cloned(),
        server_address_by_client_cidrs: None,
        versions,
    }
}

fn gvk(group: &str, version: &str, kind: &str) -> Option<GroupVersionKind> {
    Some(GroupVersionKind {
        group: Some(group.into()),
        version: Some(version.into()),
        kind: Some(kind.into()),
    })
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
            .map(|gv| {
                let (g, v) = (&gv.group_version.group, &gv.group_version.version);
                APIVersionDiscovery {
                    version: Some(v.clone()),
                    freshness: Some("Current".into()),
                    resources: gv
                        .resources
                        .iter()
                        .map(|r| APIResourceDiscovery {
                            resource: Some(r.plural.clone()),
                            response_kind: gvk(g, v, &r.kind),
                            scope: Some(
                                if r.namespaced {
                                    "Namespaced"
                                } else {
                                    "Cluster"
                                }
                                .into(),
                            ),
                            singular_resource: Some(r.singular.clone()),
                            verbs: verbs(&r.verbs, r.connect.as_ref()),
                            short_names: r.short_names.clone(),
                            categories: r.categories.clone(),
                            subresources: r
                                .subresources
                                .iter()
                                .map(|s| APISubresourceDiscovery {
                                    subresource: Some(s.name.clone()),
                                    response_kind: match &s.kind {
                                        Some(k) => gvk(&k.group, &k.version, &k.kind),
                                        None => gvk(g, v, &r.kind),
                                    },
                                    accepted_types: Vec::new(),
                                    verbs: verbs(&s.verbs, s.connect.as_ref()),
                                })
                                .collect(),
                        })
                        .collect(),
                }
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

    fn sample() -> Vec<ApiGroupVersion> {
        vec![clusternet_openapi::proxies::api_group_version()]
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
        assert!(!registry.set(sample().remove(0)));
        let mut changed = sample().remove(0);
        changed.resources[0].short_names.push("sock".into());
        assert!(registry.set(changed));
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
