//! Reaching a child through the hub: which cluster (by name or id), with which credentials
//! (`--child-kubeconfig`, or the cluster's deployer credentials in its dedicated namespace on the
//! parent, which only callers the parent lets read that Secret can use), and the user extras
//! that carry them, named as Go Clusternet names them.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use base64::Engine;
use clusternet_apis::clusters::v1beta1::ManagedCluster;
use clusternet_apis::known;
use http::{HeaderName, HeaderValue};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::config::Kubeconfig;
use secrecy::ExposeSecret;

use crate::args::Clusternet;

/// The user the caller impersonates on the parent so that the hub reads the extras.
pub const IMPERSONATED_USER: &str = "clusternet";

/// A child cluster as the parent knows it.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// ManagedCluster name.
    pub name: String,
    /// Its dedicated namespace.
    pub namespace: String,
    /// Cluster ID.
    pub id: String,
}

impl Cluster {
    fn of(mc: &ManagedCluster) -> Self {
        Self {
            name: mc.metadata.name.clone().unwrap_or_default(),
            namespace: mc.metadata.namespace.clone().unwrap_or_default(),
            id: mc.spec.cluster_id.clone(),
        }
    }
}

/// Credentials for a child.
#[derive(Clone)]
pub enum Credentials {
    /// A bearer token.
    Token(String),
    /// A client certificate and its key (PEM).
    Certificate {
        /// Certificate (PEM).
        cert: Vec<u8>,
        /// Key (PEM).
        key: Vec<u8>,
    },
}

/// Every ManagedCluster (all namespaces), sorted by name.
pub async fn list(client: &kube::Client) -> Result<Vec<ManagedCluster>> {
    let mut items = Api::<ManagedCluster>::all(client.clone())
        .list(&ListParams::default())
        .await
        .context("listing ManagedClusters")?
        .items;
    items.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(items)
}

/// The cluster named `wanted` (ManagedCluster name or cluster id) among `all`.
pub fn find(all: &[ManagedCluster], wanted: &str) -> Result<Cluster> {
    let by_id: Vec<&ManagedCluster> = all.iter().filter(|m| m.spec.cluster_id == wanted).collect();
    if let [one] = by_id.as_slice() {
        return Ok(Cluster::of(one));
    }
    let by_name: Vec<&ManagedCluster> = all
        .iter()
        .filter(|m| m.metadata.name.as_deref() == Some(wanted))
        .collect();
    match by_name.as_slice() {
        [one] => Ok(Cluster::of(one)),
        [] => bail!(
            "managedclusters.clusters.clusternet.io {wanted:?} not found (neither a cluster name nor a cluster id)"
        ),
        many => bail!(
            "{} ManagedClusters are named {wanted:?} (in namespaces {}): use the cluster id",
            many.len(),
            many.iter()
                .filter_map(|m| m.metadata.namespace.clone())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The credentials of `--child-kubeconfig`: its current user's token or client certificate.
pub fn from_kubeconfig(path: &str) -> Result<Credentials> {
    let kc = Kubeconfig::read_from(path).with_context(|| format!("reading kubeconfig {path}"))?;
    let context = kc
        .current_context
        .as_ref()
        .and_then(|name| kc.contexts.iter().find(|c| &c.name == name))
        .and_then(|c| c.context.as_ref())
        .with_context(|| format!("kubeconfig {path} has no current context"))?;
    let user = kc
        .auth_infos
        .iter()
        .find(|u| Some(&u.name) == context.user.as_ref())
        .and_then(|u| u.auth_info.clone())
        .with_context(|| format!("kubeconfig {path}: the current context has no user"))?;
    if let Some(token) = &user.token {
        return Ok(Credentials::Token(token.expose_secret().to_string()));
    }
    if let Some(file) = &user.token_file {
        let token = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
        return Ok(Credentials::Token(token.trim().to_string()));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let data =
        |inline: Option<&str>, file: Option<&String>, what: &str| -> Result<Option<Vec<u8>>> {
            if let Some(inline) = inline {
                return Ok(Some(b64.decode(inline.trim()).with_context(|| {
                    format!("kubeconfig {path}: {what} is not base64")
                })?));
            }
            file.map(|f| std::fs::read(f).with_context(|| format!("reading {f}")))
                .transpose()
        };
    let cert = data(
        user.client_certificate_data.as_deref(),
        user.client_certificate.as_ref(),
        "client-certificate-data",
    )?;
    let key = data(
        user.client_key_data.as_ref().map(|k| k.expose_secret()),
        user.client_key.as_ref(),
        "client-key-data",
    )?;
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Credentials::Certificate { cert, key }),
        _ => bail!(
            "kubeconfig {path}: its user has neither a token nor a client certificate and key (exec plugins are not passed to the child)"
        ),
    }
}

/// The cluster's deployer token, from Secret `child-cluster-deployer` in its dedicated namespace.
pub async fn from_deployer_secret(client: &kube::Client, cluster: &Cluster) -> Result<Credentials> {
    let secret = Api::<Secret>::namespaced(client.clone(), &cluster.namespace)
        .get(known::CHILD_CLUSTER_SECRET_NAME)
        .await
        .with_context(|| {
            format!(
                "reading the credentials of cluster {} (Secret {}/{}); or pass --child-kubeconfig",
                cluster.name,
                cluster.namespace,
                known::CHILD_CLUSTER_SECRET_NAME
            )
        })?;
    let token = secret
        .data
        .as_ref()
        .and_then(|d| d.get(known::SECRET_TOKEN_KEY))
        .with_context(|| {
            format!(
                "Secret {}/{} has no {}",
                cluster.namespace,
                known::CHILD_CLUSTER_SECRET_NAME,
                known::SECRET_TOKEN_KEY
            )
        })?;
    Ok(Credentials::Token(
        String::from_utf8_lossy(&token.0).trim().to_string(),
    ))
}

/// `--child-kubeconfig` when given, else the deployer credentials.
pub async fn credentials(
    client: &kube::Client,
    cluster: &Cluster,
    flags: &Clusternet,
) -> Result<Credentials> {
    match &flags.child_kubeconfig {
        Some(path) => from_kubeconfig(path),
        None => from_deployer_secret(client, cluster).await,
    }
}

/// The user extras for the hub (lower case, as the parent passes them on): the child's
/// credentials and the child-side impersonation of `--clusternet-as*`.
pub fn extras(creds: &Credentials, flags: &Clusternet) -> BTreeMap<String, Vec<String>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = BTreeMap::new();
    match creds {
        Credentials::Token(token) => {
            out.insert("clusternet-token".to_string(), vec![token.clone()]);
        }
        Credentials::Certificate { cert, key } => {
            out.insert("clusternet-certificate".to_string(), vec![b64.encode(cert)]);
            out.insert("clusternet-privatekey".to_string(), vec![b64.encode(key)]);
        }
    }
    if let Some(user) = &flags.as_user {
        out.insert("clusternet-impersonate-user".into(), vec![user.clone()]);
    }
    if let Some(uid) = &flags.as_uid {
        out.insert("clusternet-impersonate-uid".into(), vec![uid.clone()]);
    }
    if !flags.as_groups.is_empty() {
        out.insert(
            "clusternet-impersonate-group".into(),
            flags.as_groups.clone(),
        );
    }
    out
}

/// The same as the parent's impersonation headers.
pub fn impersonation_headers(
    extras: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<(HeaderName, HeaderValue)>> {
    let mut out = vec![(
        HeaderName::from_static("impersonate-user"),
        HeaderValue::from_static(IMPERSONATED_USER),
    )];
    for (key, values) in extras {
        let name = HeaderName::from_bytes(format!("impersonate-extra-{key}").as_bytes())
            .with_context(|| format!("extra {key}"))?;
        for value in values {
            out.push((
                name.clone(),
                HeaderValue::from_str(value).with_context(|| format!("value of extra {key}"))?,
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extras_as_go_names_them() {
        let flags = Clusternet {
            as_user: Some("bob".into()),
            as_groups: vec!["g1".into(), "g2".into()],
            ..Default::default()
        };
        let e = extras(&Credentials::Token("t".into()), &flags);
        assert_eq!(e["clusternet-token"], ["t"]);
        assert_eq!(e["clusternet-impersonate-user"], ["bob"]);
        assert_eq!(e["clusternet-impersonate-group"], ["g1", "g2"]);
        let h = impersonation_headers(&e).unwrap();
        assert_eq!(h[0].1, "clusternet");
        assert!(
            h.iter()
                .any(|(n, v)| n == "impersonate-extra-clusternet-token" && v == "t")
        );
        assert_eq!(
            h.iter()
                .filter(|(n, _)| n == "impersonate-extra-clusternet-impersonate-group")
                .count(),
            2
        );
        let c = extras(
            &Credentials::Certificate {
                cert: b"C".to_vec(),
                key: b"K".to_vec(),
            },
            &Clusternet::default(),
        );
        assert_eq!(c["clusternet-certificate"], ["Qw=="]);
        assert_eq!(c["clusternet-privatekey"], ["Sw=="]);
    }
}
