//! The hub's serving certificate when none is given by flags: a CA and a certificate for the
//! hub's Service names, kept in a Secret so every replica (and every restart) serves the same
//! one, and the CA published into the hub's own APIServices as `spec.caBundle` — so the
//! aggregator verifies the hub instead of skipping TLS verification as Go Clusternet's
//! manifests do.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, Patch, PatchParams, PostParams};

const CA_KEY: &str = "ca.crt";
const CERT_KEY: &str = "tls.crt";
const KEY_KEY: &str = "tls.key";

/// PEM material of the serving certificate.
#[derive(Clone, Debug)]
pub struct ServingCert {
    /// CA that signed the certificate (what goes into caBundle).
    pub ca_pem: String,
    /// The certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

impl ServingCert {
    /// A new CA and a certificate for `names`, signed by it.
    pub fn generate(names: &[String]) -> Result<Self> {
        let ca_key = rcgen::KeyPair::generate()?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "clusternet-hub-ca");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        ca_params.not_after = rcgen::date_time_ymd(2036, 1, 1);
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let key = rcgen::KeyPair::generate()?;
        let cert = crate::server::tls::serving_params(names)?.signed_by(&key, &issuer)?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Writes certificate and key to `dir`; returns their paths.
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf)> {
        crate::server::tls::write_pair(dir, &self.cert_pem, &self.key_pem)
    }
}

/// Reads the serving certificate from Secret `namespace/name`, creating it (with a new CA) if
/// it does not exist. Two replicas starting at once agree: the loser of the create race reads
/// the winner's Secret.
pub async fn ensure(client: kube::Client, secret: &str, names: &[String]) -> Result<ServingCert> {
    let (namespace, name) = secret.split_once('/').with_context(|| {
        format!("--serving-cert-secret must be <namespace>/<name>, got {secret:?}")
    })?;
    let api: Api<Secret> = Api::namespaced(client, namespace);
    if let Some(existing) = api
        .get_opt(name)
        .await
        .with_context(|| format!("reading Secret {secret}"))?
    {
        return from_secret(&existing)
            .with_context(|| format!("Secret {secret} is not a usable serving certificate"));
    }
    let generated = ServingCert::generate(names)?;
    let data = [
        (CA_KEY, &generated.ca_pem),
        (CERT_KEY, &generated.cert_pem),
        (KEY_KEY, &generated.key_pem),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
    .collect();
    let object = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(
                [(
                    clusternet_apis::known::OBJECT_CREATED_BY_LABEL.to_string(),
                    clusternet_apis::known::CLUSTERNET_HUB_NAME.to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(data),
        ..Default::default()
    };
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => {
            tracing::info!(secret, "created the hub's serving certificate");
            Ok(generated)
        }
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let existing = api.get(name).await?;
            from_secret(&existing)
        }
        Err(err) => Err(err).with_context(|| format!("creating Secret {secret}")),
    }
}

fn from_secret(secret: &Secret) -> Result<ServingCert> {
    let data = secret.data.clone().unwrap_or_default();
    let get = |key: &str| -> Result<String> {
        let bytes = data
            .get(key)
            .with_context(|| format!("missing key {key}"))?;
        String::from_utf8(bytes.0.clone()).with_context(|| format!("key {key} is not PEM text"))
    };
    Ok(ServingCert {
        ca_pem: get(CA_KEY)?,
        cert_pem: get(CERT_KEY)?,
        key_pem: get(KEY_KEY)?,
    })
}

/// Sets `spec.caBundle` of each APIService to `ca_pem` (only that field; port, priorities and
/// service stay as deployed). A missing APIService is an error, so the caller retries: it may
/// be applied after the hub starts.
pub async fn publish_ca_bundle(
    client: kube::Client,
    apiservices: &[String],
    ca_pem: &str,
) -> Result<()> {
    let api: Api<APIService> = Api::all(client);
    let encoded = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        ca_pem.as_bytes(),
    );
    for name in apiservices.iter().filter(|n| !n.is_empty()) {
        match api.get_opt(name).await? {
            None => anyhow::bail!("APIService {name} not found; its caBundle is not set yet"),
            Some(current) => {
                let same = current
                    .spec
                    .as_ref()
                    .and_then(|s| s.ca_bundle.as_ref())
                    .is_some_and(|b| b.0 == ca_pem.as_bytes());
                if same {
                    continue;
                }
                let patch = serde_json::json!({"spec": {"caBundle": encoded, "insecureSkipTLSVerify": null}});
                api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .with_context(|| format!("setting caBundle of APIService {name}"))?;
                tracing::info!(apiservice = %name, "caBundle set");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_chains_to_its_ca() {
        let names = vec![
            "clusternet-hub.clusternet-system.svc".to_string(),
            "localhost".to_string(),
        ];
        let sc = ServingCert::generate(&names).unwrap();
        let ca = rustls_pki_types::CertificateDer::from_pem_slice_checked(sc.ca_pem.as_bytes());
        let cert = rustls_pki_types::CertificateDer::from_pem_slice_checked(sc.cert_pem.as_bytes());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            std::sync::Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        use rustls::client::danger::ServerCertVerifier;
        let name =
            rustls_pki_types::ServerName::try_from("clusternet-hub.clusternet-system.svc").unwrap();
        verifier
            .verify_server_cert(&cert, &[], &name, &[], rustls_pki_types::UnixTime::now())
            .unwrap();
    }

    trait PemChecked {
        fn from_pem_slice_checked(pem: &[u8]) -> Self;
    }
    impl PemChecked for rustls_pki_types::CertificateDer<'static> {
        fn from_pem_slice_checked(pem: &[u8]) -> Self {
            use rustls_pki_types::pem::PemObject;
            Self::from_pem_slice(pem).unwrap()
        }
    }
}
