//! The agent (client) side of Connect: which targets may be dialed, how, and the byte pipe.
//!
//! When the hub sends Connect `"<proto>/<address>"`, the session asks the
//! [`ConnectHandler`]'s allow policy. If allowed, it dials with the handler's [`Dialer`] (by
//! default [`TcpDialer`]) and copies bytes both ways until either side ends, like remotedialer's
//! `clientDial` + `pipe`: a dial error is sent to the hub as the stream's Error text, the end of
//! the target's output is sent as `EOF`, and the hub's close closes the target connection.
//!
//! A refused target is answered with Error `connect not allowed` on that stream only
//! ([`RefusalMode::ErrorStream`], the default). remotedialer v0.3.0 itself ends the *whole*
//! session on a refusal; [`RefusalMode::CloseSession`] does exactly that, for anyone who needs
//! the identical behaviour. The default is kinder: one disallowed request cannot disconnect a
//! cluster, and a Go hub handles either answer.
//!
//! ```
//! use clusternet_tunnel::{ConnectHandler, TcpDialer};
//! use std::time::Duration;
//!
//! // Only the child's own apiserver is reachable through this agent.
//! let handler = ConnectHandler::new(|proto, address| proto == "tcp" && address == "127.0.0.1:6443")
//!     .with_dialer(TcpDialer::new(Duration::from_secs(10)));
//! assert!(handler.allows("tcp", "127.0.0.1:6443"));
//! assert!(!handler.allows("tcp", "10.0.0.1:22"));
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::stats::Stats;
use crate::stream::TunnelStream;

/// Anything a dialer can return: a bidirectional byte stream.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A dialed connection.
pub type BoxedIo = Box<dyn Io>;

/// The future a [`Dialer`] returns.
pub type DialFuture<'a> = Pin<Box<dyn Future<Output = io::Result<BoxedIo>> + Send + 'a>>;

/// Opens the connection for a Connect request on the agent.
///
/// ```
/// use clusternet_tunnel::{BoxedIo, DialFuture, Dialer};
///
/// /// Serves every Connect from an in-memory pipe (for tests).
/// struct Loopback;
///
/// impl Dialer for Loopback {
///     fn dial<'a>(&'a self, _proto: &'a str, _address: &'a str) -> DialFuture<'a> {
///         Box::pin(async {
///             let (near, _far) = tokio::io::duplex(1024);
///             Ok(Box::new(near) as BoxedIo)
///         })
///     }
/// }
/// ```
pub trait Dialer: Send + Sync + 'static {
    /// Dial `address` over `proto` (`tcp`, `tcp4`, `tcp6`, `unix`, ...).
    fn dial<'a>(&'a self, proto: &'a str, address: &'a str) -> DialFuture<'a>;
}

/// The default dialer: TCP (and Unix sockets) with a connect timeout, `TCP_NODELAY` on.
#[derive(Debug, Clone)]
pub struct TcpDialer {
    connect_timeout: Duration,
}

impl TcpDialer {
    /// A dialer giving up on a connect after `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Self {
        TcpDialer { connect_timeout }
    }
}

impl Default for TcpDialer {
    /// 30 s connect timeout.
    fn default() -> Self {
        TcpDialer::new(Duration::from_secs(30))
    }
}

impl Dialer for TcpDialer {
    fn dial<'a>(&'a self, proto: &'a str, address: &'a str) -> DialFuture<'a> {
        Box::pin(async move {
            let connect = async {
                match proto {
                    "tcp" | "tcp4" | "tcp6" => {
                        let stream = tokio::net::TcpStream::connect(address).await?;
                        // Interactive traffic (exec, watch events) must not wait for Nagle.
                        stream.set_nodelay(true)?;
                        Ok(Box::new(stream) as BoxedIo)
                    }
                    #[cfg(unix)]
                    "unix" => {
                        let stream = tokio::net::UnixStream::connect(address).await?;
                        Ok(Box::new(stream) as BoxedIo)
                    }
                    other => Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        format!("unknown network {other}"),
                    )),
                }
            };
            match tokio::time::timeout(self.connect_timeout, connect).await {
                Ok(result) => result,
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "i/o timeout")),
            }
        })
    }
}

/// What to do when the allow policy refuses a Connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefusalMode {
    /// Answer that stream with Error `connect not allowed`; the session carries on.
    #[default]
    ErrorStream,
    /// End the whole session, exactly as remotedialer v0.3.0 does.
    CloseSession,
}

type AllowFn = dyn Fn(&str, &str) -> bool + Send + Sync;

/// How the agent serves Connect requests: allow policy, dialer, refusal mode.
#[derive(Clone)]
pub struct ConnectHandler {
    allow: Arc<AllowFn>,
    dialer: Arc<dyn Dialer>,
    refusal: RefusalMode,
    dial_timeout: Duration,
}

impl fmt::Debug for ConnectHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectHandler")
            .field("refusal", &self.refusal)
            .field("dial_timeout", &self.dial_timeout)
            .finish_non_exhaustive()
    }
}

impl ConnectHandler {
    /// Serve Connect requests for which `allow(proto, address)` is true, with [`TcpDialer`].
    pub fn new(allow: impl Fn(&str, &str) -> bool + Send + Sync + 'static) -> Self {
        ConnectHandler {
            allow: Arc::new(allow),
            dialer: Arc::new(TcpDialer::default()),
            refusal: RefusalMode::default(),
            // remotedialer `clientDial`: `context.WithDeadline(ctx, time.Now().Add(time.Minute))`.
            dial_timeout: Duration::from_secs(60),
        }
    }

    /// Allow every target, as Clusternet's agent does (`func(string, string) bool { return true }`).
    pub fn allow_all() -> Self {
        Self::new(|_, _| true)
    }

    /// Dial with `dialer` instead of [`TcpDialer`].
    pub fn with_dialer(mut self, dialer: impl Dialer) -> Self {
        self.dialer = Arc::new(dialer);
        self
    }

    /// Answer refusals this way.
    pub fn with_refusal_mode(mut self, mode: RefusalMode) -> Self {
        self.refusal = mode;
        self
    }

    /// Give up on any dial after this long (default 60 s, as remotedialer).
    pub fn with_dial_timeout(mut self, timeout: Duration) -> Self {
        self.dial_timeout = timeout;
        self
    }

    /// Whether the policy allows dialing `address` over `proto`.
    pub fn allows(&self, proto: &str, address: &str) -> bool {
        (self.allow)(proto, address)
    }

    /// How refusals are answered.
    pub fn refusal_mode(&self) -> RefusalMode {
        self.refusal
    }
}

/// Dial the target of an accepted Connect and pipe it to the stream.
pub(crate) async fn serve_connect(
    handler: Arc<ConnectHandler>,
    stream: TunnelStream,
    session_ended: CancellationToken,
    stats: Arc<Stats>,
) {
    let proto = stream.proto().to_owned();
    let address = stream.address().to_owned();
    let dialed = tokio::select! {
        r = tokio::time::timeout(handler.dial_timeout, handler.dialer.dial(&proto, &address)) => r,
        _ = session_ended.cancelled() => return,
    };
    let target = match dialed {
        Ok(Ok(target)) => target,
        Ok(Err(e)) => {
            Stats::add(&stats.dials_failed, 1);
            tracing::debug!(%proto, %address, error = %e, "tunnel dial failed");
            // The text the hub sees, shaped like Go's `dial tcp 1.2.3.4:5: connect: ...`.
            stream.close_with_error(format!("dial {proto} {address}: {e}"));
            return;
        }
        Err(_) => {
            Stats::add(&stats.dials_failed, 1);
            stream.close_with_error(format!("dial {proto} {address}: i/o timeout"));
            return;
        }
    };
    tokio::select! {
        _ = pipe(stream, target) => {}
        _ = session_ended.cancelled() => {}
    }
}

/// Copy both ways until either direction ends, then close both (remotedialer `pipe`).
async fn pipe(stream: TunnelStream, target: BoxedIo) {
    let (mut from_hub, mut to_hub) = stream.into_split();
    let (mut from_target, mut to_target) = tokio::io::split(target);

    let upstream = async {
        // Read the target in large chunks: each read becomes one Data message.
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = from_target.read(&mut buf).await?;
            if n == 0 {
                return Ok::<(), io::Error>(());
            }
            to_hub.write_all(&buf[..n]).await?;
        }
    };
    let downstream = async {
        // Zero-copy: the received websocket payloads are written to the target as they are.
        tokio::io::copy_buf(&mut from_hub, &mut to_target).await?;
        to_target.shutdown().await
    };

    tokio::select! {
        r = upstream => match r {
            Ok(()) => {
                let _ = to_hub.shutdown().await;
            }
            Err(e) => to_hub.close_with_error(e.to_string()),
        },
        _ = downstream => {
            // The hub closed the stream (or it failed); the tunnel side is already done.
        }
    }
}
