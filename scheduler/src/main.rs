//! `clusternet-scheduler` binary.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    clusternet_scheduler::app::run(clusternet_scheduler::options::Options::parse()).await
}
