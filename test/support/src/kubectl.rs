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
}

/// What a finished kubectl run printed.
#[derive(Clone, Debug)]
pub struct Output {
    /// Exit status was zero.
    pub success: bool,
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
        }
    }

    /// The kubeconfig it uses.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Runs kubectl with `args` (and `stdin`, if given) and returns what it printed, whatever
    /// the exit status.
    pub async fn output<I, S>(&self, args: I, stdin: Option<&str>) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_string()).collect();
        let mut cmd = tokio::process::Command::new(paths::kubectl_bin()?);
        // Discovery and OpenAPI caches next to the kubeconfig, not in ~/.kube/cache: ports are
        // reused between runs, and a stale cache for host:port would answer for another cluster.
        let cache = self.kubeconfig.with_extension("kube-cache");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&cache)
            .args(&args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("spawning kubectl")?;
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().context("kubectl stdin")?;
            pipe.write_all(input.as_bytes()).await?;
            drop(pipe);
        }
        let out = child.wait_with_output().await?;
        Ok(Output {
            success: out.status.success(),
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
