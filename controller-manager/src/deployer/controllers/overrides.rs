//! Localizations and Globalizations: re-rendering what they override (Go's localizer).

use super::*;

/// What the override controllers need to know about Localization and Globalization alike.
pub(in crate::deployer) trait Overrides:
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
pub async fn run_localizations(ctx: Arc<Ctx>, locs: ReflectHandle<Localization>) {
    let stream = Controller::for_shared_stream(locs, ctx.locs.clone())
        .with_config(workers())
        .run(reconcile_overrides::<Localization>, error_policy, ctx);
    drain("localization", stream).await;
}

/// Runs the Globalization controller.
pub async fn run_globalizations(ctx: Arc<Ctx>, globs: ReflectHandle<Globalization>) {
    let stream = Controller::for_shared_stream(globs, ctx.globs.clone())
        .with_config(workers())
        .run(reconcile_overrides::<Globalization>, error_policy, ctx);
    drain("globalization", stream).await;
}

/// Finalizer, the `<feedUID>: <Kind>` labels, and with `ApplyNow` an immediate re-render of
/// the Descriptions using the feed (on deletion too, which rolls the overrides back).
pub(in crate::deployer) async fn reconcile_overrides<K: Overrides>(
    obj: Arc<K>,
    ctx: Arc<Ctx>,
) -> Result<Action> {
    ctx.synced().await;
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
                crate::deployer::helm::resync_bases_of_chart(&ctx, &chart);
            }
        } else if let Some(m) = ctx.manifests_for(feed).first() {
            resync_bases_of(&ctx, m);
        }
    }
    if is_deleting(obj.as_ref()) {
        remove_finalizers(&api, obj.as_ref(), &[known::APP_FINALIZER]).await?;
    }
    Ok(Action::await_change())
}
