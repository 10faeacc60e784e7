//! Start-up: leader election in the child (its Lease UID is the cluster ID) → registration with
//! the parent → the heartbeat and the tunnel, until leadership is lost or a signal arrives.

use anyhow::{Context, Result};
use clusternet_component_base::{client, leader, lifeline, logging};

use crate::options::Options;
use crate::{credentials, deployer, registration, status, tunnel};

/// Runs the agent.
pub async fn run(opts: Options) -> Result<()> {
    logging::init(opts.verbosity);
    client::install_crypto_provider();
    if opts.lifeline {
        lifeline::exit_when_stdin_closes();
    }
    opts.validate()?;
    let child_config = client::config(opts.kubeconfig.as_deref())
        .await
        .context("child cluster configuration")?;
    let apiserver_url = child_config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let child = client::client(child_config)?;

    let mut election = leader::Config::new(
        &opts.leader_elect_resource_namespace,
        &opts.leader_elect_resource_name,
    );
    election.lease_duration = opts.leader_elect_lease_duration.0;
    election.renew_deadline = opts.leader_elect_renew_deadline.0;
    election.retry_period = opts.leader_elect_retry_period.0;
    let leadership = leader::acquire(child.clone(), election).await?;
    let cluster_id = registration::cluster_id(&leadership.lease)?;
    tracing::info!(%cluster_id, "current cluster id");

    let creds = registration::register(&child, &opts, &cluster_id).await?;
    tracing::info!(namespace = %creds.namespace, cluster = %creds.cluster_name, "registered with the parent");
    let parent = creds.client()?;

    tokio::spawn(credentials::run(
        child.clone(),
        parent.clone(),
        credentials::Upload {
            agent_namespace: opts.leader_elect_resource_namespace.clone(),
            parent_namespace: creds.namespace.clone(),
            cluster_id: cluster_id.clone(),
            apiserver_url: apiserver_url.clone(),
        },
    ));
    // Gate Predictor without --predictor-addr: serve the built-in predictor on localhost, as
    // Clusternet does (reached by the scheduler through the sockets proxy).
    let mut predictor_address = opts.predictor_address.clone();
    if opts.feature_gates.enabled("Predictor") && predictor_address.is_empty() {
        predictor_address = format!("http://localhost:{}", opts.predictor_port);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], opts.predictor_port));
        let child = child.clone();
        tokio::spawn(async move {
            if let Err(err) = crate::predictor::serve(child, addr).await {
                tracing::error!(error = %format!("{err:#}"), %addr, "predictor stopped");
            }
        });
    }
    let settings = status::Settings {
        cluster_id: cluster_id.clone(),
        namespace: creds.namespace.clone(),
        apiserver_url: apiserver_url.clone(),
        update_frequency: opts.cluster_status_update_frequency.0,
        collect_frequency: opts.cluster_status_collect_frequency.0,
        use_socket: opts.feature_gates.enabled("SocketConnection"),
        app_pusher: opts.feature_gates.enabled("AppPusher"),
        label_prefixes: opts.labels_aggregate_prefix.clone(),
        label_threshold: opts.labels_aggregate_threshold,
        predictor_enabled: opts.feature_gates.enabled("Predictor"),
        predictor_address: predictor_address.clone(),
        predictor_direct_access: opts.predictor_direct_access,
    };
    let heartbeat = tokio::spawn(status::run(child.clone(), parent.clone(), settings));
    // Pull mode: the agent applies the Descriptions of its namespace itself.
    if deployer::deployable_by_agent(
        &opts.cluster_sync_mode.into(),
        opts.feature_gates.enabled("AppPusher"),
    ) {
        let settings = deployer::Settings {
            parent_namespace: creds.namespace.clone(),
            agent_namespace: opts.leader_elect_resource_namespace.clone(),
            apiserver_url: apiserver_url.clone(),
        };
        let (child, parent) = (child.clone(), parent.clone());
        tokio::spawn(async move {
            if let Err(err) = deployer::run(child, parent, settings).await {
                tracing::error!(error = %format!("{err:#}"), "pull-mode deployer stopped");
            }
        });
    }
    // The tunnel task keeps reconnecting; it only ends on a configuration error.
    let socket_connection = opts.feature_gates.enabled("SocketConnection");
    let allowed = tunnel::AllowList::new(
        &apiserver_url,
        &predictor_address,
        &opts.tunnel_allowed_addresses,
    )
    .context("the tunnel's allow-list")?;
    let tunnel = tunnel::run(tunnel::Settings {
        parent_url: creds.url.clone(),
        token: creds.token.clone(),
        ca_pem: creds.ca_pem.clone(),
        cluster_id: cluster_id.clone(),
        allowed,
    });

    let mut leading = leadership.leading.clone();
    tokio::select! {
        _ = leading.wait_for(|leading| !leading) => anyhow::bail!("leadership lost"),
        result = heartbeat => result.context("heartbeat task")?.context("heartbeat"),
        result = tunnel, if socket_connection => result.context("tunnel"),
        _ = shutdown_signal() => {
            tracing::info!("shutting down");
            leadership.release().await;
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
