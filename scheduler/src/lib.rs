//! clusternet-scheduler: binds each `Subscription` to `ManagedCluster`s and writes the decision
//! into its status, as Go Clusternet's scheduler does (`pkg/scheduler`).
//!
//! - [`algorithm`]: the scheduling cycle as pure functions — candidate clusters from the
//!   subscribers' `clusterAffinity`, the `TaintToleration` filter and score, subgroups, and the
//!   selection with the `StaticAssigner`/`DynamicAssigner` plugins.
//! - [`divide`]: the replica-division math (static weights, dynamic spread, merging).
//! - [`hash`]: `status.specHash`, bit-for-bit as Clusternet computes it.
//! - [`taints`]: taint/toleration matching.
//! - [`predictor`]: the `Predictor` plugin (asks a cluster's predictor for max replicas).
//! - [`queue`]: the priority scheduling queue with backoff.
//! - [`config`]: `--config`, Go Clusternet's SchedulerConfiguration (profiles, plugins per
//!   extension point, the percentages).
//! - [`app`]: start-up and leader election.
//! - [`schedule`]: informers, event handlers, the scheduling loop and the `DefaultBinder`.

pub mod algorithm;
pub mod app;
pub mod config;
pub mod divide;
pub mod hash;
pub mod options;
pub mod predictor;
pub mod queue;
pub mod schedule;
pub use clusternet_apis::taints;
