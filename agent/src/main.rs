//! The `clusternet-agent` binary.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let opts = clusternet_agent::options::Options::parse();
    match clusternet_agent::app::run(opts).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("clusternet-agent: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
