//! A minimal extension apiserver for proving the parent's aggregation layer works: TLS with a
//! serving cert for `<service>.<namespace>.svc`, client certs required from the front-proxy CA
//! (so only the aggregator gets in), legacy discovery for one group-version, and an echo of the
//! identity headers the aggregator forwarded.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use serde_json::json;
use tokio::net::TcpListener;

/// The group-version it serves.
pub const GROUP: &str = "e2e.clusternet.io";
/// The version it serves.
pub const VERSION: &str = "v1";

/// A request the server received: path and the forwarded `X-Remote-User`.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Request path.
    pub path: String,
    /// `X-Remote-User`, if any.
    pub user: Option<String>,
}

/// A running extension server; stops when dropped.
pub struct ExtensionServer {
    /// Where it listens (127.0.0.1, OS-chosen port).
    pub addr: SocketAddr,
    /// Requests received so far.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ExtensionServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ExtensionServer {
    /// Starts serving with `cert_pem`/`key_pem`, accepting only client certs signed by
    /// `client_ca_pem`.
    pub async fn start(cert_pem: &str, key_pem: &str, client_ca_pem: &str) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(client_ca_pem.as_bytes()) {
            roots.add(ca?)?;
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()?;
        let certs =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).context("serving key")?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen_task = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let seen = seen_task.clone();
                tokio::spawn(async move {
                    // A handshake failure (e.g. no or a wrong client cert) just drops the
                    // connection, which is what the test relies on.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = service_fn(move |req| {
                        let seen = seen.clone();
                        async move { Ok::<_, Infallible>(handle(req, &seen)) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, seen, task })
    }

    /// Requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

fn handle(req: Request<Incoming>, seen: &Mutex<Vec<Seen>>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let user = header("x-remote-user");
    let groups: Vec<String> = req
        .headers()
        .get_all("x-remote-group")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    if let Ok(mut s) = seen.lock() {
        s.push(Seen {
            path: path.clone(),
            user: user.clone(),
        });
    }
    let gv = format!("{GROUP}/{VERSION}");
    let (code, body) = match path.as_str() {
        "/apis" => (
            200,
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
                "name": GROUP, "versions": [{"groupVersion": gv, "version": VERSION}],
                "preferredVersion": {"groupVersion": gv, "version": VERSION}}]}),
        ),
        p if p == format!("/apis/{GROUP}") => (
            200,
            json!({"kind": "APIGroup", "apiVersion": "v1", "name": GROUP,
                "versions": [{"groupVersion": gv, "version": VERSION}],
                "preferredVersion": {"groupVersion": gv, "version": VERSION}}),
        ),
        p if p == format!("/apis/{gv}") => (
            200,
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": [{
                "name": "echoes", "singularName": "echo", "namespaced": false, "kind": "Echo", "verbs": ["get"]}]}),
        ),
        p if p.starts_with(&format!("/apis/{gv}/echoes/")) => (
            200,
            json!({"kind": "Echo", "apiVersion": gv,
                "metadata": {"name": p.rsplit('/').next().unwrap_or_default()},
                "user": user, "groups": groups}),
        ),
        _ => (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("{path} not found"), "reason": "NotFound", "code": 404}),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}
