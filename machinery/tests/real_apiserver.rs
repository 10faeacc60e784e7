//! Reproduces every result recorded from a real kube-apiserver (v1.36.3) by
//! `tests/fixtures/record.py`: label and field selector parsing/matching/errors, and PATCH
//! results (JSON patch, merge patch, strategic merge patch incl. the patches `kubectl apply`
//! computes) compared byte for byte after canonical key ordering.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use clusternet_apimachinery::fields::FieldSelector;
use clusternet_apimachinery::labels::Selector;
use clusternet_apimachinery::patch::{OpenApiPatchMeta, PatchType, apply_patch};
use serde_json::{Map, Value};

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// JSON with object keys sorted at every level.
fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> =
                    m.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string_pretty(&sorted(v)).expect("serializable")
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn code_of(v: &Value) -> u64 {
    v.get("code").and_then(Value::as_u64).expect("code")
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

#[test]
fn label_selectors_match_kube_apiserver() {
    let fx = fixture("label_selectors.json");
    let mut objects: BTreeMap<String, Map<String, Value>> = fx["objects"]
        .as_object()
        .expect("objects")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_object().cloned().expect("labels")))
        .collect();
    // The namespace also holds kube-root-ca.crt, without labels.
    objects.insert("kube-root-ca.crt".into(), Map::new());
    let cases = fx["cases"].as_array().expect("cases");
    assert!(cases.len() > 100);
    for case in cases {
        let selector = str_of(case, "selector");
        match (code_of(case), Selector::parse(selector)) {
            (200, Ok(parsed)) => {
                let matched: Vec<String> = objects
                    .iter()
                    .filter(|(_, labels)| parsed.matches(*labels))
                    .map(|(name, _)| name.clone())
                    .collect();
                assert_eq!(matched, names(&case["matches"]), "selector {selector:?}");
                // What it prints parses back to the same selector.
                assert_eq!(
                    Selector::parse(&parsed.to_string()),
                    Ok(parsed),
                    "{selector:?}"
                );
            }
            (400, Err(e)) => {
                assert_eq!(str_of(case, "reason"), "BadRequest");
                assert_eq!(
                    e.message(),
                    str_of(case, "message"),
                    "selector {selector:?}"
                );
            }
            (code, result) => {
                panic!("selector {selector:?}: kube-apiserver {code}, here {result:?}")
            }
        }
    }
}

#[test]
fn field_selectors_match_kube_apiserver_for_built_in_kinds() {
    let fx = fixture("field_selectors.json");
    let section = &fx["configMaps"];
    let namespace = str_of(section, "namespace");
    let objects: Vec<Value> = names(&section["objects"])
        .into_iter()
        .map(|name| serde_json::json!({"metadata": {"name": name, "namespace": namespace}}))
        .collect();
    for case in section["cases"].as_array().expect("cases") {
        let selector = str_of(case, "selector");
        let result =
            FieldSelector::parse(selector).and_then(|s| s.restrict_to_metadata().map(|()| s));
        match (code_of(case), result) {
            (200, Ok(parsed)) => {
                let matched: Vec<String> = objects
                    .iter()
                    .filter(|o| parsed.matches_object(o))
                    .map(|o| str_of(&o["metadata"], "name").to_string())
                    .collect();
                assert_eq!(matched, names(&case["matches"]), "selector {selector:?}");
                assert_eq!(FieldSelector::parse(&parsed.to_string()), Ok(parsed));
            }
            (400, Err(e)) => {
                assert_eq!(str_of(case, "reason"), "BadRequest");
                assert_eq!(
                    e.message(),
                    str_of(case, "message"),
                    "selector {selector:?}"
                );
            }
            (code, result) => {
                panic!("selector {selector:?}: kube-apiserver {code}, here {result:?}")
            }
        }
    }
}

#[test]
fn field_selectors_match_kube_apiserver_for_custom_resources() {
    // Same parser; for custom resources kube-apiserver words unknown fields differently
    // ("field label not supported: <field>"), the hub uses the built-in wording.
    let fx = fixture("field_selectors.json");
    let section = &fx["customResource"];
    let objects: Vec<Value> = names(&section["objects"])
        .into_iter()
        .map(|id| {
            let (ns, name) = id.split_once('/').expect("ns/name");
            serde_json::json!({"metadata": {"name": name, "namespace": ns}})
        })
        .collect();
    for case in section["cases"].as_array().expect("cases") {
        let selector = str_of(case, "selector");
        let message = str_of(case, "message");
        match (code_of(case), FieldSelector::parse(selector)) {
            (200, Ok(parsed)) => {
                parsed.restrict_to_metadata().expect("metadata only");
                let mut matched: Vec<String> = objects
                    .iter()
                    .filter(|o| parsed.matches_object(o))
                    .map(|o| {
                        format!(
                            "{}/{}",
                            str_of(&o["metadata"], "namespace"),
                            str_of(&o["metadata"], "name")
                        )
                    })
                    .collect();
                matched.sort();
                assert_eq!(matched, names(&case["matches"]), "selector {selector:?}");
            }
            (400, Ok(parsed)) => {
                let field = message
                    .strip_prefix("field label not supported: ")
                    .unwrap_or_else(|| panic!("{selector:?}: {message}"));
                assert_eq!(
                    parsed.restrict_to(&["metadata.name", "metadata.namespace"]),
                    Err(field)
                );
            }
            (400, Err(e)) => assert_eq!(e.message(), message, "selector {selector:?}"),
            (code, result) => {
                panic!("selector {selector:?}: kube-apiserver {code}, here {result:?}")
            }
        }
    }
}

/// Cases where kube-apiserver's result comes from decoding into a typed object or validating
/// it, which is outside this crate, with what this crate does instead.
const TYPED_DECODING: &[(&str, &str)] = &[
    // The patched list became a map / a list of numbers: the patch itself applies; typed
    // decoding rejects the result with 422 Invalid.
    ("smp-err-list-type-mismatch", "applies"),
    ("smp-err-mixed-list", "applies"),
    // evanphx copies `null` from a missing member; typed decoding turns the null label into "".
    ("json-err-copy-missing", "null label"),
];

fn schema_for(kind: &str) -> (&'static str, String) {
    match kind {
        "Deployment" => ("apps_v1.json", "io.k8s.api.apps.v1.Deployment".into()),
        other => ("api_v1.json", format!("io.k8s.api.core.v1.{other}")),
    }
}

#[test]
fn patches_match_kube_apiserver() {
    let fx = fixture("patches.json");
    let apps = fixture("openapi/apps_v1.json");
    let core = fixture("openapi/api_v1.json");
    let objects = fx["objects"].as_object().expect("objects");
    let cases = fx["cases"].as_array().expect("cases");
    assert!(cases.len() > 100, "{} cases", cases.len());
    let mut checked = 0;
    for case in cases {
        let name = str_of(case, "name");
        let original = &objects[str_of(case, "object")];
        let kind = str_of(original, "kind");
        let (file, schema_name) = schema_for(kind);
        let schemas = if file == "apps_v1.json" { &apps } else { &core }["components"]["schemas"]
            .as_object()
            .expect("schemas");
        let schema = OpenApiPatchMeta::new(&schemas[&schema_name], schemas);
        let body = match case.get("patchRaw").and_then(Value::as_str) {
            Some(raw) => raw.as_bytes().to_vec(),
            None => serde_json::to_vec(&case["patch"]).expect("patch"),
        };
        let patch_type = PatchType::from_content_type(str_of(case, "contentType")).expect("type");
        let result = apply_patch(patch_type, original, &body, &schema);
        let code = code_of(case);

        if let Some((_, what)) = TYPED_DECODING.iter().find(|(n, _)| *n == name) {
            let patched = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            match *what {
                "applies" => assert_eq!(code, 422, "{name}"),
                "null label" => {
                    assert_eq!(patched["metadata"]["labels"]["x"], Value::Null, "{name}");
                    assert_eq!(case["after"]["metadata"]["labels"]["x"], "", "{name}");
                }
                other => unreachable!("{other}"),
            }
            checked += 1;
            continue;
        }

        match (code, result) {
            (200, Ok(patched)) => {
                assert_eq!(
                    canonical(&patched),
                    canonical(&case["after"]),
                    "case {name}"
                );
            }
            (200, Err(e)) => panic!(
                "case {name}: kube-apiserver applied it, here {} {e}",
                e.code()
            ),
            (code, Ok(patched)) => {
                panic!("case {name}: kube-apiserver answered {code}, here it applied:\n{patched}")
            }
            (code, Err(e)) => {
                assert_eq!(u64::from(e.code()), code, "case {name}: {e}");
                assert_eq!(e.reason(), str_of(case, "reason"), "case {name}");
                assert_eq!(e.message(), str_of(case, "message"), "case {name}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, cases.len());
}

#[test]
fn patch_content_types_match_kube_apiserver() {
    use clusternet_apimachinery::patch::{
        BUILT_IN_PATCH_TYPES, CUSTOM_RESOURCE_PATCH_TYPES, PatchError, negotiate_patch_type,
    };
    const PREFIX: &str =
        "the body of the request was in an unknown format - accepted media types include: ";
    let fx = fixture("content_types.json");
    for case in fx.as_array().expect("cases") {
        let content_type = str_of(case, "contentType");
        let accepted = match str_of(case, "kind") {
            "Deployment" => BUILT_IN_PATCH_TYPES,
            _ => CUSTOM_RESOURCE_PATCH_TYPES,
        };
        let ours = negotiate_patch_type(content_type, accepted);
        let is_apply = PatchType::from_content_type(content_type).is_some_and(PatchType::is_apply);
        match code_of(case) {
            // Server-side apply is accepted by kube-apiserver (the recorded body was then
            // rejected as an object); the hub answers 415.
            _ if is_apply => {
                let e = ours.expect_err("apply is refused");
                assert_eq!(e.code(), 415, "{content_type}");
            }
            200 => assert!(ours.is_ok(), "{content_type}: {ours:?}"),
            415 => {
                let e = ours.expect_err("refused");
                assert_eq!((e.code(), e.reason()), (415, "UnsupportedMediaType"));
                let message = str_of(case, "message");
                if let Some(list) = message.strip_prefix(PREFIX) {
                    // Same wording; kube-apiserver also lists server-side apply.
                    let kube: Vec<PatchType> = list
                        .split(", ")
                        .map(|t| PatchType::from_content_type(t).expect("known type"))
                        .collect();
                    assert_eq!(PatchError::unsupported_media_type(&kube).message(), message);
                } else {
                    // For built-in kinds go-restful's route filter rejects these before the
                    // patch handler, with a terse message.
                    assert_eq!(message, "415: Unsupported Media Type");
                }
            }
            code => panic!("{content_type}: unexpected recorded code {code}"),
        }
    }
}
