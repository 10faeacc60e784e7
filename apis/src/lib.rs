//! Clusternet's API types, re-implemented in Rust so that they are identical on the wire to Go
//! Clusternet (v0.18).
//!
//! The crate is types-only (no IO). It provides:
//!
//! * [`clusters::v1beta1`]: `ClusterRegistrationRequest` and `ManagedCluster`
//!   (`clusters.clusternet.io`).
//! * [`apps::v1alpha1`]: `Subscription`, `Base`, `Description`, `Localization`, `Globalization`,
//!   `HelmChart`, `HelmRelease`, `Manifest` and `FeedInventory` (`apps.clusternet.io`) and their
//!   shared building blocks (`Feed`, `OverrideConfig`, `HelmOptions`, ...).
//! * [`multicluster::v1alpha1`]: the Multi-Cluster Services API `ServiceExport` and `ServiceImport`
//!   (`multicluster.x-k8s.io`) exactly as Clusternet ships their CRDs.
//! * [`proxies::v1alpha1`]: the `Socket` connect options of the hub's aggregated
//!   `proxies.clusternet.io` API (not a CRD).
//! * [`known`]: the well-known labels, annotations, finalizers, taints, namespaces and secret
//!   names Clusternet's components agree on.
//! * [`crds()`]: every CustomResourceDefinition, generated from the types above; the `crdgen`
//!   binary writes them to `deploy/crds/` (`make crds`).

pub mod apps;
pub mod clusters;
pub mod crd;
pub mod known;
pub mod multicluster;
pub mod proxies;
pub mod taints;

mod macros;
mod schema;
mod util;

pub use crd::{CrdError, crd_files, crds, to_yaml, try_crds};
pub use macros::UnknownValue;
