//! `proxies.clusternet.io/v1alpha1`: the `sockets` resource (the tunnel endpoint agents dial)
//! and its `proxy` subresource (requests carried into child clusters).

use futures::future::BoxFuture;
use http::{Request, Response};

use crate::body::Body;
use crate::request_info::RequestInfo;
use crate::router::GroupHandler;
use crate::status::ApiError;

/// API group.
pub const GROUP: &str = clusternet_apis::known::PROXIES_GROUP;
/// API version.
pub const VERSION: &str = "v1alpha1";

/// The group-version as Clusternet's hub serves it: `sockets` (cluster-scoped, short name `ss`,
/// category `clusternet`) and `sockets/proxy`, both connect-only.
pub fn api_group_version() -> clusternet_openapi::ApiGroupVersion {
    clusternet_openapi::proxies::api_group_version()
}

/// The handler of the group.
#[derive(Debug)]
pub struct Proxies {
    socket_connection: bool,
}

impl Proxies {
    /// A handler; `socket_connection` is the SocketConnection feature gate.
    pub fn new(socket_connection: bool) -> Self {
        Self { socket_connection }
    }
}

impl GroupHandler for Proxies {
    fn handle(
        &self,
        _req: Request<Body>,
        info: RequestInfo,
    ) -> BoxFuture<'static, Result<Response<Body>, ApiError>> {
        let enabled = self.socket_connection;
        Box::pin(async move {
            if info.resource != "sockets" || info.name.is_empty() {
                return Err(ApiError::path_not_found());
            }
            if !enabled {
                return Err(ApiError::unavailable(
                    "featuregate SocketConnection has not been enabled on the server side",
                ));
            }
            Err(ApiError::unavailable(format!(
                "cannot proxy through cluster {}, whose agent is disconnected",
                info.name
            )))
        })
    }
}
