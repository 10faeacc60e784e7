//! `apps.clusternet.io/v1alpha1`: the kinds that describe what to deploy where.
//!
//! * [`Subscription`]: which resources ("feeds") go to which clusters ("subscribers") and how
//!   replicas are scheduled.
//! * [`Base`], [`Description`], [`HelmRelease`]: the per-cluster objects the hub and the
//!   controller manager derive from a subscription, in each cluster's dedicated namespace.
//! * [`Localization`] (per cluster) and [`Globalization`] (cluster-scoped): overrides applied to
//!   feeds before they are deployed.
//! * [`HelmChart`]: a Helm chart as a feed.
//! * [`Manifest`]: the stored copy of any other resource used as a feed (in
//!   `clusternet-reserved`).
//! * [`FeedInventory`]: the scheduling requirements of a subscription's feeds.

mod base;
mod description;
mod feedinventory;
mod globalization;
mod helm;
mod localization;
mod manifest;
mod subscription;

pub use base::*;
pub use description::*;
pub use feedinventory::*;
pub use globalization::*;
pub use helm::*;
pub use localization::*;
pub use manifest::*;
pub use subscription::*;

/// The API version.
pub const VERSION: &str = "v1alpha1";

/// `<group>/<version>`, the `apiVersion` of every object in this package.
pub const API_VERSION: &str = "apps.clusternet.io/v1alpha1";
