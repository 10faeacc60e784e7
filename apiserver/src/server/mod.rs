//! The listener: accept TCP, handshake TLS (with a deadline), serve HTTP/1.1 or HTTP/2 by ALPN
//! with upgrades, attach the connection's client certificates to each request, and drain
//! gracefully on shutdown.

pub use clusternet_component_base::serving::tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::authn::PeerCertificates;
use crate::body;
use crate::stack::HubService;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send request headers (half-sent requests are closed).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long in-flight requests get to finish on shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The cap on open client connections, and the gauge that counts them.
#[derive(Clone, Debug)]
pub struct ConnectionLimit {
    slots: Arc<tokio::sync::Semaphore>,
    max: usize,
    open: prometheus::IntGauge,
}

impl ConnectionLimit {
    /// At most `max` connections, reported in `metrics`.
    pub fn new(max: usize, metrics: crate::metrics::Metrics) -> Self {
        metrics.set_limit("connections", max);
        Self {
            slots: Arc::new(tokio::sync::Semaphore::new(max)),
            max,
            open: metrics.connections,
        }
    }
}

/// The peer address, attached to each request.
#[derive(Clone, Copy, Debug)]
pub struct RemoteAddr(pub SocketAddr);

/// Serves `service` on `listener` until `shutdown` fires, then drains.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    service: HubService,
    limit: ConnectionLimit,
    shutdown: CancellationToken,
) {
    let mut refused: u64 = 0;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .max_concurrent_streams(1000)
        // Enough window for large LIST and log streams to run at full speed.
        .initial_stream_window_size(4 * 1024 * 1024)
        .initial_connection_window_size(16 * 1024 * 1024);
    let builder = Arc::new(builder);

    loop {
        let (tcp, remote) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(err) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Over the cap, a connection is closed at once: a fast failure for the client, and no
        // queue of half-open connections in the hub.
        let Ok(permit) = limit.slots.clone().try_acquire_owned() else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(%remote, max = limit.max, refused, "closing a new connection: the hub holds its maximum number of connections (--max-connections)");
            }
            drop(tcp);
            continue;
        };
        let slot = crate::metrics::GaugedPermit::new(permit, limit.open.clone());
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = service.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => {
                    tracing::debug!(%remote, error = %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%remote, "TLS handshake timed out");
                    return;
                }
            };
            let peer = PeerCertificates(Arc::new(
                tls.get_ref()
                    .1
                    .peer_certificates()
                    .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                    .unwrap_or_default(),
            ));
            let per_conn = hyper::service::service_fn(move |req: Request<Incoming>| {
                let mut req = req.map(body::boxed);
                req.extensions_mut().insert(peer.clone());
                req.extensions_mut().insert(RemoteAddr(remote));
                let service = service.clone();
                async move {
                    Ok::<_, Infallible>(
                        service
                            .oneshot(req)
                            .await
                            .unwrap_or_else(|never| match never {}),
                    )
                }
            });
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), per_conn);
            if let Err(err) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%remote, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections drained"),
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("drain timed out; closing remaining connections"),
    }
}
