//! The full set of served documents: discovery hashes, ETags, determinism.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clusternet_openapi::{
    ApiGroupVersion, Catalog, Dialect, GroupVersion, Options, Resource, Specs, Subresource,
    proxies, shadow,
};
use common::*;
use serde_json::Value;

fn shadow_resources() -> Vec<Resource> {
    vec![
        shadow::resource(GroupVersion::new("apps", "v1"), "deployments", "Deployment")
            .with_subresource(Subresource::scale()),
        shadow::resource(GroupVersion::new("", "v1"), "configmaps", "ConfigMap"),
    ]
}

fn specs(groups: &[ApiGroupVersion]) -> Specs {
    let (v2_parent, apps, core) = (
        fixture("v2.json"),
        fixture("apps_v1.json"),
        fixture("core_v1.json"),
    );
    let mut v2 = Catalog::new(Dialect::V2).unwrap();
    v2.add_json(&v2_parent).unwrap();
    let mut v3 = Catalog::new(Dialect::V3).unwrap();
    v3.add_json(&apps).unwrap().add_json(&core).unwrap();
    Specs::build(groups, &v2, &v3, &Options::default()).unwrap()
}

fn discovery(specs: &Specs) -> Value {
    serde_json::from_slice(specs.v3_discovery().body()).unwrap()
}

#[test]
fn discovery_looks_like_kube_apiservers() {
    let s = specs(&[
        proxies::api_group_version(),
        shadow::api_group_version(shadow_resources()),
    ]);
    let ours = discovery(&s);
    let real = fixture("v3_discovery.json");
    let real_apps = real["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap();
    let real_hash = real_apps.split("?hash=").nth(1).unwrap();
    let paths = ours["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 2);
    for (path, entry) in paths {
        assert_eq!(entry.as_object().unwrap().len(), 1);
        let url = entry["serverRelativeURL"].as_str().unwrap();
        let (prefix, hash) = url.split_once("?hash=").unwrap();
        assert_eq!(prefix, format!("/openapi/v3/{path}"));
        assert_eq!(hash.len(), real_hash.len());
        assert!(
            hash.chars()
                .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
        );
        let doc = s.v3(path).unwrap();
        assert_eq!(hash, doc.hash());
        assert_eq!(doc.etag(), format!("\"{hash}\""));
        assert_valid_openapi3(&serde_json::from_slice(doc.body()).unwrap());
    }
    assert_valid_swagger2(&serde_json::from_slice(s.v2().body()).unwrap());
}

#[test]
fn hashes_change_exactly_when_content_does() {
    let before = specs(&[
        proxies::api_group_version(),
        shadow::api_group_version(shadow_resources()),
    ]);
    let same = specs(&[
        proxies::api_group_version(),
        shadow::api_group_version(shadow_resources()),
    ]);
    let mut more = shadow_resources();
    more.push(shadow::resource(
        GroupVersion::new("", "v1"),
        "services",
        "Service",
    ));
    let after = specs(&[
        proxies::api_group_version(),
        shadow::api_group_version(more),
    ]);

    let (proxies_path, shadow_path) = (
        "apis/proxies.clusternet.io/v1alpha1",
        "apis/shadow/v1alpha1",
    );
    // Same input: byte-identical documents, same hashes.
    assert_eq!(before.v2().body(), same.v2().body());
    assert_eq!(before.v3_discovery().body(), same.v3_discovery().body());
    for path in [proxies_path, shadow_path] {
        assert_eq!(
            before.v3(path).unwrap().body(),
            same.v3(path).unwrap().body()
        );
        assert_eq!(
            before.v3(path).unwrap().hash(),
            same.v3(path).unwrap().hash()
        );
    }
    // A new shadow resource changes the shadow document only.
    assert_eq!(
        before.v3(proxies_path).unwrap().hash(),
        after.v3(proxies_path).unwrap().hash()
    );
    assert_ne!(
        before.v3(shadow_path).unwrap().hash(),
        after.v3(shadow_path).unwrap().hash()
    );
    assert_ne!(before.v2().etag(), after.v2().etag());
    assert_ne!(before.v3_discovery().etag(), after.v3_discovery().etag());
    assert_eq!(
        discovery(&before)["paths"][proxies_path],
        discovery(&after)["paths"][proxies_path]
    );
    assert_ne!(
        discovery(&before)["paths"][shadow_path],
        discovery(&after)["paths"][shadow_path]
    );
}

#[test]
fn etags_answer_if_none_match() {
    let s = specs(&[proxies::api_group_version()]);
    let doc = s.v2();
    assert!(doc.matches_if_none_match(doc.etag()));
    assert!(doc.matches_if_none_match(&format!("W/{}, \"x\"", doc.etag())));
    assert!(!doc.matches_if_none_match("\"x\""));
    assert!(
        s.v3("/openapi/v3/apis/proxies.clusternet.io/v1alpha1")
            .is_some()
    );
    assert!(s.v3("apis/shadow/v1alpha1").is_none());
}

#[test]
fn builds_before_any_parent_spec_is_known() {
    let v2 = Catalog::new(Dialect::V2).unwrap();
    let v3 = Catalog::new(Dialect::V3).unwrap();
    let groups = [
        proxies::api_group_version(),
        shadow::api_group_version(shadow_resources()),
    ];
    let s = Specs::build(&groups, &v2, &v3, &Options::default()).unwrap();
    assert_valid_swagger2(&serde_json::from_slice(s.v2().body()).unwrap());
    for (_, doc) in s.v3_documents() {
        assert_valid_openapi3(&serde_json::from_slice(doc.body()).unwrap());
    }
    // Deployment and ConfigMap (and their lists) have stand-ins, in each dialect.
    assert_eq!(s.warnings().len(), 4, "{:?}", s.warnings());
}

#[test]
fn catalogs_of_the_wrong_dialect_are_refused() {
    let v2 = Catalog::new(Dialect::V2).unwrap();
    let v3 = Catalog::new(Dialect::V3).unwrap();
    assert!(
        Specs::build(
            &[proxies::api_group_version()],
            &v3,
            &v3,
            &Options::default()
        )
        .is_err()
    );
    assert!(
        Specs::build(
            &[proxies::api_group_version()],
            &v2,
            &v2,
            &Options::default()
        )
        .is_err()
    );
}
