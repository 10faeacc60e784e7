//! CA bundles that verify client certificate chains (`--client-ca-file`, the
//! `client-ca-file` and `requestheader-client-ca-file` of ConfigMap
//! `kube-system/extension-apiserver-authentication`).

use std::sync::Arc;

use http::HeaderMap;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::{CertificateDer, UnixTime, pem::PemObject};

/// Namespace of the published ConfigMap.
pub const CONFIGMAP_NAMESPACE: &str = "kube-system";
/// Name of the published ConfigMap.
pub const CONFIGMAP_NAME: &str = "extension-apiserver-authentication";

/// A CA bundle able to verify client certificate chains.
#[derive(Clone)]
pub struct CaVerifier {
    verifier: Arc<dyn ClientCertVerifier>,
    /// The PEM it was built from (to tell whether anything changed).
    pub pem: String,
}

impl std::fmt::Debug for CaVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaVerifier").finish_non_exhaustive()
    }
}

impl CaVerifier {
    /// Builds a verifier from a PEM bundle of CA certificates.
    pub fn from_pem(pem: &str) -> Result<Self, ConfigError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| ConfigError(format!("bad CA PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| ConfigError(format!("bad CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(ConfigError("CA bundle holds no certificate".into()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| ConfigError(format!("building verifier: {e}")))?;
        Ok(Self {
            verifier,
            pem: pem.to_string(),
        })
    }

    /// Whether `chain` (end entity first) is a valid client certificate chain to this CA now.
    pub fn verifies(&self, chain: &[CertificateDer<'static>]) -> bool {
        let Some((end_entity, intermediates)) = chain.split_first() else {
            return false;
        };
        self.verifier
            .verify_client_cert(end_entity, intermediates, UnixTime::now())
            .is_ok()
    }
}

/// A configuration that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid authentication configuration: {0}")]
pub struct ConfigError(pub String);

/// The bearer token of an `Authorization` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// CN and O values of a certificate's subject.
pub fn subject(cert: &CertificateDer<'_>) -> Option<(String, Vec<String>)> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let subject = parsed.subject();
    let cn = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let orgs = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some((cn, orgs))
}
