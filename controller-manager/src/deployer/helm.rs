//! HelmChart feeds, as Go Clusternet's `controllers/apps/helmchart`, the deployer's
//! `handleHelmChart` and `controllermanager/deployer/helm`:
//!
//! * the HelmChart controller keeps the chart's finalizers (`apps.clusternet.io/finalizer`, and
//!   `apps.clusternet.io/feed-protection` with `FeedInUseProtection`) and labels
//!   (`apps.clusternet.io/config.{group,version,kind,name,namespace}`), prunes the `<baseUID>:
//!   Base` labels of Bases that no longer use it, and writes `status.phase` `Found`/`NotFound`
//!   (with Helm's reason) by looking the chart up with the real Helm, with the
//!   `chartPullSecret`'s credentials; a NotFound chart is looked up again every
//!   [`NOT_FOUND_RECHECK`] (Go only on a spec change), so a chart pushed later is found;
//! * the Bases using a chart render `<base>-helm` Descriptions (`render::helm_description`)
//!   with the values of Helm-type Localizations/Globalizations ([`apply_chart_overrides`]);
//! * the Helm deployer keeps one HelmRelease per (Description, chart) in the cluster namespace,
//!   named `<description>-<chart namespace>-<chart name>`, labelled and owned by the Description,
//!   release name the HelmChart's name, and deletes the stale ones; a deleted Description waits
//!   for its HelmReleases (uninstalled by the reconciler of the cluster's mode) before its
//!   finalizer goes.
//!
//! Installing the releases is `clusternet_applier::helm` (the controller-manager in push mode,
//! the agent in pull mode).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use clusternet_apis::apps::v1alpha1::{
    Base, Description, DescriptionDeployer, Feed, HelmChart, HelmChartPhase, HelmRelease,
    HelmReleaseSpec, OverrideConfig, OverrideType, Subscription,
};
use clusternet_apis::known;
use clusternet_component_base::finalizers;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::reflector::ReflectHandle;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::controllers::{
    BASE, CACHE_LAG, HELM_CHART, Result, aggregate, block_or_drop_feed, cached, current_or_create,
    delete, drain, error_policy, is_deleting, is_uid_key, missing_labels, patch_labels,
    remove_finalizers, replace_merged,
};
use super::patch::{self, default_chart_overrides};
use super::{Ctx, RETRY, key};

/// How often a chart that was not found is looked up again.
pub const NOT_FOUND_RECHECK: Duration = Duration::from_secs(30);

// ----------------------------------------------------------------------------------------
// HelmCharts.

/// When each chart was last looked up, at which generation (charts are looked up again on a
/// spec change, not on every label or status write).
type Checked = Mutex<HashMap<ObjectRef<HelmChart>, (Option<i64>, Instant)>>;

/// Runs the HelmChart controller.
pub async fn run_charts(ctx: Arc<Ctx>, charts: ReflectHandle<HelmChart>) {
    let checked: Arc<Checked> = Arc::new(Mutex::new(HashMap::new()));
    let stream = Controller::for_shared_stream(charts, ctx.charts.clone())
        .with_config(super::controllers::workers())
        .run(
            move |chart, ctx| {
                let checked = checked.clone();
                async move { reconcile_chart(chart, ctx, &checked).await }
            },
            error_policy,
            ctx,
        );
    drain("helmchart", stream).await;
}

async fn reconcile_chart(
    chart: Arc<HelmChart>,
    ctx: Arc<Ctx>,
    checked: &Checked,
) -> Result<Action> {
    ctx.synced().await;
    if !cached(&ctx.charts, chart.as_ref()) {
        return Ok(Action::requeue(CACHE_LAG));
    }
    let ns = chart.namespace().unwrap_or_default();
    let api = Api::<HelmChart>::namespaced(ctx.client.clone(), &ns);
    let oref = ObjectRef::from_obj(chart.as_ref());
    if is_deleting(chart.as_ref()) {
        protect_chart_feed(&ctx, &chart).await?;
        remove_finalizers(
            &api,
            chart.as_ref(),
            &[known::APP_FINALIZER, known::FEED_PROTECTION_FINALIZER],
        )
        .await?;
        if let Ok(mut c) = checked.lock() {
            c.remove(&oref);
        }
        return Ok(Action::await_change());
    }
    let mut wanted = chart.finalizers().to_vec();
    for f in [known::APP_FINALIZER, known::FEED_PROTECTION_FINALIZER] {
        let on = f == known::APP_FINALIZER || ctx.config.feed_in_use_protection;
        if on && !wanted.iter().any(|x| x == f) {
            wanted.push(f.to_string());
        }
    }
    if wanted != chart.finalizers() {
        finalizers::set(&api, chart.as_ref(), wanted).await?;
    }
    let mut labels = BTreeMap::from([
        (
            known::CONFIG_GROUP_LABEL.to_string(),
            known::APPS_GROUP.to_string(),
        ),
        (
            known::CONFIG_VERSION_LABEL.to_string(),
            HelmChart::version(&()).to_string(),
        ),
        (known::CONFIG_KIND_LABEL.to_string(), HELM_CHART.to_string()),
        (known::CONFIG_NAME_LABEL.to_string(), chart.name_any()),
        (known::CONFIG_NAMESPACE_LABEL.to_string(), ns.clone()),
    ])
    .into_iter()
    .filter(|(k, v)| chart.labels().get(k) != Some(v))
    .map(|(k, v)| (k, Some(v)))
    .collect::<BTreeMap<_, _>>();
    // Labels of Bases that no longer use this chart (Go: pruneLabels).
    for (k, v) in chart.labels() {
        if is_uid_key(k)
            && v == BASE
            && let Some(base) = ctx.base_by_uid(k)
            && !uses_chart(&base.spec.feeds, &chart)
        {
            labels.insert(k.clone(), None);
        }
    }
    patch_labels(&api, &chart.name_any(), &labels).await?;

    // Look the chart up on a spec change (or while it is not found).
    let generation = chart.metadata.generation;
    let phase = chart.status.as_ref().and_then(|s| s.phase);
    let last = checked.lock().ok().and_then(|c| c.get(&oref).copied());
    let due = match (&phase, last) {
        (None, _) | (_, None) => true,
        (_, Some((g, _))) if g != generation => true,
        (Some(HelmChartPhase::NotFound), Some((_, at))) => at.elapsed() >= NOT_FOUND_RECHECK,
        (Some(_), Some(_)) => false,
    };
    if due {
        let (phase, reason) = look_up(&ctx, &chart).await?;
        if let Ok(mut c) = checked.lock() {
            c.insert(oref, (generation, Instant::now()));
        }
        let status = json!({"status": {"phase": phase, "reason": reason}});
        api.patch_status(
            &chart.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await?;
        tracing::info!(helmchart = %key(chart.as_ref()), ?phase, %reason, "helm chart looked up");
        // A changed phase brings this chart back (its Bases re-render then); an unchanged one
        // does not, and the spec change must still reach them now.
        if chart.status.as_ref().and_then(|s| s.phase) != Some(phase) {
            return Ok(Action::await_change());
        }
    }
    resync_bases_of_chart(&ctx, &chart);
    Ok(match phase {
        Some(HelmChartPhase::NotFound) => Action::requeue(NOT_FOUND_RECHECK),
        _ => Action::await_change(),
    })
}

/// `Found`, or `NotFound` with Helm's reason (Go: `FindOCIChart` / `FindChartInAuthRepoURL`).
async fn look_up(ctx: &Ctx, chart: &HelmChart) -> Result<(HelmChartPhase, String)> {
    let credentials = clusternet_applier::helm::pull_secret_credentials(
        &ctx.client,
        &chart.spec.helm_options.chart_pull_secret,
    )
    .await?;
    match clusternet_applier::helm::find_chart(
        &ctx.config.helm,
        &chart.spec.helm_options,
        credentials.as_ref(),
    )
    .await
    {
        Ok(_) => Ok((HelmChartPhase::Found, String::new())),
        Err(err) => Ok((HelmChartPhase::NotFound, format!("{err:#}"))),
    }
}

fn uses_chart(feeds: &[Feed], chart: &HelmChart) -> bool {
    let ns = chart.namespace().unwrap_or_default();
    feeds
        .iter()
        .any(|f| f.kind == HELM_CHART && f.namespace == ns && f.name == chart.name_any())
}

/// Queues every live Base using `chart` (its `<baseUID>: Base` labels, and Bases whose feeds
/// name it) for the Base controller to render again.
pub fn resync_bases_of_chart(ctx: &Ctx, chart: &HelmChart) {
    let mut bases: BTreeMap<String, Arc<Base>> = BTreeMap::new();
    for (k, v) in chart.labels() {
        if is_uid_key(k)
            && v == BASE
            && let Some(base) = ctx.base_by_uid(k)
        {
            bases.insert(k.clone(), base);
        }
    }
    for base in ctx.bases.state() {
        if uses_chart(&base.spec.feeds, chart) {
            bases.insert(base.uid().unwrap_or_default(), base);
        }
    }
    for base in bases.values().filter(|b| !is_deleting(b.as_ref())) {
        if uses_chart(&base.spec.feeds, chart) {
            ctx.rerender.base(base);
        }
    }
}

/// A chart being deleted: blocked while Subscriptions use it (with `FeedInUseProtection`),
/// otherwise removed from their feeds (Go: `protectHelmChartFeed`).
async fn protect_chart_feed(ctx: &Ctx, chart: &HelmChart) -> Result<()> {
    let related: Vec<Arc<Subscription>> = ctx
        .subs
        .state()
        .into_iter()
        .filter(|s| !is_deleting(s.as_ref()))
        .filter(|s| uses_chart(&s.spec.feeds, chart))
        .collect();
    let api =
        Api::<HelmChart>::namespaced(ctx.client.clone(), &chart.namespace().unwrap_or_default());
    block_or_drop_feed(ctx, &api, chart, HELM_CHART, related, |f| {
        uses_chart(std::slice::from_ref(f), chart)
    })
    .await
}

/// The values (`spec.raw`) and chart overrides (`spec.chartRaw`) of a Helm Description (Go:
/// `ApplyOverridesToDescription` for the Helm deployer): per chart, the Helm-type overrides of
/// its Globalizations then Localizations give the release's values; those with
/// `overrideChart` merge into the HelmChart document, never changing its chart name or target
/// namespace.
pub fn apply_chart_overrides(ctx: &Ctx, desc: &mut Description) -> anyhow::Result<()> {
    let ns = desc.namespace().unwrap_or_default();
    let mut raw = Vec::with_capacity(desc.spec.charts.len());
    let mut errors = Vec::new();
    for (idx, chart) in desc.spec.charts.iter().enumerate() {
        let feed = Feed {
            kind: HELM_CHART.into(),
            api_version: HelmChart::api_version(&()).to_string(),
            namespace: chart.namespace.clone(),
            name: chart.name.clone(),
        };
        let result = (|| -> anyhow::Result<Vec<u8>> {
            let overrides = ctx.overrides_for(&ns, &feed)?;
            let (values, chart_overrides) = patch::apply_overrides(b" ", b" ", &overrides)?;
            let blank = |b: &[u8]| b.iter().all(u8::is_ascii_whitespace);
            if !blank(&chart_overrides)
                && let Some(doc) = desc.spec.chart_raw.get_mut(idx)
            {
                let (safe, _) =
                    patch::apply_overrides(&chart_overrides, b" ", &default_chart_overrides())?;
                let merge = OverrideConfig {
                    name: "merge-chartRaw-with-overrides".into(),
                    value: String::from_utf8_lossy(&safe).into_owned(),
                    r#type: OverrideType::MergePatch,
                    override_chart: false,
                    field_path: String::new(),
                    field_format: None,
                };
                doc.0 = patch::apply_overrides(&doc.0, b" ", &[merge])?.0;
            }
            Ok(values)
        })();
        match result {
            Ok(values) => raw.push(k8s_openapi::ByteString(values)),
            Err(err) => {
                raw.push(k8s_openapi::ByteString(Vec::new()));
                errors.push(err);
            }
        }
    }
    desc.spec.raw = raw;
    match errors.into_iter().next() {
        None => Ok(()),
        Some(err) => Err(err),
    }
}

// ----------------------------------------------------------------------------------------
// The Helm deployer: Helm Descriptions → HelmReleases.

/// Go's `GenerateHelmReleaseName`.
pub fn helm_release_name(desc: &str, chart_namespace: &str, chart_name: &str) -> String {
    format!("{desc}-{chart_namespace}-{chart_name}")
}

/// Runs the Helm deployer.
pub async fn run_helm_descriptions(
    ctx: Arc<Ctx>,
    descs: ReflectHandle<Description>,
    releases: ReflectHandle<HelmRelease>,
) {
    let stream = Controller::for_shared_stream(descs, ctx.descs.clone())
        .with_config(super::controllers::workers())
        .owns_shared_stream(releases)
        .run(reconcile_helm_description, error_policy, ctx);
    drain("helm-deployer", stream).await;
}

/// The labels selecting the HelmReleases of `desc`.
fn releases_of(desc: &Description) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            known::CONFIG_KIND_LABEL.to_string(),
            Description::kind(&()).to_string(),
        ),
        (known::CONFIG_NAME_LABEL.to_string(), desc.name_any()),
        (
            known::CONFIG_NAMESPACE_LABEL.to_string(),
            desc.namespace().unwrap_or_default(),
        ),
        (
            known::CONFIG_UID_LABEL.to_string(),
            desc.uid().unwrap_or_default(),
        ),
    ])
}

fn owned_releases(ctx: &Ctx, desc: &Description) -> Vec<Arc<HelmRelease>> {
    let want = releases_of(desc);
    let ns = desc.namespace();
    ctx.releases
        .state()
        .into_iter()
        .filter(|hr| {
            hr.namespace() == ns && want.iter().all(|(k, v)| hr.labels().get(k) == Some(v))
        })
        .collect()
}

async fn reconcile_helm_description(desc: Arc<Description>, ctx: Arc<Ctx>) -> Result<Action> {
    ctx.synced().await;
    if desc.spec.deployer != DescriptionDeployer::Helm {
        return Ok(Action::await_change());
    }
    let ns = desc.namespace().unwrap_or_default();
    let hr_api = Api::<HelmRelease>::namespaced(ctx.client.clone(), &ns);
    if is_deleting(desc.as_ref()) {
        let existing = owned_releases(&ctx, &desc);
        for hr in existing.iter().filter(|hr| !is_deleting(hr.as_ref())) {
            delete(&hr_api, &hr.name_any()).await?;
        }
        if !existing.is_empty() {
            tracing::debug!(description = %key(desc.as_ref()), "waiting for its HelmReleases to be deleted");
            return Ok(Action::requeue(RETRY));
        }
        let api = Api::<Description>::namespaced(ctx.client.clone(), &ns);
        remove_finalizers(&api, desc.as_ref(), &[known::APP_FINALIZER]).await?;
        return Ok(Action::await_change());
    }
    if desc.spec.raw.len() != desc.spec.charts.len()
        || desc.spec.chart_raw.len() != desc.spec.charts.len()
    {
        return Err(anyhow!(
            "unequal lengths of (Spec.Raw|Spec.ChartRaw) and Spec.Charts in Description {}",
            key(desc.as_ref())
        )
        .into());
    }
    let mut stale: BTreeSet<String> = owned_releases(&ctx, &desc)
        .iter()
        .map(|hr| hr.name_any())
        .collect();
    let mut errors = Vec::new();
    for (idx, chart_ref) in desc.spec.charts.iter().enumerate() {
        let hr = match helm_release(&desc, idx) {
            Ok(hr) => hr,
            Err(err) => {
                errors.push(err);
                continue;
            }
        };
        stale.remove(&hr.name_any());
        if let Err(err) = sync_helm_release(&ctx, &hr_api, hr).await {
            errors.push(err.0.context(format!(
                "failed to sync HelmRelease for chart {}/{}",
                chart_ref.namespace, chart_ref.name
            )));
        }
    }
    for name in stale {
        if let Err(err) = delete(&hr_api, &name).await {
            errors.push(err.0);
        }
    }
    aggregate(errors)?;
    Ok(Action::await_change())
}

/// The HelmRelease of chart `idx` of `desc` (Go: `populateHelmRelease`).
fn helm_release(desc: &Description, idx: usize) -> anyhow::Result<HelmRelease> {
    let chart_ref = &desc.spec.charts[idx];
    let chart: HelmChart = serde_json::from_slice(&desc.spec.chart_raw[idx].0)
        .map_err(|e| anyhow!("chartRaw[{idx}] of Description {}: {e}", key(desc)))?;
    let desc_label = |k: &str| desc.labels().get(k).cloned().unwrap_or_default();
    let mut labels = chart.labels().clone();
    labels.insert(
        known::OBJECT_CREATED_BY_LABEL.into(),
        known::CLUSTERNET_CTRL_MGR_NAME.into(),
    );
    labels.extend(releases_of(desc));
    for k in [
        known::CLUSTER_ID_LABEL,
        known::CLUSTER_NAME_LABEL,
        known::CONFIG_SUBSCRIPTION_NAME_LABEL,
        known::CONFIG_SUBSCRIPTION_NAMESPACE_LABEL,
        known::CONFIG_SUBSCRIPTION_UID_LABEL,
    ] {
        labels.insert(k.to_string(), desc_label(k));
    }
    let values = String::from_utf8_lossy(&desc.spec.raw[idx].0)
        .trim()
        .to_string();
    Ok(HelmRelease {
        metadata: ObjectMeta {
            name: Some(helm_release_name(
                &desc.name_any(),
                &chart_ref.namespace,
                &chart_ref.name,
            )),
            namespace: desc.namespace(),
            labels: Some(labels),
            annotations: (!chart.annotations().is_empty()).then(|| chart.annotations().clone()),
            finalizers: Some(vec![known::APP_FINALIZER.to_string()]),
            owner_references: desc.controller_owner_ref(&()).map(|r| vec![r]),
            ..Default::default()
        },
        spec: HelmReleaseSpec {
            helm_options: chart.spec.helm_options.clone(),
            // Go: default to be the HelmChart name.
            release_name: Some(chart.name_any()),
            target_namespace: chart.spec.target_namespace.clone(),
            overrides: (!values.is_empty()).then(|| k8s_openapi::ByteString(values.into_bytes())),
        },
        status: None,
    })
}

/// Creates `want`, or updates the existing HelmRelease when its spec differs or it misses
/// labels or annotations (merged, as Go).
async fn sync_helm_release(ctx: &Ctx, api: &Api<HelmRelease>, mut want: HelmRelease) -> Result<()> {
    let Some(current) = current_or_create(&ctx.releases, api, &want).await? else {
        return Ok(());
    };
    // Go: HelmReleases populated before spec.releaseName existed keep it unset.
    if current.spec.release_name.is_none() {
        want.spec.release_name = None;
    }
    let labels_ok = missing_labels(&current, want.labels()).is_empty();
    let annotations_ok = want
        .annotations()
        .iter()
        .all(|(k, v)| current.annotations().get(k) == Some(v));
    if current.spec == want.spec && labels_ok && annotations_ok {
        return Ok(());
    }
    let mut updated = current;
    updated.annotations_mut().extend(
        want.annotations()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    let labels = want.labels().clone();
    updated.spec = want.spec;
    replace_merged(api, updated, &labels).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusternet_apis::apps::v1alpha1::{ChartReference, HelmChartSpec, HelmOptions};

    #[test]
    fn release_names_and_labels_follow_go() {
        assert_eq!(
            helm_release_name("sub-abcde-helm", "default", "mysql"),
            "sub-abcde-helm-default-mysql"
        );
        let mut chart = HelmChart::new(
            "mysql",
            HelmChartSpec {
                helm_options: HelmOptions {
                    repository: "http://127.0.0.1:1".into(),
                    chart: "mysql".into(),
                    chart_version: "9.2.0".into(),
                    ..Default::default()
                },
                target_namespace: "abc".into(),
            },
        );
        chart.metadata.namespace = Some("default".into());
        let mut desc = Description::new("sub-abcde-helm", Default::default());
        desc.metadata.namespace = Some("clusternet-xyz".into());
        desc.metadata.uid = Some("0f0f0f0f-0000-0000-0000-000000000000".into());
        desc.metadata.labels = Some(BTreeMap::from([(
            known::CLUSTER_ID_LABEL.to_string(),
            "cid".to_string(),
        )]));
        desc.spec.deployer = DescriptionDeployer::Helm;
        desc.spec.charts = vec![ChartReference {
            namespace: "default".into(),
            name: "mysql".into(),
        }];
        desc.spec.chart_raw = vec![k8s_openapi::ByteString(serde_json::to_vec(&chart).unwrap())];
        desc.spec.raw = vec![k8s_openapi::ByteString(b" {\"a\":1} ".to_vec())];
        let hr = helm_release(&desc, 0).unwrap();
        assert_eq!(hr.name_any(), "sub-abcde-helm-default-mysql");
        assert_eq!(hr.spec.release_name.as_deref(), Some("mysql"));
        assert_eq!(hr.spec.target_namespace, "abc");
        assert_eq!(hr.spec.overrides.as_ref().unwrap().0, b"{\"a\":1}");
        assert_eq!(hr.labels()[known::CONFIG_KIND_LABEL], "Description");
        assert_eq!(hr.labels()[known::CLUSTER_ID_LABEL], "cid");
        assert_eq!(hr.finalizers(), [known::APP_FINALIZER]);
    }
}
