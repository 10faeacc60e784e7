//! `shadow/v1alpha1`: a mirror of every resource kind the parent serves, stored as Manifests.

use futures::future::BoxFuture;
use http::{Request, Response};

use crate::body::Body;
use crate::request_info::RequestInfo;
use crate::router::GroupHandler;
use crate::status::ApiError;

/// API group (literally `shadow`).
pub const GROUP: &str = clusternet_apis::known::SHADOW_GROUP;
/// API version.
pub const VERSION: &str = clusternet_apis::known::SHADOW_VERSION;

/// The group-version before the parent's resources are known.
pub fn api_group_version() -> clusternet_openapi::ApiGroupVersion {
    clusternet_openapi::ApiGroupVersion::new(
        clusternet_openapi::GroupVersion::new(GROUP, VERSION),
        Vec::new(),
    )
}

/// The handler of the group.
#[derive(Debug)]
pub struct Shadow;

impl GroupHandler for Shadow {
    fn handle(
        &self,
        _req: Request<Body>,
        _info: RequestInfo,
    ) -> BoxFuture<'static, Result<Response<Body>, ApiError>> {
        Box::pin(async move { Err(ApiError::path_not_found()) })
    }
}
