//! A watch-fed cache of one kind: kube-runtime's reflector behind a task that logs watch errors
//! (the watcher retries with its default backoff) and stops when its handle is dropped.

use std::fmt::Debug;
use std::hash::Hash;

use futures::StreamExt;
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use tokio_util::task::AbortOnDropHandle;

/// Starts caching `api` with `config`. The cache is filled for as long as the returned handle
/// lives; `what` names the watch in its debug logs.
pub fn spawn<K>(
    api: Api<K>,
    config: watcher::Config,
    what: &'static str,
) -> (Store<K>, AbortOnDropHandle<()>)
where
    K: kube::Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let (store, writer) = reflector::store();
    let stream = watcher(api, config)
        .default_backoff()
        .reflect(writer)
        .touched_objects();
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            if let Err(err) = event {
                tracing::debug!(error = %err, kind = %K::kind(&Default::default()), what, "watch for cache");
            }
        }
    });
    (store, AbortOnDropHandle::new(task))
}

/// How many watch events a shared cache holds for a subscriber that has not taken them yet
/// (the reflector waits when one is this far behind).
pub const SHARED_BUFFER: usize = 4096;

/// [`spawn`] with `subscribers` streams of the objects the cache changes, each delivered after
/// the cache holds the change (kube-runtime's shared reflector), for
/// `Controller::for_shared_stream`/`watches_shared_stream`: a controller then never sees an
/// object its own cache does not have yet, and one watch serves the cache and every
/// controller. Every stream must be polled (a controller does), or the watch stops at
/// [`SHARED_BUFFER`] events behind.
pub fn spawn_shared<K>(
    api: Api<K>,
    config: watcher::Config,
    what: &'static str,
    subscribers: usize,
) -> (
    Store<K>,
    Vec<reflector::ReflectHandle<K>>,
    AbortOnDropHandle<()>,
)
where
    K: kube::Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let (store, writer) = reflector::store_shared(SHARED_BUFFER);
    let handles = (0..subscribers)
        .filter_map(|_| writer.subscribe())
        .collect();
    let stream = watcher(api, config)
        .default_backoff()
        .reflect_shared(writer)
        .touched_objects();
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            if let Err(err) = event {
                tracing::debug!(error = %err, kind = %K::kind(&Default::default()), what, "watch for cache");
            }
        }
    });
    (store, handles, AbortOnDropHandle::new(task))
}
