//! `clusternet-local`: the local environment behind `make up` / `make down`.
//!
//! `up` starts `parent` and `child1..childN` as real control planes under `_output/local/<name>`
//! (reusing what is already running), gives each child kube-scheduler and `--nodes` simulated
//! (KWOK) nodes, installs Clusternet into them, serves the Helm chart fixtures (a public chart
//! repository on 127.0.0.1:18080, one behind basic auth, an OCI registry; see
//! `clusternet_test_support::charts`) and prints what to type next. `down` stops every process
//! `up` started.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use clusternet_test_support::charts::ChartRepos;
use clusternet_test_support::clusternet::{self, Mode};
use clusternet_test_support::kwok::{NodePool, Workloads};
use clusternet_test_support::{ControlPlane, paths, process};
use serde::{Deserialize, Serialize};

#[derive(Parser)]
#[command(about = "Local parent + child clusters for Clusternet")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start parent and child clusters (idempotent) and install Clusternet.
    Up {
        /// Number of child clusters.
        #[arg(long, default_value_t = 2)]
        clusters: usize,
        /// Simulated (KWOK) nodes per child, with kube-scheduler; 0: neither.
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Port of the public chart repository on 127.0.0.1 (deploy/examples/helm names 18080).
        #[arg(long, default_value_t = 18080)]
        charts_port: u16,
    },
    /// Stop everything `up` started.
    Down,
    /// Show what is running.
    Status,
    /// Serve the chart repositories in `dir` until SIGTERM (what `up` starts in the background).
    #[command(hide = true)]
    ServeCharts {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        port: u16,
    },
}

fn local_dir() -> PathBuf {
    paths::output_dir().join("local")
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Up {
            clusters,
            nodes,
            charts_port,
        } => up(clusters, nodes, charts_port).await,
        Cmd::Down => down(),
        Cmd::Status => status().await,
        Cmd::ServeCharts { dir, port } => serve_charts(&dir, port).await,
    }
}

fn cluster_names(children: usize) -> Vec<String> {
    std::iter::once("parent".to_string())
        .chain((1..=children).map(|i| format!("child{i}")))
        .collect()
}

async fn up(children: usize, nodes: usize, charts_port: u16) -> Result<()> {
    let started = Instant::now();
    // The chart repositories start alongside the control planes.
    let charts = tokio::spawn(start_charts(charts_port));
    let names = cluster_names(children);
    println!("==> starting control planes: {}", names.join(", "));
    let mut tasks = Vec::new();
    for (i, name) in names.clone().into_iter().enumerate() {
        // Children run workloads (kube-scheduler + KWOK) when they get nodes; the parent never.
        let workloads = (i > 0 && nodes > 0).then(|| Workloads::for_child(i));
        tasks.push(tokio::spawn(async move {
            let dir = local_dir().join(&name);
            let running = match ControlPlane::attach(&dir).await {
                // Started with or without workloads before: restart it the way it is wanted now
                // (its data stays).
                Ok(cp) if cp.kwok_port().is_some() != workloads.is_some() => {
                    ControlPlane::stop_detached(&dir);
                    None
                }
                Ok(cp) => Some(cp),
                Err(_) => None,
            };
            match running {
                Some(cp) => {
                    println!("    {name}: already running at {}", cp.server());
                    Ok(cp)
                }
                None => {
                    let t = Instant::now();
                    let cp = ControlPlane::start_detached(&name, &dir, workloads.as_ref())
                        .await
                        .with_context(|| format!("starting {name}"))?;
                    println!(
                        "    {name}: ready at {} ({:.1}s)",
                        cp.server(),
                        t.elapsed().as_secs_f64()
                    );
                    anyhow::Ok(cp)
                }
            }
        }));
    }
    let mut planes = Vec::new();
    for task in tasks {
        planes.push(task.await??);
    }
    let parent = &planes[0];
    if nodes > 0 {
        let pool = NodePool::of(nodes);
        println!(
            "==> simulated nodes (KWOK) in each child: {nodes} × ({}); kube-scheduler places pods on them",
            pool.capacity
        );
        for (i, child) in planes.iter().enumerate().skip(1) {
            let names = child.ensure_kwok_nodes(&pool).await?;
            println!(
                "    {}: {} Ready, pod IPs from {}",
                child.name(),
                names.join(", "),
                Workloads::for_child(i).pod_cidr
            );
        }
    }

    println!("==> installing Clusternet CRDs into parent");
    clusternet_test_support::clusternet::install_crds(parent).await?;

    println!("==> starting clusternet-hub (aggregated apiserver) for parent");
    let hub_dir = local_dir().join("parent");
    let hub_pid = process::running_current(
        &hub_dir.join("clusternet-hub.pid"),
        &paths::cargo_bin("clusternet-hub")?,
    );
    match (hub_pid, std::fs::read_to_string(hub_dir.join("hub.addr"))) {
        (Some(pid), Ok(addr)) => {
            let port: u16 = addr
                .trim()
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .context("hub.addr")?;
            clusternet::register_local_hub(parent, port).await?;
            clusternet::wait_apiservices_available(parent, std::time::Duration::from_secs(60))
                .await?;
            println!("    clusternet-hub: already running (pid {pid}) on 127.0.0.1:{port}");
        }
        _ => {
            let t = Instant::now();
            let hub = clusternet::install_hub(parent, &hub_dir, Mode::Detached, Default::default())
                .await?;
            println!(
                "    clusternet-hub: serving on {} (pid {}), APIServices Available ({:.1}s); log: {}",
                hub.addr,
                hub.process.pid,
                t.elapsed().as_secs_f64(),
                hub.process.log.display()
            );
        }
    }

    println!(
        "==> starting clusternet-controller-manager, clusternet-scheduler and an agent in each child"
    );
    clusternet::apply_deploy(parent, "hub/40-bootstrap-rbac.yaml").await?;
    clusternet::apply_deploy(parent, "hub/50-socketsproxy-rbac.yaml").await?;
    let token = bootstrap_token(parent).await?;
    let parent_dir = local_dir().join("parent");
    if process::running_current(
        &parent_dir.join("clusternet-controller-manager.pid"),
        &paths::cargo_bin("clusternet-controller-manager")?,
    )
    .is_none()
    {
        // The deployer and FeedInventory are behind gates (off by default, as in Go).
        let gates = [
            "--feature-gates=SocketConnection=true,Deployer=true,FeedInventory=true".to_string(),
        ];
        clusternet::install_controller_manager(parent, &parent_dir, Mode::Detached, &gates).await?;
    }
    if process::running_current(
        &parent_dir.join("clusternet-scheduler.pid"),
        &paths::cargo_bin("clusternet-scheduler")?,
    )
    .is_none()
    {
        clusternet::install_scheduler(parent, &parent_dir, Mode::Detached, &[]).await?;
    }
    for child in &planes[1..] {
        let dir = local_dir().join(child.name());
        if process::running_current(
            &dir.join("clusternet-agent.pid"),
            &paths::cargo_bin("clusternet-agent")?,
        )
        .is_none()
        {
            clusternet::install_agent(child, parent, &token, &dir, Mode::Detached, &[]).await?;
        }
    }
    let t = Instant::now();
    let rows = clusternet_test_support::wait_for(
        "every child cluster Ready",
        std::time::Duration::from_secs(120),
        std::time::Duration::from_millis(200),
        || async {
            let out = parent.kubectl(["get", "mcls", "-A"]).await?;
            let ready = out
                .lines()
                .skip(1)
                .filter(|l| l.split_whitespace().nth(5) == Some("True"))
                .count();
            Ok((ready == planes.len() - 1).then_some(out))
        },
    )
    .await?;
    println!(
        "    all {} children registered and Ready ({:.1}s)",
        planes.len() - 1,
        t.elapsed().as_secs_f64()
    );
    print!("{rows}");
    // Templates are written through the shadow API: wait until kubectl can discover it.
    clusternet::wait_for_shadow_resource(
        parent,
        "deployments.shadow",
        true,
        std::time::Duration::from_secs(90),
    )
    .await?;

    let rel = |p: &std::path::Path| {
        p.strip_prefix(paths::workspace_root())
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|_| p.to_path_buf())
    };
    println!();
    println!(
        "Local Clusternet environment is up ({:.0}s).",
        started.elapsed().as_secs_f64()
    );
    for cp in &planes {
        println!(
            "  {:<8} {}  kubeconfig: {}",
            cp.name(),
            cp.server(),
            rel(cp.kubeconfig()).display()
        );
    }
    println!();
    println!("Try:");
    println!("  export PATH=$PWD/_output/bin:$PATH   # kubectl of the same version");
    println!("  export KUBECONFIG={}", rel(parent.kubeconfig()).display());
    println!("  kubectl get mcls -A                  # the registered child clusters");
    println!("  kubectl api-resources --api-group=shadow");
    if let Some(child) = planes.get(1) {
        println!(
            "  kubectl --kubeconfig {} get ns   # a child, directly",
            rel(child.kubeconfig()).display()
        );
    }
    println!("  make down                            # stop everything");
    println!();
    println!("Deploy an app to every child (two lines):");
    println!(
        "  kubectl apply -f deploy/examples/replication/feeds.yaml -f deploy/examples/replication/subscription.yaml"
    );
    if let Some(child) = planes.get(1) {
        println!(
            "  kubectl --kubeconfig {} get deploy,svc -n demo",
            rel(child.kubeconfig()).display()
        );
    }
    if nodes > 0 {
        println!(
            "The Deployment turns READY 2/2 in every child within seconds (pods on the KWOK nodes);"
        );
        println!(
            "  kubectl get subs app-demo -o jsonpath='{{.status.aggregatedStatuses}}'   # readyReplicas per cluster"
        );
        if let Some(child) = planes.get(1) {
            println!(
                "  kubectl --kubeconfig {} get nodes,pods -o wide -A   # NODES=n make up for another count",
                rel(child.kubeconfig()).display()
            );
        }
    } else {
        println!("(NODES=0: no nodes and no kube-scheduler in the children; pods stay Pending)");
    }
    println!();
    match charts.await? {
        Ok((info, reused)) => {
            println!(
                "Deploy a Helm chart to every child (chart repositories{}: test/fixtures/charts):",
                if reused { ", already running" } else { "" }
            );
            println!("  public     {}", info.http_url);
            println!(
                "  basic auth {}   user {} password {}",
                info.auth_url, info.username, info.password
            );
            println!("  OCI        {}   (plain HTTP)", info.oci_url);
            println!("  kubectl apply -f deploy/examples/helm/");
            if let Some(child) = planes.get(1) {
                println!(
                    "  kubectl --kubeconfig {} get cm -n hello",
                    rel(child.kubeconfig()).display()
                );
            }
        }
        Err(err) => {
            println!(
                "The chart repositories did not start, so the Helm example cannot run: {err:#}"
            );
        }
    }
    println!();
    println!(
        "The kubectl plugin (_output/bin/kubectl-clusternet; Clusternet's examples as they are):"
    );
    println!(
        "  kubectl clusternet clusters                                  # every child: ready, version, nodes, capacity"
    );
    println!(
        "  kubectl clusternet apply -f examples/static-dividing-scheduling/   # after setting the cluster ids in it"
    );
    println!("  kubectl clusternet get deploy -A                             # the templates");
    println!(
        "  kubectl clusternet get deploy -A --clusters=all              # what runs in each child"
    );
    println!(
        "  kubectl clusternet kubeconfig child1 > child1.kubeconfig     # a child through the hub, for any tool"
    );
    Ok(())
}

/// The bootstrap token `up` created earlier (kept in `_output/local/parent/bootstrap-token`), or
/// a new one.
async fn bootstrap_token(parent: &ControlPlane) -> Result<clusternet::BootstrapToken> {
    let file = local_dir().join("parent").join("bootstrap-token");
    if let Ok(token) = std::fs::read_to_string(&file) {
        let token = token.trim().to_string();
        let id = token.split('.').next().unwrap_or_default().to_string();
        let exists = parent
            .kubectl_cmd()
            .output(
                [
                    "get",
                    "secret",
                    &format!("bootstrap-token-{id}"),
                    "-n",
                    "kube-system",
                ],
                None,
            )
            .await?
            .success;
        if exists {
            return Ok(clusternet::BootstrapToken { token, id });
        }
    }
    let token = clusternet::prepare_parent(parent).await?;
    std::fs::write(&file, &token.token)?;
    Ok(token)
}

fn down() -> Result<()> {
    let dir = local_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("nothing to stop ({} does not exist)", dir.display());
        return Ok(());
    };
    let mut stopped = 0;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    // Clusternet components first, control planes last, so nothing logs errors about a
    // vanished apiserver on its way out.
    for d in &dirs {
        for pid_file in process::pid_files(d) {
            if pid_file.file_stem().is_some_and(|s| s == "controlplane") {
                continue;
            }
            if let Some(pid) = process::stop(&pid_file, std::time::Duration::from_secs(10)) {
                println!("stopped {} (pid {pid})", pid_file.display());
                stopped += 1;
            }
        }
    }
    for d in &dirs {
        if ControlPlane::stop_detached(d) {
            println!("stopped control plane {}", d.display());
            stopped += 1;
        }
    }
    println!("{stopped} process(es) stopped");
    Ok(())
}

async fn status() -> Result<()> {
    let Ok(entries) = std::fs::read_dir(local_dir()) else {
        println!("not running");
        return Ok(());
    };
    for entry in entries.flatten() {
        let d = entry.path();
        if d == charts_dir() {
            match (
                process::running_pid(&d.join("charts.pid")),
                read_charts_info(&d),
            ) {
                (Some(pid), Ok(info)) if info.pid == pid => println!(
                    "charts   pid {pid}: {} | {} | {}",
                    info.http_url, info.auth_url, info.oci_url
                ),
                _ => println!("charts   not running"),
            }
            continue;
        }
        match ControlPlane::attach(&d).await {
            Ok(cp) => println!("{:<8} running at {}", cp.name(), cp.server()),
            Err(err) => println!(
                "{:<8} not running ({err:#})",
                d.file_name().unwrap_or_default().to_string_lossy()
            ),
        }
        for pid_file in process::pid_files(&d) {
            let state = process::running_pid(&pid_file)
                .map_or("stopped".to_string(), |p| format!("pid {p}"));
            println!(
                "         {} {state}",
                pid_file.file_name().unwrap_or_default().to_string_lossy()
            );
        }
    }
    Ok(())
}

fn charts_dir() -> PathBuf {
    local_dir().join("charts")
}

/// What `serve-charts` writes to `<dir>/charts.json` once it serves.
#[derive(Serialize, Deserialize)]
struct ChartsInfo {
    pid: u32,
    http_url: String,
    auth_url: String,
    username: String,
    password: String,
    oci_url: String,
}

fn read_charts_info(dir: &Path) -> Result<ChartsInfo> {
    let data = std::fs::read(dir.join("charts.json"))?;
    Ok(serde_json::from_slice(&data)?)
}

/// Starts `clusternet-local serve-charts` in the background (or finds it running with the public
/// repository on `port`). Returns what it serves, and whether it was running already.
async fn start_charts(port: u16) -> Result<(ChartsInfo, bool)> {
    let dir = charts_dir();
    let exe = std::env::current_exe().context("locating clusternet-local")?;
    let pid_file = dir.join("charts.pid");
    let want = format!("http://127.0.0.1:{port}");
    if let Some(pid) = process::running_current(&pid_file, &exe) {
        match read_charts_info(&dir) {
            Ok(info) if info.pid == pid && info.http_url == want => return Ok((info, true)),
            _ => {
                process::stop(&pid_file, Duration::from_secs(10));
            }
        }
    }
    let _ = std::fs::remove_file(dir.join("charts.json"));
    let args = [
        "serve-charts".to_string(),
        "--dir".to_string(),
        dir.to_string_lossy().into_owned(),
        "--port".to_string(),
        port.to_string(),
    ];
    let started = process::spawn_detached(&dir, "charts", &exe, &args)?;
    let pid = started.pid;
    let info = clusternet_test_support::wait_for(
        "the chart repositories",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let dir = dir.clone();
            async move {
                if !process::alive(pid) {
                    return Ok(Some(None));
                }
                Ok(read_charts_info(&dir)
                    .ok()
                    .filter(|i| i.pid == pid)
                    .map(Some))
            }
        },
    )
    .await?;
    match info {
        Some(info) => Ok((info, false)),
        None => {
            let why = std::fs::read_to_string(dir.join("charts.error"))
                .unwrap_or_else(|_| "serve-charts exited".to_string());
            anyhow::bail!(
                "{why}\n  (`make up CHARTS_PORT=<port>` serves the public repository on another port; deploy/examples/helm/helm-chart.yaml names 18080; log: {})",
                started.log.display()
            )
        }
    }
}

/// `serve-charts`: the chart repositories, until SIGTERM (`make down`) or Ctrl-C.
async fn serve_charts(dir: &Path, port: u16) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let _ = std::fs::remove_file(dir.join("charts.error"));
    let repos = match ChartRepos::start_with_http_port(dir, port).await {
        Ok(repos) => repos,
        Err(err) => {
            // For `up` to show (the log may hold a backtrace).
            let _ = std::fs::write(dir.join("charts.error"), format!("{err:#}"));
            return Err(err);
        }
    };
    let info = ChartsInfo {
        pid: std::process::id(),
        http_url: repos.http_url.clone(),
        auth_url: repos.auth_url.clone(),
        username: repos.username.clone(),
        password: repos.password.clone(),
        oci_url: repos.oci_url.clone(),
    };
    let tmp = dir.join("charts.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&info)?)?;
    std::fs::rename(&tmp, dir.join("charts.json"))?;
    println!(
        "serving charts: {} | {} | {}",
        info.http_url, info.auth_url, info.oci_url
    );
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    // Stops the registry too.
    drop(repos);
    let _ = std::fs::remove_file(dir.join("charts.json"));
    Ok(())
}
