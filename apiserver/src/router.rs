//! The router: which handler answers a path. Non-resource endpoints (health, version, metrics,
//! discovery, OpenAPI) are answered here; resource requests go to the handler registered for
//! their API group (proxies, shadow). Errors become Status responses here and nowhere else.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tower::util::BoxCloneSyncService;

use crate::body::{Body, empty, full};
use crate::discovery::Registry;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::negotiate::{DiscoveryFormat, discovery_format};
use crate::openapi::OpenApi;
use crate::request_info::RequestInfo;
use crate::stack::HubService;
use crate::status::ApiError;

/// Answers the resource requests of one API group.
pub trait GroupHandler: Send + Sync {
    /// Handles a resource request (`info.is_resource_request` is true and the group matches).
    fn handle(
        &self,
        req: Request<Body>,
        info: RequestInfo,
    ) -> BoxFuture<'static, Result<Response<Body>, ApiError>>;
}

/// Everything the router serves from.
pub struct Hub {
    /// Discovery documents.
    pub discovery: Registry,
    /// Health checks.
    pub health: Health,
    /// Metrics.
    pub metrics: Metrics,
    /// OpenAPI documents.
    pub openapi: OpenApi,
    /// Handlers per API group.
    pub groups: HashMap<String, Arc<dyn GroupHandler>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("groups", &self.groups.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The router as a service.
pub fn router(hub: Arc<Hub>) -> HubService {
    BoxCloneSyncService::new(tower::service_fn(move |req: Request<Body>| {
        let hub = hub.clone();
        async move {
            Ok::<_, Infallible>(
                route(&hub, req)
                    .await
                    .unwrap_or_else(ApiError::into_response),
            )
        }
    }))
}

/// A JSON response.
pub fn json(status: StatusCode, body: impl Into<Bytes>, content_type: &str) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

fn text(status: StatusCode, body: impl Into<Bytes>, content_type: &'static str) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// A document with a strong ETag, answering `If-None-Match` with 304.
fn with_etag(req: &Request<Body>, body: Bytes, etag: &str, content_type: &str) -> Response<Body> {
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if matches {
        let mut r = Response::new(empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        json(StatusCode::OK, body, content_type)
    };
    if let Ok(v) = HeaderValue::from_str(etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if matches && let Ok(v) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

/// GET (or HEAD) of a document that is only served as JSON.
fn get_json(req: &Request<Body>) -> Result<(), ApiError> {
    only_get(req)?;
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    crate::negotiate::plain_json(accept)
}

fn only_get(req: &Request<Body>) -> Result<(), ApiError> {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(format!(
            "{} is not allowed on {}",
            req.method(),
            req.uri().path()
        )))
    }
}

async fn route(hub: &Hub, req: Request<Body>) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_string();
    if let Some((code, body)) = hub.health.answer(&path, req.uri().query()) {
        return Ok(text(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
            "text/plain; charset=utf-8",
        ));
    }
    let info = req
        .extensions()
        .get::<RequestInfo>()
        .cloned()
        .unwrap_or_else(|| RequestInfo::parse(req.method(), &path, req.uri().query()));
    if info.is_resource_request {
        let Some(handler) = hub.groups.get(&info.api_group).cloned() else {
            return Err(ApiError::path_not_found());
        };
        if hub
            .discovery
            .snapshot()
            .resource_list(&info.api_group, &info.api_version)
            .is_none()
        {
            return Err(ApiError::path_not_found());
        }
        return handler.handle(req, info).await;
    }
    match path.trim_end_matches('/') {
        "" => {
            get_json(&req)?;
            Ok(json(StatusCode::OK, root_paths(hub), "application/json"))
        }
        "/version" => {
            get_json(&req)?;
            Ok(json(StatusCode::OK, version_json(), "application/json"))
        }
        "/metrics" => {
            only_get(&req)?;
            Ok(text(
                StatusCode::OK,
                hub.metrics.render(),
                "text/plain; version=0.0.4; charset=utf-8",
            ))
        }
        "/apis" => {
            only_get(&req)?;
            let accept = req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok());
            let format = discovery_format(accept)?;
            let snapshot = hub.discovery.snapshot();
            let (body, etag) = snapshot.apis(format);
            Ok(match (format, etag) {
                (DiscoveryFormat::Legacy, _) | (_, None) => {
                    json(StatusCode::OK, body, format.content_type())
                }
                (_, Some(etag)) => {
                    let mut resp = with_etag(&req, body, etag, format.content_type());
                    resp.headers_mut()
                        .insert(header::VARY, HeaderValue::from_static("Accept"));
                    resp
                }
            })
        }
        p if p.starts_with("/openapi/") => {
            get_json(&req)?;
            let (body, etag) = hub
                .openapi
                .document(p)
                .ok_or_else(ApiError::path_not_found)?;
            Ok(with_etag(&req, body, &etag, "application/json"))
        }
        p if p.starts_with("/apis/") => {
            get_json(&req)?;
            let rest: Vec<&str> = p["/apis/".len()..].split('/').collect();
            let snapshot = hub.discovery.snapshot();
            let body = match rest.as_slice() {
                [group] => snapshot.group(group),
                [group, version] => snapshot.resource_list(group, version),
                _ => None,
            };
            body.map(|b| json(StatusCode::OK, b, "application/json"))
                .ok_or_else(ApiError::path_not_found)
        }
        _ => Err(ApiError::path_not_found()),
    }
}

fn root_paths(hub: &Hub) -> Bytes {
    let mut paths = vec![
        "/apis".to_string(),
        "/healthz".into(),
        "/livez".into(),
        "/metrics".into(),
        "/openapi/v2".into(),
        "/openapi/v3".into(),
        "/readyz".into(),
        "/version".into(),
    ];
    for group in hub.discovery.snapshot().groups() {
        paths.push(format!("/apis/{}", group.name));
        for v in &group.versions {
            paths.push(format!("/apis/{}/{}", group.name, v.group_version.version));
        }
    }
    paths.sort();
    Bytes::from(serde_json::json!({ "paths": paths }).to_string())
}

/// The hub's `/version` (its own build, as Clusternet's hub reports its own version).
fn version_json() -> Bytes {
    let version = env!("CARGO_PKG_VERSION");
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or("0");
    let minor = parts.next().unwrap_or("0");
    Bytes::from(
        serde_json::json!({
            "major": major,
            "minor": minor,
            "gitVersion": format!("v{version}"),
            "gitCommit": option_env!("CLUSTERNET_GIT_COMMIT").unwrap_or(""),
            "gitTreeState": "",
            "buildDate": "",
            "goVersion": "",
            "compiler": "rustc",
            "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
        })
        .to_string(),
    )
}
