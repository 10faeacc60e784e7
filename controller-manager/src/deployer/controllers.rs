//! The deployer's controllers and what they do on each object (Go: the `subscription`, `base`,
//! `manifest`, `localization`, `globalization` and `aggregatestatus` controllers with the
//! deployer's and localizer's handlers).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use clusternet_apis::apps::v1alpha1::{
    Base, Description, DescriptionDeployer, Feed, Globalization, HelmChartPhase, Localization,
    Manifest, OverrideConfig, OverridePolicy, SchedulingStrategyType, Subscription,
};
use clusternet_apis::clusters::v1beta1::ManagedCluster;
use clusternet_apis::known;
use clusternet_component_base::{finalizers, objects};
use futures::StreamExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::render::{self, feed_selector, format_feed, labels_match};
use super::status::{self, BoundCluster};
use super::{Ctx, Error, RETRY, key};

pub(super) type Result<T, E = Error> = std::result::Result<T, E>;

pub(super) const SUBSCRIPTION: &str = "Subscription";
pub(super) const BASE: &str = "Base";
pub(super) const HELM_CHART: &str = "HelmChart";

pub(super) fn error_policy<K: ResourceExt>(obj: Arc<K>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::info!(object = %obj.name_any(), error = %err, "deployer: retrying");
    Action::requeue(RETRY)
}

pub(super) async fn drain<K: Resource, E: std::fmt::Display>(
    name: &'static str,
    stream: impl futures::Stream<Item = Result<(ObjectRef<K>, Action), E>>,
) {
    stream
        .for_each(|r| async move {
            if let Err(err) = r {
                tracing::debug!(controller = name, error = %err, "reconcile");
            }
        })
        .await;
}

// ----------------------------------------------------------------------------------------
// Small API helpers.

pub(super) fn is_deleting<K: Resource>(obj: &K) -> bool {
    obj.meta().deletion_timestamp.is_some()
}

/// Whether the shared cache already holds this version of `obj`. Each controller watches on
/// its own, so a change can reach a controller before the cache it renders from: render only
/// once they agree (Go's controllers read the informer that triggered them).
pub(super) fn cached<K>(store: &kube::runtime::reflector::Store<K>, obj: &K) -> bool
where
    K: Resource<DynamicType = ()> + Clone,
{
    store
        .get(&ObjectRef::from_obj(obj))
        .is_some_and(|c| c.meta().resource_version == obj.meta().resource_version)
}

/// How soon to look again when the cache is behind.
pub(super) const CACHE_LAG: std::time::Duration = std::time::Duration::from_millis(100);

/// Whether a label key is an object UID (Go: 36 characters, no `/`).
pub(super) fn is_uid_key(key: &str) -> bool {
    key.len() == 36 && !key.contains('/')
}

pub(super) async fn ensure_finalizer<K>(api: &Api<K>, obj: &K) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    Ok(finalizers::ensure(api, obj, known::APP_FINALIZER).await?)
}

pub(super) async fn remove_finalizers<K>(api: &Api<K>, obj: &K, remove: &[&str]) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    Ok(finalizers::remove(api, obj, remove).await?)
}

/// Merge-patches labels (`None` removes one).
pub(super) async fn patch_labels<K>(
    api: &Api<K>,
    name: &str,
    labels: &BTreeMap<String, Option<String>>,
) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    if labels.is_empty() {
        return Ok(());
    }
    let patch = json!({"metadata": {"labels": labels}});
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// Labels of `obj` that differ from `want` (so that a patch is only sent when needed).
pub(super) fn missing_labels<K: Resource>(
    obj: &K,
    want: &BTreeMap<String, String>,
) -> BTreeMap<String, Option<String>> {
    want.iter()
        .filter(|(k, v)| obj.labels().get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect()
}

pub(super) async fn delete<K>(api: &Api<K>, name: &str) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    Ok(objects::delete_if_present(api, name, &DeleteParams::background()).await?)
}

/// Joins several errors into one (Go: `utilerrors.NewAggregate`).
pub(super) fn aggregate(errors: Vec<anyhow::Error>) -> Result<()> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(Error(
            errors.into_iter().next().unwrap_or_else(|| anyhow!("")),
        )),
        _ => Err(Error(anyhow!(
            "[{}]",
            errors
                .iter()
                .map(|e| format!("{e:#}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

// ----------------------------------------------------------------------------------------
// Cache queries.

impl Ctx {
    /// The Manifests of a feed (Go: `utils.ListManifestsBySelector`), by name.
    pub fn manifests_for(&self, feed: &Feed) -> Vec<Arc<Manifest>> {
        let selector = feed_selector(feed);
        let mut out: Vec<_> = self
            .manifests
            .state()
            .into_iter()
            .filter(|m| labels_match(m.labels(), &selector))
            .collect();
        out.sort_by_key(|m| m.name_any());
        out
    }

    fn bases_of_subscription(&self, uid: &str) -> Vec<Arc<Base>> {
        self.bases
            .state()
            .into_iter()
            .filter(|b| {
                b.labels()
                    .get(known::CONFIG_SUBSCRIPTION_UID_LABEL)
                    .map(String::as_str)
                    == Some(uid)
            })
            .collect()
    }

    /// Whether the cluster of namespace `ns` is not Ready, and has not been for long (an hour).
    fn cluster_briefly_not_ready(&self, ns: &str) -> bool {
        self.clusters
            .state()
            .into_iter()
            .filter(|mc| mc.namespace().as_deref() == Some(ns))
            .any(|mc| {
                let ready = mc.status.as_ref().and_then(|s| {
                    s.conditions
                        .iter()
                        .find(|c| c.type_ == clusternet_apis::clusters::v1beta1::CLUSTER_READY)
                });
                match ready {
                    Some(c) if c.status != "True" => {
                        jiff::Timestamp::now()
                            .duration_since(c.last_transition_time.0)
                            .as_secs_f64()
                            < crate::pusher::GIVE_UP_ON_LOST.as_secs_f64()
                    }
                    _ => false,
                }
            })
    }

    pub(super) fn base_by_uid(&self, uid: &str) -> Option<Arc<Base>> {
        self.bases.find(|b| b.uid().as_deref() == Some(uid))
    }

    fn descriptions_of(&self, base: &Base) -> Vec<Arc<Description>> {
        let selector = render::descriptions_of(base);
        self.descs
            .state()
            .into_iter()
            .filter(|d| d.namespace() == base.namespace() && labels_match(d.labels(), &selector))
            .collect()
    }

    /// The overrides for `feed` in cluster namespace `namespace`, in the order they apply
    /// (Go: `localizer.getOverrides`).
    pub(super) fn overrides_for(
        &self,
        namespace: &str,
        feed: &Feed,
    ) -> anyhow::Result<Vec<OverrideConfig>> {
        let uid = if feed.kind == HELM_CHART {
            self.charts
                .get(&ObjectRef::new(&feed.name).within(&feed.namespace))
                .and_then(|c| c.uid())
        } else {
            self.manifests_for(feed).first().and_then(|m| m.uid())
        };
        let Some(uid) = uid else {
            bail!("{} not found", format_feed(feed));
        };
        // Go finds overrides by the `<feedUID>: <Kind>` label only, which the override
        // controller sets once the feed exists: an override applied before its feed (`kubectl
        // clusternet apply -f dir/` applies files in name order) then misses the first render
        // and, with ApplyLater, every later one until something changes. The feed it names is
        // what counts; the label stays an index for other tools.
        let refers = |other: &Feed| {
            other.kind == feed.kind
                && other.name == feed.name
                && other.namespace == feed.namespace
                && other.api_version == feed.api_version
        };
        let labelled = |labels: &BTreeMap<String, String>| labels.get(&uid) == Some(&feed.kind);
        let clusters: Vec<Arc<ManagedCluster>> = self
            .clusters
            .state()
            .into_iter()
            .filter(|c| c.namespace().as_deref() == Some(namespace))
            .collect();
        let mut globs: Vec<Arc<Globalization>> = self
            .globs
            .state()
            .into_iter()
            .filter(|g| labelled(g.labels()) || refers(&g.spec.feed))
            .filter(|g| match &g.spec.cluster_affinity {
                None => true,
                Some(sel) => clusters
                    .iter()
                    .any(|c| render::selector_matches(sel, c.labels())),
            })
            .collect();
        render::sort_by_priority(&mut globs, |g| {
            (g.spec.priority, g.metadata.creation_timestamp.as_ref())
        });
        let mut locs: Vec<Arc<Localization>> = self
            .locs
            .state()
            .into_iter()
            .filter(|l| {
                l.namespace().as_deref() == Some(namespace)
                    && (labelled(l.labels()) || refers(&l.spec.feed))
            })
            .collect();
        render::sort_by_priority(&mut locs, |l| {
            (l.spec.priority, l.metadata.creation_timestamp.as_ref())
        });
        let globs = globs
            .iter()
            .filter(|g| !is_deleting(g.as_ref()))
            .flat_map(|g| g.spec.overrides.iter().cloned());
        let locs = locs
            .iter()
            .filter(|l| !is_deleting(l.as_ref()))
            .flat_map(|l| l.spec.overrides.iter().cloned());
        Ok(globs.chain(locs).collect())
    }
}

// ----------------------------------------------------------------------------------------
// Subscriptions.

/// Runs the Subscription controller.
pub async fn run_subscriptions(ctx: Arc<Ctx>) {
    let lookup = ctx.clone();
    let stream = Controller::new(
        Api::<Subscription>::all(ctx.client.clone()),
        watcher::Config::default(),
    )
    .watches(
        Api::<Base>::all(ctx.client.clone()),
        watcher::Config::default(),
        move |base| {
            let labels = base.labels();
            let ns = labels.get(known::CONFIG_SUBSCRIPTION_NAMESPACE_LABEL)?;
            let name = labels
                .get(known::CONFIG_SUBSCRIPTION_NAME_LABEL)
                .cloned()
                .or_else(|| {
                    let uid = labels.get(known::CONFIG_SUBSCRIPTION_UID_LABEL)?;
                    lookup
                        .subs
                        .find(|s| s.uid().as_deref() == Some(uid))
                        .map(|s| s.name_any())
                })?;
            Some(ObjectRef::<Subscription>::new(&name).within(ns))
        },
    )
    .run(reconcile_subscription, error_policy, ctx);
    drain("subscription", stream).await;
}

async fn reconcile_subscription(sub: Arc<Subscription>, ctx: Arc<Ctx>) -> Result<Action> {
    let ns = sub.namespace().unwrap_or_default();
    let uid = sub.uid().unwrap_or_default();
    let api = Api::<Subscription>::namespaced(ctx.client.clone(), &ns);
    if is_deleting(sub.as_ref()) {
        let bases = ctx.bases_of_subscription(&uid);
        let mut errors = Vec::new();
        for base in bases.iter().filter(|b| !is_deleting(b.as_ref())) {
            if let Err(err) = delete_base(&ctx, base).await {
                errors.push(err.0);
            }
        }
        aggregate(errors)?;
        if !bases.is_empty() {
            tracing::debug!(subscription = %key(sub.as_ref()), "waiting for its Bases to be deleted");
            return Ok(Action::requeue(RETRY));
        }
        remove_labels_from_feeds(&ctx, &uid, SUBSCRIPTION).await?;
        remove_finalizers(&api, sub.as_ref(), &[known::APP_FINALIZER]).await?;
        return Ok(Action::await_change());
    }
    ensure_finalizer(&api, sub.as_ref()).await?;
    let own = BTreeMap::from([(uid.clone(), SUBSCRIPTION.to_string())]);
    patch_labels(&api, &sub.name_any(), &missing_labels(sub.as_ref(), &own)).await?;
    let deferred = populate_bases(&ctx, &sub).await?;
    tracing::debug!(subscription = %key(sub.as_ref()), "synced");
    if deferred {
        return Ok(Action::requeue(std::time::Duration::from_secs(5)));
    }
    Ok(Action::await_change())
}

/// One Base per bound cluster; Bases of clusters no longer bound are deleted (Go:
/// `populateBasesAndLocalizations`).
///
/// Unlike Go, which looks in its cache and creates `<sub>-<random>` when it sees none (so a
/// reconcile that runs before the cache shows the first one's Base makes a second), the name is
/// derived from the Subscription ([`render::base_name`]) and a create that finds it taken adopts
/// it. Duplicates left by older versions are deleted once the one kept is in sync; the applier
/// leaves a deleted Description's objects alone while another Description still lists them, so
/// nothing is removed from the child.
///
/// Returns whether a deletion was put off (look again a little later).
pub async fn populate_bases(ctx: &Ctx, sub: &Subscription) -> Result<bool> {
    let uid = sub.uid().unwrap_or_default();
    let existing = ctx.bases_of_subscription(&uid);
    let mut to_delete: BTreeSet<(String, String)> = existing
        .iter()
        .map(|b| (b.namespace().unwrap_or_default(), b.name_any()))
        .collect();
    let mut errors = Vec::new();
    let bindings = sub
        .status
        .as_ref()
        .map(|s| s.binding_clusters.clone())
        .unwrap_or_default();
    for (idx, binding) in bindings.iter().enumerate() {
        let Some((namespace, _)) = render::split_binding(binding) else {
            errors.push(anyhow!("invalid resource key: {binding}"));
            continue;
        };
        let Some(ns) = ctx.namespaces.get(&ObjectRef::new(namespace)) else {
            continue;
        };
        let mut in_namespace: Vec<&Arc<Base>> = existing
            .iter()
            .filter(|b| b.namespace().as_deref() == Some(namespace) && !is_deleting(b.as_ref()))
            .collect();
        // Keep the Base with the derived name, else (from an older version) the newest.
        let derived = render::base_name(sub, 0);
        in_namespace.sort_by_key(|b| {
            (
                b.name_any() != derived,
                std::cmp::Reverse(render::creation_second(
                    b.metadata.creation_timestamp.as_ref(),
                )),
            )
        });
        let keep = in_namespace.first().map(|b| b.name_any());
        if let Some(name) = &keep {
            to_delete.remove(&(namespace.to_string(), name.clone()));
        }
        match sync_base(ctx, sub, namespace, ns.labels(), keep).await {
            Ok(base) => {
                to_delete.remove(&(namespace.to_string(), base.name_any()));
                if let Err(err) = populate_localizations(ctx, sub, &base, idx).await {
                    errors.push(err.0);
                }
            }
            Err(err) => {
                // Nothing is deleted in a namespace whose Base could not be synced.
                to_delete.retain(|(ns, _)| ns != namespace);
                errors.push(err.0.context(format!(
                    "failed to sync the Base of {} in {namespace}",
                    key(sub)
                )));
            }
        }
    }
    // A cluster the scheduler dropped because it is not Ready keeps its Base until it is Ready
    // again (or for an hour): it is usually bound again then, and deleting and re-creating the
    // Base would remove its objects from the child and create them anew.
    let deferred: BTreeSet<String> = to_delete
        .iter()
        .filter(|(ns, _)| ctx.cluster_briefly_not_ready(ns))
        .map(|(ns, _)| ns.clone())
        .collect();
    if !deferred.is_empty() {
        tracing::debug!(subscription = %key(sub), namespaces = ?deferred, "keeping the Bases of clusters that are not Ready until they are back");
        to_delete.retain(|(ns, _)| !deferred.contains(ns));
    }
    for (ns, name) in to_delete {
        if let Some(base) = ctx.bases.get(&ObjectRef::new(&name).within(&ns)) {
            if let Err(err) = delete_base(ctx, &base).await {
                errors.push(err.0);
            } else {
                tracing::info!(base = %key(base.as_ref()), subscription = %key(sub), "deleted a Base the Subscription no longer needs");
            }
        }
    }
    aggregate(errors).map(|()| !deferred.is_empty())
}

/// How many names [`sync_base`] tries before giving up (another Subscription's Base holding a
/// derived name is already unlikely).
const NAME_ATTEMPTS: u32 = 4;

/// Whether `base` belongs to `sub`.
fn base_of(base: &Base, sub: &Subscription) -> bool {
    base.labels().get(known::CONFIG_SUBSCRIPTION_UID_LABEL) == sub.uid().as_ref()
}

/// Creates the Base of `sub` in `namespace` (named `existing`, else derived), or updates the
/// existing one's labels (merged), feeds and finalizer. A create that finds the name taken by
/// this Subscription's Base adopts it; taken by another's, it tries the next derived name.
async fn sync_base(
    ctx: &Ctx,
    sub: &Subscription,
    namespace: &str,
    namespace_labels: &BTreeMap<String, String>,
    existing: Option<String>,
) -> Result<Base> {
    let api = Api::<Base>::namespaced(ctx.client.clone(), namespace);
    let mut attempt = 0;
    let (template, current) = loop {
        let name = existing
            .clone()
            .unwrap_or_else(|| render::base_name(sub, attempt));
        let template = render::base_for(sub, namespace, namespace_labels, name.clone());
        let found = match ctx.bases.get(&ObjectRef::from_obj(&template)) {
            Some(current) => (*current).clone(),
            None => match api.create(&PostParams::default(), &template).await {
                Ok(base) => {
                    tracing::info!(base = %key(&template), "Base created");
                    return Ok(base);
                }
                Err(kube::Error::Api(s)) if s.code == 409 => api.get(&name).await?,
                Err(err) => return Err(err.into()),
            },
        };
        if base_of(&found, sub) {
            break (template, found);
        }
        attempt += 1;
        if existing.is_some() || attempt >= NAME_ATTEMPTS {
            return Err(anyhow!(
                "Base {namespace}/{name} belongs to another Subscription, and so do the other names tried"
            )
            .into());
        }
    };
    if is_deleting(&current) {
        return Err(anyhow!("Base {} is deleting, will resync later", key(&current)).into());
    }
    let mut updated = current.clone();
    updated.labels_mut().extend(
        template
            .labels()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    updated.spec = template.spec.clone();
    if !updated
        .finalizers()
        .iter()
        .any(|f| f == known::APP_FINALIZER)
    {
        updated.finalizers_mut().push(known::APP_FINALIZER.into());
    }
    if updated == current {
        return Ok(current);
    }
    let base = api
        .replace(&updated.name_any(), &PostParams::default(), &updated)
        .await?;
    tracing::info!(base = %key(&base), "Base updated");
    Ok(base)
}

async fn delete_base(ctx: &Ctx, base: &Base) -> Result<()> {
    remove_labels_from_feeds(ctx, &base.uid().unwrap_or_default(), BASE).await?;
    let api = Api::<Base>::namespaced(ctx.client.clone(), &base.namespace().unwrap_or_default());
    delete(&api, &base.name_any()).await
}

/// Removes the back-reference label `<uid>: <kind>` from every feed carrying it.
async fn remove_labels_from_feeds(ctx: &Ctx, uid: &str, kind: &str) -> Result<()> {
    let patch = BTreeMap::from([(uid.to_string(), None)]);
    let api = Api::<Manifest>::namespaced(ctx.client.clone(), &ctx.config.reserved_namespace);
    for m in ctx.manifests.state() {
        if m.labels().get(uid).map(String::as_str) == Some(kind) && !is_deleting(m.as_ref()) {
            patch_labels(&api, &m.name_any(), &patch).await?;
        }
    }
    for chart in ctx.charts.state() {
        if chart.labels().get(uid).map(String::as_str) == Some(kind) && !is_deleting(chart.as_ref())
        {
            let api = Api::<clusternet_apis::apps::v1alpha1::HelmChart>::namespaced(
                ctx.client.clone(),
                &chart.namespace().unwrap_or_default(),
            );
            patch_labels(&api, &chart.name_any(), &patch).await?;
        }
    }
    Ok(())
}

/// Dividing scheduling: a Localization per feed writing this cluster's replicas (Go:
/// `populateLocalizations`).
async fn populate_localizations(
    ctx: &Ctx,
    sub: &Subscription,
    base: &Base,
    idx: usize,
) -> Result<()> {
    let Some(base_uid) = base.uid() else {
        return Err(anyhow!("waiting for UID set for Base {}", key(base)).into());
    };
    let _ = base_uid;
    let sub_uid = sub.uid().unwrap_or_default();
    let ns = base.namespace().unwrap_or_default();
    let mine = BTreeMap::from([
        (sub_uid.clone(), SUBSCRIPTION.to_string()),
        (
            known::OBJECT_CREATED_BY_LABEL.to_string(),
            known::CLUSTERNET_CTRL_MGR_NAME.to_string(),
        ),
    ]);
    let existing: Vec<Arc<Localization>> = ctx
        .locs
        .state()
        .into_iter()
        .filter(|l| {
            l.namespace().as_deref() == Some(ns.as_str()) && labels_match(l.labels(), &mine)
        })
        .collect();
    let mut to_delete: BTreeSet<String> = existing.iter().map(|l| l.name_any()).collect();
    let mut errors = Vec::new();
    if sub.spec.scheduling_strategy == Some(SchedulingStrategyType::Dividing) {
        let sub_ns = sub.namespace().unwrap_or_default();
        let Some(finv) = ctx
            .finvs
            .get(&ObjectRef::new(&sub.name_any()).within(&sub_ns))
        else {
            return Err(
                anyhow!("failed to get FeedInventory {}/{}", sub_ns, sub.name_any()).into(),
            );
        };
        let replicas = sub.status.as_ref().map(|s| &s.replicas);
        for order in &finv.spec.feeds {
            if order.desired_replicas.is_none() {
                continue;
            }
            let Some(replicas) = replicas
                .and_then(|r| r.get(&render::feed_key(&order.feed)))
                .filter(|r| !r.is_empty())
            else {
                continue;
            };
            if order.replica_json_path.is_empty() {
                errors.push(anyhow!(
                    "no valid JSONPath is set for {} in FeedInventory {}",
                    format_feed(&order.feed),
                    key(finv.as_ref())
                ));
                continue;
            }
            let Some(count) = replicas.get(idx) else {
                errors.push(anyhow!(
                    "the length of status.Replicas for {} in Subscription {} is not matched with status.BindingClusters",
                    format_feed(&order.feed),
                    key(sub)
                ));
                continue;
            };
            let mut for_feed: Vec<&Arc<Localization>> = existing
                .iter()
                .filter(|l| l.spec.feed == order.feed)
                .collect();
            // One per feed: the derived name, else (an older version's) the newest; the rest,
            // which would fight over the replicas, are deleted.
            let derived = render::dividing_localization_name(base, &order.feed);
            for_feed.sort_by_key(|l| {
                (
                    l.name_any() != derived,
                    std::cmp::Reverse(render::creation_second(
                        l.metadata.creation_timestamp.as_ref(),
                    )),
                )
            });
            let name = for_feed.first().map(|l| l.name_any()).unwrap_or(derived);
            to_delete.remove(&name);
            let loc = render::dividing_localization(
                base,
                &sub_uid,
                &order.feed,
                &order.replica_json_path,
                *count,
                name,
            );
            if let Err(err) = sync_localization(ctx, &loc).await {
                errors.push(
                    err.0
                        .context(format!("failed to sync Localization {}", key(&loc))),
                );
            }
        }
    }
    let api = Api::<Localization>::namespaced(ctx.client.clone(), &ns);
    for name in to_delete {
        if let Err(err) = delete(&api, &name).await {
            errors.push(err.0);
        }
    }
    aggregate(errors)
}

async fn sync_localization(ctx: &Ctx, loc: &Localization) -> Result<()> {
    let api =
        Api::<Localization>::namespaced(ctx.client.clone(), &loc.namespace().unwrap_or_default());
    let current = match ctx.locs.get(&ObjectRef::from_obj(loc)) {
        Some(c) => (*c).clone(),
        None => match api.create(&PostParams::default(), loc).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => api.get(&loc.name_any()).await?,
            Err(err) => return Err(err.into()),
        },
    };
    let mut updated = current.clone();
    updated
        .labels_mut()
        .extend(loc.labels().iter().map(|(k, v)| (k.clone(), v.clone())));
    updated.annotations_mut().extend(
        loc.annotations()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    updated.spec = loc.spec.clone();
    if updated != current {
        api.replace(&updated.name_any(), &PostParams::default(), &updated)
            .await?;
    }
    Ok(())
}

// ----------------------------------------------------------------------------------------
// Bases.

/// Runs the Base controller.
pub async fn run_bases(ctx: Arc<Ctx>) {
    let stream = Controller::new(
        Api::<Base>::all(ctx.client.clone()),
        watcher::Config::default(),
    )
    // Only deletions of Descriptions concern their Base (Go: the Description delete handler):
    // re-rendering on other Description changes would pick up ApplyLater overrides early.
    .watches(
        Api::<Description>::all(ctx.client.clone()),
        watcher::Config::default(),
        |desc| {
            desc.metadata.deletion_timestamp.as_ref()?;
            let owner = desc
                .owner_references()
                .iter()
                .find(|o| o.controller == Some(true) && o.kind == BASE)?;
            Some(ObjectRef::<Base>::new(&owner.name).within(&desc.namespace()?))
        },
    )
    .run(reconcile_base, error_policy, ctx);
    drain("base", stream).await;
}

async fn reconcile_base(base: Arc<Base>, ctx: Arc<Ctx>) -> Result<Action> {
    let ns = base.namespace().unwrap_or_default();
    let api = Api::<Base>::namespaced(ctx.client.clone(), &ns);
    if is_deleting(base.as_ref()) {
        let descs = ctx.descriptions_of(&base);
        let desc_api = Api::<Description>::namespaced(ctx.client.clone(), &ns);
        for desc in descs.iter().filter(|d| !is_deleting(d.as_ref())) {
            delete(&desc_api, &desc.name_any()).await?;
        }
        if !descs.is_empty() {
            tracing::debug!(base = %key(base.as_ref()), "waiting for its Descriptions to be deleted");
            return Ok(Action::requeue(RETRY));
        }
        // Also here, not only before the delete: a reconcile from a cache that had not seen the
        // deletion yet may have labelled the feeds again meanwhile. Patched whether or not the
        // (lagging) cache shows the label; removing an absent label changes nothing.
        let uid = base.uid().unwrap_or_default();
        let patch = BTreeMap::from([(uid, None)]);
        let manifests =
            Api::<Manifest>::namespaced(ctx.client.clone(), &ctx.config.reserved_namespace);
        for feed in base.spec.feeds.iter().filter(|f| f.kind != HELM_CHART) {
            for m in ctx.manifests_for(feed) {
                if !is_deleting(m.as_ref()) {
                    patch_labels(&manifests, &m.name_any(), &patch).await?;
                }
            }
        }
        remove_labels_from_feeds(&ctx, &base.uid().unwrap_or_default(), BASE).await?;
        remove_finalizers(&api, base.as_ref(), &[known::APP_FINALIZER]).await?;
        return Ok(Action::await_change());
    }
    ensure_finalizer(&api, base.as_ref()).await?;
    let uid = base.uid().unwrap_or_default();
    let own = BTreeMap::from([(uid, BASE.to_string())]);
    patch_labels(&api, &base.name_any(), &missing_labels(base.as_ref(), &own)).await?;
    add_labels_to_feeds(&ctx, &base).await?;
    populate_descriptions(&ctx, &base).await?;
    Ok(Action::await_change())
}

/// Labels the Base's feeds `<baseUID>: Base` and `<subUID>: Subscription`, so that feed
/// changes find the Bases to re-render.
async fn add_labels_to_feeds(ctx: &Ctx, base: &Base) -> Result<()> {
    let mut want = BTreeMap::from([(base.uid().unwrap_or_default(), BASE.to_string())]);
    if let Some(sub_uid) = base
        .labels()
        .get(known::CONFIG_SUBSCRIPTION_UID_LABEL)
        .filter(|u| !u.is_empty())
    {
        want.insert(sub_uid.clone(), SUBSCRIPTION.to_string());
    }
    let api = Api::<Manifest>::namespaced(ctx.client.clone(), &ctx.config.reserved_namespace);
    let mut errors = Vec::new();
    for feed in &base.spec.feeds {
        if feed.kind == HELM_CHART {
            match ctx
                .charts
                .get(&ObjectRef::new(&feed.name).within(&feed.namespace))
            {
                Some(chart) if !is_deleting(chart.as_ref()) => {
                    let api = Api::<clusternet_apis::apps::v1alpha1::HelmChart>::namespaced(
                        ctx.client.clone(),
                        &feed.namespace,
                    );
                    patch_labels(
                        &api,
                        &chart.name_any(),
                        &missing_labels(chart.as_ref(), &want),
                    )
                    .await?;
                }
                Some(_) => {}
                None => errors.push(anyhow!(
                    "helmchart {}/{} not found",
                    feed.namespace,
                    feed.name
                )),
            }
            continue;
        }
        for m in ctx.manifests_for(feed) {
            if !is_deleting(m.as_ref()) {
                patch_labels(&api, &m.name_any(), &missing_labels(m.as_ref(), &want)).await?;
            }
        }
    }
    aggregate(errors)
}

/// Renders the Base's Description(s) (Go: `populateDescriptions`).
pub(super) async fn populate_descriptions(ctx: &Ctx, base: &Base) -> Result<()> {
    let mut manifests = Vec::new();
    let mut charts = Vec::new();
    for feed in &base.spec.feeds {
        if feed.kind == HELM_CHART {
            let Some(chart) = ctx
                .charts
                .get(&ObjectRef::new(&feed.name).within(&feed.namespace))
            else {
                return Err(anyhow!(
                    "Base {} is using a nonexistent {}",
                    key(base),
                    format_feed(feed)
                )
                .into());
            };
            match chart.status.as_ref().and_then(|s| s.phase) {
                None => {
                    return Err(anyhow!("HelmChart {} is in verifying", key(chart.as_ref())).into());
                }
                // Go: nothing is rendered for this Base while one of its charts is not found.
                Some(HelmChartPhase::NotFound) => {
                    tracing::warn!(base = %key(base), chart = %key(chart.as_ref()), "helm chart is not found");
                    return Ok(());
                }
                Some(_) => charts.push(chart),
            }
            continue;
        }
        let found = ctx.manifests_for(feed);
        if found.is_empty() {
            return Err(anyhow!(
                "Base {} is using a nonexistent {}",
                key(base),
                format_feed(feed)
            )
            .into());
        }
        manifests.extend(found);
    }
    let mut to_delete: BTreeSet<String> = ctx
        .descriptions_of(base)
        .iter()
        .filter(|d| !is_deleting(d.as_ref()))
        .map(|d| d.name_any())
        .collect();
    let mut errors = Vec::new();
    if !charts.is_empty() {
        let desc = render::helm_description(base, &charts).map_err(anyhow::Error::from)?;
        to_delete.remove(&desc.name_any());
        if let Err(err) = sync_description(ctx, base, desc).await {
            errors.push(err.0);
        }
    }
    if !manifests.is_empty() {
        let raw = manifests
            .iter()
            .map(|m| serde_json::to_vec(&m.spec.template))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::from)?;
        let desc = render::generic_description(base, raw);
        to_delete.remove(&desc.name_any());
        if let Err(err) = sync_description(ctx, base, desc).await {
            errors.push(err.0);
        }
    }
    let api =
        Api::<Description>::namespaced(ctx.client.clone(), &base.namespace().unwrap_or_default());
    for name in to_delete {
        if let Err(err) = delete(&api, &name).await {
            errors.push(err.0);
        }
    }
    aggregate(errors)
}

/// Applies the overrides to each object of a generic Description (Go:
/// `ApplyOverridesToDescription`).
fn apply_overrides(ctx: &Ctx, desc: &mut Description) -> anyhow::Result<()> {
    if desc.spec.deployer == DescriptionDeployer::Helm {
        return super::helm::apply_chart_overrides(ctx, desc);
    }
    let ns = desc.namespace().unwrap_or_default();
    let mut errors = Vec::new();
    for raw in &mut desc.spec.raw {
        let result = (|| -> anyhow::Result<Vec<u8>> {
            let obj: Value = serde_json::from_slice(&raw.0)?;
            let text = |p: &str| {
                obj.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let feed = Feed {
                kind: text("/kind"),
                api_version: text("/apiVersion"),
                namespace: text("/metadata/namespace"),
                name: text("/metadata/name"),
            };
            let overrides = ctx.overrides_for(&ns, &feed)?;
            Ok(super::patch::apply_overrides(&raw.0, b"", &overrides)?.0)
        })();
        match result {
            Ok(bytes) => raw.0 = bytes,
            Err(err) => errors.push(err),
        }
    }
    aggregate(errors).map_err(|e| e.0)
}

async fn sync_description(ctx: &Ctx, base: &Base, mut desc: Description) -> Result<()> {
    apply_overrides(ctx, &mut desc)
        .with_context(|| format!("failed to apply overrides for Description {}", key(&desc)))?;
    let ns = desc.namespace().unwrap_or_default();
    let api = Api::<Description>::namespaced(ctx.client.clone(), &ns);
    if base.spec.feeds.is_empty() {
        return delete(&api, &desc.name_any()).await;
    }
    let current = match ctx.descs.get(&ObjectRef::from_obj(&desc)) {
        Some(c) => (*c).clone(),
        None => match api.create(&PostParams::default(), &desc).await {
            Ok(_) => {
                tracing::info!(description = %key(&desc), "Description created");
                return Ok(());
            }
            Err(kube::Error::Api(s)) if s.code == 409 => api.get(&desc.name_any()).await?,
            Err(err) => return Err(err.into()),
        },
    };
    if is_deleting(&current) {
        return Err(anyhow!(
            "description {} is deleting, will resync later",
            key(&current)
        )
        .into());
    }
    if current.spec == desc.spec {
        return Ok(());
    }
    let mut updated = current;
    updated
        .labels_mut()
        .extend(desc.labels().iter().map(|(k, v)| (k.clone(), v.clone())));
    updated.spec = desc.spec;
    if !updated
        .finalizers()
        .iter()
        .any(|f| f == known::APP_FINALIZER)
    {
        updated.finalizers_mut().push(known::APP_FINALIZER.into());
    }
    api.replace(&updated.name_any(), &PostParams::default(), &updated)
        .await?;
    tracing::info!(description = %key(&updated), "Description updated");
    Ok(())
}

/// The live Bases using `manifest`: those named by its `<baseUID>: Base` labels, and those
/// whose feeds select it (so that a writer replacing the Manifest's labels loses nothing).
fn bases_using(ctx: &Ctx, manifest: &Manifest) -> Vec<Arc<Base>> {
    let mut found: BTreeMap<String, Arc<Base>> = BTreeMap::new();
    for (k, v) in manifest.labels() {
        if v == BASE
            && let Some(base) = ctx.base_by_uid(k)
        {
            found.insert(k.clone(), base);
        }
    }
    for base in ctx.bases.state() {
        if base
            .spec
            .feeds
            .iter()
            .any(|f| f.kind != HELM_CHART && labels_match(manifest.labels(), &feed_selector(f)))
        {
            found.insert(base.uid().unwrap_or_default(), base);
        }
    }
    found
        .into_values()
        .filter(|b| !is_deleting(b.as_ref()))
        .collect()
}

/// Re-renders the Descriptions of every Base using `manifest`.
async fn resync_bases_of(ctx: &Ctx, manifest: &Manifest) -> Result<()> {
    let mut errors = Vec::new();
    for base in bases_using(ctx, manifest) {
        if let Err(err) = populate_descriptions(ctx, &base).await {
            errors.push(err.0);
        }
    }
    aggregate(errors)
}

// ----------------------------------------------------------------------------------------
// Manifests (feeds).

/// Runs the Manifest controller.
pub async fn run_manifests(ctx: Arc<Ctx>) {
    let stream = Controller::new(
        Api::<Manifest>::namespaced(ctx.client.clone(), &ctx.config.reserved_namespace),
        watcher::Config::default(),
    )
    .run(reconcile_manifest, error_policy, ctx);
    drain("manifest", stream).await;
}

fn feed_of_manifest(m: &Manifest) -> (String, String, String) {
    let l = |k: &str| m.labels().get(k).cloned().unwrap_or_default();
    (
        l(known::CONFIG_KIND_LABEL),
        l(known::CONFIG_NAMESPACE_LABEL),
        l(known::CONFIG_NAME_LABEL),
    )
}

async fn reconcile_manifest(m: Arc<Manifest>, ctx: Arc<Ctx>) -> Result<Action> {
    if !cached(&ctx.manifests, m.as_ref()) {
        return Ok(Action::requeue(CACHE_LAG));
    }
    let api = Api::<Manifest>::namespaced(ctx.client.clone(), &ctx.config.reserved_namespace);
    let finalizers: &[&str] = &[known::APP_FINALIZER, known::FEED_PROTECTION_FINALIZER];
    if is_deleting(m.as_ref()) {
        protect_feed(&ctx, &m).await?;
        remove_finalizers(&api, m.as_ref(), finalizers).await?;
        return Ok(Action::await_change());
    }
    // Finalizers, and labels of Bases that no longer use this feed pruned.
    let mut wanted = m.finalizers().to_vec();
    for f in [known::APP_FINALIZER, known::FEED_PROTECTION_FINALIZER] {
        let on = f == known::APP_FINALIZER || ctx.config.feed_in_use_protection;
        if on && !wanted.iter().any(|x| x == f) {
            wanted.push(f.to_string());
        }
    }
    if wanted != m.finalizers() {
        finalizers::set(&api, m.as_ref(), wanted).await?;
    }
    let (kind, namespace, name) = feed_of_manifest(&m);
    let mut prune = BTreeMap::new();
    for (k, v) in m.labels() {
        if !is_uid_key(k) || v != BASE {
            continue;
        }
        if let Some(base) = ctx.base_by_uid(k) {
            let uses = base
                .spec
                .feeds
                .iter()
                .any(|f| f.kind == kind && f.namespace == namespace && f.name == name);
            if !uses {
                prune.insert(k.clone(), None);
                if let Some(sub_uid) = base.labels().get(known::CONFIG_UID_LABEL) {
                    prune.insert(sub_uid.clone(), None);
                }
            }
        }
    }
    // Back-references of the Bases using this feed (restored if a writer dropped them).
    let mut want = BTreeMap::new();
    for base in bases_using(&ctx, &m) {
        want.insert(base.uid().unwrap_or_default(), BASE.to_string());
        if let Some(sub_uid) = base.labels().get(known::CONFIG_SUBSCRIPTION_UID_LABEL) {
            want.insert(sub_uid.clone(), SUBSCRIPTION.to_string());
        }
    }
    for k in prune.keys() {
        want.remove(k);
    }
    prune.extend(missing_labels(m.as_ref(), &want));
    patch_labels(&api, &m.name_any(), &prune).await?;
    resync_bases_of(&ctx, &m).await?;
    Ok(Action::await_change())
}

/// A feed being deleted: blocked while Subscriptions use it (with `FeedInUseProtection`),
/// otherwise removed from every Subscription using it (Go: `protectManifestFeed`).
async fn protect_feed(ctx: &Ctx, m: &Manifest) -> Result<()> {
    let (kind, namespace, name) = feed_of_manifest(m);
    let uids: BTreeSet<&String> = m
        .labels()
        .iter()
        .filter(|(k, v)| is_uid_key(k) && *v == SUBSCRIPTION)
        .map(|(k, _)| k)
        .collect();
    let related: Vec<Arc<Subscription>> = ctx
        .subs
        .state()
        .into_iter()
        .filter(|s| !is_deleting(s.as_ref()) && s.uid().is_some_and(|u| uids.contains(&u)))
        .filter(|s| {
            s.spec
                .feeds
                .iter()
                .any(|f| f.kind == kind && f.namespace == namespace && f.name == name)
        })
        .collect();
    let api = Api::<Manifest>::namespaced(ctx.client.clone(), &ctx.config.reserved_namespace);
    block_or_drop_feed(ctx, &api, m, &kind, related, |f| {
        labels_match(m.labels(), &feed_selector(f))
    })
    .await
}

/// The shared end of protecting a feed (`obj`, of `kind`) being deleted: with the
/// feed-protection finalizer and Subscriptions still using it (`related`), the deletion is
/// blocked (annotated, and an error to retry); otherwise the feeds `uses` matches are removed
/// from those Subscriptions.
pub(super) async fn block_or_drop_feed<K>(
    ctx: &Ctx,
    api: &Api<K>,
    obj: &K,
    kind: &str,
    related: Vec<Arc<Subscription>>,
    uses: impl Fn(&Feed) -> bool,
) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    if related.is_empty() {
        return Ok(());
    }
    if obj
        .finalizers()
        .iter()
        .any(|f| f == known::FEED_PROTECTION_FINALIZER)
    {
        let msg = format!(
            "block deleting current {kind} until all Subscriptions (including {}) that refer this as a feed get deleted",
            related
                .iter()
                .map(|s| key(s.as_ref()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let patch = json!({"metadata": {"annotations": {known::FEED_PROTECTION_ANNOTATION: msg}}});
        api.patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
        return Err(anyhow!(msg).into());
    }
    for sub in related {
        // Remove from the end so that the indices stay valid (Go removes ascending).
        let ops: Vec<Value> = sub
            .spec
            .feeds
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, f)| uses(f))
            .map(|(i, _)| json!({"op": "remove", "path": format!("/spec/feeds/{i}")}))
            .collect();
        if ops.is_empty() {
            continue;
        }
        let patch: json_patch::Patch =
            serde_json::from_value(Value::Array(ops)).map_err(anyhow::Error::from)?;
        Api::<Subscription>::namespaced(ctx.client.clone(), &sub.namespace().unwrap_or_default())
            .patch(
                &sub.name_any(),
                &PatchParams::default(),
                &Patch::<()>::Json(patch),
            )
            .await?;
    }
    Ok(())
}

// ----------------------------------------------------------------------------------------
// Localizations and Globalizations.

/// What the override controllers need to know about Localization and Globalization alike.
trait Overrides:
    'static + Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug
{
    fn feed(&self) -> &Feed;
    fn policy(&self) -> OverridePolicy;
    fn api(&self, client: kube::Client) -> Api<Self>;
    fn cache(ctx: &Ctx) -> &kube::runtime::reflector::Store<Self>;
}

impl Overrides for Localization {
    fn feed(&self) -> &Feed {
        &self.spec.feed
    }
    fn policy(&self) -> OverridePolicy {
        self.spec.override_policy.unwrap_or_default()
    }
    fn api(&self, client: kube::Client) -> Api<Self> {
        Api::namespaced(client, &self.namespace().unwrap_or_default())
    }
    fn cache(ctx: &Ctx) -> &kube::runtime::reflector::Store<Self> {
        &ctx.locs
    }
}

impl Overrides for Globalization {
    fn feed(&self) -> &Feed {
        &self.spec.feed
    }
    fn policy(&self) -> OverridePolicy {
        self.spec.override_policy.unwrap_or_default()
    }
    fn api(&self, client: kube::Client) -> Api<Self> {
        Api::all(client)
    }
    fn cache(ctx: &Ctx) -> &kube::runtime::reflector::Store<Self> {
        &ctx.globs
    }
}

/// Runs the Localization controller.
pub async fn run_localizations(ctx: Arc<Ctx>) {
    let stream = Controller::new(
        Api::<Localization>::all(ctx.client.clone()),
        watcher::Config::default(),
    )
    .run(reconcile_overrides::<Localization>, error_policy, ctx);
    drain("localization", stream).await;
}

/// Runs the Globalization controller.
pub async fn run_globalizations(ctx: Arc<Ctx>) {
    let stream = Controller::new(
        Api::<Globalization>::all(ctx.client.clone()),
        watcher::Config::default(),
    )
    .run(reconcile_overrides::<Globalization>, error_policy, ctx);
    drain("globalization", stream).await;
}

/// Finalizer, the `<feedUID>: <Kind>` labels, and with `ApplyNow` an immediate re-render of
/// the Descriptions using the feed (on deletion too, which rolls the overrides back).
async fn reconcile_overrides<K: Overrides>(obj: Arc<K>, ctx: Arc<Ctx>) -> Result<Action> {
    if !cached(K::cache(&ctx), obj.as_ref()) {
        return Ok(Action::requeue(CACHE_LAG));
    }
    let api = obj.api(ctx.client.clone());
    ensure_finalizer(&api, obj.as_ref()).await?;
    let feed = obj.feed();
    if !is_deleting(obj.as_ref()) {
        let mut want = BTreeMap::new();
        if feed.kind == HELM_CHART {
            let chart = ctx
                .charts
                .get(&ObjectRef::new(&feed.name).within(&feed.namespace))
                .ok_or_else(|| anyhow!("helmchart {}/{} not found", feed.namespace, feed.name))?;
            want.insert(chart.uid().unwrap_or_default(), HELM_CHART.to_string());
        } else {
            let manifests = ctx.manifests_for(feed);
            if manifests.is_empty() {
                return Err(anyhow!(
                    "{} is not found for {}",
                    format_feed(feed),
                    key(obj.as_ref())
                )
                .into());
            }
            for m in manifests {
                let kind = m
                    .labels()
                    .get(known::CONFIG_KIND_LABEL)
                    .cloned()
                    .unwrap_or_default();
                want.insert(m.uid().unwrap_or_default(), kind);
            }
        }
        patch_labels(&api, &obj.name_any(), &missing_labels(obj.as_ref(), &want)).await?;
    }
    if obj.policy() == OverridePolicy::ApplyNow {
        if feed.kind == HELM_CHART {
            if let Some(chart) = ctx
                .charts
                .get(&ObjectRef::new(&feed.name).within(&feed.namespace))
            {
                super::helm::resync_bases_of_chart(&ctx, &chart).await?;
            }
        } else if let Some(m) = ctx.manifests_for(feed).first() {
            resync_bases_of(&ctx, m).await?;
        }
    }
    if is_deleting(obj.as_ref()) {
        remove_finalizers(&api, obj.as_ref(), &[known::APP_FINALIZER]).await?;
    }
    Ok(Action::await_change())
}

// ----------------------------------------------------------------------------------------
// Aggregated status.

/// A Description version that triggered the aggregated-status controller.
#[derive(Clone, Debug)]
struct Triggered {
    resource_version: Option<String>,
    /// Its last state was a deletion (a deleted Description is gone from the cache).
    deleted: bool,
    at: std::time::Instant,
}

/// How long a triggering Description version is waited for in the shared cache at most.
const MAX_CACHE_LAG: std::time::Duration = std::time::Duration::from_secs(5);

impl Triggered {
    /// Whether the shared cache (holding `cached`, the Description's resourceVersion there, if
    /// any) has caught up with this version.
    fn caught_up(&self, cached: Option<Option<&str>>) -> bool {
        match cached {
            Some(rv) => rv == self.resource_version.as_deref(),
            None => self.deleted,
        }
    }
}

/// The Description versions each Subscription's reconcile still waits to see in `ctx.descs`:
/// the controller's own Description watch can deliver a change before the shared cache it
/// aggregates from has it, and aggregating then would miss the change for good.
type Waiting =
    std::sync::Mutex<HashMap<ObjectRef<Subscription>, HashMap<ObjectRef<Description>, Triggered>>>;

/// Runs the aggregated-status controller.
pub async fn run_aggregate_status(ctx: Arc<Ctx>) {
    let lookup = ctx.clone();
    let waiting: Arc<Waiting> = Arc::default();
    let record = waiting.clone();
    let stream = Controller::new(
        Api::<Subscription>::all(ctx.client.clone()),
        watcher::Config::default(),
    )
    .watches(
        Api::<Description>::all(ctx.client.clone()),
        watcher::Config::default(),
        move |desc| {
            let uid = desc.labels().get(known::CONFIG_SUBSCRIPTION_UID_LABEL)?;
            let sub = lookup.subs.find(|s| s.uid().as_deref() == Some(uid))?;
            let sub = ObjectRef::from_obj(sub.as_ref());
            let triggered = Triggered {
                resource_version: desc.resource_version(),
                // Descriptions carry the deployer's finalizer: their last state before they
                // go is deleting with no finalizers left.
                deleted: is_deleting(&desc) && desc.finalizers().is_empty(),
                at: std::time::Instant::now(),
            };
            if let Ok(mut waiting) = record.lock() {
                waiting
                    .entry(sub.clone())
                    .or_default()
                    .insert(ObjectRef::from_obj(&desc), triggered);
            }
            Some(sub)
        },
    )
    .run(
        move |sub, ctx| reconcile_status(sub, ctx, waiting.clone()),
        error_policy,
        ctx,
    );
    drain("aggregatestatus", stream).await;
}

/// Whether `ctx.descs` still lags behind a Description version that triggered `sub`.
fn cache_behind(ctx: &Ctx, waiting: &Waiting, sub: &ObjectRef<Subscription>) -> bool {
    let Ok(mut waiting) = waiting.lock() else {
        return false;
    };
    let Some(descs) = waiting.get_mut(sub) else {
        return false;
    };
    descs.retain(|desc, triggered| {
        let cached = ctx.descs.get(desc);
        let cached_rv = cached
            .as_ref()
            .map(|d| d.meta().resource_version.as_deref());
        !triggered.caught_up(cached_rv) && triggered.at.elapsed() < MAX_CACHE_LAG
    });
    let behind = !descs.is_empty();
    if !behind {
        waiting.remove(sub);
    }
    behind
}

async fn reconcile_status(
    sub: Arc<Subscription>,
    ctx: Arc<Ctx>,
    waiting: Arc<Waiting>,
) -> Result<Action> {
    if is_deleting(sub.as_ref()) {
        return Ok(Action::await_change());
    }
    if cache_behind(&ctx, &waiting, &ObjectRef::from_obj(sub.as_ref())) {
        return Ok(Action::requeue(CACHE_LAG));
    }
    let ns = sub.namespace().unwrap_or_default();
    let uid = sub.uid().unwrap_or_default();
    let status = sub.status.clone().unwrap_or_default();
    let mut clusters = Vec::new();
    for binding in &status.binding_clusters {
        let Some((cluster_ns, name)) = render::split_binding(binding) else {
            continue;
        };
        let mc = ctx
            .clusters
            .get(&ObjectRef::new(name).within(cluster_ns))
            .ok_or_else(|| anyhow!("ManagedCluster {binding} not found"))?;
        clusters.push(BoundCluster {
            id: mc.spec.cluster_id.clone(),
            name: name.to_string(),
        });
    }
    let descs: Vec<Arc<Description>> = ctx
        .descs
        .state()
        .into_iter()
        .filter(|d| {
            let l = d.labels();
            l.get(known::CONFIG_SUBSCRIPTION_UID_LABEL) == Some(&uid)
                && l.get(known::CONFIG_SUBSCRIPTION_NAMESPACE_LABEL) == Some(&ns)
        })
        .collect();
    let refs: Vec<&Description> = descs.iter().map(|d| d.as_ref()).collect();
    let aggregated = status::aggregate(&sub.spec.feeds, &clusters, &refs)?;
    if aggregated != status.aggregated_statuses {
        let patch = json!({"status": {"aggregatedStatuses": aggregated}});
        Api::<Subscription>::namespaced(ctx.client.clone(), &ns)
            .patch_status(
                &sub.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        tracing::debug!(subscription = %key(sub.as_ref()), "aggregated status updated");
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregation_waits_for_the_triggering_description_version() {
        let at = std::time::Instant::now();
        let updated = Triggered {
            resource_version: Some("42".into()),
            deleted: false,
            at,
        };
        assert!(updated.caught_up(Some(Some("42"))));
        // The cache still has the previous version, or not even the object.
        assert!(!updated.caught_up(Some(Some("41"))));
        assert!(!updated.caught_up(None));
        let deleted = Triggered {
            resource_version: Some("43".into()),
            deleted: true,
            at,
        };
        assert!(deleted.caught_up(None));
        assert!(!deleted.caught_up(Some(Some("42"))));
    }
}
