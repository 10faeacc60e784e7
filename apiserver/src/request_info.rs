//! Request-info: what a request is in Kubernetes terms (verb, group, version, resource,
//! subresource, namespace, name), parsed from method, path and query exactly as kube-apiserver's
//! `RequestInfoFactory` does, because authorization (SubjectAccessReview attributes), the
//! long-running classification (no timeout for watch/proxy) and metrics all hang off it.
//!
//! ```
//! use clusternet_hub::request_info::RequestInfo;
//! let info = RequestInfo::parse(
//!     &http::Method::GET,
//!     "/apis/proxies.clusternet.io/v1alpha1/sockets/3c2d/proxy/direct/api/v1/namespaces",
//!     None,
//! );
//! assert!(info.is_resource_request);
//! assert_eq!(info.verb, "get");
//! assert_eq!(info.resource, "sockets");
//! assert_eq!(info.name, "3c2d");
//! assert_eq!(info.subresource, "proxy");
//! assert!(info.is_long_running());
//! ```

use http::Method;

/// Verbs that may appear as a path prefix (`/apis/g/v/watch/...`).
const SPECIAL_VERBS: [&str; 2] = ["proxy", "watch"];
/// Subresources of namespaces themselves (`/api/v1/namespaces/{ns}/status`).
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];
/// Subresources kube-apiserver exempts from the request timeout.
const LONG_RUNNING_SUBRESOURCES: [&str; 5] = ["attach", "exec", "proxy", "log", "portforward"];

/// Kubernetes' view of one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// `/api/...` or `/apis/...` with at least a version.
    pub is_resource_request: bool,
    /// The (percent-decoded) request path.
    pub path: String,
    /// Kubernetes verb (`get`, `list`, `watch`, `create`, …) or the lower-cased HTTP method for
    /// non-resource requests.
    pub verb: String,
    /// `api` or `apis`.
    pub api_prefix: String,
    /// API group ("" for core).
    pub api_group: String,
    /// API version.
    pub api_version: String,
    /// Namespace ("" for cluster scope).
    pub namespace: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource (`status`, `scale`, `proxy`, …).
    pub subresource: String,
    /// Object name.
    pub name: String,
    /// Path segments after the namespace (resource, name, subresource, …).
    pub parts: Vec<String>,
}

impl RequestInfo {
    /// Parses method, raw path and raw query.
    pub fn parse(method: &Method, raw_path: &str, query: Option<&str>) -> Self {
        let path = percent_decode(raw_path);
        let mut info = RequestInfo {
            is_resource_request: false,
            path: path.clone(),
            verb: method.as_str().to_ascii_lowercase(),
            ..Default::default()
        };
        let mut parts = split_path(&path);
        if parts.len() < 3 || (parts[0] != "api" && parts[0] != "apis") {
            return info;
        }
        info.api_prefix = parts.remove(0);
        if info.api_prefix == "apis" {
            if parts.len() < 3 {
                return info;
            }
            info.api_group = parts.remove(0);
        }
        info.is_resource_request = true;
        info.api_version = parts.remove(0);

        if SPECIAL_VERBS.contains(&parts[0].as_str()) {
            if parts.len() < 2 {
                // kube-apiserver rejects this; keep it a resource request with no resource.
                info.verb = parts[0].clone();
                info.parts = Vec::new();
                return info;
            }
            info.verb = parts.remove(0);
        } else {
            info.verb = match *method {
                Method::POST => "create",
                Method::GET | Method::HEAD => "get",
                Method::PUT => "update",
                Method::PATCH => "patch",
                Method::DELETE => "delete",
                _ => "",
            }
            .to_string();
        }

        if parts[0] == "namespaces" && parts.len() > 1 {
            info.namespace = parts[1].clone();
            if parts.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&parts[2].as_str()) {
                parts.drain(..2);
            }
        }
        info.parts = parts;
        let n = info.parts.len();
        if n >= 3 && info.verb != "proxy" {
            info.subresource = info.parts[2].clone();
        }
        if n >= 2 {
            info.name = info.parts[1].clone();
        }
        if n >= 1 {
            info.resource = info.parts[0].clone();
        }

        if info.name.is_empty() && info.verb == "get" {
            let params = QueryParams::parse(query);
            info.verb = if params.watch { "watch" } else { "list" }.into();
            if let Some(name) = params.field_selector.as_deref().and_then(exact_name_match) {
                info.name = name;
            }
        }
        if info.name.is_empty() && info.verb == "delete" {
            info.verb = "deletecollection".into();
        }
        info
    }

    /// kube-apiserver's long-running classification: watches and proxy/exec/attach/log/
    /// port-forward never get the request timeout.
    pub fn is_long_running(&self) -> bool {
        self.verb == "watch"
            || self.verb == "proxy"
            || (self.is_resource_request
                && LONG_RUNNING_SUBRESOURCES.contains(&self.subresource.as_str()))
    }

    /// Whether the request changes state (for the mutating in-flight limit).
    pub fn is_mutating(&self) -> bool {
        !matches!(
            self.verb.as_str(),
            "get" | "list" | "watch" | "head" | "options" | ""
        )
    }

    /// Metrics/log scope: `resource`, `namespace`, `cluster`, or empty for non-resource requests.
    pub fn scope(&self) -> &'static str {
        if !self.is_resource_request {
            ""
        } else if !self.name.is_empty() {
            "resource"
        } else if !self.namespace.is_empty() {
            "namespace"
        } else {
            "cluster"
        }
    }
}

/// The list/watch query parameters request-info needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct QueryParams {
    watch: bool,
    field_selector: Option<String>,
}

impl QueryParams {
    fn parse(query: Option<&str>) -> Self {
        let mut params = QueryParams::default();
        for (key, value) in query_pairs(query.unwrap_or("")) {
            match key.as_str() {
                "watch" if !params.watch => {
                    params.watch = !matches!(value.to_ascii_lowercase().as_str(), "false" | "0");
                }
                "fieldSelector" if params.field_selector.is_none() => {
                    params.field_selector = Some(value)
                }
                _ => {}
            }
        }
        params
    }
}

/// `metadata.name=x` or `metadata.name==x` as the only term of a field selector.
fn exact_name_match(selector: &str) -> Option<String> {
    let selector = selector.trim();
    if selector.contains(',') {
        // Several terms: only an exact-match term for the name counts.
        return selector.split(',').find_map(exact_name_match);
    }
    let (key, value) = selector
        .split_once("==")
        .or_else(|| selector.split_once('='))?;
    if key.trim() != "metadata.name" || value.starts_with('=') || key.ends_with('!') {
        return None;
    }
    let value = value.trim();
    // Must be a valid path segment name (no "/" or "%", not "." or "..").
    let valid = !value.is_empty() && value != "." && value != ".." && !value.contains(['/', '%']);
    valid.then(|| value.to_string())
}

/// Splits a path into segments, ignoring one leading and one trailing slash (as Go's
/// `splitPath`).
fn split_path(path: &str) -> Vec<String> {
    let trimmed = path.trim_start_matches('/');
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Vec::new();
    }
    trimmed.split('/').map(str::to_string).collect()
}

pub use clusternet_component_base::serving::{percent_decode, query_pairs};

#[cfg(test)]
mod tests {
    use super::*;

    fn info(method: Method, path_and_query: &str) -> RequestInfo {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        RequestInfo::parse(&method, path, query)
    }

    /// method, path, verb, group, version, namespace, resource, name
    type Case<'a> = (
        Method,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
    );

    // Cases from k8s.io/apiserver requestinfo_test.go.
    #[test]
    fn resource_requests() {
        let cases: &[Case<'_>] = &[
            // method, path, verb, group, version, namespace, resource, name
            (
                Method::GET,
                "/api/v1/namespaces",
                "list",
                "",
                "v1",
                "",
                "namespaces",
                "",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/other",
                "get",
                "",
                "v1",
                "other",
                "namespaces",
                "other",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/other/pods",
                "list",
                "",
                "v1",
                "other",
                "pods",
                "",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/other/pods/foo",
                "get",
                "",
                "v1",
                "other",
                "pods",
                "foo",
            ),
            (
                Method::HEAD,
                "/api/v1/namespaces/other/pods/foo",
                "get",
                "",
                "v1",
                "other",
                "pods",
                "foo",
            ),
            (
                Method::GET,
                "/api/v1/pods",
                "list",
                "",
                "v1",
                "",
                "pods",
                "",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/other/pods?watch=true",
                "watch",
                "",
                "v1",
                "other",
                "pods",
                "",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/other/pods?watch=false",
                "list",
                "",
                "v1",
                "other",
                "pods",
                "",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/other/pods?watch=0",
                "list",
                "",
                "v1",
                "other",
                "pods",
                "",
            ),
            (
                Method::GET,
                "/api/v1/watch/namespaces/other/pods",
                "watch",
                "",
                "v1",
                "other",
                "pods",
                "",
            ),
            (
                Method::POST,
                "/api/v1/namespaces/other/pods",
                "create",
                "",
                "v1",
                "other",
                "pods",
                "",
            ),
            (
                Method::PUT,
                "/api/v1/namespaces/other/pods/foo",
                "update",
                "",
                "v1",
                "other",
                "pods",
                "foo",
            ),
            (
                Method::PATCH,
                "/api/v1/namespaces/other/pods/foo",
                "patch",
                "",
                "v1",
                "other",
                "pods",
                "foo",
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/other/pods/foo",
                "delete",
                "",
                "v1",
                "other",
                "pods",
                "foo",
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/other/pods",
                "deletecollection",
                "",
                "v1",
                "other",
                "pods",
                "",
            ),
            (
                Method::GET,
                "/apis/extensions/v1beta1/namespaces/other/extensions/foo",
                "get",
                "extensions",
                "v1beta1",
                "other",
                "extensions",
                "foo",
            ),
            (
                Method::GET,
                "/apis/shadow/v1alpha1/namespaces/default/deployments",
                "list",
                "shadow",
                "v1alpha1",
                "default",
                "deployments",
                "",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/other/pods?fieldSelector=metadata.name%3Dfoo",
                "list",
                "",
                "v1",
                "other",
                "pods",
                "foo",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/other/pods?fieldSelector=metadata.name==foo&watch=1",
                "watch",
                "",
                "v1",
                "other",
                "pods",
                "foo",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/other/pods?fieldSelector=metadata.name!%3Dfoo",
                "list",
                "",
                "v1",
                "other",
                "pods",
                "",
            ),
        ];
        for (method, path, verb, group, version, ns, resource, name) in cases {
            let got = info(method.clone(), path);
            assert!(got.is_resource_request, "{path}");
            assert_eq!(
                (
                    got.verb.as_str(),
                    got.api_group.as_str(),
                    got.api_version.as_str(),
                    got.namespace.as_str(),
                    got.resource.as_str(),
                    got.name.as_str()
                ),
                (*verb, *group, *version, *ns, *resource, *name),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn subresources_and_namespace_subresources() {
        let got = info(Method::PUT, "/api/v1/namespaces/other/finalize");
        assert_eq!(
            (
                got.resource.as_str(),
                got.name.as_str(),
                got.subresource.as_str()
            ),
            ("namespaces", "other", "finalize")
        );
        let got = info(Method::GET, "/api/v1/namespaces/other/status");
        assert_eq!(
            (
                got.resource.as_str(),
                got.name.as_str(),
                got.subresource.as_str()
            ),
            ("namespaces", "other", "status")
        );
        let got = info(
            Method::GET,
            "/apis/apps/v1/namespaces/a/deployments/web/scale",
        );
        assert_eq!(
            (
                got.resource.as_str(),
                got.name.as_str(),
                got.subresource.as_str(),
                got.verb.as_str()
            ),
            ("deployments", "web", "scale", "get")
        );
        assert!(!got.is_long_running());
    }

    #[test]
    fn a_socket_watched_by_name_is_a_long_running_watch_of_that_name() {
        let got = RequestInfo::parse(
            &Method::GET,
            "/apis/proxies.clusternet.io/v1alpha1/sockets",
            Some("watch=true&fieldSelector=metadata.name%3Dabc"),
        );
        assert_eq!(
            (got.verb.as_str(), got.resource.as_str(), got.name.as_str()),
            ("watch", "sockets", "abc")
        );
        assert_eq!(got.parts, ["sockets"]);
        assert!(got.is_long_running());
        // The path form names the socket in the path: its parts say so.
        let got = RequestInfo::parse(
            &Method::GET,
            "/apis/proxies.clusternet.io/v1alpha1/watch/sockets/abc",
            None,
        );
        assert_eq!((got.verb.as_str(), got.name.as_str()), ("watch", "abc"));
        assert_eq!(got.parts, ["sockets", "abc"]);
    }

    #[test]
    fn proxy_subresource_keeps_its_tail_in_parts_and_is_long_running() {
        let got = info(
            Method::POST,
            "/apis/proxies.clusternet.io/v1alpha1/sockets/abc/proxy/direct/api/v1/namespaces/x/pods/y/exec",
        );
        assert_eq!(got.verb, "create");
        assert_eq!(got.resource, "sockets");
        assert_eq!(got.name, "abc");
        assert_eq!(got.subresource, "proxy");
        assert_eq!(
            got.parts[3..],
            [
                "direct",
                "api",
                "v1",
                "namespaces",
                "x",
                "pods",
                "y",
                "exec"
            ]
        );
        assert!(got.is_long_running());
        assert!(got.is_mutating());
        // The tunnel endpoint itself is not long-running by classification (it is an upgrade).
        let got = info(
            Method::GET,
            "/apis/proxies.clusternet.io/v1alpha1/sockets/abc",
        );
        assert_eq!(
            (got.verb.as_str(), got.resource.as_str(), got.name.as_str()),
            ("get", "sockets", "abc")
        );
    }

    #[test]
    fn non_resource_requests() {
        for path in [
            "/",
            "/healthz",
            "/readyz/ping",
            "/version",
            "/apis",
            "/apis/shadow",
            "/openapi/v2",
            "/api",
        ] {
            let got = info(Method::GET, path);
            assert!(!got.is_resource_request, "{path}");
            assert_eq!(got.verb, "get");
            assert_eq!(got.scope(), "");
        }
        // /apis/<group>/<version> is a resource request with no resource: kube-apiserver
        // also treats it as a resource request only when a resource follows.
        let got = info(Method::GET, "/apis/shadow/v1alpha1");
        assert!(!got.is_resource_request);
        let got = info(Method::GET, "/api/v1");
        assert!(!got.is_resource_request);
    }

    #[test]
    fn watch_prefix_without_resource_is_harmless() {
        let got = info(Method::GET, "/api/v1/watch");
        assert_eq!(got.verb, "watch");
        assert!(got.resource.is_empty());
    }

    #[test]
    fn percent_encoded_names_are_decoded() {
        let got = info(
            Method::GET,
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Aadmin",
        );
        assert_eq!(got.name, "system:admin");
    }
}
