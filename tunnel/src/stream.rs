//! One multiplexed stream of a session: a full-duplex byte pipe with its own flow control.
//!
//! [`TunnelStream`] implements [`AsyncRead`], [`AsyncBufRead`] (zero-copy: it hands out the
//! received websocket payloads themselves) and [`AsyncWrite`], so hyper's client, tokio-rustls
//! or `tokio::io::copy_bidirectional` run over it unchanged.
//!
//! Semantics, matching remotedialer v0.3.0 (which has no half-close):
//!
//! * **Reading.** Received Data is queued per stream. Above
//!   [`pause_threshold`](crate::SessionConfig::pause_threshold) unread bytes the session sends
//!   the peer a Pause for this stream only; once the reader drains below
//!   [`resume_threshold`](crate::SessionConfig::resume_threshold) it sends Resume. Other streams
//!   keep flowing. Reads return buffered data first, then `Ok(0)` if the peer closed with `EOF`,
//!   or an error carrying the peer's error text (e.g. the agent's dial error).
//! * **Writing.** Each write becomes one Data message of at most
//!   [`max_frame_payload`](crate::SessionConfig::max_frame_payload) bytes. A write waits while the
//!   peer has paused this stream, or while this stream already has
//!   [`send_window`](crate::SessionConfig::send_window) bytes queued for the websocket.
//! * **Closing.** `shutdown()` (or dropping the stream) sends Error `EOF` after all queued data.
//!   Data the peer sent before it saw the `EOF` can still be read; the peer answers with its own
//!   `EOF` (remotedialer echoes the close), which ends the read side. Receiving the peer's Error
//!   closes both directions: later writes fail with `BrokenPipe`.
//! * **Session loss** fails every pending and later read and write with `ConnectionAborted`
//!   ([`StreamError::SessionClosed`]), after any data already received has been read.
//!
//! Because a close ends both directions, "write the request, shut down, read the response to
//! EOF" does not work through a remotedialer tunnel (in Go either): read what you expect, then
//! close. HTTP/1.1, TLS and upgraded connections never rely on a half-close.
//!
//! Known upstream behaviour: remotedialer v0.3.0 (up to its current release) keeps one
//! `paused` flag per connection for both "I paused my peer" and "my peer paused me". A Go peer
//! whose receive buffer for a stream passes 2 MiB therefore also stops *writing* that stream
//! until its buffer drains; if whatever it delivers to waits for those writes (an echo-like
//! target with megabytes in flight both ways), that stream deadlocks — Go hub or Rust hub
//! alike. Rust sessions keep the two states apart.
//!
//! ```
//! # async fn demo(session: clusternet_tunnel::Session) -> std::io::Result<()> {
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let mut stream = session.dial("tcp", "127.0.0.1:6443")?;
//! stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
//! let mut response = Vec::new();
//! stream.read_to_end(&mut response).await?;
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

use crate::config::FRAME_OVERHEAD;
use crate::session::{SessionError, Shared};
use crate::stats::Stats;
use crate::wire::{self, MessageType};

/// Why a stream operation failed; carried inside the [`io::Error`] (use
/// `err.get_ref().and_then(|e| e.downcast_ref::<StreamError>())`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The peer closed the stream with this error text, e.g. the agent could not dial
    /// (`dial tcp 10.0.0.1:443: ...`) or refused the address (`connect not allowed`).
    #[error("{0}")]
    Remote(String),
    /// The websocket session ended (remotedialer says `tunnel disconnect`).
    #[error("tunnel disconnect: {0}")]
    SessionClosed(String),
    /// Write after this side shut the stream down or after the peer closed it.
    #[error("tunnel stream closed")]
    Closed,
    /// The peer kept sending far past a Pause; the stream was closed.
    #[error("tunnel stream receive buffer overflow ({0} bytes unread)")]
    Overflow(usize),
    /// This side closed the stream with this error text
    /// ([`TunnelStream::close_with_error`]), e.g. the agent's dial failed.
    #[error("{0}")]
    Local(String),
}

impl StreamError {
    fn into_io(self) -> io::Error {
        let kind = match &self {
            StreamError::Remote(text) | StreamError::Local(text) => {
                if text.contains("refused") || text == crate::session::CONNECT_NOT_ALLOWED {
                    io::ErrorKind::ConnectionRefused
                } else {
                    io::ErrorKind::ConnectionReset
                }
            }
            StreamError::SessionClosed(_) => io::ErrorKind::ConnectionAborted,
            StreamError::Closed => io::ErrorKind::BrokenPipe,
            StreamError::Overflow(_) => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}

/// How the read side ended.
#[derive(Debug, Clone)]
enum ReadEnd {
    Eof,
    Failed(StreamError),
}

#[derive(Debug, Default)]
struct StreamState {
    recv: VecDeque<Bytes>,
    recv_len: usize,
    /// What `recv` costs the session's receive bound: payload plus per-message overhead.
    recv_cost: usize,
    read_end: Option<ReadEnd>,
    write_closed: Option<StreamError>,
    /// Whether we already sent an Error message for this stream (at most one is sent).
    sent_close: bool,
    /// The peer asked us to stop sending (Pause).
    peer_paused: bool,
    /// We asked the peer to stop sending.
    we_paused: bool,
    /// Payload bytes queued for the websocket and not yet handed to it.
    queued: usize,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

impl StreamState {
    fn wake_all(&mut self) {
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }
}

/// State of one stream shared between its handle and the session driver.
pub(crate) struct StreamShared {
    pub(crate) conn_id: i64,
    proto: String,
    address: String,
    session: Arc<Shared>,
    state: Mutex<StreamState>,
}

impl std::fmt::Debug for StreamShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamShared")
            .field("conn_id", &self.conn_id)
            .field("proto", &self.proto)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Drop for StreamShared {
    fn drop(&mut self) {
        // Unread data dies with the stream: give its share of the bound back.
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        self.session.release_held(std::mem::take(&mut st.recv_cost));
    }
}

impl StreamShared {
    pub(crate) fn new(conn_id: i64, proto: &str, address: &str, session: Arc<Shared>) -> Self {
        StreamShared {
            conn_id,
            proto: proto.to_owned(),
            address: address.to_owned(),
            session,
            state: Mutex::new(StreamState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, StreamState> {
        // A panic while holding this lock cannot leave the state torn in a way that matters
        // more than losing the stream, so recover the guard rather than propagate the poison.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stats(&self) -> &Stats {
        &self.session.stats
    }

    /// Driver: Data arrived for this stream. `Err` when the session's receive bound is broken
    /// (the session then ends).
    pub(crate) fn on_data(self: &Arc<Self>, payload: Bytes) -> Result<(), SessionError> {
        let n = payload.len();
        let cfg = &self.session.config;
        let mut st = self.lock();
        if st.read_end.is_some() {
            return Ok(());
        }
        Stats::add(&self.stats().bytes_received, n as u64);
        let mut session_full = false;
        if n > 0 {
            let cost = n + FRAME_OVERHEAD;
            st.recv.push_back(payload);
            st.recv_len += n;
            st.recv_cost += cost;
            session_full = self.session.hold(cost)?;
        }
        if st.recv_len > cfg.max_receive_buffer {
            let err = StreamError::Overflow(st.recv_len);
            tracing::warn!(
                conn_id = self.conn_id,
                unread = st.recv_len,
                "peer ignored Pause; closing tunnel stream"
            );
            // What is buffered will not be delivered: free it now.
            self.drop_received(&mut st);
            self.fail_locked(&mut st, err);
            drop(st);
            self.session.forget(self);
            return Ok(());
        }
        // Paused at the stream's own threshold, or at any level while the session as a whole
        // holds more than its bound.
        if (st.recv_len > cfg.pause_threshold || session_full) && !st.we_paused {
            st.we_paused = true;
            Stats::add(&self.stats().pauses_sent, 1);
            self.session
                .send_control(self.conn_id, MessageType::Pause, b"");
        }
        if let Some(w) = st.read_waker.take() {
            w.wake();
        }
        Ok(())
    }

    /// Frees what was received and not read, and its share of the session's bound.
    fn drop_received(&self, st: &mut StreamState) {
        st.recv.clear();
        st.recv_len = 0;
        self.session.release_held(std::mem::take(&mut st.recv_cost));
    }

    /// Driver: the peer paused or resumed this stream.
    pub(crate) fn on_pause(&self, paused: bool) {
        let mut st = self.lock();
        st.peer_paused = paused;
        if !paused && let Some(w) = st.write_waker.take() {
            w.wake();
        }
    }

    /// Driver: the peer closed this stream (Error message). Echo the close, as v0.3.0 does.
    pub(crate) fn on_remote_close(&self, payload: Bytes) {
        let text = String::from_utf8_lossy(&payload);
        let end = if text == wire::EOF_TEXT {
            ReadEnd::Eof
        } else {
            ReadEnd::Failed(StreamError::Remote(text.into_owned()))
        };
        let mut st = self.lock();
        if !st.sent_close {
            st.sent_close = true;
            self.session
                .send_ordered(self.conn_id, MessageType::Error, &payload, None);
        }
        if st.read_end.is_none() {
            st.read_end = Some(end);
        }
        if st.write_closed.is_none() {
            st.write_closed = Some(StreamError::Closed);
        }
        st.wake_all();
    }

    /// Driver: the session ended.
    pub(crate) fn on_session_end(&self, reason: &str) {
        let mut st = self.lock();
        st.sent_close = true;
        let err = StreamError::SessionClosed(reason.to_owned());
        if st.read_end.is_none() {
            st.read_end = Some(ReadEnd::Failed(err.clone()));
        }
        if st.write_closed.is_none() || st.write_closed == Some(StreamError::Closed) {
            st.write_closed = Some(err);
        }
        st.wake_all();
    }

    /// Driver: `n` queued payload bytes were handed to the websocket.
    pub(crate) fn release(&self, n: usize) {
        let mut st = self.lock();
        st.queued = st.queued.saturating_sub(n);
        if st.queued < self.session.config.send_window
            && let Some(w) = st.write_waker.take()
        {
            w.wake();
        }
    }

    fn peer_paused(&self) -> bool {
        self.lock().peer_paused
    }

    /// Close both directions with an error and tell the peer (once).
    fn fail_locked(&self, st: &mut StreamState, err: StreamError) {
        if !st.sent_close {
            st.sent_close = true;
            let text = err.to_string();
            self.session
                .send_ordered(self.conn_id, MessageType::Error, text.as_bytes(), None);
        }
        if st.read_end.is_none() {
            st.read_end = Some(ReadEnd::Failed(err.clone()));
        }
        if st.write_closed.is_none() {
            st.write_closed = Some(err);
        }
        st.wake_all();
    }

    /// Take the next received chunk, or learn why there is none.
    fn poll_chunk(&self, cx: Option<&mut Context<'_>>) -> Poll<io::Result<Option<Bytes>>> {
        let mut st = self.lock();
        if let Some(chunk) = st.recv.pop_front() {
            st.recv_len -= chunk.len();
            let cost = chunk.len() + FRAME_OVERHEAD;
            st.recv_cost -= cost;
            self.session.release_held(cost);
            if st.we_paused && st.recv_len < self.session.config.resume_threshold {
                st.we_paused = false;
                if st.read_end.is_none() {
                    Stats::add(&self.stats().resumes_sent, 1);
                    self.session
                        .send_control(self.conn_id, MessageType::Resume, b"");
                }
            }
            return Poll::Ready(Ok(Some(chunk)));
        }
        match &st.read_end {
            Some(ReadEnd::Eof) => Poll::Ready(Ok(None)),
            Some(ReadEnd::Failed(e)) => Poll::Ready(Err(e.clone().into_io())),
            None => {
                if let Some(cx) = cx {
                    st.read_waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    fn poll_write(
        self: &Arc<Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let cfg = &self.session.config;
        {
            let mut st = self.lock();
            if let Some(err) = &st.write_closed {
                return Poll::Ready(Err(err.clone().into_io()));
            }
            if st.peer_paused || st.queued >= cfg.send_window {
                st.write_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
        }
        // Encode outside the lock: the driver's reader never waits on this copy.
        let id = self.session.next_message_id();
        let limit = cfg.max_frame_payload.max(1);
        let (frame, n) = wire::encode_data_vectored(id, self.conn_id, bufs, limit);
        if n == 0 {
            return Poll::Ready(Ok(0));
        }
        let mut st = self.lock();
        if let Some(err) = &st.write_closed {
            return Poll::Ready(Err(err.clone().into_io()));
        }
        st.queued += n;
        // Queued under the stream lock so that a later close is ordered after this data.
        self.session
            .push_ordered(frame, Some((Arc::clone(self), n)));
        Poll::Ready(Ok(n))
    }

    fn shutdown(&self) {
        let mut st = self.lock();
        if st.write_closed.is_none() {
            st.write_closed = Some(StreamError::Closed);
        }
        if !st.sent_close {
            st.sent_close = true;
            self.session.send_ordered(
                self.conn_id,
                MessageType::Error,
                wire::EOF_TEXT.as_bytes(),
                None,
            );
        }
    }

    fn close_with_error(&self, err: StreamError) {
        let mut st = self.lock();
        self.fail_locked(&mut st, err);
    }
}

/// Owns a stream's registration: when the last half is dropped the stream is closed (Error
/// `EOF` if nothing was sent yet) and forgotten by the session.
struct StreamHandle {
    shared: Arc<StreamShared>,
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        self.shared.shutdown();
        self.shared.session.forget(&self.shared);
        Stats::add(&self.shared.stats().streams_closed, 1);
    }
}

/// A stream through the tunnel; see the [module docs](self) for its semantics.
#[derive(Debug)]
pub struct TunnelStream {
    read: TunnelReadHalf,
    write: TunnelWriteHalf,
}

/// The reading half of a [`TunnelStream`] (from [`TunnelStream::into_split`]).
pub struct TunnelReadHalf {
    handle: Arc<StreamHandle>,
    current: Bytes,
}

/// The writing half of a [`TunnelStream`] (from [`TunnelStream::into_split`]).
pub struct TunnelWriteHalf {
    handle: Arc<StreamHandle>,
}

impl std::fmt::Debug for TunnelReadHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelReadHalf")
            .field("conn_id", &self.handle.shared.conn_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TunnelWriteHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelWriteHalf")
            .field("conn_id", &self.handle.shared.conn_id)
            .finish_non_exhaustive()
    }
}

impl TunnelStream {
    pub(crate) fn new(shared: Arc<StreamShared>) -> Self {
        Stats::add(&shared.stats().streams_opened, 1);
        let handle = Arc::new(StreamHandle { shared });
        TunnelStream {
            read: TunnelReadHalf {
                handle: Arc::clone(&handle),
                current: Bytes::new(),
            },
            write: TunnelWriteHalf { handle },
        }
    }

    /// The remotedialer connection id of this stream.
    pub fn conn_id(&self) -> i64 {
        self.read.handle.shared.conn_id
    }

    /// The protocol the agent dials (`tcp`).
    pub fn proto(&self) -> &str {
        &self.read.handle.shared.proto
    }

    /// The address the agent dials (`host:port`).
    pub fn address(&self) -> &str {
        &self.read.handle.shared.address
    }

    /// Whether the peer has paused this stream (its reader fell behind): writes wait until it
    /// sends Resume.
    pub fn is_paused_by_peer(&self) -> bool {
        self.write.is_paused_by_peer()
    }

    /// Split into independently owned halves (no lock between them). The stream closes when
    /// both halves are dropped.
    pub fn into_split(self) -> (TunnelReadHalf, TunnelWriteHalf) {
        (self.read, self.write)
    }

    /// Close both directions and send the peer this error text instead of `EOF` (what
    /// remotedialer does when a dial or copy fails). Data already queued is sent first.
    pub fn close_with_error(&self, message: impl Into<String>) {
        self.write.close_with_error(message);
    }
}

impl TunnelWriteHalf {
    /// See [`TunnelStream::is_paused_by_peer`].
    pub fn is_paused_by_peer(&self) -> bool {
        self.handle.shared.peer_paused()
    }

    /// See [`TunnelStream::close_with_error`].
    pub fn close_with_error(&self, message: impl Into<String>) {
        self.handle
            .shared
            .close_with_error(StreamError::Local(message.into()));
    }
}

impl AsyncRead for TunnelReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.current.is_empty() {
            match this.handle.shared.poll_chunk(Some(cx)) {
                Poll::Ready(Ok(Some(chunk))) => this.current = chunk,
                Poll::Ready(Ok(None)) => return Poll::Ready(Ok(())),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        loop {
            let n = buf.remaining().min(this.current.len());
            buf.put_slice(&this.current[..n]);
            this.current.advance(n);
            if buf.remaining() == 0 {
                break;
            }
            // Fill the caller's buffer from further queued chunks without waiting; an end or
            // error stays recorded and is reported by the next call.
            match this.handle.shared.poll_chunk(None) {
                Poll::Ready(Ok(Some(chunk))) => this.current = chunk,
                _ => break,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncBufRead for TunnelReadHalf {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.current.is_empty() {
            match this.handle.shared.poll_chunk(Some(cx)) {
                Poll::Ready(Ok(Some(chunk))) => this.current = chunk,
                Poll::Ready(Ok(None)) => return Poll::Ready(Ok(&[])),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(&this.current))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        let amt = amt.min(this.current.len());
        this.current.advance(amt);
    }
}

impl AsyncWrite for TunnelWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.handle.shared.poll_write(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.handle.shared.poll_write(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Written data is already queued for the websocket, which the driver flushes as soon
        // as its queue runs empty.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.handle.shared.shutdown();
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for TunnelStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().read).poll_read(cx, buf)
    }
}

impl AsyncBufRead for TunnelStream {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        Pin::new(&mut self.get_mut().read).poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        Pin::new(&mut self.get_mut().read).consume(amt)
    }
}

impl AsyncWrite for TunnelStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().write).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().write).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().write).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().write).poll_shutdown(cx)
    }
}
