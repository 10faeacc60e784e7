//! The agent's side of opening the tunnel: the websocket to
//! `wss://<parent>/apis/proxies.clusternet.io/v1alpha1/sockets/<cluster-id>`.
//!
//! The parent kube-apiserver authenticates the bearer token, authorizes `sockets/<cluster-id>`
//! and proxies the upgrade to the hub. When it refuses (401 bad token, 403 missing RBAC, 503
//! hub unavailable or `SocketConnection` off), its answer is a Kubernetes `Status`; this module
//! turns that into [`ConnectError::Http`] with the status code and the Status message, instead
//! of a bare "bad handshake".
//!
//! TLS uses the caller's [`rustls::ClientConfig`] (build it with the ring provider), so the
//! crypto provider is always explicit.
//!
//! ```no_run
//! use std::sync::Arc;
//! use clusternet_tunnel::{socket_url, ConnectRequest, ConnectHandler, Session, SessionConfig};
//!
//! # async fn demo(tls: Arc<rustls::ClientConfig>, token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let url = socket_url("https://parent.example:6443", "2d4fb1d9-4b1a-4c43-8e4b-8c1b0d6f3f52")?;
//! assert_eq!(
//!     url,
//!     "wss://parent.example:6443/apis/proxies.clusternet.io/v1alpha1/sockets/2d4fb1d9-4b1a-4c43-8e4b-8c1b0d6f3f52"
//! );
//! let ws = ConnectRequest::new(url).bearer_token(token)?.tls(tls).connect().await?;
//! let (_session, driver) = Session::client(ws, SessionConfig::client(), ConnectHandler::allow_all());
//! driver.await?; // runs until the tunnel drops; reconnect in a loop
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, protocol::WebSocketConfig};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// The websocket an agent gets from [`ConnectRequest::connect`].
pub type ClientWebSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// remotedialer `HandshakeTimeOut`.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The path under the parent apiserver where the hub serves tunnels.
pub const SOCKETS_PATH: &str = "apis/proxies.clusternet.io/v1alpha1/sockets";

/// Why the tunnel websocket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL or a header is unusable.
    #[error("invalid tunnel request: {0}")]
    InvalidRequest(String),
    /// `wss://` needs a TLS configuration.
    #[error("a wss:// tunnel URL needs a rustls ClientConfig")]
    TlsConfigRequired,
    /// The server answered the upgrade with an HTTP error.
    #[error("tunnel websocket refused: HTTP {status}{}: {message}", reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Http {
        /// The HTTP status.
        status: StatusCode,
        /// `Status.reason` when the body is a Kubernetes Status (`Unauthorized`, `Forbidden`, ...).
        reason: Option<String>,
        /// `Status.message`, or the start of the body.
        message: String,
    },
    /// No answer to the upgrade within the handshake timeout.
    #[error("tunnel websocket handshake timed out after {0:?}")]
    HandshakeTimeout(Duration),
    /// Connecting, TLS or the websocket handshake failed.
    #[error("tunnel websocket: {0}")]
    WebSocket(#[source] tungstenite::Error),
}

impl ConnectError {
    /// The HTTP status when the server refused the upgrade.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ConnectError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn from_response(status: StatusCode, body: Option<&[u8]>) -> Self {
        let body = body.unwrap_or_default();
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .filter(|v| v.get("kind").and_then(|k| k.as_str()) == Some("Status"))
                .and_then(|v| v.get(name))
                .and_then(|m| m.as_str())
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
        };
        let message = field("message").unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("no response body")
                    .to_owned()
            } else {
                text.chars().take(512).collect()
            }
        });
        ConnectError::Http {
            status,
            reason: field("reason"),
            message,
        }
    }
}

/// The tunnel URL for a parent apiserver URL and cluster id, as Clusternet's agent builds it:
/// `http` → `ws`, `https` → `wss`, and [`SOCKETS_PATH`]`/<cluster-id>` appended to any path.
pub fn socket_url(parent_server: &str, cluster_id: &str) -> Result<String, ConnectError> {
    Ok(format!(
        "{}/{cluster_id}",
        sockets_base(parent_server, cluster_id)?
    ))
}

/// The same tunnel asked for as a watch of the cluster's own socket:
/// [`SOCKETS_PATH`]`?watch=true&fieldSelector=metadata.name%3D<cluster-id>`.
///
/// kube-apiserver counts the `sockets/<cluster-id>` GET as an ordinary request, so API
/// Priority and Fairness holds a seat for it for as long as the tunnel is up; with the
/// FlowSchema that puts tunnels in `exempt`, a thousand tunnels are a thousand exempt seats,
/// which the apiserver takes out of what every other priority level may borrow. A watch is
/// long-running: its seat is given back as soon as the aggregator hands it to the hub. RBAC
/// authorizes it as `watch` on `sockets` with the cluster id as the resource name, which the
/// agent's role (`sockets`, its own id, every verb) already allows. Go Clusternet's hub does
/// not serve this form; an agent falls back to [`socket_url`] when it is refused with 404 or
/// 405.
pub fn watch_socket_url(parent_server: &str, cluster_id: &str) -> Result<String, ConnectError> {
    Ok(format!(
        "{}?watch=true&fieldSelector=metadata.name%3D{cluster_id}",
        sockets_base(parent_server, cluster_id)?
    ))
}

/// `<ws|wss>://<authority><path>/`[`SOCKETS_PATH`], after checking the cluster id.
fn sockets_base(parent_server: &str, cluster_id: &str) -> Result<String, ConnectError> {
    let uri: http::Uri = parent_server
        .parse()
        .map_err(|e| ConnectError::InvalidRequest(format!("parent URL {parent_server:?}: {e}")))?;
    let scheme = match uri.scheme_str() {
        Some("https") | Some("wss") => "wss",
        Some("http") | Some("ws") => "ws",
        other => {
            return Err(ConnectError::InvalidRequest(format!(
                "parent URL scheme {other:?} is not http or https"
            )));
        }
    };
    let authority = uri
        .authority()
        .ok_or_else(|| ConnectError::InvalidRequest("parent URL has no host".to_owned()))?;
    // A cluster id is a UID: nothing in it needs escaping in a path or a query.
    if cluster_id.is_empty()
        || !cluster_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        return Err(ConnectError::InvalidRequest(format!(
            "invalid cluster id {cluster_id:?}"
        )));
    }
    let mut path = String::new();
    for segment in uri.path().split('/').filter(|s| !s.is_empty()) {
        path.push('/');
        path.push_str(segment);
    }
    Ok(format!("{scheme}://{authority}{path}/{SOCKETS_PATH}"))
}

/// Opens the tunnel websocket; see the [module docs](self).
#[derive(Clone)]
pub struct ConnectRequest {
    url: String,
    headers: HeaderMap,
    tls: Option<Arc<rustls::ClientConfig>>,
    handshake_timeout: Duration,
    websocket: WebSocketConfig,
}

impl std::fmt::Debug for ConnectRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers are left out: they carry the bearer token.
        f.debug_struct("ConnectRequest")
            .field("url", &self.url)
            .field("tls", &self.tls.is_some())
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl ConnectRequest {
    /// A request for `url` (`ws://` or `wss://`).
    pub fn new(url: impl Into<String>) -> Self {
        ConnectRequest {
            url: url.into(),
            headers: HeaderMap::new(),
            tls: None,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            websocket: crate::config::agent_websocket_config(),
        }
    }

    /// The URL this request opens.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Send `Authorization: Bearer <token>` (marked sensitive, never logged).
    pub fn bearer_token(self, token: &str) -> Result<Self, ConnectError> {
        let mut value = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
            ConnectError::InvalidRequest("bearer token is not a valid header value".to_owned())
        })?;
        value.set_sensitive(true);
        Ok(self.header(http::header::AUTHORIZATION, value))
    }

    /// Send an extra header (replacing any earlier value of that name).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// TLS for `wss://`. ALPN is forced to `http/1.1`, the only protocol a websocket upgrade
    /// works over.
    pub fn tls(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Give up on the TCP, TLS and upgrade handshakes after this long (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Websocket limits and buffer sizes (default:
    /// [`agent_websocket_config`](crate::agent_websocket_config)).
    pub fn websocket_config(mut self, config: WebSocketConfig) -> Self {
        self.websocket = config;
        self
    }

    /// Connect, upgrade, and return the websocket for [`Session::client`](crate::Session::client).
    pub async fn connect(&self) -> Result<ClientWebSocket, ConnectError> {
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| ConnectError::InvalidRequest(e.to_string()))?;
        for (name, value) in &self.headers {
            request.headers_mut().insert(name, value.clone());
        }
        let connector = match request.uri().scheme_str() {
            Some("wss") => {
                let tls = self.tls.clone().ok_or(ConnectError::TlsConfigRequired)?;
                Connector::Rustls(http11_only(tls))
            }
            Some("ws") => Connector::Plain,
            other => {
                return Err(ConnectError::InvalidRequest(format!(
                    "URL scheme {other:?} is not ws or wss"
                )));
            }
        };
        let handshake = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(self.websocket),
            true,
            Some(connector),
        );
        match tokio::time::timeout(self.handshake_timeout, handshake).await {
            Err(_) => Err(ConnectError::HandshakeTimeout(self.handshake_timeout)),
            Ok(Ok((ws, _response))) => Ok(ws),
            Ok(Err(tungstenite::Error::Http(response))) => Err(ConnectError::from_response(
                response.status(),
                response.body().as_deref(),
            )),
            Ok(Err(e)) => Err(ConnectError::WebSocket(e)),
        }
    }
}

fn http11_only(config: Arc<rustls::ClientConfig>) -> Arc<rustls::ClientConfig> {
    if config
        .alpn_protocols
        .iter()
        .all(|p| p.as_slice() == b"http/1.1")
    {
        return config;
    }
    let mut config = (*config).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_url_like_clusternet() {
        assert_eq!(
            socket_url("https://10.0.0.1:6443", "abc").unwrap(),
            "wss://10.0.0.1:6443/apis/proxies.clusternet.io/v1alpha1/sockets/abc"
        );
        assert_eq!(
            socket_url("http://parent/prefix/", "abc").unwrap(),
            "ws://parent/prefix/apis/proxies.clusternet.io/v1alpha1/sockets/abc"
        );
        assert!(socket_url("ftp://parent", "abc").is_err());
        assert!(socket_url("https://parent", "a/b").is_err());
    }

    #[test]
    fn watch_socket_url_names_the_socket_in_a_field_selector() {
        assert_eq!(
            watch_socket_url("https://10.0.0.1:6443/prefix", "2d4fb1d9-4b1a").unwrap(),
            "wss://10.0.0.1:6443/prefix/apis/proxies.clusternet.io/v1alpha1/sockets?watch=true&fieldSelector=metadata.name%3D2d4fb1d9-4b1a"
        );
        // Nothing that would change the query or the path gets in.
        for id in [
            "a&watch=false",
            "a,metadata.name=b",
            "a b",
            "a?b",
            "a/b",
            "",
        ] {
            assert!(watch_socket_url("https://parent", id).is_err(), "{id:?}");
        }
    }

    #[test]
    fn status_body_becomes_message() {
        let body = br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;
        let e = ConnectError::from_response(StatusCode::UNAUTHORIZED, Some(body));
        assert_eq!(e.status(), Some(StatusCode::UNAUTHORIZED));
        assert_eq!(
            e.to_string(),
            "tunnel websocket refused: HTTP 401 Unauthorized (Unauthorized): Unauthorized"
        );
        let plain = ConnectError::from_response(StatusCode::SERVICE_UNAVAILABLE, Some(b"no hub\n"));
        assert_eq!(
            plain.to_string(),
            "tunnel websocket refused: HTTP 503 Service Unavailable: no hub"
        );
        let empty = ConnectError::from_response(StatusCode::FORBIDDEN, None);
        assert!(empty.to_string().ends_with("HTTP 403 Forbidden: Forbidden"));
    }
}
