//! Flags of `clusternet-controller-manager`, named as Clusternet's (reference:
//! `pkg/controllermanager/options`).

use std::path::PathBuf;

use clap::Parser;
use clusternet_component_base::GoDuration;
use clusternet_component_base::options::{
    Client, Compat, CompatFlag, CompatFlags, Gates, LeaderElection, LeaseName, Process, Serving,
};
use clusternet_component_base::serving::ServingDefaults;

/// clusternet-controller-manager: runs on the parent.
#[derive(Clone, Debug, Parser)]
#[command(
    args_override_self = true,
    name = "clusternet-controller-manager",
    version,
    about = "Clusternet controller manager: approves cluster registrations, tracks cluster health, deploys applications"
)]
pub struct Options {
    /// `--kubeconfig`.
    #[command(flatten)]
    pub client: Client,

    /// Controllers to run: `*` for all, `name` to enable, `-name` to disable
    /// (clusterlifecycle, crrapprover). Unlike Clusternet, the default runs all of them.
    #[arg(long, value_delimiter = ',', default_value = "*")]
    pub controllers: Vec<String>,

    /// Namespace where shadow objects are stored as Manifests (must equal the hub's).
    #[arg(long, default_value = clusternet_apis::known::CLUSTERNET_RESERVED_NAMESPACE)]
    pub reserved_namespace: String,

    /// `--feature-gates`.
    #[command(flatten)]
    pub feature_gates: Gates,

    /// Go's controller-manager flags that change nothing here.
    #[command(flatten)]
    pub compat: Compat<ControllerManagerCompat>,

    /// Leave a registration token in its ClusterRegistrationRequest's status after the cluster
    /// has used it, when the agent did not offer a key to seal it to. Go Clusternet's agents
    /// (≤ v0.18) read the token from the request on every restart, so fleets still running
    /// them need this; it also leaves the token readable by every bootstrap-token holder who
    /// knows the cluster ID, as in Go Clusternet. This project's agents seal their tokens and
    /// are not affected either way.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub keep_plain_registration_tokens: bool,

    /// How often cluster health is re-evaluated even without a change from the agent.
    #[arg(long, default_value = "5s")]
    pub cluster_lifecycle_resync: GoDuration,

    /// The fraction of clusters silent at once (with more than 2 silent) at and above which
    /// the parent or the network, not the clusters, is assumed at fault: they are marked not
    /// ready but not tainted unschedulable, so nothing is taken off them, until fewer than half
    /// that fraction are, for one Lease duration (kube-controller-manager's
    /// --unhealthy-zone-threshold). Clusters
    /// count from halfway through their Lease. Above 1: never.
    #[arg(long, default_value_t = 0.55)]
    pub unhealthy_cluster_threshold: f64,

    /// The Helm CLI (Helm 4) that installs HelmChart feeds into children in push mode and
    /// looks charts up; a path, or a name looked up in PATH. Go Clusternet links Helm in.
    #[arg(long, env = "CLUSTERNET_HELM_BINARY", default_value = "helm")]
    pub helm_binary: PathBuf,

    /// Leader election (`--leader-elect*`).
    #[command(flatten)]
    pub leader_election: LeaderElection<Lease>,

    /// The HTTPS health and metrics server (`--secure-port`, `--bind-address`, `--tls-*`,
    /// delegated authentication and authorization).
    #[command(flatten)]
    pub serving: Serving<Port>,

    /// `-v` and the process flags.
    #[command(flatten)]
    pub process: Process,
}

/// The controller-manager's Lease: `clusternet-controller-manager`.
#[derive(Clone, Debug)]
pub struct Lease;
impl LeaseName for Lease {
    const NAME: &'static str = clusternet_apis::known::CLUSTERNET_CTRL_MGR_NAME;
}

/// Go's default `--secure-port` of clusternet-controller-manager: 10660.
#[derive(Clone, Debug)]
pub struct Port;
impl ServingDefaults for Port {
    const PORT: u16 = 10660;
}

/// Go's controller-manager flags with no effect here.
#[derive(Clone, Debug)]
pub struct ControllerManagerCompat;
impl CompatFlags for ControllerManagerCompat {
    const FLAGS: &'static [CompatFlag] = &[
        CompatFlag {
            name: "anonymous-auth-supported",
            bool: true,
            why: "the push deployer always reaches children through the hub as the controller-manager's own identity, never as system:anonymous",
        },
        CompatFlag {
            name: "threadiness",
            bool: false,
            why: "controllers reconcile as many objects at once as are queued (the deployer up to 32 Bases)",
        },
        CompatFlag {
            name: "cluster-api-kubeconfig",
            bool: false,
            why: "Cluster API integration is not implemented",
        },
    ];
}

impl Options {
    /// Whether controller `name` is enabled by `--controllers`.
    pub fn controller_enabled(&self, name: &str) -> bool {
        let mut enabled = false;
        for item in &self.controllers {
            match item.trim() {
                "*" => enabled = true,
                n if n == name => return true,
                n if n.strip_prefix('-') == Some(name) => return false,
                _ => {}
            }
        }
        enabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controllers_flag() {
        let opts = |v: &str| Options::parse_from(["cm", &format!("--controllers={v}")]);
        assert!(opts("*").controller_enabled("crrapprover"));
        assert!(!opts("*,-crrapprover").controller_enabled("crrapprover"));
        assert!(opts("crrapprover").controller_enabled("crrapprover"));
        assert!(!opts("crrapprover").controller_enabled("clusterlifecycle"));
        assert!(Options::parse_from(["cm"]).controller_enabled("clusterlifecycle"));
    }
}
