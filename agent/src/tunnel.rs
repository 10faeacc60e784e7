//! The agent's end of the tunnel: a websocket to
//! `<parent>/apis/proxies.clusternet.io/v1alpha1/sockets/<cluster-id>` (through the parent's
//! aggregator to the hub), authenticated with the cluster's own parent credentials, carrying the
//! streams the hub opens into this cluster.
//!
//! Unlike Go Clusternet, which skips verification of the parent's certificate here, the
//! connection verifies it against the CA the agent pinned at registration. Reconnection backs off
//! exponentially with jitter (0.25 s doubling to 10 s); a session that stayed up for a while
//! resets the backoff, so a hub restart is followed by a reconnect within a second.
//!
//! Like Clusternet, every address the hub asks for is dialled: the hub only asks on behalf of
//! callers the parent authorized for `sockets/proxy` on this cluster.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clusternet_tunnel::{ConnectHandler, ConnectRequest, Session, SessionConfig, socket_url};
use rand::Rng;
use rustls_pki_types::{CertificateDer, pem::PemObject};

/// First retry delay.
const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
/// Longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A session that lasted this long resets the backoff.
const STABLE: Duration = Duration::from_secs(30);

/// Where and as whom to connect.
pub struct Settings {
    /// The parent kube-apiserver URL.
    pub parent_url: String,
    /// The cluster's parent credential (its dedicated ServiceAccount token).
    pub token: String,
    /// The parent's CA (PEM).
    pub ca_pem: Vec<u8>,
    /// The cluster ID.
    pub cluster_id: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("parent_url", &self.parent_url)
            .field("cluster_id", &self.cluster_id)
            .finish_non_exhaustive()
    }
}

/// TLS to the parent, trusting only its CA; HTTP/1.1 (a websocket upgrade).
fn tls_config(ca_pem: &[u8]) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(cert.context("parsing the parent's CA")?)
            .context("adding the parent's CA")?;
    }
    anyhow::ensure!(
        !roots.is_empty(),
        "the parent's CA bundle has no certificate"
    );
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The delay after `failures` consecutive failures: exponential, capped, with ±30 % jitter
/// (Clusternet jitters its fixed retry period by 0.3).
fn backoff(failures: u32) -> Duration {
    let base = INITIAL_BACKOFF
        .saturating_mul(1u32 << failures.min(16))
        .min(MAX_BACKOFF);
    base.mul_f64(rand::rng().random_range(0.7..1.3))
}

/// Keeps the tunnel up until the task is dropped.
pub async fn run(settings: Settings) -> Result<()> {
    let url = socket_url(&settings.parent_url, &settings.cluster_id)
        .context("building the tunnel URL")?;
    let request = ConnectRequest::new(url.clone())
        .bearer_token(&settings.token)
        .context("tunnel credentials")?
        .tls(tls_config(&settings.ca_pem)?);
    let mut failures = 0u32;
    loop {
        match request.connect().await {
            Ok(ws) => {
                let started = Instant::now();
                tracing::info!(%url, "tunnel connected");
                let (_session, driver) =
                    Session::client(ws, SessionConfig::client(), ConnectHandler::allow_all());
                match driver.await {
                    Ok(()) => tracing::info!("tunnel closed by the hub"),
                    Err(err) => tracing::warn!(error = %err, "tunnel lost"),
                }
                if started.elapsed() >= STABLE {
                    failures = 0;
                }
            }
            Err(err) => {
                tracing::warn!(%url, error = %err, "cannot connect the tunnel");
            }
        }
        let delay = backoff(failures);
        failures = failures.saturating_add(1);
        tracing::debug!(?delay, "reconnecting the tunnel");
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        for _ in 0..100 {
            let first = backoff(0);
            assert!(first >= Duration::from_millis(175) && first <= Duration::from_millis(325));
            let late = backoff(40);
            assert!(late >= Duration::from_secs(7) && late <= Duration::from_secs(13));
        }
        assert!(backoff(3) > backoff(0).saturating_mul(3) / 2);
    }

    #[test]
    fn tls_config_needs_a_certificate() {
        assert!(tls_config(b"not a pem").is_err());
    }
}
