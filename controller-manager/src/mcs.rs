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
use clusternet_apis::multicluster::derived_name;
use clusternet_apis::multicluster::v1alpha1::{ServiceImport, ServiceImportType};
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
const FIELD_MANAGER: &str = "clusternet-controller-manager";
const RETRY: Duration = Duration::from_secs(1);
/// Looked at again now and then even without events (a cluster's readiness is watched too).
const RESYNC: Duration = Duration::from_secs(300);

struct Ctx {
    client: kube::Client,
    clusters: Store<ManagedCluster>,
    recorder: Recorder,
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct Error(#[from] anyhow::Error);

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        Self(e.into())
    }
}

/// The multi-cluster service an import names, if it is one this controller serves.
fn target(si: &ServiceImport) -> Option<(String, String)> {
    if si.spec.r#type != ServiceImportType::ClusterSetIp {
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
    EndpointSlice {
        metadata: kube::api::ObjectMeta {
            name: Some(format!(
                "{}-{}",
                slice.namespace().unwrap_or_default(),
                slice.name_any()
            )),
            namespace: Some(namespace.to_string()),
            labels: Some(labels),
            ..Default::default()
        },
        address_type: slice.address_type.clone(),
        endpoints,
        ports: slice.ports.clone(),
    }
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
    let imports = Api::<ServiceImport>::namespaced(ctx.client.clone(), &ns);
    let services = Api::<Service>::namespaced(ctx.client.clone(), &ns);
    let slices = Api::<EndpointSlice>::namespaced(ctx.client.clone(), &ns);
    let derived = derived_name(&svc_ns, &name);
    let mine = format!(
        "{}={name},{}={svc_ns}",
        known::LABEL_SERVICE_NAME,
        known::LABEL_SERVICE_NAMESPACE
    );
    let has_finalizer = si.finalizers().iter().any(|f| f == known::APP_FINALIZER);
    if si.meta().deletion_timestamp.is_some() {
        slices
            .delete_collection(
                &DeleteParams::default(),
                &ListParams::default().labels(&mine),
            )
            .await?;
        match services.delete(&derived, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(err) => return Err(err.into()),
        }
        if has_finalizer {
            let rest: Vec<&String> = si
                .finalizers()
                .iter()
                .filter(|f| *f != known::APP_FINALIZER)
                .collect();
            let patch =
                json!({"metadata": {"finalizers": rest, "resourceVersion": si.resource_version()}});
            imports
                .patch(
                    &si.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await?;
        }
        tracing::info!(import = %key(&si), "service import recycled: its derived Service and EndpointSlices are gone");
        return Ok(Action::await_change());
    }
    if !has_finalizer {
        let mut finalizers = si.finalizers().to_vec();
        finalizers.push(known::APP_FINALIZER.to_string());
        let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": si.resource_version()}});
        imports
            .patch(
                &si.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
    }

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
    let mut want = Vec::new();
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
        want.push(copy);
    }
    let names: BTreeSet<String> = want.iter().map(|s| s.name_any()).collect();
    for existing in slices
        .list(&ListParams::default().labels(&mine))
        .await?
        .items
    {
        if !names.contains(&existing.name_any()) {
            match slices
                .delete(&existing.name_any(), &DeleteParams::default())
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
    for slice in &want {
        slices
            .patch(&slice.name_any(), &apply, &Patch::Apply(slice))
            .await?;
    }
    let status_clusters: Vec<_> = exporting.iter().map(|c| json!({"cluster": c})).collect();
    if si.status.as_ref().map(|s| s.clusters.len()).unwrap_or(0) != status_clusters.len()
        || si.status.as_ref().is_some_and(|s| {
            s.clusters
                .iter()
                .map(|c| &c.cluster)
                .collect::<BTreeSet<_>>()
                != exporting.iter().collect::<BTreeSet<_>>()
        })
    {
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

#[cfg(test)]
mod tests {
    use super::*;

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
