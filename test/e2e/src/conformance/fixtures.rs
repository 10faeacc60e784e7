//! One valid object per kind the parent serves, for the conformance matrix: the smallest body
//! the kind's validation accepts, written here (not copied from anywhere) and kept free of
//! side effects on the parent (no replicas, no real signer, no real drivers).
//!
//! A kind without a fixture fails the matrix by name: when the parent starts serving a new
//! kind, add it here.

use serde_json::{Map, Value, json};

use super::Kind;

/// The names a kind's objects take: most kinds take any DNS name; IPAddress objects are named
/// by their address and CRDs by `<plural>.<group>`. `side` (0 for the parent, 1 for the shadow
/// API) and `index` (0..) make names unique per side.
pub fn name(kind: &Kind, base: &str, side: usize, index: usize) -> String {
    let prefix = ["p", "s"][side.min(1)];
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("networking.k8s.io", "IPAddress") => {
            // Outside the service range, never allocated by the parent.
            let net = ["192.0.2", "198.51.100"][side.min(1)];
            format!("{net}.{}", 10 + index)
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            format!("{prefix}{index}things.conformance-crd.example.com")
        }
        _ => format!("{prefix}-{base}"),
    }
}

/// The object of `kind` named `name` (in `namespace` when namespaced), with `labels`, without
/// `apiVersion` (the caller sets the one of the API it sends it to). None if the kind has no
/// fixture.
pub fn object(
    kind: &Kind,
    name: &str,
    namespace: Option<&str>,
    labels: &Map<String, Value>,
) -> Option<Value> {
    let mut metadata = json!({"name": name, "labels": labels});
    if let Some(ns) = namespace.filter(|_| kind.namespaced) {
        metadata["namespace"] = ns.into();
    }
    let pod_spec =
        json!({"containers": [{"name": "c", "image": "registry.example/conformance:1"}]});
    let template = json!({"metadata": {"labels": {"app": "conformance"}}, "spec": pod_spec});
    let selector = json!({"matchLabels": {"app": "conformance"}});
    let body = match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "ConfigMap") => json!({"data": {"k": "v"}}),
        ("", "Endpoints") => json!({"subsets": []}),
        ("", "Event") => json!({
            "involvedObject": {"kind": "Pod", "name": "conformance", "namespace": namespace},
            "reason": "Conformance", "message": "conformance matrix", "type": "Normal"}),
        ("", "LimitRange") => {
            json!({"spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]}})
        }
        ("", "Namespace") | ("", "Node") | ("", "ServiceAccount") => json!({}),
        ("", "PersistentVolumeClaim") => json!({"spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
        ("", "PersistentVolume") => json!({"spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/tmp/conformance"}}}),
        ("", "Pod") => json!({"spec": pod_spec}),
        ("", "PodTemplate") => json!({"template": template}),
        ("", "ReplicationController") => json!({"spec": {
            "replicas": 0, "selector": {"app": "conformance"}, "template": template}}),
        ("", "ResourceQuota") => json!({"spec": {"hard": {"pods": "10"}}}),
        ("", "Secret") => json!({"type": "Opaque", "stringData": {"k": "v"}}),
        ("", "Service") => {
            json!({"spec": {"ports": [{"port": 80}], "selector": {"app": "conformance"}}})
        }
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy") => json!({"spec": {
            "matchConstraints": {"resourceRules": [{"apiGroups": ["conformance.example.com"],
                "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["nothings"]}]},
            "mutations": [{"patchType": "ApplyConfiguration", "applyConfiguration": {
                "expression": "Object{metadata: Object.metadata{labels: {\"a\": \"b\"}}}"}}],
            "failurePolicy": "Ignore", "reinvocationPolicy": "Never"}}),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding") => {
            json!({"spec": {"policyName": "conformance-none"}})
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => json!({"spec": {
            "matchConstraints": {"resourceRules": [{"apiGroups": ["conformance.example.com"],
                "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["nothings"]}]},
            "validations": [{"expression": "true"}], "failurePolicy": "Ignore"}}),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding") => json!({"spec": {
            "policyName": "conformance-none", "validationActions": ["Audit"]}}),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration")
        | ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => {
            json!({"webhooks": []})
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let (plural, group) = name.split_once('.').unwrap_or((name, "example.com"));
            let singular = plural.trim_end_matches('s');
            let mut kind_name: String = singular.to_string();
            if let Some(first) = kind_name.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            json!({"spec": {"group": group, "scope": "Namespaced",
                "names": {"plural": plural, "singular": singular, "kind": kind_name},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object",
                        "x-kubernetes-preserve-unknown-fields": true}}}]}})
        }
        ("apps", "ControllerRevision") => json!({"revision": 1, "data": {}}),
        ("apps", "DaemonSet") => json!({"spec": {"selector": selector, "template": template}}),
        ("apps", "Deployment") | ("apps", "ReplicaSet") => {
            json!({"spec": {"replicas": 0, "selector": selector, "template": template}})
        }
        ("apps", "StatefulSet") => json!({"spec": {
            "replicas": 0, "serviceName": "conformance", "selector": selector, "template": template}}),
        ("autoscaling", "HorizontalPodAutoscaler") => json!({"spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "conformance"},
            "maxReplicas": 2}}),
        ("batch", "CronJob") => json!({"spec": {"schedule": "0 0 1 1 *", "suspend": true,
            "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": pod_spec["containers"]}}}}}}),
        ("batch", "Job") => json!({"spec": {"suspend": true, "template": {"spec": {
            "restartPolicy": "Never", "containers": pod_spec["containers"]}}}}),
        ("certificates.k8s.io", "CertificateSigningRequest") => json!({"spec": {
            "signerName": "example.com/conformance", "usages": ["digital signature"],
            "request": csr_base64(name)?}}),
        ("coordination.k8s.io", "Lease") => json!({"spec": {"holderIdentity": "conformance"}}),
        ("discovery.k8s.io", "EndpointSlice") => json!({"addressType": "IPv4", "endpoints": []}),
        ("events.k8s.io", "Event") => json!({
            "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "example.com/conformance",
            "reportingInstance": "conformance", "action": "Test", "reason": "Conformance",
            "regarding": {"kind": "Pod", "name": "conformance", "namespace": namespace}}),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema") => json!({"spec": {
            "priorityLevelConfiguration": {"name": "conformance-none"}, "matchingPrecedence": 9000}}),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration") => json!({"spec": {
            "type": "Limited", "limited": {"nominalConcurrencyShares": 1,
                "limitResponse": {"type": "Reject"}}}}),
        ("networking.k8s.io", "IngressClass") => {
            json!({"spec": {"controller": "example.com/conformance"}})
        }
        ("networking.k8s.io", "Ingress") => json!({"spec": {"defaultBackend": {
            "service": {"name": "conformance", "port": {"number": 80}}}}}),
        ("networking.k8s.io", "IPAddress") => json!({"spec": {"parentRef": {
            "group": "", "resource": "services", "namespace": "default", "name": "conformance"}}}),
        ("networking.k8s.io", "NetworkPolicy") => json!({"spec": {"podSelector": {}}}),
        ("networking.k8s.io", "ServiceCIDR") => json!({"spec": {"cidrs": ["203.0.113.0/24"]}}),
        ("node.k8s.io", "RuntimeClass") => json!({"handler": "conformance"}),
        ("policy", "PodDisruptionBudget") => {
            json!({"spec": {"minAvailable": 1, "selector": selector}})
        }
        ("rbac.authorization.k8s.io", "ClusterRole") | ("rbac.authorization.k8s.io", "Role") => {
            json!({"rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]})
        }
        ("rbac.authorization.k8s.io", "ClusterRoleBinding")
        | ("rbac.authorization.k8s.io", "RoleBinding") => json!({
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "conformance", "apiGroup": "rbac.authorization.k8s.io"}]}),
        ("resource.k8s.io", "DeviceClass") => json!({"spec": {}}),
        ("resource.k8s.io", "ResourceClaim") => json!({"spec": {"devices": {"requests": [
            {"name": "r", "exactly": {"deviceClassName": "conformance"}}]}}}),
        ("resource.k8s.io", "ResourceClaimTemplate") => json!({"spec": {"spec": {"devices": {
            "requests": [{"name": "r", "exactly": {"deviceClassName": "conformance"}}]}}}}),
        ("resource.k8s.io", "ResourceSlice") => json!({"spec": {
            "driver": "conformance.example.com", "allNodes": true, "devices": [],
            "pool": {"name": name, "generation": 1, "resourceSliceCount": 1}}}),
        ("scheduling.k8s.io", "PriorityClass") => json!({"value": 1000}),
        ("storage.k8s.io", "CSIDriver") => json!({"spec": {}}),
        ("storage.k8s.io", "CSINode") => json!({"spec": {"drivers": []}}),
        ("storage.k8s.io", "CSIStorageCapacity") => json!({"storageClassName": "conformance"}),
        ("storage.k8s.io", "StorageClass") => json!({"provisioner": "example.com/conformance"}),
        ("storage.k8s.io", "VolumeAttachment") => json!({"spec": {
            "attacher": "conformance.example.com", "nodeName": "conformance",
            "source": {"persistentVolumeName": "conformance"}}}),
        ("storage.k8s.io", "VolumeAttributesClass") => json!({
            "driverName": "conformance.example.com", "parameters": {"k": "v"}}),
        ("multicluster.x-k8s.io", "ServiceExport") => json!({}),
        ("multicluster.x-k8s.io", "ServiceImport") => json!({"spec": {
            "type": "ClusterSetIP", "ports": [{"port": 80, "protocol": "TCP"}]}}),
        // The matrix's own custom resources (see `crds`).
        (CRD_GROUP, _) => json!({"spec": {"replicas": 1, "size": "small"}}),
        _ => return None,
    };
    let mut object = body;
    object["kind"] = kind.kind.clone().into();
    object["metadata"] = metadata;
    Some(object)
}

/// Group of the matrix's custom resources.
pub const CRD_GROUP: &str = "conformance.example.com";

/// The custom resources the matrix adds to the parent: a namespaced kind with status and scale
/// subresources and printer columns, and a cluster-scoped one with neither.
pub fn crds() -> Vec<Value> {
    let schema = json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "replicas": {"type": "integer"}, "size": {"type": "string"}}},
        "status": {"type": "object", "properties": {
            "replicas": {"type": "integer"}, "selector": {"type": "string"}}}}});
    vec![
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("widgets.{CRD_GROUP}")},
            "spec": {"group": CRD_GROUP, "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wdg"]},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {"status": {}, "scale": {
                        "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
                        "labelSelectorPath": ".status.selector"}},
                    "additionalPrinterColumns": [
                        {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]}]}}),
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("gadgets.{CRD_GROUP}")},
            "spec": {"group": CRD_GROUP, "scope": "Cluster",
                "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": schema}}]}}),
    ]
}

/// A PEM certificate request for `name`, base64 (what `spec.request` holds).
fn csr_base64(name: &str) -> Option<String> {
    use base64::Engine;
    let key = rcgen::KeyPair::generate().ok()?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).ok()?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let pem = params.serialize_request(&key).ok()?.pem().ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(pem))
}
