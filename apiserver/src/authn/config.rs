//! The authentication configuration kube-apiserver publishes for extension apiservers, in
//! ConfigMap `kube-system/extension-apiserver-authentication`, parsed into ready-to-use
//! verifiers. It is rebuilt on every change of the ConfigMap (or of the files given by flags), so
//! a rotated CA applies to the next request without a restart.

use std::collections::BTreeMap;

pub use clusternet_component_base::serving::ca::{
    CONFIGMAP_NAME, CONFIGMAP_NAMESPACE, CaVerifier, ConfigError,
};

/// Front-proxy (requestheader) authentication settings.
#[derive(Clone, Debug)]
pub struct RequestHeaderConfig {
    /// CA that signs front-proxy client certificates.
    pub ca: CaVerifier,
    /// Allowed CNs of the front-proxy cert; empty allows any cert of the CA.
    pub allowed_names: Vec<String>,
    /// Headers carrying the user name (first non-empty wins).
    pub username_headers: Vec<String>,
    /// Headers carrying groups (all values).
    pub group_headers: Vec<String>,
    /// Prefixes of headers carrying extras.
    pub extra_prefixes: Vec<String>,
    /// Headers carrying the uid.
    pub uid_headers: Vec<String>,
}

/// Everything needed to authenticate requests without a round trip (tokens aside).
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// CA for plain client-certificate users (`client-ca-file`).
    pub client_ca: Option<CaVerifier>,
    /// Front-proxy settings.
    pub request_header: Option<RequestHeaderConfig>,
}

/// Values set by flags; each one, when given, overrides the ConfigMap.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--client-ca-file` contents.
    pub client_ca: Option<String>,
    /// `--requestheader-client-ca-file` contents.
    pub requestheader_ca: Option<String>,
    /// `--requestheader-allowed-names`.
    pub allowed_names: Option<Vec<String>>,
    /// `--requestheader-username-headers`.
    pub username_headers: Option<Vec<String>>,
    /// `--requestheader-group-headers`.
    pub group_headers: Option<Vec<String>>,
    /// `--requestheader-extra-headers-prefix`.
    pub extra_prefixes: Option<Vec<String>>,
    /// `--requestheader-uid-headers`.
    pub uid_headers: Option<Vec<String>>,
}

fn json_list(
    data: &BTreeMap<String, String>,
    key: &str,
) -> Result<Option<Vec<String>>, ConfigError> {
    match data.get(key).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(raw) => serde_json::from_str(raw)
            .map(Some)
            .map_err(|e| ConfigError(format!("{key} is not a JSON list of strings: {e}"))),
    }
}

impl AuthConfig {
    /// Builds the configuration from the ConfigMap's data, with flag overrides applied.
    pub fn from_data(
        data: &BTreeMap<String, String>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let client_ca_pem = overrides
            .client_ca
            .clone()
            .or_else(|| data.get("client-ca-file").cloned());
        let client_ca = match client_ca_pem.filter(|p| !p.trim().is_empty()) {
            Some(pem) => Some(CaVerifier::from_pem(&pem)?),
            None => None,
        };
        let rh_pem = overrides
            .requestheader_ca
            .clone()
            .or_else(|| data.get("requestheader-client-ca-file").cloned());
        let request_header = match rh_pem.filter(|p| !p.trim().is_empty()) {
            None => None,
            Some(pem) => {
                let pick = |over: &Option<Vec<String>>,
                            key: &str,
                            default: &[&str]|
                 -> Result<Vec<String>, ConfigError> {
                    Ok(match over {
                        Some(v) => v.clone(),
                        None => json_list(data, key)?
                            .unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect()),
                    })
                };
                Some(RequestHeaderConfig {
                    ca: CaVerifier::from_pem(&pem)?,
                    allowed_names: pick(
                        &overrides.allowed_names,
                        "requestheader-allowed-names",
                        &[],
                    )?,
                    username_headers: lower(pick(
                        &overrides.username_headers,
                        "requestheader-username-headers",
                        &["X-Remote-User"],
                    )?),
                    group_headers: lower(pick(
                        &overrides.group_headers,
                        "requestheader-group-headers",
                        &["X-Remote-Group"],
                    )?),
                    extra_prefixes: lower(pick(
                        &overrides.extra_prefixes,
                        "requestheader-extra-headers-prefix",
                        &["X-Remote-Extra-"],
                    )?),
                    uid_headers: lower(pick(
                        &overrides.uid_headers,
                        "requestheader-uid-headers",
                        &[],
                    )?),
                })
            }
        };
        Ok(Self {
            client_ca,
            request_header,
        })
    }
}

fn lower(v: Vec<String>) -> Vec<String> {
    v.into_iter()
        .map(|s| s.to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn parses_the_published_configmap() {
        let ca = ca_pem();
        let data: BTreeMap<String, String> = [
            ("client-ca-file", ca.as_str()),
            ("requestheader-client-ca-file", ca.as_str()),
            ("requestheader-allowed-names", "[\"front-proxy-client\"]"),
            ("requestheader-username-headers", "[\"X-Remote-User\"]"),
            ("requestheader-group-headers", "[\"X-Remote-Group\"]"),
            (
                "requestheader-extra-headers-prefix",
                "[\"X-Remote-Extra-\"]",
            ),
            ("requestheader-uid-headers", "[\"X-Remote-Uid\"]"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let cfg = AuthConfig::from_data(&data, &Overrides::default()).unwrap();
        assert!(cfg.client_ca.is_some());
        let rh = cfg.request_header.unwrap();
        assert_eq!(rh.allowed_names, ["front-proxy-client"]);
        assert_eq!(rh.username_headers, ["x-remote-user"]);
        assert_eq!(rh.extra_prefixes, ["x-remote-extra-"]);
        assert_eq!(rh.uid_headers, ["x-remote-uid"]);
    }

    #[test]
    fn missing_requestheader_ca_disables_front_proxy_auth() {
        let cfg = AuthConfig::from_data(&BTreeMap::new(), &Overrides::default()).unwrap();
        assert!(cfg.client_ca.is_none() && cfg.request_header.is_none());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let data: BTreeMap<String, String> = [(
            "requestheader-client-ca-file".to_string(),
            "not a pem".to_string(),
        )]
        .into_iter()
        .collect();
        assert!(AuthConfig::from_data(&data, &Overrides::default()).is_err());
        let data: BTreeMap<String, String> = [
            ("requestheader-client-ca-file".to_string(), ca_pem()),
            (
                "requestheader-allowed-names".to_string(),
                "front-proxy-client".to_string(),
            ),
        ]
        .into_iter()
        .collect();
        assert!(AuthConfig::from_data(&data, &Overrides::default()).is_err());
    }
}
