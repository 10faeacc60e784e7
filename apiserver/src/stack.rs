//! The hub's request path: tower layers composed in one place.
//!
//! Outside in — and why in this order:
//! 1. **trace** — request id (`Audit-Id`), span, access log and metrics; outermost so it sees
//!    the final answer of every layer below, errors included.
//! 2. **catch_panic** — a bug anywhere below becomes a 500 Status, not a dropped connection.
//! 3. **request_info** — parse verb/group/resource once, before everything that needs it: the
//!    timeout and in-flight layers need the long-running classification and authz needs the
//!    attributes (kube-apiserver orders its filters the same way).
//! 4. **timeout** — short requests only; watch, proxy, exec, log … are exempt (an upgrade is
//!    exempt only when kube-apiserver would call its path long-running: a header alone buys
//!    nothing).
//! 5. **in_flight** — sheds load (429) before spending a TokenReview or SAR on a request. Long-
//!    running requests (watches, proxied streams and upgrades) have a limit of their own, held
//!    for as long as the stream lives — the response body, or the upgraded connection — so
//!    idle streams cannot pile up without bound; tunnels are capped by the tunnel registry.
//! 6. **authenticate** — front-proxy / client cert / token; strips credential headers.
//! 7. **authorize** — SubjectAccessReview against the parent, cached.
//! 8. the router.
//!
//! Health endpoints skip 6 and 7 (kubelet probes carry no credentials).

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clusternet_component_base::logging::ACCESS_LOG;
use futures::FutureExt;
use http::{HeaderValue, Request, Response};
use tokio::sync::Semaphore;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceBuilder, ServiceExt};

use crate::authn::{Authenticator, PeerCertificates};
use crate::authz::Authorizer;
use crate::body::Body;
use crate::metrics::{GaugedPermit, Metrics};
use crate::request_info::RequestInfo;
use crate::status::ApiError;

/// The service every layer wraps and produces.
pub type HubService = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// Limits of the request path.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Timeout of non-long-running requests.
    pub request_timeout: Duration,
    /// Concurrent read-only requests (long-running ones excepted).
    pub max_read_only: usize,
    /// Concurrent mutating requests.
    pub max_mutating: usize,
    /// Concurrent long-running requests (watches, proxied streams, upgraded connections),
    /// tunnels excepted.
    pub max_long_running: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // kube-apiserver's defaults.
        Self {
            request_timeout: Duration::from_secs(60),
            max_read_only: 400,
            max_mutating: 200,
            max_long_running: 5000,
        }
    }
}

/// Builds the full stack around `router`.
pub fn build(
    router: HubService,
    authn: Authenticator,
    authz: Option<Authorizer>,
    metrics: Metrics,
    limits: Limits,
) -> HubService {
    ServiceBuilder::new()
        .layer(trace(metrics.clone()))
        .layer(catch_panic())
        .layer(request_info())
        .layer(timeout(limits.request_timeout))
        .layer(in_flight(limits, metrics))
        .layer(authenticate(authn))
        .layer(authorize(authz))
        .service(router)
}

/// A layer from an async function of the request and the next service.
pub fn filter<F, Fut>(f: F) -> impl Layer<HubService, Service = HubService> + Clone
where
    F: Fn(Request<Body>, HubService) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    tower::layer::layer_fn(move |next: HubService| {
        let f = f.clone();
        BoxCloneSyncService::new(tower::service_fn(move |req| {
            let fut = f(req, next.clone());
            async move { Ok::<_, Infallible>(fut.await) }
        }))
    })
}

/// Calls the next service (which cannot fail).
pub async fn call(next: HubService, req: Request<Body>) -> Response<Body> {
    next.oneshot(req)
        .await
        .unwrap_or_else(|never| match never {})
}

/// Whether `path` is a health endpoint (no credentials needed).
pub fn is_health_path(path: &str) -> bool {
    ["/healthz", "/livez", "/readyz"].iter().any(|p| {
        path == *p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// Request id, span, access log, metrics.
fn trace(metrics: Metrics) -> impl Layer<HubService, Service = HubService> + Clone {
    filter(move |req: Request<Body>, next| {
        let metrics = metrics.clone();
        async move {
            let id = req
                .headers()
                .get("audit-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let method = req.method().clone();
            let path = req.uri().path().to_string();
            let span = tracing::debug_span!(target: ACCESS_LOG, "request", %id, %method, %path);
            let start = Instant::now();
            let mut resp = tracing::Instrument::instrument(call(next, req), span).await;
            let elapsed = start.elapsed();
            let info = resp.extensions().get::<RequestInfo>();
            metrics.observe(info, resp.status().as_u16(), elapsed.as_secs_f64());
            let user = resp
                .extensions()
                .get::<AuthenticatedUser>()
                .map(|u| u.0.as_str())
                .unwrap_or("");
            if resp.status().is_server_error() {
                tracing::warn!(%id, %method, %path, user, status = resp.status().as_u16(), ms = elapsed.as_millis() as u64, "request failed");
            } else {
                tracing::debug!(target: ACCESS_LOG, %id, %method, %path, user, status = resp.status().as_u16(), ms = elapsed.as_millis() as u64, "request");
            }
            if let Ok(v) = HeaderValue::from_str(&id) {
                resp.headers_mut().insert("audit-id", v);
            }
            resp
        }
    })
}

/// The user name, copied onto the response for the access log.
#[derive(Clone, Debug)]
struct AuthenticatedUser(String);

fn catch_panic() -> impl Layer<HubService, Service = HubService> + Clone {
    filter(|req: Request<Body>, next| async move {
        match AssertUnwindSafe(call(next, req)).catch_unwind().await {
            Ok(resp) => resp,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                tracing::error!(panic = %what, "handler panicked");
                ApiError::internal("the server has encountered an unexpected error").into_response()
            }
        }
    })
}

fn request_info() -> impl Layer<HubService, Service = HubService> + Clone {
    filter(|mut req: Request<Body>, next| async move {
        let info = RequestInfo::parse(req.method(), req.uri().path(), req.uri().query());
        req.extensions_mut().insert(info.clone());
        let mut resp = call(next, req).await;
        resp.extensions_mut().insert(info);
        resp
    })
}

fn long_running(req: &Request<Body>) -> bool {
    req.extensions()
        .get::<RequestInfo>()
        .is_some_and(RequestInfo::is_long_running)
}

/// The tunnel endpoint (`sockets/<id>`, no subresource): capped by the tunnel registry, which
/// also knows that a new tunnel for a cluster replaces its old one.
fn is_tunnel(req: &Request<Body>) -> bool {
    req.headers().contains_key(http::header::UPGRADE)
        && req.extensions().get::<RequestInfo>().is_some_and(|i| {
            i.api_group == clusternet_apis::known::PROXIES_GROUP
                && i.resource == "sockets"
                && !i.name.is_empty()
                && i.subresource.is_empty()
        })
}

/// A long-running request's share of the in-flight limit. It lives in the request's
/// extensions and in its response body; whoever runs an upgraded connection after the 101
/// keeps a clone for the connection's life ([`StreamPermit::of`]).
#[derive(Clone, Debug)]
pub struct StreamPermit(#[allow(dead_code)] Arc<GaugedPermit>);

impl StreamPermit {
    /// The permit of `req`, if it holds one.
    pub fn of<B>(req: &Request<B>) -> Option<Self> {
        req.extensions().get::<Self>().cloned()
    }
}

fn timeout(limit: Duration) -> impl Layer<HubService, Service = HubService> + Clone {
    filter(move |req: Request<Body>, next| async move {
        if long_running(&req) {
            return call(next, req).await;
        }
        match tokio::time::timeout(limit, call(next, req)).await {
            Ok(resp) => resp,
            Err(_) => ApiError::timeout().into_response(),
        }
    })
}

fn in_flight(
    limits: Limits,
    metrics: Metrics,
) -> impl Layer<HubService, Service = HubService> + Clone {
    let read_only = Arc::new(Semaphore::new(limits.max_read_only));
    let mutating = Arc::new(Semaphore::new(limits.max_mutating));
    let streams = Arc::new(Semaphore::new(limits.max_long_running));
    metrics.set_limit("readOnly", limits.max_read_only);
    metrics.set_limit("mutating", limits.max_mutating);
    metrics.set_limit("longRunning", limits.max_long_running);
    filter(move |mut req: Request<Body>, next| {
        let (read_only, mutating, streams, metrics) = (
            read_only.clone(),
            mutating.clone(),
            streams.clone(),
            metrics.clone(),
        );
        async move {
            if is_health_path(req.uri().path()) || is_tunnel(&req) {
                return call(next, req).await;
            }
            let upgrade = req.headers().contains_key(http::header::UPGRADE);
            if long_running(&req) || upgrade {
                let Ok(permit) = streams.try_acquire_owned() else {
                    return ApiError::too_many_requests(
                        "too many long-running requests (watches, proxied streams), please try again later",
                        1,
                    )
                    .into_response();
                };
                let permit = StreamPermit(Arc::new(GaugedPermit::new(
                    permit,
                    metrics.in_flight("longRunning"),
                )));
                req.extensions_mut().insert(permit.clone());
                let resp = call(next, req).await;
                // Held by the body (a watch or a proxied stream) until it is dropped; an
                // upgraded connection holds its own clone.
                return resp.map(|body| crate::body::guarded(body, permit));
            }
            let is_mutating = req
                .extensions()
                .get::<RequestInfo>()
                .is_some_and(RequestInfo::is_mutating);
            let (sem, kind) = if is_mutating {
                (mutating, "mutating")
            } else {
                (read_only, "readOnly")
            };
            let Ok(_permit) = sem.try_acquire_owned() else {
                return ApiError::too_many_requests("too many requests, please try again later", 1)
                    .into_response();
            };
            let gauge = metrics.in_flight(kind);
            gauge.inc();
            let resp = call(next, req).await;
            gauge.dec();
            resp
        }
    })
}

fn authenticate(authn: Authenticator) -> impl Layer<HubService, Service = HubService> + Clone {
    filter(move |mut req: Request<Body>, next| {
        let authn = authn.clone();
        async move {
            if is_health_path(req.uri().path()) {
                return call(next, req).await;
            }
            let peer = req.extensions().get::<PeerCertificates>().cloned();
            let (mut parts, body) = req.into_parts();
            match authn.authenticate(&mut parts.headers, peer.as_ref()).await {
                Ok(user) => {
                    let name = user.name.clone();
                    parts.extensions.insert(user);
                    req = Request::from_parts(parts, body);
                    let mut resp = call(next, req).await;
                    resp.extensions_mut().insert(AuthenticatedUser(name));
                    resp
                }
                Err(err) => err.into_response(),
            }
        }
    })
}

fn authorize(authz: Option<Authorizer>) -> impl Layer<HubService, Service = HubService> + Clone {
    filter(move |req: Request<Body>, next| {
        let authz = authz.clone();
        async move {
            if is_health_path(req.uri().path()) {
                return call(next, req).await;
            }
            let (Some(user), Some(info)) = (
                req.extensions().get::<crate::authn::UserInfo>(),
                req.extensions().get::<RequestInfo>(),
            ) else {
                return ApiError::unauthorized().into_response();
            };
            let decision = match &authz {
                Some(authz) => authz.authorize(user, info).await,
                // Without an authorizer (tests, or --authorization-kubeconfig unset and no
                // parent), only system:masters passes.
                None if user.in_group("system:masters") => Ok(()),
                None => Err(ApiError::forbidden_path("no authorizer is configured")),
            };
            match decision {
                Ok(()) => call(next, req).await,
                Err(err) => err.into_response(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_paths() {
        for p in [
            "/healthz",
            "/livez",
            "/readyz",
            "/readyz/ping",
            "/healthz/log",
        ] {
            assert!(is_health_path(p), "{p}");
        }
        for p in ["/healthzz", "/readyzx/ping", "/apis", "/metrics"] {
            assert!(!is_health_path(p), "{p}");
        }
    }
}
