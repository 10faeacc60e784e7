//! Interoperability with Go: a Rust agent against a Go rancher/remotedialer v0.3.0 hub, and a
//! Rust hub against a Go remotedialer v0.3.0 agent (the library Go Clusternet uses on both
//! ends). The Go side is `tunnel/interop` (a Go module depending on remotedialer through its
//! go.mod). Skipped when `go` is not on PATH.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// tungstenite's handshake callback returns `Result<Response, ErrorResponse>`.
#![allow(clippy::result_large_err)]

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use clusternet_tunnel::{ConnectHandler, ConnectRequest, Session, SessionConfig, Stats};
use common::*;
use futures::FutureExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

/// Build the Go peer once per test binary; `None` when Go is not installed.
fn go_peer() -> Option<PathBuf> {
    static PEER: OnceLock<Option<PathBuf>> = OnceLock::new();
    PEER.get_or_init(|| {
        if std::process::Command::new("go")
            .arg("version")
            .output()
            .is_err()
        {
            eprintln!("skipping Go interop tests: `go` is not on PATH");
            return None;
        }
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rdpeer");
        let status = std::process::Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg(".")
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/interop"))
            .env("GOFLAGS", "-mod=mod -buildvcs=false")
            .status()
            .expect("run go build");
        assert!(status.success(), "building the Go interop peer failed");
        Some(out)
    })
    .clone()
}

/// Spawn the Go peer; it dies with the test even if the test fails.
fn spawn_peer(peer: &PathBuf, args: &[String]) -> Child {
    Command::new(peer)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn Go peer")
}

/// Collect a child's stderr (remotedialer's logs) for failure messages.
fn collect_stderr(child: &mut Child) -> tokio::task::JoinHandle<String> {
    let mut stderr = child.stderr.take().expect("piped stderr");
    tokio::spawn(async move {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s).await;
        s
    })
}

async fn listen_echo() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(echo(sock));
        }
    });
    addr
}

fn closed_port() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
    // dropped here: nobody listens on it any more
}

/// Go remotedialer v0.3.0 hub, Rust agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_agent_with_go_hub() {
    let Some(peer) = go_peer() else { return };
    tokio::time::timeout(Duration::from_secs(180), async {
        let echo_addr = listen_echo().await;
        // Sends 16 MiB the moment it is connected; the Go hub leaves it unread for a while.
        let slow = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let slow_addr = slow.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = slow.accept().await {
                tokio::spawn(async move {
                    let data: Vec<u8> = (0..16usize << 20).map(|i| ((i * 7) as u8) ^ 42).collect();
                    let _ = sock.write_all(&data).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        let closed = closed_port();
        let denied = "127.0.0.1:9";

        let mut child = spawn_peer(
            &peer,
            &[
                "hub".into(),
                format!("-echo={echo_addr}"),
                format!("-slow={slow_addr}"),
                format!("-closed={closed}"),
                format!("-denied={denied}"),
            ],
        );
        let stderr = collect_stderr(&mut child);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next_line().await.unwrap().unwrap();
        let addr = first
            .strip_prefix("LISTEN ")
            .expect("LISTEN line")
            .to_owned();

        // Wrong token: the Go server's 401 and its body come back as a clear error.
        let err = ConnectRequest::new(format!("ws://{addr}/connect/cluster-1"))
            .bearer_token("wrong")
            .unwrap()
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(http::StatusCode::UNAUTHORIZED));
        assert!(err.to_string().contains("failed authentication"), "{err}");

        let ws = ConnectRequest::new(format!("ws://{addr}/connect/cluster-1"))
            .bearer_token("interop-token")
            .unwrap()
            .connect()
            .await
            .unwrap();
        let stats = Arc::new(Stats::default());
        let handler = ConnectHandler::new(move |proto, a| proto == "tcp" && a != denied);
        let (agent, driver) = Session::client(
            ws,
            SessionConfig::client().with_stats(Arc::clone(&stats)),
            handler,
        );
        let driver = tokio::spawn(driver);

        let verdict = lines.next_line().await.unwrap().unwrap_or_default();
        let status = child.wait().await.unwrap();
        let logs = stderr.await.unwrap();
        assert_eq!(verdict, "OK", "Go hub reported failure; its log:\n{logs}");
        assert!(status.success());

        let snap = stats.snapshot();
        assert!(
            snap.pauses_received >= 1,
            "the Go hub never paused us: {snap:?}"
        );
        assert!(snap.resumes_received >= 1, "{snap:?}");
        assert_eq!(snap.connects_refused, 1);
        assert!(snap.dials_failed >= 1);
        // The hub process is gone: the agent's session ends.
        agent.closed().await;
        let _ = driver.await;
    })
    .await
    .expect("interop test timed out");
}

/// Rust hub, Go remotedialer v0.3.0 agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_hub_with_go_agent() {
    let Some(peer) = go_peer() else { return };
    tokio::time::timeout(Duration::from_secs(180), async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut sessions) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let check =
                        |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                            let auth = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok());
                            if auth == Some("Bearer interop-token") {
                                Ok(resp)
                            } else {
                                let mut e = ErrorResponse::new(Some("unauthorized".into()));
                                *e.status_mut() = http::StatusCode::UNAUTHORIZED;
                                Err(e)
                            }
                        };
                    if let Ok(ws) = tokio_tungstenite::accept_hdr_async_with_config(
                        sock,
                        check,
                        Some(clusternet_tunnel::websocket_config()),
                    )
                    .await
                    {
                        let (hub, driver) = Session::server(ws, SessionConfig::server());
                        let _ = tx.send((hub, tokio::spawn(driver)));
                    }
                });
            }
        });

        let mut child = spawn_peer(
            &peer,
            &[
                "agent".into(),
                format!("-url=ws://{addr}/connect/cluster-1"),
            ],
        );
        let stderr = collect_stderr(&mut child);
        let (hub, hub_driver) = sessions.recv().await.unwrap();
        let echo_addr = listen_echo().await.to_string();

        // 1. Many concurrent streams through the Go agent.
        let mut tasks = Vec::new();
        for i in 0..32u64 {
            let hub = hub.clone();
            let echo_addr = echo_addr.clone();
            tasks.push(tokio::spawn(async move {
                round_trip(&hub, &echo_addr, 1000 + 30011 * i as usize, i).await
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }

        // 2. Bulk both ways at once, on two streams. (Not one echo stream: remotedialer
        // v0.3.0 shares one `paused` flag between "I paused my peer" and "my peer paused me",
        // so a Go agent whose receive buffer passes 2 MiB also stops its own writes on that
        // stream; with an echo service behind it that deadlocks, Go hub or not.)
        const BULK: usize = 32 << 20;
        let source = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let source_addr = source.local_addr().unwrap();
        let source_task = tokio::spawn(async move {
            let (mut sock, _) = source.accept().await.unwrap();
            let sum = write_data(&mut sock, BULK, 11).await.unwrap();
            sock.shutdown().await.unwrap();
            sum
        });
        let sink = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink_addr = sink.local_addr().unwrap();
        let sink_task = tokio::spawn(async move {
            let (mut sock, _) = sink.accept().await.unwrap();
            read_data(&mut sock, BULK).await.unwrap()
        });
        let mut down = hub.dial("tcp", &source_addr.to_string()).unwrap();
        let mut up = hub.dial("tcp", &sink_addr.to_string()).unwrap();
        let (got, sent) = tokio::join!(
            async { read_data(&mut down, usize::MAX).await.unwrap() },
            async { write_data(&mut up, BULK, 12).await.unwrap() }
        );
        assert_eq!(got, (BULK, source_task.await.unwrap()));
        assert_eq!(sink_task.await.unwrap(), (BULK, sent));
        drop((down, up));

        // 3. The Go agent pauses us when its target does not read; other streams go on.
        const BIG: usize = 64 << 20;
        let sink = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink_addr = sink.local_addr().unwrap();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let sink_task = tokio::spawn(async move {
            let (mut sock, _) = sink.accept().await.unwrap();
            let _ = release_rx.await;
            read_data(&mut sock, BIG).await.unwrap()
        });
        let chunk = data(1 << 20, 5);
        let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
        let mut sent = 0usize;
        let mut big = hub.dial("tcp", &sink_addr.to_string()).unwrap();
        let hub_stats = Arc::clone(hub.stats());
        // Write until the Go agent pauses us, then check that writes really wait.
        loop {
            assert!(
                sent < BIG,
                "wrote {sent} bytes and the Go agent never paused us"
            );
            let resumes = hub_stats.snapshot().resumes_received;
            if big.is_paused_by_peer() {
                match big.write(&chunk).now_or_never() {
                    None => break,
                    Some(n) => {
                        // Only fine if the Go agent resumed us in between.
                        assert!(
                            hub_stats.snapshot().resumes_received > resumes,
                            "a write went through while paused"
                        );
                        let n = n.unwrap();
                        sha2::Digest::update(&mut hasher, &chunk[..n]);
                        sent += n;
                        continue;
                    }
                }
            }
            tokio::select! {
                n = big.write(&chunk) => {
                    let n = n.unwrap();
                    sha2::Digest::update(&mut hasher, &chunk[..n]);
                    sent += n;
                }
                // A write blocked by the pause would never finish: look at the flag again.
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
        }
        assert!(hub_stats.snapshot().pauses_received >= 1);
        // Other streams flow while this one is paused.
        round_trip(&hub, &echo_addr, 1 << 20, 3).await;
        release_tx.send(()).unwrap();
        while sent < BIG {
            let n = (BIG - sent).min(chunk.len());
            big.write_all(&chunk[..n]).await.unwrap();
            sha2::Digest::update(&mut hasher, &chunk[..n]);
            sent += n;
        }
        let sent_sum = sha2::Digest::finalize(hasher).to_vec();
        let (got_len, got_sum) = sink_task.await.unwrap();
        assert_eq!(got_len, BIG);
        assert_eq!(got_sum, sent_sum);
        assert!(hub_stats.snapshot().resumes_received >= 1);
        drop(big);

        // 4. A dial error on the Go agent surfaces on our stream, with Go's text.
        let closed = closed_port();
        let mut s = hub.dial("tcp", &closed.to_string()).unwrap();
        let err = s.read(&mut [0u8; 1]).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            err.to_string(),
            format!("dial tcp {closed}: connect: connection refused")
        );

        // 5. Graceful close from the far end: data, then EOF.
        let bye = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bye_addr = bye.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = bye.accept().await.unwrap();
            sock.write_all(b"bye").await.unwrap();
            sock.shutdown().await.unwrap();
        });
        let mut s = hub.dial("tcp", &bye_addr.to_string()).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");
        drop(s);

        // 6. Closing the session disconnects the Go agent.
        hub.close();
        assert!(hub_driver.await.unwrap().is_ok());
        let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .expect("Go agent did not notice the close")
            .unwrap();
        let logs = stderr.await.unwrap();
        assert!(status.code().is_some(), "Go agent crashed; log:\n{logs}");
    })
    .await
    .expect("interop test timed out");
}

async fn round_trip(hub: &Session, addr: &str, len: usize, seed: u64) {
    let mut s = hub.dial("tcp", addr).unwrap();
    let payload = data(len, seed);
    let (mut r, mut w) = tokio::io::split(&mut s);
    let (_, got) = tokio::join!(async { w.write_all(&payload).await.unwrap() }, async {
        let mut got = vec![0u8; len];
        r.read_exact(&mut got).await.unwrap();
        got
    });
    assert!(got == payload, "echo of {len} bytes corrupted");
}
