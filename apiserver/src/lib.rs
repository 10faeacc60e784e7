//! clusternet-hub: Clusternet's aggregated apiserver, registered on the parent cluster through
//! APIServices `v1alpha1.proxies.clusternet.io` and `v1alpha1.shadow`.
//!
//! Layout, in the shape of k8s.io/apiserver:
//! - pure pieces with no IO: [`status`] (errors → `metav1.Status`), [`request_info`],
//!   [`negotiate`] (content types), [`discovery`] documents, [`health`], [`metrics`];
//! - authentication ([`authn`]) and authorization ([`authz`]) against the parent;
//! - the request path as tower layers ([`stack`]) and the [`router`];
//! - the TLS listener ([`server`]) and start-up ([`app`]);
//! - the served groups: [`proxies`] and [`shadow`].

pub mod app;
pub mod authn;
pub mod authz;
pub mod body;
pub use clusternet_component_base::ttl_cache as cache;
pub mod discovery;
#[doc(hidden)]
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub use clusternet_component_base::serving::health;
pub mod metrics;
pub mod negotiate;
pub mod openapi;
pub mod options;
pub mod peers;
pub mod proxies;
pub mod request_info;
pub mod router;
pub mod server;
pub mod serving_cert;
pub mod shadow;
pub mod stack;
pub mod status;
