//! The child-cluster credentials a caller passes, as Clusternet defines them: user extras on the
//! parent (kubeconfig `as-user-extra`, arriving from the aggregator as `X-Remote-Extra-*`), taken
//! only from the authenticated front-proxy identity — never from raw headers:
//! - `clusternet-token` → `Authorization: Bearer <token>` towards the child;
//! - `clusternet-certificate` + `clusternet-privatekey` (base64 PEM) → a client certificate;
//! - `clusternet-impersonate-<…>` extras → the `Impersonate-<…>` headers towards the child, for
//!   child-side impersonation (`kubectl clusternet --clusternet-as`; Go Clusternet intends a
//!   pass-through of any `clusternet-<header>` but its case-sensitive prefix check never
//!   matches). Only impersonation passes: any other `clusternet-<header>` extra is refused, so no
//!   caller can set `Host`, `Authorization`, framing or hop-by-hop headers towards the child.

use std::collections::BTreeMap;

use base64::Engine;

use crate::status::ApiError;

const PREFIX: &str = "clusternet-";
const TOKEN: &str = "clusternet-token";
const CERTIFICATE: &str = "clusternet-certificate";
const PRIVATE_KEY: &str = "clusternet-privatekey";

/// Credentials for the child.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Bearer token.
    pub token: Option<String>,
    /// Client certificate and key (PEM).
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
    /// Extra headers to send (already without the prefix).
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.debug_struct("Credentials")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field(
                "client_cert",
                &self.client_cert.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Reads the credentials from the caller's extras.
pub fn from_extras(extra: &BTreeMap<String, Vec<String>>) -> Result<Credentials, ApiError> {
    let mut creds = Credentials {
        token: extra.get(TOKEN).and_then(|v| v.first()).cloned(),
        ..Default::default()
    };
    let cert = extra.get(CERTIFICATE).and_then(|v| v.first());
    let key = extra.get(PRIVATE_KEY).and_then(|v| v.first());
    if let (Some(cert), Some(key)) = (cert, key) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let cert = b64.decode(cert.trim()).map_err(|e| {
            ApiError::bad_request(format!("invalid certificate in extra {CERTIFICATE}: {e}"))
        })?;
        let key = b64.decode(key.trim()).map_err(|e| {
            ApiError::bad_request(format!("invalid private key in extra {PRIVATE_KEY}: {e}"))
        })?;
        creds.client_cert = Some((cert, key));
    }
    for (name, values) in extra {
        if name == TOKEN || name == CERTIFICATE || name == PRIVATE_KEY {
            continue;
        }
        if let Some(header) = name.strip_prefix(PREFIX).filter(|h| !h.is_empty()) {
            if !is_impersonation(header) {
                return Err(ApiError::bad_request(format!(
                    "extra {name} is not passed to the child cluster: only {TOKEN}, {CERTIFICATE}, {PRIVATE_KEY} and {PREFIX}impersonate-* extras are"
                )));
            }
            if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
                return Err(ApiError::bad_request(format!(
                    "extra {name} does not name a valid header"
                )));
            }
            for v in values {
                creds.headers.push((header.to_string(), v.clone()));
            }
        }
    }
    Ok(creds)
}

/// `impersonate-user`, `impersonate-group`, `impersonate-uid`, `impersonate-extra-<key>`.
fn is_impersonation(header: &str) -> bool {
    matches!(
        header,
        "impersonate-user" | "impersonate-group" | "impersonate-uid"
    ) || header
        .strip_prefix("impersonate-extra-")
        .is_some_and(|key| !key.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extras(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
        m
    }

    #[test]
    fn token_cert_and_passthrough_headers() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let c = from_extras(&extras(&[
            ("clusternet-token", "abc"),
            ("clusternet-certificate", &b64("CERT")),
            ("clusternet-privatekey", &b64("KEY")),
            ("clusternet-impersonate-user", "alice"),
            ("clusternet-impersonate-group", "dev"),
            ("clusternet-impersonate-group", "ops"),
            ("acme.com/other", "ignored"),
        ]))
        .unwrap();
        assert_eq!(c.token.as_deref(), Some("abc"));
        assert_eq!(c.client_cert, Some((b"CERT".to_vec(), b"KEY".to_vec())));
        assert_eq!(
            c.headers,
            [
                ("impersonate-group".to_string(), "dev".to_string()),
                ("impersonate-group".into(), "ops".into()),
                ("impersonate-user".into(), "alice".into())
            ]
        );
        assert!(
            !format!("{c:?}").contains("abc"),
            "secrets must not be printed"
        );
    }

    #[test]
    fn only_impersonation_passes_through() {
        for bad in [
            "clusternet-host",
            "clusternet-authorization",
            "clusternet-content-length",
            "clusternet-transfer-encoding",
            "clusternet-connection",
            "clusternet-x-remote-user",
            "clusternet-impersonate-extra-",
            "clusternet-impersonate-userx",
        ] {
            let err = from_extras(&extras(&[(bad, "x")])).unwrap_err();
            assert_eq!(err.status_code(), http::StatusCode::BAD_REQUEST, "{bad}");
        }
        let ok = from_extras(&extras(&[
            ("clusternet-impersonate-uid", "1"),
            ("clusternet-impersonate-extra-scopes", "view"),
        ]))
        .unwrap();
        assert_eq!(ok.headers.len(), 2);
    }

    #[test]
    fn bad_certificates_are_400() {
        let err = from_extras(&extras(&[
            ("clusternet-certificate", "!!"),
            ("clusternet-privatekey", "a2V5"),
        ]))
        .unwrap_err();
        assert_eq!(err.status_code(), http::StatusCode::BAD_REQUEST);
        assert_eq!(
            from_extras(&BTreeMap::new()).unwrap(),
            Credentials::default()
        );
    }
}
