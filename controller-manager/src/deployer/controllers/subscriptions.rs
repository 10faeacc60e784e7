//! Subscriptions: their Bases (one per bound cluster) and Localizations (Go's `subscription` controller).

use super::*;

/// Runs the Subscription controller.
pub async fn run_subscriptions(
    ctx: Arc<Ctx>,
    subs: ReflectHandle<Subscription>,
    bases: ReflectHandle<Base>,
) {
    let lookup = ctx.clone();
    let stream = Controller::for_shared_stream(subs, ctx.subs.clone())
        .with_config(workers())
        .watches_shared_stream(bases, move |base: Arc<Base>| {
            let labels = base.labels();
            let ns = labels.get(known::CONFIG_SUBSCRIPTION_NAMESPACE_LABEL)?;
            let name = labels
                .get(known::CONFIG_SUBSCRIPTION_NAME_LABEL)
                .cloned()
                .or_else(|| {
                    let uid = labels.get(known::CONFIG_SUBSCRIPTION_UID_LABEL)?;
                    lookup
                        .subs
                        .find(|s| s.uid().as_deref() == Some(uid))
                        .map(|s| s.name_any())
                })?;
            Some(ObjectRef::<Subscription>::new(&name).within(ns))
        })
        .run(reconcile_subscription, error_policy, ctx);
    drain("subscription", stream).await;
}

pub(in crate::deployer) async fn reconcile_subscription(
    sub: Arc<Subscription>,
    ctx: Arc<Ctx>,
) -> Result<Action> {
    ctx.synced().await;
    let ns = sub.namespace().unwrap_or_default();
    let uid = sub.uid().unwrap_or_default();
    let api = Api::<Subscription>::namespaced(ctx.client.clone(), &ns);
    if is_deleting(sub.as_ref()) {
        let bases = ctx.bases_of_subscription(&uid);
        let mut errors = Vec::new();
        for base in bases.iter().filter(|b| !is_deleting(b.as_ref())) {
            if let Err(err) = delete_base(&ctx, base).await {
                errors.push(err.0);
            }
        }
        aggregate(errors)?;
        if !bases.is_empty() {
            tracing::debug!(subscription = %key(sub.as_ref()), "waiting for its Bases to be deleted");
            return Ok(Action::requeue(RETRY));
        }
        remove_labels_from_feeds(&ctx, &uid, SUBSCRIPTION).await?;
        remove_finalizers(&api, sub.as_ref(), &[known::APP_FINALIZER]).await?;
        return Ok(Action::await_change());
    }
    let own = BTreeMap::from([(uid.clone(), SUBSCRIPTION.to_string())]);
    ensure_finalizer_and_labels(&api, sub.as_ref(), &own).await?;
    let deferred = populate_bases(&ctx, &sub).await?;
    tracing::debug!(subscription = %key(sub.as_ref()), "synced");
    if deferred {
        return Ok(Action::requeue(std::time::Duration::from_secs(5)));
    }
    Ok(Action::await_change())
}

/// One Base per bound cluster; Bases of clusters no longer bound are deleted (Go:
/// `populateBasesAndLocalizations`).
///
/// Unlike Go, which looks in its cache and creates `<sub>-<random>` when it sees none (so a
/// reconcile that runs before the cache shows the first one's Base makes a second), the name is
/// derived from the Subscription ([`render::base_name`]) and a create that finds it taken adopts
/// it. Duplicates left by older versions are deleted once the one kept is in sync; the applier
/// leaves a deleted Description's objects alone while another Description still lists them, so
/// nothing is removed from the child.
///
/// Returns whether a deletion was put off (look again a little later).
pub async fn populate_bases(ctx: &Ctx, sub: &Subscription) -> Result<bool> {
    let uid = sub.uid().unwrap_or_default();
    let existing = ctx.bases_of_subscription(&uid);
    let mut to_delete: BTreeSet<(String, String)> = existing
        .iter()
        .map(|b| (b.namespace().unwrap_or_default(), b.name_any()))
        .collect();
    let mut errors = Vec::new();
    let bindings = sub
        .status
        .as_ref()
        .map(|s| s.binding_clusters.clone())
        .unwrap_or_default();
    // The Bases of the bound clusters are synced concurrently (each in its own namespace),
    // [`BASE_SYNCS`] at a time: a thousand at once would only queue in the parent's API
    // Priority and Fairness (one flow: this component's identity) and come back as 429s.
    let mut jobs = Vec::new();
    for (idx, binding) in bindings.iter().enumerate() {
        let Some((namespace, _)) = render::split_binding(binding) else {
            errors.push(anyhow!("invalid resource key: {binding}"));
            continue;
        };
        let Some(ns) = ctx.namespaces.get(&ObjectRef::new(namespace)) else {
            continue;
        };
        let mut in_namespace: Vec<&Arc<Base>> = existing
            .iter()
            .filter(|b| b.namespace().as_deref() == Some(namespace) && !is_deleting(b.as_ref()))
            .collect();
        // Keep the Base with the derived name, else (from an older version) the newest.
        let derived = render::base_name(sub, 0);
        in_namespace.sort_by_key(|b| {
            (
                b.name_any() != derived,
                std::cmp::Reverse(render::creation_second(
                    b.metadata.creation_timestamp.as_ref(),
                )),
            )
        });
        let keep = in_namespace.first().map(|b| b.name_any());
        if let Some(name) = &keep {
            to_delete.remove(&(namespace.to_string(), name.clone()));
        }
        jobs.push(async move {
            let synced = match sync_base(ctx, sub, namespace, ns.labels(), keep).await {
                Ok(base) => {
                    let locs = populate_localizations(ctx, sub, &base, idx).await;
                    Ok((base, locs))
                }
                Err(err) => Err(err),
            };
            (namespace, synced)
        });
    }
    let synced: Vec<_> = futures::stream::iter(jobs)
        .buffer_unordered(BASE_SYNCS)
        .collect()
        .await;
    for (namespace, synced) in synced {
        match synced {
            Ok((base, locs)) => {
                to_delete.remove(&(namespace.to_string(), base.name_any()));
                if let Err(err) = locs {
                    errors.push(err.0);
                }
            }
            Err(err) => {
                // Nothing is deleted in a namespace whose Base could not be synced.
                to_delete.retain(|(ns, _)| ns != namespace);
                errors.push(err.0.context(format!(
                    "failed to sync the Base of {} in {namespace}",
                    key(sub)
                )));
            }
        }
    }
    // A cluster the scheduler dropped because it is not Ready keeps its Base until it is Ready
    // again (or for an hour): it is usually bound again then, and deleting and re-creating the
    // Base would remove its objects from the child and create them anew.
    let deferred: BTreeSet<String> = to_delete
        .iter()
        .filter(|(ns, _)| ctx.cluster_briefly_not_ready(ns))
        .map(|(ns, _)| ns.clone())
        .collect();
    if !deferred.is_empty() {
        tracing::debug!(subscription = %key(sub), namespaces = ?deferred, "keeping the Bases of clusters that are not Ready until they are back");
        to_delete.retain(|(ns, _)| !deferred.contains(ns));
    }
    for (ns, name) in to_delete {
        if let Some(base) = ctx.bases.get(&ObjectRef::new(&name).within(&ns)) {
            if let Err(err) = delete_base(ctx, &base).await {
                errors.push(err.0);
            } else {
                tracing::info!(base = %key(base.as_ref()), subscription = %key(sub), "deleted a Base the Subscription no longer needs");
            }
        }
    }
    aggregate(errors).map(|()| !deferred.is_empty())
}

/// Bases synced at once by [`populate_bases`].
pub(in crate::deployer) const BASE_SYNCS: usize = 32;

/// How many names [`sync_base`] tries before giving up (another Subscription's Base holding a
/// derived name is already unlikely).
pub(in crate::deployer) const NAME_ATTEMPTS: u32 = 4;

/// Whether `base` belongs to `sub`.
pub(in crate::deployer) fn base_of(base: &Base, sub: &Subscription) -> bool {
    base.labels().get(known::CONFIG_SUBSCRIPTION_UID_LABEL) == sub.uid().as_ref()
}

/// Creates the Base of `sub` in `namespace` (named `existing`, else derived), or updates the
/// existing one's labels (merged), feeds and finalizer. A create that finds the name taken by
/// this Subscription's Base adopts it; taken by another's, it tries the next derived name.
pub(in crate::deployer) async fn sync_base(
    ctx: &Ctx,
    sub: &Subscription,
    namespace: &str,
    namespace_labels: &BTreeMap<String, String>,
    existing: Option<String>,
) -> Result<Base> {
    let api = Api::<Base>::namespaced(ctx.client.clone(), namespace);
    let mut attempt = 0;
    let (template, current) = loop {
        let name = existing
            .clone()
            .unwrap_or_else(|| render::base_name(sub, attempt));
        let template = render::base_for(sub, namespace, namespace_labels, name.clone());
        let found = match ctx.bases.get(&ObjectRef::from_obj(&template)) {
            Some(current) => (*current).clone(),
            None => match api.create(&PostParams::default(), &template).await {
                Ok(base) => {
                    tracing::info!(base = %key(&template), "Base created");
                    return Ok(base);
                }
                Err(kube::Error::Api(s)) if s.code == 409 => api.get(&name).await?,
                Err(err) => return Err(err.into()),
            },
        };
        if base_of(&found, sub) {
            break (template, found);
        }
        attempt += 1;
        if existing.is_some() || attempt >= NAME_ATTEMPTS {
            return Err(anyhow!(
                "Base {namespace}/{name} belongs to another Subscription, and so do the other names tried"
            )
            .into());
        }
    };
    if is_deleting(&current) {
        return Err(anyhow!("Base {} is deleting, will resync later", key(&current)).into());
    }
    let mut updated = current.clone();
    updated.labels_mut().extend(
        template
            .labels()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    updated.spec = template.spec.clone();
    if !updated
        .finalizers()
        .iter()
        .any(|f| f == known::APP_FINALIZER)
    {
        updated.finalizers_mut().push(known::APP_FINALIZER.into());
    }
    if updated == current {
        return Ok(current);
    }
    let base = api
        .replace(&updated.name_any(), &PostParams::default(), &updated)
        .await?;
    tracing::info!(base = %key(&base), "Base updated");
    Ok(base)
}

pub(in crate::deployer) async fn delete_base(ctx: &Ctx, base: &Base) -> Result<()> {
    remove_labels_from_feeds(ctx, &base.uid().unwrap_or_default(), BASE).await?;
    let api = Api::<Base>::namespaced(ctx.client.clone(), &base.namespace().unwrap_or_default());
    delete(&api, &base.name_any()).await
}

/// Removes the back-reference label `<uid>: <kind>` from every feed carrying it.
pub(in crate::deployer) async fn remove_labels_from_feeds(
    ctx: &Ctx,
    uid: &str,
    kind: &str,
) -> Result<()> {
    let patch = BTreeMap::from([(uid.to_string(), None)]);
    let api = Api::<Manifest>::namespaced(ctx.client.clone(), &ctx.config.reserved_namespace);
    for m in ctx.manifests.state() {
        if m.labels().get(uid).map(String::as_str) == Some(kind) && !is_deleting(m.as_ref()) {
            patch_labels(&api, &m.name_any(), &patch).await?;
        }
    }
    for chart in ctx.charts.state() {
        if chart.labels().get(uid).map(String::as_str) == Some(kind) && !is_deleting(chart.as_ref())
        {
            let api = Api::<clusternet_apis::apps::v1alpha1::HelmChart>::namespaced(
                ctx.client.clone(),
                &chart.namespace().unwrap_or_default(),
            );
            patch_labels(&api, &chart.name_any(), &patch).await?;
        }
    }
    Ok(())
}

/// Dividing scheduling: a Localization per feed writing this cluster's replicas (Go:
/// `populateLocalizations`).
pub(in crate::deployer) async fn populate_localizations(
    ctx: &Ctx,
    sub: &Subscription,
    base: &Base,
    idx: usize,
) -> Result<()> {
    let Some(base_uid) = base.uid() else {
        return Err(anyhow!("waiting for UID set for Base {}", key(base)).into());
    };
    let _ = base_uid;
    let sub_uid = sub.uid().unwrap_or_default();
    let ns = base.namespace().unwrap_or_default();
    let mine = BTreeMap::from([
        (sub_uid.clone(), SUBSCRIPTION.to_string()),
        (
            known::OBJECT_CREATED_BY_LABEL.to_string(),
            known::CLUSTERNET_CTRL_MGR_NAME.to_string(),
        ),
    ]);
    let existing: Vec<Arc<Localization>> = ctx
        .locs
        .state()
        .into_iter()
        .filter(|l| {
            l.namespace().as_deref() == Some(ns.as_str()) && labels_match(l.labels(), &mine)
        })
        .collect();
    let mut to_delete: BTreeSet<String> = existing.iter().map(|l| l.name_any()).collect();
    let mut errors = Vec::new();
    if sub.spec.scheduling_strategy == Some(SchedulingStrategyType::Dividing) {
        let sub_ns = sub.namespace().unwrap_or_default();
        let Some(finv) = ctx
            .finvs
            .get(&ObjectRef::new(&sub.name_any()).within(&sub_ns))
        else {
            return Err(
                anyhow!("failed to get FeedInventory {}/{}", sub_ns, sub.name_any()).into(),
            );
        };
        let replicas = sub.status.as_ref().map(|s| &s.replicas);
        for order in &finv.spec.feeds {
            if order.desired_replicas.is_none() {
                continue;
            }
            let Some(replicas) = replicas
                .and_then(|r| r.get(&render::feed_key(&order.feed)))
                .filter(|r| !r.is_empty())
            else {
                continue;
            };
            if order.replica_json_path.is_empty() {
                errors.push(anyhow!(
                    "no valid JSONPath is set for {} in FeedInventory {}",
                    format_feed(&order.feed),
                    key(finv.as_ref())
                ));
                continue;
            }
            let Some(count) = replicas.get(idx) else {
                errors.push(anyhow!(
                    "the length of status.Replicas for {} in Subscription {} is not matched with status.BindingClusters",
                    format_feed(&order.feed),
                    key(sub)
                ));
                continue;
            };
            let mut for_feed: Vec<&Arc<Localization>> = existing
                .iter()
                .filter(|l| l.spec.feed == order.feed)
                .collect();
            // One per feed: the derived name, else (an older version's) the newest; the rest,
            // which would fight over the replicas, are deleted.
            let derived = render::dividing_localization_name(base, &order.feed);
            for_feed.sort_by_key(|l| {
                (
                    l.name_any() != derived,
                    std::cmp::Reverse(render::creation_second(
                        l.metadata.creation_timestamp.as_ref(),
                    )),
                )
            });
            let name = for_feed.first().map(|l| l.name_any()).unwrap_or(derived);
            to_delete.remove(&name);
            let loc = render::dividing_localization(
                base,
                &sub_uid,
                &order.feed,
                &order.replica_json_path,
                *count,
                name,
            );
            if let Err(err) = sync_localization(ctx, &loc).await {
                errors.push(
                    err.0
                        .context(format!("failed to sync Localization {}", key(&loc))),
                );
            }
        }
    }
    let api = Api::<Localization>::namespaced(ctx.client.clone(), &ns);
    for name in to_delete {
        if let Err(err) = delete(&api, &name).await {
            errors.push(err.0);
        }
    }
    aggregate(errors)
}

pub(in crate::deployer) async fn sync_localization(ctx: &Ctx, loc: &Localization) -> Result<()> {
    let api =
        Api::<Localization>::namespaced(ctx.client.clone(), &loc.namespace().unwrap_or_default());
    let current = match ctx.locs.get(&ObjectRef::from_obj(loc)) {
        Some(c) => (*c).clone(),
        None => match api.create(&PostParams::default(), loc).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => api.get(&loc.name_any()).await?,
            Err(err) => return Err(err.into()),
        },
    };
    let mut updated = current.clone();
    updated
        .labels_mut()
        .extend(loc.labels().iter().map(|(k, v)| (k.clone(), v.clone())));
    updated.annotations_mut().extend(
        loc.annotations()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    updated.spec = loc.spec.clone();
    if updated != current {
        api.replace(&updated.name_any(), &PostParams::default(), &updated)
            .await?;
    }
    Ok(())
}
