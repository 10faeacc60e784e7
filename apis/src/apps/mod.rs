//! The `apps.clusternet.io` API group: application distribution (subscriptions, feeds,
//! overrides, Helm charts and releases, descriptions, manifests).

pub mod v1alpha1;

/// The API group name.
pub const GROUP_NAME: &str = "apps.clusternet.io";
