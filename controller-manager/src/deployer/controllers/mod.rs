//! The deployer's controllers and what they do on each object (Go: the `subscription`, `base`,
//! `manifest`, `localization`, `globalization` and `aggregatestatus` controllers with the
//! deployer's and localizer's handlers).

mod aggregate;
mod bases;
mod manifests;
mod overrides;
mod subscriptions;

pub use aggregate::run_aggregate_status;
pub use bases::run_bases;
use bases::*;
pub(super) use manifests::block_or_drop_feed;
pub use manifests::run_manifests;
pub use overrides::{run_globalizations, run_localizations};
use subscriptions::*;
pub use subscriptions::{populate_bases, run_subscriptions};

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
use kube::runtime::reflector::{ObjectRef, ReflectHandle};
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

/// Objects each deployer controller reconciles at a time. Unbounded, 2,000 Localizations
/// at 1,000 clusters were 2,000 writes at once on a parent that could take a few hundred a
/// second; 32 at a few milliseconds each is still far more than the parent accepts.
const WORKERS: u16 = 32;

/// The controller configuration every deployer controller runs with.
pub(in crate::deployer) fn workers() -> kube::runtime::controller::Config {
    kube::runtime::controller::Config::default().concurrency(WORKERS)
}

pub(super) fn error_policy<K: ResourceExt>(obj: Arc<K>, err: &Error, ctx: Arc<Ctx>) -> Action {
    // Turned away for load: back off per object (thousands of objects retrying every RETRY
    // together keep the parent saturated: 300 rejected PATCHes/s with 2,000 Localizations).
    let delay = if clusternet_component_base::reconcile::is_throttled(&err.0) {
        ctx.retries.failed(format!(
            "{}/{}",
            std::any::type_name::<K>(),
            key(obj.as_ref())
        ))
    } else {
        RETRY
    };
    tracing::info!(object = %obj.name_any(), error = %err, retry_in = ?delay, "deployer: retrying");
    Action::requeue(delay)
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

/// The app finalizer and the `want` labels `obj` lacks, in one write (Go makes two): a merge
/// patch, on the cached resourceVersion when the finalizer list changes (as
/// [`finalizers::set`]).
pub(super) async fn ensure_finalizer_and_labels<K>(
    api: &Api<K>,
    obj: &K,
    want: &BTreeMap<String, String>,
) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let labels = missing_labels(obj, want);
    let add_finalizer = obj.meta().deletion_timestamp.is_none()
        && !obj.finalizers().iter().any(|f| f == known::APP_FINALIZER);
    if labels.is_empty() && !add_finalizer {
        return Ok(());
    }
    let mut meta = json!({"labels": labels});
    if add_finalizer {
        let mut list = obj.finalizers().to_vec();
        list.push(known::APP_FINALIZER.to_string());
        meta["finalizers"] = json!(list);
        meta["resourceVersion"] = json!(obj.meta().resource_version);
    }
    match api
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&json!({ "metadata": meta })),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(err) => Err(err.into()),
    }
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
/// The object `want` names, from `cache` or the API; created from `want` if there is none
/// (`None`: just created, nothing more to do). One being deleted is an error (resynced later).
pub(super) async fn current_or_create<K>(
    cache: &kube::runtime::reflector::Store<K>,
    api: &Api<K>,
    want: &K,
) -> Result<Option<K>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let current = match cache.get(&ObjectRef::from_obj(want)) {
        Some(c) => (*c).clone(),
        None => match api.create(&PostParams::default(), want).await {
            Ok(_) => {
                tracing::info!(object = %key(want), "{} created", K::kind(&()));
                return Ok(None);
            }
            Err(kube::Error::Api(s)) if s.code == 409 => api.get(&want.name_any()).await?,
            Err(err) => return Err(err.into()),
        },
    };
    if is_deleting(&current) {
        return Err(anyhow!(
            "{} {} is deleting, will resync later",
            K::kind(&()),
            key(&current)
        )
        .into());
    }
    Ok(Some(current))
}

/// Writes `updated` (the current object with the wanted spec already in it) back, with
/// `labels` merged over its own and the app finalizer ensured.
pub(super) async fn replace_merged<K>(
    api: &Api<K>,
    mut updated: K,
    labels: &BTreeMap<String, String>,
) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    updated
        .labels_mut()
        .extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    if !updated
        .finalizers()
        .iter()
        .any(|f| f == known::APP_FINALIZER)
    {
        updated.finalizers_mut().push(known::APP_FINALIZER.into());
    }
    api.replace(&updated.name_any(), &PostParams::default(), &updated)
        .await?;
    tracing::info!(object = %key(&updated), "{} updated", K::kind(&()));
    Ok(())
}

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
