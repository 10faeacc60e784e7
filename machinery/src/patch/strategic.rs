//! Strategic merge patch, as kube-apiserver applies it.
//!
//! A port of `k8s.io/apimachinery/pkg/util/strategicpatch` `StrategicMergeMapPatch` (v0.36)
//! with the server-side options (`MergeParallelList`, `IgnoreUnmatchedNulls`):
//!
//! * maps merge recursively; `null` deletes a key (and nulls inside newly added values are
//!   dropped);
//! * lists whose field has patch strategy `merge` merge: lists of maps by the merge key (items of
//!   the patch that are new go first, unless `$setElementOrder` says otherwise), lists of scalars
//!   as a set union; all other lists are replaced;
//! * `$patch: replace` (map or list item) replaces, `$patch: delete` deletes a map or the list
//!   item with the same merge key, `$patch: merge` in a list is an error;
//! * `$setElementOrder/<list>` orders a merged list, `$deleteFromPrimitiveList/<list>` removes
//!   scalars, `$retainKeys` drops the keys of a map that are not listed.
//!
//! Errors carry kube-apiserver's message and HTTP code ([`SmpError::code`]): the malformed-directive
//! errors `strategicpatch` defines as sentinels are 400, "lists of lists" is 422, anything else
//! reaches the client as a 500 with the Go error text.
//!
//! Two things kube-apiserver gets from decoding the result into a typed object are done here
//! generically: directive keys left in raw patch content (items appended to a merged list, a
//! `$patch: replace`d value) are removed. What typed decoding does beyond that — rejecting
//! values of the wrong type, dropping unknown fields, defaulting — is not done.
//!
//! ```
//! use clusternet_apimachinery::patch::{PatchMeta, PathPatchMeta, strategic_merge_patch};
//! use serde_json::json;
//!
//! let table = [("spec.containers", PatchMeta::merge("name"))].into_iter().collect();
//! let schema = PathPatchMeta::new(&table);
//! let pod = json!({"spec": {"containers": [{"name": "app", "image": "nginx:1.25"},
//!                                          {"name": "sidecar", "image": "busybox"}]}});
//! let patch = json!({"spec": {"containers": [{"name": "app", "image": "nginx:1.26"},
//!                                            {"name": "sidecar", "$patch": "delete"}]}});
//! let patched = strategic_merge_patch(&pod, &patch, &schema).unwrap();
//! assert_eq!(patched, json!({"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}}));
//! ```

use serde_json::{Map, Value};

use crate::gofmt::{self, GoType};
use crate::patch::gosort::stable_sort;
use crate::patch::meta::{LookupError, LookupPatchMeta};

const DIRECTIVE_MARKER: &str = "$patch";
const DELETE_DIRECTIVE: &str = "delete";
const REPLACE_DIRECTIVE: &str = "replace";
const MERGE_DIRECTIVE: &str = "merge";
const RETAIN_KEYS_STRATEGY: &str = "retainKeys";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

const ERR_BAD_JSON_DOC: &str = "invalid JSON document";
const ERR_NO_LIST_OF_LISTS: &str = "lists of lists are not supported";
const ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER_LIST: &str =
    "invalid patch format of setElementOrder list";

/// A strategic merge patch that could not be applied. `Display` is kube-apiserver's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SmpError {
    /// A malformed patch or directive (`mergepatch.ErrBad...`): 400 BadRequest.
    #[error("{0}")]
    BadRequest(String),
    /// Lists of lists: 422 Invalid.
    #[error("{0}")]
    Unprocessable(String),
    /// Any other error: kube-apiserver answers 500 with the error text as message and an empty
    /// (unknown) reason.
    #[error("{0}")]
    Internal(String),
}

impl SmpError {
    /// The HTTP status code kube-apiserver answers with.
    pub fn code(&self) -> u16 {
        match self {
            SmpError::BadRequest(_) => 400,
            SmpError::Unprocessable(_) => 422,
            SmpError::Internal(_) => 500,
        }
    }
}

impl From<LookupError> for SmpError {
    fn from(e: LookupError) -> Self {
        SmpError::Internal(e.0)
    }
}

type Result<T> = std::result::Result<T, SmpError>;

/// `mergepatch.ErrBadArgType`: `%s` of `reflect.TypeOf`, which is `%!s(<nil>)` for `nil`.
fn bad_arg_type(expected: GoType, actual: &Value) -> SmpError {
    let actual = match GoType::of(actual) {
        GoType::Nil => "%!s(<nil>)",
        other => other.name(),
    };
    SmpError::Internal(format!(
        "expected a {}, but received a {actual}",
        expected.name()
    ))
}

fn no_merge_key(m: &Map<String, Value>, key: &str) -> SmpError {
    SmpError::Internal(format!(
        "map: {} does not contain declared merge key: {key}",
        gofmt::v(&Value::Object(m.clone()))
    ))
}

fn bad_patch_type(t: &Value, m: &Map<String, Value>) -> SmpError {
    SmpError::Internal(format!(
        "unknown patch type: {} in map: {}",
        gofmt::s(t),
        gofmt::v(&Value::Object(m.clone()))
    ))
}

/// Applies `patch` to `original` (both JSON objects) the way kube-apiserver applies a
/// `application/strategic-merge-patch+json` body, with patch metadata from `schema`.
///
/// A `null` patch changes nothing; any other non-object patch is a 400 with Go's decoding
/// message.
pub fn strategic_merge_patch<S: LookupPatchMeta>(
    original: &Value,
    patch: &Value,
    schema: &S,
) -> Result<Value> {
    let Value::Object(original) = original else {
        return Err(SmpError::BadRequest(ERR_BAD_JSON_DOC.to_string()));
    };
    let patch = match patch {
        Value::Object(p) => p.clone(),
        Value::Null => Map::new(),
        other => {
            return Err(SmpError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                gofmt::json_kind(other)
            )));
        }
    };
    let merged = merge_map(original.clone(), patch, schema)?;
    let mut merged = Value::Object(merged);
    strip_directives(&mut merged);
    Ok(merged)
}

/// Removes directive keys left in raw patch content, as decoding into a typed object does.
fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| {
                !(k == DIRECTIVE_MARKER
                    || k == RETAIN_KEYS_DIRECTIVE
                    || k.starts_with("$setElementOrder/")
                    || k.starts_with("$deleteFromPrimitiveList/"))
            });
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

fn merge_map<S: LookupPatchMeta>(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: &S,
) -> Result<Map<String, Value>> {
    if let Some(directive) = patch.get(DIRECTIVE_MARKER).cloned() {
        return handle_directive_in_merge_map(&directive, patch);
    }
    apply_retain_keys_directive(&mut original, &mut patch)?;
    merge_patch_into_original(&mut original, &mut patch, schema)?;

    for (key, patch_v) in patch {
        let mut k = key;
        let mut is_delete_list = false;
        if k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
            let original_key = extract_key(&k, DELETE_FROM_PRIMITIVE_LIST_PREFIX)?;
            is_delete_list = true;
            if !original_key.is_empty() {
                k = original_key;
            }
        }

        if patch_v.is_null() {
            original.remove(&k);
            continue;
        }

        let Some(original_v) = original.get(&k) else {
            if !is_delete_list {
                set_from_patch(&mut original, k, patch_v);
            }
            continue;
        };

        let original_type = GoType::of(original_v);
        if original_type != GoType::of(&patch_v) {
            if !is_delete_list {
                set_from_patch(&mut original, k, patch_v);
            }
            continue;
        }

        match (original.remove(&k), patch_v) {
            (Some(Value::Object(o)), Value::Object(p)) => {
                let (sub, meta) = schema.lookup_struct(&k)?;
                let (_, strategy) = extract_retain_keys_patch_strategy(meta.strategies())?;
                let merged = if strategy != REPLACE_DIRECTIVE {
                    merge_map(o, p, &sub)?
                } else {
                    p
                };
                original.insert(k, Value::Object(merged));
            }
            (Some(Value::Array(o)), Value::Array(p)) => {
                let (sub, meta) = schema.lookup_slice(&k)?;
                let (_, strategy) = extract_retain_keys_patch_strategy(meta.strategies())?;
                let merged = merge_slice_handler(
                    o,
                    p,
                    &sub,
                    &strategy,
                    meta.merge_key_str(),
                    is_delete_list,
                )?;
                original.insert(k, Value::Array(merged));
            }
            (_, patch_v) => set_from_patch(&mut original, k, patch_v),
        }
    }
    Ok(original)
}

/// Sets `original[k]` to the patch value without its nulls and directives (or deletes it if
/// the value itself is a directive).
fn set_from_patch(original: &mut Map<String, Value>, k: String, mut patch_v: Value) {
    discard_null_values(&mut patch_v);
    match remove_directives(patch_v) {
        Some(v) => {
            original.insert(k, v);
        }
        None => {
            original.remove(&k);
        }
    }
}

fn handle_directive_in_merge_map(
    directive: &Value,
    mut patch: Map<String, Value>,
) -> Result<Map<String, Value>> {
    match directive.as_str() {
        Some(REPLACE_DIRECTIVE) => {
            patch.remove(DIRECTIVE_MARKER);
            Ok(patch)
        }
        Some(DELETE_DIRECTIVE) => Ok(Map::new()),
        _ => Err(bad_patch_type(directive, &patch)),
    }
}

fn discard_null_values(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(discard_null_values);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_null_values),
        _ => {}
    }
}

/// `removeDirectives`: `None` if the value itself is a `$patch` map; maps with `$patch` are
/// removed from maps and lists below.
fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE_MARKER) {
                return None;
            }
            Some(Value::Object(
                m.into_iter()
                    .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                    .collect(),
            ))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

fn extract_key(s: &str, prefix: &str) -> Result<String> {
    match s.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest.to_string()),
        _ => Err(SmpError::BadRequest(
            if prefix == DELETE_FROM_PRIMITIVE_LIST_PREFIX {
                ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST
            } else {
                ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER_LIST
            }
            .to_string(),
        )),
    }
}

fn apply_retain_keys_directive(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<()> {
    let Some(retain) = patch.remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(SmpError::BadRequest(
            ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS.to_string(),
        ));
    };
    let retained = |k: &str| retain.iter().any(|v| v.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            || k.starts_with(SET_ELEMENT_ORDER_PREFIX)
        {
            continue;
        }
        if !retained(k) {
            return Err(SmpError::BadRequest(
                ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS.to_string(),
            ));
        }
    }
    original.retain(|k, _| retained(k));
    Ok(())
}

fn as_list(v: &Value) -> Result<&Vec<Value>> {
    match v {
        Value::Array(items) => Ok(items),
        other => Err(bad_arg_type(GoType::Slice, other)),
    }
}

/// Processes every `$setElementOrder/<list>` directive together with `<list>` of the patch.
fn merge_patch_into_original<S: LookupPatchMeta>(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: &S,
) -> Result<()> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER_PREFIX))
        .cloned()
        .collect();
    for key in keys {
        let Some(set_order) = patch.remove(&key) else {
            continue;
        };
        let Value::Array(set_order) = set_order else {
            return Err(bad_arg_type(GoType::Slice, &set_order));
        };
        let original_key = extract_key(&key, SET_ELEMENT_ORDER_PREFIX)?;
        let original_list = original
            .get(&original_key)
            .map(as_list)
            .transpose()?
            .cloned();
        let patch_list = patch.get(&original_key).map(as_list).transpose()?.cloned();
        let (sub, meta) = schema.lookup_slice(&original_key)?;
        let (_, strategy) = extract_retain_keys_patch_strategy(meta.strategies())?;
        let merge_key = meta.merge_key_str();
        validate_patch_with_set_order_list(
            patch_list.as_deref().unwrap_or_default(),
            &set_order,
            merge_key,
        )?;

        let server_order = original_list.clone().unwrap_or_default();
        let merged = match (original_list, patch_list.clone()) {
            (Some(o), None) => o,
            (None, Some(p)) => match remove_directives(Value::Array(p)) {
                Some(Value::Array(items)) => items,
                _ => continue,
            },
            (Some(o), Some(p)) => merge_slice_handler(o, p, &sub, &strategy, merge_key, false)?,
            (None, None) => continue,
        };

        let (patch_items, server_only) = if merge_key.is_empty() {
            partition_primitives_by_present_in_list(merged, &set_order)
        } else {
            partition_maps_by_present_in_list(merged, &set_order, merge_key)?
        };
        let kind = slice_element_type(&[&server_order, patch_list.as_deref().unwrap_or_default()])?;
        let both = normalize_element_order(
            patch_items,
            server_only,
            &set_order,
            &server_order,
            merge_key,
            kind,
        )?;
        original.insert(original_key.clone(), Value::Array(both));
        patch.remove(&original_key);
    }
    Ok(())
}

fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    set_order: &[Value],
    merge_key: &str,
) -> Result<()> {
    if set_order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete = if merge_key.is_empty() {
        patch_list.to_vec()
    } else {
        extract_to_delete_items(patch_list.to_vec())?.0
    };
    let (mut p, mut s) = (0, 0);
    while p < non_delete.len() && s < set_order.len() {
        if contains_directive_marker(&non_delete[p]) {
            p += 1;
            continue;
        }
        if merge_key_value_equal(&non_delete[p], &set_order[s], merge_key)? {
            p += 1;
        }
        s += 1;
    }
    if p < non_delete.len() && s >= set_order.len() {
        return Err(SmpError::Internal(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER_PREFIX} list:\n{}\n",
            gofmt::v_slice(patch_list),
            gofmt::v_slice(set_order)
        )));
    }
    Ok(())
}

fn contains_directive_marker(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.contains_key(DIRECTIVE_MARKER))
}

fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let Value::Object(l) = left else {
        return Err(bad_arg_type(GoType::Map, left));
    };
    let Value::Object(r) = right else {
        return Err(bad_arg_type(GoType::Map, right));
    };
    let lv = l.get(merge_key).ok_or_else(|| no_merge_key(l, merge_key))?;
    let rv = r.get(merge_key).ok_or_else(|| no_merge_key(r, merge_key))?;
    Ok(lv == rv)
}

/// Splits a list of maps into the items without and with `$patch: delete`.
fn extract_to_delete_items(list: Vec<Value>) -> Result<(Vec<Value>, Vec<Value>)> {
    let (mut keep, mut delete) = (Vec::new(), Vec::new());
    for v in list {
        let Value::Object(m) = &v else {
            return Err(bad_arg_type(GoType::Map, &v));
        };
        if m.get(DIRECTIVE_MARKER).and_then(Value::as_str) == Some(DELETE_DIRECTIVE) {
            delete.push(v);
        } else {
            keep.push(v);
        }
    }
    Ok((keep, delete))
}

fn merge_slice_handler<S: LookupPatchMeta>(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: &S,
    strategy: &str,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>> {
    if strategy == MERGE_DIRECTIVE || is_delete_list {
        merge_slice(original, patch, schema, merge_key, is_delete_list)
    } else {
        Ok(patch)
    }
}

fn merge_slice<S: LookupPatchMeta>(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: &S,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = slice_element_type(&[&original, &patch])?;
    let (original, patch, merged) = if kind != GoType::Map {
        if is_delete_list {
            return Ok(delete_from_slice(original, &patch));
        }
        let mut both = original.clone();
        both.extend(patch.iter().cloned());
        (original, patch, deduplicate_scalars(both))
    } else {
        if merge_key.is_empty() {
            return Err(SmpError::Internal(format!(
                "cannot merge lists without merge key for {}",
                schema.name()
            )));
        }
        let (original, patch) = merge_slice_with_special_elements(original, patch, merge_key)?;
        let merged =
            merge_slice_without_special_elements(original.clone(), &patch, merge_key, schema)?;
        (original, patch, merged)
    };
    let (patch_items, server_only) = if merge_key.is_empty() {
        partition_primitives_by_present_in_list(merged, &patch)
    } else {
        partition_maps_by_present_in_list(merged, &patch, merge_key)?
    };
    normalize_element_order(patch_items, server_only, &patch, &original, merge_key, kind)
}

/// Handles `$patch` items of a list of maps: deletions are applied to `original`, `replace`
/// makes the remaining patch items the list. Returns the new original and the patch items
/// without directives.
fn merge_slice_with_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut without = Vec::new();
    let mut replace = false;
    for v in patch {
        let Value::Object(m) = &v else {
            return Err(bad_arg_type(GoType::Map, &v));
        };
        match m.get(DIRECTIVE_MARKER) {
            None => without.push(v),
            Some(directive) => match directive.as_str() {
                Some(DELETE_DIRECTIVE) => match m.get(merge_key) {
                    Some(value) => {
                        original = delete_matching_entries(original, merge_key, value)?;
                    }
                    None => return Err(no_merge_key(m, merge_key)),
                },
                Some(REPLACE_DIRECTIVE) => replace = true,
                Some(MERGE_DIRECTIVE) => {
                    return Err(SmpError::Internal(
                        "merging lists cannot yet be specified in the patch".to_string(),
                    ));
                }
                _ => return Err(bad_patch_type(directive, m)),
            },
        }
    }
    if replace {
        Ok((without, Vec::new()))
    } else {
        Ok((original, without))
    }
}

fn delete_matching_entries(
    mut original: Vec<Value>,
    merge_key: &str,
    value: &Value,
) -> Result<Vec<Value>> {
    while let Some(i) = find_map_in_slice_based_on_key_value(&original, merge_key, value)? {
        original.remove(i);
    }
    Ok(original)
}

fn merge_slice_without_special_elements<S: LookupPatchMeta>(
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: &str,
    schema: &S,
) -> Result<Vec<Value>> {
    for v in patch {
        let Value::Object(m) = v else {
            return Err(bad_arg_type(GoType::Map, v));
        };
        let Some(value) = m.get(merge_key) else {
            return Err(no_merge_key(m, merge_key));
        };
        match find_map_in_slice_based_on_key_value(&original, merge_key, value)? {
            Some(i) => {
                let Value::Object(o) = std::mem::take(&mut original[i]) else {
                    return Err(SmpError::Internal(format!(
                        "value for key {i} is not a map"
                    )));
                };
                original[i] = Value::Object(merge_map(o, m.clone(), schema)?);
            }
            None => original.push(v.clone()),
        }
    }
    Ok(original)
}

fn delete_from_slice(current: Vec<Value>, to_delete: &[Value]) -> Vec<Value> {
    current
        .into_iter()
        .filter(|v| !to_delete.contains(v))
        .collect()
}

fn find_map_in_slice_based_on_key_value(
    list: &[Value],
    key: &str,
    value: &Value,
) -> Result<Option<usize>> {
    for (i, v) in list.iter().enumerate() {
        let Value::Object(m) = v else {
            return Err(SmpError::Internal(format!(
                "value for key {i} is not a map"
            )));
        };
        if m.get(key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Go's in-place de-duplication (it moves the last element into a duplicate's slot).
fn deduplicate_scalars(mut s: Vec<Value>) -> Vec<Value> {
    let mut length = s.len() as isize - 1;
    let mut i: isize = 0;
    while i < length {
        let mut j = i + 1;
        while j <= length {
            if s[i as usize] == s[j as usize] {
                s[j as usize] = s[length as usize].clone();
                s.truncate(length as usize);
                length -= 1;
                j -= 1;
            }
            j += 1;
        }
        i += 1;
    }
    s
}

fn partition_primitives_by_present_in_list(
    list: Vec<Value>,
    partition_by: &[Value],
) -> (Vec<Value>, Vec<Value>) {
    list.into_iter().partition(|v| partition_by.contains(v))
}

fn partition_maps_by_present_in_list(
    list: Vec<Value>,
    partition_by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let (mut patch, mut server_only) = (Vec::new(), Vec::new());
    for v in list {
        let Value::Object(m) = &v else {
            return Err(bad_arg_type(GoType::Map, &v));
        };
        let Some(value) = m.get(merge_key) else {
            return Err(no_merge_key(m, merge_key));
        };
        if find_map_in_slice_based_on_key_value(partition_by, merge_key, value)?.is_some() {
            patch.push(v);
        } else {
            server_only.push(v);
        }
    }
    Ok((patch, server_only))
}

/// The (common) type of the elements of the lists; lists of lists are not supported.
fn slice_element_type(slices: &[&[Value]]) -> Result<GoType> {
    let mut prev: Option<GoType> = None;
    for slice in slices {
        for v in *slice {
            let current = GoType::of(v);
            match prev {
                None => {
                    if current == GoType::Slice {
                        return Err(SmpError::Unprocessable(ERR_NO_LIST_OF_LISTS.to_string()));
                    }
                    prev = Some(current);
                }
                Some(p) if p != current => {
                    let rendered: Vec<String> = slices.iter().map(|s| gofmt::v_slice(s)).collect();
                    return Err(SmpError::Internal(format!(
                        "list element types are not identical: [{}]",
                        rendered.join(" ")
                    )));
                }
                Some(_) => {}
            }
        }
    }
    prev.ok_or_else(|| SmpError::Internal("no elements in any of the given slices".to_string()))
}

fn validate_merge_key_in_lists(merge_key: &str, lists: &[&[Value]]) -> Result<()> {
    for list in lists {
        for item in *list {
            let Value::Object(m) = item else {
                return Err(bad_arg_type(GoType::Map, item));
            };
            if !m.contains_key(merge_key) {
                return Err(no_merge_key(m, merge_key));
            }
        }
    }
    Ok(())
}

/// `index`: the position of `value` in `list`, by merge key value for maps.
fn index(list: &[Value], value: &Value, merge_key: &str, kind: GoType) -> Option<usize> {
    if kind == GoType::Map {
        let key_of = |v: &Value| v.as_object().and_then(|m| m.get(merge_key)).cloned();
        let wanted = key_of(value);
        list.iter().position(|v| key_of(v) == wanted)
    } else {
        list.iter().position(|v| v == value)
    }
}

fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: GoType,
) -> Result<Vec<Value>> {
    let patch = normalize_slice_order(patch, patch_order, merge_key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, kind)?;
    Ok(merge_sorted_slice(
        server_only,
        patch,
        server_order,
        merge_key,
        kind,
    ))
}

fn normalize_slice_order(
    mut to_sort: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    kind: GoType,
) -> Result<Vec<Value>> {
    let mut to_delete = Vec::new();
    if kind == GoType::Map {
        validate_merge_key_in_lists(merge_key, &[&to_sort, order])?;
        (to_sort, to_delete) = extract_to_delete_items(to_sort)?;
    }
    stable_sort(&mut to_sort, &|a: &Value, b: &Value| {
        if let Some(ia) = index(order, a, merge_key, kind)
            && let Some(ib) = index(order, b, merge_key, kind)
        {
            return ia < ib;
        }
        true
    });
    to_sort.extend(to_delete);
    Ok(to_sort)
}

/// Interleaves the server-only items (`left`) into the patch items (`right`), keeping both
/// relative orders and placing server-only items before patch items that come later in the
/// server's order.
fn merge_sorted_slice(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    kind: GoType,
) -> Vec<Value> {
    let less = |l: &Value, r: &Value| -> bool {
        match (
            index(server_order, l, merge_key, kind),
            index(server_order, r, merge_key, kind),
        ) {
            (Some(li), Some(ri)) => li < ri,
            _ => false,
        }
    };
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => less(l, r),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

fn extract_retain_keys_patch_strategy(strategies: &[String]) -> Result<(bool, String)> {
    match strategies {
        [] => Ok((false, String::new())),
        [single] if single == RETAIN_KEYS_STRATEGY => Ok((true, String::new())),
        [single] => Ok((false, single.clone())),
        [a, b] if a == RETAIN_KEYS_STRATEGY => Ok((true, b.clone())),
        [a, b] if b == RETAIN_KEYS_STRATEGY => Ok((true, a.clone())),
        _ => Err(SmpError::Internal(format!(
            "unexpected patch strategy: [{}]",
            strategies.join(" ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::patch::meta::{NoPatchMeta, PatchMeta, PathPatchMeta};

    fn table() -> BTreeMap<&'static str, PatchMeta> {
        [
            ("containers", PatchMeta::merge("name")),
            ("containers.[].env", PatchMeta::merge("name")),
            ("finalizers", PatchMeta::merge("")),
            ("volumes", PatchMeta::new("merge,retainKeys", "name")),
            ("strategy", PatchMeta::new("retainKeys", "")),
            ("replaced", PatchMeta::new("replace", "")),
            ("bad", PatchMeta::new("merge,replace", "")),
        ]
        .into_iter()
        .collect()
    }

    fn smp(original: Value, patch: Value) -> Result<Value> {
        let t = table();
        strategic_merge_patch(&original, &patch, &PathPatchMeta::new(&t))
    }

    fn ok(original: Value, patch: Value) -> Value {
        match smp(original, patch) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn maps_merge_and_null_deletes() {
        assert_eq!(
            ok(
                json!({"a": {"b": 1, "c": 2}, "d": 3}),
                json!({"a": {"b": null, "e": {"f": null, "g": 1}}, "d": null, "x": null})
            ),
            json!({"a": {"c": 2, "e": {"g": 1}}})
        );
        // Type changes replace; scalars replace.
        assert_eq!(
            ok(json!({"a": [1]}), json!({"a": {"b": 1}})),
            json!({"a": {"b": 1}})
        );
        assert_eq!(ok(json!({"a": 1}), json!({"a": "x"})), json!({"a": "x"}));
        assert_eq!(ok(json!({"a": 1}), json!(null)), json!({"a": 1}));
    }

    #[test]
    fn lists_without_strategy_are_replaced() {
        assert_eq!(
            ok(json!({"args": ["a", "b"]}), json!({"args": ["c"]})),
            json!({"args": ["c"]})
        );
        let none = strategic_merge_patch(
            &json!({"containers": [{"name": "a"}]}),
            &json!({"containers": [{"name": "b"}]}),
            &NoPatchMeta,
        )
        .unwrap();
        assert_eq!(none, json!({"containers": [{"name": "b"}]}));
    }

    #[test]
    fn merge_by_key_puts_new_items_first() {
        assert_eq!(
            ok(
                json!({"containers": [{"name": "a", "image": "1"}, {"name": "b"}]}),
                json!({"containers": [{"name": "c"}, {"name": "a", "image": "2"}]})
            ),
            json!({"containers": [{"name": "c"}, {"name": "a", "image": "2"}, {"name": "b"}]})
        );
    }

    #[test]
    fn nested_merge_lists() {
        assert_eq!(
            ok(
                json!({"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y"}]}]}),
                json!({"containers": [{"name": "a", "env": [{"name": "X", "value": "2"}, {"name": "Y", "$patch": "delete"}]}]})
            ),
            json!({"containers": [{"name": "a", "env": [{"name": "X", "value": "2"}]}]})
        );
    }

    #[test]
    fn primitive_merge_lists_are_set_unions() {
        assert_eq!(
            ok(
                json!({"finalizers": ["a", "b"]}),
                json!({"finalizers": ["c", "a"]})
            ),
            json!({"finalizers": ["c", "a", "b"]})
        );
        assert_eq!(
            ok(
                json!({"finalizers": ["a", "b", "c"]}),
                json!({"$deleteFromPrimitiveList/finalizers": ["b", "z"]})
            ),
            json!({"finalizers": ["a", "c"]})
        );
        assert_eq!(
            ok(
                json!({"finalizers": ["a", "b"]}),
                json!({"$setElementOrder/finalizers": ["b", "c", "a"], "finalizers": ["c"]})
            ),
            json!({"finalizers": ["b", "c", "a"]})
        );
        // Deletion lists work whatever the field's strategy is.
        assert_eq!(
            ok(
                json!({"args": ["a", "b"]}),
                json!({"$deleteFromPrimitiveList/args": ["a"]})
            ),
            json!({"args": ["b"]})
        );
        // ... and ignore missing lists.
        assert_eq!(
            ok(json!({}), json!({"$deleteFromPrimitiveList/args": ["a"]})),
            json!({})
        );
    }

    #[test]
    fn directives() {
        assert_eq!(
            ok(
                json!({"m": {"a": 1, "b": 2}}),
                json!({"m": {"$patch": "replace", "c": 3}})
            ),
            json!({"m": {"c": 3}})
        );
        assert_eq!(
            ok(json!({"m": {"a": 1}}), json!({"m": {"$patch": "delete"}})),
            json!({"m": {}})
        );
        assert_eq!(ok(json!({}), json!({"m": {"$patch": "delete"}})), json!({}));
        assert_eq!(
            ok(
                json!({"containers": [{"name": "a"}, {"name": "b"}]}),
                json!({"containers": [{"name": "c", "x": {"$patch": "delete"}}, {"$patch": "replace"}]})
            ),
            json!({"containers": [{"name": "c", "x": {}}]})
        );
        assert_eq!(
            ok(json!({"replaced": {"a": 1}}), json!({"replaced": {"b": 2}})),
            json!({"replaced": {"b": 2}})
        );
    }

    #[test]
    fn set_element_order_for_maps() {
        assert_eq!(
            ok(
                json!({"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}),
                json!({"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]})
            ),
            json!({"containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]})
        );
        // Server-only items go before the first ordered item that follows them on the server.
        assert_eq!(
            ok(
                json!({"containers": [{"name": "a"}, {"name": "s"}, {"name": "b"}]}),
                json!({"$setElementOrder/containers": [{"name": "b"}, {"name": "n"}, {"name": "a"}],
                       "containers": [{"name": "n"}]})
            ),
            json!({"containers": [{"name": "s"}, {"name": "b"}, {"name": "n"}, {"name": "a"}]})
        );
    }

    #[test]
    fn retain_keys() {
        assert_eq!(
            ok(
                json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}),
                json!({"strategy": {"$retainKeys": ["type"], "type": "Recreate"}})
            ),
            json!({"strategy": {"type": "Recreate"}})
        );
        assert_eq!(
            ok(
                json!({"volumes": [{"name": "v", "emptyDir": {}}]}),
                json!({"volumes": [{"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/"}}]})
            ),
            json!({"volumes": [{"name": "v", "hostPath": {"path": "/"}}]})
        );
    }

    #[test]
    fn leftover_directives_are_removed() {
        // A new item of a merged list is appended raw, with its directives; typed decoding in
        // kube-apiserver drops them, and so does the cleanup here.
        assert_eq!(
            ok(
                json!({"containers": [{"name": "a"}]}),
                json!({"containers": [{"name": "b", "$setElementOrder/env": [{"name": "X"}],
                                       "env": [{"name": "X"}], "$retainKeys": ["name", "env"]}]})
            ),
            json!({"containers": [{"name": "b", "env": [{"name": "X"}]}, {"name": "a"}]})
        );
    }

    fn err(original: Value, patch: Value) -> (u16, String) {
        match smp(original, patch) {
            Ok(v) => panic!("unexpected success: {v}"),
            Err(e) => (e.code(), e.to_string()),
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            err(
                json!({"containers": [{"name": "a"}]}),
                json!({"containers": [{"image": "x"}]})
            ),
            (
                500,
                "map: map[image:x] does not contain declared merge key: name".into()
            )
        );
        assert_eq!(
            err(json!({"m": {}}), json!({"m": {"$patch": "foo"}})),
            (
                500,
                "unknown patch type: foo in map: map[$patch:foo]".into()
            )
        );
        assert_eq!(
            err(json!({"m": {}}), json!({"m": {"$patch": 1}})),
            (
                500,
                "unknown patch type: %!s(int64=1) in map: map[$patch:1]".into()
            )
        );
        assert_eq!(
            err(
                json!({"containers": [{"name": "a"}]}),
                json!({"containers": [{"$patch": "merge"}]})
            ),
            (
                500,
                "merging lists cannot yet be specified in the patch".into()
            )
        );
        assert_eq!(
            err(
                json!({"strategy": {}}),
                json!({"strategy": {"$retainKeys": ["a"], "b": 1}})
            ),
            (400, "invalid patch format of retainKeys".into())
        );
        assert_eq!(
            err(
                json!({"strategy": {}}),
                json!({"strategy": {"$retainKeys": "a"}})
            ),
            (400, "invalid patch format of retainKeys".into())
        );
        assert_eq!(
            err(json!({}), json!({"$setElementOrder": []})),
            (400, "invalid patch format of setElementOrder list".into())
        );
        assert_eq!(
            err(json!({}), json!({"$deleteFromPrimitiveList": []})),
            (400, "invalid patch format of primitive list".into())
        );
        assert_eq!(
            err(json!({}), json!({"$setElementOrder/x": "a"})),
            (
                500,
                "expected a []interface {}, but received a string".into()
            )
        );
        assert_eq!(
            err(
                json!({"finalizers": [["a"]]}),
                json!({"finalizers": [["b"]]})
            ),
            (422, "lists of lists are not supported".into())
        );
        assert_eq!(
            err(json!({"finalizers": ["a"]}), json!({"finalizers": [1]})),
            (
                500,
                "list element types are not identical: [[a] [1]]".into()
            )
        );
        assert_eq!(
            err(json!({"bad": {}}), json!({"bad": {"a": 1}})),
            (500, "unexpected patch strategy: [merge replace]".into())
        );
        assert_eq!(
            err(
                json!({"containers": [{"name": "a"}, {"name": "b"}]}),
                json!({"$setElementOrder/containers": [{"name": "a"}],
                       "containers": [{"name": "b", "image": "x"}]})
            ),
            (500, "The order in patch list:\n[map[image:x name:b]]\n doesn't match $setElementOrder list:\n[map[name:a]]\n".into())
        );
        assert_eq!(
            err(
                json!({"containers": [1]}),
                json!({"containers": [{"name": "a"}]})
            ),
            (
                500,
                "list element types are not identical: [[1] [map[name:a]]]".into()
            )
        );
        let e = strategic_merge_patch(&json!({}), &json!([1]), &NoPatchMeta).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string()),
            (
                400,
                "json: cannot unmarshal array into Go value of type map[string]interface {}".into()
            )
        );
    }

    #[test]
    fn dedup_like_go() {
        let v = |s: &[&str]| s.iter().map(|x| json!(x)).collect::<Vec<_>>();
        assert_eq!(
            deduplicate_scalars(v(&["a", "b", "a", "c"])),
            v(&["a", "b", "c"])
        );
        assert_eq!(
            deduplicate_scalars(v(&["a", "a", "b", "c"])),
            v(&["a", "c", "b"])
        );
        assert_eq!(deduplicate_scalars(v(&[])), v(&[]));
    }
}
