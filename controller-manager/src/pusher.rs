//! Push mode: the controller-manager applies generic Descriptions (and installs the HelmReleases
//! of Helm Descriptions, `clusternet_applier::helm`) into the child clusters the
//! hub deploys to (Clusternet's `DeployableByHub`: the ManagedCluster's `spec.syncMode` is not
//! `Pull` and `status.appPusher` is true — `Push`, or `Dual` with the agent's `AppPusher` gate
//! on), as Clusternet's controller-manager generic deployer does
//! (`pkg/controllermanager/deployer/generic`).
//!
//! The child is reached as `GetChildClusterConfig` builds it: with `status.useSocket`, through
//! the hub at `<parent>/apis/proxies.clusternet.io/v1alpha1/sockets/<cluster-id>/proxy/direct`,
//! impersonating `clusternet` with the child's token (Secret `child-cluster-deployer` in the
//! cluster namespace) as extra `clusternet-token`; otherwise straight to the child's advertised
//! URL with that token and CA. The parent-side identity making the proxied request is the
//! controller-manager's own (Clusternet uses `system:anonymous` by default); the child's RBAC
//! then applies to the deployer token.
//!
//! A Description of a cluster that is not Ready waits (it is retried, and looked at again the
//! moment the cluster turns Ready): a deletion then cleans the child up, where Clusternet drops
//! the finalizer at once and leaves the objects behind. Only when the ManagedCluster is gone,
//! or the cluster has not been Ready for [`GIVE_UP_ON_LOST`], is the finalizer dropped without
//! touching the child.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use clusternet_apis::apps::v1alpha1::{Description, HelmChart, HelmRelease};
use clusternet_apis::clusters::v1beta1::{CLUSTER_READY, ClusterSyncMode, ManagedCluster};
use clusternet_apis::known;
use clusternet_applier::helm::HelmPlacement;
use clusternet_applier::{Child, DriftSender, Placement, Target};
use clusternet_component_base::client::{self, ServerTrust};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;

/// Whether the hub deploys to `mc` (Clusternet's `DeployableByHub`); an error when the agent has
/// not reported whether it allows pushing yet.
pub fn deployable_by_hub(mc: &ManagedCluster) -> Result<bool> {
    if mc.spec.sync_mode == ClusterSyncMode::Pull {
        return Ok(false);
    }
    match mc.status.as_ref().and_then(|s| s.app_pusher) {
        None => anyhow::bail!("unknown AppPusher"),
        Some(pusher) => Ok(pusher),
    }
}

/// Clusternet's `IsClusterLost` for an existing ManagedCluster: it has conditions and none says
/// Ready=True.
pub fn is_lost(mc: &ManagedCluster) -> bool {
    let conditions = mc
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    if conditions.is_empty() {
        return false;
    }
    !conditions
        .iter()
        .any(|c| c.type_ == CLUSTER_READY && c.status == "True")
}

/// The hub-side path to a child's API server.
pub fn proxy_url(parent_url: &str, cluster_id: &str) -> String {
    format!(
        "{}/apis/proxies.clusternet.io/v1alpha1/sockets/{cluster_id}/proxy/direct",
        parent_url.trim_end_matches('/')
    )
}

/// How long a deletion waits for an unreachable cluster before leaving its objects there.
pub const GIVE_UP_ON_LOST: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// Since when `mc` has not been Ready (its Ready condition's last transition).
fn not_ready_since(mc: &ManagedCluster) -> Option<jiff::Timestamp> {
    mc.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == CLUSTER_READY)
        .map(|c| c.last_transition_time.0)
}

struct Hub {
    parent: kube::Client,
    parent_config: kube::Config,
    clusters: kube::runtime::reflector::Store<ManagedCluster>,
    drift: DriftSender,
    /// Per cluster ID: how the client was built (URL, token) and the child.
    children: Mutex<HashMap<String, (String, String, Child)>>,
}

impl Hub {
    /// The cluster of an object labelled with its cluster id in `namespace`, and what this
    /// component does with it.
    async fn resolve(
        &self,
        namespace: &str,
        labels: &std::collections::BTreeMap<String, String>,
        deleting: bool,
    ) -> Result<Target<(String, ManagedCluster)>> {
        let cluster_id = labels
            .get(known::CLUSTER_ID_LABEL)
            .cloned()
            .unwrap_or_default();
        anyhow::ensure!(
            !cluster_id.is_empty(),
            "empty clusterID from label {}",
            known::CLUSTER_ID_LABEL
        );
        let Some(mc) = self.clusters.state().into_iter().find(|mc| {
            mc.metadata.namespace.as_deref() == Some(namespace) && mc.spec.cluster_id == cluster_id
        }) else {
            if deleting {
                return Ok(Target::Lost);
            }
            anyhow::bail!("failed to find a ManagedCluster declaration in namespace {namespace}");
        };
        if is_lost(&mc) {
            let since = not_ready_since(&mc);
            let for_long = since.is_some_and(|t| {
                jiff::Timestamp::now().duration_since(t).as_secs_f64()
                    > GIVE_UP_ON_LOST.as_secs_f64()
            });
            if deleting && for_long {
                return Ok(Target::Lost);
            }
            let since = since.map(|t| t.to_string()).unwrap_or_default();
            return Ok(Target::Wait(format!(
                "cluster {} is not Ready (since {since}): waiting for it to come back",
                mc.metadata.name.as_deref().unwrap_or_default()
            )));
        }
        if !deployable_by_hub(&mc)? {
            return Ok(Target::Skip);
        }
        Ok(Target::Deploy((cluster_id, (*mc).clone())))
    }

    /// How the child is reached (see the module docs): its URL, the deployer token and the
    /// client configuration.
    async fn child_config(
        &self,
        namespace: &str,
        cluster_id: &str,
        mc: &ManagedCluster,
    ) -> Result<(String, String, kube::Config)> {
        let secrets: Api<Secret> = Api::namespaced(self.parent.clone(), namespace);
        let secret = secrets
            .get(known::CHILD_CLUSTER_SECRET_NAME)
            .await
            .with_context(|| {
                format!(
                    "reading Secret {namespace}/{}",
                    known::CHILD_CLUSTER_SECRET_NAME
                )
            })?;
        let data = secret.data.unwrap_or_default();
        let text = |key: &str| {
            data.get(key)
                .map(|v| String::from_utf8_lossy(&v.0).trim().to_string())
                .unwrap_or_default()
        };
        let token = text(known::SECRET_TOKEN_KEY);
        anyhow::ensure!(
            !token.is_empty(),
            "Secret {namespace}/{} has no {}",
            known::CHILD_CLUSTER_SECRET_NAME,
            known::SECRET_TOKEN_KEY
        );
        let use_socket = mc.status.as_ref().is_some_and(|s| s.use_socket);
        let url = if use_socket {
            proxy_url(&self.parent_config.cluster_url.to_string(), cluster_id)
        } else {
            text(known::CLUSTER_API_SERVER_URL_KEY)
        };
        let config = if use_socket {
            let mut config = self.parent_config.clone();
            config.cluster_url = url.parse().with_context(|| format!("invalid URL {url}"))?;
            config.auth_info.impersonate = Some("clusternet".into());
            config.auth_info.impersonate_user_extra = Some(HashMap::from([(
                "clusternet-token".to_string(),
                vec![token.clone()],
            )]));
            config
        } else {
            let ca = data
                .get(known::SECRET_CA_CERT_KEY)
                .map(|c| c.0.clone())
                .context("no ca.crt in the child cluster Secret")?;
            client::token_config(&url, &token, &ServerTrust::Ca(ca))?
        };
        Ok((url, token, config))
    }

    async fn child(&self, namespace: &str, cluster_id: &str, mc: &ManagedCluster) -> Result<Child> {
        let (url, token, config) = self.child_config(namespace, cluster_id, mc).await?;
        if let Ok(children) = self.children.lock()
            && let Some((u, t, child)) = children.get(cluster_id)
            && *u == url
            && *t == token
        {
            return Ok(child.clone());
        }
        let via_hub = mc.status.as_ref().is_some_and(|s| s.use_socket);
        let child = Child::new(client::client(config)?, cluster_id, self.drift.clone());
        tracing::info!(%cluster_id, via_hub, "pushing Descriptions to child cluster");
        if let Ok(mut children) = self.children.lock() {
            children.insert(cluster_id.to_string(), (url, token, child.clone()));
        }
        Ok(child)
    }
}

/// The hub side shared by the Description applier and the HelmRelease reconciler.
#[derive(Clone)]
struct Shared(Arc<Hub>);

impl Placement for Shared {
    async fn target(&self, desc: &Description) -> Result<Target> {
        let namespace = desc.namespace().unwrap_or_default();
        let deleting = desc.metadata.deletion_timestamp.is_some();
        Ok(
            match self.0.resolve(&namespace, desc.labels(), deleting).await? {
                Target::Deploy((id, mc)) => {
                    Target::Deploy(self.0.child(&namespace, &id, &mc).await?)
                }
                Target::Skip => Target::Skip,
                Target::Lost => Target::Lost,
                Target::Wait(why) => Target::Wait(why),
            },
        )
    }
}

impl HelmPlacement for Shared {
    async fn target(&self, hr: &HelmRelease) -> Result<Target<kube::Config>> {
        let namespace = hr.namespace().unwrap_or_default();
        let deleting = hr.metadata.deletion_timestamp.is_some();
        Ok(
            match self.0.resolve(&namespace, hr.labels(), deleting).await? {
                Target::Deploy((id, mc)) => {
                    Target::Deploy(self.0.child_config(&namespace, &id, &mc).await?.2)
                }
                Target::Skip => Target::Skip,
                Target::Lost => Target::Lost,
                Target::Wait(why) => Target::Wait(why),
            },
        )
    }

    /// Only the pull secret of a HelmChart (which users, not agents, write) for the same
    /// repository and chart: the cluster's agent can edit this HelmRelease, and this component
    /// can read every Secret.
    async fn may_use_pull_secret(&self, hr: &HelmRelease) -> Result<bool> {
        let charts: Api<HelmChart> = Api::all(self.0.parent.clone());
        let o = &hr.spec.helm_options;
        Ok(charts
            .list(&Default::default())
            .await
            .context("listing HelmCharts")?
            .items
            .iter()
            .any(|c| {
                let co = &c.spec.helm_options;
                co.chart_pull_secret == o.chart_pull_secret
                    && co.repository == o.repository
                    && co.chart == o.chart
            }))
    }
}

/// Runs the push-mode deployer for every cluster namespace: generic Descriptions, and the
/// HelmReleases of Helm Descriptions with `helm`.
pub async fn run(parent: kube::Client, parent_config: kube::Config, helm: std::path::PathBuf) {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    let (drift_tx, drift_rx) = clusternet_applier::drift_channel();
    // ManagedClusters, and a wake-up for a cluster's namespace when it turns Ready (whatever
    // waited for it goes at once).
    let (clusters, writer) = reflector::store();
    let (wake_tx, wake_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut ready: HashMap<String, bool> = HashMap::new();
    let watch = watcher(
        Api::<ManagedCluster>::all(parent.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects()
    .for_each(move |mc| {
        if let Ok(mc) = mc
            && let Some(ns) = mc.metadata.namespace.clone()
        {
            let now = !is_lost(&mc);
            if ready.insert(ns.clone(), now) == Some(false) && now {
                let _ = wake_tx.send(ns);
            }
        }
        futures::future::ready(())
    });
    let _watch = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(watch));
    let _ = clusters.wait_until_ready().await;
    let hub = Shared(Arc::new(Hub {
        parent: parent.clone(),
        parent_config,
        clusters,
        drift: drift_tx,
        children: Mutex::new(HashMap::new()),
    }));
    tokio::join!(
        clusternet_applier::run_with_wakeups(
            parent.clone(),
            hub.clone(),
            drift_rx,
            wake_rx,
            clusternet_applier::Settings {
                reporter: known::CLUSTERNET_CTRL_MGR_NAME.into(),
                ..Default::default()
            },
        ),
        clusternet_applier::helm::run(
            parent,
            hub,
            clusternet_applier::helm::Settings {
                helm,
                reporter: known::CLUSTERNET_CTRL_MGR_NAME.into(),
                ..Default::default()
            },
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusternet_apis::clusters::v1beta1::{ManagedClusterSpec, ManagedClusterStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn mc(mode: ClusterSyncMode, pusher: Option<bool>, ready: Option<&str>) -> ManagedCluster {
        let mut mc = ManagedCluster::new(
            "c",
            ManagedClusterSpec {
                sync_mode: mode,
                ..Default::default()
            },
        );
        let mut status = ManagedClusterStatus {
            app_pusher: pusher,
            ..Default::default()
        };
        if let Some(ready) = ready {
            status.conditions.push(Condition {
                type_: CLUSTER_READY.into(),
                status: ready.into(),
                last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
                message: String::new(),
                observed_generation: None,
                reason: "x".into(),
            });
        }
        mc.status = Some(status);
        mc
    }

    #[test]
    fn deploys_as_clusternets_hub_does() {
        assert!(!deployable_by_hub(&mc(ClusterSyncMode::Pull, Some(true), None)).unwrap());
        assert!(deployable_by_hub(&mc(ClusterSyncMode::Push, Some(true), None)).unwrap());
        assert!(deployable_by_hub(&mc(ClusterSyncMode::Dual, Some(true), None)).unwrap());
        assert!(!deployable_by_hub(&mc(ClusterSyncMode::Dual, Some(false), None)).unwrap());
        assert!(deployable_by_hub(&mc(ClusterSyncMode::Push, None, None)).is_err());
    }

    #[test]
    fn lost_means_conditions_without_ready() {
        assert!(!is_lost(&mc(ClusterSyncMode::Push, None, None)));
        assert!(!is_lost(&mc(ClusterSyncMode::Push, None, Some("True"))));
        assert!(is_lost(&mc(ClusterSyncMode::Push, None, Some("False"))));
        assert!(is_lost(&mc(ClusterSyncMode::Push, None, Some("Unknown"))));
    }

    #[test]
    fn proxy_path() {
        assert_eq!(
            proxy_url("https://127.0.0.1:6443/", "abc"),
            "https://127.0.0.1:6443/apis/proxies.clusternet.io/v1alpha1/sockets/abc/proxy/direct"
        );
    }
}
