//! `crrapprover`: approves ClusterRegistrationRequests as Clusternet does — there is no manual
//! step; a request whose name does not match its cluster ID is denied. Approval creates, once
//! per cluster ID (found again by labels, so re-processing is idempotent): the dedicated
//! namespace, the ManagedCluster, a ServiceAccount with a token Secret, a ClusterRole/Binding
//! `clusternet-<cluster-id>` (the request itself, and the cluster's own socket) and a
//! Role/Binding `clusternet-managedcluster-role` in the namespace; then it writes the token, the
//! parent CA and the names into the request's status.
//!
//! Unlike Go Clusternet, the per-cluster ClusterRole does not grant `get secrets` across the
//! whole parent: a cluster's credentials reach only its own namespace (and its own socket).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clusternet_apis::clusters::v1beta1::{
    ApprovedResult, ClusterRegistrationRequest, ClusterRegistrationRequestStatus, ManagedCluster,
    ManagedClusterSpec,
};
use clusternet_apis::known;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount, Taint};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;

/// Name of the Role (and RoleBinding) granting a cluster everything in its namespace.
pub const MANAGED_CLUSTER_ROLE: &str = "clusternet-managedcluster-role";

/// What the approver needs.
pub struct Ctx {
    client: kube::Client,
    socket_connection: bool,
    cluster_init: bool,
}

/// Runs the approver until the process ends.
pub async fn run(client: kube::Client, socket_connection: bool, cluster_init: bool) {
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        socket_connection,
        cluster_init,
    });
    Controller::new(
        Api::<ClusterRegistrationRequest>::all(client),
        watcher::Config::default(),
    )
    .run(reconcile, error_policy, ctx)
    .for_each(|result| async move {
        if let Err(err) = result {
            tracing::debug!(error = %err, "crrapprover");
        }
    })
    .await;
}

fn error_policy(crr: Arc<ClusterRegistrationRequest>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(request = %crr.metadata.name.as_deref().unwrap_or(""), error = %format!("{:#}", err.0), "approving cluster registration; retrying");
    Action::requeue(Duration::from_secs(2))
}

/// An approval error (wrapped so the controller runtime can report it).
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct Error(anyhow::Error);

async fn reconcile(crr: Arc<ClusterRegistrationRequest>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    approve(&crr, &ctx).await.map_err(Error)?;
    Ok(Action::await_change())
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn approve(crr: &ClusterRegistrationRequest, ctx: &Ctx) -> Result<()> {
    let name = crr.metadata.name.clone().context("request without name")?;
    let cluster_id = crr.spec.cluster_id.clone();
    let requests: Api<ClusterRegistrationRequest> = Api::all(ctx.client.clone());
    let expected = name
        .strip_prefix(known::NAME_PREFIX_FOR_CLUSTERNET_OBJECTS)
        .unwrap_or(&name);
    if expected != cluster_id {
        if crr.status.as_ref().and_then(|s| s.result.as_ref())
            != Some(&ApprovedResult::RequestDenied)
        {
            let message = format!(
                "ClusterRegistrationRequest {name:?} has got illegal update on spec.clusterID from {expected:?} to {cluster_id:?}, will skip processing"
            );
            tracing::warn!("{message}");
            set_status(
                &requests,
                &name,
                ClusterRegistrationRequestStatus {
                    result: Some(ApprovedResult::RequestDenied),
                    error_message: message,
                    ..Default::default()
                },
            )
            .await?;
        }
        return Ok(());
    }
    if crr.status.as_ref().is_some_and(|s| s.result.is_some()) {
        return Ok(());
    }
    let cluster_name = crr.spec.cluster_name.clone();
    let selector = format!(
        "{}={},{}={cluster_id}",
        known::OBJECT_CREATED_BY_LABEL,
        known::CLUSTERNET_AGENT_NAME,
        known::CLUSTER_ID_LABEL
    );
    let owned = labels(&[
        (known::OBJECT_CREATED_BY_LABEL, known::CLUSTERNET_AGENT_NAME),
        (known::CLUSTER_ID_LABEL, &cluster_id),
        (known::CLUSTER_NAME_LABEL, &cluster_name),
    ]);

    // 1. The dedicated namespace.
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let namespace = match namespaces
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
        .into_iter()
        .next()
    {
        Some(ns) => ns,
        None => {
            let mut meta = ObjectMeta {
                labels: Some(owned.clone()),
                ..Default::default()
            };
            if crr.spec.cluster_namespace.is_empty() {
                meta.generate_name = Some(known::NAME_PREFIX_FOR_CLUSTERNET_OBJECTS.into());
            } else {
                meta.name = Some(crr.spec.cluster_namespace.clone());
            }
            namespaces
                .create(
                    &PostParams::default(),
                    &Namespace {
                        metadata: meta,
                        ..Default::default()
                    },
                )
                .await
                .context("creating the dedicated namespace")?
        }
    };
    let ns = namespace
        .metadata
        .name
        .clone()
        .context("namespace without name")?;

    // 2. The ManagedCluster.
    let clusters_all: Api<ManagedCluster> = Api::all(ctx.client.clone());
    let managed = match clusters_all
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
        .into_iter()
        .next()
    {
        Some(mc) => mc,
        None => {
            let mut mc_labels = owned.clone();
            mc_labels.extend(crr.spec.cluster_labels.clone());
            let mut mc = ManagedCluster::new(
                &cluster_name,
                ManagedClusterSpec {
                    cluster_id: cluster_id.clone(),
                    cluster_type: crr.spec.cluster_type.clone(),
                    sync_mode: crr.spec.sync_mode.unwrap_or_default(),
                    ..Default::default()
                },
            );
            mc.metadata.labels = Some(mc_labels);
            if ctx.cluster_init {
                mc.spec.taints = vec![Taint {
                    key: known::TAINT_CLUSTER_INITIALIZATION.into(),
                    value: Some(known::CLUSTER_INIT_WAITING_REASON.into()),
                    effect: "NoSchedule".into(),
                    time_added: None,
                }];
            }
            Api::<ManagedCluster>::namespaced(ctx.client.clone(), &ns)
                .create(&PostParams::default(), &mc)
                .await
                .context("creating the ManagedCluster")?
        }
    };
    let mc_name = managed
        .metadata
        .name
        .clone()
        .context("ManagedCluster without name")?;

    // 3. The ServiceAccount and its token Secret.
    let accounts: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let sa = match accounts
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
        .into_iter()
        .next()
    {
        Some(sa) => sa,
        None => {
            let sa = ServiceAccount {
                metadata: ObjectMeta {
                    generate_name: Some(known::NAME_PREFIX_FOR_CLUSTERNET_OBJECTS.into()),
                    labels: Some(owned.clone()),
                    ..Default::default()
                },
                ..Default::default()
            };
            accounts
                .create(&PostParams::default(), &sa)
                .await
                .context("creating the ServiceAccount")?
        }
    };
    let sa_name = sa
        .metadata
        .name
        .clone()
        .context("ServiceAccount without name")?;
    if secrets.get_opt(&sa_name).await?.is_none() {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(sa_name.clone()),
                annotations: Some(labels(&[("kubernetes.io/service-account.name", &sa_name)])),
                ..Default::default()
            },
            type_: Some("kubernetes.io/service-account-token".into()),
            ..Default::default()
        };
        match secrets.create(&PostParams::default(), &secret).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(err) => return Err(err).context("creating the ServiceAccount token Secret"),
        }
    }

    // 4. RBAC.
    let subject = Subject {
        kind: "ServiceAccount".into(),
        name: sa_name.clone(),
        namespace: Some(ns.clone()),
        api_group: None,
    };
    ensure_cluster_rbac(
        &ctx.client,
        &cluster_id,
        ctx.socket_connection,
        subject.clone(),
    )
    .await?;
    ensure_namespace_rbac(&ctx.client, &ns, subject).await?;

    // 5. The token, once the token controller has filled it in.
    let (token, ca) = wait_for_token(&secrets, &sa_name).await?;

    set_status(
        &requests,
        &name,
        ClusterRegistrationRequestStatus {
            result: Some(ApprovedResult::RequestApproved),
            error_message: String::new(),
            dedicated_namespace: ns.clone(),
            managed_cluster_name: mc_name.clone(),
            dedicated_token: Some(token),
            ca_certificate: Some(ca),
        },
    )
    .await?;
    tracing::info!(request = %name, namespace = %ns, cluster = %mc_name, "approved cluster registration");
    Ok(())
}

async fn set_status(
    api: &Api<ClusterRegistrationRequest>,
    name: &str,
    status: ClusterRegistrationRequestStatus,
) -> Result<()> {
    let patch = serde_json::json!({"status": status});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .context("updating the request status")?;
    Ok(())
}

async fn wait_for_token(
    secrets: &Api<Secret>,
    name: &str,
) -> Result<(k8s_openapi::ByteString, k8s_openapi::ByteString)> {
    let mut delay = Duration::from_millis(50);
    for _ in 0..40 {
        if let Some(secret) = secrets.get_opt(name).await? {
            let data = secret.data.unwrap_or_default();
            if let (Some(token), Some(ca)) = (data.get("token"), data.get("ca.crt"))
                && !token.0.is_empty()
                && !ca.0.is_empty()
            {
                return Ok((token.clone(), ca.clone()));
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
    bail!("the token controller has not filled in Secret {name} yet")
}

fn rbac_meta(name: &str, namespace: Option<&str>, extra: &[(&str, &str)]) -> ObjectMeta {
    let mut l = labels(&[
        (known::CLUSTER_BOOTSTRAPPING_LABEL, known::RBAC_DEFAULTS),
        (
            known::OBJECT_CREATED_BY_LABEL,
            known::CLUSTERNET_CTRL_MGR_NAME,
        ),
    ]);
    l.extend(labels(extra));
    ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(String::from),
        labels: Some(l),
        annotations: Some(labels(&[(known::AUTO_UPDATE_ANNOTATION, "true")])),
        ..Default::default()
    }
}

fn rule(groups: &[&str], resources: &[&str], names: &[&str], verbs: &[&str]) -> PolicyRule {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    PolicyRule {
        api_groups: Some(v(groups)),
        resources: Some(v(resources)),
        resource_names: (!names.is_empty()).then(|| v(names)),
        verbs: v(verbs),
        non_resource_urls: None,
    }
}

/// Server-side apply with the controller-manager as field manager: creates or updates in one
/// call, idempotently.
async fn apply<K>(api: &Api<K>, name: &str, object: &K) -> Result<()>
where
    K: kube::Resource + serde::Serialize + serde::de::DeserializeOwned + Clone + std::fmt::Debug,
    K::DynamicType: Default,
{
    api.patch(
        name,
        &PatchParams::apply(known::CLUSTERNET_CTRL_MGR_NAME).force(),
        &Patch::Apply(object),
    )
    .await
    .with_context(|| format!("applying {} {name}", K::kind(&Default::default())))?;
    Ok(())
}

async fn ensure_cluster_rbac(
    client: &kube::Client,
    cluster_id: &str,
    sockets: bool,
    subject: Subject,
) -> Result<()> {
    let name = format!("{}{cluster_id}", known::NAME_PREFIX_FOR_CLUSTERNET_OBJECTS);
    let mut rules = vec![rule(
        &[known::CLUSTERS_GROUP],
        &["clusterregistrationrequests"],
        &[],
        &["create", "get"],
    )];
    if sockets {
        rules.push(rule(
            &[known::PROXIES_GROUP],
            &["sockets"],
            &[cluster_id],
            &["*"],
        ));
    }
    let role = ClusterRole {
        metadata: rbac_meta(&name, None, &[(known::CLUSTER_ID_LABEL, cluster_id)]),
        rules: Some(rules),
        aggregation_rule: None,
    };
    apply(&Api::<ClusterRole>::all(client.clone()), &name, &role).await?;
    let binding = ClusterRoleBinding {
        metadata: rbac_meta(&name, None, &[(known::CLUSTER_ID_LABEL, cluster_id)]),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: name.clone(),
        },
        subjects: Some(vec![subject]),
    };
    apply(
        &Api::<ClusterRoleBinding>::all(client.clone()),
        &name,
        &binding,
    )
    .await
}

async fn ensure_namespace_rbac(client: &kube::Client, ns: &str, subject: Subject) -> Result<()> {
    let role = Role {
        metadata: rbac_meta(MANAGED_CLUSTER_ROLE, Some(ns), &[]),
        rules: Some(vec![rule(&["*"], &["*"], &[], &["*"])]),
    };
    apply(
        &Api::<Role>::namespaced(client.clone(), ns),
        MANAGED_CLUSTER_ROLE,
        &role,
    )
    .await?;
    let binding = RoleBinding {
        metadata: rbac_meta(MANAGED_CLUSTER_ROLE, Some(ns), &[]),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: MANAGED_CLUSTER_ROLE.into(),
        },
        subjects: Some(vec![subject]),
    };
    apply(
        &Api::<RoleBinding>::namespaced(client.clone(), ns),
        MANAGED_CLUSTER_ROLE,
        &binding,
    )
    .await
}
