//! The peer port: `GET /connect` upgraded to a websocket by another replica (authenticated by
//! the peer token, see [`super::auth`]); the session it opens lets this replica reach the
//! clusters whose tunnels the dialer holds. Nothing else is served.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clusternet_tunnel::tokio_tungstenite::WebSocketStream;
use clusternet_tunnel::tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use clusternet_tunnel::tokio_tungstenite::tungstenite::protocol::Role;
use clusternet_tunnel::{Session, SessionConfig, websocket_config};
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncBufReadExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{CLUSTERS_PROTO, PEER_ID_HEADER, PEER_TARGET_HEADER, Peers};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest cluster-set announcement accepted (10,000 IDs of 36 characters fit well below).
const MAX_ANNOUNCEMENT: usize = 4 << 20;

/// Serves the peer port until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    peers: Arc<Peers>,
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
    shutdown: CancellationToken,
) {
    let config = match rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    {
        Ok(b) => {
            let mut c = b.with_no_client_auth().with_cert_resolver(resolver);
            c.alpn_protocols = vec![b"http/1.1".to_vec()];
            c
        }
        Err(err) => {
            tracing::error!(error = %err, "peer TLS configuration");
            return;
        }
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a peer connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let peers = peers.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => {
                    tracing::debug!(%remote, error = %err, "peer TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = hyper::service::service_fn(move |req| {
                let peers = peers.clone();
                let shutdown = shutdown.clone();
                async move { Ok::<_, Infallible>(handle(peers, req, shutdown)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT)
                .serve_connection(TokioIo::new(tls), service)
                .with_upgrades()
                .await;
        });
    }
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *resp.status_mut() = status;
    resp
}

fn header_has(req: &Request<Incoming>, name: header::HeaderName, token: &str) -> bool {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// A peer ID as [`super::random_id`] makes them (and nothing that could upset a log line).
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 63
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn handle(
    peers: Arc<Peers>,
    mut req: Request<Incoming>,
    shutdown: CancellationToken,
) -> Response<Full<Bytes>> {
    if req.uri().path() != "/connect" {
        return plain(StatusCode::NOT_FOUND, "not found");
    }
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if !peers.credentials().check(authorization) {
        tracing::warn!(
            remote_peer = req
                .headers()
                .get(PEER_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
            "refused a peer connection without the peer token"
        );
        return plain(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let header_str = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (peer, target) = (header_str(PEER_ID_HEADER), header_str(PEER_TARGET_HEADER));
    if target != peers.id() {
        // A stale Lease: its address is now another replica's.
        return plain(StatusCode::NOT_FOUND, "no such peer here");
    }
    if !valid_id(&peer) || peer == peers.id() {
        return plain(StatusCode::BAD_REQUEST, "invalid peer ID");
    }
    if !(req.method() == http::Method::GET
        && header_has(&req, header::UPGRADE, "websocket")
        && header_has(&req, header::CONNECTION, "upgrade"))
    {
        return plain(
            StatusCode::BAD_REQUEST,
            "/connect takes a websocket upgrade",
        );
    }
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return plain(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
    };
    let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) else {
        return plain(StatusCode::BAD_REQUEST, "bad Sec-WebSocket-Key");
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(err) => {
                tracing::info!(peer_id = %peer, error = %err, "peer upgrade failed");
                return;
            }
        };
        let ws = WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            Some(websocket_config()),
        )
        .await;
        let (session, driver) = Session::server(ws, SessionConfig::server());
        let generation = peers.add_remote(&peer, session.clone());
        tracing::info!(peer_id = %peer, "peer connected");
        let reader = read_announcements(peers.clone(), peer.clone(), generation, session.clone());
        let result = tokio::select! {
            r = driver => r,
            _ = shutdown.cancelled() => { session.close(); Ok(()) }
        };
        reader.abort();
        peers.remove_remote(&peer, generation);
        match result {
            Ok(()) => tracing::info!(peer_id = %peer, "peer disconnected"),
            Err(err) => tracing::info!(peer_id = %peer, error = %err, "peer lost"),
        }
    });
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    resp
}

/// Reads the peer's announcements of the clusters it holds (one JSON array per line).
fn read_announcements(
    peers: Arc<Peers>,
    peer: String,
    generation: u64,
    session: Session,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let stream = match session.dial(CLUSTERS_PROTO, "") {
            Ok(s) => s,
            Err(err) => {
                tracing::info!(peer_id = %peer, error = %err, "asking a peer for its tunnels");
                session.close();
                return;
            }
        };
        let mut lines = tokio::io::BufReader::new(stream);
        let mut line = String::new();
        loop {
            line.clear();
            let read = {
                let limited = (&mut lines).take(MAX_ANNOUNCEMENT as u64);
                let mut limited = limited;
                limited.read_line(&mut line).await
            };
            match read {
                Ok(0) | Err(_) => break,
                Ok(_) => match serde_json::from_str::<Vec<String>>(line.trim_end()) {
                    Ok(ids) => {
                        peers.announce(&peer, generation, ids.into_iter().collect::<HashSet<_>>())
                    }
                    Err(err) => {
                        tracing::warn!(peer_id = %peer, error = %err, "unreadable announcement from a peer");
                        break;
                    }
                },
            }
        }
        // Without announcements the peer's routes would go stale: end the session, the peer
        // dials again.
        session.close();
    })
}

use tokio::io::AsyncReadExt as _;
