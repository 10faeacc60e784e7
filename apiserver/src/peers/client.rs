//! Dialing a peer: one websocket to each live peer's `/connect`, over which that peer opens
//! `"<cluster>::tcp"` streams into the clusters whose tunnels this replica holds, and the
//! `"clusters"` stream on which this replica announces them. Redialed until the peer's Lease
//! goes.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use clusternet_tunnel::{
    BoxedIo, ConnectHandler, ConnectRequest, DialFuture, Dialer, RefusalMode, Session,
    SessionConfig,
};
use http::HeaderValue;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::lease::PeerInfo;
use super::{CLUSTER_PROTO_SUFFIX, CLUSTERS_PROTO, PEER_ID_HEADER, PEER_TARGET_HEADER, Peers};
use crate::proxies::tunnel::TunnelRegistry;

/// Serves the Connects a peer sends: only into clusters held here, never onwards to another
/// peer (no loops), and the announcement stream.
struct Local(Arc<TunnelRegistry>);

fn cluster_of(proto: &str) -> Option<&str> {
    proto
        .strip_suffix(CLUSTER_PROTO_SUFFIX)
        .filter(|id| !id.is_empty())
}

impl Dialer for Local {
    fn dial<'a>(&'a self, proto: &'a str, address: &'a str) -> DialFuture<'a> {
        Box::pin(async move {
            if proto == CLUSTERS_PROTO {
                return Ok(announcements(self.0.clone()));
            }
            let cluster = cluster_of(proto).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("unknown proto {proto}"),
                )
            })?;
            match self.0.dial_local(cluster, address) {
                Some(Ok(stream)) => Ok(Box::new(stream) as BoxedIo),
                Some(Err(err)) => Err(err),
                None => Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    format!("the tunnel of cluster {cluster} is not on this replica"),
                )),
            }
        })
    }
}

/// An in-memory stream carrying the set of clusters held here, again on every change.
fn announcements(registry: Arc<TunnelRegistry>) -> BoxedIo {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let mut ours = ours;
        let mut changes = registry.subscribe();
        loop {
            changes.mark_unchanged();
            let mut ids = registry.cluster_ids();
            ids.sort();
            let mut line = serde_json::to_vec(&ids).unwrap_or_else(|_| b"[]".to_vec());
            line.push(b'\n');
            if ours.write_all(&line).await.is_err() || ours.flush().await.is_err() {
                return;
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    });
    Box::new(theirs)
}

/// Keeps a session to `peer` until `stop`.
pub async fn run(peers: Arc<Peers>, peer: PeerInfo, stop: CancellationToken) {
    let url = format!("wss://{}/connect", join_host_port(&peer.host, peer.port));
    let mut delay = Duration::from_millis(100);
    loop {
        let attempt = async {
            let request = ConnectRequest::new(url.clone())
                .bearer_token(&peers.credentials().token()?)?
                .header(
                    http::HeaderName::from_static(PEER_ID_HEADER),
                    HeaderValue::from_str(peers.id())?,
                )
                .header(
                    http::HeaderName::from_static(PEER_TARGET_HEADER),
                    HeaderValue::from_str(&peer.id)?,
                )
                .tls(peers.credentials().client_config()?)
                .handshake_timeout(Duration::from_secs(5))
                .websocket_config(clusternet_tunnel::websocket_config());
            anyhow::Ok(request.connect().await?)
        };
        let ws = tokio::select! {
            r = attempt => r,
            _ = stop.cancelled() => return,
        };
        match ws {
            Ok(ws) => {
                let local = peers.local().clone();
                let handler = ConnectHandler::new({
                    let local = local.clone();
                    move |proto, _addr| {
                        proto == CLUSTERS_PROTO
                            || cluster_of(proto).is_some_and(|c| local.connected(c))
                    }
                })
                .with_dialer(Local(local))
                .with_refusal_mode(RefusalMode::ErrorStream);
                let (session, driver) = Session::client(ws, SessionConfig::client(), handler);
                tracing::info!(peer_id = %peer.id, url = %url, "connected to peer");
                delay = Duration::from_millis(100);
                let result = tokio::select! {
                    r = driver => r,
                    _ = stop.cancelled() => { session.close(); return; }
                };
                match result {
                    Ok(()) => tracing::info!(peer_id = %peer.id, "peer session closed"),
                    Err(err) => {
                        tracing::info!(peer_id = %peer.id, error = %err, "peer session lost")
                    }
                }
            }
            Err(err) => {
                tracing::debug!(peer_id = %peer.id, url = %url, error = %format!("{err:#}"), "dialing peer");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
