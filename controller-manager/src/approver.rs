//! `crrapprover`: approves ClusterRegistrationRequests as Clusternet does — there is no manual
//! step; a request whose name does not match its cluster ID is denied. Approval creates, once
//! per cluster ID and under names derived from it (so a repeated or concurrent reconcile finds
//! what the first one made instead of making more): the dedicated namespace, the
//! ManagedCluster, a ServiceAccount with a token Secret, a ClusterRole/Binding
//! `clusternet-<cluster-id>` and a Role/Binding `clusternet-managedcluster-role` in the
//! namespace; then it writes the token, the parent CA and the names into the request's status.
//!
//! Where Go Clusternet leaves a child free to reach past itself, this approver does not:
//! - the namespace Role grants exactly what the agent uses ([`namespace_rules`]), not `*/*/*`:
//!   no pods, tokens, RoleBindings or ManagedClusters of its own making, and the namespace
//!   enforces the `restricted` Pod Security Standard;
//! - the ClusterRole lets the cluster read only its own request and use only its own socket;
//! - the approver names the namespace (`clusternet-<hash of the id>`); a requested name is
//!   honoured only for a namespace that does not exist yet and is not reserved;
//! - reserved label keys in `spec.clusterLabels` are dropped;
//! - the token in the request's status is sealed to the registering agent when it offers a key
//!   ([`clusternet_component_base::sealed`]), and a plain one (Go agents) is removed once the
//!   cluster has used it (its first heartbeat), unless `--keep-plain-registration-tokens`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clusternet_apis::clusters::v1beta1::{
    ApprovedResult, ClusterRegistrationRequest, ClusterRegistrationRequestStatus, ManagedCluster,
    ManagedClusterSpec,
};
use clusternet_apis::known;
use clusternet_component_base::reconcile::Retries;
use clusternet_component_base::sealed;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount, Taint};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

/// Name of the Role (and RoleBinding) granting a cluster what its agent uses in its namespace.
pub const MANAGED_CLUSTER_ROLE: &str = "clusternet-managedcluster-role";

/// The Pod Security Standard the dedicated namespaces enforce (nothing of the child's should run
/// there; if anything ever does, it runs restricted).
const POD_SECURITY: &str = "restricted";

/// Requests reconciled at once.
const APPROVER_WORKERS: u16 = 32;

/// What the approver needs.
pub struct Ctx {
    client: kube::Client,
    socket_connection: bool,
    cluster_init: bool,
    keep_plain_tokens: bool,
    reserved_namespaces: Vec<String>,
    /// Per request, the resourceVersion whose namespace labels and RBAC were last made right:
    /// every heartbeat of a cluster brings its request back here (for the plain-token check),
    /// and those writes are needed once per version of the request, not once per heartbeat
    /// (at 600 clusters they were ~100 writes/s on the parent).
    maintained: Mutex<HashMap<String, String>>,
    retries: Retries<String>,
}

impl Ctx {
    fn maintained(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.maintained.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Settings of the approver.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Gate SocketConnection: clusters may use their own socket.
    pub socket_connection: bool,
    /// Gate ClusterInit: new clusters get the initialization taint.
    pub cluster_init: bool,
    /// Leave plain (unsealed) tokens in the requests' status (Go agents re-read them there on
    /// every restart).
    pub keep_plain_tokens: bool,
    /// Namespaces no cluster may claim (beyond `default`, `kube-*` and Clusternet's own).
    pub reserved_namespaces: Vec<String>,
}

/// Runs the approver until the process ends.
pub async fn run(client: kube::Client, settings: Settings) {
    let mut reserved = vec![
        "default".to_string(),
        known::CLUSTERNET_SYSTEM_NAMESPACE.to_string(),
        known::CLUSTERNET_RESERVED_NAMESPACE.to_string(),
        "clusternet-mcs".to_string(),
    ];
    reserved.extend(settings.reserved_namespaces);
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        socket_connection: settings.socket_connection,
        cluster_init: settings.cluster_init,
        keep_plain_tokens: settings.keep_plain_tokens,
        reserved_namespaces: reserved,
        maintained: Mutex::default(),
        retries: Retries::default(),
    });
    Controller::new(
        Api::<ClusterRegistrationRequest>::all(client.clone()),
        watcher::Config::default(),
    )
    // A cluster's first heartbeat is when its plain token can leave the request.
    .watches(
        Api::<ManagedCluster>::all(client),
        watcher::Config::default(),
        |mc| {
            (!mc.spec.cluster_id.is_empty()).then(|| {
                ObjectRef::new(&format!(
                    "{}{}",
                    known::NAME_PREFIX_FOR_CLUSTERNET_OBJECTS,
                    mc.spec.cluster_id
                ))
            })
        },
    )
    // A few requests at a time: a thousand agents registering at once (or a restart with a
    // thousand approved clusters) otherwise become a thousand concurrent writers, and the
    // parent answers most of them with 429.
    .with_config(kube::runtime::controller::Config::default().concurrency(APPROVER_WORKERS))
    .run(reconcile, error_policy, ctx)
    .for_each(|result| async move {
        if let Err(err) = result {
            tracing::debug!(error = %err, "crrapprover");
        }
    })
    .await;
}

fn error_policy(crr: Arc<ClusterRegistrationRequest>, err: &Error, ctx: Arc<Ctx>) -> Action {
    let name = crr.metadata.name.clone().unwrap_or_default();
    // Backing off per request: a thousand agents registering at once get the parent's 429s
    // together, and a fixed delay kept them retrying together.
    let delay = ctx.retries.failed(name.clone());
    tracing::warn!(request = %name, error = %format!("{:#}", err.0), retry_in = ?delay, "approving cluster registration; retrying");
    Action::requeue(delay)
}

pub use clusternet_component_base::reconcile::ReconcileError as Error;

async fn reconcile(crr: Arc<ClusterRegistrationRequest>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    // Every heartbeat of the cluster brings its request here: a request that failed waits
    // out its backoff (at 1,000 clusters, heartbeats retried failed namespace PATCHes at
    // 16/s on a parent that was rejecting them).
    if let Some(wait) = crr
        .metadata
        .name
        .as_ref()
        .and_then(|n| ctx.retries.pending(n))
    {
        return Ok(Action::requeue(wait));
    }
    approve(&crr, &ctx).await.map_err(Error::from)?;
    if let Some(name) = &crr.metadata.name {
        ctx.retries.succeeded(name);
    }
    Ok(Action::await_change())
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The name of everything the approver creates for cluster `id` when it picks the name:
/// `clusternet-` and 10 hex digits of the id's SHA-256.
pub fn dedicated_name(cluster_id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(cluster_id.as_bytes());
    format!(
        "{}{}",
        known::NAME_PREFIX_FOR_CLUSTERNET_OBJECTS,
        &hex::encode(digest)[..10]
    )
}

/// Label keys a registering cluster may not set through `spec.clusterLabels`: Clusternet's own
/// identity and bookkeeping labels.
pub fn is_reserved_label(key: &str) -> bool {
    let prefix = key.split_once('/').map_or("", |(p, _)| p);
    matches!(
        prefix,
        "clusternet.io" | "clusters.clusternet.io" | "apps.clusternet.io"
    )
}

/// Who a request is about, and the labels that mark what is created for it.
struct Cluster<'a> {
    request: String,
    id: &'a str,
    name: &'a str,
    owned: BTreeMap<String, String>,
}

impl Cluster<'_> {
    fn selector(&self) -> String {
        format!(
            "{}={},{}={}",
            known::OBJECT_CREATED_BY_LABEL,
            known::CLUSTERNET_AGENT_NAME,
            known::CLUSTER_ID_LABEL,
            self.id
        )
    }

    /// Whether `meta` carries this cluster's ownership labels.
    fn owns(&self, meta: &ObjectMeta) -> bool {
        let l = meta.labels.clone().unwrap_or_default();
        l.get(known::OBJECT_CREATED_BY_LABEL).map(String::as_str)
            == Some(known::CLUSTERNET_AGENT_NAME)
            && l.get(known::CLUSTER_ID_LABEL).map(String::as_str) == Some(self.id)
    }
}

/// Why a request is refused; written into its status.
struct Denied(String);

async fn approve(crr: &ClusterRegistrationRequest, ctx: &Ctx) -> Result<()> {
    let name = crr.metadata.name.clone().context("request without name")?;
    let requests: Api<ClusterRegistrationRequest> = Api::all(ctx.client.clone());
    let result = crr.status.as_ref().and_then(|s| s.result.clone());
    if let Err(Denied(message)) = check_name(crr, &name) {
        if result != Some(ApprovedResult::RequestDenied) {
            tracing::warn!("{message}");
            deny(&requests, &name, message).await?;
        }
        return Ok(());
    }
    match result {
        Some(ApprovedResult::RequestApproved) => return maintain(crr, &name, ctx).await,
        Some(_) => return Ok(()),
        None => {}
    }
    // The ManagedCluster an approval creates brings its request back here, often before the
    // request's own approved status has reached the cache: ask the parent before approving
    // again (one read instead of every step and the token wait a second time).
    if requests.get_opt(&name).await?.is_some_and(|fresh| {
        fresh
            .status
            .as_ref()
            .and_then(|s| s.result.clone())
            .is_some()
    }) {
        return Ok(());
    }
    let cluster = Cluster {
        request: name.clone(),
        id: &crr.spec.cluster_id,
        name: &crr.spec.cluster_name,
        owned: labels(&[
            (known::OBJECT_CREATED_BY_LABEL, known::CLUSTERNET_AGENT_NAME),
            (known::CLUSTER_ID_LABEL, &crr.spec.cluster_id),
            (known::CLUSTER_NAME_LABEL, &crr.spec.cluster_name),
        ]),
    };
    // 1. The dedicated namespace.
    let ns = match ensure_namespace(ctx, crr, &cluster).await? {
        Ok(ns) => ns,
        Err(Denied(message)) => {
            tracing::warn!(request = %name, "{message}");
            return deny(&requests, &name, message).await;
        }
    };
    // 2. The ManagedCluster.
    let mc_name = ensure_managed_cluster(ctx, crr, &cluster, &ns).await?;
    // 3. The ServiceAccount and its token Secret.
    let sa_name = ensure_service_account(ctx, &cluster, &ns).await?;
    // 4. RBAC.
    ensure_rbac(ctx, cluster.id, &ns, &sa_name).await?;
    // 5. The token, once the token controller has filled it in; sealed to the agent if it
    //    offered a key.
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let (token, ca) = wait_for_token(&secrets, &sa_name).await?;
    let token = match public_key(crr)? {
        Some(key) => k8s_openapi::ByteString(sealed::seal(&key, &token.0)?),
        None => {
            tracing::info!(request = %name, "the agent offered no registration key: its token is written in plain and removed after its first heartbeat");
            token
        }
    };
    let approved = set_status(
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
    // What `maintain` would do for this version of the request has just been done.
    ctx.maintained().insert(
        name.clone(),
        approved.metadata.resource_version.unwrap_or_default(),
    );
    tracing::info!(request = %cluster.request, namespace = %ns, cluster = %mc_name, "approved cluster registration");
    Ok(())
}

/// A request must be named after its cluster ID (`clusternet-<id>`).
fn check_name(crr: &ClusterRegistrationRequest, name: &str) -> Result<(), Denied> {
    let expected = name
        .strip_prefix(known::NAME_PREFIX_FOR_CLUSTERNET_OBJECTS)
        .unwrap_or(name);
    if expected != crr.spec.cluster_id {
        return Err(Denied(format!(
            "ClusterRegistrationRequest {name:?} has got illegal update on spec.clusterID from {expected:?} to {:?}, will skip processing",
            crr.spec.cluster_id
        )));
    }
    Ok(())
}

/// The agent's registration public key, if it offered one.
fn public_key(crr: &ClusterRegistrationRequest) -> Result<Option<[u8; 32]>> {
    crr.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(sealed::PUBLIC_KEY_ANNOTATION))
        .map(|k| sealed::parse_public_key(k))
        .transpose()
}

async fn deny(api: &Api<ClusterRegistrationRequest>, name: &str, message: String) -> Result<()> {
    set_status(
        api,
        name,
        ClusterRegistrationRequestStatus {
            result: Some(ApprovedResult::RequestDenied),
            error_message: message,
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// An approved cluster: keep its RBAC and namespace labels as this version wants them (older
/// versions granted more), and take a plain token out of the request once the cluster has used
/// it.
async fn maintain(crr: &ClusterRegistrationRequest, name: &str, ctx: &Ctx) -> Result<()> {
    let status = crr.status.clone().unwrap_or_default();
    let ns = status.dedicated_namespace.clone();
    if ns.is_empty() {
        return Ok(());
    }
    let version = crr.metadata.resource_version.clone().unwrap_or_default();
    let done = ctx.maintained().get(name) == Some(&version);
    if !done {
        label_namespace(ctx, &ns).await?;
        let owner = Cluster {
            request: name.to_string(),
            id: &crr.spec.cluster_id,
            name: &crr.spec.cluster_name,
            owned: BTreeMap::new(),
        };
        if let Some(sa) = find_owned::<ServiceAccount>(ctx, &ns, &owner).await? {
            ensure_rbac(ctx, &crr.spec.cluster_id, &ns, &sa).await?;
        }
        ctx.maintained().insert(name.to_string(), version);
    }
    let plain = status
        .dedicated_token
        .as_ref()
        .is_some_and(|t| !t.0.is_empty() && !sealed::is_sealed(&t.0));
    if plain && !ctx.keep_plain_tokens {
        let mc = Api::<ManagedCluster>::namespaced(ctx.client.clone(), &ns)
            .get_opt(&status.managed_cluster_name)
            .await?;
        let used = mc
            .and_then(|mc| mc.status)
            .is_some_and(|s| s.last_observed_time.is_some());
        if used {
            let patch = serde_json::json!({"status": {"token": null}});
            let removed = Api::<ClusterRegistrationRequest>::all(ctx.client.clone())
                .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .context("removing the used token from the request")?;
            // Our own write: nothing to maintain again for it.
            ctx.maintained().insert(
                name.to_string(),
                removed.metadata.resource_version.unwrap_or_default(),
            );
            tracing::info!(request = %name, "the cluster has used its token: removed it from the request's status");
        }
    }
    Ok(())
}

/// The first object of kind `K` in `ns` carrying the cluster's ownership labels.
async fn find_owned<K>(ctx: &Ctx, ns: &str, cluster: &Cluster<'_>) -> Result<Option<String>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    Ok(api
        .list(&ListParams::default().labels(&cluster.selector()))
        .await?
        .items
        .into_iter()
        .find_map(|o| o.meta().name.clone()))
}

/// Whether no cluster may have `name` as its namespace.
fn is_reserved_namespace(ctx: &Ctx, name: &str) -> bool {
    name.starts_with("kube-") || ctx.reserved_namespaces.iter().any(|r| r == name)
}

/// Creates `name` for the cluster, or finds it already the cluster's: `Ok(Err(_))` when it
/// exists and is not.
async fn claim_namespace(
    api: &Api<Namespace>,
    cluster: &Cluster<'_>,
    name: &str,
) -> Result<Result<String, Denied>> {
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(namespace_labels(&cluster.owned)),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&PostParams::default(), &namespace).await {
        Ok(_) => Ok(Ok(name.to_string())),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let existing = api.get(name).await?;
            if cluster.owns(&existing.metadata) {
                Ok(Ok(name.to_string()))
            } else {
                Ok(Err(Denied(format!(
                    "namespace {name:?} already exists and does not belong to cluster {}: request another one, or none (the parent then names it)",
                    cluster.id
                ))))
            }
        }
        Err(err) => Err(err).context("creating the dedicated namespace"),
    }
}

async fn ensure_namespace(
    ctx: &Ctx,
    crr: &ClusterRegistrationRequest,
    cluster: &Cluster<'_>,
) -> Result<Result<String, Denied>> {
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    // One made before (by this version or an older one, whose names were random).
    let existing = namespaces
        .list(&ListParams::default().labels(&cluster.selector()))
        .await?
        .items
        .into_iter()
        .find_map(|ns| ns.metadata.name);
    let claimed = match existing {
        Some(ns) => Ok(ns),
        None => {
            let requested = crr.spec.cluster_namespace.as_str();
            if requested.is_empty() {
                claim_namespace(&namespaces, cluster, &dedicated_name(cluster.id)).await?
            } else if is_reserved_namespace(ctx, requested) {
                Err(Denied(format!(
                    "namespace {requested:?} is reserved and cannot be a cluster's dedicated namespace"
                )))
            } else {
                claim_namespace(&namespaces, cluster, requested).await?
            }
        }
    };
    if let Ok(ns) = &claimed {
        label_namespace(ctx, ns).await?;
    }
    Ok(claimed)
}

fn namespace_labels(owned: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut l = owned.clone();
    for mode in ["enforce", "audit", "warn"] {
        l.insert(
            format!("pod-security.kubernetes.io/{mode}"),
            POD_SECURITY.into(),
        );
    }
    l
}

/// The Pod Security labels, on new and existing (older versions') namespaces.
async fn label_namespace(ctx: &Ctx, ns: &str) -> Result<()> {
    let patch = serde_json::json!({"metadata": {"labels": namespace_labels(&BTreeMap::new())}});
    Api::<Namespace>::all(ctx.client.clone())
        .patch(ns, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("labelling namespace {ns}"))?;
    Ok(())
}

async fn ensure_managed_cluster(
    ctx: &Ctx,
    crr: &ClusterRegistrationRequest,
    cluster: &Cluster<'_>,
    ns: &str,
) -> Result<String> {
    let api: Api<ManagedCluster> = Api::namespaced(ctx.client.clone(), ns);
    // Found by its ID within the dedicated namespace (never by a label alone).
    let existing = api
        .list(&ListParams::default().labels(&cluster.selector()))
        .await?
        .items
        .into_iter()
        .find(|mc| mc.spec.cluster_id == cluster.id)
        .and_then(|mc| mc.metadata.name);
    if let Some(name) = existing {
        return Ok(name);
    }
    let mut mc_labels: BTreeMap<String, String> = crr
        .spec
        .cluster_labels
        .iter()
        .filter(|(k, _)| {
            let reserved = is_reserved_label(k);
            if reserved {
                tracing::warn!(request = %cluster.request, label = %k, "dropping a reserved label key from spec.clusterLabels");
            }
            !reserved
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    mc_labels.extend(cluster.owned.clone());
    let mut mc = ManagedCluster::new(
        cluster.name,
        ManagedClusterSpec {
            cluster_id: cluster.id.to_string(),
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
    match api.create(&PostParams::default(), &mc).await {
        Ok(_) => Ok(cluster.name.to_string()),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let existing = api.get(cluster.name).await?;
            if existing.spec.cluster_id == cluster.id {
                Ok(cluster.name.to_string())
            } else {
                bail!(
                    "ManagedCluster {ns}/{} exists for cluster {:?}",
                    cluster.name,
                    existing.spec.cluster_id
                )
            }
        }
        Err(err) => Err(err).context("creating the ManagedCluster"),
    }
}

async fn ensure_service_account(ctx: &Ctx, cluster: &Cluster<'_>, ns: &str) -> Result<String> {
    let name = match find_owned::<ServiceAccount>(ctx, ns, cluster).await? {
        Some(name) => name,
        None => {
            let name = dedicated_name(cluster.id);
            let sa = ServiceAccount {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    labels: Some(cluster.owned.clone()),
                    ..Default::default()
                },
                ..Default::default()
            };
            match Api::<ServiceAccount>::namespaced(ctx.client.clone(), ns)
                .create(&PostParams::default(), &sa)
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(err) => return Err(err).context("creating the ServiceAccount"),
            }
            name
        }
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    if secrets.get_opt(&name).await?.is_none() {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                annotations: Some(labels(&[("kubernetes.io/service-account.name", &name)])),
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
    Ok(name)
}

async fn set_status(
    api: &Api<ClusterRegistrationRequest>,
    name: &str,
    status: ClusterRegistrationRequestStatus,
) -> Result<ClusterRegistrationRequest> {
    let patch = serde_json::json!({"status": status});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .context("updating the request status")
}

/// The token and CA the token controller fills into Secret `name`, watched for (up to 30 s).
async fn wait_for_token(
    secrets: &Api<Secret>,
    name: &str,
) -> Result<(k8s_openapi::ByteString, k8s_openapi::ByteString)> {
    fn filled(secret: &Secret) -> Option<(k8s_openapi::ByteString, k8s_openapi::ByteString)> {
        let data = secret.data.as_ref()?;
        let (token, ca) = (data.get("token")?, data.get("ca.crt")?);
        (!token.0.is_empty() && !ca.0.is_empty()).then(|| (token.clone(), ca.clone()))
    }
    let secret = match tokio::time::timeout(
        Duration::from_secs(30),
        kube::runtime::wait::await_condition(secrets.clone(), name, |s: Option<&Secret>| {
            s.and_then(filled).is_some()
        }),
    )
    .await
    {
        Ok(watched) => watched.with_context(|| format!("watching Secret {name}"))?,
        Err(_) => None,
    };
    secret
        .as_ref()
        .and_then(filled)
        .with_context(|| format!("the token controller has not filled in Secret {name} yet"))
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

/// What a cluster's identity may do outside its namespace: read its own registration request
/// (`create` cannot be limited by name: an agent whose request was deleted files it again), and
/// use its own socket.
pub fn cluster_rules(cluster_id: &str, sockets: bool) -> Vec<PolicyRule> {
    let request = format!("{}{cluster_id}", known::NAME_PREFIX_FOR_CLUSTERNET_OBJECTS);
    let mut rules = vec![
        rule(
            &[known::CLUSTERS_GROUP],
            &["clusterregistrationrequests"],
            &[],
            &["create"],
        ),
        rule(
            &[known::CLUSTERS_GROUP],
            &["clusterregistrationrequests"],
            &[&request],
            &["get"],
        ),
    ];
    if sockets {
        rules.push(rule(
            &[known::PROXIES_GROUP],
            &["sockets"],
            &[cluster_id],
            &["*"],
        ));
    }
    rules
}

/// Exactly what the agent does in its dedicated namespace, one rule per use. Nothing here lets
/// it run pods, mint tokens, grant roles, create ManagedClusters or change its own (a
/// ValidatingAdmissionPolicy in deploy/controller-manager keeps its spec and identity labels
/// out of its reach, as RBAC cannot).
pub fn namespace_rules() -> Vec<PolicyRule> {
    let clusters = known::CLUSTERS_GROUP;
    let apps = known::APPS_GROUP;
    vec![
        // Heartbeat: find its ManagedCluster, write the status, aggregate node labels onto it.
        rule(
            &[clusters],
            &["managedclusters"],
            &[],
            &["get", "list", "watch", "patch"],
        ),
        rule(
            &[clusters],
            &["managedclusters/status"],
            &[],
            &["get", "update", "patch"],
        ),
        // Liveness: its heartbeat Lease, renewed every update period (the status is written
        // only when it changes).
        rule(
            &["coordination.k8s.io"],
            &["leases"],
            &[],
            &["get", "create", "update"],
        ),
        // Pull mode: apply its Descriptions, hold them with a finalizer, report their status.
        rule(
            &[apps],
            &["descriptions"],
            &[],
            &["get", "list", "watch", "patch", "update"],
        ),
        rule(
            &[apps],
            &["descriptions/status"],
            &[],
            &["get", "update", "patch"],
        ),
        // Pull mode: install its HelmReleases, hold them with a finalizer, report their status.
        rule(
            &[apps],
            &["helmreleases"],
            &[],
            &["get", "list", "watch", "patch", "update"],
        ),
        rule(
            &[apps],
            &["helmreleases/status"],
            &[],
            &["get", "update", "patch"],
        ),
        // Upload the child's CA and deployer token (create cannot be limited by name).
        rule(&[""], &["secrets"], &[], &["create"]),
        rule(
            &[""],
            &["secrets"],
            &[known::CHILD_CLUSTER_SECRET_NAME],
            &["get", "update", "patch"],
        ),
        // Gate MultiClusterService: its exported Services' EndpointSlices.
        rule(
            &["discovery.k8s.io"],
            &["endpointslices"],
            &[],
            &[
                "get",
                "list",
                "watch",
                "create",
                "update",
                "patch",
                "delete",
                "deletecollection",
            ],
        ),
        // East-west: the imports the controller-manager hands it (finalizer is the agent's).
        rule(
            &["multicluster.x-k8s.io"],
            &["serviceimports"],
            &[],
            &["get", "list", "watch", "patch", "update"],
        ),
        // Events about its Descriptions.
        rule(
            &["", "events.k8s.io"],
            &["events"],
            &[],
            &["create", "patch", "update"],
        ),
    ]
}

async fn ensure_rbac(ctx: &Ctx, cluster_id: &str, ns: &str, sa_name: &str) -> Result<()> {
    let subject = Subject {
        kind: "ServiceAccount".into(),
        name: sa_name.to_string(),
        namespace: Some(ns.to_string()),
        api_group: None,
    };
    let name = format!("{}{cluster_id}", known::NAME_PREFIX_FOR_CLUSTERNET_OBJECTS);
    let role = ClusterRole {
        metadata: rbac_meta(&name, None, &[(known::CLUSTER_ID_LABEL, cluster_id)]),
        rules: Some(cluster_rules(cluster_id, ctx.socket_connection)),
        aggregation_rule: None,
    };
    apply(&Api::<ClusterRole>::all(ctx.client.clone()), &name, &role).await?;
    let binding = ClusterRoleBinding {
        metadata: rbac_meta(&name, None, &[(known::CLUSTER_ID_LABEL, cluster_id)]),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: name.clone(),
        },
        subjects: Some(vec![subject.clone()]),
    };
    apply(
        &Api::<ClusterRoleBinding>::all(ctx.client.clone()),
        &name,
        &binding,
    )
    .await?;
    let role = Role {
        metadata: rbac_meta(MANAGED_CLUSTER_ROLE, Some(ns), &[]),
        rules: Some(namespace_rules()),
    };
    apply(
        &Api::<Role>::namespaced(ctx.client.clone(), ns),
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
        &Api::<RoleBinding>::namespaced(ctx.client.clone(), ns),
        MANAGED_CLUSTER_ROLE,
        &binding,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_the_cluster_id() {
        let a = dedicated_name("6e0c7f2e-0c4a-4b8e-9a8e-3a1f8f0b2c11");
        assert_eq!(a, dedicated_name("6e0c7f2e-0c4a-4b8e-9a8e-3a1f8f0b2c11"));
        assert_ne!(a, dedicated_name("6e0c7f2e-0c4a-4b8e-9a8e-3a1f8f0b2c12"));
        assert!(a.starts_with("clusternet-") && a.len() == "clusternet-".len() + 10);
    }

    #[test]
    fn reserved_labels() {
        for k in [
            "clusters.clusternet.io/cluster-id",
            "clusters.clusternet.io/cluster-name",
            "clusternet.io/created-by",
            "apps.clusternet.io/subs.name",
        ] {
            assert!(is_reserved_label(k), "{k}");
        }
        for k in ["node.clusternet.io/zone", "region", "example.com/team"] {
            assert!(!is_reserved_label(k), "{k}");
        }
    }

    #[test]
    fn a_cluster_cannot_escalate_in_its_namespace() {
        let rules = namespace_rules();
        let grants = |group: &str, resource: &str, verb: &str| {
            rules.iter().any(|r| {
                r.api_groups
                    .iter()
                    .flatten()
                    .any(|g| g == group || g == "*")
                    && r.resources
                        .iter()
                        .flatten()
                        .any(|x| x == resource || x == "*")
                    && r.verbs.iter().any(|v| v == verb || v == "*")
            })
        };
        for (g, r, v) in [
            ("", "pods", "create"),
            ("", "serviceaccounts", "create"),
            ("", "serviceaccounts/token", "create"),
            ("rbac.authorization.k8s.io", "rolebindings", "create"),
            ("rbac.authorization.k8s.io", "roles", "create"),
            ("apps", "deployments", "create"),
            ("clusters.clusternet.io", "managedclusters", "create"),
            ("clusters.clusternet.io", "managedclusters", "update"),
            ("clusters.clusternet.io", "managedclusters", "delete"),
            ("", "secrets", "list"),
        ] {
            assert!(!grants(g, r, v), "{v} {g}/{r} must not be granted");
        }
        assert!(grants(
            "clusters.clusternet.io",
            "managedclusters/status",
            "update"
        ));
        assert!(grants("apps.clusternet.io", "descriptions/status", "patch"));
        assert!(grants("apps.clusternet.io", "helmreleases/status", "patch"));
        assert!(!grants("apps.clusternet.io", "helmreleases", "create"));
        assert!(!grants("apps.clusternet.io", "helmcharts", "update"));
        let cluster = cluster_rules("abc", true);
        assert!(cluster.iter().all(|r| r.verbs != ["get"]
            || r.resource_names.as_deref() == Some(&["clusternet-abc".to_string()][..])));
    }
}
