//! Keeping a set of objects as a controller wants it: deleting one that may already be gone,
//! and making the objects of a label selector exactly a given list (server-side apply of each,
//! deletion of the rest).

use std::collections::BTreeSet;

use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Deletes `name`; an object already gone is done.
pub async fn delete_if_present<K>(
    api: &Api<K>,
    name: &str,
    params: &DeleteParams,
) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(err) => Err(err),
    }
}

/// Makes the objects of `api` matching `selector` exactly `want`: deletes the others, then
/// applies each of `want` (server-side, as `manager`, forced). Returns what matched before.
pub async fn sync_labelled<K>(
    api: &Api<K>,
    selector: &str,
    want: &[K],
    manager: &str,
) -> kube::Result<Vec<K>>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let names: BTreeSet<String> = want.iter().map(|o| o.name_any()).collect();
    let before = api
        .list(&ListParams::default().labels(selector))
        .await?
        .items;
    for existing in &before {
        if !names.contains(&existing.name_any()) {
            delete_if_present(api, &existing.name_any(), &DeleteParams::default()).await?;
        }
    }
    let apply = PatchParams::apply(manager).force();
    for object in want {
        api.patch(&object.name_any(), &apply, &Patch::Apply(object))
            .await?;
    }
    Ok(before)
}
