//! Go-compatible rendering of JSON values, as Kubernetes' JSONPath printer produces it; the Go
//! formatting itself is shared with the rest of the hub in `clusternet_apimachinery::gofmt`.

pub(crate) use clusternet_apimachinery::gofmt::{
    GoNumber, float_g as go_print_float, go_json, go_number,
};
use serde_json::Value;

/// `fmt.Fprint` of a scalar unstructured value; maps and slices are rendered as JSON like the
/// JSONPath printer does. `None` (an invalid reflect.Value) prints as `<no value>`.
pub(crate) fn jsonpath_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "<no value>".to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => match go_number(n) {
            GoNumber::Int(i) => i.to_string(),
            GoNumber::Float(f) => go_print_float(f),
        },
        Some(Value::String(s)) => s.clone(),
        Some(other) => go_json(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusternet_apimachinery::gofmt::json_float;
    use serde_json::json;

    #[test]
    fn json_matches_go() {
        let v = json!({"b": [1, 1.5, "x<y>&z\u{2028}"], "a": null, "c": {"z": true, "y": 1e-7}});
        assert_eq!(
            go_json(&v),
            r#"{"a":null,"b":[1,1.5,"x\u003cy\u003e\u0026z\u2028"],"c":{"y":1e-7,"z":true}}"#
        );
        assert_eq!(json_float(1e21), "1e+21");
        assert_eq!(json_float(1e20), "100000000000000000000");
        assert_eq!(json_float(0.000001), "0.000001");
        assert_eq!(json_float(-2.5), "-2.5");
    }

    #[test]
    fn fmt_matches_go() {
        assert_eq!(go_print_float(1.5), "1.5");
        assert_eq!(go_print_float(100000.0), "100000");
        assert_eq!(go_print_float(1e6), "1e+06");
        assert_eq!(go_print_float(1234567.5), "1.2345675e+06");
        assert_eq!(go_print_float(1e21), "1e+21");
        assert_eq!(go_print_float(3.0), "3");
        assert_eq!(go_print_float(0.0001), "0.0001");
        assert_eq!(go_print_float(0.00001), "1e-05");
        assert_eq!(jsonpath_text(None), "<no value>");
        assert_eq!(jsonpath_text(Some(&json!(["a", 2]))), r#"["a",2]"#);
    }
}
