//! Session tuning: keepalive, frame size and flow-control windows.
//!
//! Defaults follow remotedialer v0.3.0 where the protocol makes them visible to the peer
//! (`types.go`: ping every 5 s, 60 s wait; `readbuffer.go`: pause above 2 MiB buffered, resume
//! below 256 KiB) and are chosen for throughput where it does not.
//!
//! ```
//! use std::time::Duration;
//! use clusternet_tunnel::SessionConfig;
//!
//! let agent = SessionConfig::client();
//! assert_eq!(agent.ping_interval, Some(Duration::from_secs(5)));
//! let hub = SessionConfig::server();
//! assert_eq!(hub.ping_interval, None);
//! assert_eq!(hub.ping_wait, Duration::from_secs(60));
//! ```

use std::sync::Arc;
use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::stats::Stats;

/// remotedialer `PingWriteInterval`.
pub const PING_WRITE_INTERVAL: Duration = Duration::from_secs(5);
/// remotedialer `PingWaitDuration`.
pub const PING_WAIT_DURATION: Duration = Duration::from_secs(60);
/// remotedialer `MaxBuffer` (`1 << 21`): a reader buffering more than this pauses the sender.
pub const MAX_BUFFER: usize = 1 << 21;

/// Largest websocket message (and frame) a hub accepts from an agent ([`websocket_config`]):
/// 1 MiB.
pub const MAX_WEBSOCKET_MESSAGE: usize = 1 << 20;

/// Largest websocket message an agent accepts from its hub ([`agent_websocket_config`]):
/// 256 MiB.
pub const MAX_HUB_WEBSOCKET_MESSAGE: usize = 256 << 20;

/// Memory a received tunnel message costs beyond its payload (the queue entry and its
/// bookkeeping), counted against [`SessionConfig::max_session_buffer`] so that a flood of tiny
/// frames is bounded like a flood of large ones.
pub const FRAME_OVERHEAD: usize = 64;

/// The websocket settings of the hub's end of a tunnel: what it accepts from an agent.
///
/// A remotedialer peer turns each `conn.Write` into one websocket message. Agents write what
/// they read from child connections — Go Clusternet's pipes copy through 32 KiB buffers, and
/// this crate sends at most [`SessionConfig::max_frame_payload`] (64 KiB) per message — so the
/// 1 MiB cap leaves ample room for any agent and bounds what one message from a hostile child
/// can cost the hub.
///
/// ```
/// let cfg = clusternet_tunnel::websocket_config();
/// assert_eq!(cfg.max_frame_size, Some(1 << 20));
/// ```
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_WEBSOCKET_MESSAGE))
        .max_frame_size(Some(MAX_WEBSOCKET_MESSAGE))
}

/// The websocket settings of the agent's end: what it accepts from the hub, which it trusts
/// (it pinned the parent's CA). A Go hub writes whole HTTP bodies as single messages, in one
/// frame, of any size; tungstenite's defaults (16 MiB frames) would end the session on such a
/// write, so the cap is 256 MiB.
///
/// ```
/// let cfg = clusternet_tunnel::agent_websocket_config();
/// assert_eq!(cfg.max_frame_size, Some(256 << 20));
/// ```
pub fn agent_websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_HUB_WEBSOCKET_MESSAGE))
        .max_frame_size(Some(MAX_HUB_WEBSOCKET_MESSAGE))
}

/// Settings of one [`Session`](crate::Session).
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Send a websocket ping this often. remotedialer clients (agents) ping every 5 s and a
    /// v0.3.0 hub relies on those pings to keep its 60 s read deadline alive; v0.3.0 servers do
    /// not ping.
    pub ping_interval: Option<Duration>,
    /// End the session when nothing (no message, ping or pong) has arrived for this long.
    pub ping_wait: Duration,
    /// Largest Data payload per websocket message. Larger frames mean fewer headers and
    /// wake-ups for bulk transfer; the Go peer accepts any size.
    pub max_frame_payload: usize,
    /// Send Pause for a stream when its unread receive buffer grows beyond this.
    pub pause_threshold: usize,
    /// Send Resume once the reader has drained the buffer below this.
    pub resume_threshold: usize,
    /// Hard cap on one stream's unread receive buffer. A peer that keeps sending this far past
    /// a Pause gets the stream closed with an error instead of exhausting memory.
    pub max_receive_buffer: usize,
    /// Bytes one stream may have queued towards the websocket before its writer waits; keeps
    /// one busy stream from filling memory and bounds how far a Pause can lag.
    pub send_window: usize,
    /// Most streams open at once. The hub's `dial` fails beyond it; an agent refuses further
    /// Connects with an Error on that stream.
    pub max_streams: usize,
    /// Unread bytes (plus [`FRAME_OVERHEAD`] per message) all streams of the session may hold.
    /// Past it every stream that receives more is paused, whatever its own level; past twice
    /// this the peer is ignoring Pause and the session is ended.
    pub max_session_buffer: usize,
    /// Data messages for streams that do not exist (or no longer do) the peer may send in a
    /// burst; a few follow every close legitimately. The allowance refills at
    /// `unknown_frames_burst` per 10 s; a peer that exhausts it is flooding and the session is
    /// ended. Each unknown stream gets at most one `connection not found` reply.
    pub unknown_frames_burst: u32,
    /// How long a graceful close may take to send the websocket Close frame.
    pub close_timeout: Duration,
    /// Counters to update; a fresh set per session when `None`.
    pub stats: Option<Arc<Stats>>,
}

impl SessionConfig {
    /// Defaults for the agent (client) side: pings every 5 s.
    pub fn client() -> Self {
        SessionConfig {
            ping_interval: Some(PING_WRITE_INTERVAL),
            ..Self::server()
        }
    }

    /// Defaults for the hub (server) side: no pings of its own (as remotedialer), but a peer
    /// silent for 60 s is dead.
    pub fn server() -> Self {
        SessionConfig {
            ping_interval: None,
            ping_wait: PING_WAIT_DURATION,
            max_frame_payload: 64 * 1024,
            pause_threshold: MAX_BUFFER,
            resume_threshold: MAX_BUFFER / 8,
            max_receive_buffer: 32 * MAX_BUFFER,
            send_window: 512 * 1024,
            max_streams: 4096,
            max_session_buffer: 64 << 20,
            unknown_frames_burst: 10_000,
            close_timeout: Duration::from_secs(5),
            stats: None,
        }
    }

    /// Use (and share) these counters.
    pub fn with_stats(mut self, stats: Arc<Stats>) -> Self {
        self.stats = Some(stats);
        self
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self::server()
    }
}
