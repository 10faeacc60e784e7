//! Start-up: leader election in the child (its Lease UID is the cluster ID) → registration with
//! the parent → the heartbeat and the tunnel, until leadership is lost or a signal arrives.

use anyhow::{Context, Result};
use clusternet_component_base::featuregate::Feature;
use clusternet_component_base::options::serve;
use clusternet_component_base::{client, leader, signals};
use futures::FutureExt;

use crate::options::Options;
use crate::{credentials, deployer, registration, status, tunnel};

/// Runs the agent.
pub async fn run(opts: Options) -> Result<()> {
    opts.process.start();
    opts.compat.report();
    opts.feature_gates.report();
    opts.validate()?;

    let child_config = opts
        .client
        .config()
        .await
        .context("child cluster configuration")?;
    let apiserver_url = child_config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let child = client::client(child_config)?;
    let _serving = serve(&opts.serving, &child).await?;

    if !opts.leader_election.enabled {
        tracing::warn!(
            "--leader-elect=false is ignored: the agent always holds its Lease, whose UID is the cluster ID"
        );
    }
    leader::run_elected(
        child.clone(),
        opts.leader_election.config(),
        signals::shutdown_signal(),
        |lease| lead(opts.clone(), child.clone(), apiserver_url.clone(), lease),
    )
    .await
}

/// Everything the agent does while it leads; it all stops when this future is dropped.
async fn lead(
    opts: Options,
    child: kube::Client,
    apiserver_url: String,
    lease: k8s_openapi::api::coordination::v1::Lease,
) -> Result<()> {
    let cluster_id = registration::cluster_id(&lease)?;
    tracing::info!(%cluster_id, "current cluster id");

    let creds = registration::register(&child, &opts, &cluster_id).await?;
    tracing::info!(namespace = %creds.namespace, cluster = %creds.cluster_name, "registered with the parent");
    let parent = creds.client()?;
    let mut tasks = tokio::task::JoinSet::new();

    let upload = credentials::Upload {
        agent_namespace: opts.leader_election.resource_namespace.clone(),
        parent_namespace: creds.namespace.clone(),
        cluster_id: cluster_id.clone(),
        apiserver_url: apiserver_url.clone(),
    };
    let (c, p) = (child.clone(), parent.clone());
    tasks.spawn(async move {
        credentials::run(c, p, upload).await;
        // Uploaded once; the task is done, the others go on.
        std::future::pending::<Result<()>>().await
    });
    // Gate Predictor without --predictor-addr: serve the built-in predictor on localhost, as
    // Clusternet does (reached by the scheduler through the sockets proxy).
    let mut predictor_address = opts.predictor_address.clone();
    if opts.feature_gates.enabled(Feature::Predictor) && predictor_address.is_empty() {
        predictor_address = format!("http://localhost:{}", opts.predictor_port);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], opts.predictor_port));
        let child = child.clone();
        tasks.spawn(async move {
            crate::predictor::serve(child, addr)
                .await
                .with_context(|| format!("the predictor on {addr} stopped"))
        });
    }
    let settings = status::Settings {
        cluster_id: cluster_id.clone(),
        namespace: creds.namespace.clone(),
        apiserver_url: apiserver_url.clone(),
        update_frequency: opts.cluster_status_update_frequency.0,
        collect_frequency: opts.cluster_status_collect_frequency.0,
        use_socket: opts.feature_gates.enabled(Feature::SocketConnection),
        app_pusher: opts.feature_gates.enabled(Feature::AppPusher),
        label_prefixes: opts.labels_aggregate_prefix.clone(),
        label_threshold: opts.labels_aggregate_threshold,
        predictor_enabled: opts.feature_gates.enabled(Feature::Predictor),
        predictor_address: predictor_address.clone(),
        predictor_direct_access: opts.predictor_direct_access,
        kube_qps: opts.client.kube_api_qps,
        kube_burst: i32::try_from(opts.client.kube_api_burst).unwrap_or(i32::MAX),
        use_metrics_server: opts.use_metrics_server,
    };
    tasks.spawn(
        status::run(child.clone(), parent.clone(), settings).map(|r| r.context("heartbeat")),
    );
    // Pull mode: the agent applies the Descriptions of its namespace itself.
    if deployer::deployable_by_agent(
        &opts.cluster_sync_mode.into(),
        opts.feature_gates.enabled(Feature::AppPusher),
    ) {
        let settings = deployer::Settings {
            parent_namespace: creds.namespace.clone(),
            agent_namespace: opts.leader_election.resource_namespace.clone(),
            apiserver_url: apiserver_url.clone(),
            helm: opts.helm_binary.clone(),
        };
        let (child, parent) = (child.clone(), parent.clone());
        tasks.spawn(async move {
            deployer::run(child, parent, settings)
                .await
                .context("pull-mode deployer")
        });
    }
    // Gate MultiClusterService: ServiceExports' EndpointSlices to the dedicated namespace.
    if opts.feature_gates.enabled(Feature::MultiClusterService) {
        let (child, parent, ns) = (child.clone(), parent.clone(), creds.namespace.clone());
        tasks.spawn(async move {
            crate::mcs::run(child, parent, ns)
                .await
                .context("service export controller")
        });
    }
    // The tunnel task keeps reconnecting; it only ends on a configuration error.
    if opts.feature_gates.enabled(Feature::SocketConnection) {
        let allowed = tunnel::AllowList::new(
            &apiserver_url,
            &predictor_address,
            &opts.tunnel_allowed_addresses,
        )
        .context("the tunnel's allow-list")?;
        tasks.spawn(
            tunnel::run(tunnel::Settings {
                parent_url: creds.url.clone(),
                token: creds.token.clone(),
                ca_pem: creds.ca_pem.clone(),
                cluster_id: cluster_id.clone(),
                allowed,
            })
            .map(|r| r.context("tunnel")),
        );
    }
    match tasks.join_next().await {
        Some(Ok(result)) => result,
        Some(Err(join)) => Err(anyhow::anyhow!("an agent task panicked: {join}")),
        None => Ok(()),
    }
}
