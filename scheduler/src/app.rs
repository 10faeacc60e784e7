//! Start-up: flags, logging, the parent client and leader election; the replica that leads runs
//! [`crate::schedule::lead`].

use anyhow::{Context, Result};
use clusternet_component_base::{client, leader, lifeline, logging, signals};

use crate::options::Options;
use crate::schedule::lead;

/// Runs the scheduler.
pub async fn run(opts: Options) -> Result<()> {
    logging::init(opts.verbosity);
    client::install_crypto_provider();
    if opts.lifeline {
        lifeline::exit_when_stdin_closes();
    }
    let config = client::config(opts.kubeconfig.as_deref())
        .await
        .context("parent cluster configuration")?;
    let parent = client::client(config)?;
    if !opts.leader_elect {
        return tokio::select! {
            r = lead(opts, parent) => r,
            _ = signals::shutdown_signal() => Ok(()),
        };
    }
    let mut election = leader::Config::new(
        &opts.leader_elect_resource_namespace,
        &opts.leader_elect_resource_name,
    );
    election.lease_duration = opts.leader_elect_lease_duration.0;
    election.renew_deadline = opts.leader_elect_renew_deadline.0;
    election.retry_period = opts.leader_elect_retry_period.0;
    leader::run_elected(parent.clone(), election, signals::shutdown_signal(), |_| {
        lead(opts.clone(), parent.clone())
    })
    .await
}
