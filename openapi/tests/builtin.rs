//! The embedded definitions are kube-apiserver v1.36's own (checked against the fixtures).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clusternet_openapi::{Catalog, Dialect, builtin};
use common::*;
use serde_json::Value;

const ROOTS: [&str; 8] = [
    builtin::OBJECT_META,
    builtin::LIST_META,
    builtin::STATUS,
    builtin::DELETE_OPTIONS,
    builtin::PATCH,
    builtin::WATCH_EVENT,
    builtin::API_RESOURCE_LIST,
    builtin::SCALE,
];

fn check(dialect: Dialect, schemas: &Value) {
    let catalog = Catalog::new(dialect).unwrap();
    let mut names: Vec<String> = ROOTS.iter().map(|s| s.to_string()).collect();
    let mut checked = 0;
    while let Some(name) = names.pop() {
        let ours = catalog
            .get(&name)
            .unwrap()
            .unwrap_or_else(|| panic!("{dialect}: {name} not embedded"));
        let mut theirs = schemas[&name].clone();
        if name == builtin::DELETE_OPTIONS || name == builtin::WATCH_EVENT {
            // Embedded with the core entry only; the builders add served group-versions.
            let core: Vec<Value> = theirs[builtin::GVK_EXTENSION]
                .as_array()
                .unwrap()
                .iter()
                .filter(|g| g["group"] == "")
                .cloned()
                .collect();
            theirs[builtin::GVK_EXTENSION] = Value::Array(core);
        }
        assert_eq!(ours, theirs, "{dialect}: {name}");
        checked += 1;
        let mut refs = Default::default();
        all_refs(&ours, &mut refs);
        names.extend(
            refs.into_iter()
                .map(|r| r.rsplit('/').next().unwrap().to_string()),
        );
    }
    assert!(checked >= 20);
}

#[test]
fn embedded_v3_definitions_are_kube_apiservers() {
    check(
        Dialect::V3,
        &fixture("apps_v1.json")["components"]["schemas"],
    );
}

#[test]
fn embedded_v2_definitions_are_kube_apiservers() {
    check(Dialect::V2, &fixture("v2.json")["definitions"]);
}
