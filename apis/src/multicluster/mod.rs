//! The `multicluster.x-k8s.io` API group (Kubernetes Multi-Cluster Services API), as shipped with
//! Clusternet.

pub mod v1alpha1;

/// The API group name.
pub const GROUP_NAME: &str = "multicluster.x-k8s.io";
