//! The loopback endpoint the real kubectl talks to while a command runs: HTTPS on 127.0.0.1
//! with a certificate made for this run, accepting only the one-time bearer token written into
//! the temporary kubeconfig. Each request is rewritten (Go Clusternet's rule, or a child's proxy
//! path through the hub) and sent to the parent with the user's own credentials; answers,
//! watches and upgraded connections (exec, attach, port-forward) stream back unchanged.

use std::convert::Infallible;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::rewrite;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = UnsyncBoxBody<Bytes, BoxError>;

/// The largest request body passed on (kube-apiserver itself takes 3 MiB per object).
const MAX_REQUEST_BODY: usize = 64 << 20;

/// Where requests under one path prefix go.
#[derive(Clone, Debug)]
pub enum Route {
    /// Go Clusternet's rewriting: resources to the shadow API.
    Shadow,
    /// A child, through the hub's `sockets/<id>/proxy/direct`, as user `clusternet` with the
    /// child's credentials and child-side impersonation in user extras.
    Child {
        /// Cluster ID.
        cluster_id: String,
        /// `Impersonate-*` headers for the parent.
        headers: Vec<(HeaderName, HeaderValue)>,
    },
}

impl Route {
    pub fn upstream_path(&self, path: &str) -> String {
        match self {
            Route::Shadow => rewrite::shadow_path(path),
            Route::Child { cluster_id, .. } => format!(
                "/apis/{}/v1alpha1/sockets/{cluster_id}/proxy/direct{path}",
                clusternet_apis::known::PROXIES_GROUP
            ),
        }
    }
}

/// The running endpoint; stops when dropped.
pub struct Endpoint {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// The bearer token it accepts.
    pub token: String,
    /// Its certificate (PEM), the CA of the temporary kubeconfig.
    pub certificate_pem: String,
    task: JoinHandle<()>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct State {
    client: kube::Client,
    token: String,
    routes: Vec<(String, Route)>,
}

/// Starts the endpoint: requests under each prefix go by its route (longest prefix first).
pub async fn start(client: kube::Client, mut routes: Vec<(String, Route)>) -> Result<Endpoint> {
    routes.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
    let token = {
        use rand::Rng;
        let bytes: [u8; 32] = rand::rng().random();
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
        .context("making the loopback certificate")?;
    let certificate_pem = cert.cert.pem();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS versions")?
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .context("loopback TLS")?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("listening on loopback")?;
    let url = format!("https://{}", listener.local_addr()?);
    let state = Arc::new(State {
        client,
        token: token.clone(),
        routes,
    });
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let state = state.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(handle(&state, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Ok(Endpoint {
        url,
        token,
        certificate_pem,
        task,
    })
}

/// A `metav1.Status` answer, which kubectl prints as `Error from server (<reason>): <message>`.
fn status(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    let mut resp = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];

fn strip_hop_by_hop(headers: &mut http::HeaderMap, upgrading: bool) {
    let upgrade = headers.get(header::UPGRADE).cloned();
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
    if upgrading && let Some(upgrade) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, upgrade);
    }
}

async fn handle(state: &State, mut req: Request<Incoming>) -> Response<Body> {
    let expected = format!("Bearer {}", state.token);
    if req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        != Some(expected.as_bytes())
    {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    }
    let path = req.uri().path().to_string();
    let Some((rest, route)) = state.routes.iter().find_map(|(prefix, route)| {
        let rest = path.strip_prefix(prefix.as_str())?;
        (rest.is_empty() || rest.starts_with('/')).then_some((rest, route))
    }) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let rest = if rest.is_empty() { "/" } else { rest };
    let mut target = route.upstream_path(rest);
    if let Some(query) = req.uri().query() {
        target = format!("{target}?{query}");
    }
    let Ok(uri) = target.parse::<http::Uri>() else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "invalid request path",
        );
    };
    let upgrading = req.headers().contains_key(header::UPGRADE);
    let watching = req.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv == "watch=true" || kv == "watch=1" || kv == "watch")
    });
    let client_upgrade = upgrading.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            return status(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("reading the request body: {err}"),
            );
        }
    };
    let headers = &mut parts.headers;
    headers.remove(header::AUTHORIZATION);
    headers.remove(header::HOST);
    strip_hop_by_hop(headers, upgrading);
    if let Route::Child { headers: own, .. } = route {
        let theirs: Vec<HeaderName> = headers
            .keys()
            .filter(|n| n.as_str().starts_with("impersonate-"))
            .cloned()
            .collect();
        for name in theirs {
            headers.remove(name);
        }
        for (name, value) in own {
            headers.append(name.clone(), value.clone());
        }
    }
    parts.uri = uri;
    let request = Request::from_parts(parts, kube::client::Body::from(body));
    let mut resp = match state.client.send(request).await {
        Ok(resp) => resp,
        Err(err) => {
            return status(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                &format!("the parent API server did not answer: {err}"),
            );
        }
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_upgrade) = client_upgrade
    {
        let server_upgrade = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            if let (Ok(client), Ok(server)) = (client_upgrade.await, server_upgrade.await) {
                let _ = tokio::io::copy_bidirectional(
                    &mut TokioIo::new(client),
                    &mut TokioIo::new(server),
                )
                .await;
            }
        });
    } else {
        strip_hop_by_hop(resp.headers_mut(), false);
    }
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let resp = resp.map(|b| b.map_err(|e| Box::new(e) as BoxError).boxed_unsync());
    match (&route, rewrite::original_group_version(rest)) {
        (Route::Shadow, Some(gv)) if json => restore_api_version(resp, gv, watching).await,
        _ => resp,
    }
}

/// Go's hub answers shadow requests with the template's own `apiVersion`; this hub answers
/// `shadow/v1alpha1` (so that plain kubectl stays in the shadow API). Through the plugin the
/// answer is Go's: `deployment.apps/web created`, `apiVersion: apps/v1` in `-o yaml`.
async fn restore_api_version(resp: Response<Body>, gv: String, watching: bool) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    if watching {
        // One JSON event per line, as kube-apiserver streams them.
        let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(16);
        tokio::spawn(async move {
            use futures::SinkExt;
            let mut body = body;
            let mut pending: Vec<u8> = Vec::new();
            loop {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        let Ok(data) = frame.into_data() else {
                            continue;
                        };
                        pending.extend_from_slice(&data);
                        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = pending.drain(..=end).collect();
                            let out = Bytes::from(rewrite::restore_api_version(&line, &gv));
                            if tx.send(Ok(Frame::data(out))).await.is_err() {
                                return;
                            }
                        }
                    }
                    Some(Err(err)) => {
                        let _ = tx.send(Err(err)).await;
                        return;
                    }
                    None => {
                        if !pending.is_empty() {
                            let out = Bytes::from(rewrite::restore_api_version(&pending, &gv));
                            let _ = tx.send(Ok(Frame::data(out))).await;
                        }
                        return;
                    }
                }
            }
        });
        return Response::from_parts(parts, StreamBody::new(rx).boxed_unsync());
    }
    let bytes = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(err) => {
            return status(
                StatusCode::BAD_GATEWAY,
                "InternalError",
                &format!("reading the answer: {err}"),
            );
        }
    };
    let out = rewrite::restore_api_version(&bytes, &gv);
    Response::from_parts(
        parts,
        Full::new(Bytes::from(out))
            .map_err(|never| match never {})
            .boxed_unsync(),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use rustls_pki_types::pem::PemObject as _;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::{Route, start};

    /// What the parent (a mock service standing in for kube's transport) received.
    type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

    fn parent() -> (kube::Client, Seen) {
        let seen: Seen = Arc::default();
        let record = seen.clone();
        let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
            let auth = req
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(String::from);
            record
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((req.uri().path().to_string(), auth));
            async move {
                let body = br#"{"apiVersion":"shadow/v1alpha1","kind":"Deployment"}"#.to_vec();
                http::Response::builder()
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(kube::client::Body::from(body))
            }
        });
        (kube::Client::new(service, "default"), seen)
    }

    /// One HTTP/1.1 request over TLS to the endpoint; the status line and body.
    async fn call(endpoint: &super::Endpoint, path: &str, auth: Option<&str>) -> String {
        let mut roots = rustls::RootCertStore::empty();
        let der =
            rustls_pki_types::CertificateDer::from_pem_slice(endpoint.certificate_pem.as_bytes());
        roots.add(der.unwrap()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let addr = endpoint.url.trim_start_matches("https://");
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
        tls.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        let _ = tls.read_to_string(&mut out).await;
        out
    }

    #[tokio::test]
    async fn only_the_one_time_token_gets_in_and_it_never_leaves() {
        let (client, seen) = parent();
        let endpoint = start(client, vec![(String::new(), Route::Shadow)])
            .await
            .unwrap();
        let path = "/apis/apps/v1/namespaces/a/deployments/web";
        for auth in [None, Some("Bearer wrong"), Some("Basic YTpi")] {
            let out = call(&endpoint, path, auth).await;
            assert!(out.starts_with("HTTP/1.1 401"), "{auth:?}: {out}");
        }
        assert!(
            seen.lock().unwrap().is_empty(),
            "nothing reached the parent"
        );
        let token = format!("Bearer {}", endpoint.token);
        let out = call(&endpoint, path, Some(&token)).await;
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        // Go's rewriting on the way in, the template's apiVersion on the way out.
        assert!(out.contains(r#""apiVersion":"apps/v1""#), "{out}");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        assert_eq!(
            seen[0].0,
            "/apis/shadow/v1alpha1/namespaces/a/deployments/web"
        );
        assert_ne!(
            seen[0].1.as_deref(),
            Some(token.as_str()),
            "the one-time token stays local"
        );
    }

    #[test]
    fn child_route_goes_through_the_hub_unchanged() {
        let r = Route::Child {
            cluster_id: "abc".into(),
            headers: vec![],
        };
        assert_eq!(
            r.upstream_path("/api/v1/namespaces"),
            "/apis/proxies.clusternet.io/v1alpha1/sockets/abc/proxy/direct/api/v1/namespaces"
        );
        assert_eq!(
            Route::Shadow.upstream_path("/api/v1/namespaces"),
            "/apis/shadow/v1alpha1/namespaces"
        );
    }
}
