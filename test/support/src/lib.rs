//! Real local Kubernetes control planes for Clusternet's end-to-end tests, `make up` and the
//! benchmarks.
//!
//! A control plane is the `controlplane` program built from `test/controlplane` (etcd +
//! kube-apiserver + kube-controller-manager, all from Kubernetes' own Go modules). This crate
//! starts any number of them in parallel on OS-chosen loopback ports, waits until `/readyz`
//! answers, hands out [`kube::Client`]s, kubeconfig paths and a same-version `kubectl`, and
//! stops them when the [`ControlPlane`] is dropped — also when a test panics. If the test process
//! is killed outright, each control plane notices its stdin closing and exits by itself.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use clusternet_test_support::ControlPlane;
//! let [parent, child] = ControlPlane::start_many(["parent", "child1"]).await?;
//! let out = parent.kubectl(["get", "ns"]).await?;
//! assert!(out.contains("kube-system"));
//! let client = child.client().await?;
//! # drop(client);
//! # Ok(()) }
//! ```

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod certs;
pub mod charts;
pub mod clusternet;
pub mod controlplane;
pub mod flags;
pub mod haproxy;
pub mod kubectl;
pub mod kwok;
pub mod mock;
pub mod paths;
pub mod process;
pub mod shared;
pub mod wait;

pub use controlplane::ControlPlane;
pub use kubectl::Kubectl;
pub use wait::wait_for;

/// A loopback port free right now (for a component that must be told its port up front).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Installs the ring rustls provider as the process default (idempotent). Every TLS user in the
/// workspace builds on ring; doing this once up front makes that explicit.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
