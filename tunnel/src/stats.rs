//! Counters for observing sessions: streams, bytes, frames and back-pressure events.
//!
//! Plain atomics, so they cost nothing to update and any metrics system can read them. One
//! [`Stats`] can be shared by many sessions (pass it in
//! [`SessionConfig::stats`](crate::SessionConfig::stats)), e.g. one per hub for totals, or each
//! session gets its own.
//!
//! ```
//! use std::sync::Arc;
//! use clusternet_tunnel::Stats;
//!
//! let stats = Arc::new(Stats::default());
//! let snap = stats.snapshot();
//! assert_eq!(snap.active_streams(), 0);
//! assert_eq!(snap.bytes_sent, 0);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters; see [`StatsSnapshot`] for what each one means.
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) streams_opened: AtomicU64,
    pub(crate) streams_closed: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) frames_sent: AtomicU64,
    pub(crate) frames_received: AtomicU64,
    pub(crate) pauses_sent: AtomicU64,
    pub(crate) pauses_received: AtomicU64,
    pub(crate) resumes_sent: AtomicU64,
    pub(crate) resumes_received: AtomicU64,
    pub(crate) connects_refused: AtomicU64,
    pub(crate) dials_failed: AtomicU64,
    pub(crate) sessions_opened: AtomicU64,
    pub(crate) sessions_closed: AtomicU64,
}

/// A point-in-time copy of [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Streams created (hub: `dial`; agent: accepted Connect).
    pub streams_opened: u64,
    /// Streams whose local handle has been dropped.
    pub streams_closed: u64,
    /// Data payload bytes handed to the websocket.
    pub bytes_sent: u64,
    /// Data payload bytes received for open streams.
    pub bytes_received: u64,
    /// Tunnel messages written (all types, not pings).
    pub frames_sent: u64,
    /// Tunnel messages read (all types, not pings).
    pub frames_received: u64,
    /// Pause messages sent because a local reader fell behind.
    pub pauses_sent: u64,
    /// Pause messages received from the peer.
    pub pauses_received: u64,
    /// Resume messages sent.
    pub resumes_sent: u64,
    /// Resume messages received.
    pub resumes_received: u64,
    /// Connect requests refused by the allow policy.
    pub connects_refused: u64,
    /// Connect requests whose dial failed.
    pub dials_failed: u64,
    /// Sessions started.
    pub sessions_opened: u64,
    /// Sessions ended.
    pub sessions_closed: u64,
}

impl StatsSnapshot {
    /// Streams opened and not yet closed.
    pub fn active_streams(&self) -> u64 {
        self.streams_opened.saturating_sub(self.streams_closed)
    }

    /// Sessions started and not yet ended.
    pub fn active_sessions(&self) -> u64 {
        self.sessions_opened.saturating_sub(self.sessions_closed)
    }
}

impl Stats {
    /// Read every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        // Acquire/Release: a counter seen here means the event it counts has taken effect.
        let get = |c: &AtomicU64| c.load(Ordering::Acquire);
        StatsSnapshot {
            streams_opened: get(&self.streams_opened),
            streams_closed: get(&self.streams_closed),
            bytes_sent: get(&self.bytes_sent),
            bytes_received: get(&self.bytes_received),
            frames_sent: get(&self.frames_sent),
            frames_received: get(&self.frames_received),
            pauses_sent: get(&self.pauses_sent),
            pauses_received: get(&self.pauses_received),
            resumes_sent: get(&self.resumes_sent),
            resumes_received: get(&self.resumes_received),
            connects_refused: get(&self.connects_refused),
            dials_failed: get(&self.dials_failed),
            sessions_opened: get(&self.sessions_opened),
            sessions_closed: get(&self.sessions_closed),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Release);
    }
}
