//! `shadow/v1alpha1` documents built from real kube-apiserver v1.36 documents (fixtures).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use clusternet_openapi::{
    Catalog, Dialect, GroupVersion, GroupVersionKind, Options, Resource, Subresource, Warning,
    shadow, v3,
};
use common::*;
use serde_json::Value;

struct Parents {
    apps: openapiv3::OpenAPI,
    core: openapiv3::OpenAPI,
    events: openapiv3::OpenAPI,
    example: openapiv3::OpenAPI,
}

fn parents() -> Parents {
    Parents {
        apps: fixture_v3("apps_v1.json"),
        core: fixture_v3("core_v1.json"),
        events: fixture_v3("events_v1.json"),
        example: fixture_v3("example_v1.json"),
    }
}

fn catalog(p: &Parents) -> Catalog<'_> {
    let mut c = Catalog::new(Dialect::V3).unwrap();
    c.add_v3(&p.apps)
        .unwrap()
        .add_v3(&p.core)
        .unwrap()
        .add_v3(&p.events)
        .unwrap()
        .add_v3(&p.example)
        .unwrap();
    c
}

fn gv(group: &str, version: &str) -> GroupVersion {
    GroupVersion::new(group, version)
}

fn resources() -> Vec<Resource> {
    vec![
        shadow::resource(gv("apps", "v1"), "deployments", "Deployment")
            .with_short_names(["deploy"])
            .with_subresource(Subresource::status())
            .with_subresource(Subresource::scale()),
        shadow::resource(gv("apps", "v1"), "statefulsets", "StatefulSet")
            .with_subresource(Subresource::scale()),
        shadow::resource(gv("", "v1"), "services", "Service")
            .with_subresource(Subresource::status()),
        shadow::resource(gv("", "v1"), "configmaps", "ConfigMap"),
        shadow::resource(gv("", "v1"), "namespaces", "Namespace").cluster_scoped(),
        shadow::resource(gv("", "v1"), "events", "Event"),
        // Clusternet keeps one resource per plural: this one loses.
        shadow::resource(gv("events.k8s.io", "v1"), "events", "Event"),
        // Same kind from another group under another plural: cannot share the kind either.
        shadow::resource(gv("events.k8s.io", "v1"), "k8sevents", "Event"),
        shadow::resource(gv("example.com", "v1"), "widgets", "Widget")
            .with_subresource(Subresource::status())
            .with_subresource(Subresource::scale()),
    ]
}

fn build(p: &Parents, resources: Vec<Resource>, options: &Options) -> (Value, Vec<Warning>) {
    let built = shadow::v3_document(&catalog(p), resources, options).unwrap();
    (
        serde_json::to_value(built.document).unwrap(),
        built.warnings,
    )
}

fn without_gvk(v: &Value) -> Value {
    let mut v = v.clone();
    if let Value::Object(m) = &mut v {
        m.remove("x-kubernetes-group-version-kind");
    }
    v
}

#[test]
fn kinds_carry_the_shadow_group_version_kind() {
    let p = parents();
    let (doc, _) = build(&p, resources(), &Options::default());
    assert_valid_openapi3(&doc);
    let schemas = &doc["components"]["schemas"];
    for (name, kind) in [
        ("io.k8s.api.apps.v1.Deployment", "Deployment"),
        ("io.k8s.api.apps.v1.DeploymentList", "DeploymentList"),
        ("io.k8s.api.apps.v1.StatefulSet", "StatefulSet"),
        ("io.k8s.api.core.v1.Service", "Service"),
        ("io.k8s.api.core.v1.ServiceList", "ServiceList"),
        ("io.k8s.api.core.v1.ConfigMap", "ConfigMap"),
        ("io.k8s.api.core.v1.ConfigMapList", "ConfigMapList"),
        ("io.k8s.api.core.v1.Namespace", "Namespace"),
        ("io.k8s.api.core.v1.Event", "Event"),
        ("com.example.v1.Widget", "Widget"),
        ("com.example.v1.WidgetList", "WidgetList"),
    ] {
        assert_eq!(
            gvks(&schemas[name]),
            [format!("shadow/v1alpha1/{kind}")],
            "{name}"
        );
    }
    // Subresource kinds keep their own group.
    assert_eq!(
        gvks(&schemas["io.k8s.api.autoscaling.v1.Scale"]),
        ["autoscaling/v1/Scale"]
    );
    // kube-apiserver lists the served group-version on this per-group-version kind.
    assert_eq!(
        gvks(&schemas["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"]),
        ["/v1/DeleteOptions", "shadow/v1alpha1/DeleteOptions"]
    );
    // Only the deprecated watch paths return WatchEvent, and they are off by default.
    assert!(
        schemas
            .get("io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent")
            .is_none()
    );
    // Exactly one schema per served kind.
    let mut seen = BTreeSet::new();
    for schema in schemas.as_object().unwrap().values() {
        for g in gvks(schema) {
            assert!(seen.insert(g.clone()), "{g} claimed twice");
        }
    }
}

#[test]
fn schemas_are_the_parents_apart_from_their_kind_list() {
    let p = parents();
    let (doc, _) = build(&p, resources(), &Options::default());
    let sources: Vec<Value> = [
        "apps_v1.json",
        "core_v1.json",
        "events_v1.json",
        "example_v1.json",
    ]
    .map(fixture)
    .into();
    let mut compared = 0;
    for (name, ours) in doc["components"]["schemas"].as_object().unwrap() {
        let theirs = sources
            .iter()
            .find_map(|s| s["components"]["schemas"].get(name))
            .unwrap_or_else(|| panic!("{name} not from the parent"));
        assert_eq!(without_gvk(ours), without_gvk(theirs), "{name}");
        compared += 1;
    }
    assert!(compared > 150, "{compared}");
}

#[test]
fn kubectl_explain_and_patch_strategy_work() {
    let p = parents();
    let (doc, _) = build(&p, resources(), &Options::default());
    let containers = explain(
        &doc,
        "shadow",
        "v1alpha1",
        "deployments",
        &["spec", "template", "spec", "containers"],
    );
    assert_eq!(containers["type"], "array");
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-list-type"], "map");
    assert_eq!(
        containers["x-kubernetes-list-map-keys"],
        serde_json::json!(["name"])
    );
    let ports = explain(&doc, "shadow", "v1alpha1", "services", &["spec", "ports"]);
    assert_eq!(ports["x-kubernetes-patch-merge-key"], "port");
    assert_eq!(
        ports["x-kubernetes-list-map-keys"],
        serde_json::json!(["port", "protocol"])
    );
    let data = explain(&doc, "shadow", "v1alpha1", "configmaps", &["data"]);
    assert_eq!(data["type"], "object");
    let widget_ports = explain(&doc, "shadow", "v1alpha1", "widgets", &["spec", "ports"]);
    assert_eq!(widget_ports["x-kubernetes-list-type"], "map");
    let phase = explain(
        &doc,
        "shadow",
        "v1alpha1",
        "namespaces",
        &["status", "phase"],
    );
    assert_eq!(phase["type"], "string");
}

#[test]
fn operations_mirror_kube_apiservers() {
    let p = parents();
    let (doc, _) = build(&p, resources(), &Options::default());
    let real = fixture("apps_v1.json");
    let mut compared = 0;
    for (path, item) in real["paths"].as_object().unwrap() {
        if path.contains("/watch/") || !path.contains("deployments") {
            continue;
        }
        let ours = &doc["paths"][path
            .replace("/apis/apps/v1/", "/apis/shadow/v1alpha1/")
            .as_str()];
        assert!(ours.is_object(), "{path} missing");
        let methods = |v: &Value| {
            v.as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "parameters")
                .cloned()
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(methods(item), methods(ours), "{path}");
        let names = |v: &Value| {
            v.as_array()
                .into_iter()
                .flatten()
                .map(|p| p["name"].as_str().unwrap().to_string())
                .filter(|n| n != "shardSelector")
                .collect::<BTreeSet<_>>()
        };
        for m in methods(item) {
            let (theirs, mine) = (&item[&m], &ours[&m]);
            assert_eq!(
                theirs["x-kubernetes-action"], mine["x-kubernetes-action"],
                "{m} {path}"
            );
            assert_eq!(
                theirs["operationId"]
                    .as_str()
                    .unwrap()
                    .replace("AppsV1", "ShadowV1alpha1"),
                mine["operationId"].as_str().unwrap(),
                "{m} {path}"
            );
            assert_eq!(theirs["description"], mine["description"], "{m} {path}");
            let all = |op: &Value, item: &Value| {
                names(&op["parameters"])
                    .union(&names(&item["parameters"]))
                    .cloned()
                    .collect::<BTreeSet<_>>()
            };
            assert_eq!(all(theirs, item), all(mine, ours), "{m} {path} parameters");
            let codes = |op: &Value| {
                op["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(codes(theirs), codes(mine), "{m} {path}");
            assert_eq!(
                theirs["requestBody"]["required"], mine["requestBody"]["required"],
                "{m} {path}"
            );
            let kind = if path.ends_with("/scale") {
                "autoscaling/v1/Scale"
            } else {
                "shadow/v1alpha1/Deployment"
            };
            assert_eq!(gvks(mine), [kind], "{m} {path}");
            if m == "patch" {
                assert_eq!(
                    theirs["requestBody"]["content"],
                    mine["requestBody"]["content"]
                );
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 14);
}

#[test]
fn collisions_keep_the_first_resource() {
    let p = parents();
    let (doc, warnings) = build(&p, resources(), &Options::default());
    assert!(warnings.contains(&Warning::DuplicateResource {
        group_version: "shadow/v1alpha1".into(),
        plural: "events".into()
    }));
    assert!(warnings.contains(&Warning::ConflictingKind {
        group_version: "shadow/v1alpha1".into(),
        kind: "Event".into(),
        skipped: "resource k8sevents".into(),
    }));
    assert!(
        !doc["components"]["schemas"]
            .as_object()
            .unwrap()
            .contains_key("io.k8s.api.events.v1.Event")
    );
    assert!(
        doc["paths"]
            .get("/apis/shadow/v1alpha1/namespaces/{namespace}/k8sevents")
            .is_none()
    );
    let note = explain(&doc, "shadow", "v1alpha1", "events", &["involvedObject"]);
    assert!(note.is_object(), "core/v1 Event won");
    assert_eq!(warnings.len(), 2, "{warnings:?}");
}

#[test]
fn kinds_without_a_schema_get_a_stand_in() {
    let p = parents();
    let gadgets = shadow::resource(gv("example.com", "v1"), "gadgets", "Gadget");
    let (doc, warnings) = build(&p, vec![gadgets], &Options::default());
    assert_valid_openapi3(&doc);
    assert!(warnings.contains(&Warning::MissingSchema {
        kind: GroupVersionKind::new("example.com", "v1", "Gadget")
    }));
    let metadata = explain(&doc, "shadow", "v1alpha1", "gadgets", &["metadata", "name"]);
    assert_eq!(metadata["type"], "string");
    assert_eq!(
        gvks(&doc["components"]["schemas"]["com.example.v1.GadgetList"]),
        ["shadow/v1alpha1/GadgetList"]
    );
}

#[test]
fn legacy_watch_paths_can_be_published() {
    let p = parents();
    let options = Options {
        legacy_watch_paths: true,
        ..Options::default()
    };
    let (doc, _) = build(&p, resources(), &options);
    assert_valid_openapi3(&doc);
    let real = fixture("apps_v1.json");
    for (path, item) in real["paths"].as_object().unwrap() {
        if !(path.contains("/watch/") && path.contains("deployments")) {
            continue;
        }
        let ours = &doc["paths"][path
            .replace("/apis/apps/v1/", "/apis/shadow/v1alpha1/")
            .as_str()];
        assert_eq!(
            item["get"]["x-kubernetes-action"], ours["get"]["x-kubernetes-action"],
            "{path}"
        );
        assert_eq!(
            item["get"]["operationId"]
                .as_str()
                .unwrap()
                .replace("AppsV1", "ShadowV1alpha1"),
            ours["get"]["operationId"].as_str().unwrap()
        );
    }
    assert_eq!(
        gvks(&doc["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"]),
        ["/v1/WatchEvent", "shadow/v1alpha1/WatchEvent"]
    );
}

#[test]
fn source_kinds_can_be_kept() {
    let p = parents();
    let options = Options {
        keep_source_gvk: true,
        ..Options::default()
    };
    let deployments = shadow::resource(gv("apps", "v1"), "deployments", "Deployment");
    let (doc, _) = build(&p, vec![deployments], &options);
    assert_eq!(
        gvks(&doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]),
        ["apps/v1/Deployment", "shadow/v1alpha1/Deployment"]
    );
}

#[test]
fn output_is_deterministic_and_independent_of_the_input_model() {
    let p = parents();
    let options = Options::default();
    let once = serde_json::to_vec(
        &shadow::v3_document(&catalog(&p), resources(), &options)
            .unwrap()
            .document,
    )
    .unwrap();
    let twice = serde_json::to_vec(
        &shadow::v3_document(&catalog(&p), resources(), &options)
            .unwrap()
            .document,
    )
    .unwrap();
    assert_eq!(once, twice);
    // The same parents given as plain JSON instead of `openapiv3` models.
    let json: Vec<Value> = [
        "apps_v1.json",
        "core_v1.json",
        "events_v1.json",
        "example_v1.json",
    ]
    .map(fixture)
    .into();
    let mut c = Catalog::new(Dialect::V3).unwrap();
    for doc in &json {
        c.add_json(doc).unwrap();
    }
    let from_json = serde_json::to_vec(
        &shadow::v3_document(&c, resources(), &options)
            .unwrap()
            .document,
    )
    .unwrap();
    assert_eq!(once, from_json);
}

#[test]
fn schema_extraction_alone() {
    let p = parents();
    let kinds = [
        GroupVersionKind::new("apps", "v1", "Deployment"),
        GroupVersionKind::new("", "v1", "Event"),
        GroupVersionKind::new("events.k8s.io", "v1", "Event"),
    ];
    let built =
        shadow::v3_schemas(&[&p.apps, &p.core, &p.events], &kinds, &Options::default()).unwrap();
    assert_eq!(built.warnings.len(), 1, "{:?}", built.warnings);
    let schemas = serde_json::to_value(&built.document).unwrap();
    assert_eq!(
        gvks(&schemas["io.k8s.api.apps.v1.Deployment"]),
        ["shadow/v1alpha1/Deployment"]
    );
    assert_eq!(
        gvks(&schemas["io.k8s.api.core.v1.Event"]),
        ["shadow/v1alpha1/Event"]
    );
    assert!(schemas.get("io.k8s.api.events.v1.Event").is_none());
    assert!(schemas.get("io.k8s.api.core.v1.PodSpec").is_some());
    let wrapped = serde_json::json!({"components": {"schemas": schemas}});
    assert_refs_resolve(&wrapped);
}

#[test]
fn a_v2_catalog_is_refused() {
    let catalog = Catalog::new(Dialect::V2).unwrap();
    assert!(
        v3::build(
            &shadow::api_group_version(vec![]),
            &catalog,
            &Options::default()
        )
        .is_err()
    );
}
