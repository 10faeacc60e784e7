//! Printers of the core (`""`) group kinds and Events.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::{Ctx, Printed, cell, layout_container_cells};
use crate::duration::{Nanos, is_zero};
use crate::labels::format_labels;
use crate::obj::{self, annotation, arr, b, get, has, i, map, name, opt_s, or_none, s};
use crate::quantity;
use crate::table::RowCondition;

/// `Quantity.String()` of a (non-pointer) quantity field: `0` when absent.
pub(super) fn quantity_or_zero(v: Option<&Value>) -> String {
    v.and_then(quantity::value_string)
        .unwrap_or_else(|| "0".to_string())
}

/// `metav1.Time` of a field, treating absence as Go's zero time (`None`).
fn time_of(v: &Value, path: &[&str]) -> Option<Nanos> {
    obj::time(v, path).filter(|t| !is_zero(*t))
}

/// `lastRestartDate.Before(&terminatedDate)` bookkeeping (absent = zero time).
fn later(current: Option<Nanos>, candidate: Option<Nanos>) -> Option<Nanos> {
    match (current, candidate) {
        (None, c) => c,
        (Some(a), Some(b)) if a < b => Some(b),
        (a, _) => a,
    }
}

pub(super) fn pod(pod: &Value, cx: &Ctx<'_>) -> Printed {
    let mut restarts: i64 = 0;
    let mut restartable_init_restarts: i64 = 0;
    let init_specs = arr(pod, &["spec", "initContainers"]);
    let mut total_containers = arr(pod, &["spec", "containers"]).len();
    let mut ready_containers = 0usize;
    let mut last_restart: Option<Nanos> = None;
    let mut last_restartable_init_restart: Option<Nanos> = None;

    let phase = s(pod, &["status", "phase"]);
    let mut reason = phase.to_string();
    let status_reason = s(pod, &["status", "reason"]);
    if !status_reason.is_empty() {
        reason = status_reason.to_string();
    }
    let conditions = arr(pod, &["status", "conditions"]);
    for c in conditions {
        if s(c, &["type"]) == "PodScheduled" && s(c, &["reason"]) == "SchedulingGated" {
            reason = "SchedulingGated".to_string();
        }
    }

    let row_conditions = match phase {
        "Succeeded" => vec![RowCondition {
            type_: Cow::Borrowed("Completed"),
            status: Cow::Borrowed("True"),
            reason: Cow::Borrowed("Succeeded"),
            message: Cow::Borrowed("The pod has completed successfully."),
        }],
        "Failed" => vec![RowCondition {
            type_: Cow::Borrowed("Completed"),
            status: Cow::Borrowed("True"),
            reason: Cow::Borrowed("Failed"),
            message: Cow::Borrowed("The pod failed."),
        }],
        _ => Vec::new(),
    };

    // initContainers[name]; later duplicates win like a Go map assignment.
    let mut init_by_name: HashMap<&str, &Value> = HashMap::new();
    for c in init_specs {
        init_by_name.insert(s(c, &["name"]), c);
        if is_restartable(Some(c)) {
            total_containers += 1;
        }
    }

    let mut initializing = false;
    for (idx, status) in arr(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let count = i(status, &["restartCount"]);
        restarts += count;
        let terminated_last = get(status, &["lastState", "terminated"]);
        if let Some(t) = terminated_last {
            last_restart = later(last_restart, time_of(t, &["finishedAt"]));
        }
        let restartable = is_restartable(init_by_name.get(s(status, &["name"])).copied());
        if restartable {
            restartable_init_restarts += count;
            if let Some(t) = terminated_last {
                last_restartable_init_restart =
                    later(last_restartable_init_restart, time_of(t, &["finishedAt"]));
            }
        }
        let terminated = get(status, &["state", "terminated"]);
        let waiting = get(status, &["state", "waiting"]);
        if terminated.is_some_and(|t| i(t, &["exitCode"]) == 0) {
            continue;
        } else if restartable && obj::opt_b(status, &["started"]) == Some(true) {
            if b(status, &["ready"]) {
                ready_containers += 1;
            }
            continue;
        } else if let Some(t) = terminated {
            let r = s(t, &["reason"]);
            reason = if r.is_empty() {
                let signal = i(t, &["signal"]);
                if signal != 0 {
                    format!("Init:Signal:{signal}")
                } else {
                    format!("Init:ExitCode:{}", i(t, &["exitCode"]))
                }
            } else {
                format!("Init:{r}")
            };
        } else if let Some(w) = waiting.filter(|w| {
            let r = s(w, &["reason"]);
            !r.is_empty() && r != "PodInitializing"
        }) {
            reason = format!("Init:{}", s(w, &["reason"]));
        } else {
            reason = format!("Init:{idx}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || pod_initialized(conditions) {
        restarts = restartable_init_restarts;
        last_restart = last_restartable_init_restart;
        let mut has_running = false;
        let mut error_reason = String::new();
        for status in arr(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += i(status, &["restartCount"]);
            if let Some(t) = get(status, &["lastState", "terminated"]) {
                last_restart = later(last_restart, time_of(t, &["finishedAt"]));
            }
            let waiting_reason = get(status, &["state", "waiting"]).map(|w| s(w, &["reason"]));
            if let Some(r) = waiting_reason.filter(|r| !r.is_empty()) {
                reason = r.to_string();
            } else if let Some(t) = get(status, &["state", "terminated"]) {
                let r = s(t, &["reason"]);
                reason = if !r.is_empty() {
                    r.to_string()
                } else if i(t, &["signal"]) != 0 {
                    format!("Signal:{}", i(t, &["signal"]))
                } else {
                    format!("ExitCode:{}", i(t, &["exitCode"]))
                };
                if i(t, &["exitCode"]) != 0 {
                    error_reason = reason.clone();
                }
            } else if b(status, &["ready"]) && has(status, &["state", "running"]) {
                has_running = true;
                ready_containers += 1;
            }
        }
        if reason == "Completed" {
            let pod_ready = conditions
                .iter()
                .any(|c| s(c, &["type"]) == "Ready" && s(c, &["status"]) == "True");
            if has_running && pod_ready {
                reason = "Running".to_string();
            } else if !error_reason.is_empty() {
                reason = error_reason;
            } else if has_running {
                reason = "NotReady".to_string();
            }
        }
    }

    if obj::deleting(pod) && status_reason == "NodeLost" {
        reason = "Unknown".to_string();
    } else if obj::deleting(pod) && phase != "Failed" && phase != "Succeeded" {
        reason = "Terminating".to_string();
    }

    let restarts_str = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", cx.since(Some(t))),
        _ => restarts.to_string(),
    };

    // Wide columns.
    let pod_ip_field = s(pod, &["status", "podIP"]);
    let pod_ip = if !pod_ip_field.is_empty() {
        pod_ip_field
    } else {
        arr(pod, &["status", "podIPs"])
            .first()
            .map_or("", |ip| s(ip, &["ip"]))
    };
    let gates = arr(pod, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let mut true_conditions = 0;
        for gate in gates {
            let t = s(gate, &["conditionType"]);
            if let Some(c) = conditions.iter().find(|c| s(c, &["type"]) == t)
                && s(c, &["status"]) == "True"
            {
                true_conditions += 1;
            }
        }
        format!("{true_conditions}/{}", gates.len())
    };

    Printed {
        cells: vec![
            cell(name(pod)),
            cell(format!("{ready_containers}/{total_containers}")),
            cell(reason),
            cell(restarts_str),
            cell(cx.age(pod)),
            cell(or_none(pod_ip)),
            cell(or_none(s(pod, &["spec", "nodeName"]))),
            cell(or_none(s(pod, &["status", "nominatedNodeName"]))),
            cell(readiness_gates),
        ],
        conditions: row_conditions,
    }
}

/// `podutil.IsRestartableInitContainer`.
fn is_restartable(c: Option<&Value>) -> bool {
    c.is_some_and(|c| opt_s(c, &["restartPolicy"]) == Some("Always"))
}

/// `isPodInitializedConditionTrue`: the first `Initialized` condition decides.
fn pod_initialized(conditions: &[Value]) -> bool {
    conditions
        .iter()
        .find(|c| s(c, &["type"]) == "Initialized")
        .is_some_and(|c| s(c, &["status"]) == "True")
}

pub(super) fn pod_template(o: &Value, _cx: &Ctx<'_>) -> Printed {
    let (names, images) = layout_container_cells(arr(o, &["template", "spec", "containers"]));
    vec![
        cell(name(o)),
        cell(names),
        cell(images),
        cell(format_labels(get(o, &["template", "metadata", "labels"]))),
    ]
    .into()
}

pub(super) fn replication_controller(o: &Value, cx: &Ctx<'_>) -> Printed {
    let (names, images) =
        layout_container_cells(arr(o, &["spec", "template", "spec", "containers"]));
    vec![
        cell(name(o)),
        cell(i(o, &["spec", "replicas"])),
        cell(i(o, &["status", "replicas"])),
        cell(i(o, &["status", "readyReplicas"])),
        cell(cx.age(o)),
        cell(names),
        cell(images),
        cell(format_labels(get(o, &["spec", "selector"]))),
    ]
    .into()
}

/// `loadBalancerStatusStringer` (wide): sorted, de-duplicated IPs or hostnames.
pub(super) fn load_balancer_status(ingress: &[Value]) -> String {
    let set: BTreeSet<&str> = ingress
        .iter()
        .filter_map(|i| {
            let ip = s(i, &["ip"]);
            let host = s(i, &["hostname"]);
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

fn service_external_ip(o: &Value) -> String {
    let external: Vec<&str> = arr(o, &["spec", "externalIPs"])
        .iter()
        .map(|v| v.as_str().unwrap_or(""))
        .collect();
    match s(o, &["spec", "type"]) {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_status(arr(o, &["status", "loadBalancer", "ingress"]));
            if !external.is_empty() {
                let mut results: Vec<&str> = Vec::new();
                if !lb.is_empty() {
                    results.extend(lb.split(','));
                }
                results.extend(external);
                return results.join(",");
            }
            if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => s(o, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

pub(super) fn service(o: &Value, cx: &Ctx<'_>) -> Printed {
    let internal_ip = arr(o, &["spec", "clusterIPs"])
        .first()
        .map_or("<none>".to_string(), |ip| {
            ip.as_str().unwrap_or("").to_string()
        });
    let ports: Vec<String> = arr(o, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = i(p, &["port"]);
            let proto = s(p, &["protocol"]);
            let node_port = i(p, &["nodePort"]);
            if node_port > 0 {
                format!("{port}:{node_port}/{proto}")
            } else {
                format!("{port}/{proto}")
            }
        })
        .collect();
    let ports = ports.join(",");
    vec![
        cell(name(o)),
        cell(s(o, &["spec", "type"])),
        cell(internal_ip),
        cell(service_external_ip(o)),
        cell(if ports.is_empty() {
            "<none>".to_string()
        } else {
            ports
        }),
        cell(cx.age(o)),
        cell(format_labels(get(o, &["spec", "selector"]))),
    ]
    .into()
}

/// `net.JoinHostPort`.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `formatEndpoints(endpoints, nil)`.
fn format_endpoints(o: &Value) -> String {
    let subsets = arr(o, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let max = 3usize;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for ss in subsets {
        let addresses = arr(ss, &["addresses"]);
        let ports = arr(ss, &["ports"]);
        if ports.is_empty() {
            count += addresses.len();
            for a in addresses {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(s(a, &["ip"]).to_string());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(join_host_port(s(a, &["ip"]), i(port, &["port"])));
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - max)
    } else {
        ret
    }
}

pub(super) fn endpoints(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![cell(name(o)), cell(format_endpoints(o)), cell(cx.age(o))].into()
}

pub(super) fn node(o: &Value, cx: &Ctx<'_>) -> Printed {
    // conditionMap[cond.Type] = &cond: the last condition of a type wins.
    let mut ready: Option<&str> = None;
    for c in arr(o, &["status", "conditions"]) {
        if s(c, &["type"]) == "Ready" {
            ready = Some(s(c, &["status"]));
        }
    }
    let mut status: Vec<&str> = Vec::new();
    match ready {
        Some("True") => status.push("Ready"),
        Some(_) => status.push("NotReady"),
        None => {}
    }
    if status.is_empty() {
        status.push("Unknown");
    }
    if b(o, &["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    let mut roles: BTreeSet<&str> = BTreeSet::new();
    if let Some(labels) = map(o, &["metadata", "labels"]) {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.insert(role);
                }
            } else if k == "kubernetes.io/role" {
                let v = v.as_str().unwrap_or("");
                if !v.is_empty() {
                    roles.insert(v);
                }
            }
        }
    }
    let roles = roles.into_iter().collect::<Vec<_>>().join(",");
    let info = |f: &str| s(o, &["status", "nodeInfo", f]);
    let unknown = |v: &str| {
        if v.is_empty() {
            "<unknown>".to_string()
        } else {
            v.to_string()
        }
    };
    let mut kernel = unknown(info("kernelVersion"));
    if !info("architecture").is_empty() {
        kernel = format!("{kernel} ({})", info("architecture"));
    }
    let address = |t: &str| {
        arr(o, &["status", "addresses"])
            .iter()
            .find(|a| s(a, &["type"]) == t)
            .map_or("<none>".to_string(), |a| s(a, &["address"]).to_string())
    };
    vec![
        cell(name(o)),
        cell(status.join(",")),
        cell(or_none(&roles)),
        cell(cx.age(o)),
        cell(info("kubeletVersion")),
        cell(address("InternalIP")),
        cell(address("ExternalIP")),
        cell(unknown(info("osImage"))),
        cell(kernel),
        cell(unknown(info("containerRuntimeVersion"))),
    ]
    .into()
}

/// The fields of an Event the printer reads, from either the core or `events.k8s.io` shape.
struct EventView<'a> {
    o: &'a Value,
    events_api: bool,
}

impl<'a> EventView<'a> {
    fn field(&self, core: &'a str, events: &'a str) -> &'a str {
        if self.events_api { events } else { core }
    }
    fn involved(&self) -> Option<&'a Value> {
        get(self.o, &[self.field("involvedObject", "regarding")])
    }
    fn source(&self, f: &str) -> &'a str {
        s(self.o, &[self.field("source", "deprecatedSource"), f])
    }
}

fn print_event(ev: EventView<'_>, cx: &Ctx<'_>) -> Printed {
    let o = ev.o;
    let first = time_of(o, &[ev.field("firstTimestamp", "deprecatedFirstTimestamp")]);
    let first_timestamp = match first {
        Some(t) => cx.since(Some(t)),
        None => cx.since(time_of(o, &["eventTime"])),
    };
    let last = time_of(o, &[ev.field("lastTimestamp", "deprecatedLastTimestamp")]);
    let mut last_timestamp = match last {
        Some(t) => cx.since(Some(t)),
        None => first_timestamp.clone(),
    };
    let mut count = i(o, &[ev.field("count", "deprecatedCount")]);
    if let Some(series) = get(o, &["series"]) {
        last_timestamp = cx.since(time_of(series, &["lastObservedTime"]));
        count = i(series, &["count"]);
    } else if count == 0 {
        count = 1;
    }
    let involved = ev.involved();
    let kind = involved.map_or("", |v| s(v, &["kind"])).to_lowercase();
    let involved_name = involved.map_or("", |v| s(v, &["name"]));
    let target = if involved_name.is_empty() {
        kind
    } else {
        format!("{kind}/{involved_name}")
    };
    // core/v1 serialises ReportingController as `reportingComponent`.
    let controller = s(o, &[ev.field("reportingComponent", "reportingController")]);
    let component = first_non_empty(ev.source("component"), controller);
    let instance = first_non_empty(ev.source("host"), s(o, &["reportingInstance"]));
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    vec![
        cell(last_timestamp),
        cell(s(o, &["type"])),
        cell(s(o, &["reason"])),
        cell(target),
        cell(involved.map_or("", |v| s(v, &["fieldPath"]))),
        cell(source),
        cell(s(o, &[ev.field("message", "note")]).trim()),
        cell(first_timestamp),
        cell(count),
        cell(name(o)),
    ]
    .into()
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

pub(super) fn event(o: &Value, cx: &Ctx<'_>) -> Printed {
    print_event(
        EventView {
            o,
            events_api: false,
        },
        cx,
    )
}

/// `events.k8s.io` Events are printed after `Convert_v1_Event_To_core_Event`.
pub(super) fn events_v1_event(o: &Value, cx: &Ctx<'_>) -> Printed {
    print_event(
        EventView {
            o,
            events_api: true,
        },
        cx,
    )
}

pub(super) fn namespace(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![
        cell(name(o)),
        cell(s(o, &["status", "phase"])),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn secret(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![
        cell(name(o)),
        cell(s(o, &["type"])),
        cell(obj::map_len(o, &["data"]) as i64),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn service_account(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![cell(name(o)), cell(cx.age(o))].into()
}

/// `helper.GetAccessModesAsString`.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    let mut out = Vec::new();
    for (mode, short) in [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ] {
        if has(mode) {
            out.push(short);
        }
    }
    out.join(",")
}

pub(super) fn persistent_volume(o: &Value, cx: &Ctx<'_>) -> Printed {
    let claim = match get(o, &["spec", "claimRef"]) {
        Some(c) => format!("{}/{}", s(c, &["namespace"]), s(c, &["name"])),
        None => String::new(),
    };
    let phase = if obj::deleting(o) {
        "Terminating"
    } else {
        s(o, &["status", "phase"])
    };
    let class = match annotation(o, "volume.beta.kubernetes.io/storage-class") {
        Some(c) => c,
        None => s(o, &["spec", "storageClassName"]),
    };
    vec![
        cell(name(o)),
        cell(quantity_or_zero(get(o, &["spec", "capacity", "storage"]))),
        cell(access_modes(arr(o, &["spec", "accessModes"]))),
        cell(s(o, &["spec", "persistentVolumeReclaimPolicy"])),
        cell(phase),
        cell(claim),
        cell(class),
        cell(opt_s(o, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")),
        cell(s(o, &["status", "reason"])),
        cell(cx.age(o)),
        cell(opt_s(o, &["spec", "volumeMode"]).unwrap_or("<unset>")),
    ]
    .into()
}

pub(super) fn persistent_volume_claim(o: &Value, cx: &Ctx<'_>) -> Printed {
    let phase = if obj::deleting(o) {
        "Terminating"
    } else {
        s(o, &["status", "phase"])
    };
    let volume_name = s(o, &["spec", "volumeName"]);
    let (capacity, modes) = if volume_name.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity_or_zero(get(o, &["status", "capacity", "storage"])),
            access_modes(arr(o, &["status", "accessModes"])),
        )
    };
    let class = match annotation(o, "volume.beta.kubernetes.io/storage-class") {
        Some(c) => c,
        None => s(o, &["spec", "storageClassName"]),
    };
    vec![
        cell(name(o)),
        cell(phase),
        cell(volume_name),
        cell(capacity),
        cell(modes),
        cell(class),
        cell(opt_s(o, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")),
        cell(cx.age(o)),
        cell(opt_s(o, &["spec", "volumeMode"]).unwrap_or("<unset>")),
    ]
    .into()
}

pub(super) fn component_status(o: &Value, _cx: &Ctx<'_>) -> Printed {
    let mut status = "Unknown";
    let mut message = "";
    let mut error = "";
    if let Some(c) = arr(o, &["conditions"])
        .iter()
        .find(|c| s(c, &["type"]) == "Healthy")
    {
        status = if s(c, &["status"]) == "True" {
            "Healthy"
        } else {
            "Unhealthy"
        };
        message = s(c, &["message"]);
        error = s(c, &["error"]);
    }
    vec![cell(name(o)), cell(status), cell(message), cell(error)].into()
}

pub(super) fn config_map(o: &Value, cx: &Ctx<'_>) -> Printed {
    let n = obj::map_len(o, &["data"]) + obj::map_len(o, &["binaryData"]);
    vec![cell(name(o)), cell(n as i64), cell(cx.age(o))].into()
}

pub(super) fn resource_quota(o: &Value, cx: &Ctx<'_>) -> Printed {
    let mut request = String::new();
    let mut limit = String::new();
    if let Some(hard) = map(o, &["status", "hard"]) {
        let mut resources: Vec<&String> = hard.keys().collect();
        resources.sort();
        for r in resources {
            let used = quantity_or_zero(get(o, &["status", "used", r.as_str()]));
            let hard_q = quantity_or_zero(hard.get(r.as_str()).filter(|v| !v.is_null()));
            let pieces: Vec<&str> = r.split('.').collect();
            let w = if pieces.len() > 1 && pieces[0] == "limits" {
                &mut limit
            } else {
                &mut request
            };
            w.push_str(&format!("{r}: {used}/{hard_q}, "));
        }
    }
    vec![
        cell(name(o)),
        cell(request.strip_suffix(", ").unwrap_or(&request)),
        cell(limit.strip_suffix(", ").unwrap_or(&limit)),
        cell(cx.age(o)),
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoints_formatting() {
        let ep = json!({"subsets": [
            {"addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}], "ports": [{"port": 80}, {"port": 443}]}
        ]});
        assert_eq!(
            format_endpoints(&ep),
            "10.0.0.1:80,[fd00::1]:80,10.0.0.1:443 + 1 more..."
        );
        assert_eq!(format_endpoints(&json!({})), "<none>");
    }

    #[test]
    fn access_modes_order() {
        let modes = [
            json!("ReadWriteOncePod"),
            json!("ReadWriteOnce"),
            json!("ReadWriteOnce"),
        ];
        assert_eq!(access_modes(&modes), "RWO,RWOP");
    }
}
