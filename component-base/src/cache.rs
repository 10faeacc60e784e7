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
