//! Flags of hub peering (Go's `peer connections` flag set): `--peer-advertise-address`,
//! `--peer-port`, `--peer-token`, and where the peers' Leases live.

use std::net::IpAddr;

use clusternet_component_base::GoDuration;

/// How hub replicas find and reach each other.
#[derive(Clone, Debug, clap::Args)]
pub struct PeerOptions {
    /// The IP address on which to advertise the hub to its peers (the other replicas); it must
    /// be reachable by them. Peering is on when this is set (a pod sets it to its own IP), off
    /// when unset: a single hub then does no peer work at all.
    #[arg(long)]
    pub peer_advertise_address: Option<IpAddr>,

    /// The port on which to serve HTTPS for communicating with peers (0 picks a free port,
    /// which is what the peer Lease advertises).
    #[arg(long, default_value_t = 8123)]
    pub peer_port: u16,

    /// An extra secret all replicas share, mixed into the peer credential. Peers always prove
    /// to each other that they hold the hub's serving key (see `peers` module docs); unlike Go
    /// Clusternet there is no fixed default token.
    #[arg(long)]
    pub peer_token: Option<String>,

    /// Namespace of the peer Leases `clusternet-hub-peer-<id>` (default: as Go's hub,
    /// --leader-elect-resource-namespace).
    #[arg(long)]
    pub peer_lease_namespace: Option<String>,

    /// How long a proxied request for a cluster whose tunnel is on no replica waits for its
    /// agent to reconnect (to any replica) before it fails.
    #[arg(long, default_value = "15s")]
    pub peer_tunnel_wait: GoDuration,
}

impl PeerOptions {
    /// Whether peering is on.
    pub fn enabled(&self) -> bool {
        self.peer_advertise_address.is_some()
    }
}
