//! Go formatting of values, for error messages that must match kube-apiserver's byte for byte.
//!
//! kube-apiserver builds many of the messages this crate reproduces with `fmt` verbs on decoded
//! JSON (`map[string]interface{}` and friends): `%v` of a map prints `map[k:v ...]` with sorted
//! keys, `%q` quotes like `strconv.Quote`, `reflect.TypeOf` names the Go type. JSON numbers are
//! `int64` when integral and in range (apimachinery's JSON decoding preserves integers),
//! `float64` otherwise.

use std::fmt::Write as _;

use serde_json::{Number, Value};

/// The Go type a decoded JSON value has in kube-apiserver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GoType {
    Nil,
    Bool,
    Int64,
    Float64,
    String,
    Slice,
    Map,
}

impl GoType {
    pub(crate) fn of(v: &Value) -> GoType {
        match v {
            Value::Null => GoType::Nil,
            Value::Bool(_) => GoType::Bool,
            Value::Number(n) if n.as_i64().is_some() => GoType::Int64,
            Value::Number(_) => GoType::Float64,
            Value::String(_) => GoType::String,
            Value::Array(_) => GoType::Slice,
            Value::Object(_) => GoType::Map,
        }
    }

    /// `reflect.TypeOf(v).String()`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            GoType::Nil => "<nil>",
            GoType::Bool => "bool",
            GoType::Int64 => "int64",
            GoType::Float64 => "float64",
            GoType::String => "string",
            GoType::Slice => "[]interface {}",
            GoType::Map => "map[string]interface {}",
        }
    }
}

/// `fmt.Sprintf("%v", v)` of a decoded JSON value.
pub(crate) fn v(value: &Value) -> String {
    let mut out = String::new();
    write_v(&mut out, value, false);
    out
}

/// `fmt.Sprintf("%s", v)` of a decoded JSON value (`%!s(int64=1)` for non-strings).
pub(crate) fn s(value: &Value) -> String {
    let mut out = String::new();
    write_v(&mut out, value, true);
    out
}

/// `%v` of a slice of values, e.g. `[a b]`.
pub(crate) fn v_slice(values: &[Value]) -> String {
    let mut out = String::new();
    write_slice(&mut out, values, false);
    out
}

fn write_v(out: &mut String, value: &Value, verb_s: bool) {
    match value {
        Value::Null => out.push_str(if verb_s { "%!s(<nil>)" } else { "<nil>" }),
        Value::Bool(b) => {
            if verb_s {
                let _ = write!(out, "%!s(bool={b})");
            } else {
                let _ = write!(out, "{b}");
            }
        }
        Value::Number(n) => {
            let (ty, text) = match GoType::of(value) {
                GoType::Int64 => ("int64", number_v(n)),
                _ => ("float64", number_v(n)),
            };
            if verb_s {
                let _ = write!(out, "%!s({ty}={text})");
            } else {
                out.push_str(&text);
            }
        }
        Value::String(s) => out.push_str(s),
        Value::Array(items) => write_slice(out, items, verb_s),
        Value::Object(map) => {
            out.push_str("map[");
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                if let Some(item) = map.get(k.as_str()) {
                    write_v(out, item, verb_s);
                }
            }
            out.push(']');
        }
    }
}

fn write_slice(out: &mut String, items: &[Value], verb_s: bool) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_v(out, item, verb_s);
    }
    out.push(']');
}

/// `%v` of a JSON number as Go decodes it: `int64` in decimal, `float64` in `%g` shortest form.
pub(crate) fn number_v(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    float_g(n.as_f64().unwrap_or(0.0))
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
pub fn json_float(f: f64) -> String {
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

/// `strconv.FormatFloat(f, 'g', -1, 64)`, which `%v` (`fmt.Sprint`) uses for `float64`.
pub fn float_g(f: f64) -> String {
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

/// How Go's unstructured decoding sees a JSON number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GoNumber {
    /// An integer that fits int64 (decoded as `int64`).
    Int(i64),
    /// Anything else (decoded as `float64`).
    Float(f64),
}

/// Classifies a JSON number like `k8s.io/apimachinery`'s unstructured JSON decoder: integers that
/// fit an `int64` stay integers, everything else becomes a `float64`.
pub fn go_number(n: &Number) -> GoNumber {
    if let Some(i) = n.as_i64() {
        GoNumber::Int(i)
    } else {
        GoNumber::Float(n.as_f64().unwrap_or(0.0))
    }
}

/// `encoding/json.Marshal` of an unstructured value.
pub fn go_json(v: &Value) -> String {
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

/// `strconv.Quote(s)`, which `%q` uses.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// An approximation of `strconv.IsPrint` for non-ASCII runes: Unicode control, format,
/// separator (other than U+0020) and private-use characters are not printable.
fn is_go_printable(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    !(c.is_control()
        || (0x80..0xa0).contains(&u)
        || u == 0xad
        || (0x2000..=0x200f).contains(&u)
        || (0x2028..=0x202f).contains(&u)
        || (0x205f..=0x206f).contains(&u)
        || u == 0x3000
        || u == 0xfeff
        || (0xe000..=0xf8ff).contains(&u)
        || (0xfff9..=0xfffb).contains(&u)
        || u >= 0xf0000)
}

/// `encoding/json.Marshal` of a string: like JSON, plus Go's HTML-safe escapes of `<`, `>`, `&`
/// and U+2028/U+2029.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_json_string(&mut out, s);
    out
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

/// `encoding/json.Marshal` of a `[]string` (`null` for none is not needed here: callers pass
/// slices that exist).
pub(crate) fn json_strings(values: &[String]) -> String {
    let mut out = String::from("[");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json_string(v));
    }
    out.push(']');
    out
}

/// The JSON kind name Go's decoder uses in "cannot unmarshal X into Go value of type T".
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Go's `encoding/json` message for a document that failed to parse. End of input is reported
/// exactly like Go ("unexpected end of JSON input"); other syntax errors carry serde_json's
/// description, since Go's scanner wording depends on its state machine.
pub(crate) fn json_syntax_error(err: &serde_json::Error) -> String {
    if err.is_eof() {
        "unexpected end of JSON input".to_string()
    } else {
        format!("invalid JSON: {err}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn v_formats_like_go() {
        assert_eq!(
            v(&json!({"name": "app", "image": "x"})),
            "map[image:x name:app]"
        );
        assert_eq!(
            v(&json!([{"a": 1}, "b", null, true])),
            "[map[a:1] b <nil> true]"
        );
        assert_eq!(v(&json!({"$patch": "foo"})), "map[$patch:foo]");
        assert_eq!(s(&json!(1)), "%!s(int64=1)");
        assert_eq!(s(&json!("x")), "x");
        assert_eq!(s(&json!(null)), "%!s(<nil>)");
    }

    #[test]
    fn floats_format_like_go_v() {
        assert_eq!(float_g(1.5), "1.5");
        assert_eq!(float_g(1e6), "1e+06");
        assert_eq!(float_g(123456.0), "123456");
        assert_eq!(float_g(1234567.0), "1.234567e+06");
        assert_eq!(float_g(12345678901234567890.0), "1.2345678901234567e+19");
        assert_eq!(float_g(100.0), "100");
        assert_eq!(float_g(1e20), "1e+20");
        assert_eq!(float_g(1e21), "1e+21");
        assert_eq!(float_g(0.0001), "0.0001");
        assert_eq!(float_g(0.00001), "1e-05");
        assert_eq!(float_g(-2.25), "-2.25");
        assert_eq!(float_g(1.0e100), "1e+100");
    }

    #[test]
    fn quote_matches_strconv() {
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote("wéb"), "\"wéb\"");
        assert_eq!(quote("\u{1}\n"), "\"\\x01\\n\"");
        assert_eq!(
            quote("\u{200b}\u{ad} é \u{7f}"),
            "\"\\u200b\\u00ad é \\x7f\""
        );
    }

    #[test]
    fn json_strings_escape_html() {
        assert_eq!(
            json_strings(&["<a>".into(), "b".into()]),
            r#"["\u003ca\u003e","b"]"#
        );
    }
}
