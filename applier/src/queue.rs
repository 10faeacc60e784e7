//! A small work queue with client-go's guarantees: a key queued several times is processed
//! once, a key is never processed by two workers at once (adding it while it is being processed
//! queues it again for afterwards), and failed keys come back with exponential backoff.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// The queue (cheap to clone).
#[derive(Clone)]
pub struct Queue<K> {
    inner: Arc<Inner<K>>,
}

struct Inner<K> {
    state: Mutex<State<K>>,
    notify: Notify,
}

struct State<K> {
    queue: VecDeque<K>,
    dirty: HashSet<K>,
    processing: HashSet<K>,
    failures: HashMap<K, u32>,
}

pub use clusternet_component_base::reconcile::backoff;

impl<K: Clone + Eq + Hash + Send + 'static> Default for Queue<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> Queue<K> {
    /// An empty queue.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    dirty: HashSet::new(),
                    processing: HashSet::new(),
                    failures: HashMap::new(),
                }),
                notify: Notify::new(),
            }),
        }
    }

    /// Queues `key` (no-op if it is already waiting).
    pub fn add(&self, key: K) {
        let Ok(mut state) = self.inner.state.lock() else {
            return;
        };
        if !state.dirty.insert(key.clone()) {
            return;
        }
        if !state.processing.contains(&key) {
            state.queue.push_back(key);
            drop(state);
            self.inner.notify.notify_one();
        }
    }

    /// Queues `key` after `delay`.
    pub fn add_after(&self, key: K, delay: Duration) {
        let queue = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            queue.add(key);
        });
    }

    /// The next key to process; call [`Queue::done`] when finished with it.
    pub async fn next(&self) -> K {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Ok(mut state) = self.inner.state.lock()
                && let Some(key) = state.queue.pop_front()
            {
                state.dirty.remove(&key);
                state.processing.insert(key.clone());
                return key;
            }
            notified.await;
        }
    }

    /// Marks `key` processed: on failure it is queued again after a growing delay, on success
    /// its failure count is reset. A key added while it was processed is queued now.
    pub fn done(&self, key: K, failed: bool) {
        let Ok(mut state) = self.inner.state.lock() else {
            return;
        };
        state.processing.remove(&key);
        let retry = if failed {
            let n = state.failures.entry(key.clone()).or_insert(0);
            *n += 1;
            // ±20 %, so keys that failed together do not all come back at the same instant.
            Some(backoff(*n).mul_f64(rand::random_range(0.8..1.2)))
        } else {
            state.failures.remove(&key);
            None
        };
        if state.dirty.contains(&key) {
            state.queue.push_back(key.clone());
            drop(state);
            self.inner.notify.notify_one();
        } else {
            drop(state);
        }
        if let Some(delay) = retry {
            self.add_after(key, delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dedupes_and_never_hands_out_a_key_twice_at_once() {
        let q = Queue::new();
        q.add("a");
        q.add("a");
        q.add("b");
        let first = q.next().await;
        assert_eq!(first, "a");
        // "a" is being processed: adding it again defers it until done.
        q.add("a");
        assert_eq!(q.next().await, "b");
        let pending = tokio::time::timeout(Duration::from_millis(50), q.next()).await;
        assert!(pending.is_err(), "a handed out while processing");
        q.done("a", false);
        assert_eq!(q.next().await, "a");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_come_back_later() {
        let q = Queue::new();
        q.add(1);
        let k = q.next().await;
        q.done(k, true);
        let again = tokio::time::timeout(Duration::from_secs(2), q.next()).await;
        assert_eq!(again.ok(), Some(1));
    }
}
