//! Serde round trips of objects in the shape of Go Clusternet's examples, and the exact JSON Go
//! produces for zero values (field names, field order and `omitempty`).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Debug;
use std::path::{Path, PathBuf};

use clusternet_apis::apps::v1alpha1::{
    AggregatedStatus, Base, Description, FeedInventory, FeedOrder, Globalization, HelmChart,
    HelmChartSpec, HelmRelease, Localization, LocalizationSpec, Manifest, ManifestStatus,
    PreemptionPolicy, SchedulingStrategyType, Subscription, SubscriptionSpec, SubscriptionStatus,
};
use clusternet_apis::clusters::v1beta1::{
    ApprovedResult, ClusterRegistrationRequest, ClusterSyncMode, ClusterType, ManagedCluster,
    ManagedClusterSpec, ManagedClusterStatus,
};
use clusternet_apis::multicluster::v1alpha1::{ServiceExport, ServiceImport};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .collect();
    files.sort();
    files
}

fn load_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("read fixture");
    serde_saphyr::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// value -> K -> value must give the same value, and K -> value -> K the same K.
fn round_trip<K>(what: &str, value: &Value) -> K
where
    K: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let typed: K = serde_json::from_value(value.clone())
        .unwrap_or_else(|err| panic!("{what}: cannot decode: {err}"));
    let back = serde_json::to_value(&typed).expect("encode");
    assert_eq!(&back, value, "{what}: JSON changed in a round trip");
    let again: K = serde_json::from_value(back).expect("decode again");
    assert_eq!(again, typed, "{what}: object changed in a round trip");
    typed
}

/// Decodes `value` as the Rust type of its kind; with `exact`, also checks the round trip.
fn check_object(what: &str, value: &Value, exact: bool) {
    fn go<K>(what: &str, value: &Value, exact: bool)
    where
        K: DeserializeOwned + Serialize + PartialEq + Debug,
    {
        if exact {
            round_trip::<K>(what, value);
        } else {
            let typed: K = serde_json::from_value(value.clone())
                .unwrap_or_else(|err| panic!("{what}: cannot decode: {err}"));
            let back: K = serde_json::from_value(serde_json::to_value(&typed).expect("encode"))
                .expect("decode again");
            assert_eq!(back, typed, "{what}");
        }
    }
    match value["kind"].as_str() {
        Some("Subscription") => go::<Subscription>(what, value, exact),
        Some("Base") => go::<Base>(what, value, exact),
        Some("Description") => go::<Description>(what, value, exact),
        Some("Localization") => go::<Localization>(what, value, exact),
        Some("Globalization") => go::<Globalization>(what, value, exact),
        Some("HelmChart") => go::<HelmChart>(what, value, exact),
        Some("HelmRelease") => go::<HelmRelease>(what, value, exact),
        Some("Manifest") => go::<Manifest>(what, value, exact),
        Some("FeedInventory") => go::<FeedInventory>(what, value, exact),
        Some("ClusterRegistrationRequest") => go::<ClusterRegistrationRequest>(what, value, exact),
        Some("ManagedCluster") => go::<ManagedCluster>(what, value, exact),
        Some("ServiceExport") => go::<ServiceExport>(what, value, exact),
        Some("ServiceImport") => go::<ServiceImport>(what, value, exact),
        other => panic!("{what}: unexpected kind {other:?}"),
    }
}

#[test]
fn valid_fixtures_round_trip_exactly() {
    let files = fixtures("valid");
    assert!(files.len() >= 16, "fixtures missing: {files:?}");
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        check_object(&path.display().to_string(), &load_yaml(path), true);
    }
}

#[test]
fn objects_read_back_from_the_apiserver_decode() {
    let files = fixtures("from-apiserver");
    assert_eq!(files.len(), 13, "{files:?}");
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read");
        let list: Value = serde_json::from_str(&text).expect("json");
        let items = list["items"].as_array().expect("a List");
        assert!(!items.is_empty(), "{}", path.display());
        for item in items {
            check_object(&path.display().to_string(), item, false);
        }
    }
}

#[test]
fn invalid_fixtures_document_the_expected_error() {
    for path in fixtures("invalid") {
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.lines().any(|l| l.starts_with("# expect: ")),
            "{} has no `# expect:` line",
            path.display()
        );
        let value: Value = serde_saphyr::from_str(&text).expect("yaml");
        assert!(value["kind"].is_string() && value["apiVersion"].is_string());
    }
}

#[test]
fn subscription_examples() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid");
    let replication: Subscription = round_trip(
        "replication",
        &load_yaml(&dir.join("subscription-replication.yaml")),
    );
    assert_eq!(replication.spec.scheduling_strategy, None);
    assert_eq!(replication.spec.feeds.len(), 4);
    assert_eq!(
        replication.spec.feeds[1].namespace, "",
        "cluster-scoped feed"
    );

    let static_dividing: Subscription = round_trip(
        "static",
        &load_yaml(&dir.join("subscription-static-dividing.yaml")),
    );
    assert_eq!(
        static_dividing.spec.scheduling_strategy,
        Some(SchedulingStrategyType::Dividing)
    );
    let weights: Vec<i32> = static_dividing
        .spec
        .subscribers
        .iter()
        .map(|s| s.weight)
        .collect();
    assert_eq!(weights, [2, 1]);
    assert_eq!(
        static_dividing.spec.preemption_policy,
        Some(PreemptionPolicy::PreemptNever)
    );

    let dynamic: Subscription = round_trip(
        "dynamic",
        &load_yaml(&dir.join("subscription-dynamic-dividing.yaml")),
    );
    let dividing = dynamic
        .spec
        .dividing_scheduling
        .expect("dividingScheduling");
    let dynamic_dividing = dividing.dynamic_dividing.expect("dynamicDividing");
    assert_eq!(dynamic_dividing.min_clusters, Some(1));
    assert_eq!(dynamic_dividing.max_clusters, Some(3));
    assert_eq!(dynamic_dividing.topology_spread_constraints[0].max_skew, 1);
}

#[test]
fn subscription_status_like_go() {
    // As clusternet-scheduler writes it.
    let status = json!({
        "bindingClusters": ["clusternet-abcde/clusternet-cluster-abcde", "clusternet-fghij/clusternet-cluster-fghij"],
        "replicas": {
            "apps/v1/Deployment/qux/my-nginx": [4, 2],
            "v1/Namespace/qux": [],
        },
        "specHash": 3284930232u64,
        "desiredReleases": 2,
        "aggregatedStatuses": [{
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "namespace": "qux",
            "name": "my-nginx",
            "feedStatusSummary": {
                "available": true,
                "replicaStatus": { "observedGeneration": 2, "replicas": 6, "readyReplicas": 6 },
            },
            "feedStatusDetails": [{
                "clusterId": "dc91021d-2361-4f6d-a404-7c33b9e01118",
                "clusterName": "child1",
                "available": true,
                "replicaStatus": { "replicas": 4, "readyReplicas": 4 },
            }],
        }],
    });
    let typed: SubscriptionStatus = round_trip("subscription status", &status);
    assert_eq!(typed.spec_hash, 3_284_930_232);
    assert_eq!(typed.replicas["apps/v1/Deployment/qux/my-nginx"], [4, 2]);
    assert_eq!(
        typed.aggregated_statuses[0].feed_status_details[0]
            .feed_status
            .replica_status
            .replicas,
        4
    );
}

#[test]
fn byte_fields_are_base64() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid");
    let crr: ClusterRegistrationRequest = round_trip(
        "crr",
        &load_yaml(&dir.join("clusterregistrationrequest.yaml")),
    );
    let status = crr.status.expect("status");
    assert_eq!(status.result, Some(ApprovedResult::RequestApproved));
    assert_eq!(
        status.dedicated_token.expect("token").0,
        b"eyJhbGciOiJSUzI1NiJ9.example.token"
    );
    let ca = String::from_utf8(status.ca_certificate.expect("ca").0).expect("utf8");
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----\n"), "{ca}");
    assert_eq!(crr.spec.cluster_type, Some(ClusterType::EdgeCluster));
    assert_eq!(crr.spec.sync_mode, Some(ClusterSyncMode::Pull));

    let desc: Description = round_trip("description", &load_yaml(&dir.join("description.yaml")));
    let raw: Value = serde_json::from_slice(&desc.spec.raw[0].0).expect("raw is JSON");
    assert_eq!(raw["kind"], "Namespace");

    let hr: HelmRelease = round_trip("helmrelease", &load_yaml(&dir.join("helmrelease.yaml")));
    let overrides: Value =
        serde_json::from_slice(&hr.spec.overrides.expect("overrides").0).expect("json");
    assert_eq!(overrides, json!({ "image": { "tag": "8.0.26" } }));
}

#[test]
fn managed_cluster_status_example() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid");
    let mcls: ManagedCluster = round_trip("mcls", &load_yaml(&dir.join("managedcluster.yaml")));
    let status = mcls.status.expect("status");
    assert_eq!(status.kube_qps, 5.5);
    assert_eq!(status.allocatable["memory"].0, "16Gi");
    assert_eq!(status.conditions[0].type_, "Ready");
    assert!(!status.predictor_direct_access);
    assert_eq!(
        mcls.spec.cluster_init_base_name.as_deref(),
        Some("clusternet-init")
    );
    assert_eq!(
        mcls.spec.taints[0].key,
        "clusters.clusternet.io/initialization"
    );
}

/// Zero values serialise exactly like Go's `json.Marshal`: names, order and `omitempty`.
#[test]
fn zero_values_like_go() {
    let json = |v: &dyn erased::Json| v.to_json();
    // Go writes `"lastObservedTime":null` here (pruned by the apiserver); omitted in Rust so that
    // server-side apply accepts it.
    assert_eq!(
        json(&ManagedClusterStatus::default()),
        r#"{"healthz":false,"livez":false,"readyz":false,"nodeStatistics":{},"predictorDirectAccess":false}"#
    );
    // Go's zero syncMode is "" (rejected by the CRD); Rust defaults to Pull. Go also writes
    // `"clusterInitBaseName":null`.
    assert_eq!(
        json(&ManagedClusterSpec::default()),
        r#"{"clusterId":"","syncMode":"Pull"}"#
    );
    assert_eq!(json(&SubscriptionStatus::default()), "{}");
    assert_eq!(
        json(&SubscriptionSpec::default()),
        r#"{"subscribers":[],"feeds":[]}"#
    );
    assert_eq!(
        json(&AggregatedStatus::default()),
        r#"{"kind":"","apiVersion":"","name":"","feedStatusSummary":{"replicaStatus":{}}}"#
    );
    assert_eq!(
        json(&FeedOrder::default()),
        r#"{"kind":"","apiVersion":"","name":"","replicaRequirements":{"resources":{}}}"#
    );
    assert_eq!(
        json(&LocalizationSpec::default()),
        r#"{"feed":{"kind":"","apiVersion":"","name":""}}"#
    );
    assert_eq!(
        json(&HelmChartSpec::default()),
        r#"{"repo":"","chartPullSecret":{},"chart":"","targetNamespace":""}"#
    );
    assert_eq!(
        json(&ManifestStatus::default()),
        r#"{"kind":"","apiVersion":"","name":""}"#
    );
    assert_eq!(
        json(&Manifest::default()),
        r#"{"apiVersion":"apps.clusternet.io/v1alpha1","kind":"Manifest","metadata":{},"template":null}"#
    );
    assert_eq!(
        json(&ServiceExport::default()),
        r#"{"apiVersion":"multicluster.x-k8s.io/v1alpha1","kind":"ServiceExport","metadata":{}}"#
    );
}

/// What Go writes for unset pointers and zero times (`null`) decodes to `None`.
#[test]
fn go_nulls_decode() {
    let spec: ManagedClusterSpec = serde_json::from_value(json!({
        "clusterId": "dc91021d-2361-4f6d-a404-7c33b9e01118",
        "clusterInitBaseName": null,
        "syncMode": "Push",
    }))
    .expect("decode");
    assert_eq!(spec.cluster_init_base_name, None);
    let status: ManagedClusterStatus = serde_json::from_value(json!({
        "lastObservedTime": null,
        "healthz": false,
        "livez": false,
        "readyz": false,
        "nodeStatistics": {},
        "predictorDirectAccess": false,
    }))
    .expect("decode");
    assert_eq!(status, ManagedClusterStatus::default());
    let manifest_status: ManifestStatus = serde_json::from_value(json!({
        "kind": "Deployment", "apiVersion": "apps/v1", "name": "x", "observedStatus": null,
    }))
    .expect("decode");
    assert_eq!(manifest_status.observed_status, None);
}

/// Fields are written in Go's declaration order.
#[test]
fn field_order_like_go() {
    let spec: SubscriptionSpec = serde_json::from_value(json!({
        "feeds": [{ "name": "n", "namespace": "ns", "apiVersion": "v1", "kind": "Service" }],
        "clusterTolerations": [{ "key": "k", "operator": "Exists" }],
        "subscribers": [{ "subGroupStrategy": { "minClusters": 1 }, "weight": 1, "clusterAffinity": {} }],
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 1,
        "dividingScheduling": { "dynamicDividing": { "strategy": "Binpack" }, "type": "Dynamic" },
        "schedulingStrategy": "Dividing",
        "schedulingBySubGroup": true,
        "schedulerName": "default",
    }))
    .expect("decode");
    assert_eq!(
        serde_json::to_string(&spec).expect("encode"),
        concat!(
            r#"{"schedulerName":"default","schedulingBySubGroup":true,"schedulingStrategy":"Dividing","#,
            r#""dividingScheduling":{"type":"Dynamic","dynamicDividing":{"strategy":"Binpack"}},"#,
            r#""priority":1,"preemptionPolicy":"PreemptLowerPriority","#,
            r#""subscribers":[{"clusterAffinity":{},"weight":1,"subGroupStrategy":{"minClusters":1}}],"#,
            r#""clusterTolerations":[{"key":"k","operator":"Exists"}],"#,
            r#""feeds":[{"kind":"Service","apiVersion":"v1","namespace":"ns","name":"n"}]}"#
        )
    );
}

#[test]
fn open_and_closed_enums() {
    // Values the CRD does not restrict are kept verbatim.
    let t: ClusterType = serde_json::from_value(json!("SomeNewType")).expect("decode");
    assert_eq!(t, ClusterType::Other("SomeNewType".to_string()));
    assert_eq!(
        serde_json::to_value(&t).expect("encode"),
        json!("SomeNewType")
    );
    assert_eq!(
        serde_json::to_value(ApprovedResult::RequestDenied).expect("encode"),
        json!("Denied")
    );
    assert_eq!(
        ApprovedResult::from("Approved"),
        ApprovedResult::RequestApproved
    );

    // Values the CRD restricts are closed enums.
    assert_eq!(
        serde_json::to_value(PreemptionPolicy::PreemptNever).expect("encode"),
        json!("PreemptNever")
    );
    assert!(serde_json::from_value::<SchedulingStrategyType>(json!("Replicate")).is_err());
    assert_eq!("Dual".parse::<ClusterSyncMode>(), Ok(ClusterSyncMode::Dual));
    assert!("Both".parse::<ClusterSyncMode>().is_err());
    assert_eq!(ClusterSyncMode::ALL.len(), 3);
}

/// `&dyn Serialize` is not object safe; a tiny helper trait instead.
mod erased {
    pub trait Json {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).expect("encode")
        }
    }
}
