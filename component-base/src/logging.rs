//! Logging from klog-style verbosity: `-v=0..1` info, `2..3` debug for our crates, `4+` trace;
//! per-request access lines ([`ACCESS_LOG`]) from `-v=3`, as Go's apiserver `httplog` (klog
//! V(3)). `RUST_LOG` overrides it when set.

use tracing_subscriber::EnvFilter;

/// The target of per-request access log lines and spans: off below `-v=3`.
pub const ACCESS_LOG: &str = "clusternet::access";

/// Installs the global subscriber (text to stderr). Safe to call once per process.
pub fn init(verbosity: u8) {
    let ours = match verbosity {
        0..=1 => "info",
        2..=3 => "debug",
        _ => "trace",
    };
    // kube-client logs every failed request at ERROR ("failed with error …"); each caller
    // reports its own failures with context, so below trace those lines only repeat them (many
    // a second while a peer is down).
    let kube_requests = if verbosity >= 4 { "trace" } else { "off" };
    let access = if verbosity >= 3 { "debug" } else { "off" };
    let default = format!(
        "warn,kube_client::client::builder={kube_requests},{ACCESS_LOG}={access},clusternet={ours},clusternet_hub={ours},clusternet_agent={ours},clusternet_controller_manager={ours},clusternet_scheduler={ours},clusternet_tunnel={ours}"
    );
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
