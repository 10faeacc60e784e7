//! A remotedialer session over one websocket: the hub (server) side dials streams, the agent
//! (client) side serves them.
//!
//! [`Session::server`] and [`Session::client`] return a cheap, cloneable [`Session`] handle and a
//! [`SessionDriver`] future that must be polled (usually `tokio::spawn`ed) for anything to move.
//! The driver reads and writes the websocket concurrently, so a peer that is busy writing never
//! blocks our reading, and runs until:
//!
//! * the peer closes the websocket or the connection fails,
//! * nothing (message, ping or pong) arrives for [`ping_wait`](crate::SessionConfig::ping_wait)
//!   (a dead or silent peer),
//! * [`Session::close`] is called, or the driver future is dropped.
//!
//! Then every stream of the session fails with
//! [`StreamError::SessionClosed`](crate::StreamError::SessionClosed) and
//! [`Session::closed`] resolves.
//!
//! Wire behaviour follows rancher/remotedialer v0.3.0 (`session.go`): the hub numbers streams
//! from 2 upwards and sends Connect without waiting for an answer (a failed dial arrives later
//! as an Error message, so it surfaces on the first read or write); Data for an unknown stream is
//! answered with `connection not found`; a received Error closes the stream and is echoed;
//! unknown message types and AddClient/RemoveClient (hub peering) are ignored.
//!
//! ```
//! use clusternet_tunnel::{Session, SessionConfig, ConnectHandler};
//! use clusternet_tunnel::tokio_tungstenite::{WebSocketStream, tungstenite::protocol::Role};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! // Two ends of an in-memory websocket.
//! let (a, b) = tokio::io::duplex(64 * 1024);
//! let cfg = Some(clusternet_tunnel::websocket_config());
//! let hub_ws = WebSocketStream::from_raw_socket(a, Role::Server, cfg).await;
//! let agent_ws = WebSocketStream::from_raw_socket(b, Role::Client, cfg).await;
//!
//! let (hub, hub_driver) = Session::server(hub_ws, SessionConfig::server());
//! let (agent, agent_driver) =
//!     Session::client(agent_ws, SessionConfig::client(), ConnectHandler::allow_all());
//! tokio::spawn(hub_driver);
//! tokio::spawn(agent_driver);
//!
//! assert!(!hub.is_closed());
//! hub.close();
//! agent.closed().await; // the agent sees the websocket close
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_util::sync::CancellationToken;

use crate::agent::{self, ConnectHandler, RefusalMode};
use crate::config::SessionConfig;
use crate::stats::Stats;
use crate::stream::{StreamShared, TunnelStream};
use crate::wire::{self, DecodeError, Message, MessageType};

/// The Error text remotedialer uses when the client's ConnectAuthorizer refuses an address.
pub const CONNECT_NOT_ALLOWED: &str = "connect not allowed";

/// At most this many queued messages are written between two flushes.
const WRITE_BATCH: usize = 64;
/// The reader yields to the writer after this many messages in a row.
const READ_BATCH: usize = 64;

/// Which end of the tunnel a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The hub: accepted the websocket, dials streams.
    Server,
    /// The agent: opened the websocket, serves Connect requests.
    Client,
}

/// Why a session ended.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionError {
    /// The websocket failed (IO error, protocol violation, ...).
    #[error("websocket: {0}")]
    WebSocket(Arc<tungstenite::Error>),
    /// Nothing arrived from the peer for this long.
    #[error("no message, ping or pong from the peer for {0:?}")]
    Timeout(Duration),
    /// A text websocket message (remotedialer: `wrong websocket message type`).
    #[error("wrong websocket message type")]
    WrongMessageType,
    /// A binary message that is not a remotedialer message.
    #[error("malformed tunnel message: {0}")]
    Decode(#[from] DecodeError),
    /// A Connect was refused and the handler is in [`RefusalMode::CloseSession`].
    #[error("connect not allowed: {proto}/{address}")]
    ConnectNotAllowed {
        /// Requested protocol.
        proto: String,
        /// Requested address.
        address: String,
    },
    /// The peer broke a bound of the session: it ignored Pause until the session's receive
    /// buffer overflowed, or flooded messages for streams that do not exist.
    #[error("peer misbehaved: {0}")]
    Misbehaving(String),
    /// [`Session::close`] was called.
    #[error("session closed")]
    Closed,
    /// The peer closed the websocket.
    #[error("peer closed the websocket")]
    PeerClosed,
    /// The [`SessionDriver`] was dropped before the session ended.
    #[error("session driver dropped")]
    DriverDropped,
}

impl SessionError {
    /// Whether this is an orderly end (closed by either side) rather than a failure.
    pub fn is_graceful(&self) -> bool {
        matches!(self, SessionError::Closed | SessionError::PeerClosed)
    }
}

/// Why [`Session::dial`] could not open a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// The session has ended.
    #[error("tunnel session closed: {0}")]
    SessionClosed(String),
    /// Only the hub (server) side dials through a remotedialer tunnel.
    #[error("only the server side of a tunnel session can dial")]
    NotServer,
    /// The protocol is empty or contains `/`.
    #[error("invalid protocol {0:?}")]
    InvalidProto(String),
    /// `proto/address` is longer than a remotedialer v0.3.0 agent reads (100 bytes).
    #[error("connect target is {0} bytes; remotedialer v0.3.0 agents read at most 100")]
    AddressTooLong(usize),
    /// The session already has [`max_streams`](crate::SessionConfig::max_streams) open.
    #[error("the tunnel session has its maximum of {0} streams open")]
    TooManyStreams(usize),
}

impl From<DialError> for std::io::Error {
    fn from(e: DialError) -> Self {
        let kind = match e {
            DialError::SessionClosed(_) => std::io::ErrorKind::NotConnected,
            DialError::TooManyStreams(_) => std::io::ErrorKind::QuotaExceeded,
            _ => std::io::ErrorKind::InvalidInput,
        };
        std::io::Error::new(kind, e)
    }
}

/// A message ready for the websocket, with the stream credit it returns once written.
pub(crate) struct Outbound {
    frame: Bytes,
    credit: Option<(Arc<StreamShared>, usize)>,
}

struct Table {
    ended: bool,
    streams: HashMap<i64, Arc<StreamShared>>,
}

/// Messages the peer sends for streams that do not exist: an allowance that refills over time,
/// and the streams already answered (each gets one `connection not found`).
struct Unknown {
    allowance: f64,
    refilled: Instant,
    answered: std::collections::VecDeque<i64>,
}

/// How many unknown streams are remembered as answered.
const ANSWERED: usize = 64;

/// State shared by the session handle, its driver and its streams.
pub(crate) struct Shared {
    pub(crate) config: SessionConfig,
    pub(crate) stats: Arc<Stats>,
    role: Role,
    table: Mutex<Table>,
    /// Unread bytes of every stream, plus [`FRAME_OVERHEAD`] per queued message.
    buffered: AtomicUsize,
    unknown: Mutex<Unknown>,
    next_conn_id: AtomicI64,
    next_msg_id: AtomicI64,
    /// Pause and Resume: jump the data queue (they concern the other direction).
    ctrl_tx: mpsc::UnboundedSender<Bytes>,
    /// Connect, Data and Error: per-stream order matters (a close must follow its data, and
    /// a stream's first Error must be the one the peer sees).
    data_tx: mpsc::UnboundedSender<Outbound>,
    close_requested: CancellationToken,
    ended: CancellationToken,
    end_reason: OnceLock<SessionError>,
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn next_message_id(&self) -> i64 {
        self.next_msg_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Queue a control message ahead of data.
    pub(crate) fn send_control(&self, conn_id: i64, kind: MessageType, payload: &[u8]) {
        let frame = wire::encode(self.next_message_id(), conn_id, kind, payload);
        // Fails only once the driver is gone, when there is nobody to tell.
        let _ = self.ctrl_tx.send(frame);
    }

    /// Queue a message in stream order.
    pub(crate) fn send_ordered(
        &self,
        conn_id: i64,
        kind: MessageType,
        payload: &[u8],
        credit: Option<(Arc<StreamShared>, usize)>,
    ) {
        let frame = wire::encode(self.next_message_id(), conn_id, kind, payload);
        self.push_ordered(frame, credit);
    }

    pub(crate) fn push_ordered(&self, frame: Bytes, credit: Option<(Arc<StreamShared>, usize)>) {
        let _ = self.data_tx.send(Outbound { frame, credit });
    }

    /// Drop the session's reference to a stream (if it is still this one).
    pub(crate) fn forget(&self, stream: &Arc<StreamShared>) {
        let mut table = self.table();
        if let Some(cur) = table.streams.get(&stream.conn_id)
            && Arc::ptr_eq(cur, stream)
        {
            table.streams.remove(&stream.conn_id);
        }
    }

    fn lookup(&self, conn_id: i64) -> Option<Arc<StreamShared>> {
        self.table().streams.get(&conn_id).cloned()
    }

    fn remove(&self, conn_id: i64) -> Option<Arc<StreamShared>> {
        self.table().streams.remove(&conn_id)
    }

    /// Register a new stream: `Ok(None)` once the session has ended, `Err` when it has its
    /// maximum of streams.
    fn register(
        self: &Arc<Self>,
        conn_id: i64,
        proto: &str,
        address: &str,
    ) -> Result<Option<Arc<StreamShared>>, DialError> {
        let stream = Arc::new(StreamShared::new(conn_id, proto, address, Arc::clone(self)));
        let replaced = {
            let mut table = self.table();
            if table.ended {
                return Ok(None);
            }
            let max = self.config.max_streams;
            if table.streams.len() >= max && !table.streams.contains_key(&conn_id) {
                return Err(DialError::TooManyStreams(max));
            }
            table.streams.insert(conn_id, Arc::clone(&stream))
        };
        if let Some(old) = replaced {
            // remotedialer overwrites its map entry; make the orphan fail instead of hang.
            old.on_session_end("connection id reused by the peer");
        }
        Ok(Some(stream))
    }

    /// Accounts for `cost` more received bytes held by a stream; `Err` when the peer has
    /// pushed the session past twice its receive bound (it ignores Pause). `Ok(true)` means
    /// the session is over its bound and the receiving stream must pause.
    pub(crate) fn hold(&self, cost: usize) -> Result<bool, SessionError> {
        let total = self.buffered.fetch_add(cost, Ordering::Relaxed) + cost;
        let max = self.config.max_session_buffer;
        if total > max.saturating_mul(2) {
            return Err(SessionError::Misbehaving(format!(
                "{total} bytes received and unread across the session's streams, over twice the bound of {max}: the peer ignores Pause"
            )));
        }
        Ok(total > max)
    }

    /// `cost` received bytes were read (or dropped).
    pub(crate) fn release_held(&self, cost: usize) {
        self.buffered.fetch_sub(cost, Ordering::Relaxed);
    }

    /// A message for a stream that does not exist: spends the peer's allowance; `Ok(true)`
    /// when this stream should get its (single) `connection not found` reply.
    fn on_unknown(&self, conn_id: i64) -> Result<bool, SessionError> {
        let burst = f64::from(self.config.unknown_frames_burst.max(1));
        let mut unknown = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(unknown.refilled).as_secs_f64() * burst / 10.0;
        unknown.allowance = (unknown.allowance + refill).min(burst);
        unknown.refilled = now;
        if unknown.allowance < 1.0 {
            return Err(SessionError::Misbehaving(format!(
                "more than {burst} messages for streams that do not exist"
            )));
        }
        unknown.allowance -= 1.0;
        if unknown.answered.contains(&conn_id) {
            return Ok(false);
        }
        if unknown.answered.len() >= ANSWERED {
            unknown.answered.pop_front();
        }
        unknown.answered.push_back(conn_id);
        Ok(true)
    }

    /// End the session: fail every stream, wake everyone waiting for the end.
    fn terminate(&self, reason: SessionError) {
        if self.end_reason.set(reason).is_err() {
            return;
        }
        let text = self
            .end_reason
            .get()
            .map(|r| r.to_string())
            .unwrap_or_default();
        let streams: Vec<_> = {
            let mut table = self.table();
            table.ended = true;
            table.streams.drain().map(|(_, s)| s).collect()
        };
        for stream in streams {
            stream.on_session_end(&text);
        }
        Stats::add(&self.stats.sessions_closed, 1);
        self.ended.cancel();
    }

    /// Handle one tunnel message from the peer.
    fn dispatch(
        self: &Arc<Self>,
        frame: Bytes,
        handler: Option<&Arc<ConnectHandler>>,
    ) -> Result<(), SessionError> {
        let msg = Message::decode(frame)?;
        Stats::add(&self.stats.frames_received, 1);
        match msg.kind {
            MessageType::Data => match self.lookup(msg.conn_id) {
                Some(stream) => stream.on_data(msg.payload)?,
                None => {
                    // A few follow every close; each unknown stream gets one answer, and a
                    // peer that keeps sending them is ended rather than answered.
                    if self.on_unknown(msg.conn_id)? {
                        let who = match self.role {
                            Role::Client => "client",
                            Role::Server => "server",
                        };
                        let text = format!("connection not found {who}/0/{}", msg.conn_id);
                        self.send_ordered(msg.conn_id, MessageType::Error, text.as_bytes(), None);
                    }
                }
            },
            MessageType::Connect => self.on_connect(&msg, handler)?,
            MessageType::Error => {
                if let Some(stream) = self.remove(msg.conn_id) {
                    stream.on_remote_close(msg.payload);
                }
            }
            // Counted so that a counter seen by an observer matches the stream's state: a
            // Pause is counted after it took effect, a Resume before.
            MessageType::Pause => {
                if let Some(stream) = self.lookup(msg.conn_id) {
                    stream.on_pause(true);
                }
                Stats::add(&self.stats.pauses_received, 1);
            }
            MessageType::Resume => {
                Stats::add(&self.stats.resumes_received, 1);
                if let Some(stream) = self.lookup(msg.conn_id) {
                    stream.on_pause(false);
                }
            }
            MessageType::AddClient | MessageType::RemoveClient | MessageType::Unknown(_) => {}
        }
        Ok(())
    }

    fn on_connect(
        self: &Arc<Self>,
        msg: &Message,
        handler: Option<&Arc<ConnectHandler>>,
    ) -> Result<(), SessionError> {
        let target = String::from_utf8_lossy(&msg.payload);
        let (proto, address) = target.split_once('/').unwrap_or((&target, ""));
        match handler {
            Some(handler) if handler.allows(proto, address) => {
                match self.register(msg.conn_id, proto, address) {
                    Ok(Some(shared)) => {
                        let stream = TunnelStream::new(shared);
                        tokio::spawn(agent::serve_connect(
                            Arc::clone(handler),
                            stream,
                            self.ended.clone(),
                            Arc::clone(&self.stats),
                        ));
                    }
                    Ok(None) => {}
                    Err(err) => {
                        Stats::add(&self.stats.connects_refused, 1);
                        tracing::warn!(error = %err, "refusing a tunnel connect");
                        let text = err.to_string();
                        self.send_ordered(msg.conn_id, MessageType::Error, text.as_bytes(), None);
                    }
                }
                Ok(())
            }
            // The hub dials, agents never do: a Connect to the hub spends the peer's allowance
            // for messages that make no sense, like Data for unknown streams.
            None if !self.on_unknown(msg.conn_id)? => Ok(()),
            _ => {
                Stats::add(&self.stats.connects_refused, 1);
                tracing::debug!(proto, address, "tunnel connect not allowed");
                let mode = handler.map_or(RefusalMode::ErrorStream, |h| h.refusal_mode());
                match mode {
                    RefusalMode::ErrorStream => {
                        self.send_ordered(
                            msg.conn_id,
                            MessageType::Error,
                            CONNECT_NOT_ALLOWED.as_bytes(),
                            None,
                        );
                        Ok(())
                    }
                    RefusalMode::CloseSession => Err(SessionError::ConnectNotAllowed {
                        proto: proto.to_owned(),
                        address: address.to_owned(),
                    }),
                }
            }
        }
    }
}

/// Handle to a running session; cheap to clone. Dropping handles does not end the session
/// (dropping the [`SessionDriver`] or calling [`close`](Session::close) does).
#[derive(Clone)]
pub struct Session {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.shared.role)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// The future that runs a session; see the [module docs](self). Resolves to `Ok(())` when the
/// session was closed by either side in an orderly way, to the failure otherwise.
#[must_use = "a session does nothing unless its driver is polled"]
pub struct SessionDriver {
    fut: Pin<Box<dyn Future<Output = Result<(), SessionError>> + Send>>,
}

impl std::fmt::Debug for SessionDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionDriver").finish_non_exhaustive()
    }
}

impl Future for SessionDriver {
    type Output = Result<(), SessionError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.fut.as_mut().poll(cx)
    }
}

impl Session {
    /// The hub side: a websocket accepted from an agent. Dial streams with [`Session::dial`].
    /// A Connect from the peer is refused with `connect not allowed`. Build `ws` with
    /// [`websocket_config`](crate::websocket_config) so large messages from Go peers fit.
    pub fn server<S>(ws: WebSocketStream<S>, config: SessionConfig) -> (Session, SessionDriver)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Self::start(ws, config, Role::Server, None)
    }

    /// The agent side: a websocket opened to the hub (see
    /// [`ConnectRequest`](crate::ConnectRequest)). Each Connect from the hub is checked against
    /// `handler`'s policy, dialed with its dialer, and piped both ways.
    pub fn client<S>(
        ws: WebSocketStream<S>,
        config: SessionConfig,
        handler: ConnectHandler,
    ) -> (Session, SessionDriver)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Self::start(ws, config, Role::Client, Some(Arc::new(handler)))
    }

    fn start<S>(
        ws: WebSocketStream<S>,
        config: SessionConfig,
        role: Role,
        handler: Option<Arc<ConnectHandler>>,
    ) -> (Session, SessionDriver)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let stats = config.stats.clone().unwrap_or_default();
        Stats::add(&stats.sessions_opened, 1);
        let burst = f64::from(config.unknown_frames_burst.max(1));
        let (ctrl_tx, ctrl_rx) = mpsc::unbounded_channel();
        let (data_tx, data_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            config,
            stats,
            role,
            table: Mutex::new(Table {
                ended: false,
                streams: HashMap::new(),
            }),
            buffered: AtomicUsize::new(0),
            unknown: Mutex::new(Unknown {
                allowance: burst,
                refilled: Instant::now(),
                answered: std::collections::VecDeque::new(),
            }),
            // remotedialer: `nextConnID: 1` and `atomic.AddInt64` before use, so the first
            // stream is 2.
            next_conn_id: AtomicI64::new(1),
            next_msg_id: AtomicI64::new(0),
            ctrl_tx,
            data_tx,
            close_requested: CancellationToken::new(),
            ended: CancellationToken::new(),
            end_reason: OnceLock::new(),
        });
        let fut = drive(ws, Arc::clone(&shared), ctrl_rx, data_rx, handler);
        (Session { shared }, SessionDriver { fut: Box::pin(fut) })
    }

    /// Open a stream to `address` as seen from the agent (`proto` is `tcp` for Clusternet).
    ///
    /// Like remotedialer, this does not wait for the agent: the Connect message is queued and
    /// the stream returned at once. If the agent refuses or cannot dial, the first read (or a
    /// later write) fails with the agent's error text
    /// ([`StreamError::Remote`](crate::StreamError::Remote)).
    pub fn dial(&self, proto: &str, address: &str) -> Result<TunnelStream, DialError> {
        if self.shared.role != Role::Server {
            return Err(DialError::NotServer);
        }
        if proto.is_empty() || proto.contains('/') {
            return Err(DialError::InvalidProto(proto.to_owned()));
        }
        let target = format!("{proto}/{address}");
        if target.len() > wire::MAX_CONNECT_PAYLOAD {
            return Err(DialError::AddressTooLong(target.len()));
        }
        let conn_id = self.shared.next_conn_id.fetch_add(1, Ordering::Relaxed) + 1;
        let Some(stream) = self.shared.register(conn_id, proto, address)? else {
            return Err(DialError::SessionClosed(self.end_text()));
        };
        // Queued before the caller can write, so the agent sees Connect before any Data.
        self.shared
            .send_ordered(conn_id, MessageType::Connect, target.as_bytes(), None);
        Ok(TunnelStream::new(stream))
    }

    /// Which end this is.
    pub fn role(&self) -> Role {
        self.shared.role
    }

    /// Ask the driver to close the websocket (with a Close frame) and end the session. Every
    /// stream fails with [`StreamError::SessionClosed`](crate::StreamError::SessionClosed);
    /// data not yet written to the websocket is dropped.
    pub fn close(&self) {
        self.shared.close_requested.cancel();
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.ended.is_cancelled()
    }

    /// Wait until the session has ended; returns why.
    pub async fn closed(&self) -> SessionError {
        self.shared.ended.cancelled().await;
        self.end_reason().unwrap_or(SessionError::Closed)
    }

    /// Why the session ended, once it has.
    pub fn end_reason(&self) -> Option<SessionError> {
        self.shared.end_reason.get().cloned()
    }

    /// The counters this session updates.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.shared.stats
    }

    /// Streams the session currently tracks (open, or closing and awaiting the peer).
    pub fn stream_count(&self) -> usize {
        self.shared.table().streams.len()
    }

    fn end_text(&self) -> String {
        self.end_reason()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "session ended".to_owned())
    }
}

/// Ends the session if the driver future is dropped half-way.
struct EndGuard(Arc<Shared>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.terminate(SessionError::DriverDropped);
    }
}

async fn drive<S>(
    ws: WebSocketStream<S>,
    shared: Arc<Shared>,
    mut ctrl_rx: mpsc::UnboundedReceiver<Bytes>,
    mut data_rx: mpsc::UnboundedReceiver<Outbound>,
    handler: Option<Arc<ConnectHandler>>,
) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let _guard = EndGuard(Arc::clone(&shared));
    let (mut sink, mut stream) = ws.split();
    let start = Instant::now();
    let last_seen = AtomicU64::new(0);

    let outcome = tokio::select! {
        e = read_loop(&mut stream, &shared, handler.as_ref(), &last_seen, start) => e,
        e = write_loop(&mut sink, &shared, &mut ctrl_rx, &mut data_rx) => e,
        e = watchdog(&shared, &last_seen, start) => e,
        _ = shared.close_requested.cancelled() => SessionError::Closed,
    };
    tracing::debug!(role = ?shared.role, reason = %outcome, "tunnel session ended");
    shared.terminate(outcome.clone());
    if outcome.is_graceful() {
        // Send our Close frame (or the reply to the peer's); never wait long for it.
        let _ = tokio::time::timeout(shared.config.close_timeout, sink.close()).await;
    }
    if outcome.is_graceful() {
        Ok(())
    } else {
        Err(outcome)
    }
}

fn ws_error(e: tungstenite::Error) -> SessionError {
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            SessionError::PeerClosed
        }
        other => SessionError::WebSocket(Arc::new(other)),
    }
}

async fn read_loop<St>(
    stream: &mut St,
    shared: &Arc<Shared>,
    handler: Option<&Arc<ConnectHandler>>,
    last_seen: &AtomicU64,
    start: Instant,
) -> SessionError
where
    St: futures::Stream<Item = Result<WsMessage, tungstenite::Error>> + Unpin,
{
    let mut in_a_row = 0usize;
    loop {
        let msg = match stream.next().await {
            None => return SessionError::PeerClosed,
            Some(Err(e)) => return ws_error(e),
            Some(Ok(msg)) => msg,
        };
        let seen = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        last_seen.store(seen, Ordering::Relaxed);
        match msg {
            WsMessage::Binary(frame) => {
                if let Err(e) = shared.dispatch(frame, handler) {
                    return e;
                }
            }
            WsMessage::Text(_) => return SessionError::WrongMessageType,
            WsMessage::Close(_) => return SessionError::PeerClosed,
            WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => {}
        }
        in_a_row += 1;
        if in_a_row >= READ_BATCH {
            in_a_row = 0;
            tokio::task::yield_now().await;
        }
    }
}

enum Item {
    Frame(Outbound),
    Ping,
}

async fn tick(ping: &mut Option<tokio::time::Interval>) {
    match ping {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn write_loop<Si>(
    sink: &mut Si,
    shared: &Shared,
    ctrl_rx: &mut mpsc::UnboundedReceiver<Bytes>,
    data_rx: &mut mpsc::UnboundedReceiver<Outbound>,
) -> SessionError
where
    Si: futures::Sink<WsMessage, Error = tungstenite::Error> + Unpin,
{
    let mut ping = shared.config.ping_interval.map(|every| {
        let mut interval = tokio::time::interval_at(Instant::now() + every, every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    loop {
        let first = tokio::select! {
            biased;
            _ = tick(&mut ping) => Item::Ping,
            Some(frame) = ctrl_rx.recv() => Item::Frame(Outbound { frame, credit: None }),
            Some(out) = data_rx.recv() => Item::Frame(out),
            else => return SessionError::Closed,
        };
        if let Err(e) = send_item(sink, shared, first).await {
            return e;
        }
        for _ in 0..WRITE_BATCH {
            let next = if let Ok(frame) = ctrl_rx.try_recv() {
                Outbound {
                    frame,
                    credit: None,
                }
            } else if let Ok(out) = data_rx.try_recv() {
                out
            } else {
                break;
            };
            if let Err(e) = send_item(sink, shared, Item::Frame(next)).await {
                return e;
            }
        }
        if let Err(e) = sink.flush().await {
            return ws_error(e);
        }
    }
}

async fn send_item<Si>(sink: &mut Si, shared: &Shared, item: Item) -> Result<(), SessionError>
where
    Si: futures::Sink<WsMessage, Error = tungstenite::Error> + Unpin,
{
    match item {
        Item::Ping => sink
            .feed(WsMessage::Ping(Bytes::new()))
            .await
            .map_err(ws_error),
        Item::Frame(out) => {
            sink.feed(WsMessage::Binary(out.frame))
                .await
                .map_err(ws_error)?;
            Stats::add(&shared.stats.frames_sent, 1);
            if let Some((stream, n)) = out.credit {
                Stats::add(&shared.stats.bytes_sent, n as u64);
                stream.release(n);
            }
            Ok(())
        }
    }
}

async fn watchdog(shared: &Shared, last_seen: &AtomicU64, start: Instant) -> SessionError {
    let wait = shared.config.ping_wait;
    loop {
        let deadline = start + Duration::from_millis(last_seen.load(Ordering::Relaxed)) + wait;
        if Instant::now() >= deadline {
            return SessionError::Timeout(wait);
        }
        tokio::time::sleep_until(deadline).await;
    }
}
