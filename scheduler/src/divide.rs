//! Replica division, as Clusternet's `defaultassigner` (`algorithm.go`) does it.
//!
//! - Static: each cluster's weight is the sum of the weights of the subscribers whose selector
//!   matches it; each feed's replicas are divided `floor(w·d/Σw)` and the remainder is handed
//!   out one by one in descending weight order (ties keep cluster order).
//! - Dynamic (`Spread`): incremental. A feed not scheduled yet or scaling up divides the
//!   deviation in proportion to each cluster's predicted capacity (largest remainder first; when
//!   demand exceeds the total capacity every cluster gets its capacity); scaling down divides the
//!   negative deviation in proportion to the current replicas; the result is merged onto the
//!   current assignment ([`TargetClusters::merge_one_feed`]).

use std::collections::{BTreeMap, HashMap};

use clusternet_apis::apps::v1alpha1::{
    DynamicDividingStrategy, Feed, FeedOrder, Subscription, SubscriptionStatus,
};

pub use clusternet_apis::apps::v1alpha1::feed_key;

/// A scheduling decision: the bound clusters (`<namespace>/<name>` of ManagedClusters) and, for
/// Dividing, per feed key the replicas of each bound cluster (same order), or `[]` for feeds
/// without replicas.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetClusters {
    /// `<namespace>/<name>` of each bound ManagedCluster.
    pub binding_clusters: Vec<String>,
    /// Feed key → replicas per bound cluster.
    pub replicas: BTreeMap<String, Vec<i32>>,
}

impl TargetClusters {
    /// The decision currently recorded in a Subscription's status.
    pub fn from_status(status: Option<&SubscriptionStatus>) -> Self {
        status
            .map(|s| Self {
                binding_clusters: s.binding_clusters.clone(),
                replicas: s.replicas.clone(),
            })
            .unwrap_or_default()
    }

    /// Sorts the clusters by name, permuting every replica array of matching length along
    /// (the `DefaultBinder`'s `sort.Stable(targetClusters)`).
    pub fn sort_by_cluster(&mut self) {
        let n = self.binding_clusters.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| self.binding_clusters[a].cmp(&self.binding_clusters[b]));
        self.binding_clusters = order
            .iter()
            .map(|&i| self.binding_clusters[i].clone())
            .collect();
        for replicas in self.replicas.values_mut() {
            if replicas.len() == n {
                *replicas = order.iter().map(|&i| replicas[i]).collect();
            }
        }
    }

    /// Merges the result for one feed onto this decision (Clusternet's `MergeOneFeed`): replicas
    /// of clusters already bound are added, new clusters are appended (with zeros for the other
    /// feeds that have replicas).
    pub fn merge_one_feed(&mut self, b: &TargetClusters) {
        if b.binding_clusters.is_empty() {
            return;
        }
        for (feed, replicas) in &b.replicas {
            if self.replicas.contains_key(feed) {
                continue;
            }
            let init = if replicas.is_empty() {
                Vec::new()
            } else {
                vec![0; self.binding_clusters.len()]
            };
            self.replicas.insert(feed.clone(), init);
        }
        let mut index: HashMap<String, usize> = self
            .binding_clusters
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        for (feed, replicas) in &b.replicas {
            if replicas.is_empty() {
                // Clusternet returns here, leaving any further feed of `b` unmerged.
                self.replicas.entry(feed.clone()).or_default();
                return;
            }
            for (bi, cluster) in b.binding_clusters.iter().enumerate() {
                let value = replicas.get(bi).copied().unwrap_or(0);
                if let Some(&ti) = index.get(cluster) {
                    let len = self.binding_clusters.len();
                    let target = self.replicas.entry(feed.clone()).or_default();
                    if target.len() != len {
                        *target = vec![0; len];
                        target[ti] = value;
                        continue;
                    }
                    target[ti] += value;
                } else {
                    self.binding_clusters.push(cluster.clone());
                    index.insert(cluster.clone(), self.binding_clusters.len() - 1);
                    for (f, r) in self.replicas.iter_mut() {
                        if f != feed {
                            if !r.is_empty() {
                                r.push(0);
                            }
                        } else {
                            r.push(value);
                        }
                    }
                }
            }
        }
    }
}

/// Static division of `desired` replicas by `weights` (Clusternet's `staticDivideReplicas`).
/// `weights` must not sum to zero.
pub fn static_divide_replicas(desired: i32, weights: &[i64]) -> Vec<i32> {
    let sum: i64 = weights.iter().sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut remain = desired as i64;
    let mut res: Vec<i32> = weights
        .iter()
        .map(|w| {
            let r = w * desired as i64 / sum;
            remain -= r;
            r as i32
        })
        .collect();
    if remain <= 0 {
        return res;
    }
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| weights[b].cmp(&weights[a]));
    for &i in order.iter().take(remain as usize) {
        res[i] += 1;
    }
    res
}

/// Dynamic division of `desired` replicas in proportion to `max_available` (Clusternet's
/// `dynamicDivideReplicas`): largest remainder first; when demand exceeds the total (or the
/// total is zero) the capacities themselves are returned.
pub fn dynamic_divide_replicas(desired: i32, max_available: &[i32]) -> Vec<i32> {
    let sum: i64 = max_available.iter().map(|&v| v as i64).sum();
    if sum == 0 || desired as i64 > sum {
        return max_available.to_vec();
    }
    let mut remain = desired as i64;
    let mut res = Vec::with_capacity(max_available.len());
    let mut decimals = Vec::with_capacity(max_available.len());
    for (i, &w) in max_available.iter().enumerate() {
        let product = w as i64 * desired as i64;
        let r = product / sum;
        res.push(r as i32);
        remain -= r;
        decimals.push((i, (product as f64 / sum as f64 - r as f64).abs()));
    }
    decimals.sort_by(|a, b| b.1.total_cmp(&a.1));
    if remain > 0 {
        for &(i, _) in decimals.iter().take(remain as usize) {
            res[i] += 1;
        }
    } else if remain < 0 {
        for &(i, _) in decimals.iter().take((-remain) as usize) {
            res[i] -= 1;
        }
    }
    res
}

/// Static dividing (the `StaticAssigner`): `weights` are the per-cluster weights of
/// `clusters` (see [`crate::algorithm::cluster_weights`]); every feed of the subscription gets
/// its FeedInventory replicas divided, or `[]` without replicas. Nothing is divided when all
/// weights are zero.
pub fn static_assign(
    clusters: Vec<String>,
    weights: &[i64],
    feeds: &[Feed],
    inventory: &[FeedOrder],
) -> TargetClusters {
    let mut result = TargetClusters {
        binding_clusters: clusters,
        replicas: BTreeMap::new(),
    };
    if weights.iter().sum::<i64>() == 0 {
        return result;
    }
    for feed in feeds {
        let order = inventory.iter().find(|o| &o.feed == feed);
        let replicas = match order.and_then(|o| o.desired_replicas) {
            Some(desired) => static_divide_replicas(desired, weights),
            None => Vec::new(),
        };
        result.replicas.insert(feed_key(feed), replicas);
    }
    result
}

/// Dynamic dividing (the `DynamicAssigner`, pre-assign + assign). `available` holds the
/// selected clusters and, per feed key, their predicted max available replicas.
pub fn dynamic_assign(
    sub: &Subscription,
    inventory: &[FeedOrder],
    available: &TargetClusters,
) -> TargetClusters {
    let current = TargetClusters::from_status(sub.status.as_ref());
    let strategy = sub
        .spec
        .dividing_scheduling
        .as_ref()
        .and_then(|d| d.dynamic_dividing.as_ref())
        .map(|d| d.strategy)
        .unwrap_or_default();
    let mut result = current.clone();
    for order in inventory {
        let key = feed_key(&order.feed);
        // PreAssign: the deviation between desired and currently assigned replicas.
        let deviation = order
            .desired_replicas
            .map(|d| d - current.replicas.get(&key).map_or(0, |r| r.iter().sum()));
        let scheduled = current.replicas.contains_key(&key);
        let mut r = TargetClusters::default();
        if !scheduled || deviation.is_some_and(|d| d > 0) {
            if strategy == DynamicDividingStrategy::Spread {
                r.binding_clusters = available.binding_clusters.clone();
                let replicas = match deviation {
                    Some(d) => dynamic_divide_replicas(
                        d,
                        available.replicas.get(&key).map_or(&[][..], |v| v),
                    ),
                    None => Vec::new(),
                };
                r.replicas.insert(key, replicas);
            }
        } else if let Some(d) = deviation.filter(|d| *d < 0)
            && strategy == DynamicDividingStrategy::Spread
        {
            r.binding_clusters = current.binding_clusters.clone();
            let replicas =
                dynamic_divide_replicas(d, current.replicas.get(&key).map_or(&[][..], |v| v));
            r.replicas.insert(key, replicas);
        }
        result.merge_one_feed(&r);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    // Cases from Clusternet's defaultassigner/algorithm_test.go (TestStaticDivideReplicas).
    #[test]
    fn static_division_matches_clusternet() {
        assert_eq!(static_divide_replicas(5, &[2, 1, 0, 2]), vec![2, 1, 0, 2]);
        assert_eq!(static_divide_replicas(10, &[2, 1, 2]), vec![4, 2, 4]);
        assert_eq!(static_divide_replicas(6, &[2, 1, 0, 2]), vec![3, 1, 0, 2]);
        assert_eq!(static_divide_replicas(5, &[5, 1, 0, 2]), vec![4, 0, 0, 1]);
        assert_eq!(static_divide_replicas(6, &[1, 2]), vec![2, 4]);
        assert_eq!(static_divide_replicas(7, &[1, 2]), vec![2, 5]);
        assert_eq!(static_divide_replicas(4, &[1, 1, 1]), vec![2, 1, 1]);
        assert_eq!(static_divide_replicas(5, &[1, 1, 1]), vec![2, 2, 1]);
        assert_eq!(static_divide_replicas(0, &[1, 3]), vec![0, 0]);
        assert_eq!(static_divide_replicas(1, &[1, 3]), vec![0, 1]);
    }

    // Cases from TestDynamicDivideReplicas.
    #[test]
    fn dynamic_division_matches_clusternet() {
        assert_eq!(dynamic_divide_replicas(6, &[3, 6, 9]), vec![1, 2, 3]);
        assert_eq!(dynamic_divide_replicas(2, &[3, 6, 9]), vec![0, 1, 1]);
        assert_eq!(dynamic_divide_replicas(3, &[3, 6, 9]), vec![1, 1, 1]);
        assert_eq!(dynamic_divide_replicas(3, &[0, 0, 0]), vec![0, 0, 0]);
        assert_eq!(dynamic_divide_replicas(6, &[1, 2, 2]), vec![1, 2, 2]);
        assert_eq!(dynamic_divide_replicas(-6, &[3, 6, 9]), vec![-1, -2, -3]);
        assert_eq!(dynamic_divide_replicas(-2, &[3, 6, 9]), vec![0, -1, -1]);
        assert_eq!(dynamic_divide_replicas(6, &[2, 1, 0, 2]), vec![2, 1, 0, 2]);
        assert_eq!(dynamic_divide_replicas(5, &[5, 1, 0, 2]), vec![3, 1, 0, 1]);
        assert_eq!(dynamic_divide_replicas(4, &[10, 10]), vec![2, 2]);
        assert_eq!(dynamic_divide_replicas(3, &[10, 5]), vec![2, 1]);
        assert_eq!(dynamic_divide_replicas(10, &[0, 0]), vec![0, 0]);
        // scale down by the current assignment: -3 over [2, 4] → [-1, -2]
        assert_eq!(dynamic_divide_replicas(-3, &[2, 4]), vec![-1, -2]);
    }

    #[test]
    fn feed_keys() {
        let f = |ns: &str| Feed {
            kind: "Deployment".into(),
            api_version: "apps/v1".into(),
            namespace: ns.into(),
            name: "web".into(),
        };
        assert_eq!(feed_key(&f("demo")), "apps/v1/Deployment/demo/web");
        assert_eq!(feed_key(&f("")), "apps/v1/Deployment/web");
    }

    #[test]
    fn sort_permutes_replicas() {
        let mut t = TargetClusters {
            binding_clusters: vec!["ns-b/c".into(), "ns-a/c".into()],
            replicas: BTreeMap::from([("f".into(), vec![4, 2]), ("g".into(), vec![])]),
        };
        t.sort_by_cluster();
        assert_eq!(t.binding_clusters, vec!["ns-a/c", "ns-b/c"]);
        assert_eq!(t.replicas["f"], vec![2, 4]);
        assert_eq!(t.replicas["g"], Vec::<i32>::new());
    }

    #[test]
    fn merge_adds_and_appends() {
        let mut t = TargetClusters {
            binding_clusters: vec!["a".into(), "b".into()],
            replicas: BTreeMap::from([("f".into(), vec![1, 2])]),
        };
        t.merge_one_feed(&TargetClusters {
            binding_clusters: vec!["b".into(), "c".into()],
            replicas: BTreeMap::from([("f".into(), vec![1, 3])]),
        });
        assert_eq!(t.binding_clusters, vec!["a", "b", "c"]);
        assert_eq!(t.replicas["f"], vec![1, 3, 3]);
        // a new feed on an existing decision starts from zeros
        t.merge_one_feed(&TargetClusters {
            binding_clusters: vec!["a".into()],
            replicas: BTreeMap::from([("g".into(), vec![5])]),
        });
        assert_eq!(t.replicas["g"], vec![5, 0, 0]);
    }

    #[test]
    fn dynamic_first_schedule_and_scale() {
        use clusternet_apis::apps::v1alpha1::{
            DividingScheduling, DynamicDividing, ReplicaDividingType, SubscriptionSpec,
        };
        let feed = Feed {
            kind: "Deployment".into(),
            api_version: "apps/v1".into(),
            namespace: "d".into(),
            name: "w".into(),
        };
        let key = feed_key(&feed);
        let mut sub = Subscription::new(
            "s",
            SubscriptionSpec {
                dividing_scheduling: Some(DividingScheduling {
                    r#type: ReplicaDividingType::Dynamic,
                    dynamic_dividing: Some(DynamicDividing::default()),
                }),
                ..Default::default()
            },
        );
        let order = |d| FeedOrder {
            feed: feed.clone(),
            desired_replicas: Some(d),
            ..Default::default()
        };
        let available = TargetClusters {
            binding_clusters: vec!["a".into(), "b".into()],
            replicas: BTreeMap::from([(key.clone(), vec![10, 30])]),
        };
        let first = dynamic_assign(&sub, &[order(8)], &available);
        assert_eq!(first.binding_clusters, vec!["a", "b"]);
        assert_eq!(first.replicas[&key], vec![2, 6]);
        sub.status = Some(SubscriptionStatus {
            binding_clusters: first.binding_clusters.clone(),
            replicas: first.replicas.clone(),
            ..Default::default()
        });
        // scale up by 4 more, proportional to capacity: +1, +3
        let up = dynamic_assign(&sub, &[order(12)], &available);
        assert_eq!(up.replicas[&key], vec![3, 9]);
        // scale down by 4, proportional to current [2, 6]: -1, -3
        let down = dynamic_assign(&sub, &[order(4)], &available);
        assert_eq!(down.replicas[&key], vec![1, 3]);
        // unchanged: nothing to do
        let same = dynamic_assign(&sub, &[order(8)], &available);
        assert_eq!(same.replicas[&key], vec![2, 6]);
    }
}
