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
    /// How it was started (to start it again).
    dir: PathBuf,
    program: PathBuf,
    args: Vec<String>,
    mode: Mode,
}

/// The components' health and metrics servers listen on Go's fixed ports (10650, 10660,
/// 10659) by default; several of one kind run side by side here, so unless `args` name a
/// `--secure-port`, each gets a port from the OS (`--secure-port=0` with the hidden
/// `--bound-address-file`, read by [`Component::serving_address`]).
fn with_serving_port(dir: &Path, name: &str, args: &[String]) -> Vec<String> {
    let serves = [
        "clusternet-agent",
        "clusternet-controller-manager",
        "clusternet-scheduler",
    ]
    .iter()
    .any(|c| name.starts_with(c));
    let mut args = args.to_vec();
    if serves && !args.iter().any(|a| a.starts_with("--secure-port")) {
        args.push("--bind-address=127.0.0.1".into());
        args.push("--secure-port=0".into());
        args.push(format!(
            "--bound-address-file={}",
            serving_address_file(dir, name).display()
        ));
    }
    args
}

fn serving_address_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.serving-address"))
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
        let args = &with_serving_port(dir, name, args);
        match mode {
            Mode::Detached => {
                let d = process::spawn_detached(dir, name, program, args)?;
                Ok(Self {
                    name: name.into(),
                    pid: d.pid,
                    log: d.log,
                    child: None,
                    dir: dir.to_path_buf(),
                    program: program.to_path_buf(),
                    args: args.to_vec(),
                    mode,
                })
            }
            Mode::Owned => {
                let log = dir.join(format!("{name}.log"));
                let out = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)?;
                let err = out.try_clone()?;
                let mut with_lifeline = args.to_vec();
                with_lifeline.push("--lifeline".into());
                let child = Command::new(program)
                    .args(&with_lifeline)
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
                    dir: dir.to_path_buf(),
                    program: program.to_path_buf(),
                    args: args.to_vec(),
                    mode,
                })
            }
        }
    }

    /// Where its health and metrics server listens (agent, controller-manager, scheduler: the
    /// port the OS gave it, see [`with_serving_port`]).
    pub fn serving_address(&self) -> Result<std::net::SocketAddr> {
        let file = serving_address_file(&self.dir, &self.name);
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        Ok(text.trim().parse()?)
    }

    /// Starts the process again with the same flags (after [`Component::kill`] or
    /// [`Component::stop`], or killing it now if it still runs), logging to the same file.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        *self = Self::start(&self.dir, &self.name, &self.program, &self.args, self.mode)?;
        Ok(())
    }

    /// Freezes the process (SIGSTOP): it holds its connections and answers nothing, as a hung
    /// process or a cut network would.
    pub fn freeze(&self) {
        process::signal(self.pid, "STOP");
    }

    /// Lets a frozen process run again (SIGCONT).
    pub fn thaw(&self) {
        process::signal(self.pid, "CONT");
    }

    /// Whether the process is still running (an exited child not yet reaped is a zombie,
    /// which does not count).
    pub fn is_running(&self) -> bool {
        process::alive(self.pid)
    }

    /// Stops the process as Kubernetes stops a pod: SIGTERM, then SIGKILL if it has not
    /// exited after 10 s.
    pub fn stop(&mut self) {
        process::signal(self.pid, "TERM");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.is_running() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }

    /// Kills the process at once (SIGKILL), as a crash or a node failure would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        } else if process::alive(self.pid) {
            process::signal(self.pid, "KILL");
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

/// A parent with only a hub on it (no controller-manager, no agents): what the hub's own tests
/// need. Fields drop in order: the hub before the parent it talks to.
#[derive(Debug)]
pub struct HubEnv {
    /// The hub.
    pub hub: Hub,
    /// The parent it is registered on.
    pub parent: ControlPlane,
    /// Scratch directory of the test (kept on panic, like the control plane's).
    pub scratch: tempfile::TempDir,
}

impl HubEnv {
    /// Starts a parent, optionally installs the CRDs, and installs a hub owned by this process.
    pub async fn start(test: &str, crds: bool) -> Result<Self> {
        let parent = ControlPlane::start("parent").await?;
        let scratch = paths::scratch_dir(test)?;
        if crds {
            install_crds(&parent).await?;
        }
        let hub = install_hub(&parent, scratch.path(), Mode::Owned, Default::default()).await?;
        Ok(Self {
            hub,
            parent,
            scratch,
        })
    }
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
    apply_deploy(parent, "hub/11-hub-peers-rbac.yaml").await?;
    apply_deploy(parent, "hub/15-tunnel-flowschema.yaml").await?;
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
    let hub = Component::start(
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

/// A bootstrap token on the parent, as `kubeadm token create` makes one, carrying Clusternet's
/// registration group.
#[derive(Clone, Debug)]
pub struct BootstrapToken {
    /// `<id>.<secret>`.
    pub token: String,
    /// The token ID.
    pub id: String,
}

/// Prepares `parent` the way a kubeadm cluster comes: `kube-public/cluster-info` (the parent's
/// server and CA, readable anonymously, signed by the bootstrap-signer controller for each
/// bootstrap token), and one bootstrap token for Clusternet registration.
pub async fn prepare_parent(parent: &ControlPlane) -> Result<BootstrapToken> {
    use rand::Rng;
    let ca = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, parent.ca_pem()?);
    let kubeconfig = format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {}\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {{}}\nusers: null\n",
        parent.server()
    );
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let mut pick = |n: usize| -> String {
        (0..n)
            .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
            .collect()
    };
    let (id, secret) = (pick(6), pick(16));
    let objects = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-info", "namespace": "kube-public"},
         "data": {"kubeconfig": kubeconfig}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "kubeadm:bootstrap-signer-clusterinfo", "namespace": "kube-public"},
         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cluster-info"], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "kubeadm:bootstrap-signer-clusterinfo", "namespace": "kube-public"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kubeadm:bootstrap-signer-clusterinfo"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:anonymous"}]},
        {"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
         "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system"},
         "stringData": {"token-id": id, "token-secret": secret, "usage-bootstrap-authentication": "true",
                        "usage-bootstrap-signing": "true",
                        "auth-extra-groups": "system:bootstrappers:clusternet:register-cluster-token",
                        "description": "Clusternet cluster registration"}}]});
    parent
        .kubectl_cmd()
        .run_with_stdin(
            [
                "apply",
                "--server-side",
                "--field-manager=clusternet-local",
                "-f",
                "-",
            ],
            Some(&objects.to_string()),
        )
        .await?;
    Ok(BootstrapToken {
        token: format!("{id}.{secret}"),
        id,
    })
}

/// Installs Clusternet's CRDs into `parent` and waits until they are established.
pub async fn install_crds(parent: &ControlPlane) -> Result<()> {
    let crds = paths::workspace_root().join("deploy/crds");
    parent
        .kubectl([
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &crds.to_string_lossy(),
        ])
        .await?;
    parent
        .kubectl([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "-f",
            &crds.to_string_lossy(),
        ])
        .await?;
    Ok(())
}

/// Installs and starts clusternet-controller-manager for `parent` (its deploy/ RBAC,
/// cluster-identity policy and the agents' heartbeat FlowSchema, a token of its
/// ServiceAccount), working in `dir`.
pub async fn install_controller_manager(
    parent: &ControlPlane,
    dir: &Path,
    mode: Mode,
    extra_args: &[String],
) -> Result<Component> {
    apply_deploy(parent, "controller-manager/20-cluster-identity-policy.yaml").await?;
    apply_deploy(
        parent,
        "controller-manager/17-cluster-heartbeats-flowschema.yaml",
    )
    .await?;
    let mut args = vec!["--feature-gates=SocketConnection=true".to_string()];
    args.extend(helm_arg());
    install_on_parent(parent, dir, mode, "controller-manager", &args, extra_args).await
}

/// `--helm-binary` for the Helm built by `make helm`, when it is there (suites without charts
/// run without it).
fn helm_arg() -> Option<String> {
    paths::helm_bin()
        .ok()
        .map(|h| format!("--helm-binary={}", h.display()))
}

/// Installs and starts clusternet-scheduler for `parent` (its deploy/ RBAC, a token of its
/// ServiceAccount), working in `dir`.
pub async fn install_scheduler(
    parent: &ControlPlane,
    dir: &Path,
    mode: Mode,
    extra_args: &[String],
) -> Result<Component> {
    install_on_parent(parent, dir, mode, "scheduler", &[], extra_args).await
}

/// Starts `clusternet-<component>` for `parent` as ServiceAccount
/// `clusternet-system/clusternet-<component>` with the RBAC of `deploy/<component>/10-rbac.yaml`
/// and `15-metrics-auth-rbac.yaml`, and its leader-election FlowSchema;
/// `args` come before `extra_args` (a repeated flag wins).
async fn install_on_parent(
    parent: &ControlPlane,
    dir: &Path,
    mode: Mode,
    component: &str,
    args: &[String],
    extra_args: &[String],
) -> Result<Component> {
    apply_deploy(parent, "hub/00-namespaces.yaml").await?;
    apply_deploy(parent, &format!("{component}/10-rbac.yaml")).await?;
    apply_deploy(parent, &format!("{component}/15-metrics-auth-rbac.yaml")).await?;
    apply_deploy(
        parent,
        &format!("{component}/16-leader-election-flowschema.yaml"),
    )
    .await?;
    let name = format!("clusternet-{component}");
    let kubeconfig = service_account_kubeconfig(
        parent,
        "clusternet-system",
        &name,
        &dir.join(format!("{component}.kubeconfig")),
    )
    .await?;
    let mut all = vec![format!("--kubeconfig={}", kubeconfig.display())];
    all.extend_from_slice(args);
    all.push("-v=2".to_string());
    all.extend_from_slice(extra_args);
    Component::start(dir, &name, &paths::cargo_bin(&name)?, &all, mode)
}

/// Waits until kubectl on `parent` discovers the shadow resource `name` (e.g.
/// `deployments.shadow`), or, with `served` false, no longer does.
pub async fn wait_for_shadow_resource(
    parent: &ControlPlane,
    name: &str,
    served: bool,
    timeout: Duration,
) -> Result<()> {
    let what = if served {
        format!("{name} in the parent's discovery")
    } else {
        format!("{name} gone from the parent's discovery")
    };
    wait_for(&what, timeout, Duration::from_millis(250), || async {
        let out = parent
            .kubectl(["api-resources", "--api-group=shadow", "-o", "name"])
            .await?;
        Ok((out.lines().any(|l| l == name) == served).then_some(()))
    })
    .await
}

/// Installs the agent's RBAC into `child` and starts clusternet-agent there (as its
/// ServiceAccount), registering with `parent` using `token`, named `name`.
pub async fn install_agent(
    child: &ControlPlane,
    parent: &ControlPlane,
    token: &BootstrapToken,
    dir: &Path,
    mode: Mode,
    extra_args: &[String],
) -> Result<Component> {
    apply_deploy(child, "agent/00-namespace.yaml").await?;
    apply_deploy(child, "agent/10-agent-rbac.yaml").await?;
    apply_deploy(child, "agent/15-metrics-auth-rbac.yaml").await?;
    // The Multi-Cluster Services API in the child (ServiceExports are deployed there as feeds).
    for crd in [
        "multicluster.x-k8s.io_serviceexports.yaml",
        "multicluster.x-k8s.io_serviceimports.yaml",
    ] {
        apply_deploy(child, &format!("crds/{crd}")).await?;
    }
    let kubeconfig = service_account_kubeconfig(
        child,
        "clusternet-system",
        "clusternet-agent",
        &dir.join("agent.kubeconfig"),
    )
    .await?;
    let mut args = vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        format!("--cluster-reg-parent-url={}", parent.server()),
        format!("--cluster-reg-token={}", token.token),
        format!("--cluster-reg-name={}", child.name()),
        "--feature-gates=SocketConnection=true,AppPusher=true".to_string(),
        "--cluster-sync-mode=Dual".to_string(),
        "-v=2".to_string(),
    ];
    args.extend(helm_arg());
    args.extend_from_slice(extra_args);
    Component::start(
        dir,
        "clusternet-agent",
        &paths::cargo_bin("clusternet-agent")?,
        &args,
        mode,
    )
}

/// A credential of a child cluster, passed through the parent as Clusternet's extras.
#[derive(Clone, Debug)]
pub enum ChildCredential {
    /// `clusternet-token`.
    Token(String),
    /// `clusternet-certificate` + `clusternet-privatekey`.
    Certificate(crate::certs::Pem),
}

/// Options of an [`Environment`].
#[derive(Clone, Debug)]
pub struct EnvOptions {
    /// Feature gates of the agents.
    pub agent_gates: String,
    /// Extra agent flags.
    pub agent_args: Vec<String>,
    /// Extra flags for the agent of child `i` only (after `agent_args`; a repeated flag wins).
    pub child_agent_args: Vec<Vec<String>>,
    /// Extra controller-manager flags.
    pub controller_manager_args: Vec<String>,
    /// Apply `deploy/hub/50-socketsproxy-rbac.yaml`: authenticated users and the
    /// `clusternet-hub-proxy` ServiceAccount may use `sockets/proxy` with credential extras.
    pub open_socketsproxy: bool,
    /// Also run clusternet-scheduler (as its deploy/ ServiceAccount), with `scheduler_args`.
    pub scheduler: bool,
    /// Extra clusternet-scheduler flags.
    pub scheduler_args: Vec<String>,
    /// Extra clusternet-hub flags.
    pub hub_args: Vec<String>,
    /// Children that run workloads: kube-scheduler and KWOK in each, with these simulated
    /// nodes (more can be added with [`ControlPlane::add_kwok_node`]). `None` (the default):
    /// neither, and the children start as fast as before.
    pub workloads: Option<crate::kwok::NodePool>,
}

impl EnvOptions {
    /// The scheduler and the controller-manager's deployer with FeedInventory; agents as by
    /// default.
    pub fn deployer() -> Self {
        Self {
            scheduler: true,
            controller_manager_args: vec![
                "--feature-gates=SocketConnection=true,Deployer=true,FeedInventory=true".into(),
            ],
            ..Default::default()
        }
    }

    /// The whole of Clusternet for multi-cluster apps: the scheduler, the controller-manager's
    /// deployer and FeedInventory, agents with the predictor (one port each: the children share
    /// a host) reporting every 2 s (a not-ready grace of 8 s), and children that run pods
    /// (kube-scheduler + KWOK; nodes are added by the test).
    pub fn multi_cluster_apps(children: usize) -> Result<Self> {
        let mut ports = Vec::new();
        for _ in 0..children {
            ports.push(vec![format!("--predictor-port={}", crate::free_port()?)]);
        }
        Ok(Self {
            agent_gates: "SocketConnection=true,AppPusher=true,Predictor=true".into(),
            agent_args: vec![
                "--cluster-status-update-frequency=2s".into(),
                "--cluster-status-collect-frequency=1s".into(),
            ],
            child_agent_args: ports,
            workloads: Some(crate::kwok::NodePool::of(0)),
            ..Self::deployer()
        })
    }
}

impl Default for EnvOptions {
    fn default() -> Self {
        Self {
            agent_gates: "SocketConnection=true,AppPusher=true".into(),
            agent_args: Vec::new(),
            child_agent_args: Vec::new(),
            controller_manager_args: Vec::new(),
            open_socketsproxy: true,
            scheduler: false,
            scheduler_args: Vec::new(),
            hub_args: Vec::new(),
            workloads: None,
        }
    }
}

/// The ServiceAccount Clusternet's docs use as the parent-side identity of child kubeconfigs.
pub const HUB_PROXY_SERVICE_ACCOUNT: &str = "clusternet-hub-proxy";

/// A parent with the hub and the controller-manager, and children with agents, all registered
/// and Ready — the whole of Clusternet on real control planes, owned by the caller.
// Fields drop in declaration order: components before the control planes they talk to.
pub struct Environment {
    /// The hub.
    pub hub: Hub,
    /// The controller-manager.
    pub controller_manager: Component,
    /// The scheduler, when [`EnvOptions::scheduler`] is set.
    pub scheduler: Option<Component>,
    /// One agent per child.
    pub agents: Vec<Component>,
    /// The parent.
    pub parent: ControlPlane,
    /// The children (`child1`, `child2`, …).
    pub children: Vec<ControlPlane>,
    /// The bootstrap token the agents registered with.
    pub token: BootstrapToken,
    /// Scratch space (component logs, kubeconfigs).
    pub dir: tempfile::TempDir,
    options: EnvOptions,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field("children", &self.children.len())
            .finish_non_exhaustive()
    }
}

impl Environment {
    /// Starts everything and waits until every child is Ready.
    pub async fn start(children: usize, options: EnvOptions) -> Result<Self> {
        let mut names = vec!["parent".to_string()];
        names.extend((1..=children).map(|i| format!("child{i}")));
        let clusters: Vec<(&str, Option<crate::kwok::Workloads>)> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let workloads = (i > 0 && options.workloads.is_some())
                    .then(|| crate::kwok::Workloads::for_child(i));
                (name.as_str(), workloads)
            })
            .collect();
        let mut planes = ControlPlane::start_all_with(&clusters).await?;
        let parent = planes.remove(0);
        if let Some(pool) = &options.workloads {
            // Nodes before the agents: their first heartbeat already reports the capacity.
            futures::future::try_join_all(planes.iter().map(|child| child.ensure_kwok_nodes(pool)))
                .await?;
        }
        let dir = paths::scratch_dir("env")?;
        install_crds(&parent).await?;
        apply_deploy(&parent, "hub/40-bootstrap-rbac.yaml").await?;
        let token = prepare_parent(&parent).await?;
        let hub = install_hub(
            &parent,
            &dir.path().join("hub"),
            Mode::Owned,
            HubOptions {
                extra_args: options.hub_args.clone(),
            },
        )
        .await?;
        if options.open_socketsproxy {
            apply_deploy(&parent, "hub/50-socketsproxy-rbac.yaml").await?;
        }
        let controller_manager = install_controller_manager(
            &parent,
            &dir.path().join("controller-manager"),
            Mode::Owned,
            &options.controller_manager_args,
        )
        .await?;
        let scheduler = if options.scheduler {
            Some(
                install_scheduler(
                    &parent,
                    &dir.path().join("scheduler"),
                    Mode::Owned,
                    &options.scheduler_args,
                )
                .await?,
            )
        } else {
            None
        };
        let mut env = Self {
            parent,
            children: planes,
            hub,
            controller_manager,
            scheduler,
            agents: Vec::new(),
            token,
            dir,
            options,
        };
        for i in 0..env.children.len() {
            let agent = env.start_agent(i).await?;
            env.agents.push(agent);
        }
        let ready = {
            let wait = env.wait_ready(Duration::from_secs(60));
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    result = &mut wait => break result,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {
                        if let Some(dead) = env.agents.iter().chain(std::iter::once(&env.controller_manager)).find(|c| !c.is_running()) {
                            break Err(anyhow::anyhow!("{} exited", dead.name));
                        }
                    }
                }
            }
        };
        if let Err(err) = ready {
            return Err(err.context(env.logs()));
        }
        Ok(env)
    }

    /// The last lines of every component's log (for error reports).
    pub fn logs(&self) -> String {
        let mut out = String::from("component logs:");
        for c in std::iter::once(&self.hub.process)
            .chain(std::iter::once(&self.controller_manager))
            .chain(self.scheduler.iter())
            .chain(self.agents.iter())
        {
            out.push_str(&format!(
                "\n--- {} ({})\n{}",
                c.name,
                c.log.display(),
                c.log_tail(15)
            ));
        }
        out
    }

    /// Kills the hub (SIGKILL, as a crash would).
    pub fn kill_hub(&mut self) {
        self.hub.process.kill();
    }

    /// Starts the hub again (on a new port, which the APIServices are pointed at) and waits
    /// until its APIServices are Available.
    pub async fn start_hub_again(&mut self) -> Result<()> {
        let dir = self.hub.dir.clone();
        self.hub.process.kill();
        self.hub = start_hub(
            &self.parent,
            &dir,
            Mode::Owned,
            HubOptions {
                extra_args: self.options.hub_args.clone(),
            },
        )
        .await?;
        Ok(())
    }

    /// Starts (or restarts) the agent of child `i`.
    pub async fn start_agent(&self, i: usize) -> Result<Component> {
        let child = &self.children[i];
        let mut args = vec![format!("--feature-gates={}", self.options.agent_gates)];
        args.extend(self.options.agent_args.iter().cloned());
        if let Some(extra) = self.options.child_agent_args.get(i) {
            args.extend(extra.iter().cloned());
        }
        install_agent(
            child,
            &self.parent,
            &self.token,
            &self.dir.path().join(format!("agent-{}", child.name())),
            Mode::Owned,
            &args,
        )
        .await
    }

    /// Waits until every child's ManagedCluster is Ready.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let want = self.children.len();
        wait_for("every child cluster Ready", timeout, Duration::from_millis(100), || async {
            let out = self
                .parent
                .kubectl(["get", "mcls", "-A", "-o", "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}"])
                .await?;
            Ok((out.lines().filter(|l| *l == "True").count() == want).then_some(()))
        })
        .await
    }

    /// The cluster ID of child `i` (its agent's Lease UID).
    pub async fn cluster_id(&self, i: usize) -> Result<String> {
        let child = &self.children[i];
        let id = child
            .kubectl([
                "get",
                "lease",
                "clusternet-agent",
                "-n",
                "clusternet-system",
                "-o",
                "jsonpath={.metadata.uid}",
            ])
            .await?;
        anyhow::ensure!(!id.is_empty(), "no agent lease in {}", child.name());
        Ok(id)
    }

    /// The parent token child `i`'s agent holds (Secret `clusternet-system/parent-cluster` in
    /// the child): the cluster's own identity on the parent.
    pub async fn agent_token(&self, i: usize) -> Result<String> {
        use base64::Engine;
        let b64 = self.children[i]
            .kubectl([
                "get",
                "secret",
                "parent-cluster",
                "-n",
                "clusternet-system",
                "-o",
                "jsonpath={.data.token}",
            ])
            .await?;
        Ok(String::from_utf8(
            base64::engine::general_purpose::STANDARD.decode(b64.trim())?,
        )?)
    }

    /// `https://<parent>/apis/proxies.clusternet.io/v1alpha1/sockets/<id>/proxy/direct`.
    pub async fn proxy_url(&self, i: usize) -> Result<String> {
        Ok(format!(
            "{}/apis/proxies.clusternet.io/v1alpha1/sockets/{}/proxy/direct",
            self.parent.server(),
            self.cluster_id(i).await?
        ))
    }

    /// A token of a new ServiceAccount `name` in child `i` bound to ClusterRole `cluster_role`
    /// (cluster-wide) — a child credential a user would hold.
    pub async fn child_token(&self, i: usize, name: &str, cluster_role: &str) -> Result<String> {
        let child = &self.children[i];
        child
            .kubectl(["create", "serviceaccount", name, "-n", "default"])
            .await?;
        child
            .kubectl([
                "create",
                "clusterrolebinding",
                &format!("{name}-{cluster_role}"),
                &format!("--clusterrole={cluster_role}"),
                &format!("--serviceaccount=default:{name}"),
            ])
            .await?;
        Ok(child
            .kubectl(["create", "token", name, "-n", "default", "--duration=2h"])
            .await?
            .trim()
            .to_string())
    }

    /// A kubeconfig for child `i` through the parent, written as Clusternet documents it: the
    /// parent user (the `clusternet-hub-proxy` ServiceAccount, or a client certificate of the
    /// parent's CA) impersonates `clusternet` with the child credential as extras.
    pub async fn child_kubeconfig(
        &self,
        i: usize,
        credential: &ChildCredential,
        parent_user: Option<&crate::certs::Pem>,
        file: &str,
    ) -> Result<PathBuf> {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let extras = match credential {
            ChildCredential::Token(token) => json!({"clusternet-token": [token]}),
            ChildCredential::Certificate(pem) => json!({
                "clusternet-certificate": [b64(&pem.cert)],
                "clusternet-privatekey": [b64(&pem.key)],
            }),
        };
        let mut user = match parent_user {
            None => {
                let token = self
                    .parent
                    .kubectl([
                        "create",
                        "token",
                        HUB_PROXY_SERVICE_ACCOUNT,
                        "-n",
                        "clusternet-system",
                    ])
                    .await
                    .context(
                        "a token of clusternet-hub-proxy (deploy/hub/50-socketsproxy-rbac.yaml)",
                    )?;
                json!({"token": token.trim()})
            }
            Some(pem) => json!({
                "client-certificate-data": b64(&pem.cert),
                "client-key-data": b64(&pem.key),
            }),
        };
        user["as"] = json!("clusternet");
        user["as-user-extra"] = extras;
        let path = self.dir.path().join(file);
        let config = json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "child", "cluster": {"server": self.proxy_url(i).await?, "certificate-authority": self.parent.pki("ca.crt")}}],
            "users": [{"name": "child", "user": user}],
            "contexts": [{"name": "child", "context": {"cluster": "child", "user": "child"}}],
            "current-context": "child",
        });
        std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
        Ok(path)
    }
}
