//! Compares the printers with Tables captured from a real Kubernetes v1.36.3 kube-apiserver.
//!
//! `tests/fixtures/*.json` were produced by `tests/fixtures/capture.py` against the control plane
//! of `_output/bin/controlplane`: every listable resource the server serves (after creating
//! objects of every covered kind, with varied specs and statuses), fetched as
//! `meta.k8s.io/v1` Tables with `includeObject=Object`, plus single-object gets in every
//! `includeObject` variant and `meta.k8s.io/v1beta1`, a paginated list, the `scale`
//! subresource and a Table watch.
//!
//! Each fixture's objects are fed through the crate and the *complete* Table JSON (column
//! definitions, cells, row conditions, row objects, list metadata) must equal the server's.
//!
//! Time: ages depend on when the server computed them. The server's clock is the response's
//! `Date` header (one-second resolution, written after the table was built), so each table is
//! accepted if it matches exactly for one "now" in `[Date − 1 s, Date + 3 s]` (100 ms steps) —
//! a tolerance of the capture delay, applied to the table as a whole rather than per cell.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::PathBuf;

use clusternet_printers::{
    IncludeObject, ListMeta, TableConvertor, TableInput, TableOptions, TableVersion,
    WatchTableEncoder,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

fn fixtures() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<(String, Value)> = fs::read_dir(&dir)
        .expect("fixture dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().to_string();
            let v: Value = serde_json::from_slice(&fs::read(&p).unwrap()).expect("fixture json");
            (name, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn convertor(fixture: &Value) -> TableConvertor {
    let s = |k: &str| fixture[k].as_str().unwrap_or("").to_string();
    match fixture.get("crd") {
        Some(crd) => TableConvertor::for_crd(crd, &s("version")).expect("crd version"),
        None => TableConvertor::for_kind(&s("group"), &s("version"), &s("kind")),
    }
}

/// Candidate server times around an HTTP `Date` header.
fn candidates(date: &str, max_after_ms: i64) -> Vec<Timestamp> {
    let base = jiff::fmt::rfc2822::parse(date)
        .expect("Date header")
        .timestamp();
    (-10..=max_after_ms / 100)
        .map(|step| base + SignedDuration::from_millis(step * 100))
        .collect()
}

/// Finds a "now" for which `render` reproduces `expected`; returns a diff description otherwise.
fn matches_at_some_time(
    expected: &Value,
    date: &str,
    max_after_ms: i64,
    mut render: impl FnMut(Timestamp) -> Value,
) -> Result<Timestamp, String> {
    let cands = candidates(date, max_after_ms);
    let mut best: Option<(usize, Value)> = None;
    for now in &cands {
        let got = render(*now);
        if got == *expected {
            return Ok(*now);
        }
        let score = diff_count(&got, expected);
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((score, got));
        }
    }
    let (_, got) = best.unwrap_or((0, Value::Null));
    Err(describe_diff(&got, expected, ""))
}

fn diff_count(a: &Value, b: &Value) -> usize {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter()
                .map(|k| {
                    diff_count(
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                    )
                })
                .sum()
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).map(|(a, b)| diff_count(a, b)).sum()
        }
        _ => usize::from(a != b),
    }
}

fn describe_diff(got: &Value, want: &Value, path: &str) -> String {
    match (got, want) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            let mut out = String::new();
            for k in keys {
                let (a, b) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                if a != b {
                    out.push_str(&describe_diff(a, b, &format!("{path}.{k}")));
                }
            }
            out
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            let mut out = String::new();
            for (i, (a, b)) in x.iter().zip(y).enumerate() {
                if a != b {
                    out.push_str(&describe_diff(a, b, &format!("{path}[{i}]")));
                }
            }
            out
        }
        _ => {
            let short = |v: &Value| {
                let s = v.to_string();
                if s.len() > 300 {
                    format!("{}…", &s[..300])
                } else {
                    s
                }
            };
            format!("  {path}: got {} want {}\n", short(got), short(want))
        }
    }
}

fn options(version: TableVersion, include: IncludeObject) -> TableOptions {
    TableOptions {
        version,
        include_object: include,
        no_headers: false,
    }
}

fn row_objects(table: &Value) -> Vec<Value> {
    table["rows"]
        .as_array()
        .map(|rows| rows.iter().map(|r| r["object"].clone()).collect())
        .unwrap_or_default()
}

#[test]
fn lists_match_kube_apiserver() {
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut rows = 0;
    for (name, fx) in fixtures()
        .iter()
        .filter(|(n, _)| n.starts_with("list.") && !n.starts_with("list.paged"))
    {
        let conv = convertor(fx);
        let expected = &fx["table"];
        let items = row_objects(expected);
        rows += items.len();
        let meta = ListMeta::from_json(expected.get("metadata"));
        let opts = options(TableVersion::V1, IncludeObject::Object);
        let result = matches_at_some_time(expected, fx["date"].as_str().unwrap(), 3000, |now| {
            conv.table(
                TableInput::Items {
                    items: &items,
                    list_meta: &meta,
                },
                &opts,
                now,
            )
        });
        if let Err(diff) = result {
            failures.push(format!("{name} ({}):\n{diff}", fx["path"]));
        }
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} list fixtures");
    assert!(
        failures.is_empty(),
        "{} of {checked} tables differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{checked} list tables, {rows} rows identical to kube-apiserver's");
}

fn parse_variant(key: &str) -> TableOptions {
    let (v, include) = key.split_once('/').unwrap();
    let version = if v == "v=v1beta1" {
        TableVersion::V1Beta1
    } else {
        TableVersion::V1
    };
    let include = IncludeObject::from_query(if include == "default" {
        None
    } else {
        Some(include)
    })
    .unwrap();
    options(version, include)
}

#[test]
fn gets_and_include_object_variants_match_kube_apiserver() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, fx) in fixtures()
        .iter()
        .filter(|(_, f)| f.get("variants").is_some())
    {
        let conv = convertor(fx);
        let variants = fx["variants"].as_object().unwrap();
        let source = &variants["v=v1/Object"]["table"];
        let objects = row_objects(source);
        let is_list = name.starts_with("list.");
        let meta = ListMeta::from_json(source.get("metadata"));
        for (key, variant) in variants {
            let opts = parse_variant(key);
            let result = matches_at_some_time(
                &variant["table"],
                variant["date"].as_str().unwrap(),
                3000,
                |now| {
                    let input = if is_list {
                        TableInput::Items {
                            items: &objects,
                            list_meta: &meta,
                        }
                    } else {
                        TableInput::Object(&objects[0])
                    };
                    conv.table(input, &opts, now)
                },
            );
            if let Err(diff) = result {
                failures.push(format!("{name} [{key}]:\n{diff}"));
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} variants");
    assert!(
        failures.is_empty(),
        "{} variants differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn scale_subresource_matches_kube_apiserver() {
    let fx = fixtures()
        .into_iter()
        .find(|(n, _)| n == "get.scale.deploy-web")
        .expect("scale fixture")
        .1;
    let conv = convertor(&fx);
    let objects = row_objects(&fx["table"]);
    let opts = options(TableVersion::V1, IncludeObject::Object);
    if let Err(diff) =
        matches_at_some_time(&fx["table"], fx["date"].as_str().unwrap(), 3000, |now| {
            conv.table(TableInput::Object(&objects[0]), &opts, now)
        })
    {
        panic!("scale table differs:\n{diff}");
    }
}

#[test]
fn watch_matches_kube_apiserver() {
    let all = fixtures();
    let find = |n: &str| {
        all.iter()
            .find(|(name, _)| name == n)
            .map(|(_, f)| f.clone())
            .expect("watch fixture")
    };
    let with_objects = find("watch.configmaps.Object");
    let objects: Vec<Value> = with_objects["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ev| ev["object"]["rows"][0]["object"].clone())
        .collect();
    let n = check_watch(&with_objects, IncludeObject::Object, |i, _| {
        Some(objects[i].clone())
    });
    assert_eq!(n, objects.len());
    // With includeObject=None the rows carry no objects: take them from the watch above (same
    // objects, same resourceVersions), and rebuild the bookmark from its PartialObjectMetadata.
    // Events about objects the first watch never saw are skipped.
    let without = find("watch.configmaps.None");
    let checked = check_watch(&without, IncludeObject::None, |_, ev| {
        let row = &ev["object"]["rows"][0];
        if row["object"]["kind"] == "PartialObjectMetadata" {
            return Some(
                json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": row["object"]["metadata"]}),
            );
        }
        let rv = &ev["object"]["metadata"]["resourceVersion"];
        objects
            .iter()
            .find(|o| {
                o["metadata"]["name"] == row["cells"][0] && &o["metadata"]["resourceVersion"] == rv
            })
            .cloned()
    });
    assert!(
        checked >= 4,
        "only {checked} events of the includeObject=None watch checked"
    );
}

/// Replays a captured Table watch through a [`WatchTableEncoder`]; returns the number of events
/// compared.
fn check_watch(
    fx: &Value,
    include: IncludeObject,
    object_of: impl Fn(usize, &Value) -> Option<Value>,
) -> usize {
    let conv = convertor(fx);
    let date = fx["date"].as_str().unwrap();
    let mut enc = WatchTableEncoder::new(conv, options(TableVersion::V1, include));
    let events = fx["events"].as_array().unwrap();
    assert!(events.len() >= 4, "watch fixture too short");
    let mut saw_bookmark = false;
    let mut checked = 0;
    for (i, ev) in events.iter().enumerate() {
        let ty = ev["type"].as_str().unwrap();
        let Some(obj) = object_of(i, ev) else {
            continue;
        };
        if obj.pointer("/metadata/annotations/k8s.io~1initial-events-end") == Some(&json!("true")) {
            saw_bookmark = true;
        }
        let result = matches_at_some_time(ev, date, 8000, |now| enc.clone().event(ty, &obj, now));
        match result {
            Ok(now) => {
                // Re-run on the real encoder with the matching time to advance its state.
                assert_eq!(enc.event(ty, &obj, now), *ev);
            }
            Err(diff) => panic!("watch event {i} ({ty}) differs:\n{diff}"),
        }
        checked += 1;
        assert_eq!(
            ev["object"]["columnDefinitions"].is_null(),
            i > 0,
            "headers only on the first event"
        );
    }
    assert!(saw_bookmark, "fixture has no initial-events-end bookmark");
    checked
}
