//! clusternet-controller-manager: the parent-side controllers — registration approval
//! ([`approver`]), cluster lifecycle ([`lifecycle`]) and the deployer ([`deployer`]).

pub mod app;
pub mod approver;
pub mod deployer;
pub mod feedinventory;
pub mod lifecycle;
pub mod mcs;
pub mod options;
pub mod pusher;
