//! Registration with the parent, as Clusternet's agent does it: the cluster ID is the UID of the
//! agent's leader-election Lease; stored credentials (Secret `parent-cluster`) are reused when
//! they are for the same parent URL; otherwise a ClusterRegistrationRequest
//! `clusternet-<cluster-id>` is created with the bootstrap token and polled until the parent
//! approves it, and the credentials from its status are stored for next time.
//!
//! Better than Clusternet: before using the bootstrap token, the parent's CA is pinned from the
//! `kube-public/cluster-info` ConfigMap when it carries a JWS signature made with that token
//! (what `kubeadm join` does), so the token is never sent to an unverified server. Only when
//! the parent publishes no such signature does bootstrapping fall back to Clusternet's
//! unverified TLS, with a warning. After approval the parent CA from the request's status is
//! always verified.
//!
//! Also better than Clusternet: the request carries a public key (the private half stays in
//! Secret `clusternet-registration-key` in the child), and the approver seals the token to it,
//! so the bootstrap token — shared by every cluster that registers with it — cannot read
//! another cluster's credentials from its request. A plain token (from Go Clusternet's
//! controller-manager) is still accepted.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine;
use clusternet_apis::clusters::v1beta1::{
    ApprovedResult, ClusterRegistrationRequest, ClusterRegistrationRequestSpec, ClusterType,
};
use clusternet_apis::known;
use clusternet_component_base::client::{ServerTrust, token_config};
use clusternet_component_base::sealed;
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ObjectMeta, PostParams};

use crate::options::Options;

/// Annotation on the Lease carrying a pre-v0.15 cluster ID (Clusternet's migration path).
const LEGACY_CLUSTER_ID_ANNOTATION: &str = "legacy-cluster-id";

/// Secret (in the agent's namespace of the child) holding the key the parent seals this
/// cluster's token to.
pub const REGISTRATION_KEY_SECRET: &str = "clusternet-registration-key";
const REGISTRATION_KEY: &str = "private-key";

/// What the agent needs to talk to the parent as its cluster.
#[derive(Clone)]
pub struct ParentCredentials {
    /// Parent kube-apiserver URL.
    pub url: String,
    /// The dedicated ServiceAccount token.
    pub token: String,
    /// The parent's CA (PEM).
    pub ca_pem: Vec<u8>,
    /// The cluster's dedicated namespace in the parent.
    pub namespace: String,
    /// The cluster's name (ManagedCluster name).
    pub cluster_name: String,
}

impl std::fmt::Debug for ParentCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("ParentCredentials")
            .field("url", &self.url)
            .field("namespace", &self.namespace)
            .field("cluster_name", &self.cluster_name)
            .finish_non_exhaustive()
    }
}

impl ParentCredentials {
    /// A client to the parent with these credentials, verifying the parent's CA.
    pub fn client(&self) -> Result<kube::Client> {
        let config = token_config(
            &self.url,
            &self.token,
            &ServerTrust::Ca(self.ca_pem.clone()),
        )?;
        clusternet_component_base::client::client(config)
    }
}

/// The cluster ID: the Lease's `legacy-cluster-id` annotation if present, else its UID.
pub fn cluster_id(lease: &Lease) -> Result<String> {
    if let Some(id) = lease
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LEGACY_CLUSTER_ID_ANNOTATION))
    {
        return Ok(id.clone());
    }
    lease
        .metadata
        .uid
        .clone()
        .context("the leader-election Lease has no UID")
}

/// `clusternet-<cluster-id>`.
pub fn request_name(cluster_id: &str) -> String {
    format!("{}{cluster_id}", known::NAME_PREFIX_FOR_CLUSTERNET_OBJECTS)
}

/// Registers (or re-attaches) this cluster and returns credentials for the parent.
pub async fn register(
    child: &kube::Client,
    opts: &Options,
    cluster_id: &str,
) -> Result<ParentCredentials> {
    let secrets: Api<Secret> =
        Api::namespaced(child.clone(), &opts.leader_election.resource_namespace);
    let mut delay = Duration::from_millis(250);
    let mut try_stored = true;
    // The parent's pinned CA, found once (cluster-info is not fetched again per attempt).
    let mut trust: Option<ServerTrust> = None;
    loop {
        let attempt = async {
            if try_stored && let Some(stored) = stored_credentials(&secrets, opts).await? {
                match confirm(&stored, opts, cluster_id, &secrets).await {
                    Ok(creds) => return Ok(creds),
                    Err(err) => {
                        tracing::warn!(error = %format!("{err:#}"), "stored parent credentials do not work; registering with the bootstrap token");
                        try_stored = false;
                    }
                }
            }
            let creds = bootstrap(opts, cluster_id, &secrets, &mut trust).await?;
            store(&secrets, &creds, cluster_id).await?;
            anyhow::Ok(creds)
        };
        match attempt.await {
            Ok(creds) => return Ok(creds),
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "registration attempt failed; retrying in {delay:?}")
            }
        }
        tokio::time::sleep(jittered(delay)).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Credentials from Secret `parent-cluster`, if they are for `--cluster-reg-parent-url`.
async fn stored_credentials(
    secrets: &Api<Secret>,
    opts: &Options,
) -> Result<Option<ParentCredentials>> {
    let Some(secret) = secrets.get_opt(known::PARENT_CLUSTER_SECRET_NAME).await? else {
        return Ok(None);
    };
    let data = secret.data.clone().unwrap_or_default();
    let text = |k: &str| {
        data.get(k)
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            .unwrap_or_default()
    };
    let url = text(known::CLUSTER_API_SERVER_URL_KEY);
    if url != opts.cluster_reg_parent_url {
        tracing::warn!(stored = %url, flag = %opts.cluster_reg_parent_url, "the parent URL changed; re-registering");
        return Ok(None);
    }
    let name = secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(known::CLUSTER_NAME_LABEL))
        .cloned()
        .unwrap_or_default();
    Ok(Some(ParentCredentials {
        url,
        token: text(known::SECRET_TOKEN_KEY),
        ca_pem: data
            .get(known::SECRET_CA_CERT_KEY)
            .map(|b| b.0.clone())
            .unwrap_or_default(),
        namespace: text(known::SECRET_NAMESPACE_KEY),
        cluster_name: if opts.cluster_reg_name.is_empty() {
            name
        } else {
            opts.cluster_reg_name.clone()
        },
    }))
}

/// Checks stored credentials against the parent: the request still exists (filed again if an
/// admin deleted it) and is approved. The stored token stays in use: the parent removes a plain
/// one from the request once it has been used.
async fn confirm(
    stored: &ParentCredentials,
    opts: &Options,
    cluster_id: &str,
    secrets: &Api<Secret>,
) -> Result<ParentCredentials> {
    let api: Api<ClusterRegistrationRequest> = Api::all(stored.client()?);
    if api.get_opt(&request_name(cluster_id)).await?.is_none() {
        let key = registration_key(secrets).await?;
        api.create(
            &PostParams::default(),
            &new_request(opts, cluster_id, &stored.cluster_name, &key)?,
        )
        .await?;
    }
    let approved = wait_approved(&api, &request_name(cluster_id)).await?;
    let status = approved.status.unwrap_or_default();
    let mut creds = stored.clone();
    if let Some(ca) = status.ca_certificate.filter(|c| !c.0.is_empty()) {
        creds.ca_pem = ca.0;
    }
    if !status.dedicated_namespace.is_empty() {
        creds.namespace = status.dedicated_namespace;
    }
    Ok(creds)
}

/// The key this cluster's token is sealed to: from its Secret, or new (and stored before any
/// request carries its public half).
async fn registration_key(secrets: &Api<Secret>) -> Result<sealed::OpeningKey> {
    if let Some(secret) = secrets.get_opt(REGISTRATION_KEY_SECRET).await?
        && let Some(bytes) = secret.data.as_ref().and_then(|d| d.get(REGISTRATION_KEY))
    {
        return sealed::OpeningKey::from_bytes(&bytes.0)
            .with_context(|| format!("Secret {REGISTRATION_KEY_SECRET}"));
    }
    let key = sealed::OpeningKey::generate()?;
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(REGISTRATION_KEY_SECRET.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            REGISTRATION_KEY.to_string(),
            ByteString(key.to_bytes().to_vec()),
        )])),
        ..Default::default()
    };
    match secrets.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(key),
        // Another replica stored one first: use that.
        Err(kube::Error::Api(s)) if s.code == 409 => Box::pin(registration_key(secrets)).await,
        Err(err) => Err(err).context("storing the registration key"),
    }
}

/// How the parent's certificate is checked while bootstrapping: its CA pinned from a
/// cluster-info signed for the token, or (none published) not at all, as Clusternet does.
async fn parent_trust(opts: &Options) -> Result<ServerTrust> {
    Ok(match pinned_parent_ca(opts).await {
        Ok(Some(ca)) => {
            tracing::info!(
                "pinned the parent CA from kube-public/cluster-info (JWS-verified with the bootstrap token)"
            );
            ServerTrust::Ca(ca)
        }
        Ok(None) => {
            tracing::warn!(
                "the parent publishes no cluster-info signed for this token; bootstrapping without verifying the parent's certificate (as Clusternet does)"
            );
            ServerTrust::Insecure
        }
        Err(err) => bail!("verifying the parent's cluster-info: {err:#}"),
    })
}

/// Registers with the bootstrap token; a pinned CA in `trust` is found once and kept.
async fn bootstrap(
    opts: &Options,
    cluster_id: &str,
    secrets: &Api<Secret>,
    trust: &mut Option<ServerTrust>,
) -> Result<ParentCredentials> {
    // Only a pinned CA is kept: without one, the next attempt looks again (the parent's
    // bootstrap signer may not have signed cluster-info for this token yet).
    let trust = match trust {
        Some(t) => t.clone(),
        None => {
            let found = parent_trust(opts).await?;
            if matches!(found, ServerTrust::Ca(_)) {
                *trust = Some(found.clone());
            }
            found
        }
    };
    let client = clusternet_component_base::client::client(token_config(
        &opts.cluster_reg_parent_url,
        &opts.cluster_reg_token,
        &trust,
    )?)?;
    let api: Api<ClusterRegistrationRequest> = Api::all(client);
    // A name picked by an earlier run is kept: from the stored Secret, else from the request.
    let mut name = opts.cluster_reg_name.clone();
    if name.is_empty() {
        name = secrets
            .get_opt(known::PARENT_CLUSTER_SECRET_NAME)
            .await?
            .and_then(|s| {
                s.metadata
                    .labels
                    .and_then(|l| l.get(known::CLUSTER_NAME_LABEL).cloned())
            })
            .unwrap_or_else(|| generated_name(&opts.cluster_reg_name_prefix));
    }
    let key = registration_key(secrets).await?;
    let request = new_request(opts, cluster_id, &name, &key)?;
    match api.create(&PostParams::default(), &request).await {
        Ok(_) => {
            tracing::info!(request = %request_name(cluster_id), cluster = %name, "created ClusterRegistrationRequest")
        }
        Err(kube::Error::Api(s)) if s.code == 409 => {
            tracing::info!(request = %request_name(cluster_id), "ClusterRegistrationRequest exists; waiting for its approval");
        }
        Err(err) => return Err(err).context("creating ClusterRegistrationRequest"),
    }
    let approved = wait_approved(&api, &request_name(cluster_id)).await?;
    credentials_from(&approved, &opts.cluster_reg_parent_url, &key)
}

fn generated_name(prefix: &str) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    format!("{prefix}-{suffix}")
}

fn new_request(
    opts: &Options,
    cluster_id: &str,
    name: &str,
    key: &sealed::OpeningKey,
) -> Result<ClusterRegistrationRequest> {
    let mut labels = BTreeMap::new();
    labels.insert(
        known::CLUSTER_REGISTERED_BY_LABEL.to_string(),
        known::CLUSTERNET_AGENT_NAME.to_string(),
    );
    labels.insert(known::CLUSTER_ID_LABEL.to_string(), cluster_id.to_string());
    labels.insert(known::CLUSTER_NAME_LABEL.to_string(), name.to_string());
    let mut request = ClusterRegistrationRequest::new(
        &request_name(cluster_id),
        ClusterRegistrationRequestSpec {
            cluster_id: cluster_id.to_string(),
            cluster_type: Some(match opts.cluster_reg_type.as_str() {
                "EdgeCluster" => ClusterType::EdgeCluster,
                _ => ClusterType::StandardCluster,
            }),
            cluster_name: name.to_string(),
            cluster_namespace: opts.cluster_reg_namespace.clone(),
            cluster_labels: opts.labels()?,
            sync_mode: Some(opts.cluster_sync_mode.into()),
        },
    );
    request.metadata.labels = Some(labels);
    request.metadata.annotations = Some(BTreeMap::from([(
        sealed::PUBLIC_KEY_ANNOTATION.to_string(),
        key.public_key_annotation(),
    )]));
    Ok(request)
}

/// Polls the request until the parent decides (the bootstrap identity may only get and create
/// requests, so it cannot watch).
async fn wait_approved(
    api: &Api<ClusterRegistrationRequest>,
    name: &str,
) -> Result<ClusterRegistrationRequest> {
    let mut delay = Duration::from_millis(100);
    loop {
        let request = match api.get(name).await {
            Ok(request) => request,
            // The parent's API Priority and Fairness turns a crowd of registering agents away
            // (one flow: they share the bootstrap token's user): keep waiting, not start over.
            Err(kube::Error::Api(s)) if s.code == 429 => {
                tracing::debug!(request = name, "the parent asked to retry later (429)");
                tokio::time::sleep(jittered(delay)).await;
                delay = (delay * 2).min(APPROVAL_POLL_MAX);
                continue;
            }
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("reading ClusterRegistrationRequest {name}"));
            }
        };
        if let Some(status) = &request.status {
            match &status.result {
                Some(ApprovedResult::RequestApproved) => return Ok(request),
                Some(ApprovedResult::RequestDenied) => bail!(
                    "registration denied by the parent: {}",
                    status.error_message
                ),
                Some(ApprovedResult::RequestFailed) => bail!(
                    "registration failed in the parent: {}",
                    status.error_message
                ),
                _ => {}
            }
        }
        // Jittered, so a thousand agents started at once do not poll in step.
        tokio::time::sleep(jittered(delay)).await;
        delay = (delay * 2).min(APPROVAL_POLL_MAX);
    }
}

/// `delay` × a random factor in [0.5, 1.5) (the generator is not held across an await: the
/// future stays Send).
pub(crate) fn jittered(delay: Duration) -> Duration {
    use rand::Rng;
    delay.mul_f64(rand::rng().random_range(0.5..1.5))
}

/// The longest wait between two looks at a pending request: a thousand agents waiting then
/// cost the parent about 200 requests a second (the bootstrap identity cannot watch).
const APPROVAL_POLL_MAX: Duration = Duration::from_secs(5);

fn credentials_from(
    request: &ClusterRegistrationRequest,
    url: &str,
    key: &sealed::OpeningKey,
) -> Result<ParentCredentials> {
    let status = request
        .status
        .clone()
        .context("approved request without status")?;
    let token = status.dedicated_token.map(|t| t.0).unwrap_or_default();
    anyhow::ensure!(
        !token.is_empty(),
        "the approved request carries no token: it was used already (an earlier registration stored it in Secret {}); to register again, delete ClusterRegistrationRequest {} on the parent",
        known::PARENT_CLUSTER_SECRET_NAME,
        request_name(&request.spec.cluster_id)
    );
    let token = if sealed::is_sealed(&token) {
        key.open(&token)?
    } else {
        token
    };
    let token = String::from_utf8(token).context("the token is not text")?;
    let ca_pem = status.ca_certificate.map(|c| c.0).unwrap_or_default();
    anyhow::ensure!(
        !token.is_empty() && !ca_pem.is_empty() && !status.dedicated_namespace.is_empty(),
        "approved request lacks token, CA or namespace"
    );
    Ok(ParentCredentials {
        url: url.to_string(),
        token,
        ca_pem,
        namespace: status.dedicated_namespace,
        cluster_name: if status.managed_cluster_name.is_empty() {
            request.spec.cluster_name.clone()
        } else {
            status.managed_cluster_name
        },
    })
}

/// Stores the credentials in Secret `parent-cluster` (keys as Clusternet's agent writes them).
async fn store(secrets: &Api<Secret>, creds: &ParentCredentials, cluster_id: &str) -> Result<()> {
    let data: BTreeMap<String, ByteString> = [
        (known::SECRET_CA_CERT_KEY, creds.ca_pem.clone()),
        (known::SECRET_TOKEN_KEY, creds.token.as_bytes().to_vec()),
        (
            known::SECRET_NAMESPACE_KEY,
            creds.namespace.as_bytes().to_vec(),
        ),
        (
            known::CLUSTER_API_SERVER_URL_KEY,
            creds.url.as_bytes().to_vec(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), ByteString(v)))
    .collect();
    let labels: BTreeMap<String, String> = [
        (known::CLUSTER_BOOTSTRAPPING_LABEL, known::CREDENTIALS_AUTO),
        (known::CLUSTER_ID_LABEL, cluster_id),
        (known::CLUSTER_NAME_LABEL, creds.cluster_name.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(known::PARENT_CLUSTER_SECRET_NAME.into()),
            labels: Some(labels),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    };
    match secrets.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let mut current = secrets.get(known::PARENT_CLUSTER_SECRET_NAME).await?;
            current.data = secret.data;
            current.metadata.labels = secret.metadata.labels;
            secrets
                .replace(
                    known::PARENT_CLUSTER_SECRET_NAME,
                    &PostParams::default(),
                    &current,
                )
                .await?;
            Ok(())
        }
        Err(err) => Err(err).context("storing Secret parent-cluster"),
    }
}

/// The parent's CA from `kube-public/cluster-info`, if it carries a valid JWS signature for our
/// bootstrap token. Fetched anonymously without verifying TLS: the signature is what makes the
/// content trustworthy.
async fn pinned_parent_ca(opts: &Options) -> Result<Option<Vec<u8>>> {
    let Some((token_id, token_secret)) = bootstrap_token_parts(&opts.cluster_reg_token) else {
        return Ok(None);
    };
    let mut config = kube::Config::new(
        opts.cluster_reg_parent_url
            .parse()
            .context("--cluster-reg-parent-url")?,
    );
    config.accept_invalid_certs = true;
    let client = clusternet_component_base::client::client(config)?;
    let api: Api<ConfigMap> = Api::namespaced(client, "kube-public");
    let cm = match api.get_opt("cluster-info").await {
        Ok(Some(cm)) => cm,
        Ok(None) => return Ok(None),
        // Not readable anonymously: nothing to pin.
        Err(kube::Error::Api(s)) if s.code == 401 || s.code == 403 => return Ok(None),
        Err(err) => return Err(err).context("reading kube-public/cluster-info"),
    };
    let data = cm.data.unwrap_or_default();
    let (Some(kubeconfig), Some(signature)) = (
        data.get("kubeconfig"),
        data.get(&format!("jws-kubeconfig-{token_id}")),
    ) else {
        return Ok(None);
    };
    if !detached_jws_valid(signature, kubeconfig, token_id, token_secret) {
        bail!(
            "kube-public/cluster-info is signed for this token ID but the signature does not verify: refusing to bootstrap"
        );
    }
    let parsed =
        kube::config::Kubeconfig::from_yaml(kubeconfig).context("cluster-info kubeconfig")?;
    let ca_b64 = parsed
        .clusters
        .first()
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.certificate_authority_data.clone())
        .context("cluster-info has no certificate-authority-data")?;
    Ok(Some(
        base64::engine::general_purpose::STANDARD
            .decode(ca_b64)
            .context("cluster-info CA")?,
    ))
}

/// `abcdef.0123456789abcdef` → (`abcdef`, `0123456789abcdef`).
fn bootstrap_token_parts(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let ok = |s: &str, n: usize| {
        s.len() == n
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    (ok(id, 6) && ok(secret, 16)).then_some((id, secret))
}

/// Verifies a detached compact JWS (`<header>..<signature>`) over `content`, HS256 keyed with
/// the token secret, as k8s.io/cluster-bootstrap signs cluster-info.
fn detached_jws_valid(detached: &str, content: &str, token_id: &str, token_secret: &str) -> bool {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = detached.split('.');
    let (Some(header), Some(""), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(header_json) = b64.decode(header) else {
        return false;
    };
    let Ok(header_value) = serde_json::from_slice::<serde_json::Value>(&header_json) else {
        return false;
    };
    if header_value["alg"] != "HS256" || header_value["kid"] != token_id {
        return false;
    }
    let Ok(signature) = b64.decode(signature) else {
        return false;
    };
    let signing_input = format!("{header}.{}", b64.encode(content.as_bytes()));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token_secret.as_bytes());
    ring::hmac::verify(&key, signing_input.as_bytes(), &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(content: &str, id: &str, secret: &str) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(format!("{{\"alg\":\"HS256\",\"kid\":\"{id}\"}}"));
        let input = format!("{header}.{}", b64.encode(content));
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        format!(
            "{header}..{}",
            b64.encode(ring::hmac::sign(&key, input.as_bytes()).as_ref())
        )
    }

    #[test]
    fn jws_over_cluster_info() {
        let content = "apiVersion: v1\nkind: Config\n";
        let good = sign(content, "abcdef", "0123456789abcdef");
        assert!(detached_jws_valid(
            &good,
            content,
            "abcdef",
            "0123456789abcdef"
        ));
        assert!(!detached_jws_valid(
            &good,
            content,
            "abcdef",
            "0123456789abcdeX"
        ));
        assert!(!detached_jws_valid(
            &good,
            "tampered",
            "abcdef",
            "0123456789abcdef"
        ));
        assert!(!detached_jws_valid(
            &good,
            content,
            "zzzzzz",
            "0123456789abcdef"
        ));
        assert!(!detached_jws_valid(
            "not.a.jws.at.all",
            content,
            "abcdef",
            "0123456789abcdef"
        ));
    }

    #[test]
    fn bootstrap_token_format() {
        assert_eq!(
            bootstrap_token_parts("abcdef.0123456789abcdef"),
            Some(("abcdef", "0123456789abcdef"))
        );
        assert_eq!(bootstrap_token_parts("eyJhbGciOi.JSUzI1NiIs"), None);
        assert_eq!(bootstrap_token_parts("ABCDEF.0123456789abcdef"), None);
    }

    #[test]
    fn request_naming_and_generated_names() {
        assert_eq!(request_name("3c1d"), "clusternet-3c1d");
        let name = generated_name("clusternet-cluster");
        assert!(
            name.starts_with("clusternet-cluster-")
                && name.len() == "clusternet-cluster-".len() + 5
        );
    }
}
