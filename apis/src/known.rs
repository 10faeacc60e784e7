//! Well-known names shared by Clusternet's components: labels, annotations, finalizers, taints,
//! namespaces, service accounts, secrets and their data keys, HTTP headers and a few defaults.
//!
//! The values are identical to Go Clusternet's `pkg/known` package (plus a handful of constants
//! that Go keeps next to the code using them, noted where they come from).

use std::time::Duration;

// ----------------------------------------------------------------------------------------------
// API groups.

/// The group of `ClusterRegistrationRequest` and `ManagedCluster`.
pub const CLUSTERS_GROUP: &str = crate::clusters::GROUP_NAME;

/// The group of subscriptions, feeds, overrides, Helm charts and releases.
pub const APPS_GROUP: &str = crate::apps::GROUP_NAME;

/// The group of the hub's socket proxy (aggregated API).
pub const PROXIES_GROUP: &str = crate::proxies::GROUP_NAME;

/// The group of the hub's shadow API (aggregated API). The group name is literally `shadow`.
pub const SHADOW_GROUP: &str = "shadow";

/// The version of the shadow API.
pub const SHADOW_VERSION: &str = "v1alpha1";

/// The group of the Multi-Cluster Services API.
pub const MULTICLUSTER_GROUP: &str = crate::multicluster::GROUP_NAME;

/// The category of every Clusternet CRD and of the `sockets` resource (`kubectl get clusternet`).
pub const CLUSTERNET_CATEGORY: &str = "clusternet";

// ----------------------------------------------------------------------------------------------
// Annotations.

/// Set to "false" to stop Clusternet from reconciling an object.
pub const AUTO_UPDATE_ANNOTATION: &str = "clusternet.io/autoupdate";

/// Explains why an object is protected because it is used as a feed.
pub const FEED_PROTECTION_ANNOTATION: &str = "apps.clusternet.io/feed-protection";

/// Skip validation when shadow resources are dry-run: lets a custom resource be created without
/// its CRD existing in the parent cluster.
pub const SKIP_VALIDATING_ANNOTATION: &str = "apps.clusternet.io/skip-validating";

/// The Description (`<namespace>.<name>`) that owns an object deployed to a child cluster.
pub const OBJECT_OWNED_BY_DESCRIPTION_ANNOTATION: &str = "apps.clusternet.io/owned-by-description";

/// The previous configuration of an object, for three-way diffs.
pub const LAST_APPLIED_CONFIG_ANNOTATION: &str = "clusternet.io/last-applied-configuration";

/// Marks a Subscription or Base as the default cluster initialisation workload; passed down from
/// the Subscription to its Bases.
pub const IS_DEFAULT_CLUSTER_INIT_ANNOTATION: &str = "apps.clusternet.io/is-default-cluster-init";

/// On a ManagedCluster: the name of the Base used to initialise it after joining (mainly for
/// clusters that joined before the feature existed).
pub const CLUSTER_INIT_BASE_ANNOTATION: &str = "apps.clusternet.io/cluster-init-base";

/// On a ManagedCluster: do not initialise this cluster.
pub const CLUSTER_INIT_SKIP_ANNOTATION: &str = "clusters.clusternet.io/skip-cluster-init";

// ----------------------------------------------------------------------------------------------
// Labels.

/// Prefix of the node labels that are aggregated onto ManagedClusters.
pub const NODE_LABELS_KEY_PREFIX: &str = "node.clusternet.io/";

/// Who registered a cluster (value: [`CLUSTERNET_AGENT_NAME`]).
pub const CLUSTER_REGISTERED_BY_LABEL: &str = "clusters.clusternet.io/registered-by";

/// The ID of the child cluster an object belongs to.
pub const CLUSTER_ID_LABEL: &str = "clusters.clusternet.io/cluster-id";

/// The name of the child cluster an object belongs to.
pub const CLUSTER_NAME_LABEL: &str = "clusters.clusternet.io/cluster-name";

/// How credentials or RBAC objects were bootstrapped ([`CREDENTIALS_AUTO`], [`RBAC_DEFAULTS`]).
pub const CLUSTER_BOOTSTRAPPING_LABEL: &str = "clusters.clusternet.io/bootstrapping";

/// The Clusternet component that created an object ([`CLUSTERNET_AGENT_NAME`],
/// [`CLUSTERNET_HUB_NAME`], [`CLUSTERNET_CTRL_MGR_NAME`]).
pub const OBJECT_CREATED_BY_LABEL: &str = "clusternet.io/created-by";

/// The API group of the object this object comes from or is controlled by.
pub const CONFIG_GROUP_LABEL: &str = "apps.clusternet.io/config.group";

/// The API version of the object this object comes from or is controlled by.
pub const CONFIG_VERSION_LABEL: &str = "apps.clusternet.io/config.version";

/// The kind of the object this object comes from or is controlled by.
pub const CONFIG_KIND_LABEL: &str = "apps.clusternet.io/config.kind";

/// The name of the object this object comes from or is controlled by.
pub const CONFIG_NAME_LABEL: &str = "apps.clusternet.io/config.name";

/// The namespace of the object this object comes from or is controlled by.
pub const CONFIG_NAMESPACE_LABEL: &str = "apps.clusternet.io/config.namespace";

/// The UID of the object this object comes from or is controlled by.
pub const CONFIG_UID_LABEL: &str = "apps.clusternet.io/config.uid";

/// The UID of the Subscription an object was derived from.
pub const CONFIG_SUBSCRIPTION_UID_LABEL: &str = "apps.clusternet.io/subs.uid";

/// The name of the Subscription an object was derived from.
pub const CONFIG_SUBSCRIPTION_NAME_LABEL: &str = "apps.clusternet.io/subs.name";

/// The namespace of the Subscription an object was derived from.
pub const CONFIG_SUBSCRIPTION_NAMESPACE_LABEL: &str = "apps.clusternet.io/subs.namespace";

/// The name of the multi-cluster service an object belongs to.
pub const LABEL_SERVICE_NAME: &str = "services.clusternet.io/multi-cluster-service-name";

/// The namespace of the multi-cluster service an object belongs to.
pub const LABEL_SERVICE_NAMESPACE: &str = "services.clusternet.io/multi-cluster-service-namespace";

/// Value of [`CLUSTER_BOOTSTRAPPING_LABEL`]: credentials created automatically.
pub const CREDENTIALS_AUTO: &str = "credentials-auto";

/// Value of [`CLUSTER_BOOTSTRAPPING_LABEL`]: default RBAC objects.
pub const RBAC_DEFAULTS: &str = "rbac-defaults";

/// The name of the agent; value of [`OBJECT_CREATED_BY_LABEL`] and
/// [`CLUSTER_REGISTERED_BY_LABEL`], and the name of the agent's Lease.
pub const CLUSTERNET_AGENT_NAME: &str = "clusternet-agent";

/// The name of the hub; value of [`OBJECT_CREATED_BY_LABEL`].
pub const CLUSTERNET_HUB_NAME: &str = "clusternet-hub";

/// The name of the controller manager; value of [`OBJECT_CREATED_BY_LABEL`].
pub const CLUSTERNET_CTRL_MGR_NAME: &str = "clusternet-controller-manager";

// ----------------------------------------------------------------------------------------------
// Finalizers.

/// Clusternet's generic finalizer.
pub const APP_FINALIZER: &str = "apps.clusternet.io/finalizer";

/// Keeps an object used as a feed from being deleted while subscriptions still use it.
pub const FEED_PROTECTION_FINALIZER: &str = "apps.clusternet.io/feed-protection";

// ----------------------------------------------------------------------------------------------
// Taints and the reasons of the `ClusterInit` condition.

/// Taint key added while a cluster is unschedulable, removed when it is schedulable again.
pub const TAINT_CLUSTER_UNSCHEDULABLE: &str = "clusters.clusternet.io/unschedulable";

/// Taint key added while a newly joined cluster is being initialised, removed afterwards.
pub const TAINT_CLUSTER_INITIALIZATION: &str = "clusters.clusternet.io/initialization";

/// Reason of the `ClusterInit` condition: waiting for the initialisation.
pub const CLUSTER_INIT_WAITING_REASON: &str = "ClusterInitWaiting";

/// Reason of the `ClusterInit` condition: initialisation is disabled.
pub const CLUSTER_INIT_DISABLED_REASON: &str = "ClusterInitDisabled";

/// Reason of the `ClusterInit` condition: initialisation is done.
pub const CLUSTER_INIT_DONE_REASON: &str = "ClusterInitDone";

// ----------------------------------------------------------------------------------------------
// Namespaces, service accounts, secrets.

/// Prefix of the objects Clusternet generates for a child cluster (namespaces, service accounts,
/// registration requests, ...).
pub const NAME_PREFIX_FOR_CLUSTERNET_OBJECTS: &str = "clusternet-";

/// The default namespace of Clusternet's system components (re-configurable with
/// `--leader-elect-resource-namespace`).
pub const CLUSTERNET_SYSTEM_NAMESPACE: &str = "clusternet-system";

/// The namespace where the hub stores Manifests.
pub const CLUSTERNET_RESERVED_NAMESPACE: &str = "clusternet-reserved";

/// The service account whose credentials are used to deploy resources to a child cluster.
pub const CLUSTERNET_APP_SA: &str = "clusternet-app-deployer";

/// The service account used to proxy requests to child clusters; also used by the deployer in
/// clusternet-controller-manager when `--anonymous-auth-supported=false`.
pub const CLUSTERNET_HUB_PROXY_SERVICE_ACCOUNT: &str = "clusternet-hub-proxy";

/// The secret, in a cluster's dedicated namespace of the parent cluster, that holds the child
/// cluster's credentials for the deployer.
pub const CHILD_CLUSTER_SECRET_NAME: &str = "child-cluster-deployer";

/// The secret, in the agent's namespace of the child cluster, that holds the credentials for the
/// parent cluster once registration is approved (Go: `pkg/agent/options`).
pub const PARENT_CLUSTER_SECRET_NAME: &str = "parent-cluster";

/// Secret data key: the advertised address of a kube-apiserver.
pub const CLUSTER_API_SERVER_URL_KEY: &str = "apiserver-advertise-url";

/// Secret data key: the CA certificate (Kubernetes' `ca.crt`).
pub const SECRET_CA_CERT_KEY: &str = "ca.crt";

/// Secret data key: the bearer token (Kubernetes' `token`).
pub const SECRET_TOKEN_KEY: &str = "token";

/// Secret data key: the namespace (Kubernetes' `namespace`).
pub const SECRET_NAMESPACE_KEY: &str = "namespace";

/// Secret data key of [`CHILD_CLUSTER_SECRET_NAME`]: the name of the service account (Go:
/// `pkg/agent/deployer`).
pub const SERVICE_ACCOUNT_NAME_KEY: &str = "service-account.name";

/// Secret data key of [`CHILD_CLUSTER_SECRET_NAME`]: the UID of the service account (Go:
/// `pkg/agent/deployer`).
pub const SERVICE_ACCOUNT_UID_KEY: &str = "service-account.uid";

/// The prefix of cluster registration names (Go: `pkg/agent/options`).
pub const REGISTRATION_NAME_PREFIX: &str = "clusternet-cluster";

/// The resource name of NVIDIA GPUs, summed up in ManagedCluster capacity.
pub const NVIDIA_GPU_RESOURCE_NAME: &str = "nvidia.com/gpu";

// ----------------------------------------------------------------------------------------------
// HTTP headers.

/// The prefix of Clusternet's HTTP headers.
pub const HEADER_PREFIX_KEY: &str = "Clusternet-";

/// Carries a bearer token for the child cluster through the proxy.
pub const TOKEN_HEADER_KEY: &str = "Clusternet-Token";

/// Carries a client certificate for the child cluster through the proxy.
pub const CERTIFICATE_HEADER_KEY: &str = "Clusternet-Certificate";

/// Carries a client private key for the child cluster through the proxy.
pub const PRIVATE_KEY_HEADER_KEY: &str = "Clusternet-PrivateKey";

// ----------------------------------------------------------------------------------------------
// Defaults and limits.

/// The default informer resync period.
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(12 * 60 * 60);

/// The default retry period.
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(5);

/// No informer resync.
pub const NO_RESYNC_PERIOD: Duration = Duration::ZERO;

/// The default number of workers of a controller.
pub const DEFAULT_THREADINESS: usize = 10;

/// The maximum length of an event note.
pub const NOTE_LENGTH_LIMIT: usize = 1024;

/// The default length of random IDs.
pub const DEFAULT_RANDOM_ID_LENGTH: usize = 5;

/// The category of the resources served by the shadow API.
pub const CATEGORY: &str = "clusternet.shadow";

/// Informer index of objects by Subscription UID.
pub const INDEX_KEY_FOR_SUBSCRIPTION_UID: &str = "subUid";

/// Informer index of objects by Base UID.
pub const INDEX_KEY_FOR_BASE_UID: &str = "baseUid";

// ----------------------------------------------------------------------------------------------
// JSON pointers of fields ignored when objects are compared.

/// `/metadata/generation`.
pub const META_GENERATION: &str = "/metadata/generation";

/// `/metadata/creationTimestamp`.
pub const CREATION_TIMESTAMP: &str = "/metadata/creationTimestamp";

/// `/metadata/managedFields`.
pub const MANAGED_FIELDS: &str = "/metadata/managedFields";

/// `/metadata/uid`.
pub const META_UID: &str = "/metadata/uid";

/// `/metadata/selfLink`.
pub const META_SELFLINK: &str = "/metadata/selfLink";

/// `/metadata/resourceVersion`.
pub const META_RESOURCE_VERSION: &str = "/metadata/resourceVersion";

/// `/status`.
pub const SECTION_STATUS: &str = "/status";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_prefixed() {
        for header in [
            TOKEN_HEADER_KEY,
            CERTIFICATE_HEADER_KEY,
            PRIVATE_KEY_HEADER_KEY,
        ] {
            assert!(header.starts_with(HEADER_PREFIX_KEY), "{header}");
        }
    }

    #[test]
    fn groups() {
        assert_eq!(CLUSTERS_GROUP, "clusters.clusternet.io");
        assert_eq!(APPS_GROUP, "apps.clusternet.io");
        assert_eq!(PROXIES_GROUP, "proxies.clusternet.io");
        assert_eq!(MULTICLUSTER_GROUP, "multicluster.x-k8s.io");
        assert_eq!(DEFAULT_RESYNC.as_secs(), 43_200);
    }
}
