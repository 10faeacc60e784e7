//! The scheduling cycle of Clusternet's `genericScheduler`, without IO: candidate clusters,
//! filter and score plugins, subgroups, and selection. Prediction (IO) happens between
//! [`feasible_clusters`] and [`select`]; see [`crate::app`].
//!
//! Clusters are keyed `<namespace>/<name>`. Candidates are taken in key order, so ties (equal
//! weights or scores) are broken by name; Go Clusternet breaks them by informer-map order,
//! which is arbitrary.

use std::collections::BTreeMap;
use std::sync::Arc;

use clusternet_apis::apps::v1alpha1::{
    FeedInventory, ReplicaDividingType, SchedulingStrategyType, Subscription,
};
use clusternet_apis::clusters::v1beta1::ManagedCluster;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt};

use crate::config::{Assigner, Framework};
use crate::divide::{TargetClusters, dynamic_assign, feed_key, static_assign};
use crate::taints;

/// Plugin names, as Clusternet's `names` package.
pub mod names {
    /// Filter + Score on cluster taints.
    pub const TAINT_TOLERATION: &str = "TaintToleration";
    /// Predict: asks each cluster's predictor.
    pub const PREDICTOR: &str = "Predictor";
    /// Assign: static weights.
    pub const STATIC_ASSIGNER: &str = "StaticAssigner";
    /// PreAssign + Assign: dynamic dividing.
    pub const DYNAMIC_ASSIGNER: &str = "DynamicAssigner";
    /// Bind: writes the Subscription status.
    pub const DEFAULT_BINDER: &str = "DefaultBinder";
}

/// The score scale of normalized scores (`framework.MaxClusterScore`).
pub const MAX_CLUSTER_SCORE: i64 = 100;
/// Weight of the TaintToleration score plugin in the default profile.
pub const TAINT_TOLERATION_WEIGHT: i64 = 3;

/// Why scheduling failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The cluster cache is empty (requeued with backoff).
    #[error("no clusters available to schedule subscriptions")]
    NoClustersAvailable,
    /// No cluster passed the filters; Clusternet still binds the empty result.
    #[error("{0}")]
    Fit(String),
    /// Anything else (requeued with backoff).
    #[error("{0}")]
    Other(String),
}

impl ScheduleError {
    /// Clusternet decides on the error text: "clusters are available" errors are bound (empty)
    /// and not requeued.
    pub fn binds_empty(&self) -> bool {
        self.to_string().contains("clusters are available")
    }
}

/// `<namespace>/<name>` of a ManagedCluster.
pub fn cluster_key(mc: &ManagedCluster) -> String {
    format!(
        "{}/{}",
        mc.metadata.namespace.as_deref().unwrap_or_default(),
        mc.metadata.name.as_deref().unwrap_or_default()
    )
}

fn selector(ls: &LabelSelector) -> Option<Selector> {
    Selector::try_from(ls.clone()).ok()
}

/// Whether `mc`'s labels match a subscriber's `clusterAffinity` (an unparsable selector matches
/// nothing).
pub fn matches(ls: &LabelSelector, mc: &ManagedCluster) -> bool {
    let empty = BTreeMap::new();
    let labels = mc.metadata.labels.as_ref().unwrap_or(&empty);
    selector(ls).is_some_and(|s| s.matches(labels))
}

/// Whether the subscription uses the Dividing strategy.
pub fn is_dividing(sub: &Subscription) -> bool {
    sub.spec.scheduling_strategy == Some(SchedulingStrategyType::Dividing)
}

/// Whether the subscription uses dynamic dividing.
pub fn is_dynamic(sub: &Subscription) -> bool {
    is_dividing(sub)
        && sub
            .spec
            .dividing_scheduling
            .as_ref()
            .is_some_and(|d| d.r#type == ReplicaDividingType::Dynamic)
}

/// The result of the filter phase.
#[derive(Debug, Clone)]
pub struct Feasible {
    /// Clusters that passed every filter.
    pub clusters: Vec<Arc<ManagedCluster>>,
    /// Number of clusters in the cache.
    pub num_all: usize,
    /// Where the next cycle starts looking when not all candidates are needed.
    pub next_start: usize,
}

/// Clusternet only looks for a share of the feasible clusters when there are many (at least
/// 100) and the strategy is not Replication: `percentage` of them (adaptive `50 − n/125`, at
/// least 5 %, when 0), but never fewer than 100.
pub fn num_feasible_clusters_to_find(num_all: usize, percentage: i32, replication: bool) -> usize {
    const MIN_CLUSTERS: usize = 100;
    const MIN_PERCENTAGE: i64 = 5;
    if num_all < MIN_CLUSTERS || percentage >= 100 || replication {
        return num_all;
    }
    let mut pct = percentage as i64;
    if pct <= 0 {
        pct = (50 - num_all as i64 / 125).max(MIN_PERCENTAGE);
    }
    ((num_all as i64 * pct / 100) as usize).max(MIN_CLUSTERS)
}

/// Candidate clusters (union of the subscribers' matches, de-duplicated, skipping deleting
/// ones) filtered by `TaintToleration` when the profile runs it (without filter plugins every
/// candidate is feasible). A `Fit` error carries Clusternet's message
/// `0/N clusters are available: <count> <reason>, ….`
///
/// Candidates are taken in name order. When only a share of them is needed
/// ([`num_feasible_clusters_to_find`]), the search starts at `start` and wraps around, so that
/// successive cycles spread over all clusters, as Clusternet's round-robin index does.
pub fn feasible_clusters(
    sub: &Subscription,
    all: &[Arc<ManagedCluster>],
    start: usize,
    percentage_to_score: i32,
    framework: &Framework,
) -> Result<Feasible, ScheduleError> {
    if all.is_empty() {
        return Err(ScheduleError::NoClustersAvailable);
    }
    let mut sorted: Vec<(String, &Arc<ManagedCluster>)> =
        all.iter().map(|mc| (cluster_key(mc), mc)).collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut seen = std::collections::HashSet::new();
    let mut candidates: Vec<Arc<ManagedCluster>> = Vec::new();
    for subscriber in &sub.spec.subscribers {
        let Some(selector) = selector(&subscriber.cluster_affinity) else {
            continue;
        };
        let empty = BTreeMap::new();
        for (key, mc) in &sorted {
            if mc.metadata.deletion_timestamp.is_some()
                || !selector.matches(mc.metadata.labels.as_ref().unwrap_or(&empty))
            {
                continue;
            }
            if seen.insert(key.clone()) {
                candidates.push(Arc::clone(mc));
            }
        }
    }
    let n = candidates.len();
    let to_find = num_feasible_clusters_to_find(n, percentage_to_score, !is_dividing(sub));
    let start = if to_find < n { start % n.max(1) } else { 0 };
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut feasible = Vec::new();
    let mut processed = 0;
    for i in 0..n {
        if feasible.len() >= to_find {
            break;
        }
        let mc = &candidates[(start + i) % n];
        processed += 1;
        let unfit = if framework.taint_filter {
            taint_filter(sub, mc)
        } else {
            None
        };
        match unfit {
            None => feasible.push(Arc::clone(mc)),
            Some(reason) => *reasons.entry(reason).or_default() += 1,
        }
    }
    if feasible.is_empty() {
        let mut histogram: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
        histogram.sort();
        return Err(ScheduleError::Fit(format!(
            "0/{} clusters are available: {}.",
            all.len(),
            histogram.join(", ")
        )));
    }
    Ok(Feasible {
        clusters: feasible,
        num_all: all.len(),
        next_start: if n == 0 { 0 } else { (start + processed) % n },
    })
}

/// `TaintToleration` Filter: the reason a cluster is unschedulable, if it is.
pub fn taint_filter(sub: &Subscription, mc: &ManagedCluster) -> Option<String> {
    let taint = taints::find_untolerated(&mc.spec.taints, &sub.spec.cluster_tolerations, |t| {
        t.effect == "NoSchedule" || t.effect == "NoExecute"
    })?;
    Some(format!(
        "clusters(s) had taint {{{}: {}}}, that the subscription didn't tolerate",
        taint.key,
        taint.value.as_deref().unwrap_or_default()
    ))
}

/// `TaintToleration` Score (count of untolerated PreferNoSchedule taints), normalized reversed
/// and multiplied by `weight`, per cluster.
pub fn taint_scores(sub: &Subscription, clusters: &[Arc<ManagedCluster>], weight: i64) -> Vec<i64> {
    let tolerations: Vec<_> = sub
        .spec
        .cluster_tolerations
        .iter()
        .filter(|t| {
            matches!(
                t.effect.as_deref(),
                None | Some("") | Some("PreferNoSchedule")
            )
        })
        .cloned()
        .collect();
    let raw: Vec<i64> = clusters
        .iter()
        .map(|mc| {
            mc.spec
                .taints
                .iter()
                .filter(|t| t.effect == "PreferNoSchedule")
                .filter(|t| !tolerations.iter().any(|tol| taints::tolerates(tol, t)))
                .count() as i64
        })
        .collect();
    default_normalize_score(MAX_CLUSTER_SCORE, true, &raw)
        .into_iter()
        .map(|s| s * weight)
        .collect()
}

/// Clusternet's `helper.DefaultNormalizeScore`.
pub fn default_normalize_score(max: i64, reverse: bool, scores: &[i64]) -> Vec<i64> {
    let max_count = scores.iter().copied().fold(0, i64::max);
    if max_count == 0 {
        return if reverse {
            vec![max; scores.len()]
        } else {
            scores.to_vec()
        };
    }
    scores
        .iter()
        .map(|s| {
            let s = max * s / max_count;
            if reverse { max - s } else { s }
        })
        .collect()
}

/// A feasible cluster with its score and (dynamic dividing) per-feed predicted capacity, indexed
/// like the FeedInventory's feeds.
#[derive(Debug, Clone)]
pub struct ClusterScore {
    /// The cluster.
    pub cluster: Arc<ManagedCluster>,
    /// Summed weighted score.
    pub score: i64,
    /// Max available replicas per FeedInventory feed.
    pub max_available: Vec<Option<i32>>,
}

/// Scores and sorts (score descending; stable). Without score plugins every cluster scores 1
/// and keeps its place, as in Clusternet.
pub fn prioritize(
    sub: &Subscription,
    clusters: Vec<Arc<ManagedCluster>>,
    max_available: Vec<Vec<Option<i32>>>,
    framework: &Framework,
) -> Vec<ClusterScore> {
    let scores = match framework.taint_score_weight {
        Some(weight) => taint_scores(sub, &clusters, weight),
        None => vec![1; clusters.len()],
    };
    let mut list: Vec<ClusterScore> = clusters
        .into_iter()
        .zip(scores)
        .zip(max_available)
        .map(|((cluster, score), max_available)| ClusterScore {
            cluster,
            score,
            max_available,
        })
        .collect();
    list.sort_by_key(|cs| std::cmp::Reverse(cs.score));
    list
}

/// Subgroups (`schedulingBySubGroup`): per subscriber, the first `subGroupStrategy.minClusters`
/// of its matching clusters in score order.
pub fn subgroup(
    sub: &Subscription,
    list: Vec<ClusterScore>,
) -> Result<Vec<ClusterScore>, ScheduleError> {
    if sub.spec.scheduling_by_sub_group != Some(true) {
        return Ok(list);
    }
    let mut result = Vec::new();
    for subscriber in &sub.spec.subscribers {
        if selector(&subscriber.cluster_affinity).is_none() {
            continue;
        }
        let group: Vec<&ClusterScore> = list
            .iter()
            .filter(|cs| matches(&subscriber.cluster_affinity, &cs.cluster))
            .collect();
        let Some(strategy) = &subscriber.sub_group_strategy else {
            return Err(ScheduleError::Other(
                "subGroupStrategy filed can not be Empty".into(),
            ));
        };
        let take = (strategy.min_clusters.max(0) as usize).min(group.len());
        result.extend(group.into_iter().take(take).cloned());
    }
    Ok(result)
}

/// Per-cluster static weights: the sum of the positive weights of the subscribers matching
/// each cluster (Clusternet's `getWeightList`).
pub fn cluster_weights(sub: &Subscription, clusters: &[Arc<ManagedCluster>]) -> Vec<i64> {
    clusters
        .iter()
        .map(|mc| {
            sub.spec
                .subscribers
                .iter()
                .filter(|s| s.weight > 0 && matches(&s.cluster_affinity, mc))
                .map(|s| s.weight as i64)
                .sum()
        })
        .collect()
}

/// Selection: Replication binds every cluster; Dividing runs the profile's PreAssign and
/// Assign plugins (the first assigner that does not skip decides).
pub fn select(
    sub: &Subscription,
    finv: Option<&FeedInventory>,
    list: &[ClusterScore],
    framework: &Framework,
) -> Result<TargetClusters, ScheduleError> {
    if list.is_empty() {
        return Err(ScheduleError::Other("empty clusterScoreList".into()));
    }
    let bindings: Vec<String> = list.iter().map(|cs| cluster_key(&cs.cluster)).collect();
    if !is_dividing(sub) {
        return Ok(TargetClusters {
            binding_clusters: bindings,
            replicas: BTreeMap::new(),
        });
    }
    let inventory = finv.map(|f| f.spec.feeds.as_slice()).unwrap_or_default();
    let dividing = sub.spec.dividing_scheduling.as_ref();
    let dividing_type = dividing.map(|d| d.r#type);
    // Dynamic dividing hands the predicted capacities to the assigners.
    let mut available = TargetClusters {
        binding_clusters: bindings,
        replicas: BTreeMap::new(),
    };
    if dividing_type == Some(ReplicaDividingType::Dynamic) {
        for (index, order) in inventory.iter().enumerate() {
            if order.desired_replicas.is_none() {
                continue;
            }
            let key = feed_key(&order.feed);
            for cs in list {
                let Some(Some(max)) = cs.max_available.get(index) else {
                    return Err(ScheduleError::Other(format!(
                        "unable to get replicas for feed {key:?} in cluster {:?}",
                        cluster_key(&cs.cluster)
                    )));
                };
                available
                    .replicas
                    .entry(key.clone())
                    .or_default()
                    .push(*max);
            }
        }
    }
    // PreAssign `DynamicAssigner`: checks the dynamic settings and prepares the deviations
    // its Assign divides.
    let mut pre_assigned = false;
    if framework.dynamic_pre_assign && dividing_type == Some(ReplicaDividingType::Dynamic) {
        if dividing.and_then(|d| d.dynamic_dividing.as_ref()).is_none() {
            return Err(ScheduleError::Other(format!(
                "running PreAssign plugin {:?}: must specify field DynamicDividing when dividing type is dynamic",
                names::DYNAMIC_ASSIGNER
            )));
        }
        pre_assigned = true;
    }
    if framework.assigners.is_empty() {
        return Err(ScheduleError::Other(
            "assign status: Skip, empty assign plugins".into(),
        ));
    }
    for assigner in &framework.assigners {
        match (assigner, dividing_type) {
            (Assigner::Static, Some(ReplicaDividingType::Static)) => {
                let clusters: Vec<_> = list.iter().map(|cs| Arc::clone(&cs.cluster)).collect();
                let weights = cluster_weights(sub, &clusters);
                return Ok(static_assign(
                    available.binding_clusters,
                    &weights,
                    &sub.spec.feeds,
                    inventory,
                ));
            }
            (Assigner::Dynamic, Some(ReplicaDividingType::Dynamic)) => {
                if !pre_assigned {
                    return Err(ScheduleError::Other(format!(
                        "running Assign plugin {:?}: error reading \"PreAssign{}\" from cycleState: not found",
                        names::DYNAMIC_ASSIGNER,
                        names::DYNAMIC_ASSIGNER
                    )));
                }
                return Ok(dynamic_assign(sub, inventory, &available));
            }
            // Not its dividing type: this assigner skips.
            _ => {}
        }
    }
    // Every assigner skipped (e.g. no dividing settings).
    Err(ScheduleError::Other("assign status: Skip, ".into()))
}

/// Clusternet's `admit`: Replication always; Dividing only when the spec hash changed or the
/// scheduled replicas no longer match the FeedInventory.
pub fn admit(sub: &Subscription, finv: Option<&FeedInventory>, spec_hash: u64) -> bool {
    if !is_dividing(sub) {
        return true;
    }
    let status = sub.status.clone().unwrap_or_default();
    if spec_hash != status.spec_hash {
        return true;
    }
    let replicas = &status.replicas;
    if sub.spec.feeds.len() != replicas.len() {
        return true;
    }
    if sub
        .spec
        .feeds
        .iter()
        .any(|f| !replicas.contains_key(&feed_key(f)))
    {
        return true;
    }
    finv.map(|f| f.spec.feeds.as_slice())
        .unwrap_or_default()
        .iter()
        .any(|order| {
            let assigned: i32 = replicas
                .get(&feed_key(&order.feed))
                .map_or(0, |r| r.iter().sum());
            assigned != order.desired_replicas.unwrap_or(0)
        })
}

/// Whether the FeedInventory lists exactly the subscription's feeds, in order (Dividing
/// subscriptions wait for that).
pub fn inventory_matches(sub: &Subscription, finv: &FeedInventory) -> bool {
    sub.spec.feeds.len() == finv.spec.feeds.len()
        && sub
            .spec
            .feeds
            .iter()
            .zip(&finv.spec.feeds)
            .all(|(a, b)| *a == b.feed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusternet_apis::apps::v1alpha1::{
        DividingScheduling, Feed, FeedInventorySpec, FeedOrder, SubGroupStrategy, Subscriber,
        SubscriptionSpec,
    };
    use k8s_openapi::api::core::v1::Taint;

    fn cluster(ns: &str, labels: &[(&str, &str)], taints: Vec<Taint>) -> Arc<ManagedCluster> {
        let mut mc = ManagedCluster::new("mcls", Default::default());
        mc.metadata.namespace = Some(ns.into());
        mc.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        mc.spec.taints = taints;
        Arc::new(mc)
    }

    fn subscriber(labels: &[(&str, &str)], weight: i32) -> Subscriber {
        Subscriber {
            cluster_affinity: LabelSelector {
                match_labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                match_expressions: None,
            },
            weight,
            sub_group_strategy: None,
        }
    }

    fn feed() -> Feed {
        Feed {
            kind: "Deployment".into(),
            api_version: "apps/v1".into(),
            namespace: "demo".into(),
            name: "web".into(),
        }
    }

    fn sub(strategy: Option<ReplicaDividingType>, subscribers: Vec<Subscriber>) -> Subscription {
        Subscription::new(
            "s",
            SubscriptionSpec {
                scheduler_name: "default".into(),
                scheduling_strategy: Some(if strategy.is_some() {
                    SchedulingStrategyType::Dividing
                } else {
                    SchedulingStrategyType::Replication
                }),
                dividing_scheduling: strategy.map(|t| DividingScheduling {
                    r#type: t,
                    dynamic_dividing: None,
                }),
                subscribers,
                feeds: vec![feed()],
                ..Default::default()
            },
        )
    }

    fn finv(replicas: Option<i32>) -> FeedInventory {
        FeedInventory::new(
            "s",
            FeedInventorySpec {
                feeds: vec![FeedOrder {
                    feed: feed(),
                    desired_replicas: replicas,
                    ..Default::default()
                }],
            },
        )
    }

    fn unschedulable() -> Taint {
        Taint {
            key: "clusters.clusternet.io/unschedulable".into(),
            value: Some("ClusterStatusUnknown".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        }
    }

    fn run(
        s: &Subscription,
        f: Option<&FeedInventory>,
        all: &[Arc<ManagedCluster>],
    ) -> Result<TargetClusters, ScheduleError> {
        run_with(s, f, all, &Framework::default_profile("default"))
    }

    fn run_with(
        s: &Subscription,
        f: Option<&FeedInventory>,
        all: &[Arc<ManagedCluster>],
        fw: &Framework,
    ) -> Result<TargetClusters, ScheduleError> {
        let feasible = feasible_clusters(s, all, 0, 0, fw)?;
        let n = feasible.clusters.len();
        let list = prioritize(s, feasible.clusters, vec![vec![]; n], fw);
        let list = subgroup(s, list)?;
        let mut t = select(s, f, &list, fw)?;
        t.sort_by_cluster();
        Ok(t)
    }

    #[test]
    fn replication_binds_all_matching_untainted() {
        let all = vec![
            cluster("ns-b", &[("env", "prod")], vec![]),
            cluster("ns-a", &[("env", "prod")], vec![]),
            cluster("ns-c", &[("env", "dev")], vec![]),
            cluster("ns-d", &[("env", "prod")], vec![unschedulable()]),
        ];
        let s = sub(None, vec![subscriber(&[("env", "prod")], 0)]);
        let t = run(&s, None, &all).unwrap();
        assert_eq!(t.binding_clusters, vec!["ns-a/mcls", "ns-b/mcls"]);
        assert!(t.replicas.is_empty());
    }

    #[test]
    fn fit_error_message() {
        let all = vec![cluster("ns-d", &[("env", "prod")], vec![unschedulable()])];
        let s = sub(None, vec![subscriber(&[("env", "prod")], 0)]);
        let err = run(&s, None, &all).unwrap_err();
        assert_eq!(
            err.to_string(),
            "0/1 clusters are available: 1 clusters(s) had taint {clusters.clusternet.io/unschedulable: ClusterStatusUnknown}, that the subscription didn't tolerate."
        );
        assert!(err.binds_empty());
        // no matching cluster at all
        let err = run(&sub(None, vec![subscriber(&[("env", "x")], 0)]), None, &all).unwrap_err();
        assert_eq!(err.to_string(), "0/1 clusters are available: .");
        assert!(!ScheduleError::NoClustersAvailable.binds_empty());
    }

    #[test]
    fn static_weights_per_subscriber() {
        let all = vec![
            cluster("ns-a", &[("c", "a")], vec![]),
            cluster("ns-b", &[("c", "b")], vec![]),
        ];
        let s = sub(
            Some(ReplicaDividingType::Static),
            vec![subscriber(&[("c", "a")], 1), subscriber(&[("c", "b")], 2)],
        );
        let t = run(&s, Some(&finv(Some(6))), &all).unwrap();
        assert_eq!(t.binding_clusters, vec!["ns-a/mcls", "ns-b/mcls"]);
        assert_eq!(t.replicas["apps/v1/Deployment/demo/web"], vec![2, 4]);
        let t = run(&s, Some(&finv(Some(7))), &all).unwrap();
        assert_eq!(t.replicas["apps/v1/Deployment/demo/web"], vec![2, 5]);
        // a feed without replicas gets []
        let t = run(&s, Some(&finv(None)), &all).unwrap();
        assert_eq!(t.replicas["apps/v1/Deployment/demo/web"], Vec::<i32>::new());
    }

    #[test]
    fn subgroups_take_min_clusters() {
        let all = vec![
            cluster("ns-a", &[("g", "1")], vec![]),
            cluster("ns-b", &[("g", "1")], vec![]),
            cluster("ns-c", &[("g", "2")], vec![]),
        ];
        let mut s = sub(
            None,
            vec![subscriber(&[("g", "1")], 0), subscriber(&[("g", "2")], 0)],
        );
        s.spec.scheduling_by_sub_group = Some(true);
        assert!(run(&s, None, &all).is_err(), "subGroupStrategy required");
        for sb in &mut s.spec.subscribers {
            sb.sub_group_strategy = Some(SubGroupStrategy { min_clusters: 1 });
        }
        let t = run(&s, None, &all).unwrap();
        assert_eq!(t.binding_clusters, vec!["ns-a/mcls", "ns-c/mcls"]);
    }

    #[test]
    fn admit_dividing_only_on_change() {
        let mut s = sub(Some(ReplicaDividingType::Static), vec![]);
        let f = finv(Some(3));
        let hash = 42;
        assert!(admit(&s, Some(&f), hash), "never scheduled");
        s.status = Some(clusternet_apis::apps::v1alpha1::SubscriptionStatus {
            spec_hash: hash,
            replicas: BTreeMap::from([("apps/v1/Deployment/demo/web".into(), vec![1, 2])]),
            ..Default::default()
        });
        assert!(!admit(&s, Some(&f), hash));
        assert!(admit(&s, Some(&finv(Some(4))), hash), "replicas changed");
        assert!(admit(&s, Some(&f), 43), "spec changed");
        assert!(admit(&sub(None, vec![]), None, hash), "replication always");
    }

    #[test]
    fn share_of_clusters_to_find() {
        assert_eq!(num_feasible_clusters_to_find(50, 0, false), 50);
        assert_eq!(num_feasible_clusters_to_find(1000, 0, true), 1000);
        // adaptive: 50 - 1000/125 = 42 %
        assert_eq!(num_feasible_clusters_to_find(1000, 0, false), 420);
        assert_eq!(num_feasible_clusters_to_find(150, 10, false), 100);
        assert_eq!(num_feasible_clusters_to_find(10000, 0, false), 500);
        assert_eq!(num_feasible_clusters_to_find(1000, 100, false), 1000);
        // round robin over a share of 200 dividing candidates
        let all: Vec<_> = (0..200)
            .map(|i| cluster(&format!("ns-{i:03}"), &[("x", "y")], vec![]))
            .collect();
        let s = sub(
            Some(ReplicaDividingType::Static),
            vec![subscriber(&[("x", "y")], 1)],
        );
        let f =
            feasible_clusters(&s, &all, 150, 50, &Framework::default_profile("default")).unwrap();
        assert_eq!(f.clusters.len(), 100);
        assert_eq!(cluster_key(&f.clusters[0]), "ns-150/mcls");
        assert_eq!(f.next_start, 50);
    }

    fn profile(text: &str) -> Framework {
        crate::config::Settings::from_text(text, 0, 10)
            .unwrap()
            .profiles
            .remove("default")
            .unwrap()
    }

    #[test]
    fn profiles_change_the_cycle() {
        let all = vec![
            cluster("ns-a", &[("env", "prod")], vec![]),
            cluster("ns-d", &[("env", "prod")], vec![unschedulable()]),
        ];
        let s = sub(None, vec![subscriber(&[("env", "prod")], 0)]);
        // Without the TaintToleration filter the tainted cluster is feasible.
        let fw = profile("profiles: [{plugins: {filter: {disabled: [{name: \"*\"}]}}}]");
        let t = run_with(&s, None, &all, &fw).unwrap();
        assert_eq!(t.binding_clusters, vec!["ns-a/mcls", "ns-d/mcls"]);
        let err = run(&s, None, &all[1..]).unwrap_err();
        assert!(err.binds_empty(), "{err}");

        // Score: PreferNoSchedule taints order the clusters (subgroups take the best first);
        // without score plugins the name order stays.
        let prefer = Taint {
            key: "k".into(),
            value: None,
            effect: "PreferNoSchedule".into(),
            time_added: None,
        };
        let all = vec![
            cluster("ns-a", &[("g", "1")], vec![prefer]),
            cluster("ns-b", &[("g", "1")], vec![]),
        ];
        let mut s = sub(None, vec![subscriber(&[("g", "1")], 0)]);
        s.spec.scheduling_by_sub_group = Some(true);
        s.spec.subscribers[0].sub_group_strategy = Some(SubGroupStrategy { min_clusters: 1 });
        assert_eq!(
            run(&s, None, &all).unwrap().binding_clusters,
            vec!["ns-b/mcls"]
        );
        let fw = profile("profiles: [{plugins: {score: {disabled: [{name: TaintToleration}]}}}]");
        assert_eq!(
            run_with(&s, None, &all, &fw).unwrap().binding_clusters,
            vec!["ns-a/mcls"]
        );
        let feasible = feasible_clusters(&s, &all, 0, 0, &fw).unwrap();
        let scores: Vec<i64> = prioritize(&s, feasible.clusters, vec![vec![]; 2], &fw)
            .iter()
            .map(|c| c.score)
            .collect();
        assert_eq!(scores, vec![1, 1]);
        let fw = profile(
            "profiles: [{plugins: {score: {enabled: [{name: TaintToleration, weight: 10}]}}}]",
        );
        let feasible = feasible_clusters(&s, &all, 0, 0, &fw).unwrap();
        let scores: Vec<i64> = prioritize(&s, feasible.clusters, vec![vec![]; 2], &fw)
            .iter()
            .map(|c| c.score)
            .collect();
        assert_eq!(scores, vec![1000, 0], "weight 10 instead of 3");
    }

    #[test]
    fn assign_plugins_per_profile() {
        let all = vec![
            cluster("ns-a", &[("c", "a")], vec![]),
            cluster("ns-b", &[("c", "b")], vec![]),
        ];
        let s = sub(
            Some(ReplicaDividingType::Static),
            vec![subscriber(&[("c", "a")], 1), subscriber(&[("c", "b")], 2)],
        );
        let f = finv(Some(6));
        let fw = profile("profiles: [{plugins: {assign: {disabled: [{name: \"*\"}]}}}]");
        assert_eq!(
            run_with(&s, Some(&f), &all, &fw).unwrap_err().to_string(),
            "assign status: Skip, empty assign plugins"
        );
        let fw = profile("profiles: [{plugins: {assign: {disabled: [{name: StaticAssigner}]}}}]");
        assert_eq!(
            run_with(&s, Some(&f), &all, &fw).unwrap_err().to_string(),
            "assign status: Skip, "
        );
        // Dynamic dividing: without PreAssign the DynamicAssigner has no state (Go's error);
        // without the Predictor there are no capacities.
        let mut d = sub(
            Some(ReplicaDividingType::Dynamic),
            vec![subscriber(&[("c", "a")], 0)],
        );
        let fw =
            profile("profiles: [{plugins: {preAssign: {disabled: [{name: DynamicAssigner}]}}}]");
        assert_eq!(
            run_with(&d, Some(&finv(None)), &all, &fw)
                .unwrap_err()
                .to_string(),
            "running Assign plugin \"DynamicAssigner\": error reading \"PreAssignDynamicAssigner\" from cycleState: not found"
        );
        assert!(
            run(&d, Some(&finv(None)), &all)
                .unwrap_err()
                .to_string()
                .contains("must specify field DynamicDividing")
        );
        d.spec
            .dividing_scheduling
            .as_mut()
            .unwrap()
            .dynamic_dividing = Some(Default::default());
        // (no capacities predicted in this test: the feed's replicas cannot be placed)
        assert!(
            run(&d, Some(&f), &all)
                .unwrap_err()
                .to_string()
                .starts_with("unable to get replicas for feed")
        );
    }

    #[test]
    fn normalize() {
        assert_eq!(default_normalize_score(100, true, &[0, 0]), vec![100, 100]);
        assert_eq!(
            default_normalize_score(100, true, &[1, 2, 0]),
            vec![50, 0, 100]
        );
    }
}
