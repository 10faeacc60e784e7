//! Manifests (the feeds' templates): re-rendering the Bases that use them, and in-use protection (Go's `manifest` controller).

use super::*;

/// The generation of each Manifest (by UID) whose Bases were last queued to render.
pub(in crate::deployer) type Rendered = std::sync::Mutex<HashMap<String, Option<i64>>>;

/// Runs the Manifest controller.
pub async fn run_manifests(ctx: Arc<Ctx>, manifests: ReflectHandle<Manifest>) {
    let rendered: Arc<Rendered> = Arc::default();
    let stream = Controller::for_shared_stream(manifests, ctx.manifests.clone())
        .with_config(workers())
        .run(
            move |m, ctx| {
                let rendered = rendered.clone();
                async move { reconcile_manifest(m, ctx, &rendered).await }
            },
            error_policy,
            ctx,
        );
    drain("manifest", stream).await;
}

pub(in crate::deployer) fn feed_of_manifest(m: &Manifest) -> (String, String, String) {
    let l = |k: &str| m.labels().get(k).cloned().unwrap_or_default();
    (
        l(known::CONFIG_KIND_LABEL),
        l(known::CONFIG_NAMESPACE_LABEL),
        l(known::CONFIG_NAME_LABEL),
    )
}

pub(in crate::deployer) async fn reconcile_manifest(
    m: Arc<Manifest>,
    ctx: Arc<Ctx>,
    rendered: &Rendered,
) -> Result<Action> {
    ctx.synced().await;
    if !cached(&ctx.manifests, m.as_ref()) {
        return Ok(Action::requeue(CACHE_LAG));
    }
    let api = Api::<Manifest>::namespaced(ctx.client.clone(), &ctx.config.reserved_namespace);
    let finalizers: &[&str] = &[known::APP_FINALIZER, known::FEED_PROTECTION_FINALIZER];
    if is_deleting(m.as_ref()) {
        if let Ok(mut r) = rendered.lock() {
            r.remove(&m.uid().unwrap_or_default());
        }
        protect_feed(&ctx, &m).await?;
        remove_finalizers(&api, m.as_ref(), finalizers).await?;
        return Ok(Action::await_change());
    }
    // Finalizers, and labels of Bases that no longer use this feed pruned.
    let mut wanted = m.finalizers().to_vec();
    for f in [known::APP_FINALIZER, known::FEED_PROTECTION_FINALIZER] {
        let on = f == known::APP_FINALIZER || ctx.config.feed_in_use_protection;
        if on && !wanted.iter().any(|x| x == f) {
            wanted.push(f.to_string());
        }
    }
    if wanted != m.finalizers() {
        finalizers::set(&api, m.as_ref(), wanted).await?;
    }
    let (kind, namespace, name) = feed_of_manifest(&m);
    let mut prune = BTreeMap::new();
    for (k, v) in m.labels() {
        if !is_uid_key(k) || v != BASE {
            continue;
        }
        if let Some(base) = ctx.base_by_uid(k) {
            let uses = base
                .spec
                .feeds
                .iter()
                .any(|f| f.kind == kind && f.namespace == namespace && f.name == name);
            if !uses {
                prune.insert(k.clone(), None);
                if let Some(sub_uid) = base.labels().get(known::CONFIG_UID_LABEL) {
                    prune.insert(sub_uid.clone(), None);
                }
            }
        }
    }
    // Back-references of the Bases using this feed (restored if a writer dropped them).
    let mut want = BTreeMap::new();
    for base in bases_using(&ctx, &m) {
        want.insert(base.uid().unwrap_or_default(), BASE.to_string());
        if let Some(sub_uid) = base.labels().get(known::CONFIG_SUBSCRIPTION_UID_LABEL) {
            want.insert(sub_uid.clone(), SUBSCRIPTION.to_string());
        }
    }
    for k in prune.keys() {
        want.remove(k);
    }
    prune.extend(missing_labels(m.as_ref(), &want));
    patch_labels(&api, &m.name_any(), &prune).await?;
    // Only a new template (a new generation) changes what the Bases render; label and
    // finalizer writes — every Base labels its feeds, so N Bases make N of them — do not (as
    // Go's Manifest handler compares templates).
    let uid = m.uid().unwrap_or_default();
    let generation = m.metadata.generation;
    let fresh = rendered
        .lock()
        .map(|mut r| r.insert(uid, generation) != Some(generation))
        .unwrap_or(true);
    if fresh {
        resync_bases_of(&ctx, &m);
    }
    Ok(Action::await_change())
}

/// A feed being deleted: blocked while Subscriptions use it (with `FeedInUseProtection`),
/// otherwise removed from every Subscription using it (Go: `protectManifestFeed`).
pub(in crate::deployer) async fn protect_feed(ctx: &Ctx, m: &Manifest) -> Result<()> {
    let (kind, namespace, name) = feed_of_manifest(m);
    let uids: BTreeSet<&String> = m
        .labels()
        .iter()
        .filter(|(k, v)| is_uid_key(k) && *v == SUBSCRIPTION)
        .map(|(k, _)| k)
        .collect();
    let related: Vec<Arc<Subscription>> = ctx
        .subs
        .state()
        .into_iter()
        .filter(|s| !is_deleting(s.as_ref()) && s.uid().is_some_and(|u| uids.contains(&u)))
        .filter(|s| {
            s.spec
                .feeds
                .iter()
                .any(|f| f.kind == kind && f.namespace == namespace && f.name == name)
        })
        .collect();
    let api = Api::<Manifest>::namespaced(ctx.client.clone(), &ctx.config.reserved_namespace);
    block_or_drop_feed(ctx, &api, m, &kind, related, |f| {
        labels_match(m.labels(), &feed_selector(f))
    })
    .await
}

/// The shared end of protecting a feed (`obj`, of `kind`) being deleted: with the
/// feed-protection finalizer and Subscriptions still using it (`related`), the deletion is
/// blocked (annotated, and an error to retry); otherwise the feeds `uses` matches are removed
/// from those Subscriptions.
pub(in crate::deployer) async fn block_or_drop_feed<K>(
    ctx: &Ctx,
    api: &Api<K>,
    obj: &K,
    kind: &str,
    related: Vec<Arc<Subscription>>,
    uses: impl Fn(&Feed) -> bool,
) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    if related.is_empty() {
        return Ok(());
    }
    if obj
        .finalizers()
        .iter()
        .any(|f| f == known::FEED_PROTECTION_FINALIZER)
    {
        let msg = format!(
            "block deleting current {kind} until all Subscriptions (including {}) that refer this as a feed get deleted",
            related
                .iter()
                .map(|s| key(s.as_ref()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let patch = json!({"metadata": {"annotations": {known::FEED_PROTECTION_ANNOTATION: msg}}});
        api.patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
        return Err(anyhow!(msg).into());
    }
    for sub in related {
        // Remove from the end so that the indices stay valid (Go removes ascending).
        let ops: Vec<Value> = sub
            .spec
            .feeds
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, f)| uses(f))
            .map(|(i, _)| json!({"op": "remove", "path": format!("/spec/feeds/{i}")}))
            .collect();
        if ops.is_empty() {
            continue;
        }
        let patch: json_patch::Patch =
            serde_json::from_value(Value::Array(ops)).map_err(anyhow::Error::from)?;
        Api::<Subscription>::namespaced(ctx.client.clone(), &sub.namespace().unwrap_or_default())
            .patch(
                &sub.name_any(),
                &PatchParams::default(),
                &Patch::<()>::Json(patch),
            )
            .await?;
    }
    Ok(())
}
