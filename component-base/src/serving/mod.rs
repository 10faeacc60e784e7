//! The HTTPS server of the components (agent, controller-manager, scheduler): `/healthz`,
//! `/livez`, `/readyz` and `/metrics` on Go's default ports (10650, 10660, 10659), with the
//! flags of k8s.io/apiserver's `SecureServingOptions` and its delegated authentication and
//! authorization:
//!
//! - who: a client certificate of the client CA (`--client-ca-file`, else the `client-ca-file`
//!   of ConfigMap `kube-system/extension-apiserver-authentication`), else a bearer token
//!   reviewed with a TokenReview, else `system:anonymous`;
//! - may they: paths in `--authorization-always-allow-paths` (default the three health
//!   endpoints) and group `system:masters` always; anything else asks the cluster with a
//!   non-resource SubjectAccessReview (`get` on `/metrics`), as kube-controller-manager does.
//!
//! Go Clusternet's components serve the same endpoints without authentication or authorization
//! (its handler chain is built with neither), and its scheduler serves none.
//!
//! The pieces the hub shares ([`tls`], [`health`], [`ca`], [`token`]) live here too.

pub mod ca;
pub mod health;
pub mod tls;
pub mod token;

use std::convert::Infallible;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::GoDuration;
use crate::ttl_cache::TtlCache;
use ca::CaVerifier;
use health::Health;
use token::{ReviewedUser, TokenReviewer};

/// Groups allowed everything without asking (k8s.io/apiserver's `AlwaysAllowGroups`).
const ALWAYS_ALLOW_GROUPS: [&str; 1] = ["system:masters"];
/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the client CA of the ConfigMap is read again.
const CLIENT_CA_REFRESH: Duration = Duration::from_secs(60);

/// A binary's serving defaults.
pub trait ServingDefaults: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// `--secure-port`'s default.
    const PORT: u16;
}

/// k8s.io/apiserver's `SecureServingOptions` flags, with a component's default port.
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Secure serving")]
pub struct SecureServing<D: ServingDefaults> {
    /// The IP address on which to listen for the --secure-port port.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,

    /// The port on which to serve HTTPS with authentication and authorization (health and
    /// metrics). If 0, don't serve HTTPS at all.
    #[arg(long, default_value_t = D::PORT)]
    pub secure_port: u16,

    /// The directory where the TLS certs are located. If --tls-cert-file and
    /// --tls-private-key-file are provided, this flag is ignored; when empty, a self-signed
    /// certificate for localhost and 127.0.0.1 is made in memory.
    #[arg(long)]
    pub cert_dir: Option<PathBuf>,

    /// File containing the default x509 certificate for HTTPS (reloaded when it changes).
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,

    /// File containing the default x509 private key matching --tls-cert-file.
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,

    /// Minimum TLS version supported: VersionTLS12 or VersionTLS13 (VersionTLS10/11 are
    /// served as TLS 1.2, the lowest rustls speaks).
    #[arg(long, default_value = "")]
    pub tls_min_version: String,

    /// The limit that the server gives to clients for the maximum number of streams in an
    /// HTTP/2 connection. Zero means to use golang's default (250).
    #[arg(long, default_value_t = 0)]
    pub http2_max_streams_per_connection: u32,

    /// If true, disable HTTP/2 serving (HTTP/1.1 only).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub disable_http2_serving: bool,

    /// Writes the address bound (with --secure-port=0 and this flag: a port the OS picks) to
    /// this file (for test harnesses).
    #[arg(long, hide = true)]
    pub bound_address_file: Option<PathBuf>,

    #[arg(skip)]
    _defaults: PhantomData<D>,
}

/// k8s.io/apiserver's delegated authentication and authorization flags.
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Authentication and authorization")]
pub struct Delegation {
    /// kubeconfig file pointing at the 'core' kubernetes server with enough rights to create
    /// tokenreviews.authentication.k8s.io (default: --kubeconfig).
    #[arg(long)]
    pub authentication_kubeconfig: Option<PathBuf>,

    /// If false, the authentication-kubeconfig will be used to lookup missing authentication
    /// configuration from the cluster.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub authentication_skip_lookup: bool,

    /// If true, failures to look up missing authentication configuration from the cluster are
    /// not considered fatal (client certificates are then not accepted until it is found).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub authentication_tolerate_lookup_failure: bool,

    /// The duration to cache responses from the webhook token authenticator.
    #[arg(long, default_value = "10s")]
    pub authentication_token_webhook_cache_ttl: GoDuration,

    /// If set, any request presenting a client certificate signed by one of the authorities
    /// in the client-ca-file is authenticated with an identity corresponding to the
    /// CommonName of the client certificate.
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,

    /// kubeconfig file pointing at the 'core' kubernetes server with enough rights to create
    /// subjectaccessreviews.authorization.k8s.io (default: --kubeconfig).
    #[arg(long)]
    pub authorization_kubeconfig: Option<PathBuf>,

    /// A list of HTTP paths to skip during authorization, i.e. these are authorized without
    /// contacting the 'core' kubernetes server.
    #[arg(long, value_delimiter = ',', default_value = "/healthz,/readyz,/livez")]
    pub authorization_always_allow_paths: Vec<String>,

    /// The duration to cache 'authorized' responses from the webhook authorizer.
    #[arg(long, default_value = "10s")]
    pub authorization_webhook_cache_authorized_ttl: GoDuration,

    /// The duration to cache 'unauthorized' responses from the webhook authorizer.
    #[arg(long, default_value = "10s")]
    pub authorization_webhook_cache_unauthorized_ttl: GoDuration,
}

/// What `/metrics` renders.
pub type MetricsRenderer = Arc<dyn Fn() -> Vec<u8> + Send + Sync>;

/// Serves health and metrics until `shutdown`; returns at once (serving nothing) with
/// `--secure-port=0` and no `--bound-address-file`. `client` is the cluster the component
/// works against, used for delegated authentication and authorization unless the
/// `--authentication-kubeconfig`/`--authorization-kubeconfig` flags name another.
pub async fn serve<D: ServingDefaults>(
    serving: &SecureServing<D>,
    delegation: &Delegation,
    client: kube::Client,
    health: Health,
    metrics: MetricsRenderer,
    shutdown: CancellationToken,
) -> Result<Option<SocketAddr>> {
    if serving.secure_port == 0 && serving.bound_address_file.is_none() {
        tracing::info!("--secure-port=0: not serving health and metrics");
        return Ok(None);
    }
    let cert = Arc::new(serving_cert(serving)?);
    cert.spawn_reloader(Duration::from_secs(10));
    let mut tls = match serving.tls_min_version.as_str() {
        "VersionTLS13" => tls::server_config_versions(cert, &[&rustls::version::TLS13])?,
        "" | "VersionTLS10" | "VersionTLS11" | "VersionTLS12" => tls::server_config(cert)?,
        other => anyhow::bail!(
            "--tls-min-version {other:?}: want VersionTLS10, VersionTLS11, VersionTLS12 or VersionTLS13"
        ),
    };
    let listener = TcpListener::bind((serving.bind_address, serving.secure_port))
        .await
        .with_context(|| {
            format!(
                "listening on {}:{} (--bind-address, --secure-port)",
                serving.bind_address, serving.secure_port
            )
        })?;
    let bound = listener.local_addr()?;
    if let Some(file) = &serving.bound_address_file {
        std::fs::write(file, bound.to_string())
            .with_context(|| format!("writing {}", file.display()))?;
    }
    if serving.disable_http2_serving {
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    let authn_client = match &delegation.authentication_kubeconfig {
        Some(path) => crate::client::client(crate::client::config(Some(path)).await?)?,
        None => client.clone(),
    };
    let authz_client = match &delegation.authorization_kubeconfig {
        Some(path) => crate::client::client(crate::client::config(Some(path)).await?)?,
        None => client,
    };
    let client_ca = Arc::new(RwLock::new(None));
    match &delegation.client_ca_file {
        Some(file) => {
            let pem = std::fs::read_to_string(file)
                .with_context(|| format!("reading --client-ca-file {}", file.display()))?;
            let verifier = CaVerifier::from_pem(&pem)
                .with_context(|| format!("--client-ca-file {}", file.display()))?;
            if let Ok(mut slot) = client_ca.write() {
                *slot = Some(verifier);
            }
        }
        None if !delegation.authentication_skip_lookup => {
            let first = lookup_client_ca(&authn_client).await;
            match first {
                Ok(v) => {
                    if let Ok(mut slot) = client_ca.write() {
                        *slot = v;
                    }
                }
                Err(err) if delegation.authentication_tolerate_lookup_failure => {
                    tracing::warn!(error = %format!("{err:#}"), "client CA not found in the cluster; client certificates are not accepted until it is (--authentication-tolerate-lookup-failure)");
                }
                Err(err) => return Err(err.context("looking up the client CA (--authentication-skip-lookup=true or --client-ca-file avoid this)")),
            }
            tokio::spawn(refresh_client_ca(
                authn_client.clone(),
                client_ca.clone(),
                shutdown.clone(),
            ));
        }
        None => {}
    }
    let state = Arc::new(State {
        health,
        metrics,
        tokens: TokenReviewer::with_ttl(
            authn_client,
            delegation.authentication_token_webhook_cache_ttl.0,
        ),
        client_ca,
        reviews: Api::all(authz_client),
        decisions: TtlCache::new(10_000),
        allowed_ttl: delegation.authorization_webhook_cache_authorized_ttl.0,
        denied_ttl: delegation.authorization_webhook_cache_unauthorized_ttl.0,
        always_allow: delegation.authorization_always_allow_paths.clone(),
    });
    let streams = match serving.http2_max_streams_per_connection {
        0 => 250,
        n => n,
    };
    tracing::info!(address = %bound, "serving health and metrics over HTTPS");
    let http2 = !serving.disable_http2_serving;
    tokio::spawn(accept(
        listener,
        Arc::new(tls),
        state,
        streams,
        http2,
        shutdown,
    ));
    Ok(Some(bound))
}

fn serving_cert<D: ServingDefaults>(serving: &SecureServing<D>) -> Result<tls::ReloadingCert> {
    let names = ["localhost".to_string(), "127.0.0.1".to_string()];
    match (&serving.tls_cert_file, &serving.tls_private_key_file) {
        (Some(cert), Some(key)) => tls::ReloadingCert::from_files(cert, key),
        (None, None) => match serving
            .cert_dir
            .as_ref()
            .filter(|d| !d.as_os_str().is_empty())
        {
            Some(dir) => {
                let (cert, key) = tls::self_signed(dir, &names)?;
                tls::ReloadingCert::from_files(&cert, &key)
            }
            None => {
                let signing = rcgen::KeyPair::generate()?;
                let certificate = tls::serving_params(&names)?.self_signed(&signing)?;
                tls::ReloadingCert::from_pem(&certificate.pem(), &signing.serialize_pem())
            }
        },
        _ => anyhow::bail!("--tls-cert-file and --tls-private-key-file must be given together"),
    }
}

async fn lookup_client_ca(client: &kube::Client) -> Result<Option<CaVerifier>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ca::CONFIGMAP_NAMESPACE);
    let cm = api
        .get_opt(ca::CONFIGMAP_NAME)
        .await
        .context("reading ConfigMap kube-system/extension-apiserver-authentication")?;
    let pem = cm
        .and_then(|cm| cm.data)
        .and_then(|d| d.get("client-ca-file").cloned())
        .filter(|p| !p.trim().is_empty());
    match pem {
        Some(pem) => Ok(Some(CaVerifier::from_pem(&pem)?)),
        None => Ok(None),
    }
}

async fn refresh_client_ca(
    client: kube::Client,
    slot: Arc<RwLock<Option<CaVerifier>>>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(CLIENT_CA_REFRESH) => {}
        }
        match lookup_client_ca(&client).await {
            Ok(Some(v)) => {
                let changed = slot
                    .read()
                    .map(|c| c.as_ref().map(|c| &c.pem) != Some(&v.pem))
                    .unwrap_or(true);
                if changed && let Ok(mut s) = slot.write() {
                    *s = Some(v);
                    tracing::info!("client CA updated from the cluster");
                }
            }
            Ok(None) => {}
            Err(err) => tracing::debug!(error = %format!("{err:#}"), "client CA not refreshed"),
        }
    }
}

struct State {
    health: Health,
    metrics: MetricsRenderer,
    tokens: TokenReviewer,
    client_ca: Arc<RwLock<Option<CaVerifier>>>,
    reviews: Api<SubjectAccessReview>,
    decisions: TtlCache<String, bool>,
    allowed_ttl: Duration,
    denied_ttl: Duration,
    always_allow: Vec<String>,
}

async fn accept(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: Arc<State>,
    streams: u32,
    http2: bool,
    shutdown: CancellationToken,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if !http2 {
        builder = builder.http1_only();
    }
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder.http2().max_concurrent_streams(streams);
    let builder = Arc::new(builder);
    loop {
        let (tcp, _) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, state, builder) = (acceptor.clone(), state.clone(), builder.clone());
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            else {
                return;
            };
            let peer: Arc<Vec<CertificateDer<'static>>> = Arc::new(
                stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .map(|c| c.to_vec())
                    .unwrap_or_default(),
            );
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (state, peer) = (state.clone(), peer.clone());
                async move { Ok::<_, Infallible>(handle(&state, &peer, req).await) }
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Who is asking.
#[derive(Debug, PartialEq, Eq)]
enum Who {
    User(ReviewedUser),
    Anonymous,
}

impl Who {
    fn user(&self) -> ReviewedUser {
        match self {
            Who::User(u) => u.clone(),
            Who::Anonymous => ReviewedUser {
                name: "system:anonymous".into(),
                groups: vec!["system:unauthenticated".into()],
                ..Default::default()
            },
        }
    }
}

async fn handle(
    state: &State,
    peer: &[CertificateDer<'static>],
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let who = match authenticate(state, peer, req.headers()).await {
        Ok(who) => who,
        Err(code) => return status(code, "Unauthorized"),
    };
    let verb = req.method().as_str().to_ascii_lowercase();
    if !always_allowed(&state.always_allow, &path) {
        let user = who.user();
        match authorize(state, &user, &verb, &path).await {
            Ok(true) => {}
            Ok(false) => {
                return status(
                    StatusCode::FORBIDDEN,
                    &format!(
                        "forbidden: User \"{}\" cannot {verb} path \"{path}\"",
                        user.name
                    ),
                );
            }
            Err(()) => {
                return status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error: authorization failed",
                );
            }
        }
    }
    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        return status(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    }
    if path == "/metrics" {
        return Response::builder()
            .header(
                http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )
            .body(Full::new(Bytes::from((state.metrics)())))
            .unwrap_or_default();
    }
    match state.health.answer(&path, query.as_deref()) {
        Some((code, body)) => Response::builder()
            .status(code)
            .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header("X-Content-Type-Options", "nosniff")
            .body(Full::new(body))
            .unwrap_or_default(),
        None => status(StatusCode::NOT_FOUND, "404 page not found"),
    }
}

fn status(code: StatusCode, text: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("X-Content-Type-Options", "nosniff")
        .body(Full::new(Bytes::from(format!("{text}\n"))))
        .unwrap_or_default()
}

async fn authenticate(
    state: &State,
    peer: &[CertificateDer<'static>],
    headers: &http::HeaderMap,
) -> Result<Who, StatusCode> {
    if !peer.is_empty() {
        let verifier = state.client_ca.read().ok().and_then(|v| v.clone());
        if let Some(verifier) = verifier
            && verifier.verifies(peer)
            && let Some((name, groups)) = ca::subject(&peer[0])
        {
            return Ok(Who::User(ReviewedUser {
                name,
                groups,
                ..Default::default()
            }));
        }
    }
    match ca::bearer_token(headers) {
        Some(token) => match state.tokens.review(token).await {
            Ok(Some(mut user)) => {
                if !user.groups.iter().any(|g| g == "system:authenticated") {
                    user.groups.push("system:authenticated".into());
                }
                Ok(Who::User(user))
            }
            Ok(None) | Err(_) => Err(StatusCode::UNAUTHORIZED),
        },
        // An unknown client certificate is not an identity; as kube-apiserver, such a request
        // is anonymous rather than refused.
        None => Ok(Who::Anonymous),
    }
}

/// k8s.io/apiserver's path matching: exact, or a prefix when the entry ends in `*`.
fn always_allowed(paths: &[String], path: &str) -> bool {
    paths.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => p == path,
    })
}

async fn authorize(state: &State, user: &ReviewedUser, verb: &str, path: &str) -> Result<bool, ()> {
    if ALWAYS_ALLOW_GROUPS
        .iter()
        .any(|g| user.groups.iter().any(|u| u == g))
    {
        return Ok(true);
    }
    let spec = SubjectAccessReviewSpec {
        user: Some(user.name.clone()),
        uid: (!user.uid.is_empty()).then(|| user.uid.clone()),
        groups: Some(user.groups.clone()),
        extra: (!user.extra.is_empty()).then(|| user.extra.clone().into_iter().collect()),
        non_resource_attributes: Some(NonResourceAttributes {
            path: Some(path.to_string()),
            verb: Some(verb.to_string()),
        }),
        ..Default::default()
    };
    let key = serde_json::to_string(&spec).unwrap_or_default();
    if let Some(allowed) = state.decisions.get(&key) {
        return Ok(allowed);
    }
    let review = SubjectAccessReview {
        spec,
        ..Default::default()
    };
    let result = state
        .reviews
        .create(&PostParams::default(), &review)
        .await
        .map_err(|err| tracing::warn!(error = %err, "SubjectAccessReview failed"))?;
    let allowed = result.status.map(|s| s.allowed).unwrap_or(false);
    state.decisions.insert(
        key,
        allowed,
        if allowed {
            state.allowed_ttl
        } else {
            state.denied_ttl
        },
    );
    Ok(allowed)
}

/// `key=value` pairs of a query string, percent-decoded.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|kv| !kv.is_empty()).map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (
            percent_decode(&k.replace('+', " ")),
            percent_decode(&v.replace('+', " ")),
        )
    })
}

/// Percent-decodes a string, leaving malformed escapes as they are.
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The process's metrics in Prometheus' text format: the default registry (process CPU,
/// memory, file descriptors; leader election), without the families named in
/// `--disabled-metrics`.
pub fn default_metrics(disabled: Vec<String>) -> MetricsRenderer {
    use prometheus::Encoder;
    Arc::new(move || {
        let families: Vec<_> = prometheus::gather()
            .into_iter()
            .filter(|f| !disabled.iter().any(|d| d == f.name()))
            .collect();
        let mut out = Vec::new();
        let _ = prometheus::TextEncoder::new().encode(&families, &mut out);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn always_allow_paths_match_as_k8s() {
        let paths: Vec<String> = ["/healthz", "/readyz", "/livez", "/debug/*"]
            .map(String::from)
            .to_vec();
        assert!(always_allowed(&paths, "/healthz"));
        assert!(always_allowed(&paths, "/debug/pprof"));
        assert!(!always_allowed(&paths, "/healthz/ping"));
        assert!(!always_allowed(&paths, "/metrics"));
    }

    #[test]
    fn query_pairs_decode() {
        let pairs: Vec<_> = query_pairs("verbose&exclude=a%20b&x=1+2").collect();
        assert_eq!(
            pairs,
            vec![
                ("verbose".into(), "".into()),
                ("exclude".into(), "a b".into()),
                ("x".into(), "1 2".into())
            ]
        );
    }
}
