//! Behaviour of the public API the real-server fixtures do not pin down on their own.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clusternet_printers::{
    IncludeObject, ListMeta, TableConvertor, TableInput, TableOptions, TableVersion,
    WatchTableEncoder,
};
use serde_json::{Value, json};

fn now() -> jiff::Timestamp {
    "2024-01-01T00:00:00Z".parse().expect("timestamp")
}

#[test]
fn flow_schemas_are_listed_in_matching_order() {
    let fs = |name: &str, precedence: i64| {
        json!({"metadata": {"name": name}, "spec": {"matchingPrecedence": precedence,
               "priorityLevelConfiguration": {"name": "pl"}}})
    };
    let list = json!({"items": [fs("b", 500), fs("c", 100), fs("a", 500)]});
    let conv = TableConvertor::for_kind("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema");
    let table = conv.table(TableInput::List(&list), &TableOptions::default(), now());
    let names: Vec<&Value> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["cells"][0])
        .collect();
    assert_eq!(names, [&json!("c"), &json!("a"), &json!("b")]);
    // A single object is not "sorted", and rows keep their objects.
    let single = conv.table(
        TableInput::Object(&list["items"][0]),
        &TableOptions::default(),
        now(),
    );
    assert_eq!(single["rows"][0]["cells"][0], "b");
}

#[test]
fn empty_lists() {
    let empty = json!({"metadata": {"resourceVersion": "9"}, "items": []});
    let opts = TableOptions::default();
    // The default convertor appends to a nil slice; the printers start from an empty one.
    let default = TableConvertor::for_kind("rbac.authorization.k8s.io", "v1", "Role");
    assert!(default.is_default());
    assert_eq!(
        default.table(TableInput::List(&empty), &opts, now())["rows"],
        Value::Null
    );
    let pods = TableConvertor::for_kind("", "v1", "Pod");
    assert_eq!(
        pods.table(TableInput::List(&empty), &opts, now())["rows"],
        json!([])
    );
    let crd = json!({"spec": {"group": "g", "versions": [{"name": "v1"}]}});
    let cr = TableConvertor::for_crd(&crd, "v1").unwrap();
    let t = cr.table(TableInput::List(&empty), &opts, now());
    assert_eq!(t["rows"], json!([]));
    assert_eq!(t["metadata"], json!({"resourceVersion": "9"}));
}

#[test]
fn headers_are_suppressed_except_for_api_services() {
    let opts = TableOptions {
        no_headers: true,
        ..TableOptions::default()
    };
    let o = json!({"metadata": {"name": "x"}});
    let pods = TableConvertor::for_kind("", "v1", "Pod");
    assert_eq!(
        pods.table(TableInput::Object(&o), &opts, now())["columnDefinitions"],
        Value::Null
    );
    let api = TableConvertor::for_kind("apiregistration.k8s.io", "v1", "APIService");
    let t = api.table(TableInput::Object(&o), &opts, now());
    assert_eq!(t["columnDefinitions"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        t["rows"][0]["cells"],
        json!(["x", "Local", "Unknown", "<unknown>"])
    );
}

#[test]
fn list_metadata_and_row_objects() {
    let item = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": "ns", "uid": "u", "resourceVersion": "5", "generation": 0,
                     "creationTimestamp": "2023-12-31T00:00:00Z", "labels": {}, "annotations": {"k": "v"},
                     "unknownField": 1},
        "data": {"x": "y"}});
    let meta = ListMeta {
        resource_version: "10".into(),
        continue_: "tok".into(),
        remaining_item_count: Some(3),
    };
    let items = [item.clone()];
    let conv = TableConvertor::for_kind("", "v1", "ConfigMap");
    let input = TableInput::Items {
        items: &items,
        list_meta: &meta,
    };
    let opts = TableOptions {
        version: TableVersion::V1Beta1,
        ..TableOptions::default()
    };
    let t = conv.table(input, &opts, now());
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1beta1");
    assert_eq!(
        t["metadata"],
        json!({"resourceVersion": "10", "continue": "tok", "remainingItemCount": 3})
    );
    assert_eq!(t["rows"][0]["cells"], json!(["a", 1, "24h"]));
    assert_eq!(
        t["rows"][0]["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1beta1",
               "metadata": {"name": "a", "namespace": "ns", "uid": "u", "resourceVersion": "5",
                            "creationTimestamp": "2023-12-31T00:00:00Z", "annotations": {"k": "v"}}})
    );
    let full = conv.table(
        input,
        &TableOptions {
            include_object: IncludeObject::Object,
            ..opts
        },
        now(),
    );
    assert_eq!(full["rows"][0]["object"], item);
    let none = conv.table(
        input,
        &TableOptions {
            include_object: IncludeObject::None,
            ..opts
        },
        now(),
    );
    assert_eq!(none["rows"][0]["object"], Value::Null);
    assert!(none["rows"][0].get("conditions").is_none());
}

#[test]
fn watch_passes_status_through_and_keeps_headers_off_afterwards() {
    let conv = TableConvertor::for_kind("", "v1", "Pod");
    let mut enc = WatchTableEncoder::new(
        conv,
        TableOptions {
            include_object: IncludeObject::None,
            ..Default::default()
        },
    );
    let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410, "reason": "Expired"});
    assert_eq!(
        enc.event("ERROR", &status, now()),
        json!({"type": "ERROR", "object": status})
    );
    assert!(enc.options().no_headers);
    let pod = json!({"metadata": {"name": "p", "resourceVersion": "3"}, "status": {"phase": "Succeeded"}});
    let ev = enc.event("MODIFIED", &pod, now());
    assert_eq!(ev["object"]["columnDefinitions"], Value::Null);
    assert_eq!(ev["object"]["metadata"]["resourceVersion"], "3");
    assert_eq!(
        ev["object"]["rows"][0]["conditions"][0]["reason"],
        "Succeeded"
    );
    // The bookmark ending the initial events keeps its metadata even with includeObject=None.
    let bookmark = json!({"kind": "Pod", "apiVersion": "v1",
        "metadata": {"resourceVersion": "4", "annotations": {"k8s.io/initial-events-end": "true"}}});
    let ev = enc.event("BOOKMARK", &bookmark, now());
    assert_eq!(
        ev["object"]["rows"][0]["object"]["kind"],
        "PartialObjectMetadata"
    );
    assert_eq!(ev["object"]["rows"][0]["cells"][2], "");
}

#[test]
fn crd_invalid_column_keeps_earlier_columns() {
    let cols = [
        clusternet_printers::PrinterColumn::from_json(
            &json!({"name": "A", "type": "string", "jsonPath": ".a"}),
        ),
        clusternet_printers::PrinterColumn::from_json(
            &json!({"name": "B", "type": "string", "jsonPath": ".b[?("}),
        ),
    ];
    let (conv, err) = TableConvertor::for_printer_columns(&cols);
    assert!(err.is_some());
    assert_eq!(conv.column_definitions().len(), 2);
    let t = conv.table(
        TableInput::Object(&json!({"metadata": {"name": "x"}, "a": 1})),
        &TableOptions::default(),
        now(),
    );
    assert_eq!(t["rows"][0]["cells"], json!(["x", "1"]));
}
