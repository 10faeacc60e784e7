//! Go-compatible rendering of JSON values, as Kubernetes' JSONPath printer produces it.
//!
//! Objects decoded into Go's `interface{}` (unstructured content) hold `int64` for integral JSON
//! numbers, `float64` otherwise, `string`, `bool`, `nil`, `[]interface{}` and
//! `map[string]interface{}`. The JSONPath printer renders maps and slices with `encoding/json`
//! (sorted keys, HTML-safe escaping, Go float format) and scalars with `fmt.Fprint` (`%v`).

use serde_json::{Number, Value};

/// How Go's unstructured decoding sees a JSON number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum GoNumber {
    Int(i64),
    Float(f64),
}

/// Classifies a JSON number like `k8s.io/apimachinery`'s unstructured JSON decoder: integers that
/// fit an `int64` stay integers, everything else becomes a `float64`.
pub(crate) fn go_number(n: &Number) -> GoNumber {
    if let Some(i) = n.as_i64() {
        GoNumber::Int(i)
    } else {
        GoNumber::Float(n.as_f64().unwrap_or(0.0))
    }
}

/// `encoding/json.Marshal` of an unstructured value.
pub(crate) fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, v);
    out
}

fn write_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match go_number(n) {
            GoNumber::Int(i) => out.push_str(&i.to_string()),
            GoNumber::Float(f) => out.push_str(&json_float(f)),
        },
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, k);
                out.push(':');
                if let Some(item) = map.get(k.as_str()) {
                    write_json(out, item);
                }
            }
            out.push('}');
        }
    }
}

fn write_json_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
                let b = c as u32;
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize & 0xf] as char);
                out.push(HEX[b as usize & 0xf] as char);
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Shortest round-trip decimal digits and the decimal exponent of `f` (`f = 0.d1d2… × 10^dp`).
fn shortest_digits(f: f64) -> (String, i32) {
    // Rust's `{:e}` prints the shortest representation that round-trips, like Go's `-1` precision.
    let s = format!("{:e}", f.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digits, exp + 1)
}

/// `strconv.FormatFloat(f, 'f', -1, 64)`.
fn format_f(f: f64) -> String {
    let (digits, dp) = shortest_digits(f);
    let mut out = String::new();
    if f.is_sign_negative() && f != 0.0 {
        out.push('-');
    }
    if f == 0.0 {
        out.push('0');
        return out;
    }
    if dp <= 0 {
        out.push_str("0.");
        for _ in 0..(-dp) {
            out.push('0');
        }
        out.push_str(&digits);
    } else if dp as usize >= digits.len() {
        out.push_str(&digits);
        for _ in 0..(dp as usize - digits.len()) {
            out.push('0');
        }
    } else {
        out.push_str(&digits[..dp as usize]);
        out.push('.');
        out.push_str(&digits[dp as usize..]);
    }
    out
}

/// `strconv.FormatFloat(f, 'e', -1, 64)` (exponent with at least two digits).
fn format_e(f: f64) -> String {
    let (digits, dp) = shortest_digits(f);
    let mut out = String::new();
    if f.is_sign_negative() && f != 0.0 {
        out.push('-');
    }
    let exp = if f == 0.0 { 0 } else { dp - 1 };
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
    out
}

/// `encoding/json`'s float64 encoding.
fn json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_string();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let mut s = format_e(f);
        // Go cleans up e-09 to e-9.
        let n = s.len();
        if n >= 4 && &s[n - 4..n - 1] == "e-0" {
            s.remove(n - 2);
        }
        s
    } else {
        format_f(f)
    }
}

/// `fmt.Sprint(f)` for a float64 (`%v`, i.e. `%g` with the shortest precision).
pub(crate) fn go_print_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let (_, dp) = shortest_digits(f);
    let exp = dp - 1;
    // strconv's 'g' with the shortest precision switches to %e below 1e-4 and from 1e6 on.
    if !(-4..6).contains(&exp) {
        return format_e(f);
    }
    format_f(f)
}

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
