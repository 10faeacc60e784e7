//! The HTTP stack under every `kube::Client` of ours: HTTP/2 when the server offers it (ALPN;
//! kube-apiserver does), TCP_NODELAY, and HTTP/2 keep-alive pings; kube's own layers (base URI,
//! authentication, extra headers) on top, as `kube::Client::try_from` builds them.
//!
//! kube-client's default stack speaks HTTP/1.1 only and leaves Nagle's algorithm on: every
//! watch holds a connection of its own, and a request whose headers and body leave in two TLS
//! records waits for the server's delayed ACK (≈40 ms on Linux) before the second goes out.
//!
//! One HTTP/2 connection carries at most [`STREAMS_PER_CONNECTION`] requests at a time (a
//! watch counts until its body is dropped); more open another connection. A server refuses
//! streams beyond its `MAX_CONCURRENT_STREAMS` (kube-apiserver: 1000, Go's default: 250, some
//! proxies: 100), and hyper would queue new requests behind long-lived watches instead of
//! opening a second connection.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, Result};
use hyper_util::client::legacy::Client as Legacy;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::{Body, ConfigExt};
use tower::{BoxError, ServiceBuilder};

/// Requests in flight on one connection before the next request opens another.
pub const STREAMS_PER_CONNECTION: usize = 100;

/// HTTP/2 PING interval on an idle-looking connection, and how long to wait for the answer
/// before the connection is dropped (client-go: ReadIdleTimeout 30 s, PingTimeout 15 s).
const PING_INTERVAL: Duration = Duration::from_secs(30);
const PING_TIMEOUT: Duration = Duration::from_secs(15);

/// HTTP/2 flow-control windows, as Go's `http2.Transport` (4 MiB a stream, 1 GiB the
/// connection): a watch whose reader falls behind holds back only its own stream, not the
/// other requests on the connection.
const STREAM_WINDOW: u32 = 4 << 20;
const CONNECTION_WINDOW: u32 = 1 << 30;

/// TCP keep-alive, for servers that answer in HTTP/1.1 (no PINGs there).
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// A client for `config` over this module's stack (kube's own, HTTP/1.1, when the kubeconfig
/// names a proxy: that path is kube's).
pub fn client(config: kube::Config) -> Result<kube::Client> {
    if config.proxy_url.is_some() {
        return Ok(kube::Client::try_from(config)?);
    }
    let https = https_connector(&config)?;
    let mut spread = Spread::new(https);
    spread.limiter = rate_limit().map(|(qps, burst)| Arc::new(TokenBucket::new(qps, burst)));
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer().context("client authentication")?)
        .layer(config.extra_headers_layer().context("client headers")?)
        .map_err(BoxError::from)
        .service(spread);
    Ok(kube::Client::new(service, config.default_namespace))
}

fn https_connector(config: &kube::Config) -> Result<Https> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_keepalive(Some(TCP_KEEPALIVE));
    http.set_connect_timeout(config.connect_timeout);
    let tls = config
        .rustls_client_config()
        .context("client TLS configuration")?;
    let mut builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    if let Some(name) = &config.tls_server_name {
        let name = rustls_pki_types::ServerName::try_from(name.clone())
            .with_context(|| format!("invalid tls-server-name {name:?}"))?;
        builder =
            builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name));
    }
    Ok(builder.enable_all_versions().wrap_connector(http))
}

/// Requests spread over HTTP/2 connections, at most [`STREAMS_PER_CONNECTION`] each.
#[derive(Clone)]
struct Spread {
    https: Https,
    slots: Arc<Mutex<Vec<Slot>>>,
    limiter: Option<Arc<TokenBucket>>,
}

static RATE_LIMIT: std::sync::OnceLock<(f32, u32)> = std::sync::OnceLock::new();

/// Sets the client-side rate limit of every client built after it: `qps` requests a second
/// on average, `burst` at once (`--kube-api-qps`, `--kube-api-burst`; client-go's token
/// bucket, one per client). A `qps` of zero or less leaves clients unlimited. First call wins.
pub fn set_rate_limit(qps: f32, burst: u32) {
    let _ = RATE_LIMIT.set((qps, burst));
}

fn rate_limit() -> Option<(f32, u32)> {
    RATE_LIMIT.get().copied().filter(|(qps, _)| *qps > 0.0)
}

/// client-go's `flowcontrol.NewTokenBucketRateLimiter`: `burst` tokens, refilled at `qps`;
/// each request (a watch when it starts) takes one, waiting for it when none is left.
#[derive(Debug)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    state: Mutex<(f64, tokio::time::Instant)>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(qps: f32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            qps: f64::from(qps),
            burst,
            state: Mutex::new((burst, tokio::time::Instant::now())),
        }
    }

    /// Takes a token, waiting until one is there. Tokens are reserved in order, so waiters
    /// are served first come, first served.
    pub async fn acquire(&self) {
        let wait = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = tokio::time::Instant::now();
            let elapsed = now.saturating_duration_since(state.1).as_secs_f64();
            let tokens = (state.0 + elapsed * self.qps).min(self.burst) - 1.0;
            *state = (tokens, now);
            if tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-tokens / self.qps)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[derive(Clone)]
struct Slot {
    client: Legacy<Https, Body>,
    in_flight: Arc<AtomicUsize>,
}

impl Spread {
    fn new(https: Https) -> Self {
        Self {
            https,
            slots: Arc::default(),
            limiter: None,
        }
    }

    fn legacy(&self) -> Legacy<Https, Body> {
        Legacy::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .http2_keep_alive_interval(PING_INTERVAL)
            .http2_keep_alive_timeout(PING_TIMEOUT)
            .http2_initial_stream_window_size(STREAM_WINDOW)
            .http2_initial_connection_window_size(CONNECTION_WINDOW)
            .build(self.https.clone())
    }

    /// The least busy slot with room, or a new one.
    fn slot(&self) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let least = slots
            .iter()
            .min_by_key(|s| s.in_flight.load(Ordering::Relaxed))
            .filter(|s| s.in_flight.load(Ordering::Relaxed) < STREAMS_PER_CONNECTION)
            .cloned();
        match least {
            Some(slot) => slot,
            None => {
                let slot = Slot {
                    client: self.legacy(),
                    in_flight: Arc::default(),
                };
                slots.push(slot.clone());
                slot
            }
        }
    }
}

/// One request in flight on a slot, until the answer's body is dropped.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An answer's body, holding its request's place on the connection.
pub struct Counted {
    inner: hyper::body::Incoming,
    _in_flight: InFlight,
}

impl http_body::Body for Counted {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl tower::Service<http::Request<Body>> for Spread {
    type Response = http::Response<Counted>;
    type Error = hyper_util::client::legacy::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The legacy client is always ready (it connects in `call`).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let limiter = self.limiter.clone();
        let this = self.clone();
        Box::pin(async move {
            if let Some(limiter) = limiter {
                limiter.acquire().await;
            }
            let slot = this.slot();
            let in_flight = InFlight::new(&slot.in_flight);
            let response = slot.client.request(request).await?;
            Ok(response.map(|inner| Counted {
                inner,
                _in_flight: in_flight,
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn token_bucket_allows_a_burst_then_qps() {
        let bucket = TokenBucket::new(10.0, 5);
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            bucket.acquire().await;
        }
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "the burst waits for nothing"
        );
        for _ in 0..10 {
            bucket.acquire().await;
        }
        let waited = start.elapsed().as_secs_f64();
        assert!(
            (0.99..1.01).contains(&waited),
            "10 more at 10 qps: {waited}"
        );
    }

    #[test]
    fn slots_fill_up_before_another_opens() {
        crate::client::install_crypto_provider();
        let config = kube::Config::new("https://127.0.0.1:1".parse().unwrap_or_default());
        let spread = Spread::new(https_connector(&config).unwrap_or_else(|e| panic!("{e}")));
        let mut held = Vec::new();
        for _ in 0..STREAMS_PER_CONNECTION {
            let slot = spread.slot();
            held.push(InFlight::new(&slot.in_flight));
        }
        assert_eq!(spread.slots.lock().map(|s| s.len()).unwrap_or(0), 1);
        let slot = spread.slot();
        held.push(InFlight::new(&slot.in_flight));
        assert_eq!(spread.slots.lock().map(|s| s.len()).unwrap_or(0), 2);
        // The new, emptier slot takes the next requests; freed places are reused.
        held.truncate(10);
        let _ = spread.slot();
        assert_eq!(spread.slots.lock().map(|s| s.len()).unwrap_or(0), 2);
    }
}
