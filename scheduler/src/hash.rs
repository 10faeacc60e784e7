//! `status.specHash`, as Clusternet's `utils.HashSubscriptionSpec` computes it: FNV-32a over
//! `spew.Sprintf("%#v", json.Marshal(spec))`. Go's JSON puts struct fields in declaration order
//! (maps sorted by key) and escapes `<`, `>`, `&`, U+2028 and U+2029; spew prints the byte slice
//! as `([]uint8)[123 34 …]`. Matching it bit for bit lets Go and Rust components agree on whether
//! a Subscription's spec changed since it was scheduled.

use clusternet_apis::apps::v1alpha1::SubscriptionSpec;
use serde_json::Value;

/// The Go struct a JSON object stands for, so its keys come out in Go's field order.
#[derive(Clone, Copy)]
enum Shape {
    Spec,
    Subscriber,
    LabelSelector,
    Requirement,
    Toleration,
    Feed,
    Dividing,
    DynamicDividing,
    SubGroup,
    Spread,
    Preferred,
    NodeSelectorTerm,
    /// A map (keys sorted) or anything not modelled (keys sorted too).
    Map,
}

fn fields(shape: Shape) -> &'static [(&'static str, Shape)] {
    use Shape::*;
    match shape {
        Spec => &[
            ("schedulerName", Map),
            ("schedulingBySubGroup", Map),
            ("schedulingStrategy", Map),
            ("dividingScheduling", Dividing),
            ("priority", Map),
            ("preemptionPolicy", Map),
            ("subscribers", Subscriber),
            ("clusterTolerations", Toleration),
            ("feeds", Feed),
        ],
        Subscriber => &[
            ("clusterAffinity", LabelSelector),
            ("weight", Map),
            ("subGroupStrategy", SubGroup),
        ],
        LabelSelector => &[("matchLabels", Map), ("matchExpressions", Requirement)],
        Requirement => &[("key", Map), ("operator", Map), ("values", Map)],
        Toleration => &[
            ("key", Map),
            ("operator", Map),
            ("value", Map),
            ("effect", Map),
            ("tolerationSeconds", Map),
        ],
        Feed => &[
            ("kind", Map),
            ("apiVersion", Map),
            ("namespace", Map),
            ("name", Map),
        ],
        Dividing => &[("type", Map), ("dynamicDividing", DynamicDividing)],
        DynamicDividing => &[
            ("strategy", Map),
            ("topologySpreadConstraints", Spread),
            ("preferredClusters", Preferred),
            ("minClusters", Map),
            ("maxClusters", Map),
        ],
        SubGroup => &[("minClusters", Map)],
        Spread => &[
            ("maxSkew", Map),
            ("topologyKey", Map),
            ("whenUnsatisfiable", Map),
            ("labelSelector", LabelSelector),
            ("minDomains", Map),
            ("nodeAffinityPolicy", Map),
            ("nodeTaintsPolicy", Map),
            ("matchLabelKeys", Map),
        ],
        Preferred => &[("weight", Map), ("preference", NodeSelectorTerm)],
        NodeSelectorTerm => &[
            ("matchExpressions", Requirement),
            ("matchFields", Requirement),
        ],
        Map => &[],
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write(out: &mut String, value: &Value, shape: Shape) {
    match value {
        Value::Object(map) => {
            out.push('{');
            let known = fields(shape);
            let mut first = true;
            let mut emit = |out: &mut String, k: &str, v: &Value, s: Shape| {
                if !first {
                    out.push(',');
                }
                first = false;
                write_string(out, k);
                out.push(':');
                write(out, v, s);
            };
            for (name, sub) in known {
                if let Some(v) = map.get(*name) {
                    emit(out, name, v, *sub);
                }
            }
            // serde_json's map is sorted, as Go sorts map keys.
            for (k, v) in map {
                if !known.iter().any(|(n, _)| n == k) {
                    emit(out, k, v, Shape::Map);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, item, shape);
            }
            out.push(']');
        }
        Value::String(s) => write_string(out, s),
        other => out.push_str(&other.to_string()),
    }
}

/// The JSON Go's `json.Marshal` produces for `spec`.
pub fn go_json(spec: &SubscriptionSpec) -> String {
    let value = serde_json::to_value(spec).unwrap_or(Value::Null);
    let mut out = String::new();
    write(&mut out, &value, Shape::Spec);
    out
}

/// 32-bit FNV-1a.
fn fnv32a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c9dc5;
    for b in data {
        h ^= *b as u32;
        h = h.wrapping_mul(0x01000193);
    }
    h
}

/// Clusternet's `HashSubscriptionSpec`.
pub fn hash_subscription_spec(spec: &SubscriptionSpec) -> u64 {
    let json = go_json(spec);
    let mut spew = String::with_capacity(json.len() * 4 + 12);
    spew.push_str("([]uint8)[");
    for (i, b) in json.bytes().enumerate() {
        if i > 0 {
            spew.push(' ');
        }
        spew.push_str(&b.to_string());
    }
    spew.push(']');
    fnv32a(spew.as_bytes()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_reference_values() {
        assert_eq!(fnv32a(b""), 0x811c9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9cf968);
    }

    #[test]
    fn json_in_go_field_order() {
        let spec: SubscriptionSpec = serde_json::from_value(serde_json::json!({
            "schedulerName": "default",
            "schedulingStrategy": "Dividing",
            "dividingScheduling": {"type": "Static"},
            "subscribers": [{"clusterAffinity": {
                "matchExpressions": [{"key": "a", "operator": "In", "values": ["x&y"]}],
                "matchLabels": {"z": "1", "b": "2"}}, "weight": 1}],
            "clusterTolerations": [{"effect": "NoSchedule", "key": "k", "operator": "Exists"}],
            "feeds": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "w", "namespace": "d"}]
        }))
        .unwrap();
        assert_eq!(
            go_json(&spec),
            r#"{"schedulerName":"default","schedulingStrategy":"Dividing","dividingScheduling":{"type":"Static"},"subscribers":[{"clusterAffinity":{"matchLabels":{"b":"2","z":"1"},"matchExpressions":[{"key":"a","operator":"In","values":["x\u0026y"]}]},"weight":1}],"clusterTolerations":[{"key":"k","operator":"Exists","effect":"NoSchedule"}],"feeds":[{"kind":"Deployment","apiVersion":"apps/v1","namespace":"d","name":"w"}]}"#
        );
        // The value Go's HashSubscriptionSpec gives for this JSON (computed with go-spew
        // v1.1.1 and hash/fnv).
        let h = hash_subscription_spec(&spec);
        assert_eq!(h, 1564550941);
        assert_eq!(h, hash_subscription_spec(&spec.clone()));
        let mut other = spec.clone();
        other.subscribers[0].weight = 2;
        assert_ne!(h, hash_subscription_spec(&other));
        assert!(h <= u32::MAX as u64);
    }
}
