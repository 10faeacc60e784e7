//! Authentication: who is asking.
//!
//! In order, as kube-apiserver's delegated authenticator does it:
//! 1. a client certificate that chains to the requestheader CA with an allowed CN makes the
//!    `X-Remote-User/Group/Extra-*/Uid` headers trustworthy — the aggregator's front-proxy
//!    identity (this is the only way identity headers are ever believed);
//! 2. a client certificate that chains to `client-ca-file` is the user in its CN and the groups
//!    in its O;
//! 3. a bearer token is checked with a TokenReview against the parent (results cached briefly);
//! 4. anything else is 401.
//!
//! Identity headers and the `Authorization` header are removed from every request after
//! authentication, so nothing below (in particular the proxy into child clusters) can forward
//! them.

pub mod config;
mod token;

use std::collections::BTreeMap;
use std::sync::Arc;

use http::HeaderMap;
use rustls_pki_types::CertificateDer;
use tokio::sync::watch;

pub use config::{AuthConfig, CaVerifier, Overrides, RequestHeaderConfig};
pub use token::TokenReviewer;

use clusternet_component_base::serving::ca::{bearer_token, subject};

use crate::status::ApiError;

/// How a request was authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Front-proxy (requestheader) identity from the aggregator.
    FrontProxy,
    /// A client certificate of the client CA.
    ClientCert,
    /// A bearer token (TokenReview).
    Token,
}

/// The authenticated user of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    /// User name.
    pub name: String,
    /// User uid (may be empty).
    pub uid: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Extra attributes (keys lower-case).
    pub extra: BTreeMap<String, Vec<String>>,
    /// How it was established.
    pub method: Method,
}

impl UserInfo {
    /// Whether the user is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// The client certificate chain a TLS connection presented (end entity first). Attached to
/// every request of that connection.
#[derive(Clone, Debug, Default)]
pub struct PeerCertificates(pub Arc<Vec<CertificateDer<'static>>>);

/// The shared authenticator.
#[derive(Clone)]
pub struct Authenticator {
    config: watch::Receiver<Option<Arc<AuthConfig>>>,
    tokens: Option<TokenReviewer>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator reading its configuration from `config` (None until first loaded) and
    /// checking bearer tokens with `tokens`.
    pub fn new(
        config: watch::Receiver<Option<Arc<AuthConfig>>>,
        tokens: Option<TokenReviewer>,
    ) -> Self {
        Self { config, tokens }
    }

    /// Whether the configuration has been loaded (a readiness check).
    pub fn is_configured(&self) -> bool {
        self.config.borrow().is_some()
    }

    /// Authenticates a request and strips every credential and identity header from it.
    pub async fn authenticate(
        &self,
        headers: &mut HeaderMap,
        peer: Option<&PeerCertificates>,
    ) -> Result<UserInfo, ApiError> {
        let config = self.config.borrow().clone();
        let result = match config {
            None => Err(ApiError::unavailable(
                "authentication is not configured yet",
            )),
            Some(config) => self
                .authenticate_with(&config, headers, peer)
                .await
                .map(with_authenticated_group),
        };
        strip_credentials(headers, self.config.borrow().as_deref());
        result
    }

    async fn authenticate_with(
        &self,
        config: &AuthConfig,
        headers: &HeaderMap,
        peer: Option<&PeerCertificates>,
    ) -> Result<UserInfo, ApiError> {
        let chain = peer.map(|p| p.0.as_slice()).filter(|c| !c.is_empty());
        if let Some(chain) = chain {
            if let Some(rh) = &config.request_header
                && rh.ca.verifies(chain)
            {
                let (cn, _) = subject(&chain[0]).ok_or_else(ApiError::unauthorized)?;
                if !rh.allowed_names.is_empty() && !rh.allowed_names.contains(&cn) {
                    tracing::info!(
                        cn,
                        "front-proxy certificate CN is not in requestheader-allowed-names"
                    );
                    return Err(ApiError::unauthorized());
                }
                if let Some(user) = from_request_headers(rh, headers) {
                    return Ok(user);
                }
                // A front-proxy cert without a user header authenticates nobody: fall through
                // to the other methods, as kube-apiserver does.
            }
            if let Some(ca) = &config.client_ca
                && ca.verifies(chain)
            {
                let (cn, orgs) = subject(&chain[0]).ok_or_else(ApiError::unauthorized)?;
                return Ok(UserInfo {
                    name: cn,
                    uid: String::new(),
                    groups: orgs,
                    extra: BTreeMap::new(),
                    method: Method::ClientCert,
                });
            }
        }
        if let Some(token) = bearer_token(headers) {
            let Some(reviewer) = &self.tokens else {
                return Err(ApiError::unauthorized());
            };
            return reviewer.review(token).await;
        }
        Err(ApiError::unauthorized())
    }
}

/// Every authenticated user is in `system:authenticated`, as kube-apiserver's
/// AuthenticatedGroupAdder makes it (RBAC's `system:discovery` and `system:basic-user` bind that
/// group; the aggregator's own `system:aggregator` identity relies on it to read `/openapi/v2`).
fn with_authenticated_group(mut user: UserInfo) -> UserInfo {
    const AUTHENTICATED: &str = "system:authenticated";
    let anonymous = user.name == "system:anonymous" || user.in_group("system:unauthenticated");
    if !anonymous && !user.in_group(AUTHENTICATED) {
        user.groups.push(AUTHENTICATED.to_string());
    }
    user
}

/// The identity the front proxy asserted in headers, if it named a user.
fn from_request_headers(rh: &RequestHeaderConfig, headers: &HeaderMap) -> Option<UserInfo> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect()
    };
    let name = rh
        .username_headers
        .iter()
        .flat_map(|h| values(h))
        .find(|v| !v.is_empty())?;
    let uid = rh
        .uid_headers
        .iter()
        .flat_map(|h| values(h))
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    let groups = rh.group_headers.iter().flat_map(|h| values(h)).collect();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in headers {
        let key = key.as_str(); // hyper lower-cases header names
        for prefix in &rh.extra_prefixes {
            if let Some(rest) = key.strip_prefix(prefix.as_str())
                && !rest.is_empty()
                && let Ok(v) = value.to_str()
            {
                let extra_key = crate::request_info::percent_decode(rest).to_ascii_lowercase();
                extra.entry(extra_key).or_default().push(v.to_string());
            }
        }
    }
    Some(UserInfo {
        name,
        uid,
        groups,
        extra,
        method: Method::FrontProxy,
    })
}

/// Removes `Authorization` and every identity header a front proxy could set.
fn strip_credentials(headers: &mut HeaderMap, config: Option<&AuthConfig>) {
    headers.remove(http::header::AUTHORIZATION);
    let defaults = ["x-remote-user", "x-remote-group", "x-remote-uid"];
    let mut exact: Vec<String> = defaults.iter().map(|s| s.to_string()).collect();
    let mut prefixes = vec!["x-remote-extra-".to_string()];
    if let Some(rh) = config.and_then(|c| c.request_header.as_ref()) {
        exact.extend(rh.username_headers.iter().cloned());
        exact.extend(rh.group_headers.iter().cloned());
        exact.extend(rh.uid_headers.iter().cloned());
        prefixes.extend(rh.extra_prefixes.iter().cloned());
    }
    for name in &exact {
        headers.remove(name.as_str());
    }
    let extras: Vec<http::HeaderName> = headers
        .keys()
        .filter(|k| prefixes.iter().any(|p| k.as_str().starts_with(p.as_str())))
        .cloned()
        .collect();
    for key in extras {
        headers.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    struct Pki {
        front_proxy_ca: rcgen::Issuer<'static, rcgen::KeyPair>,
        front_proxy_pem: String,
        client_ca: rcgen::Issuer<'static, rcgen::KeyPair>,
        client_pem: String,
    }

    fn ca(cn: &str) -> (rcgen::Issuer<'static, rcgen::KeyPair>, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        let pem = params.self_signed(&key).unwrap().pem();
        (rcgen::Issuer::new(params, key), pem)
    }

    fn leaf(
        issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
        cn: &str,
        org: Option<&str>,
    ) -> PeerCertificates {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        if let Some(org) = org {
            params
                .distinguished_name
                .push(rcgen::DnType::OrganizationName, org);
        }
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, issuer).unwrap();
        PeerCertificates(Arc::new(vec![cert.der().clone()]))
    }

    fn pki() -> Pki {
        let (front_proxy_ca, front_proxy_pem) = ca("front-proxy-ca");
        let (client_ca, client_pem) = ca("client-ca");
        Pki {
            front_proxy_ca,
            front_proxy_pem,
            client_ca,
            client_pem,
        }
    }

    fn authenticator(p: &Pki) -> Authenticator {
        let data: BTreeMap<String, String> = [
            ("client-ca-file", p.client_pem.as_str()),
            ("requestheader-client-ca-file", p.front_proxy_pem.as_str()),
            ("requestheader-allowed-names", "[\"front-proxy-client\"]"),
            ("requestheader-uid-headers", "[\"X-Remote-Uid\"]"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let cfg = AuthConfig::from_data(&data, &Overrides::default()).unwrap();
        // borrow() keeps returning the last value after the sender is gone.
        let (_, rx) = watch::channel(Some(Arc::new(cfg)));
        Authenticator::new(rx, None)
    }

    fn identity_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-remote-user", HeaderValue::from_static("clusternet"));
        h.append(
            "x-remote-group",
            HeaderValue::from_static("system:authenticated"),
        );
        h.append("x-remote-group", HeaderValue::from_static("team-a"));
        h.insert("x-remote-uid", HeaderValue::from_static("u-1"));
        h.insert(
            "x-remote-extra-clusternet-token",
            HeaderValue::from_static("child-token"),
        );
        h.insert(
            "x-remote-extra-acme.com%2fproject",
            HeaderValue::from_static("p1"),
        );
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer parent-token"),
        );
        h
    }

    #[tokio::test]
    async fn front_proxy_identity_is_trusted_and_stripped() {
        let p = pki();
        let auth = authenticator(&p);
        let mut h = identity_headers();
        let user = auth
            .authenticate(
                &mut h,
                Some(&leaf(&p.front_proxy_ca, "front-proxy-client", None)),
            )
            .await
            .unwrap();
        assert_eq!(user.method, Method::FrontProxy);
        assert_eq!(user.name, "clusternet");
        assert_eq!(user.uid, "u-1");
        assert_eq!(user.groups, ["system:authenticated", "team-a"]);
        // Not added twice.
        assert_eq!(
            user.groups
                .iter()
                .filter(|g| *g == "system:authenticated")
                .count(),
            1
        );
        assert_eq!(user.extra["clusternet-token"], ["child-token"]);
        assert_eq!(user.extra["acme.com/project"], ["p1"]);
        assert!(
            h.is_empty(),
            "identity and credential headers must be gone: {h:?}"
        );
    }

    #[tokio::test]
    async fn front_proxy_cert_with_unlisted_cn_is_401() {
        let p = pki();
        let auth = authenticator(&p);
        let err = auth
            .authenticate(
                &mut identity_headers(),
                Some(&leaf(&p.front_proxy_ca, "someone-else", None)),
            )
            .await
            .unwrap_err();
        assert_eq!(err.status_code(), http::StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn forged_headers_without_front_proxy_cert_are_not_trusted() {
        let p = pki();
        let auth = authenticator(&p);
        // A valid *client* cert plus forged identity headers: the cert's own identity wins.
        let mut h = identity_headers();
        let user = auth
            .authenticate(&mut h, Some(&leaf(&p.client_ca, "alice", Some("dev"))))
            .await
            .unwrap();
        assert_eq!(
            (user.name.as_str(), user.method),
            ("alice", Method::ClientCert)
        );
        assert_eq!(user.groups, ["dev", "system:authenticated"]);
        assert!(user.extra.is_empty());
        assert!(h.is_empty());
        // No cert at all, forged headers, no token reviewer: 401.
        let mut h = identity_headers();
        h.remove(http::header::AUTHORIZATION);
        assert_eq!(
            auth.authenticate(&mut h, None)
                .await
                .unwrap_err()
                .status_code(),
            http::StatusCode::UNAUTHORIZED
        );
        // A cert of an unknown CA: 401.
        let (other, _) = ca("other");
        let mut h = identity_headers();
        h.remove(http::header::AUTHORIZATION);
        let err = auth
            .authenticate(&mut h, Some(&leaf(&other, "front-proxy-client", None)))
            .await
            .unwrap_err();
        assert_eq!(err.status_code(), http::StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn unconfigured_is_503() {
        let (_tx, rx) = watch::channel(None);
        let auth = Authenticator::new(rx, None);
        let err = auth
            .authenticate(&mut HeaderMap::new(), None)
            .await
            .unwrap_err();
        assert_eq!(err.status_code(), http::StatusCode::SERVICE_UNAVAILABLE);
    }
}
