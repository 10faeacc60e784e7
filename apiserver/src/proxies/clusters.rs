//! What the hub knows about child clusters, from watched caches of the parent: each
//! ManagedCluster (found by its `clusters.clusternet.io/cluster-id` label, as Clusternet looks it
//! up), and each cluster's CA from Secret `<dedicated namespace>/child-cluster-deployer`
//! (`ca.crt`, uploaded by the agent) — what the hub verifies the child's API server against.

use std::time::Duration;

use clusternet_apis::clusters::v1beta1::ManagedCluster;
use clusternet_apis::known;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};

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

/// Watched caches of ManagedClusters and child CAs.
#[derive(Clone)]
pub struct Clusters {
    managed: Store<ManagedCluster>,
    secrets: Store<Secret>,
}

impl std::fmt::Debug for Clusters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clusters").finish_non_exhaustive()
    }
}

fn spawn_reflector<K>(api: Api<K>, config: watcher::Config) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store::<K>();
    let stream = watcher(api, config)
        .default_backoff()
        .reflect(writer)
        .applied_objects();
    tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            if let Err(err) = event {
                tracing::debug!(error = %err, kind = %K::kind(&()), "watching for proxying");
            }
        }
    });
    store
}

impl Clusters {
    /// Starts the caches.
    pub fn start(client: kube::Client) -> Self {
        let managed = spawn_reflector(
            Api::<ManagedCluster>::all(client.clone()),
            watcher::Config::default(),
        );
        let secrets = spawn_reflector(
            Api::<Secret>::all(client),
            watcher::Config::default().fields(&format!(
                "metadata.name={}",
                known::CHILD_CLUSTER_SECRET_NAME
            )),
        );
        Self { managed, secrets }
    }

    /// Waits (up to `timeout`) until both caches have listed once.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, async {
            let _ = self.managed.wait_until_ready().await;
            let _ = self.secrets.wait_until_ready().await;
        })
        .await
        .is_ok()
    }

    /// The cluster with ID `id`.
    pub fn get(&self, id: &str) -> Option<Cluster> {
        let found: Vec<_> = self
            .managed
            .state()
            .into_iter()
            .filter(|mc| {
                mc.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(known::CLUSTER_ID_LABEL))
                    .map(String::as_str)
                    == Some(id)
            })
            .collect();
        if found.len() > 1 {
            tracing::warn!(
                cluster_id = id,
                "found multiple ManagedClusters for one cluster id"
            );
        }
        let mc = found.first()?;
        let status = mc.status.clone().unwrap_or_default();
        Some(Cluster {
            namespace: mc.metadata.namespace.clone().unwrap_or_default(),
            name: mc.metadata.name.clone().unwrap_or_default(),
            apiserver_url: status.apiserver_url,
            use_socket: status.use_socket,
        })
    }

    /// The CA (PEM) of the cluster in `namespace`, if its agent uploaded it.
    pub fn ca(&self, namespace: &str) -> Option<Vec<u8>> {
        self.secrets
            .state()
            .into_iter()
            .find(|s| s.metadata.namespace.as_deref() == Some(namespace))
            .and_then(|s| {
                s.data
                    .as_ref()?
                    .get(known::SECRET_CA_CERT_KEY)
                    .map(|b| b.0.clone())
            })
            .filter(|ca| !ca.is_empty())
    }
}
