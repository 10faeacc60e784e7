//! Aggregated status: the Descriptions' results into each Subscription's status (Go's `aggregatestatus` controller).

use super::*;

/// A Description version that triggered the aggregated-status controller.
#[derive(Clone, Debug)]
pub(in crate::deployer) struct Triggered {
    resource_version: Option<String>,
    /// Its last state was a deletion (a deleted Description is gone from the cache).
    deleted: bool,
    at: std::time::Instant,
}

/// How long a triggering Description version is waited for in the shared cache at most.
pub(in crate::deployer) const MAX_CACHE_LAG: std::time::Duration =
    std::time::Duration::from_secs(5);

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
pub(in crate::deployer) type Waiting =
    std::sync::Mutex<HashMap<ObjectRef<Subscription>, HashMap<ObjectRef<Description>, Triggered>>>;

/// Runs the aggregated-status controller.
pub async fn run_aggregate_status(
    ctx: Arc<Ctx>,
    subs: ReflectHandle<Subscription>,
    descs: ReflectHandle<Description>,
) {
    let lookup = ctx.clone();
    let waiting: Arc<Waiting> = Arc::default();
    let record = waiting.clone();
    let stream = Controller::for_shared_stream(subs, ctx.subs.clone())
        .with_config(workers())
        .watches_shared_stream(descs, move |desc: Arc<Description>| {
            let uid = desc.labels().get(known::CONFIG_SUBSCRIPTION_UID_LABEL)?;
            let sub = lookup.subs.find(|s| s.uid().as_deref() == Some(uid))?;
            let sub = ObjectRef::from_obj(sub.as_ref());
            let triggered = Triggered {
                resource_version: desc.resource_version(),
                // Descriptions carry the deployer's finalizer: their last state before they
                // go is deleting with no finalizers left.
                deleted: is_deleting(desc.as_ref()) && desc.finalizers().is_empty(),
                at: std::time::Instant::now(),
            };
            if let Ok(mut waiting) = record.lock() {
                waiting
                    .entry(sub.clone())
                    .or_default()
                    .insert(ObjectRef::from_obj(desc.as_ref()), triggered);
            }
            Some(sub)
        })
        .run(
            move |sub, ctx| reconcile_status(sub, ctx, waiting.clone()),
            error_policy,
            ctx,
        );
    drain("aggregatestatus", stream).await;
}

/// Whether `ctx.descs` still lags behind a Description version that triggered `sub`.
pub(in crate::deployer) fn cache_behind(
    ctx: &Ctx,
    waiting: &Waiting,
    sub: &ObjectRef<Subscription>,
) -> bool {
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

pub(in crate::deployer) async fn reconcile_status(
    sub: Arc<Subscription>,
    ctx: Arc<Ctx>,
    waiting: Arc<Waiting>,
) -> Result<Action> {
    ctx.synced().await;
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
