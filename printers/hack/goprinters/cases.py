#!/usr/bin/env python3
"""Writes the edge-case objects for the Go printer oracle (main.go) as JSON on stdout.

Kinds the test control plane does not serve (alpha/beta APIs off by default) and objects a real
server would not store (invalid selectors, conflicting conditions, non-canonical quantities) are
printed by Kubernetes' printers directly; tests/go_printers.rs compares the crate's cells.
"""

import json

OLD = "2020-01-02T03:04:05Z"
META = {"creationTimestamp": OLD}


def obj(api_version, kind, name, **rest):
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, **META, **rest.pop("meta", {})}, **rest}


cases = [
    # --- kinds the control plane does not serve ---------------------------------------------
    obj("certificates.k8s.io/v1beta1", "ClusterTrustBundle", "ctb-signer", spec={"signerName": "example.com/s", "trustBundle": "x"}),
    obj("certificates.k8s.io/v1beta1", "ClusterTrustBundle", "ctb-none", spec={"trustBundle": "x"}),
    obj("certificates.k8s.io/v1beta1", "PodCertificateRequest", "pcr", spec={
        "signerName": "example.com/s", "podName": "p", "podUID": "u", "serviceAccountName": "sa", "serviceAccountUID": "u2",
        "nodeName": "n1", "nodeUID": "u3", "pkixPublicKey": "", "proofOfPossession": "",
        "unverifiedUserAnnotations": {"b": "2", "a": "1"}},
        status={"conditions": [{"type": "Issued", "status": "True", "reason": "r", "message": "m", "lastTransitionTime": OLD},
                               {"type": "Failed", "status": "True", "reason": "r", "message": "m", "lastTransitionTime": OLD}]}),
    obj("certificates.k8s.io/v1beta1", "PodCertificateRequest", "pcr-pending", spec={"signerName": "example.com/s"}),
    obj("coordination.k8s.io/v1beta1", "LeaseCandidate", "lc", spec={
        "leaseName": "kube-scheduler", "binaryVersion": "1.36.3", "emulationVersion": "1.36", "strategy": "OldestEmulationVersion",
        "renewTime": "2020-01-02T03:04:05.000000Z"}),
    obj("internal.apiserver.k8s.io/v1alpha1", "StorageVersion", "apps.deployments", spec={}, status={
        "commonEncodingVersion": "apps/v1",
        "storageVersions": [{"apiServerID": f"kas-{i}", "encodingVersion": "apps/v1", "decodableVersions": ["apps/v1"]}
                            for i in range(5)]}),
    obj("internal.apiserver.k8s.io/v1alpha1", "StorageVersion", "empty", spec={}, status={}),
    obj("resource.k8s.io/v1alpha3", "DeviceTaintRule", "taint-added", spec={
        "deviceSelector": {"driver": "gpu.example.com"},
        "taint": {"key": "example.com/bad", "value": "yes", "effect": "NoExecute", "timeAdded": "2024-05-01T00:00:00Z"}}),
    obj("resource.k8s.io/v1alpha3", "DeviceTaintRule", "taint-plain", spec={"taint": {"key": "k", "effect": "NoSchedule"}}),
    obj("resource.k8s.io/v1alpha3", "ResourcePoolStatusRequest", "rpsr-complete", spec={"driver": "gpu.example.com"}, status={
        "poolCount": 5, "conditions": [{"type": "Complete", "status": "True", "reason": "R", "message": "m",
                                        "lastTransitionTime": "2024-05-01T00:00:00Z"}],
        "pools": [{"driver": "gpu.example.com", "poolName": "a", "totalDevices": 4, "availableDevices": 1, "allocatedDevices": 2,
                   "unavailableDevices": 1},
                  {"driver": "gpu.example.com", "poolName": "b", "totalDevices": 2, "validationError": "bad"}]}),
    obj("resource.k8s.io/v1alpha3", "ResourcePoolStatusRequest", "rpsr-failed", spec={"driver": "d"}, status={
        "conditions": [{"type": "Failed", "status": "True", "reason": "R", "message": "m", "lastTransitionTime": OLD}]}),
    obj("resource.k8s.io/v1alpha3", "ResourcePoolStatusRequest", "rpsr-pending", spec={"driver": "d"}),
    obj("storagemigration.k8s.io/v1beta1", "StorageVersionMigration", "svm", spec={"resource": {"group": "apps", "resource": "deployments"}},
        status={"conditions": [{"type": "Running", "status": "True", "reason": "r", "message": "m", "lastTransitionTime": OLD},
                               {"type": "Succeeded", "status": "True", "reason": "r", "message": "m", "lastTransitionTime": OLD},
                               {"type": "Failed", "status": "False", "reason": "r", "message": "m", "lastTransitionTime": OLD}]}),
    obj("storagemigration.k8s.io/v1beta1", "StorageVersionMigration", "svm-core", spec={"resource": {"resource": "secrets"}}),
    obj("scheduling.k8s.io/v1alpha2", "Workload", "wl", spec={"podGroupTemplates": [{"name": "g", "schedulingPolicy": {"basic": {}}}]}),
    obj("scheduling.k8s.io/v1alpha2", "PodGroup", "pg-gang", spec={
        "podGroupTemplateRef": {"workload": {"workloadName": "wl", "podGroupTemplateName": "g"}},
        "schedulingPolicy": {"gang": {"minCount": 2}}},
        status={"conditions": [{"type": "PodGroupScheduled", "status": "True", "reason": "R", "message": "m", "lastTransitionTime": OLD}]}),
    obj("scheduling.k8s.io/v1alpha2", "PodGroup", "pg-disrupted", spec={"schedulingPolicy": {"basic": {}}},
        status={"conditions": [{"type": "PodGroupScheduled", "status": "False", "reason": "R", "message": "m", "lastTransitionTime": OLD},
                               {"type": "DisruptionTarget", "status": "True", "reason": "Preempted", "message": "m",
                                "lastTransitionTime": OLD}]}),
    # --- edge cases of served kinds -------------------------------------------------------------
    obj("v1", "Pod", "pod-init-default", spec={"initContainers": [{"name": "a", "image": "i"}, {"name": "b", "image": "i"}],
                                               "containers": [{"name": "c", "image": "i"}]},
        status={"phase": "Pending", "initContainerStatuses": [
            {"name": "a", "image": "i", "imageID": "", "ready": False, "restartCount": 0, "state": {"running": {}}}]}),
    obj("v1", "Pod", "pod-init-signal", spec={"initContainers": [{"name": "a", "image": "i"}], "containers": [{"name": "c", "image": "i"}]},
        status={"phase": "Pending", "initContainerStatuses": [
            {"name": "a", "image": "i", "imageID": "", "ready": False, "restartCount": 0,
             "state": {"terminated": {"exitCode": 3, "signal": 15}}}]}),
    obj("v1", "Pod", "pod-init-reason", spec={"initContainers": [{"name": "a", "image": "i"}], "containers": [{"name": "c", "image": "i"}]},
        status={"phase": "Pending", "conditions": [{"type": "Initialized", "status": "True"}], "initContainerStatuses": [
            {"name": "a", "image": "i", "imageID": "", "ready": False, "restartCount": 2,
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-01-01T00:00:00Z"}},
             "state": {"terminated": {"exitCode": 1, "reason": "OOMKilled"}}}],
                "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": True, "restartCount": 1,
                                       "state": {"running": {}}}]}),
    obj("v1", "Pod", "pod-completed-error", spec={"containers": [{"name": "a", "image": "i"}, {"name": "b", "image": "i"}]},
        status={"phase": "Running", "containerStatuses": [
            {"name": "a", "image": "i", "imageID": "", "ready": False, "restartCount": 0,
             "state": {"terminated": {"exitCode": 2, "reason": "Error"}}},
            {"name": "b", "image": "i", "imageID": "", "ready": False, "restartCount": 0,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
    obj("v1", "Pod", "pod-completed-notready", spec={"containers": [{"name": "a", "image": "i"}, {"name": "b", "image": "i"}]},
        status={"phase": "Running", "containerStatuses": [
            {"name": "a", "image": "i", "imageID": "", "ready": True, "restartCount": 0, "state": {"running": {}}},
            {"name": "b", "image": "i", "imageID": "", "ready": False, "restartCount": 0,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
    obj("v1", "Pod", "pod-deleted-succeeded", meta={"deletionTimestamp": OLD}, spec={"containers": [{"name": "a", "image": "i"}]},
        status={"phase": "Succeeded", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.2"}]}),
    obj("v1", "Pod", "pod-ips-only", spec={"containers": [{"name": "a", "image": "i"}]},
        status={"phase": "Running", "podIPs": [{"ip": "fd00::9"}, {"ip": "10.0.0.9"}]}),
    obj("v1", "Node", "node-two-ready", meta={"labels": {"node-role.kubernetes.io/b": "", "node-role.kubernetes.io/a": "x",
                                                         "kubernetes.io/role": ""}},
        status={"conditions": [{"type": "Ready", "status": "False"}, {"type": "Ready", "status": "True"}],
                "nodeInfo": {"architecture": "arm64"}}),
    obj("v1", "PersistentVolume", "pv-noncanonical", spec={"capacity": {"storage": "1.5Gi"}, "accessModes": ["ReadWriteOnce"],
                                                           "hostPath": {"path": "/x"}}),
    obj("v1", "PersistentVolume", "pv-nocapacity", spec={"hostPath": {"path": "/x"}}),
    obj("v1", "ResourceQuota", "quota-mixed", status={
        "hard": {"limits.cpu": "2000m", "requests.memory": "1.5Gi", "count/deployments.apps": "5", "limits": "3", "cpu": "0.5"},
        "used": {"limits.cpu": "1", "cpu": "100m"}}),
    obj("v1", "Endpoints", "ep-many", subsets=[
        {"addresses": [{"ip": f"10.0.0.{i}"} for i in range(3)], "ports": [{"port": 80}]},
        {"addresses": [{"ip": "10.0.1.1"}, {"ip": "10.0.1.2"}]}]),
    obj("v1", "Service", "svc-lb-ipv6", spec={"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 30080, "protocol": "SCTP"}]},
        status={"loadBalancer": {"ingress": [{"ip": "fd00::1"}, {"ip": "10.0.0.1"}, {"hostname": "z.example.com"}, {}]}}),
    obj("v1", "Service", "svc-clusterip-ext", spec={"clusterIPs": ["10.0.0.3", "fd00::3"], "externalIPs": ["1.2.3.4", "5.6.7.8"],
                                                    "ports": [{"port": 53, "protocol": "UDP"}], "selector": {"a-b": "2", "a": "1"}}),
    obj("v1", "Event", "ev-series-only", type="Normal", reason="R", message="m", count=5,
        involvedObject={"kind": "Pod", "name": "p"}, series={"count": 2, "lastObservedTime": "2024-01-01T00:00:00.000000Z"}),
    obj("v1", "Event", "ev-eventtime", type="Normal", reason="R", message="m", eventTime="2024-01-01T00:00:00.000000Z",
        involvedObject={"kind": "Pod", "name": "p"}, source={"host": "h"}, reportingComponent="rc"),
    obj("apps/v1", "Deployment", "deploy-invalid-selector", spec={"replicas": 2, "selector": {"matchExpressions": [
        {"key": "a", "operator": "Foo", "values": ["x"]}]}, "template": {"spec": {"containers": []}}}),
    obj("apps/v1", "ReplicaSet", "rs-invalid-selector", spec={"replicas": 2, "selector": {"matchLabels": {"bad key": "x"}},
                                                            "template": {"spec": {"containers": []}}}),
    obj("apps/v1", "ReplicaSet", "rs-empty-selector", spec={"selector": {}, "template": {"spec": {"containers": []}}}),
    obj("apps/v1", "ControllerRevision", "cr-core-owner", revision=3, data={}, meta={"ownerReferences": [
        {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u", "controller": False},
        {"apiVersion": "v1", "kind": "Pod", "name": "owner", "uid": "u2", "controller": True}]}),
    obj("batch/v1", "Job", "job-default", spec={"parallelism": 1, "template": {"spec": {"containers": []}}}),
    obj("batch/v1", "Job", "job-deleting", meta={"deletionTimestamp": OLD},
        spec={"completions": 2, "template": {"spec": {"containers": []}}},
        status={"startTime": "2024-01-01T00:00:00Z", "completionTime": "2024-01-01T01:02:03Z"}),
    obj("autoscaling/v1", "HorizontalPodAutoscaler", "hpa-v1-annotations", meta={"annotations": {
        "autoscaling.alpha.kubernetes.io/metrics": json.dumps([
            {"type": "Object", "object": {"target": {"kind": "Service", "name": "s"}, "metricName": "m", "targetValue": "0",
                                          "averageValue": "2"}},
            {"type": "External", "external": {"metricName": "q", "targetValue": "5"}},
            {"type": "ContainerResource", "containerResource": {"name": "memory", "container": "c", "targetAverageValue": "1Gi"}}]),
        "autoscaling.alpha.kubernetes.io/current-metrics": json.dumps([
            {"type": "Object", "object": {"target": {"kind": "Service", "name": "s"}, "metricName": "m", "currentValue": "1",
                                          "averageValue": "3"}},
            {"type": "External", "external": {"metricName": "q", "currentValue": "4"}},
            {"type": "ContainerResource", "containerResource": {"name": "memory", "container": "c",
                                                                "currentAverageValue": "512Mi"}}])}},
        spec={"scaleTargetRef": {"kind": "Deployment", "name": "d"}, "maxReplicas": 4, "targetCPUUtilizationPercentage": 50},
        status={"currentReplicas": 2, "desiredReplicas": 2, "currentCPUUtilizationPercentage": 20}),
    obj("networking.k8s.io/v1", "IngressClass", "ic-empty-group", spec={"controller": "c", "parameters": {
        "apiGroup": "", "kind": "K", "name": "n"}}),
    obj("certificates.k8s.io/v1", "CertificateSigningRequest", "csr-long", spec={
        "request": "", "signerName": "", "username": "u", "expirationSeconds": 86400 * 400, "usages": []}),
    obj("flowcontrol.apiserver.k8s.io/v1", "FlowSchema", "fs-distinguisher", spec={
        "priorityLevelConfiguration": {"name": "pl"}, "matchingPrecedence": 500, "distinguisherMethod": {"type": "ByUser"}},
        status={"conditions": [{"type": "Dangling", "status": "False"}]}),
    obj("flowcontrol.apiserver.k8s.io/v1", "PriorityLevelConfiguration", "plc-reject", spec={
        "type": "Limited", "limited": {"nominalConcurrencyShares": 5, "limitResponse": {"type": "Reject"}}}),
    obj("policy/v1", "PodDisruptionBudget", "pdb-none", spec={}),
    # Not a case: `tokenRequests: []` prints "" for a freshly decoded object but "<unset>" once
    # stored (empty lists do not survive storage), and the crate prints stored objects.
    obj("storage.k8s.io/v1", "CSIDriver", "csi-empty-modes", spec={"volumeLifecycleModes": []}),
    obj("networking.k8s.io/v1", "IPAddress", "10.0.0.1", spec={"parentRef": {"group": "", "resource": "Services", "namespace": "ns",
                                                                           "name": "svc"}}),
    obj("networking.k8s.io/v1", "IPAddress", "10.0.0.2", spec={"parentRef": {"group": "Gateway.Networking.k8s.io",
                                                                           "resource": "gateways", "name": "gw"}}),
]

print(json.dumps([{"name": c["metadata"]["name"], "object": c} for c in cases], indent=1))
