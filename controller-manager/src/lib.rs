//! clusternet-controller-manager: the parent-side controllers — registration approval
//! ([`approver`]) and cluster lifecycle ([`lifecycle`]).

pub mod app;
pub mod approver;
pub mod lifecycle;
pub mod options;
