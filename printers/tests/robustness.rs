//! Malformed input never panics: every printer is fed the captured real objects with each field
//! in turn replaced by values of the wrong JSON type, plus entirely malformed objects.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::PathBuf;

use clusternet_printers::{
    IncludeObject, PrinterColumn, TableConvertor, TableInput, TableOptions, TableVersion,
};
use serde_json::{Value, json};

/// Every kind with a built-in printer, plus kinds served by other convertors.
const KINDS: &[(&str, &str)] = &[
    ("", "Pod"),
    ("", "PodTemplate"),
    ("", "ReplicationController"),
    ("", "Service"),
    ("", "Endpoints"),
    ("", "Node"),
    ("", "Event"),
    ("events.k8s.io", "Event"),
    ("", "Namespace"),
    ("", "Secret"),
    ("", "ServiceAccount"),
    ("", "PersistentVolume"),
    ("", "PersistentVolumeClaim"),
    ("", "ComponentStatus"),
    ("", "ConfigMap"),
    ("", "ResourceQuota"),
    ("", "LimitRange"),
    ("policy", "PodDisruptionBudget"),
    ("apps", "ReplicaSet"),
    ("apps", "DaemonSet"),
    ("apps", "StatefulSet"),
    ("apps", "Deployment"),
    ("apps", "ControllerRevision"),
    ("batch", "Job"),
    ("batch", "CronJob"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("autoscaling", "Scale"),
    ("networking.k8s.io", "Ingress"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("networking.k8s.io", "IPAddress"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io", "Role"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("certificates.k8s.io", "PodCertificateRequest"),
    ("coordination.k8s.io", "Lease"),
    ("coordination.k8s.io", "LeaseCandidate"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "VolumeAttributesClass"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "CSIDriver"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("scheduling.k8s.io", "Workload"),
    ("scheduling.k8s.io", "PodGroup"),
    ("node.k8s.io", "RuntimeClass"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("internal.apiserver.k8s.io", "StorageVersion"),
    ("resource.k8s.io", "DeviceClass"),
    ("resource.k8s.io", "ResourceClaim"),
    ("resource.k8s.io", "ResourceClaimTemplate"),
    ("resource.k8s.io", "ResourceSlice"),
    ("resource.k8s.io", "ResourcePoolStatusRequest"),
    ("resource.k8s.io", "DeviceTaintRule"),
    ("storagemigration.k8s.io", "StorageVersionMigration"),
    ("apiregistration.k8s.io", "APIService"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("example.com", "Unknown"),
];

fn wrong_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(-1),
        json!(1.5),
        json!("x"),
        json!(true),
        json!([]),
        json!({}),
        json!([{}, "y", 2]),
    ]
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::UNIX_EPOCH
}

fn all_options() -> Vec<TableOptions> {
    let mut out = Vec::new();
    for version in [TableVersion::V1, TableVersion::V1Beta1] {
        for include_object in [
            IncludeObject::None,
            IncludeObject::Metadata,
            IncludeObject::Object,
        ] {
            out.push(TableOptions {
                version,
                include_object,
                no_headers: false,
            });
        }
    }
    out
}

/// JSON pointers of every value in `v` (bounded).
fn pointers(v: &Value, prefix: String, out: &mut Vec<String>, depth: usize) {
    if out.len() > 400 || depth > 7 {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{prefix}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(child, p, out, depth + 1);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate().take(3) {
                let p = format!("{prefix}/{i}");
                out.push(p.clone());
                pointers(child, p, out, depth + 1);
            }
        }
        _ => {}
    }
}

fn fixture_objects() -> Vec<(TableConvertor, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .expect("fixtures")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    paths.sort();
    for p in paths
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        let fx: Value = serde_json::from_slice(&fs::read(&p).expect("read")).expect("json");
        let Some(rows) = fx.pointer("/table/rows").and_then(Value::as_array) else {
            continue;
        };
        let s = |k: &str| fx[k].as_str().unwrap_or("").to_string();
        let conv = match fx.get("crd") {
            Some(crd) => TableConvertor::for_crd(crd, &s("version")).expect("crd"),
            None => TableConvertor::for_kind(&s("group"), &s("version"), &s("kind")),
        };
        for row in rows.iter().take(2) {
            out.push((conv.clone(), row["object"].clone()));
        }
    }
    out
}

#[test]
fn mutated_real_objects_never_panic() {
    let opts = TableOptions {
        include_object: IncludeObject::Object,
        ..TableOptions::default()
    };
    let bad = wrong_values();
    let mut runs = 0usize;
    for (conv, obj) in fixture_objects() {
        let mut ptrs = Vec::new();
        pointers(&obj, String::new(), &mut ptrs, 0);
        for ptr in ptrs {
            for b in &bad {
                let mut m = obj.clone();
                if let Some(slot) = m.pointer_mut(&ptr) {
                    *slot = b.clone();
                }
                let table = conv.table(TableInput::Object(&m), &opts, now());
                assert_eq!(table["rows"].as_array().map(Vec::len), Some(1));
                runs += 1;
            }
        }
    }
    assert!(runs > 10_000, "only {runs} mutations");
}

#[test]
fn malformed_objects_never_panic() {
    let shapes = vec![
        Value::Null,
        json!([]),
        json!("pod"),
        json!(7),
        json!({}),
        json!({"metadata": "x", "spec": [], "status": "y", "items": 3}),
        json!({"metadata": {"name": 5, "creationTimestamp": "yesterday", "deletionTimestamp": {},
                            "annotations": [], "labels": "a=b", "ownerReferences": {}},
               "spec": {"containers": {}, "template": [], "selector": "x", "ports": "80", "metrics": {}},
               "status": {"conditions": "Ready", "containerStatuses": [null, 1, {"state": []}]}}),
        json!({"metadata": {"creationTimestamp": "0001-01-01T00:00:00Z", "annotations": {
            "autoscaling.alpha.kubernetes.io/metrics": "[{\"type\":\"Object\"},{\"type\":\"External\",\"external\":1}]",
            "autoscaling.alpha.kubernetes.io/current-metrics": "not json"}},
               "apiVersion": "autoscaling/v1",
               "spec": {"metrics": [{"type": "Resource"}, {"type": "External", "external": null}, {"type": "Pods", "pods": 3}]},
               "status": {"hard": {"cpu": "1x"}, "used": {"cpu": []}}}),
    ];
    for (group, kind) in KINDS {
        for version in ["v1", "v2", "v1beta1"] {
            let conv = TableConvertor::for_kind(group, version, kind);
            for shape in &shapes {
                for opts in all_options() {
                    let _ = conv.table(TableInput::Object(shape), &opts, now());
                    let _ = conv.table(TableInput::List(shape), &opts, now());
                }
                let list =
                    json!({"metadata": {"remainingItemCount": "x"}, "items": [shape, shape]});
                let _ = conv.table(TableInput::List(&list), &TableOptions::default(), now());
            }
        }
    }
}

#[test]
fn odd_printer_columns_never_panic() {
    let paths = [
        ".a",
        ".a[0]",
        ".a[-1]",
        ".a[1:]",
        ".a[9223372036854775807]",
        ".a[-9223372036854775808:]",
        ".a[::0]",
        ".a[*].b",
        "..b",
        ".a[?(@.b==1)]",
        ".a[?(@.b>\"x\")]",
        ".a[?(@.b)]",
        ".a['b','c']",
        "{range .a[*]}{.b}{end}",
        ".a.b\\.c",
        "@",
        "$",
        "",
        ".é.日本",
        ".a[?(@.b=='\\'')]",
    ];
    let columns: Vec<PrinterColumn> = paths
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            ["string", "integer", "number", "boolean", "date", "object"].map(|t| {
                PrinterColumn::from_json(
                    &json!({"name": format!("c{i}{t}"), "type": t, "jsonPath": p}),
                )
            })
        })
        .collect();
    let (conv, _) = TableConvertor::for_printer_columns(&columns);
    let objects = [
        json!({"a": [{"b": 1}, {"b": "x", "c": null}, null, 3], "b": {"c": true}}),
        json!({"a": {"b": [1, 2]}, "é": {"日本": "ok"}}),
        json!({"a": null}),
        json!([]),
        json!(null),
    ];
    for o in &objects {
        for opts in all_options() {
            let _ = conv.table(TableInput::Object(o), &opts, now());
        }
    }
    for p in paths {
        let _ = clusternet_printers::jsonpath::JsonPath::parse(&format!("{{{p}}}"));
        let _ = clusternet_printers::jsonpath::JsonPath::parse(p);
    }
}
