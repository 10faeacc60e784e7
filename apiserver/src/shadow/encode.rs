//! Rendering shadow objects in the representation the client negotiated: the objects as JSON, a
//! server-side `meta.k8s.io` Table with the columns kube-apiserver prints for the kind (kubectl
//! get, also for each watch event), or `PartialObjectMetadata(List)` (metadata informers of
//! kube-controller-manager).

use clusternet_printers::{
    IncludeObject, ListMeta, TableConvertor, TableInput, TableOptions, WatchTableEncoder,
};
use serde_json::{Value, json};

use crate::negotiate::{ObjectFormat, TableVersion};
use crate::shadow::catalog::ShadowResource;

/// How one response is rendered.
#[derive(Clone, Debug)]
pub struct Rendering<'a> {
    /// Negotiated format.
    pub format: ObjectFormat,
    /// The resource.
    pub resource: &'a ShadowResource,
    /// Its Table columns.
    pub table: &'a TableConvertor,
    /// `includeObject` of Table requests.
    pub include_object: IncludeObject,
}

fn partial_metadata(object: &Value, version: &str) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": format!("meta.k8s.io/{version}"), "metadata": object["metadata"].clone()})
}

fn table_options(version: TableVersion, include_object: IncludeObject) -> TableOptions {
    let version =
        clusternet_printers::TableVersion::from_param(version.as_str()).unwrap_or_default();
    TableOptions {
        version,
        include_object,
        no_headers: false,
    }
}

impl Rendering<'_> {
    /// One object.
    pub fn object(&self, object: &Value) -> Value {
        match self.format {
            ObjectFormat::Json => object.clone(),
            ObjectFormat::Table(v) => self.table.table(
                TableInput::Object(object),
                &table_options(v, self.include_object),
                jiff::Timestamp::now(),
            ),
            ObjectFormat::Metadata(v) => partial_metadata(object, v.as_str()),
        }
    }

    /// A list; `list_meta` is the parent's (resourceVersion, continue, remainingItemCount).
    pub fn list(&self, items: Vec<Value>, list_meta: Value) -> Value {
        match self.format {
            ObjectFormat::Json => json!({
                "apiVersion": format!("{}/{}", crate::shadow::GROUP, crate::shadow::VERSION),
                "kind": format!("{}List", self.resource.kind),
                "metadata": list_meta,
                "items": items,
            }),
            ObjectFormat::Table(v) => {
                let meta = ListMeta::from_json(Some(&list_meta));
                self.table.table(
                    TableInput::Items {
                        items: &items,
                        list_meta: &meta,
                    },
                    &table_options(v, self.include_object),
                    jiff::Timestamp::now(),
                )
            }
            ObjectFormat::Metadata(v) => json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": format!("meta.k8s.io/{}", v.as_str()),
                "metadata": list_meta,
                "items": items.iter().map(|o| partial_metadata(o, v.as_str())).collect::<Vec<_>>(),
            }),
        }
    }

    /// An encoder of watch events for one watch request.
    pub fn watch_encoder(&self) -> EventEncoder {
        match self.format {
            ObjectFormat::Table(v) => EventEncoder::Table(Box::new(WatchTableEncoder::new(
                self.table.clone(),
                table_options(v, self.include_object),
            ))),
            ObjectFormat::Metadata(v) => EventEncoder::Metadata(v),
            ObjectFormat::Json => EventEncoder::Json,
        }
    }
}

/// Renders the objects of one watch stream's events (Tables carry column definitions only in
/// the first event, as kube-apiserver sends them).
pub enum EventEncoder {
    /// Objects as they are.
    Json,
    /// One-row Tables.
    Table(Box<WatchTableEncoder>),
    /// PartialObjectMetadata.
    Metadata(TableVersion),
}

impl EventEncoder {
    /// The rendered object of one event (Status objects of ERROR events pass through).
    pub fn object(&mut self, object: &Value) -> Value {
        match self {
            EventEncoder::Json => object.clone(),
            EventEncoder::Table(encoder) => encoder.object(object, jiff::Timestamp::now()),
            EventEncoder::Metadata(_) if object["kind"] == "Status" => object.clone(),
            EventEncoder::Metadata(v) => partial_metadata(object, v.as_str()),
        }
    }
}
