//! Start-up: flags → clients → authentication configuration (watched) → served groups → the
//! request stack → the TLS listener, and shutdown on SIGTERM/SIGINT.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clusternet_component_base::client;
use clusternet_component_base::featuregate::Feature;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::authn::{self, AuthConfig, Authenticator, Overrides, TokenReviewer};
use crate::authz::Authorizer;
use crate::discovery::Registry;
use crate::health::{Check, Health};
use crate::metrics::Metrics;
use crate::openapi::OpenApi;
use crate::options::Options;
use crate::router::{GroupHandler, Hub, router};
use crate::server::{self, tls};
use crate::stack::{self, Limits};
use crate::{proxies, serving_cert, shadow};

/// Runs the hub until SIGTERM or SIGINT.
pub async fn run(opts: Options) -> Result<()> {
    opts.process.start();
    opts.compat.report();
    opts.feature_gates.report();
    let shutdown = CancellationToken::new();
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            clusternet_component_base::signals::shutdown_signal().await;
            shutdown.cancel();
        });
    }
    serve(opts, shutdown).await
}

async fn kube_client(primary: Option<&Path>, fallback: Option<&Path>) -> Result<kube::Client> {
    client::client(client::config(primary.or(fallback)).await?)
}

/// Serves until `shutdown` is cancelled.
pub async fn serve(opts: Options, shutdown: CancellationToken) -> Result<()> {
    let kubeconfig = opts.client.kubeconfig.as_deref();
    let parent = kube_client(kubeconfig, None)
        .await
        .context("parent cluster client")?;
    let authn_client = kube_client(opts.authentication_kubeconfig.as_deref(), kubeconfig).await?;
    let authz_client = kube_client(opts.authorization_kubeconfig.as_deref(), kubeconfig).await?;
    let metrics = Metrics::new().context("registering metrics")?;

    // Authentication configuration, kept current.
    let overrides = read_overrides(&opts)?;
    let (auth_tx, auth_rx) = watch::channel(None::<Arc<AuthConfig>>);
    tokio::spawn(watch_auth_config(
        parent.clone(),
        opts.clone(),
        overrides,
        auth_tx,
    ));
    let authenticator = Authenticator::new(auth_rx, Some(TokenReviewer::new(authn_client)));
    let authorizer = Authorizer::new(authz_client);

    // What is served.
    let mut groups = vec![proxies::api_group_version()];
    let mut handlers: HashMap<String, Arc<dyn GroupHandler>> = HashMap::new();
    let connections = proxies::connections::ChildConnections::start(
        parent.clone(),
        metrics.clone(),
        opts.max_tunnels,
    );
    let proxies_handler = proxies::Proxies::new(
        opts.feature_gates.enabled(Feature::SocketConnection),
        connections.clone(),
    )
    .with_idle_timeout(opts.streaming_connection_idle_timeout.0);
    handlers.insert(proxies::GROUP.to_string(), Arc::new(proxies_handler));
    let shadow_resources = shadow::Resources::default();
    if opts.feature_gates.enabled(Feature::ShadowAPI) {
        groups.push(shadow::api_group_version());
        handlers.insert(
            shadow::GROUP.to_string(),
            Arc::new(shadow::Shadow::new(
                parent.clone(),
                opts.reserved_namespace.clone(),
                shadow_resources.clone(),
            )),
        );
    }
    let openapi = OpenApi::default();
    openapi
        .rebuild_builtin(&groups)
        .context("building OpenAPI documents")?;
    let registry = Registry::new(groups);
    if opts.feature_gates.enabled(Feature::ShadowAPI) {
        // Not a readiness gate: discovery answers (with what is known) while the parent is
        // being read, and a parent that is briefly unreachable must not take the hub's
        // APIServices down with it.
        let sync = shadow::sync::Sync::new(
            parent.clone(),
            shadow_resources,
            registry.clone(),
            openapi.clone(),
        );
        tokio::spawn(sync.run());
    }

    let auth_ready = authenticator.clone();
    let health = Health {
        live: vec![Check::new("ping", || Ok(()))],
        ready: vec![
            Check::new("authentication-config", move || {
                if auth_ready.is_configured() {
                    Ok(())
                } else {
                    Err("authentication configuration not loaded".into())
                }
            }),
            {
                let shutdown = shutdown.clone();
                Check::new("shutdown", move || {
                    if shutdown.is_cancelled() {
                        Err("shutting down".into())
                    } else {
                        Ok(())
                    }
                })
            },
        ],
    };

    let hub = Arc::new(Hub {
        discovery: registry,
        health,
        metrics: metrics.clone(),
        openapi,
        groups: handlers,
    });
    let limits = Limits {
        request_timeout: opts.request_timeout.0,
        max_read_only: opts.max_requests_inflight,
        max_mutating: opts.max_mutating_requests_inflight,
        max_long_running: opts.max_long_running_requests,
    };
    let service = stack::build(
        router(hub),
        authenticator,
        Some(authorizer),
        metrics.clone(),
        limits,
    );

    // TLS: certificate files from flags; else the shared generated one in a Secret; else a
    // self-signed one in --cert-dir. The last two can also publish their CA as caBundle.
    let (cert, key, ca_bundle) = if let Some(cert) = &opts.tls_cert_file {
        let key = opts
            .tls_private_key_file
            .clone()
            .context("--tls-private-key-file is required with --tls-cert-file")?;
        (cert.clone(), key, None)
    } else if let Some(secret) = &opts.serving_cert_secret {
        let sc = serving_cert::ensure(parent.clone(), secret, &default_serving_names()).await?;
        let (cert, key) = sc.write(&opts.cert_dir)?;
        (cert, key, Some(sc.ca_pem))
    } else {
        let (cert, key) = tls::self_signed(&opts.cert_dir, &default_serving_names())?;
        tracing::info!(cert = %cert.display(), "serving with a self-signed certificate");
        let ca = std::fs::read_to_string(&cert)?;
        (cert, key, Some(ca))
    };
    let apiservices: Vec<String> = opts
        .ca_bundle_apiservices
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect();
    match ca_bundle {
        Some(ca) if !apiservices.is_empty() => {
            tokio::spawn(keep_ca_bundle(parent.clone(), apiservices, ca));
        }
        None if !apiservices.is_empty() => {
            tracing::warn!(
                "--ca-bundle-apiservices is ignored with --tls-cert-file: set caBundle to the CA of that certificate yourself"
            );
        }
        _ => {}
    }
    let reloading = Arc::new(tls::ReloadingCert::from_files(&cert, &key)?);
    reloading.spawn_reloader(Duration::from_secs(10));
    let tls_config = Arc::new(tls::server_config(reloading.clone())?);
    // Replicas reach the clusters whose tunnels their peers hold (off for a single hub).
    let mut peer_options = opts.peers.clone();
    peer_options
        .peer_lease_namespace
        .get_or_insert_with(|| opts.leader_election.resource_namespace.clone());
    let _peers = match (opts.peers.enabled(), connections.tunnels()) {
        (true, Some(tunnels)) => Some(
            crate::peers::start(
                &peer_options,
                parent.clone(),
                tunnels,
                crate::peers::Serving {
                    cert: cert.clone(),
                    key: key.clone(),
                    resolver: reloading,
                    bind: opts.bind_address,
                },
                shutdown.clone(),
            )
            .await
            .context("starting peer connections")?,
        ),
        _ => None,
    };

    let listener = tokio::net::TcpListener::bind((opts.bind_address, opts.secure_port))
        .await
        .with_context(|| format!("binding {}:{}", opts.bind_address, opts.secure_port))?;
    let bound = listener.local_addr()?;
    if let Some(file) = &opts.bound_address_file {
        std::fs::write(file, bound.to_string())?;
    }
    tracing::info!(address = %bound, "serving securely");
    let connections = server::ConnectionLimit::new(opts.max_connections, metrics);
    server::serve(listener, tls_config, service, connections, shutdown).await;
    Ok(())
}

/// Sets the APIServices' caBundle, retrying until it succeeds (they may be applied after the
/// hub starts).
async fn keep_ca_bundle(client: kube::Client, apiservices: Vec<String>, ca: String) {
    let mut delay = Duration::from_millis(200);
    loop {
        match serving_cert::publish_ca_bundle(client.clone(), &apiservices, &ca).await {
            Ok(()) => return,
            Err(err) => {
                tracing::info!(error = %format!("{err:#}"), "publishing caBundle; retrying in {delay:?}")
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Names for a self-signed serving certificate: loopback and the in-cluster Service names the
/// aggregator verifies (`clusternet-hub.<namespace>.svc`).
fn default_serving_names() -> Vec<String> {
    let namespace = std::env::var("POD_NAMESPACE")
        .unwrap_or_else(|_| clusternet_apis::known::CLUSTERNET_SYSTEM_NAMESPACE.into());
    vec![
        format!("clusternet-hub.{namespace}.svc"),
        format!("clusternet-hub.{namespace}.svc.cluster.local"),
        "localhost".into(),
        "127.0.0.1".into(),
    ]
}

fn read_file(path: Option<&Path>) -> Result<Option<String>> {
    path.map(|p| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
        .transpose()
}

fn read_overrides(opts: &Options) -> Result<Overrides> {
    Ok(Overrides {
        client_ca: read_file(opts.client_ca_file.as_deref())?,
        requestheader_ca: read_file(opts.requestheader_client_ca_file.as_deref())?,
        allowed_names: opts.requestheader_allowed_names.clone(),
        username_headers: opts.requestheader_username_headers.clone(),
        group_headers: opts.requestheader_group_headers.clone(),
        extra_prefixes: opts.requestheader_extra_headers_prefix.clone(),
        uid_headers: opts.requestheader_uid_headers.clone(),
    })
}

/// Keeps the authentication configuration current: from the ConfigMap (watched), with flag
/// overrides re-read from their files every 10 s so rotated files apply too.
async fn watch_auth_config(
    client: kube::Client,
    opts: Options,
    mut overrides: Overrides,
    tx: watch::Sender<Option<Arc<AuthConfig>>>,
) {
    use futures::StreamExt;
    let api: Api<ConfigMap> = Api::namespaced(client, authn::config::CONFIGMAP_NAMESPACE);
    let config = watcher::Config::default()
        .fields(&format!("metadata.name={}", authn::config::CONFIGMAP_NAME));
    // Backoff: while the parent is down the watch fails at once, every time.
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut data = std::collections::BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm))) => {
                    data = cm.data.unwrap_or_default();
                }
                Some(Ok(_)) => continue,
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "watching {}/{}", authn::config::CONFIGMAP_NAMESPACE, authn::config::CONFIGMAP_NAME);
                    continue;
                }
                None => return,
            },
            _ = tick.tick() => match read_overrides(&opts) {
                Ok(o) => overrides = o,
                Err(err) => { tracing::warn!(error = %format!("{err:#}"), "re-reading authentication files"); continue; }
            },
        }
        match AuthConfig::from_data(&data, &overrides) {
            Ok(cfg) => {
                let changed = tx.borrow().as_ref().is_none_or(|old| !same(old, &cfg));
                if changed {
                    tracing::info!(
                        front_proxy = cfg.request_header.is_some(),
                        client_ca = cfg.client_ca.is_some(),
                        "authentication configuration loaded"
                    );
                    let _ = tx.send(Some(Arc::new(cfg)));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "ignoring unusable authentication configuration")
            }
        }
    }
}

fn same(a: &AuthConfig, b: &AuthConfig) -> bool {
    let pem = |c: &Option<authn::CaVerifier>| c.as_ref().map(|c| c.pem.clone());
    let rh = |c: &AuthConfig| {
        c.request_header.as_ref().map(|r| {
            (
                r.ca.pem.clone(),
                r.allowed_names.clone(),
                r.username_headers.clone(),
                r.group_headers.clone(),
                r.extra_prefixes.clone(),
                r.uid_headers.clone(),
            )
        })
    };
    pem(&a.client_ca) == pem(&b.client_ca) && rh(a) == rh(b)
}
