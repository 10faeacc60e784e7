//! Flags of `clusternet-scheduler`, named as Clusternet's (`pkg/scheduler/options`, plus
//! component-base's leader election flags).

use clap::Parser;
use clusternet_component_base::options::{
    Client, Gates, LeaderElection, LeaseName, Process, Serving,
};
use clusternet_component_base::serving::ServingDefaults;

/// clusternet-scheduler: runs on the parent.
#[derive(Clone, Debug, Parser)]
#[command(
    args_override_self = true,
    name = "clusternet-scheduler",
    version,
    about = "Clusternet scheduler: binds Subscriptions to ManagedClusters"
)]
pub struct Options {
    /// `--kubeconfig`.
    #[command(flatten)]
    pub client: Client,

    /// `--feature-gates`.
    #[command(flatten)]
    pub feature_gates: Gates,

    /// Leader election (`--leader-elect*`).
    #[command(flatten)]
    pub leader_election: LeaderElection<Lease>,

    /// Scheduler name this scheduler handles (`spec.schedulerName` of Subscriptions).
    #[arg(long, default_value = "default")]
    pub scheduler_name: String,

    /// The path to the configuration file (Go's SchedulerConfiguration: profiles, plugins,
    /// percentageOfClustersToScore/Tolerate; see `crate::config`).
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,

    /// Percentage of clusters whose predictor may fail before a dynamic cycle fails (with
    /// gate FeasibleClustersToleration); Clusternet's `percentageOfClustersToTolerate` (a
    /// config-file field there).
    #[arg(long, default_value_t = 10)]
    pub percentage_of_clusters_to_tolerate: i64,

    /// Percentage of feasible clusters to look for when there are at least 100 (Dividing only);
    /// 0 is adaptive. Clusternet's `percentageOfClustersToScore` (a config-file field there).
    #[arg(long, default_value_t = 0)]
    pub percentage_of_clusters_to_score: i32,

    /// The HTTPS health and metrics server (`--secure-port`, `--bind-address`, `--tls-*`,
    /// delegated authentication and authorization).
    #[command(flatten)]
    pub serving: Serving<Port>,

    /// `-v` and the process flags.
    #[command(flatten)]
    pub process: Process,
}

/// The scheduler's Lease: `clusternet-scheduler`.
#[derive(Clone, Debug)]
pub struct Lease;
impl LeaseName for Lease {
    const NAME: &'static str = "clusternet-scheduler";
}

/// Go's default `--secure-port` of clusternet-scheduler: 10659.
#[derive(Clone, Debug)]
pub struct Port;
impl ServingDefaults for Port {
    const PORT: u16 = 10659;
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusternet_component_base::featuregate::Feature;

    #[test]
    fn flags() {
        let o = Options::parse_from(["s"]);
        assert!(o.leader_election.enabled);
        assert_eq!(o.leader_election.resource_name, "clusternet-scheduler");
        let o = Options::parse_from([
            "s",
            "--leader-elect=false",
            "--feature-gates=FailOver=true",
            "-v=4",
        ]);
        assert!(!o.leader_election.enabled);
        assert!(o.feature_gates.enabled(Feature::FailOver));
        assert_eq!(o.process.verbosity, 4);
    }
}
