//! Hub high availability: N replicas behind one Service, each holding the tunnels of the agents
//! that happened to land on it, and each able to serve a proxied request for any cluster.
//!
//! As Go Clusternet (`pkg/hub/hub.go`, rancher/remotedialer peering):
//! - every replica holds a Lease `clusternet-hub-peer-<id>` in `--peer-lease-namespace` whose
//!   `holderIdentity` is JSON `{"id","host","port"}` ([`lease`]), renewed every few seconds
//!   and deleted on shutdown; the others find it by listing the namespace's Leases;
//! - every replica serves `wss://<host>:<port>/connect` ([`server`]) and dials that of every
//!   live peer ([`client`]): the dialing replica plays the agent's part in a remotedialer
//!   session, so the dialed one can open streams through it — `"<cluster>::tcp"` to an address
//!   in a cluster whose tunnel the dialer holds, and `"clusters"`, a stream of JSON lines with
//!   the set of clusters it holds, sent again on every change;
//! - a proxied request for a cluster whose tunnel is not held locally goes through the peer
//!   that announced it, as a byte stream: TLS to the child, watches and upgraded
//!   exec/port-forward connections run over it unchanged. With no route yet (the agent is
//!   reconnecting after its replica died) the request waits up to `--peer-tunnel-wait`.
//!
//! Authentication, both ways, without Go's fixed default `--peer-token`:
//! - the dialed peer must present exactly the hub's own serving certificate (all replicas
//!   share it through `--serving-cert-secret` or a mounted `--tls-cert-file`), and prove in
//!   the TLS handshake that it holds its key;
//! - the dialing peer sends a bearer token derived from the serving private key (and
//!   `--peer-token` when given): SHA-256 over a domain-separation string, the key, and the
//!   token. Only a holder of the serving key can compute it, so anonymous callers, agents'
//!   credentials, bootstrap tokens or any client certificate get 401.
//!
//! A single replica (no `--peer-advertise-address`) starts none of this, and the request path
//! is unchanged: the tunnel registry consults its [`Fallback`](crate::proxies::tunnel::Fallback)
//! only for a cluster it does not hold.

pub mod auth;
pub mod client;
pub mod lease;
pub mod options;
pub mod server;

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clusternet_tunnel::Session;
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::proxies::transport::BoxedIo;
use crate::proxies::tunnel::{Fallback, TunnelRegistry};

pub use options::PeerOptions;

/// The stream a peer opens to learn which clusters the other holds.
pub const CLUSTERS_PROTO: &str = "clusters";
/// The suffix of the proto of a stream into a cluster: `"<cluster>::tcp"`.
pub const CLUSTER_PROTO_SUFFIX: &str = "::tcp";
/// Header naming the dialing peer.
pub const PEER_ID_HEADER: &str = "x-clusternet-peer-id";
/// Header naming the peer the dialer means to reach (a stale Lease may point at an address a
/// new replica now listens on).
pub const PEER_TARGET_HEADER: &str = "x-clusternet-peer-target";

/// A peer that dialed us, the session through which we reach its clusters, and the clusters
/// it last announced.
struct Remote {
    generation: u64,
    session: Session,
    clusters: HashSet<String>,
}

/// This replica's view of its peers.
pub struct Peers {
    id: String,
    local: Arc<TunnelRegistry>,
    remotes: Mutex<HashMap<String, Remote>>,
    changes: watch::Sender<u64>,
    next: std::sync::atomic::AtomicU64,
    wait: Duration,
    credentials: auth::Credentials,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What [`start`] needs besides the flags.
#[derive(Debug)]
pub struct Serving {
    /// The hub's serving certificate (PEM file) — what peers present and pin.
    pub cert: PathBuf,
    /// Its private key (PEM file) — what the peer token is derived from.
    pub key: PathBuf,
    /// The certificate resolver of the hub's listener (reloads with the files).
    pub resolver: Arc<dyn rustls::server::ResolvesServerCert>,
    /// The address the hub's secure port binds (the peer port binds the same IP).
    pub bind: std::net::IpAddr,
}

/// A random peer ID, as Go's (`utilrand.String(known.DefaultRandomIDLength)`): 12 characters
/// of `[a-z0-9]`.
fn random_id() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    bytes
        .iter()
        .take(12)
        .map(|b| CHARS[usize::from(*b) % CHARS.len()] as char)
        .collect()
}

/// Starts peering: the peer port, this replica's Lease, and a session to every live peer.
/// Returns the bound peer address.
pub async fn start(
    opts: &PeerOptions,
    parent: kube::Client,
    tunnels: Arc<TunnelRegistry>,
    serving: Serving,
    shutdown: CancellationToken,
) -> anyhow::Result<(Arc<Peers>, SocketAddr)> {
    let advertise = opts
        .peer_advertise_address
        .ok_or_else(|| anyhow::anyhow!("peering needs --peer-advertise-address"))?;
    let credentials = auth::Credentials::new(
        serving.cert.clone(),
        serving.key.clone(),
        opts.peer_token.clone(),
    );
    // Fail at start, not at the first peer, when the files cannot be used.
    credentials.token()?;
    credentials.pinned()?;
    let peers = Arc::new(Peers {
        id: random_id(),
        local: tunnels.clone(),
        remotes: Mutex::new(HashMap::new()),
        changes: watch::Sender::new(0),
        next: Default::default(),
        wait: opts.peer_tunnel_wait.0,
        credentials,
    });
    // Weak: the registry must not keep the peers alive (the tasks below and the caller do).
    let weak: std::sync::Weak<Peers> = Arc::downgrade(&peers);
    tunnels.set_fallback(weak);
    let listener = tokio::net::TcpListener::bind((serving.bind, opts.peer_port)).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(server::serve(
        listener,
        peers.clone(),
        serving.resolver,
        shutdown.clone(),
    ));
    let info = lease::PeerInfo {
        id: peers.id.clone(),
        host: advertise.to_string(),
        port: bound.port(),
    };
    tokio::spawn(lease::run(
        parent,
        opts.peer_lease_namespace
            .clone()
            .unwrap_or_else(|| clusternet_apis::known::CLUSTERNET_SYSTEM_NAMESPACE.to_string()),
        info,
        peers.clone(),
        shutdown,
    ));
    tracing::info!(peer_id = %peers.id, address = %bound, advertise = %advertise, "serving peer connections");
    Ok((peers, bound))
}

impl Peers {
    /// This replica's peer ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The tunnels this replica holds.
    pub fn local(&self) -> &Arc<TunnelRegistry> {
        &self.local
    }

    /// The credentials peers use.
    pub fn credentials(&self) -> &auth::Credentials {
        &self.credentials
    }

    /// Registers a session from peer `peer` (replacing an older one); returns its generation.
    fn add_remote(&self, peer: &str, session: Session) -> u64 {
        let generation = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let old = self.remotes.lock().ok().and_then(|mut r| {
            r.insert(
                peer.to_string(),
                Remote {
                    generation,
                    session,
                    clusters: HashSet::new(),
                },
            )
        });
        if let Some(old) = old {
            old.session.close();
            self.routes_changed(&old.clusters);
        }
        generation
    }

    /// Records the clusters peer `peer` (session `generation`) holds now.
    fn announce(&self, peer: &str, generation: u64, clusters: HashSet<String>) {
        let diff: HashSet<String> = match self.remotes.lock() {
            Ok(mut remotes) => match remotes.get_mut(peer) {
                Some(r) if r.generation == generation => {
                    let diff = r
                        .clusters
                        .symmetric_difference(&clusters)
                        .cloned()
                        .collect();
                    r.clusters = clusters;
                    diff
                }
                _ => return,
            },
            Err(_) => return,
        };
        if !diff.is_empty() {
            tracing::debug!(
                peer_id = peer,
                changed = diff.len(),
                "peer announced its tunnels"
            );
            self.routes_changed(&diff);
        }
    }

    fn remove_remote(&self, peer: &str, generation: u64) {
        let removed = self
            .remotes
            .lock()
            .ok()
            .and_then(|mut r| match r.get(peer) {
                Some(x) if x.generation == generation => r.remove(peer),
                _ => None,
            });
        if let Some(removed) = removed {
            self.routes_changed(&removed.clusters);
        }
    }

    fn routes_changed(&self, clusters: &HashSet<String>) {
        for c in clusters {
            self.local.forget_connections(c);
        }
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// The session of a peer that announced `cluster`.
    fn remote_for(&self, cluster: &str) -> Option<(String, Session)> {
        let remotes = self.remotes.lock().ok()?;
        remotes
            .iter()
            .filter(|(_, r)| !r.session.is_closed() && r.clusters.contains(cluster))
            .map(|(id, r)| (id.clone(), r.session.clone()))
            .next()
    }

    /// The peers that dialed us and the clusters they announced (for logs and tests).
    pub fn routes(&self) -> HashMap<String, Vec<String>> {
        self.remotes
            .lock()
            .map(|r| {
                r.iter()
                    .map(|(id, x)| (id.clone(), x.clusters.iter().cloned().collect()))
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn dial_any(self: Arc<Self>, cluster: String, addr: String) -> io::Result<BoxedIo> {
        let deadline = tokio::time::Instant::now() + self.wait;
        let mut local_changes = self.local.subscribe();
        let mut remote_changes = self.changes.subscribe();
        let mut waited = false;
        loop {
            local_changes.mark_unchanged();
            remote_changes.mark_unchanged();
            if let Some(stream) = self.local.dial_local(&cluster, &addr) {
                return stream;
            }
            if let Some((peer, session)) = self.remote_for(&cluster) {
                match session.dial(&format!("{cluster}{CLUSTER_PROTO_SUFFIX}"), &addr) {
                    Ok(stream) => {
                        if waited {
                            tracing::info!(cluster_id = %cluster, peer_id = %peer, "cluster reachable again, through a peer");
                        }
                        return Ok(Box::new(stream));
                    }
                    Err(err) => {
                        tracing::info!(cluster_id = %cluster, peer_id = %peer, error = %err, "dialing through a peer failed")
                    }
                }
            }
            if !waited {
                tracing::info!(cluster_id = %cluster, wait = ?self.wait, "no replica holds the tunnel of this cluster; waiting for its agent");
                waited = true;
            }
            tokio::select! {
                _ = local_changes.changed() => {}
                _ = remote_changes.changed() => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(io::Error::new(
                        io::ErrorKind::NotConnected,
                        format!("the agent of cluster {cluster} is disconnected from every hub replica"),
                    ));
                }
            }
        }
    }
}

impl Fallback for Peers {
    fn dial(self: Arc<Self>, cluster: &str, addr: &str) -> BoxFuture<'static, io::Result<BoxedIo>> {
        Box::pin(self.dial_any(cluster.to_string(), addr.to_string()))
    }
}
