//! The generated CRDs have the names, scope, printer columns, subresources and key schema facts of
//! Go Clusternet's CRDs (`manifests/crds/*.yaml`, values copied here by hand).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

/// A printer column: (name, type, jsonPath, priority, description).
type Column = (
    &'static str,
    &'static str,
    &'static str,
    Option<i32>,
    Option<&'static str>,
);

struct Expected {
    name: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    list_kind: Option<&'static str>,
    plural: &'static str,
    singular: &'static str,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    scope: &'static str,
    status: bool,
    /// (name, type, jsonPath, priority, description)
    columns: &'static [Column],
}

const AGE: Column = ("AGE", "date", ".metadata.creationTimestamp", None, None);

const EXPECTED: &[Expected] = &[
    Expected {
        name: "clusterregistrationrequests.clusters.clusternet.io",
        group: "clusters.clusternet.io",
        version: "v1beta1",
        kind: "ClusterRegistrationRequest",
        list_kind: Some("ClusterRegistrationRequestList"),
        plural: "clusterregistrationrequests",
        singular: "clusterregistrationrequest",
        short_names: &["clsrr"],
        categories: &["clusternet"],
        scope: "Cluster",
        status: true,
        columns: &[
            (
                "CLUSTER ID",
                "string",
                ".spec.clusterId",
                None,
                Some("The unique id for the cluster"),
            ),
            (
                "STATUS",
                "string",
                ".status.result",
                None,
                Some("The status of current cluster registration request"),
            ),
            AGE,
        ],
    },
    Expected {
        name: "managedclusters.clusters.clusternet.io",
        group: "clusters.clusternet.io",
        version: "v1beta1",
        kind: "ManagedCluster",
        list_kind: Some("ManagedClusterList"),
        plural: "managedclusters",
        singular: "managedcluster",
        short_names: &["mcls"],
        categories: &["clusternet"],
        scope: "Namespaced",
        status: true,
        columns: &[
            (
                "CLUSTER ID",
                "string",
                ".spec.clusterId",
                None,
                Some("The unique id for the cluster"),
            ),
            (
                "CLUSTER TYPE",
                "string",
                ".spec.clusterType",
                Some(100),
                Some("The type of the cluster"),
            ),
            (
                "SYNC MODE",
                "string",
                ".spec.syncMode",
                None,
                Some("The cluster sync mode"),
            ),
            ("KUBERNETES", "string", ".status.k8sVersion", None, None),
            (
                "STATUS",
                "string",
                ".status.conditions[?(@.type=='Ready')].status",
                None,
                None,
            ),
            AGE,
            (
                "AGENT VERSION",
                "string",
                ".status.agentVersion",
                Some(100),
                Some("The version of the clusternet agent"),
            ),
        ],
    },
    Expected {
        name: "subscriptions.apps.clusternet.io",
        group: "apps.clusternet.io",
        version: "v1alpha1",
        kind: "Subscription",
        list_kind: Some("SubscriptionList"),
        plural: "subscriptions",
        singular: "subscription",
        short_names: &["sub", "subs"],
        categories: &["clusternet"],
        scope: "Namespaced",
        status: true,
        columns: &[AGE],
    },
    Expected {
        name: "bases.apps.clusternet.io",
        group: "apps.clusternet.io",
        version: "v1alpha1",
        kind: "Base",
        list_kind: Some("BaseList"),
        plural: "bases",
        singular: "base",
        short_names: &[],
        categories: &["clusternet"],
        scope: "Namespaced",
        status: false,
        columns: &[AGE],
    },
    Expected {
        name: "descriptions.apps.clusternet.io",
        group: "apps.clusternet.io",
        version: "v1alpha1",
        kind: "Description",
        list_kind: Some("DescriptionList"),
        plural: "descriptions",
        singular: "description",
        short_names: &["desc"],
        categories: &["clusternet"],
        scope: "Namespaced",
        status: true,
        columns: &[
            ("DEPLOYER", "string", ".spec.deployer", None, None),
            ("STATUS", "string", ".status.phase", None, None),
            AGE,
        ],
    },
    Expected {
        name: "localizations.apps.clusternet.io",
        group: "apps.clusternet.io",
        version: "v1alpha1",
        kind: "Localization",
        list_kind: Some("LocalizationList"),
        plural: "localizations",
        singular: "localization",
        short_names: &["loc", "local"],
        categories: &["clusternet"],
        scope: "Namespaced",
        status: false,
        columns: &[AGE],
    },
    Expected {
        name: "globalizations.apps.clusternet.io",
        group: "apps.clusternet.io",
        version: "v1alpha1",
        kind: "Globalization",
        list_kind: Some("GlobalizationList"),
        plural: "globalizations",
        singular: "globalization",
        short_names: &["glob", "global"],
        categories: &["clusternet"],
        scope: "Cluster",
        status: false,
        columns: &[AGE],
    },
    Expected {
        name: "helmcharts.apps.clusternet.io",
        group: "apps.clusternet.io",
        version: "v1alpha1",
        kind: "HelmChart",
        list_kind: Some("HelmChartList"),
        plural: "helmcharts",
        singular: "helmchart",
        short_names: &["chart", "charts"],
        categories: &["clusternet"],
        scope: "Namespaced",
        status: true,
        columns: &[
            (
                "CHART",
                "string",
                ".spec.chart",
                None,
                Some("The helm chart name"),
            ),
            (
                "VERSION",
                "string",
                ".spec.version",
                None,
                Some("The helm chart version"),
            ),
            (
                "REPO",
                "string",
                ".spec.repo",
                None,
                Some("The helm repo url"),
            ),
            (
                "STATUS",
                "string",
                ".status.phase",
                None,
                Some("The helm chart status"),
            ),
            AGE,
        ],
    },
    Expected {
        name: "helmreleases.apps.clusternet.io",
        group: "apps.clusternet.io",
        version: "v1alpha1",
        kind: "HelmRelease",
        list_kind: Some("HelmReleaseList"),
        plural: "helmreleases",
        singular: "helmrelease",
        short_names: &["hr"],
        categories: &["clusternet"],
        scope: "Namespaced",
        status: true,
        columns: &[
            (
                "CHART",
                "string",
                ".spec.chart",
                None,
                Some("The helm chart name"),
            ),
            (
                "VERSION",
                "string",
                ".spec.version",
                None,
                Some("The helm chart version"),
            ),
            (
                "REPO",
                "string",
                ".spec.repo",
                None,
                Some("The helm repo url"),
            ),
            (
                "STATUS",
                "string",
                ".status.phase",
                None,
                Some("The helm release status"),
            ),
            AGE,
        ],
    },
    Expected {
        name: "manifests.apps.clusternet.io",
        group: "apps.clusternet.io",
        version: "v1alpha1",
        kind: "Manifest",
        list_kind: Some("ManifestList"),
        plural: "manifests",
        singular: "manifest",
        short_names: &[],
        categories: &["clusternet"],
        scope: "Namespaced",
        status: false,
        columns: &[AGE],
    },
    Expected {
        name: "feedinventories.apps.clusternet.io",
        group: "apps.clusternet.io",
        version: "v1alpha1",
        kind: "FeedInventory",
        list_kind: Some("FeedInventoryList"),
        plural: "feedinventories",
        singular: "feedinventory",
        short_names: &["finv"],
        categories: &["clusternet"],
        scope: "Namespaced",
        status: false,
        columns: &[],
    },
    Expected {
        name: "serviceexports.multicluster.x-k8s.io",
        group: "multicluster.x-k8s.io",
        version: "v1alpha1",
        kind: "ServiceExport",
        list_kind: None,
        plural: "serviceexports",
        singular: "serviceexport",
        short_names: &["svcex"],
        categories: &[],
        scope: "Namespaced",
        status: true,
        columns: &[("Age", "date", ".metadata.creationTimestamp", None, None)],
    },
    Expected {
        name: "serviceimports.multicluster.x-k8s.io",
        group: "multicluster.x-k8s.io",
        version: "v1alpha1",
        kind: "ServiceImport",
        list_kind: None,
        plural: "serviceimports",
        singular: "serviceimport",
        short_names: &["svcim"],
        categories: &[],
        scope: "Namespaced",
        status: true,
        columns: &[
            (
                "Type",
                "string",
                ".spec.type",
                None,
                Some("The type of this ServiceImport"),
            ),
            (
                "IP",
                "string",
                ".spec.ips",
                None,
                Some("The VIP for this ServiceImport"),
            ),
            ("Age", "date", ".metadata.creationTimestamp", None, None),
        ],
    },
];

fn all_crds() -> &'static [CustomResourceDefinition] {
    static CRDS: OnceLock<Vec<CustomResourceDefinition>> = OnceLock::new();
    CRDS.get_or_init(clusternet_apis::crds)
}

fn crd(name: &str) -> CustomResourceDefinition {
    all_crds()
        .iter()
        .find(|crd| crd.metadata.name.as_deref() == Some(name))
        .cloned()
        .unwrap_or_else(|| panic!("no CRD {name}"))
}

/// The openAPIV3Schema of a CRD as JSON.
fn schema(name: &str) -> Value {
    let crd = crd(name);
    let schema = crd.spec.versions[0].schema.clone().expect("schema");
    serde_json::to_value(schema.open_api_v3_schema.expect("openAPIV3Schema")).expect("to json")
}

/// The subschema at a path of property names (`items` is followed through automatically).
fn at<'a>(schema: &'a Value, path: &[&str]) -> &'a Value {
    let mut current = schema;
    for segment in path {
        if current.get("type") == Some(&json!("array")) {
            current = &current["items"];
        }
        current = current
            .get("properties")
            .and_then(|p| p.get(*segment))
            .unwrap_or_else(|| panic!("no property {segment} in path {path:?}"));
    }
    current
}

#[test]
fn every_crd_is_expected() {
    let mut names: Vec<String> = all_crds()
        .iter()
        .filter_map(|crd| crd.metadata.name.clone())
        .collect();
    names.sort();
    let mut expected: Vec<String> = EXPECTED.iter().map(|e| e.name.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected);
}

#[test]
fn names_scope_columns_and_subresources() {
    for e in EXPECTED {
        let crd = crd(e.name);
        let spec = &crd.spec;
        assert_eq!(spec.group, e.group, "{}", e.name);
        assert_eq!(spec.scope, e.scope, "{}", e.name);
        assert_eq!(spec.names.kind, e.kind, "{}", e.name);
        assert_eq!(spec.names.list_kind.as_deref(), e.list_kind, "{}", e.name);
        assert_eq!(spec.names.plural, e.plural, "{}", e.name);
        assert_eq!(
            spec.names.singular.as_deref(),
            Some(e.singular),
            "{}",
            e.name
        );
        assert_eq!(
            spec.names.short_names.clone().unwrap_or_default(),
            e.short_names,
            "{} shortNames",
            e.name
        );
        assert_eq!(
            spec.names.categories.clone().unwrap_or_default(),
            e.categories,
            "{} categories",
            e.name
        );

        assert_eq!(spec.versions.len(), 1, "{}", e.name);
        let version = &spec.versions[0];
        assert_eq!(version.name, e.version, "{}", e.name);
        assert!(version.served && version.storage, "{}", e.name);

        let has_status = version
            .subresources
            .as_ref()
            .is_some_and(|s| s.status.is_some());
        assert_eq!(has_status, e.status, "{} status subresource", e.name);
        assert!(
            version
                .subresources
                .as_ref()
                .is_none_or(|s| s.scale.is_none()),
            "{} has no scale subresource",
            e.name
        );

        let columns: Vec<_> = version
            .additional_printer_columns
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.name, c.type_, c.json_path, c.priority, c.description))
            .collect();
        let expected: Vec<_> = e
            .columns
            .iter()
            .map(|(name, ty, path, priority, description)| {
                (
                    name.to_string(),
                    ty.to_string(),
                    path.to_string(),
                    *priority,
                    description.map(str::to_string),
                )
            })
            .collect();
        assert_eq!(columns, expected, "{} printer columns", e.name);
    }
}

#[test]
fn root_schema_is_like_controller_gen() {
    for e in EXPECTED {
        let schema = schema(e.name);
        assert_eq!(schema["type"], "object", "{}", e.name);
        assert_eq!(at(&schema, &["apiVersion"])["type"], "string", "{}", e.name);
        assert_eq!(at(&schema, &["kind"])["type"], "string", "{}", e.name);
        assert_eq!(
            at(&schema, &["metadata"]),
            &json!({ "type": "object" }),
            "{}",
            e.name
        );
        assert!(
            schema.get("description").is_some(),
            "{} has a description",
            e.name
        );
    }
    let required = |name: &str| schema(name).get("required").cloned();
    // Go: `spec` without omitempty is required, `spec,omitempty` is not.
    assert_eq!(
        required("subscriptions.apps.clusternet.io"),
        Some(json!(["spec"]))
    );
    assert_eq!(required("bases.apps.clusternet.io"), Some(json!(["spec"])));
    assert_eq!(
        required("clusterregistrationrequests.clusters.clusternet.io"),
        None
    );
    assert_eq!(required("managedclusters.clusters.clusternet.io"), None);
    assert_eq!(required("serviceimports.multicluster.x-k8s.io"), None);
    assert_eq!(required("serviceexports.multicluster.x-k8s.io"), None);
    // Manifest has no spec: `template` sits at the root and is required.
    assert_eq!(
        required("manifests.apps.clusternet.io"),
        Some(json!(["template"]))
    );
}

#[test]
fn defaults_and_enums() {
    let sub = schema("subscriptions.apps.clusternet.io");
    let spec = at(&sub, &["spec"]);
    assert_eq!(at(spec, &["schedulerName"])["default"], "default");
    assert_eq!(at(spec, &["schedulingStrategy"])["default"], "Replication");
    assert_eq!(
        at(spec, &["schedulingStrategy"])["enum"],
        json!(["Replication", "Dividing"])
    );
    assert_eq!(
        at(spec, &["preemptionPolicy"])["default"],
        "PreemptLowerPriority"
    );
    assert_eq!(
        at(spec, &["preemptionPolicy"])["enum"],
        json!(["PreemptLowerPriority", "PreemptNever"])
    );
    assert_eq!(
        at(spec, &["dividingScheduling", "type"])["default"],
        "Static"
    );
    assert_eq!(
        at(spec, &["dividingScheduling", "type"])["enum"],
        json!(["Static", "Dynamic"])
    );
    let strategy = at(spec, &["dividingScheduling", "dynamicDividing", "strategy"]);
    assert_eq!(strategy["default"], "Spread");
    assert_eq!(strategy["enum"], json!(["Spread", "Binpack"]));
    assert_eq!(spec["required"], json!(["feeds", "subscribers"]));
    assert_eq!(
        at(spec, &["subscribers"])["items"]["required"],
        json!(["clusterAffinity"])
    );
    assert_eq!(at(spec, &["subscribers", "weight"])["minimum"], json!(0.0));
    assert_eq!(
        at(spec, &["feeds"])["items"]["required"],
        json!(["apiVersion", "kind", "name"])
    );

    for name in [
        "localizations.apps.clusternet.io",
        "globalizations.apps.clusternet.io",
    ] {
        let spec = schema(name)["properties"]["spec"].clone();
        assert_eq!(at(&spec, &["priority"])["default"], 500, "{name}");
        assert_eq!(at(&spec, &["priority"])["minimum"], json!(0.0), "{name}");
        assert_eq!(at(&spec, &["priority"])["maximum"], json!(1000.0), "{name}");
        assert_eq!(
            at(&spec, &["overridePolicy"])["default"],
            "ApplyLater",
            "{name}"
        );
        assert_eq!(
            at(&spec, &["overrides", "type"])["enum"],
            json!([
                "Helm",
                "JSONPatch",
                "MergePatch",
                "FieldJSONPatch",
                "FieldMergePatch"
            ]),
            "{name}"
        );
        assert_eq!(
            at(&spec, &["overrides", "fieldFormat"])["enum"],
            json!(["YAML", "JSON"])
        );
        assert_eq!(
            at(&spec, &["overrides"])["items"]["required"],
            json!(["type", "value"])
        );
        assert!(
            spec.get("required").is_none(),
            "{name}: nothing required in spec"
        );
    }

    for name in [
        "helmcharts.apps.clusternet.io",
        "helmreleases.apps.clusternet.io",
    ] {
        let spec = schema(name)["properties"]["spec"].clone();
        assert_eq!(at(&spec, &["createNamespace"])["default"], true, "{name}");
        assert_eq!(at(&spec, &["timeoutSeconds"])["default"], 300, "{name}");
        assert_eq!(
            spec["required"],
            json!(["chart", "repo", "targetNamespace"]),
            "{name}"
        );
        assert!(
            at(&spec, &["repo"])["pattern"]
                .as_str()
                .is_some_and(|p| p.starts_with("^(http|https|oci)?://"))
        );
    }
    let chart = schema("helmcharts.apps.clusternet.io");
    assert_eq!(
        at(&chart, &["status", "phase"])["enum"],
        json!(["Found", "NotFound"])
    );

    let crr = schema("clusterregistrationrequests.clusters.clusternet.io");
    assert_eq!(at(&crr, &["spec", "syncMode"])["default"], "Pull");
    assert_eq!(
        at(&crr, &["spec", "syncMode"])["enum"],
        json!(["Push", "Pull", "Dual"])
    );
    assert_eq!(at(&crr, &["spec", "clusterName"])["maxLength"], 30);
    assert_eq!(at(&crr, &["spec", "clusterNamespace"])["maxLength"], 63);
    assert_eq!(at(&crr, &["spec"])["required"], json!(["clusterId"]));
    // Open string types: no enum in the CRD.
    assert!(at(&crr, &["spec", "clusterType"]).get("enum").is_none());
    assert!(at(&crr, &["status", "result"]).get("enum").is_none());

    let desc = schema("descriptions.apps.clusternet.io");
    assert_eq!(
        at(&desc, &["spec", "deployer"])["enum"],
        json!(["Helm", "Generic"])
    );
    assert_eq!(
        at(&desc, &["status", "phase"])["enum"],
        json!([
            "Pending",
            "Success",
            "Failure",
            "Installing",
            "Upgrading",
            "Uninstalling",
            "Superseded",
            "Unknown"
        ])
    );

    let svcim = schema("serviceimports.multicluster.x-k8s.io");
    assert_eq!(
        at(&svcim, &["spec", "type"])["enum"],
        json!(["ClusterSetIP", "Headless"])
    );
    assert_eq!(at(&svcim, &["spec", "ips"])["maxItems"], 1);
    assert_eq!(at(&svcim, &["spec"])["required"], json!(["ports", "type"]));
    assert_eq!(
        at(&svcim, &["spec", "ports"])["x-kubernetes-list-type"],
        "atomic"
    );
    assert_eq!(
        at(&svcim, &["status", "clusters"])["x-kubernetes-list-type"],
        "map"
    );
    assert_eq!(
        at(&svcim, &["status", "clusters"])["x-kubernetes-list-map-keys"],
        json!(["cluster"])
    );
}

#[test]
fn no_default_where_go_has_none() {
    // schemars derives a `default` from `#[serde(default)]`; Go's CRDs only have the explicit ones.
    fn collect(path: &str, schema: &Value, out: &mut Vec<String>) {
        if let Some(default) = schema.get("default") {
            out.push(format!("{path}={default}"));
        }
        if let Some(Value::Object(properties)) = schema.get("properties") {
            for (name, sub) in properties {
                collect(&format!("{path}.{name}"), sub, out);
            }
        }
        if let Some(items) = schema.get("items") {
            collect(&format!("{path}[]"), items, out);
        }
    }
    let mut defaults = Vec::new();
    for e in EXPECTED {
        collect(e.kind, &schema(e.name), &mut defaults);
    }
    defaults.sort();
    assert_eq!(
        defaults,
        [
            "ClusterRegistrationRequest.spec.syncMode=\"Pull\"",
            "Globalization.spec.overridePolicy=\"ApplyLater\"",
            "Globalization.spec.priority=500",
            "HelmChart.spec.createNamespace=true",
            "HelmChart.spec.timeoutSeconds=300",
            "HelmRelease.spec.createNamespace=true",
            "HelmRelease.spec.timeoutSeconds=300",
            "Localization.spec.overridePolicy=\"ApplyLater\"",
            "Localization.spec.priority=500",
            "Subscription.spec.dividingScheduling.dynamicDividing.strategy=\"Spread\"",
            "Subscription.spec.dividingScheduling.type=\"Static\"",
            "Subscription.spec.preemptionPolicy=\"PreemptLowerPriority\"",
            "Subscription.spec.schedulerName=\"default\"",
            "Subscription.spec.schedulingStrategy=\"Replication\"",
        ]
    );
}

#[test]
fn managed_cluster_validations() {
    let mcls = schema("managedclusters.clusters.clusternet.io");
    let spec = at(&mcls, &["spec"]);
    assert_eq!(spec["required"], json!(["clusterId", "syncMode"]));
    assert_eq!(
        spec["x-kubernetes-validations"],
        json!([{
            "message": "clusterInitBaseName is required once set",
            "rule": "!has(oldSelf.clusterInitBaseName) || has(self.clusterInitBaseName)",
        }])
    );
    let base_name = at(spec, &["clusterInitBaseName"]);
    assert_eq!(base_name["maxLength"], 512);
    assert_eq!(
        base_name["x-kubernetes-validations"],
        json!([{ "message": "clusterInitBaseName is immutable", "rule": "self == oldSelf" }])
    );
    assert_eq!(
        at(spec, &["clusterId"])["pattern"],
        "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    );
    assert_eq!(
        at(spec, &["taints"])["items"]["required"],
        json!(["effect", "key"])
    );

    let status = at(&mcls, &["status"]);
    assert_eq!(
        at(status, &["kubeQPS"]),
        &json!({ "type": "number", "description": at(status, &["kubeQPS"])["description"] })
    );
    assert_eq!(at(status, &["lastObservedTime"])["format"], "date-time");
    assert_eq!(
        at(status, &["heartbeatFrequencySeconds"])["format"],
        "int64"
    );
    let quantity = &at(status, &["allocatable"])["additionalProperties"];
    assert_eq!(quantity["x-kubernetes-int-or-string"], true);
    assert_eq!(
        quantity["anyOf"],
        json!([{ "type": "integer" }, { "type": "string" }])
    );
    assert!(
        quantity["pattern"]
            .as_str()
            .is_some_and(|p| p.starts_with("^(\\+|-)?"))
    );
    let condition = &at(status, &["conditions"])["items"];
    assert_eq!(
        condition["required"],
        json!(["lastTransitionTime", "message", "reason", "status", "type"])
    );
    assert_eq!(
        at(condition, &["status"])["enum"],
        json!(["True", "False", "Unknown"])
    );
    assert_eq!(at(condition, &["type"])["maxLength"], 316);
}

#[test]
fn raw_fields() {
    let crr = schema("clusterregistrationrequests.clusters.clusternet.io");
    for field in ["token", "caCertificate"] {
        let s = at(&crr, &["status", field]);
        assert_eq!(
            (s["type"].clone(), s["format"].clone()),
            (json!("string"), json!("byte")),
            "{field}"
        );
    }
    let desc = schema("descriptions.apps.clusternet.io");
    for field in ["raw", "chartRaw"] {
        assert_eq!(
            at(&desc, &["spec", field])["items"],
            json!({ "type": "string", "format": "byte" })
        );
    }
    let observed = at(&desc, &["status", "manifestStatuses", "observedStatus"]);
    assert_eq!(observed["type"], "object");
    assert_eq!(observed["x-kubernetes-preserve-unknown-fields"], true);
    let hr = schema("helmreleases.apps.clusternet.io");
    assert_eq!(at(&hr, &["spec", "overrides"])["format"], "byte");
    assert_eq!(
        at(&hr, &["status", "version"]),
        &json!({ "type": "integer", "description": at(&hr, &["status", "version"])["description"] })
    );

    let manifest = schema("manifests.apps.clusternet.io");
    let template = at(&manifest, &["template"]);
    assert_eq!(template["type"], "object");
    assert_eq!(template["x-kubernetes-preserve-unknown-fields"], true);
    assert!(
        template.get("x-kubernetes-embedded-resource").is_none(),
        "Go's CRD has none"
    );

    let sub = schema("subscriptions.apps.clusternet.io");
    let status = at(&sub, &["status"]);
    assert_eq!(at(status, &["specHash"])["format"], "int64");
    assert!(at(status, &["specHash"]).get("minimum").is_none());
    assert!(at(status, &["desiredReleases"]).get("format").is_none());
    assert_eq!(
        at(status, &["replicas"])["additionalProperties"]["items"]["format"],
        "int32"
    );
}

#[test]
fn upstream_types_carry_list_and_map_types() {
    let finv = schema("feedinventories.apps.clusternet.io");
    let requirements = at(&finv, &["spec", "feeds", "replicaRequirements"]);
    assert_eq!(
        at(requirements, &["nodeSelector"])["x-kubernetes-map-type"],
        "atomic"
    );
    let claims = at(requirements, &["resources", "claims"]);
    assert_eq!(claims["x-kubernetes-list-type"], "map");
    assert_eq!(claims["x-kubernetes-list-map-keys"], json!(["name"]));
    let node_affinity = at(requirements, &["affinity", "nodeAffinity"]);
    let required = at(
        node_affinity,
        &["requiredDuringSchedulingIgnoredDuringExecution"],
    );
    assert_eq!(required["x-kubernetes-map-type"], "atomic");
    assert_eq!(required["required"], json!(["nodeSelectorTerms"]));
    let pod_term = at(
        requirements,
        &[
            "affinity",
            "podAntiAffinity",
            "preferredDuringSchedulingIgnoredDuringExecution",
            "podAffinityTerm",
        ],
    );
    assert_eq!(pod_term["required"], json!(["topologyKey"]));
    assert_eq!(
        at(pod_term, &["labelSelector"])["x-kubernetes-map-type"],
        "atomic"
    );
    assert_eq!(
        at(pod_term, &["namespaces"])["x-kubernetes-list-type"],
        "atomic"
    );

    let sub = schema("subscriptions.apps.clusternet.io");
    let affinity = at(&sub, &["spec", "subscribers", "clusterAffinity"]);
    assert_eq!(affinity["x-kubernetes-map-type"], "atomic");
    assert_eq!(
        at(affinity, &["matchExpressions"])["x-kubernetes-list-type"],
        "atomic"
    );
    let spread = at(
        &sub,
        &[
            "spec",
            "dividingScheduling",
            "dynamicDividing",
            "topologySpreadConstraints",
        ],
    );
    assert_eq!(
        spread["items"]["required"],
        json!(["maxSkew", "topologyKey", "whenUnsatisfiable"])
    );

    let svcex = schema("serviceexports.multicluster.x-k8s.io");
    let conditions = at(&svcex, &["status", "conditions"]);
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(conditions["x-kubernetes-list-map-keys"], json!(["type"]));
    assert!(
        svcex["properties"].get("spec").is_none(),
        "ServiceExport has no spec"
    );
}
