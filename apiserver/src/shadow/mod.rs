//! `shadow/v1alpha1`: a mirror of every resource kind the parent serves, stored as Manifests.

use futures::future::BoxFuture;
use http::{Request, Response};

use crate::body::Body;
use crate::discovery::{ApiGroup, ApiVersion};
use crate::request_info::RequestInfo;
use crate::router::GroupHandler;
use crate::status::ApiError;

/// API group (literally `shadow`).
pub const GROUP: &str = clusternet_apis::known::SHADOW_GROUP;
/// API version.
pub const VERSION: &str = clusternet_apis::known::SHADOW_VERSION;

/// Discovery of the group before the parent's resources are known.
pub fn api_group() -> ApiGroup {
    ApiGroup {
        name: GROUP.into(),
        versions: vec![ApiVersion {
            version: VERSION.into(),
            resources: Vec::new(),
        }],
    }
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
