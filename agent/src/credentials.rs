//! Uploading the child's credentials to the parent, as Clusternet's agent does (always, even in
//! Pull mode): Secret `<dedicated namespace>/child-cluster-deployer` with the token of the
//! child's `clusternet-app-deployer` ServiceAccount (what the parent pushes applications with),
//! the child's CA, the ServiceAccount's name and uid, and the child API server URL.
//!
//! The hub verifies the child's API server against this `ca.crt` when it proxies. The CA comes
//! from the deployer's token Secret, or from the `kube-root-ca.crt` ConfigMap every namespace
//! has, so it is uploaded even where the deployer ServiceAccount is not installed.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use clusternet_apis::known;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};

/// Where the agent runs and what to upload.
#[derive(Clone, Debug)]
pub struct Upload {
    /// The agent's namespace in the child.
    pub agent_namespace: String,
    /// The cluster's dedicated namespace in the parent.
    pub parent_namespace: String,
    /// Cluster ID.
    pub cluster_id: String,
    /// Child API server URL.
    pub apiserver_url: String,
}

/// Uploads (and keeps retrying until it succeeds once).
pub async fn run(child: kube::Client, parent: kube::Client, upload: Upload) {
    let mut delay = Duration::from_millis(200);
    loop {
        match once(&child, &parent, &upload).await {
            Ok(()) => {
                tracing::info!(namespace = %upload.parent_namespace, "uploaded the child cluster's credentials to the parent");
                return;
            }
            Err(err) => {
                tracing::info!(error = %format!("{err:#}"), "uploading child credentials; retrying in {delay:?}")
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

async fn once(child: &kube::Client, parent: &kube::Client, upload: &Upload) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(child.clone(), &upload.agent_namespace);
    let accounts: Api<ServiceAccount> = Api::namespaced(child.clone(), &upload.agent_namespace);
    let deployer = secrets
        .get_opt(known::CLUSTERNET_APP_SA)
        .await
        .context("reading the deployer's token Secret")?;
    let data = deployer.and_then(|s| s.data).unwrap_or_default();
    let token = data.get(known::SECRET_TOKEN_KEY).cloned();
    let mut ca = data.get(known::SECRET_CA_CERT_KEY).cloned();
    if ca.is_none() {
        let maps: Api<ConfigMap> = Api::namespaced(child.clone(), &upload.agent_namespace);
        ca = maps.get_opt("kube-root-ca.crt").await?.and_then(|cm| {
            cm.data?
                .get(known::SECRET_CA_CERT_KEY)
                .map(|c| ByteString(c.as_bytes().to_vec()))
        });
    }
    let ca = ca.context(
        "the child's CA is not available yet (no deployer token Secret, no kube-root-ca.crt)",
    )?;
    let sa = accounts.get_opt(known::CLUSTERNET_APP_SA).await?;
    let mut out: BTreeMap<String, ByteString> = BTreeMap::new();
    out.insert(known::SECRET_CA_CERT_KEY.into(), ca);
    if let Some(token) = token {
        out.insert(known::SECRET_TOKEN_KEY.into(), token);
    }
    if let Some(sa) = &sa {
        out.insert(
            known::SERVICE_ACCOUNT_NAME_KEY.into(),
            ByteString(known::CLUSTERNET_APP_SA.as_bytes().to_vec()),
        );
        out.insert(
            known::SERVICE_ACCOUNT_UID_KEY.into(),
            ByteString(sa.metadata.uid.clone().unwrap_or_default().into_bytes()),
        );
    }
    out.insert(
        known::CLUSTER_API_SERVER_URL_KEY.into(),
        ByteString(upload.apiserver_url.as_bytes().to_vec()),
    );
    let labels: BTreeMap<String, String> = [
        (known::OBJECT_CREATED_BY_LABEL, known::CLUSTERNET_AGENT_NAME),
        (known::CLUSTER_BOOTSTRAPPING_LABEL, known::CREDENTIALS_AUTO),
        (known::CLUSTER_ID_LABEL, upload.cluster_id.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(known::CHILD_CLUSTER_SECRET_NAME.into()),
            namespace: Some(upload.parent_namespace.clone()),
            labels: Some(labels),
            annotations: Some(
                [(
                    known::AUTO_UPDATE_ANNOTATION.to_string(),
                    "true".to_string(),
                )]
                .into(),
            ),
            finalizers: Some(vec![known::APP_FINALIZER.into()]),
            ..Default::default()
        },
        data: Some(out),
        ..Default::default()
    };
    let parent_secrets: Api<Secret> = Api::namespaced(parent.clone(), &upload.parent_namespace);
    match parent_secrets.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let mut current = parent_secrets.get(known::CHILD_CLUSTER_SECRET_NAME).await?;
            if current.data == secret.data {
                return Ok(());
            }
            current.data = secret.data;
            current.metadata.labels = secret.metadata.labels;
            parent_secrets
                .replace(
                    known::CHILD_CLUSTER_SECRET_NAME,
                    &PostParams::default(),
                    &current,
                )
                .await?;
            Ok(())
        }
        Err(err) => Err(err).context("creating Secret child-cluster-deployer in the parent"),
    }
}
