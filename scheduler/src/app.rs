//! Start-up: flags, logging, the parent client and leader election; the replica that leads runs
//! [`crate::schedule::lead`].

use anyhow::{Context, Result};
use clusternet_component_base::client;

use crate::options::Options;
use crate::schedule::lead;

/// Runs the scheduler.
pub async fn run(opts: Options) -> Result<()> {
    opts.process.start();
    let config = opts
        .client
        .config()
        .await
        .context("parent cluster configuration")?;
    let parent = client::client(config)?;
    let election = opts.leader_election.clone();
    election
        .run(parent.clone(), |_| lead(opts.clone(), parent.clone()))
        .await
}
