//! The tunnel over real loopback sockets: TCP dialing on the agent, TLS + HTTP over streams,
//! and the agent's websocket connect helper against a TLS websocket server.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// tungstenite's handshake callback returns `Result<Response, ErrorResponse>`.
#![allow(clippy::result_large_err)]

mod common;

use std::io::ErrorKind;
use std::sync::Arc;

use bytes::Bytes;
use clusternet_tunnel::{
    ConnectError, ConnectHandler, ConnectRequest, Session, SessionConfig, socket_url,
};
use common::*;
use http_body_util::{BodyExt, Empty, Full};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

/// A TCP echo server on 127.0.0.1:0.
async fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(echo(sock));
        }
    });
    addr
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

struct Tls {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

fn tls() -> Tls {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert: CertificateDer<'static> = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Tls {
        server: Arc::new(server),
        client: Arc::new(client),
    }
}

#[tokio::test]
async fn hub_reaches_tcp_echo_server_through_tunnel() {
    let echo_addr = echo_server().await;
    let p = pair(ConnectHandler::allow_all()).await;

    let mut streams = Vec::new();
    for i in 0..8u64 {
        streams.push(tokio::spawn({
            let hub = p.hub.clone();
            async move {
                let mut s = hub.dial("tcp", &echo_addr.to_string()).unwrap();
                let payload = data(300_000, i);
                let (mut r, mut w) = tokio::io::split(&mut s);
                let (_, got) =
                    tokio::join!(async { w.write_all(&payload).await.unwrap() }, async {
                        let mut got = vec![0u8; payload.len()];
                        r.read_exact(&mut got).await.unwrap();
                        got
                    });
                assert!(got == payload);
                // Closing: the agent closes the TCP connection, the echo server sees EOF.
                s.shutdown().await.unwrap();
                let mut rest = Vec::new();
                s.read_to_end(&mut rest).await.unwrap();
                assert!(rest.is_empty());
            }
        }));
    }
    for s in streams {
        s.await.unwrap();
    }
}

#[tokio::test]
async fn dial_to_closed_port_surfaces_on_hub() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let p = pair(ConnectHandler::allow_all()).await;
    let mut s = p.hub.dial("tcp", &closed.to_string()).unwrap();
    let mut buf = [0u8; 8];
    let err = s.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("dial tcp {closed}: ")) && text.contains("refused"),
        "{text}"
    );
    // The session is unaffected.
    assert!(!p.hub.is_closed());
}

/// The hub runs TLS and HTTP/1.1 over a tunnel stream to an HTTPS server, as it will to a
/// child kube-apiserver.
#[tokio::test]
async fn hyper_over_tls_over_tunnel() {
    let tls = tls();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let https_addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&tls.server));
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(sock).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let body = format!("{} {}", req.method(), req.uri().path());
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from(body),
                        )))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });

    let p = pair(ConnectHandler::allow_all()).await;
    let stream = p.hub.dial("tcp", &https_addr.to_string()).unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&tls.client));
    let tls_stream = connector
        .connect(ServerName::try_from("localhost").unwrap(), stream)
        .await
        .unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls_stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    for path in ["/healthz", "/api/v1/namespaces"] {
        let req = hyper::Request::get(path)
            .header("host", "localhost")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, format!("GET {path}"));
    }
}

/// A stand-in for the parent apiserver + hub: a TLS websocket endpoint that checks the bearer
/// token and answers bad ones with a Kubernetes Status.
async fn tunnel_endpoint(
    tls: &Tls,
) -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<Session>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&tls.server));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(sock).await else {
                    return;
                };
                let check = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                    let path_ok = req.uri().path()
                        == "/apis/proxies.clusternet.io/v1alpha1/sockets/cluster-1";
                    let auth = req
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok());
                    if path_ok && auth == Some("Bearer good-token") {
                        return Ok(resp);
                    }
                    let body = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;
                    let mut err = ErrorResponse::new(Some(body.to_owned()));
                    *err.status_mut() = http::StatusCode::UNAUTHORIZED;
                    Err(err)
                };
                if let Ok(ws) = tokio_tungstenite::accept_hdr_async_with_config(
                    tls,
                    check,
                    Some(clusternet_tunnel::websocket_config()),
                )
                .await
                {
                    let (session, driver) = Session::server(ws, SessionConfig::server());
                    tokio::spawn(driver);
                    let _ = tx.send(session);
                }
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn agent_connects_over_tls_with_bearer_token() {
    let tls = tls();
    let (addr, mut sessions) = tunnel_endpoint(&tls).await;
    let echo_addr = echo_server().await;
    let url = socket_url(&format!("https://localhost:{}", addr.port()), "cluster-1").unwrap();

    let ws = ConnectRequest::new(url)
        .bearer_token("good-token")
        .unwrap()
        .tls(Arc::clone(&tls.client))
        .connect()
        .await
        .unwrap();
    let (agent, driver) = Session::client(ws, SessionConfig::client(), ConnectHandler::allow_all());
    tokio::spawn(driver);
    let hub = sessions.recv().await.unwrap();

    let mut s = hub.dial("tcp", &echo_addr.to_string()).unwrap();
    s.write_all(b"through TLS").await.unwrap();
    let mut got = [0u8; 11];
    s.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"through TLS");
    agent.close();
    hub.closed().await;
}

#[tokio::test]
async fn agent_connect_errors_are_clear() {
    let tls = tls();
    let (addr, _sessions) = tunnel_endpoint(&tls).await;
    let url = socket_url(&format!("https://localhost:{}", addr.port()), "cluster-1").unwrap();

    let err = ConnectRequest::new(url.clone())
        .bearer_token("wrong")
        .unwrap()
        .tls(Arc::clone(&tls.client))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::UNAUTHORIZED));
    assert_eq!(
        err.to_string(),
        "tunnel websocket refused: HTTP 401 Unauthorized (Unauthorized): Unauthorized"
    );
    // The token never shows up in errors or debug output.
    let req = ConnectRequest::new(url.clone())
        .bearer_token("s3cret")
        .unwrap();
    assert!(!format!("{req:?}").contains("s3cret"));

    assert!(matches!(
        ConnectRequest::new(url.clone()).connect().await,
        Err(ConnectError::TlsConfigRequired)
    ));

    // A TLS peer we do not trust fails the handshake, not silently succeeds.
    let untrusted = tls_client_without_roots();
    let err = ConnectRequest::new(url)
        .tls(untrusted)
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::WebSocket(_)), "{err}");

    // Nothing listening.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = ConnectRequest::new(format!("ws://127.0.0.1:{port}/x"))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::WebSocket(_)), "{err}");
}

fn tls_client_without_roots() -> Arc<rustls::ClientConfig> {
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    )
}

/// Plain TCP websocket (ws://) between two real sockets, for completeness.
#[tokio::test]
async fn plain_ws_over_loopback() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (sock, _): (TcpStream, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(sock).await.unwrap();
        let (hub, driver) = Session::server(ws, SessionConfig::server());
        tokio::spawn(driver);
        hub
    });
    let ws = ConnectRequest::new(format!("ws://{addr}/tunnel"))
        .connect()
        .await
        .unwrap();
    let (_agent, driver) =
        Session::client(ws, SessionConfig::client(), ConnectHandler::allow_all());
    tokio::spawn(driver);
    let hub = server.await.unwrap();
    let echo_addr = echo_server().await;
    let mut s = hub.dial("tcp", &echo_addr.to_string()).unwrap();
    s.write_all(b"abc").await.unwrap();
    let mut got = [0u8; 3];
    s.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"abc");
}
