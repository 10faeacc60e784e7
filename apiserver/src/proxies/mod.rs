//! `proxies.clusternet.io/v1alpha1`: the `sockets` resource — `sockets/<cluster-id>` is the
//! tunnel endpoint agents dial (a WebSocket upgrade) — and its `proxy` subresource, which
//! carries any request into the child cluster: `sockets/<id>/proxy/{direct | https/<host> |
//! http/<host>}/<path>`.
//!
//! - [`target`]: the path grammar; [`credentials`]: the caller's child credentials (user extras
//!   of the authenticated identity);
//! - [`clusters`]: ManagedClusters and child CAs from the parent;
//! - [`transport`]: tunnel or direct byte streams, TLS verified against the child's CA, pooled;
//! - [`forward`]: the request and its answer, upgrades included.

pub mod clusters;
pub mod credentials;
pub mod forward;
pub mod splice;
pub mod target;
pub mod transport;
pub mod tunnel;

use std::sync::Arc;

use futures::future::BoxFuture;
use http::{Request, Response};

use crate::authn::UserInfo;
use crate::body::Body;
use crate::request_info::RequestInfo;
use crate::router::GroupHandler;
use crate::status::ApiError;
use clusters::Clusters;
use transport::{Dialer, DirectDialer, Transports};

/// API group.
pub const GROUP: &str = clusternet_apis::known::PROXIES_GROUP;
/// API version.
pub const VERSION: &str = "v1alpha1";

/// The group-version as Clusternet's hub serves it: `sockets` (cluster-scoped, short name `ss`,
/// category `clusternet`) and `sockets/proxy`, both connect-only.
pub fn api_group_version() -> clusternet_openapi::ApiGroupVersion {
    clusternet_openapi::proxies::api_group_version()
}

/// The kubelet's default `--streaming-connection-idle-timeout`.
pub const DEFAULT_STREAMING_IDLE_TIMEOUT: std::time::Duration =
    std::time::Duration::from_secs(4 * 60 * 60);

/// The agents' tunnels, as the proxy needs them.
pub trait Tunnels: Send + Sync + 'static {
    /// Whether cluster `id` has a connected tunnel.
    fn connected(&self, id: &str) -> bool;
    /// A dialer through the tunnels.
    fn dialer(&self) -> Arc<dyn Dialer>;
    /// Accepts a tunnel from the agent of cluster `id` (a WebSocket upgrade request).
    fn accept(
        &self,
        id: String,
        req: Request<Body>,
    ) -> BoxFuture<'static, Result<Response<Body>, ApiError>>;
}

/// The handler of the group.
pub struct Proxies {
    socket_connection: bool,
    idle_timeout: std::time::Duration,
    clusters: Option<Clusters>,
    tunnels: Option<Arc<dyn Tunnels>>,
    transports: Arc<Transports>,
    direct: Arc<dyn Dialer>,
}

impl std::fmt::Debug for Proxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxies")
            .field("socket_connection", &self.socket_connection)
            .finish_non_exhaustive()
    }
}

impl Proxies {
    /// A handler; `socket_connection` is the SocketConnection feature gate, `clusters` the
    /// caches of the parent, `tunnels` the agents' tunnels.
    pub fn new(
        socket_connection: bool,
        clusters: Option<Clusters>,
        tunnels: Option<Arc<dyn Tunnels>>,
    ) -> Self {
        Self {
            socket_connection,
            idle_timeout: DEFAULT_STREAMING_IDLE_TIMEOUT,
            clusters,
            tunnels,
            transports: Arc::new(Transports::default()),
            direct: Arc::new(DirectDialer),
        }
    }

    /// Closes upgraded connections (exec, attach, port-forward) that move no byte for `idle`.
    pub fn with_idle_timeout(mut self, idle: std::time::Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// The pooled transports (to forget a cluster's connections when its tunnel goes away).
    pub fn transports(&self) -> Arc<Transports> {
        self.transports.clone()
    }
}

/// The path after `.../sockets/<id>/proxy`, taken from the raw request path so its encoding is
/// kept.
fn proxy_tail<'a>(raw_path: &'a str, id: &str) -> &'a str {
    let marker = format!("/sockets/{id}/proxy");
    match raw_path.find(&marker) {
        Some(i) => &raw_path[i + marker.len()..],
        // The ID was percent-encoded in the request; request-info decoded it.
        None => raw_path
            .split_once("/proxy")
            .map(|(_, tail)| tail)
            .unwrap_or(""),
    }
}

impl GroupHandler for Proxies {
    fn handle(
        &self,
        req: Request<Body>,
        info: RequestInfo,
    ) -> BoxFuture<'static, Result<Response<Body>, ApiError>> {
        let socket_connection = self.socket_connection;
        let clusters = self.clusters.clone();
        let tunnels = self.tunnels.clone();
        let transports = self.transports.clone();
        let direct = self.direct.clone();
        let idle_timeout = self.idle_timeout;
        Box::pin(async move {
            // `sockets` is cluster-scoped and has no list, watch or proxy verbs of its own: as
            // kube-apiserver answers for a cluster-scoped resource, a namespaced path and the
            // `watch/` and `proxy/` path prefixes are paths nothing serves. (Served, they would
            // be authorized in the wrong scope or for the wrong verb.)
            if info.resource != "sockets"
                || info.name.is_empty()
                || !info.namespace.is_empty()
                || info.verb == "watch"
                || info.verb == "proxy"
            {
                return Err(ApiError::path_not_found());
            }
            let id = info.name.clone();
            let Some(clusters) = clusters else {
                return Err(ApiError::unavailable("no cluster information available"));
            };
            match info.subresource.as_str() {
                "" => {
                    // The tunnel endpoint.
                    if !socket_connection {
                        return Err(ApiError::unavailable(
                            "featuregate SocketConnection has not been enabled on the server side",
                        ));
                    }
                    let Some(tunnels) = tunnels else {
                        return Err(ApiError::unavailable("tunnels are not served by this hub"));
                    };
                    let cluster = clusters.get(&id)?;
                    // RBAC lets each cluster's identity use its own socket only; this check does
                    // not depend on anyone getting RBAC right: a tunnel for cluster X is
                    // accepted from cluster X's own ServiceAccount alone, and a refused attempt
                    // leaves X's live tunnel alone.
                    let user = req.extensions().get::<UserInfo>();
                    if !user.is_some_and(|u| cluster.is_own_identity(u)) {
                        let who = user.map(|u| u.name.as_str()).unwrap_or("");
                        tracing::warn!(cluster_id = %id, user = who, "refused a tunnel from an identity that is not the cluster's own");
                        return Err(ApiError::forbidden(
                            &crate::status::GroupResource::new(GROUP, "sockets"),
                            &id,
                            &format!(
                                "User \"{who}\" cannot open the tunnel of cluster {id}: only a ServiceAccount of its dedicated namespace {} can",
                                cluster.namespace
                            ),
                        ));
                    }
                    tunnels.accept(id, req).await
                }
                "proxy" => {
                    let cluster = clusters.get(&id)?;
                    let tail = proxy_tail(req.uri().path(), &id).to_string();
                    let target = target::parse(&tail, Some(&cluster.apiserver_url))?;
                    let (route, dialer) = if cluster.use_socket {
                        let tunnels = tunnels.filter(|t| t.connected(&id)).ok_or_else(|| {
                            ApiError::unreachable(format!(
                                "cannot proxy through cluster {id}, whose agent is disconnected"
                            ))
                        })?;
                        ("tunnel", tunnels.dialer())
                    } else {
                        // Without a tunnel the hub dials from its own network: only the
                        // cluster's API server may be reached that way, never an address of
                        // the caller's choosing.
                        target::only_apiserver(&target, &cluster.apiserver_url).map_err(|why| {
                            ApiError::forbidden(
                                &crate::status::GroupResource::new(GROUP, "sockets/proxy"),
                                &id,
                                &why,
                            )
                        })?;
                        ("direct", direct)
                    };
                    let user = req.extensions().get::<UserInfo>().cloned();
                    let creds =
                        credentials::from_extras(&user.map(|u| u.extra).unwrap_or_default())?;
                    let ca = match target.scheme {
                        target::Scheme::Https => Some(clusters.ca(&cluster.namespace).ok_or_else(|| {
                            ApiError::unavailable(format!(
                                "the CA of cluster {id} is not known yet (Secret {}/{}); its agent uploads it after registering",
                                cluster.namespace,
                                clusternet_apis::known::CHILD_CLUSTER_SECRET_NAME
                            ))
                        })?),
                        target::Scheme::Http => None,
                    };
                    let client = transports.client(
                        &id,
                        route,
                        dialer,
                        ca.as_deref(),
                        creds.client_cert.as_ref(),
                    )?;
                    forward::forward(&client, req, &target, &creds, idle_timeout).await
                }
                _ => Err(ApiError::path_not_found()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_tail_keeps_encoding() {
        assert_eq!(
            proxy_tail(
                "/apis/proxies.clusternet.io/v1alpha1/sockets/c1/proxy/direct/api/v1/namespaces/a%2Fb",
                "c1"
            ),
            "/direct/api/v1/namespaces/a%2Fb"
        );
        assert_eq!(
            proxy_tail(
                "/apis/proxies.clusternet.io/v1alpha1/sockets/c1/proxy",
                "c1"
            ),
            ""
        );
    }
}
