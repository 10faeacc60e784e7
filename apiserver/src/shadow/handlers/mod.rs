//! The verbs of shadow resources, on Manifests in the parent.
//!
//! - **get** reads the Manifest; **list** and **watch** list and watch Manifests with the
//!   resource's labels plus the caller's label selector (and `metadata.name` /
//!   `metadata.namespace` field selectors mapped to the name/namespace labels). Paging
//!   (`limit`/`continue`), `resourceVersion`/`resourceVersionMatch`, bookmarks,
//!   `sendInitialEvents` and 410 Expired are the parent's own, passed through.
//! - **create** validates with a server-side dry-run of the real kind on the parent (in the
//!   reserved namespace, as Clusternet does, so the target namespace need not exist there), then
//!   stores the defaulted, trimmed result. **update** and **patch** validate the same way, and
//!   write with the Manifest's resourceVersion, so a stale update is a 409.
//! - **delete** / **deletecollection** delete Manifests; the `status` subresource is read-only
//!   (405 on writes, as Clusternet), `scale` maps `spec.replicas` to an `autoscaling/v1 Scale`.

mod delete;
mod patch;
mod read;
mod scale;
mod write;

use delete::*;
use patch::*;
use read::*;
use scale::*;
use write::*;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::body::{self, Body};
use crate::negotiate::object_format;
use crate::request_info::{RequestInfo, query_pairs};
use crate::shadow::Mirrored;
use crate::shadow::catalog::ShadowResource;
use crate::shadow::encode::Rendering;
use crate::shadow::parent::Parent;
use crate::shadow::store;
use crate::status::{ApiError, GroupResource};

/// Largest request body accepted (kube-apiserver's default).
const MAX_BODY: usize = 3 * 1024 * 1024;
/// How often a patch is retried when the object changes underneath it.
const PATCH_RETRIES: usize = 5;

/// What the shadow handlers share.
#[derive(Debug)]
pub struct State {
    /// The parent.
    pub parent: Parent,
    /// Namespace of the Manifests.
    pub reserved_namespace: String,
}

/// One shadow request, decoded.
struct Call<'a> {
    state: &'a State,
    resource: &'a ShadowResource,
    patch_schema: &'a Option<crate::shadow::PatchSchema>,
    info: &'a RequestInfo,
    query: Vec<(String, String)>,
}

impl Call<'_> {
    fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn group_resource(&self) -> GroupResource {
        GroupResource::new(crate::shadow::GROUP, self.resource.plural.clone())
    }

    fn manifests_path(&self) -> String {
        format!(
            "/apis/apps.clusternet.io/v1alpha1/namespaces/{}/manifests",
            self.state.reserved_namespace
        )
    }

    fn manifest_path(&self, name: &str) -> String {
        let manifest = store::manifest_name(self.resource, &self.info.namespace, name);
        format!("{}/{}", self.manifests_path(), percent_encode(&manifest))
    }

    fn namespace(&self) -> Option<&str> {
        (self.resource.namespaced && !self.info.namespace.is_empty())
            .then_some(self.info.namespace.as_str())
    }

    /// The Manifest label selector for this request (resource, namespace, caller's labels and
    /// field selectors).
    fn label_selector(&self) -> Result<String, ApiError> {
        let mut terms = store::selector_terms(self.resource, self.namespace());
        if let Some(fields) = self.param("fieldSelector").filter(|s| !s.trim().is_empty()) {
            terms.extend(field_selector_terms(fields)?);
        }
        if let Some(labels) = self.param("labelSelector").filter(|s| !s.trim().is_empty()) {
            terms.insert(0, labels.to_string());
        }
        Ok(terms.join(","))
    }

    /// The query for listing/watching Manifests: our selector plus the parameters the parent
    /// implements for us.
    fn list_query(&self, watch: bool) -> Result<String, ApiError> {
        let mut q = vec![("labelSelector".to_string(), self.label_selector()?)];
        for key in [
            "limit",
            "continue",
            "resourceVersion",
            "resourceVersionMatch",
            "timeoutSeconds",
            "allowWatchBookmarks",
            "sendInitialEvents",
        ] {
            if let Some(v) = self.param(key) {
                q.push((key.into(), v.into()));
            }
        }
        if watch {
            q.push(("watch".into(), "true".into()));
        }
        Ok(encode_query(&q))
    }

    fn not_found(&self, name: &str) -> ApiError {
        ApiError::not_found(&self.group_resource(), name)
    }

    /// Reads the Manifest of `name`, checking it is of this resource.
    async fn get_manifest(&self, name: &str) -> Result<Value, ApiError> {
        let answer = self
            .state
            .parent
            .call(Method::GET, &self.manifest_path(name), None)
            .await
            .map_err(|e| match e.status_code() {
                StatusCode::NOT_FOUND => self.not_found(name),
                _ => e,
            })?;
        let manifest = answer.json()?;
        let kind = manifest["metadata"]["labels"][clusternet_apis::known::CONFIG_KIND_LABEL]
            .as_str()
            .unwrap_or_default();
        if kind != self.resource.kind {
            return Err(self.not_found(name));
        }
        Ok(manifest)
    }
}

fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn encode_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Field selector terms as Manifest label terms: only `metadata.name` and
/// `metadata.namespace` are supported, as for CRDs.
pub fn field_selector_terms(selector: &str) -> Result<Vec<String>, ApiError> {
    use clusternet_apimachinery::fields::{FieldOperator, FieldSelector};
    let parsed = FieldSelector::parse(selector).map_err(|e| ApiError::bad_request(e.message()))?;
    parsed
        .restrict_to_metadata()
        .map_err(|e| ApiError::bad_request(e.message()))?;
    Ok(parsed
        .terms()
        .iter()
        .map(|term| {
            let label = if term.field == "metadata.name" {
                clusternet_apis::known::CONFIG_NAME_LABEL
            } else {
                clusternet_apis::known::CONFIG_NAMESPACE_LABEL
            };
            let op = match term.operator {
                FieldOperator::Equals => "=",
                FieldOperator::NotEquals => "!=",
            };
            format!("{label}{op}{}", term.value)
        })
        .collect())
}

fn respond(
    status: StatusCode,
    value: &Value,
    content_type: &str,
) -> Result<Response<Body>, ApiError> {
    let bytes = serde_json::to_vec(value).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(crate::router::json(status, bytes, content_type))
}

/// Handles one shadow request for `resource`.
pub async fn handle(
    state: &State,
    mirrored: &Mirrored,
    req: Request<Body>,
    info: &RequestInfo,
) -> Result<Response<Body>, ApiError> {
    let resource = &mirrored.resource;
    let query: Vec<(String, String)> = query_pairs(req.uri().query().unwrap_or("")).collect();
    let call = Call {
        state,
        resource,
        patch_schema: &mirrored.patch_schema,
        info,
        query,
    };
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let tables = info.subresource != "status" || resource.status_has_table();
    let format = object_format(accept.as_deref(), tables)?;
    let include_object =
        clusternet_printers::IncludeObject::from_query(call.param("includeObject"))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let rendering = Rendering {
        format,
        resource,
        table: &mirrored.table,
        include_object,
    };
    // `/namespaces/{name}` reads as namespace {name}: for Namespace objects that is the name.
    let namespace_object =
        resource.group.is_empty() && resource.plural == "namespaces" && info.namespace == info.name;
    let scale_rendering = Rendering {
        table: &mirrored.scale_table,
        ..rendering.clone()
    };
    if !resource.namespaced && !info.namespace.is_empty() && !namespace_object {
        return Err(ApiError::path_not_found());
    }
    let sub = info.subresource.as_str();
    // The verbs of the parent's resource, no more (Namespaces have no deletecollection).
    if sub.is_empty() && !resource.serves(&info.verb) {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    match (info.verb.as_str(), sub) {
        ("get", "" | "status") => get(&call, &rendering).await,
        ("get", "scale") if resource.scale => get_scale(&call, &scale_rendering).await,
        ("list", "") => list_objects(&call, &rendering).await,
        ("watch", "") => watch(&call, &rendering).await,
        ("create", "") => {
            let body = read_object(req, &content_type).await?;
            create(&call, &rendering, body).await
        }
        ("update", "") => {
            let body = read_object(req, &content_type).await?;
            update(&call, &rendering, body).await
        }
        ("patch", "") => {
            let patch = read_body(req).await?;
            match clusternet_apimachinery::patch::PatchType::from_content_type(&content_type) {
                Some(kind) if kind.is_apply() => {
                    apply(&call, &rendering, &content_type, &patch).await
                }
                _ => patch_object(&call, &rendering, &content_type, &patch).await,
            }
        }
        ("update", "scale") if resource.scale => {
            let body = read_object(req, &content_type).await?;
            set_replicas(&call, &scale_rendering, &body).await
        }
        ("patch", "scale") if resource.scale => {
            let patch = read_body(req).await?;
            patch_scale(&call, &scale_rendering, &content_type, &patch).await
        }
        ("update" | "patch", "status") if resource.status => {
            Err(ApiError::method_not_allowed(format!(
                "Clusternet does not allow to {} status of {} through the shadow API",
                info.verb, resource.plural
            )))
        }
        ("delete", "") => {
            let options = read_body(req).await?;
            delete(&call, &rendering, options).await
        }
        ("deletecollection", "") => {
            let options = read_body(req).await?;
            delete_collection(&call, &rendering, options).await
        }
        (_, "") => Err(ApiError::method_not_allowed(format!(
            "{} is not supported on {}.{}",
            info.verb,
            resource.plural,
            crate::shadow::GROUP
        ))),
        _ => Err(ApiError::path_not_found()),
    }
}

async fn read_body(req: Request<Body>) -> Result<Bytes, ApiError> {
    body::read_limited(req.into_body(), MAX_BODY)
        .await
        .map_err(|e| match e {
            body::ReadError::TooLarge => {
                ApiError::too_large(format!("the request body exceeds {MAX_BODY} bytes"))
            }
            body::ReadError::Io(msg) => ApiError::bad_request(msg),
        })
}

/// Decodes a JSON or YAML object body.
fn decode_object(bytes: &[u8], content_type: &str) -> Result<Value, ApiError> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let value: Value = match media.as_str() {
        "application/json" | "" | "*/*" => serde_json::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(format!("the body of the request is not valid JSON: {e}"))
        })?,
        "application/yaml" => serde_saphyr::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(format!("the body of the request is not valid YAML: {e}"))
        })?,
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be an object",
        ));
    }
    Ok(value)
}

async fn read_object(req: Request<Body>, content_type: &str) -> Result<Value, ApiError> {
    let bytes = read_body(req).await?;
    decode_object(&bytes, content_type)
}

/// Checks apiVersion, kind, namespace and name of a body against the request, and sets the
/// original apiVersion and the request's namespace.
fn check_object(
    call: &Call<'_>,
    object: &mut Value,
    name_in_path: Option<&str>,
) -> Result<(), ApiError> {
    let api_version = object["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let shadow_gv = format!("{}/{}", crate::shadow::GROUP, crate::shadow::VERSION);
    if api_version != call.resource.api_version() && api_version != shadow_gv {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({} or {shadow_gv})",
            call.resource.api_version()
        )));
    }
    let kind = object["kind"].as_str().unwrap_or_default();
    if kind != call.resource.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            call.resource.kind
        )));
    }
    object["apiVersion"] = call.resource.api_version().into();
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    if call.resource.namespaced {
        let ns = object["metadata"]["namespace"].as_str().unwrap_or_default();
        if !ns.is_empty() && ns != call.info.namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        object["metadata"]["namespace"] = call.info.namespace.clone().into();
    }
    if let Some(name) = name_in_path {
        let body_name = object["metadata"]["name"].as_str().unwrap_or_default();
        if body_name.is_empty() {
            object["metadata"]["name"] = name.into();
        } else if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
    }
    Ok(())
}

/// Validates `object` with a dry-run create of the real kind on the parent; returns the
/// defaulted object, trimmed, back in the caller's namespace and name.
async fn validate(call: &Call<'_>, object: &Value) -> Result<Value, ApiError> {
    let skip = object["metadata"]["annotations"]
        [clusternet_apis::known::SKIP_VALIDATING_ANNOTATION]
        .as_str()
        == Some("true");
    let mut candidate = object.clone();
    store::label_created_by_hub(&mut candidate);
    if skip {
        let mut result = candidate;
        store::trim(call.resource, &mut result);
        return Ok(result);
    }
    let namespace = call.info.namespace.clone();
    let name = candidate["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let is_namespace = call.resource.group.is_empty() && call.resource.kind == "Namespace";
    let mut moved_references = Vec::new();
    if call.resource.namespaced {
        candidate["metadata"]["namespace"] = call.state.reserved_namespace.clone().into();
        // Fields that must name the object's own namespace move with it.
        for pointer in same_namespace_fields(call.resource) {
            if let Some(field) = candidate.pointer_mut(pointer)
                && field.as_str() == Some(namespace.as_str())
            {
                *field = call.state.reserved_namespace.clone().into();
                moved_references.push(*pointer);
            }
        }
    }
    let mut q = vec![("dryRun".to_string(), "All".to_string())];
    for key in ["fieldValidation", "fieldManager"] {
        if let Some(v) = call.param(key) {
            q.push((key.into(), v.into()));
        }
    }
    let path = format!(
        "{}?{}",
        call.resource.parent_path(
            call.resource
                .namespaced
                .then_some(call.state.reserved_namespace.as_str())
        ),
        encode_query(&q)
    );
    let mut attempt = 0;
    let result = loop {
        let body = serde_json::to_vec(&candidate).map_err(|e| ApiError::internal(e.to_string()))?;
        match call
            .state
            .parent
            .call(Method::POST, &path, Some(body))
            .await
        {
            Ok(answer) => break answer.json()?,
            // A real object of that name exists where the dry-run runs (the reserved namespace,
            // or the parent itself for cluster-scoped kinds such as Namespace "default"):
            // validate under another name, as Clusternet does.
            Err(err)
                if err.reason == crate::status::Reason::AlreadyExists
                    && attempt < 3
                    && !name.is_empty() =>
            {
                attempt += 1;
                candidate["metadata"]["name"] = format!("{name}{}", random_suffix()).into();
            }
            Err(err) => return Err(rename_error(err, call, &name)),
        }
    };
    let mut result = result;
    if !name.is_empty() || is_namespace {
        result["metadata"]["name"] = name.clone().into();
    }
    if call.resource.namespaced {
        result["metadata"]["namespace"] = namespace.clone().into();
    }
    for pointer in moved_references {
        if let Some(field) = result.pointer_mut(pointer) {
            *field = namespace.clone().into();
        }
    }
    store::trim(call.resource, &mut result);
    Ok(result)
}

/// Fields of a kind that validation requires to equal the object's namespace: they move to the
/// reserved namespace with the object for the dry-run, and back.
fn same_namespace_fields(resource: &ShadowResource) -> &'static [&'static str] {
    match (resource.group.as_str(), resource.kind.as_str()) {
        ("", "Event") => &["/involvedObject/namespace"],
        ("events.k8s.io", "Event") => &["/regarding/namespace"],
        _ => &[],
    }
}

/// Errors from validating under a temporary name or in the reserved namespace, shown with the
/// caller's name.
fn rename_error(mut err: ApiError, call: &Call<'_>, name: &str) -> ApiError {
    let reserved = format!("namespace \"{}\"", call.state.reserved_namespace);
    if err.message.contains(&reserved) && call.resource.namespaced {
        err.message = err
            .message
            .replace(&reserved, &format!("namespace \"{}\"", call.info.namespace));
    }
    if let Some(details) = err.details.as_mut()
        && !name.is_empty()
    {
        details.0 = name.to_string();
    }
    err
}

fn random_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(7);
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..3)
        .map(|i| CHARS[((n >> (i * 5)) as usize) % CHARS.len()] as char)
        .collect()
}

fn manifest_query(call: &Call<'_>) -> String {
    let mut q = Vec::new();
    for key in ["dryRun", "fieldManager"] {
        if let Some(v) = call.param(key) {
            q.push((key.to_string(), v.to_string()));
        }
    }
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", encode_query(&q))
    }
}

/// The shadow group's answer to a request for a resource it does not serve.
pub fn unknown_resource(info: &RequestInfo) -> ApiError {
    ApiError::new(
        crate::status::Reason::NotFound,
        format!(
            "the server could not find the requested resource ({}.{})",
            info.resource,
            crate::shadow::GROUP
        ),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_update_keeps_labels_others_put_on_the_manifest() {
        let current = json!({"metadata": {"labels": {
                "config.apps.clusternet.io/kind": "ConfigMap", "app": "old", "gone": "x",
                "0b1c-base-uid": "Base"}},
            "template": {"metadata": {"labels": {"app": "old", "gone": "x"}}}});
        let mut manifest = json!({"metadata": {"labels": {
            "config.apps.clusternet.io/kind": "ConfigMap", "app": "new"}}});
        keep_foreign_labels(&current, &mut manifest);
        assert_eq!(
            manifest["metadata"]["labels"],
            json!({"config.apps.clusternet.io/kind": "ConfigMap", "app": "new", "0b1c-base-uid": "Base"})
        );
    }

    use super::*;

    #[test]
    fn field_selectors_map_to_labels() {
        assert_eq!(
            field_selector_terms("metadata.name=web").unwrap(),
            ["apps.clusternet.io/config.name=web"]
        );
        assert_eq!(
            field_selector_terms("metadata.name==web,metadata.namespace!=kube-system").unwrap(),
            [
                "apps.clusternet.io/config.name=web",
                "apps.clusternet.io/config.namespace!=kube-system"
            ]
        );
        let err = field_selector_terms("spec.nodeName=n1").unwrap_err();
        assert_eq!(err.status_code(), StatusCode::BAD_REQUEST);
        assert_eq!(
            err.message,
            "\"spec.nodeName\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
        assert!(field_selector_terms("nonsense").is_err());
    }

    #[test]
    fn bodies_decode_from_json_and_yaml_only() {
        assert!(decode_object(b"{\"a\":1}", "application/json").is_ok());
        assert!(decode_object(b"a: 1\n", "application/yaml").is_ok());
        assert_eq!(
            decode_object(b"[1]", "application/json")
                .unwrap_err()
                .status_code(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            decode_object(b"{", "application/json")
                .unwrap_err()
                .status_code(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            decode_object(b"x", "application/vnd.kubernetes.protobuf")
                .unwrap_err()
                .status_code(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
}
