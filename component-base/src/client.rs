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

/// A client for `config`: HTTP/2 when the server offers it, TCP_NODELAY ([`crate::transport`]).
pub fn client(config: kube::Config) -> Result<kube::Client> {
    install_crypto_provider();
    crate::transport::client(config).context("building Kubernetes client")
}

/// How a client trusts the server it talks to.
#[derive(Clone, Debug)]
pub enum ServerTrust {
    /// Verify against these CA certificates (PEM).
    Ca(Vec<u8>),
    /// Do not verify. Only for bootstrapping where nothing better is possible (logged).
    Insecure,
}

/// A `kube::Config` for `url` authenticating with a bearer `token`.
pub fn token_config(url: &str, token: &str, trust: &ServerTrust) -> Result<kube::Config> {
    use rustls_pki_types::{CertificateDer, pem::PemObject};
    install_crypto_provider();
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("invalid URL {url:?}"))?;
    let mut config = kube::Config::new(uri);
    config.auth_info.token = Some(secrecy::SecretString::from(token.to_string()));
    match trust {
        ServerTrust::Ca(pem) => {
            let certs = CertificateDer::pem_slice_iter(pem)
                .map(|c| c.map(|c| c.as_ref().to_vec()))
                .collect::<Result<Vec<_>, _>>()
                .context("parsing CA certificate PEM")?;
            anyhow::ensure!(!certs.is_empty(), "no CA certificate in PEM");
            config.root_cert = Some(certs);
        }
        ServerTrust::Insecure => config.accept_invalid_certs = true,
    }
    Ok(config)
}
