//! How shadow objects are stored: one `Manifest` per object in the reserved namespace, named
//! and labelled exactly as Clusternet does so its tooling (and ours) finds them —
//! `<plural>.<namespace>.<name>` (or `<plural>.<name>` for cluster-scoped kinds), the object's
//! labels plus `apps.clusternet.io/config.{group,version,kind,name,namespace}`, the object in
//! `template`. Reads give the template back with the Manifest's uid, resourceVersion,
//! generation, creationTimestamp and deletion fields, so optimistic concurrency, watches and
//! paging run on the Manifest's own resource versions.

use std::collections::BTreeMap;

use clusternet_apis::known;
use serde_json::{Map, Value, json};

use crate::shadow::catalog::ShadowResource;

/// The Manifest name for an object.
pub fn manifest_name(resource: &ShadowResource, namespace: &str, name: &str) -> String {
    if resource.namespaced {
        format!("{}.{namespace}.{name}", resource.plural)
    } else {
        format!("{}.{name}", resource.plural)
    }
}

/// Label selector terms selecting the Manifests of `resource` (in `namespace` if given).
pub fn selector_terms(resource: &ShadowResource, namespace: Option<&str>) -> Vec<String> {
    let mut terms = vec![
        format!("{}={}", known::CONFIG_GROUP_LABEL, resource.group),
        format!("{}={}", known::CONFIG_KIND_LABEL, resource.kind),
    ];
    if let Some(ns) = namespace.filter(|_| resource.namespaced) {
        terms.push(format!("{}={ns}", known::CONFIG_NAMESPACE_LABEL));
    }
    terms
}

/// A Manifest (JSON) holding `object`.
pub fn to_manifest(resource: &ShadowResource, reserved_namespace: &str, object: &Value) -> Value {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let namespace = if resource.namespaced {
        object["metadata"]["namespace"].as_str().unwrap_or_default()
    } else {
        ""
    };
    let mut labels: BTreeMap<String, String> = object["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    labels.insert(known::CONFIG_GROUP_LABEL.into(), resource.group.clone());
    labels.insert(known::CONFIG_VERSION_LABEL.into(), resource.version.clone());
    labels.insert(known::CONFIG_KIND_LABEL.into(), resource.kind.clone());
    labels.insert(known::CONFIG_NAME_LABEL.into(), name.into());
    labels.insert(known::CONFIG_NAMESPACE_LABEL.into(), namespace.into());
    json!({
        "apiVersion": "apps.clusternet.io/v1alpha1",
        "kind": "Manifest",
        "metadata": {
            "name": manifest_name(resource, namespace, name),
            "namespace": reserved_namespace,
            "labels": labels,
        },
        "template": object,
    })
}

/// The shadow object a Manifest holds, as served: `apiVersion: shadow/v1alpha1` (the kind
/// unchanged) and the Manifest's server-side metadata.
///
/// Go Clusternet serves the template's original apiVersion (e.g. `apps/v1`). With plain
/// kubectl that is dangerous: commands that act on listed items (`kubectl delete --all`,
/// `kubectl delete -l …`) route each item by its own apiVersion, i.e. to the parent's *real*
/// resources. Serving the shadow group-version keeps every follow-up request in the shadow
/// API; the stored template (what controllers read from the Manifest) keeps the original.
pub fn from_manifest(manifest: &Value) -> Value {
    let mut object = manifest["template"].clone();
    if !object.is_object() {
        object = json!({});
    }
    object["apiVersion"] = format!("{}/{}", crate::shadow::GROUP, crate::shadow::VERSION).into();
    let meta = &manifest["metadata"];
    let target = object.as_object_mut().and_then(|o| {
        o.entry("metadata").or_insert_with(|| json!({}));
        o.get_mut("metadata").and_then(Value::as_object_mut)
    });
    if let Some(target) = target {
        for key in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            match meta.get(key) {
                Some(v) if !v.is_null() => {
                    target.insert(key.into(), v.clone());
                }
                _ => {
                    target.remove(key);
                }
            }
        }
        // Why a feed cannot be deleted yet (set by the controller-manager's feed protection).
        if let Some(reason) = meta["annotations"][known::FEED_PROTECTION_ANNOTATION].as_str() {
            let annotations = target.entry("annotations").or_insert_with(|| json!({}));
            if let Some(a) = annotations.as_object_mut() {
                a.insert(known::FEED_PROTECTION_ANNOTATION.into(), reason.into());
            }
        }
    }
    object
}

fn remove_path(value: &mut Value, path: &[&str]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = value;
    for p in parents {
        match cur.get_mut(*p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(map) = cur.as_object_mut() {
        map.remove(*last);
    }
}

/// Removes what must not be stored in a template (Clusternet's trimmer): server metadata, the
/// status, and values the parent allocated that would be wrong in a child (a Service's cluster
/// IPs and node ports; a Job's controller-uid selector and labels).
pub fn trim(resource: &ShadowResource, object: &mut Value) {
    for key in [
        "creationTimestamp",
        "managedFields",
        "resourceVersion",
        "selfLink",
        "uid",
        "generation",
    ] {
        remove_path(object, &["metadata", key]);
    }
    remove_path(object, &["status"]);
    match (resource.group.as_str(), resource.kind.as_str()) {
        ("", "Service") => {
            let service_type = object["spec"]["type"]
                .as_str()
                .unwrap_or("ClusterIP")
                .to_string();
            if object["spec"]["clusterIP"].as_str() != Some("None") {
                remove_path(object, &["spec", "clusterIP"]);
                remove_path(object, &["spec", "clusterIPs"]);
            }
            if service_type == "NodePort" || service_type == "LoadBalancer" {
                remove_path(object, &["spec", "healthCheckNodePort"]);
                if let Some(ports) = object["spec"]["ports"].as_array_mut() {
                    for port in ports {
                        if let Some(p) = port.as_object_mut() {
                            p.remove("nodePort");
                        }
                    }
                }
            }
        }
        ("batch", "Job") => {
            for path in [
                &["spec", "selector", "matchLabels", "controller-uid"][..],
                &[
                    "spec",
                    "selector",
                    "matchLabels",
                    "batch.kubernetes.io/controller-uid",
                ],
                &["spec", "template", "metadata", "creationTimestamp"],
                &["spec", "template", "metadata", "labels", "controller-uid"],
                &[
                    "spec",
                    "template",
                    "metadata",
                    "labels",
                    "batch.kubernetes.io/controller-uid",
                ],
                &[
                    "spec",
                    "template",
                    "metadata",
                    "labels",
                    "batch.kubernetes.io/job-name",
                ],
            ] {
                remove_path(object, path);
            }
        }
        _ => {}
    }
}

/// Adds `clusternet.io/created-by: clusternet-hub` to the object's labels.
pub fn label_created_by_hub(object: &mut Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        let labels = meta
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(l) = labels.as_object_mut() {
            l.insert(
                known::OBJECT_CREATED_BY_LABEL.into(),
                known::CLUSTERNET_HUB_NAME.into(),
            );
        }
    }
}

/// A parent's `ManifestList` (JSON) as `(list metadata, shadow objects)`, converting each
/// Manifest while it is parsed: only one Manifest is ever held as a `Value`, so an unpaged list
/// of 10,000 costs the converted objects, not twice that plus the Manifests' managedFields.
pub fn objects_from_manifest_list(body: &[u8]) -> serde_json::Result<(Value, Vec<Value>)> {
    use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    struct Items(Vec<Value>);
    impl<'de> de::Deserialize<'de> for Items {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Each;
            impl<'de> Visitor<'de> for Each {
                type Value = Vec<Value>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a list of Manifests")
                }
                fn visit_unit<E>(self) -> Result<Vec<Value>, E> {
                    Ok(Vec::new())
                }
                fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Vec<Value>, S::Error> {
                    let mut objects = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                    while let Some(manifest) = seq.next_element::<Value>()? {
                        objects.push(from_manifest(&manifest));
                    }
                    Ok(objects)
                }
            }
            d.deserialize_any(Each).map(Items)
        }
    }
    struct List;
    impl<'de> Visitor<'de> for List {
        type Value = (Value, Vec<Value>);
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a ManifestList")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let (mut meta, mut items) = (Value::Null, Vec::new());
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                match key.as_ref() {
                    "metadata" => meta = map.next_value()?,
                    "items" => items = map.next_value::<Items>()?.0,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok((meta, items))
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let list = de.deserialize_map(List)?;
    de.end()?;
    Ok(list)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_manifest_list_converts_item_by_item_as_a_whole_parse_would() {
        let list = json!({"kind": "ManifestList", "apiVersion": "apps.clusternet.io/v1alpha1",
        "metadata": {"resourceVersion": "42", "continue": "abc"},
        "items": [
            {"metadata": {"name": "configmaps.default.a", "uid": "u1", "resourceVersion": "7",
                          "managedFields": [{"manager": "x"}]},
             "template": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"}, "data": {"k": "v"}}},
            {"metadata": {"name": "configmaps.default.b", "resourceVersion": "8"},
             "template": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "default"}}}
        ]});
        let body = serde_json::to_vec(&list).unwrap();
        let (meta, items) = objects_from_manifest_list(&body).unwrap();
        assert_eq!(meta, list["metadata"]);
        let whole: Vec<Value> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(from_manifest)
            .collect();
        assert_eq!(items, whole);
        assert_eq!(items[0]["apiVersion"], "shadow/v1alpha1");
        assert_eq!(items[1]["metadata"]["resourceVersion"], "8");
        // `items: null` (an empty list from some encoders) and trailing garbage.
        let (_, none) = objects_from_manifest_list(br#"{"items":null,"metadata":{}}"#).unwrap();
        assert!(none.is_empty());
        assert!(objects_from_manifest_list(br#"{"items":[]} x"#).is_err());
        assert!(objects_from_manifest_list(b"[1,2]").is_err());
    }

    use super::*;

    fn deployments() -> ShadowResource {
        ShadowResource {
            group: "apps".into(),
            version: "v1".into(),
            plural: "deployments".into(),
            singular: "deployment".into(),
            kind: "Deployment".into(),
            namespaced: true,
            short_names: vec!["deploy".into()],
            scale: true,
            status: true,
            custom: false,
            verbs: Vec::new(),
        }
    }

    #[test]
    fn manifest_naming_and_labels_follow_clusternet() {
        let d = deployments();
        assert_eq!(
            manifest_name(&d, "default", "web"),
            "deployments.default.web"
        );
        let ns = ShadowResource {
            group: "".into(),
            version: "v1".into(),
            plural: "namespaces".into(),
            singular: "namespace".into(),
            kind: "Namespace".into(),
            namespaced: false,
            short_names: vec![],
            scale: false,
            status: true,
            custom: false,
            verbs: Vec::new(),
        };
        assert_eq!(manifest_name(&ns, "", "demo"), "namespaces.demo");
        let m = to_manifest(
            &d,
            "clusternet-reserved",
            &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}}}),
        );
        assert_eq!(m["metadata"]["name"], "deployments.default.web");
        assert_eq!(m["metadata"]["namespace"], "clusternet-reserved");
        let labels = &m["metadata"]["labels"];
        assert_eq!(labels["app"], "web");
        assert_eq!(labels["apps.clusternet.io/config.group"], "apps");
        assert_eq!(labels["apps.clusternet.io/config.version"], "v1");
        assert_eq!(labels["apps.clusternet.io/config.kind"], "Deployment");
        assert_eq!(labels["apps.clusternet.io/config.name"], "web");
        assert_eq!(labels["apps.clusternet.io/config.namespace"], "default");
        assert_eq!(
            selector_terms(&d, Some("default")),
            [
                "apps.clusternet.io/config.group=apps",
                "apps.clusternet.io/config.kind=Deployment",
                "apps.clusternet.io/config.namespace=default"
            ]
        );
        assert_eq!(selector_terms(&ns, Some("x")).len(), 2);
    }

    #[test]
    fn reads_carry_the_manifest_metadata() {
        let manifest = json!({"metadata": {"uid": "u1", "resourceVersion": "42", "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": {"apps.clusternet.io/feed-protection": "in use by default/sub"}},
            "template": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "resourceVersion": "1", "uid": "stale"}}});
        let obj = from_manifest(&manifest);
        assert_eq!(obj["apiVersion"], "shadow/v1alpha1");
        assert_eq!(obj["kind"], "Deployment");
        assert_eq!(obj["metadata"]["uid"], "u1");
        assert_eq!(obj["metadata"]["resourceVersion"], "42");
        assert_eq!(obj["metadata"]["generation"], 3);
        assert_eq!(
            obj["metadata"]["annotations"]["apps.clusternet.io/feed-protection"],
            "in use by default/sub"
        );
        assert!(obj["metadata"].get("deletionTimestamp").is_none());
    }

    #[test]
    fn trimming() {
        let svc = ShadowResource {
            group: "".into(),
            version: "v1".into(),
            plural: "services".into(),
            singular: "service".into(),
            kind: "Service".into(),
            namespaced: true,
            short_names: vec![],
            scale: false,
            status: true,
            custom: false,
            verbs: Vec::new(),
        };
        let mut o = json!({"metadata": {"name": "s", "resourceVersion": "1", "managedFields": []}, "spec": {"type": "NodePort", "clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ports": [{"port": 80, "nodePort": 30080}]}, "status": {}});
        trim(&svc, &mut o);
        assert_eq!(
            o,
            json!({"metadata": {"name": "s"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}})
        );
        let mut headless = json!({"spec": {"clusterIP": "None"}});
        trim(&svc, &mut headless);
        assert_eq!(headless["spec"]["clusterIP"], "None");
    }
}
