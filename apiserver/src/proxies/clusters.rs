//! What the hub knows about child clusters, from watched caches of the parent — and, above all,
//! which cluster a cluster ID *is*.
//!
//! Identity comes only from what the child itself cannot write: the approved
//! ClusterRegistrationRequest `clusternet-<cluster-id>` (cluster-scoped; its status is written by
//! the controller-manager's approver alone) names the cluster's dedicated namespace and its
//! ManagedCluster. Go Clusternet instead picks any ManagedCluster labelled
//! `clusters.clusternet.io/cluster-id=<id>`, a label a child may put on objects in its own
//! namespace — so one child could make requests for another land on itself.
//!
//! The cluster's CA comes from Secret `<dedicated namespace>/child-cluster-deployer` (`ca.crt`,
//! uploaded by the agent): what the hub verifies the child's API server against.

use std::sync::Arc;
use std::time::Duration;

use clusternet_apis::clusters::v1beta1::{
    ApprovedResult, ClusterRegistrationRequest, ManagedCluster,
};
use clusternet_apis::known;
use clusternet_component_base::cache;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use tokio_util::task::AbortOnDropHandle;

use crate::status::ApiError;

/// One child cluster, as needed to proxy into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// Dedicated namespace in the parent.
    pub namespace: String,
    /// ManagedCluster name.
    pub name: String,
    /// `status.apiserverURL`.
    pub apiserver_url: String,
    /// `status.useSocket`: reached through the agent's tunnel, else dialed directly.
    pub use_socket: bool,
}

impl Cluster {
    /// Whether `user` is this cluster's own identity: a ServiceAccount of its dedicated
    /// namespace (the approver creates exactly one there, and the cluster's own credentials
    /// cannot create others).
    pub fn is_own_identity(&self, user: &crate::authn::UserInfo) -> bool {
        let prefix = format!("system:serviceaccount:{}:", self.namespace);
        user.name
            .strip_prefix(&prefix)
            .is_some_and(|sa| !sa.is_empty() && !sa.contains(':'))
            && user.in_group(&format!("system:serviceaccounts:{}", self.namespace))
    }
}

/// Watched caches of registrations, ManagedClusters and child CAs.
#[derive(Clone)]
pub struct Clusters {
    requests: Store<ClusterRegistrationRequest>,
    managed: Store<ManagedCluster>,
    secrets: Store<Secret>,
    /// The caches' watches, stopped when the last clone goes.
    _watches: Arc<[AbortOnDropHandle<()>; 3]>,
}

impl std::fmt::Debug for Clusters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clusters").finish_non_exhaustive()
    }
}

/// Why a cluster ID does not resolve to a cluster.
fn unknown(id: &str) -> ApiError {
    // Go Clusternet's wording and code.
    ApiError::bad_request(format!("no cluster id is {id}"))
}

impl Clusters {
    /// Starts the caches.
    pub fn start(client: kube::Client) -> Self {
        const WHAT: &str = "proxying";
        let (requests, r) = cache::spawn(
            Api::<ClusterRegistrationRequest>::all(client.clone()),
            watcher::Config::default(),
            WHAT,
        );
        let (managed, m) = cache::spawn(
            Api::<ManagedCluster>::all(client.clone()),
            watcher::Config::default(),
            WHAT,
        );
        let (secrets, s) = cache::spawn(
            Api::<Secret>::all(client),
            watcher::Config::default().fields(&format!(
                "metadata.name={}",
                known::CHILD_CLUSTER_SECRET_NAME
            )),
            WHAT,
        );
        Self {
            requests,
            managed,
            secrets,
            _watches: Arc::new([r, m, s]),
        }
    }

    /// Waits (up to `timeout`) until every cache has listed once.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, async {
            let _ = self.requests.wait_until_ready().await;
            let _ = self.managed.wait_until_ready().await;
            let _ = self.secrets.wait_until_ready().await;
        })
        .await
        .is_ok()
    }

    /// The cluster with ID `id`: the ManagedCluster its approved registration names, which must
    /// carry that ID. Anything else fails closed, with a Status that says why.
    pub fn get(&self, id: &str) -> Result<Cluster, ApiError> {
        let name = format!("{}{id}", known::NAME_PREFIX_FOR_CLUSTERNET_OBJECTS);
        let request = self
            .requests
            .get(&ObjectRef::new(&name))
            .ok_or_else(|| unknown(id))?;
        let status = request.status.clone().unwrap_or_default();
        if request.spec.cluster_id != id
            || status.result != Some(ApprovedResult::RequestApproved)
            || status.dedicated_namespace.is_empty()
            || status.managed_cluster_name.is_empty()
        {
            return Err(unknown(id));
        }
        let mc = self
            .managed
            .get(&ObjectRef::new(&status.managed_cluster_name).within(&status.dedicated_namespace))
            .ok_or_else(|| {
                ApiError::unavailable(format!(
                    "cluster {id} is registered as ManagedCluster {}/{}, which does not exist",
                    status.dedicated_namespace, status.managed_cluster_name
                ))
            })?;
        if mc.spec.cluster_id != id {
            tracing::warn!(
                cluster_id = id,
                namespace = %status.dedicated_namespace,
                managed_cluster = %status.managed_cluster_name,
                found = %mc.spec.cluster_id,
                "the registered ManagedCluster carries another cluster id; refusing to proxy"
            );
            return Err(ApiError::unavailable(format!(
                "cluster {id} is registered as ManagedCluster {}/{}, whose spec.clusterId is {:?}: refusing to guess",
                status.dedicated_namespace, status.managed_cluster_name, mc.spec.cluster_id
            )));
        }
        let mc_status = mc.status.clone().unwrap_or_default();
        Ok(Cluster {
            namespace: status.dedicated_namespace,
            name: status.managed_cluster_name,
            apiserver_url: mc_status.apiserver_url,
            use_socket: mc_status.use_socket,
        })
    }

    /// The CA (PEM) of the cluster in `namespace`, if its agent uploaded it.
    pub fn ca(&self, namespace: &str) -> Option<Vec<u8>> {
        self.secrets
            .get(&ObjectRef::new(known::CHILD_CLUSTER_SECRET_NAME).within(namespace))
            .and_then(|s| {
                s.data
                    .as_ref()?
                    .get(known::SECRET_CA_CERT_KEY)
                    .map(|b| b.0.clone())
            })
            .filter(|ca| !ca.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::UserInfo;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: name.into(),
            uid: String::new(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            extra: Default::default(),
            method: crate::authn::Method::FrontProxy,
        }
    }

    #[test]
    fn own_identity_is_a_service_account_of_the_dedicated_namespace() {
        let c = Cluster {
            namespace: "clusternet-abc".into(),
            name: "c1".into(),
            apiserver_url: String::new(),
            use_socket: true,
        };
        let ns_group = "system:serviceaccounts:clusternet-abc";
        assert!(c.is_own_identity(&user(
            "system:serviceaccount:clusternet-abc:clusternet-abc",
            &[ns_group, "system:serviceaccounts"]
        )));
        // Another cluster's account, an admin, or a forged name without the group.
        assert!(!c.is_own_identity(&user(
            "system:serviceaccount:clusternet-xyz:clusternet-xyz",
            &["system:serviceaccounts:clusternet-xyz"]
        )));
        assert!(!c.is_own_identity(&user("admin", &["system:masters"])));
        assert!(!c.is_own_identity(&user(
            "system:serviceaccount:clusternet-abc:x",
            &["system:authenticated"]
        )));
        assert!(!c.is_own_identity(&user("system:serviceaccount:clusternet-abc:", &[ns_group])));
        assert!(!c.is_own_identity(&user(
            "system:serviceaccount:clusternet-abc:a:b",
            &[ns_group]
        )));
    }
}
