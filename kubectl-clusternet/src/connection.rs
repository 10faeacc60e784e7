//! The parent connection, read as kubectl reads it: `--kubeconfig` or `$KUBECONFIG` (merged) or
//! `~/.kube/config`, `--context`/`--cluster`/`--user`, and the flag overrides (`--server`,
//! `--token`, `--certificate-authority`, …) applied to the selected entries; in a pod without a
//! kubeconfig, the in-cluster ServiceAccount. Exec credential plugins, auth providers and
//! client certificates work as kube-rs implements them.

use anyhow::{Context as _, Result};
use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};

use crate::args::Connection;

/// The parent: a client with the user's credentials, and where it points.
pub struct Parent {
    /// Client (no read timeout: watches run as long as the user wants).
    pub client: kube::Client,
    /// The configuration it was built from.
    pub config: kube::Config,
    /// The kubeconfig it came from, after the flag overrides (for `kubeconfig <cluster>`).
    pub kubeconfig: Option<Kubeconfig>,
    /// The selected context's user entry, after the flag overrides.
    pub auth_info: AuthInfo,
}

fn read_kubeconfig(flags: &Connection) -> Result<Option<Kubeconfig>> {
    if let Some(path) = &flags.kubeconfig {
        return Kubeconfig::read_from(path)
            .map(Some)
            .with_context(|| format!("reading kubeconfig {path}"));
    }
    let explicit = std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty());
    let home = std::env::var_os("HOME")
        .map(|h| std::path::Path::new(&h).join(".kube/config"))
        .is_some_and(|p| p.is_file());
    if explicit || home {
        return Kubeconfig::read().map(Some).context("reading kubeconfig");
    }
    Ok(None)
}

/// Applies the flag overrides to the entries `flags` selects in `kc` (creating them when the
/// flags name a server that no kubeconfig has), and returns the options that select them.
fn apply_overrides(kc: &mut Kubeconfig, flags: &Connection) -> KubeConfigOptions {
    let context_name = flags
        .context
        .clone()
        .or_else(|| kc.current_context.clone())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "clusternet-flags".to_string());
    if !kc.contexts.iter().any(|c| c.name == context_name) {
        kc.contexts.push(NamedContext {
            name: context_name.clone(),
            context: Some(Context {
                cluster: flags
                    .cluster
                    .clone()
                    .unwrap_or_else(|| "clusternet-flags".into()),
                user: Some(
                    flags
                        .user
                        .clone()
                        .unwrap_or_else(|| "clusternet-flags".into()),
                ),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let context = kc
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.clone())
        .unwrap_or_default();
    let cluster_name = flags.cluster.clone().unwrap_or(context.cluster.clone());
    let user_name = flags
        .user
        .clone()
        .or(context.user.clone())
        .unwrap_or_else(|| "clusternet-flags".into());
    if !kc.clusters.iter().any(|c| c.name == cluster_name) && flags.server.is_some() {
        kc.clusters.push(NamedCluster {
            name: cluster_name.clone(),
            cluster: Some(Cluster::default()),
            ..Default::default()
        });
    }
    if let Some(cluster) = kc
        .clusters
        .iter_mut()
        .find(|c| c.name == cluster_name)
        .map(|c| c.cluster.get_or_insert_with(Cluster::default))
    {
        if let Some(server) = &flags.server {
            cluster.server = Some(server.clone());
        }
        if let Some(ca) = &flags.certificate_authority {
            cluster.certificate_authority = Some(ca.clone());
            cluster.certificate_authority_data = None;
        }
        if flags.insecure_skip_tls_verify {
            cluster.insecure_skip_tls_verify = Some(true);
            cluster.certificate_authority = None;
            cluster.certificate_authority_data = None;
        }
        if let Some(name) = &flags.tls_server_name {
            cluster.tls_server_name = Some(name.clone());
        }
    }
    if !kc.auth_infos.iter().any(|u| u.name == user_name) {
        kc.auth_infos.push(NamedAuthInfo {
            name: user_name.clone(),
            auth_info: Some(AuthInfo::default()),
            ..Default::default()
        });
    }
    if let Some(user) = kc
        .auth_infos
        .iter_mut()
        .find(|u| u.name == user_name)
        .map(|u| u.auth_info.get_or_insert_with(AuthInfo::default))
    {
        if let Some(token) = &flags.token {
            user.token = Some(token.clone().into());
            user.token_file = None;
        }
        if let Some(cert) = &flags.client_certificate {
            user.client_certificate = Some(cert.clone());
            user.client_certificate_data = None;
        }
        if let Some(key) = &flags.client_key {
            user.client_key = Some(key.clone());
            user.client_key_data = None;
        }
        if let Some(name) = &flags.username {
            user.username = Some(name.clone());
        }
        if let Some(password) = &flags.password {
            user.password = Some(password.clone().into());
        }
    }
    KubeConfigOptions {
        context: Some(context_name),
        cluster: Some(cluster_name),
        user: Some(user_name),
    }
}

/// Connects to the parent as the user.
pub async fn parent(flags: &Connection) -> Result<Parent> {
    let (mut config, kubeconfig, auth_info) = match read_kubeconfig(flags)? {
        None if flags.server.is_none() => {
            let config = kube::Config::incluster().context(
                "no kubeconfig (--kubeconfig, $KUBECONFIG or ~/.kube/config) and not in a pod",
            )?;
            let auth = config.auth_info.clone();
            (config, None, auth)
        }
        kc => {
            let mut kc = kc.unwrap_or_default();
            let options = apply_overrides(&mut kc, flags);
            let auth = kc
                .auth_infos
                .iter()
                .find(|u| Some(&u.name) == options.user.as_ref())
                .and_then(|u| u.auth_info.clone())
                .unwrap_or_default();
            let config = kube::Config::from_custom_kubeconfig(kc.clone(), &options)
                .await
                .context("loading the kubeconfig")?;
            (config, Some(kc), auth)
        }
    };
    // Watches (`get -w`), `logs -f` and `edit` sessions last as long as the user wants.
    config.read_timeout = None;
    config.write_timeout = None;
    // kubectl sees every answer as the server gave it and retries as kubectl does; kube's own
    // retries of 429/503/504 would hold a child's "agent disconnected" for minutes.
    config.default_retry = false;
    let client = kube::Client::try_from(config.clone()).context("building the client")?;
    Ok(Parent {
        client,
        config,
        kubeconfig,
        auth_info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig() -> Kubeconfig {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "p", "cluster": {"server": "https://p:6443", "certificate-authority-data": "QQ=="}}],
            "users": [{"name": "u", "user": {"token": "t"}}, {"name": "v", "user": {"token": "w"}}],
            "contexts": [{"name": "c", "context": {"cluster": "p", "user": "u", "namespace": "demo"}},
                         {"name": "d", "context": {"cluster": "p", "user": "v"}}],
            "current-context": "c",
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn flags_override_the_selected_entries() {
        let mut kc = kubeconfig();
        let flags = Connection {
            context: Some("d".into()),
            server: Some("https://q:6443".into()),
            insecure_skip_tls_verify: true,
            token: Some("x".into()),
            ..Default::default()
        };
        let options = apply_overrides(&mut kc, &flags);
        let config = kube::Config::from_custom_kubeconfig(kc, &options)
            .await
            .unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://q:6443/");
        assert!(config.accept_invalid_certs);
        assert_eq!(config.default_namespace, "default");
        use secrecy::ExposeSecret;
        assert_eq!(config.auth_info.token.unwrap().expose_secret(), "x");
    }

    #[tokio::test]
    async fn current_context_and_its_namespace() {
        let mut kc = kubeconfig();
        let options = apply_overrides(&mut kc, &Connection::default());
        let config = kube::Config::from_custom_kubeconfig(kc, &options)
            .await
            .unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://p:6443/");
        assert_eq!(config.default_namespace, "demo");
    }

    #[tokio::test]
    async fn a_server_flag_without_kubeconfig() {
        let mut kc = Kubeconfig::default();
        let flags = Connection {
            server: Some("https://r:6443".into()),
            token: Some("x".into()),
            ..Default::default()
        };
        let options = apply_overrides(&mut kc, &flags);
        let config = kube::Config::from_custom_kubeconfig(kc, &options)
            .await
            .unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://r:6443/");
    }
}
