//! The Swagger 2.0 document, built from the parent's real `/openapi/v2` (fixture).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clusternet_openapi::{
    Catalog, Dialect, GroupVersion, GroupVersionKind, Options, Subresource, proxies, shadow, v2,
};
use common::*;
use serde_json::Value;

fn groups() -> Vec<clusternet_openapi::ApiGroupVersion> {
    vec![
        proxies::api_group_version(),
        shadow::api_group_version(vec![
            shadow::resource(GroupVersion::new("apps", "v1"), "deployments", "Deployment")
                .with_subresource(Subresource::status())
                .with_subresource(Subresource::scale()),
            shadow::resource(GroupVersion::new("", "v1"), "services", "Service"),
            shadow::resource(GroupVersion::new("", "v1"), "configmaps", "ConfigMap"),
            shadow::resource(GroupVersion::new("example.com", "v1"), "widgets", "Widget"),
        ]),
    ]
}

fn build(parent: &Value, options: &Options) -> Value {
    let mut catalog = Catalog::new(Dialect::V2).unwrap();
    catalog.add_json(parent).unwrap();
    let built = v2::build(&groups(), &catalog, options).unwrap();
    assert_eq!(built.warnings, []);
    built.document
}

fn without_gvk(v: &Value) -> Value {
    let mut v = v.clone();
    if let Value::Object(m) = &mut v {
        m.remove("x-kubernetes-group-version-kind");
    }
    v
}

#[test]
fn document_is_valid_swagger_2() {
    let parent = fixture("v2.json");
    let doc = build(&parent, &Options::default());
    assert_valid_swagger2(&doc);
    assert_valid_swagger2(&build(
        &parent,
        &Options {
            legacy_watch_paths: true,
            ..Options::default()
        },
    ));
    // The checker itself rejects what it should.
    let mut broken = doc.clone();
    broken["definitions"]
        .as_object_mut()
        .unwrap()
        .remove("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    assert!(std::panic::catch_unwind(|| assert_valid_swagger2(&broken)).is_err());
}

#[test]
fn both_groups_are_described() {
    let doc = build(&fixture("v2.json"), &Options::default());
    let paths = doc["paths"].as_object().unwrap();
    let op = &paths["/apis/proxies.clusternet.io/v1alpha1/sockets/{name}/proxy/{path}"]["options"];
    assert_eq!(op["x-kubernetes-action"], "connect");
    let list = &paths["/apis/shadow/v1alpha1/namespaces/{namespace}/deployments"]["get"];
    assert_eq!(list["x-kubernetes-action"], "list");
    assert_eq!(gvks(list), ["shadow/v1alpha1/Deployment"]);
    assert_eq!(
        list["responses"]["200"]["schema"]["$ref"],
        "#/definitions/io.k8s.api.apps.v1.DeploymentList"
    );
    assert_eq!(
        list["produces"],
        serde_json::json!(["application/json", "application/json;stream=watch"])
    );
    let patch = &paths["/apis/shadow/v1alpha1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(patch["consumes"].as_array().unwrap().len(), 4);
    assert_eq!(patch["parameters"][0]["in"], "body");
    let scale =
        &paths["/apis/shadow/v1alpha1/namespaces/{namespace}/deployments/{name}/scale"]["put"];
    assert_eq!(gvks(scale), ["autoscaling/v1/Scale"]);
    assert!(paths.contains_key("/apis/shadow/v1alpha1/namespaces/{namespace}/widgets"));
}

#[test]
fn definitions_merge_cleanly_into_the_parents_spec() {
    // kube-aggregator keeps one definition when two are equal apart from their kind lists
    // (and unions those); anything else it renames to `<name>_v2`. So every definition that the
    // parent has must be the parent's, modulo kinds.
    let parent = fixture("v2.json");
    let doc = build(&parent, &Options::default());
    let defs = doc["definitions"].as_object().unwrap();
    for (name, ours) in defs {
        if name == proxies::SOCKET_SCHEMA {
            continue;
        }
        let theirs = parent["definitions"]
            .get(name)
            .unwrap_or_else(|| panic!("{name} not from the parent"));
        assert_eq!(without_gvk(ours), without_gvk(theirs), "{name}");
    }
    assert_eq!(
        gvks(&defs["io.k8s.api.apps.v1.Deployment"]),
        ["shadow/v1alpha1/Deployment"]
    );
    assert_eq!(
        gvks(&defs["io.k8s.api.apps.v1.DeploymentList"]),
        ["shadow/v1alpha1/DeploymentList"]
    );
    assert_eq!(
        gvks(&defs["com.example.v1.Widget"]),
        ["shadow/v1alpha1/Widget"]
    );
    // DeleteOptions keeps the parent's kinds and adds the served group-versions.
    let delete = gvks(&defs["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"]);
    assert!(delete.contains(&"apps/v1/DeleteOptions".to_string()));
    assert!(delete.contains(&"shadow/v1alpha1/DeleteOptions".to_string()));
    assert!(delete.contains(&"proxies.clusternet.io/v1alpha1/DeleteOptions".to_string()));
}

#[test]
fn patch_strategy_survives_in_v2() {
    let doc = build(&fixture("v2.json"), &Options::default());
    let defs = &doc["definitions"];
    let template = deref(
        &doc,
        &defs["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["template"],
    );
    let pod_spec = deref(&doc, &template["properties"]["spec"]);
    let containers = &pod_spec["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
}

#[test]
fn definitions_alone() {
    let parent = fixture("v2.json");
    let kinds = [
        GroupVersionKind::new("", "v1", "ConfigMap"),
        GroupVersionKind::new("example.com", "v1", "Widget"),
    ];
    let built = shadow::v2_definitions(&parent, &kinds, &Options::default()).unwrap();
    assert_eq!(built.warnings, []);
    let defs = Value::Object(built.document);
    assert_eq!(
        gvks(&defs["io.k8s.api.core.v1.ConfigMap"]),
        ["shadow/v1alpha1/ConfigMap"]
    );
    assert_refs_resolve(&serde_json::json!({"definitions": defs}));
}

#[test]
fn output_is_deterministic() {
    let parent = fixture("v2.json");
    let a = serde_json::to_vec(&build(&parent, &Options::default())).unwrap();
    let b = serde_json::to_vec(&build(&fixture("v2.json"), &Options::default())).unwrap();
    assert_eq!(a, b);
}
