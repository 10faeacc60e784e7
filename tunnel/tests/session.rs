//! End-to-end tests of a Rust hub and a Rust agent over an in-memory websocket.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use clusternet_tunnel::{
    ConnectHandler, DialError, RefusalMode, Session, SessionConfig, SessionError, StreamError,
};
use common::*;
use futures::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_streams() {
    let (dialer, rx) = MemDialer::new(64 * 1024);
    serve_echo(rx);
    let p = pair(handler_with(dialer)).await;

    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let mut stream = p.hub.dial("tcp", &format!("echo-{i}:80")).unwrap();
        tasks.push(tokio::spawn(async move {
            let len = 1000 + (i as usize) * 997;
            let payload = data(len, i);
            // remotedialer has no half-close (a close ends both directions), so read the
            // whole echo before closing.
            let (mut r, mut w) = tokio::io::split(&mut stream);
            let writer = async { w.write_all(&payload).await.unwrap() };
            let reader = async {
                let mut got = vec![0u8; payload.len()];
                r.read_exact(&mut got).await.unwrap();
                got
            };
            let ((), got) = tokio::join!(writer, reader);
            assert!(got == payload, "stream {i} corrupted");
            stream.shutdown().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let hub = p.hub.stats().snapshot();
    assert_eq!(hub.streams_opened, 200);
    eventually("streams to be forgotten", || {
        p.hub.stream_count() == 0 && p.agent.stream_count() == 0
    })
    .await;
    assert_eq!(p.hub.stats().snapshot().active_streams(), 0);
    eventually("agent streams to close", || {
        p.agent.stats().snapshot().active_streams() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_64_mib_both_ways() {
    const LEN: usize = 64 << 20;
    let (dialer, mut rx) = MemDialer::new(256 * 1024);
    let p = pair(handler_with(dialer)).await;

    let stream = p.hub.dial("tcp", "bulk:1").unwrap();
    let (_addr, service) = rx.recv().await.unwrap();

    // The service sends LEN bytes and checks LEN bytes, at the same time.
    let service_task = tokio::spawn(async move {
        let (mut r, mut w) = tokio::io::split(service);
        let send = async { write_data(&mut w, LEN, 1000).await.unwrap() };
        let recv = async { read_data(&mut r, LEN).await.unwrap() };
        let (sent, got) = tokio::join!(send, recv);
        // Both directions done: now the service may close, and the hub sees EOF.
        w.shutdown().await.unwrap();
        (sent, got)
    });

    let (mut r, mut w) = stream.into_split();
    let send = async { write_data(&mut w, LEN, 2000).await.unwrap() };
    let recv = async { read_data(&mut r, LEN).await.unwrap() };
    let (hub_sent, (hub_got_len, hub_got)) = tokio::join!(send, recv);
    let (service_sent, (service_got_len, service_got)) = service_task.await.unwrap();
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());

    assert_eq!(hub_got_len, LEN);
    assert_eq!(service_got_len, LEN);
    assert_eq!(hub_got, service_sent, "agent→hub data corrupted");
    assert_eq!(service_got, hub_sent, "hub→agent data corrupted");
    let hub = p.hub.stats().snapshot();
    assert_eq!(hub.bytes_sent, LEN as u64);
    assert_eq!(hub.bytes_received, LEN as u64);
}

/// A stream whose reader stops must pause only itself: a second stream on the same websocket
/// completes a full round trip while the first is still held back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_reader_does_not_stall_other_streams() {
    const BIG: usize = 64 << 20;
    let (dialer, mut rx) = MemDialer::new(64 * 1024);
    let p = pair(handler_with(dialer)).await;

    let mut slow = p.hub.dial("tcp", "logs:1").unwrap();
    let (_, slow_service) = rx.recv().await.unwrap();
    let produced = Arc::new(AtomicUsize::new(0));
    let producer_done = Arc::new(AtomicBool::new(false));
    let producer = {
        let produced = Arc::clone(&produced);
        let done = Arc::clone(&producer_done);
        tokio::spawn(async move {
            let mut w = slow_service;
            let chunk = data(64 * 1024, 7);
            let mut sent = 0;
            while sent < BIG {
                w.write_all(&chunk).await.unwrap();
                sent += chunk.len();
                produced.store(sent, Ordering::SeqCst);
            }
            w.shutdown().await.unwrap();
            done.store(true, Ordering::SeqCst);
        })
    };

    // Nobody reads `slow`: the hub pauses it once 2 MiB are buffered.
    let hub_stats = Arc::clone(p.hub.stats());
    eventually("the hub to pause the slow stream", || {
        hub_stats.snapshot().pauses_sent >= 1
    })
    .await;

    // A second stream does a full 4 MiB echo round trip meanwhile.
    let (echo_dialer_rx_addr, echo_service) = {
        let fast = p.hub.dial("tcp", "echo:2").unwrap();
        let (addr, service) = rx.recv().await.unwrap();
        tokio::spawn(echo(service));
        (addr, fast)
    };
    assert_eq!(echo_dialer_rx_addr, "echo:2");
    let payload = data(4 << 20, 9);
    let (mut r, mut w) = tokio::io::split(echo_service);
    let (_, got) = tokio::join!(async { w.write_all(&payload).await.unwrap() }, async {
        let mut got = vec![0u8; payload.len()];
        r.read_exact(&mut got).await.unwrap();
        got
    });
    assert!(got == payload, "second stream corrupted");

    // The first stream is still held back: its producer is blocked, far from done.
    assert!(!producer_done.load(Ordering::SeqCst));
    let held = produced.load(Ordering::SeqCst);
    assert!(
        held < 16 << 20,
        "producer ran ahead to {held} bytes despite Pause"
    );

    // Now read the slow stream; everything arrives intact and it is resumed.
    let mut total = 0;
    let mut buf = vec![0u8; 256 * 1024];
    let chunk = data(64 * 1024, 7);
    let mut offset = 0usize;
    loop {
        let n = slow.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            assert_eq!(b, chunk[offset], "slow stream corrupted at {total}");
            offset = (offset + 1) % chunk.len();
            total += 1;
        }
    }
    assert_eq!(total, BIG);
    producer.await.unwrap();
    let snap = p.hub.stats().snapshot();
    assert!(snap.resumes_sent >= 1);
    assert!(p.agent.stats().snapshot().pauses_received >= 1);
}

#[tokio::test]
async fn dial_refused_by_policy_keeps_session() {
    let (dialer, rx) = MemDialer::new(1024);
    serve_echo(rx);
    let handler = ConnectHandler::new(|proto, addr| proto == "tcp" && addr.starts_with("ok"))
        .with_dialer(dialer);
    let p = pair(handler).await;

    let mut denied = p.hub.dial("tcp", "secret:22").unwrap();
    let mut buf = [0u8; 16];
    let err = denied.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(
        stream_error(&err),
        Some(&StreamError::Remote("connect not allowed".into()))
    );
    assert_eq!(p.agent.stats().snapshot().connects_refused, 1);
    // Writes fail too once the refusal has arrived.
    assert_eq!(
        denied.write_all(b"x").await.unwrap_err().kind(),
        ErrorKind::BrokenPipe
    );

    // The session is still up and serves allowed targets.
    let mut ok = p.hub.dial("tcp", "ok:1").unwrap();
    ok.write_all(b"ping").await.unwrap();
    let mut got = [0u8; 4];
    ok.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ping");
    assert!(!p.hub.is_closed());
}

#[tokio::test]
async fn strict_refusal_closes_session_like_remotedialer() {
    let handler = ConnectHandler::new(|_, _| false).with_refusal_mode(RefusalMode::CloseSession);
    let p = pair(handler).await;
    let mut s = p.hub.dial("tcp", "anything:1").unwrap();
    let mut buf = [0u8; 1];
    let err = s.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionAborted);
    let agent_end = p.agent_driver.await.unwrap().unwrap_err();
    assert!(matches!(agent_end, SessionError::ConnectNotAllowed { .. }));
    // Like remotedialer, the agent drops the connection without a Close frame.
    let hub_end = p.hub.closed().await;
    assert!(matches!(hub_end, SessionError::WebSocket(_)), "{hub_end}");
}

#[tokio::test]
async fn dial_failure_surfaces_on_hub() {
    struct Failing;
    impl clusternet_tunnel::Dialer for Failing {
        fn dial<'a>(&'a self, _: &'a str, _: &'a str) -> clusternet_tunnel::DialFuture<'a> {
            Box::pin(async {
                Err(std::io::Error::new(
                    ErrorKind::ConnectionRefused,
                    "connect: connection refused",
                ))
            })
        }
    }
    let p = pair(ConnectHandler::allow_all().with_dialer(Failing)).await;
    let mut s = p.hub.dial("tcp", "10.1.2.3:443").unwrap();
    let mut buf = Vec::new();
    let err = s.read_to_end(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(
        err.to_string(),
        "dial tcp 10.1.2.3:443: connect: connection refused"
    );
    assert_eq!(p.agent.stats().snapshot().dials_failed, 1);
}

#[tokio::test]
async fn session_loss_fails_all_streams_promptly() {
    let (dialer, mut rx) = MemDialer::new(1024);
    let p = pair(handler_with(dialer)).await;

    let mut streams = Vec::new();
    let mut services = Vec::new();
    for i in 0..5 {
        let mut s = p.hub.dial("tcp", &format!("svc:{i}")).unwrap();
        s.write_all(b"hello").await.unwrap();
        let (_, mut service) = rx.recv().await.unwrap();
        let mut got = [0u8; 5];
        service.read_exact(&mut got).await.unwrap();
        services.push(service);
        streams.push(s);
    }
    // Reads pending on every stream.
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                let mut buf = [0u8; 8];
                let err = s.read(&mut buf).await.unwrap_err();
                let write_err = s.write_all(b"x").await.unwrap_err();
                (err, write_err)
            })
        })
        .collect();

    // The agent disappears without a websocket close.
    p.agent_driver.abort();

    for r in readers {
        let (err, write_err) = r.await.unwrap();
        assert_eq!(err.kind(), ErrorKind::ConnectionAborted);
        assert!(matches!(
            stream_error(&err),
            Some(StreamError::SessionClosed(_))
        ));
        assert_eq!(write_err.kind(), ErrorKind::ConnectionAborted);
    }
    let reason = p.hub.closed().await;
    assert!(matches!(reason, SessionError::WebSocket(_)), "{reason}");
    assert!(matches!(
        p.hub.dial("tcp", "svc:9"),
        Err(DialError::SessionClosed(_))
    ));
    // The agent's side connections were closed as well.
    for mut service in services {
        let mut rest = Vec::new();
        let _ = service.read_to_end(&mut rest).await;
    }
    assert!(p.hub_driver.await.unwrap().is_err());
}

#[tokio::test]
async fn close_ends_both_sides_gracefully() {
    let (dialer, _rx) = MemDialer::new(1024);
    let p = pair(handler_with(dialer)).await;
    let mut s = p.hub.dial("tcp", "svc:1").unwrap();
    p.hub.close();
    assert!(matches!(p.hub.closed().await, SessionError::Closed));
    assert!(matches!(p.agent.closed().await, SessionError::PeerClosed));
    assert_eq!(p.hub_driver.await.unwrap().ok(), Some(()));
    assert_eq!(p.agent_driver.await.unwrap().ok(), Some(()));
    let mut buf = [0u8; 1];
    assert_eq!(
        s.read(&mut buf).await.unwrap_err().kind(),
        ErrorKind::ConnectionAborted
    );
}

#[tokio::test]
async fn graceful_eof_in_both_directions() {
    let (dialer, mut rx) = MemDialer::new(1024);
    let p = pair(handler_with(dialer)).await;

    // Agent-side service says hello and closes: hub reads the data, then EOF.
    let mut s = p.hub.dial("tcp", "svc:1").unwrap();
    let (_, mut service) = rx.recv().await.unwrap();
    service.write_all(b"hello, hub").await.unwrap();
    service.shutdown().await.unwrap();
    drop(service);
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"hello, hub");
    // remotedialer has no half-close: the stream is closed for writing too.
    assert_eq!(
        s.write_all(b"late").await.unwrap_err().kind(),
        ErrorKind::BrokenPipe
    );
    drop(s);

    // Hub shuts its side down: the service sees everything, then EOF.
    let mut s = p.hub.dial("tcp", "svc:2").unwrap();
    let (_, mut service) = rx.recv().await.unwrap();
    s.write_all(b"request").await.unwrap();
    s.shutdown().await.unwrap();
    let mut got = Vec::new();
    service.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"request");
    // The agent answers the close with its own EOF, which ends our read side cleanly.
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    drop(s);

    eventually("both sides to forget closed streams", || {
        p.hub.stream_count() == 0 && p.agent.stream_count() == 0
    })
    .await;
    assert!(!p.hub.is_closed());
}

#[tokio::test]
async fn dial_validation() {
    let p = pair(ConnectHandler::allow_all()).await;
    assert!(matches!(
        p.agent.dial("tcp", "x:1"),
        Err(DialError::NotServer)
    ));
    assert!(matches!(
        p.hub.dial("", "x:1"),
        Err(DialError::InvalidProto(_))
    ));
    assert!(matches!(
        p.hub.dial("a/b", "x:1"),
        Err(DialError::InvalidProto(_))
    ));
    let long = "h".repeat(100);
    assert!(matches!(
        p.hub.dial("tcp", &long),
        Err(DialError::AddressTooLong(104))
    ));
    // First stream id is 2, as remotedialer's server numbers them.
    let s = p.hub.dial("tcp", "x:1").unwrap();
    assert_eq!(s.conn_id(), 2);
    assert_eq!(p.hub.dial("tcp", "x:2").unwrap().conn_id(), 3);
    assert_eq!(s.proto(), "tcp");
    assert_eq!(s.address(), "x:1");
}

/// The agent pings every 5 s and the hub keeps a session with nothing but pings alive.
#[tokio::test(start_paused = true)]
async fn idle_session_survives_on_pings() {
    let p = pair(ConnectHandler::allow_all()).await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(!p.hub.is_closed());
    assert!(!p.agent.is_closed());
}

/// A peer that stops answering (no pings, no pongs, no data) is declared dead after
/// `ping_wait`, and its streams fail.
#[tokio::test(start_paused = true)]
async fn keepalive_detects_silent_peer() {
    for role in ["server", "client"] {
        let (server_ws, client_ws) = ws_pair().await;
        // The other end exists but is never polled: TCP-alive, websocket-silent.
        let (session, driver, _silent) = if role == "server" {
            let (s, d) = Session::server(server_ws, SessionConfig::server());
            (s, d, client_ws)
        } else {
            let (s, d) = Session::client(
                client_ws,
                SessionConfig::client(),
                ConnectHandler::allow_all(),
            );
            (s, d, server_ws)
        };
        let started = tokio::time::Instant::now();
        let driver = tokio::spawn(driver);
        let err = tokio::time::timeout(Duration::from_secs(300), driver)
            .await
            .expect("silent peer not detected")
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, SessionError::Timeout(_)), "{role}: {err}");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(60) && waited < Duration::from_secs(62),
            "{role}: declared dead after {waited:?}"
        );
        assert!(session.is_closed());
    }
}

/// Dropping the driver future ends the session and its streams.
#[tokio::test]
async fn dropping_driver_ends_session() {
    let (server_ws, _client_ws) = ws_pair().await;
    let (hub, driver) = Session::server(server_ws, SessionConfig::server());
    let mut s = hub.dial("tcp", "x:1").unwrap();
    assert!(driver.now_or_never().is_none()); // polled once, then dropped
    assert!(hub.is_closed());
    assert!(matches!(
        hub.end_reason(),
        Some(SessionError::DriverDropped)
    ));
    let mut buf = [0u8; 1];
    assert_eq!(
        s.read(&mut buf).await.unwrap_err().kind(),
        ErrorKind::ConnectionAborted
    );
}

#[test]
fn handles_are_send_and_sync() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Session>();
    sync::<Session>();
    send::<clusternet_tunnel::SessionDriver>();
    send::<clusternet_tunnel::TunnelStream>();
    sync::<clusternet_tunnel::TunnelStream>();
    send::<ConnectHandler>();
}
