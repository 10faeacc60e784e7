//! The `proxies.clusternet.io/v1alpha1` documents, built with no parent spec at all.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clusternet_openapi::{Catalog, Dialect, Options, proxies, v2, v3};
use common::*;
use serde_json::Value;

const PREFIX: &str = "/apis/proxies.clusternet.io/v1alpha1";
const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

fn v3_doc() -> Value {
    let catalog = Catalog::new(Dialect::V3).unwrap();
    let built = v3::build(&proxies::api_group_version(), &catalog, &Options::default()).unwrap();
    assert_eq!(
        built.warnings,
        [],
        "the embedded definitions cover the proxies group"
    );
    serde_json::to_value(built.document).unwrap()
}

#[test]
fn socket_schema_has_its_kind() {
    let doc = v3_doc();
    assert_valid_openapi3(&doc);
    let socket = &doc["components"]["schemas"][proxies::SOCKET_SCHEMA];
    assert_eq!(gvks(socket), ["proxies.clusternet.io/v1alpha1/Socket"]);
    for field in ["apiVersion", "kind", "path"] {
        assert_eq!(socket["properties"][field]["type"], "string", "{field}");
    }
}

#[test]
fn sockets_are_connect_operations_on_three_paths() {
    let doc = v3_doc();
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        (
            format!("{PREFIX}/sockets/{{name}}"),
            "ProxiesClusternetIoV1alpha1{M}Socket",
        ),
        (
            format!("{PREFIX}/sockets/{{name}}/proxy"),
            "ProxiesClusternetIoV1alpha1{M}SocketProxy",
        ),
        (
            format!("{PREFIX}/sockets/{{name}}/proxy/{{path}}"),
            "ProxiesClusternetIoV1alpha1{M}SocketProxyWithPath",
        ),
    ];
    for (path, id) in &expected {
        let item = &paths[path];
        for method in METHODS {
            let op = &item[method];
            assert_eq!(op["x-kubernetes-action"], "connect", "{method} {path}");
            assert_eq!(
                gvks(op),
                ["proxies.clusternet.io/v1alpha1/Socket"],
                "{method} {path}"
            );
            let m = format!("{}{}", method[..1].to_uppercase(), &method[1..]);
            assert_eq!(
                op["operationId"],
                format!("connect{}", id.replace("{M}", &m))
            );
            assert_eq!(op["tags"][0], "proxiesClusternetIo_v1alpha1");
            assert_eq!(
                op["responses"]["200"]["content"]["*/*"]["schema"]["type"],
                "string"
            );
            assert!(op["responses"]["401"].is_object());
        }
        let params: Vec<(String, String)> = item["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["in"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert!(params.contains(&("name".into(), "path".into())));
        assert!(
            params.contains(&("path".into(), "query".into())),
            "{path}: Socket.path query parameter"
        );
        assert_eq!(
            params.contains(&("path".into(), "path".into())),
            path.ends_with("{path}")
        );
        assert!(
            !params.iter().any(|(n, _)| n == "namespace"),
            "sockets are cluster-scoped"
        );
    }
    // Nothing but the three connect paths and the group-version root.
    let mut keys: Vec<&String> = paths.keys().collect();
    keys.sort();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(paths.contains_key(&format!("{PREFIX}/")));
    // `kubectl explain sockets` finds Socket through the connect operations' kind.
    let socket = explain(
        &doc,
        "proxies.clusternet.io",
        "v1alpha1",
        "sockets",
        &["path"],
    );
    assert_eq!(socket["type"], "string");
}

#[test]
fn connect_operations_look_like_kube_apiservers_pods_proxy() {
    let ours = v3_doc();
    let real = fixture("core_v1.json");
    let pods = &real["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/proxy/{path}"];
    let sockets = &ours["paths"][format!("{PREFIX}/sockets/{{name}}/proxy/{{path}}").as_str()];
    for method in METHODS {
        let (theirs, mine) = (&pods[method], &sockets[method]);
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(theirs), keys(mine), "{method}");
        assert_eq!(theirs["responses"], mine["responses"], "{method}");
        assert_eq!(theirs["x-kubernetes-action"], mine["x-kubernetes-action"]);
    }
}

#[test]
fn swagger_document_is_valid_and_describes_the_same_operations() {
    let catalog = Catalog::new(Dialect::V2).unwrap();
    let built = v2::build(
        &[proxies::api_group_version()],
        &catalog,
        &Options::default(),
    )
    .unwrap();
    assert_eq!(built.warnings, []);
    let doc = built.document;
    assert_valid_swagger2(&doc);
    let op = &doc["paths"][format!("{PREFIX}/sockets/{{name}}/proxy").as_str()]["head"];
    assert_eq!(op["x-kubernetes-action"], "connect");
    assert_eq!(op["consumes"][0], "*/*");
    assert_eq!(op["produces"][0], "*/*");
    assert_eq!(
        gvks(&doc["definitions"][proxies::SOCKET_SCHEMA]),
        ["proxies.clusternet.io/v1alpha1/Socket"]
    );
    // The embedded meta types are kube-apiserver v1.36's: identical to the parent's except for
    // kind lists, so kube-aggregator's merge keeps one copy of each.
    let real = fixture("v2.json");
    for (name, def) in doc["definitions"].as_object().unwrap() {
        if let Some(theirs) = real["definitions"].get(name) {
            assert_eq!(without_gvk(def), without_gvk(theirs), "{name}");
        }
    }
}

fn without_gvk(v: &Value) -> Value {
    let mut v = v.clone();
    if let Value::Object(m) = &mut v {
        m.remove("x-kubernetes-group-version-kind");
    }
    v
}
