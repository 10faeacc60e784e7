//! Every flag Go Clusternet's clusternet-hub defines (v0.18: its own, k8s.io/apiserver's and
//! component-base's, `--help` and `--version` aside) is accepted with Go's name and a value of
//! Go's type; the list is data, taken from Go's flag set.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clusternet_hub::options::Options;
use clusternet_test_support::flags::assert_every_flag_parses;

/// (flag, a value Go accepts), sorted by name.
const GO_FLAGS: &[(&str, &str)] = &[
    ("audit-log-compress", "true"),
    ("audit-log-format", "json"),
    ("audit-log-maxage", "1"),
    ("audit-log-maxbackup", "1"),
    ("audit-log-maxsize", "1"),
    ("audit-log-path", "x"),
    ("audit-log-version", "audit.k8s.io/v1"),
    ("authentication-kubeconfig", "x"),
    ("authentication-skip-lookup", "true"),
    ("authentication-token-webhook-cache-ttl", "10s"),
    ("authentication-tolerate-lookup-failure", "true"),
    ("authorization-always-allow-paths", "a"),
    ("authorization-kubeconfig", "x"),
    ("authorization-webhook-cache-authorized-ttl", "10s"),
    ("authorization-webhook-cache-unauthorized-ttl", "10s"),
    ("bind-address", "127.0.0.1"),
    ("cert-dir", "apiserver.local.config/certificates"),
    ("client-ca-file", "x"),
    ("contention-profiling", "true"),
    ("debug-socket-path", "x"),
    ("disable-http2-serving", "true"),
    ("enable-priority-and-fairness", "true"),
    ("enable-tunnel-logging", "true"),
    ("feature-gates", "SocketConnection=true"),
    ("http2-max-streams-per-connection", "1"),
    ("kube-api-burst", "1"),
    ("kube-api-qps", "50.0"),
    ("kubeconfig", "/tmp/kubeconfig"),
    ("leader-elect", "true"),
    ("leader-elect-lease-duration", "10s"),
    ("leader-elect-renew-deadline", "10s"),
    ("leader-elect-resource-lock", "lease"),
    ("leader-elect-resource-name", "clusternet-hub"),
    ("leader-elect-resource-namespace", "clusternet-system"),
    ("leader-elect-retry-period", "10s"),
    ("log-flush-frequency", "10s"),
    ("log-json-info-buffer-size", "0"),
    ("log-json-split-stream", "true"),
    ("log-text-info-buffer-size", "0"),
    ("log-text-split-stream", "true"),
    ("logging-format", "text"),
    ("peer-advertise-address", "127.0.0.1"),
    ("peer-port", "1"),
    ("peer-token", "Cheugy"),
    ("permit-address-sharing", "true"),
    ("permit-port-sharing", "true"),
    ("profiling", "true"),
    ("requestheader-allowed-names", "a"),
    ("requestheader-client-ca-file", "x"),
    ("requestheader-extra-headers-prefix", "a"),
    ("requestheader-group-headers", "a"),
    ("requestheader-uid-headers", "a"),
    ("requestheader-username-headers", "a"),
    ("reserved-namespace", "clusternet-reserved"),
    ("secure-port", "1"),
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
    assert_eq!(GO_FLAGS.len(), 62);
    assert_every_flag_parses::<Options>(&["clusternet-hub"], GO_FLAGS);
}
