//! Applying Clusternet `Description`s (generic deployer) into child clusters, compatible with Go
//! Clusternet's `pkg/utils/deployer.go` and the agent/hub generic deployers:
//!
//! * every object of `spec.raw` is server-side applied ([`child::FIELD_MANAGER`], forced) with
//!   Clusternet's marks: annotation `apps.clusternet.io/owned-by-description: <ns>.<name>` and
//!   `clusternet.io/last-applied-configuration`;
//! * objects recorded in `status.manifestStatuses` that left `spec.raw` are pruned;
//! * on deletion every object is deleted from the child, then finalizer
//!   `apps.clusternet.io/finalizer` is removed;
//! * status: phase `Success`/`Failure`, `reason` with the child's error messages, one
//!   `manifestStatuses` entry per object with its `.status` in the child;
//! * drift: applied kinds are watched in the child (one watch per kind, all namespaces) and
//!   changed or deleted objects are put back at once; every Description is also reconciled every
//!   5 minutes ([`Settings::resync`]) as a backstop. Go Clusternet only does this in the agent and
//!   only with the `Recovery` gate; here it is always on, in pull and push mode alike.
//!
//! Differences from Go Clusternet, on purpose: server-side apply (one field manager,
//! `clusternet`) instead of create + three-way patch; namespaces and CRDs are applied before the
//! other objects (Clusternet applies all at once and retries; it does not create missing
//! namespaces and neither does this); `ownerReferences` are dropped (they name parent UIDs);
//! prune and offload delete only objects still annotated as owned by the Description.
//!
//! The pure rules live in [`object`] and [`status`]; [`child`] talks to one child cluster;
//! [`controller`] is the loop the agent (pull) and the controller-manager (push) run with their
//! own [`controller::Placement`].

pub mod child;
pub mod controller;
pub mod helm;
pub mod object;
pub mod queue;
pub mod status;

pub use child::{Child, DriftReceiver, DriftSender, FIELD_MANAGER, drift_channel};
pub use controller::{Placement, Settings, Target, Wakeups, run, run_with_wakeups};
