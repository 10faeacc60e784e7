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

async fn get(call: &Call<'_>, rendering: &Rendering<'_>) -> Result<Response<Body>, ApiError> {
    let manifest = call.get_manifest(&call.info.name).await?;
    let object = store::from_manifest(&manifest);
    respond(
        StatusCode::OK,
        &rendering.object(&object)?,
        rendering.format.content_type(),
    )
}

async fn list_objects(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
) -> Result<Response<Body>, ApiError> {
    let path = format!("{}?{}", call.manifests_path(), call.list_query(false)?);
    let answer = call.state.parent.call(Method::GET, &path, None).await?;
    let (meta, items) = store::objects_from_manifest_list(&answer.body)
        .map_err(|e| ApiError::internal(format!("decoding the parent's answer: {e}")))?;
    drop(answer);
    respond(
        StatusCode::OK,
        &rendering.list(items, meta)?,
        rendering.format.content_type(),
    )
}

async fn watch(call: &Call<'_>, rendering: &Rendering<'_>) -> Result<Response<Body>, ApiError> {
    let path = format!("{}?{}", call.manifests_path(), call.list_query(true)?);
    let upstream = call.state.parent.stream(&path).await?;
    let resource = call.resource.clone();
    let mut encoder = rendering.watch_encoder();
    let (tx, rx) =
        tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, body::BodyError>>(16);
    tokio::spawn(async move {
        let mut lines = LineStream::new(upstream);
        while let Some(line) = lines.next().await {
            let line = match line {
                Ok(l) => l,
                Err(err) => {
                    tracing::debug!(error = %err, "shadow watch: upstream ended");
                    break;
                }
            };
            let Ok(mut event) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            let kind = event["type"].as_str().unwrap_or_default().to_string();
            let object = match kind.as_str() {
                "ADDED" | "MODIFIED" | "DELETED" => {
                    encoder.object(&store::from_manifest(&event["object"]))
                }
                // A bookmark of our kind, carrying the Manifest's resourceVersion (and the
                // initial-events-end annotation of watch-list).
                "BOOKMARK" => {
                    let meta = &event["object"]["metadata"];
                    let mut bookmark = json!({"kind": resource.kind, "apiVersion": format!("{}/{}", crate::shadow::GROUP, crate::shadow::VERSION), "metadata": {"resourceVersion": meta["resourceVersion"]}});
                    if meta["annotations"].is_object() {
                        bookmark["metadata"]["annotations"] = meta["annotations"].clone();
                    }
                    encoder.object(&bookmark)
                }
                _ => encoder.object(&event["object"].take()),
            };
            let Some(object) = object else {
                break; // not renderable as asked (kube-apiserver ends such a watch too)
            };
            let mut out =
                serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
            out.push(b'\n');
            if tx
                .send(Ok(http_body::Frame::data(Bytes::from(out))))
                .await
                .is_err()
            {
                break; // the client went away
            }
        }
    });
    let stream = tokio_stream_from(rx);
    let body = http_body_util::StreamBody::new(stream).boxed_unsync();
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache, private"),
    );
    Ok(response)
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Newline-delimited frames of a streaming body.
struct LineStream {
    body: kube::client::Body,
    buffer: Vec<u8>,
    done: bool,
}

impl LineStream {
    fn new(body: kube::client::Body) -> Self {
        Self {
            body,
            buffer: Vec::new(),
            done: false,
        }
    }

    async fn next(&mut self) -> Option<Result<Vec<u8>, String>> {
        loop {
            if let Some(pos) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=pos).collect();
                return Some(Ok(line));
            }
            if self.done {
                return (!self.buffer.is_empty()).then(|| Ok(std::mem::take(&mut self.buffer)));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(err)) => return Some(Err(err.to_string())),
                None => self.done = true,
            }
        }
    }
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

async fn create(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
    mut object: Value,
) -> Result<Response<Body>, ApiError> {
    check_object(call, &mut object, None)?;
    if object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
        && object["metadata"]["generateName"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    {
        return Err(ApiError::invalid(
            &call.resource.kind,
            &call.resource.group,
            "",
            vec![crate::status::FieldError {
                reason: "FieldValueRequired".into(),
                field: "metadata.name".into(),
                message: "Required value: name or generateName is required".into(),
            }],
        ));
    }
    if call.resource.namespaced && call.info.namespace.is_empty() {
        return Err(ApiError::bad_request(
            "a namespace is required to create a namespaced object",
        ));
    }
    let validated = validate(call, &object).await?;
    let name = validated["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let manifest = store::to_manifest(call.resource, &call.state.reserved_namespace, &validated);
    let path = format!("{}{}", call.manifests_path(), manifest_query(call));
    let body = serde_json::to_vec(&manifest).map_err(|e| ApiError::internal(e.to_string()))?;
    let created = call
        .state
        .parent
        .call(Method::POST, &path, Some(body))
        .await
        .map_err(|e| match e.reason {
            crate::status::Reason::AlreadyExists => {
                ApiError::already_exists(&call.group_resource(), &name)
            }
            _ => e,
        })?;
    let object = store::from_manifest(&created.json()?);
    respond(
        StatusCode::CREATED,
        &rendering.object(&object)?,
        rendering.format.content_type(),
    )
}

/// Writes `object` (already checked) over the Manifest `current`, validating it first.
async fn write(call: &Call<'_>, current: &Value, object: &Value) -> Result<Value, ApiError> {
    let name = call.info.name.clone();
    let current_rv = current["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let wanted_rv = object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !wanted_rv.is_empty() && wanted_rv != current_rv {
        return Err(ApiError::conflict(
            &call.group_resource(),
            &name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    let validated = validate(call, object).await?;
    let mut manifest =
        store::to_manifest(call.resource, &call.state.reserved_namespace, &validated);
    // Keep what others put on the Manifest (finalizers, annotations of feed protection).
    for key in ["finalizers", "annotations", "ownerReferences"] {
        if !current["metadata"][key].is_null() {
            manifest["metadata"][key] = current["metadata"][key].clone();
        }
    }
    keep_foreign_labels(current, &mut manifest);
    manifest["metadata"]["resourceVersion"] = current_rv.into();
    let path = format!("{}{}", call.manifest_path(&name), manifest_query(call));
    let body = serde_json::to_vec(&manifest).map_err(|e| ApiError::internal(e.to_string()))?;
    let written = call.state.parent.call(Method::PUT, &path, Some(body)).await.map_err(|e| match e.reason {
        crate::status::Reason::Conflict => ApiError::conflict(&call.group_resource(), &name, "the object has been modified; please apply your changes to the latest version and try again"),
        crate::status::Reason::NotFound => call.not_found(&name),
        _ => e,
    })?;
    Ok(store::from_manifest(&written.json()?))
}

/// Labels on the Manifest that did not come from the object — the controller-manager's
/// `<uid>: Base` / `<uid>: Subscription` back-references — survive an update of the object
/// (Go's hub keeps every old label; here a label removed from the object goes away too).
fn keep_foreign_labels(current: &Value, manifest: &mut Value) {
    let (Some(old), Some(new)) = (
        current["metadata"]["labels"].as_object(),
        manifest["metadata"]["labels"].as_object_mut(),
    ) else {
        return;
    };
    let from_object = current["template"]["metadata"]["labels"].as_object();
    for (key, value) in old {
        let ours = key.starts_with("config.apps.clusternet.io/");
        let objects = from_object.is_some_and(|labels| labels.contains_key(key));
        if !ours && !objects && !new.contains_key(key) {
            new.insert(key.clone(), value.clone());
        }
    }
}

async fn update(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
    mut object: Value,
) -> Result<Response<Body>, ApiError> {
    check_object(call, &mut object, Some(&call.info.name))?;
    let current = call.get_manifest(&call.info.name).await?;
    let written = write(call, &current, &object).await?;
    respond(
        StatusCode::OK,
        &rendering.object(&written)?,
        rendering.format.content_type(),
    )
}

/// Applies a patch body of `content_type` to `target`.
fn apply_patch(
    call: &Call<'_>,
    content_type: &str,
    patch: &[u8],
    target: &Value,
) -> Result<Value, ApiError> {
    use clusternet_apimachinery::patch::{self as p, PatchType};
    // What a 415 lists: the patch types of the kind, server-side apply included (handled by
    // `apply` before this; the scale subresource takes no apply).
    let accepted: &[PatchType] = if call.patch_schema.is_some() {
        &[
            PatchType::Json,
            PatchType::Merge,
            PatchType::StrategicMerge,
            PatchType::ApplyYaml,
        ]
    } else {
        &[PatchType::Json, PatchType::Merge, PatchType::ApplyYaml]
    };
    let kind = match PatchType::from_content_type(content_type) {
        Some(kind) if kind.is_apply() => {
            return Err(ApiError::new(
                crate::status::Reason::UnsupportedMediaType,
                format!(
                    "server-side apply is not supported on the scale subresource of {}.{}",
                    call.resource.plural,
                    crate::shadow::GROUP
                ),
            ));
        }
        _ => p::negotiate_patch_type(content_type, accepted).map_err(patch_error)?,
    };
    let result = match (kind, &call.patch_schema) {
        (PatchType::StrategicMerge, Some(schema)) => {
            let reference = format!("#/components/schemas/{}", schema.name);
            let meta =
                p::OpenApiPatchMeta::from_ref(&reference, &*schema.schemas).ok_or_else(|| {
                    ApiError::internal(format!(
                        "no schema {} for strategic merge patch",
                        schema.name
                    ))
                })?;
            p::apply_patch(kind, target, patch, &meta)
        }
        _ => p::apply_patch(kind, target, patch, &p::NoPatchMeta),
    };
    result.map_err(patch_error)
}

/// Server-side apply. The parent merges the applied configuration into the Manifest, where
/// the template is schemaless: maps merge field by field and lists are atomic (for a manager
/// that owns whole lists — `kubectl apply --server-side` of a file — the same result as on the
/// real kind). The merge is first a dry-run, validated as the real kind like every write, then
/// applied for real; field managers, conflicts and `force` are the parent's.
async fn apply(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
    content_type: &str,
    patch: &[u8],
) -> Result<Response<Body>, ApiError> {
    use clusternet_apimachinery::patch::PatchType;
    if PatchType::from_content_type(content_type) != Some(PatchType::ApplyYaml) {
        return Err(ApiError::unsupported_media_type(content_type));
    }
    let mut object: Value = serde_saphyr::from_slice(patch)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be an object",
        ));
    }
    check_object(call, &mut object, Some(&call.info.name))?;
    store::label_created_by_hub(&mut object);
    store::trim(call.resource, &mut object);
    let manifest = store::to_manifest(call.resource, &call.state.reserved_namespace, &object);
    let body = serde_json::to_vec(&manifest).map_err(|e| ApiError::internal(e.to_string()))?;
    let path = |dry_run: bool| {
        let mut q = Vec::new();
        for key in ["fieldManager", "force"] {
            if let Some(v) = call.param(key) {
                q.push((key.to_string(), v.to_string()));
            }
        }
        match (dry_run, call.param("dryRun")) {
            (true, _) => q.push(("dryRun".into(), "All".into())),
            (false, Some(v)) => q.push(("dryRun".into(), v.into())),
            (false, None) => {}
        }
        format!(
            "{}?{}",
            call.manifest_path(&call.info.name),
            encode_query(&q)
        )
    };
    let parent = &call.state.parent;
    let merged = parent
        .call_typed(Method::PATCH, &path(true), Some(body.clone()), content_type)
        .await
        .map_err(|e| apply_error(call, e))?
        .json()?;
    let mut template = merged["template"].clone();
    template["apiVersion"] = call.resource.api_version().into();
    validate(call, &template).await?;
    let applied = parent
        .call_typed(Method::PATCH, &path(false), Some(body), content_type)
        .await
        .map_err(|e| apply_error(call, e))?;
    respond(
        applied.status,
        &rendering.object(&store::from_manifest(&applied.json()?))?,
        rendering.format.content_type(),
    )
}

/// A Manifest apply error as the shadow object's: fields without the `.template` prefix, the
/// object's apiVersion, name and resource.
fn apply_error(call: &Call<'_>, mut err: ApiError) -> ApiError {
    let api_version = call.resource.api_version();
    let unwrap = |text: &str| {
        text.replace(".template.", ".").replace(
            "using apps.clusternet.io/v1alpha1",
            &format!("using {api_version}"),
        )
    };
    err.message = unwrap(&err.message);
    for cause in &mut err.causes {
        cause.field = unwrap(&cause.field);
        cause.message = unwrap(&cause.message);
    }
    let manifest = store::manifest_name(call.resource, &call.info.namespace, &call.info.name);
    err.message = err.message.replace(
        &format!("manifests.apps.clusternet.io \"{manifest}\""),
        &format!("{} \"{}\"", call.group_resource(), call.info.name),
    );
    if err.details.is_some() {
        let group_resource = call.group_resource();
        err.details = Some(Box::new((
            call.info.name.clone(),
            group_resource.group,
            group_resource.resource,
        )));
    }
    err
}

/// kube-apiserver's Status for a patch failure.
fn patch_error(err: clusternet_apimachinery::patch::PatchError) -> ApiError {
    let reason = crate::status::Reason::parse(err.reason())
        .unwrap_or_else(|| crate::status::Reason::from_code(err.code()));
    ApiError::new(reason, err.message())
}

async fn patch_object(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
    content_type: &str,
    patch: &[u8],
) -> Result<Response<Body>, ApiError> {
    let mut attempts = 0;
    loop {
        let current = call.get_manifest(&call.info.name).await?;
        let object = store::from_manifest(&current);
        let mut patched = apply_patch(call, content_type, patch, &object)?;
        // The patched object may not change identity.
        check_object(call, &mut patched, Some(&call.info.name))?;
        patched["metadata"]["resourceVersion"] = object["metadata"]["resourceVersion"].clone();
        match write(call, &current, &patched).await {
            Ok(written) => {
                return respond(
                    StatusCode::OK,
                    &rendering.object(&written)?,
                    rendering.format.content_type(),
                );
            }
            Err(err)
                if err.reason == crate::status::Reason::Conflict && attempts < PATCH_RETRIES =>
            {
                attempts += 1
            }
            Err(err) => return Err(err),
        }
    }
}

fn scale_of(call: &Call<'_>, object: &Value) -> Value {
    let selector = object["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let meta = &object["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"], "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]},
        "spec": {"replicas": object["spec"]["replicas"].as_i64().unwrap_or(if call.resource.kind == "Deployment" { 1 } else { 0 })},
        "status": {"replicas": object["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

async fn get_scale(call: &Call<'_>, rendering: &Rendering<'_>) -> Result<Response<Body>, ApiError> {
    let object = store::from_manifest(&call.get_manifest(&call.info.name).await?);
    respond(
        StatusCode::OK,
        &rendering.object_of_kind(&scale_of(call, &object), "Scale")?,
        rendering.format.content_type(),
    )
}

async fn set_replicas(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
    scale: &Value,
) -> Result<Response<Body>, ApiError> {
    let replicas = scale["spec"]["replicas"]
        .as_i64()
        .ok_or_else(|| ApiError::bad_request("spec.replicas of the Scale must be an integer"))?;
    let mut attempts = 0;
    loop {
        let current = call.get_manifest(&call.info.name).await?;
        let mut object = store::from_manifest(&current);
        let wanted_rv = scale["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        if !wanted_rv.is_empty()
            && Some(wanted_rv) != object["metadata"]["resourceVersion"].as_str()
        {
            return Err(ApiError::conflict(
                &call.group_resource(),
                &call.info.name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        object["spec"]["replicas"] = replicas.into();
        // Validated as the original kind, like every write.
        object["apiVersion"] = call.resource.api_version().into();
        match write(call, &current, &object).await {
            Ok(written) => {
                return respond(
                    StatusCode::OK,
                    &rendering.object_of_kind(&scale_of(call, &written), "Scale")?,
                    rendering.format.content_type(),
                );
            }
            Err(err)
                if err.reason == crate::status::Reason::Conflict
                    && wanted_rv.is_empty()
                    && attempts < PATCH_RETRIES =>
            {
                attempts += 1
            }
            Err(err) => return Err(err),
        }
    }
}

async fn patch_scale(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
    content_type: &str,
    patch: &[u8],
) -> Result<Response<Body>, ApiError> {
    let object = store::from_manifest(&call.get_manifest(&call.info.name).await?);
    let scale = scale_of(call, &object);
    let media = content_type.split(';').next().unwrap_or("").trim();
    // A Scale has no lists: a strategic merge patch is a merge patch.
    let content_type = if media == "application/strategic-merge-patch+json" {
        "application/merge-patch+json"
    } else {
        content_type
    };
    let mut patched = apply_patch(call, content_type, patch, &scale)?;
    if let Some(meta) = patched["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
    }
    set_replicas(call, rendering, &patched).await
}

fn delete_query(call: &Call<'_>, options: &[u8]) -> Result<(String, Option<Vec<u8>>), ApiError> {
    let mut q = Vec::new();
    for key in ["dryRun", "gracePeriodSeconds", "propagationPolicy"] {
        if let Some(v) = call.param(key) {
            q.push((key.to_string(), v.to_string()));
        }
    }
    let body = if options.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let v: Value = serde_json::from_slice(options)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?;
        Some(serde_json::to_vec(&v).map_err(|e| ApiError::internal(e.to_string()))?)
    };
    Ok((encode_query(&q), body))
}

async fn delete(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
    options: Bytes,
) -> Result<Response<Body>, ApiError> {
    // Make sure the Manifest is of this resource before deleting it.
    let before = call.get_manifest(&call.info.name).await?;
    let (query, body) = delete_query(call, &options)?;
    let path = if query.is_empty() {
        call.manifest_path(&call.info.name)
    } else {
        format!("{}?{query}", call.manifest_path(&call.info.name))
    };
    let answer = call
        .state
        .parent
        .call(Method::DELETE, &path, body)
        .await
        .map_err(|e| match e.reason {
            crate::status::Reason::NotFound => call.not_found(&call.info.name),
            crate::status::Reason::Conflict => ApiError::conflict(
                &call.group_resource(),
                &call.info.name,
                "the precondition failed",
            ),
            _ => e,
        })?;
    let value = answer.json()?;
    // The Manifest itself while its finalizers run, else the object as it was — for the kinds
    // whose deletion answers with the object.
    let deleted = if value["kind"] == "Manifest" {
        Some(value.clone())
    } else {
        call.resource.returns_deleted_object().then_some(before)
    };
    if let Some(manifest) = deleted {
        let object = store::from_manifest(&manifest);
        return respond(
            answer.status,
            &rendering.object(&object)?,
            rendering.format.content_type(),
        );
    }
    let details = json!({"name": call.info.name, "group": crate::shadow::GROUP, "kind": call.resource.plural, "uid": value["details"]["uid"]});
    respond(
        answer.status,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
        "application/json",
    )
}

async fn delete_collection(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
    options: Bytes,
) -> Result<Response<Body>, ApiError> {
    let (extra, body) = delete_query(call, &options)?;
    let mut query = format!("labelSelector={}", percent_encode(&call.label_selector()?));
    if !extra.is_empty() {
        query = format!("{query}&{extra}");
    }
    let answer = call
        .state
        .parent
        .call(
            Method::DELETE,
            &format!("{}?{query}", call.manifests_path()),
            body,
        )
        .await?;
    let value = answer.json()?;
    if value["kind"] == "ManifestList" {
        let items: Vec<Value> = value["items"]
            .as_array()
            .map(|a| a.iter().map(store::from_manifest).collect())
            .unwrap_or_default();
        return respond(
            StatusCode::OK,
            &rendering.list(items, value["metadata"].clone())?,
            rendering.format.content_type(),
        );
    }
    respond(
        StatusCode::OK,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
        "application/json",
    )
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
