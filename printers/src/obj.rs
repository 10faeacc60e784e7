//! Tolerant accessors over JSON objects with Go's zero-value semantics.
//!
//! The Go printers work on typed structs decoded from JSON: a missing (or `null`) field is the
//! zero value (`""`, `0`, `false`, empty slice/map) and a missing pointer is `nil`. These helpers
//! give the same view of a `serde_json::Value`, treating values of the wrong JSON type as absent,
//! so malformed objects never panic.

use serde_json::{Map, Value};

use crate::duration::{Nanos, parse_time};

/// The value at `path`, if present and not `null`.
pub(crate) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.as_object()?.get(*p)?;
    }
    if cur.is_null() { None } else { Some(cur) }
}

/// A string field; `""` when absent (Go's zero value).
pub(crate) fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    opt_s(v, path).unwrap_or("")
}

/// A string pointer field: `Some` only when present as a string.
pub(crate) fn opt_s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

/// An integer pointer field.
pub(crate) fn opt_i(v: &Value, path: &[&str]) -> Option<i64> {
    get(v, path).and_then(as_int)
}

/// An integer field; `0` when absent.
pub(crate) fn i(v: &Value, path: &[&str]) -> i64 {
    opt_i(v, path).unwrap_or(0)
}

/// An integer as Go's `int32`/`int64` decoding sees it (integral floats are accepted).
pub(crate) fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        _ => None,
    }
}

/// A boolean pointer field.
pub(crate) fn opt_b(v: &Value, path: &[&str]) -> Option<bool> {
    get(v, path).and_then(Value::as_bool)
}

/// A boolean field; `false` when absent.
pub(crate) fn b(v: &Value, path: &[&str]) -> bool {
    opt_b(v, path).unwrap_or(false)
}

/// An array field; empty when absent.
pub(crate) fn arr<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    match get(v, path) {
        Some(Value::Array(a)) => a,
        _ => &[],
    }
}

/// A map field, if present.
pub(crate) fn map<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    get(v, path).and_then(Value::as_object)
}

/// Number of entries of a map field (0 when absent).
pub(crate) fn map_len(v: &Value, path: &[&str]) -> usize {
    map(v, path).map_or(0, Map::len)
}

/// Whether a (pointer) field is set: present and not `null`.
pub(crate) fn has(v: &Value, path: &[&str]) -> bool {
    get(v, path).is_some()
}

/// A `metav1.Time` field: `None` when absent, `null` or unparsable (Go's zero time).
pub(crate) fn time(v: &Value, path: &[&str]) -> Option<Nanos> {
    opt_s(v, path).and_then(parse_time)
}

/// `metadata.name`.
pub(crate) fn name(v: &Value) -> &str {
    s(v, &["metadata", "name"])
}

/// `metadata.creationTimestamp`.
pub(crate) fn created(v: &Value) -> Option<Nanos> {
    time(v, &["metadata", "creationTimestamp"])
}

/// `metadata.deletionTimestamp != nil`.
pub(crate) fn deleting(v: &Value) -> bool {
    has(v, &["metadata", "deletionTimestamp"])
}

/// An annotation value and whether it is present.
pub(crate) fn annotation<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    map(v, &["metadata", "annotations"])
        .and_then(|m| m.get(key))
        .map(|a| a.as_str().unwrap_or(""))
}

/// The string of a field or `<none>` when empty.
pub(crate) fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s.to_string()
    }
}
