//! Connections into child clusters: a byte stream from a [`Dialer`] (the agent's tunnel, or a
//! direct TCP connection for clusters that do not tunnel), TLS verified against the child's CA
//! (Go Clusternet skips verification), and HTTP/1.1 on top.
//!
//! Connections are pooled per (cluster, CA, client certificate): consecutive requests of a
//! credential reuse an established TLS connection instead of dialing and handshaking through the
//! tunnel each time (Go Clusternet builds a new transport per request). Bearer tokens travel in
//! headers, so callers with different tokens share connections, as any HTTP client does.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::body::Body;
use crate::status::ApiError;

/// A byte stream into a child cluster.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A boxed [`Io`].
pub type BoxedIo = Box<dyn Io>;

/// Opens byte streams to addresses in child clusters.
pub trait Dialer: Send + Sync + 'static {
    /// Connects to `addr` (`host:port`) in cluster `cluster`.
    fn dial(&self, cluster: &str, addr: &str) -> BoxFuture<'static, io::Result<BoxedIo>>;
}

/// Dials addresses directly from the hub (clusters without a tunnel).
#[derive(Clone, Copy, Debug, Default)]
pub struct DirectDialer;

impl Dialer for DirectDialer {
    fn dial(&self, _cluster: &str, addr: &str) -> BoxFuture<'static, io::Result<BoxedIo>> {
        let addr = addr.to_string();
        Box::pin(async move {
            let tcp = tokio::time::timeout(
                Duration::from_secs(10),
                tokio::net::TcpStream::connect(&addr),
            )
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connecting to {addr} timed out"),
                )
            })??;
            let _ = tcp.set_nodelay(true);
            Ok(Box::new(tcp) as BoxedIo)
        })
    }
}

/// An established stream, TLS or not, as hyper-util's pool wants it.
pub struct Conn(TokioIo<ConnInner>);

enum ConnInner {
    Plain(BoxedIo),
    Tls(Box<tokio_rustls::client::TlsStream<BoxedIo>>),
}

impl AsyncRead for ConnInner {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ConnInner::Plain(io) => Pin::new(io).poll_read(cx, buf),
            ConnInner::Tls(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ConnInner {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ConnInner::Plain(io) => Pin::new(io).poll_write(cx, buf),
            ConnInner::Tls(io) => Pin::new(io).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ConnInner::Plain(io) => Pin::new(io).poll_flush(cx),
            ConnInner::Tls(io) => Pin::new(io).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ConnInner::Plain(io) => Pin::new(io).poll_shutdown(cx),
            ConnInner::Tls(io) => Pin::new(io).poll_shutdown(cx),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ConnInner::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            ConnInner::Tls(io) => Pin::new(io).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            ConnInner::Plain(io) => io.is_write_vectored(),
            ConnInner::Tls(io) => io.is_write_vectored(),
        }
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// hyper-util's connector: dial through the cluster's dialer, then TLS if the URI is https.
#[derive(Clone)]
pub struct Connector {
    cluster: String,
    dialer: Arc<dyn Dialer>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl tower::Service<http::Uri> for Connector {
    type Response = Conn;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Conn>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let https = uri.scheme_str() == Some("https");
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let addr = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            let io = this.dialer.dial(&this.cluster, &addr).await?;
            if !https {
                return Ok(Conn(TokioIo::new(ConnInner::Plain(io))));
            }
            let config = this
                .tls
                .clone()
                .ok_or_else(|| io::Error::other("no TLS configuration for this cluster"))?;
            let name = ServerName::try_from(host.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host}: {e}")))?;
            let tls = tokio::time::timeout(
                Duration::from_secs(10),
                tokio_rustls::TlsConnector::from(config).connect(name, io),
            )
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS handshake with the child timed out",
                )
            })??;
            Ok(Conn(TokioIo::new(ConnInner::Tls(Box::new(tls)))))
        })
    }
}

/// A pooled HTTP client into one cluster for one credential.
pub type ChildClient = Client<Connector, Body>;

type PoolKey = (String, [u8; 32]);

/// Pooled clients, by (cluster, CA, client certificate).
#[derive(Default)]
pub struct Transports {
    clients: Mutex<HashMap<PoolKey, ChildClient>>,
}

impl std::fmt::Debug for Transports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transports").finish_non_exhaustive()
    }
}

fn tls_config(
    ca_pem: &[u8],
    client_cert: Option<&(Vec<u8>, Vec<u8>)>,
) -> Result<rustls::ClientConfig, ApiError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| {
            ApiError::internal(format!("the child cluster's CA is not valid PEM: {e}"))
        })?;
        roots.add(cert).map_err(|e| {
            ApiError::internal(format!("the child cluster's CA is not usable: {e}"))
        })?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::internal(e.to_string()))?
        .with_root_certificates(roots);
    let mut config = match client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    ApiError::bad_request(format!(
                        "invalid certificate in extra clusternet-certificate: {e}"
                    ))
                })?;
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
                ApiError::bad_request(format!(
                    "invalid private key in extra clusternet-privatekey: {e}"
                ))
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ApiError::bad_request(format!("invalid key pair in extras: {e}")))?
        }
    };
    // HTTP/1.1 only: upgraded connections (exec, attach, port-forward, websocket watches)
    // cannot run over HTTP/2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

impl Transports {
    /// The client for `cluster` reached through `dialer` (named `route`: `tunnel` or
    /// `direct`), trusting `ca_pem` (None: only plain `http` targets possible) and presenting
    /// `client_cert`.
    pub fn client(
        &self,
        cluster: &str,
        route: &str,
        dialer: Arc<dyn Dialer>,
        ca_pem: Option<&[u8]>,
        client_cert: Option<&(Vec<u8>, Vec<u8>)>,
    ) -> Result<ChildClient, ApiError> {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        hasher.update(ca_pem.unwrap_or_default());
        if let Some((c, k)) = client_cert {
            hasher.update(b"\0cert\0");
            hasher.update(c);
            hasher.update(k);
        }
        hasher.update(b"\0route\0");
        hasher.update(route.as_bytes());
        let key = (cluster.to_string(), hasher.finalize().into());
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| ApiError::internal("transport pool poisoned"))?;
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let tls = match ca_pem {
            Some(ca) => Some(Arc::new(tls_config(ca, client_cert)?)),
            None => None,
        };
        let connector = Connector {
            cluster: cluster.to_string(),
            dialer,
            tls,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .build(connector);
        // Bound the number of distinct credentials kept (each holds idle connections).
        if clients.len() >= 1024 {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// Forgets the clients of `cluster` (its tunnel went away, or its CA changed).
    pub fn forget(&self, cluster: &str) {
        if let Ok(mut clients) = self.clients.lock() {
            clients.retain(|(c, _), _| c != cluster);
        }
    }
}
