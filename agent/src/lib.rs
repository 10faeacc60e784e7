//! clusternet-agent: runs in each child cluster. It registers the cluster with the parent
//! ([`registration`]), reports its status as the heartbeat ([`status`]) and keeps a tunnel open
//! to the hub so the child is reachable through the parent.

pub mod app;
pub mod credentials;
pub mod deployer;
pub mod mcs;
pub mod options;
pub mod predictor;
pub mod registration;
pub mod status;
pub mod tunnel;
