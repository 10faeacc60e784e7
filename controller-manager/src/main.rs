//! The `clusternet-controller-manager` binary.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let opts = clusternet_controller_manager::options::Options::parse();
    match clusternet_controller_manager::app::run(opts).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("clusternet-controller-manager: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
