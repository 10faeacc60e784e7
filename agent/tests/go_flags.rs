//! Every flag Go Clusternet's clusternet-agent defines (v0.18: its own, k8s.io/apiserver's and
//! component-base's, `--help` and `--version` aside) is accepted with Go's name and a value of
//! Go's type; the list is data, taken from Go's flag set.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clusternet_agent::options::Options;
use clusternet_test_support::flags::assert_every_flag_parses;

/// (flag, a value Go accepts), sorted by name.
const GO_FLAGS: &[(&str, &str)] = &[
    ("allow-metric-labels", "a=b"),
    ("allow-metric-labels-manifest", "x"),
    ("bind-address", "127.0.0.1"),
    ("cert-dir", "x"),
    ("cluster-labels", "a=b"),
    ("cluster-reg-name", "child-a"),
    ("cluster-reg-name-prefix", "clusternet-cluster"),
    ("cluster-reg-namespace", "x"),
    ("cluster-reg-parent-url", "https://127.0.0.1:6443"),
    ("cluster-reg-token", "abcdef.0123456789abcdef"),
    ("cluster-reg-type", "StandardCluster"),
    ("cluster-status-collect-frequency", "10s"),
    ("cluster-status-update-frequency", "10s"),
    ("cluster-sync-mode", "Dual"),
    ("contention-profiling", "true"),
    ("disable-http2-serving", "true"),
    ("disabled-metrics", "a"),
    ("enable-tunnel-logging", "true"),
    ("feature-gates", "SocketConnection=true"),
    ("http2-max-streams-per-connection", "1"),
    ("kube-api-burst", "1"),
    ("kube-api-qps", "50.0"),
    ("kubeconfig", "/tmp/kubeconfig"),
    ("labels-aggregate-prefix", "node.clusternet.io/"),
    ("labels-aggregate-threshold", "50.0"),
    ("leader-elect", "true"),
    ("leader-elect-lease-duration", "10s"),
    ("leader-elect-renew-deadline", "10s"),
    ("leader-elect-resource-lock", "lease"),
    ("leader-elect-resource-name", "clusternet-agent"),
    ("leader-elect-resource-namespace", "clusternet-system"),
    ("leader-elect-retry-period", "10s"),
    ("log-flush-frequency", "10s"),
    ("log-json-info-buffer-size", "0"),
    ("log-json-split-stream", "true"),
    ("log-text-info-buffer-size", "0"),
    ("log-text-split-stream", "true"),
    ("logging-format", "text"),
    ("permit-address-sharing", "true"),
    ("permit-port-sharing", "true"),
    ("predictor-addr", "https://127.0.0.1:8080"),
    ("predictor-direct-access", "true"),
    ("predictor-port", "1"),
    ("profiling", "true"),
    ("secure-port", "1"),
    ("show-hidden-metrics-for-version", "x"),
    ("tls-cert-file", "x"),
    ("tls-cipher-suites", "TLS_AES_128_GCM_SHA256"),
    ("tls-min-version", "VersionTLS12"),
    ("tls-private-key-file", "x"),
    ("tls-sni-cert-key", "/tmp/a.crt,/tmp/a.key"),
    ("use-metrics-server", "true"),
    ("v", "2"),
    ("vmodule", "clusternet_hub=4"),
];

#[test]
fn every_go_flag_parses() {
    assert_eq!(GO_FLAGS.len(), 54);
    assert_every_flag_parses::<Options>(
        &[
            "clusternet-agent",
            "--cluster-reg-parent-url=https://127.0.0.1:6443",
            "--cluster-reg-token=abcdef.0123456789abcdef",
        ],
        GO_FLAGS,
    );
}
