//! Flags of `clusternet-agent`, named as Clusternet's agent names them where they mean the same
//! (reference: `pkg/agent/options`). Defaults differ where Clusternet's are slow: the status
//! is reported every 10 s (Clusternet: 3 m), so the parent notices a silent cluster in
//! seconds, not nine minutes.

use std::path::PathBuf;

use clap::Parser;
use clusternet_apis::clusters::v1beta1::ClusterSyncMode;
use clusternet_component_base::GoDuration;
use clusternet_component_base::featuregate::Feature;
use clusternet_component_base::options::{
    Client, Compat, CompatFlag, CompatFlags, Gates, LeaderElection, LeaseName, Process, Serving,
};
use clusternet_component_base::serving::ServingDefaults;

/// clusternet-agent: runs in each child cluster.
#[derive(Clone, Debug, Parser)]
#[command(
    args_override_self = true,
    name = "clusternet-agent",
    version,
    about = "Clusternet agent: registers this cluster with the parent, reports its status and keeps a tunnel open to the hub"
)]
pub struct Options {
    /// `--kubeconfig`.
    #[command(flatten)]
    pub client: Client,

    /// URL of the parent cluster's kube-apiserver.
    #[arg(long)]
    pub cluster_reg_parent_url: String,

    /// Bootstrap token (`<id>.<secret>`) or ServiceAccount token used to register with the parent.
    #[arg(long, env = "CLUSTER_REG_TOKEN", hide_env_values = true)]
    pub cluster_reg_token: String,

    /// Name of this cluster; empty generates `<prefix>-<5 random characters>` once.
    #[arg(long, default_value = "")]
    pub cluster_reg_name: String,

    /// Prefix of generated cluster names.
    #[arg(long, default_value = clusternet_apis::known::REGISTRATION_NAME_PREFIX)]
    pub cluster_reg_name_prefix: String,

    /// Dedicated namespace requested in the parent; empty lets the parent generate one.
    #[arg(long, default_value = "")]
    pub cluster_reg_namespace: String,

    /// Cluster type: StandardCluster or EdgeCluster.
    #[arg(long, default_value = "StandardCluster")]
    pub cluster_reg_type: String,

    /// How applications reach this cluster: Push, Pull or Dual.
    #[arg(long, default_value = "Pull")]
    pub cluster_sync_mode: ClusterSyncModeArg,

    /// Labels for the ManagedCluster, `k1=v1,k2=v2`.
    #[arg(long, default_value = "")]
    pub cluster_labels: String,

    /// Fraction of worker nodes that must share a label for it to be copied to the ManagedCluster.
    #[arg(long, default_value_t = 0.8)]
    pub labels_aggregate_threshold: f32,

    /// Prefixes of node labels that are aggregated onto the ManagedCluster.
    #[arg(long, value_delimiter = ',', default_value = clusternet_apis::known::NODE_LABELS_KEY_PREFIX)]
    pub labels_aggregate_prefix: Vec<String>,

    /// How often the heartbeat Lease is renewed on the parent (a cluster is lost after three
    /// missed renewals); the status is written when it changes, and at least every 3 minutes.
    #[arg(long, default_value = "10s")]
    pub cluster_status_update_frequency: GoDuration,

    /// How often the status is collected in this cluster (Go's default, 20 s: each collection
    /// asks the child's /version, /healthz, /livez and /readyz).
    #[arg(long, default_value = "20s")]
    pub cluster_status_collect_frequency: GoDuration,

    /// Address of an external replica predictor, such as https://abc.com:8080. If not set, the
    /// built-in predictor is served when gate Predictor is enabled.
    #[arg(long = "predictor-addr", default_value = "")]
    pub predictor_address: String,

    /// Whether clusternet-scheduler can reach the predictor directly (otherwise through the
    /// hub's sockets proxy).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub predictor_direct_access: bool,

    /// Port of the built-in predictor (gate Predictor without --predictor-addr).
    #[arg(long, default_value_t = crate::predictor::DEFAULT_PORT)]
    pub predictor_port: u16,

    /// Addresses (`host:port`, comma-separated) the hub may reach in this cluster through the
    /// tunnel, beyond the two always allowed: this cluster's API server and the predictor.
    /// `*` allows any TCP address, as Go Clusternet's agent does.
    #[arg(long, value_delimiter = ',', default_value = "")]
    pub tunnel_allowed_addresses: Vec<String>,

    /// Use metrics server (metrics.k8s.io) for status.podStatistics and status.resourceUsage.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub use_metrics_server: bool,

    /// Go's agent flags that change nothing here.
    #[command(flatten)]
    pub compat: Compat<AgentCompat>,

    /// `--feature-gates`.
    #[command(flatten)]
    pub feature_gates: Gates,

    /// Leader election in the child (`--leader-elect*`): the Lease's namespace also holds
    /// Secret parent-cluster, and the Lease's UID is the cluster ID, so the agent always
    /// elects (`--leader-elect=false` is accepted and ignored, with a warning).
    #[command(flatten)]
    pub leader_election: LeaderElection<Lease>,

    /// The Helm CLI (Helm 4) that installs HelmReleases into this cluster in pull mode; a
    /// path, or a name looked up in PATH. Go Clusternet links Helm in.
    #[arg(long, env = "CLUSTERNET_HELM_BINARY", default_value = "helm")]
    pub helm_binary: PathBuf,

    /// The HTTPS health and metrics server (`--secure-port`, `--bind-address`, `--tls-*`,
    /// delegated authentication and authorization).
    #[command(flatten)]
    pub serving: Serving<Port>,

    /// `-v` and the process flags.
    #[command(flatten)]
    pub process: Process,
}

/// The agent's Lease in the child: `clusternet-agent`.
#[derive(Clone, Debug)]
pub struct Lease;
impl LeaseName for Lease {
    const NAME: &'static str = clusternet_apis::known::CLUSTERNET_AGENT_NAME;
}

/// Go's default `--secure-port` of clusternet-agent: 10650.
#[derive(Clone, Debug)]
pub struct Port;
impl ServingDefaults for Port {
    const PORT: u16 = 10650;
}

/// Go's agent flags with no effect here.
#[derive(Clone, Debug)]
pub struct AgentCompat;
impl CompatFlags for AgentCompat {
    const FLAGS: &'static [CompatFlag] = &[CompatFlag {
        name: "enable-tunnel-logging",
        bool: true,
        why: "use -v, or --vmodule=clusternet_tunnel=4, for tunnel detail",
    }];
}

/// `--cluster-sync-mode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ClusterSyncModeArg {
    /// The hub pushes applications.
    #[value(name = "Push")]
    Push,
    /// The agent pulls applications.
    #[value(name = "Pull")]
    Pull,
    /// Both.
    #[value(name = "Dual")]
    Dual,
}

impl From<ClusterSyncModeArg> for ClusterSyncMode {
    fn from(value: ClusterSyncModeArg) -> Self {
        match value {
            ClusterSyncModeArg::Push => ClusterSyncMode::Push,
            ClusterSyncModeArg::Pull => ClusterSyncMode::Pull,
            ClusterSyncModeArg::Dual => ClusterSyncMode::Dual,
        }
    }
}

impl Options {
    /// `--cluster-labels` parsed.
    pub fn labels(&self) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
        self.cluster_labels
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .ok_or_else(|| {
                        anyhow::anyhow!("invalid --cluster-labels entry {kv:?}: want key=value")
                    })
            })
            .collect()
    }

    /// Checks what clap cannot (as Clusternet's agent validates its registration options).
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.cluster_reg_parent_url.is_empty(),
            "--cluster-reg-parent-url is required"
        );
        anyhow::ensure!(
            !self.cluster_reg_token.is_empty(),
            "--cluster-reg-token is required"
        );
        if !self.cluster_reg_name.is_empty() {
            anyhow::ensure!(
                self.cluster_reg_name.len() <= 30 && is_dns_label(&self.cluster_reg_name),
                "--cluster-reg-name {:?} must be at most 30 lower-case alphanumerics or '-', starting and ending with an alphanumeric",
                self.cluster_reg_name
            );
        }
        anyhow::ensure!(
            matches!(
                self.cluster_reg_type.as_str(),
                "StandardCluster" | "EdgeCluster"
            ),
            "--cluster-reg-type must be StandardCluster or EdgeCluster"
        );
        if self.cluster_sync_mode == ClusterSyncModeArg::Push {
            anyhow::ensure!(
                self.feature_gates.enabled(Feature::AppPusher),
                "--cluster-sync-mode=Push requires --feature-gates=AppPusher=true"
            );
        }
        self.labels()?;
        Ok(())
    }
}

fn is_dns_label(s: &str) -> bool {
    let ok_chars = s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    ok_chars && !s.starts_with('-') && !s.ends_with('-')
}
