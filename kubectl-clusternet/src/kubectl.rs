//! Running the real kubectl against the loopback endpoint: a temporary kubeconfig (mode 0600,
//! in a private directory removed when the command ends) that names the endpoint, its
//! certificate, the one-time token and the user's default namespace.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use anyhow::{Context, Result};
use base64::Engine;

use crate::args;
use crate::proxy::Endpoint;

/// The kubectl binary: `$KUBECTL_CLUSTERNET_KUBECTL`, else `kubectl` on `PATH`.
pub fn binary() -> PathBuf {
    std::env::var_os("KUBECTL_CLUSTERNET_KUBECTL")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("kubectl"))
}

/// A private scratch directory with kubeconfigs for the endpoint; removed when dropped.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    /// Creates the directory (mode 0700).
    pub fn new() -> Result<Self> {
        Ok(Self {
            dir: tempfile::Builder::new()
                .prefix("kubectl-clusternet-")
                .tempdir()
                .context("creating a temporary directory")?,
        })
    }

    /// The discovery and HTTP cache kubectl uses for this run (`--cache-dir`): the endpoint's
    /// port changes every run, so a cache under `~/.kube/cache` would only grow.
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Writes a kubeconfig for `endpoint` under `path_prefix`, default namespace `namespace`.
    pub fn kubeconfig(
        &self,
        file: &str,
        endpoint: &Endpoint,
        path_prefix: &str,
        namespace: &str,
    ) -> Result<PathBuf> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let doc = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "clusternet", "cluster": {
                "server": format!("{}{path_prefix}", endpoint.url),
                "certificate-authority-data": b64.encode(&endpoint.certificate_pem),
            }}],
            "users": [{"name": "clusternet", "user": {"token": endpoint.token}}],
            "contexts": [{"name": "clusternet", "context": {
                "cluster": "clusternet", "user": "clusternet", "namespace": namespace,
            }}],
            "current-context": "clusternet",
        });
        let path = self.dir.path().join(file);
        write_private(&path, doc.to_string().as_bytes())?;
        Ok(path)
    }
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(data)
        .with_context(|| format!("writing {}", path.display()))
}

/// kubectl with `--kubeconfig` (and `--cache-dir` unless the user chose one) before `rest`.
pub fn command(kubeconfig: &Path, scratch: &Scratch, rest: &[String]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(binary());
    cmd.arg(format!("--kubeconfig={}", kubeconfig.display()));
    if args::flag_value(rest, "cache-dir", None).is_none() {
        cmd.arg(format!("--cache-dir={}", scratch.cache_dir().display()));
    }
    cmd.args(rest).env_remove("KUBECONFIG");
    cmd
}

/// Runs kubectl in the foreground (the user's terminal), returning how it ended. Interrupts
/// (Ctrl-C reaches kubectl as well) do not stop this process before kubectl has ended, so the
/// scratch directory is always removed.
pub async fn run_foreground(mut cmd: tokio::process::Command) -> Result<ExitStatus> {
    cmd.stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("running {}", binary().display()))?;
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            status = child.wait() => return status.context("waiting for kubectl"),
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {
                let _ = child.start_kill();
            }
        }
    }
}
