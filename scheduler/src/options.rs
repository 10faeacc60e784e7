//! Flags of `clusternet-scheduler`, named as Clusternet's (`pkg/scheduler/options`, plus
//! component-base's leader election flags).

use std::path::PathBuf;

use clap::Parser;
use clusternet_component_base::{FeatureGates, GoDuration};

/// clusternet-scheduler: runs on the parent.
#[derive(Clone, Debug, Parser)]
#[command(
    args_override_self = true,
    name = "clusternet-scheduler",
    version,
    about = "Clusternet scheduler: binds Subscriptions to ManagedClusters"
)]
pub struct Options {
    /// kubeconfig of the parent cluster (in-cluster configuration when unset).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,

    /// Feature gates, e.g. FailOver=true,FeasibleClustersToleration=true.
    #[arg(long, default_value = "")]
    pub feature_gates: FeatureGates,

    /// Start a leader election client and gain leadership before scheduling.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub leader_elect: bool,

    /// Namespace of the leader-election Lease.
    #[arg(long, default_value = clusternet_apis::known::CLUSTERNET_SYSTEM_NAMESPACE)]
    pub leader_elect_resource_namespace: String,

    /// Name of the leader-election Lease.
    #[arg(long, default_value = "clusternet-scheduler")]
    pub leader_elect_resource_name: String,

    /// How long non-leaders wait before trying to take over an unrenewed lease.
    #[arg(long, default_value = "15s")]
    pub leader_elect_lease_duration: GoDuration,

    /// How long the leader keeps retrying to renew before giving up.
    #[arg(long, default_value = "10s")]
    pub leader_elect_renew_deadline: GoDuration,

    /// How often to try to acquire or renew leadership.
    #[arg(long, default_value = "2s")]
    pub leader_elect_retry_period: GoDuration,

    /// Scheduler name this scheduler handles (`spec.schedulerName` of Subscriptions).
    #[arg(long, default_value = "default")]
    pub scheduler_name: String,

    /// Percentage of clusters whose predictor may fail before a dynamic cycle fails (with
    /// gate FeasibleClustersToleration); Clusternet's `percentageOfClustersToTolerate` (a
    /// config-file field there).
    #[arg(long, default_value_t = 10)]
    pub percentage_of_clusters_to_tolerate: i64,

    /// Percentage of feasible clusters to look for when there are at least 100 (Dividing only);
    /// 0 is adaptive. Clusternet's `percentageOfClustersToScore` (a config-file field there).
    #[arg(long, default_value_t = 0)]
    pub percentage_of_clusters_to_score: i32,

    /// Log verbosity (0-1 info, 2-3 debug, 4+ trace).
    #[arg(short = 'v', long = "v", default_value_t = 2)]
    pub verbosity: u8,

    /// Exit when standard input closes (for test harnesses).
    #[arg(long, hide = true)]
    pub lifeline: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusternet_component_base::featuregate::Feature;

    #[test]
    fn flags() {
        let o = Options::parse_from(["s"]);
        assert!(o.leader_elect);
        assert_eq!(o.leader_elect_resource_name, "clusternet-scheduler");
        let o = Options::parse_from([
            "s",
            "--leader-elect=false",
            "--feature-gates=FailOver=true",
            "-v=4",
        ]);
        assert!(!o.leader_elect);
        assert!(o.feature_gates.enabled(Feature::FailOver));
        assert_eq!(o.verbosity, 4);
    }
}
