//! Pure functions on the objects of a Description: decoding `spec.raw`, preparing an object for
//! the child (as Clusternet's `ApplyDescription` does), identities, the prune set and drift.
//!
//! Nothing here does IO, so every rule is unit-tested.

use std::collections::BTreeSet;

use clusternet_apis::apps::v1alpha1::Feed;
use clusternet_apis::known;
use serde_json::{Map, Value};

/// kubectl's client-side-apply annotation; Clusternet drops it before applying.
pub const KUBECTL_LAST_APPLIED_ANNOTATION: &str =
    "kubectl.kubernetes.io/last-applied-configuration";

/// Metadata fields owned by the system, never sent to the child. Clusternet wipes
/// creationTimestamp, uid, deletionTimestamp, deletionGracePeriodSeconds and selfLink; server-side
/// apply also needs resourceVersion (a precondition otherwise) and managedFields gone, and
/// ownerReferences of parent objects would point at UIDs the child does not have (its garbage
/// collector would delete the object).
const SYSTEM_METADATA_FIELDS: [&str; 9] = [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "managedFields",
    "ownerReferences",
];

/// The identity of an object in a child cluster: group, kind, namespace (empty when
/// cluster-scoped) and name. The version is not part of it: the same object is reachable
/// through every served version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// API group ("" for the core group).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// The key of a feed (as recorded in `status.manifestStatuses`).
    pub fn of_feed(feed: &Feed) -> Self {
        Self {
            group: group_of(&feed.api_version).to_string(),
            kind: feed.kind.clone(),
            namespace: feed.namespace.clone(),
            name: feed.name.clone(),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        };
        if self.namespace.is_empty() {
            write!(f, "{kind} {}", self.name)
        } else {
            write!(f, "{kind} {}/{}", self.namespace, self.name)
        }
    }
}

/// The group of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
pub fn group_of(api_version: &str) -> &str {
    api_version
        .rsplit_once('/')
        .map(|(group, _)| group)
        .unwrap_or("")
}

/// The version of an `apiVersion` (`apps/v1` → `v1`).
pub fn version_of(api_version: &str) -> &str {
    api_version
        .rsplit_once('/')
        .map(|(_, version)| version)
        .unwrap_or(api_version)
}

/// The value of the `apps.clusternet.io/owned-by-description` annotation: `<namespace>.<name>`.
pub fn owner_value(desc_namespace: &str, desc_name: &str) -> String {
    format!("{desc_namespace}.{desc_name}")
}

/// Splits an owned-by value back into (namespace, name). Namespaces are DNS labels and cannot
/// contain dots, so the first dot separates them (Clusternet splits on every dot and so breaks
/// on Description names with dots).
pub fn parse_owner_value(value: &str) -> Option<(&str, &str)> {
    let (ns, name) = value.split_once('.')?;
    (!ns.is_empty() && !name.is_empty()).then_some((ns, name))
}

/// One object of `spec.raw`, decoded and prepared for applying.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredObject {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace` as written (may be empty; resolved against the child's scope later).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// The object to apply.
    pub object: Value,
}

impl DesiredObject {
    /// The key, with the namespace resolved for the scope the child reports.
    pub fn key(&self, namespaced: bool) -> ObjectKey {
        ObjectKey {
            group: group_of(&self.api_version).to_string(),
            kind: self.kind.clone(),
            namespace: self.effective_namespace(namespaced),
            name: self.name.clone(),
        }
    }

    /// The namespace the object lives in: none for cluster-scoped kinds, `default` for namespaced
    /// objects written without one (as kubectl does).
    pub fn effective_namespace(&self, namespaced: bool) -> String {
        match (namespaced, self.namespace.is_empty()) {
            (false, _) => String::new(),
            (true, true) => "default".to_string(),
            (true, false) => self.namespace.clone(),
        }
    }

    /// The feed recorded in `status.manifestStatuses`.
    pub fn feed(&self, namespaced: bool) -> Feed {
        Feed {
            kind: self.kind.clone(),
            api_version: self.api_version.clone(),
            namespace: self.effective_namespace(namespaced),
            name: self.name.clone(),
        }
    }

    /// The object to send for a kind of the given scope: `metadata.namespace` set to the
    /// effective namespace (removed for cluster-scoped kinds).
    pub fn for_scope(&self, namespaced: bool) -> Value {
        let mut object = self.object.clone();
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            let ns = self.effective_namespace(namespaced);
            if ns.is_empty() {
                meta.remove("namespace");
            } else {
                meta.insert("namespace".into(), Value::String(ns));
            }
        }
        object
    }

    /// Whether this object must exist before others can be applied (namespaces and CRDs go
    /// first: everything else may live in or be of them).
    pub fn is_prerequisite(&self) -> bool {
        (self.kind == "Namespace" && group_of(&self.api_version).is_empty())
            || (self.kind == "CustomResourceDefinition"
                && group_of(&self.api_version) == "apiextensions.k8s.io")
    }
}

/// Decodes one entry of `spec.raw` and prepares it as Clusternet does: system metadata wiped,
/// kubectl's last-applied annotation dropped, `apps.clusternet.io/owned-by-description` added,
/// and `clusternet.io/last-applied-configuration` set to the object as applied (without that
/// annotation), which is the three-way-merge base Go Clusternet uses. `status` is dropped: the
/// child's controllers own it.
pub fn prepare(raw: &[u8], desc_namespace: &str, desc_name: &str) -> Result<DesiredObject, String> {
    let mut object: Value =
        serde_json::from_slice(raw).map_err(|e| format!("failed to unmarshal resource: {e}"))?;
    let Some(map) = object.as_object_mut() else {
        return Err("failed to unmarshal resource: not a JSON object".into());
    };
    let text = |m: &Map<String, Value>, k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let api_version = text(map, "apiVersion");
    let kind = text(map, "kind");
    if api_version.is_empty() || kind.is_empty() {
        return Err(
            "failed to unmarshal resource: Object 'Kind' or 'apiVersion' is missing".into(),
        );
    }
    map.remove("status");
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else {
        return Err(format!("{kind}: metadata is not an object"));
    };
    for field in SYSTEM_METADATA_FIELDS {
        meta.remove(field);
    }
    let name = text(meta, "name");
    if name.is_empty() {
        return Err(format!("{kind}: metadata.name is required"));
    }
    let namespace = text(meta, "namespace");
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Map::new());
    }
    if let Some(annotations) = annotations.as_object_mut() {
        annotations.remove(KUBECTL_LAST_APPLIED_ANNOTATION);
        annotations.remove(known::LAST_APPLIED_CONFIG_ANNOTATION);
        annotations.insert(
            known::OBJECT_OWNED_BY_DESCRIPTION_ANNOTATION.into(),
            Value::String(owner_value(desc_namespace, desc_name)),
        );
    }
    let trimmed = object.to_string();
    if let Some(annotations) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.insert(
            known::LAST_APPLIED_CONFIG_ANNOTATION.into(),
            Value::String(trimmed),
        );
    }
    Ok(DesiredObject {
        api_version,
        kind,
        namespace,
        name,
        object,
    })
}

/// The objects to prune: those recorded as applied (`previous`) whose key no longer appears in
/// `desired`, each once, in recorded order.
pub fn prune_set(previous: &[Feed], desired: &BTreeSet<ObjectKey>) -> Vec<Feed> {
    let mut seen = BTreeSet::new();
    previous
        .iter()
        .filter(|feed| {
            let key = ObjectKey::of_feed(feed);
            !desired.contains(&key) && seen.insert(key)
        })
        .cloned()
        .collect()
}

/// Whether the live object in the child has drifted from what was applied: some field the
/// Description sets is missing or different. Fields only the child added (defaults, other
/// managers, status) do not count, like Clusternet's `ResourceNeedResync` with `ignoreAdd`.
/// Lists must match element by element (a removed or added container is drift).
pub fn drifted(desired: &Value, live: &Value) -> bool {
    !contains(desired, live)
}

fn contains(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w.iter().all(|(k, wv)| match h.get(k) {
            Some(hv) => contains(wv, hv),
            // An explicit null in the desired object means "unset": absent is fine.
            None => wv.is_null(),
        }),
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(wv, hv)| contains(wv, hv))
        }
        (Value::Number(w), Value::Number(h)) => w.as_f64() == h.as_f64(),
        (w, h) => w == h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn prepare_wipes_system_fields_and_marks_ownership() {
        let obj = prepare(
            &raw(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "demo", "uid": "u", "resourceVersion": "7",
                    "generation": 3, "creationTimestamp": "2020-01-01T00:00:00Z",
                    "managedFields": [{}], "ownerReferences": [{"uid": "x"}],
                    "labels": {"app": "web"},
                    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "me"}},
                "spec": {"replicas": 2},
                "status": {"replicas": 2}
            })),
            "clusternet-abcde",
            "sub-generic",
        )
        .unwrap();
        assert_eq!(obj.kind, "Deployment");
        assert_eq!(obj.namespace, "demo");
        let meta = obj.object["metadata"].as_object().unwrap();
        for gone in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
            "ownerReferences",
        ] {
            assert!(!meta.contains_key(gone), "{gone} kept");
        }
        assert!(obj.object.get("status").is_none());
        let ann = &obj.object["metadata"]["annotations"];
        assert_eq!(
            ann["apps.clusternet.io/owned-by-description"],
            "clusternet-abcde.sub-generic"
        );
        assert_eq!(ann["keep"], "me");
        assert!(ann.get(KUBECTL_LAST_APPLIED_ANNOTATION).is_none());
        // The last-applied annotation is the object without itself.
        let last: Value = serde_json::from_str(
            ann["clusternet.io/last-applied-configuration"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        let mut expected = obj.object.clone();
        expected["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove("clusternet.io/last-applied-configuration");
        assert_eq!(last, expected);
    }

    #[test]
    fn prepare_rejects_bad_input() {
        assert!(prepare(b"not json", "a", "b").is_err());
        assert!(prepare(&raw(json!([1])), "a", "b").is_err());
        assert!(
            prepare(
                &raw(json!({"kind": "ConfigMap", "metadata": {"name": "x"}})),
                "a",
                "b"
            )
            .is_err()
        );
        assert!(
            prepare(
                &raw(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})),
                "a",
                "b"
            )
            .is_err()
        );
    }

    #[test]
    fn scope_resolves_namespace() {
        let obj = prepare(
            &raw(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})),
            "a",
            "b",
        )
        .unwrap();
        assert_eq!(obj.key(true).namespace, "default");
        assert_eq!(obj.for_scope(true)["metadata"]["namespace"], "default");
        let ns = prepare(
            &raw(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "namespace": "oops"}})),
            "a",
            "b",
        )
        .unwrap();
        assert_eq!(ns.key(false).namespace, "");
        assert!(ns.for_scope(false)["metadata"].get("namespace").is_none());
        assert!(ns.is_prerequisite());
        assert!(!obj.is_prerequisite());
        assert_eq!(ns.key(false).to_string(), "Namespace x");
    }

    #[test]
    fn owner_values_round_trip_names_with_dots() {
        let v = owner_value("clusternet-x", "a.b.c");
        assert_eq!(parse_owner_value(&v), Some(("clusternet-x", "a.b.c")));
        assert_eq!(parse_owner_value("nodot"), None);
        assert_eq!(parse_owner_value(".x"), None);
    }

    fn feed(api_version: &str, kind: &str, ns: &str, name: &str) -> Feed {
        Feed {
            kind: kind.into(),
            api_version: api_version.into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn prune_set_is_what_disappeared() {
        let previous = vec![
            feed("v1", "Namespace", "", "demo"),
            feed("v1", "ConfigMap", "demo", "a"),
            feed("v1", "ConfigMap", "demo", "b"),
            feed("apps/v1", "Deployment", "demo", "web"),
            feed("v1", "ConfigMap", "demo", "b"),
        ];
        let desired: BTreeSet<ObjectKey> = [
            feed("v1", "Namespace", "", "demo"),
            feed("v1", "ConfigMap", "demo", "a"),
            // Another version of the same object is the same object.
            feed("apps/v1beta2", "Deployment", "demo", "web"),
        ]
        .iter()
        .map(ObjectKey::of_feed)
        .collect();
        assert_eq!(
            prune_set(&previous, &desired),
            vec![feed("v1", "ConfigMap", "demo", "b")]
        );
        // Same name, other kind or namespace: still pruned.
        let desired: BTreeSet<ObjectKey> = [feed("v1", "Secret", "demo", "a")]
            .iter()
            .map(ObjectKey::of_feed)
            .collect();
        assert_eq!(prune_set(&previous, &desired).len(), 4);
        assert!(prune_set(&[], &desired).is_empty());
    }

    #[test]
    fn drift_ignores_additions_but_not_changes_or_removals() {
        let desired = json!({"metadata": {"labels": {"a": "1"}}, "data": {"k": "v"}, "spec": {"replicas": 2, "ports": [{"port": 80}]}});
        let same_plus_defaults = json!({"metadata": {"labels": {"a": "1", "extra": "x"}, "uid": "u"},
            "data": {"k": "v"}, "spec": {"replicas": 2.0, "ports": [{"port": 80, "protocol": "TCP"}]}, "status": {}});
        assert!(!drifted(&desired, &same_plus_defaults));
        let changed = json!({"metadata": {"labels": {"a": "1"}}, "data": {"k": "edited"}, "spec": {"replicas": 2, "ports": [{"port": 80}]}});
        assert!(drifted(&desired, &changed));
        let removed = json!({"metadata": {"labels": {}}, "data": {"k": "v"}, "spec": {"replicas": 2, "ports": [{"port": 80}]}});
        assert!(drifted(&desired, &removed));
        let extra_item = json!({"metadata": {"labels": {"a": "1"}}, "data": {"k": "v"}, "spec": {"replicas": 2, "ports": [{"port": 80}, {"port": 81}]}});
        assert!(drifted(&desired, &extra_item));
        assert!(!drifted(&json!({"x": null}), &json!({})));
    }
}
