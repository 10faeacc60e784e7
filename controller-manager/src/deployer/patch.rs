//! Applying overrides (Localization / Globalization `overrides[]`) to a feed, with the semantics
//! of Clusternet's `localizer/patch.go`:
//!
//! * values may be YAML or JSON;
//! * `JSONPatch` (RFC 6902, at most 10 000 operations): a patch whose path does not exist
//!   leaves the document as it is (Go ignores `ErrMissing`); an empty document stays empty;
//! * `MergePatch` (RFC 7386);
//! * `Helm`: values deep-merged into the current values, the override winning (Helm's
//!   `CoalesceTables`); with `overrideChart` the HelmChart object itself is merge-patched;
//! * `FieldJSONPatch` / `FieldMergePatch`: patch a YAML or JSON document held in a string field
//!   (`fieldPath`, e.g. `/data/server.conf`) and write it back;
//! * an empty original with any type but `JSONPatch` takes the override as the document;
//! * every call ends with Clusternet's default overrides, which drop `/metadata/managedFields`,
//!   `/metadata/uid` and `/status`.

use anyhow::{Context, Result, bail};
use clusternet_apis::apps::v1alpha1::{FieldFormatType, OverrideConfig, OverrideType};
use serde_json::{Map, Value, json};

/// The most operations a JSON patch may have.
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// Overrides Clusternet appends to every list before applying it.
pub fn default_overrides() -> Vec<OverrideConfig> {
    [
        ("ignore-metadata-managedFields", "/metadata/managedFields"),
        ("ignore-metadata-uid", "/metadata/uid"),
        ("ignore-status", "/status"),
    ]
    .into_iter()
    .map(|(name, path)| json_patch_override(name, &json!([{"path": path, "op": "remove"}])))
    .collect()
}

/// Overrides applied to the chart overrides of a HelmChart so that they never change the chart
/// name or the target namespace.
pub fn default_chart_overrides() -> Vec<OverrideConfig> {
    [
        ("skip-overriding-chart-name", "/spec/chart"),
        ("skip-overriding-targetNamespace", "/spec/targetNamespace"),
    ]
    .into_iter()
    .map(|(name, path)| json_patch_override(name, &json!([{"path": path, "op": "remove"}])))
    .collect()
}

/// A `JSONPatch` override named `name`.
pub fn json_patch_override(name: &str, patch: &Value) -> OverrideConfig {
    OverrideConfig {
        name: name.into(),
        value: patch.to_string(),
        r#type: OverrideType::JsonPatch,
        override_chart: false,
        field_path: String::new(),
        field_format: None,
    }
}

/// Applies `overrides` (then the default ones) to `generic` (the object, or Helm values) and
/// `chart` (the HelmChart overrides). Empty (blank) inputs stand for "no document yet".
pub fn apply_overrides(
    generic: &[u8],
    chart: &[u8],
    overrides: &[OverrideConfig],
) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut generic = generic.to_vec();
    let mut chart = chart.to_vec();
    let defaults = default_overrides();
    for config in overrides.iter().chain(defaults.iter()) {
        if config.value.trim().is_empty() {
            continue;
        }
        let value = yaml_or_json(&config.value)
            .with_context(|| format!("failed to convert patch {} to JSON", config.value))?;
        let value_bytes = serde_json::to_vec(&value)?;
        if config.override_chart {
            if is_blank(&chart) {
                chart = value_bytes;
                continue;
            }
        } else if is_blank(&generic) && config.r#type != OverrideType::JsonPatch {
            generic = value_bytes;
            continue;
        }
        let failed = |err: anyhow::Error| {
            err.context(format!("failed to apply OverrideConfig {}", config.name))
        };
        match config.r#type {
            OverrideType::Helm if config.override_chart => {
                chart = merge_patch(&chart, &value).map_err(failed)?;
            }
            OverrideType::Helm => generic = helm_values(&generic, &value).map_err(failed)?,
            OverrideType::JsonPatch => generic = json_patch(&generic, &value).map_err(failed)?,
            OverrideType::MergePatch => generic = merge_patch(&generic, &value).map_err(failed)?,
            OverrideType::FieldJsonPatch | OverrideType::FieldMergePatch => {
                generic = field_patch(&generic, config, &value).map_err(failed)?;
            }
        }
    }
    Ok((generic, chart))
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// Parses a YAML or JSON document (JSON is YAML).
pub fn yaml_or_json(text: &str) -> Result<Value> {
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    Ok(serde_saphyr::from_str::<Value>(text)?)
}

/// Applies a JSON patch. A blank document stays blank; a patch touching a path that does not
/// exist leaves the document unchanged (Go's `ErrMissing`).
pub fn json_patch(doc: &[u8], patch: &Value) -> Result<Vec<u8>> {
    if is_blank(doc) {
        return Ok(doc.to_vec());
    }
    let ops: json_patch::Patch =
        serde_json::from_value(patch.clone()).context("invalid JSON patch")?;
    if ops.0.len() > MAX_JSON_PATCH_OPERATIONS {
        bail!(
            "the allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {}",
            ops.0.len()
        );
    }
    let mut value: Value = serde_json::from_slice(doc)?;
    match json_patch::patch(&mut value, &ops) {
        Ok(()) => Ok(serde_json::to_vec(&value)?),
        Err(err) if matches!(err.kind, json_patch::PatchErrorKind::InvalidPointer) => {
            Ok(doc.to_vec())
        }
        Err(err) => Err(err.into()),
    }
}

/// Applies a JSON merge patch (RFC 7386).
pub fn merge_patch(doc: &[u8], patch: &Value) -> Result<Vec<u8>> {
    let mut value: Value = if is_blank(doc) {
        Value::Null
    } else {
        serde_json::from_slice(doc)?
    };
    json_patch::merge(&mut value, patch);
    Ok(serde_json::to_vec(&value)?)
}

/// Merges Helm values: `overrides` win; nested tables are merged; a `null` override removes
/// the key (Helm's `CoalesceTables(overrides, current)`).
pub fn helm_values(current: &[u8], overrides: &Value) -> Result<Vec<u8>> {
    let current: Map<String, Value> = if is_blank(current) {
        Map::new()
    } else {
        serde_json::from_slice(current)?
    };
    let Value::Object(overrides) = overrides.clone() else {
        bail!("Helm values must be a map");
    };
    Ok(serde_json::to_vec(&coalesce(overrides, &current))?)
}

fn coalesce(mut dst: Map<String, Value>, src: &Map<String, Value>) -> Map<String, Value> {
    for (key, value) in src {
        match dst.get_mut(key) {
            Some(Value::Null) => {
                dst.remove(key);
            }
            None => {
                dst.insert(key.clone(), value.clone());
            }
            Some(Value::Object(dv)) => {
                if let Value::Object(sv) = value {
                    *dv = coalesce(std::mem::take(dv), sv);
                }
            }
            Some(_) => {}
        }
    }
    dst.retain(|_, v| !v.is_null());
    dst
}

/// Patches the YAML/JSON document held in the string field `config.field_path`.
fn field_patch(doc: &[u8], config: &OverrideConfig, patch: &Value) -> Result<Vec<u8>> {
    let object: Value = serde_json::from_slice(doc)?;
    let field = find_string_field(&object, &config.field_path)?;
    if field.is_empty() {
        return Ok(doc.to_vec());
    }
    let format = config.field_format.unwrap_or_default();
    let current = match format {
        FieldFormatType::Json => serde_json::from_str::<Value>(&field)?,
        FieldFormatType::Yaml => serde_saphyr::from_str::<Value>(&field)?,
    };
    let current_bytes = serde_json::to_vec(&current)?;
    let patched: Value = if config.r#type == OverrideType::FieldJsonPatch {
        serde_json::from_slice(&json_patch(&current_bytes, patch)?)?
    } else {
        serde_json::from_slice(&merge_patch(&current_bytes, patch)?)?
    };
    let text = match format {
        FieldFormatType::Json => {
            let mut out = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
            serde::Serialize::serialize(&patched, &mut ser)?;
            String::from_utf8(out)?
        }
        FieldFormatType::Yaml => serde_saphyr::to_string(&patched)?,
    };
    json_patch(
        doc,
        &json!([{"op": "replace", "path": config.field_path, "value": text}]),
    )
}

fn find_string_field(object: &Value, path: &str) -> Result<String> {
    let Some(rest) = path.strip_prefix('/') else {
        bail!("invalid fieldPath {path}, should start with /");
    };
    let mut cur = object;
    for part in rest.split('/') {
        cur = match cur {
            Value::Object(map) => map.get(part).unwrap_or(&Value::Null),
            Value::Array(items) => {
                let idx: usize = part.parse().with_context(|| {
                    format!("object is a array, but convert field {part} to number")
                })?;
                items.get(idx).unwrap_or(&Value::Null)
            }
            _ => bail!("object is not a string or array, cannot index by field {part}"),
        };
    }
    match cur {
        Value::String(s) => Ok(s.clone()),
        other => bail!("field value index by path {path} is not a string, but {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(kind: OverrideType, value: &str) -> OverrideConfig {
        OverrideConfig {
            name: "test".into(),
            value: value.into(),
            r#type: kind,
            override_chart: false,
            field_path: String::new(),
            field_format: None,
        }
    }

    fn apply(doc: Value, overrides: &[OverrideConfig]) -> Value {
        let (out, _) = apply_overrides(&serde_json::to_vec(&doc).unwrap(), b"", overrides).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn defaults_drop_uid_managed_fields_and_status() {
        let out = apply(
            json!({"metadata": {"name": "a", "uid": "x", "managedFields": []}, "status": {"a": 1}, "spec": {}}),
            &[],
        );
        assert_eq!(out, json!({"metadata": {"name": "a"}, "spec": {}}));
    }

    #[test]
    fn later_overrides_win_and_yaml_is_accepted() {
        let out = apply(
            json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"replicas": 1}}),
            &[
                config(
                    OverrideType::MergePatch,
                    "spec:\n  replicas: 2\nmetadata:\n  labels:\n    y: \"2\"\n",
                ),
                config(
                    OverrideType::JsonPatch,
                    r#"[{"op":"replace","path":"/spec/replicas","value":3}]"#,
                ),
                config(
                    OverrideType::MergePatch,
                    r#"{"metadata":{"labels":{"x":null}}}"#,
                ),
            ],
        );
        assert_eq!(
            out,
            json!({"metadata": {"name": "a", "labels": {"y": "2"}}, "spec": {"replicas": 3}})
        );
    }

    #[test]
    fn json_patch_on_a_missing_path_changes_nothing() {
        let doc = json!({"spec": {"a": 1}});
        let out = apply(
            doc.clone(),
            &[config(
                OverrideType::JsonPatch,
                r#"[{"op":"replace","path":"/spec/a","value":2},{"op":"replace","path":"/nope/x","value":1}]"#,
            )],
        );
        assert_eq!(out, doc, "the whole patch is dropped, as Go does");
    }

    #[test]
    fn too_many_operations_fail() {
        let ops: Vec<Value> = (0..=MAX_JSON_PATCH_OPERATIONS)
            .map(|_| json!({"op": "add", "path": "/a", "value": 1}))
            .collect();
        let err = apply_overrides(
            b"{}",
            b"",
            &[config(
                OverrideType::JsonPatch,
                &Value::from(ops).to_string(),
            )],
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("maximum operations"), "{err:#}");
    }

    #[test]
    fn empty_original_takes_the_override() {
        let (out, _) =
            apply_overrides(b" ", b" ", &[config(OverrideType::Helm, "replicaCount: 2")]).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&out).unwrap(),
            json!({"replicaCount": 2})
        );
        // but a JSON patch on nothing stays nothing
        let (out, _) = apply_overrides(
            b" ",
            b" ",
            &[config(
                OverrideType::JsonPatch,
                r#"[{"op":"add","path":"/a","value":1}]"#,
            )],
        )
        .unwrap();
        assert!(is_blank(&out));
    }

    #[test]
    fn helm_values_coalesce() {
        let (out, _) = apply_overrides(
            br#"{"image":{"tag":"1","repo":"r"},"keep":true,"drop":1}"#,
            b"",
            &[config(
                OverrideType::Helm,
                r#"{"image":{"tag":"2"},"drop":null,"new":"n"}"#,
            )],
        )
        .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&out).unwrap(),
            json!({"image": {"tag": "2", "repo": "r"}, "keep": true, "new": "n"})
        );
    }

    #[test]
    fn override_chart_merges_into_the_chart() {
        let mut c = config(OverrideType::Helm, r#"{"spec":{"version":"2"}}"#);
        c.override_chart = true;
        let (_, chart) =
            apply_overrides(b" ", br#"{"spec":{"version":"1","repo":"r"}}"#, &[c]).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&chart).unwrap(),
            json!({"spec": {"version": "2", "repo": "r"}})
        );
    }

    #[test]
    fn field_patches() {
        let doc =
            json!({"data": {"conf.json": "{\"a\": 1, \"b\": 2}", "conf.yaml": "a: 1\nb: 2\n"}});
        let mut merge = config(OverrideType::FieldMergePatch, r#"{"b": 3}"#);
        merge.field_path = "/data/conf.json".into();
        merge.field_format = Some(FieldFormatType::Json);
        let mut jp = config(
            OverrideType::FieldJsonPatch,
            r#"[{"op":"remove","path":"/a"}]"#,
        );
        jp.field_path = "/data/conf.yaml".into();
        let out = apply(doc, &[merge, jp]);
        let json_field: Value =
            serde_json::from_str(out["data"]["conf.json"].as_str().unwrap()).unwrap();
        assert_eq!(json_field, json!({"a": 1, "b": 3}));
        assert!(
            out["data"]["conf.json"]
                .as_str()
                .unwrap()
                .contains("\n    \"a\"")
        );
        let yaml_field: Value =
            serde_saphyr::from_str(out["data"]["conf.yaml"].as_str().unwrap()).unwrap();
        assert_eq!(yaml_field, json!({"b": 2}));
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(
            apply_overrides(
                b"{}",
                b"",
                &[config(OverrideType::JsonPatch, "{not: [valid")]
            )
            .is_err()
        );
        let mut f = config(OverrideType::FieldMergePatch, "{}");
        f.field_path = "data".into();
        assert!(apply_overrides(br#"{"data":"x"}"#, b"", &[f]).is_err());
    }
}
