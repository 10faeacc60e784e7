//! Clients from `--kubeconfig` (or the in-cluster service account when it is empty), with the
//! ring TLS provider installed first.

use std::path::Path;

use anyhow::{Context, Result};

/// Installs ring as the process-wide rustls provider (idempotent). Every binary calls this
/// first: the workspace links no other provider, this only makes the choice explicit.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The `kube::Config` of a kubeconfig file, or of the environment (in-cluster, then
/// `$KUBECONFIG`) when `path` is None or empty.
pub async fn config(path: Option<&Path>) -> Result<kube::Config> {
    install_crypto_provider();
    match path.filter(|p| !p.as_os_str().is_empty()) {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .with_context(|| format!("loading kubeconfig {}", path.display()))
        }
        None => kube::Config::infer()
            .await
            .context("no --kubeconfig given and no in-cluster configuration found"),
    }
}

/// A client for `config`.
pub fn client(config: kube::Config) -> Result<kube::Client> {
    kube::Client::try_from(config).context("building Kubernetes client")
}
