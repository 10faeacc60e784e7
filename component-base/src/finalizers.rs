//! Adding and removing a finalizer the way every controller here does: a merge patch of the
//! whole list on the cached resourceVersion (a stale cache is a conflict and a retry, never a
//! lost finalizer of someone else's), nothing sent when nothing changes, and an object already
//! gone is done.

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

/// Sets `obj`'s finalizers to `finalizers`.
pub async fn set<K>(api: &Api<K>, obj: &K, finalizers: Vec<String>) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let patch = serde_json::json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": obj.meta().resource_version,
    }});
    match api
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(err) => Err(err),
    }
}

/// Adds `finalizer` unless `obj` has it or is being deleted.
pub async fn ensure<K>(api: &Api<K>, obj: &K, finalizer: &str) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    if obj.meta().deletion_timestamp.is_some() || obj.finalizers().iter().any(|f| f == finalizer) {
        return Ok(());
    }
    let mut finalizers = obj.finalizers().to_vec();
    finalizers.push(finalizer.to_string());
    set(api, obj, finalizers).await
}

/// Removes the finalizers in `remove` that `obj` has.
pub async fn remove<K>(api: &Api<K>, obj: &K, remove: &[&str]) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    if !obj
        .finalizers()
        .iter()
        .any(|f| remove.contains(&f.as_str()))
    {
        return Ok(());
    }
    let keep = obj
        .finalizers()
        .iter()
        .filter(|f| !remove.contains(&f.as_str()))
        .cloned()
        .collect();
    set(api, obj, keep).await
}
