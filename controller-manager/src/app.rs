//! Start-up: leader election on the parent, then the enabled controllers.

use anyhow::{Context, Result};
use clusternet_component_base::client;
use clusternet_component_base::featuregate::Feature;
use clusternet_component_base::options::serve;

use crate::options::Options;
use crate::{approver, deployer, feedinventory, lifecycle, pusher};

/// Runs the controller manager.
pub async fn run(opts: Options) -> Result<()> {
    opts.process.start();
    opts.compat.report();
    opts.feature_gates.report();
    let parent_config = opts
        .client
        .config()
        .await
        .context("parent cluster configuration")?;
    let parent = client::client(parent_config.clone())?;
    let _serving = serve(&opts.serving, &parent).await?;
    let election = opts.leader_election.clone();
    election
        .run(parent.clone(), |_| {
            lead(opts.clone(), parent.clone(), parent_config.clone())
        })
        .await
}

/// The enabled controllers, while this replica leads; they all stop when this future is
/// dropped.
async fn lead(opts: Options, parent: kube::Client, parent_config: kube::Config) -> Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    if opts.controller_enabled("crrapprover") {
        tasks.spawn(approver::run(
            parent.clone(),
            approver::Settings {
                socket_connection: opts.feature_gates.enabled(Feature::SocketConnection),
                cluster_init: opts.feature_gates.enabled(Feature::ClusterInit),
                keep_plain_tokens: opts.keep_plain_registration_tokens,
                reserved_namespaces: vec![opts.reserved_namespace.clone()],
            },
        ));
    }
    if opts.controller_enabled("clusterlifecycle") {
        tasks.spawn(lifecycle::run(
            parent.clone(),
            opts.cluster_lifecycle_resync.0,
            opts.unhealthy_cluster_threshold,
        ));
    }
    // Clusternet's deployer (gate Deployer): Subscription → Base → Description, and push mode.
    if opts.controller_enabled("deployer") && opts.feature_gates.enabled(Feature::Deployer) {
        tasks.spawn(pusher::run(
            parent.clone(),
            parent_config.clone(),
            opts.helm_binary.clone(),
        ));
        tasks.spawn(deployer::run(
            parent.clone(),
            deployer::Config {
                reserved_namespace: opts.reserved_namespace.clone(),
                feed_in_use_protection: opts.feature_gates.enabled(Feature::FeedInUseProtection),
                helm: opts.helm_binary.clone(),
            },
        ));
    }
    // FeedInventory for Dividing Subscriptions (gate FeedInventory; see feedinventory.rs).
    if opts.controller_enabled("deployer") && opts.feature_gates.enabled(Feature::FeedInventory) {
        tasks.spawn(feedinventory::run(
            parent.clone(),
            opts.reserved_namespace.clone(),
        ));
    }
    // Multi-cluster services (gate MultiClusterService; see mcs.rs).
    if opts.controller_enabled("serviceimport")
        && opts.feature_gates.enabled(Feature::MultiClusterService)
    {
        tasks.spawn(crate::mcs::run(parent.clone()));
        tasks.spawn(crate::mcs::run_conflicts(parent.clone()));
    }
    tracing::info!(controllers = ?opts.controllers, "controllers started");
    match tasks.join_next().await {
        Some(Ok(())) => anyhow::bail!("a controller stopped"),
        Some(Err(join)) => anyhow::bail!("a controller panicked: {join}"),
        None => std::future::pending().await,
    }
}
