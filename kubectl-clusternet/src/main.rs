//! `kubectl clusternet`: Clusternet's kubectl plugin, a drop-in for Go's `kubectl-clusternet`.
//!
//! kubectl's own commands run the real kubectl against a loopback endpoint of this process that
//! rewrites requests as Go's plugin does (resources of every group to the hub's shadow API,
//! `*.clusternet.io` and discovery untouched) and forwards them with the user's credentials; with
//! `--cluster-id` they go to that child through the hub instead. Beyond Go's plugin: `clusters`,
//! `kubeconfig <cluster>` and `get --clusters=…`.

mod args;
mod child;
mod clusters;
mod connection;
mod kubectl;
mod multi;
mod proxy;
mod rewrite;
mod table;

use std::process::ExitCode;

use anyhow::{Context, Result, bail};

/// kubectl's commands the plugin runs (Go's set, plus `logs`, `exec` and `port-forward`, which
/// Go's plugin also wires up and which make sense with `--cluster-id`).
const KUBECTL_COMMANDS: &[&str] = &[
    "annotate",
    "api-resources",
    "apply",
    "create",
    "delete",
    "edit",
    "get",
    "label",
    "scale",
    "logs",
    "exec",
    "port-forward",
];

const HELP: &str = "kubectl clusternet: kubectl for Clusternet. Templates go to the hub's shadow API,
Clusternet's own resources and discovery stay on the parent.

Usage:
  kubectl clusternet [command] [flags]

kubectl commands (rewritten to the shadow API; with --cluster-id, sent to that child):
  annotate, api-resources, apply, create, delete, edit, get, label, scale, logs, exec, port-forward

Clusternet commands:
  clusters      List the child clusters: id, readiness, version, nodes, capacity, heartbeat (-o wide|yaml|json)
  kubeconfig    Print a kubeconfig that reaches a child through the hub: kubeconfig <cluster name or id>
  version       Print the plugin version information

Flags (besides all of kubectl's global flags):
      --cluster-id='': [Clusternet] The child/member cluster UUID. Only works with '--child-kubeconfig'
          (without it, the cluster's deployer credentials on the parent are used, if you may read them).
      --child-kubeconfig='': [Clusternet] Path to the kubeconfig file for a child/member cluster.
      --clusternet-as='': [Clusternet] Username to impersonate for the operation to child cluster.
      --clusternet-as-group=[]: [Clusternet] Group to impersonate in the child cluster (repeatable).
      --clusternet-as-uid='': [Clusternet] UID to impersonate in the child cluster.
      --clusters='': [Clusternet] get only: read in these clusters (names or ids, comma-separated, or 'all').

Use \"kubectl clusternet <command> --help\" for more information about a command.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(raw: Vec<String>) -> Result<i32> {
    let a = args::parse(&raw)?;
    let Some(command) = a.command.clone() else {
        if a.help || a.rest.is_empty() {
            print!("{HELP}");
            return Ok(0);
        }
        bail!(
            "unknown flag or missing command in {:?}\nRun 'kubectl clusternet --help' for usage.",
            a.rest.join(" ")
        );
    };
    // Go's validation, kept for --child-kubeconfig without a cluster.
    if a.clusternet.cluster_id.is_none() && a.clusternet.child_kubeconfig.is_some() {
        bail!("please specify a valid cluster UUID with '--cluster-id'");
    }
    match command.as_str() {
        "version" => {
            println!("{}", version());
            Ok(0)
        }
        "help" => {
            print!("{HELP}");
            Ok(0)
        }
        "clusters" => clusters_command(&a).await,
        "kubeconfig" => kubeconfig_command(&a).await,
        "get" if a.clusternet.clusters.is_some() => {
            let parent = connection::parent(&a.connection).await?;
            let selector = a.clusternet.clusters.clone().unwrap_or_default();
            multi::run(&parent, &a, &selector).await
        }
        _ if a.clusternet.clusters.is_some() => {
            bail!("--clusters works with get only")
        }
        c if KUBECTL_COMMANDS.contains(&c) => passthrough(&a).await,
        other => bail!(
            "unknown command {other:?} for \"kubectl clusternet\"\nRun 'kubectl clusternet --help' for usage."
        ),
    }
}

fn version() -> String {
    let info = serde_json::json!({
        "gitVersion": concat!("v", env!("CARGO_PKG_VERSION")),
        "gitCommit": option_env!("CLUSTERNET_GIT_COMMIT").unwrap_or(""),
        "buildDate": option_env!("CLUSTERNET_BUILD_DATE").unwrap_or("1970-01-01T00:00:00Z"),
        // Go's names (GOOS/GOARCH), as Go's plugin prints them.
        "platform": format!("{}/{}", std::env::consts::OS, match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            other => other,
        }),
    });
    serde_json::to_string_pretty(&info).unwrap_or_default()
}

/// The route for kubectl's commands: the shadow API, or the child of `--cluster-id`.
async fn route(parent: &connection::Parent, a: &args::Args) -> Result<proxy::Route> {
    let Some(id) = &a.clusternet.cluster_id else {
        return Ok(proxy::Route::Shadow);
    };
    let creds = match &a.clusternet.child_kubeconfig {
        Some(path) => child::from_kubeconfig(path)?,
        None => {
            let all = child::list(&parent.client).await.context(
                "please specify a valid kubeconfig for child cluster through '--child-kubeconfig'",
            )?;
            let cluster = child::find(&all, id)?;
            child::from_deployer_secret(&parent.client, &cluster).await?
        }
    };
    Ok(proxy::Route::Child {
        cluster_id: id.clone(),
        headers: child::impersonation_headers(&child::extras(&creds, &a.clusternet))?,
    })
}

async fn passthrough(a: &args::Args) -> Result<i32> {
    let parent = connection::parent(&a.connection).await?;
    let route = route(&parent, a).await?;
    let endpoint = proxy::start(parent.client.clone(), vec![(String::new(), route)]).await?;
    let scratch = kubectl::Scratch::new()?;
    let kubeconfig = scratch.kubeconfig(
        "kubeconfig",
        &endpoint,
        "",
        &parent.config.default_namespace,
    )?;
    let status = kubectl::run_foreground(kubectl::command(&kubeconfig, &scratch, &a.rest)).await?;
    drop(endpoint);
    drop(scratch);
    Ok(status.code().unwrap_or(1))
}

async fn clusters_command(a: &args::Args) -> Result<i32> {
    let rest: Vec<String> = a.rest.iter().skip(1).cloned().collect();
    let output = args::flag_value(&rest, "output", Some("o"));
    let parent = connection::parent(&a.connection).await?;
    match output.as_deref() {
        None | Some("wide") => {
            let items = child::list(&parent.client).await?;
            if items.is_empty() {
                eprintln!("No resources found");
                return Ok(0);
            }
            let rows = clusters::rows(&items, output.is_some(), jiff::Timestamp::now());
            print!("{}", table::render(&rows));
            Ok(0)
        }
        Some(_) => {
            // kubectl prints the objects: every output format of `kubectl get` works.
            let endpoint = proxy::start(
                parent.client.clone(),
                vec![(String::new(), proxy::Route::Shadow)],
            )
            .await?;
            let scratch = kubectl::Scratch::new()?;
            let kubeconfig = scratch.kubeconfig("kubeconfig", &endpoint, "", "default")?;
            let mut args = vec![
                "get".to_string(),
                "managedclusters.clusters.clusternet.io".to_string(),
                "--all-namespaces".to_string(),
            ];
            args.extend(rest);
            let status =
                kubectl::run_foreground(kubectl::command(&kubeconfig, &scratch, &args)).await?;
            Ok(status.code().unwrap_or(1))
        }
    }
}

async fn kubeconfig_command(a: &args::Args) -> Result<i32> {
    let names = args::positionals(&a.rest);
    let [_, wanted] = names.as_slice() else {
        bail!(
            "kubeconfig takes one cluster (a ManagedCluster name or a cluster id), e.g. kubectl clusternet kubeconfig child1"
        );
    };
    let parent = connection::parent(&a.connection).await?;
    let Some(source) = &parent.kubeconfig else {
        bail!(
            "kubeconfig needs the parent's kubeconfig (--kubeconfig or $KUBECONFIG) to copy its credentials from"
        );
    };
    let all = child::list(&parent.client).await?;
    let cluster = child::find(&all, wanted)?;
    let creds = child::credentials(&parent.client, &cluster, &a.clusternet).await?;
    let extras = child::extras(&creds, &a.clusternet);

    // The parent's cluster entry, with the child's proxy path as the server.
    let parent_cluster = source
        .clusters
        .iter()
        .find(|c| {
            let server = c
                .cluster
                .as_ref()
                .and_then(|c| c.server.clone())
                .unwrap_or_default();
            server.trim_end_matches('/')
                == parent.config.cluster_url.to_string().trim_end_matches('/')
        })
        .and_then(|c| c.cluster.clone())
        .unwrap_or_default();
    let mut cluster_entry = parent_cluster;
    cluster_entry.server = Some(format!(
        "{}/apis/{}/v1alpha1/sockets/{}/proxy/direct",
        parent.config.cluster_url.to_string().trim_end_matches('/'),
        clusternet_apis::known::PROXIES_GROUP,
        cluster.id
    ));
    let mut user = parent.auth_info.clone();
    if user
        .impersonate
        .as_deref()
        .is_some_and(|u| u != child::IMPERSONATED_USER)
    {
        eprintln!(
            "Warning: the parent user's impersonation ({:?}) is replaced by {:?}, which the hub requires",
            user.impersonate,
            child::IMPERSONATED_USER
        );
    }
    user.impersonate = Some(child::IMPERSONATED_USER.into());
    user.impersonate_groups = None;
    user.impersonate_uid = None;
    user.impersonate_user_extra = Some(extras.into_iter().collect());
    let name = format!("clusternet-{}", cluster.name);
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster_entry}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    });
    print!("{}", serde_saphyr::to_string(&doc)?);
    Ok(0)
}
