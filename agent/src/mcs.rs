//! Gate `MultiClusterService`: ServiceExports of the child reach the parent (Clusternet's
//! `serviceexport` controller). For each ServiceExport, the child's EndpointSlices of the
//! Service of the same name are copied into the cluster's dedicated namespace on the parent
//! as `<namespace>-<slice>`, labelled with the multi-cluster service's name and namespace,
//! `kubernetes.io/service-name: <DerivedName>`, `clusternet.io/created-by: clusternet-agent`
//! and the export's `apps.clusternet.io/subs.namespace`; kept in sync (slices the child no
//! longer has are removed); removed with the export (finalizer `apps.clusternet.io/finalizer`).
//!
//! Beyond Clusternet, the export's `Valid` condition (KEP-1645) says whether there is a
//! Service to export: `ServiceNotFound` or `ServiceTypeNotSupported` (ExternalName) otherwise.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clusternet_apis::known;
use clusternet_apis::multicluster::v1alpha1::{
    SERVICE_EXPORT_CONFLICT, SERVICE_EXPORT_VALID, ServiceExport, ServiceImport,
};
use clusternet_apis::multicluster::{derived_name, slice_copy};
use clusternet_component_base::{finalizers, objects};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;

/// On the parent's copy of an exported slice, set by the controller-manager: why this
/// cluster's export conflicts with another cluster's.
pub const CONFLICT_ANNOTATION: &str = "services.clusternet.io/conflict";

/// Kubernetes' label naming the Service of an EndpointSlice.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
const FIELD_MANAGER: &str = "clusternet-agent";
const RETRY: Duration = Duration::from_secs(1);

struct Ctx {
    child: kube::Client,
    parent: kube::Client,
    /// The cluster's dedicated namespace on the parent.
    namespace: String,
}

use clusternet_component_base::reconcile::ReconcileError as Error;

/// Runs the controllers (exports, and east-west imports) until the agent stops leading.
pub async fn run(child: kube::Client, parent: kube::Client, namespace: String) -> Result<()> {
    let imports = run_imports(child.clone(), parent.clone(), namespace.clone());
    let exports = run_exports(child, parent, namespace);
    futures::future::join(imports, exports).await;
    Ok(())
}

async fn run_exports(child: kube::Client, parent: kube::Client, namespace: String) {
    let (parent_for_watch, namespace_for_watch) = (parent.clone(), namespace.clone());
    let ctx = Arc::new(Ctx {
        child: child.clone(),
        parent,
        namespace,
    });
    let slices = Api::<EndpointSlice>::all(child.clone());
    Controller::new(
        Api::<ServiceExport>::all(child.clone()),
        watcher::Config::default(),
    )
    .watches(
        slices,
        watcher::Config::default().labels(SERVICE_NAME_LABEL),
        |slice: EndpointSlice| {
            let service = slice.labels().get(SERVICE_NAME_LABEL)?.clone();
            Some(ObjectRef::new(&service).within(&slice.namespace()?))
        },
    )
    .watches(
        Api::<Service>::all(child),
        watcher::Config::default(),
        |svc: Service| Some(ObjectRef::new(&svc.name_any()).within(&svc.namespace()?)),
    )
    // The parent's copies: the controller-manager's conflict verdict arrives on them.
    .watches(
        Api::<EndpointSlice>::namespaced(parent_for_watch, &namespace_for_watch),
        watcher::Config::default().labels(&format!(
            "{}={}",
            known::OBJECT_CREATED_BY_LABEL,
            known::CLUSTERNET_AGENT_NAME
        )),
        |slice: EndpointSlice| {
            let labels = slice.labels();
            Some(
                ObjectRef::new(labels.get(known::LABEL_SERVICE_NAME)?)
                    .within(labels.get(known::LABEL_SERVICE_NAMESPACE)?),
            )
        },
    )
    .run(reconcile, error_policy, ctx)
    .for_each(|_| async {})
    .await;
}

// ---------------------------------------------------------------------------------------------
// East-west: an import the parent hands to this cluster (a ServiceImport copy labelled
// `services.clusternet.io/imported-for` in the dedicated namespace, and the other clusters'
// EndpointSlices with the same label) becomes, in the child, the selector-less derived Service
// in the import's namespace and those slices, so that this cluster's pods reach the others'
// endpoints by one name. The copy's finalizer is this agent's: it removes them from the child.

/// Label on the parent's east-west copies: the derived Service they are for.
pub const IMPORTED_FOR_LABEL: &str = "services.clusternet.io/imported-for";
/// Annotation on the ServiceImport copy: the namespace of the derived Service in the child.
pub const IMPORT_NAMESPACE_ANNOTATION: &str = "services.clusternet.io/import-namespace";
/// EndpointSlices this agent writes in the child: kube's own controllers leave them alone.
const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";

async fn run_imports(child: kube::Client, parent: kube::Client, namespace: String) {
    let ctx = Arc::new(Ctx {
        child,
        parent: parent.clone(),
        namespace: namespace.clone(),
    });
    Controller::new(
        Api::<ServiceImport>::namespaced(parent.clone(), &namespace),
        watcher::Config::default().labels(IMPORTED_FOR_LABEL),
    )
    .watches(
        Api::<EndpointSlice>::namespaced(parent, &namespace),
        watcher::Config::default().labels(IMPORTED_FOR_LABEL),
        |slice: EndpointSlice| {
            let derived = slice.labels().get(IMPORTED_FOR_LABEL)?.clone();
            Some(ObjectRef::new(&derived).within(&slice.namespace()?))
        },
    )
    .run(reconcile_import, import_error_policy, ctx)
    .for_each(|_| async {})
    .await;
}

fn import_error_policy(si: Arc<ServiceImport>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::info!(import = %si.name_any(), error = %err, "east-west import; will retry");
    Action::requeue(RETRY)
}

/// The child's copy of an east-west slice the parent handed over.
pub fn child_slice(slice: &EndpointSlice, derived: &str, namespace: &str) -> EndpointSlice {
    let mut labels = slice.labels().clone();
    labels.insert(SERVICE_NAME_LABEL.into(), derived.to_string());
    labels.insert(MANAGED_BY_LABEL.into(), known::CLUSTERNET_AGENT_NAME.into());
    slice_copy(slice, slice.name_any(), namespace, labels)
}

async fn reconcile_import(si: Arc<ServiceImport>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let derived = si.name_any();
    let target_ns = si
        .annotations()
        .get(IMPORT_NAMESPACE_ANNOTATION)
        .cloned()
        .unwrap_or_else(|| "default".into());
    let services = Api::<Service>::namespaced(ctx.child.clone(), &target_ns);
    let slices = Api::<EndpointSlice>::namespaced(ctx.child.clone(), &target_ns);
    let selector = format!("{IMPORTED_FOR_LABEL}={derived}");
    if si.meta().deletion_timestamp.is_some() {
        slices
            .delete_collection(
                &DeleteParams::default(),
                &ListParams::default().labels(&selector),
            )
            .await?;
        let owned = services
            .get_opt(&derived)
            .await?
            .is_some_and(|s| s.labels().contains_key(IMPORTED_FOR_LABEL));
        if owned {
            objects::delete_if_present(&services, &derived, &DeleteParams::default()).await?;
        }
        let copies = Api::<ServiceImport>::namespaced(ctx.parent.clone(), &ctx.namespace);
        finalizers::remove(&copies, si.as_ref(), &[known::APP_FINALIZER]).await?;
        tracing::info!(service = %format!("{target_ns}/{derived}"), "east-west import removed from the child");
        return Ok(Action::await_change());
    }
    let ports: Vec<serde_json::Value> = si
        .spec
        .ports
        .iter()
        .map(|p| {
            let mut port = json!({
                "port": p.port,
                "protocol": if p.protocol.is_empty() { "TCP" } else { p.protocol.as_str() },
            });
            if !p.name.is_empty() {
                port["name"] = json!(p.name);
            }
            port
        })
        .collect();
    let mut labels = si.labels().clone();
    labels.insert(IMPORTED_FOR_LABEL.into(), derived.clone());
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": derived, "namespace": target_ns, "labels": labels},
        "spec": {"type": "ClusterIP", "ports": ports},
    });
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    services
        .patch(&derived, &apply, &Patch::Apply(&service))
        .await?;
    let handed = Api::<EndpointSlice>::namespaced(ctx.parent.clone(), &ctx.namespace)
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    let want: Vec<EndpointSlice> = handed
        .iter()
        .map(|s| child_slice(s, &derived, &target_ns))
        .collect();
    objects::sync_labelled(&slices, &selector, &want, FIELD_MANAGER).await?;
    tracing::debug!(service = %format!("{target_ns}/{derived}"), slices = want.len(), "east-west import synced");
    Ok(Action::await_change())
}

fn error_policy(se: Arc<ServiceExport>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::info!(export = %key(&se), error = %err, "syncing a ServiceExport; will retry");
    Action::requeue(RETRY)
}

fn key(se: &ServiceExport) -> String {
    format!("{}/{}", se.namespace().unwrap_or_default(), se.name_any())
}

/// The parent's copy of child slice `slice` for export `se`.
pub fn parent_slice(slice: &EndpointSlice, se: &ServiceExport, namespace: &str) -> EndpointSlice {
    let se_ns = se.namespace().unwrap_or_default();
    let mut labels = BTreeMap::from([
        (known::LABEL_SERVICE_NAME.to_string(), se.name_any()),
        (known::LABEL_SERVICE_NAMESPACE.to_string(), se_ns.clone()),
        (
            known::OBJECT_CREATED_BY_LABEL.to_string(),
            known::CLUSTERNET_AGENT_NAME.to_string(),
        ),
        (
            SERVICE_NAME_LABEL.to_string(),
            derived_name(&se_ns, &se.name_any()),
        ),
    ]);
    if let Some(subs_ns) = se.labels().get(known::CONFIG_SUBSCRIPTION_NAMESPACE_LABEL) {
        labels.insert(
            known::CONFIG_SUBSCRIPTION_NAMESPACE_LABEL.to_string(),
            subs_ns.clone(),
        );
    }
    slice_copy(
        slice,
        format!("{se_ns}-{}", slice.name_any()),
        namespace,
        labels,
    )
}

async fn reconcile(se: Arc<ServiceExport>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let se_ns = se.namespace().unwrap_or_default();
    let exports = Api::<ServiceExport>::namespaced(ctx.child.clone(), &se_ns);
    let parent_slices = Api::<EndpointSlice>::namespaced(ctx.parent.clone(), &ctx.namespace);
    let derived = format!(
        "{SERVICE_NAME_LABEL}={}",
        derived_name(&se_ns, &se.name_any())
    );
    if se.meta().deletion_timestamp.is_some() {
        parent_slices
            .delete_collection(
                &DeleteParams::default(),
                &ListParams::default().labels(&derived),
            )
            .await?;
        finalizers::remove(&exports, se.as_ref(), &[known::APP_FINALIZER]).await?;
        tracing::info!(export = %key(&se), "service export recycled: its EndpointSlices are gone from the parent");
        return Ok(Action::await_change());
    }
    finalizers::ensure(&exports, se.as_ref(), known::APP_FINALIZER).await?;
    set_valid(&ctx, &se).await?;

    let child_slices = Api::<EndpointSlice>::namespaced(ctx.child.clone(), &se_ns)
        .list(&ListParams::default().labels(&format!("{SERVICE_NAME_LABEL}={}", se.name_any())))
        .await?
        .items;
    let want: Vec<EndpointSlice> = child_slices
        .iter()
        .map(|s| parent_slice(s, &se, &ctx.namespace))
        .collect();
    let uploaded = objects::sync_labelled(&parent_slices, &derived, &want, FIELD_MANAGER).await?;
    // The controller-manager compares the exports of all clusters (the slices' annotation).
    let conflict = uploaded
        .iter()
        .find_map(|s| s.annotations().get(CONFLICT_ANNOTATION).cloned());
    let (status, reason, message) = match conflict {
        Some(why) => ("True", "PortConflict", why),
        None => (
            "False",
            "NoConflict",
            "the clusters exporting this service agree on its ports".to_string(),
        ),
    };
    set_condition(&ctx, &se, SERVICE_EXPORT_CONFLICT, status, reason, message).await?;
    tracing::debug!(export = %key(&se), slices = want.len(), "service export synced to the parent");
    Ok(Action::await_change())
}

/// The export's `Valid` condition, from the Service it exports.
async fn set_valid(ctx: &Ctx, se: &ServiceExport) -> Result<(), Error> {
    let se_ns = se.namespace().unwrap_or_default();
    let svc = Api::<Service>::namespaced(ctx.child.clone(), &se_ns)
        .get_opt(&se.name_any())
        .await?;
    let (status, reason, message) = match svc {
        None => (
            "False",
            "ServiceNotFound",
            format!(
                "Service {se_ns}/{} does not exist; a ServiceExport exports the Service of its own name",
                se.name_any()
            ),
        ),
        Some(s) if s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ExternalName") => (
            "False",
            "ServiceTypeNotSupported",
            "Service of type ExternalName cannot be exported".to_string(),
        ),
        Some(_) => (
            "True",
            "ServiceExported",
            "the Service's endpoints are exported to the parent".to_string(),
        ),
    };
    set_condition(ctx, se, SERVICE_EXPORT_VALID, status, reason, message).await
}

/// Sets condition `type_` of the export, if it changed.
async fn set_condition(
    ctx: &Ctx,
    se: &ServiceExport,
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
) -> Result<(), Error> {
    let se_ns = se.namespace().unwrap_or_default();
    let current = se
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_));
    if current.is_some_and(|c| c.status == status && c.reason == reason && c.message == message) {
        return Ok(());
    }
    let condition = Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message,
        last_transition_time: Time(jiff::Timestamp::now()),
        observed_generation: se.meta().generation,
    };
    let mut conditions: Vec<Condition> = se
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.type_ != type_)
        .collect();
    conditions.push(condition);
    let patch = json!({"status": {"conditions": conditions}});
    Api::<ServiceExport>::namespaced(ctx.child.clone(), &se_ns)
        .patch_status(
            &se.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_slice_as_clusternet_uploads_it() {
        let se: ServiceExport = serde_json::from_value(json!({
            "apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceExport",
            "metadata": {"name": "nginx-svc", "namespace": "baz",
                         "labels": {"apps.clusternet.io/subs.namespace": "default"}},
        }))
        .unwrap();
        let slice: EndpointSlice = serde_json::from_value(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "nginx-svc-abcde", "namespace": "baz",
                         "labels": {"kubernetes.io/service-name": "nginx-svc",
                                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.101.0.5"], "conditions": {"ready": true}}],
            "ports": [{"name": "", "port": 80, "protocol": "TCP"}],
        }))
        .unwrap();
        let out = parent_slice(&slice, &se, "clusternet-abc");
        assert_eq!(out.metadata.name.as_deref(), Some("baz-nginx-svc-abcde"));
        assert_eq!(out.metadata.namespace.as_deref(), Some("clusternet-abc"));
        let labels = out.metadata.labels.unwrap();
        assert_eq!(
            labels["kubernetes.io/service-name"],
            "derived-baz-kl7j74ep4o"
        );
        assert_eq!(
            labels["services.clusternet.io/multi-cluster-service-name"],
            "nginx-svc"
        );
        assert_eq!(
            labels["services.clusternet.io/multi-cluster-service-namespace"],
            "baz"
        );
        assert_eq!(labels["clusternet.io/created-by"], "clusternet-agent");
        assert_eq!(labels["apps.clusternet.io/subs.namespace"], "default");
        assert!(
            !labels.contains_key("endpointslice.kubernetes.io/managed-by"),
            "not the parent's controller's"
        );
        assert_eq!(out.endpoints, slice.endpoints);
    }
}
