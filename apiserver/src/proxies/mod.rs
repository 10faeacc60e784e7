//! `proxies.clusternet.io/v1alpha1`: the `sockets` resource — `sockets/<cluster-id>` is the
//! tunnel endpoint agents dial (a WebSocket upgrade) — and its `proxy` subresource, which
//! carries any request into the child cluster: `sockets/<id>/proxy/{direct | https/<host> |
//! http/<host>}/<path>`.
//!
//! - [`target`]: the path grammar; [`credentials`]: the caller's child credentials (user extras
//!   of the authenticated identity);
//! - [`connections`]: the one owner of how a request reaches a child — [`clusters`]
//!   (ManagedClusters and child CAs from the parent), [`tunnel`] (the agents' tunnels) and
//!   [`transport`] (tunnel or direct byte streams, TLS verified against the child's CA, pooled);
//! - [`forward`]: the request and its answer, upgrades included.

pub mod clusters;
pub mod connections;
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
use connections::ChildConnections;

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

/// The handler of the group.
pub struct Proxies {
    socket_connection: bool,
    idle_timeout: std::time::Duration,
    connections: Arc<ChildConnections>,
}

impl std::fmt::Debug for Proxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxies")
            .field("socket_connection", &self.socket_connection)
            .finish_non_exhaustive()
    }
}

impl Proxies {
    /// A handler; `socket_connection` is the SocketConnection feature gate, `connections` how
    /// the clusters are reached.
    pub fn new(socket_connection: bool, connections: Arc<ChildConnections>) -> Self {
        Self {
            socket_connection,
            idle_timeout: DEFAULT_STREAMING_IDLE_TIMEOUT,
            connections,
        }
    }

    /// Closes upgraded connections (exec, attach, port-forward) that move no byte for `idle`.
    pub fn with_idle_timeout(mut self, idle: std::time::Duration) -> Self {
        self.idle_timeout = idle;
        self
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
        let connections = self.connections.clone();
        let idle_timeout = self.idle_timeout;
        Box::pin(async move {
            // `sockets` is cluster-scoped and has no list or proxy verbs of its own: as
            // kube-apiserver answers for a cluster-scoped resource, a namespaced path and the
            // `watch/` and `proxy/` path prefixes are paths nothing serves. (Served, they would
            // be authorized in the wrong scope or for the wrong verb.) The one watch served is
            // the tunnel asked for as a watch of one socket (`sockets?watch=true&fieldSelector=
            // metadata.name=<id>`, an upgrade): the parent authorizes it as `watch` of that
            // name and, a watch being long-running, holds no seat of API Priority and Fairness
            // for it while it lasts.
            let tunnel_watch = info.verb == "watch"
                && !info.name.is_empty()
                && info.subresource.is_empty()
                // The name from the field selector, not from a `watch/sockets/<id>` path.
                && info.parts.len() == 1
                && req.headers().contains_key(http::header::UPGRADE);
            if info.resource != "sockets"
                || info.name.is_empty()
                || !info.namespace.is_empty()
                || (info.verb == "watch" && !tunnel_watch)
                || info.verb == "proxy"
            {
                return Err(ApiError::path_not_found());
            }
            let id = info.name.clone();
            match info.subresource.as_str() {
                "" => {
                    // The tunnel endpoint.
                    if !socket_connection {
                        return Err(ApiError::unavailable(
                            "featuregate SocketConnection has not been enabled on the server side",
                        ));
                    }
                    let cluster = connections.cluster(&id)?;
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
                    connections.accept_tunnel(id, req).await
                }
                "proxy" => {
                    let cluster = connections.cluster(&id)?;
                    let tail = proxy_tail(req.uri().path(), &id).to_string();
                    let target = target::parse(&tail, Some(&cluster.apiserver_url))?;
                    let user = req.extensions().get::<UserInfo>().cloned();
                    let creds =
                        credentials::from_extras(&user.map(|u| u.extra).unwrap_or_default())?;
                    let client = connections.client(&id, &cluster, &target, &creds)?;
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
