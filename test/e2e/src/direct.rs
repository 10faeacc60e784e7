//! Talking to a server directly over TLS, bypassing the parent: with or without a client
//! certificate, with arbitrary headers, or with raw bytes (for malformed requests).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use clusternet_test_support::certs::Pem;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A TLS client for one server.
#[derive(Clone)]
pub struct DirectClient {
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
}

/// A response read whole.
#[derive(Clone, Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
}

impl DirectClient {
    /// A client to the kube-apiserver of `cp`, trusting its CA, presenting `client` if given
    /// (none: an anonymous caller).
    pub fn to_control_plane(
        cp: &clusternet_test_support::ControlPlane,
        client: Option<&Pem>,
    ) -> Result<Self> {
        let url: http::Uri = cp.server().parse()?;
        let addr = format!(
            "{}:{}",
            url.host().context("host")?,
            url.port_u16().context("port")?
        )
        .parse()?;
        Self::new(addr, "127.0.0.1", &cp.ca_pem()?, client)
    }

    /// A client for `addr` trusting `ca_pem`, presenting `client` if given; `server_name` is
    /// the name verified in the server's certificate.
    pub fn new(
        addr: SocketAddr,
        server_name: &str,
        ca_pem: &str,
        client: Option<&Pem>,
    ) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert?)?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let config = match client {
            Some(pem) => {
                let chain = CertificateDer::pem_slice_iter(pem.cert.as_bytes())
                    .collect::<Result<Vec<_>, _>>()?;
                let key = PrivateKeyDer::from_pem_slice(pem.key.as_bytes())?;
                builder.with_client_auth_cert(chain, key)?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Self {
            addr,
            config: Arc::new(config),
            server_name: ServerName::try_from(server_name.to_string())?,
        })
    }

    /// Opens a TLS connection (for raw writes).
    pub async fn connect(&self) -> Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        Ok(connector.connect(self.server_name.clone(), tcp).await?)
    }

    /// Sends one HTTP/1.1 request on a new connection and reads the whole response.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Reply> {
        let tls = self.connect().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default())))?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// GET with headers.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Result<Reply> {
        self.request(Method::GET, path, headers, None).await
    }
}

/// What came back for raw bytes written to a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawOutcome {
    /// The server answered: status code, content type, body.
    Response {
        /// Status code.
        status: u16,
        /// `Content-Type`, if any.
        content_type: Option<String>,
        /// The body as received.
        body: Vec<u8>,
    },
    /// The server closed the connection without answering.
    Closed,
    /// Nothing happened within the deadline (the server is still waiting).
    Silent,
}

impl DirectClient {
    /// Writes `bytes` on a new TLS connection (then half-closes if `close_write`) and reads
    /// whatever answer arrives within `deadline`.
    pub async fn raw(
        &self,
        bytes: &[u8],
        close_write: bool,
        deadline: std::time::Duration,
    ) -> Result<RawOutcome> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tls = self.connect().await?;
        // The server may answer and close before everything is written (e.g. headers too
        // large): a failed write still leaves its answer to read.
        let written = async {
            tls.write_all(bytes).await?;
            tls.flush().await
        }
        .await;
        if close_write && written.is_ok() {
            let _ = tls.shutdown().await;
        }
        let mut buf = Vec::new();
        let read = tokio::time::timeout(deadline, async {
            let mut chunk = [0u8; 8192];
            loop {
                match tls.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(done) = complete_response(&buf) {
                            buf.truncate(done);
                            break;
                        }
                    }
                }
            }
        })
        .await;
        if buf.is_empty() {
            return Ok(if read.is_err() {
                RawOutcome::Silent
            } else {
                RawOutcome::Closed
            });
        }
        parse_response(&buf)
    }
}

/// Length of a complete HTTP/1.1 response with Content-Length at the start of `buf`.
fn complete_response(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    })?;
    (buf.len() >= head_end + len).then_some(head_end + len)
}

fn parse_response(buf: &[u8]) -> Result<RawOutcome> {
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let content_type = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-type")
            .then(|| v.trim().to_string())
    });
    Ok(RawOutcome::Response {
        status,
        content_type,
        body: buf[head_end..].to_vec(),
    })
}
