//! The `clusters.clusternet.io` API group: cluster registration and managed clusters.

pub mod v1beta1;

/// The API group name.
pub const GROUP_NAME: &str = "clusters.clusternet.io";
