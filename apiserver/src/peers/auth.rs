//! How peers prove themselves to each other (see the [module docs](super)): the dialed peer
//! presents the shared serving certificate, pinned byte for byte; the dialing peer sends a
//! token only a holder of the shared serving key can derive.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::Digest;

/// Domain separation: the token is useless as anything but a peer credential.
const TOKEN_CONTEXT: &[u8] = b"clusternet-hub peer token v1\0";

/// The files the credentials come from, read at each use so a rotated certificate applies.
#[derive(Clone)]
pub struct Credentials {
    cert: PathBuf,
    key: PathBuf,
    extra: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// From the serving certificate and key files and `--peer-token`.
    pub fn new(cert: PathBuf, key: PathBuf, extra: Option<String>) -> Self {
        Self { cert, key, extra }
    }

    /// The bearer token peers send: hex SHA-256 of the context, the serving key and the
    /// extra token.
    pub fn token(&self) -> Result<String> {
        let key = std::fs::read(&self.key)
            .with_context(|| format!("reading the serving key {}", self.key.display()))?;
        let mut h = sha2::Sha256::new();
        h.update(TOKEN_CONTEXT);
        h.update(&key);
        h.update(b"\0");
        h.update(self.extra.as_deref().unwrap_or("").as_bytes());
        Ok(hex::encode(h.finalize()))
    }

    /// Whether `authorization` (the header's value) carries the peer token. Compared in
    /// constant time, as digests (the lengths leak nothing either).
    pub fn check(&self, authorization: Option<&[u8]>) -> bool {
        let Some(presented) = authorization.and_then(|v| v.strip_prefix(b"Bearer ")) else {
            return false;
        };
        let Ok(expected) = self.token() else {
            return false;
        };
        let a = sha2::Sha256::digest(presented);
        let b = sha2::Sha256::digest(expected.as_bytes());
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }

    /// The DER of the serving certificate (the first in its file): what a genuine peer presents.
    pub fn pinned(&self) -> Result<Vec<u8>> {
        let cert = CertificateDer::from_pem_file(&self.cert)
            .with_context(|| format!("reading the serving certificate {}", self.cert.display()))?;
        Ok(cert.as_ref().to_vec())
    }

    /// TLS for dialing a peer: the peer must present the pinned certificate (whatever address
    /// it is dialed at: pod IPs are not in the certificate) and sign the handshake with its key.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Pinned {
            der: self.pinned()?,
            algorithms: provider.signature_verification_algorithms,
        };
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

#[derive(Debug)]
struct Pinned {
    der: Vec<u8>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.der.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the peer does not present the hub's serving certificate".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_checks() {
        let dir = tempdir();
        let key = dir.join("tls.key");
        let cert = dir.join("tls.crt");
        std::fs::write(&key, "KEY-A").unwrap();
        let a = Credentials::new(cert.clone(), key.clone(), None);
        let token = a.token().unwrap();
        assert!(a.check(Some(format!("Bearer {token}").as_bytes())));
        assert!(!a.check(None));
        assert!(!a.check(Some(b"Bearer ")));
        assert!(!a.check(Some(token.as_bytes())));
        assert!(!a.check(Some(b"Bearer not-the-token")));
        // --peer-token changes the credential; another key gives another one.
        let with_extra = Credentials::new(cert.clone(), key.clone(), Some("s".into()));
        assert_ne!(with_extra.token().unwrap(), token);
        std::fs::write(&key, "KEY-B").unwrap();
        assert_ne!(a.token().unwrap(), token);
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("peers-auth-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
