//! Throughput through the tunnel versus a direct TCP connection, over loopback.
//!
//! ```text
//! cargo run --release -p clusternet-tunnel --example throughput [MiB] [streams]
//! ```
//!
//! The hub and agent sessions talk over a real `ws://127.0.0.1` websocket; the agent dials a
//! local sink/source server. Both ends, the server and the measuring client share this one
//! process (and on a small machine, its few cores), so the ratio is a floor: in a deployment
//! the hub and the agent run on different machines. Also measured: a plain TCP relay with the
//! same two hops (caller → relay → target), which isolates the cost of the tunnel itself.
//! Prints MB/s; asserts nothing.

use std::time::{Duration, Instant};

use clusternet_tunnel::{ConnectHandler, ConnectRequest, Session, SessionConfig, websocket_config};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CHUNK: usize = 256 * 1024;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);
    let streams: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let total = mib << 20;

    let sink = sink_server(total / streams).await?;
    let source = source_server(total / streams).await?;
    let (hub, _agent) = tunnel().await?;
    let sink_relay = relay(sink).await?;
    let source_relay = relay(source).await?;

    println!("{mib} MiB over {streams} stream(s), loopback");
    for _ in 0..2 {
        // Upload: towards the agent's target (hub writes, unmasked server frames).
        let direct = measure(total, streams, || tcp(sink), Direction::Write).await?;
        let relayed = measure(total, streams, || tcp(sink_relay), Direction::Write).await?;
        let tunneled = measure(total, streams, || dial(&hub, sink), Direction::Write).await?;
        report("hub → agent target", direct, relayed, tunneled, total);

        // Download: from the agent's target (a large LIST, a log stream; masked frames).
        let direct = measure(total, streams, || tcp(source), Direction::Read).await?;
        let relayed = measure(total, streams, || tcp(source_relay), Direction::Read).await?;
        let tunneled = measure(total, streams, || dial(&hub, source), Direction::Read).await?;
        report("agent target → hub", direct, relayed, tunneled, total);
    }
    Ok(())
}

fn report(what: &str, direct: Duration, relayed: Duration, tunneled: Duration, total: usize) {
    let mbs = |d: Duration| total as f64 / 1e6 / d.as_secs_f64();
    println!(
        "{what:>20}: direct {:7.0} MB/s | TCP relay {:7.0} MB/s | tunnel {:7.0} MB/s = {:3.0} % of direct, {:3.0} % of relay",
        mbs(direct),
        mbs(relayed),
        mbs(tunneled),
        100.0 * mbs(tunneled) / mbs(direct),
        100.0 * mbs(tunneled) / mbs(relayed),
    );
}

async fn dial(
    hub: &Session,
    addr: std::net::SocketAddr,
) -> Result<clusternet_tunnel::TunnelStream, Box<dyn std::error::Error>> {
    Ok(hub.dial("tcp", &addr.to_string())?)
}

async fn tcp(addr: std::net::SocketAddr) -> Result<TcpStream, Box<dyn std::error::Error>> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// A plain userspace TCP relay: the same two hops as the tunnel (caller → agent → target),
/// without the websocket and multiplexing, to show what the tunnel itself costs.
async fn relay(target: std::net::SocketAddr) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = client.set_nodelay(true);
                if let Ok(mut upstream) = TcpStream::connect(target).await {
                    let _ = upstream.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional_with_sizes(
                        &mut client,
                        &mut upstream,
                        CHUNK,
                        CHUNK,
                    )
                    .await;
                }
            });
        }
    });
    Ok(addr)
}

#[derive(Clone, Copy)]
enum Direction {
    Write,
    Read,
}

async fn measure<F, Fut, S>(
    total: usize,
    streams: usize,
    open: F,
    dir: Direction,
) -> Result<Duration, Box<dyn std::error::Error>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<S, Box<dyn std::error::Error>>>,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let per = total / streams;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let mut s = open().await?;
        tasks.push(tokio::spawn(async move {
            match dir {
                Direction::Write => {
                    let buf = vec![0xa5u8; CHUNK];
                    let mut left = per;
                    while left > 0 {
                        let n = left.min(CHUNK);
                        s.write_all(&buf[..n]).await?;
                        left -= n;
                    }
                    // The sink acknowledges the byte count once it has read everything.
                    let mut ack = [0u8; 8];
                    s.read_exact(&mut ack).await?;
                    assert_eq!(u64::from_le_bytes(ack), per as u64);
                }
                Direction::Read => {
                    let mut buf = vec![0u8; CHUNK];
                    let mut got = 0;
                    while got < per {
                        let n = s.read(&mut buf).await?;
                        if n == 0 {
                            break;
                        }
                        got += n;
                    }
                    assert_eq!(got, per);
                }
            }
            Ok::<_, std::io::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(start.elapsed())
}

/// Reads `per` bytes from each connection, then answers with the count (so the writer's
/// clock stops when the data has really arrived, not when it was buffered).
async fn sink_server(per: usize) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let _ = sock.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; CHUNK];
                let mut total = 0usize;
                while total < per {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => total += n,
                    }
                }
                let _ = sock.write_all(&(total as u64).to_le_bytes()).await;
            });
        }
    });
    Ok(addr)
}

/// Sends `per` bytes to each connection, then closes it.
async fn source_server(per: usize) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let _ = sock.set_nodelay(true);
            tokio::spawn(async move {
                let buf = vec![0x5au8; CHUNK];
                let mut left = per;
                while left > 0 {
                    let n = left.min(CHUNK);
                    if sock.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    left -= n;
                }
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok(addr)
}

/// Session settings, with `FRAME_KIB` / `WINDOW_KIB` from the environment for experiments.
fn config(base: SessionConfig) -> SessionConfig {
    let kib = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
    };
    let mut cfg = base;
    if let Some(k) = kib("FRAME_KIB") {
        cfg.max_frame_payload = k * 1024;
    }
    if let Some(k) = kib("WINDOW_KIB") {
        cfg.send_window = k * 1024;
    }
    cfg
}

/// A hub and an agent session over a real loopback websocket.
async fn tunnel() -> Result<(Session, Session), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let accept = tokio::spawn(async move {
        let (sock, _) = listener.accept().await?;
        sock.set_nodelay(true)?;
        let ws = tokio_tungstenite::accept_async_with_config(sock, Some(websocket_config()))
            .await
            .map_err(std::io::Error::other)?;
        let (hub, driver) = Session::server(ws, config(SessionConfig::server()));
        tokio::spawn(driver);
        Ok::<_, std::io::Error>(hub)
    });
    let ws = ConnectRequest::new(format!("ws://{addr}/tunnel"))
        .connect()
        .await?;
    let (agent, driver) = Session::client(
        ws,
        config(SessionConfig::client()),
        ConnectHandler::allow_all(),
    );
    tokio::spawn(driver);
    Ok((accept.await??, agent))
}
