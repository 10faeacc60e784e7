//! `shadow/v1alpha1`: a mirror of every resource kind the parent serves, stored as Manifests —
//! the templates that Subscriptions deploy.
//!
//! - [`catalog`]: which resources are mirrored (from the parent's aggregated discovery);
//! - [`sync`]: keeps that set, the hub's discovery and the OpenAPI documents current as CRDs
//!   and APIServices come and go on the parent;
//! - [`handlers`]: the verbs, on Manifests in the reserved namespace ([`store`]);
//! - [`encode`]: JSON, Table (kube-apiserver's printers, `clusternet-printers`) and
//!   PartialObjectMetadata output.

pub mod catalog;
pub mod encode;
pub mod handlers;
pub mod parent;
pub mod store;
pub mod sync;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use http::{Request, Response};

use crate::body::Body;
use crate::request_info::RequestInfo;
use crate::router::GroupHandler;
use crate::status::ApiError;
use catalog::ShadowResource;
use clusternet_printers::TableConvertor;
use handlers::State;

/// API group (literally `shadow`).
pub const GROUP: &str = clusternet_apis::known::SHADOW_GROUP;
/// API version.
pub const VERSION: &str = clusternet_apis::known::SHADOW_VERSION;

/// The group-version before the parent's resources are known.
pub fn api_group_version() -> clusternet_openapi::ApiGroupVersion {
    catalog::group_version(&[])
}

/// A mirrored resource and how its objects print as a Table.
#[derive(Clone, Debug)]
pub struct Mirrored {
    /// The resource.
    pub resource: ShadowResource,
    /// Its columns: the parent's printer for built-in kinds, the CRD's printer columns for
    /// custom resources, else NAME / CREATED AT.
    pub table: TableConvertor,
    /// The columns of its `scale` subresource's `autoscaling/v1 Scale`: kube-apiserver's Scale
    /// printer, or for custom resources the CRD's scale columns (Desired, Available, Age).
    pub scale_table: TableConvertor,
    /// Strategic merge patch metadata: the original kind's schema in the parent's OpenAPI
    /// (None for custom resources, which take no strategic merge patch).
    pub patch_schema: Option<PatchSchema>,
}

/// A kind's schema and the `components.schemas` its `$ref`s resolve in.
#[derive(Clone, Debug)]
pub struct PatchSchema {
    /// All schemas of the source group-version's document.
    pub schemas: Arc<serde_json::Map<String, serde_json::Value>>,
    /// The kind's schema name in `schemas`.
    pub name: String,
}

/// The mirrored resources by plural, replaced whole by [`sync`].
#[derive(Clone, Debug, Default)]
pub struct Resources {
    current: Arc<RwLock<Arc<BTreeMap<String, Mirrored>>>>,
}

impl Resources {
    /// The resource for `plural`.
    pub fn get(&self, plural: &str) -> Option<Mirrored> {
        self.current.read().ok()?.get(plural).cloned()
    }

    /// Replaces the set; returns whether the resources (not just their columns) changed.
    pub fn set(&self, resources: Vec<Mirrored>) -> bool {
        let next: BTreeMap<String, Mirrored> = resources
            .into_iter()
            .map(|m| (m.resource.plural.clone(), m))
            .collect();
        let Ok(mut guard) = self.current.write() else {
            return false;
        };
        let same = guard.len() == next.len()
            && guard
                .iter()
                .zip(next.iter())
                .all(|((_, a), (_, b))| a.resource == b.resource);
        *guard = Arc::new(next);
        !same
    }

    /// Whether the set has been loaded at least once.
    pub fn len(&self) -> usize {
        self.current.read().map(|g| g.len()).unwrap_or(0)
    }

    /// Whether no resource is mirrored (yet).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The handler of the group.
#[derive(Clone, Debug)]
pub struct Shadow {
    state: Arc<State>,
    resources: Resources,
}

impl Shadow {
    /// A handler storing into `reserved_namespace` of `parent`, serving `resources`.
    pub fn new(parent: kube::Client, reserved_namespace: String, resources: Resources) -> Self {
        Self {
            state: Arc::new(State {
                parent: parent::Parent::new(parent),
                reserved_namespace,
            }),
            resources,
        }
    }
}

impl GroupHandler for Shadow {
    fn handle(
        &self,
        req: Request<Body>,
        info: RequestInfo,
    ) -> BoxFuture<'static, Result<Response<Body>, ApiError>> {
        let state = self.state.clone();
        let resource = self.resources.get(&info.resource);
        Box::pin(async move {
            let Some(resource) = resource else {
                return Err(handlers::unknown_resource(&info));
            };
            handlers::handle(&state, &resource, req, &info).await
        })
    }
}
