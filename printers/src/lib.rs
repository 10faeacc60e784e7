//! Server-side `meta.k8s.io` Table printing for the Clusternet hub's shadow API.
//!
//! `kubectl get` asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints the
//! columns the server returns. kube-apiserver computes those columns with a per-resource table
//! convertor; this crate reproduces them over JSON objects (`serde_json::Value`), so shadow
//! resources print exactly like the real resources:
//!
//! * built-in kinds — ports of Kubernetes v1.36 `pkg/printers/internalversion` (column
//!   definitions generated from the Go source, cells computed the same way, wide columns
//!   included as kube-apiserver always generates them);
//! * custom resources — the apiextensions table convertor over the CRD version's
//!   `additionalPrinterColumns` with Kubernetes' [`jsonpath`] dialect;
//! * everything else — the default convertor (Name, Created At); APIServices use
//!   kube-aggregator's.
//!
//! Everything is pure: "now" is a parameter, nothing does IO, and malformed or missing fields
//! print as Kubernetes prints zero values (`<none>`, `<unknown>`, `0`, …) instead of failing.
//!
//! # Use from the hub
//!
//! ```
//! use clusternet_printers::{IncludeObject, TableConvertor, TableInput, TableOptions, TableVersion,
//!                           WatchTableEncoder};
//! use serde_json::json;
//!
//! let now: jiff::Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
//! // Negotiated from the Accept header and the `includeObject` query parameter.
//! let options = TableOptions {
//!     version: TableVersion::V1,
//!     include_object: IncludeObject::from_query(Some("Metadata")).unwrap(),
//!     no_headers: false,
//! };
//! let conv = TableConvertor::for_kind("apps", "v1", "Deployment");
//!
//! // list
//! let list = json!({"apiVersion": "apps/v1", "kind": "DeploymentList",
//!                   "metadata": {"resourceVersion": "42"},
//!                   "items": [{"metadata": {"name": "web", "creationTimestamp": "2024-05-01T11:00:00Z"},
//!                              "spec": {"replicas": 2}}]});
//! let table = conv.table(TableInput::List(&list), &options, now);
//! assert_eq!(table["kind"], "Table");
//! assert_eq!(table["metadata"]["resourceVersion"], "42");
//! assert_eq!(table["rows"][0]["cells"][4], "60m");
//! assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
//!
//! // get
//! let table = conv.table(TableInput::Object(&list["items"][0]), &options, now);
//! assert_eq!(table["rows"].as_array().map(Vec::len), Some(1));
//!
//! // watch: one encoder per watch request
//! let mut watch = WatchTableEncoder::new(conv.clone(), options);
//! let event = watch.event("ADDED", &list["items"][0], now);
//! assert_eq!(event["type"], "ADDED");
//! assert!(event["object"]["columnDefinitions"].is_array());
//! ```

mod builtin;
mod convertor;
pub mod crd;
pub mod duration;
mod error;
mod gofmt;
pub mod jsonpath;
pub mod labels;
mod obj;
pub mod quantity;
pub mod table;
mod watch;

pub use convertor::{ListMeta, TableConvertor, TableInput};
pub use crd::PrinterColumn;
pub use error::Error;
pub use table::{
    ColumnDefinition, IncludeObject, RowCondition, Table, TableOptions, TableRow, TableVersion,
};
pub use watch::WatchTableEncoder;
