//! Prometheus metrics of the hub, in the text format at `/metrics`: kube-apiserver-style request
//! metrics (by verb, group, version, resource, subresource, scope and code; latency histogram;
//! in-flight gauge) and Clusternet's socket metrics.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::request_info::RequestInfo;

/// All metrics, registered in one registry.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGaugeVec,
    limits: IntGaugeVec,
    /// `clusternet_hub_connections`: open client connections (TCP) to the hub.
    pub connections: IntGauge,
    /// `clusternet_socket_connections_count`: connected cluster tunnels.
    pub socket_connections: IntGauge,
    /// `clusternet_socket_connections_duration_seconds`: how long tunnels stay up.
    pub socket_duration: prometheus::Histogram,
}

/// Labels of the request metrics, in order.
const REQUEST_LABELS: [&str; 8] = [
    "verb",
    "group",
    "version",
    "resource",
    "subresource",
    "scope",
    "component",
    "code",
];

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "apiserver_request_total",
                "Counter of apiserver requests broken out for each verb, group, version, resource, scope, component, and HTTP response code.",
            ),
            &REQUEST_LABELS,
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("apiserver_request_duration_seconds", "Response latency distribution in seconds for each verb, group, version, resource, subresource, scope and component.")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]),
            &REQUEST_LABELS[..7],
        )?;
        let in_flight = IntGaugeVec::new(
            Opts::new(
                "apiserver_current_inflight_requests",
                "Maximal number of currently used inflight request limit of this apiserver per request kind in last second.",
            ),
            &["request_kind"],
        )?;
        let limits = IntGaugeVec::new(
            Opts::new(
                "clusternet_hub_limit",
                "The hub's configured limits: connections, tunnels, and concurrent readOnly, mutating and longRunning requests.",
            ),
            &["kind"],
        )?;
        let connections = IntGauge::new(
            "clusternet_hub_connections",
            "Number of open client connections to the hub.",
        )?;
        let socket_connections = IntGauge::new(
            "clusternet_socket_connections_count",
            "Number of current socket connections from child clusters.",
        )?;
        let socket_duration = prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "clusternet_socket_connections_duration_seconds",
                "Duration of socket connections from child clusters in seconds.",
            )
            .buckets(prometheus::exponential_buckets(60.0, 4.0, 8)?),
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(limits.clone()))?;
        registry.register(Box::new(connections.clone()))?;
        registry.register(Box::new(socket_connections.clone()))?;
        registry.register(Box::new(socket_duration.clone()))?;
        #[cfg(target_os = "linux")]
        {
            let _ = registry.register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ));
        }
        Ok(Self {
            registry,
            requests,
            latency,
            in_flight,
            limits,
            connections,
            socket_connections,
            socket_duration,
        })
    }

    /// Records one finished request.
    pub fn observe(&self, info: Option<&RequestInfo>, code: u16, seconds: f64) {
        let default = RequestInfo::default();
        let info = info.unwrap_or(&default);
        // Non-resource requests are labelled by verb only, with the path left out to keep the
        // cardinality bounded.
        let code = code.to_string();
        let labels = [
            info.verb.as_str(),
            info.api_group.as_str(),
            info.api_version.as_str(),
            info.resource.as_str(),
            info.subresource.as_str(),
            info.scope(),
            "apiserver",
            code.as_str(),
        ];
        self.requests.with_label_values(&labels).inc();
        if info.verb != "watch" && !info.is_long_running() {
            self.latency
                .with_label_values(&labels[..7])
                .observe(seconds);
        }
    }

    /// Publishes the limit of `kind` (`connections`, `tunnels`, `readOnly`, `mutating`,
    /// `longRunning`).
    pub fn set_limit(&self, kind: &str, limit: usize) {
        self.limits
            .with_label_values(&[kind])
            .set(i64::try_from(limit).unwrap_or(i64::MAX));
    }

    /// The in-flight gauge for `kind` (`readOnly`, `mutating` or `longRunning`).
    pub fn in_flight(&self, kind: &str) -> IntGauge {
        self.in_flight.with_label_values(&[kind])
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

/// A semaphore permit that keeps a gauge up by one while held (an open connection, an
/// in-flight stream).
#[derive(Debug)]
pub struct GaugedPermit {
    _permit: tokio::sync::OwnedSemaphorePermit,
    gauge: IntGauge,
}

impl GaugedPermit {
    /// Holds `permit`, counting it in `gauge`.
    pub fn new(permit: tokio::sync::OwnedSemaphorePermit, gauge: IntGauge) -> Self {
        gauge.inc();
        Self {
            _permit: permit,
            gauge,
        }
    }
}

impl Drop for GaugedPermit {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_request_and_socket_metrics() {
        let m = Metrics::new().unwrap();
        let info = RequestInfo::parse(
            &http::Method::GET,
            "/apis/shadow/v1alpha1/namespaces/a/deployments",
            None,
        );
        m.observe(Some(&info), 200, 0.003);
        m.socket_connections.set(2);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text.contains(r#"apiserver_request_total{code="200",component="apiserver",group="shadow",resource="deployments",scope="namespace",subresource="",verb="list",version="v1alpha1"} 1"#), "{text}");
        assert!(text.contains("apiserver_request_duration_seconds_bucket"));
        assert!(text.contains("clusternet_socket_connections_count 2"));
        assert!(text.contains("clusternet_socket_connections_duration_seconds_bucket{le=\"60\"}"));
    }
}
