//! The deployer against a real parent: reconciles of one Subscription that race — run at the
//! same time, each before the cache shows what the other created — still give each bound
//! cluster exactly one Base. (Go Clusternet, and this project before deriving Base names,
//! created one per reconcile: `populateBasesAndLocalizations` lists its cache and creates
//! `<sub>-<random>` when it sees none.)

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use anyhow::Result;
use clusternet_apis::apps::v1alpha1::{Base, Subscription};
use clusternet_controller_manager::deployer::{self, Config, Ctx, controllers};
use clusternet_test_support::{ControlPlane, clusternet};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use serde_json::json;

/// An empty cache nothing feeds: a reconcile using it never sees what another created.
fn frozen<K>() -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    reflector::store::<K>().0
}

#[tokio::test]
async fn racing_reconciles_make_one_base_per_cluster() -> Result<()> {
    let parent = ControlPlane::start("parent").await?;
    clusternet::install_crds(&parent).await?;
    let client = parent.client().await?;
    let clusters = ["clusternet-race-a", "clusternet-race-b"];
    let (namespaces, mut writer) = reflector::store::<Namespace>();
    for name in clusters {
        let ns = Api::<Namespace>::all(client.clone())
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": name}}))?,
            )
            .await?;
        writer.apply_watcher_event(&watcher::Event::Apply(ns));
    }
    let subs: Api<Subscription> = Api::namespaced(client.clone(), "default");
    let sub: Subscription = serde_json::from_value(json!({
        "apiVersion": "apps.clusternet.io/v1alpha1", "kind": "Subscription",
        "metadata": {"name": "race", "namespace": "default"},
        "spec": {"subscribers": [{"clusterAffinity": {}}],
                 "feeds": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "namespace": "default"}]}}))?;
    subs.create(&PostParams::default(), &sub).await?;
    let bindings: Vec<String> = clusters.iter().map(|ns| format!("{ns}/{ns}")).collect();
    let sub = subs
        .patch_status(
            "race",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"bindingClusters": bindings}})),
        )
        .await?;

    let ctx = Arc::new(Ctx {
        client: client.clone(),
        config: Config {
            reserved_namespace: "clusternet-reserved".into(),
            feed_in_use_protection: false,
            helm: "helm".into(),
        },
        subs: frozen(),
        bases: frozen(),
        descs: frozen(),
        manifests: frozen(),
        locs: frozen(),
        globs: frozen(),
        clusters: frozen(),
        namespaces,
        finvs: frozen(),
        charts: frozen(),
        releases: frozen(),
        rerender: deployer::Rerender::channel().0,
        synced: tokio::sync::watch::channel(true).1,
        retries: Default::default(),
    });
    // Two at once, then two more: none of them sees a Base in its cache.
    let (a, b) = tokio::join!(
        controllers::populate_bases(&ctx, &sub),
        controllers::populate_bases(&ctx, &sub)
    );
    a?;
    b?;
    controllers::populate_bases(&ctx, &sub).await?;
    controllers::populate_bases(&ctx, &sub).await?;

    for ns in clusters {
        let bases = Api::<Base>::namespaced(client.clone(), ns)
            .list(&ListParams::default())
            .await?;
        let names: Vec<_> = bases
            .items
            .iter()
            .filter_map(|b| b.metadata.name.clone())
            .collect();
        assert_eq!(
            names.len(),
            1,
            "Bases of the Subscription in {ns}: {names:?}"
        );
        assert_eq!(names[0], deployer::render::base_name(&sub, 0));
    }
    Ok(())
}

#[tokio::test]
async fn duplicates_left_by_older_versions_are_removed() -> Result<()> {
    let parent = ControlPlane::start("parent").await?;
    clusternet::install_crds(&parent).await?;
    let client = parent.client().await?;
    let ns_name = "clusternet-dupes";
    let (namespaces, mut ns_writer) = reflector::store::<Namespace>();
    let ns = Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns_name}}))?,
        )
        .await?;
    ns_writer.apply_watcher_event(&watcher::Event::Apply(ns));
    let subs: Api<Subscription> = Api::namespaced(client.clone(), "default");
    let sub: Subscription = serde_json::from_value(json!({
        "apiVersion": "apps.clusternet.io/v1alpha1", "kind": "Subscription",
        "metadata": {"name": "dupes", "namespace": "default"},
        "spec": {"subscribers": [{"clusterAffinity": {}}],
                 "feeds": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "namespace": "default"}]}}))?;
    subs.create(&PostParams::default(), &sub).await?;
    let sub = subs
        .patch_status(
            "dupes",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"bindingClusters": [format!("{ns_name}/{ns_name}")]}})),
        )
        .await?;
    // What an older version left: two Bases of the Subscription with random names.
    let (bases, mut base_writer) = reflector::store::<Base>();
    let api = Api::<Base>::namespaced(client.clone(), ns_name);
    let uid = sub.metadata.uid.clone().unwrap_or_default();
    for name in ["dupes-bq2xz", "dupes-k7wmn"] {
        let mut base = deployer::render::base_for(&sub, ns_name, &Default::default(), name.into());
        base.metadata.finalizers = None;
        base.metadata
            .labels
            .get_or_insert_default()
            .insert("apps.clusternet.io/subs.uid".into(), uid.clone());
        let base = api.create(&PostParams::default(), &base).await?;
        base_writer.apply_watcher_event(&watcher::Event::Apply(base));
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    let ctx = Ctx {
        client: client.clone(),
        config: Config {
            reserved_namespace: "clusternet-reserved".into(),
            feed_in_use_protection: false,
            helm: "helm".into(),
        },
        subs: frozen(),
        bases,
        descs: frozen(),
        manifests: frozen(),
        locs: frozen(),
        globs: frozen(),
        clusters: frozen(),
        namespaces,
        finvs: frozen(),
        charts: frozen(),
        releases: frozen(),
        rerender: deployer::Rerender::channel().0,
        synced: tokio::sync::watch::channel(true).1,
        retries: Default::default(),
    };
    controllers::populate_bases(&ctx, &sub).await?;
    let left: Vec<_> = api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|b| b.metadata.name)
        .collect();
    // The newest is kept (no churn in the child), the other deleted.
    assert_eq!(left, ["dupes-k7wmn"]);
    Ok(())
}
