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
use crate::status::ApiError;

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

/// The Go type kube-apiserver names in the 406 of a conversion that does not fit the answer
/// (`*core.ConfigMap`, `*apps.DeploymentList`; `*unstructured.Unstructured` for custom
/// resources), so the shadow API's message is the parent's.
fn go_type(resource: &ShadowResource, kind: &str, list: bool) -> String {
    let list = if list { "List" } else { "" };
    if kind == "Scale" {
        // autoscaling's internal Scale; custom resources' scale is autoscaling/v1's.
        return if resource.custom {
            "*v1.Scale"
        } else {
            "*autoscaling.Scale"
        }
        .into();
    }
    if resource.custom {
        return format!("*unstructured.Unstructured{list}");
    }
    let package = match resource.group.split('.').next() {
        Some("") | None => "core",
        Some(first) => first,
    };
    format!("*{package}.{kind}{list}")
}

/// kube-apiserver's answer to a conversion that does not fit the answer.
fn mismatch(resource: &ShadowResource, kind: &str, list: bool) -> ApiError {
    if resource.custom && kind == resource.kind && !list {
        // A custom resource is an Unstructured, which passes for a list until its items are
        // read: kube-apiserver answers with that error's text, as a 500.
        return ApiError::new(crate::status::Reason::Unknown, "content is not a list");
    }
    let go_type = go_type(resource, kind, list);
    ApiError::not_acceptable(if list {
        format!(
            "you requested PartialObjectMetadata, but the requested object is a list ({go_type})"
        )
    } else {
        format!(
            "you requested PartialObjectMetadataList, but the requested object is not a list ({go_type})"
        )
    })
}

impl Rendering<'_> {
    /// One object of the resource.
    pub fn object(&self, object: &Value) -> Result<Value, ApiError> {
        self.object_of_kind(object, &self.resource.kind)
    }

    /// One object of another kind served on the resource's subresources (`Scale`).
    pub fn object_of_kind(&self, object: &Value, kind: &str) -> Result<Value, ApiError> {
        Ok(match self.format {
            ObjectFormat::Json => object.clone(),
            ObjectFormat::Table(v) => self.table.table(
                TableInput::Object(object),
                &table_options(v, self.include_object),
                jiff::Timestamp::now(),
            ),
            ObjectFormat::PartialObjectMetadata(v) => partial_metadata(object, v.as_str()),
            ObjectFormat::PartialObjectMetadataList(_) => {
                return Err(mismatch(self.resource, kind, false));
            }
        })
    }

    /// A list; `list_meta` is the parent's (resourceVersion, continue, remainingItemCount).
    /// Items of built-in kinds are listed without `kind` / `apiVersion`, as kube-apiserver
    /// encodes typed lists; custom resources keep them.
    pub fn list(&self, mut items: Vec<Value>, list_meta: Value) -> Result<Value, ApiError> {
        Ok(match self.format {
            ObjectFormat::Json => {
                if !self.resource.custom {
                    for item in &mut items {
                        if let Some(item) = item.as_object_mut() {
                            item.remove("kind");
                            item.remove("apiVersion");
                        }
                    }
                }
                json!({
                    "apiVersion": format!("{}/{}", crate::shadow::GROUP, crate::shadow::VERSION),
                    "kind": format!("{}List", self.resource.kind),
                    "metadata": list_meta,
                    "items": items,
                })
            }
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
            ObjectFormat::PartialObjectMetadataList(v) => json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": format!("meta.k8s.io/{}", v.as_str()),
                "metadata": list_meta,
                "items": items.iter().map(|o| partial_metadata(o, v.as_str())).collect::<Vec<_>>(),
            }),
            ObjectFormat::PartialObjectMetadata(_) => {
                return Err(mismatch(self.resource, &self.resource.kind, true));
            }
        })
    }

    /// An encoder of watch events for one watch request.
    pub fn watch_encoder(&self) -> EventEncoder {
        match self.format {
            ObjectFormat::Table(v) => EventEncoder::Table(Box::new(WatchTableEncoder::new(
                self.table.clone(),
                table_options(v, self.include_object),
            ))),
            ObjectFormat::PartialObjectMetadata(v) => EventEncoder::Metadata(v),
            ObjectFormat::PartialObjectMetadataList(_) => EventEncoder::Unservable,
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
    /// PartialObjectMetadata, as metadata informers (kube-controller-manager's garbage
    /// collector, quota, namespace controllers) ask for.
    Metadata(TableVersion),
    /// `PartialObjectMetadataList` was asked for: no event object is a list. kube-apiserver
    /// fails to encode the first one and ends the stream; so does the shadow API.
    Unservable,
}

impl EventEncoder {
    /// The rendered object of one event (Status objects of ERROR events pass through); None
    /// when the object cannot be rendered and the stream must end.
    pub fn object(&mut self, object: &Value) -> Option<Value> {
        let status = object["kind"] == "Status";
        match self {
            EventEncoder::Json => Some(object.clone()),
            EventEncoder::Table(encoder) => Some(encoder.object(object, jiff::Timestamp::now())),
            _ if status => Some(object.clone()),
            EventEncoder::Metadata(v) => Some(partial_metadata(object, v.as_str())),
            EventEncoder::Unservable => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negotiate::ObjectFormat::*;

    fn resource(group: &str, kind: &str, custom: bool) -> ShadowResource {
        ShadowResource {
            group: group.into(),
            version: "v1".into(),
            plural: format!("{}s", kind.to_lowercase()),
            singular: kind.to_lowercase(),
            kind: kind.into(),
            namespaced: true,
            short_names: Vec::new(),
            scale: false,
            status: false,
            custom,
            verbs: Vec::new(),
        }
    }

    fn render(r: &ShadowResource, format: ObjectFormat) -> Rendering<'_> {
        static TABLE: std::sync::OnceLock<TableConvertor> = std::sync::OnceLock::new();
        Rendering {
            format,
            resource: r,
            table: TABLE.get_or_init(TableConvertor::default_convertor),
            include_object: IncludeObject::default(),
        }
    }

    #[test]
    fn a_conversion_that_does_not_fit_is_kube_apiservers_406() {
        let cm = resource("", "ConfigMap", false);
        let object = json!({"apiVersion": "shadow/v1alpha1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        let err = render(&cm, PartialObjectMetadataList(TableVersion::V1))
            .object(&object)
            .unwrap_err();
        assert_eq!(err.status_code(), http::StatusCode::NOT_ACCEPTABLE);
        assert_eq!(
            err.message,
            "you requested PartialObjectMetadataList, but the requested object is not a list (*core.ConfigMap)"
        );
        let err = render(&cm, PartialObjectMetadata(TableVersion::V1))
            .list(vec![object.clone()], json!({}))
            .unwrap_err();
        assert_eq!(
            err.message,
            "you requested PartialObjectMetadata, but the requested object is a list (*core.ConfigMapList)"
        );
        let deploy = resource("apps", "Deployment", false);
        let err = render(&deploy, PartialObjectMetadataList(TableVersion::V1))
            .object_of_kind(&object, "Scale")
            .unwrap_err();
        assert!(
            err.message.ends_with("(*autoscaling.Scale)"),
            "{}",
            err.message
        );
        // A custom resource is an Unstructured: kube-apiserver's 500 without a reason.
        let widget = resource("example.com", "Widget", true);
        let err = render(&widget, PartialObjectMetadataList(TableVersion::V1))
            .object(&object)
            .unwrap_err();
        assert_eq!(err.status_code(), http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(err.message, "content is not a list");
        assert!(err.to_status().reason.is_none());
    }

    #[test]
    fn lists_of_built_in_kinds_carry_no_item_kinds() {
        let object = json!({"apiVersion": "shadow/v1alpha1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        let cm = resource("", "ConfigMap", false);
        let list = render(&cm, Json)
            .list(vec![object.clone()], json!({}))
            .unwrap();
        assert_eq!(list["kind"], "ConfigMapList");
        assert_eq!(list["items"][0], json!({"metadata": {"name": "a"}}));
        let widget = resource("example.com", "Widget", true);
        let list = render(&widget, Json)
            .list(vec![object.clone()], json!({}))
            .unwrap();
        assert_eq!(list["items"][0]["apiVersion"], "shadow/v1alpha1");
    }

    #[test]
    fn metadata_watches_get_partial_object_metadata() {
        let cm = resource("", "ConfigMap", false);
        let object = json!({"apiVersion": "shadow/v1alpha1", "kind": "ConfigMap",
            "metadata": {"name": "a", "resourceVersion": "7"}, "data": {"k": "v"}});
        let mut encoder = render(&cm, PartialObjectMetadata(TableVersion::V1)).watch_encoder();
        assert_eq!(
            encoder.object(&object),
            Some(
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"name": "a", "resourceVersion": "7"}})
            )
        );
        let status = json!({"kind": "Status", "apiVersion": "v1", "code": 410});
        assert_eq!(encoder.object(&status), Some(status.clone()));
        // Asked for lists: no event object is one; the stream ends (ERROR events pass).
        let mut encoder = render(&cm, PartialObjectMetadataList(TableVersion::V1)).watch_encoder();
        assert_eq!(encoder.object(&status), Some(status));
        assert_eq!(encoder.object(&object), None);
    }
}
