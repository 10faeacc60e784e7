//! Start-up: flags, logging, `--config`, the parent client and leader election; the replica
//! that leads runs [`crate::schedule::lead`].

use std::sync::Arc;

use anyhow::{Context, Result};
use clusternet_component_base::client;
use clusternet_component_base::options::serve;

use crate::config::{DEFAULT_SCHEDULER_NAME, Settings};
use crate::options::Options;
use crate::schedule::lead;

/// The profiles and percentages the flags and `--config` give, logged.
///
/// Precedence: with `--config`, the file's profiles are the scheduler's (as in Go, whose
/// scheduler has no `--scheduler-name`: ours then is ignored), and a percentage the file sets
/// wins over `--percentage-of-clusters-to-score`/`-tolerate`; one it leaves out is the
/// flag's, whose default is Go's default (0 and 10). Without `--config`: Go's default profile,
/// named `--scheduler-name`.
pub fn settings(opts: &Options) -> Result<Settings> {
    let to_score = opts.percentage_of_clusters_to_score;
    let to_tolerate = opts.percentage_of_clusters_to_tolerate;
    let Some(path) = &opts.config else {
        return Ok(Settings::from_flags(
            &opts.scheduler_name,
            to_score,
            to_tolerate,
        ));
    };
    let settings = Settings::from_file(path, to_score, to_tolerate)?;
    for warning in &settings.warnings {
        tracing::warn!(config = %path.display(), "{warning}");
    }
    if opts.scheduler_name != DEFAULT_SCHEDULER_NAME {
        tracing::warn!(
            scheduler_name = %opts.scheduler_name,
            "--scheduler-name is ignored with --config: the file's profiles name the schedulers"
        );
    }
    Ok(settings)
}

/// Runs the scheduler.
pub async fn run(opts: Options) -> Result<()> {
    opts.process.start();
    opts.feature_gates.report();
    let settings = Arc::new(settings(&opts)?);
    for (name, framework) in &settings.profiles {
        tracing::info!(
            profile = %name,
            ?framework,
            percentage_of_clusters_to_score = settings.percentage_of_clusters_to_score,
            percentage_of_clusters_to_tolerate = settings.percentage_of_clusters_to_tolerate,
            "scheduling profile"
        );
    }
    let config = opts
        .client
        .config()
        .await
        .context("parent cluster configuration")?;
    let parent = client::client(config)?;
    let _serving = serve(&opts.serving, &parent).await?;
    let election = opts.leader_election.clone();
    election
        .run(parent.clone(), |_| {
            lead(opts.clone(), Arc::clone(&settings), parent.clone())
        })
        .await
}
