//! Logging from klog-style verbosity: `-v=0..1` info, `2..3` debug for our crates, `4+` trace;
//! per-request access lines ([`ACCESS_LOG`]) from `-v=3`, as Go's apiserver `httplog` (klog
//! V(3)). `RUST_LOG` overrides it when set.

use tracing_subscriber::EnvFilter;

/// The target of per-request access log lines and spans: off below `-v=3`.
pub const ACCESS_LOG: &str = "clusternet::access";

/// How log lines are written (`--logging-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// klog-like text.
    #[value(name = "text")]
    Text,
    /// One JSON object per line (component-base's `json` format).
    #[value(name = "json")]
    Json,
}

/// Installs the global subscriber (text to stderr) at `-v`. Safe to call once per process.
pub fn init(verbosity: u8) {
    init_with(verbosity, &[], Format::Text);
}

/// The level of klog verbosity `v` for our crates.
fn level(v: u8) -> &'static str {
    match v {
        0..=1 => "info",
        2..=3 => "debug",
        _ => "trace",
    }
}

/// [`init`] with `--vmodule` entries (`<module path>=<N>`: e.g. `clusternet_hub::proxies=4`
/// logs that module at `-v=4`; Go names files where this names Rust modules) and a format.
pub fn init_with(verbosity: u8, vmodule: &[(String, u8)], format: Format) {
    let ours = level(verbosity);
    // kube-client logs every failed request at ERROR ("failed with error …"); each caller
    // reports its own failures with context, so below trace those lines only repeat them (many
    // a second while a peer is down).
    let kube_requests = if verbosity >= 4 { "trace" } else { "off" };
    let access = if verbosity >= 3 { "debug" } else { "off" };
    let default = format!(
        "warn,kube_client::client::builder={kube_requests},{ACCESS_LOG}={access},clusternet={ours},clusternet_hub={ours},clusternet_agent={ours},clusternet_controller_manager={ours},clusternet_scheduler={ours},clusternet_tunnel={ours}"
    );
    let mut default = default;
    for (module, v) in vmodule {
        default.push_str(&format!(",{module}={}", level(*v)));
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        Format::Text => builder.with_target(false).try_init(),
        Format::Json => builder.json().with_target(true).try_init(),
    };
}
