//! The error of a reconcile: kube's controller runtime wants a `std::error::Error`, the
//! controllers work with `anyhow`; this carries one as the other and prints the whole chain.

/// A reconcile error (logged by the error policy, and the object retried).
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct ReconcileError(#[from] pub anyhow::Error);

impl From<kube::Error> for ReconcileError {
    fn from(err: kube::Error) -> Self {
        Self(err.into())
    }
}

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whether the parent turned the request away for load (429 from API Priority and Fairness,
/// or a 503): such a failure is retried with a growing delay, not at once.
pub fn is_throttled(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        matches!(
            e.downcast_ref::<kube::Error>(),
            Some(kube::Error::Api(s)) if s.code == 429 || s.code == 503
        )
    })
}

/// First retry delay after a failure; doubles up to [`MAX_BACKOFF`].
pub const BASE_BACKOFF: Duration = Duration::from_millis(500);
/// Longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The delay before retry number `failures` (1-based): client-go's per-item exponential
/// backoff, from [`BASE_BACKOFF`] doubling up to [`MAX_BACKOFF`].
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    BASE_BACKOFF.saturating_mul(1 << exp).min(MAX_BACKOFF)
}

/// Failures per key, for an error policy that backs off per object (a fixed delay makes a
/// thousand objects failing together, on a throttled parent, retry together forever).
///
/// A key whose last failure is long past (twice its delay and a minute) starts over, so callers that cannot
/// report successes still get a short first retry next time; such entries are dropped.
#[derive(Default)]
pub struct Retries<K> {
    /// Failures so far, when the last one was counted, and when its retry is due.
    failures: Mutex<HashMap<K, (u32, Instant, Instant)>>,
}

impl<K: Eq + Hash> Retries<K> {
    /// Counts a failure of `key` and returns the delay before its retry, jittered by up to a
    /// quarter so that keys failing together spread out.
    pub fn failed(&self, key: K) -> Duration {
        let now = Instant::now();
        // A retry's own failure can come a whole request timeout (60 s) after its delay: a
        // request the parent queues before it answers 429 takes that long.
        let stale = |n: u32, at: Instant| {
            now.duration_since(at) > backoff(n).saturating_mul(2) + Duration::from_secs(60)
        };
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() > 4096 {
            failures.retain(|_, (n, at, _)| !stale(*n, *at));
        }
        let (n, at, due) = failures.entry(key).or_insert((0, now, now));
        if stale(*n, *at) {
            *n = 0;
        }
        *n = n.saturating_add(1);
        *at = now;
        use rand::Rng;
        let delay = backoff(*n).mul_f64(1.0 + rand::rng().random_range(0.0..0.25));
        *due = now + delay;
        delay
    }

    /// How long `key` still has to wait for the retry its last failure scheduled, if it has
    /// to. A controller also runs a key when a watched object changes (a heartbeat, say), so
    /// a reconcile that starts early should do nothing and requeue for this long: otherwise
    /// those events retry a throttled key at their own rate instead of the backoff's.
    pub fn pending(&self, key: &K) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let (_, _, due) = failures.get(key)?;
        due.checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// Forgets `key`'s failures (it succeeded, or is gone).
    pub fn succeeded(&self, key: &K) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(5), Duration::from_secs(8));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }

    #[test]
    fn throttled_is_429_or_503_anywhere_in_the_chain() {
        let api = |code| {
            anyhow::Error::from(kube::Error::Api(Box::new(
                kube::core::Status::failure("busy", "TooManyRequests").with_code(code),
            )))
            .context("patching Localization x")
        };
        assert!(is_throttled(&api(429)));
        assert!(is_throttled(&api(503)));
        assert!(!is_throttled(&api(409)));
        assert!(!is_throttled(&anyhow::anyhow!("feed not found")));
    }

    #[test]
    fn retries_grow_per_key_and_reset_on_success() {
        let r = Retries::default();
        let first = r.failed("a");
        assert!(first >= backoff(1) && first <= backoff(1).mul_f64(1.25));
        let second = r.failed("a");
        assert!(second >= backoff(2));
        // Another key starts from the beginning.
        assert!(r.failed("b") <= backoff(1).mul_f64(1.25));
        r.succeeded(&"a");
        assert!(r.failed("a") <= backoff(1).mul_f64(1.25));
    }

    #[test]
    fn a_failed_key_is_pending_until_its_retry_is_due() {
        let r = Retries::default();
        assert_eq!(r.pending(&"a"), None, "no failure, nothing to wait for");
        let delay = r.failed("a");
        let left = r.pending(&"a").expect("waiting for its retry");
        assert!(left <= delay && left > delay / 2, "{left:?} of {delay:?}");
        assert_eq!(r.pending(&"b"), None, "other keys are not held back");
        r.succeeded(&"a");
        assert_eq!(r.pending(&"a"), None, "a success clears the wait");
    }
}
