//! Flags of `clusternet-hub`, named as Clusternet's hub (and k8s.io/apiserver's recommended
//! options it embeds) names them where they mean the same.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;
use clusternet_component_base::GoDuration;
use clusternet_component_base::options::{CompatFlag, PROFILING_COMPAT, TLS_COMPAT};

/// clusternet-hub: Clusternet's aggregated apiserver.
#[derive(Clone, Debug, Parser)]
#[command(
    args_override_self = true,
    name = "clusternet-hub",
    version,
    about = "Clusternet hub: serves proxies.clusternet.io (child-cluster tunnels) and shadow APIs as an aggregated apiserver"
)]
pub struct Options {
    /// The port on which to serve HTTPS with authentication and authorization (0 picks a free port).
    #[arg(long, default_value_t = 443)]
    pub secure_port: u16,

    /// The IP address on which to listen for the --secure-port port.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,

    /// File containing the default x509 certificate for HTTPS (reloaded when it changes). If
    /// unset, a self-signed certificate is generated in --cert-dir.
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,

    /// File containing the default x509 private key matching --tls-cert-file.
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,

    /// The directory where the self-signed TLS certificate is written when no --tls-cert-file is given.
    #[arg(long, default_value = "apiserver.local.config/certificates")]
    pub cert_dir: PathBuf,

    /// When no --tls-cert-file is given: keep the serving certificate and its CA in this Secret
    /// (`<namespace>/<name>`), creating it on first start, so all replicas serve the same one.
    #[arg(long)]
    pub serving_cert_secret: Option<String>,

    /// APIServices whose spec.caBundle the hub sets to the CA of its generated serving
    /// certificate (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub ca_bundle_apiservices: Vec<String>,

    /// `--kubeconfig` (the parent).
    #[command(flatten)]
    pub client: clusternet_component_base::options::Client,

    /// kubeconfig with rights to create tokenreviews.authentication.k8s.io (default: --kubeconfig).
    #[arg(long)]
    pub authentication_kubeconfig: Option<PathBuf>,

    /// kubeconfig with rights to create subjectaccessreviews.authorization.k8s.io (default: --kubeconfig).
    #[arg(long)]
    pub authorization_kubeconfig: Option<PathBuf>,

    /// Client certificate CA bundle; overrides client-ca-file of kube-system/extension-apiserver-authentication.
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,

    /// Front-proxy CA bundle; overrides requestheader-client-ca-file of the ConfigMap.
    #[arg(long)]
    pub requestheader_client_ca_file: Option<PathBuf>,

    /// Allowed front-proxy client certificate common names (comma-separated); overrides the ConfigMap.
    #[arg(long, value_delimiter = ',')]
    pub requestheader_allowed_names: Option<Vec<String>>,

    /// Request headers to inspect for usernames; overrides the ConfigMap.
    #[arg(long, value_delimiter = ',')]
    pub requestheader_username_headers: Option<Vec<String>>,

    /// Request headers to inspect for groups; overrides the ConfigMap.
    #[arg(long, value_delimiter = ',')]
    pub requestheader_group_headers: Option<Vec<String>>,

    /// Request header prefixes to inspect for extras; overrides the ConfigMap.
    #[arg(long, value_delimiter = ',')]
    pub requestheader_extra_headers_prefix: Option<Vec<String>>,

    /// Request headers to inspect for the uid; overrides the ConfigMap.
    #[arg(long, value_delimiter = ',')]
    pub requestheader_uid_headers: Option<Vec<String>>,

    /// Timeout of non-long-running requests (watch, proxy, exec … are exempt).
    #[arg(long, default_value = "1m0s")]
    pub request_timeout: GoDuration,

    /// Maximum number of concurrent non-mutating requests (429 beyond).
    #[arg(long, default_value_t = 400)]
    pub max_requests_inflight: usize,

    /// Maximum number of concurrent mutating requests (429 beyond).
    #[arg(long, default_value_t = 200)]
    pub max_mutating_requests_inflight: usize,

    /// Maximum number of concurrent long-running requests: watches, proxied streams and
    /// upgraded connections (exec, attach, port-forward), tunnels excepted (429 beyond).
    #[arg(long, default_value_t = 5000)]
    pub max_long_running_requests: usize,

    /// Maximum number of open client connections; more are closed as soon as they are accepted.
    #[arg(long, default_value_t = 20000)]
    pub max_connections: usize,

    /// Maximum number of connected cluster tunnels (a reconnecting cluster replaces its own).
    #[arg(long, default_value_t = 10000)]
    pub max_tunnels: usize,

    /// Close an upgraded connection into a child cluster (exec, attach, port-forward) when no
    /// byte has moved either way for this long (the kubelet's flag of the same name).
    #[arg(long, default_value = "4h0m0s")]
    pub streaming_connection_idle_timeout: GoDuration,

    /// Namespace where shadow objects are stored as Manifests.
    #[arg(long, default_value = clusternet_apis::known::CLUSTERNET_RESERVED_NAMESPACE)]
    pub reserved_namespace: String,

    /// `--feature-gates`.
    #[command(flatten)]
    pub feature_gates: clusternet_component_base::options::Gates,

    /// `-v` and the process flags.
    #[command(flatten)]
    pub process: clusternet_component_base::options::Process,

    /// Peer connections between hub replicas.
    #[command(flatten)]
    pub peers: crate::peers::PeerOptions,

    /// Leader election flags (`--leader-elect*`, as Go's hub takes them): every hub replica
    /// serves, so nothing is elected; the namespace is where replicas' peer Leases live.
    #[command(flatten)]
    pub leader_election: clusternet_component_base::options::LeaderElection<Lease>,

    /// Go's hub flags that change nothing here (audit, profiling, TLS details, caches).
    #[command(flatten)]
    pub compat: clusternet_component_base::options::Compat<HubCompat>,

    /// Write the address actually bound (useful with --secure-port=0) to this file.
    #[arg(long, hide = true)]
    pub bound_address_file: Option<PathBuf>,
}

/// The hub's leader-election Lease name (`clusternet-hub`, as Go's).
#[derive(Clone, Debug)]
pub struct Lease;
impl clusternet_component_base::options::LeaseName for Lease {
    const NAME: &'static str = "clusternet-hub";
}

/// Flags of Go's hub (k8s.io/apiserver's recommended options and Clusternet's own) that have
/// no effect in this hub; each one given is named in one start-up line.
#[derive(Clone, Debug)]
pub struct HubCompat;

const AUDIT: &str = "the hub writes no audit log (kube-apiserver's audit log records every request the aggregator proxies to it)";
const AUTHN_CACHE: &str = "TokenReviews are cached 10 s, SubjectAccessReviews 10 s; the client CA and front-proxy settings are always read from kube-system/extension-apiserver-authentication unless given by flags";

impl clusternet_component_base::options::CompatFlags for HubCompat {
    const FLAGS: &'static [CompatFlag] = &[
        CompatFlag {
            name: "audit-log-compress",
            bool: true,
            why: AUDIT,
        },
        CompatFlag {
            name: "audit-log-format",
            bool: false,
            why: AUDIT,
        },
        CompatFlag {
            name: "audit-log-maxage",
            bool: false,
            why: AUDIT,
        },
        CompatFlag {
            name: "audit-log-maxbackup",
            bool: false,
            why: AUDIT,
        },
        CompatFlag {
            name: "audit-log-maxsize",
            bool: false,
            why: AUDIT,
        },
        CompatFlag {
            name: "audit-log-path",
            bool: false,
            why: AUDIT,
        },
        CompatFlag {
            name: "audit-log-version",
            bool: false,
            why: AUDIT,
        },
        CompatFlag {
            name: "authentication-skip-lookup",
            bool: true,
            why: AUTHN_CACHE,
        },
        CompatFlag {
            name: "authentication-token-webhook-cache-ttl",
            bool: false,
            why: AUTHN_CACHE,
        },
        CompatFlag {
            name: "authentication-tolerate-lookup-failure",
            bool: true,
            why: AUTHN_CACHE,
        },
        CompatFlag {
            name: "authorization-always-allow-paths",
            bool: false,
            why: "the hub's /healthz, /livez, /readyz need no authorization; every other path is authorized",
        },
        CompatFlag {
            name: "authorization-webhook-cache-authorized-ttl",
            bool: false,
            why: AUTHN_CACHE,
        },
        CompatFlag {
            name: "authorization-webhook-cache-unauthorized-ttl",
            bool: false,
            why: AUTHN_CACHE,
        },
        PROFILING_COMPAT[0],
        PROFILING_COMPAT[1],
        CompatFlag {
            name: "debug-socket-path",
            bool: false,
            why: "no Go debug socket",
        },
        CompatFlag {
            name: "disable-http2-serving",
            bool: true,
            why: "the hub always offers HTTP/2 (the aggregator speaks it to aggregated apiservers)",
        },
        CompatFlag {
            name: "enable-priority-and-fairness",
            bool: true,
            why: "the hub limits requests with --max-requests-inflight and --max-mutating-requests-inflight; the parent's API Priority and Fairness applies before the aggregator proxies",
        },
        CompatFlag {
            name: "enable-tunnel-logging",
            bool: true,
            why: "use -v, or --vmodule=clusternet_tunnel=4, for tunnel detail",
        },
        CompatFlag {
            name: "http2-max-streams-per-connection",
            bool: false,
            why: "the hub allows 1000 streams per HTTP/2 connection",
        },
        TLS_COMPAT[0],
        TLS_COMPAT[1],
        TLS_COMPAT[2],
        TLS_COMPAT[3],
        CompatFlag {
            name: "tls-min-version",
            bool: false,
            why: "TLS 1.2 and 1.3 are served (rustls speaks nothing older)",
        },
    ];
}
