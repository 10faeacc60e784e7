//! Pull mode: the agent watches the Descriptions in its dedicated namespace on the parent (with
//! its own parent credentials) and applies them into this cluster, as Clusternet's agent
//! generic deployer does (`pkg/agent/deployer`), and installs the HelmReleases there with Helm
//! (`pkg/agent/deployer/helm`). It runs exactly when Clusternet's agent deploys
//! (`DeployableByAgent`): sync mode `Pull`, or `Dual` with the `AppPusher` gate off.
//!
//! Objects are applied with the token of the child's `clusternet-app-deployer` ServiceAccount
//! (Secret `clusternet-app-deployer` in the agent's namespace), as in Clusternet; the agent waits
//! for that Secret like Clusternet's `GetDeployerCredentials`.

use std::time::Duration;

use anyhow::{Context, Result};
use clusternet_apis::apps::v1alpha1::{Description, HelmRelease};
use clusternet_apis::clusters::v1beta1::ClusterSyncMode;
use clusternet_apis::known;
use clusternet_applier::helm::HelmPlacement;
use clusternet_applier::{Child, Placement, Target};
use clusternet_component_base::client::{self, ServerTrust};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

/// Whether the agent deploys applications itself (Clusternet's `DeployableByAgent`).
pub fn deployable_by_agent(mode: &ClusterSyncMode, app_pusher: bool) -> bool {
    match mode {
        ClusterSyncMode::Push => false,
        ClusterSyncMode::Pull => true,
        ClusterSyncMode::Dual => !app_pusher,
    }
}

/// Where to deploy from and to.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The cluster's dedicated namespace on the parent.
    pub parent_namespace: String,
    /// The agent's namespace in the child (holds the deployer's token Secret).
    pub agent_namespace: String,
    /// The child's API server URL.
    pub apiserver_url: String,
    /// The Helm CLI that installs this cluster's HelmReleases.
    pub helm: std::path::PathBuf,
}

/// Every Description of the dedicated namespace goes into this cluster.
struct Local(Child);

impl Placement for Local {
    async fn target(&self, _desc: &Description) -> Result<Target> {
        Ok(Target::Deploy(self.0.clone()))
    }
}

/// This cluster, for Helm: the same deployer credentials.
struct LocalHelm(kube::Config);

impl HelmPlacement for LocalHelm {
    async fn target(&self, _hr: &HelmRelease) -> Result<Target<kube::Config>> {
        Ok(Target::Deploy(self.0.clone()))
    }
}

/// Runs the pull-mode deployer (does not return while the parent is reachable): generic
/// Descriptions, and the HelmReleases of the dedicated namespace with Helm.
pub async fn run(child: kube::Client, parent: kube::Client, settings: Settings) -> Result<()> {
    let config = deployer_config(&child, &settings).await?;
    let deployer = client::client(config.clone())?;
    tracing::info!(namespace = %settings.parent_namespace, "deploying Descriptions from the parent (pull mode)");
    let (drift_tx, drift_rx) = clusternet_applier::drift_channel();
    tokio::join!(
        clusternet_applier::run(
            parent.clone(),
            Local(Child::new(deployer, "local", drift_tx)),
            drift_rx,
            clusternet_applier::Settings {
                namespace: Some(settings.parent_namespace.clone()),
                reporter: known::CLUSTERNET_AGENT_NAME.into(),
                ..Default::default()
            },
        ),
        clusternet_applier::helm::run(
            parent,
            LocalHelm(config),
            clusternet_applier::helm::Settings {
                helm: settings.helm.clone(),
                namespace: Some(settings.parent_namespace.clone()),
                reporter: known::CLUSTERNET_AGENT_NAME.into(),
                ..Default::default()
            },
        ),
    );
    Ok(())
}

/// A client configuration for this cluster with the `clusternet-app-deployer` token, once its
/// Secret exists.
async fn deployer_config(child: &kube::Client, settings: &Settings) -> Result<kube::Config> {
    let secrets: Api<Secret> = Api::namespaced(child.clone(), &settings.agent_namespace);
    let mut delay = Duration::from_millis(200);
    loop {
        match secrets.get_opt(known::CLUSTERNET_APP_SA).await {
            Ok(Some(secret)) => {
                let data = secret.data.unwrap_or_default();
                if let (Some(token), Some(ca)) = (
                    data.get(known::SECRET_TOKEN_KEY),
                    data.get(known::SECRET_CA_CERT_KEY),
                ) {
                    let token = String::from_utf8(token.0.clone())
                        .context("the deployer token is not UTF-8")?;
                    return client::token_config(
                        &settings.apiserver_url,
                        token.trim(),
                        &ServerTrust::Ca(ca.0.clone()),
                    );
                }
                tracing::info!("the deployer's token Secret is not populated yet; waiting");
            }
            Ok(None) => tracing::info!(
                namespace = %settings.agent_namespace,
                secret = known::CLUSTERNET_APP_SA,
                "waiting for the deployer's token Secret"
            ),
            Err(err) => {
                tracing::info!(error = %err, "reading the deployer's token Secret; retrying")
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploys_as_clusternets_agent_does() {
        assert!(deployable_by_agent(&ClusterSyncMode::Pull, true));
        assert!(deployable_by_agent(&ClusterSyncMode::Pull, false));
        assert!(!deployable_by_agent(&ClusterSyncMode::Push, true));
        assert!(!deployable_by_agent(&ClusterSyncMode::Dual, true));
        assert!(deployable_by_agent(&ClusterSyncMode::Dual, false));
    }
}
