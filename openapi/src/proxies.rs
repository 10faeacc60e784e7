//! The `proxies.clusternet.io/v1alpha1` group: the cluster-scoped `sockets` connect resource.
//!
//! As in Clusternet (`pkg/hub/registry/proxies/socket`), `sockets` is a `rest.Connecter` with no
//! other verbs: `…/sockets/{name}` is the agent's tunnel endpoint and `…/sockets/{name}/proxy`
//! (plus `…/proxy/{path}`) forwards any request to the child cluster. All three paths take the
//! seven methods GET, POST, PUT, PATCH, DELETE, HEAD and OPTIONS, each an operation with
//! `x-kubernetes-action: connect` and the connect options kind `Socket` as its
//! `x-kubernetes-group-version-kind`, the way kube-apiserver describes `pods/proxy`.
//!
//! The Socket schema is written here (from Clusternet's `pkg/apis/proxies/v1alpha1/types.go`)
//! and embedded in every [`Catalog`](crate::Catalog), so this group's documents never depend on
//! the parent's spec.
//!
//! ```
//! use clusternet_openapi::{proxies, HttpMethod};
//!
//! let sockets = proxies::sockets();
//! assert!(!sockets.namespaced);
//! assert!(sockets.verbs.is_empty());
//! assert_eq!(sockets.connect.as_ref().map(|c| c.methods.len()), Some(7));
//! assert_eq!(sockets.subresources[0].name, "proxy");
//! assert_eq!(HttpMethod::parse("OPTIONS"), Some(HttpMethod::Options));
//! ```

use clusternet_apis::proxies::v1alpha1 as api;
use serde_json::{Value, json};

use crate::catalog::Dialect;
use crate::model::{
    ApiGroupVersion, Connect, GroupVersion, GroupVersionKind, HttpMethod, ParamType,
    QueryParameter, Resource, Subresource,
};

/// The group name.
pub const GROUP: &str = clusternet_apis::proxies::GROUP_NAME;
/// The version.
pub const VERSION: &str = api::VERSION;
/// The schema name of Socket: the name kube-apiserver's definition namer gives the Go type
/// `github.com/clusternet/clusternet/pkg/apis/proxies/v1alpha1.Socket`, as Go Clusternet
/// published it.
pub const SOCKET_SCHEMA: &str = "com.github.clusternet.clusternet.pkg.apis.proxies.v1alpha1.Socket";

const PATH_DESCRIPTION: &str = "Path is the part of URLs that include service endpoints, suffixes, and parameters to use for the current proxy request to child cluster. For example, the whole request URL is http://localhost:8001/apis/proxies.clusternet.io/v1alpha1/sockets/cae6feb5-a23f-4354-8ee7-66527aa03f54/proxy/https/demo.com:6443. Path is /https/demo.com:6443.";

/// `proxies.clusternet.io/v1alpha1`.
pub fn group_version() -> GroupVersion {
    GroupVersion::new(GROUP, VERSION)
}

/// `proxies.clusternet.io/v1alpha1 Socket`.
pub fn socket_kind() -> GroupVersionKind {
    group_version().with_kind(api::KIND)
}

fn connect(subpath: bool) -> Connect {
    Connect {
        methods: api::CONNECT_METHODS
            .iter()
            .filter_map(|m| HttpMethod::parse(m))
            .collect(),
        options_kind: socket_kind(),
        query_parameters: vec![QueryParameter {
            name: api::PATH_PARAMETER.into(),
            description: PATH_DESCRIPTION.into(),
            param_type: ParamType::String,
        }],
        subpath,
    }
}

/// The `sockets` resource with its `proxy` subresource.
pub fn sockets() -> Resource {
    let mut resource = Resource::new(api::RESOURCE, api::KIND)
        .with_singular(api::SINGULAR)
        .with_short_names(api::SHORT_NAMES.iter().copied())
        .with_categories(api::CATEGORIES.iter().copied())
        .with_verbs([])
        .with_patch_types([])
        .with_connect(connect(false))
        .with_subresource(Subresource::connect(api::SUBRESOURCE_PROXY, connect(true)));
    resource.namespaced = api::NAMESPACED;
    resource
}

/// The whole group-version.
pub fn api_group_version() -> ApiGroupVersion {
    ApiGroupVersion::new(group_version(), vec![sockets()])
}

/// The Socket schema (the same JSON in both dialects: it has only string fields).
pub(crate) fn socket_schema(_dialect: Dialect) -> Value {
    json!({
        "description": "Socket is the query options to a WebSocket proxy call.",
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                "type": "string"
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "type": "string"
            },
            "path": {
                "description": PATH_DESCRIPTION,
                "type": "string"
            }
        },
        "x-kubernetes-group-version-kind": [{"group": GROUP, "kind": api::KIND, "version": VERSION}]
    })
}
