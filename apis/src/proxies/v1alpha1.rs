//! `proxies.clusternet.io/v1alpha1`: the `sockets` resource that clusternet-hub serves as an
//! aggregated API (not a CRD).
//!
//! `sockets` is a cluster-scoped "connecter" resource named by cluster ID; its `proxy`
//! subresource forwards a request to the child cluster, for example
//! `/apis/proxies.clusternet.io/v1alpha1/sockets/<cluster-id>/proxy/https/demo.com:6443`.
//! [`Socket`] is the options kind of that connect call.

use serde::{Deserialize, Serialize};

/// The API version.
pub const VERSION: &str = "v1alpha1";

/// `<group>/<version>`.
pub const API_VERSION: &str = "proxies.clusternet.io/v1alpha1";

/// The kind of the connect options.
pub const KIND: &str = "Socket";

/// The resource name.
pub const RESOURCE: &str = "sockets";

/// The singular name of the resource.
pub const SINGULAR: &str = "socket";

/// The name of the proxy subresource.
pub const SUBRESOURCE_PROXY: &str = "proxy";

/// The resource/subresource path of the proxy subresource, as used in RBAC rules and discovery.
pub const RESOURCE_PROXY: &str = "sockets/proxy";

/// The short names of the resource.
pub const SHORT_NAMES: &[&str] = &["ss"];

/// The categories of the resource.
pub const CATEGORIES: &[&str] = &["clusternet"];

/// Whether the resource is namespaced (it is not).
pub const NAMESPACED: bool = false;

/// The HTTP methods the proxy subresource forwards.
pub const CONNECT_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The query parameter that carries [`Socket::path`].
pub const PATH_PARAMETER: &str = "path";

/// The options of a WebSocket/HTTP proxy call to a child cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct Socket {
    /// The API version of this object (`proxies.clusternet.io/v1alpha1`), if set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,

    /// The kind of this object (`Socket`), if set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,

    /// The part of the URL after `.../sockets/<cluster-id>/proxy`: endpoint, suffixes and
    /// parameters of the request to the child cluster. For
    /// `http://localhost:8001/apis/proxies.clusternet.io/v1alpha1/sockets/cae6feb5-a23f-4354-8ee7-66527aa03f54/proxy/https/demo.com:6443`
    /// it is `/https/demo.com:6443`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
}

impl Socket {
    /// Connect options for `path`, with `apiVersion` and `kind` set.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            api_version: API_VERSION.to_string(),
            kind: KIND.to_string(),
            path: path.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_serialises_like_go() {
        let socket = Socket::new("/https/demo.com:6443");
        let json = serde_json::to_value(&socket).expect("serialise");
        assert_eq!(
            json,
            serde_json::json!({
                "apiVersion": "proxies.clusternet.io/v1alpha1",
                "kind": "Socket",
                "path": "/https/demo.com:6443",
            })
        );
        assert_eq!(
            serde_json::to_string(&Socket::default()).expect("serialise"),
            "{}"
        );
        let back: Socket = serde_json::from_value(json).expect("deserialise");
        assert_eq!(back, socket);
    }

    #[test]
    fn names_match_the_hub() {
        assert_eq!(
            format!("{}/{}", super::super::GROUP_NAME, VERSION),
            API_VERSION
        );
        assert_eq!(format!("{RESOURCE}/{SUBRESOURCE_PROXY}"), RESOURCE_PROXY);
        assert_eq!(SHORT_NAMES, ["ss"]);
        assert_eq!(CATEGORIES, ["clusternet"]);
    }
}
