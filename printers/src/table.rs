//! The `meta.k8s.io` Table model and its JSON form.
//!
//! [`Table`] mirrors `metav1.Table` before the endpoint handler post-processes it: rows still
//! point at their source objects. [`Table::to_json`] applies what kube-apiserver's `asTable`
//! does for the negotiated group version (`meta.k8s.io/v1` or `v1beta1`) and `includeObject`:
//!
//! * `Object` — the object itself;
//! * `Metadata` (the default) — a `PartialObjectMetadata` of the table's group version holding
//!   the object's `metadata`;
//! * `None` — `null`, except for an object carrying the `k8s.io/initial-events-end: "true"`
//!   bookmark annotation, which gets its `PartialObjectMetadata`.
//!
//! Empty fields follow Go's JSON encoding of `metav1.Table`: `columnDefinitions` is `null` when
//! headers are suppressed, `rows` is `null` only for the default convertor on an empty list,
//! `conditions` is omitted when empty, and `metadata` omits empty `resourceVersion`/`continue`
//! and an unset `remainingItemCount`.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use crate::Error;

/// One `TableColumnDefinition`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDefinition {
    /// Human readable column name (`Name`, `Ready`, …); kubectl upper-cases it.
    pub name: Cow<'static, str>,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: Cow<'static, str>,
    /// OpenAPI format, e.g. `name` for the object name column; empty when none.
    pub format: Cow<'static, str>,
    /// Description shown by `kubectl explain`-style tooling.
    pub description: Cow<'static, str>,
    /// 0 for default columns, higher for `-o wide` columns.
    pub priority: i32,
}

impl ColumnDefinition {
    /// A column definition from static strings.
    pub const fn new(
        name: &'static str,
        type_: &'static str,
        format: &'static str,
        description: &'static str,
        priority: i32,
    ) -> Self {
        Self {
            name: Cow::Borrowed(name),
            type_: Cow::Borrowed(type_),
            format: Cow::Borrowed(format),
            description: Cow::Borrowed(description),
            priority,
        }
    }

    /// The JSON form (`{"name","type","format","description","priority"}`).
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// One `TableRowCondition` (kube-apiserver only sets `Completed` on finished pods).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowCondition {
    /// Condition type, e.g. `Completed`.
    pub type_: Cow<'static, str>,
    /// `True`, `False` or `Unknown`.
    pub status: Cow<'static, str>,
    /// Machine readable reason.
    pub reason: Cow<'static, str>,
    /// Human readable message.
    pub message: Cow<'static, str>,
}

impl RowCondition {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), Value::from(self.type_.as_ref()));
        m.insert("status".into(), Value::from(self.status.as_ref()));
        if !self.reason.is_empty() {
            m.insert("reason".into(), Value::from(self.reason.as_ref()));
        }
        if !self.message.is_empty() {
            m.insert("message".into(), Value::from(self.message.as_ref()));
        }
        Value::Object(m)
    }
}

/// A row: its cells and the object it was printed from.
#[derive(Clone, Debug, PartialEq)]
pub struct TableRow<'a> {
    /// One JSON value per column definition (strings, integers, booleans, numbers or `null`).
    pub cells: Vec<Value>,
    /// Row conditions; usually empty.
    pub conditions: Vec<RowCondition>,
    /// The source object.
    pub object: &'a Value,
}

/// `metav1.Table` as produced by a table convertor.
#[derive(Clone, Debug, PartialEq)]
pub struct Table<'a> {
    /// Column definitions; `None` when headers were suppressed (watch events after the first).
    pub column_definitions: Option<Vec<ColumnDefinition>>,
    /// The rows; `None` encodes as `"rows": null`.
    pub rows: Option<Vec<TableRow<'a>>>,
    /// `metadata.resourceVersion` (of the list, or of the single object).
    pub resource_version: String,
    /// `metadata.continue` of a list.
    pub continue_: String,
    /// `metadata.remainingItemCount` of a list.
    pub remaining_item_count: Option<i64>,
}

/// Which `meta.k8s.io` version the Table is served in (from the `Accept` header's `v=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TableVersion {
    /// `meta.k8s.io/v1`.
    #[default]
    V1,
    /// `meta.k8s.io/v1beta1`.
    V1Beta1,
}

impl TableVersion {
    /// The version named by the `v=` parameter of an `as=Table;g=meta.k8s.io` media type.
    ///
    /// ```
    /// use clusternet_printers::TableVersion;
    /// assert_eq!(TableVersion::from_param("v1beta1"), Some(TableVersion::V1Beta1));
    /// assert_eq!(TableVersion::from_param("v2"), None);
    /// ```
    pub fn from_param(v: &str) -> Option<Self> {
        match v {
            "v1" => Some(TableVersion::V1),
            "v1beta1" => Some(TableVersion::V1Beta1),
            _ => None,
        }
    }

    /// The `apiVersion` string.
    pub fn api_version(self) -> &'static str {
        match self {
            TableVersion::V1 => "meta.k8s.io/v1",
            TableVersion::V1Beta1 => "meta.k8s.io/v1beta1",
        }
    }
}

/// The `includeObject` query parameter (`metav1.IncludeObjectPolicy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IncludeObject {
    /// `None`: rows carry no object.
    None,
    /// `Metadata` (default): rows carry a `PartialObjectMetadata`.
    #[default]
    Metadata,
    /// `Object`: rows carry the full object.
    Object,
}

impl IncludeObject {
    /// Parses the query parameter value; an absent or empty value means `Metadata`.
    ///
    /// ```
    /// use clusternet_printers::IncludeObject;
    /// assert_eq!(IncludeObject::from_query(None).unwrap(), IncludeObject::Metadata);
    /// assert_eq!(IncludeObject::from_query(Some("Object")).unwrap(), IncludeObject::Object);
    /// let err = IncludeObject::from_query(Some("all")).unwrap_err();
    /// assert_eq!(err.http_status(), 400);
    /// assert_eq!(
    ///     err.to_string(),
    ///     "Unable to convert to Table as requested: includeObject: Invalid value: \"all\": \
    ///      must be 'Metadata', 'Object', 'None', or empty"
    /// );
    /// ```
    pub fn from_query(value: Option<&str>) -> Result<Self, Error> {
        match value.unwrap_or("") {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(Error::InvalidIncludeObject(other.to_string())),
        }
    }
}

/// How a Table is requested: the negotiated version, `includeObject`, and whether headers are
/// suppressed (`metav1.TableOptions.NoHeaders`, an internal option kube-apiserver sets for every
/// watch event after the first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TableOptions {
    /// `meta.k8s.io/v1` or `v1beta1`.
    pub version: TableVersion,
    /// What each row's `object` holds.
    pub include_object: IncludeObject,
    /// Omit column definitions (`"columnDefinitions": null`).
    pub no_headers: bool,
}

/// Annotation marking the bookmark that ends a watch-list's initial events.
const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

impl Table<'_> {
    /// The full JSON Table, as kube-apiserver writes it.
    pub fn to_json(&self, version: TableVersion, include_object: IncludeObject) -> Value {
        let mut metadata = Map::new();
        if !self.resource_version.is_empty() {
            metadata.insert(
                "resourceVersion".into(),
                Value::from(self.resource_version.as_str()),
            );
        }
        if !self.continue_.is_empty() {
            metadata.insert("continue".into(), Value::from(self.continue_.as_str()));
        }
        if let Some(n) = self.remaining_item_count {
            metadata.insert("remainingItemCount".into(), Value::from(n));
        }
        let columns = match &self.column_definitions {
            Some(cols) => Value::Array(cols.iter().map(ColumnDefinition::to_json).collect()),
            None => Value::Null,
        };
        let rows = match &self.rows {
            Some(rows) => Value::Array(
                rows.iter()
                    .map(|row| {
                        let mut r = Map::new();
                        r.insert("cells".into(), Value::Array(row.cells.clone()));
                        if !row.conditions.is_empty() {
                            r.insert(
                                "conditions".into(),
                                Value::Array(
                                    row.conditions.iter().map(RowCondition::to_json).collect(),
                                ),
                            );
                        }
                        r.insert(
                            "object".into(),
                            row_object(row.object, version, include_object),
                        );
                        Value::Object(r)
                    })
                    .collect(),
            ),
            None => Value::Null,
        };
        let mut table = Map::new();
        table.insert("kind".into(), Value::from("Table"));
        table.insert("apiVersion".into(), Value::from(version.api_version()));
        table.insert("metadata".into(), Value::Object(metadata));
        table.insert("columnDefinitions".into(), columns);
        table.insert("rows".into(), rows);
        Value::Object(table)
    }
}

/// The `object` of a row after `asTable`'s `includeObject` handling.
fn row_object(object: &Value, version: TableVersion, include: IncludeObject) -> Value {
    let bookmark_end = object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(INITIAL_EVENTS_END))
        .and_then(Value::as_str)
        == Some("true");
    // asTable checks `Object` first; the bookmark annotation only overrides `None`.
    match include {
        IncludeObject::Object => object.clone(),
        IncludeObject::None if !bookmark_end => Value::Null,
        _ => partial_object_metadata(object, version),
    }
}

/// `meta.AsPartialObjectMetadata`: the object's `metadata` as a `PartialObjectMetadata` of the
/// table's group version.
pub fn partial_object_metadata(object: &Value, version: TableVersion) -> Value {
    let mut pom = Map::new();
    pom.insert("kind".into(), Value::from("PartialObjectMetadata"));
    pom.insert("apiVersion".into(), Value::from(version.api_version()));
    pom.insert(
        "metadata".into(),
        Value::Object(object_meta(object.get("metadata"))),
    );
    Value::Object(pom)
}

/// The `ObjectMeta` fields of `metadata`, with Go's `omitempty` applied.
fn object_meta(metadata: Option<&Value>) -> Map<String, Value> {
    const FIELDS: [&str; 15] = [
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    ];
    let mut out = Map::new();
    let Some(Value::Object(m)) = metadata else {
        return out;
    };
    for f in FIELDS {
        let Some(v) = m.get(f) else { continue };
        let empty = match v {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            Value::Number(n) => n.as_f64() == Some(0.0) && f == "generation",
            Value::Bool(_) => false,
        };
        if !empty {
            out.insert(f.to_string(), v.clone());
        }
    }
    out
}
