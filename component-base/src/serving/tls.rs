//! TLS for the hub and the components' health and metrics servers: the serving certificate (from files, reloaded when they change, or
//! self-signed at start) and client-certificate handling.
//!
//! Client certificates are *requested, not required*, and their chain is not judged during the
//! handshake: bearer-token clients have none, and a certificate from an unknown CA must get a
//! 401 Status like kube-apiserver gives, not a failed handshake. The handshake still proves the
//! client holds the certificate's key; the chain is verified per request by the authenticator
//! against the CAs current at that moment, so a CA rotation applies to open connections too.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime, pem::PemObject};

/// The ring provider: the only crypto provider in the workspace.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the server config: ALPN h2 and http/1.1 (upgrades need HTTP/1.1), the reloading
/// certificate, optional client certificates.
pub fn server_config(cert: Arc<ReloadingCert>) -> Result<rustls::ServerConfig> {
    server_config_versions(cert, rustls::DEFAULT_VERSIONS)
}

/// [`server_config`] speaking only `versions` (`--tls-min-version=VersionTLS13`).
pub fn server_config_versions(
    cert: Arc<ReloadingCert>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<rustls::ServerConfig> {
    let provider = provider();
    let verifier = Arc::new(DeferredClientAuth {
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts any client certificate whose key the client proves to hold; see the module docs.
#[derive(Debug)]
struct DeferredClientAuth {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for DeferredClientAuth {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: Go and rustls clients then send their configured certificate as is.
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Chain validation happens per request in authn (module docs).
        Ok(ClientCertVerified::assertion())
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

/// The serving certificate, swapped in place when its files change.
#[derive(Debug)]
pub struct ReloadingCert {
    current: RwLock<Arc<CertifiedKey>>,
    files: Option<(PathBuf, PathBuf)>,
    modified: RwLock<Option<(SystemTime, SystemTime)>>,
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
    }
}

impl ReloadingCert {
    /// Loads `cert`/`key` (PEM) and remembers them for [`ReloadingCert::reload_if_changed`].
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self> {
        let certified = load(cert, key)?;
        Ok(Self {
            current: RwLock::new(Arc::new(certified)),
            files: Some((cert.to_path_buf(), key.to_path_buf())),
            modified: RwLock::new(mtimes(cert, key)),
        })
    }

    /// A certificate from PEM strings (no reload).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self> {
        Ok(Self {
            current: RwLock::new(Arc::new(certified_key(
                cert_pem.as_bytes(),
                key_pem.as_bytes(),
            )?)),
            files: None,
            modified: RwLock::new(None),
        })
    }

    /// Re-reads the files if their modification times changed. A broken new pair (e.g. a key
    /// written before its certificate) keeps the old one in service and is retried later.
    pub fn reload_if_changed(&self) -> Result<bool> {
        let Some((cert, key)) = &self.files else {
            return Ok(false);
        };
        let now = mtimes(cert, key);
        let before = self.modified.read().ok().and_then(|m| *m);
        if now.is_none() || now == before {
            return Ok(false);
        }
        let certified = load(cert, key)?;
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(certified);
        }
        if let Ok(mut modified) = self.modified.write() {
            *modified = now;
        }
        Ok(true)
    }

    /// Polls the files every `interval` until the process ends.
    pub fn spawn_reloader(self: &Arc<Self>, interval: Duration) {
        if self.files.is_none() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                match this.reload_if_changed() {
                    Ok(true) => tracing::info!("serving certificate reloaded"),
                    Ok(false) => {}
                    Err(err) => {
                        tracing::warn!(error = %format!("{err:#}"), "serving certificate not reloaded")
                    }
                }
            }
        });
    }
}

fn mtimes(cert: &Path, key: &Path) -> Option<(SystemTime, SystemTime)> {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(cert)?, m(key)?))
}

fn load(cert: &Path, key: &Path) -> Result<CertifiedKey> {
    let cert_pem = std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
    let key_pem = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
    certified_key(&cert_pem, &key_pem)
        .with_context(|| format!("loading {} / {}", cert.display(), key.display()))
}

fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .context("certificate PEM")?;
    anyhow::ensure!(!chain.is_empty(), "no certificate in PEM");
    let key = PrivateKeyDer::from_pem_slice(key_pem).context("private key PEM")?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .context("unsupported private key")?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .context("certificate and key do not match")?;
    Ok(certified)
}

/// A self-signed serving certificate for `names` (DNS names and IPs), written to `dir` as
/// `apiserver.crt`/`apiserver.key` (reused if already there), like genericapiserver's
/// `--cert-dir` behaviour. Returns the paths.
pub fn self_signed(dir: &Path, names: &[String]) -> Result<(PathBuf, PathBuf)> {
    let (cert, key) = pair_paths(dir);
    if cert.is_file() && key.is_file() {
        return Ok((cert, key));
    }
    let signing = rcgen::KeyPair::generate()?;
    let certificate = serving_params(names)?.self_signed(&signing)?;
    write_pair(dir, &certificate.pem(), &signing.serialize_pem())
}

/// What every serving certificate of the hub says: `names` as subject alternative names, the
/// first as common name, server authentication, valid until 2036. Signed by the caller (self,
/// or the hub's CA in its `serving_cert` module).
pub fn serving_params(names: &[String]) -> Result<rcgen::CertificateParams> {
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        names
            .first()
            .cloned()
            .unwrap_or_else(|| "clusternet-hub".into()),
    );
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    Ok(params)
}

fn pair_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("apiserver.crt"), dir.join("apiserver.key"))
}

/// Writes a certificate and its key (mode 0600) to `dir` as `apiserver.crt`/`apiserver.key`,
/// where `--tls-cert-file`/`--tls-private-key-file` would point; returns their paths.
pub fn write_pair(dir: &Path, cert_pem: &str, key_pem: &str) -> Result<(PathBuf, PathBuf)> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (cert, key) = pair_paths(dir);
    std::fs::write(&cert, cert_pem)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&key)?;
    f.write_all(key_pem.as_bytes())?;
    Ok((cert, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_reused_and_loadable() {
        let dir = tempdir();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let (cert, key) = self_signed(&dir, &names).unwrap();
        let first = std::fs::read(&cert).unwrap();
        let (cert2, _) = self_signed(&dir, &names).unwrap();
        assert_eq!(first, std::fs::read(cert2).unwrap());
        let reloading = ReloadingCert::from_files(&cert, &key).unwrap();
        assert!(!reloading.reload_if_changed().unwrap());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn mismatched_key_is_refused() {
        let a = rcgen::generate_simple_self_signed(vec!["a".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b".into()]).unwrap();
        let err = certified_key(
            a.cert.pem().as_bytes(),
            b.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("do not match"), "{err:#}");
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "hub-tls-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }
}
