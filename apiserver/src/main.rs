//! The `clusternet-hub` binary.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let opts = clusternet_hub::options::Options::parse();
    match clusternet_hub::app::run(opts).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("clusternet-hub: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
