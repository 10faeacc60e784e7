//! How a request reaches a child cluster — the one owner of it. [`ChildConnections`] holds the
//! three things that answer "how do I reach cluster X": the parent's view of the clusters
//! ([`Clusters`]: the ManagedCluster behind an id, its API server URL, whether it tunnels, its
//! CA), the agents' tunnels ([`TunnelRegistry`]) and the pooled HTTP clients into the clusters
//! ([`Transports`]). It is built once, with all three; the tunnel registry is given the pool
//! when it is made, so a tunnel that is replaced or lost evicts that cluster's pooled
//! connections at once.
//!
//! A proxied request goes: cluster id → [`Clusters::get`] → the route (the cluster's tunnel if
//! `status.useSocket`, else a direct dial that may only reach the cluster's own API server) →
//! the child's CA from its Secret (https targets) → the pooled client for (cluster, route, CA,
//! client certificate) → [`super::forward`].

use std::sync::Arc;

use http::{Request, Response};

use super::clusters::{Cluster, Clusters};
use super::target::{self, Target};
use super::transport::{ChildClient, Dialer, DirectDialer, Transports};
use super::tunnel::TunnelRegistry;
use super::{GROUP, credentials};
use crate::body::Body;
use crate::metrics::Metrics;
use crate::status::{ApiError, GroupResource};

/// The clusters, their tunnels and the connections into them.
pub struct ChildConnections {
    clusters: Option<Clusters>,
    tunnels: Option<Arc<TunnelRegistry>>,
    transports: Arc<Transports>,
    direct: Arc<dyn Dialer>,
}

impl std::fmt::Debug for ChildConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildConnections").finish_non_exhaustive()
    }
}

impl ChildConnections {
    /// Clusters read from the parent through `parent`, and tunnels accepted up to `max_tunnels`
    /// (reported to `metrics`).
    pub fn start(parent: kube::Client, metrics: Metrics, max_tunnels: usize) -> Arc<Self> {
        let transports = Arc::new(Transports::default());
        Arc::new(Self {
            clusters: Some(Clusters::start(parent)),
            tunnels: Some(TunnelRegistry::new(
                metrics,
                max_tunnels,
                transports.clone(),
            )),
            transports,
            direct: Arc::new(DirectDialer),
        })
    }

    /// No cluster known and no tunnel accepted (a hub whose parent is not read: tests, fuzzing).
    pub fn none() -> Arc<Self> {
        Arc::new(Self {
            clusters: None,
            tunnels: None,
            transports: Arc::new(Transports::default()),
            direct: Arc::new(DirectDialer),
        })
    }

    /// Waits (up to `timeout`) until the parent's clusters have been listed once.
    pub async fn wait_ready(&self, timeout: std::time::Duration) -> bool {
        match &self.clusters {
            Some(c) => c.wait_ready(timeout).await,
            None => true,
        }
    }

    /// The cluster with id `id`.
    pub fn cluster(&self, id: &str) -> Result<Cluster, ApiError> {
        self.clusters
            .as_ref()
            .ok_or_else(|| ApiError::unavailable("no cluster information available"))?
            .get(id)
    }

    /// The agents' tunnels held by this hub (none for [`ChildConnections::none`]).
    pub fn tunnels(&self) -> Option<Arc<TunnelRegistry>> {
        self.tunnels.clone()
    }

    /// Accepts the tunnel of cluster `id` (already checked to be the caller's own).
    pub async fn accept_tunnel(
        &self,
        id: String,
        req: Request<Body>,
    ) -> Result<Response<Body>, ApiError> {
        let tunnels = self
            .tunnels
            .clone()
            .ok_or_else(|| ApiError::unavailable("tunnels are not served by this hub"))?;
        tunnels.accept(id, req).await
    }

    /// The pooled client that reaches `target` in `cluster` presenting `creds`' client
    /// certificate, through the cluster's tunnel or, for a cluster that does not tunnel, a
    /// direct connection to its own API server only.
    pub fn client(
        &self,
        id: &str,
        cluster: &Cluster,
        target: &Target,
        creds: &credentials::Credentials,
    ) -> Result<ChildClient, ApiError> {
        let (route, dialer) = if cluster.use_socket {
            let tunnels = self
                .tunnels
                .as_ref()
                .filter(|t| t.connected(id) || t.has_fallback())
                .ok_or_else(|| {
                    ApiError::unreachable(format!(
                        "cannot proxy through cluster {id}, whose agent is disconnected"
                    ))
                })?;
            ("tunnel", tunnels.dialer())
        } else {
            // Without a tunnel the hub dials from its own network: only the cluster's API
            // server may be reached that way, never an address of the caller's choosing.
            target::only_apiserver(target, &cluster.apiserver_url).map_err(|why| {
                ApiError::forbidden(&GroupResource::new(GROUP, "sockets/proxy"), id, &why)
            })?;
            ("direct", self.direct.clone())
        };
        let ca = match target.scheme {
            target::Scheme::Https => Some(
                self.clusters
                    .as_ref()
                    .and_then(|c| c.ca(&cluster.namespace))
                    .ok_or_else(|| {
                        ApiError::unavailable(format!(
                            "the CA of cluster {id} is not known yet (Secret {}/{}); its agent uploads it after registering",
                            cluster.namespace,
                            clusternet_apis::known::CHILD_CLUSTER_SECRET_NAME
                        ))
                    })?,
            ),
            target::Scheme::Http => None,
        };
        self.transports
            .client(id, route, dialer, ca.as_deref(), creds.client_cert.as_ref())
    }
}
