//! [`TableConvertor`]: picks kube-apiserver's table convertor for a kind and turns objects or
//! lists into [`Table`]s.
//!
//! | Kind | Convertor |
//! |---|---|
//! | built-in kinds with a registered printer (Pod, Deployment, Service, …) | the ported `pkg/printers/internalversion` printer, wide columns included |
//! | `apiregistration.k8s.io` APIService | kube-aggregator's (Name, Service, Available, Age) |
//! | custom resources | [`crate::crd`] over the version's `additionalPrinterColumns` |
//! | everything else (Role, ClusterRole, LimitRange, CSIStorageCapacity, CustomResourceDefinition, unknown kinds) | the default convertor (Name, Created At) |

use serde_json::Value;

use jiff::Timestamp;

use crate::Error;
use crate::builtin::columns::{CREATION_TIMESTAMP_DESC, NAME_DESC};
use crate::builtin::{self, Ctx, Printer};
use crate::crd::{self, CrdTable, PrinterColumn};
use crate::duration::{ZERO_TIME, format_rfc3339, nanos_of, since_nanos};
use crate::obj;
use crate::table::{ColumnDefinition, Table, TableOptions, TableRow};

/// What to convert: one object, a list object, or list items with their list metadata.
#[derive(Clone, Copy, Debug)]
pub enum TableInput<'a> {
    /// A single object (get, and each watch event).
    Object(&'a Value),
    /// A list object (`{"metadata": {...}, "items": [...]}`).
    List(&'a Value),
    /// List items with the list's metadata.
    Items {
        /// The objects.
        items: &'a [Value],
        /// The list's `metadata`.
        list_meta: &'a ListMeta,
    },
}

/// The `ListMeta` fields a Table carries over from a list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListMeta {
    /// `metadata.resourceVersion`.
    pub resource_version: String,
    /// `metadata.continue`.
    pub continue_: String,
    /// `metadata.remainingItemCount`.
    pub remaining_item_count: Option<i64>,
}

impl ListMeta {
    /// Reads the fields from a list's `metadata` object.
    pub fn from_json(metadata: Option<&Value>) -> Self {
        let m = metadata.unwrap_or(&Value::Null);
        ListMeta {
            resource_version: obj::s(m, &["resourceVersion"]).to_string(),
            continue_: obj::s(m, &["continue"]).to_string(),
            remaining_item_count: obj::opt_i(m, &["remainingItemCount"]),
        }
    }
}

#[derive(Clone, Debug)]
enum Kind {
    Builtin(&'static Printer),
    ApiService,
    Crd(CrdTable),
    Default,
}

/// A table convertor for one resource, mirroring the `TableConvertor` kube-apiserver registers
/// for it.
///
/// ```
/// use clusternet_printers::{TableConvertor, TableInput, TableOptions};
/// use serde_json::json;
///
/// let conv = TableConvertor::for_kind("apps", "v1", "Deployment");
/// let names: Vec<_> = conv.column_definitions().iter().map(|c| c.name.to_string()).collect();
/// assert_eq!(names, ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"]);
///
/// let deploy = json!({"metadata": {"name": "web", "creationTimestamp": "2024-01-01T00:00:00Z"},
///                     "spec": {"replicas": 3}, "status": {"readyReplicas": 2}});
/// let now = "2024-01-03T00:00:00Z".parse().unwrap();
/// let table = conv.table(TableInput::Object(&deploy), &TableOptions::default(), now);
/// assert_eq!(table["rows"][0]["cells"][0], "web");
/// assert_eq!(table["rows"][0]["cells"][1], "2/3");
/// assert_eq!(table["rows"][0]["cells"][4], "2d");
/// ```
#[derive(Clone, Debug)]
pub struct TableConvertor {
    kind: Kind,
    api_version: String,
}

static DEFAULT_COLUMNS: [ColumnDefinition; 2] = [
    ColumnDefinition::new("Name", "string", "name", NAME_DESC, 0),
    ColumnDefinition::new("Created At", "date", "", CREATION_TIMESTAMP_DESC, 0),
];

static API_SERVICE_COLUMNS: [ColumnDefinition; 4] = [
    ColumnDefinition::new("Name", "string", "name", NAME_DESC, 0),
    ColumnDefinition::new(
        "Service",
        "string",
        "",
        "The reference to the service that hosts this API endpoint.",
        0,
    ),
    ColumnDefinition::new(
        "Available",
        "string",
        "",
        "Whether this service is available.",
        0,
    ),
    ColumnDefinition::new("Age", "string", "", CREATION_TIMESTAMP_DESC, 0),
];

impl TableConvertor {
    /// The convertor kube-apiserver (or kube-aggregator) uses for a built-in resource of the
    /// given group, version and kind; the default convertor for kinds without a printer.
    /// The version matters only where conversion changes the printed values
    /// (`autoscaling/v1` HorizontalPodAutoscalers); objects carrying `apiVersion` override it.
    pub fn for_kind(group: &str, version: &str, kind: &str) -> Self {
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        let kind = if group == "apiregistration.k8s.io" && kind == "APIService" {
            Kind::ApiService
        } else {
            builtin::printer_for(group, kind).map_or(Kind::Default, Kind::Builtin)
        };
        TableConvertor { kind, api_version }
    }

    /// The convertor of a custom resource version, from its `apiextensions.k8s.io/v1`
    /// CustomResourceDefinition. An invalid column JSONPath does not fail: like kube-apiserver,
    /// the convertor keeps the columns before it (use [`TableConvertor::for_printer_columns`] to
    /// see the error).
    ///
    /// ```
    /// use clusternet_printers::TableConvertor;
    /// use serde_json::json;
    ///
    /// let crd = json!({"metadata": {"name": "widgets.example.com"}, "spec": {"versions": [
    ///     {"name": "v1", "additionalPrinterColumns": [
    ///         {"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]},
    ///     {"name": "v2"}]}});
    /// let v1 = TableConvertor::for_crd(&crd, "v1").unwrap();
    /// assert_eq!(v1.column_definitions().len(), 2); // Name, Size
    /// let v2 = TableConvertor::for_crd(&crd, "v2").unwrap();
    /// assert_eq!(v2.column_definitions()[1].name, "Age");
    /// assert!(TableConvertor::for_crd(&crd, "v3").is_err());
    /// ```
    pub fn for_crd(crd: &Value, version: &str) -> Result<Self, Error> {
        let columns = crd::columns_for_version(crd, version)?;
        let (conv, _) = Self::for_printer_columns(&columns);
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("");
        Ok(TableConvertor {
            api_version: format!("{group}/{version}"),
            ..conv
        })
    }

    /// A custom resource convertor over explicit printer columns (`tableconvertor.New`):
    /// returns the convertor and, if a JSONPath did not parse, the error (the convertor then
    /// holds the columns before the bad one).
    pub fn for_printer_columns(columns: &[PrinterColumn]) -> (Self, Option<Error>) {
        let (table, err) = CrdTable::new(columns);
        (
            TableConvertor {
                kind: Kind::Crd(table),
                api_version: String::new(),
            },
            err,
        )
    }

    /// kube-apiserver's default convertor (`rest.NewDefaultTableConvertor`): Name, Created At.
    pub fn default_convertor() -> Self {
        TableConvertor {
            kind: Kind::Default,
            api_version: String::new(),
        }
    }

    /// Whether this is the default (Name, Created At) convertor.
    pub fn is_default(&self) -> bool {
        matches!(self.kind, Kind::Default)
    }

    /// All column definitions, wide (priority 1) columns included.
    pub fn column_definitions(&self) -> &[ColumnDefinition] {
        match &self.kind {
            Kind::Builtin(p) => p.columns,
            Kind::ApiService => &API_SERVICE_COLUMNS,
            Kind::Crd(t) => &t.headers,
            Kind::Default => &DEFAULT_COLUMNS,
        }
    }

    /// `ConvertToTable`: the rows and metadata of a Table for `input`, with column definitions
    /// unless `no_headers` (kube-aggregator's APIService convertor always includes them).
    pub fn convert<'a>(
        &self,
        input: TableInput<'a>,
        no_headers: bool,
        now: Timestamp,
    ) -> Table<'a> {
        let now = nanos_of(now);
        let (items, list_meta, is_list): (Vec<&'a Value>, ListMeta, bool) = match input {
            TableInput::Object(o) => (
                vec![o],
                ListMeta {
                    resource_version: obj::s(o, &["metadata", "resourceVersion"]).to_string(),
                    ..ListMeta::default()
                },
                false,
            ),
            TableInput::List(l) => (
                obj::arr(l, &["items"]).iter().collect(),
                ListMeta::from_json(l.get("metadata")),
                true,
            ),
            TableInput::Items { items, list_meta } => {
                (items.iter().collect(), list_meta.clone(), true)
            }
        };
        let columns = || Some(self.column_definitions().to_vec());
        let (column_definitions, rows) = match &self.kind {
            Kind::Builtin(p) => {
                let mut items = items;
                if let (Some(order), true) = (p.sort_list, is_list) {
                    items.sort_by(|a, b| order(a, b));
                }
                let rows = items
                    .into_iter()
                    .map(|o| {
                        let cx = Ctx {
                            now,
                            api_version: &self.api_version,
                        };
                        let printed = (p.print)(o, &cx);
                        TableRow {
                            cells: printed.cells,
                            conditions: printed.conditions,
                            object: o,
                        }
                    })
                    .collect();
                (if no_headers { None } else { columns() }, Some(rows))
            }
            Kind::ApiService => {
                let rows = items
                    .into_iter()
                    .map(|o| row(api_service_cells(o, now), o))
                    .collect();
                (columns(), Some(rows))
            }
            Kind::Crd(t) => {
                let rows = items.into_iter().map(|o| row(t.cells(o, now), o)).collect();
                (if no_headers { None } else { columns() }, Some(rows))
            }
            Kind::Default => {
                let rows: Vec<TableRow<'a>> = items
                    .into_iter()
                    .map(|o| {
                        let created = obj::created(o).unwrap_or(ZERO_TIME);
                        row(
                            vec![
                                Value::from(obj::name(o)),
                                Value::from(format_rfc3339(created)),
                            ],
                            o,
                        )
                    })
                    .collect();
                // The default convertor appends to a nil slice: an empty list has `"rows": null`.
                (
                    if no_headers { None } else { columns() },
                    if rows.is_empty() { None } else { Some(rows) },
                )
            }
        };
        Table {
            column_definitions,
            rows,
            resource_version: list_meta.resource_version,
            continue_: list_meta.continue_,
            remaining_item_count: list_meta.remaining_item_count,
        }
    }

    /// The complete Table JSON for `input` as kube-apiserver returns it for `options`.
    pub fn table(&self, input: TableInput<'_>, options: &TableOptions, now: Timestamp) -> Value {
        self.convert(input, options.no_headers, now)
            .to_json(options.version, options.include_object)
    }
}

fn row(cells: Vec<Value>, object: &Value) -> TableRow<'_> {
    TableRow {
        cells,
        conditions: Vec::new(),
        object,
    }
}

/// kube-aggregator's APIService row.
fn api_service_cells(o: &Value, now: crate::duration::Nanos) -> Vec<Value> {
    let service = match obj::get(o, &["spec", "service"]) {
        Some(svc) => format!("{}/{}", obj::s(svc, &["namespace"]), obj::s(svc, &["name"])),
        None => "Local".to_string(),
    };
    let status = match obj::arr(o, &["status", "conditions"])
        .iter()
        .find(|c| obj::s(c, &["type"]) == "Available")
    {
        None => "Unknown".to_string(),
        Some(c) => {
            let st = obj::s(c, &["status"]);
            let reason = obj::s(c, &["reason"]);
            if st == "True" || reason.is_empty() {
                st.to_string()
            } else {
                format!("{st} ({reason})")
            }
        }
    };
    vec![
        Value::from(obj::name(o)),
        Value::from(service),
        Value::from(status),
        Value::from(since_nanos(obj::created(o), now)),
    ]
}
