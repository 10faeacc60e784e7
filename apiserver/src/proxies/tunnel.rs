//! The agents' tunnels, hub side: `sockets/<cluster-id>` upgraded to a WebSocket (the agent
//! dials it through the parent, whose RBAC allows each cluster's credentials only its own
//! socket), one remotedialer-compatible session per cluster, and a [`Dialer`] that opens streams
//! through them. A new tunnel from a cluster replaces its old one (an agent that restarted, or
//! a failover between agent replicas).
//!
//! Clusternet's socket metrics: `clusternet_socket_connections_count` and
//! `clusternet_socket_connections_duration_seconds`.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

use clusternet_tunnel::tokio_tungstenite::WebSocketStream;
use clusternet_tunnel::tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use clusternet_tunnel::tokio_tungstenite::tungstenite::protocol::Role;
use clusternet_tunnel::{Session, SessionConfig, websocket_config};
use futures::future::BoxFuture;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;

use crate::body::{self, Body};
use crate::metrics::Metrics;
use crate::proxies::transport::{BoxedIo, Dialer, Transports};
use crate::status::ApiError;

/// Where a cluster whose tunnel this hub does not hold is reached: the hub's peers (the other
/// replicas, [`crate::peers`]). Only set when peering is on.
pub trait Fallback: Send + Sync + 'static {
    /// Connects to `addr` in `cluster` through the replica that holds its tunnel, waiting a
    /// little for a reconnecting agent.
    fn dial(self: Arc<Self>, cluster: &str, addr: &str) -> BoxFuture<'static, io::Result<BoxedIo>>;
}

/// The registry of connected tunnels.
pub struct TunnelRegistry {
    sessions: Mutex<HashMap<String, (u64, Session)>>,
    /// Bumped whenever a tunnel comes or goes (peers announce the set they hold).
    changes: tokio::sync::watch::Sender<u64>,
    fallback: OnceLock<Weak<dyn Fallback>>,
    max: usize,
    next: std::sync::atomic::AtomicU64,
    metrics: Metrics,
    /// The proxy's connection pool: a cluster's pooled connections go with its tunnel.
    transports: Arc<Transports>,
}

impl std::fmt::Debug for TunnelRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelRegistry").finish_non_exhaustive()
    }
}

impl TunnelRegistry {
    /// An empty registry reporting to `metrics`, holding at most `max` tunnels; a tunnel that
    /// is replaced or lost evicts its cluster's connections from `transports`.
    pub fn new(metrics: Metrics, max: usize, transports: Arc<Transports>) -> Arc<Self> {
        metrics.set_limit("tunnels", max);
        Arc::new(Self {
            sessions: Mutex::new(HashMap::new()),
            changes: tokio::sync::watch::Sender::new(0),
            fallback: OnceLock::new(),
            max,
            next: Default::default(),
            metrics,
            transports,
        })
    }

    fn session(&self, id: &str) -> Option<Session> {
        let sessions = self.sessions.lock().ok()?;
        sessions
            .get(id)
            .map(|(_, s)| s.clone())
            .filter(|s| !s.is_closed())
    }

    /// Whether a tunnel for `id` may be added: it replaces its own, or there is room.
    fn has_room(&self, id: &str) -> bool {
        self.sessions
            .lock()
            .map(|s| s.contains_key(id) || s.len() < self.max)
            .unwrap_or(false)
    }

    /// Forgets the pooled connections into cluster `id` (its route changed).
    pub fn forget_connections(&self, id: &str) {
        self.transports.forget(id);
    }

    /// Notified whenever a tunnel comes or goes.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The clusters whose tunnels this hub holds.
    pub fn cluster_ids(&self) -> Vec<String> {
        self.sessions
            .lock()
            .map(|s| {
                s.iter()
                    .filter(|(_, (_, session))| !session.is_closed())
                    .map(|(id, _)| id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A stream to `addr` through this hub's own tunnel of `cluster`, if it holds one.
    pub fn dial_local(&self, cluster: &str, addr: &str) -> Option<io::Result<BoxedIo>> {
        let session = self.session(cluster)?;
        Some(
            session
                .dial("tcp", addr)
                .map(|s| Box::new(s) as BoxedIo)
                .map_err(|e| io::Error::new(io::ErrorKind::ConnectionRefused, e.to_string())),
        )
    }

    /// Reach clusters whose tunnels this hub does not hold through `fallback` (set once).
    pub fn set_fallback(&self, fallback: Weak<dyn Fallback>) {
        let _ = self.fallback.set(fallback);
    }

    /// Whether clusters not held here may still be reached (peering is on).
    pub fn has_fallback(&self) -> bool {
        self.fallback.get().is_some()
    }

    fn changed(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Registers a session for `id`, closing the one it replaces; returns its generation.
    fn register(&self, id: &str, session: Session) -> u64 {
        let generation = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let old = self
            .sessions
            .lock()
            .ok()
            .and_then(|mut s| s.insert(id.to_string(), (generation, session)));
        match old {
            Some((_, old)) => {
                tracing::info!(cluster_id = id, "a new tunnel replaces the previous one");
                old.close();
            }
            None => self.metrics.socket_connections.inc(),
        }
        self.forget_connections(id);
        self.changed();
        generation
    }

    fn unregister(&self, id: &str, generation: u64) {
        let removed = self
            .sessions
            .lock()
            .ok()
            .map(|mut s| match s.get(id) {
                Some((g, _)) if *g == generation => s.remove(id).is_some(),
                _ => false,
            })
            .unwrap_or(false);
        if removed {
            self.metrics.socket_connections.dec();
            self.forget_connections(id);
            self.changed();
        }
    }
}

struct TunnelDialer(Arc<TunnelRegistry>);

impl Dialer for TunnelDialer {
    fn dial(&self, cluster: &str, addr: &str) -> BoxFuture<'static, io::Result<BoxedIo>> {
        let session = self.0.session(cluster);
        if session.is_none()
            && let Some(fallback) = self.0.fallback.get().and_then(Weak::upgrade)
        {
            return fallback.dial(cluster, addr);
        }
        let cluster = cluster.to_string();
        let addr = addr.to_string();
        Box::pin(async move {
            let session = session.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotConnected,
                    format!("the agent of cluster {cluster} is disconnected"),
                )
            })?;
            let stream = session
                .dial("tcp", &addr)
                .map_err(|e| io::Error::new(io::ErrorKind::ConnectionRefused, e.to_string()))?;
            Ok(Box::new(stream) as BoxedIo)
        })
    }
}

fn header_has(req: &Request<Body>, name: header::HeaderName, token: &str) -> bool {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

impl TunnelRegistry {
    /// Whether cluster `id` has a connected tunnel.
    pub fn connected(&self, id: &str) -> bool {
        self.session(id).is_some()
    }

    /// A dialer through the tunnels.
    pub fn dialer(self: &Arc<Self>) -> Arc<dyn Dialer> {
        Arc::new(TunnelDialer(self.clone()))
    }

    /// Accepts a tunnel from the agent of cluster `id` (a WebSocket upgrade request).
    pub fn accept(
        self: &Arc<Self>,
        id: String,
        mut req: Request<Body>,
    ) -> BoxFuture<'static, Result<Response<Body>, ApiError>> {
        let registry = self.clone();
        Box::pin(async move {
            if !(header_has(&req, header::UPGRADE, "websocket")
                && header_has(&req, header::CONNECTION, "upgrade"))
            {
                return Err(ApiError::bad_request(
                    "the tunnel endpoint takes a WebSocket upgrade",
                ));
            }
            if !registry.has_room(&id) {
                tracing::warn!(cluster_id = %id, max = registry.max, "refused a tunnel: the hub holds its maximum number of tunnels (--max-tunnels)");
                return Err(ApiError::too_many_requests(
                    format!(
                        "the hub holds its maximum of {} tunnels, please try again later",
                        registry.max
                    ),
                    5,
                ));
            }
            let key = req
                .headers()
                .get(header::SEC_WEBSOCKET_KEY)
                .ok_or_else(|| ApiError::bad_request("missing Sec-WebSocket-Key"))?
                .as_bytes()
                .to_vec();
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let upgraded = match on_upgrade.await {
                    Ok(u) => u,
                    Err(err) => {
                        tracing::info!(cluster_id = %id, error = %err, "tunnel upgrade failed");
                        return;
                    }
                };
                // Go agents send each write as one frame of any size: websocket_config()
                // raises tungstenite's limits accordingly.
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(websocket_config()),
                )
                .await;
                let (session, driver) = Session::server(ws, SessionConfig::server());
                let generation = registry.register(&id, session);
                tracing::info!(cluster_id = %id, "tunnel connected");
                let started = Instant::now();
                let result = driver.await;
                registry.unregister(&id, generation);
                registry
                    .metrics
                    .socket_duration
                    .observe(started.elapsed().as_secs_f64());
                match result {
                    Ok(()) => tracing::info!(cluster_id = %id, "tunnel closed"),
                    Err(err) => tracing::info!(cluster_id = %id, error = %err, "tunnel lost"),
                }
            });
            let mut resp = Response::new(body::empty());
            *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            let h = resp.headers_mut();
            h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            let accept = HeaderValue::from_str(&derive_accept_key(&key))
                .map_err(|e| ApiError::internal(e.to_string()))?;
            h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
            Ok(resp)
        })
    }
}
