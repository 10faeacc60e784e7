//! Peer Leases, in Go Clusternet's shape: `clusternet-hub-peer-<id>` in the lease namespace,
//! `holderIdentity` the JSON of [`PeerInfo`] (without Go's token: the credential is never
//! published). Each replica renews its own and lists the others'; a Lease counts as live while
//! its `renewTime` keeps changing (as observed here, so clocks need not agree).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::Peers;

/// Go's `peerLeasePrefix`.
pub const PEER_LEASE_PREFIX: &str = "clusternet-hub-peer";
/// `leaseDurationSeconds` of a peer Lease.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often a replica renews its Lease and looks at the others'.
pub const REFRESH: Duration = Duration::from_secs(2);

/// What a peer Lease's holderIdentity says (Go's `peerInfo`, without the token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The peer's ID (the Lease name's suffix).
    pub id: String,
    /// The address it advertises.
    pub host: String,
    /// Its peer port.
    pub port: u16,
}

/// `clusternet-hub-peer-<id>`.
pub fn lease_name(id: &str) -> String {
    format!("{PEER_LEASE_PREFIX}-{id}")
}

fn now() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

/// Holds this replica's Lease and a session to every live peer, until `shutdown` (then the
/// Lease is deleted so the others stop dialing at once).
pub async fn run(
    client: kube::Client,
    namespace: String,
    me: PeerInfo,
    peers: Arc<Peers>,
    shutdown: CancellationToken,
) {
    let api: Api<Lease> = Api::namespaced(client, &namespace);
    let name = lease_name(&me.id);
    let identity = serde_json::to_string(&me).unwrap_or_default();
    // Peer ID → (its info, the renewTime last seen, when it last changed, its dial task).
    let mut known: HashMap<String, (PeerInfo, Option<String>, Instant, CancellationToken)> =
        HashMap::new();
    let mut created = false;
    let mut tick = tokio::time::interval(REFRESH);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => break,
        }
        created = match renew(&api, &name, &identity, created).await {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(lease = %name, error = %err, "renewing the peer Lease");
                false
            }
        };
        let leases = match api.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(err) => {
                tracing::warn!(namespace = %namespace, error = %err, "listing peer Leases");
                continue;
            }
        };
        let mut seen = std::collections::HashSet::new();
        for lease in leases {
            let Some(info) = peer_info(&lease) else {
                continue;
            };
            if info.id == me.id {
                continue;
            }
            let renewed = lease
                .spec
                .as_ref()
                .and_then(|s| s.renew_time.as_ref())
                .map(|t| t.0.to_string());
            seen.insert(info.id.clone());
            match known.get_mut(&info.id) {
                Some((old, last, at, stop)) => {
                    if *last != renewed {
                        *last = renewed;
                        *at = Instant::now();
                    }
                    if *old != info {
                        stop.cancel();
                        *stop = spawn_dial(&peers, &info, &shutdown);
                        *old = info;
                    }
                }
                None => {
                    tracing::info!(peer_id = %info.id, host = %info.host, port = info.port, "found a peer");
                    let stop = spawn_dial(&peers, &info, &shutdown);
                    known.insert(info.id.clone(), (info, renewed, Instant::now(), stop));
                }
            }
        }
        known.retain(|id, (_, _, at, stop)| {
            let live = seen.contains(id) && at.elapsed() < LEASE_DURATION;
            if !live {
                tracing::info!(peer_id = %id, "peer gone (its Lease expired or was deleted)");
                stop.cancel();
            }
            live
        });
    }
    for (_, (_, _, _, stop)) in known {
        stop.cancel();
    }
    if let Err(err) = api.delete(&name, &DeleteParams::default()).await {
        tracing::info!(lease = %name, error = %err, "deleting the peer Lease");
    }
}

fn spawn_dial(
    peers: &Arc<Peers>,
    info: &PeerInfo,
    shutdown: &CancellationToken,
) -> CancellationToken {
    let stop = shutdown.child_token();
    tokio::spawn(super::client::run(
        peers.clone(),
        info.clone(),
        stop.clone(),
    ));
    stop
}

fn peer_info(lease: &Lease) -> Option<PeerInfo> {
    let name = lease.metadata.name.as_deref()?;
    let id = name.strip_prefix(PEER_LEASE_PREFIX)?.strip_prefix('-')?;
    let holder = lease.spec.as_ref()?.holder_identity.as_deref()?;
    let info: PeerInfo = serde_json::from_str(holder).ok()?;
    (info.id == id && info.port != 0 && !info.host.is_empty()).then_some(info)
}

async fn renew(api: &Api<Lease>, name: &str, identity: &str, created: bool) -> kube::Result<()> {
    let duration = i32::try_from(LEASE_DURATION.as_secs()).unwrap_or(15);
    if created {
        let patch = serde_json::json!({"spec": {"renewTime": now(), "holderIdentity": identity, "leaseDurationSeconds": duration}});
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(err) => return Err(err),
        }
    }
    let lease = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(
                [(
                    clusternet_apis::known::OBJECT_CREATED_BY_LABEL.to_string(),
                    clusternet_apis::known::CLUSTERNET_HUB_NAME.to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(identity.to_string()),
            lease_duration_seconds: Some(duration),
            acquire_time: Some(now()),
            renew_time: Some(now()),
            ..Default::default()
        }),
    };
    match api.create(&PostParams::default(), &lease).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let patch = serde_json::json!({"spec": {"renewTime": now(), "holderIdentity": identity, "leaseDurationSeconds": duration}});
            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(|_| ())
        }
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_identity_shape() {
        let info = PeerInfo {
            id: "abc".into(),
            host: "10.0.0.1".into(),
            port: 8123,
        };
        let json = serde_json::to_string(&info).unwrap();
        assert_eq!(json, r#"{"id":"abc","host":"10.0.0.1","port":8123}"#);
        let lease = Lease {
            metadata: kube::api::ObjectMeta {
                name: Some(lease_name("abc")),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(json),
                ..Default::default()
            }),
        };
        assert_eq!(peer_info(&lease), Some(info));
        // A Lease whose name and identity disagree, or another component's, is no peer.
        let mut other = lease.clone();
        other.metadata.name = Some(lease_name("xyz"));
        assert_eq!(peer_info(&other), None);
        other.metadata.name = Some("clusternet-controller-manager".into());
        assert_eq!(peer_info(&other), None);
    }
}
