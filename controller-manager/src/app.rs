//! Start-up: leader election on the parent, then the enabled controllers.

use anyhow::{Context, Result};
use clusternet_component_base::{client, leader, lifeline, logging};

use crate::options::Options;
use crate::{approver, deployer, feedinventory, lifecycle, pusher};

/// Runs the controller manager.
pub async fn run(opts: Options) -> Result<()> {
    logging::init(opts.verbosity);
    client::install_crypto_provider();
    if opts.lifeline {
        lifeline::exit_when_stdin_closes();
    }
    let parent_config = client::config(opts.kubeconfig.as_deref())
        .await
        .context("parent cluster configuration")?;
    let parent = client::client(parent_config.clone())?;
    let leadership = leader::acquire(
        parent.clone(),
        leader::Config::new(
            &opts.leader_elect_resource_namespace,
            &opts.leader_elect_resource_name,
        ),
    )
    .await?;

    let mut tasks = tokio::task::JoinSet::new();
    if opts.controller_enabled("crrapprover") {
        tasks.spawn(approver::run(
            parent.clone(),
            approver::Settings {
                socket_connection: opts.feature_gates.enabled("SocketConnection"),
                cluster_init: opts.feature_gates.enabled("ClusterInit"),
                keep_plain_tokens: opts.keep_plain_registration_tokens,
                reserved_namespaces: vec![opts.reserved_namespace.clone()],
            },
        ));
    }
    if opts.controller_enabled("clusterlifecycle") {
        tasks.spawn(lifecycle::run(
            parent.clone(),
            opts.cluster_lifecycle_resync.0,
        ));
    }
    // Clusternet's deployer (gate Deployer): Subscription → Base → Description, and push mode.
    if opts.controller_enabled("deployer") && opts.feature_gates.enabled("Deployer") {
        tasks.spawn(pusher::run(parent.clone(), parent_config.clone()));
        tasks.spawn(deployer::run(
            parent.clone(),
            deployer::Config {
                reserved_namespace: opts.reserved_namespace.clone(),
                feed_in_use_protection: opts.feature_gates.enabled("FeedInUseProtection"),
            },
        ));
    }
    // FeedInventory for Dividing Subscriptions (gate FeedInventory; see feedinventory.rs).
    if opts.controller_enabled("deployer") && opts.feature_gates.enabled("FeedInventory") {
        tasks.spawn(feedinventory::run(
            parent.clone(),
            opts.reserved_namespace.clone(),
        ));
    }
    tracing::info!(controllers = ?opts.controllers, "controllers started");
    let mut leading = leadership.leading.clone();
    tokio::select! {
        _ = leading.wait_for(|leading| !leading) => anyhow::bail!("leadership lost"),
        _ = tasks.join_next() => anyhow::bail!("a controller stopped"),
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
