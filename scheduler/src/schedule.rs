//! Informers and event handlers, the scheduling loop and the `DefaultBinder`
//! (Clusternet's `pkg/scheduler/scheduler.go`).
//!
//! Triggers, as Clusternet: a Subscription is queued when added or when its spec changes; a
//! FeedInventory add/update queues the Subscription of the same name; a ManagedCluster add,
//! delete, or label/taint change queues the Subscriptions with a subscriber matching its old or
//! new labels; with gate `FailOver` a cluster turning not Ready queues those matching it.
//! (Readiness itself is not a filter: the cluster lifecycle controller taints a not-ready
//! cluster `clusters.clusternet.io/unschedulable:NoSchedule`, which `TaintToleration` filters.)

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use clusternet_apis::apps::v1alpha1::{FeedInventory, Subscription, SubscriptionStatus};
use clusternet_apis::clusters::v1beta1::ManagedCluster;
use clusternet_component_base::featuregate::Feature;
use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::watcher::{self, Event};
use kube::{Resource, ResourceExt};
use serde_json::Value;

use crate::algorithm::{self, ScheduleError};
use crate::config::{Framework, Settings};
use crate::divide::TargetClusters;
use crate::hash::hash_subscription_spec;
use crate::options::Options;
use crate::predictor;
use crate::queue::SchedulingQueue;

/// The informer caches.
#[derive(Default)]
struct Caches {
    clusters: HashMap<String, Arc<ManagedCluster>>,
    subs: HashMap<String, Arc<Subscription>>,
    finvs: HashMap<String, Arc<FeedInventory>>,
}

struct Scheduler {
    client: kube::Client,
    caches: Mutex<Caches>,
    queue: SchedulingQueue,
    recorder: Recorder,
    opts: Options,
    /// The profiles (`--config`, or the default one) and the percentages.
    settings: Arc<Settings>,
    /// Round-robin start of the cluster search (Clusternet's `nextStartClusterIndex`).
    next_start: std::sync::atomic::AtomicUsize,
}

fn key_of<K: Resource>(obj: &K) -> String {
    format!(
        "{}/{}",
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default()
    )
}

/// Whether a ManagedCluster's Ready condition is True (`ClusterHasReadyCondition`).
pub fn cluster_ready(mc: &ManagedCluster) -> bool {
    mc.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// Scheduling, while this replica leads; it all stops when this future is dropped.
pub async fn lead(opts: Options, settings: Arc<Settings>, parent: kube::Client) -> Result<()> {
    let recorder = Recorder::new(
        parent.clone(),
        Reporter {
            controller: "clusternet-scheduler".into(),
            instance: std::env::var("HOSTNAME").ok(),
        },
    );
    let sched = Arc::new(Scheduler {
        client: parent.clone(),
        caches: Mutex::default(),
        queue: SchedulingQueue::default(),
        recorder,
        opts,
        settings,
        next_start: Default::default(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(watch_clusters(Arc::clone(&sched)));
    tasks.spawn(watch_subscriptions(Arc::clone(&sched)));
    tasks.spawn(watch_inventories(Arc::clone(&sched)));
    tasks.spawn(schedule_loop(Arc::clone(&sched)));
    tracing::info!("clusternet-scheduler started");
    let stopped = tasks.join_next().await;
    Err(anyhow::anyhow!("a scheduler task stopped: {stopped:?}"))
}

/// Folds watcher events into add/update/delete callbacks, detecting deletions across re-lists.
async fn watch<K, F>(api: Api<K>, mut on_change: F) -> Result<()>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    K::DynamicType: Default,
    F: FnMut(Option<Arc<K>>, Option<Arc<K>>),
{
    let mut known: HashMap<String, Arc<K>> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    // Watch errors (the parent restarting, a dropped connection) are retried with backoff by
    // the watcher; they end nothing.
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(kind = %K::kind(&Default::default()), error = %err, "watch failed; retrying with backoff");
                continue;
            }
        };
        match event {
            Event::Init => seen.clear(),
            Event::InitApply(obj) | Event::Apply(obj) => {
                let key = key_of(&obj);
                seen.insert(key.clone());
                let new = Arc::new(obj);
                let old = known.insert(key, Arc::clone(&new));
                on_change(old, Some(new));
            }
            Event::Delete(obj) => {
                let key = key_of(&obj);
                let old = known.remove(&key).unwrap_or_else(|| Arc::new(obj));
                on_change(Some(old), None);
            }
            Event::InitDone => {
                let gone: Vec<String> = known
                    .keys()
                    .filter(|k| !seen.contains(*k))
                    .cloned()
                    .collect();
                for key in gone {
                    if let Some(old) = known.remove(&key) {
                        on_change(Some(old), None);
                    }
                }
            }
        }
    }
    Ok(())
}

impl Scheduler {
    /// The profile scheduling `sub`, when this scheduler has one for its `schedulerName`.
    fn framework(&self, sub: &Subscription) -> Option<&Framework> {
        self.settings.framework(&sub.spec.scheduler_name)
    }

    fn responsible(&self, sub: &Subscription) -> bool {
        self.framework(sub).is_some()
    }

    fn enqueue(&self, key: &str) {
        let caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sub) = caches.subs.get(key)
            && sub.metadata.deletion_timestamp.is_none()
            && self.responsible(sub)
        {
            self.queue.add(key, sub.spec.priority.unwrap_or(0));
        }
    }

    /// Queues subscriptions with a subscriber matching either cluster's labels.
    fn enqueue_for_cluster(&self, new: Option<&ManagedCluster>, old: Option<&ManagedCluster>) {
        let keys: Vec<String> = {
            let caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
            caches
                .subs
                .iter()
                .filter(|(_, sub)| {
                    sub.spec.subscribers.iter().any(|s| {
                        new.is_some_and(|mc| algorithm::matches(&s.cluster_affinity, mc))
                            || old.is_some_and(|mc| algorithm::matches(&s.cluster_affinity, mc))
                    })
                })
                .map(|(k, _)| k.clone())
                .collect()
        };
        for key in keys {
            self.enqueue(&key);
        }
    }
}

async fn watch_clusters(sched: Arc<Scheduler>) -> Result<()> {
    let api: Api<ManagedCluster> = Api::all(sched.client.clone());
    let fail_over = sched.opts.feature_gates.enabled(Feature::FailOver);
    watch(api, |old, new| {
        {
            let mut caches = sched.caches.lock().unwrap_or_else(|e| e.into_inner());
            match (&old, &new) {
                (_, Some(mc)) => caches.clusters.insert(key_of(mc.as_ref()), Arc::clone(mc)),
                (Some(mc), None) => caches.clusters.remove(&key_of(mc.as_ref())),
                (None, None) => None,
            };
        }
        match (old.as_deref(), new.as_deref()) {
            (None, Some(mc)) => {
                if mc.metadata.deletion_timestamp.is_none() {
                    sched.enqueue_for_cluster(Some(mc), None);
                }
            }
            (Some(old), Some(mc)) => {
                if mc.metadata.deletion_timestamp.is_some() {
                    return;
                }
                if !cluster_ready(mc) {
                    if fail_over {
                        tracing::debug!(cluster = %key_of(mc), "cluster is not ready: failing over");
                        sched.enqueue_for_cluster(None, Some(old));
                        return;
                    }
                    tracing::debug!(cluster = %key_of(mc), "cluster is not ready; gate FailOver is off");
                }
                if old.metadata.labels == mc.metadata.labels && old.spec.taints == mc.spec.taints {
                    return;
                }
                sched.enqueue_for_cluster(Some(mc), Some(old));
            }
            (Some(old), None) => sched.enqueue_for_cluster(None, Some(old)),
            (None, None) => {}
        }
    })
    .await
}

async fn watch_subscriptions(sched: Arc<Scheduler>) -> Result<()> {
    let api: Api<Subscription> = Api::all(sched.client.clone());
    watch(api, |old, new| {
        let key = match (&old, &new) {
            (_, Some(s)) | (Some(s), None) => key_of(s.as_ref()),
            (None, None) => return,
        };
        {
            let mut caches = sched.caches.lock().unwrap_or_else(|e| e.into_inner());
            match &new {
                Some(s) if s.metadata.deletion_timestamp.is_none() => {
                    caches.subs.insert(key.clone(), Arc::clone(s));
                }
                _ => {
                    caches.subs.remove(&key);
                }
            }
        }
        match (old, new) {
            (_, None) => sched.queue.forget(&key),
            (_, Some(s)) if s.metadata.deletion_timestamp.is_some() => sched.queue.forget(&key),
            (Some(o), Some(s)) if o.spec == s.spec => {}
            _ => sched.enqueue(&key),
        }
    })
    .await
}

async fn watch_inventories(sched: Arc<Scheduler>) -> Result<()> {
    let api: Api<FeedInventory> = Api::all(sched.client.clone());
    watch(api, |old, new| {
        let mut caches = sched.caches.lock().unwrap_or_else(|e| e.into_inner());
        match (old, new) {
            (old, Some(f)) => {
                let key = key_of(f.as_ref());
                caches.finvs.insert(key.clone(), Arc::clone(&f));
                drop(caches);
                if old.is_some_and(|o| o.resource_version() == f.resource_version()) {
                    return;
                }
                sched.enqueue(&key);
            }
            (Some(f), None) => {
                caches.finvs.remove(&key_of(f.as_ref()));
            }
            (None, None) => {}
        }
    })
    .await
}

async fn schedule_loop(sched: Arc<Scheduler>) -> Result<()> {
    loop {
        let key = sched.queue.pop().await;
        schedule_one(&sched, &key).await;
    }
}

async fn publish(sched: &Scheduler, sub: &Subscription, warning: bool, reason: &str, note: String) {
    let note = truncate(note, clusternet_apis::known::NOTE_LENGTH_LIMIT);
    let event = KubeEvent {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.into(),
        note: Some(note),
        action: "Scheduling".into(),
        secondary: None,
    };
    if let Err(err) = sched.recorder.publish(&event, &sub.object_ref(&())).await {
        tracing::warn!(%err, "recording event");
    }
}

fn truncate(message: String, max: usize) -> String {
    if message.len() <= max {
        return message;
    }
    let mut cut = max - 4;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{} ...", &message[..cut])
}

/// One scheduling cycle for the subscription `key`.
async fn schedule_one(sched: &Scheduler, key: &str) {
    let (sub, finv, clusters) = {
        let caches = sched.caches.lock().unwrap_or_else(|e| e.into_inner());
        let Some(sub) = caches.subs.get(key).cloned() else {
            return;
        };
        let clusters: Vec<Arc<ManagedCluster>> = caches.clusters.values().cloned().collect();
        (sub, caches.finvs.get(key).cloned(), clusters)
    };
    tracing::debug!(subscription = key, "attempting to schedule subscription");
    if algorithm::is_dividing(&sub) {
        // Dividing waits for its FeedInventory, listing exactly its feeds.
        match &finv {
            None => return,
            Some(f) if !algorithm::inventory_matches(&sub, f) => return,
            Some(_) => {}
        }
    }
    let spec_hash = hash_subscription_spec(&sub.spec);
    if !algorithm::admit(&sub, finv.as_deref(), spec_hash) {
        return;
    }
    let target = match cycle(sched, &sub, finv.as_deref(), &clusters).await {
        Ok(target) => target,
        Err(err) => {
            tracing::info!(subscription = key, %err, "unable to schedule subscription");
            publish(sched, &sub, true, "FailedScheduling", err.to_string()).await;
            if !err.binds_empty() {
                sched.queue.add_unschedulable(key);
                return;
            }
            TargetClusters::default()
        }
    };
    match bind(sched, &sub, target.clone(), spec_hash).await {
        Ok(()) => {
            sched.queue.forget(key);
            publish(
                sched,
                &sub,
                false,
                "Scheduled",
                format!(
                    "Successfully bound {key} to {}",
                    target.binding_clusters.join(",")
                ),
            )
            .await;
        }
        Err(err) => {
            tracing::warn!(subscription = key, %err, "binding rejected");
            publish(
                sched,
                &sub,
                true,
                "FailedScheduling",
                format!("binding rejected: {err:#}"),
            )
            .await;
            sched.queue.add_unschedulable(key);
        }
    }
}

async fn cycle(
    sched: &Scheduler,
    sub: &Subscription,
    finv: Option<&FeedInventory>,
    clusters: &[Arc<ManagedCluster>],
) -> Result<TargetClusters, ScheduleError> {
    let Some(framework) = sched.framework(sub) else {
        return Err(ScheduleError::Other(format!(
            "no profile for scheduler name {:?}",
            sub.spec.scheduler_name
        )));
    };
    let start = sched.next_start.load(std::sync::atomic::Ordering::Relaxed);
    let feasible = algorithm::feasible_clusters(
        sub,
        clusters,
        start,
        sched.settings.percentage_of_clusters_to_score,
        framework,
    )?;
    sched
        .next_start
        .store(feasible.next_start, std::sync::atomic::Ordering::Relaxed);
    let n = feasible.clusters.len();
    let max_available = match finv {
        Some(finv) if algorithm::is_dynamic(sub) && framework.predictor => {
            predict_all(sched, finv, &feasible.clusters).await?
        }
        Some(finv) if algorithm::is_dividing(sub) => vec![vec![None; finv.spec.feeds.len()]; n],
        _ => vec![Vec::new(); n],
    };
    let list = algorithm::prioritize(sub, feasible.clusters, max_available, framework);
    let list = algorithm::subgroup(sub, list)?;
    algorithm::select(sub, finv, &list, framework)
}

/// The Predict phase over all feasible clusters, with Clusternet's failure toleration.
async fn predict_all(
    sched: &Scheduler,
    finv: &FeedInventory,
    clusters: &[Arc<ManagedCluster>],
) -> Result<Vec<Vec<Option<i32>>>, ScheduleError> {
    let results = futures::future::join_all(
        clusters
            .iter()
            .map(|mc| predictor::predict(&sched.client, finv, mc)),
    )
    .await;
    let tolerate = sched
        .opts
        .feature_gates
        .enabled(Feature::FeasibleClustersToleration);
    // Clusternet compares the failure count with len(clusters) × percentage (not / 100).
    let budget = clusters.len() as i64 * sched.settings.percentage_of_clusters_to_tolerate;
    let mut failures = 0;
    let mut out = Vec::with_capacity(clusters.len());
    for result in results {
        match result {
            Ok(replicas) => out.push(replicas),
            Err(err) => {
                failures += 1;
                if !tolerate || failures > budget {
                    return Err(ScheduleError::Other(format!(
                        "running Predict plugins: plugin \"{}\" failed with: {err}",
                        algorithm::names::PREDICTOR
                    )));
                }
                out.push(vec![None; finv.spec.feeds.len()]);
            }
        }
    }
    Ok(out)
}

/// RFC 7386 merge patch turning `old` into `new` (`jsonpatch.CreateMergePatch`).
pub fn create_merge_patch(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = serde_json::Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) if ov == nv => {}
                    Some(ov) if ov.is_object() && nv.is_object() => {
                        patch.insert(k.clone(), create_merge_patch(ov, nv));
                    }
                    _ => {
                        patch.insert(k.clone(), nv.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(patch)
        }
        _ => new.clone(),
    }
}

/// The status the `DefaultBinder` writes.
pub fn bound_status(
    current: Option<&SubscriptionStatus>,
    mut target: TargetClusters,
    spec_hash: u64,
) -> SubscriptionStatus {
    target.sort_by_cluster();
    let mut status = current.cloned().unwrap_or_default();
    status.desired_releases = target.binding_clusters.len() as i64;
    status.binding_clusters = target.binding_clusters;
    status.replicas = target.replicas;
    status.spec_hash = spec_hash;
    status
}

/// The `DefaultBinder`: merge-patches the status subresource.
async fn bind(
    sched: &Scheduler,
    sub: &Subscription,
    target: TargetClusters,
    spec_hash: u64,
) -> Result<()> {
    let new = bound_status(sub.status.as_ref(), target, spec_hash);
    let old = serde_json::to_value(sub.status.clone().unwrap_or_default())?;
    let patch = create_merge_patch(&old, &serde_json::to_value(&new)?);
    if patch.as_object().is_some_and(|p| p.is_empty()) {
        return Ok(());
    }
    let api: Api<Subscription> = Api::namespaced(
        sched.client.clone(),
        sub.metadata.namespace.as_deref().unwrap_or_default(),
    );
    api.patch_status(
        &sub.name_any(),
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({ "status": patch })),
    )
    .await
    .context("patching subscription status")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn merge_patch_removes_and_replaces() {
        let old = serde_json::json!({"bindingClusters": ["a"], "replicas": {"f": [1], "g": [2]}, "specHash": 1});
        let new = serde_json::json!({"bindingClusters": ["a", "b"], "replicas": {"f": [1, 2]}, "specHash": 1});
        assert_eq!(
            create_merge_patch(&old, &new),
            serde_json::json!({"bindingClusters": ["a", "b"], "replicas": {"f": [1, 2], "g": null}})
        );
    }

    #[test]
    fn binder_status() {
        let target = TargetClusters {
            binding_clusters: vec!["b/x".into(), "a/x".into()],
            replicas: BTreeMap::from([("f".into(), vec![4, 2])]),
        };
        let s = bound_status(None, target, 7);
        assert_eq!(s.binding_clusters, vec!["a/x", "b/x"]);
        assert_eq!(s.replicas["f"], vec![2, 4]);
        assert_eq!((s.spec_hash, s.desired_releases), (7, 2));
        let empty = bound_status(Some(&s), TargetClusters::default(), 7);
        let patch = create_merge_patch(
            &serde_json::to_value(&s).unwrap(),
            &serde_json::to_value(&empty).unwrap(),
        );
        assert_eq!(
            patch,
            serde_json::json!({"bindingClusters": null, "replicas": null, "desiredReleases": null})
        );
    }

    /// `schedule_one` against a mock parent (tower-test behind kube::Client): the decision is
    /// written as a merge patch of the status subresource with Go's fields, and Events say
    /// what happened; a rejected binding is a Warning and the Subscription is retried.
    mod against_a_mock_parent {
        use super::*;
        use http::{Request, Response};
        use kube::client::Body;

        fn mc(ns: &str, name: &str) -> Arc<ManagedCluster> {
            Arc::new(
                serde_json::from_value(serde_json::json!({
                    "apiVersion": "clusters.clusternet.io/v1beta1", "kind": "ManagedCluster",
                    "metadata": {"name": name, "namespace": ns,
                                 "labels": {"clusters.clusternet.io/cluster-name": name}},
                    "spec": {"clusterId": format!("id-{name}"), "clusterType": "EdgeCluster", "syncMode": "Pull"},
                    "status": {"conditions": [{"type": "Ready", "status": "True",
                        "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "ManagedClusterReady", "message": ""}]},
                }))
                .unwrap(),
            )
        }

        fn scheduler(client: kube::Client) -> Scheduler {
            use clap::Parser;
            let sub: Subscription = serde_json::from_value(serde_json::json!({
                "apiVersion": "apps.clusternet.io/v1alpha1", "kind": "Subscription",
                "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "resourceVersion": "3"},
                "spec": {"schedulingStrategy": "Replication",
                         "subscribers": [{"clusterAffinity": {}}],
                         "feeds": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "namespace": "default"}]},
            }))
            .unwrap();
            let mut caches = Caches::default();
            for (ns, name) in [("clusternet-b", "b"), ("clusternet-a", "a")] {
                caches.clusters.insert(format!("{ns}/{name}"), mc(ns, name));
            }
            caches.subs.insert("default/web".into(), Arc::new(sub));
            Scheduler {
                client: client.clone(),
                caches: Mutex::new(caches),
                queue: SchedulingQueue::default(),
                recorder: Recorder::new(
                    client,
                    Reporter {
                        controller: "clusternet-scheduler".into(),
                        instance: None,
                    },
                ),
                opts: Options::parse_from(["clusternet-scheduler"]),
                settings: Arc::new(Settings::from_flags("default", 0, 10)),
                next_start: Default::default(),
            }
        }

        async fn body_json(req: Request<Body>) -> Value {
            use http_body_util::BodyExt;
            let bytes = req.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice(&bytes).unwrap()
        }

        use clusternet_test_support::mock::respond;

        #[tokio::test]
        async fn binds_with_a_status_merge_patch_and_an_event() {
            let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
            let sched = scheduler(kube::Client::new(service, "default"));
            let parent = tokio::spawn(async move {
                let (req, send) = handle.next_request().await.unwrap();
                assert_eq!(req.method(), http::Method::PATCH);
                assert_eq!(
                    req.uri().path(),
                    "/apis/apps.clusternet.io/v1alpha1/namespaces/default/subscriptions/web/status"
                );
                assert_eq!(
                    req.headers()["content-type"],
                    "application/merge-patch+json"
                );
                let patch = body_json(req).await;
                let status = &patch["status"];
                assert_eq!(
                    status["bindingClusters"],
                    serde_json::json!(["clusternet-a/a", "clusternet-b/b"]),
                    "{patch}"
                );
                assert!(
                    status["specHash"].as_u64().is_some_and(|h| h > 0),
                    "{patch}"
                );
                respond(
                    send,
                    200,
                    serde_json::json!({
                    "apiVersion": "apps.clusternet.io/v1alpha1", "kind": "Subscription",
                    "metadata": {"name": "web", "namespace": "default"}, "spec": {"feeds": [], "subscribers": []}}),
                );
                let (req, send) = handle.next_request().await.unwrap();
                assert_eq!(req.method(), http::Method::POST);
                assert_eq!(
                    req.uri().path(),
                    "/apis/events.k8s.io/v1/namespaces/default/events"
                );
                let event = body_json(req).await;
                assert_eq!(event["reason"], "Scheduled", "{event}");
                assert_eq!(event["type"], "Normal");
                assert_eq!(
                    event["note"],
                    "Successfully bound default/web to clusternet-a/a,clusternet-b/b"
                );
                assert_eq!(event["regarding"]["kind"], "Subscription");
                respond(send, 201, event);
            });
            schedule_one(&sched, "default/web").await;
            parent.await.unwrap();
        }

        #[tokio::test]
        async fn a_rejected_binding_is_a_warning_and_is_retried() {
            let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
            let sched = scheduler(kube::Client::new(service, "default"));
            let parent = tokio::spawn(async move {
                let (req, send) = handle.next_request().await.unwrap();
                assert_eq!(req.method(), http::Method::PATCH);
                respond(
                    send,
                    409,
                    serde_json::json!({
                    "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict",
                    "code": 409, "message": "the object has been modified"}),
                );
                let (req, send) = handle.next_request().await.unwrap();
                let event = body_json(req).await;
                assert_eq!(event["type"], "Warning", "{event}");
                assert_eq!(event["reason"], "FailedScheduling");
                assert!(
                    event["note"].as_str().is_some_and(|n| n
                        .starts_with("binding rejected: patching subscription status")
                        && n.contains("the object has been modified")),
                    "{event}"
                );
                respond(send, 201, event);
            });
            schedule_one(&sched, "default/web").await;
            parent.await.unwrap();
            // Back in the queue (after its backoff).
            let again = tokio::time::timeout(std::time::Duration::from_secs(10), sched.queue.pop())
                .await
                .expect("retried");
            assert_eq!(again, "default/web");
        }
    }
}
