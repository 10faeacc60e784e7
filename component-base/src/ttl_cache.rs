//! A small TTL cache for remote decisions (TokenReview, SubjectAccessReview): without it every
//! proxied request would cost a round trip to the parent before a byte moves.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Entries expire after their TTL; the map never grows past `capacity` (expired entries are
/// dropped first, then everything, which at worst costs one round trip per key again).
#[derive(Debug)]
pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// An empty cache holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The unexpired value for `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        let (value, expires) = entries.get(key)?;
        (Instant::now() < *expires).then(|| value.clone())
    }

    /// Stores `value` for `ttl`.
    pub fn insert(&self, key: K, value: V, ttl: Duration) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let now = Instant::now();
        if entries.len() >= self.capacity {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (value, now + ttl));
    }

    /// Number of entries (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn entries_expire_and_capacity_is_bounded() {
        let cache = TtlCache::new(2);
        cache.insert("a", 1, Duration::from_secs(10));
        assert_eq!(cache.get(&"a"), Some(1));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(cache.get(&"a"), None);
        cache.insert("b", 2, Duration::from_secs(10));
        cache.insert("c", 3, Duration::from_secs(10)); // evicts expired "a"
        assert_eq!(cache.len(), 2);
        cache.insert("d", 4, Duration::from_secs(10)); // full of live entries: cleared
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(&"d"), Some(4));
    }
}
