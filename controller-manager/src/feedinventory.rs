//! The FeedInventory controller (Clusternet's `pkg/controllers/apps/feedinventory`): for every
//! Dividing Subscription, a `FeedInventory` with the same namespace and name (controller owner
//! reference to the Subscription, labels `clusternet.io/created-by` and
//! `apps.clusternet.io/subs.{name,namespace,uid}`) listing each feed with, for the kinds that
//! carry replicas (Deployment, ReplicaSet, StatefulSet in the API versions Clusternet's in-tree
//! registry knows), `desiredReplicas` (`spec.replicas`), `replicaJsonPath` `/spec/replicas`
//! and the replica requirements of its pod template.
//!
//! Feeds are read from the Manifests the hub keeps in the reserved namespace (selected by the
//! `apps.clusternet.io/config.*` labels). A Manifest change re-syncs the Subscriptions labelled
//! `<subUID>: Subscription` on it; a deleted FeedInventory is re-created.
//!
//! Wired when gate `FeedInventory` is on (in Go Clusternet the controller lives inside the
//! deployer, so it also needs gate `Deployer` there; here it does not, so an external
//! scheduler setup can use it alone).

use clusternet_component_base::quantity;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clusternet_apis::apps::v1alpha1::{
    Feed, FeedInventory, FeedInventorySpec, FeedOrder, Manifest, ReplicaRequirements,
    SchedulingStrategyType, Subscription,
};
use clusternet_apis::known;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

/// Runs the controller until the watch streams end.
pub async fn run(client: kube::Client, reserved_namespace: String) {
    let subs: Api<Subscription> = Api::all(client.clone());
    let finvs: Api<FeedInventory> = Api::all(client.clone());
    let manifests: Api<Manifest> = Api::namespaced(client.clone(), &reserved_namespace);
    let controller = Controller::new(subs, watcher::Config::default());
    let store = controller.store();
    let ctx = Arc::new(Ctx {
        client,
        reserved_namespace,
    });
    controller
        .owns(finvs, watcher::Config::default())
        .watches(manifests, watcher::Config::default(), move |m: Manifest| {
            // Subscriptions referring to this feed carry the label `<subUID>: Subscription`
            // on it (set by the deployer). Without the deployer those labels are missing, so
            // Subscriptions whose feeds select this Manifest are matched too.
            let uids: Vec<String> = m
                .labels()
                .iter()
                .filter(|(_, v)| v.as_str() == "Subscription")
                .map(|(k, _)| k.clone())
                .collect();
            let labels = m.labels().clone();
            store
                .state()
                .into_iter()
                .filter(|s| {
                    s.uid().is_some_and(|u| uids.contains(&u))
                        || s.spec.feeds.iter().any(|f| feed_matches(f, &labels))
                })
                .map(|s| ObjectRef::from_obj(s.as_ref()))
                .collect::<Vec<_>>()
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

struct Ctx {
    client: kube::Client,
    reserved_namespace: String,
}

use clusternet_component_base::reconcile::ReconcileError as Error;

fn error_policy(_: Arc<Subscription>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(%err, "syncing FeedInventory");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(sub: Arc<Subscription>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    sync(&sub, &ctx).await.map_err(Error::from)?;
    Ok(Action::await_change())
}

async fn sync(sub: &Subscription, ctx: &Ctx) -> Result<()> {
    if sub.metadata.deletion_timestamp.is_some()
        || sub.spec.scheduling_strategy != Some(SchedulingStrategyType::Dividing)
    {
        return Ok(());
    }
    let namespace = sub.namespace().context("Subscription without namespace")?;
    let manifests: Api<Manifest> = Api::namespaced(ctx.client.clone(), &ctx.reserved_namespace);
    let mut feeds = Vec::with_capacity(sub.spec.feeds.len());
    let mut errors = Vec::new();
    for feed in &sub.spec.feeds {
        let list = manifests
            .list(&ListParams::default().labels(&feed_selector(feed)))
            .await?;
        let Some(manifest) = list.items.first() else {
            errors.push(format!("{} {:?} not found", feed.kind, feed.name));
            continue;
        };
        match feed_order(feed, &manifest.spec.template) {
            Ok(order) => feeds.push(order),
            Err(err) => errors.push(format!("{err:#}")),
        }
    }
    if !errors.is_empty() {
        return Err(anyhow!("unparseable feeds: [{}]", errors.join(", ")));
    }
    let desired = FeedInventory {
        metadata: ObjectMeta {
            name: Some(sub.name_any()),
            namespace: Some(namespace.clone()),
            labels: Some(BTreeMap::from([
                (
                    known::OBJECT_CREATED_BY_LABEL.to_string(),
                    known::CLUSTERNET_CTRL_MGR_NAME.to_string(),
                ),
                (
                    known::CONFIG_SUBSCRIPTION_NAME_LABEL.to_string(),
                    sub.name_any(),
                ),
                (
                    known::CONFIG_SUBSCRIPTION_NAMESPACE_LABEL.to_string(),
                    namespace.clone(),
                ),
                (
                    known::CONFIG_SUBSCRIPTION_UID_LABEL.to_string(),
                    sub.uid().unwrap_or_default(),
                ),
            ])),
            owner_references: Some(vec![owner_reference(sub)?]),
            ..Default::default()
        },
        spec: FeedInventorySpec { feeds },
    };
    let api: Api<FeedInventory> = Api::namespaced(ctx.client.clone(), &namespace);
    match api.get_opt(&sub.name_any()).await? {
        None => {
            api.create(&PostParams::default(), &desired).await?;
            tracing::info!(subscription = %format!("{namespace}/{}", sub.name_any()), "FeedInventory created");
        }
        Some(current) => {
            if current.spec == desired.spec
                && current.metadata.labels == desired.metadata.labels
                && current.metadata.owner_references == desired.metadata.owner_references
            {
                return Ok(());
            }
            let mut updated = desired;
            updated.metadata.resource_version = current.metadata.resource_version;
            api.replace(&sub.name_any(), &PostParams::default(), &updated)
                .await?;
            tracing::info!(subscription = %format!("{namespace}/{}", sub.name_any()), "FeedInventory updated");
        }
    }
    Ok(())
}

fn owner_reference(sub: &Subscription) -> Result<OwnerReference> {
    let mut owner = sub
        .controller_owner_ref(&())
        .context("Subscription without uid")?;
    owner.block_owner_deletion = Some(true);
    Ok(owner)
}

/// The label selector of a feed's Manifest (Clusternet's `GetLabelsSelectorFromFeed`).
pub fn feed_selector(feed: &Feed) -> String {
    let (group, version) = match feed.api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", feed.api_version.as_str()),
    };
    let mut parts = vec![
        format!("{}={group}", known::CONFIG_GROUP_LABEL),
        format!("{}={version}", known::CONFIG_VERSION_LABEL),
        format!("{}={}", known::CONFIG_KIND_LABEL, feed.kind),
        format!("{}={}", known::CONFIG_NAME_LABEL, feed.name),
    ];
    if !feed.namespace.is_empty() {
        parts.push(format!(
            "{}={}",
            known::CONFIG_NAMESPACE_LABEL,
            feed.namespace
        ));
    }
    parts.join(",")
}

/// Whether a Manifest with `labels` is the object of `feed` (the labels of [`feed_selector`]).
pub fn feed_matches(feed: &Feed, labels: &BTreeMap<String, String>) -> bool {
    feed_selector(feed).split(',').all(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        labels.get(k).map(String::as_str) == Some(v)
    })
}

/// Whether Clusternet's in-tree registry parses this group/version/kind.
fn carries_replicas(api_version: &str, kind: &str) -> bool {
    matches!(
        (api_version, kind),
        (
            "apps/v1" | "apps/v1beta1" | "apps/v1beta2" | "extensions/v1beta1",
            "Deployment" | "StatefulSet"
        ) | ("apps/v1" | "extensions/v1beta1", "ReplicaSet")
    )
}

/// The FeedOrder of one feed from its Manifest's template.
pub fn feed_order(feed: &Feed, template: &serde_json::Value) -> Result<FeedOrder> {
    let api_version = template
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let kind = template
        .get("kind")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let mut order = FeedOrder {
        feed: feed.clone(),
        ..Default::default()
    };
    if carries_replicas(api_version, kind) {
        let spec = template.get("spec");
        order.desired_replicas = match spec.and_then(|s| s.get("replicas")) {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(
                v.as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .with_context(|| format!("invalid spec.replicas of {kind} {:?}", feed.name))?,
            ),
        };
        let pod_spec: PodSpec = match spec.and_then(|s| s.pointer("/template/spec")) {
            Some(v) => serde_json::from_value(v.clone())
                .with_context(|| format!("parsing the pod template of {kind} {:?}", feed.name))?,
            None => PodSpec::default(),
        };
        order.replica_requirements = replica_requirements(&pod_spec);
        order.replica_json_path = "/spec/replicas".into();
    }
    Ok(order)
}

/// Clusternet's `GetReplicaRequirements`: the sum of the containers' requests and limits, at
/// least the largest of any init container; a limit without a request counts as the request.
pub fn replica_requirements(pod: &PodSpec) -> ReplicaRequirements {
    let mut limits: BTreeMap<String, Quantity> = BTreeMap::new();
    let mut requests: BTreeMap<String, Quantity> = BTreeMap::new();
    let effective = |r: &Option<ResourceRequirements>| {
        let lim = r
            .as_ref()
            .and_then(|r| r.limits.clone())
            .unwrap_or_default();
        let mut req = r
            .as_ref()
            .and_then(|r| r.requests.clone())
            .unwrap_or_default();
        for (name, q) in &lim {
            req.entry(name.clone()).or_insert_with(|| q.clone());
        }
        (lim, req)
    };
    for c in &pod.containers {
        let (lim, req) = effective(&c.resources);
        for (name, q) in lim {
            let sum = match limits.get(&name) {
                Some(cur) => quantity::add(cur, &q),
                None => q,
            };
            limits.insert(name, sum);
        }
        for (name, q) in req {
            let sum = match requests.get(&name) {
                Some(cur) => quantity::add(cur, &q),
                None => q,
            };
            requests.insert(name, sum);
        }
    }
    for c in pod.init_containers.iter().flatten() {
        let (lim, req) = effective(&c.resources);
        for (target, from) in [(&mut limits, lim), (&mut requests, req)] {
            for (name, q) in from {
                let bigger = target
                    .get(&name)
                    .is_none_or(|cur| quantity::cmp(&q, cur) == std::cmp::Ordering::Greater);
                if bigger {
                    target.insert(name, q);
                }
            }
        }
    }
    ReplicaRequirements {
        node_selector: pod.node_selector.clone().unwrap_or_default(),
        tolerations: pod.tolerations.clone().unwrap_or_default(),
        affinity: pod.affinity.clone(),
        // Go's ResourceList is `omitempty`: empty maps are not written.
        resources: ResourceRequirements {
            limits: (!limits.is_empty()).then_some(limits),
            requests: (!requests.is_empty()).then_some(requests),
            claims: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn feed() -> Feed {
        Feed {
            kind: "Deployment".into(),
            api_version: "apps/v1".into(),
            namespace: "demo".into(),
            name: "web".into(),
        }
    }

    #[test]
    fn selector_of_feed() {
        assert_eq!(
            feed_selector(&feed()),
            "apps.clusternet.io/config.group=apps,apps.clusternet.io/config.version=v1,apps.clusternet.io/config.kind=Deployment,apps.clusternet.io/config.name=web,apps.clusternet.io/config.namespace=demo"
        );
        let core = Feed {
            kind: "Namespace".into(),
            api_version: "v1".into(),
            namespace: String::new(),
            name: "x".into(),
        };
        let labels: BTreeMap<String, String> = feed_selector(&feed())
            .split(',')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(feed_matches(&feed(), &labels));
        assert!(!feed_matches(&core, &labels));
        assert_eq!(
            feed_selector(&core),
            "apps.clusternet.io/config.group=,apps.clusternet.io/config.version=v1,apps.clusternet.io/config.kind=Namespace,apps.clusternet.io/config.name=x"
        );
    }

    // Mirrors Clusternet's feedinventory/utils tests: containers summed, init containers as a
    // floor, limits standing in for missing requests.
    #[test]
    fn deployment_requirements() {
        let template = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": {"replicas": 6, "template": {"spec": {
                "nodeSelector": {"disk": "ssd"},
                "tolerations": [{"key": "k", "operator": "Exists"}],
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
                    {"name": "b", "resources": {"limits": {"cpu": "200m", "memory": "64Mi"}}}
                ],
                "initContainers": [
                    {"name": "i", "resources": {"requests": {"cpu": "1", "memory": "32Mi"}}}
                ]
            }}}
        });
        let order = feed_order(&feed(), &template).unwrap();
        assert_eq!(order.desired_replicas, Some(6));
        assert_eq!(order.replica_json_path, "/spec/replicas");
        let r = &order.replica_requirements;
        assert_eq!(r.node_selector["disk"], "ssd");
        assert_eq!(r.tolerations.len(), 1);
        let req = r.resources.requests.as_ref().unwrap();
        assert_eq!(req["cpu"].0, "1");
        assert_eq!(req["memory"].0, "128Mi");
        let lim = r.resources.limits.as_ref().unwrap();
        assert_eq!(lim["cpu"].0, "200m");
        assert_eq!(lim["memory"].0, "64Mi");
    }

    #[test]
    fn kinds_without_replicas() {
        let order = feed_order(
            &feed(),
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {}}),
        )
        .unwrap();
        assert_eq!(order.desired_replicas, None);
        assert_eq!(order.replica_json_path, "");
        assert_eq!(order.replica_requirements, ReplicaRequirements::default());
        let no_replicas = feed_order(
            &feed(),
            &json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {}}),
        )
        .unwrap();
        assert_eq!(no_replicas.desired_replicas, None);
        assert_eq!(no_replicas.replica_json_path, "/spec/replicas");
    }
}
