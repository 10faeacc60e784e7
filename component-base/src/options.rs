//! The flags every binary shares, as `#[command(flatten)]` groups with Go's names, and the
//! start-up prelude they drive: [`Process`] (`-v`, and the test harnesses' `--lifeline`),
//! [`Client`] (`--kubeconfig`), [`Gates`] (`--feature-gates`) and [`LeaderElection`]
//! (component-base's `--leader-elect*` flags; the Lease's default name is the binary's, given
//! by a [`LeaseName`]), [`Serving`] (the components' HTTPS health and metrics server) and
//! [`Compat`] (Go flags that mean nothing in a Rust process: accepted, and one start-up line
//! says each given one is ignored).

use std::marker::PhantomData;
use std::path::PathBuf;

use anyhow::Result;
use k8s_openapi::api::coordination::v1::Lease;

use crate::featuregate::Feature;
use crate::serving::{self, Delegation, SecureServing, ServingDefaults};
use crate::{FeatureGates, GoDuration, client, leader, lifeline, logging, signals};

/// Logging and process flags.
#[derive(Clone, Debug, clap::Args)]
pub struct Process {
    /// Log verbosity (klog-style: 0-1 info, 2-3 debug, 4+ trace).
    #[arg(short = 'v', long = "v", default_value_t = 2)]
    pub verbosity: u8,

    /// Comma-separated list of pattern=N settings for module-filtered logging: Rust module
    /// paths, e.g. clusternet_hub::proxies=4 (Go names source files here).
    #[arg(long, value_delimiter = ',', value_parser = parse_vmodule, help_heading = "Logs")]
    pub vmodule: Vec<(String, u8)>,

    /// Sets the log format: text or json.
    #[arg(long, value_enum, default_value = "text", help_heading = "Logs")]
    pub logging_format: logging::Format,

    /// Exit when standard input closes (for test harnesses).
    #[arg(long, hide = true)]
    pub lifeline: bool,

    /// Go's logging flags that change nothing here (lines are written unbuffered).
    #[command(flatten)]
    pub compat: Compat<LogCompat>,
}

fn parse_vmodule(entry: &str) -> Result<(String, u8), String> {
    let (pattern, n) = entry
        .split_once('=')
        .ok_or_else(|| format!("{entry:?}: expect pattern=N"))?;
    let n = n
        .trim()
        .parse::<u8>()
        .map_err(|_| format!("{entry:?}: expect pattern=N"))?;
    Ok((pattern.trim().to_string(), n))
}

/// Go's logging flags with no meaning here.
#[derive(Clone, Debug)]
pub struct LogCompat;
impl CompatFlags for LogCompat {
    const FLAGS: &'static [CompatFlag] = &[
        CompatFlag {
            name: "log-flush-frequency",
            bool: false,
            why: "log lines are written as they happen, not buffered",
        },
        CompatFlag {
            name: "log-json-info-buffer-size",
            bool: false,
            why: "log lines are written as they happen, not buffered",
        },
        CompatFlag {
            name: "log-json-split-stream",
            bool: true,
            why: "all log lines go to stderr",
        },
        CompatFlag {
            name: "log-text-info-buffer-size",
            bool: false,
            why: "log lines are written as they happen, not buffered",
        },
        CompatFlag {
            name: "log-text-split-stream",
            bool: true,
            why: "all log lines go to stderr",
        },
    ];
}

impl Process {
    /// The prelude of every `main`: logging from `-v`, rustls' ring provider, and with
    /// `--lifeline` an exit when stdin closes.
    pub fn start(&self) {
        logging::init_with(self.verbosity, &self.vmodule, self.logging_format);
        self.compat.report();
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

    /// QPS to use while talking with the 'core' kubernetes apiserver (client-side token
    /// bucket, one per client). Zero or negative: no client-side limit, the server's API
    /// Priority and Fairness decides (Go's default is 50).
    #[arg(long, default_value_t = -1.0, allow_negative_numbers = true)]
    pub kube_api_qps: f32,

    /// Burst to use while talking with 'core' kubernetes apiserver.
    #[arg(long, default_value_t = 100)]
    pub kube_api_burst: u32,
}

impl Client {
    /// The client configuration these flags name; sets the rate limit of every client this
    /// process builds from now on.
    pub async fn config(&self) -> Result<kube::Config> {
        crate::transport::set_rate_limit(self.kube_api_qps, self.kube_api_burst);
        client::config(self.kubeconfig.as_deref()).await
    }
}

/// `--feature-gates`.
#[derive(Clone, Debug, clap::Args)]
pub struct Gates {
    /// A set of key=value pairs that describe feature gates for alpha/experimental features,
    /// e.g. SocketConnection=true,Deployer=true (values as Go's ParseBool; AllAlpha=true and
    /// AllBeta=true set every gate of that stage).
    /// The flag may be repeated: the values merge, later names winning (as Go's).
    #[arg(long = "feature-gates", action = clap::ArgAction::Append, value_parser = check_gates)]
    pub feature_gates_raw: Vec<String>,

    #[arg(skip)]
    parsed: std::sync::OnceLock<FeatureGates>,
}

fn check_gates(value: &str) -> Result<String, crate::featuregate::FeatureGateError> {
    FeatureGates::parse(value).map(|_| value.to_string())
}

impl Gates {
    /// The effective gates: every `--feature-gates` merged.
    pub fn gates(&self) -> &FeatureGates {
        self.parsed.get_or_init(|| {
            FeatureGates::parse(&self.feature_gates_raw.join(",")).unwrap_or_default()
        })
    }

    /// Whether `feature` is on.
    pub fn enabled(&self, feature: Feature) -> bool {
        self.gates().enabled(feature)
    }

    /// Logs the Kubernetes library gates given (accepted as Go's binaries accept them; they
    /// change nothing here), with Go's warning for GA and deprecated ones.
    pub fn report(&self) {
        use crate::featuregate::{EXTERNAL_GATES, ExternalStage};
        for (name, value) in self.gates().external() {
            match EXTERNAL_GATES.iter().find(|g| g.0 == name).map(|g| g.2) {
                Some(ExternalStage::GA) => tracing::warn!(
                    "Setting GA feature gate {name}={value}. It will be removed in a future release."
                ),
                Some(ExternalStage::Deprecated) => tracing::warn!(
                    "Setting deprecated feature gate {name}={value}. It will be removed in a future release."
                ),
                _ => {}
            }
            tracing::info!(
                "feature gate {name}={value} is accepted for compatibility with Go Clusternet (a Kubernetes library gate) and has no effect"
            );
        }
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

    /// The type of resource object that is used for locking during leader election: only
    /// Leases (`lease`/`leases`), as Clusternet uses.
    #[arg(long = "leader-elect-resource-lock", default_value = "lease", hide = true, value_parser = ["lease", "leases"])]
    pub resource_lock: String,

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

/// The components' HTTPS server for health and metrics: k8s.io/apiserver's secure serving and
/// delegated authentication/authorization flags, and component-base's metrics flags.
#[derive(Clone, Debug, clap::Args)]
pub struct Serving<D: ServingDefaults> {
    /// `--bind-address`, `--secure-port`, `--tls-*`, `--cert-dir`.
    #[command(flatten)]
    pub secure_serving: SecureServing<D>,

    /// `--authentication-*`, `--authorization-*`, `--client-ca-file`.
    #[command(flatten)]
    pub delegation: Delegation,

    /// The metrics to leave out of /metrics (by name).
    #[arg(long, value_delimiter = ',', help_heading = "Metrics")]
    pub disabled_metrics: Vec<String>,

    /// Go's serving, profiling and metrics flags that change nothing here.
    #[command(flatten)]
    pub compat: Compat<ServingCompat>,
}

/// The secure-serving flags of k8s.io/apiserver that have no meaning for a rustls server.
pub const TLS_COMPAT: [CompatFlag; 4] = [
    CompatFlag {
        name: "tls-cipher-suites",
        bool: false,
        why: "rustls offers only its own modern cipher suites (TLS 1.3, and ECDHE with AES-GCM or ChaCha20-Poly1305 for TLS 1.2)",
    },
    CompatFlag {
        name: "tls-sni-cert-key",
        bool: false,
        why: "one serving certificate (--tls-cert-file) is served for every name",
    },
    CompatFlag {
        name: "permit-port-sharing",
        bool: true,
        why: "the port is not shared (SO_REUSEPORT is not set)",
    },
    CompatFlag {
        name: "permit-address-sharing",
        bool: true,
        why: "the address is not shared (SO_REUSEADDR is left as the OS sets it)",
    },
];

/// `--profiling` and `--contention-profiling`: Go's pprof endpoints.
pub const PROFILING_COMPAT: [CompatFlag; 2] = [
    CompatFlag {
        name: "profiling",
        bool: true,
        why: "no /debug/pprof endpoints (Go's profiler)",
    },
    CompatFlag {
        name: "contention-profiling",
        bool: true,
        why: "no /debug/pprof endpoints (Go's profiler)",
    },
];

/// The components' compatibility flags: TLS, profiling and component-base's metrics flags.
#[derive(Clone, Debug)]
pub struct ServingCompat;
impl CompatFlags for ServingCompat {
    const FLAGS: &'static [CompatFlag] = &[
        TLS_COMPAT[0],
        TLS_COMPAT[1],
        TLS_COMPAT[2],
        TLS_COMPAT[3],
        PROFILING_COMPAT[0],
        PROFILING_COMPAT[1],
        CompatFlag {
            name: "allow-metric-labels",
            bool: false,
            why: "metric labels are not filtered",
        },
        CompatFlag {
            name: "allow-metric-labels-manifest",
            bool: false,
            why: "metric labels are not filtered",
        },
        CompatFlag {
            name: "show-hidden-metrics-for-version",
            bool: false,
            why: "no metric is hidden",
        },
    ];
}

impl<D: ServingDefaults> Serving<D> {
    /// Starts serving `/healthz`, `/livez`, `/readyz` and `/metrics` (nothing with
    /// `--secure-port=0`); authentication and authorization are delegated to `client`'s
    /// cluster. Stops at `shutdown`.
    pub async fn start(
        &self,
        client: kube::Client,
        health: serving::health::Health,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<Option<std::net::SocketAddr>> {
        self.compat.report();
        serving::serve(
            &self.secure_serving,
            &self.delegation,
            client,
            health,
            serving::default_metrics(self.disabled_metrics.clone()),
            shutdown,
        )
        .await
    }
}

/// Starts a component's health and metrics server (`ping` only) against `client`'s cluster;
/// it serves until the returned guard drops.
pub async fn serve<D: ServingDefaults>(
    serving: &Serving<D>,
    client: &kube::Client,
) -> Result<tokio_util::sync::DropGuard> {
    let shutdown = tokio_util::sync::CancellationToken::new();
    serving
        .start(
            client.clone(),
            serving::health::Health::ping(),
            shutdown.clone(),
        )
        .await?;
    Ok(shutdown.drop_guard())
}

/// A flag of Go Clusternet's binaries that has no effect here (profiling, klog file output,
/// audit, …).
#[derive(Clone, Copy, Debug)]
pub struct CompatFlag {
    /// The flag's name, without dashes.
    pub name: &'static str,
    /// Whether it is a bool flag (`--name`, `--name=false`) rather than one taking a value.
    pub bool: bool,
    /// Why it has no effect, for the start-up line.
    pub why: &'static str,
}

/// A list of [`CompatFlag`]s.
pub trait CompatFlags: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// The flags.
    const FLAGS: &'static [CompatFlag];
}

/// The [`CompatFlag`]s of `S`, accepted on the command line; [`Compat::report`] logs the ones
/// given.
#[derive(Clone, Debug)]
pub struct Compat<S: CompatFlags> {
    /// The flags given on the command line, with their values.
    pub given: Vec<(&'static CompatFlag, String)>,
    _set: PhantomData<S>,
}

impl<S: CompatFlags> Compat<S> {
    /// One line per given flag: accepted, no effect, and why.
    pub fn report(&self) {
        for (flag, value) in &self.given {
            tracing::info!(
                "--{}={} is accepted for compatibility with Go Clusternet and has no effect: {}",
                flag.name,
                value,
                flag.why
            );
        }
    }
}

impl<S: CompatFlags> clap::FromArgMatches for Compat<S> {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut given = Vec::new();
        for flag in S::FLAGS {
            if matches.value_source(flag.name) == Some(clap::parser::ValueSource::CommandLine) {
                let values: Vec<String> = matches
                    .get_many::<String>(flag.name)
                    .map(|v| v.cloned().collect())
                    .unwrap_or_default();
                given.push((flag, values.join(",")));
            }
        }
        Ok(Self {
            given,
            _set: PhantomData,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl<S: CompatFlags> clap::Args for Compat<S> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.args(S::FLAGS.iter().map(|flag| {
            let arg = clap::Arg::new(flag.name)
                .long(flag.name)
                .help_heading("Accepted for compatibility with Go Clusternet (no effect)")
                .help(flag.why);
            if flag.bool {
                arg.num_args(0..=1)
                    .require_equals(true)
                    .default_missing_value("true")
                    .value_parser(|v: &str| {
                        crate::featuregate::parse_bool(v)
                            .map(|_| v.to_string())
                            .ok_or_else(|| format!("invalid boolean {v:?}"))
                    })
                    .action(clap::ArgAction::Set)
            } else {
                arg.num_args(1).action(clap::ArgAction::Append)
            }
        }))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
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
        // Repeated --feature-gates merge, later names winning, as Go's.
        let f = Flags::parse_from([
            "x",
            "--feature-gates=Deployer=true,Recovery=true",
            "--feature-gates=Recovery=false,AppPusher=true",
        ]);
        assert!(f.gates.enabled(Feature::Deployer) && f.gates.enabled(Feature::AppPusher));
        assert!(!f.gates.enabled(Feature::Recovery));
        let err = Flags::try_parse_from(["x", "--feature-gates=Foo=true"]).unwrap_err();
        assert!(
            err.to_string().contains("unrecognized feature gate: Foo"),
            "{err}"
        );
    }
}
