//! One child cluster as the applier sees it: kind discovery (GVK → resource and scope, from the
//! child's own discovery, cached), server-side apply with one field manager, deletion, and one
//! watch per applied kind (all namespaces) that reports changes to objects Clusternet owns so
//! drift can be put back.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clusternet_apis::apps::v1alpha1::Feed;
use clusternet_apis::known;
use futures::StreamExt;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Scope};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::object::{DesiredObject, ObjectKey, group_of, parse_owner_value, version_of};

/// The field manager of every server-side apply Clusternet makes in a child.
pub const FIELD_MANAGER: &str = "clusternet";

/// A change seen in a child to an object carrying `apps.clusternet.io/owned-by-description`.
#[derive(Clone, Debug)]
pub struct DriftEvent {
    /// The owning Description (namespace, name) on the parent.
    pub owner: (String, String),
    /// The object.
    pub key: ObjectKey,
    /// The object as it is now; `None` when it was deleted.
    pub live: Option<Value>,
}

/// Where drift events go (the controller reads the other end).
pub type DriftSender = mpsc::UnboundedSender<DriftEvent>;
/// Where the controller reads drift events from.
pub type DriftReceiver = mpsc::UnboundedReceiver<DriftEvent>;

/// A channel for drift events.
pub fn drift_channel() -> (DriftSender, DriftReceiver) {
    mpsc::unbounded_channel()
}

/// A resolved kind: its resource and whether it is namespaced.
#[derive(Clone, Debug)]
struct Kind {
    resource: ApiResource,
    namespaced: bool,
}

/// A child cluster (cheap to clone). Dropping the last clone stops its watches.
#[derive(Clone)]
pub struct Child {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

struct Inner {
    client: kube::Client,
    name: String,
    kinds: Mutex<HashMap<(String, String, String), Kind>>,
    watched: Mutex<HashSet<(String, String)>>,
    watches: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    drift: DriftSender,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(watches) = self.watches.lock() {
            for watch in watches.iter() {
                watch.abort();
            }
        }
    }
}

/// How an API error is worded in a Description's reason: the child's own message, as Go's
/// `StatusError.Error()` prints it.
pub fn error_text(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        other => other.to_string(),
    }
}

fn api_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Whether trying again soon may succeed: the server was busy or failing, the connection broke,
/// or the object's namespace is not there yet (it may be created in the same pass).
fn retryable(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => {
            matches!(status.code, 409 | 429 | 500..=599)
                || (status.code == 404 && status.message.starts_with("namespaces "))
        }
        _ => true,
    }
}

/// Attempts per request and the pauses between them (Clusternet uses client-go's
/// `retry.DefaultBackoff`: 4 steps from 10 ms, factor 5).
const RETRY_PAUSES: [Duration; 3] = [
    Duration::from_millis(10),
    Duration::from_millis(50),
    Duration::from_millis(250),
];

impl Child {
    /// A child reached with `client`; `name` is for logs; changes to owned objects are sent to
    /// `drift`.
    pub fn new(client: kube::Client, name: impl Into<String>, drift: DriftSender) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                name: name.into(),
                kinds: Mutex::new(HashMap::new()),
                watched: Mutex::new(HashSet::new()),
                watches: Mutex::new(Vec::new()),
                drift,
            }),
        }
    }

    /// The client.
    pub fn client(&self) -> &kube::Client {
        &self.inner.client
    }

    /// The name given at creation.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    async fn resolve(&self, api_version: &str, kind: &str) -> Result<Kind, String> {
        let cache_key = (
            group_of(api_version).to_string(),
            version_of(api_version).to_string(),
            kind.to_string(),
        );
        if let Some(found) = self
            .inner
            .kinds
            .lock()
            .ok()
            .and_then(|k| k.get(&cache_key).cloned())
        {
            return Ok(found);
        }
        let gvk = GroupVersionKind::gvk(&cache_key.0, &cache_key.1, kind);
        let (resource, caps) = kube::discovery::pinned_kind(&self.inner.client, &gvk)
            .await
            .map_err(|err| match &err {
                kube::Error::Api(s) if s.code == 404 => {
                    format!("no matches for kind \"{kind}\" in version \"{api_version}\"")
                }
                kube::Error::Discovery(_) => {
                    format!("no matches for kind \"{kind}\" in version \"{api_version}\"")
                }
                _ => format!(
                    "please check whether the advertised apiserver of current child cluster is accessible. {}",
                    error_text(&err)
                ),
            })?;
        let found = Kind {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        };
        if let Ok(mut kinds) = self.inner.kinds.lock() {
            kinds.insert(cache_key, found.clone());
        }
        Ok(found)
    }

    fn forget(&self, api_version: &str, kind: &str) {
        if let Ok(mut kinds) = self.inner.kinds.lock() {
            kinds.remove(&(
                group_of(api_version).to_string(),
                version_of(api_version).to_string(),
                kind.to_string(),
            ));
        }
    }

    fn api(&self, kind: &Kind, namespace: &str) -> Api<DynamicObject> {
        if kind.namespaced {
            Api::namespaced_with(self.inner.client.clone(), namespace, &kind.resource)
        } else {
            Api::all_with(self.inner.client.clone(), &kind.resource)
        }
    }

    /// Server-side applies `desired` (field manager [`FIELD_MANAGER`], forced), retrying
    /// transient errors briefly. Returns the object's feed and either its `.status` in the child
    /// or the child's error message.
    pub async fn apply(&self, desired: &DesiredObject) -> (Feed, Result<Option<Value>, String>) {
        let kind = match self.resolve(&desired.api_version, &desired.kind).await {
            Ok(kind) => kind,
            Err(err) => return (desired.feed(!desired.namespace.is_empty()), Err(err)),
        };
        let feed = desired.feed(kind.namespaced);
        let api = self.api(&kind, &feed.namespace);
        let body = desired.for_scope(kind.namespaced);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let mut attempt = 0;
        let result = loop {
            match api
                .patch(&desired.name, &params, &Patch::Apply(&body))
                .await
            {
                Ok(applied) => break Ok(applied.data.get("status").cloned()),
                Err(err) if retryable(&err) && attempt < RETRY_PAUSES.len() => {
                    tokio::time::sleep(RETRY_PAUSES[attempt]).await;
                    attempt += 1;
                }
                Err(err) => {
                    if api_code(&err) == Some(404) && !retryable(&err) {
                        // The kind may have gone (a CRD deleted): discover it again next time.
                        self.forget(&desired.api_version, &desired.kind);
                    }
                    break Err(error_text(&err));
                }
            }
        };
        if result.is_ok() {
            self.watch(&kind);
        }
        (feed, result)
    }

    /// Deletes the object of `feed` (background propagation) if it is still owned by the
    /// Description `owner` (`<namespace>.<name>`): an object another Description took over, or
    /// one already gone, is left alone. A kind the child no longer serves counts as gone.
    pub async fn delete(&self, feed: &Feed, owner: &str) -> Result<(), String> {
        let kind = match self.resolve(&feed.api_version, &feed.kind).await {
            Ok(kind) => kind,
            Err(err) if err.starts_with("no matches for kind") => return Ok(()),
            Err(err) => return Err(err),
        };
        let namespace = if kind.namespaced && feed.namespace.is_empty() {
            "default"
        } else {
            feed.namespace.as_str()
        };
        let api = self.api(&kind, namespace);
        let mut attempt = 0;
        loop {
            let outcome = match api.get_opt(&feed.name).await {
                Ok(None) => return Ok(()),
                Ok(Some(live)) => {
                    let owned_by = live
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(known::OBJECT_OWNED_BY_DESCRIPTION_ANNOTATION));
                    if owned_by.map(String::as_str) != Some(owner) {
                        tracing::info!(child = %self.inner.name, kind = %feed.kind, namespace, name = %feed.name,
                            ?owned_by, "not deleting an object no longer owned by this Description");
                        return Ok(());
                    }
                    if live.metadata.deletion_timestamp.is_some() {
                        return Ok(());
                    }
                    api.delete(&feed.name, &DeleteParams::background())
                        .await
                        .map(|_| ())
                }
                Err(err) => Err(err),
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
                Err(err) if retryable(&err) && attempt < RETRY_PAUSES.len() => {
                    tokio::time::sleep(RETRY_PAUSES[attempt]).await;
                    attempt += 1;
                }
                Err(err) => return Err(error_text(&err)),
            }
        }
    }

    /// Starts watching `kind` in all namespaces (once per kind), reporting changes to objects
    /// that carry the owned-by annotation.
    fn watch(&self, kind: &Kind) {
        let id = (kind.resource.group.clone(), kind.resource.kind.clone());
        {
            let Ok(mut watched) = self.inner.watched.lock() else {
                return;
            };
            if !watched.insert(id) {
                return;
            }
        }
        let api: Api<DynamicObject> = Api::all_with(self.inner.client.clone(), &kind.resource);
        let drift = self.inner.drift.clone();
        let group = kind.resource.group.clone();
        let kind_name = kind.resource.kind.clone();
        let child = self.inner.name.clone();
        tracing::debug!(%child, kind = %kind.resource.kind, "watching for drift");
        let task = tokio::spawn(async move {
            let mut events = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(event) = events.next().await {
                let (object, deleted) = match event {
                    Ok(watcher::Event::Apply(o)) | Ok(watcher::Event::InitApply(o)) => (o, false),
                    Ok(watcher::Event::Delete(o)) => (o, true),
                    Ok(_) => continue,
                    Err(err) => {
                        tracing::debug!(%child, error = %err, "drift watch error (retrying)");
                        continue;
                    }
                };
                let Some(owner) = object
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(known::OBJECT_OWNED_BY_DESCRIPTION_ANNOTATION))
                    .and_then(|v| parse_owner_value(v))
                    .map(|(ns, name)| (ns.to_string(), name.to_string()))
                else {
                    continue;
                };
                let key = ObjectKey {
                    group: group.clone(),
                    kind: kind_name.clone(),
                    namespace: object.metadata.namespace.clone().unwrap_or_default(),
                    name: object.metadata.name.clone().unwrap_or_default(),
                };
                let live = if deleted {
                    None
                } else {
                    serde_json::to_value(&object).ok()
                };
                if drift.send(DriftEvent { owner, key, live }).is_err() {
                    return;
                }
            }
        });
        if let Ok(mut watches) = self.inner.watches.lock() {
            watches.push(task);
        }
    }
}
