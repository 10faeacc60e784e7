//! Every flag Go Clusternet's clusternet-controller-manager defines (v0.18: its own, k8s.io/apiserver's and
//! component-base's, `--help` and `--version` aside) is accepted with Go's name and a value of
//! Go's type; the list is data, taken from Go's flag set.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clusternet_controller_manager::options::Options;
use clusternet_test_support::flags::assert_every_flag_parses;

/// (flag, a value Go accepts), sorted by name.
const GO_FLAGS: &[(&str, &str)] = &[
    ("allow-metric-labels", "a=b"),
    ("allow-metric-labels-manifest", "x"),
    ("anonymous-auth-supported", "true"),
    ("bind-address", "127.0.0.1"),
    ("cert-dir", "x"),
    ("cluster-api-kubeconfig", "x"),
    ("contention-profiling", "true"),
    ("controllers", "*"),
    ("disable-http2-serving", "true"),
    ("disabled-metrics", "a"),
    ("feature-gates", "SocketConnection=true"),
    ("http2-max-streams-per-connection", "1"),
    ("kube-api-burst", "1"),
    ("kube-api-qps", "50.0"),
    ("kubeconfig", "/tmp/kubeconfig"),
    ("leader-elect", "true"),
    ("leader-elect-lease-duration", "10s"),
    ("leader-elect-renew-deadline", "10s"),
    ("leader-elect-resource-lock", "lease"),
    (
        "leader-elect-resource-name",
        "clusternet-controller-manager",
    ),
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
    ("profiling", "true"),
    ("reserved-namespace", "clusternet-reserved"),
    ("secure-port", "1"),
    ("show-hidden-metrics-for-version", "x"),
    ("threadiness", "1"),
    ("tls-cert-file", "x"),
    ("tls-cipher-suites", "TLS_AES_128_GCM_SHA256"),
    ("tls-min-version", "VersionTLS12"),
    ("tls-private-key-file", "x"),
    ("tls-sni-cert-key", "/tmp/a.crt,/tmp/a.key"),
    ("v", "2"),
    ("vmodule", "clusternet_hub=4"),
];

#[test]
fn every_go_flag_parses() {
    assert_eq!(GO_FLAGS.len(), 42);
    assert_every_flag_parses::<Options>(&["clusternet-controller-manager"], GO_FLAGS);
}
