//! Installing Clusternet's components into local control planes, the same way for tests and
//! for `make up`: manifests from `deploy/`, components as local processes of the workspace's
//! binaries.
//!
//! A hub that is not a pod is reached by the parent's aggregator through an `ExternalName`
//! Service pointing at `localhost`, with the APIService port set to the hub's local port (with
//! aggregator routing off, kube-apiserver dials `https://<externalName>:<port>`). Everything else
//! is what `deploy/hub` applies, including the hub's self-managed serving certificate and
//! caBundle.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::{ControlPlane, paths, process, wait_for};

/// The hub's APIServices.
pub const APISERVICES: [&str; 2] = ["v1alpha1.proxies.clusternet.io", "v1alpha1.shadow"];

/// Whether a component is owned by this process (killed on drop, lifeline on stdin) or left
/// running for `make up`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Killed when dropped or when this process dies.
    Owned,
    /// Outlives this process; stopped by `make down` through its pid file.
    Detached,
}

/// A running component process.
#[derive(Debug)]
pub struct Component {
    /// Component name (log and pid file stem).
    pub name: String,
    /// Its pid.
    pub pid: u32,
    /// Its log file.
    pub log: PathBuf,
    child: Option<Child>,
}

impl Component {
    /// Starts `program args` in `mode`, logging to `<dir>/<name>.log`.
    pub fn start(
        dir: &Path,
        name: &str,
        program: &Path,
        args: &[String],
        mode: Mode,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        match mode {
            Mode::Detached => {
                let d = process::spawn_detached(dir, name, program, args)?;
                Ok(Self {
                    name: name.into(),
                    pid: d.pid,
                    log: d.log,
                    child: None,
                })
            }
            Mode::Owned => {
                let log = dir.join(format!("{name}.log"));
                let out = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)?;
                let err = out.try_clone()?;
                let mut args = args.to_vec();
                args.push("--lifeline".into());
                let child = Command::new(program)
                    .args(&args)
                    .stdin(Stdio::piped())
                    .stdout(out)
                    .stderr(err)
                    .spawn()
                    .with_context(|| format!("starting {}", program.display()))?;
                Ok(Self {
                    name: name.into(),
                    pid: child.id(),
                    log,
                    child: Some(child),
                })
            }
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => process::alive(self.pid),
        }
    }

    /// Stops the process now (SIGKILL for owned ones).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        } else {
            process::signal(self.pid, "TERM");
        }
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            if std::thread::panicking() {
                eprintln!(
                    "--- last lines of {} ({}):\n{}",
                    self.name,
                    self.log.display(),
                    self.log_tail(30)
                );
            }
        }
    }
}

/// A kubeconfig for a ServiceAccount of `cp`, with a token from the TokenRequest API.
pub async fn service_account_kubeconfig(
    cp: &ControlPlane,
    namespace: &str,
    name: &str,
    path: &Path,
) -> Result<PathBuf> {
    let token = cp
        .kubectl(["create", "token", name, "-n", namespace, "--duration=8760h"])
        .await
        .with_context(|| format!("token for {namespace}/{name}"))?;
    write_token_kubeconfig(
        path,
        cp.server(),
        &cp.pki("ca.crt"),
        token.trim(),
        &format!("{namespace}-{name}"),
    )?;
    Ok(path.to_path_buf())
}

/// Writes a kubeconfig with a bearer token.
pub fn write_token_kubeconfig(
    path: &Path,
    server: &str,
    ca_file: &Path,
    token: &str,
    user: &str,
) -> Result<()> {
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": {"server": server, "certificate-authority": ca_file}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "default", "context": {"cluster": "cluster", "user": user}}],
        "current-context": "default",
    });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(&config)?)?;
    Ok(())
}

/// A hub installed on a parent.
#[derive(Debug)]
pub struct Hub {
    /// The process.
    pub process: Component,
    /// Where it listens (127.0.0.1, OS-chosen port).
    pub addr: SocketAddr,
    /// The hub's own kubeconfig (its ServiceAccount on the parent).
    pub kubeconfig: PathBuf,
    /// Its working directory (certificates, logs).
    pub dir: PathBuf,
}

/// Flags of a hub started by [`install_hub`], beyond the ones it always gets.
#[derive(Clone, Debug, Default)]
pub struct HubOptions {
    /// Extra command-line flags.
    pub extra_args: Vec<String>,
}

/// Applies a manifest file (or directory) from `deploy/` with server-side apply.
pub async fn apply_deploy(cp: &ControlPlane, relative: &str) -> Result<()> {
    let path = paths::workspace_root().join("deploy").join(relative);
    cp.kubectl([
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=clusternet-local",
        "-f",
        &path.to_string_lossy(),
    ])
    .await
    .with_context(|| format!("applying deploy/{relative}"))?;
    Ok(())
}

/// Installs and starts the hub on `parent`, working in `dir`, and waits until both APIServices
/// are Available.
pub async fn install_hub(
    parent: &ControlPlane,
    dir: &Path,
    mode: Mode,
    options: HubOptions,
) -> Result<Hub> {
    apply_deploy(parent, "hub/00-namespaces.yaml").await?;
    apply_deploy(parent, "hub/10-hub-rbac.yaml").await?;
    service_account_kubeconfig(
        parent,
        "clusternet-system",
        "clusternet-hub",
        &dir.join("hub.kubeconfig"),
    )
    .await?;
    start_hub(parent, dir, mode, options).await
}

/// Starts (or restarts) a hub installed by [`install_hub`] in `dir`, and waits until both
/// APIServices are Available.
pub async fn start_hub(
    parent: &ControlPlane,
    dir: &Path,
    mode: Mode,
    options: HubOptions,
) -> Result<Hub> {
    let kubeconfig = dir.join("hub.kubeconfig");
    let addr_file = dir.join("hub.addr");
    let _ = std::fs::remove_file(&addr_file);
    let mut args: Vec<String> = vec![
        "--secure-port=0".into(),
        "--bind-address=127.0.0.1".into(),
        format!("--kubeconfig={}", kubeconfig.display()),
        "--feature-gates=SocketConnection=true,ShadowAPI=true".into(),
        "--serving-cert-secret=clusternet-system/clusternet-hub-serving-cert".into(),
        format!("--ca-bundle-apiservices={}", APISERVICES.join(",")),
        format!("--cert-dir={}", dir.join("certs").display()),
        format!("--bound-address-file={}", addr_file.display()),
        "-v=2".into(),
    ];
    args.extend(options.extra_args);
    let mut hub = Component::start(
        dir,
        "clusternet-hub",
        &paths::cargo_bin("clusternet-hub")?,
        &args,
        mode,
    )?;
    let addr: SocketAddr = {
        let started = std::time::Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file)
                && let Ok(addr) = text.trim().parse()
            {
                break addr;
            }
            if !hub.is_running() {
                bail!("clusternet-hub exited at start:\n{}", hub.log_tail(30));
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!(
                    "clusternet-hub did not start listening within 60s:\n{}",
                    hub.log_tail(30)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    register_local_hub(parent, addr.port()).await?;
    wait_apiservices_available(parent, Duration::from_secs(60)).await?;
    Ok(Hub {
        process: hub,
        addr,
        kubeconfig,
        dir: dir.to_path_buf(),
    })
}

/// The CA the hub's serving certificate chains to (from its Secret on the parent).
pub async fn hub_ca_pem(parent: &ControlPlane) -> Result<String> {
    let b64 = parent
        .kubectl([
            "get",
            "secret",
            "clusternet-hub-serving-cert",
            "-n",
            "clusternet-system",
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ])
        .await?;
    let pem = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64.trim())?;
    Ok(String::from_utf8(pem)?)
}

/// Points the hub's APIServices at a hub running locally on `port` (see the module docs).
pub async fn register_local_hub(parent: &ControlPlane, port: u16) -> Result<()> {
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "clusternet-hub", "namespace": "clusternet-system", "labels": {"app": "clusternet-hub"}},
        "spec": {"type": "ExternalName", "externalName": "localhost"},
    });
    parent
        .kubectl_cmd()
        .run_with_stdin(
            [
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager=clusternet-local",
                "-f",
                "-",
            ],
            Some(&service.to_string()),
        )
        .await?;
    apply_deploy(parent, "hub/20-apiservices.yaml").await?;
    let patch = json!({"spec": {"service": {"port": port}}}).to_string();
    for name in APISERVICES {
        parent
            .kubectl(["patch", "apiservice", name, "--type=merge", "-p", &patch])
            .await?;
    }
    Ok(())
}

/// Waits until both hub APIServices report Available=True.
pub async fn wait_apiservices_available(parent: &ControlPlane, timeout: Duration) -> Result<()> {
    wait_for("hub APIServices to become Available", timeout, Duration::from_millis(100), || async {
        for name in APISERVICES {
            let status = parent
                .kubectl(["get", "apiservice", name, "-o", "jsonpath={.status.conditions[?(@.type==\"Available\")].status} {.status.conditions[?(@.type==\"Available\")].message}"])
                .await?;
            if !status.starts_with("True") {
                bail!("{name}: {status}");
            }
        }
        Ok(Some(()))
    })
    .await
}
