//! Gate `MultiClusterService`, controller `serviceimport` (Clusternet's): for a `ClusterSetIP`
//! ServiceImport labelled `services.clusternet.io/multi-cluster-service-name` and `-namespace`,
//! the selector-less derived Service (`DerivedName`) in the import's namespace with the import's
//! ports and `status.loadBalancer` from `spec.ips`, and a copy of every EndpointSlice the
//! agents exported for that service, named `<cluster namespace>-<slice>`, so that the parent's
//! kube-proxy (or anything reading EndpointSlices) sees one Service. Finalizer
//! `apps.clusternet.io/finalizer` removes both with the import.
//!
//! Beyond Clusternet:
//! - Slices are taken only from the dedicated namespaces of registered clusters (Go takes them
//!   from any namespace, so anyone who may create an EndpointSlice somewhere on the parent
//!   could add endpoints to a multi-cluster service).
//! - The endpoints of a cluster that is not Ready are marked not ready (not removed), and ready
//!   again when it is back.
//! - `status.clusters` names the clusters that export the service.
//! - An import that matches no export, or whose port names match none of the exported ports
//!   (kube-proxy pairs Service ports with slice ports by name), gets a Warning Event saying so,
//!   with the names to use (the CRD, Clusternet's, has no conditions on ServiceImport).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clusternet_apis::clusters::v1beta1::{CLUSTER_READY, ManagedCluster};
use clusternet_apis::known;
use clusternet_apis::multicluster::v1alpha1::{ServiceImport, ServiceImportType};
use clusternet_apis::multicluster::{derived_name, slice_copy};
use clusternet_component_base::{finalizers, objects};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde_json::json;

const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Opt-in to east-west on a ServiceImport: the clusters (names or ids, comma-separated, or
/// `*`) that get the derived Service and the other clusters' endpoints, for their own pods.
pub const IMPORT_TO_CLUSTERS_ANNOTATION: &str = "services.clusternet.io/import-to-clusters";
/// On what the controller-manager hands to a cluster's agent for east-west (a ServiceImport
/// copy and EndpointSlices in its dedicated namespace): the derived Service's name.
pub const IMPORTED_FOR_LABEL: &str = "services.clusternet.io/imported-for";
/// On the ServiceImport copy: the namespace the derived Service goes to in the child.
pub const IMPORT_NAMESPACE_ANNOTATION: &str = "services.clusternet.io/import-namespace";
const FIELD_MANAGER: &str = "clusternet-controller-manager";
const RETRY: Duration = Duration::from_secs(1);
/// Looked at again now and then even without events (a cluster's readiness is watched too).
const RESYNC: Duration = Duration::from_secs(300);

struct Ctx {
    client: kube::Client,
    clusters: Store<ManagedCluster>,
    recorder: Recorder,
}

use clusternet_component_base::reconcile::ReconcileError as Error;

/// The multi-cluster service an import names, if it is one this controller serves.
fn target(si: &ServiceImport) -> Option<(String, String)> {
    // East-west copies in the clusters' namespaces are for their agents, not imports.
    if si.spec.r#type != ServiceImportType::ClusterSetIp
        || si.labels().contains_key(IMPORTED_FOR_LABEL)
    {
        return None;
    }
    let labels = si.labels();
    Some((
        labels.get(known::LABEL_SERVICE_NAME)?.clone(),
        labels.get(known::LABEL_SERVICE_NAMESPACE)?.clone(),
    ))
}

/// Runs the controller.
pub async fn run(client: kube::Client) {
    let (clusters, writer) = reflector::store();
    let cluster_events = reflector::reflector(
        writer,
        watcher(
            Api::<ManagedCluster>::all(client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff()
    .touched_objects();
    let controller = Controller::new(
        Api::<ServiceImport>::all(client.clone()),
        watcher::Config::default(),
    );
    let by_slice = controller.store();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: known::CLUSTERNET_CTRL_MGR_NAME.into(),
            instance: None,
        },
    );
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        clusters,
        recorder,
    });
    controller
        .watches(
            Api::<EndpointSlice>::all(client.clone()),
            watcher::Config::default().labels(known::LABEL_SERVICE_NAME),
            move |slice: EndpointSlice| {
                let labels = slice.labels().clone();
                by_slice
                    .state()
                    .into_iter()
                    .filter(move |si| {
                        target(si).is_some_and(|(name, ns)| {
                            labels.get(known::LABEL_SERVICE_NAME) == Some(&name)
                                && labels.get(known::LABEL_SERVICE_NAMESPACE) == Some(&ns)
                        })
                    })
                    .map(|si| ObjectRef::from_obj(si.as_ref()))
            },
        )
        // A cluster's readiness changes its endpoints' readiness (heartbeats alone do not).
        .reconcile_all_on(readiness_changes(cluster_events))
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

/// On an exported slice on the parent: why its cluster's export conflicts with another
/// cluster's export of the same service (the agent turns it into the export's `Conflict`
/// condition in the child).
pub const CONFLICT_ANNOTATION: &str = "services.clusternet.io/conflict";

/// Exports of one service by several clusters must agree on their ports (name, port, protocol);
/// each exported slice is annotated with the disagreement, or not.
pub async fn run_conflicts(client: kube::Client) {
    let exported = watcher::Config::default().labels(&format!(
        "{},{}={}",
        known::LABEL_SERVICE_NAME,
        known::OBJECT_CREATED_BY_LABEL,
        known::CLUSTERNET_AGENT_NAME
    ));
    let controller = Controller::new(Api::<EndpointSlice>::all(client.clone()), exported.clone());
    let store = controller.store();
    let siblings = store.clone();
    controller
        // A slice that goes (a cluster stops exporting) changes the verdict of the others.
        .watches(
            Api::<EndpointSlice>::all(client.clone()),
            exported,
            move |slice: EndpointSlice| {
                let group = (
                    slice.labels().get(known::LABEL_SERVICE_NAME).cloned(),
                    slice.labels().get(known::LABEL_SERVICE_NAMESPACE).cloned(),
                );
                siblings
                    .state()
                    .into_iter()
                    .filter(move |s| {
                        (
                            s.labels().get(known::LABEL_SERVICE_NAME).cloned(),
                            s.labels().get(known::LABEL_SERVICE_NAMESPACE).cloned(),
                        ) == group
                    })
                    .map(|s| ObjectRef::from_obj(s.as_ref()))
            },
        )
        .run(
            move |slice: Arc<EndpointSlice>, client: Arc<kube::Client>| {
                let store = store.clone();
                async move { reconcile_conflicts(&slice, &client, &store).await }
            },
            |_, err: &Error, _| {
                tracing::info!(error = %err, "checking exports for conflicts; will retry");
                Action::requeue(RETRY)
            },
            Arc::new(client),
        )
        .for_each(|_| async {})
        .await;
}

/// The ports a slice exports.
fn ports_of(slice: &EndpointSlice) -> BTreeSet<(String, i32, String)> {
    slice
        .ports
        .iter()
        .flatten()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.port.unwrap_or_default(),
                p.protocol.clone().unwrap_or_else(|| "TCP".into()),
            )
        })
        .collect()
}

/// For each cluster namespace exporting the service, why it conflicts (None if it does not).
pub fn conflicts(slices: &[&EndpointSlice]) -> BTreeMap<String, Option<String>> {
    let mut by_cluster: BTreeMap<String, BTreeSet<(String, i32, String)>> = BTreeMap::new();
    // A slice without ports (kube's placeholder for a Service with no endpoints yet) says
    // nothing about the ports.
    for s in slices.iter().filter(|s| !ports_of(s).is_empty()) {
        by_cluster
            .entry(s.namespace().unwrap_or_default())
            .or_default()
            .extend(ports_of(s));
    }
    let show = |p: &BTreeSet<(String, i32, String)>| {
        p.iter()
            .map(|(n, port, proto)| format!("{n}:{port}/{proto}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    by_cluster
        .iter()
        .map(|(ns, mine)| {
            let others: Vec<String> = by_cluster
                .iter()
                .filter(|(other, theirs)| *other != ns && *theirs != mine)
                .map(|(other, theirs)| format!("{other} exports [{}]", show(theirs)))
                .collect();
            let why = (!others.is_empty()).then(|| {
                format!(
                    "this cluster exports ports [{}], but {}",
                    show(mine),
                    others.join("; ")
                )
            });
            (ns.clone(), why)
        })
        .collect()
}

async fn reconcile_conflicts(
    slice: &EndpointSlice,
    client: &kube::Client,
    store: &Store<EndpointSlice>,
) -> Result<Action, Error> {
    let labels = slice.labels();
    let (Some(name), Some(ns)) = (
        labels.get(known::LABEL_SERVICE_NAME),
        labels.get(known::LABEL_SERVICE_NAMESPACE),
    ) else {
        return Ok(Action::await_change());
    };
    let group: Vec<Arc<EndpointSlice>> = store
        .state()
        .into_iter()
        .filter(|s| {
            s.labels().get(known::LABEL_SERVICE_NAME) == Some(name)
                && s.labels().get(known::LABEL_SERVICE_NAMESPACE) == Some(ns)
        })
        .collect();
    let refs: Vec<&EndpointSlice> = group.iter().map(|s| s.as_ref()).collect();
    let verdicts = conflicts(&refs);
    for s in &group {
        let want = verdicts
            .get(&s.namespace().unwrap_or_default())
            .cloned()
            .flatten();
        if s.annotations().get(CONFLICT_ANNOTATION) != want.as_ref() {
            let api = Api::<EndpointSlice>::namespaced(
                client.clone(),
                &s.namespace().unwrap_or_default(),
            );
            let patch = json!({"metadata": {"annotations": {CONFLICT_ANNOTATION: want}}});
            match api
                .patch(
                    &s.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
    Ok(Action::await_change())
}

fn is_ready(mc: &ManagedCluster) -> bool {
    mc.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == CLUSTER_READY))
        .is_some_and(|c| c.status == "True")
}

/// One item each time a cluster's readiness changes (or a cluster is first seen).
fn readiness_changes(
    events: impl futures::Stream<Item = Result<ManagedCluster, watcher::Error>> + Send + 'static,
) -> impl futures::Stream<Item = ()> + Send + 'static {
    let mut seen = std::collections::HashMap::new();
    events.filter_map(move |e| {
        let changed = match e {
            Ok(mc) => {
                let ready = is_ready(&mc);
                seen.insert(mc.namespace().unwrap_or_default(), ready) != Some(ready)
            }
            Err(_) => false,
        };
        async move { changed.then_some(()) }
    })
}

fn error_policy(si: Arc<ServiceImport>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::info!(import = %key(&si), error = %err, "syncing a ServiceImport; will retry");
    Action::requeue(RETRY)
}

fn key(si: &ServiceImport) -> String {
    format!("{}/{}", si.namespace().unwrap_or_default(), si.name_any())
}

/// The parent's copy, next to the derived Service, of an exported slice in cluster namespace
/// `slice.namespace`; its endpoints not ready when `ready` is false.
pub fn fork(slice: &EndpointSlice, namespace: &str, ready: bool) -> EndpointSlice {
    let mut labels = slice.labels().clone();
    labels.remove(known::OBJECT_CREATED_BY_LABEL);
    let mut endpoints = slice.endpoints.clone();
    if !ready {
        for e in endpoints.iter_mut().flatten() {
            let c = e.conditions.get_or_insert_with(Default::default);
            c.ready = Some(false);
            c.serving = Some(false);
        }
    }
    let name = format!(
        "{}-{}",
        slice.namespace().unwrap_or_default(),
        slice.name_any()
    );
    let mut copy = slice_copy(slice, name, namespace, labels);
    copy.endpoints = endpoints;
    copy
}

/// The derived Service's ports, from the import's.
pub fn service_ports(si: &ServiceImport) -> Vec<ServicePort> {
    si.spec
        .ports
        .iter()
        .map(|p| ServicePort {
            name: (!p.name.is_empty()).then(|| p.name.clone()),
            protocol: Some(if p.protocol.is_empty() {
                "TCP".into()
            } else {
                p.protocol.clone()
            }),
            port: p.port,
            app_protocol: p.app_protocol.clone(),
            ..Default::default()
        })
        .collect()
}

async fn warn(ctx: &Ctx, si: &ServiceImport, reason: &str, note: String) {
    let event = Event {
        type_: EventType::Warning,
        reason: reason.into(),
        note: Some(note),
        action: "Sync".into(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&event, &si.object_ref(&())).await {
        tracing::debug!(error = %err, "publishing an event");
    }
}

async fn reconcile(si: Arc<ServiceImport>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let Some((name, svc_ns)) = target(&si) else {
        return Ok(Action::await_change());
    };
    let ns = si.namespace().unwrap_or_default();
    // A cluster's dedicated namespace holds the east-west copies its agent may patch; nothing
    // there is an import of the parent's, whatever its labels say.
    if ctx
        .clusters
        .state()
        .iter()
        .any(|mc| mc.namespace().as_deref() == Some(ns.as_str()))
    {
        return Ok(Action::await_change());
    }
    let imports = Api::<ServiceImport>::namespaced(ctx.client.clone(), &ns);
    let services = Api::<Service>::namespaced(ctx.client.clone(), &ns);
    let slices = Api::<EndpointSlice>::namespaced(ctx.client.clone(), &ns);
    let derived = derived_name(&svc_ns, &name);
    let mine = format!(
        "{}={name},{}={svc_ns}",
        known::LABEL_SERVICE_NAME,
        known::LABEL_SERVICE_NAMESPACE
    );
    if si.meta().deletion_timestamp.is_some() {
        east_west(&ctx, &si, &derived, &BTreeMap::new(), &[]).await?;
        slices
            .delete_collection(
                &DeleteParams::default(),
                &ListParams::default().labels(&mine),
            )
            .await?;
        objects::delete_if_present(&services, &derived, &DeleteParams::default()).await?;
        finalizers::remove(&imports, si.as_ref(), &[known::APP_FINALIZER]).await?;
        tracing::info!(import = %key(&si), "service import recycled: its derived Service and EndpointSlices are gone");
        return Ok(Action::await_change());
    }
    finalizers::ensure(&imports, si.as_ref(), known::APP_FINALIZER).await?;

    // The derived Service, selector-less, and its load-balancer status from spec.ips.
    let service = Service {
        metadata: kube::api::ObjectMeta {
            name: Some(derived.clone()),
            namespace: Some(ns.clone()),
            labels: Some(BTreeMap::from([
                (known::LABEL_SERVICE_NAME.to_string(), name.clone()),
                (known::LABEL_SERVICE_NAMESPACE.to_string(), svc_ns.clone()),
            ])),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            ports: Some(service_ports(&si)),
            ..Default::default()
        }),
        status: None,
    };
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    services
        .patch(&derived, &apply, &Patch::Apply(&service))
        .await?;
    let ingress: Vec<_> = si.spec.ips.iter().map(|ip| json!({"ip": ip})).collect();
    match services
        .patch_status(
            &derived,
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"loadBalancer": {"ingress": ingress}}})),
        )
        .await
    {
        Ok(_) => {}
        // Newer Kubernetes refuses load-balancer status on a ClusterIP Service, which Go
        // Clusternet then retries forever without ever copying a slice: say so and go on.
        Err(kube::Error::Api(s)) if s.code == 422 => {
            warn(
                &ctx,
                &si,
                "IPsNotPublished",
                format!(
                    "spec.ips {:?} cannot be published on the derived Service {derived}: {}",
                    si.spec.ips, s.message
                ),
            )
            .await;
        }
        Err(err) => return Err(err.into()),
    }

    // The exported slices: only from the dedicated namespaces of registered clusters.
    let clusters: BTreeMap<String, Arc<ManagedCluster>> = ctx
        .clusters
        .state()
        .into_iter()
        .filter_map(|mc| Some((mc.namespace()?, mc)))
        .collect();
    let exported = Api::<EndpointSlice>::all(ctx.client.clone())
        .list(&ListParams::default().labels(&format!(
            "{mine},{}={}",
            known::OBJECT_CREATED_BY_LABEL,
            known::CLUSTERNET_AGENT_NAME
        )))
        .await?
        .items;
    let mut sources = Vec::new();
    let mut exporting = BTreeSet::new();
    let mut exported_ports = BTreeSet::new();
    for slice in &exported {
        let Some(mc) = slice.namespace().and_then(|n| clusters.get(&n)) else {
            continue;
        };
        let ready = is_ready(mc);
        exporting.insert(mc.name_any());
        for p in slice.ports.iter().flatten() {
            exported_ports.insert(p.name.clone().unwrap_or_default());
        }
        let mut copy = fork(slice, &ns, ready);
        // The derived Service's name, whatever the slice says.
        copy.labels_mut()
            .insert(SERVICE_NAME_LABEL.into(), derived.clone());
        sources.push((mc.namespace().unwrap_or_default(), copy));
    }
    east_west(&ctx, &si, &derived, &clusters, &sources).await?;
    let want: Vec<EndpointSlice> = sources.into_iter().map(|(_, s)| s).collect();
    objects::sync_labelled(&slices, &mine, &want, FIELD_MANAGER).await?;
    let status_clusters: Vec<_> = exporting.iter().map(|c| json!({"cluster": c})).collect();
    let reported: BTreeSet<&String> = si
        .status
        .iter()
        .flat_map(|s| &s.clusters)
        .map(|c| &c.cluster)
        .collect();
    if reported != exporting.iter().collect() {
        imports
            .patch_status(
                &si.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": {"clusters": status_clusters}})),
            )
            .await?;
    }

    // Say what keeps the service from working.
    if exported.is_empty() {
        warn(
            &ctx,
            &si,
            "NoMatchingExport",
            format!(
                "no cluster exports Service {svc_ns}/{name}: no ServiceExport matches labels {} and {}",
                known::LABEL_SERVICE_NAME,
                known::LABEL_SERVICE_NAMESPACE
            ),
        )
        .await;
    } else {
        let imported: BTreeSet<String> = si.spec.ports.iter().map(|p| p.name.clone()).collect();
        let unmatched: Vec<&String> = imported.difference(&exported_ports).collect();
        if !unmatched.is_empty() {
            warn(
                &ctx,
                &si,
                "PortNameMismatch",
                format!(
                    "port names {:?} match no exported port (kube-proxy pairs ports by name): the exported Service's ports are named {:?}",
                    unmatched,
                    exported_ports.iter().collect::<Vec<_>>()
                ),
            )
            .await;
        }
    }
    tracing::debug!(import = %key(&si), slices = want.len(), "service import synced");
    Ok(Action::requeue(RESYNC))
}

/// The clusters (by dedicated namespace) an import's east-west annotation names.
pub fn import_targets(
    si: &ServiceImport,
    clusters: &BTreeMap<String, Arc<ManagedCluster>>,
) -> BTreeSet<String> {
    let Some(value) = si.annotations().get(IMPORT_TO_CLUSTERS_ANNOTATION) else {
        return BTreeSet::new();
    };
    let wanted: BTreeSet<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    clusters
        .iter()
        .filter(|(_, mc)| {
            wanted.contains("*")
                || wanted.contains(mc.name_any().as_str())
                || wanted.contains(mc.spec.cluster_id.as_str())
        })
        .map(|(ns, _)| ns.clone())
        .collect()
}

/// East-west: each target cluster gets, in its dedicated namespace, a copy of the import
/// (with a finalizer for its agent, which builds the derived Service in the child from it)
/// and the slices of the *other* clusters; clusters no longer targeted lose them. `sources`
/// are the merged slices with the dedicated namespace of the cluster each came from.
async fn east_west(
    ctx: &Ctx,
    si: &ServiceImport,
    derived: &str,
    clusters: &BTreeMap<String, Arc<ManagedCluster>>,
    sources: &[(String, EndpointSlice)],
) -> Result<(), Error> {
    let targets = if si.meta().deletion_timestamp.is_some() {
        BTreeSet::new()
    } else {
        import_targets(si, clusters)
    };
    let selector = format!("{IMPORTED_FOR_LABEL}={derived}");
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    // Copies where they no longer belong (their agents clean the children up).
    for copy in Api::<ServiceImport>::all(ctx.client.clone())
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
    {
        let ns = copy.namespace().unwrap_or_default();
        if !targets.contains(&ns) && copy.meta().deletion_timestamp.is_none() {
            let api = Api::<ServiceImport>::namespaced(ctx.client.clone(), &ns);
            objects::delete_if_present(&api, &copy.name_any(), &DeleteParams::default()).await?;
        }
    }
    let mut wanted = BTreeSet::new();
    for target in &targets {
        let mut labels = si.labels().clone();
        labels.insert(IMPORTED_FOR_LABEL.into(), derived.to_string());
        let copy = json!({
            "apiVersion": "multicluster.x-k8s.io/v1alpha1",
            "kind": "ServiceImport",
            "metadata": {
                "name": derived,
                "namespace": target,
                "labels": labels,
                "annotations": {IMPORT_NAMESPACE_ANNOTATION: si.namespace()},
                "finalizers": [known::APP_FINALIZER],
            },
            "spec": {"type": "ClusterSetIP", "ports": si.spec.ports},
        });
        Api::<ServiceImport>::namespaced(ctx.client.clone(), target)
            .patch(derived, &apply, &Patch::Apply(&copy))
            .await?;
        for (_, slice) in sources.iter().filter(|(from, _)| from != target) {
            let mut out = slice.clone();
            out.metadata.namespace = Some(target.clone());
            let labels = out.labels_mut();
            // Neither a slice of a Service on the parent nor an export: only this label says
            // what it is for (the agent's export sync leaves it alone).
            labels.remove(SERVICE_NAME_LABEL);
            labels.insert(IMPORTED_FOR_LABEL.into(), derived.to_string());
            wanted.insert((target.clone(), out.name_any()));
            Api::<EndpointSlice>::namespaced(ctx.client.clone(), target)
                .patch(&out.name_any(), &apply, &Patch::Apply(&out))
                .await?;
        }
    }
    for existing in Api::<EndpointSlice>::all(ctx.client.clone())
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
    {
        let key = (
            existing.namespace().unwrap_or_default(),
            existing.name_any(),
        );
        if !wanted.contains(&key) {
            let api = Api::<EndpointSlice>::namespaced(ctx.client.clone(), &key.0);
            objects::delete_if_present(&api, &key.1, &DeleteParams::default()).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_that_disagree_on_ports_conflict() {
        let slice = |ns: &str, port: i32| -> EndpointSlice {
            serde_json::from_value(json!({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "s", "namespace": ns},
                "addressType": "IPv4", "endpoints": [],
                "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            }))
            .unwrap()
        };
        let (a, b, c) = (slice("c1", 80), slice("c2", 80), slice("c3", 8080));
        let mut placeholder = slice("c3", 1);
        placeholder.ports = None;
        let agree = conflicts(&[&a, &b, &placeholder]);
        assert!(agree.values().all(Option::is_none));
        let out = conflicts(&[&a, &b, &c]);
        assert_eq!(
            out["c3"].as_deref(),
            Some(
                "this cluster exports ports [http:8080/TCP], but c1 exports [http:80/TCP]; c2 exports [http:80/TCP]"
            )
        );
        assert!(
            out["c1"]
                .as_deref()
                .is_some_and(|m| m.contains("c3 exports [http:8080/TCP]"))
        );
    }

    #[test]
    fn forks_keep_labels_but_the_agents_and_mark_offline_clusters() {
        let slice: EndpointSlice = serde_json::from_value(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "baz-nginx-svc-abcde", "namespace": "clusternet-abc",
                         "labels": {"kubernetes.io/service-name": "derived-baz-kl7j74ep4o",
                                    "services.clusternet.io/multi-cluster-service-name": "nginx-svc",
                                    "services.clusternet.io/multi-cluster-service-namespace": "baz",
                                    "clusternet.io/created-by": "clusternet-agent"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.101.0.5"], "conditions": {"ready": true}}],
            "ports": [{"port": 80, "protocol": "TCP"}],
        }))
        .unwrap();
        let out = fork(&slice, "default", true);
        assert_eq!(
            out.metadata.name.as_deref(),
            Some("clusternet-abc-baz-nginx-svc-abcde")
        );
        assert_eq!(out.metadata.namespace.as_deref(), Some("default"));
        let labels = out.metadata.labels.clone().unwrap();
        assert!(!labels.contains_key("clusternet.io/created-by"));
        assert_eq!(
            labels["kubernetes.io/service-name"],
            "derived-baz-kl7j74ep4o"
        );
        let endpoint = |s: &EndpointSlice| s.endpoints.clone().unwrap_or_default()[0].clone();
        assert_eq!(endpoint(&out).conditions.unwrap().ready, Some(true));
        let offline = fork(&slice, "default", false);
        assert_eq!(endpoint(&offline).conditions.unwrap().ready, Some(false));
        assert_eq!(
            endpoint(&offline).addresses,
            ["10.101.0.5"],
            "kept, not removed"
        );
    }
}
