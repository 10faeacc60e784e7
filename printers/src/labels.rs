//! Label and label-selector formatting as `k8s.io/apimachinery/pkg/labels` prints them.
//!
//! * [`format_labels`] is `labels.FormatLabels` (`k=v` pairs sorted as strings, `<none>` if
//!   empty);
//! * [`format_label_selector`] is `metav1.FormatLabelSelector` (`<none>` for an empty selector,
//!   `<error>` for an invalid one);
//! * [`label_selector_string`] is `metav1.LabelSelectorAsSelector(s).String()`.
//!
//! ```
//! use clusternet_printers::labels::{format_label_selector, format_labels};
//! use serde_json::json;
//!
//! assert_eq!(format_labels(Some(&json!({"b": "2", "a": "1"}))), "a=1,b=2");
//! assert_eq!(format_labels(None), "<none>");
//! let sel = json!({"matchLabels": {"app": "web"},
//!                  "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]});
//! assert_eq!(format_label_selector(Some(&sel)), "app=web,tier in (a,b)");
//! ```

use serde_json::Value;

/// `labels.Set(m).String()`: `key=value` pairs sorted as whole strings, comma separated.
pub fn labels_string(labels: Option<&Value>) -> String {
    let mut pairs: Vec<String> = match labels {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect(),
        _ => Vec::new(),
    };
    pairs.sort();
    pairs.join(",")
}

/// `labels.FormatLabels`: like [`labels_string`] but `<none>` when there are no labels.
pub fn format_labels(labels: Option<&Value>) -> String {
    let s = labels_string(labels);
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s
    }
}

/// `metav1.LabelSelectorAsSelector(selector).String()`; `Err` when the selector is invalid.
/// A missing (`nil`) or empty selector yields the empty string.
pub fn label_selector_string(selector: Option<&Value>) -> Result<String, String> {
    let Some(sel) = selector.filter(|v| !v.is_null()) else {
        return Ok(String::new());
    };
    let mut reqs: Vec<(String, String)> = Vec::new(); // (key, rendered requirement)
    if let Some(Value::Object(ml)) = sel.get("matchLabels") {
        for (k, v) in ml {
            let v = v.as_str().unwrap_or_default();
            validate_key(k)?;
            validate_value(v)?;
            reqs.push((k.clone(), format!("{k}={v}")));
        }
    }
    if let Some(Value::Array(exprs)) = sel.get("matchExpressions") {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            let op = e
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let values: Vec<&str> = match e.get("values") {
                Some(Value::Array(vs)) => {
                    vs.iter().map(|v| v.as_str().unwrap_or_default()).collect()
                }
                _ => Vec::new(),
            };
            validate_key(key)?;
            let rendered = match op {
                "In" | "NotIn" => {
                    if values.is_empty() {
                        return Err("for 'in', 'notin' operators, values set can't be empty".into());
                    }
                    for v in &values {
                        validate_value(v)?;
                    }
                    let mut sorted = values.clone();
                    sorted.sort_unstable();
                    let word = if op == "In" { "in" } else { "notin" };
                    format!("{key} {word} ({})", sorted.join(","))
                }
                "Exists" | "DoesNotExist" => {
                    if !values.is_empty() {
                        return Err("values set must be empty for exists and does not exist".into());
                    }
                    if op == "Exists" {
                        key.to_string()
                    } else {
                        format!("!{key}")
                    }
                }
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            };
            reqs.push((key.to_string(), rendered));
        }
    }
    // internalSelector.Add sorts the requirements by key.
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reqs
        .into_iter()
        .map(|(_, r)| r)
        .collect::<Vec<_>>()
        .join(","))
}

/// `metav1.FormatLabelSelector`.
pub fn format_label_selector(selector: Option<&Value>) -> String {
    match label_selector_string(selector) {
        Err(_) => "<error>".to_string(),
        Ok(s) if s.is_empty() => "<none>".to_string(),
        Ok(s) => s,
    }
}

/// The gogo-protobuf `(*metav1.LabelSelector).String()` rendering, used by the admission
/// policy binding printers for `paramRef.selector`.
pub(crate) fn label_selector_go_string(selector: &Value) -> String {
    let mut keys: Vec<(&String, &str)> = match selector.get("matchLabels") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (k, v.as_str().unwrap_or_default()))
            .collect(),
        _ => Vec::new(),
    };
    keys.sort_by(|a, b| a.0.cmp(b.0));
    let mut labels = String::from("map[string]string{");
    for (k, v) in keys {
        labels.push_str(&format!("{k}: {v},"));
    }
    labels.push('}');
    let mut exprs = String::from("[]LabelSelectorRequirement{");
    if let Some(Value::Array(items)) = selector.get("matchExpressions") {
        for e in items {
            let s = |f: &str| {
                e.get(f)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let values: Vec<&str> = match e.get("values") {
                Some(Value::Array(vs)) => {
                    vs.iter().map(|v| v.as_str().unwrap_or_default()).collect()
                }
                _ => Vec::new(),
            };
            exprs.push_str(&format!(
                "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
                s("key"),
                s("operator"),
                values.join(" ")
            ));
        }
    }
    exprs.push('}');
    format!("&LabelSelector{{MatchLabels:{labels},MatchExpressions:{exprs},}}")
}

fn validate_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if key.matches('/').count() > 1 {
        return Err(format!("invalid label key {key:?}"));
    }
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || !is_dns1123_subdomain(p))
    {
        return Err(format!("invalid label key {key:?}"));
    }
    if name.is_empty() || name.len() > 63 || !is_qualified_name_part(name) {
        return Err(format!("invalid label key {key:?}"));
    }
    Ok(())
}

fn validate_value(v: &str) -> Result<(), String> {
    if v.len() > 63 || !(v.is_empty() || is_qualified_name_part(v)) {
        return Err(format!("invalid label value: {v:?}"));
    }
    Ok(())
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`
fn is_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(|label| {
        let b = label.as_bytes();
        match (b.first(), b.last()) {
            (Some(f), Some(l)) => {
                (f.is_ascii_lowercase() || f.is_ascii_digit())
                    && (l.is_ascii_lowercase() || l.is_ascii_digit())
                    && b.iter()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            }
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_string_sorts_pairs_not_keys() {
        assert_eq!(
            labels_string(Some(&json!({"a": "1", "a-b": "2"}))),
            "a-b=2,a=1"
        );
    }

    #[test]
    fn selectors() {
        assert_eq!(label_selector_string(None), Ok(String::new()));
        assert_eq!(label_selector_string(Some(&json!({}))), Ok(String::new()));
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        let sel = json!({"matchExpressions": [
            {"key": "z", "operator": "DoesNotExist"},
            {"key": "a", "operator": "Exists"},
            {"key": "m", "operator": "NotIn", "values": ["y", "x"]}]});
        assert_eq!(format_label_selector(Some(&sel)), "a,m notin (x,y),!z");
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]});
        assert_eq!(format_label_selector(Some(&bad)), "<error>");
        let bad_key = json!({"matchLabels": {"-a": "b"}});
        assert_eq!(format_label_selector(Some(&bad_key)), "<error>");
        assert_eq!(
            format_label_selector(Some(&json!({"matchLabels": {"k8s.io/app": ""}}))),
            "k8s.io/app="
        );
    }

    #[test]
    fn go_string_of_selector() {
        let sel = json!({"matchLabels": {"b": "2", "a": "1"},
                         "matchExpressions": [{"key": "k", "operator": "In", "values": ["x", "y"]}]});
        assert_eq!(
            label_selector_go_string(&sel),
            "&LabelSelector{MatchLabels:map[string]string{a: 1,b: 2,},MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:k,Operator:In,Values:[x y],},},}"
        );
    }
}
