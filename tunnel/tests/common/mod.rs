//! Shared helpers for the tunnel integration tests: in-memory websocket pairs, an in-memory
//! dialer whose "services" the test drives, deterministic data and checksums.
#![allow(dead_code)]

use std::time::Duration;

use clusternet_tunnel::tokio_tungstenite::WebSocketStream;
use clusternet_tunnel::tokio_tungstenite::tungstenite::protocol::Role;
use clusternet_tunnel::{
    BoxedIo, ConnectHandler, DialFuture, Dialer, Session, SessionConfig, SessionError,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A websocket pair over an in-memory pipe: (server end, client end).
pub async fn ws_pair() -> (WebSocketStream<DuplexStream>, WebSocketStream<DuplexStream>) {
    let (a, b) = tokio::io::duplex(256 * 1024);
    let server = WebSocketStream::from_raw_socket(
        a,
        Role::Server,
        Some(clusternet_tunnel::websocket_config()),
    )
    .await;
    let client = WebSocketStream::from_raw_socket(
        b,
        Role::Client,
        Some(clusternet_tunnel::agent_websocket_config()),
    )
    .await;
    (server, client)
}

/// A running hub/agent pair.
pub struct Pair {
    pub hub: Session,
    pub agent: Session,
    pub hub_driver: JoinHandle<Result<(), SessionError>>,
    pub agent_driver: JoinHandle<Result<(), SessionError>>,
}

pub async fn pair(handler: ConnectHandler) -> Pair {
    pair_with(SessionConfig::server(), SessionConfig::client(), handler).await
}

pub async fn pair_with(
    hub_cfg: SessionConfig,
    agent_cfg: SessionConfig,
    handler: ConnectHandler,
) -> Pair {
    let (server_ws, client_ws) = ws_pair().await;
    let (hub, hub_driver) = Session::server(server_ws, hub_cfg);
    let (agent, agent_driver) = Session::client(client_ws, agent_cfg, handler);
    Pair {
        hub,
        agent,
        hub_driver: tokio::spawn(hub_driver),
        agent_driver: tokio::spawn(agent_driver),
    }
}

/// A dialer that hands the far end of each dialed in-memory pipe to the test.
pub struct MemDialer {
    tx: mpsc::UnboundedSender<(String, DuplexStream)>,
    buffer: usize,
}

impl MemDialer {
    pub fn new(buffer: usize) -> (Self, mpsc::UnboundedReceiver<(String, DuplexStream)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (MemDialer { tx, buffer }, rx)
    }
}

impl Dialer for MemDialer {
    fn dial<'a>(&'a self, _proto: &'a str, address: &'a str) -> DialFuture<'a> {
        Box::pin(async move {
            let (near, far) = tokio::io::duplex(self.buffer);
            self.tx
                .send((address.to_owned(), far))
                .map_err(|_| std::io::Error::other("test gone"))?;
            Ok(Box::new(near) as BoxedIo)
        })
    }
}

/// Services that answer every in-memory dial by address: `echo...` echoes until EOF.
pub fn serve_echo(mut rx: mpsc::UnboundedReceiver<(String, DuplexStream)>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some((_addr, io)) = rx.recv().await {
            tokio::spawn(echo(io));
        }
    })
}

pub async fn echo<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(io: T) {
    let (mut r, mut w) = tokio::io::split(io);
    let _ = tokio::io::copy(&mut r, &mut w).await;
    let _ = w.shutdown().await;
}

/// Deterministic pseudo-random bytes (xorshift), different per seed.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn sha(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// Write `len` pseudo-random bytes in chunks, returning their checksum.
pub async fn write_data<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    len: usize,
    seed: u64,
) -> std::io::Result<Vec<u8>> {
    let mut hasher = Sha256::new();
    let mut left = len;
    let mut chunk_no = seed;
    while left > 0 {
        let n = left.min(256 * 1024);
        let chunk = data(n, chunk_no);
        chunk_no += 1;
        hasher.update(&chunk);
        w.write_all(&chunk).await?;
        left -= n;
    }
    Ok(hasher.finalize().to_vec())
}

/// Read up to `limit` bytes (stopping early at EOF), returning (length, checksum).
pub async fn read_data<R: tokio::io::AsyncRead + Unpin>(
    r: &mut R,
    limit: usize,
) -> std::io::Result<(usize, Vec<u8>)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 128 * 1024];
    let mut total = 0;
    while total < limit {
        let want = buf.len().min(limit - total);
        let n = r.read(&mut buf[..want]).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n;
    }
    Ok((total, hasher.finalize().to_vec()))
}

/// Wait (bounded) until `cond` holds; the bound only guards against hangs.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

pub fn stream_error(e: &std::io::Error) -> Option<&clusternet_tunnel::StreamError> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<clusternet_tunnel::StreamError>())
}

pub fn handler_with(dialer: MemDialer) -> ConnectHandler {
    ConnectHandler::allow_all().with_dialer(dialer)
}
