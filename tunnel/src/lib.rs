//! The websocket tunnel between clusternet-agent and clusternet-hub.
//!
//! Each child cluster's agent opens one outbound websocket to the hub (through the parent
//! apiserver's aggregator). Over it the hub opens many multiplexed streams towards the agent;
//! for each, the agent dials an address inside the child (usually its kube-apiserver) and pipes
//! bytes both ways. The hub runs HTTP/1.1, TLS, watches and upgraded exec/port-forward
//! connections over these streams.
//!
//! The wire protocol is rancher/remotedialer v0.3.0's, byte for byte, so a Rust hub serves Go
//! agents and a Rust agent works with a Go hub ([`wire`] has the format).
//!
//! * [`Session`] — one websocket, either role; [`SessionDriver`] is the future that runs it.
//! * [`TunnelStream`] — one stream: `AsyncRead + AsyncBufRead + AsyncWrite`, with per-stream
//!   flow control (Pause/Resume), so a paused `kubectl logs -f` never stalls the others.
//! * [`ConnectHandler`] — the agent's allow policy and [`Dialer`] for Connect requests.
//! * [`ConnectRequest`] / [`socket_url`] — the agent's websocket dial with bearer token and
//!   rustls; HTTP refusals become [`ConnectError::Http`].
//! * [`Stats`] — counters for streams, bytes, frames and back-pressure.
//!
//! # Hub side
//!
//! ```no_run
//! use clusternet_tunnel::{Session, SessionConfig, websocket_config};
//! use clusternet_tunnel::tokio_tungstenite::{WebSocketStream, tungstenite::protocol::Role};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # async fn hub(upgraded: tokio::net::TcpStream) -> Result<(), Box<dyn std::error::Error>> {
//! // `upgraded`: the connection after answering the agent's websocket upgrade with 101.
//! let ws = WebSocketStream::from_raw_socket(upgraded, Role::Server, Some(websocket_config())).await;
//! let (session, driver) = Session::server(ws, SessionConfig::server());
//! tokio::spawn(driver); // ends when the agent goes away; `session.closed().await` tells you
//!
//! // Any number of concurrent streams; each is a byte pipe to an address in the child.
//! let mut stream = session.dial("tcp", "127.0.0.1:6443")?;
//! stream.write_all(b"...").await?; // e.g. hand it to tokio-rustls + hyper instead
//! let mut buf = [0u8; 1024];
//! let n = stream.read(&mut buf).await?;
//! # let _ = n; Ok(()) }
//! ```
//!
//! # Agent side
//!
//! ```no_run
//! use std::sync::Arc;
//! use clusternet_tunnel::{socket_url, ConnectHandler, ConnectRequest, Session, SessionConfig};
//!
//! # async fn agent(tls: Arc<rustls::ClientConfig>, token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let url = socket_url("https://parent:6443", "my-cluster-id")?;
//! let ws = ConnectRequest::new(url).bearer_token(token)?.tls(tls).connect().await?;
//! let handler = ConnectHandler::new(|proto, addr| proto == "tcp" && addr == "127.0.0.1:6443");
//! let (_session, driver) = Session::client(ws, SessionConfig::client(), handler);
//! driver.await?; // serve until the tunnel drops, then reconnect
//! # Ok(()) }
//! ```

pub mod agent;
pub mod config;
pub mod connect;
pub mod session;
pub mod stats;
pub mod stream;
pub mod wire;

pub use agent::{BoxedIo, ConnectHandler, DialFuture, Dialer, Io, RefusalMode, TcpDialer};
pub use config::{SessionConfig, agent_websocket_config, websocket_config};
pub use connect::{ClientWebSocket, ConnectError, ConnectRequest, socket_url, watch_socket_url};
pub use session::{DialError, Role, Session, SessionDriver, SessionError};
pub use stats::{Stats, StatsSnapshot};
pub use stream::{StreamError, TunnelReadHalf, TunnelStream, TunnelWriteHalf};

/// The tokio-tungstenite this crate is built on, so callers build websockets of the same type.
pub use tokio_tungstenite;
