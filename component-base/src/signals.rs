//! The end of a component's life: SIGTERM (what the kubelet sends) or SIGINT (Ctrl-C).

/// Resolves on the first SIGTERM or SIGINT; never, if signals cannot be handled here.
pub async fn shutdown_signal() {
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
    tracing::info!("shutting down");
}
