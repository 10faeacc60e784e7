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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clusternet_apis::known;
use clusternet_apis::multicluster::derived_name;
use clusternet_apis::multicluster::v1alpha1::{SERVICE_EXPORT_VALID, ServiceExport};
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

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct Error(#[from] anyhow::Error);

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        Self(e.into())
    }
}

/// Runs the controller until the agent stops leading.
pub async fn run(child: kube::Client, parent: kube::Client, namespace: String) -> Result<()> {
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
    .run(reconcile, error_policy, ctx)
    .for_each(|_| async {})
    .await;
    Ok(())
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
    EndpointSlice {
        metadata: kube::api::ObjectMeta {
            name: Some(format!("{se_ns}-{}", slice.name_any())),
            namespace: Some(namespace.to_string()),
            labels: Some(labels),
            ..Default::default()
        },
        address_type: slice.address_type.clone(),
        endpoints: slice.endpoints.clone(),
        ports: slice.ports.clone(),
    }
}

async fn reconcile(se: Arc<ServiceExport>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let se_ns = se.namespace().unwrap_or_default();
    let exports = Api::<ServiceExport>::namespaced(ctx.child.clone(), &se_ns);
    let parent_slices = Api::<EndpointSlice>::namespaced(ctx.parent.clone(), &ctx.namespace);
    let derived = format!(
        "{SERVICE_NAME_LABEL}={}",
        derived_name(&se_ns, &se.name_any())
    );
    let has_finalizer = se.finalizers().iter().any(|f| f == known::APP_FINALIZER);
    if se.meta().deletion_timestamp.is_some() {
        parent_slices
            .delete_collection(
                &DeleteParams::default(),
                &ListParams::default().labels(&derived),
            )
            .await?;
        if has_finalizer {
            let rest: Vec<&String> = se
                .finalizers()
                .iter()
                .filter(|f| *f != known::APP_FINALIZER)
                .collect();
            let patch =
                json!({"metadata": {"finalizers": rest, "resourceVersion": se.resource_version()}});
            exports
                .patch(
                    &se.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await?;
        }
        tracing::info!(export = %key(&se), "service export recycled: its EndpointSlices are gone from the parent");
        return Ok(Action::await_change());
    }
    if !has_finalizer {
        let mut finalizers = se.finalizers().to_vec();
        finalizers.push(known::APP_FINALIZER.to_string());
        let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": se.resource_version()}});
        exports
            .patch(
                &se.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
    }
    set_valid(&ctx, &se).await?;

    let child_slices = Api::<EndpointSlice>::namespaced(ctx.child.clone(), &se_ns)
        .list(&ListParams::default().labels(&format!("{SERVICE_NAME_LABEL}={}", se.name_any())))
        .await?
        .items;
    let want: Vec<EndpointSlice> = child_slices
        .iter()
        .map(|s| parent_slice(s, &se, &ctx.namespace))
        .collect();
    let names: BTreeSet<String> = want.iter().map(|s| s.name_any()).collect();
    for existing in parent_slices
        .list(&ListParams::default().labels(&derived))
        .await?
        .items
    {
        if !names.contains(&existing.name_any()) {
            match parent_slices
                .delete(&existing.name_any(), &DeleteParams::default())
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for slice in &want {
        parent_slices
            .patch(&slice.name_any(), &params, &Patch::Apply(slice))
            .await?;
    }
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
    let current = se.status.as_ref().and_then(|s| {
        s.conditions
            .iter()
            .find(|c| c.type_ == SERVICE_EXPORT_VALID)
    });
    if current.is_some_and(|c| c.status == status && c.reason == reason) {
        return Ok(());
    }
    let condition = Condition {
        type_: SERVICE_EXPORT_VALID.into(),
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
        .filter(|c| c.type_ != SERVICE_EXPORT_VALID)
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
