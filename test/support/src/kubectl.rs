//! Running the real `kubectl` (built from the same Kubernetes modules as the control planes)
//! the way a user would type it.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use tokio::io::AsyncWriteExt;

use crate::paths;

/// A kubectl invocation against one kubeconfig.
#[derive(Clone, Debug)]
pub struct Kubectl {
    kubeconfig: PathBuf,
    env: Vec<(String, String)>,
    plugin: bool,
}

/// What a finished kubectl run printed.
#[derive(Clone, Debug)]
pub struct Output {
    /// Exit status was zero.
    pub success: bool,
    /// The exit code (None if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Kubectl {
    /// kubectl with `--kubeconfig <path>`.
    pub fn new(kubeconfig: impl AsRef<Path>) -> Self {
        Self {
            kubeconfig: kubeconfig.as_ref().to_path_buf(),
            env: Vec::new(),
            plugin: false,
        }
    }

    /// The same kubectl with environment variable `name=value` set.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// The same kubectl streaming exec, attach, cp and port-forward over SPDY instead of
    /// WebSocket (kubectl's default since 1.31 for port-forward, 1.30 for the others).
    pub fn spdy(self) -> Self {
        self.env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")
            .env("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false")
    }

    /// The same kubectl running `kubectl clusternet <args>`: the plugin built by cargo, found by
    /// kubectl's plugin discovery on `PATH` as a user installs it.
    pub fn clusternet(mut self) -> Self {
        self.plugin = true;
        self
    }

    /// The kubeconfig it uses.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// `kubectl <args>` ready to spawn (for commands that run on, like `logs -f` or
    /// `port-forward`): stdin null, stdout and stderr piped, killed when dropped.
    pub fn command<I, S>(&self, args: I) -> Result<tokio::process::Command>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut cmd = tokio::process::Command::new(paths::kubectl_bin()?);
        // Discovery and OpenAPI caches next to the kubeconfig, not in ~/.kube/cache: ports are
        // reused between runs, and a stale cache for host:port would answer for another cluster.
        let cache = self.kubeconfig.with_extension("kube-cache");
        if self.plugin {
            // kubectl finds `kubectl-clusternet` on PATH; the plugin runs the kubectl on PATH.
            let plugin = paths::cargo_bin("kubectl-clusternet")?;
            let kubectl = paths::kubectl_bin()?;
            let path = std::env::var_os("PATH").unwrap_or_default();
            let dirs: Vec<PathBuf> = [plugin.parent(), kubectl.parent()]
                .into_iter()
                .flatten()
                .map(Path::to_path_buf)
                .chain(std::env::split_paths(&path))
                .collect();
            cmd.arg("clusternet")
                .env("PATH", std::env::join_paths(dirs).context("PATH")?);
        }
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&cache)
            .args(args.into_iter().map(|a| a.as_ref().to_string()))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        Ok(cmd)
    }

    /// Runs kubectl with `args` (and `stdin`, if given) and returns what it printed, whatever
    /// the exit status.
    pub async fn output<I, S>(&self, args: I, stdin: Option<&str>) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut cmd = self.command(args)?;
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().context("spawning kubectl")?;
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().context("kubectl stdin")?;
            pipe.write_all(input.as_bytes()).await?;
            drop(pipe);
        }
        let out = child.wait_with_output().await?;
        Ok(Output {
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Runs kubectl and returns its stdout; a non-zero exit is an error carrying stderr.
    pub async fn run<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.run_with_stdin(args, None).await
    }

    /// Like [`Kubectl::run`], feeding `stdin` (e.g. for `apply -f -`).
    pub async fn run_with_stdin<I, S>(&self, args: I, stdin: Option<&str>) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_string()).collect();
        let out = self.output(&args, stdin).await?;
        if !out.success {
            bail!(
                "kubectl {} failed: {}{}",
                args.join(" "),
                out.stderr,
                out.stdout
            );
        }
        Ok(out.stdout)
    }
}
