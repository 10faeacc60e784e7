//! One local control plane: start (owned by a test, or detached for `make up`), attach, stop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::kwok::Workloads;
use crate::{install_crypto_provider, kubectl::Kubectl, paths, process, wait_for};

/// How long a control plane may take from spawn to `/readyz` = 200. Cold starts on a busy
/// two-core machine with several control planes starting at once take 10–30 s.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// What `controlplane run` writes to `<dir>/ready.json` once it is ready.
#[derive(Clone, Debug, Deserialize)]
pub struct ReadyInfo {
    /// Cluster name.
    pub name: String,
    /// `https://127.0.0.1:<port>` of kube-apiserver.
    pub server: String,
    /// etcd client URL.
    pub etcd: String,
    /// Admin kubeconfig path.
    pub kubeconfig: PathBuf,
    /// Process id of the control plane.
    pub pid: u32,
    /// Port of KWOK's kubelet-like server on 127.0.0.1, when the cluster runs workloads.
    #[serde(rename = "kwokPort", default)]
    pub kwok_port: Option<u16>,
}

/// A running control plane. Dropping an owned one kills it (and its kube-controller-manager)
/// and removes its directory; if the thread is panicking the directory is kept and its log
/// paths are printed. Detached or attached ones (see [`ControlPlane::start_detached`]) are left
/// running.
#[derive(Debug)]
pub struct ControlPlane {
    name: String,
    dir: PathBuf,
    info: ReadyInfo,
    child: Option<Child>,
    scratch: Option<tempfile::TempDir>,
    /// What it was started with (to start it again the same way).
    workloads: Option<Workloads>,
}

impl ControlPlane {
    /// Starts one control plane owned by the caller, in a fresh scratch directory.
    pub async fn start(name: &str) -> Result<Self> {
        let [cp] = Self::start_many([name]).await?;
        Ok(cp)
    }

    /// Starts several control planes in parallel and waits until all are ready.
    pub async fn start_many<const N: usize>(names: [&str; N]) -> Result<[Self; N]> {
        Self::start_all(&names)
            .await?
            .try_into()
            .map_err(|_| anyhow::anyhow!("started a different number of control planes"))
    }

    /// Starts control planes named `names` in parallel and waits until all are ready.
    pub async fn start_all(names: &[&str]) -> Result<Vec<Self>> {
        let plain: Vec<(&str, Option<Workloads>)> = names.iter().map(|&n| (n, None)).collect();
        Self::start_all_with(&plain).await
    }

    /// Starts control planes in parallel and waits until all are ready; those with
    /// [`Workloads`] also run kube-scheduler and KWOK (no nodes yet: see
    /// [`ControlPlane::ensure_kwok_nodes`]).
    pub async fn start_all_with(clusters: &[(&str, Option<Workloads>)]) -> Result<Vec<Self>> {
        install_crypto_provider();
        let n = clusters.len();
        let mut pending = Vec::with_capacity(n);
        for (name, workloads) in clusters {
            let name = *name;
            let scratch = paths::scratch_dir(&format!("cp-{name}"))?;
            let dir = scratch.path().to_path_buf();
            let child = spawn_owned(name, &dir, workloads.as_ref())?;
            pending.push((name.to_string(), dir, scratch, child, workloads.clone()));
        }
        // Read each one's "ready" line on a blocking thread; all start concurrently.
        let mut waits = Vec::with_capacity(n);
        for (name, dir, scratch, mut child, workloads) in pending {
            let stdout = child.stdout.take().context("controlplane stdout")?;
            let log = dir.join("kube-apiserver.log");
            let wait = tokio::task::spawn_blocking(move || wait_ready_line(stdout, &log));
            waits.push((name, dir, scratch, child, wait, workloads));
        }
        let mut started = Vec::with_capacity(n);
        let mut first_err = None;
        for (name, dir, scratch, child, wait, workloads) in waits {
            // Own the process before checking the result, so a failure still cleans up.
            let mut cp = ControlPlane {
                name,
                info: ReadyInfo {
                    name: String::new(),
                    server: String::new(),
                    etcd: String::new(),
                    kubeconfig: dir.join("kubeconfig"),
                    pid: child.id(),
                    kwok_port: None,
                },
                dir,
                child: Some(child),
                scratch: Some(scratch),
                workloads,
            };
            let outcome = match wait.await {
                Ok(Ok(())) => read_ready(&cp.dir).map(|info| cp.info = info),
                Ok(Err(err)) => Err(err),
                Err(join) => Err(anyhow::anyhow!("waiting for control plane: {join}")),
            };
            if let Err(err) = outcome {
                first_err.get_or_insert(err.context(format!("starting control plane {}", cp.name)));
            }
            started.push(cp);
        }
        if let Some(err) = first_err {
            // Keep the logs of a failed start for the person reading the error.
            for cp in &mut started {
                if let Some(scratch) = cp.scratch.take() {
                    let _ = scratch.keep();
                }
                eprintln!(
                    "control plane {} logs kept in {}",
                    cp.name,
                    cp.dir.display()
                );
            }
            return Err(err);
        }
        for cp in &started {
            cp.wait_healthy().await?;
        }
        Ok(started)
    }

    /// Starts a control plane that outlives this process (for `make up`), in `dir`, reusing
    /// its data and certificates if `dir` already holds them. Returns once it is ready.
    pub async fn start_detached(
        name: &str,
        dir: &Path,
        workloads: Option<&Workloads>,
    ) -> Result<Self> {
        install_crypto_provider();
        std::fs::create_dir_all(dir)?;
        let _ = std::fs::remove_file(dir.join("ready.json"));
        let mut args: Vec<String> = ["run", "--dir", &dir.to_string_lossy(), "--name", name]
            .map(String::from)
            .into();
        args.extend(workload_args(workloads)?);
        let pid =
            process::spawn_detached(dir, "controlplane", &paths::controlplane_bin()?, &args)?.pid;
        let dir_buf = dir.to_path_buf();
        let info = wait_for(
            &format!("control plane {name} to become ready"),
            READY_TIMEOUT,
            Duration::from_millis(250),
            || {
                let dir = dir_buf.clone();
                async move {
                    if !process::alive(pid) {
                        bail!(
                            "control plane {name} exited; see {}",
                            dir.join("kube-apiserver.log").display()
                        );
                    }
                    Ok(read_ready(&dir).ok().filter(|info| info.pid == pid))
                }
            },
        )
        .await?;
        let cp = Self {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            info,
            child: None,
            scratch: None,
            workloads: None,
        };
        cp.wait_healthy().await?;
        Ok(cp)
    }

    /// Attaches to a control plane started earlier by [`ControlPlane::start_detached`] in
    /// `dir`, if it is still running and healthy.
    pub async fn attach(dir: &Path) -> Result<Self> {
        install_crypto_provider();
        let info = read_ready(dir)?;
        if process::running_pid(&dir.join("controlplane.pid")) != Some(info.pid) {
            bail!(
                "control plane in {} (pid {}) is not running",
                dir.display(),
                info.pid
            );
        }
        let cp = Self {
            name: info.name.clone(),
            dir: dir.to_path_buf(),
            info,
            child: None,
            scratch: None,
            workloads: None,
        };
        cp.healthy().await?;
        Ok(cp)
    }

    /// Stops a detached control plane running in `dir`. Returns whether one was running.
    pub fn stop_detached(dir: &Path) -> bool {
        let was_running = process::stop(&dir.join("controlplane.pid"), Duration::from_secs(10));
        let _ = std::fs::remove_file(dir.join("ready.json"));
        was_running.is_some()
    }

    /// Stops an owned control plane as an outage would (SIGTERM, SIGKILL after 10 s), keeping
    /// its directory (etcd data, certificates); [`ControlPlane::start_again`] brings it back on
    /// the same address.
    pub fn stop(&mut self) -> Result<()> {
        let mut child = self
            .child
            .take()
            .context("only a control plane this process owns can be stopped")?;
        process::signal(child.id(), "TERM");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        Ok(())
    }

    /// Starts a control plane stopped with [`ControlPlane::stop`] again, with its data, on the
    /// same URL; returns once it is healthy.
    pub async fn start_again(&mut self) -> Result<()> {
        anyhow::ensure!(
            self.child.is_none(),
            "control plane {} is running",
            self.name
        );
        let _ = std::fs::remove_file(self.dir.join("ready.json"));
        let mut child = spawn_owned(&self.name, &self.dir, self.workloads.as_ref())?;
        let stdout = child.stdout.take().context("controlplane stdout")?;
        let log = self.dir.join("kube-apiserver.log");
        self.child = Some(child);
        tokio::task::spawn_blocking(move || wait_ready_line(stdout, &log)).await??;
        let info = read_ready(&self.dir)?;
        anyhow::ensure!(
            info.server == self.info.server,
            "control plane {} came back on {} instead of {}",
            self.name,
            info.server,
            self.info.server
        );
        self.info = info;
        self.wait_healthy().await
    }

    /// Cluster name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What `controlplane run` reported once ready.
    pub fn ready_info(&self) -> &ReadyInfo {
        &self.info
    }

    /// Data directory (pki/, etcd/, logs, kubeconfig).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server(&self) -> &str {
        &self.info.server
    }

    /// Process id of the control plane (etcd, kube-apiserver and its controllers: one process).
    pub fn pid(&self) -> u32 {
        self.info.pid
    }

    /// Admin kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        &self.info.kubeconfig
    }

    /// A file in `<dir>/pki` (e.g. `ca.crt`, `ca.key`, `front-proxy-ca.crt`).
    pub fn pki(&self, file: &str) -> PathBuf {
        self.dir.join("pki").join(file)
    }

    /// Adds a Node object with `cpu` and `memory` allocatable. No kubelet runs in these control
    /// planes; Node objects are what Clusternet's agent (heartbeat, predictor) reads.
    pub async fn add_node(&self, name: &str, cpu: &str, memory: &str) -> Result<()> {
        let node = serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name},
            "status": {
                "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
                "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            }
        });
        self.create_node(name, &node).await
    }

    /// Creates Node `name` from `node` and lifts the not-ready taint admission
    /// (TaintNodesByCondition) puts on every new node: no node-lifecycle controller runs in
    /// these control planes to lift it once the node is Ready.
    pub(crate) async fn create_node(&self, name: &str, node: &serde_json::Value) -> Result<()> {
        self.kubectl_cmd()
            .run_with_stdin(["create", "-f", "-"], Some(&node.to_string()))
            .await?;
        self.kubectl([
            "taint",
            "nodes",
            name,
            "node.kubernetes.io/not-ready:NoSchedule-",
        ])
        .await?;
        Ok(())
    }

    /// The cluster CA certificate (PEM).
    pub fn ca_pem(&self) -> Result<String> {
        std::fs::read_to_string(self.pki("ca.crt")).context("reading ca.crt")
    }

    /// kube-controller-manager's log file.
    pub fn controller_manager_log(&self) -> PathBuf {
        self.dir.join("kube-controller-manager.log")
    }

    /// The lines of kube-controller-manager's log about API group `group` (its version
    /// `group/…`, or a resource `….group`) that show an informer failing: watches ending in
    /// error (client-go logs those at Info level), events it cannot decode, lists and watches
    /// that fail.
    pub fn controller_manager_informer_failures(&self, group: &str) -> Result<Vec<String>> {
        let log = std::fs::read_to_string(self.controller_manager_log())
            .context("reading kube-controller-manager.log")?;
        Ok(informer_failures(&log, group))
    }

    /// An admin client.
    pub async fn client(&self) -> Result<kube::Client> {
        let config = self.kube_config().await?;
        kube::Client::try_from(config).context("building kube client")
    }

    /// The admin `kube::Config` (to derive clients with other identities from).
    pub async fn kube_config(&self) -> Result<kube::Config> {
        let kubeconfig = kube::config::Kubeconfig::read_from(self.kubeconfig())
            .with_context(|| format!("reading {}", self.kubeconfig().display()))?;
        kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .context("loading kubeconfig")
    }

    /// kubectl against this cluster as admin.
    pub fn kubectl_cmd(&self) -> Kubectl {
        Kubectl::new(self.kubeconfig())
    }

    /// Runs `kubectl <args>` as admin; non-zero exit is an error carrying stderr.
    pub async fn kubectl<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.kubectl_cmd().run(args).await
    }

    async fn healthy(&self) -> Result<()> {
        let client = self.client().await?;
        let req = http::Request::get("/readyz").body(Vec::new())?;
        let body = client.request_text(req).await.context("GET /readyz")?;
        if body.trim() != "ok" {
            bail!("/readyz answered {body:?}");
        }
        Ok(())
    }

    async fn wait_healthy(&self) -> Result<()> {
        wait_for(
            &format!("{} /readyz", self.name),
            Duration::from_secs(60),
            Duration::from_millis(200),
            || async { self.healthy().await.map(Some) },
        )
        .await
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SIGKILL: the store is thrown away anyway; kube-controller-manager follows through
        // its parent-death signal and its stdin lifeline.
        let _ = child.kill();
        let _ = child.wait();
        if std::thread::panicking()
            && let Some(scratch) = self.scratch.take()
        {
            let _ = scratch.keep();
            eprintln!(
                "control plane {} kept for inspection: {} (kube-apiserver.log, kube-controller-manager.log; with workloads kube-scheduler.log, kwok.log)",
                self.name,
                self.dir.display()
            );
        }
    }
}

/// What client-go's reflectors log when an informer fails.
const INFORMER_FAILURES: [&str; 6] = [
    "watch ended with error",
    "unable to decode",
    "Failed to watch",
    "failed to list",
    "Failed to list",
    "is not registered",
];

fn informer_failures(log: &str, group: &str) -> Vec<String> {
    let (version, resource) = (format!("\"{group}/"), format!(".{group})"));
    log.lines()
        .filter(|l| {
            (l.contains(&version) || l.contains(&resource))
                && INFORMER_FAILURES.iter().any(|s| l.contains(s))
        })
        .map(String::from)
        .collect()
}

/// `controlplane run` flags for `workloads`.
fn workload_args(workloads: Option<&Workloads>) -> Result<Vec<String>> {
    Ok(match workloads {
        None => Vec::new(),
        Some(w) => vec![
            format!("--kwok={}", paths::kwok_bin()?.display()),
            format!("--pod-cidr={}", w.pod_cidr),
        ],
    })
}

fn spawn_owned(name: &str, dir: &Path, workloads: Option<&Workloads>) -> Result<Child> {
    // Our end of stdin stays open in `Child`; if this process dies, the pipe closes and the
    // control plane exits (--lifeline), and with it kube-scheduler and KWOK.
    Command::new(paths::controlplane_bin()?)
        .arg("run")
        .arg("--dir")
        .arg(dir)
        .arg("--name")
        .arg(name)
        .arg("--lifeline")
        .args(workload_args(workloads)?)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("spawning controlplane")
}

fn wait_ready_line(stdout: std::process::ChildStdout, log: &Path) -> Result<()> {
    // The line arrives once /readyz is 200 (the program checks it itself); EOF means it died.
    let reader = BufReader::new(stdout);
    if let Some(line) = reader.lines().next() {
        let line = line?;
        if line.starts_with("ready ") {
            return Ok(());
        }
        bail!("unexpected output {line:?}; see {}", log.display());
    }
    let tail = std::fs::read_to_string(log)
        .map(|s| {
            s.lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    bail!("control plane exited before becoming ready; last log lines:\n{tail}")
}

fn read_ready(dir: &Path) -> Result<ReadyInfo> {
    let data = std::fs::read(dir.join("ready.json"))
        .with_context(|| format!("reading {}/ready.json", dir.display()))?;
    serde_json::from_slice(&data).context("parsing ready.json")
}

#[cfg(test)]
mod tests {
    #[test]
    fn informer_failures_are_found_whatever_their_level() {
        // The lines kube-controller-manager wrote while the hub served full shadow objects to
        // its metadata watches (issue 19), and one about something else.
        let log = concat!(
            "I1203 13:24:40.837372    4064 garbagecollector.go:166] \"Garbage collector: all resource monitors have synced\"\n",
            "I1203 14:23:06.366405    9809 reflector.go:664] \"Warning: watch ended with error\" reflector=\"pkg/mod/k8s.io/client-go@v0.36.3/tools/cache/reflector.go:343\" type=\"*v1.PartialObjectMetadata\" err=\"an error on the server (\\\"unable to decode an event from the watch stream: unable to decode watch event: no kind \\\\\\\"Job\\\\\\\" is registered for version \\\\\\\"shadow/v1alpha1\\\\\\\" in scheme\\\") has prevented the request from succeeding\"\n",
            "E1203 14:32:37.896248   15022 reflector.go:227] \"Failed to watch\" err=\"failed to list *v1.PartialObjectMetadata: the server could not find the requested resource (p9things.shadow)\" logger=\"UnhandledError\"\n",
            "W1203 13:25:14.100000    4064 reflector.go:562] \"Warning: watch ended with error\" type=\"*v1.ConfigMap\" err=\"very short watch\"\n",
        );
        assert_eq!(super::informer_failures(log, "shadow").len(), 2);
        assert!(super::informer_failures(log, "proxies.clusternet.io").is_empty());
        // Another group whose name ends the same is not this one.
        assert!(super::informer_failures(log, "dow").is_empty());
    }
}
