//! Where a proxied request goes: Clusternet's path grammar after `sockets/<id>/proxy/` —
//! `direct/<path>` (the cluster's own API server, from `ManagedCluster.status.apiserverURL`,
//! with that URL's path prefixed), `https/<host[:port]>/<path>` or `http/<host[:port]>/<path>`
//! (any address the agent can reach). Unlike Clusternet, an empty path is sent as `/` instead of
//! answered with a redirect (the aggregator refuses redirects from extension apiservers), and
//! the path is kept as sent (Clusternet's `path.Join` drops trailing slashes).

use crate::status::ApiError;

/// A resolved destination in a child cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `https` or `http`.
    pub scheme: Scheme,
    /// Host to dial and to verify (no port).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path (starting with `/`), without query.
    pub path: String,
}

/// Transport of a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// TLS, verified against the child cluster's CA.
    Https,
    /// Plain TCP.
    Http,
}

impl Target {
    /// `host:port` (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn split_host_port(authority: &str, scheme: Scheme) -> Result<(String, u16), ApiError> {
    let default = match scheme {
        Scheme::Https => 443,
        Scheme::Http => 80,
    };
    let bad = || ApiError::bad_request(format!("invalid host {authority:?} in the proxy path"));
    if authority.is_empty() || authority.contains(['/', '@', '?', '#', ' ']) {
        return Err(bad());
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => default,
            None => return Err(bad()),
        };
        return Ok((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !host.contains(':') => {
            Ok((host.to_string(), port.parse().map_err(|_| bad())?))
        }
        Some(_) => Err(bad()),
        None => Ok((authority.to_string(), default)),
    }
}

/// Parses the part of the path after `proxy` (`tail`, e.g. `/direct/api/v1/pods`), given the
/// cluster's API server URL for `direct`.
pub fn parse(tail: &str, apiserver_url: Option<&str>) -> Result<Target, ApiError> {
    let tail = tail.trim_start_matches('/');
    let (first, rest) = tail.split_once('/').unwrap_or((tail, ""));
    let join = |prefix: &str, rest: &str| {
        let prefix = prefix.trim_end_matches('/');
        format!("{prefix}/{rest}")
    };
    match first {
        "direct" => {
            let url = apiserver_url.filter(|u| !u.is_empty()).ok_or_else(|| {
                ApiError::unavailable("cannot retrieve a valid apiserver url for this cluster")
            })?;
            let (scheme, after) = url.split_once("://").ok_or_else(|| {
                ApiError::internal(format!(
                    "invalid apiserver url {url:?} in the ManagedCluster status"
                ))
            })?;
            let scheme = match scheme {
                "https" => Scheme::Https,
                "http" => Scheme::Http,
                other => {
                    return Err(ApiError::internal(format!(
                        "unsupported scheme {other:?} in the ManagedCluster status"
                    )));
                }
            };
            let (authority, base) = after
                .split_once('/')
                .map(|(a, p)| (a, format!("/{p}")))
                .unwrap_or((after, String::new()));
            let (host, port) = split_host_port(authority, scheme)?;
            Ok(Target {
                scheme,
                host,
                port,
                path: join(&base, rest),
            })
        }
        "https" | "http" => {
            let scheme = if first == "https" {
                Scheme::Https
            } else {
                Scheme::Http
            };
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let (host, port) = split_host_port(authority, scheme)?;
            Ok(Target {
                scheme,
                host,
                port,
                path: format!("/{path}"),
            })
        }
        "" => Err(ApiError::bad_request(
            "the proxy path must start with direct, https/<host> or http/<host>",
        )),
        other => Err(ApiError::bad_request(format!(
            "unsupported proxy scheme {other:?}: use direct, https/<host[:port]> or http/<host[:port]>"
        ))),
    }
}

/// For a cluster the hub dials directly (no tunnel): `target` must be the cluster's own API
/// server (scheme, host and port of `apiserver_url`); `Err` says why not.
pub fn only_apiserver(target: &Target, apiserver_url: &str) -> Result<(), String> {
    let apiserver = parse("/direct", Some(apiserver_url)).map_err(|e| e.to_string())?;
    if target.scheme == apiserver.scheme
        && target.host.eq_ignore_ascii_case(&apiserver.host)
        && target.port == apiserver.port
    {
        Ok(())
    } else {
        Err(format!(
            "the cluster is reached directly from the hub, so only its API server ({}) can be proxied to, not {}",
            apiserver.authority(),
            target.authority()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(scheme: Scheme, host: &str, port: u16, path: &str) -> Target {
        Target {
            scheme,
            host: host.into(),
            port,
            path: path.into(),
        }
    }

    #[test]
    fn direct_uses_the_cluster_url() {
        let url = Some("https://127.0.0.1:6443");
        assert_eq!(
            parse("/direct/api/v1/namespaces", url).unwrap(),
            t(Scheme::Https, "127.0.0.1", 6443, "/api/v1/namespaces")
        );
        // No redirect for an empty path: it is "/".
        assert_eq!(
            parse("/direct", url).unwrap(),
            t(Scheme::Https, "127.0.0.1", 6443, "/")
        );
        assert_eq!(parse("direct/", url).unwrap().path, "/");
        // Trailing slashes are kept; the URL's own path is prefixed.
        assert_eq!(
            parse("/direct/apis/", Some("https://10.0.0.1/k8s/")).unwrap(),
            t(Scheme::Https, "10.0.0.1", 443, "/k8s/apis/")
        );
        assert_eq!(
            parse("/direct/x", Some("")).unwrap_err().status_code(),
            http::StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            parse("/direct/x", None).unwrap_err().status_code(),
            http::StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn explicit_hosts() {
        assert_eq!(
            parse("/https/demo.com:6443/healthz", None).unwrap(),
            t(Scheme::Https, "demo.com", 6443, "/healthz")
        );
        assert_eq!(
            parse("/http/localhost:8080/replicas/predict", None).unwrap(),
            t(Scheme::Http, "localhost", 8080, "/replicas/predict")
        );
        assert_eq!(
            parse("/https/kubernetes.default", None).unwrap(),
            t(Scheme::Https, "kubernetes.default", 443, "/")
        );
        assert_eq!(
            parse("/https/[::1]:6443/", None).unwrap(),
            t(Scheme::Https, "::1", 6443, "/")
        );
        assert_eq!(
            parse("/https/[::1]:6443/", None).unwrap().authority(),
            "[::1]:6443"
        );
    }

    #[test]
    fn direct_clusters_reach_only_their_apiserver() {
        let url = "https://10.0.0.1:6443";
        let ok = |tail: &str| only_apiserver(&parse(tail, Some(url)).unwrap(), url);
        assert!(ok("/direct/api").is_ok());
        assert!(ok("/https/10.0.0.1:6443/api").is_ok());
        assert!(ok("/https/10.0.0.1:6444/api").is_err());
        assert!(ok("/http/10.0.0.1:6443/api").is_err());
        assert!(ok("/http/127.0.0.1:8080/").is_err());
        assert!(ok("/https/localhost:6443/").is_err());
    }

    #[test]
    fn bad_paths_are_400() {
        for bad in [
            "",
            "/",
            "/ftp/x",
            "/https/",
            "/https/a:b:c/x",
            "/https/host:notaport/x",
            "/https/user@host/x",
        ] {
            assert_eq!(
                parse(bad, Some("https://x")).unwrap_err().status_code(),
                http::StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
    }
}
