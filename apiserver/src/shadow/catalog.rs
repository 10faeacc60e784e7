//! What the shadow group mirrors: every resource the parent serves that can be stored as a
//! template, read from the parent's aggregated discovery and kept current.
//!
//! Selection follows Clusternet (`pkg/hub/apiserver/shadow`): groups `*.clusternet.io`, `shadow`,
//! `metrics.k8s.io` and `custom.metrics.k8s.io` are left out, as are `apiservices`; each group
//! contributes its preferred version; everything lands in one flat group-version, so a plural
//! served by two groups (e.g. `events`) goes to the group of higher priority — the parent's
//! aggregated discovery lists groups in priority order, first wins. Unlike Clusternet, kinds
//! that cannot be stored and read back (no create, get or list: `tokenreviews`, `bindings`,
//! `componentstatuses`, …) are left out too, and the set follows the parent at run time
//! (new CRDs, new APIServices) instead of being read once at start.

use bytes::Bytes;
use clusternet_openapi::{ApiGroupVersion, GroupVersion, PatchType, Resource, Subresource, Verb};
use kube::core::discovery::v2::{APIGroupDiscovery, APIGroupDiscoveryList};
use serde::Deserialize;

use crate::shadow::{GROUP, VERSION};

/// Category of every shadow resource (Clusternet's `known.Category`).
pub const CATEGORY: &str = clusternet_apis::known::CATEGORY;

/// One mirrored resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShadowResource {
    /// Group of the original (`""` for core).
    pub group: String,
    /// Version of the original (the group's preferred version).
    pub version: String,
    /// Plural (the same under shadow).
    pub plural: String,
    /// Singular.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names.
    pub short_names: Vec<String>,
    /// Whether the original has a `scale` subresource (`autoscaling/v1 Scale`).
    pub scale: bool,
    /// Whether the original has a `status` subresource.
    pub status: bool,
    /// Whether the original is a custom resource (a CRD): no strategic merge patch, as
    /// kube-apiserver serves custom resources.
    pub custom: bool,
    /// The original's verbs, as its discovery lists them (`deletecollection`, …).
    pub verbs: Vec<String>,
}

/// Built-in resources whose deletion answers with the deleted object rather than a Status
/// (`ReturnDeletedObject` of their storage in kube-apiserver 1.36, `pkg/registry`). Custom
/// resources answer with a Status.
const RETURNS_DELETED_OBJECT: [(&str, &str); 20] = [
    ("", "namespaces"),
    ("", "persistentvolumeclaims"),
    ("", "persistentvolumes"),
    ("", "pods"),
    ("", "podtemplates"),
    ("", "resourcequotas"),
    ("", "serviceaccounts"),
    ("", "services"),
    // Deleted with a finalizer of kube-apiserver's own (customresourcecleanup), so pending.
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("resource.k8s.io", "deviceclasses"),
    ("resource.k8s.io", "devicetaintrules"),
    ("resource.k8s.io", "resourceclaims"),
    ("resource.k8s.io", "resourceclaimtemplates"),
    ("resource.k8s.io", "resourcepoolstatusrequests"),
    ("resource.k8s.io", "resourceslices"),
    ("storage.k8s.io", "csidrivers"),
    ("storage.k8s.io", "csinodes"),
    ("storage.k8s.io", "storageclasses"),
    ("storage.k8s.io", "volumeattachments"),
    ("storage.k8s.io", "volumeattributesclasses"),
];

/// Built-in resources whose `status` subresource prints no Table (its storage has no table
/// convertor): a Table request gets the object, as from kube-apiserver 1.36.
const STATUS_WITHOUT_TABLE: [(&str, &str); 2] = [
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("resource.k8s.io", "resourceclaims"),
];

impl ShadowResource {
    /// Whether its `status` subresource answers Table requests.
    pub fn status_has_table(&self) -> bool {
        self.custom
            || !STATUS_WITHOUT_TABLE
                .iter()
                .any(|(g, p)| *g == self.group && *p == self.plural)
    }

    /// Whether the original serves `verb` (as discovery spells it).
    pub fn serves(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// Whether deleting an object answers with the object (else a `Status`).
    pub fn returns_deleted_object(&self) -> bool {
        !self.custom
            && RETURNS_DELETED_OBJECT
                .iter()
                .any(|(g, p)| *g == self.group && *p == self.plural)
    }

    /// `apps/v1`, or `v1` for core.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The original's collection path on the parent, in `namespace` if namespaced.
    pub fn parent_path(&self, namespace: Option<&str>) -> String {
        let prefix = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{prefix}/namespaces/{ns}/{}", self.plural),
            _ => format!("{prefix}/{}", self.plural),
        }
    }

    /// Its description for discovery and OpenAPI under `shadow/v1alpha1`.
    pub fn served(&self) -> Resource {
        let mut resource = Resource::new(self.plural.clone(), self.kind.clone())
            .with_singular(self.singular.clone())
            .with_short_names(self.short_names.clone())
            .with_categories([CATEGORY])
            // Custom resources take no strategic merge patch, as on kube-apiserver.
            .with_patch_types(if self.custom {
                vec![PatchType::Json, PatchType::Merge, PatchType::Apply]
            } else {
                PatchType::ALL.to_vec()
            })
            .mirroring(GroupVersion::new(self.group.clone(), self.version.clone()))
            .with_verbs(Verb::ALL.into_iter().filter(|v| self.serves(v.as_str())));
        resource.namespaced = self.namespaced;
        if self.status {
            resource = resource.with_subresource(Subresource::status());
        }
        if self.scale {
            resource = resource.with_subresource(Subresource::scale());
        }
        resource
    }
}

/// The served group-version for `resources`.
pub fn group_version(resources: &[ShadowResource]) -> ApiGroupVersion {
    ApiGroupVersion::new(
        GroupVersion::new(GROUP, VERSION),
        resources.iter().map(ShadowResource::served).collect(),
    )
}

/// Groups never mirrored.
fn excluded_group(group: &str) -> bool {
    group.ends_with(".clusternet.io")
        || group == "clusternet.io"
        || group == GROUP
        || group == "metrics.k8s.io"
        || group == "custom.metrics.k8s.io"
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    #[serde(flatten)]
    list: APIGroupDiscoveryList,
}

/// Parses an aggregated discovery document (`/api` or `/apis` answered as
/// `apidiscovery.k8s.io/v2 APIGroupDiscoveryList`).
pub fn parse_discovery(body: &Bytes) -> Result<Vec<APIGroupDiscovery>, serde_json::Error> {
    serde_json::from_slice::<DiscoveryDocument>(body).map(|d| d.list.items)
}

/// The mirrored resources, from the parent's `/api` then `/apis` aggregated documents (in the
/// order the parent lists them, which is priority order).
pub fn select(groups: &[APIGroupDiscovery]) -> Vec<ShadowResource> {
    let mut out: Vec<ShadowResource> = Vec::new();
    for group in groups {
        let name = group
            .metadata
            .as_ref()
            .and_then(|m| m.name.clone())
            .unwrap_or_default();
        if excluded_group(&name) {
            continue;
        }
        // The first version listed is the preferred one.
        let Some(version) = group.versions.first() else {
            continue;
        };
        let version_name = version.version.clone().unwrap_or_default();
        for r in &version.resources {
            let plural = r.resource.clone().unwrap_or_default();
            if plural.is_empty()
                || plural.contains('/')
                || (name == "apiregistration.k8s.io" && plural == "apiservices")
            {
                continue;
            }
            let verbs = &r.verbs;
            if !["create", "get", "list"]
                .iter()
                .all(|v| verbs.iter().any(|x| x == v))
            {
                continue;
            }
            if out.iter().any(|existing| existing.plural == plural) {
                continue; // served by a group of higher priority
            }
            let kind = r
                .response_kind
                .as_ref()
                .and_then(|k| k.kind.clone())
                .unwrap_or_default();
            let sub = |n: &str| {
                r.subresources
                    .iter()
                    .any(|s| s.subresource.as_deref() == Some(n))
            };
            out.push(ShadowResource {
                group: name.clone(),
                version: version_name.clone(),
                singular: r
                    .singular_resource
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| kind.to_lowercase()),
                plural,
                kind,
                namespaced: r.scope.as_deref() == Some("Namespaced"),
                short_names: r.short_names.clone(),
                scale: sub("scale"),
                status: sub("status"),
                custom: false,
                verbs: verbs.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(items: serde_json::Value) -> Vec<APIGroupDiscovery> {
        parse_discovery(&Bytes::from(json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "items": items}).to_string())).unwrap()
    }

    fn res(
        name: &str,
        kind: &str,
        scope: &str,
        verbs: &[&str],
        subs: &[&str],
    ) -> serde_json::Value {
        json!({"resource": name, "responseKind": {"kind": kind}, "scope": scope, "singularResource": kind.to_lowercase(),
               "verbs": verbs, "shortNames": [], "subresources": subs.iter().map(|s| json!({"subresource": s})).collect::<Vec<_>>()})
    }

    #[test]
    fn selection_follows_clusternet() {
        let all = [
            "create", "delete", "get", "list", "patch", "update", "watch",
        ];
        let groups = doc(json!([
            {"metadata": {"name": ""}, "versions": [{"version": "v1", "resources": [
                res("configmaps", "ConfigMap", "Namespaced", &all, &[]),
                res("events", "Event", "Namespaced", &all, &[]),
                res("bindings", "Binding", "Namespaced", &["create"], &[]),
                res("componentstatuses", "ComponentStatus", "Cluster", &["get", "list"], &[]),
                res("namespaces", "Namespace", "Cluster", &all, &["status", "finalize"]),
            ]}]},
            {"metadata": {"name": "apps"}, "versions": [
                {"version": "v1", "resources": [res("deployments", "Deployment", "Namespaced", &all, &["scale", "status"])]},
                {"version": "v1beta2", "resources": [res("deployments", "Deployment", "Namespaced", &all, &[])]}]},
            {"metadata": {"name": "events.k8s.io"}, "versions": [{"version": "v1", "resources": [res("events", "Event", "Namespaced", &all, &[])]}]},
            {"metadata": {"name": "apiregistration.k8s.io"}, "versions": [{"version": "v1", "resources": [res("apiservices", "APIService", "Cluster", &all, &["status"])]}]},
            {"metadata": {"name": "apps.clusternet.io"}, "versions": [{"version": "v1alpha1", "resources": [res("subscriptions", "Subscription", "Namespaced", &all, &[])]}]},
            {"metadata": {"name": "shadow"}, "versions": [{"version": "v1alpha1", "resources": [res("widgets", "Widget", "Namespaced", &all, &[])]}]},
            {"metadata": {"name": "metrics.k8s.io"}, "versions": [{"version": "v1beta1", "resources": [res("pods", "PodMetrics", "Namespaced", &["get", "list"], &[])]}]},
            {"metadata": {"name": "example.com"}, "versions": [{"version": "v1", "resources": [res("widgets", "Widget", "Namespaced", &all, &["status", "scale"])]}]},
        ]));
        let selected = select(&groups);
        let names: Vec<String> = selected
            .iter()
            .map(|r| format!("{}/{}:{}", r.group, r.version, r.plural))
            .collect();
        assert_eq!(
            names,
            [
                "/v1:configmaps",
                "/v1:events",
                "/v1:namespaces",
                "apps/v1:deployments",
                "example.com/v1:widgets"
            ]
        );
        let deployments = &selected[3];
        assert!(deployments.scale && deployments.status && deployments.namespaced);
        // The parent's verbs, no more: these have no deletecollection.
        assert!(deployments.serves("list") && !deployments.serves("deletecollection"));
        assert!(
            !group_version(&selected).resources[3]
                .verbs
                .contains(&Verb::DeleteCollection)
        );
        // Deleting a Namespace answers with it; a Deployment with a Status.
        assert!(selected[2].returns_deleted_object() && !deployments.returns_deleted_object());
        assert!(deployments.status_has_table());
        assert_eq!(deployments.api_version(), "apps/v1");
        assert_eq!(
            deployments.parent_path(Some("clusternet-reserved")),
            "/apis/apps/v1/namespaces/clusternet-reserved/deployments"
        );
        assert_eq!(selected[2].parent_path(None), "/api/v1/namespaces");
        let gv = group_version(&selected);
        assert_eq!(gv.resources[3].categories, ["clusternet.shadow"]);
        assert_eq!(gv.resources[3].subresources.len(), 2);
    }
}
