//! What every Clusternet binary shares, in the spirit of Kubernetes' `k8s.io/component-base`:
//! the value types of common flags (Go-style durations, `--feature-gates`), logging set up from
//! `-v`, and building clients to the parent or child cluster from `--kubeconfig`.

pub mod cache;
pub mod client;
pub mod duration;
pub mod featuregate;
pub mod finalizers;
pub mod leader;
pub mod lifeline;
pub mod logging;
pub mod objects;
pub mod options;
pub mod quantity;
pub mod reconcile;
pub mod sealed;
pub mod serving;
pub mod signals;
pub mod transport;
pub mod ttl_cache;

pub use duration::GoDuration;
pub use featuregate::FeatureGates;
