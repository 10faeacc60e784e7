//! Rendering shadow objects in the representation the client negotiated: the objects as JSON, a
//! server-side `meta.k8s.io` Table (kubectl get), or `PartialObjectMetadata(List)` (metadata
//! informers of kube-controller-manager) — for one object, a list, and each watch event.

use serde_json::{Value, json};

use crate::negotiate::ObjectFormat;
use crate::shadow::catalog::ShadowResource;
use crate::shadow::table;

/// `includeObject` of a Table request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object in rows.
    None,
    /// PartialObjectMetadata in rows (the default).
    Metadata,
    /// The whole object in rows.
    Object,
}

impl IncludeObject {
    /// From the query parameter.
    pub fn parse(value: Option<&str>) -> Self {
        match value {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// How one response is rendered.
#[derive(Clone, Debug)]
pub struct Rendering<'a> {
    /// Negotiated format.
    pub format: ObjectFormat,
    /// The resource.
    pub resource: &'a ShadowResource,
    /// Table rows' object.
    pub include_object: IncludeObject,
}

fn partial_metadata(object: &Value, version: &str) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": format!("meta.k8s.io/{version}"), "metadata": object["metadata"].clone()})
}

impl Rendering<'_> {
    fn row_object(&self, object: &Value) -> Value {
        match self.include_object {
            IncludeObject::None => Value::Null,
            IncludeObject::Metadata => partial_metadata(object, "v1"),
            IncludeObject::Object => object.clone(),
        }
    }

    fn table(
        &self,
        objects: &[Value],
        list_meta: Value,
        with_columns: bool,
        version: &str,
    ) -> Value {
        let (columns, rows) = table::render(self.resource, objects);
        let mut t = json!({
            "kind": "Table",
            "apiVersion": format!("meta.k8s.io/{version}"),
            "metadata": list_meta,
            "columnDefinitions": if with_columns { Value::Array(columns) } else { json!([]) },
            "rows": rows.into_iter().zip(objects).map(|(cells, o)| {
                let mut row = json!({"cells": cells});
                let obj = self.row_object(o);
                if !obj.is_null() {
                    row["object"] = obj;
                }
                row
            }).collect::<Vec<_>>(),
        });
        if !with_columns && let Some(map) = t.as_object_mut() {
            map.remove("columnDefinitions");
        }
        t
    }

    /// One object.
    pub fn object(&self, object: &Value) -> Value {
        match self.format {
            ObjectFormat::Json => object.clone(),
            ObjectFormat::Table(v) => {
                let rv = object["metadata"]["resourceVersion"].clone();
                self.table(
                    std::slice::from_ref(object),
                    json!({"resourceVersion": rv}),
                    true,
                    v.as_str(),
                )
            }
            ObjectFormat::Metadata(v) => partial_metadata(object, v.as_str()),
        }
    }

    /// A list; `list_meta` is the parent's (resourceVersion, continue, remainingItemCount).
    pub fn list(&self, items: Vec<Value>, list_meta: Value) -> Value {
        match self.format {
            ObjectFormat::Json => json!({
                "apiVersion": self.resource.api_version(),
                "kind": format!("{}List", self.resource.kind),
                "metadata": list_meta,
                "items": items,
            }),
            ObjectFormat::Table(v) => self.table(&items, list_meta, true, v.as_str()),
            ObjectFormat::Metadata(v) => json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": format!("meta.k8s.io/{}", v.as_str()),
                "metadata": list_meta,
                "items": items.iter().map(|o| partial_metadata(o, v.as_str())).collect::<Vec<_>>(),
            }),
        }
    }

    /// A watch event's object; tables carry column definitions only in the first event, as
    /// kube-apiserver sends them.
    pub fn event_object(&self, object: &Value, first: bool) -> Value {
        match self.format {
            ObjectFormat::Table(v) => {
                let rv = object["metadata"]["resourceVersion"].clone();
                self.table(
                    std::slice::from_ref(object),
                    json!({"resourceVersion": rv}),
                    first,
                    v.as_str(),
                )
            }
            _ => self.object(object),
        }
    }
}
