//! JSON patch (RFC 6902) and JSON merge patch (RFC 7386) with kube-apiserver's semantics.
//!
//! kube-apiserver applies both with `gopkg.in/evanphx/json-patch.v4`, whose behaviour differs
//! from the RFCs in ways clients can observe. The operations themselves are carried out by the
//! `json-patch` crate; around it this module reproduces what evanphx does differently:
//!
//! * array indices may be negative (`/spec/containers/-1` is the last container);
//! * `replace` of a missing object member adds it;
//! * `test` of a missing object member against `null` (or without `value`) succeeds;
//! * `copy` from a missing object member copies `null`;
//! * a missing `value` is `null`; an unknown `op` fails when it is reached;
//! * the path is split at `/` without further checks (the text before the first `/` is ignored);
//! * a merge patch drops `null`s inside objects nested in arrays it sets, except where it
//!   replaces an object by a non-object.
//!
//! Error codes follow kube-apiserver (with `fieldValidation=Strict` or `Warn`, what kubectl and
//! the server default use): a body that does not decode is 400 (`error decoding patch: ...`), more
//! than 10000 operations 413, a failed operation 422 with the generic message "the server
//! rejected our request due to an error in our request" (evanphx's error text is not returned to
//! the client; [`PatchError::detail`](super::PatchError::detail) keeps it), a `null` merge patch
//! 400 (`Invalid JSON Patch`).

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation, RemoveOperation, ReplaceOperation};
use serde_json::{Map, Value};

use super::PatchError;
use crate::gofmt;

/// kube-apiserver's limit on the number of operations in one JSON patch.
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

fn decode_error(msg: String) -> PatchError {
    PatchError::bad_request(format!("error decoding patch: {msg}"))
}

fn parse_body(body: &[u8]) -> Result<Value, PatchError> {
    serde_json::from_slice(body).map_err(|e| decode_error(gofmt::json_syntax_error(&e)))
}

/// Decodes a JSON patch body as kube-apiserver's strict decoding into `[]jsonPatchOp` does, and
/// returns the operations (`null` is an empty patch).
pub fn decode_json_patch(body: &[u8]) -> Result<Vec<Map<String, Value>>, PatchError> {
    let ops = match parse_body(body)? {
        Value::Null => return Ok(Vec::new()),
        Value::Array(ops) => ops,
        other => {
            return Err(decode_error(format!(
                "json: cannot unmarshal {} into Go value of type []handlers.jsonPatchOp",
                gofmt::json_kind(&other)
            )));
        }
    };
    let mut out = Vec::with_capacity(ops.len());
    let mut first_error = None;
    for op in ops {
        match op {
            Value::Null => out.push(Map::new()),
            Value::Object(m) => {
                for field in ["op", "path", "from"] {
                    if let Some(v) = m.get(field)
                        && !v.is_null()
                        && !v.is_string()
                        && first_error.is_none()
                    {
                        first_error = Some(format!(
                            "json: cannot unmarshal {} into Go struct field jsonPatchOp.{field} of type string",
                            gofmt::json_kind(v)
                        ));
                    }
                }
                out.push(m);
            }
            other => {
                if first_error.is_none() {
                    first_error = Some(format!(
                        "json: cannot unmarshal {} into Go value of type handlers.jsonPatchOp",
                        gofmt::json_kind(&other)
                    ));
                }
            }
        }
    }
    if let Some(e) = first_error {
        return Err(decode_error(e));
    }
    Ok(out)
}

/// Applies a `application/json-patch+json` body to `original`.
pub fn apply_json_patch(original: &Value, body: &[u8]) -> Result<Value, PatchError> {
    let ops = decode_json_patch(body)?;
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::too_large(format!(
            "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {}",
            ops.len()
        )));
    }
    let mut doc = original.clone();
    for op in &ops {
        apply_op(&mut doc, op).map_err(PatchError::invalid)?;
    }
    Ok(doc)
}

/// `Operation.Kind()`: the `op` string, or `unknown`.
fn op_kind(op: &Map<String, Value>) -> &str {
    op.get("op").and_then(Value::as_str).unwrap_or("unknown")
}

fn apply_op(doc: &mut Value, op: &Map<String, Value>) -> Result<(), String> {
    let kind = op_kind(op);
    let path = op.get("path").and_then(Value::as_str);
    let from = op.get("from").and_then(Value::as_str);
    let value = op.get("value").cloned().unwrap_or(Value::Null);
    match kind {
        "add" => {
            let path = path.ok_or("add operation failed to decode path: missing value")?;
            add(doc, path, value, "add")
        }
        "remove" => {
            let path = path.ok_or("remove operation failed to decode path: missing value")?;
            remove(doc, path).map(drop)
        }
        "replace" => {
            let path = path.ok_or("replace operation failed to decode path: missing value")?;
            replace(doc, path, value)
        }
        "move" => {
            let from = from.ok_or("move operation failed to decode from: missing value")?;
            let path = path.ok_or("move operation failed to decode path: missing value")?;
            let (_, parent, key) = find_object(doc, from).ok_or_else(|| {
                format!(
                    "move operation does not apply: doc is missing from path: {from}: missing value"
                )
            })?;
            get(parent, &key).map_err(|e| format!("error in move for path: '{key}': {e}"))?;
            let moved = remove(doc, from).map_err(|_| {
                format!("error in move for path: '{key}': Unable to remove nonexistent key: {key}: missing value")
            })?;
            add(doc, path, moved, "move")
        }
        "copy" => {
            let from = from.ok_or("copy operation failed to decode from: missing value")?;
            let path = path.ok_or("copy operation failed to decode path: missing value")?;
            let (_, parent, key) = find_object(doc, from).ok_or_else(|| {
                format!(
                    "copy operation does not apply: doc is missing from path: {from}: missing value"
                )
            })?;
            let copied = get(parent, &key)
                .map_err(|e| format!("error in copy for from: '{from}': {e}"))?
                .cloned()
                .unwrap_or(Value::Null);
            add(doc, path, copied, "copy")
        }
        "test" => {
            let path = path.ok_or("test operation failed to decode path: missing value")?;
            test(doc, path, op.get("value"))
        }
        other => Err(format!("Unexpected kind: {other}")),
    }
}

/// `decodePatchKey`: `~1` → `/`, `~0` → `~`, scanning left to right.
fn decode_key(k: &str) -> String {
    let mut out = String::with_capacity(k.len());
    let mut rest = k;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("~1") {
            out.push('/');
            rest = r;
        } else if let Some(r) = rest.strip_prefix("~0") {
            out.push('~');
            rest = r;
        } else {
            let mut chars = rest.chars();
            if let Some(c) = chars.next() {
                out.push(c);
            }
            rest = chars.as_str();
        }
    }
    out
}

/// `strconv.Atoi`.
fn atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// An index into an array of `len` elements as evanphx reads it (negative counts from the end).
fn array_index(key: &str, len: usize) -> Result<usize, String> {
    let idx = atoi(key).ok_or_else(|| {
        format!(
            "strconv.Atoi: parsing {}: invalid syntax",
            gofmt::quote(key)
        )
    })?;
    let len = len as i64;
    let resolved = if idx < 0 { idx + len } else { idx };
    if idx < -len || resolved >= len {
        return Err(format!(
            "Unable to access invalid index: {idx}: invalid index referenced"
        ));
    }
    Ok(resolved as usize)
}

/// `findObject`: the container of the last path segment, the pointer to it (with array indices
/// made canonical) and the decoded last segment. `None` if the container does not exist.
fn find_object<'a>(doc: &'a Value, path: &str) -> Option<(Vec<String>, &'a Value, String)> {
    let split: Vec<&str> = path.split('/').collect();
    if split.len() < 2 {
        return None;
    }
    let parts = &split[1..split.len() - 1];
    let key = decode_key(split[split.len() - 1]);
    let mut current = doc;
    let mut tokens = Vec::with_capacity(parts.len());
    for part in parts {
        let part = decode_key(part);
        let (next, token) = match current {
            Value::Object(m) => (m.get(&part)?, part),
            Value::Array(items) => {
                let idx = array_index(&part, items.len()).ok()?;
                (&items[idx], idx.to_string())
            }
            _ => return None,
        };
        if !matches!(next, Value::Object(_) | Value::Array(_)) {
            return None;
        }
        current = next;
        tokens.push(token);
    }
    Some((tokens, current, key))
}

fn pointer(parent: &[String], last: String) -> PointerBuf {
    PointerBuf::from_tokens(parent.iter().cloned().chain(std::iter::once(last)))
}

/// `container.get`: the member or element (`None` for a missing member).
fn get<'a>(parent: &'a Value, key: &str) -> Result<Option<&'a Value>, String> {
    match parent {
        Value::Object(m) => Ok(m.get(key)),
        Value::Array(items) => Ok(Some(&items[array_index(key, items.len())?])),
        _ => Ok(None),
    }
}

fn run(doc: &mut Value, op: PatchOperation) -> Result<(), String> {
    json_patch::patch(doc, &[op]).map_err(|e| e.to_string())
}

fn add(doc: &mut Value, path: &str, value: Value, verb: &str) -> Result<(), String> {
    let (parent_tokens, parent, key) = find_object(doc, path).ok_or_else(|| {
        if verb == "add" {
            format!("add operation does not apply: doc is missing path: \"{path}\": missing value")
        } else {
            format!("{verb} operation does not apply: doc is missing destination path: {path}: missing value")
        }
    })?;
    let token = match parent {
        Value::Array(items) => {
            if key == "-" {
                items.len().to_string()
            } else {
                let idx = atoi(&key).ok_or_else(|| {
                    format!("error in {verb} for path: '{path}': value was not a proper array index: '{key}'")
                })?;
                let size = items.len() as i64 + 1;
                if idx >= size || idx < -size {
                    return Err(format!(
                        "error in {verb} for path: '{path}': Unable to access invalid index: {idx}: invalid index referenced"
                    ));
                }
                (if idx < 0 { idx + size } else { idx }).to_string()
            }
        }
        _ => key,
    };
    run(
        doc,
        PatchOperation::Add(AddOperation {
            path: pointer(&parent_tokens, token),
            value,
        }),
    )
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent_tokens, parent, key) = find_object(doc, path).ok_or_else(|| {
        format!("remove operation does not apply: doc is missing path: \"{path}\": missing value")
    })?;
    let (token, removed) = match parent {
        Value::Object(m) => match m.get(&key) {
            Some(v) => (key.clone(), v.clone()),
            None => {
                return Err(format!(
                    "error in remove for path: '{path}': Unable to remove nonexistent key: {key}: missing value"
                ));
            }
        },
        Value::Array(items) => {
            let idx = array_index(&key, items.len())
                .map_err(|e| format!("error in remove for path: '{path}': {e}"))?;
            (idx.to_string(), items[idx].clone())
        }
        _ => {
            return Err(format!(
                "remove operation does not apply: doc is missing path: \"{path}\": missing value"
            ));
        }
    };
    run(
        doc,
        PatchOperation::Remove(RemoveOperation {
            path: pointer(&parent_tokens, token),
        }),
    )?;
    Ok(removed)
}

fn replace(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        if !matches!(value, Value::Object(_) | Value::Array(_)) {
            return Err("replace operation value must be object or array".to_string());
        }
        *doc = value;
        return Ok(());
    }
    let (parent_tokens, parent, key) = find_object(doc, path).ok_or_else(|| {
        format!("replace operation does not apply: doc is missing path: {path}: missing value")
    })?;
    match parent {
        // evanphx's `set` on an object member is `add`: a missing member is created.
        Value::Object(_) => run(
            doc,
            PatchOperation::Add(AddOperation {
                path: pointer(&parent_tokens, key),
                value,
            }),
        ),
        Value::Array(items) => {
            let idx = array_index(&key, items.len()).map_err(|e| {
                format!("replace operation does not apply: doc is missing key: {path}: {e}")
            })?;
            run(
                doc,
                PatchOperation::Replace(ReplaceOperation {
                    path: pointer(&parent_tokens, idx.to_string()),
                    value,
                }),
            )
        }
        _ => Err(format!(
            "replace operation does not apply: doc is missing path: {path}: missing value"
        )),
    }
}

fn test(doc: &Value, path: &str, expected: Option<&Value>) -> Result<(), String> {
    let failed = || format!("testing value {path} failed: test failed");
    if path.is_empty() {
        return if Some(doc) == expected {
            Ok(())
        } else {
            Err(failed())
        };
    }
    let (_, parent, key) = find_object(doc, path).ok_or_else(|| {
        format!("test operation does not apply: is missing path: {path}: missing value")
    })?;
    let actual = get(parent, &key).map_err(|e| format!("error in test for path: '{path}': {e}"))?;
    let expected = expected.filter(|v| !v.is_null());
    match (actual.filter(|v| !v.is_null()), expected) {
        (None, None) => Ok(()),
        (Some(a), Some(e)) if a == e => Ok(()),
        _ => Err(failed()),
    }
}

/// Applies a `application/merge-patch+json` body to `original`.
pub fn apply_merge_patch(original: &Value, body: &[u8]) -> Result<Value, PatchError> {
    let patch = match parse_body(body)? {
        Value::Null => return Err(PatchError::bad_request("Invalid JSON Patch".to_string())),
        Value::Object(p) => p,
        other => {
            return Err(decode_error(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                gofmt::json_kind(&other)
            )));
        }
    };
    let Value::Object(doc) = original else {
        // evanphx's ErrBadJSONDoc, which kube-apiserver passes through as a 500.
        return Err(PatchError::internal("Invalid JSON Document".to_string()));
    };
    let mut doc = doc.clone();
    merge_docs(&mut doc, patch);
    Ok(Value::Object(doc))
}

/// JSON merge patch of two objects, as evanphx's `MergePatch` does it.
pub fn merge_patch(doc: &mut Map<String, Value>, patch: Map<String, Value>) {
    merge_docs(doc, patch);
}

fn merge_docs(doc: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (k, mut v) in patch {
        if v.is_null() {
            doc.remove(&k);
            continue;
        }
        match doc.get_mut(&k) {
            Some(cur) if !cur.is_null() => {
                let current = std::mem::take(cur);
                *cur = merge(current, v);
            }
            _ => {
                prune_nulls(&mut v);
                doc.insert(k, v);
            }
        }
    }
}

fn merge(cur: Value, mut patch: Value) -> Value {
    match (cur, patch.is_object()) {
        (Value::Object(mut cur), true) => {
            if let Value::Object(p) = patch {
                merge_docs(&mut cur, p);
            }
            Value::Object(cur)
        }
        // An object replaced by a non-object: the patch value as is.
        (Value::Object(_), false) => patch,
        (_, _) => {
            prune_nulls(&mut patch);
            patch
        }
    }
}

/// Removes `null` members from objects, recursively, also inside arrays (whose `null` elements
/// stay).
fn prune_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(prune_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(prune_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn jp(doc: Value, patch: Value) -> Result<Value, (u16, String)> {
        apply_json_patch(&doc, patch.to_string().as_bytes())
            .map_err(|e| (e.code(), e.detail().to_string()))
    }

    fn ok(doc: Value, patch: Value) -> Value {
        match jp(doc, patch) {
            Ok(v) => v,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn rfc_operations() {
        let doc = json!({"a": {"b": [1, 2, 3]}, "c": "x"});
        assert_eq!(
            ok(
                doc.clone(),
                json!([{"op": "add", "path": "/a/b/1", "value": 9}])
            ),
            json!({"a": {"b": [1, 9, 2, 3]}, "c": "x"})
        );
        assert_eq!(
            ok(
                doc.clone(),
                json!([{"op": "add", "path": "/a/b/-", "value": 9}])
            ),
            json!({"a": {"b": [1, 2, 3, 9]}, "c": "x"})
        );
        assert_eq!(
            ok(
                doc.clone(),
                json!([{"op": "remove", "path": "/a/b/0"}, {"op": "replace", "path": "/c", "value": "y"}])
            ),
            json!({"a": {"b": [2, 3]}, "c": "y"})
        );
        assert_eq!(
            ok(
                doc.clone(),
                json!([{"op": "move", "from": "/c", "path": "/a/c"}])
            ),
            json!({"a": {"b": [1, 2, 3], "c": "x"}})
        );
        assert_eq!(
            ok(
                doc.clone(),
                json!([{"op": "copy", "from": "/a/b/2", "path": "/d"}])
            ),
            json!({"a": {"b": [1, 2, 3]}, "c": "x", "d": 3})
        );
        assert_eq!(
            ok(
                doc.clone(),
                json!([{"op": "test", "path": "/a/b", "value": [1, 2, 3]}])
            ),
            doc
        );
        assert_eq!(
            ok(
                json!({"a~b": {"c/d": 1}}),
                json!([{"op": "replace", "path": "/a~0b/c~1d", "value": 2}])
            ),
            json!({"a~b": {"c/d": 2}})
        );
        assert_eq!(ok(doc.clone(), json!(null)), doc);
        assert_eq!(ok(doc.clone(), json!([])), doc);
    }

    #[test]
    fn evanphx_quirks() {
        let doc = json!({"l": ["a", "b", "c"], "m": {}});
        assert_eq!(
            ok(doc.clone(), json!([{"op": "remove", "path": "/l/-1"}]))["l"],
            json!(["a", "b"])
        );
        assert_eq!(
            ok(
                doc.clone(),
                json!([{"op": "replace", "path": "/l/-3", "value": "z"}])
            )["l"],
            json!(["z", "b", "c"])
        );
        assert_eq!(
            ok(
                doc.clone(),
                json!([{"op": "add", "path": "/l/-1", "value": "z"}])
            )["l"],
            json!(["a", "b", "c", "z"])
        );
        assert_eq!(
            ok(
                doc.clone(),
                json!([{"op": "add", "path": "/l/+1", "value": "z"}])
            )["l"],
            json!(["a", "z", "b", "c"])
        );
        assert_eq!(
            ok(
                doc.clone(),
                json!([{"op": "replace", "path": "/m/x", "value": 1}])
            )["m"],
            json!({"x": 1})
        );
        assert_eq!(
            ok(
                doc.clone(),
                json!([{"op": "test", "path": "/m/x", "value": null}])
            ),
            doc
        );
        assert_eq!(
            ok(doc.clone(), json!([{"op": "test", "path": "/m/x"}])),
            doc
        );
        assert_eq!(
            ok(
                doc.clone(),
                json!([{"op": "copy", "from": "/m/x", "path": "/m/y"}])
            )["m"],
            json!({"y": null})
        );
        assert_eq!(
            ok(doc.clone(), json!([{"op": "add", "path": "/m/x"}]))["m"],
            json!({"x": null})
        );
        // The text before the first '/' is ignored.
        assert_eq!(
            ok(
                doc.clone(),
                json!([{"op": "add", "path": "ignored/m/x", "value": 1}])
            )["m"],
            json!({"x": 1})
        );
        assert_eq!(
            ok(
                doc.clone(),
                json!([{"op": "replace", "path": "", "value": {"n": 1}}])
            ),
            json!({"n": 1})
        );
    }

    #[test]
    fn failures_are_422() {
        let doc = json!({"l": ["a"], "m": {"k": 1}, "s": "x"});
        for (patch, detail) in [
            (
                json!([{"op": "test", "path": "/m/k", "value": 2}]),
                "testing value /m/k failed: test failed",
            ),
            (
                json!([{"op": "test", "path": "/m/x", "value": 2}]),
                "testing value /m/x failed: test failed",
            ),
            (
                json!([{"op": "test", "path": "/m/k"}]),
                "testing value /m/k failed: test failed",
            ),
            (
                json!([{"op": "test", "path": "/n/k", "value": 2}]),
                "test operation does not apply: is missing path: /n/k: missing value",
            ),
            (
                json!([{"op": "remove", "path": "/m/x"}]),
                "error in remove for path: '/m/x': Unable to remove nonexistent key: x: missing value",
            ),
            (
                json!([{"op": "remove", "path": "/l/1"}]),
                "error in remove for path: '/l/1': Unable to access invalid index: 1: invalid index referenced",
            ),
            (
                json!([{"op": "remove", "path": "/l/-2"}]),
                "error in remove for path: '/l/-2': Unable to access invalid index: -2: invalid index referenced",
            ),
            (
                json!([{"op": "add", "path": "/n/x", "value": 1}]),
                "add operation does not apply: doc is missing path: \"/n/x\": missing value",
            ),
            (
                json!([{"op": "add", "path": "/s/x", "value": 1}]),
                "add operation does not apply: doc is missing path: \"/s/x\": missing value",
            ),
            (
                json!([{"op": "add", "path": "/l/2", "value": 1}]),
                "error in add for path: '/l/2': Unable to access invalid index: 2: invalid index referenced",
            ),
            (
                json!([{"op": "add", "path": "/l/x", "value": 1}]),
                "error in add for path: '/l/x': value was not a proper array index: 'x'",
            ),
            (
                json!([{"op": "add", "path": "", "value": 1}]),
                "add operation does not apply: doc is missing path: \"\": missing value",
            ),
            (
                json!([{"op": "add", "value": 1}]),
                "add operation failed to decode path: missing value",
            ),
            (
                json!([{"op": "frob", "path": "/m"}]),
                "Unexpected kind: frob",
            ),
            (json!([{"path": "/m"}]), "Unexpected kind: unknown"),
            (json!([null]), "Unexpected kind: unknown"),
            (
                json!([{"op": "move", "from": "/m/x", "path": "/m/y"}]),
                "error in move for path: 'x': Unable to remove nonexistent key: x: missing value",
            ),
            (
                json!([{"op": "move", "from": "/m", "path": "/m/k/x"}]),
                "move operation does not apply: doc is missing destination path: /m/k/x: missing value",
            ),
            (
                json!([{"op": "copy", "from": "/l/3", "path": "/x"}]),
                "error in copy for from: '/l/3': Unable to access invalid index: 3: invalid index referenced",
            ),
            (
                json!([{"op": "replace", "path": "", "value": 1}]),
                "replace operation value must be object or array",
            ),
        ] {
            assert_eq!(
                jp(doc.clone(), patch.clone()),
                Err((422, detail.to_string())),
                "{patch}"
            );
        }
    }

    #[test]
    fn decoding_errors_are_400() {
        let doc = json!({});
        let bad = |body: &str| {
            let e = apply_json_patch(&doc, body.as_bytes()).unwrap_err();
            (e.code(), e.message())
        };
        assert_eq!(
            bad("[{"),
            (
                400,
                "error decoding patch: unexpected end of JSON input".to_string()
            )
        );
        assert_eq!(
            bad("{}"),
            (400, "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp".to_string())
        );
        assert_eq!(
            bad("[1]"),
            (400, "error decoding patch: json: cannot unmarshal number into Go value of type handlers.jsonPatchOp".to_string())
        );
        assert_eq!(
            bad(r#"[{"op": "add", "path": 1}]"#),
            (400, "error decoding patch: json: cannot unmarshal number into Go struct field jsonPatchOp.path of type string".to_string())
        );
        let many = format!("[{}]", vec![r#"{"op":"test","path":""}"#; 10_001].join(","));
        assert_eq!(
            bad(&many),
            (
                413,
                "The allowed maximum operations in a JSON patch is 10000, got 10001".to_string()
            )
        );
    }

    #[test]
    fn failed_patch_leaves_nothing_half_done() {
        let doc = json!({"a": 1});
        assert!(
            jp(
                doc.clone(),
                json!([{"op": "replace", "path": "/a", "value": 2}, {"op": "remove", "path": "/x"}])
            )
            .is_err()
        );
        assert_eq!(doc, json!({"a": 1}));
    }

    fn mp(doc: Value, patch: Value) -> Value {
        match apply_merge_patch(&doc, patch.to_string().as_bytes()) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn merge_patch_rfc7386() {
        assert_eq!(
            mp(
                json!({"a": "b", "c": {"d": "e", "f": "g"}}),
                json!({"a": "z", "c": {"f": null}})
            ),
            json!({"a": "z", "c": {"d": "e"}})
        );
        assert_eq!(
            mp(json!({"a": [1, 2]}), json!({"a": [3]})),
            json!({"a": [3]})
        );
        assert_eq!(
            mp(json!({"a": 1}), json!({"b": {"c": null, "d": 1}})),
            json!({"a": 1, "b": {"d": 1}})
        );
        assert_eq!(mp(json!({"a": 1}), json!({})), json!({"a": 1}));
    }

    #[test]
    fn merge_patch_evanphx_null_pruning() {
        // New or replaced non-object values: nulls in objects inside arrays are pruned.
        assert_eq!(
            mp(json!({"a": [1]}), json!({"a": [{"x": null, "y": 1}, null]})),
            json!({"a": [{"y": 1}, null]})
        );
        assert_eq!(
            mp(json!({}), json!({"a": [{"x": null}]})),
            json!({"a": [{}]})
        );
        // An object replaced by an array keeps the array as sent.
        assert_eq!(
            mp(json!({"a": {"k": 1}}), json!({"a": [{"x": null}]})),
            json!({"a": [{"x": null}]})
        );
    }

    #[test]
    fn merge_patch_errors() {
        let doc = json!({});
        let bad = |body: &str| {
            let e = apply_merge_patch(&doc, body.as_bytes()).unwrap_err();
            (e.code(), e.message())
        };
        assert_eq!(bad("null"), (400, "Invalid JSON Patch".to_string()));
        assert_eq!(
            bad("\"x\""),
            (400, "error decoding patch: json: cannot unmarshal string into Go value of type map[string]interface {}".to_string())
        );
        assert_eq!(
            bad("{"),
            (
                400,
                "error decoding patch: unexpected end of JSON input".to_string()
            )
        );
    }
}
