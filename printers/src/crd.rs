//! The custom resource table convertor (`apiextensions-apiserver`'s `tableconvertor`).
//!
//! Columns are the implicit `Name` column followed by the version's `additionalPrinterColumns`
//! (or, when a version declares none, the logically defaulted `Age` column over
//! `.metadata.creationTimestamp` of type `date`). Each column's `jsonPath` is evaluated with
//! [`crate::jsonpath`]; only the first result is used. Cells are typed like kube-apiserver's:
//!
//! * `string` — the result printed as JSONPath prints it (objects/arrays as JSON, `null` as
//!   `<no value>`);
//! * `integer` — JSON integers, floats truncated; `number` — floats; `boolean` — booleans;
//! * `date` — the age of an RFC 3339 timestamp (`<unknown>` for an empty one, `<invalid>` for a
//!   malformed one);
//! * anything else, a missing value or an evaluation error — `null`.

use std::borrow::Cow;

use serde_json::Value;

use crate::Error;
use crate::builtin::columns::{CREATION_TIMESTAMP_DESC, NAME_DESC};
use crate::duration::{Nanos, is_zero, parse_time, since_nanos};
use crate::gofmt::{GoNumber, go_number};
use crate::jsonpath::{JsonPath, PathValue, print_result};
use crate::table::ColumnDefinition;

/// One `CustomResourceColumnDefinition`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrinterColumn {
    /// Column name.
    pub name: String,
    /// OpenAPI type (`integer`, `number`, `string`, `boolean`, `date`).
    pub type_: String,
    /// Optional OpenAPI format.
    pub format: String,
    /// Optional description; defaulted from the JSONPath when empty.
    pub description: String,
    /// Priority (0 = shown by default, >0 = `-o wide`).
    pub priority: i32,
    /// The JSONPath evaluated against each object.
    pub json_path: String,
}

impl PrinterColumn {
    /// Reads a column from its JSON form (`{"name","type","format","description","priority",
    /// "jsonPath"}`); missing fields are empty.
    pub fn from_json(v: &Value) -> Self {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        PrinterColumn {
            name: s("name"),
            type_: s("type"),
            format: s("format"),
            description: s("description"),
            priority: v.get("priority").and_then(Value::as_i64).unwrap_or(0) as i32,
            json_path: s("jsonPath"),
        }
    }

    /// The column kube-apiserver serves for a version without `additionalPrinterColumns`.
    pub fn default_age() -> Self {
        PrinterColumn {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description: CREATION_TIMESTAMP_DESC.into(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        }
    }
}

/// `apiextensions.GetColumnsForVersion` for an `apiextensions.k8s.io/v1` CRD: the version's
/// `additionalPrinterColumns`, or the default `Age` column when it has none.
pub fn columns_for_version(crd: &Value, version: &str) -> Result<Vec<PrinterColumn>, Error> {
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array);
    let v = versions
        .and_then(|vs| {
            vs.iter()
                .find(|v| v.get("name").and_then(Value::as_str) == Some(version))
        })
        .ok_or_else(|| Error::CrdVersionNotFound {
            crd: crd
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            version: version.to_string(),
        })?;
    let columns: Vec<PrinterColumn> = v
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .map(|cols| cols.iter().map(PrinterColumn::from_json).collect())
        .unwrap_or_default();
    if columns.is_empty() {
        Ok(vec![PrinterColumn::default_age()])
    } else {
        Ok(columns)
    }
}

/// A compiled CRD convertor: header definitions plus one parsed JSONPath per column.
#[derive(Clone, Debug)]
pub(crate) struct CrdTable {
    pub headers: Vec<ColumnDefinition>,
    paths: Vec<JsonPath>,
}

impl CrdTable {
    /// `tableconvertor.New`. On an unparsable JSONPath it returns the columns compiled so far
    /// together with the error, as kube-apiserver does (it logs the error and serves the
    /// partial convertor).
    pub fn new(columns: &[PrinterColumn]) -> (Self, Option<Error>) {
        let mut t = CrdTable {
            headers: vec![ColumnDefinition::new(
                "Name", "string", "name", NAME_DESC, 0,
            )],
            paths: Vec::new(),
        };
        for col in columns {
            let path = match JsonPath::parse(&format!("{{{}}}", col.json_path)) {
                Ok(p) => p,
                Err(_) => return (t, Some(Error::InvalidColumn(col.json_path.clone()))),
            };
            let description = if col.description.is_empty() {
                format!(
                    "Custom resource definition column (in JSONPath format): {}",
                    col.json_path
                )
            } else {
                col.description.clone()
            };
            t.paths.push(path);
            t.headers.push(ColumnDefinition {
                name: Cow::Owned(col.name.clone()),
                type_: Cow::Owned(col.type_.clone()),
                format: Cow::Owned(col.format.clone()),
                description: Cow::Owned(description),
                priority: col.priority,
            });
        }
        (t, None)
    }

    /// The cells of one object: its name, then one cell per column.
    pub fn cells(&self, obj: &Value, now: Nanos) -> Vec<Value> {
        let mut cells = Vec::with_capacity(1 + self.paths.len());
        cells.push(Value::from(crate::obj::name(obj)));
        for (path, header) in self.paths.iter().zip(self.headers.iter().skip(1)) {
            let first = match path.find_results(obj) {
                Ok(results) => results
                    .into_iter()
                    .next()
                    .and_then(|r| r.into_iter().next()),
                Err(_) => None,
            };
            let cell = match first {
                None => Value::Null,
                Some(v) if header.type_ == "string" => Value::from(print_result(&v)),
                Some(v) => cell_for_json_value(&header.type_, &v, now),
            };
            cells.push(cell);
        }
        cells
    }
}

/// `cellForJSONValue`.
fn cell_for_json_value(header_type: &str, v: &PathValue<'_>, now: Nanos) -> Value {
    match (header_type, v) {
        (_, PathValue::Json(Value::Null)) => Value::Null,
        ("integer", PathValue::Json(Value::Number(n))) => match go_number(n) {
            GoNumber::Int(i) => Value::from(i),
            GoNumber::Float(f) => Value::from(f as i64),
        },
        ("integer", PathValue::Float(f)) => Value::from(*f as i64),
        ("number", PathValue::Json(Value::Number(n))) => match go_number(n) {
            GoNumber::Int(i) => float_cell(i as f64),
            GoNumber::Float(f) => float_cell(f),
        },
        ("number", PathValue::Float(f)) => float_cell(*f),
        ("boolean", PathValue::Json(Value::Bool(b)) | PathValue::Bool(b)) => Value::from(*b),
        ("date", PathValue::Json(Value::String(s))) => Value::from(date_cell(s, now)),
        ("date", PathValue::Text(s)) => Value::from(date_cell(s, now)),
        _ => Value::Null,
    }
}

/// A float64 cell; integral values are written without a fraction, as Go's encoder does.
fn float_cell(f: f64) -> Value {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// `metav1.Time.UnmarshalQueryParameter` + `ConvertToHumanReadableDateType`.
fn date_cell(s: &str, now: Nanos) -> String {
    if s.is_empty() || s == "null" {
        return "<unknown>".to_string();
    }
    match parse_time(s) {
        None => "<invalid>".to_string(),
        Some(t) if is_zero(t) => "<unknown>".to_string(),
        Some(t) => since_nanos(Some(t), now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_are_typed() {
        let cols: Vec<PrinterColumn> = [
            json!({"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}),
            json!({"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"}),
            json!({"name": "On", "type": "boolean", "jsonPath": ".spec.on"}),
            json!({"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}),
            json!({"name": "Tags", "type": "string", "jsonPath": ".spec.tags"}),
            json!({"name": "Seen", "type": "date", "jsonPath": ".status.seen"}),
            json!({"name": "Bad", "type": "date", "jsonPath": ".spec.on"}),
            json!({"name": "Missing", "type": "string", "jsonPath": ".spec.nope"}),
        ]
        .iter()
        .map(PrinterColumn::from_json)
        .collect();
        let (t, err) = CrdTable::new(&cols);
        assert!(err.is_none());
        assert_eq!(t.headers.len(), 9);
        assert_eq!(
            t.headers[5].description,
            "Custom resource definition column (in JSONPath format): .spec.tags"
        );
        let obj = json!({"metadata": {"name": "x"},
            "spec": {"replicas": 3.7, "ratio": 2, "on": true, "tags": ["a", "b"]},
            "status": {"seen": "1970-01-01T00:00:00Z", "conditions": [{"type": "Ready", "status": "True"}]}});
        let now = 3 * 86_400 * 1_000_000_000i128;
        assert_eq!(
            t.cells(&obj, now),
            vec![
                json!("x"),
                json!(3),
                json!(2),
                json!(true),
                json!("True"),
                json!(r#"["a","b"]"#),
                json!("3d"),
                Value::Null,
                Value::Null
            ]
        );
    }

    #[test]
    fn invalid_path_keeps_earlier_columns() {
        let cols = vec![
            PrinterColumn::from_json(&json!({"name": "A", "type": "string", "jsonPath": ".a"})),
            PrinterColumn::from_json(&json!({"name": "B", "type": "string", "jsonPath": ".b["})),
        ];
        let (t, err) = CrdTable::new(&cols);
        assert_eq!(t.headers.len(), 2);
        assert_eq!(err, Some(Error::InvalidColumn(".b[".into())));
    }
}
