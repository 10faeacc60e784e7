//! The agent's end of the tunnel: a websocket to
//! `<parent>/apis/proxies.clusternet.io/v1alpha1/sockets?watch=true&fieldSelector=metadata.name%3D<cluster-id>`
//! (or, to a hub that does not serve that, Go Clusternet's `sockets/<cluster-id>`; see [`run`])
//! through the parent's aggregator to the hub, authenticated with the cluster's own parent
//! credentials, carrying the streams the hub opens into this cluster.
//!
//! Unlike Go Clusternet, which skips verification of the parent's certificate here, the
//! connection verifies it against the CA the agent pinned at registration. Reconnection backs off
//! exponentially with jitter (0.25 s doubling to 10 s); a session that stayed up for a while
//! resets the backoff, so a hub restart is followed by a reconnect within a second.
//!
//! Unlike Clusternet, which dials every address the hub asks for, the agent dials only an
//! allow-list ([`AllowList`]): this cluster's API server and its predictor, plus what
//! `--tunnel-allowed-addresses` adds, over TCP. A caller the parent authorized for
//! `sockets/proxy` therefore cannot reach arbitrary services (or the cloud metadata endpoint)
//! from inside the child; the hub answers such a request with 403.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clusternet_tunnel::{
    ConnectError, ConnectHandler, ConnectRequest, Session, SessionConfig, socket_url,
    watch_socket_url,
};
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
    /// What the hub may reach through the tunnel.
    pub allowed: AllowList,
}

/// The addresses the hub may reach through the tunnel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    /// Any TCP address (`*`, Go Clusternet's behaviour).
    any: bool,
    /// `host:port`, host lower-cased, IPv6 in brackets (as the hub writes them).
    addresses: Vec<String>,
}

impl AllowList {
    /// The API server at `apiserver_url`, the predictor at `predictor_url` (if any), and
    /// `extra` (`host:port` entries, or `*`).
    pub fn new(apiserver_url: &str, predictor_url: &str, extra: &[String]) -> Result<Self> {
        let mut list = AllowList::default();
        for url in [apiserver_url, predictor_url] {
            if !url.is_empty() {
                list.addresses
                    .push(authority_of(url).with_context(|| format!("address of {url}"))?);
            }
        }
        for entry in extra.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            if entry == "*" {
                list.any = true;
                continue;
            }
            let (host, port) = entry.rsplit_once(':').with_context(|| {
                format!("--tunnel-allowed-addresses entry {entry:?} is not host:port")
            })?;
            anyhow::ensure!(
                !host.is_empty() && port.parse::<u16>().is_ok(),
                "--tunnel-allowed-addresses entry {entry:?} is not host:port"
            );
            list.addresses.push(entry.to_ascii_lowercase());
        }
        Ok(list)
    }

    /// Whether the hub may have `address` dialed over `proto`.
    pub fn permits(&self, proto: &str, address: &str) -> bool {
        proto == "tcp"
            && (self.any
                || self
                    .addresses
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(address)))
    }
}

/// `host:port` of a URL as the hub dials it (default ports by scheme, IPv6 in brackets).
fn authority_of(url: &str) -> Result<String> {
    let uri: http::Uri = url.parse().context("not a URL")?;
    let host = uri.host().context("no host")?.to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("http") => 80,
        _ => 443,
    });
    Ok(format!("{host}:{port}"))
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
///
/// The tunnel is asked for as a watch of the cluster's socket first ([`watch_socket_url`]):
/// kube-apiserver gives a watch's API Priority and Fairness seat back once it is handed to the
/// hub, where the `sockets/<id>` GET Clusternet's agent sends holds one for the tunnel's whole
/// life. A hub that answers the watch with 404 or 405 (Go Clusternet's) gets the GET instead,
/// from then on once the GET has worked.
pub async fn run(settings: Settings) -> Result<()> {
    let tls = tls_config(&settings.ca_pem)?;
    let request = |url: String| -> Result<ConnectRequest> {
        Ok(ConnectRequest::new(url)
            .bearer_token(&settings.token)
            .context("tunnel credentials")?
            .tls(tls.clone()))
    };
    let watch = request(
        watch_socket_url(&settings.parent_url, &settings.cluster_id)
            .context("building the tunnel URL")?,
    )?;
    let get = request(
        socket_url(&settings.parent_url, &settings.cluster_id)
            .context("building the tunnel URL")?,
    )?;
    let mut hub_serves_watch = true;
    let mut failures = 0u32;
    loop {
        let connected =
            connect_either(&mut hub_serves_watch, || watch.connect(), || get.connect()).await;
        let url = if hub_serves_watch {
            watch.url()
        } else {
            get.url()
        };
        match connected {
            Ok(ws) => {
                let started = Instant::now();
                tracing::info!(%url, "tunnel connected");
                let allowed = settings.allowed.clone();
                let handler = ConnectHandler::new(move |proto, address| {
                    let ok = allowed.permits(proto, address);
                    if !ok {
                        tracing::warn!(
                            proto,
                            address,
                            "refused a tunnel connect outside the allow-list (--tunnel-allowed-addresses)"
                        );
                    }
                    ok
                });
                let (_session, driver) = Session::client(ws, SessionConfig::client(), handler);
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

/// Opens the tunnel with `watch` while the hub serves that form, else with `get`; a 404 or 405
/// to the watch is tried again at once with `get`, and once that works, `get` is used from then
/// on (a hub that does not serve the watch, as Go Clusternet's).
async fn connect_either<T, W, G>(
    hub_serves_watch: &mut bool,
    watch: impl FnOnce() -> W,
    get: impl FnOnce() -> G,
) -> Result<T, ConnectError>
where
    W: std::future::Future<Output = Result<T, ConnectError>>,
    G: std::future::Future<Output = Result<T, ConnectError>>,
{
    if !*hub_serves_watch {
        return get().await;
    }
    let connected = watch().await;
    let not_served = matches!(
        &connected,
        Err(ConnectError::Http { status, .. }) if *status == 404 || *status == 405
    );
    if !not_served {
        return connected;
    }
    let connected = get().await;
    if connected.is_ok() {
        tracing::info!(
            "the hub does not serve the tunnel as a watch (Go Clusternet's hub): opening it with a GET of sockets/<cluster-id> from now on"
        );
        *hub_serves_watch = false;
    }
    connected
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(why: &str) -> Result<&'static str, ConnectError> {
        panic!("{why}")
    }

    fn refused(status: u16) -> Result<&'static str, ConnectError> {
        Err(ConnectError::Http {
            status: http::StatusCode::from_u16(status).unwrap(),
            reason: None,
            message: String::new(),
        })
    }

    #[tokio::test]
    async fn the_watch_form_is_preferred_and_a_hub_without_it_gets_the_get() {
        // This project's hub: the watch works, the GET is never sent.
        let mut served = true;
        let got = connect_either(
            &mut served,
            || async { Ok("watch") },
            || async { never("GET sent although the watch worked") },
        )
        .await;
        assert_eq!(got.unwrap(), "watch");
        assert!(served);
        // Refused for another reason (403, 503): nothing is decided, the watch is tried
        // again next time, and the GET is not sent.
        for status in [403, 503] {
            let got = connect_either(
                &mut served,
                || async move { refused(status) },
                || async { never("GET sent after a refusal that is not 404/405") },
            )
            .await;
            assert!(got.is_err());
            assert!(served);
        }
        // Both forms 404 (the hub does not know the cluster yet): the watch stays preferred.
        let got = connect_either(
            &mut served,
            || async { refused(404) },
            || async { refused(404) },
        )
        .await;
        assert!(got.is_err());
        assert!(served);
        // Go Clusternet's hub: 404 (or 405) to the watch, the GET works and is used from then on.
        for status in [404, 405] {
            let mut served = true;
            let got = connect_either(
                &mut served,
                || async move { refused(status) },
                || async { Ok("get") },
            )
            .await;
            assert_eq!(got.unwrap(), "get");
            assert!(!served);
            let got = connect_either(
                &mut served,
                || async { never("watch tried again on a hub that does not serve it") },
                || async { Ok("get") },
            )
            .await;
            assert_eq!(got.unwrap(), "get");
        }
    }

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
    fn allow_list_is_the_apiserver_the_predictor_and_the_flag() {
        let list = AllowList::new(
            "https://127.0.0.1:6443",
            "http://localhost:8080",
            &["Metrics.kube-system:443".into()],
        )
        .unwrap();
        assert!(list.permits("tcp", "127.0.0.1:6443"));
        assert!(list.permits("tcp", "localhost:8080"));
        assert!(list.permits("tcp", "metrics.kube-system:443"));
        assert!(!list.permits("unix", "127.0.0.1:6443"));
        assert!(!list.permits("tcp", "127.0.0.1:22"));
        assert!(!list.permits("tcp", "169.254.169.254:80"));
        let v6 = AllowList::new("https://[::1]", "", &[]).unwrap();
        assert!(v6.permits("tcp", "[::1]:443"));
        let any = AllowList::new("https://10.0.0.1", "", &["*".into()]).unwrap();
        assert!(any.permits("tcp", "10.9.9.9:1234") && !any.permits("unix", "/run/x.sock"));
        assert!(AllowList::new("https://x", "", &["nope".into()]).is_err());
        assert!(AllowList::new("https://x", "", &["h:notaport".into()]).is_err());
    }

    #[test]
    fn tls_config_needs_a_certificate() {
        assert!(tls_config(b"not a pem").is_err());
    }
}
