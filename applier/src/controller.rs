//! The Description controller shared by the agent (pull) and the controller-manager (push):
//! watches generic Descriptions on the parent, asks a [`Placement`] which child (if any) this
//! component deploys each one into, and reconciles:
//!
//! * not deleting: add finalizer `apps.clusternet.io/finalizer` (as Clusternet's description
//!   controller does), apply every object of `spec.raw` (namespaces and CRDs first), prune what
//!   `status.manifestStatuses` records as applied but `spec.raw` no longer has, write status;
//! * deleting: delete every object (of `spec.raw` and recorded as applied) from the child, then
//!   remove the finalizer; when the cluster is lost, only remove the finalizer.
//!
//! Drift: each applied kind is watched in the child (all namespaces, [`crate::child`]); a change
//! that makes an owned object differ from its Description, its deletion, or a new `.status` to
//! report queues the Description again. Every Description is also reconciled every
//! [`Settings::resync`] as a backstop (events missed while a watch was reconnecting).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use clusternet_apis::apps::v1alpha1::{Description, DescriptionDeployer, Feed};
use clusternet_apis::known;
use clusternet_component_base::finalizers;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde_json::Value;

use crate::child::{Child, DriftEvent, DriftReceiver};
use crate::object::{DesiredObject, ObjectKey, drifted, owner_value, prepare};
use crate::queue::Queue;
use crate::status::{self, DesiredOutcome, PruneOutcome};

/// What a component does with one Description (or HelmRelease: `C` is then the client
/// configuration Helm is given).
#[derive(Debug)]
pub enum Target<C = Child> {
    /// Deploy it into this child.
    Deploy(C),
    /// Not ours to deploy (another component does).
    Skip,
    /// The cluster is gone (no ManagedCluster), or has been unreachable too long to wait for:
    /// on deletion the finalizer is dropped (whatever is in the child stays there).
    Lost,
    /// The cluster cannot be reached now (not Ready): nothing is done and the Description is
    /// retried — a deletion waits for the cluster to come back and then cleans it up, instead
    /// of leaving its objects behind as Clusternet does. The text says why, for logs and Events.
    Wait(String),
}

/// Decides, per Description, where it is deployed by this component.
pub trait Placement: Send + Sync + 'static {
    /// The target of `desc`.
    fn target(&self, desc: &Description) -> impl Future<Output = anyhow::Result<Target>> + Send;
}

/// Controller settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Only Descriptions in this namespace (the agent's dedicated namespace), or all.
    pub namespace: Option<String>,
    /// Concurrent reconciles.
    pub workers: usize,
    /// Every Description is reconciled this often even without events.
    pub resync: Duration,
    /// The component named in the Events recorded on Descriptions (`clusternet-agent`,
    /// `clusternet-controller-manager`).
    pub reporter: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            namespace: None,
            workers: 4,
            resync: Duration::from_secs(300),
            reporter: "clusternet".into(),
        }
    }
}

type Key = (String, String);

struct Ctx<P> {
    parent: kube::Client,
    recorder: Recorder,
    placement: P,
    store: Store<Description>,
    queue: Queue<Key>,
}

/// Namespaces whose Descriptions should be looked at again now (e.g. their cluster came back).
pub type Wakeups = tokio::sync::mpsc::UnboundedReceiver<String>;

/// Runs the controller until the parent watch ends (it does not, short of a panic). A
/// namespace received on `wakeups` has its Descriptions reconciled at once (rather than at
/// their next retry).
pub async fn run_with_wakeups<P: Placement>(
    parent: kube::Client,
    placement: P,
    drift: DriftReceiver,
    mut wakeups: Wakeups,
    settings: Settings,
) {
    run_inner(parent, placement, drift, Some(&mut wakeups), settings).await
}

/// Runs the controller until the parent watch ends (it does not, short of a panic).
pub async fn run<P: Placement>(
    parent: kube::Client,
    placement: P,
    drift: DriftReceiver,
    settings: Settings,
) {
    run_inner(parent, placement, drift, None, settings).await
}

async fn run_inner<P: Placement>(
    parent: kube::Client,
    placement: P,
    drift: DriftReceiver,
    mut wakeups: Option<&mut Wakeups>,
    settings: Settings,
) {
    let api: Api<Description> = match &settings.namespace {
        Some(ns) => Api::namespaced(parent.clone(), ns),
        None => Api::all(parent.clone()),
    };
    let (store, writer) = reflector::store();
    let recorder = Recorder::new(
        parent.clone(),
        Reporter {
            controller: settings.reporter.clone(),
            instance: None,
        },
    );
    let ctx = Arc::new(Ctx {
        parent,
        recorder,
        placement,
        store,
        queue: Queue::new(),
    });

    // Owned by this future: when it is dropped (the component lost its leadership), no worker
    // goes on applying.
    let mut background = tokio::task::JoinSet::new();
    for _ in 0..settings.workers.max(1) {
        let ctx = ctx.clone();
        background.spawn(async move {
            loop {
                let key = ctx.queue.next().await;
                let failed = match reconcile_key(&ctx, &key).await {
                    Ok(()) => false,
                    Err(err) => {
                        tracing::info!(namespace = %key.0, name = %key.1, error = %format!("{err:#}"), "reconciling Description failed; will retry");
                        true
                    }
                };
                ctx.queue.done(key, failed);
            }
        });
    }

    background.spawn(drift_loop(ctx.clone(), drift));

    {
        let ctx = ctx.clone();
        let every = settings.resync;
        background.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                for desc in ctx.store.state() {
                    ctx.queue.add(key_of(&desc));
                }
            }
        });
    }

    // Enqueue on spec (generation) changes and deletion, not on our own status writes. Objects
    // of a (re-)list are enqueued once the list is complete: the reflector's store only shows
    // them from then on, and a worker that found a listed key missing from the store would drop
    // it until the next resync (a Description deleted while the agent was down stayed in the
    // child that long).
    let mut seen: HashMap<Key, (Option<i64>, bool, String)> = HashMap::new();
    let mut listing: Vec<Description> = Vec::new();
    let mut events = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .boxed();
    let changed = |desc: &Description, seen: &mut HashMap<Key, (Option<i64>, bool, String)>| {
        let key = key_of(desc);
        let state = (
            desc.metadata.generation,
            desc.metadata.deletion_timestamp.is_some(),
            desc.uid().unwrap_or_default(),
        );
        if seen.get(&key) != Some(&state) {
            seen.insert(key.clone(), state);
            ctx.queue.add(key);
        }
    };
    loop {
        let event = tokio::select! {
            event = events.next() => match event {
                Some(event) => event,
                None => return,
            },
            Some(namespace) = wakeup(&mut wakeups) => {
                for desc in ctx.store.state() {
                    if desc.namespace().as_deref() == Some(namespace.as_str()) {
                        ctx.queue.add(key_of(&desc));
                    }
                }
                continue;
            }
        };
        match event {
            Ok(watcher::Event::Apply(desc)) => changed(&desc, &mut seen),
            Ok(watcher::Event::Delete(desc)) => {
                let key = key_of(&desc);
                seen.remove(&key);
                ctx.queue.add(key);
            }
            Ok(watcher::Event::Init) => listing.clear(),
            Ok(watcher::Event::InitApply(desc)) => listing.push(desc),
            Ok(watcher::Event::InitDone) => {
                for desc in listing.drain(..) {
                    changed(&desc, &mut seen);
                }
            }
            Err(err) => tracing::debug!(error = %err, "Description watch error (retrying)"),
        }
    }
}

/// The next namespace to wake up; never, without a channel.
async fn wakeup(wakeups: &mut Option<&mut Wakeups>) -> Option<String> {
    match wakeups {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn key_of(desc: &Description) -> Key {
    (desc.namespace().unwrap_or_default(), desc.name_any())
}

async fn drift_loop<P: Placement>(ctx: Arc<Ctx<P>>, mut drift: DriftReceiver) {
    while let Some(event) = drift.recv().await {
        let DriftEvent { owner, key, live } = event;
        let Some(desc) = ctx.store.get(&ObjectRef::new(&owner.1).within(&owner.0)) else {
            continue;
        };
        if desc.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if needs_reconcile(&desc, &key, live.as_ref()) {
            tracing::info!(namespace = %owner.0, name = %owner.1, object = %key, deleted = live.is_none(), "object in the child changed; reconciling its Description");
            ctx.queue.add(owner);
        }
    }
}

/// Whether a change to the owned object `key` (now `live`, `None` if deleted) calls for a
/// reconcile of `desc`: it is still wanted and is gone, differs from the Description, or reports
/// a `.status` other than the recorded one.
pub fn needs_reconcile(desc: &Description, key: &ObjectKey, live: Option<&Value>) -> bool {
    let ns = desc.namespace().unwrap_or_default();
    let name = desc.name_any();
    let wanted = desc.spec.raw.iter().find_map(|raw| {
        let obj = prepare(&raw.0, &ns, &name).ok()?;
        let namespaced = !key.namespace.is_empty();
        (obj.key(namespaced) == *key).then_some((obj, namespaced))
    });
    let Some((obj, namespaced)) = wanted else {
        return false;
    };
    let Some(live) = live else {
        return true;
    };
    let mut want = obj.for_scope(namespaced);
    if let Some(map) = want.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
    }
    if drifted(&want, live) {
        return true;
    }
    let recorded = desc
        .status
        .as_ref()
        .and_then(|s| {
            s.manifest_statuses
                .iter()
                .find(|m| ObjectKey::of_feed(&m.feed) == *key)
        })
        .map(|m| m.observed_status.clone());
    match recorded {
        Some(observed) => observed.as_ref() != live.get("status"),
        None => true,
    }
}

async fn reconcile_key<P: Placement>(ctx: &Ctx<P>, key: &Key) -> anyhow::Result<()> {
    let Some(desc) = ctx.store.get(&ObjectRef::new(&key.1).within(&key.0)) else {
        return Ok(());
    };
    if desc.spec.deployer != DescriptionDeployer::Generic {
        return Ok(());
    }
    let target = ctx.placement.target(&desc).await?;
    let deleting = desc.metadata.deletion_timestamp.is_some();
    let api: Api<Description> = Api::namespaced(ctx.parent.clone(), &key.0);
    match target {
        Target::Skip => Ok(()),
        Target::Lost if deleting => {
            event(
                ctx,
                &desc,
                EventType::Warning,
                "ClusterLost",
                "deleted while its cluster was gone or unreachable for too long: objects already in the cluster are left there".into(),
            )
            .await;
            remove_finalizer(&api, &desc).await
        }
        Target::Lost => Ok(()),
        Target::Wait(why) => {
            if deleting {
                event(
                    ctx,
                    &desc,
                    EventType::Warning,
                    "WaitingForCluster",
                    why.clone(),
                )
                .await;
            }
            anyhow::bail!("{why}")
        }
        Target::Deploy(child) if deleting => {
            let result = offload(ctx, &api, &child, &desc).await;
            if let Err(err) = &result {
                event(
                    ctx,
                    &desc,
                    EventType::Warning,
                    "FailedDeletingDescription",
                    format!("{err:#}"),
                )
                .await;
            }
            result
        }
        Target::Deploy(child) => {
            ensure_finalizer(&api, &desc).await?;
            apply(ctx, &api, &child, &desc).await
        }
    }
}

/// Records an Event on `desc` (as Clusternet's deployers do); failures are only logged.
async fn event<P>(ctx: &Ctx<P>, desc: &Description, type_: EventType, reason: &str, note: String) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Deploy".into(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&ev, &desc.object_ref(&())).await {
        tracing::debug!(error = %err, reason, "recording an Event failed");
    }
}

fn has_finalizer(desc: &Description) -> bool {
    desc.finalizers().iter().any(|f| f == known::APP_FINALIZER)
}

async fn ensure_finalizer(api: &Api<Description>, desc: &Description) -> anyhow::Result<()> {
    Ok(finalizers::ensure(api, desc, known::APP_FINALIZER).await?)
}

async fn remove_finalizer(api: &Api<Description>, desc: &Description) -> anyhow::Result<()> {
    Ok(finalizers::remove(api, desc, &[known::APP_FINALIZER]).await?)
}

fn decode(desc: &Description) -> (Vec<DesiredObject>, Vec<String>) {
    let ns = desc.namespace().unwrap_or_default();
    let name = desc.name_any();
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    for raw in &desc.spec.raw {
        match prepare(&raw.0, &ns, &name) {
            Ok(obj) => objects.push(obj),
            Err(err) => errors.push(err),
        }
    }
    (objects, errors)
}

/// Concurrent applies/deletes per Description.
const PARALLELISM: usize = 8;

async fn apply<P>(
    ctx: &Ctx<P>,
    api: &Api<Description>,
    child: &Child,
    desc: &Description,
) -> anyhow::Result<()> {
    let (objects, decode_errors) = decode(desc);
    let (first, rest): (Vec<_>, Vec<_>) = objects.iter().partition(|o| o.is_prerequisite());
    let mut outcomes: Vec<(usize, DesiredOutcome)> = Vec::with_capacity(objects.len());
    for batch in [first, rest] {
        let mut jobs: Vec<BoxFuture<'_, (usize, DesiredOutcome)>> = Vec::new();
        for (i, obj) in batch.into_iter().enumerate() {
            jobs.push(
                async move {
                    let (feed, result) = child.apply(obj).await;
                    (i, DesiredOutcome { feed, result })
                }
                .boxed(),
            );
        }
        let results: Vec<(usize, DesiredOutcome)> = futures::stream::iter(jobs)
            .buffered(PARALLELISM)
            .collect()
            .await;
        outcomes.extend(results);
    }
    // Report in `spec.raw` order.
    let mut desired: Vec<DesiredOutcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    let position = |feed: &Feed| {
        objects
            .iter()
            .position(|o| {
                o.name == feed.name && o.kind == feed.kind && o.api_version == feed.api_version
            })
            .unwrap_or(usize::MAX)
    };
    desired.sort_by_key(|o| position(&o.feed));

    let previous = desc.status.clone().unwrap_or_default();
    let wanted: BTreeSet<ObjectKey> = desired
        .iter()
        .map(|o| ObjectKey::of_feed(&o.feed))
        .collect();
    let previous_feeds: Vec<Feed> = previous
        .manifest_statuses
        .iter()
        .map(|m| m.feed.clone())
        .collect();
    let owner = owner_value(&desc.namespace().unwrap_or_default(), &desc.name_any());
    let mut pruned = Vec::new();
    // Undecodable entries could be anything: prune nothing until they are fixed.
    if decode_errors.is_empty() {
        for feed in crate::object::prune_set(&previous_feeds, &wanted) {
            let result = child.delete(&feed, &owner).await;
            let object = ObjectKey::of_feed(&feed);
            tracing::info!(child = %child.name(), %object, ok = result.is_ok(), "pruned an object no longer in the Description");
            match &result {
                Ok(()) => {
                    event(
                        ctx,
                        desc,
                        EventType::Normal,
                        "SuccessfullyPruningFeed",
                        format!("Successfully pruning {object}"),
                    )
                    .await
                }
                Err(err) => {
                    event(
                        ctx,
                        desc,
                        EventType::Warning,
                        "UnsuccessfullyPruningFeed",
                        format!("Failed to prune {object}: {err}"),
                    )
                    .await
                }
            }
            pruned.push(PruneOutcome { feed, result });
        }
    } else {
        for feed in crate::object::prune_set(&previous_feeds, &wanted) {
            pruned.push(PruneOutcome {
                feed,
                result: Err("not pruned while spec.raw has undecodable entries".into()),
            });
        }
    }

    let status = status::build(&previous, &decode_errors, &desired, &pruned);
    let description = format!(
        "{}/{}",
        desc.namespace().unwrap_or_default(),
        desc.name_any()
    );
    if previous.phase != status.phase || previous.reason != status.reason {
        if status.reason.is_empty() {
            event(
                ctx,
                desc,
                EventType::Normal,
                "SuccessfullyDeployed",
                format!("successfully deployed Description {description}"),
            )
            .await;
        } else {
            event(
                ctx,
                desc,
                EventType::Warning,
                "UnSuccessfullyDeployed",
                format!(
                    "failed to deploying Description {description}: {}",
                    status.reason
                ),
            )
            .await;
        }
    }
    if desc.status.as_ref() != Some(&status) {
        api.patch_status(
            &desc.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&status::merge_patch(&status)),
        )
        .await?;
    }
    if !status.reason.is_empty() {
        anyhow::bail!("{}", status.reason);
    }
    tracing::debug!(child = %child.name(), description = %owner, "Description applied");
    Ok(())
}

/// The objects of `desc` (its raw feeds, and those its status records as applied).
fn feeds_of(desc: &Description) -> Vec<Feed> {
    let (objects, _) = decode(desc);
    let mut feeds: Vec<Feed> = objects
        .iter()
        .map(|o| o.feed(!o.namespace.is_empty()))
        .collect();
    if let Some(status) = &desc.status {
        feeds.extend(status.manifest_statuses.iter().map(|m| m.feed.clone()));
    }
    let mut seen = BTreeSet::new();
    feeds.retain(|f| seen.insert(ObjectKey::of_feed(f)));
    feeds
}

/// Deletes the objects of a deleted Description from the child — but not those another live
/// Description of the same cluster still lists (a Subscription's duplicate Base being cleaned
/// up, a feed moving between Subscriptions): those are handed to it (it is reconciled and takes
/// them over) instead of being deleted and re-created.
async fn offload<P>(
    ctx: &Ctx<P>,
    api: &Api<Description>,
    child: &Child,
    desc: &Description,
) -> anyhow::Result<()> {
    if !has_finalizer(desc) {
        return Ok(());
    }
    let namespace = desc.namespace().unwrap_or_default();
    let owner = owner_value(&namespace, &desc.name_any());
    let mut wanted: BTreeMap<ObjectKey, Key> = BTreeMap::new();
    for other in ctx.store.state() {
        if other.namespace().as_deref() != Some(namespace.as_str())
            || other.name_any() == desc.name_any()
            || other.metadata.deletion_timestamp.is_some()
            || other.spec.deployer != DescriptionDeployer::Generic
        {
            continue;
        }
        for feed in feeds_of(&other) {
            wanted.insert(
                ObjectKey::of_feed(&feed),
                (namespace.clone(), other.name_any()),
            );
        }
    }
    let mut feeds = feeds_of(desc);
    let mut heirs = BTreeSet::new();
    feeds.retain(|f| match wanted.get(&ObjectKey::of_feed(f)) {
        Some(heir) => {
            tracing::info!(description = %owner, object = %ObjectKey::of_feed(f), heir = %heir.1, "not deleting an object another Description still lists");
            heirs.insert(heir.clone());
            false
        }
        None => true,
    });
    for heir in heirs {
        ctx.queue.add(heir);
    }
    let mut jobs: Vec<BoxFuture<'_, Result<(), String>>> = Vec::new();
    for feed in &feeds {
        let owner = owner.as_str();
        jobs.push(async move { child.delete(feed, owner).await }.boxed());
    }
    let errors: Vec<String> = futures::stream::iter(jobs)
        .buffer_unordered(PARALLELISM)
        .filter_map(|r| async move { r.err() })
        .collect()
        .await;
    if !errors.is_empty() {
        anyhow::bail!(
            "failed to deleting Description {}/{}: {}",
            desc.namespace().unwrap_or_default(),
            desc.name_any(),
            status::aggregate(&errors)
        );
    }
    tracing::info!(child = %child.name(), description = %owner, "Description offloaded from the child");
    remove_finalizer(api, desc).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusternet_apis::apps::v1alpha1::{DescriptionSpec, DescriptionStatus, ManifestStatus};
    use k8s_openapi::ByteString;
    use serde_json::json;

    fn desc(objects: &[Value], status: Option<DescriptionStatus>) -> Description {
        let mut d = Description::new(
            "d",
            DescriptionSpec {
                raw: objects
                    .iter()
                    .map(|o| ByteString(serde_json::to_vec(o).unwrap()))
                    .collect(),
                ..Default::default()
            },
        );
        d.metadata.namespace = Some("clusternet-x".into());
        d.status = status;
        d
    }

    #[test]
    fn drift_triggers() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "demo"}, "data": {"k": "v"}});
        let key = ObjectKey {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "demo".into(),
            name: "a".into(),
        };
        let recorded = DescriptionStatus {
            manifest_statuses: vec![ManifestStatus {
                feed: Feed {
                    kind: "ConfigMap".into(),
                    api_version: "v1".into(),
                    namespace: "demo".into(),
                    name: "a".into(),
                },
                observed_status: None,
            }],
            ..Default::default()
        };
        let d = desc(std::slice::from_ref(&cm), Some(recorded));
        let applied = prepare(&serde_json::to_vec(&cm).unwrap(), "clusternet-x", "d")
            .unwrap()
            .object;
        let mut live = applied.clone();
        live["metadata"]["uid"] = json!("u");
        live["metadata"]["resourceVersion"] = json!("9");
        assert!(!needs_reconcile(&d, &key, Some(&live)));
        assert!(needs_reconcile(&d, &key, None));
        live["data"]["k"] = json!("edited");
        assert!(needs_reconcile(&d, &key, Some(&live)));
        // A change to an object the Description no longer has is not drift.
        let other = ObjectKey {
            name: "b".into(),
            ..key.clone()
        };
        assert!(!needs_reconcile(&d, &other, None));
        // A new status to report is a reason too.
        let mut live = applied;
        live["status"] = json!({"x": 1});
        assert!(needs_reconcile(&d, &key, Some(&live)));
    }
}
