//! Polling with a deadline and progress: every wait in a test says what it waits for, shows
//! that it is still waiting, and fails with the last thing it saw.

use std::future::Future;
use std::time::Duration;

use anyhow::{Result, bail};
use tokio::time::Instant;

/// Polls `check` every `interval` until it returns `Ok(Some(value))` or `timeout` passes.
/// `Ok(None)` and `Err(_)` both mean "not yet"; the last error or "not yet" is reported on
/// timeout. Prints a progress line to stderr every 10 seconds of waiting.
pub async fn wait_for<T, F, Fut>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let start = Instant::now();
    let mut next_progress = start + Duration::from_secs(10);
    loop {
        let last = match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => String::from("condition not met"),
            Err(err) => format!("{err:#}"),
        };
        let now = Instant::now();
        if now.duration_since(start) >= timeout {
            bail!("timed out after {timeout:?} waiting for {what}: {last}");
        }
        if now >= next_progress {
            eprintln!(
                "… still waiting for {what} ({}s; last: {last})",
                now.duration_since(start).as_secs()
            );
            next_progress = now + Duration::from_secs(10);
        }
        tokio::time::sleep(interval).await;
    }
}
