//! Printers of networking, discovery, RBAC, certificates, coordination, storage, scheduling,
//! node, admission registration, flow control, resource and storage migration kinds.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::Value;

use super::{Ctx, Printed, cell};
use crate::duration::human_duration_secs;
use crate::labels::{format_label_selector, format_labels, label_selector_go_string};
use crate::obj::{self, annotation, arr, b, get, has, i, name, opt_b, opt_i, opt_s, or_none, s};

use super::core::load_balancer_status;

pub(super) fn name_age(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![cell(name(o)), cell(cx.age(o))].into()
}

/// `formatHosts`.
fn format_hosts(rules: &[Value]) -> String {
    let max = 3usize;
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == max {
            more = true;
        }
        let host = s(rule, &["host"]);
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".to_string();
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", rules.len() - max)
    } else {
        ret
    }
}

pub(super) fn ingress(o: &Value, cx: &Ctx<'_>) -> Printed {
    let ports = if arr(o, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        cell(name(o)),
        cell(opt_s(o, &["spec", "ingressClassName"]).unwrap_or("<none>")),
        cell(format_hosts(arr(o, &["spec", "rules"]))),
        cell(load_balancer_status(arr(
            o,
            &["status", "loadBalancer", "ingress"],
        ))),
        cell(ports),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn ingress_class(o: &Value, cx: &Ctx<'_>) -> Printed {
    let mut n = name(o).to_string();
    if annotation(o, "ingressclass.kubernetes.io/is-default-class") == Some("true") {
        n.push_str(" (default)");
    }
    let parameters = match get(o, &["spec", "parameters"]) {
        None => "<none>".to_string(),
        Some(p) => {
            let mut out = s(p, &["kind"]).to_string();
            if let Some(group) = opt_s(p, &["apiGroup"]) {
                out = format!("{out}.{group}");
            }
            format!("{out}/{}", s(p, &["name"]))
        }
    };
    vec![
        cell(n),
        cell(s(o, &["spec", "controller"])),
        cell(parameters),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn network_policy(o: &Value, cx: &Ctx<'_>) -> Printed {
    let empty = Value::Object(Default::default());
    let selector = get(o, &["spec", "podSelector"]).unwrap_or(&empty);
    vec![
        cell(name(o)),
        cell(format_label_selector(Some(selector))),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn service_cidr(o: &Value, cx: &Ctx<'_>) -> Printed {
    let cidrs: Vec<&str> = arr(o, &["spec", "cidrs"])
        .iter()
        .map(|v| v.as_str().unwrap_or(""))
        .collect();
    vec![cell(name(o)), cell(cidrs.join(",")), cell(cx.age(o))].into()
}

pub(super) fn ip_address(o: &Value, cx: &Ctx<'_>) -> Printed {
    let parent = match get(o, &["spec", "parentRef"]) {
        None => "<none>".to_string(),
        Some(p) => {
            let (group, resource) = (s(p, &["group"]), s(p, &["resource"]));
            let gr = if group.is_empty() {
                resource.to_string()
            } else {
                format!("{resource}.{group}")
            };
            let mut out = gr.to_lowercase();
            if !s(p, &["namespace"]).is_empty() {
                out = format!("{out}/{}", s(p, &["namespace"]));
            }
            format!("{out}/{}", s(p, &["name"]))
        }
    };
    vec![cell(name(o)), cell(parent), cell(cx.age(o))].into()
}

/// `listWithMoreString`.
fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count - max);
    }
    if ret.is_empty() {
        "<unset>".to_string()
    } else {
        ret
    }
}

/// The first three items of a list with the `+ N more...` suffix (`formatDiscoveryPorts`,
/// `formatDiscoveryEndpoints`, `formatStorageVersions`).
fn first_three(items: impl Iterator<Item = String>) -> String {
    let max = 3usize;
    let mut list = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for item in items {
        if list.len() < max {
            list.push(item);
        } else if list.len() == max {
            more = true;
        }
        count += 1;
    }
    list_with_more(&list, more, count, max)
}

pub(super) fn endpoint_slice(o: &Value, cx: &Ctx<'_>) -> Printed {
    let ports = first_three(arr(o, &["ports"]).iter().map(|p| {
        if let Some(port) = opt_i(p, &["port"]) {
            port.to_string()
        } else if let Some(n) = opt_s(p, &["name"]) {
            n.to_string()
        } else {
            "*".to_string()
        }
    }));
    let endpoints = first_three(
        arr(o, &["endpoints"])
            .iter()
            .flat_map(|e| arr(e, &["addresses"]).iter())
            .map(|a| a.as_str().unwrap_or("").to_string()),
    );
    vec![
        cell(name(o)),
        cell(s(o, &["addressType"])),
        cell(ports),
        cell(endpoints),
        cell(cx.age(o)),
    ]
    .into()
}

/// RoleBinding and ClusterRoleBinding.
pub(super) fn role_binding(o: &Value, cx: &Ctx<'_>) -> Printed {
    let role = format!(
        "{}/{}",
        s(o, &["roleRef", "kind"]),
        s(o, &["roleRef", "name"])
    );
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subject in arr(o, &["subjects"]) {
        let n = s(subject, &["name"]);
        match s(subject, &["kind"]) {
            "ServiceAccount" => sas.push(format!("{}/{n}", s(subject, &["namespace"]))),
            "User" => users.push(n.to_string()),
            "Group" => groups.push(n.to_string()),
            _ => {}
        }
    }
    vec![
        cell(name(o)),
        cell(role),
        cell(cx.age(o)),
        cell(users.join(", ")),
        cell(groups.join(", ")),
        cell(sas.join(", ")),
    ]
    .into()
}

pub(super) fn certificate_signing_request(o: &Value, cx: &Ctx<'_>) -> Printed {
    let (mut approved, mut denied, mut failed) = (false, false, false);
    for c in arr(o, &["status", "conditions"]) {
        match s(c, &["type"]) {
            "Approved" => approved = true,
            "Denied" => denied = true,
            "Failed" => failed = true,
            _ => {}
        }
    }
    let mut status = if denied {
        "Denied".to_string()
    } else if approved {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if failed {
        status.push_str(",Failed");
    }
    if !s(o, &["status", "certificate"]).is_empty() {
        status.push_str(",Issued");
    }
    let requested =
        opt_i(o, &["spec", "expirationSeconds"]).map_or("<none>".to_string(), human_duration_secs);
    vec![
        cell(name(o)),
        cell(cx.age(o)),
        cell(or_none(s(o, &["spec", "signerName"]))),
        cell(s(o, &["spec", "username"])),
        cell(requested),
        cell(status),
    ]
    .into()
}

pub(super) fn cluster_trust_bundle(o: &Value, _cx: &Ctx<'_>) -> Printed {
    vec![cell(name(o)), cell(or_none(s(o, &["spec", "signerName"])))].into()
}

pub(super) fn pod_certificate_request(o: &Value, _cx: &Ctx<'_>) -> Printed {
    let mut state = "Pending";
    for c in arr(o, &["status", "conditions"]) {
        match s(c, &["type"]) {
            "Issued" => state = "Issued",
            "Denied" => state = "Denied",
            "Failed" => state = "Failed",
            _ => {}
        }
    }
    let spec = |f: &str| s(o, &["spec", f]);
    vec![
        cell(name(o)),
        cell(spec("podName")),
        cell(spec("serviceAccountName")),
        cell(spec("nodeName")),
        cell(spec("signerName")),
        cell(state),
        cell(format_labels(get(
            o,
            &["spec", "unverifiedUserAnnotations"],
        ))),
    ]
    .into()
}

pub(super) fn lease(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![
        cell(name(o)),
        cell(s(o, &["spec", "holderIdentity"])),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn lease_candidate(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![
        cell(name(o)),
        cell(s(o, &["spec", "leaseName"])),
        cell(s(o, &["spec", "binaryVersion"])),
        cell(s(o, &["spec", "emulationVersion"])),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn storage_class(o: &Value, cx: &Ctx<'_>) -> Printed {
    let mut n = name(o).to_string();
    if annotation(o, "storageclass.kubernetes.io/is-default-class") == Some("true")
        || annotation(o, "storageclass.beta.kubernetes.io/is-default-class") == Some("true")
    {
        n.push_str(" (default)");
    }
    vec![
        cell(n),
        cell(s(o, &["provisioner"])),
        cell(opt_s(o, &["reclaimPolicy"]).unwrap_or("Delete")),
        cell(opt_s(o, &["volumeBindingMode"]).unwrap_or("Immediate")),
        cell(b(o, &["allowVolumeExpansion"])),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn volume_attributes_class(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![cell(name(o)), cell(s(o, &["driverName"])), cell(cx.age(o))].into()
}

pub(super) fn volume_attachment(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![
        cell(name(o)),
        cell(s(o, &["spec", "attacher"])),
        cell(s(o, &["spec", "source", "persistentVolumeName"])),
        cell(s(o, &["spec", "nodeName"])),
        cell(b(o, &["status", "attached"])),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn csi_node(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![
        cell(name(o)),
        cell(arr(o, &["spec", "drivers"]).len() as i64),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn csi_driver(o: &Value, cx: &Ctx<'_>) -> Printed {
    let token_requests = if has(o, &["spec", "tokenRequests"]) {
        let audiences: Vec<&str> = arr(o, &["spec", "tokenRequests"])
            .iter()
            .map(|t| s(t, &["audience"]))
            .collect();
        audiences.join(",")
    } else {
        "<unset>".to_string()
    };
    let modes: Vec<&str> = arr(o, &["spec", "volumeLifecycleModes"])
        .iter()
        .map(|m| m.as_str().unwrap_or(""))
        .collect();
    vec![
        cell(name(o)),
        cell(opt_b(o, &["spec", "attachRequired"]).unwrap_or(true)),
        cell(b(o, &["spec", "podInfoOnMount"])),
        cell(b(o, &["spec", "storageCapacity"])),
        cell(token_requests),
        cell(b(o, &["spec", "requiresRepublish"])),
        cell(or_none(&modes.join(","))),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn priority_class(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![
        cell(name(o)),
        cell(i(o, &["value"])),
        cell(b(o, &["globalDefault"])),
        cell(cx.age(o)),
        cell(s(o, &["preemptionPolicy"])),
    ]
    .into()
}

pub(super) fn pod_group(o: &Value, cx: &Ctx<'_>) -> Printed {
    let policy = if has(o, &["spec", "schedulingPolicy", "gang"]) {
        "Gang"
    } else {
        "Basic"
    };
    let mut conditions: HashMap<&str, &Value> = HashMap::new();
    for c in arr(o, &["status", "conditions"]) {
        conditions.insert(s(c, &["type"]), c);
    }
    let mut status = "Pending".to_string();
    if let Some(c) = conditions.get("PodGroupScheduled") {
        status = if s(c, &["status"]) == "True" {
            "Scheduled"
        } else {
            "Unschedulable"
        }
        .to_string();
    }
    if let Some(c) = conditions.get("DisruptionTarget") {
        status = s(c, &["reason"]).to_string();
    }
    let workload = if has(o, &["spec", "podGroupTemplateRef"]) {
        s(
            o,
            &["spec", "podGroupTemplateRef", "workload", "workloadName"],
        )
        .to_string()
    } else {
        "<none>".to_string()
    };
    vec![
        cell(name(o)),
        cell(policy),
        cell(workload),
        cell(status),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn runtime_class(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![cell(name(o)), cell(s(o, &["handler"])), cell(cx.age(o))].into()
}

pub(super) fn webhook_configuration(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![
        cell(name(o)),
        cell(arr(o, &["webhooks"]).len() as i64),
        cell(cx.age(o)),
    ]
    .into()
}

fn param_kind(o: &Value) -> String {
    match get(o, &["spec", "paramKind"]) {
        Some(p) => format!("{}/{}", s(p, &["apiVersion"]), s(p, &["kind"])),
        None => "<unset>".to_string(),
    }
}

pub(super) fn validating_admission_policy(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![
        cell(name(o)),
        cell(arr(o, &["spec", "validations"]).len() as i64),
        cell(param_kind(o)),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn mutating_admission_policy(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![
        cell(name(o)),
        cell(arr(o, &["spec", "mutations"]).len() as i64),
        cell(param_kind(o)),
        cell(cx.age(o)),
    ]
    .into()
}

/// ValidatingAdmissionPolicyBinding and MutatingAdmissionPolicyBinding.
pub(super) fn admission_policy_binding(o: &Value, cx: &Ctx<'_>) -> Printed {
    let mut param = "<unset>".to_string();
    if let Some(pr) = get(o, &["spec", "paramRef"]) {
        let n = s(pr, &["name"]);
        if !n.is_empty() {
            let ns = s(pr, &["namespace"]);
            param = if ns.is_empty() {
                format!("*/{n}")
            } else {
                format!("{ns}/{n}")
            };
        } else if let Some(sel) = get(pr, &["selector"]) {
            param = label_selector_go_string(sel);
        }
    }
    vec![
        cell(name(o)),
        cell(s(o, &["spec", "policyName"])),
        cell(param),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn flow_schema(o: &Value, cx: &Ctx<'_>) -> Printed {
    let distinguisher = opt_s(o, &["spec", "distinguisherMethod", "type"])
        .or_else(|| has(o, &["spec", "distinguisherMethod"]).then_some(""))
        .unwrap_or("<none>");
    let bad_pl_ref = arr(o, &["status", "conditions"])
        .iter()
        .find(|c| s(c, &["type"]) == "Dangling")
        .map_or("?", |c| s(c, &["status"]));
    vec![
        cell(name(o)),
        cell(s(o, &["spec", "priorityLevelConfiguration", "name"])),
        cell(i(o, &["spec", "matchingPrecedence"])),
        cell(distinguisher),
        cell(cx.age(o)),
        cell(bad_pl_ref),
    ]
    .into()
}

/// `FlowSchemaSequence` order: matching precedence, then name.
pub(super) fn flow_schema_order(a: &Value, b: &Value) -> Ordering {
    let pa = i(a, &["spec", "matchingPrecedence"]);
    let pb = i(b, &["spec", "matchingPrecedence"]);
    pa.cmp(&pb).then_with(|| name(a).cmp(name(b)))
}

pub(super) fn priority_level_configuration(o: &Value, cx: &Ctx<'_>) -> Printed {
    let none = || cell("<none>");
    let (mut ncs, mut queues, mut hand_size, mut queue_length) = (none(), none(), none(), none());
    if let Some(limited) = get(o, &["spec", "limited"]) {
        ncs = cell(i(limited, &["nominalConcurrencyShares"]));
        if let Some(q) = get(limited, &["limitResponse", "queuing"]) {
            queues = cell(i(q, &["queues"]));
            hand_size = cell(i(q, &["handSize"]));
            queue_length = cell(i(q, &["queueLengthLimit"]));
        }
    }
    vec![
        cell(name(o)),
        cell(s(o, &["spec", "type"])),
        ncs,
        queues,
        hand_size,
        queue_length,
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn storage_version(o: &Value, cx: &Ctx<'_>) -> Printed {
    let versions = first_three(arr(o, &["status", "storageVersions"]).iter().map(|sv| {
        format!(
            "{}={}",
            s(sv, &["apiServerID"]),
            s(sv, &["encodingVersion"])
        )
    }));
    vec![
        cell(name(o)),
        cell(opt_s(o, &["status", "commonEncodingVersion"]).unwrap_or("<unset>")),
        cell(versions),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn resource_claim(o: &Value, cx: &Ctx<'_>) -> Printed {
    let deleting = obj::deleting(o);
    let mut states = Vec::new();
    if deleting {
        states.push("deleted");
    }
    if !has(o, &["status", "allocation"]) {
        if !deleting {
            states.push("pending");
        }
    } else {
        states.push("allocated");
        if !arr(o, &["status", "reservedFor"]).is_empty() {
            states.push("reserved");
        }
    }
    vec![cell(name(o)), cell(states.join(",")), cell(cx.age(o))].into()
}

pub(super) fn resource_slice(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![
        cell(name(o)),
        cell(s(o, &["spec", "nodeName"])),
        cell(s(o, &["spec", "driver"])),
        cell(s(o, &["spec", "pool", "name"])),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn resource_pool_status_request(o: &Value, cx: &Ctx<'_>) -> Printed {
    let mut status = "Pending".to_string();
    let mut pool_count: i64 = 0;
    let dash = || "-".to_string();
    let (mut total, mut available, mut allocated, mut unavailable, mut errors) =
        (dash(), dash(), dash(), dash(), dash());
    let mut completed_time = None;
    let mut completed_seen = false;
    if let Some(st) = get(o, &["status"]) {
        let mut failed = false;
        for c in arr(st, &["conditions"]) {
            if s(c, &["type"]) == "Complete" && s(c, &["status"]) == "True" {
                status = "Complete".to_string();
                completed_time = obj::time(c, &["lastTransitionTime"]);
                completed_seen = true;
                break;
            }
            if s(c, &["type"]) == "Failed" && s(c, &["status"]) == "True" {
                status = "Failed".to_string();
                failed = true;
                break;
            }
        }
        pool_count = opt_i(st, &["poolCount"]).unwrap_or(0);
        let pools = arr(st, &["pools"]);
        if status == "Complete" && pool_count > pools.len() as i64 {
            status = format!("Complete ({}/{pool_count} pools)", pools.len());
        }
        if !failed {
            let (mut t, mut av, mut al, mut un, mut err) = (0i64, 0i64, 0i64, 0i64, 0i64);
            for p in pools {
                if has(p, &["validationError"]) {
                    err += 1;
                }
                t += i(p, &["totalDevices"]);
                av += i(p, &["availableDevices"]);
                al += i(p, &["allocatedDevices"]);
                un += i(p, &["unavailableDevices"]);
            }
            total = t.to_string();
            available = av.to_string();
            allocated = al.to_string();
            unavailable = un.to_string();
            errors = err.to_string();
        }
    }
    let completed = if completed_seen {
        cx.since(completed_time)
    } else {
        "<none>".to_string()
    };
    vec![
        cell(name(o)),
        cell(s(o, &["spec", "driver"])),
        cell(total),
        cell(available),
        cell(allocated),
        cell(unavailable),
        cell(errors),
        cell(pool_count),
        cell(status),
        cell(completed),
    ]
    .into()
}

pub(super) fn device_taint_rule(o: &Value, cx: &Ctx<'_>) -> Printed {
    let time_added = if has(o, &["spec", "taint", "timeAdded"]) {
        cx.since(obj::time(o, &["spec", "taint", "timeAdded"]))
    } else {
        String::new()
    };
    let taint = |f: &str| s(o, &["spec", "taint", f]);
    vec![
        cell(name(o)),
        cell(taint("key")),
        cell(taint("value")),
        cell(taint("effect")),
        cell(time_added),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn storage_version_migration(o: &Value, _cx: &Ctx<'_>) -> Printed {
    let (group, resource) = (
        s(o, &["spec", "resource", "group"]),
        s(o, &["spec", "resource", "resource"]),
    );
    let gr = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    let mut cond_status = "Unknown";
    for c in arr(o, &["status", "conditions"]) {
        if s(c, &["status"]) != "True" {
            continue;
        }
        let t = s(c, &["type"]);
        if matches!(t, "Running" | "Failed" | "Succeeded") {
            cond_status = t;
        }
    }
    vec![cell(name(o)), cell(gr), cell(cond_status)].into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hosts_and_lists() {
        let rules = [
            json!({"host": "a"}),
            json!({}),
            json!({"host": "b"}),
            json!({"host": "c"}),
            json!({"host": "d"}),
        ];
        assert_eq!(format_hosts(&rules), "a,b,c + 2 more...");
        assert_eq!(format_hosts(&[json!({})]), "*");
        assert_eq!(first_three(std::iter::empty()), "<unset>");
        assert_eq!(
            first_three((1..=5).map(|i| i.to_string())),
            "1,2,3 + 2 more..."
        );
    }
}
