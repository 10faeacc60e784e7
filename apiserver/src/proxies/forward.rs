//! Forwarding one request into a child cluster and its answer back, byte for byte: plain
//! requests, streamed responses (watches, logs — each chunk passed on as it arrives), and
//! upgrades (WebSocket and SPDY: exec, attach, port-forward, websocket watches), after which the
//! two connections are spliced together.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};

use crate::body::{self, Body};
use crate::proxies::credentials::Credentials;
use crate::proxies::splice;
use crate::proxies::target::{Scheme, Target};
use crate::proxies::transport::ChildClient;
use crate::status::ApiError;

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus ones the hub sets.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

/// Removes hop-by-hop headers (and those the Connection header names); keeps the upgrade pair
/// when the message is an upgrade.
fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| {
            v.split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty() && t != "upgrade" && t != "close" && t != "keep-alive")
        .collect();
    for name in named {
        headers.remove(name.as_str());
    }
    let upgrade = headers.get(header::UPGRADE).cloned();
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    if keep_upgrade && let Some(upgrade) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, upgrade);
    }
}

/// Removes what would let a caller speak for someone else in the child: its own
/// `Authorization`, `Impersonate-*` (a direct caller's, which the hub does not act on), the
/// front-proxy's `X-Remote-*` identity headers, and `Host` (the hub sets the child's). The child
/// then sees only the identity the hub means to send: the credentials from the caller's
/// authenticated extras.
fn strip_identity(headers: &mut HeaderMap) {
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let n = name.as_str();
            n.starts_with("impersonate-") || n.starts_with("x-remote-")
        })
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
    headers.remove(header::HOST);
    headers.remove(header::AUTHORIZATION);
}

/// Sends `req` to `target` with `creds` and returns the child's answer (or an upgraded
/// connection's 101, with the splice running in the background).
pub async fn forward(
    client: &ChildClient,
    mut req: Request<Body>,
    target: &Target,
    creds: &Credentials,
    idle_timeout: std::time::Duration,
) -> Result<Response<Body>, ApiError> {
    let upgrading = is_upgrade(req.headers());
    // An upgraded connection outlives this request: it keeps the request's share of the
    // long-running limit until it ends.
    let permit = crate::stack::StreamPermit::of(&req);
    let client_upgrade = upgrading.then(|| hyper::upgrade::on(&mut req));
    let query = req.uri().query().map(str::to_string);
    let scheme = match target.scheme {
        Scheme::Https => "https",
        Scheme::Http => "http",
    };
    let path_and_query = match &query {
        Some(q) => format!("{}?{q}", target.path),
        None => target.path.clone(),
    };
    let uri: http::Uri = format!("{scheme}://{}{path_and_query}", target.authority())
        .parse()
        .map_err(|e| ApiError::bad_request(format!("invalid proxied URL: {e}")))?;
    let (mut parts, body) = req.into_parts();
    let mut headers = std::mem::take(&mut parts.headers);
    strip_hop_by_hop(&mut headers, upgrading);
    strip_identity(&mut headers);
    if let Some(token) = &creds.token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| ApiError::bad_request("invalid token in extra clusternet-token"))?;
        headers.insert(header::AUTHORIZATION, value);
    }
    for (name, value) in &creds.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            return Err(ApiError::bad_request(format!(
                "invalid header value for extra clusternet-{name}"
            )));
        };
        headers.append(name, value);
    }
    let mut outgoing = Request::builder()
        .method(parts.method)
        .uri(uri)
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    *outgoing.headers_mut() = headers;

    let mut response = client.request(outgoing).await.map_err(|err| {
        let chain = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source()).map(|e| e.to_string()).collect::<Vec<_>>().join(": ");
        tracing::info!(target = %target.authority(), error = %chain, "proxying into the child cluster failed");
        let cause = last_cause(&err);
        if cause.contains(clusternet_tunnel::session::CONNECT_NOT_ALLOWED) {
            ApiError::new(
                crate::status::Reason::Forbidden,
                format!(
                    "the cluster's agent does not connect to {}: it is not in the agent's allow-list (clusternet-agent --tunnel-allowed-addresses)",
                    target.authority()
                ),
            )
        } else if err.is_connect() {
            ApiError::unreachable(format!("error trying to reach the child cluster ({}): {}", target.authority(), last_cause(&err)))
        } else {
            ApiError::new(crate::status::Reason::ServiceUnavailable, format!("error while proxying to the child cluster: {}", last_cause(&err)))
        }
    })?;

    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return Err(ApiError::internal(
                "the child cluster switched protocols on a request that did not ask to",
            ));
        };
        let child_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::try_join!(client_upgrade, child_upgrade) {
                Ok((client_io, child_io)) => {
                    let client_io = hyper_util::rt::TokioIo::new(client_io);
                    let child_io = hyper_util::rt::TokioIo::new(child_io);
                    match splice::splice(client_io, child_io, idle_timeout).await {
                        splice::Ended::Closed(..) => {}
                        splice::Ended::Idle => tracing::info!(
                            ?idle_timeout,
                            "closed an upgraded connection that stayed idle"
                        ),
                        splice::Ended::Failed(err) => {
                            tracing::debug!(error = %err, "upgraded connection ended")
                        }
                    }
                }
                Err(err) => {
                    tracing::debug!(error = %err, "upgrading the proxied connection failed")
                }
            }
        });
        let (mut parts, _) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers, true);
        return Ok(Response::from_parts(parts, body::empty()));
    }
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers, false);
    Ok(Response::from_parts(parts, body::boxed(body)))
}

fn last_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_identity_headers_never_reach_the_child() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("impersonate-user", "system:admin"),
            ("impersonate-group", "system:masters"),
            ("impersonate-extra-scopes", "x"),
            ("impersonate-uid", "1"),
            ("x-remote-user", "admin"),
            ("x-remote-group", "system:masters"),
            ("x-remote-extra-clusternet-token", "t"),
            ("authorization", "Bearer parent-token"),
            ("host", "parent:6443"),
            ("accept", "application/json"),
            ("x-forwarded-for", "10.0.0.1"),
        ] {
            h.append(k, HeaderValue::from_static(v));
        }
        strip_identity(&mut h);
        let mut left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["accept", "x-forwarded-for"]);
    }

    #[test]
    fn hop_by_hop_headers_go_and_upgrades_stay() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("Upgrade, X-Secret"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("v5.channel.k8s.io"),
        );
        assert!(is_upgrade(&h));
        let mut plain = h.clone();
        strip_hop_by_hop(&mut plain, false);
        assert!(
            plain.get("x-secret").is_none()
                && plain.get(header::UPGRADE).is_none()
                && plain.get("keep-alive").is_none()
        );
        assert!(plain.get("sec-websocket-protocol").is_some());
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h[header::UPGRADE], "websocket");
        assert_eq!(h[header::CONNECTION], "Upgrade");
        assert!(h.get("x-secret").is_none());
    }
}
