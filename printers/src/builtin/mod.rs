//! Ports of kube-apiserver's built-in printers (`pkg/printers/internalversion`, Kubernetes
//! v1.36) over JSON objects.
//!
//! kube-apiserver prints the internal version of an object; the printers here read the external
//! JSON (any served version) and apply the few conversions that change what is printed
//! (`autoscaling/v1` HPAs, `events.k8s.io` Events, `podIP`/`podIPs`). Server-side tables are
//! always generated with `Wide: true`, so every row carries the priority-1 cells too.
//!
//! [`printer_for`] maps a group and kind to its printer, exactly for the kinds whose registry
//! uses the printers; other kinds (Role, ClusterRole, LimitRange, CSIStorageCapacity,
//! CustomResourceDefinition, …) use the default convertor, see [`crate::TableConvertor`].

mod apps;
pub(crate) mod columns;
mod core;
mod other;

use serde_json::Value;

use crate::duration::{Nanos, since_nanos};
use crate::obj;
use crate::table::{ColumnDefinition, RowCondition};

/// Context of one print call.
pub(crate) struct Ctx<'a> {
    /// "now", nanoseconds since the Unix epoch.
    pub now: Nanos,
    /// The API version the object is expressed in, when known (`autoscaling/v1`, …).
    pub api_version: &'a str,
}

impl Ctx<'_> {
    /// `translateTimestampSince` of an optional timestamp.
    pub fn since(&self, t: Option<Nanos>) -> String {
        since_nanos(t, self.now)
    }

    /// `translateTimestampSince(obj.CreationTimestamp)`.
    pub fn age(&self, o: &Value) -> String {
        self.since(obj::created(o))
    }
}

/// Cells (and row conditions) produced for one object.
pub(crate) struct Printed {
    pub cells: Vec<Value>,
    pub conditions: Vec<RowCondition>,
}

impl From<Vec<Value>> for Printed {
    fn from(cells: Vec<Value>) -> Self {
        Printed {
            cells,
            conditions: Vec::new(),
        }
    }
}

/// A print function.
pub(crate) type PrintFn = fn(&Value, &Ctx<'_>) -> Printed;

/// A registered printer: the handler's column definitions and print function.
#[derive(Debug)]
pub(crate) struct Printer {
    /// Column definitions as registered with `TableHandler`.
    pub columns: &'static [ColumnDefinition],
    /// The row function.
    pub print: PrintFn,
    /// Sorting applied by the list printer (FlowSchemas are printed in matching order).
    pub sort_list: Option<fn(&Value, &Value) -> std::cmp::Ordering>,
}

macro_rules! printer {
    ($cols:ident, $f:path) => {{
        const P: Printer = Printer {
            columns: columns::$cols,
            print: $f,
            sort_list: None,
        };
        &P
    }};
    ($cols:ident, $f:path, $sort:path) => {{
        const P: Printer = Printer {
            columns: columns::$cols,
            print: $f,
            sort_list: Some($sort),
        };
        &P
    }};
}

/// The printer kube-apiserver uses for `group`/`kind`, if it has one.
pub(crate) fn printer_for(group: &str, kind: &str) -> Option<&'static Printer> {
    let p: &'static Printer = match (group, kind) {
        ("", "Pod") => printer!(POD, core::pod),
        ("", "PodTemplate") => printer!(POD_TEMPLATE, core::pod_template),
        ("", "ReplicationController") => {
            printer!(REPLICATION_CONTROLLER, core::replication_controller)
        }
        ("", "Service") => printer!(SERVICE, core::service),
        ("", "Endpoints") => printer!(ENDPOINTS, core::endpoints),
        ("", "Node") => printer!(NODE, core::node),
        ("", "Event") => printer!(EVENT, core::event),
        ("events.k8s.io", "Event") => printer!(EVENT, core::events_v1_event),
        ("", "Namespace") => printer!(NAMESPACE, core::namespace),
        ("", "Secret") => printer!(SECRET, core::secret),
        ("", "ServiceAccount") => printer!(SERVICE_ACCOUNT, core::service_account),
        ("", "PersistentVolume") => printer!(PERSISTENT_VOLUME, core::persistent_volume),
        ("", "PersistentVolumeClaim") => {
            printer!(PERSISTENT_VOLUME_CLAIM, core::persistent_volume_claim)
        }
        ("", "ComponentStatus") => printer!(COMPONENT_STATUS, core::component_status),
        ("", "ConfigMap") => printer!(CONFIG_MAP, core::config_map),
        ("", "ResourceQuota") => printer!(RESOURCE_QUOTA, core::resource_quota),
        ("policy", "PodDisruptionBudget") => {
            printer!(POD_DISRUPTION_BUDGET, apps::pod_disruption_budget)
        }
        ("apps" | "extensions", "ReplicaSet") => printer!(REPLICA_SET, apps::replica_set),
        ("apps" | "extensions", "DaemonSet") => printer!(DAEMON_SET, apps::daemon_set),
        ("apps", "StatefulSet") => printer!(STATEFUL_SET, apps::stateful_set),
        ("apps" | "extensions", "Deployment") => printer!(DEPLOYMENT, apps::deployment),
        ("apps", "ControllerRevision") => printer!(CONTROLLER_REVISION, apps::controller_revision),
        ("batch", "Job") => printer!(JOB, apps::job),
        ("batch", "CronJob") => printer!(CRON_JOB, apps::cron_job),
        ("autoscaling", "HorizontalPodAutoscaler") => {
            printer!(HORIZONTAL_POD_AUTOSCALER, apps::horizontal_pod_autoscaler)
        }
        ("autoscaling", "Scale") => printer!(SCALE, apps::scale),
        ("networking.k8s.io" | "extensions", "Ingress") => printer!(INGRESS, other::ingress),
        ("networking.k8s.io", "IngressClass") => printer!(INGRESS_CLASS, other::ingress_class),
        ("networking.k8s.io" | "extensions", "NetworkPolicy") => {
            printer!(NETWORK_POLICY, other::network_policy)
        }
        ("networking.k8s.io", "ServiceCIDR") => printer!(SERVICE_CIDR, other::service_cidr),
        ("networking.k8s.io", "IPAddress") => printer!(IP_ADDRESS, other::ip_address),
        ("discovery.k8s.io", "EndpointSlice") => printer!(ENDPOINT_SLICE, other::endpoint_slice),
        ("rbac.authorization.k8s.io", "RoleBinding") => printer!(ROLE_BINDING, other::role_binding),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            printer!(CLUSTER_ROLE_BINDING, other::role_binding)
        }
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            printer!(
                CERTIFICATE_SIGNING_REQUEST,
                other::certificate_signing_request
            )
        }
        ("certificates.k8s.io", "ClusterTrustBundle") => {
            printer!(CLUSTER_TRUST_BUNDLE, other::cluster_trust_bundle)
        }
        ("certificates.k8s.io", "PodCertificateRequest") => {
            printer!(POD_CERTIFICATE_REQUEST, other::pod_certificate_request)
        }
        ("coordination.k8s.io", "Lease") => printer!(LEASE, other::lease),
        ("coordination.k8s.io", "LeaseCandidate") => {
            printer!(LEASE_CANDIDATE, other::lease_candidate)
        }
        ("storage.k8s.io", "StorageClass") => printer!(STORAGE_CLASS, other::storage_class),
        ("storage.k8s.io", "VolumeAttributesClass") => {
            printer!(VOLUME_ATTRIBUTES_CLASS, other::volume_attributes_class)
        }
        ("storage.k8s.io", "VolumeAttachment") => {
            printer!(VOLUME_ATTACHMENT, other::volume_attachment)
        }
        ("storage.k8s.io", "CSINode") => printer!(CSI_NODE, other::csi_node),
        ("storage.k8s.io", "CSIDriver") => printer!(CSI_DRIVER, other::csi_driver),
        ("scheduling.k8s.io", "PriorityClass") => printer!(PRIORITY_CLASS, other::priority_class),
        ("scheduling.k8s.io", "Workload") => printer!(WORKLOAD, other::name_age),
        ("scheduling.k8s.io", "PodGroup") => printer!(POD_GROUP, other::pod_group),
        ("node.k8s.io", "RuntimeClass") => printer!(RUNTIME_CLASS, other::runtime_class),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => {
            printer!(MUTATING_WEBHOOK_CONFIGURATION, other::webhook_configuration)
        }
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => {
            printer!(
                VALIDATING_WEBHOOK_CONFIGURATION,
                other::webhook_configuration
            )
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => {
            printer!(
                VALIDATING_ADMISSION_POLICY,
                other::validating_admission_policy
            )
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding") => {
            printer!(
                VALIDATING_ADMISSION_POLICY_BINDING,
                other::admission_policy_binding
            )
        }
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy") => {
            printer!(MUTATING_ADMISSION_POLICY, other::mutating_admission_policy)
        }
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding") => {
            printer!(
                MUTATING_ADMISSION_POLICY_BINDING,
                other::admission_policy_binding
            )
        }
        ("flowcontrol.apiserver.k8s.io", "FlowSchema") => {
            printer!(FLOW_SCHEMA, other::flow_schema, other::flow_schema_order)
        }
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration") => {
            printer!(
                PRIORITY_LEVEL_CONFIGURATION,
                other::priority_level_configuration
            )
        }
        ("internal.apiserver.k8s.io", "StorageVersion") => {
            printer!(STORAGE_VERSION, other::storage_version)
        }
        ("resource.k8s.io", "DeviceClass") => printer!(DEVICE_CLASS, other::name_age),
        ("resource.k8s.io", "ResourceClaim") => printer!(RESOURCE_CLAIM, other::resource_claim),
        ("resource.k8s.io", "ResourceClaimTemplate") => {
            printer!(RESOURCE_CLAIM_TEMPLATE, other::name_age)
        }
        ("resource.k8s.io", "ResourceSlice") => printer!(RESOURCE_SLICE, other::resource_slice),
        ("resource.k8s.io", "ResourcePoolStatusRequest") => {
            printer!(
                RESOURCE_POOL_STATUS_REQUEST,
                other::resource_pool_status_request
            )
        }
        ("resource.k8s.io", "DeviceTaintRule") => {
            printer!(DEVICE_TAINT_RULE, other::device_taint_rule)
        }
        ("storagemigration.k8s.io", "StorageVersionMigration") => {
            printer!(STORAGE_VERSION_MIGRATION, other::storage_version_migration)
        }
        _ => return None,
    };
    Some(p)
}

/// `layoutContainerCells`: comma separated container names and images.
pub(crate) fn layout_container_cells(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| obj::s(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| obj::s(c, &["image"])).collect();
    (names.join(","), images.join(","))
}

/// Shortcut for building a cell.
pub(crate) fn cell<T: Into<Value>>(v: T) -> Value {
    v.into()
}
