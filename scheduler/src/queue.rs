//! The scheduling queue (Clusternet's `internal/queue`): an active queue ordered by
//! `spec.priority` (higher first) then enqueue time, and a backoff for subscriptions that
//! failed (1s doubling to 10s).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Active {
    priority: i32,
    since: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    active: HashMap<String, Active>,
    backoff: HashMap<String, Instant>,
    attempts: HashMap<String, u32>,
}

/// Keys are `<namespace>/<name>` of Subscriptions.
#[derive(Debug, Default)]
pub struct SchedulingQueue {
    inner: Mutex<Inner>,
    notify: Notify,
}

impl SchedulingQueue {
    /// Adds (or re-prioritizes) a subscription in the active queue, taking it out of backoff.
    pub fn add(&self, key: &str, priority: i32) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.backoff.remove(key);
        inner
            .active
            .entry(key.to_string())
            .and_modify(|a| a.priority = priority)
            .or_insert(Active {
                priority,
                since: Instant::now(),
            });
        drop(inner);
        self.notify.notify_one();
    }

    /// Puts a subscription in backoff after a failed attempt (unless it is already queued).
    pub fn add_unschedulable(&self, key: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.active.contains_key(key) || inner.backoff.contains_key(key) {
            return;
        }
        let attempts = inner.attempts.entry(key.to_string()).or_default();
        *attempts += 1;
        let backoff = INITIAL_BACKOFF
            .saturating_mul(1 << (*attempts - 1).min(4))
            .min(MAX_BACKOFF);
        inner
            .backoff
            .insert(key.to_string(), Instant::now() + backoff);
        drop(inner);
        self.notify.notify_one();
    }

    /// Forgets the failure history of a subscription (after a successful bind or deletion).
    pub fn forget(&self, key: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.attempts.remove(key);
        inner.backoff.remove(key);
        inner.active.remove(key);
    }

    /// Waits for the next subscription to schedule.
    pub async fn pop(&self) -> String {
        loop {
            let wake = {
                let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let due: Vec<String> = inner
                    .backoff
                    .iter()
                    .filter(|(_, at)| **at <= now)
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in due {
                    inner.backoff.remove(&key);
                    inner.active.entry(key).or_insert(Active {
                        priority: 0,
                        since: now,
                    });
                }
                let next = inner
                    .active
                    .iter()
                    .min_by(|a, b| {
                        b.1.priority
                            .cmp(&a.1.priority)
                            .then(a.1.since.cmp(&b.1.since))
                    })
                    .map(|(k, _)| k.clone());
                if let Some(key) = next {
                    inner.active.remove(&key);
                    return key;
                }
                inner.backoff.values().min().copied()
            };
            match wake {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = self.notify.notified() => {}
                    }
                }
                None => self.notify.notified().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn priority_then_fifo_then_backoff() {
        let q = SchedulingQueue::default();
        q.add("a", 0);
        tokio::time::advance(Duration::from_millis(1)).await;
        q.add("b", 5);
        tokio::time::advance(Duration::from_millis(1)).await;
        q.add("c", 0);
        assert_eq!(q.pop().await, "b");
        assert_eq!(q.pop().await, "a");
        assert_eq!(q.pop().await, "c");
        q.add_unschedulable("a");
        let start = Instant::now();
        assert_eq!(q.pop().await, "a");
        assert_eq!(start.elapsed(), INITIAL_BACKOFF);
        q.add_unschedulable("a");
        let start = Instant::now();
        assert_eq!(q.pop().await, "a");
        assert_eq!(start.elapsed(), 2 * INITIAL_BACKOFF);
        // an update moves it out of backoff at once
        q.add_unschedulable("a");
        q.add("a", 0);
        assert_eq!(q.pop().await, "a");
    }
}
