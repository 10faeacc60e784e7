//! A session against a hand-driven peer that speaks raw remotedialer frames, the way a Go
//! remotedialer v0.3.0 hub or agent would: checks exactly what goes over the wire.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::ErrorKind;
use std::time::Duration;

use bytes::Bytes;
use clusternet_tunnel::tokio_tungstenite::WebSocketStream;
use clusternet_tunnel::tokio_tungstenite::tungstenite::Message as Ws;
use clusternet_tunnel::wire::{self, Message, MessageType};
use clusternet_tunnel::{ConnectHandler, Session, SessionConfig, SessionError};
use common::*;
use futures::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

type Raw = WebSocketStream<DuplexStream>;

/// The next tunnel message from the raw peer's websocket (pings/pongs skipped).
async fn next(raw: &mut Raw) -> Message {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), raw.next())
            .await
            .expect("no message")
            .expect("websocket ended")
            .expect("websocket error");
        match msg {
            Ws::Binary(b) => return Message::decode(b).expect("valid remotedialer message"),
            Ws::Ping(_) | Ws::Pong(_) => continue,
            other => panic!("unexpected websocket message {other:?}"),
        }
    }
}

async fn send(raw: &mut Raw, conn_id: i64, kind: MessageType, payload: &[u8]) {
    // Ids as Go makes them: a large random start, counting up.
    let frame = wire::encode(0x1234_5678_9abc, conn_id, kind, payload);
    raw.send(Ws::Binary(frame)).await.unwrap();
}

#[tokio::test]
async fn hub_session_speaks_remotedialer() {
    let (server_ws, mut raw) = ws_pair().await;
    let (hub, driver) = Session::server(server_ws, SessionConfig::server());
    let driver = tokio::spawn(driver);

    // Connect: exact bytes after the id varint.
    let mut s = hub.dial("tcp", "10.96.0.1:443").unwrap();
    let frame = match raw.next().await.unwrap().unwrap() {
        Ws::Binary(b) => b,
        other => panic!("{other:?}"),
    };
    let mut pos = 0;
    wire::read_varint(&frame, &mut pos).unwrap();
    assert_eq!(
        &frame[pos..],
        [&[0x04, 0x04, 0xb0, 0xea, 0x01][..], b"tcp/10.96.0.1:443"].concat()
    );

    // Data from the hub.
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let m = next(&mut raw).await;
    assert_eq!((m.kind, m.conn_id), (MessageType::Data, 2));
    assert_eq!(m.payload.as_ref(), b"GET / HTTP/1.1\r\n\r\n");

    // Data to the hub.
    send(&mut raw, 2, MessageType::Data, b"HTTP/1.1 200 OK\r\n").await;
    let mut got = [0u8; 17];
    s.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"HTTP/1.1 200 OK\r\n");

    // Pause: the hub's writes for that stream wait; Resume lets them through.
    send(&mut raw, 2, MessageType::Pause, b"").await;
    let stats = std::sync::Arc::clone(hub.stats());
    eventually("Pause to arrive", || stats.snapshot().pauses_received == 1).await;
    let mut write = Box::pin(async {
        s.write_all(b"after resume").await.unwrap();
        s
    });
    assert!(
        (&mut write).now_or_never().is_none(),
        "write went through a Pause"
    );
    // Another stream is not affected by the Pause of stream 2.
    let mut other = hub.dial("tcp", "10.96.0.1:443").unwrap();
    other.write_all(b"other").await.unwrap();
    let m = next(&mut raw).await;
    assert_eq!((m.kind, m.conn_id), (MessageType::Connect, 3));
    let m = next(&mut raw).await;
    assert_eq!(
        (m.kind, m.conn_id, m.payload.as_ref()),
        (MessageType::Data, 3, &b"other"[..])
    );
    send(&mut raw, 2, MessageType::Resume, b"").await;
    let mut s = write.await;
    let m = next(&mut raw).await;
    assert_eq!((m.conn_id, m.payload.as_ref()), (2, &b"after resume"[..]));

    // Data for a stream that does not exist is answered as remotedialer does.
    send(&mut raw, 99, MessageType::Data, b"stray").await;
    let m = next(&mut raw).await;
    assert_eq!((m.kind, m.conn_id), (MessageType::Error, 99));
    assert_eq!(m.payload.as_ref(), b"connection not found server/0/99");

    // Unknown types (SyncConnections from newer remotedialer) and peering messages are ignored.
    send(&mut raw, 0, MessageType::Unknown(8), &[0, 0]).await;
    send(&mut raw, 0, MessageType::AddClient, b"peer/1").await;

    // The peer closes stream 2 with EOF: the hub reads EOF, writes fail, the close is echoed.
    send(&mut raw, 2, MessageType::Error, b"EOF").await;
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    assert_eq!(
        s.write_all(b"x").await.unwrap_err().kind(),
        ErrorKind::BrokenPipe
    );
    let m = next(&mut raw).await;
    assert_eq!(
        (m.kind, m.conn_id, m.payload.as_ref()),
        (MessageType::Error, 2, &b"EOF"[..])
    );

    // The hub closes stream 3: Error EOF after its data; the peer's echo is absorbed.
    other.write_all(b"last words").await.unwrap();
    other.shutdown().await.unwrap();
    let m = next(&mut raw).await;
    assert_eq!(
        (m.kind, m.payload.as_ref()),
        (MessageType::Data, &b"last words"[..])
    );
    let m = next(&mut raw).await;
    assert_eq!(
        (m.kind, m.conn_id, m.payload.as_ref()),
        (MessageType::Error, 3, &b"EOF"[..])
    );
    send(&mut raw, 3, MessageType::Data, b"in flight").await;
    send(&mut raw, 3, MessageType::Error, b"EOF").await;
    let mut rest = Vec::new();
    other.read_to_end(&mut rest).await.unwrap();
    assert_eq!(rest, b"in flight");
    drop(other);

    // A peer error (not EOF) reaches the reader as that text.
    let mut s4 = hub.dial("tcp", "x:1").unwrap();
    assert_eq!(next(&mut raw).await.kind, MessageType::Connect);
    send(
        &mut raw,
        4,
        MessageType::Error,
        b"dial tcp x:1: i/o timeout",
    )
    .await;
    let err = s4.read(&mut [0u8; 4]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert_eq!(err.to_string(), "dial tcp x:1: i/o timeout");

    // A Connect from the agent side is refused on that stream only.
    send(&mut raw, 7, MessageType::Connect, b"tcp/evil:1").await;
    let m = loop {
        let m = next(&mut raw).await;
        if m.conn_id == 7 {
            break m;
        }
    };
    assert_eq!(
        (m.kind, m.payload.as_ref()),
        (MessageType::Error, &b"connect not allowed"[..])
    );

    // Text messages end the session (remotedialer: wrong websocket message type).
    raw.send(Ws::Text("hello".into())).await.unwrap();
    let err = driver.await.unwrap().unwrap_err();
    assert!(matches!(err, SessionError::WrongMessageType), "{err}");
}

#[tokio::test]
async fn agent_session_speaks_remotedialer() {
    let (mut raw, client_ws) = ws_pair().await;
    let (dialer, mut services) = MemDialer::new(64 * 1024);
    let handler = ConnectHandler::new(|proto, addr| proto == "tcp" && addr != "10.0.0.1:22")
        .with_dialer(dialer);
    let (agent, driver) = Session::client(client_ws, SessionConfig::client(), handler);
    let driver = tokio::spawn(driver);

    // The hub opens stream 2 and sends data right behind the Connect.
    send(&mut raw, 2, MessageType::Connect, b"tcp/127.0.0.1:6443").await;
    send(&mut raw, 2, MessageType::Data, b"hello agent").await;
    let (addr, mut service) = services.recv().await.unwrap();
    assert_eq!(addr, "127.0.0.1:6443");
    let mut got = [0u8; 11];
    service.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"hello agent");

    service.write_all(b"hello hub").await.unwrap();
    let m = next(&mut raw).await;
    assert_eq!(
        (m.kind, m.conn_id, m.payload.as_ref()),
        (MessageType::Data, 2, &b"hello hub"[..])
    );

    // Refused target: Error "connect not allowed" on that stream, session stays.
    send(&mut raw, 3, MessageType::Connect, b"tcp/10.0.0.1:22").await;
    let m = next(&mut raw).await;
    assert_eq!(
        (m.kind, m.conn_id, m.payload.as_ref()),
        (MessageType::Error, 3, &b"connect not allowed"[..])
    );

    // Back-pressure: 3 MiB into a service that does not read → the agent sends Pause for
    // stream 2; once the service reads, Resume.
    let chunk = vec![0x5au8; 32 * 1024];
    for _ in 0..96 {
        send(&mut raw, 2, MessageType::Data, &chunk).await;
    }
    let m = next(&mut raw).await;
    assert_eq!((m.kind, m.conn_id), (MessageType::Pause, 2));
    let mut buf = vec![0u8; 3 * 1024 * 1024];
    service.read_exact(&mut buf).await.unwrap();
    assert!(buf.iter().all(|&b| b == 0x5a));
    let m = next(&mut raw).await;
    assert_eq!((m.kind, m.conn_id), (MessageType::Resume, 2));

    // The service closes: Error EOF to the hub.
    service.shutdown().await.unwrap();
    drop(service);
    let m = next(&mut raw).await;
    assert_eq!(
        (m.kind, m.conn_id, m.payload.as_ref()),
        (MessageType::Error, 2, &b"EOF"[..])
    );

    // The hub closes a stream: the agent closes the service connection and echoes EOF.
    send(&mut raw, 4, MessageType::Connect, b"tcp/svc:80").await;
    let (_, mut service) = services.recv().await.unwrap();
    send(&mut raw, 4, MessageType::Error, b"EOF").await;
    let mut rest = Vec::new();
    service.read_to_end(&mut rest).await.unwrap();
    let m = next(&mut raw).await;
    assert_eq!(
        (m.kind, m.conn_id, m.payload.as_ref()),
        (MessageType::Error, 4, &b"EOF"[..])
    );

    // A malformed message ends the session, as in remotedialer.
    raw.send(Ws::Binary(Bytes::from_static(&[0x02, 0x04])))
        .await
        .unwrap();
    let err = driver.await.unwrap().unwrap_err();
    assert!(matches!(err, SessionError::Decode(_)), "{err}");
    assert!(agent.is_closed());
}

/// A peer that ignores Pause far past the hard cap gets that stream closed with an error; the
/// session and other streams carry on.
#[tokio::test]
async fn receive_buffer_hard_cap() {
    let (server_ws, mut raw) = ws_pair().await;
    let mut cfg = SessionConfig::server();
    cfg.pause_threshold = 64 * 1024;
    cfg.resume_threshold = 8 * 1024;
    cfg.max_receive_buffer = 1 << 20;
    let (hub, driver) = Session::server(server_ws, cfg);
    tokio::spawn(driver);
    let mut s = hub.dial("tcp", "x:1").unwrap();
    assert_eq!(next(&mut raw).await.kind, MessageType::Connect);

    let chunk = vec![1u8; 32 * 1024];
    for _ in 0..40 {
        send(&mut raw, 2, MessageType::Data, &chunk).await;
    }
    let m = next(&mut raw).await;
    assert_eq!((m.kind, m.conn_id), (MessageType::Pause, 2));
    let m = next(&mut raw).await;
    assert_eq!((m.kind, m.conn_id), (MessageType::Error, 2));
    assert!(
        String::from_utf8_lossy(&m.payload).starts_with("tunnel stream receive buffer overflow"),
        "{m:?}"
    );
    let err = s.read(&mut [0u8; 8]).await.unwrap_err();
    assert!(matches!(
        stream_error(&err),
        Some(clusternet_tunnel::StreamError::Overflow(_))
    ));
    // Data that was still coming for it is answered as for any unknown stream; the session
    // lives on.
    assert!(!hub.is_closed());
    let _other = hub.dial("tcp", "x:2").unwrap();
    loop {
        let m = next(&mut raw).await;
        if m.kind == MessageType::Connect {
            assert_eq!(m.conn_id, 3);
            break;
        }
        assert_eq!((m.kind, m.conn_id), (MessageType::Error, 2));
        assert_eq!(m.payload.as_ref(), b"connection not found server/0/2");
    }
}

/// The agent pings every 5 s (remotedialer `PingWriteInterval`) with an empty payload.
#[tokio::test(start_paused = true)]
async fn agent_pings_every_five_seconds() {
    let (mut raw, client_ws) = ws_pair().await;
    let (_agent, driver) = Session::client(
        client_ws,
        SessionConfig::client(),
        ConnectHandler::allow_all(),
    );
    tokio::spawn(driver);
    let start = tokio::time::Instant::now();
    for i in 1..=3u64 {
        match raw.next().await.unwrap().unwrap() {
            Ws::Ping(p) => assert!(p.is_empty()),
            other => panic!("{other:?}"),
        }
        assert_eq!(start.elapsed().as_secs(), 5 * i);
    }
}

/// A peer that floods Data for streams that do not exist (and never reads the answers) is
/// disconnected after its allowance, with at most one answer per stream — nothing queues up.
#[tokio::test]
async fn unknown_stream_flood_ends_the_session() {
    let (server_ws, mut raw) = ws_pair().await;
    let mut cfg = SessionConfig::server();
    cfg.unknown_frames_burst = 1000;
    let (hub, driver) = Session::server(server_ws, cfg);
    let driver = tokio::spawn(driver);
    let mut sent = 0;
    // Same few ids over and over, then fresh ones: neither gets more than one answer each.
    while !driver.is_finished() && sent < 100_000 {
        let id = if sent < 500 {
            1000 + sent % 5
        } else {
            2000 + sent
        };
        if raw
            .send(Ws::Binary(wire::encode(1, id, MessageType::Data, b"x")))
            .await
            .is_err()
        {
            break;
        }
        sent += 1;
        if sent % 100 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let err = tokio::time::timeout(Duration::from_secs(10), driver)
        .await
        .expect("the flooding peer is disconnected")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, SessionError::Misbehaving(why) if why.contains("streams that do not exist")),
        "{err}"
    );
    assert!(hub.is_closed());
    assert!(sent <= 1200, "disconnected after {sent} frames");
    // What the hub answered: one `connection not found` per distinct id, within the budget.
    let mut answers = 0;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_millis(200), raw.next()).await
    {
        if let Ws::Binary(b) = msg {
            let m = Message::decode(b).unwrap();
            assert_eq!(m.kind, MessageType::Error);
            answers += 1;
        }
    }
    assert!(answers <= 5 + 1000, "{answers} answers");
}

/// Streams that each stay under their own Pause threshold but together hold more than the
/// session's bound are paused; a peer that keeps sending past twice the bound is disconnected.
#[tokio::test]
async fn session_receive_bound_pauses_then_disconnects() {
    let (server_ws, mut raw) = ws_pair().await;
    let mut cfg = SessionConfig::server();
    cfg.pause_threshold = 1 << 20;
    cfg.max_session_buffer = 256 * 1024;
    let (hub, driver) = Session::server(server_ws, cfg);
    let driver = tokio::spawn(driver);
    let streams: Vec<_> = (0..4)
        .map(|i| hub.dial("tcp", &format!("x:{i}")).unwrap())
        .collect();
    for _ in 0..4 {
        assert_eq!(next(&mut raw).await.kind, MessageType::Connect);
    }
    let chunk = vec![7u8; 16 * 1024];
    // 4 streams × 5 × 16 KiB = 320 KiB > 256 KiB: over the bound, under twice it.
    for _ in 0..5 {
        for id in 2..6 {
            send(&mut raw, id, MessageType::Data, &chunk).await;
        }
    }
    let mut paused = std::collections::BTreeSet::new();
    while paused.len() < 4 {
        let m = next(&mut raw).await;
        assert_eq!(m.kind, MessageType::Pause, "{m:?}");
        paused.insert(m.conn_id);
    }
    assert!(!hub.is_closed());
    // Ignoring the Pauses: past 512 KiB the session ends.
    for _ in 0..20 {
        let frame = wire::encode(1, 2, MessageType::Data, &chunk);
        if driver.is_finished() || raw.send(Ws::Binary(frame)).await.is_err() {
            break;
        }
    }
    let err = tokio::time::timeout(Duration::from_secs(10), driver)
        .await
        .expect("disconnected")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, SessionError::Misbehaving(why) if why.contains("ignores Pause")),
        "{err}"
    );
    drop(streams);
}

/// Streams are capped per session on both ends.
#[tokio::test]
async fn streams_are_capped() {
    let (server_ws, mut raw) = ws_pair().await;
    let mut cfg = SessionConfig::server();
    cfg.max_streams = 3;
    let (hub, driver) = Session::server(server_ws, cfg);
    tokio::spawn(driver);
    let open: Vec<_> = (0..3).map(|_| hub.dial("tcp", "x:1").unwrap()).collect();
    let err = hub.dial("tcp", "x:1").unwrap_err();
    assert_eq!(err, clusternet_tunnel::DialError::TooManyStreams(3));
    drop(open);
    for _ in 0..3 {
        assert_eq!(next(&mut raw).await.kind, MessageType::Connect);
    }

    let (mut raw, client_ws) = ws_pair().await;
    let mut cfg = SessionConfig::client();
    cfg.max_streams = 1;
    let (mem, _rx) = MemDialer::new(1024);
    let (_agent, driver) =
        Session::client(client_ws, cfg, ConnectHandler::allow_all().with_dialer(mem));
    tokio::spawn(driver);
    send(&mut raw, 2, MessageType::Connect, b"tcp/a:1").await;
    send(&mut raw, 3, MessageType::Connect, b"tcp/a:2").await;
    let m = next(&mut raw).await;
    assert_eq!((m.kind, m.conn_id), (MessageType::Error, 3));
    assert!(
        String::from_utf8_lossy(&m.payload).contains("maximum of 1 streams"),
        "{m:?}"
    );
}
