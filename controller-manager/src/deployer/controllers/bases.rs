//! Bases: their Descriptions with overrides applied, and the feeds' labels (Go's `base` controller).

use super::*;

/// Runs the Base controller, the only writer of Descriptions: Base changes, deleted
/// Descriptions and the Bases other controllers queue ([`super::super::Rerender`]).
pub async fn run_bases(
    ctx: Arc<Ctx>,
    bases: ReflectHandle<Base>,
    descs: ReflectHandle<Description>,
    rerender: impl futures::Stream<Item = ObjectRef<Base>> + Send + 'static,
) {
    let stream = Controller::for_shared_stream(bases, ctx.bases.clone())
        .with_config(workers())
        // Only deletions of Descriptions concern their Base (Go: the Description delete handler):
        // re-rendering on other Description changes would pick up ApplyLater overrides early.
        .watches_shared_stream(descs, |desc: Arc<Description>| {
            desc.metadata.deletion_timestamp.as_ref()?;
            let owner = desc
                .owner_references()
                .iter()
                .find(|o| o.controller == Some(true) && o.kind == BASE)?;
            Some(ObjectRef::<Base>::new(&owner.name).within(&desc.namespace()?))
        })
        .reconcile_on(rerender)
        .run(reconcile_base, error_policy, ctx);
    drain("base", stream).await;
}

pub(in crate::deployer) async fn reconcile_base(base: Arc<Base>, ctx: Arc<Ctx>) -> Result<Action> {
    ctx.synced().await;
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
    let uid = base.uid().unwrap_or_default();
    let own = BTreeMap::from([(uid, BASE.to_string())]);
    // Independent writes, at once: the Base's own finalizer and label, the feeds'
    // back-references (an index: Bases are also found by their feeds) and the Descriptions.
    let (own, feeds, descriptions) = tokio::join!(
        ensure_finalizer_and_labels(&api, base.as_ref(), &own),
        add_labels_to_feeds(&ctx, &base),
        populate_descriptions(&ctx, &base)
    );
    own?;
    feeds?;
    descriptions?;
    Ok(Action::await_change())
}

/// Labels the Base's feeds `<baseUID>: Base` and `<subUID>: Subscription`, so that feed
/// changes find the Bases to re-render.
pub(in crate::deployer) async fn add_labels_to_feeds(ctx: &Ctx, base: &Base) -> Result<()> {
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
pub(in crate::deployer) async fn populate_descriptions(ctx: &Ctx, base: &Base) -> Result<()> {
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
pub(in crate::deployer) fn apply_overrides(
    ctx: &Ctx,
    desc: &mut Description,
) -> anyhow::Result<()> {
    if desc.spec.deployer == DescriptionDeployer::Helm {
        return crate::deployer::helm::apply_chart_overrides(ctx, desc);
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
            Ok(crate::deployer::patch::apply_overrides(&raw.0, b"", &overrides)?.0)
        })();
        match result {
            Ok(bytes) => raw.0 = bytes,
            Err(err) => errors.push(err),
        }
    }
    aggregate(errors).map_err(|e| e.0)
}

pub(in crate::deployer) async fn sync_description(
    ctx: &Ctx,
    base: &Base,
    mut desc: Description,
) -> Result<()> {
    apply_overrides(ctx, &mut desc)
        .with_context(|| format!("failed to apply overrides for Description {}", key(&desc)))?;
    let ns = desc.namespace().unwrap_or_default();
    let api = Api::<Description>::namespaced(ctx.client.clone(), &ns);
    if base.spec.feeds.is_empty() {
        return delete(&api, &desc.name_any()).await;
    }
    let Some(current) = current_or_create(&ctx.descs, &api, &desc).await? else {
        return Ok(());
    };
    if current.spec == desc.spec {
        return Ok(());
    }
    let labels = desc.labels().clone();
    let mut updated = current;
    updated.spec = desc.spec;
    replace_merged(&api, updated, &labels).await
}

/// The live Bases using `manifest`: those named by its `<baseUID>: Base` labels, and those
/// whose feeds select it (so that a writer replacing the Manifest's labels loses nothing).
pub(in crate::deployer) fn bases_using(ctx: &Ctx, manifest: &Manifest) -> Vec<Arc<Base>> {
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

/// Queues every Base using `manifest` for the Base controller to render again.
pub(in crate::deployer) fn resync_bases_of(ctx: &Ctx, manifest: &Manifest) {
    for base in bases_using(ctx, manifest) {
        ctx.rerender.base(&base);
    }
}
