//! Printers of workload kinds: apps, batch, autoscaling and policy.

use serde_json::{Value, json};

use super::{Ctx, Printed, cell, layout_container_cells};
use crate::duration::{go_sub, human_duration};
use crate::labels::{format_label_selector, format_labels, label_selector_string};
use crate::obj::{self, arr, get, i, name, opt_i, opt_s, s};
use crate::quantity;

/// `intstr.IntOrString.String()`, or `N/A` when unset.
fn int_or_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(n @ Value::Number(_)) => obj::as_int(n).unwrap_or(0).to_string(),
        _ => "N/A".to_string(),
    }
}

pub(super) fn pod_disruption_budget(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![
        cell(name(o)),
        cell(int_or_string(get(o, &["spec", "minAvailable"]))),
        cell(int_or_string(get(o, &["spec", "maxUnavailable"]))),
        cell(i(o, &["status", "disruptionsAllowed"])),
        cell(cx.age(o)),
    ]
    .into()
}

fn template_containers(o: &Value) -> (String, String) {
    layout_container_cells(arr(o, &["spec", "template", "spec", "containers"]))
}

pub(super) fn replica_set(o: &Value, cx: &Ctx<'_>) -> Printed {
    let (names, images) = template_containers(o);
    vec![
        cell(name(o)),
        cell(i(o, &["spec", "replicas"])),
        cell(i(o, &["status", "replicas"])),
        cell(i(o, &["status", "readyReplicas"])),
        cell(cx.age(o)),
        cell(names),
        cell(images),
        cell(format_label_selector(get(o, &["spec", "selector"]))),
    ]
    .into()
}

pub(super) fn daemon_set(o: &Value, cx: &Ctx<'_>) -> Printed {
    let (names, images) = template_containers(o);
    let st = |f: &str| i(o, &["status", f]);
    vec![
        cell(name(o)),
        cell(st("desiredNumberScheduled")),
        cell(st("currentNumberScheduled")),
        cell(st("numberReady")),
        cell(st("updatedNumberScheduled")),
        cell(st("numberAvailable")),
        cell(format_labels(get(
            o,
            &["spec", "template", "spec", "nodeSelector"],
        ))),
        cell(cx.age(o)),
        cell(names),
        cell(images),
        cell(format_label_selector(get(o, &["spec", "selector"]))),
    ]
    .into()
}

pub(super) fn stateful_set(o: &Value, cx: &Ctx<'_>) -> Printed {
    let (names, images) = template_containers(o);
    vec![
        cell(name(o)),
        cell(format!(
            "{}/{}",
            i(o, &["status", "readyReplicas"]),
            i(o, &["spec", "replicas"])
        )),
        cell(cx.age(o)),
        cell(names),
        cell(images),
    ]
    .into()
}

pub(super) fn deployment(o: &Value, cx: &Ctx<'_>) -> Printed {
    let (names, images) = template_containers(o);
    let selector =
        label_selector_string(get(o, &["spec", "selector"])).unwrap_or_else(|_| "<invalid>".into());
    vec![
        cell(name(o)),
        cell(format!(
            "{}/{}",
            i(o, &["status", "readyReplicas"]),
            i(o, &["spec", "replicas"])
        )),
        cell(i(o, &["status", "updatedReplicas"])),
        cell(i(o, &["status", "availableReplicas"])),
        cell(cx.age(o)),
        cell(names),
        cell(images),
        cell(selector),
    ]
    .into()
}

pub(super) fn controller_revision(o: &Value, cx: &Ctx<'_>) -> Printed {
    let controller = obj::arr(o, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| obj::opt_b(r, &["controller"]) == Some(true));
    let controller_name = match controller {
        None => "<none>".to_string(),
        Some(r) => {
            let api_version = s(r, &["apiVersion"]);
            let group = match api_version.matches('/').count() {
                1 => api_version.split('/').next().unwrap_or(""),
                _ => "",
            };
            let kind = s(r, &["kind"]);
            let ref_name = s(r, &["name"]);
            if group.is_empty() && kind.is_empty() {
                ref_name.to_string()
            } else {
                let gk = if group.is_empty() {
                    kind.to_string()
                } else {
                    format!("{kind}.{group}")
                };
                format!("{}/{ref_name}", gk.to_lowercase())
            }
        }
    };
    vec![
        cell(name(o)),
        cell(controller_name),
        cell(i(o, &["revision"])),
        cell(cx.age(o)),
    ]
    .into()
}

/// `hasJobCondition`: the first condition of the type decides.
fn has_job_condition(o: &Value, t: &str) -> bool {
    arr(o, &["status", "conditions"])
        .iter()
        .find(|c| s(c, &["type"]) == t)
        .is_some_and(|c| s(c, &["status"]) == "True")
}

pub(super) fn job(o: &Value, cx: &Ctx<'_>) -> Printed {
    let succeeded = i(o, &["status", "succeeded"]);
    let completions = match opt_i(o, &["spec", "completions"]) {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = opt_i(o, &["spec", "parallelism"]).unwrap_or(0);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let time_or_zero = |f: &str| obj::time(o, &["status", f]).unwrap_or(GO_ZERO);
    let duration = if !obj::has(o, &["status", "startTime"]) {
        String::new()
    } else if !obj::has(o, &["status", "completionTime"]) {
        human_duration(go_sub(cx.now, time_or_zero("startTime")))
    } else {
        human_duration(go_sub(
            time_or_zero("completionTime"),
            time_or_zero("startTime"),
        ))
    };
    let status = if has_job_condition(o, "Complete") {
        "Complete"
    } else if has_job_condition(o, "Failed") {
        "Failed"
    } else if obj::deleting(o) {
        "Terminating"
    } else if has_job_condition(o, "Suspended") {
        "Suspended"
    } else if has_job_condition(o, "FailureTarget") {
        "FailureTarget"
    } else if has_job_condition(o, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let (names, images) = template_containers(o);
    vec![
        cell(name(o)),
        cell(status),
        cell(completions),
        cell(duration),
        cell(cx.age(o)),
        cell(names),
        cell(images),
        cell(format_label_selector(get(o, &["spec", "selector"]))),
    ]
    .into()
}

/// Go's zero `time.Time` in nanoseconds since the Unix epoch.
const GO_ZERO: i128 = -62_135_596_800 * 1_000_000_000;

/// `printBoolPtr`.
fn bool_ptr(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    }
}

pub(super) fn cron_job(o: &Value, cx: &Ctx<'_>) -> Printed {
    let last_schedule = if obj::has(o, &["status", "lastScheduleTime"]) {
        cx.since(obj::time(o, &["status", "lastScheduleTime"]))
    } else {
        "<none>".to_string()
    };
    let (names, images) = layout_container_cells(arr(
        o,
        &[
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "spec",
            "containers",
        ],
    ));
    vec![
        cell(name(o)),
        cell(s(o, &["spec", "schedule"])),
        cell(opt_s(o, &["spec", "timeZone"]).unwrap_or("<none>")),
        cell(bool_ptr(obj::opt_b(o, &["spec", "suspend"]))),
        cell(arr(o, &["status", "active"]).len() as i64),
        cell(last_schedule),
        cell(cx.age(o)),
        cell(names),
        cell(images),
        cell(format_label_selector(get(
            o,
            &["spec", "jobTemplate", "spec", "selector"],
        ))),
    ]
    .into()
}

/// `(*resource.Quantity).String()` of an optional quantity (`<nil>` when unset).
fn qty(v: Option<&Value>) -> String {
    v.and_then(quantity::value_string)
        .unwrap_or_else(|| "<nil>".to_string())
}

/// `formatHPAMetrics` over `autoscaling/v2` metric specs and statuses.
fn format_hpa_metrics(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let empty = Value::Object(Default::default());
    let max = 2usize;
    let mut list: Vec<String> = Vec::new();
    let mut count = 0usize;
    for (idx, spec) in specs.iter().enumerate() {
        let status_of = |source: &str| statuses.get(idx).and_then(|st| get(st, &[source]));
        let source_of = |source: &str| get(spec, &[source]).unwrap_or(&empty);
        match s(spec, &["type"]) {
            "External" | "Object" => {
                let key = if s(spec, &["type"]) == "External" {
                    "external"
                } else {
                    "object"
                };
                let src = source_of(key);
                let status = status_of(key);
                if let Some(avg) = get(src, &["target", "averageValue"]) {
                    let current = status
                        .and_then(|st| get(st, &["current", "averageValue"]))
                        .map_or("<unknown>".to_string(), |q| qty(Some(q)));
                    list.push(format!("{current}/{} (avg)", qty(Some(avg))));
                } else {
                    let current = status.map_or("<unknown>".to_string(), |st| {
                        qty(get(st, &["current", "value"]))
                    });
                    list.push(format!("{current}/{}", qty(get(src, &["target", "value"]))));
                }
            }
            "Pods" => {
                let current = status_of("pods").map_or("<unknown>".to_string(), |st| {
                    qty(get(st, &["current", "averageValue"]))
                });
                list.push(format!(
                    "{current}/{}",
                    qty(get(source_of("pods"), &["target", "averageValue"]))
                ));
            }
            "Resource" | "ContainerResource" => {
                let key = if s(spec, &["type"]) == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let src = source_of(key);
                let status = status_of(key);
                let resource = s(src, &["name"]);
                if let Some(avg) = get(src, &["target", "averageValue"]) {
                    let current = status.map_or("<unknown>".to_string(), |st| {
                        qty(get(st, &["current", "averageValue"]))
                    });
                    list.push(format!("{resource}: {current}/{}", qty(Some(avg))));
                } else {
                    let current = status
                        .and_then(|st| opt_i(st, &["current", "averageUtilization"]))
                        .map_or("<unknown>".to_string(), |u| format!("{u}%"));
                    let target = opt_i(src, &["target", "averageUtilization"])
                        .map_or("<auto>".to_string(), |u| format!("{u}%"));
                    list.push(format!("{resource}: {current}/{target}"));
                }
            }
            _ => list.push("<unknown type>".to_string()),
        }
        count += 1;
    }
    let more = count > max;
    if more {
        list.truncate(max);
    }
    let ret = list.join(", ");
    if more {
        format!("{ret} + {} more...", count - max)
    } else {
        ret
    }
}

/// The `autoscaling/v2` view of an `autoscaling/v1` HPA's metric specs and statuses, as
/// `Convert_v1_HorizontalPodAutoscaler_To_autoscaling_HorizontalPodAutoscaler` builds them:
/// the `autoscaling.alpha.kubernetes.io/metrics` annotation's metrics followed by the
/// `targetCPUUtilizationPercentage` metric (80% CPU when there are none), and the
/// `autoscaling.alpha.kubernetes.io/current-metrics` annotation replacing
/// `currentCPUUtilizationPercentage`.
fn hpa_v1_metrics(o: &Value) -> (Vec<Value>, Vec<Value>) {
    let cpu = |target: i64| {
        json!({"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": target}}})
    };
    let annotated = |key: &str| -> Option<Vec<Value>> {
        let text = obj::annotation(o, key)?;
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => Some(items),
            _ => None,
        }
    };
    let mut specs: Vec<Value> = opt_i(o, &["spec", "targetCPUUtilizationPercentage"])
        .map(cpu)
        .into_iter()
        .collect();
    if let Some(other) = annotated("autoscaling.alpha.kubernetes.io/metrics") {
        let mut out: Vec<Value> = other.iter().map(v1_metric_spec).collect();
        out.append(&mut specs);
        specs = out;
    }
    let mut statuses: Vec<Value> = opt_i(o, &["status", "currentCPUUtilizationPercentage"])
        .map(|u| json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": u}}}))
        .into_iter()
        .collect();
    if let Some(current) = annotated("autoscaling.alpha.kubernetes.io/current-metrics") {
        statuses = current.iter().map(v1_metric_status).collect();
    }
    if specs.is_empty() {
        specs.push(cpu(80));
    }
    (specs, statuses)
}

/// A non-pointer `resource.Quantity` field of a v1 metric (`0` when absent).
fn qty_or_zero(v: &Value, f: &str) -> Value {
    get(v, &[f]).cloned().unwrap_or_else(|| Value::from("0"))
}

/// Inserts `key: value` when the (pointer) field is set.
fn put(m: &mut serde_json::Map<String, Value>, key: &str, value: Option<&Value>) {
    if let Some(v) = value {
        m.insert(key.to_string(), v.clone());
    }
}

/// `Convert_v1_MetricSpec_To_autoscaling_MetricSpec` (the target parts the printer reads).
fn v1_metric_spec(m: &Value) -> Value {
    let t = s(m, &["type"]);
    let mut target = serde_json::Map::new();
    let (key, mut source) = match t {
        "Object" => {
            let src = get(m, &["object"]).cloned().unwrap_or(json!({}));
            if let Some(avg) = get(&src, &["averageValue"]) {
                target.insert("averageValue".into(), avg.clone());
                let value = qty_or_zero(&src, "targetValue");
                if crate::quantity::value_string(&value).as_deref() != Some("0") {
                    target.insert("value".into(), value);
                }
            } else {
                target.insert("value".into(), qty_or_zero(&src, "targetValue"));
            }
            ("object", json!({}))
        }
        "Pods" => {
            let src = get(m, &["pods"]).cloned().unwrap_or(json!({}));
            target.insert(
                "averageValue".into(),
                qty_or_zero(&src, "targetAverageValue"),
            );
            ("pods", json!({}))
        }
        "Resource" | "ContainerResource" => {
            let key = if t == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let src = get(m, &[key]).cloned().unwrap_or(json!({}));
            put(
                &mut target,
                "averageValue",
                get(&src, &["targetAverageValue"]),
            );
            put(
                &mut target,
                "averageUtilization",
                get(&src, &["targetAverageUtilization"]),
            );
            (key, json!({"name": s(&src, &["name"])}))
        }
        "External" => {
            let src = get(m, &["external"]).cloned().unwrap_or(json!({}));
            put(&mut target, "value", get(&src, &["targetValue"]));
            put(
                &mut target,
                "averageValue",
                get(&src, &["targetAverageValue"]),
            );
            ("external", json!({}))
        }
        _ => return json!({"type": t}),
    };
    source["target"] = Value::Object(target);
    json!({"type": t, key: source})
}

/// `Convert_v1_MetricStatus_To_autoscaling_MetricStatus` (the current values the printer reads).
fn v1_metric_status(m: &Value) -> Value {
    let t = s(m, &["type"]);
    let mut current = serde_json::Map::new();
    let key = match t {
        "Object" => {
            let src = get(m, &["object"]).cloned().unwrap_or(json!({}));
            current.insert("value".into(), qty_or_zero(&src, "currentValue"));
            put(&mut current, "averageValue", get(&src, &["averageValue"]));
            "object"
        }
        "Pods" => {
            let src = get(m, &["pods"]).cloned().unwrap_or(json!({}));
            current.insert(
                "averageValue".into(),
                qty_or_zero(&src, "currentAverageValue"),
            );
            "pods"
        }
        "Resource" | "ContainerResource" => {
            let key = if t == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let src = get(m, &[key]).cloned().unwrap_or(json!({}));
            current.insert(
                "averageValue".into(),
                qty_or_zero(&src, "currentAverageValue"),
            );
            put(
                &mut current,
                "averageUtilization",
                get(&src, &["currentAverageUtilization"]),
            );
            key
        }
        "External" => {
            let src = get(m, &["external"]).cloned().unwrap_or(json!({}));
            current.insert("value".into(), qty_or_zero(&src, "currentValue"));
            put(
                &mut current,
                "averageValue",
                get(&src, &["currentAverageValue"]),
            );
            "external"
        }
        _ => return json!({"type": t}),
    };
    json!({"type": t, key: {"current": Value::Object(current)}})
}

pub(super) fn horizontal_pod_autoscaler(o: &Value, cx: &Ctx<'_>) -> Printed {
    let api_version = opt_s(o, &["apiVersion"]).unwrap_or(cx.api_version);
    let metrics = if api_version == "autoscaling/v1" {
        let (specs, statuses) = hpa_v1_metrics(o);
        format_hpa_metrics(&specs, &statuses)
    } else {
        format_hpa_metrics(
            arr(o, &["spec", "metrics"]),
            arr(o, &["status", "currentMetrics"]),
        )
    };
    let reference = format!(
        "{}/{}",
        s(o, &["spec", "scaleTargetRef", "kind"]),
        s(o, &["spec", "scaleTargetRef", "name"])
    );
    let min_pods =
        opt_i(o, &["spec", "minReplicas"]).map_or("<unset>".to_string(), |m| m.to_string());
    vec![
        cell(name(o)),
        cell(reference),
        cell(metrics),
        cell(min_pods),
        cell(i(o, &["spec", "maxReplicas"])),
        cell(i(o, &["status", "currentReplicas"])),
        cell(cx.age(o)),
    ]
    .into()
}

pub(super) fn scale(o: &Value, cx: &Ctx<'_>) -> Printed {
    vec![
        cell(name(o)),
        cell(i(o, &["spec", "replicas"])),
        cell(i(o, &["status", "replicas"])),
        cell(cx.age(o)),
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpa_metrics() {
        let specs = vec![
            json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}),
            json!({"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}}),
            json!({"type": "External", "external": {"metric": {"name": "q"}, "target": {"type": "Value", "value": "10"}}}),
        ];
        let statuses = vec![
            json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12}}}),
            json!({"type": "Pods", "pods": {"current": {"averageValue": "500m"}}}),
        ];
        assert_eq!(
            format_hpa_metrics(&specs, &statuses),
            "cpu: 12%/50%, 500m/1k + 1 more..."
        );
        assert_eq!(format_hpa_metrics(&[], &[]), "<none>");
    }
}
