//! `clusterlifecycle`: notices clusters whose agent went silent, as Clusternet does — when
//! `now > (lastObservedTime or creationTimestamp) + 3 × heartbeatFrequencySeconds`, the
//! `Ready` condition becomes `Unknown` (`ClusterStatusUnknown`, or `ClusterStatusNeverUpdated`
//! when the agent never reported) and healthz/livez/readyz false — and keeps the
//! `clusters.clusternet.io/unschedulable:NoSchedule` taint (value = the condition's reason) on
//! every cluster that is not Ready, removing it when it is Ready again.
//!
//! An agent of this project also renews a Lease named after its ManagedCluster in the
//! cluster's namespace (as the kubelet renews its node Lease) and writes the status only when
//! it changes: when that Lease is there, it alone tells liveness — stale once
//! `renewTime + leaseDurationSeconds` has passed. A Go agent has no Lease and is judged by its
//! status, as above. Leases are judged from the controller's cache, and a lapsed one is read
//! back from the parent before the cluster is marked, unless the cache holds another cluster's
//! renewal made after the deadline (so a cache that fell behind does not mark the whole fleet).
//!
//! Each cluster is re-checked exactly when its grace period would run out, so detection takes
//! the grace period, not a polling interval on top of it.
//!
//! When most of the fleet goes silent at once — more than 2 clusters, and at least
//! `--unhealthy-cluster-threshold` (55 %) of them, counting each from halfway through its
//! Lease (or status grace) — the fault is far likelier the parent's (an
//! overloaded or partitioned control plane) than theirs. As kube-controller-manager's node
//! lifecycle stops evicting in a disrupted zone (`--unhealthy-zone-threshold`), the silent
//! clusters are still marked `Unknown`, but not tainted unschedulable until fewer than half
//! that fraction have been late for one Lease duration without a break:
//! the scheduler then does not take every workload off every cluster at once, which on an
//! overloaded parent is thousands more writes, and removals in children that were healthy.
//! Go Clusternet taints them regardless.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clusternet_apis::clusters::v1beta1::{CLUSTER_READY, ManagedCluster};
use clusternet_apis::known;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use crate::deployer::key;

/// Heartbeat period assumed when the agent did not report one (Clusternet's 3 minutes).
const DEFAULT_HEARTBEAT: i64 = 180;
/// How many heartbeats may be missed.
const MISSED_HEARTBEATS: i64 = 3;

/// What the controller needs.
pub struct Ctx {
    client: kube::Client,
    resync: Duration,
    /// The agents' heartbeat Leases (labelled with their cluster ID).
    leases: Store<Lease>,
    /// Failures per cluster turned away for load, retried with a growing delay.
    retries: clusternet_component_base::reconcile::Retries<String>,
    /// Every ManagedCluster (the controller's own cache).
    clusters: Store<ManagedCluster>,
    /// `--unhealthy-cluster-threshold`.
    threshold: f64,
    /// Whether the fleet is disrupted, as of the last census.
    fleet: Mutex<Fleet>,
}

/// The fleet's state as of the last census.
#[derive(Default)]
struct Fleet {
    /// When the last census was made (counting is O(fleet), and a thousand silent clusters
    /// are each looked at every resync).
    counted_at: Option<Instant>,
    /// Whether it found the fleet disrupted (its changes are logged).
    disrupted: bool,
    /// Since when a disrupted fleet has been under the bar to leave it.
    calm_since: Option<Instant>,
}

/// [`Census::settle`] when no cluster has a Lease (this project's agent's default Lease).
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(40);

/// The fleet's state after a census at `now`: disrupted from the threshold on, and left once
/// under half of it for [`Census::settle`] without a break.
pub fn next_state(
    was: bool,
    census: Census,
    threshold: f64,
    calm_since: &mut Option<Instant>,
    now: Instant,
) -> bool {
    if !was || census.disrupted(threshold, true) {
        *calm_since = None;
        return census.disrupted(threshold, was);
    }
    let since = *calm_since.get_or_insert(now);
    if now.duration_since(since) < census.settle {
        return true;
    }
    *calm_since = None;
    false
}

/// How many of the fleet's clusters are silent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Census {
    /// Clusters [`late`]: half their span of silence or more.
    pub silent: usize,
    /// All ManagedClusters.
    pub total: usize,
    /// How long a disrupted fleet must stay under the bar before it is left: the longest
    /// heartbeat Lease of the fleet ([`DEFAULT_SETTLE`] without one). A stalled parent lets
    /// renewals through in bursts (N = 1,000: 869 late, then 144 seconds later, then 767), and
    /// each exit would taint the hundred or so still late.
    pub settle: Duration,
}

impl Census {
    /// Whether so many clusters are silent at once that the parent, not they, is likely at
    /// fault: more than 2, and at least `threshold` of the fleet (kube-controller-manager's
    /// rule for a disrupted zone). Once it was (`was`), until fewer than half that are: a
    /// parent that stalls for minutes keeps about half the fleet late, in and out of the
    /// threshold, and each time out would taint hundreds.
    pub fn disrupted(&self, threshold: f64, was: bool) -> bool {
        let bar = if was { threshold / 2.0 } else { threshold };
        self.silent > 2 && self.silent as f64 >= bar * self.total as f64
    }
}

impl Ctx {
    /// Whether the fleet is disrupted at `now` (from a census at most a second old).
    fn disrupted(&self, now: jiff::Timestamp) -> bool {
        let Ok(mut fleet) = self.fleet.lock() else {
            return false;
        };
        if fleet
            .counted_at
            .is_some_and(|at| at.elapsed() < Duration::from_secs(1))
        {
            return fleet.disrupted;
        }
        let clusters = self.clusters.state();
        let (mut silent, mut longest) = (0, None);
        for mc in &clusters {
            let lease = self.leases.get(
                &ObjectRef::<Lease>::new(mc.metadata.name.as_deref().unwrap_or_default())
                    .within(mc.metadata.namespace.as_deref().unwrap_or_default()),
            );
            if late(mc, lease.as_deref(), now) {
                silent += 1;
            }
            let duration = lease.and_then(|l| l.spec.as_ref()?.lease_duration_seconds);
            longest = longest.max(duration);
        }
        let census = Census {
            silent,
            total: clusters.len(),
            settle: longest
                .and_then(|s| u64::try_from(s).ok())
                .map_or(DEFAULT_SETTLE, Duration::from_secs),
        };
        let was = fleet.disrupted;
        let disrupted = next_state(
            was,
            census,
            self.threshold,
            &mut fleet.calm_since,
            Instant::now(),
        );
        fleet.counted_at = Some(Instant::now());
        fleet.disrupted = disrupted;
        if was != disrupted {
            if disrupted {
                tracing::warn!(
                    silent = census.silent,
                    total = census.total,
                    threshold = self.threshold,
                    "most clusters went silent at once: assuming the parent or the network is at fault; \
                     marking them not ready but not tainting them unschedulable until fewer than half \
                     the threshold are late for a Lease duration"
                );
            } else {
                tracing::info!(
                    silent = census.silent,
                    total = census.total,
                    settled = ?census.settle,
                    "fewer clusters are silent: tainting the silent ones unschedulable again"
                );
            }
        }
        disrupted
    }
}

/// Runs the controller until the process ends.
pub async fn run(client: kube::Client, resync: Duration, threshold: f64) {
    let (leases, mut renewals, _lease_watch) = clusternet_component_base::cache::spawn_shared(
        Api::<Lease>::all(client.clone()),
        watcher::Config::default().labels(known::CLUSTER_ID_LABEL),
        "cluster heartbeat leases",
        1,
    );
    let Some(renewals) = renewals.pop() else {
        return;
    };
    let controller = Controller::new(
        Api::<ManagedCluster>::all(client.clone()),
        watcher::Config::default(),
    );
    let ctx = Arc::new(Ctx {
        client,
        resync,
        leases,
        retries: Default::default(),
        clusters: controller.store(),
        threshold,
        fleet: Mutex::new(Fleet::default()),
    });
    controller
        .watches_shared_stream(renewals, |lease: Arc<Lease>| {
            let ns = lease.metadata.namespace.as_deref()?;
            Some(ObjectRef::<ManagedCluster>::new(lease.metadata.name.as_deref()?).within(ns))
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "clusterlifecycle");
            }
        })
        .await;
}

pub use clusternet_component_base::reconcile::ReconcileError as Error;

fn error_policy(mc: Arc<ManagedCluster>, err: &Error, ctx: Arc<Ctx>) -> Action {
    // Turned away for load: back off per cluster (a thousand clusters retrying every second
    // keep an overloaded parent overloaded).
    let delay = if clusternet_component_base::reconcile::is_throttled(&err.0) {
        ctx.retries.failed(key(mc.as_ref()))
    } else {
        Duration::from_secs(1)
    };
    tracing::warn!(cluster = %mc.metadata.name.as_deref().unwrap_or(""), error = %err, retry_in = ?delay, "cluster lifecycle; retrying");
    Action::requeue(delay)
}

/// When the cluster's heartbeat Lease runs out, if it has one written by its agent (held by
/// its cluster ID, with a renewal and a duration).
pub fn lease_deadline(mc: &ManagedCluster, lease: Option<&Lease>) -> Option<jiff::Timestamp> {
    let spec = lease?.spec.as_ref()?;
    if spec.holder_identity.as_deref() != Some(mc.spec.cluster_id.as_str()) {
        return None;
    }
    let renewed = spec.renew_time.as_ref()?.0;
    let duration = spec.lease_duration_seconds.filter(|d| *d > 0)?;
    renewed
        .checked_add(jiff::SignedDuration::from_secs(i64::from(duration)))
        .ok()
}

/// The latest renewal among `leases` (agents' Leases, held by their cluster ID).
pub fn newest_renewal(leases: &[Arc<Lease>]) -> Option<jiff::Timestamp> {
    leases
        .iter()
        .filter_map(|l| Some(l.spec.as_ref()?.renew_time.as_ref()?.0))
        .max()
}

/// When the cluster goes stale, and the span of silence that takes (the Lease's duration, or
/// without a Lease 3 status heartbeats counted from the last status or the creation).
pub fn liveness(
    mc: &ManagedCluster,
    lease: Option<&Lease>,
    now: jiff::Timestamp,
) -> (jiff::Timestamp, jiff::SignedDuration) {
    if let Some(deadline) = lease_deadline(mc, lease) {
        let seconds = lease
            .and_then(|l| l.spec.as_ref()?.lease_duration_seconds)
            .unwrap_or_default();
        return (
            deadline,
            jiff::SignedDuration::from_secs(i64::from(seconds)),
        );
    }
    let status = mc.status.as_ref();
    let frequency = status
        .and_then(|s| s.heartbeat_frequency_seconds)
        .filter(|f| *f > 0)
        .unwrap_or(DEFAULT_HEARTBEAT);
    let grace = jiff::SignedDuration::from_secs(frequency * MISSED_HEARTBEATS);
    let last = status
        .and_then(|s| s.last_observed_time.as_ref())
        .map(|t| t.0)
        .or_else(|| mc.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(now);
    (last.checked_add(grace).unwrap_or(last), grace)
}

/// Whether the cluster is at least halfway through its span of silence at `now` (half its
/// heartbeats missed), or past it. A parent that stalls delays every renewal at once, so when
/// the first Lease lapses the others are this late: counting only lapsed ones would taint the
/// first half of the fleet before the disruption showed.
pub fn late(mc: &ManagedCluster, lease: Option<&Lease>, now: jiff::Timestamp) -> bool {
    let (deadline, span) = liveness(mc, lease, now);
    deadline
        .checked_sub(span / 2)
        .is_ok_and(|halfway| now >= halfway)
}

/// The health verdict for a cluster at `now`: how long until it goes stale (None = already
/// stale), and the Ready condition to set if it is. With a heartbeat Lease, the Lease decides.
pub fn verdict(
    mc: &ManagedCluster,
    lease: Option<&Lease>,
    now: jiff::Timestamp,
) -> (Option<Duration>, Option<Condition>) {
    let never = mc
        .status
        .as_ref()
        .is_none_or(|s| s.last_observed_time.is_none());
    let (deadline, _) = liveness(mc, lease, now);
    if now < deadline {
        let left = deadline.duration_since(now);
        return (
            Some(Duration::from_secs_f64(left.as_secs_f64().max(0.0))),
            None,
        );
    }
    let (reason, message) = if never {
        (
            "ClusterStatusNeverUpdated",
            "Clusternet agent never posted cluster status.",
        )
    } else {
        (
            "ClusterStatusUnknown",
            "Clusternet agent stopped posting cluster status.",
        )
    };
    let condition = Condition {
        type_: CLUSTER_READY.into(),
        status: "Unknown".into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: Time(now),
        observed_generation: None,
    };
    (None, Some(condition))
}

/// The taints a cluster should carry given its Ready condition: all taints except the
/// unschedulable one, plus that one (value = reason) when Ready is not True — unless `hold`
/// (the fleet is disrupted) and the cluster is silent (`Unknown`) and not yet tainted.
pub fn desired_taints(mc: &ManagedCluster, hold: bool) -> Vec<Taint> {
    let ready = mc
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == CLUSTER_READY));
    let mut taints: Vec<Taint> = mc
        .spec
        .taints
        .iter()
        .filter(|t| t.key != known::TAINT_CLUSTER_UNSCHEDULABLE)
        .cloned()
        .collect();
    if let Some(cond) = ready
        && cond.status != "True"
    {
        let existing = mc.spec.taints.iter().find(|t| {
            t.key == known::TAINT_CLUSTER_UNSCHEDULABLE
                && t.value.as_deref() == Some(cond.reason.as_str())
        });
        match existing {
            Some(t) => taints.push(t.clone()),
            None if hold && cond.status == "Unknown" => {
                // Keep whatever unschedulable taint it has; add none.
                taints.extend(
                    mc.spec
                        .taints
                        .iter()
                        .filter(|t| t.key == known::TAINT_CLUSTER_UNSCHEDULABLE)
                        .cloned(),
                );
            }
            None => taints.push(Taint {
                key: known::TAINT_CLUSTER_UNSCHEDULABLE.into(),
                value: Some(cond.reason.clone()),
                effect: "NoSchedule".into(),
                time_added: None,
            }),
        }
    }
    taints
}

async fn reconcile(mc: Arc<ManagedCluster>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    // Each Lease renewal brings its cluster here: one that was turned away waits out its
    // backoff.
    if let Some(wait) = ctx.retries.pending(&key(mc.as_ref())) {
        return Ok(Action::requeue(wait));
    }
    let action = reconcile_inner(&mc, &ctx).await.map_err(Error::from)?;
    ctx.retries.succeeded(&key(mc.as_ref()));
    Ok(action)
}

async fn reconcile_inner(mc: &ManagedCluster, ctx: &Ctx) -> Result<Action> {
    let name = mc
        .metadata
        .name
        .clone()
        .context("ManagedCluster without name")?;
    let namespace = mc
        .metadata
        .namespace
        .clone()
        .context("ManagedCluster without namespace")?;
    let api: Api<ManagedCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    let cached = ctx
        .leases
        .get(&ObjectRef::<Lease>::new(&name).within(&namespace));
    // As kube-controller-manager's node lifecycle, from the cache: a Lease renewal arrives
    // every 10 s per cluster, and reading each one back would cost the parent as much again.
    let now = jiff::Timestamp::now();
    let (mut left, mut stale) = verdict(mc, cached.as_deref(), now);
    let mut read_back = false;
    let mut ran_out = lease_deadline(mc, cached.as_deref());
    // But a cache that fell behind (its watch delayed or re-listing on a parent that is
    // overloaded) would call every cluster silent at once. The cache is known to be current
    // past this cluster's deadline when it holds a renewal of another cluster made after that
    // deadline; otherwise the Lease itself decides.
    if stale.is_some()
        && let Some(deadline) = lease_deadline(mc, cached.as_deref())
        && newest_renewal(&ctx.leases.state()).is_none_or(|newest| newest <= deadline)
    {
        let fresh = Api::<Lease>::namespaced(ctx.client.clone(), &namespace)
            .get_opt(&name)
            .await
            .context("reading the cluster's heartbeat Lease")?;
        (left, stale) = verdict(mc, fresh.as_ref(), now);
        read_back = true;
        ran_out = lease_deadline(mc, fresh.as_ref());
    }
    let mut current = mc.clone();
    if let Some(condition) = stale {
        let status = current.status.get_or_insert_default();
        let already = status.conditions.iter().any(|c| {
            c.type_ == CLUSTER_READY && c.status == "Unknown" && c.reason == condition.reason
        });
        if !already {
            tracing::info!(cluster = %name, %namespace, reason = %condition.reason, read_back,
                lease_ran_out = ?ran_out.map(|d| d.to_string()),
                "cluster went silent: marking it not ready");
            status.conditions.retain(|c| c.type_ != CLUSTER_READY);
            status.conditions.push(condition);
            status.healthz = false;
            status.livez = false;
            status.readyz = false;
            // Optimistic concurrency: if the agent reported meanwhile, this conflicts, which is
            // right (the cluster is alive); the next event re-evaluates.
            current = api
                .replace_status(&name, &PostParams::default(), &current)
                .await
                .context("marking the cluster not ready")?;
        }
    }
    let mut taints = desired_taints(&current, false);
    let held = desired_taints(&current, true);
    if held != taints {
        // It would be tainted for being silent: not while most of the fleet is.
        let _ = ctx.clusters.wait_until_ready().await;
        if ctx.disrupted(now) {
            taints = held;
        }
    }
    if taints != current.spec.taints {
        let patch = serde_json::json!({"spec": {"taints": taints}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .context("updating cluster taints")?;
    }
    Ok(match left {
        // Re-check right after the grace period would run out.
        Some(left) => Action::requeue(left + Duration::from_millis(100)),
        None => Action::requeue(ctx.resync),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusternet_apis::clusters::v1beta1::ManagedClusterStatus;

    fn mc(
        last: Option<jiff::Timestamp>,
        freq: Option<i64>,
        ready: Option<(&str, &str)>,
    ) -> ManagedCluster {
        let mut mc = ManagedCluster::new("c1", Default::default());
        mc.metadata.creation_timestamp = Some(Time("2026-01-01T00:00:00Z".parse().unwrap()));
        mc.status = Some(ManagedClusterStatus {
            last_observed_time: last.map(Time),
            heartbeat_frequency_seconds: freq,
            conditions: ready
                .map(|(s, r)| {
                    vec![Condition {
                        type_: "Ready".into(),
                        status: s.into(),
                        reason: r.into(),
                        message: String::new(),
                        last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
                        observed_generation: None,
                    }]
                })
                .unwrap_or_default(),
            ..Default::default()
        });
        mc
    }

    #[test]
    fn grace_is_three_heartbeats() {
        let t0: jiff::Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let m = mc(Some(t0), Some(10), Some(("True", "ManagedClusterReady")));
        let (left, cond) = verdict(
            &m,
            None,
            t0.checked_add(jiff::SignedDuration::from_secs(29)).unwrap(),
        );
        assert_eq!((left, cond), (Some(Duration::from_secs(1)), None));
        let (left, cond) = verdict(
            &m,
            None,
            t0.checked_add(jiff::SignedDuration::from_secs(31)).unwrap(),
        );
        assert!(left.is_none());
        let cond = cond.unwrap();
        assert_eq!(
            (cond.status.as_str(), cond.reason.as_str()),
            ("Unknown", "ClusterStatusUnknown")
        );
    }

    #[test]
    fn never_reported_uses_creation_time_and_default_frequency() {
        let m = mc(None, None, None);
        let (_, cond) = verdict(&m, None, "2026-01-01T00:08:59Z".parse().unwrap());
        assert!(cond.is_none(), "9 minutes of grace by default");
        let (_, cond) = verdict(&m, None, "2026-01-01T00:09:01Z".parse().unwrap());
        assert_eq!(cond.unwrap().reason, "ClusterStatusNeverUpdated");
    }

    fn lease(holder: &str, renewed: jiff::Timestamp, seconds: i32) -> Lease {
        Lease {
            spec: Some(k8s_openapi::api::coordination::v1::LeaseSpec {
                holder_identity: Some(holder.into()),
                renew_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
                    renewed,
                )),
                lease_duration_seconds: Some(seconds),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_renewed_lease_keeps_an_old_status_alive_and_its_lapse_decides() {
        let t0: jiff::Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let at = |s: i64| t0.checked_add(jiff::SignedDuration::from_secs(s)).unwrap();
        // Status written at t0 with a 3-minute period; Lease renewed at t0 + 170 s for 30 s.
        let mut m = mc(Some(t0), Some(180), Some(("True", "ManagedClusterReady")));
        m.spec.cluster_id = "id-1".into();
        let l = lease("id-1", at(170), 30);
        assert_eq!(
            verdict(&m, Some(&l), at(199)).0,
            Some(Duration::from_secs(1))
        );
        let (left, cond) = verdict(&m, Some(&l), at(201));
        assert!(
            left.is_none(),
            "the Lease lapsed, though the status' grace has not"
        );
        assert_eq!(cond.unwrap().reason, "ClusterStatusUnknown");
        // A Lease held by another identity, or without a renewal, is not this agent's.
        let other = lease("id-2", at(170), 30);
        assert!(
            verdict(&m, Some(&other), at(201)).1.is_none(),
            "judged by the status"
        );
        assert!(lease_deadline(&m, Some(&Lease::default())).is_none());
    }

    #[test]
    fn the_newest_renewal_in_the_cache_tells_whether_it_is_current() {
        let t = |s: &str| -> jiff::Timestamp { format!("2026-01-01T00:00:{s}Z").parse().unwrap() };
        let leases = [
            Arc::new(lease("id-1", t("10"), 30)),
            Arc::new(lease("id-2", t("45"), 30)),
            Arc::new(Lease::default()),
        ];
        assert_eq!(newest_renewal(&leases), Some(t("45")));
        // id-1's deadline (00:40) is behind a renewal the cache holds: the cache is current.
        assert!(newest_renewal(&leases).is_some_and(|n| n > t("40")));
        assert_eq!(newest_renewal(&[]), None);
    }

    #[test]
    fn taints_follow_readiness() {
        let mut m = mc(None, Some(10), Some(("Unknown", "ClusterStatusUnknown")));
        m.spec.taints = vec![Taint {
            key: "other".into(),
            value: None,
            effect: "NoSchedule".into(),
            time_added: None,
        }];
        assert_eq!(
            desired_taints(&m, true),
            m.spec.taints,
            "a silent cluster is not tainted while the fleet is disrupted"
        );
        let t = desired_taints(&m, false);
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].key, known::TAINT_CLUSTER_UNSCHEDULABLE);
        assert_eq!(t[1].value.as_deref(), Some("ClusterStatusUnknown"));
        m.spec.taints = t.clone();
        assert_eq!(desired_taints(&m, true), t, "nor untainted");
        m.status.as_mut().unwrap().conditions[0].status = "False".into();
        m.status.as_mut().unwrap().conditions[0].reason = "ChildUnhealthy".into();
        assert_eq!(
            desired_taints(&m, true)[1].value.as_deref(),
            Some("ChildUnhealthy"),
            "a cluster its agent reports unhealthy is tainted regardless"
        );
        m.status.as_mut().unwrap().conditions[0].status = "True".into();
        assert_eq!(
            desired_taints(&m, false).len(),
            1,
            "the unschedulable taint goes when Ready"
        );
    }

    #[test]
    fn late_is_halfway_through_the_lease_or_the_status_grace() {
        let t0: jiff::Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let at = |s: i64| t0.checked_add(jiff::SignedDuration::from_secs(s)).unwrap();
        let mut m = mc(Some(t0), Some(180), Some(("True", "ManagedClusterReady")));
        m.spec.cluster_id = "id-1".into();
        let l = lease("id-1", t0, 40);
        assert!(!late(&m, Some(&l), at(19)));
        assert!(late(&m, Some(&l), at(20)));
        assert!(late(&m, Some(&l), at(60)), "and past the deadline");
        // Without a Lease: 3 × 180 s from the status, so halfway is 270 s.
        assert!(!late(&m, None, at(269)));
        assert!(late(&m, None, at(270)));
    }

    #[test]
    fn a_disrupted_fleet_is_left_once_calm_for_a_lease() {
        const SETTLE: Duration = Duration::from_secs(40);
        let c = |silent| Census {
            silent,
            total: 1000,
            settle: SETTLE,
        };
        let t0 = Instant::now();
        let mut calm = None;
        assert!(!next_state(false, c(549), 0.55, &mut calm, t0));
        assert!(next_state(false, c(869), 0.55, &mut calm, t0));
        // In bursts: under the bar, over it again, then under it for a Lease duration.
        assert!(next_state(true, c(144), 0.55, &mut calm, t0));
        assert!(next_state(true, c(767), 0.55, &mut calm, t0 + SETTLE));
        assert_eq!(calm, None);
        let t1 = t0 + SETTLE + Duration::from_secs(1);
        assert!(next_state(true, c(200), 0.55, &mut calm, t1));
        assert!(next_state(true, c(100), 0.55, &mut calm, t1 + SETTLE / 2));
        assert!(!next_state(true, c(100), 0.55, &mut calm, t1 + SETTLE));
        assert_eq!(calm, None);
    }

    #[test]
    fn a_disrupted_fleet_is_most_of_it_and_more_than_two() {
        let c = |silent, total| Census {
            silent,
            total,
            settle: DEFAULT_SETTLE,
        };
        assert!(
            !c(2, 2).disrupted(0.55, false),
            "two silent clusters are theirs"
        );
        assert!(!c(1, 1).disrupted(0.55, false));
        assert!(c(3, 3).disrupted(0.55, false));
        assert!(c(3, 5).disrupted(0.55, false));
        assert!(!c(3, 6).disrupted(0.55, false));
        assert!(c(856, 1000).disrupted(0.55, false));
        assert!(!c(549, 1000).disrupted(0.55, false));
        assert!(
            c(549, 1000).disrupted(0.55, true),
            "once in, until under half of it"
        );
        assert!(c(275, 1000).disrupted(0.55, true));
        assert!(!c(274, 1000).disrupted(0.55, true));
        assert!(!c(2, 3).disrupted(0.55, true));
        assert!(
            !c(1000, 1000).disrupted(1.01, false),
            "a threshold above 1 never holds"
        );
    }
}
