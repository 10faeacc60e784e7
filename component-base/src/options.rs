//! The flags every binary shares, as `#[command(flatten)]` groups with Go's names, and the
//! start-up prelude they drive: [`Process`] (`-v`, and the test harnesses' `--lifeline`),
//! [`Client`] (`--kubeconfig`), [`Gates`] (`--feature-gates`) and [`LeaderElection`]
//! (component-base's `--leader-elect*` flags; the Lease's default name is the binary's, given
//! by a [`LeaseName`]).

use std::marker::PhantomData;
use std::path::PathBuf;

use anyhow::Result;
use k8s_openapi::api::coordination::v1::Lease;

use crate::featuregate::Feature;
use crate::{FeatureGates, GoDuration, client, leader, lifeline, logging, signals};

/// Logging and process flags.
#[derive(Clone, Debug, clap::Args)]
pub struct Process {
    /// Log verbosity (klog-style: 0-1 info, 2-3 debug, 4+ trace).
    #[arg(short = 'v', long = "v", default_value_t = 2)]
    pub verbosity: u8,

    /// Exit when standard input closes (for test harnesses).
    #[arg(long, hide = true)]
    pub lifeline: bool,
}

impl Process {
    /// The prelude of every `main`: logging from `-v`, rustls' ring provider, and with
    /// `--lifeline` an exit when stdin closes.
    pub fn start(&self) {
        logging::init(self.verbosity);
        client::install_crypto_provider();
        if self.lifeline {
            lifeline::exit_when_stdin_closes();
        }
    }
}

/// The cluster a component works against.
#[derive(Clone, Debug, clap::Args)]
pub struct Client {
    /// Path to a kubeconfig of the cluster this component works against (the parent; for the
    /// agent, the child it runs in). In-cluster configuration, then $KUBECONFIG, when unset.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
}

impl Client {
    /// The client configuration these flags name.
    pub async fn config(&self) -> Result<kube::Config> {
        client::config(self.kubeconfig.as_deref()).await
    }
}

/// `--feature-gates`.
#[derive(Clone, Debug, clap::Args)]
pub struct Gates {
    /// A set of key=value pairs that describe feature gates for alpha/experimental features,
    /// e.g. SocketConnection=true,Deployer=true (values as Go's ParseBool; AllAlpha=true and
    /// AllBeta=true set every gate of that stage).
    #[arg(long, default_value = "")]
    pub feature_gates: FeatureGates,
}

impl Gates {
    /// Whether `feature` is on.
    pub fn enabled(&self, feature: Feature) -> bool {
        self.feature_gates.enabled(feature)
    }
}

/// The default name of a binary's leader-election Lease.
pub trait LeaseName: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// `--leader-elect-resource-name`'s default.
    const NAME: &'static str;
}

/// Leader election flags, with Go component-base's names and defaults.
#[derive(Clone, Debug, clap::Args)]
pub struct LeaderElection<N: LeaseName> {
    /// Start a leader election client and gain leadership before running (only the leader
    /// works; the others wait to take over).
    #[arg(long = "leader-elect", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub enabled: bool,

    /// Namespace of the leader-election Lease.
    #[arg(long = "leader-elect-resource-namespace", default_value = clusternet_apis::known::CLUSTERNET_SYSTEM_NAMESPACE)]
    pub resource_namespace: String,

    /// Name of the leader-election Lease.
    #[arg(long = "leader-elect-resource-name", default_value = N::NAME)]
    pub resource_name: String,

    /// How long non-leaders wait before trying to take over an unrenewed Lease.
    #[arg(long = "leader-elect-lease-duration", default_value = "15s")]
    pub lease_duration: GoDuration,

    /// How long the leader keeps retrying to renew before giving up.
    #[arg(long = "leader-elect-renew-deadline", default_value = "10s")]
    pub renew_deadline: GoDuration,

    /// How often to try to acquire or renew leadership.
    #[arg(long = "leader-elect-retry-period", default_value = "2s")]
    pub retry_period: GoDuration,

    #[arg(skip)]
    _name: PhantomData<N>,
}

impl<N: LeaseName> LeaderElection<N> {
    /// The election these flags describe.
    pub fn config(&self) -> leader::Config {
        let mut config = leader::Config::new(&self.resource_namespace, &self.resource_name);
        config.lease_duration = self.lease_duration.0;
        config.renew_deadline = self.renew_deadline.0;
        config.retry_period = self.retry_period.0;
        config
    }

    /// Runs `lead` until SIGTERM/SIGINT: while this replica holds the Lease (campaigning
    /// again after losing it), or at once with `--leader-elect=false` (then without a Lease).
    pub async fn run<F, Fut>(&self, client: kube::Client, mut lead: F) -> Result<()>
    where
        F: FnMut(Option<Lease>) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        if !self.enabled {
            return tokio::select! {
                r = lead(None) => r,
                _ = signals::shutdown_signal() => Ok(()),
            };
        }
        leader::run_elected(client, self.config(), signals::shutdown_signal(), |lease| {
            lead(Some(lease))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Clone, Debug)]
    struct Test;
    impl LeaseName for Test {
        const NAME: &'static str = "clusternet-test";
    }

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        process: Process,
        #[command(flatten)]
        election: LeaderElection<Test>,
        #[command(flatten)]
        client: Client,
        #[command(flatten)]
        gates: Gates,
    }

    #[test]
    fn go_names_and_defaults() {
        let f = Flags::parse_from(["x"]);
        assert_eq!(f.process.verbosity, 2);
        assert!(f.election.enabled);
        assert_eq!(f.election.resource_name, "clusternet-test");
        assert_eq!(f.election.resource_namespace, "clusternet-system");
        let c = f.election.config();
        assert_eq!(
            (
                c.lease_duration.as_secs(),
                c.renew_deadline.as_secs(),
                c.retry_period.as_secs()
            ),
            (15, 10, 2)
        );
        let f = Flags::parse_from([
            "x",
            "--v=4",
            "--leader-elect=false",
            "--leader-elect-resource-name=other",
            "--leader-elect-lease-duration=30s",
        ]);
        assert_eq!(f.process.verbosity, 4);
        assert!(!f.election.enabled);
        assert_eq!(f.election.resource_name, "other");
        assert_eq!(f.election.config().lease_duration.as_secs(), 30);
        assert!(Flags::parse_from(["x", "--leader-elect"]).election.enabled);
        let f = Flags::parse_from(["x", "--kubeconfig=/k", "--feature-gates=Deployer=true"]);
        assert_eq!(f.client.kubeconfig, Some(PathBuf::from("/k")));
        assert!(f.gates.enabled(Feature::Deployer));
        assert!(!f.gates.enabled(Feature::AppPusher));
    }
}
