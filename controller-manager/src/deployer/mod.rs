//! The deployer (feature gate `Deployer`), as Go Clusternet's `controllermanager/deployer`:
//!
//! ```text
//! Subscription ──(status.bindingClusters, written by the scheduler)──► one Base per bound
//!   cluster, in the cluster's dedicated namespace ──► Description `<base>-generic` holding the
//!   feeds' objects (Manifests in the reserved namespace) with Globalizations, then
//!   Localizations, applied in priority order
//! ```
//!
//! * Dividing scheduling: one Localization per feed and Base (priority 1000, ApplyNow) writes the
//!   cluster's share of `status.replicas` at the feed's `replicaJsonPath` (from the
//!   FeedInventory).
//! * Re-rendering: a Base change, a feed (Manifest) change, or a Localization/Globalization
//!   with `ApplyNow` re-renders the Descriptions using the feed; `ApplyLater` overrides wait for
//!   the next of those. Only the Base controller writes Descriptions ([`Rerender`]).
//! * Deletion: Subscription → its Bases → their Descriptions, each held by the finalizer
//!   `apps.clusternet.io/finalizer` until its children are gone (the applier removes the
//!   Descriptions' finalizer after cleaning the child cluster).
//! * Back-references: feeds carry labels `<baseUID>: Base` and `<subUID>: Subscription`;
//!   overrides carry `<manifestUID>: <Kind>`; see [`controllers`].
//! * Aggregated status onto the Subscription: [`status`].
//!
//! * HelmChart feeds: `<base>-helm` Descriptions and their HelmReleases, [`helm`].
//!
//! Not here: applying Descriptions to children (the applier), installing Helm releases
//! (`clusternet_applier::helm`), scheduling (the scheduler).

pub mod controllers;
pub mod helm;
pub mod patch;
pub mod render;
pub mod status;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use clusternet_apis::apps::v1alpha1::{
    Base, Description, FeedInventory, Globalization, HelmChart, HelmRelease, Localization,
    Manifest, Subscription,
};
use clusternet_apis::clusters::v1beta1::ManagedCluster;
use clusternet_component_base::cache;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, ReflectHandle, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

/// Settings of the deployer.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the hub stores Manifests.
    pub reserved_namespace: String,
    /// Feature gate `FeedInUseProtection`: Manifests in use cannot be deleted.
    pub feed_in_use_protection: bool,
    /// The Helm CLI (HelmChart lookups).
    pub helm: std::path::PathBuf,
}

/// Caches of everything the deployer reads (Go: its listers), and the client.
pub struct Ctx {
    /// The parent.
    pub client: kube::Client,
    /// Settings.
    pub config: Config,
    /// Subscriptions.
    pub subs: Store<Subscription>,
    /// Bases.
    pub bases: Store<Base>,
    /// Descriptions.
    pub descs: Store<Description>,
    /// Manifests in the reserved namespace.
    pub manifests: Store<Manifest>,
    /// Localizations.
    pub locs: Store<Localization>,
    /// Globalizations.
    pub globs: Store<Globalization>,
    /// ManagedClusters.
    pub clusters: Store<ManagedCluster>,
    /// Namespaces.
    pub namespaces: Store<Namespace>,
    /// FeedInventories.
    pub finvs: Store<FeedInventory>,
    /// HelmCharts.
    pub charts: Store<HelmChart>,
    /// HelmReleases.
    pub releases: Store<HelmRelease>,
    /// The Base controller's queue of Bases to render again.
    pub rerender: Rerender,
    /// True once every cache has synced.
    pub synced: tokio::sync::watch::Receiver<bool>,
    /// Per-object backoff of reconciles the parent turned away for load.
    pub retries: clusternet_component_base::reconcile::Retries<String>,
}

impl Ctx {
    /// Waits until every cache has synced (at once afterwards): reconciles start with this.
    pub async fn synced(&self) {
        let mut synced = self.synced.clone();
        let _ = synced.wait_for(|s| *s).await;
    }
}

/// Queues Bases for the Base controller to render their Descriptions again.
///
/// The Base controller is the only writer of Descriptions, and it runs one reconcile per Base
/// at a time: a feed or override controller that sees a change queues the Bases using it
/// (after its cache holds the change) instead of rendering them itself. When two controllers
/// rendered, one whose caches had not yet seen a new Localization (say, the Base controller
/// right after the Base was created) could replace the Description the other had just
/// rendered with it, and nothing came back to fix it: a child of a Dividing Subscription kept
/// the template's replicas.
#[derive(Clone, Debug)]
pub struct Rerender(tokio::sync::mpsc::UnboundedSender<ObjectRef<Base>>);

impl Rerender {
    /// A queue and the stream of its requests (for `Controller::reconcile_on`).
    pub fn channel() -> (
        Self,
        impl futures::Stream<Item = ObjectRef<Base>> + Send + 'static,
    ) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let stream =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) });
        (Self(tx), stream)
    }

    /// Queues `base` (a no-op once the Base controller has stopped).
    pub fn base(&self, base: &Base) {
        let _ = self.0.send(ObjectRef::from_obj(base));
    }
}

pub use clusternet_component_base::reconcile::ReconcileError as Error;

/// How long a failed object waits before it is retried (Go: yacht's rate limiter, whose
/// first retries are sub-second too).
pub const RETRY: Duration = Duration::from_millis(500);

/// A cache of `api`, fed by a task that stops when its handle (pushed to `watches`) is
/// dropped.
fn cache<K>(api: Api<K>, watches: &mut Vec<tokio_util::task::AbortOnDropHandle<()>>) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, handle) = cache::spawn(api, watcher::Config::default(), "deployer");
    watches.push(handle);
    reader
}

/// Runs the deployer until the process ends.
///
/// Each kind has one watch, whose cache the controllers share: a controller is triggered by
/// the same shared reflector that fills the cache it renders from (after the cache holds the
/// change), so it never waits for its cache to catch up. Controllers start at once (their
/// trigger streams must be taken from the first event), and reconcile once every cache has
/// synced ([`Ctx::synced`]).
pub async fn run(client: kube::Client, config: Config) {
    // The caches' watches live as long as this future (a lost leadership drops it).
    let mut w = Vec::new();
    let (rerender, rerender_requests) = Rerender::channel();
    let Some((subs, [subs_for_subs, subs_for_status])) = shared(Api::all(client.clone()), &mut w)
    else {
        tracing::error!("deployer: no shared cache for subs");
        return;
    };
    let Some((bases, [bases_for_bases, bases_for_subs])) = shared(Api::all(client.clone()), &mut w)
    else {
        tracing::error!("deployer: no shared cache for bases");
        return;
    };
    let Some((descs, [descs_for_bases, descs_for_status, descs_for_helm])) =
        shared(Api::all(client.clone()), &mut w)
    else {
        tracing::error!("deployer: no shared cache for descs");
        return;
    };
    let Some((manifests, [manifests_for_manifests])) = shared(
        Api::namespaced(client.clone(), &config.reserved_namespace),
        &mut w,
    ) else {
        tracing::error!("deployer: no shared cache for manifests");
        return;
    };
    let Some((locs, [locs_for_locs])) = shared(Api::all(client.clone()), &mut w) else {
        tracing::error!("deployer: no shared cache for locs");
        return;
    };
    let Some((globs, [globs_for_globs])) = shared(Api::all(client.clone()), &mut w) else {
        tracing::error!("deployer: no shared cache for globs");
        return;
    };
    let Some((charts, [charts_for_charts])) = shared(Api::all(client.clone()), &mut w) else {
        tracing::error!("deployer: no shared cache for charts");
        return;
    };
    let Some((releases, [releases_for_helm])) = shared(Api::all(client.clone()), &mut w) else {
        tracing::error!("deployer: no shared cache for releases");
        return;
    };
    let (synced_tx, synced) = tokio::sync::watch::channel(false);
    let ctx = Arc::new(Ctx {
        subs,
        bases,
        descs,
        manifests,
        locs,
        globs,
        clusters: cache(Api::all(client.clone()), &mut w),
        namespaces: cache(Api::all(client.clone()), &mut w),
        finvs: cache(Api::all(client.clone()), &mut w),
        charts,
        releases,
        rerender,
        synced,
        retries: Default::default(),
        client,
        config,
    });
    let _watches = w;
    let ready = {
        let ctx = ctx.clone();
        async move {
            let all = async {
                ctx.subs.wait_until_ready().await?;
                ctx.bases.wait_until_ready().await?;
                ctx.descs.wait_until_ready().await?;
                ctx.manifests.wait_until_ready().await?;
                ctx.locs.wait_until_ready().await?;
                ctx.globs.wait_until_ready().await?;
                ctx.clusters.wait_until_ready().await?;
                ctx.namespaces.wait_until_ready().await?;
                ctx.finvs.wait_until_ready().await?;
                ctx.charts.wait_until_ready().await?;
                ctx.releases.wait_until_ready().await
            };
            match all.await {
                Ok(()) => {
                    tracing::info!("deployer caches synced");
                    let _ = synced_tx.send(true);
                }
                Err(err) => tracing::error!(error = %err, "deployer caches never synced"),
            }
        }
    };
    tokio::join!(
        ready,
        controllers::run_subscriptions(ctx.clone(), subs_for_subs, bases_for_subs),
        controllers::run_bases(
            ctx.clone(),
            bases_for_bases,
            descs_for_bases,
            rerender_requests
        ),
        controllers::run_manifests(ctx.clone(), manifests_for_manifests),
        controllers::run_localizations(ctx.clone(), locs_for_locs),
        controllers::run_globalizations(ctx.clone(), globs_for_globs),
        controllers::run_aggregate_status(ctx.clone(), subs_for_status, descs_for_status),
        helm::run_charts(ctx.clone(), charts_for_charts),
        helm::run_helm_descriptions(ctx.clone(), descs_for_helm, releases_for_helm),
    );
}

/// A shared cache of `api` with `N` trigger streams for the controllers that watch it.
fn shared<K, const N: usize>(
    api: Api<K>,
    watches: &mut Vec<tokio_util::task::AbortOnDropHandle<()>>,
) -> Option<(Store<K>, [ReflectHandle<K>; N])>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, handles, handle) =
        cache::spawn_shared(api, watcher::Config::default(), "deployer", N);
    watches.push(handle);
    // A shared reflector always hands out subscribers.
    let handles = <[ReflectHandle<K>; N]>::try_from(handles).ok()?;
    Some((reader, handles))
}

/// `<namespace>/<name>` of an object, for messages.
pub fn key<K: Resource>(obj: &K) -> String {
    match obj.meta().namespace.as_deref() {
        Some(ns) => format!("{ns}/{}", obj.name_any()),
        None => obj.name_any(),
    }
}
