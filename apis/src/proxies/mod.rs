//! The `proxies.clusternet.io` API group, served by clusternet-hub as an aggregated API.

pub mod v1alpha1;

/// The API group name.
pub const GROUP_NAME: &str = "proxies.clusternet.io";
