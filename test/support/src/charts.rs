//! Local Helm chart sources, from real components: the chart fixtures in
//! `test/fixtures/charts` packaged and indexed by Helm's own CLI (`make helm`), served from three
//! places on 127.0.0.1 with ports from the OS:
//!
//! - a public chart repository over plain HTTP (`index.yaml` + `.tgz`),
//! - a chart repository that requires HTTP basic auth,
//! - a real OCI registry (distribution, `make registry`) with charts pushed by `helm push`.
//!
//! The two HTTP repositories are a small static file server in this process; the registry is a
//! child process. Everything stops when the [`ChartRepos`] is dropped, also when a test fails.
//!
//! | chart | versions | public HTTP | basic auth | OCI |
//! |---|---|---|---|---|
//! | `hello` (a ConfigMap) | 0.1.0, 0.2.0 | both | | both |
//! | `mysql` (ConfigMap + Service) | 9.2.0 | yes | | yes |
//! | `broken` (0.1.0: a ConfigMap named `Invalid_Name_…`; 0.2.0 valid) | 0.1.0, 0.2.0 | both | | |
//! | `example` (a ConfigMap) | 0.0.1 | | yes | |

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode, header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::kubectl::Output;
use crate::{free_port, paths, wait_for};

/// The user name of the basic-auth repository.
pub const USERNAME: &str = "clusternet";

/// The realm the basic-auth repository names in `WWW-Authenticate`.
pub const REALM: &str = "charts";

/// One packaged chart: which fixture, and the name and version of the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chart {
    /// The fixture directory under `test/fixtures/charts`.
    pub fixture: &'static str,
    /// The chart name (`Chart.yaml` `name`).
    pub name: &'static str,
    /// The chart version of the archive.
    pub version: &'static str,
    /// Packaged with `--version` (the fixture's `Chart.yaml` says another version).
    pub repackaged: bool,
}

impl Chart {
    const fn new(fixture: &'static str, name: &'static str, version: &'static str) -> Self {
        Self {
            fixture,
            name,
            version,
            repackaged: false,
        }
    }

    /// `<name>-<version>.tgz`, what `helm package` writes.
    pub fn archive(&self) -> String {
        format!("{}-{}.tgz", self.name, self.version)
    }
}

/// What the public HTTP repository serves.
pub const PUBLIC_CHARTS: [Chart; 5] = [
    Chart::new("hello", "hello", "0.1.0"),
    Chart {
        repackaged: true,
        ..Chart::new("hello", "hello", "0.2.0")
    },
    Chart::new("mysql", "mysql", "9.2.0"),
    Chart::new("broken", "broken", "0.1.0"),
    Chart::new("broken-fixed", "broken", "0.2.0"),
];

/// What the basic-auth repository serves.
pub const AUTH_CHARTS: [Chart; 1] = [Chart::new("example", "example", "0.0.1")];

/// `sh -c` around the registry (`$0` the binary, `$1` its configuration): the registry runs
/// with stdin from /dev/null, a background reader holds the shell's stdin (the caller's pipe)
/// and stops the registry when it closes; the shell exits with the registry.
const REGISTRY_LIFELINE: &str = r#"exec 3<&0
"$0" serve "$1" </dev/null &
registry=$!
{ cat <&3 >/dev/null; kill "$registry" 2>/dev/null; } &
wait "$registry""#;

/// What is pushed to the OCI registry (`<oci_url>/<name>:<version>`), from the public packages.
pub const OCI_CHARTS: [Chart; 3] = [PUBLIC_CHARTS[0], PUBLIC_CHARTS[1], PUBLIC_CHARTS[2]];

/// `<root>/test/fixtures/charts`.
pub fn fixtures_dir() -> PathBuf {
    paths::workspace_root()
        .join("test")
        .join("fixtures")
        .join("charts")
}

/// Helm's CLI with its own configuration, cache and data directories (nothing of the user's
/// `~/.config/helm`, `~/.cache/helm` or registry logins is read or written).
#[derive(Clone, Debug)]
pub struct Helm {
    home: PathBuf,
}

impl Helm {
    /// Helm with its state under `home` (`config/`, `cache/`, `data/`).
    pub fn new(home: &Path) -> Result<Self> {
        for sub in ["config", "cache", "data"] {
            std::fs::create_dir_all(home.join(sub))
                .with_context(|| format!("creating {}", home.join(sub).display()))?;
        }
        Ok(Self {
            home: home.to_path_buf(),
        })
    }

    /// The environment that isolates it (`HELM_CONFIG_HOME` and friends), for running helm
    /// some other way.
    pub fn env(&self) -> Vec<(&'static str, PathBuf)> {
        let (config, cache, data) = (
            self.home.join("config"),
            self.home.join("cache"),
            self.home.join("data"),
        );
        vec![
            ("HELM_REGISTRY_CONFIG", config.join("registry/config.json")),
            ("HELM_REPOSITORY_CONFIG", config.join("repositories.yaml")),
            ("HELM_REPOSITORY_CACHE", cache.join("repository")),
            ("HELM_PLUGINS", data.join("plugins")),
            ("HELM_CONFIG_HOME", config),
            ("HELM_CACHE_HOME", cache),
            ("HELM_DATA_HOME", data),
        ]
    }

    /// `helm <args>` ready to spawn: stdin null, stdout and stderr piped, killed when dropped.
    pub fn command<I, S>(&self, args: I) -> Result<tokio::process::Command>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = tokio::process::Command::new(paths::helm_bin()?);
        cmd.args(args)
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        Ok(cmd)
    }

    /// Runs helm and returns what it printed, whatever the exit status.
    pub async fn output<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let out = self.command(args)?.output().await.context("running helm")?;
        Ok(Output {
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Runs helm and returns its stdout; a non-zero exit is an error carrying stderr.
    pub async fn run<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let args: Vec<std::ffi::OsString> =
            args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let out = self.output(&args).await?;
        if !out.success {
            let shown: Vec<String> = args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            bail!(
                "helm {} failed: {}{}",
                shown.join(" "),
                out.stderr,
                out.stdout
            );
        }
        Ok(out.stdout)
    }
}

/// The three chart sources, running. Dropping it stops the HTTP servers and the registry.
#[derive(Debug)]
pub struct ChartRepos {
    /// The public repository, `http://127.0.0.1:<port>` (`helm … --repo <http_url>`).
    pub http_url: String,
    /// The basic-auth repository, `http://127.0.0.1:<port>`.
    pub auth_url: String,
    /// Its user name ([`USERNAME`]).
    pub username: String,
    /// Its password (random per start).
    pub password: String,
    /// The OCI registry's chart namespace, `oci://127.0.0.1:<port>/charts` (plain HTTP).
    pub oci_url: String,
    dir: PathBuf,
    helm: Helm,
    servers: Vec<tokio::task::JoinHandle<()>>,
    registry: Option<Child>,
}

impl ChartRepos {
    /// Packages the fixtures into `dir` and serves them, every port chosen by the OS.
    pub async fn start(dir: &Path) -> Result<Self> {
        Self::start_with_http_port(dir, 0).await
    }

    /// Like [`ChartRepos::start`], with the public repository on `http_port` (0: any port).
    /// `make up` uses a fixed one so that `deploy/examples/helm` can name it.
    pub async fn start_with_http_port(dir: &Path, http_port: u16) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = std::path::absolute(dir)?;
        // What an earlier start in the same directory left is replaced.
        for sub in ["public", "auth", "registry"] {
            let path = dir.join(sub);
            if path.exists() {
                std::fs::remove_dir_all(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
            std::fs::create_dir_all(&path)?;
        }
        let public = TcpListener::bind(("127.0.0.1", http_port))
            .await
            .with_context(|| {
                format!(
                    "binding the public chart repository to 127.0.0.1:{http_port} (is another process using the port?)"
                )
            })?;
        let auth = TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = |l: &TcpListener| -> Result<String> {
            Ok(format!("http://127.0.0.1:{}", l.local_addr()?.port()))
        };
        let password = {
            use rand::distr::{Alphanumeric, SampleString};
            Alphanumeric.sample_string(&mut rand::rng(), 20)
        };
        let mut repos = Self {
            http_url: url(&public)?,
            auth_url: url(&auth)?,
            username: USERNAME.to_string(),
            password: password.clone(),
            oci_url: String::new(),
            helm: Helm::new(&dir.join("helm"))?,
            dir: dir.clone(),
            servers: Vec::new(),
            registry: None,
        };
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USERNAME}:{password}"))
        );
        repos
            .servers
            .push(tokio::spawn(serve(public, dir.join("public"), None)));
        repos
            .servers
            .push(tokio::spawn(serve(auth, dir.join("auth"), Some(expected))));

        repos.package().await?;
        repos.start_registry().await?;
        repos.push().await?;
        Ok(repos)
    }

    async fn package(&self) -> Result<()> {
        let fixtures = fixtures_dir();
        let jobs = PUBLIC_CHARTS
            .iter()
            .map(|c| (c, self.public_dir()))
            .chain(AUTH_CHARTS.iter().map(|c| (c, self.auth_dir())))
            .map(|(chart, out)| {
                let mut args = vec![
                    "package".into(),
                    fixtures.join(chart.fixture).into_os_string(),
                    "-d".into(),
                    out.into_os_string(),
                ];
                if chart.repackaged {
                    args.extend(["--version".into(), chart.version.into()]);
                }
                async move {
                    self.helm
                        .run(&args)
                        .await
                        .with_context(|| format!("packaging {} {}", chart.name, chart.version))
                }
            });
        futures::future::try_join_all(jobs).await?;
        for (dir, url) in [
            (self.public_dir(), &self.http_url),
            (self.auth_dir(), &self.auth_url),
        ] {
            self.helm
                .run([
                    "repo".as_ref(),
                    "index".as_ref(),
                    dir.as_os_str(),
                    "--url".as_ref(),
                    url.as_ref(),
                ])
                .await?;
        }
        Ok(())
    }

    async fn start_registry(&mut self) -> Result<()> {
        let bin = paths::registry_bin()?;
        let base = self.dir.join("registry");
        let log_path = self.registry_log();
        // The port is chosen before the registry binds it; another process may take it in
        // between, so a start that loses the race is retried on another port.
        for attempt in 1..=3 {
            let port = free_port()?;
            let config = serde_json::json!({
                "version": "0.1",
                "log": {"level": "info", "accesslog": {"disabled": true}},
                "storage": {
                    "filesystem": {"rootdirectory": base.join("data")},
                    "delete": {"enabled": true},
                },
                "http": {"addr": format!("127.0.0.1:{port}")},
            });
            // JSON is YAML: the registry reads it as its configuration file.
            let config_path = base.join("config.yml");
            std::fs::write(&config_path, serde_json::to_string_pretty(&config)?)?;
            let log = std::fs::File::create(&log_path)?;
            // The registry has no --lifeline of its own: a shell holds the pipe on its behalf
            // and stops it when the pipe closes, so it goes with this process however that
            // ends (a panic, or a signal that runs no destructor).
            let child = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(REGISTRY_LIFELINE)
                .arg(&bin)
                .arg(&config_path)
                // No OpenTelemetry exporter (it would try to reach localhost:4318).
                .env("OTEL_TRACES_EXPORTER", "none")
                .stdin(Stdio::piped())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .with_context(|| format!("starting {}", bin.display()))?;
            self.registry = Some(child);
            let addr = format!("127.0.0.1:{port}");
            // Some(true): answering; Some(false): exited.
            let ready = wait_for(
                &format!("the OCI registry on {addr} to answer GET /v2/"),
                Duration::from_secs(30),
                Duration::from_millis(50),
                || {
                    let exited = self
                        .registry
                        .as_mut()
                        .is_none_or(|c| c.try_wait().ok().flatten().is_some());
                    let addr = addr.clone();
                    async move {
                        if exited {
                            return Ok(Some(false));
                        }
                        let answer = raw_get(&addr, "/v2/", &[]).await?;
                        Ok((answer.status == 200).then_some(true))
                    }
                },
            )
            .await;
            let why = match ready {
                Ok(true) => {
                    self.oci_url = format!("oci://{addr}/charts");
                    return Ok(());
                }
                Ok(false) => "it exited".to_string(),
                Err(err) => format!("{err:#}"),
            };
            self.stop_registry();
            let tail = log_tail(&log_path);
            if attempt < 3 && tail.contains("address already in use") {
                continue;
            }
            bail!(
                "the OCI registry did not start: {why}; last lines of {}:\n{tail}",
                log_path.display()
            );
        }
        bail!("OCI registry did not start")
    }

    async fn push(&self) -> Result<()> {
        let jobs = OCI_CHARTS.iter().map(|chart| async move {
            self.helm
                .run([
                    "push".as_ref(),
                    self.public_dir().join(chart.archive()).as_os_str(),
                    self.oci_url.as_ref(),
                    "--plain-http".as_ref(),
                ])
                .await
                .with_context(|| format!("pushing {} {}", chart.name, chart.version))
        });
        futures::future::try_join_all(jobs).await?;
        Ok(())
    }

    fn stop_registry(&mut self) {
        if let Some(mut child) = self.registry.take() {
            // Closing the pipe stops the registry (SIGTERM) and then its shell.
            drop(child.stdin.take());
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Helm isolated in this directory (nothing of the user's Helm configuration).
    pub fn helm(&self) -> &Helm {
        &self.helm
    }

    /// The directory everything is in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the public repository serves (`index.yaml` and the archives).
    pub fn public_dir(&self) -> PathBuf {
        self.dir.join("public")
    }

    /// What the basic-auth repository serves.
    pub fn auth_dir(&self) -> PathBuf {
        self.dir.join("auth")
    }

    /// `127.0.0.1:<port>` of the OCI registry.
    pub fn oci_host(&self) -> &str {
        self.oci_url
            .trim_start_matches("oci://")
            .split('/')
            .next()
            .unwrap_or_default()
    }

    /// The registry's log.
    pub fn registry_log(&self) -> PathBuf {
        self.dir.join("registry").join("registry.log")
    }
}

impl Drop for ChartRepos {
    fn drop(&mut self) {
        for server in &self.servers {
            server.abort();
        }
        self.stop_registry();
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Serves the files under `root` until the task is aborted (which also ends its connections).
async fn serve(listener: TcpListener, root: PathBuf, authorization: Option<String>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let (root, authorization) = (root.clone(), authorization.clone());
                let service = hyper::service::service_fn(move |req| {
                    let (root, authorization) = (root.clone(), authorization.clone());
                    async move { Ok::<_, Infallible>(respond(&root, authorization.as_deref(), req).await) }
                });
                connections.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

async fn respond<B>(
    root: &Path,
    authorization: Option<&str>,
    req: Request<B>,
) -> Response<Full<Bytes>> {
    if let Some(expected) = authorization {
        let given = req.headers().get(header::AUTHORIZATION);
        if given.map(|v| v.as_bytes()) != Some(expected.as_bytes()) {
            let mut resp = plain(StatusCode::UNAUTHORIZED, "401 unauthorized");
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_str(&format!("Basic realm=\"{REALM}\""))
                    .expect("a valid header value"),
            );
            return resp;
        }
    }
    let head = req.method() == Method::HEAD;
    if !head && req.method() != Method::GET {
        let mut resp = plain(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed");
        resp.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let Some(path) = resolve(root, req.uri().path()) else {
        return plain(StatusCode::NOT_FOUND, "404 not found");
    };
    let content = match tokio::fs::metadata(&path).await {
        Ok(meta) if meta.is_file() => match tokio::fs::read(&path).await {
            Ok(content) => content,
            Err(_) => return plain(StatusCode::NOT_FOUND, "404 not found"),
        },
        _ => return plain(StatusCode::NOT_FOUND, "404 not found"),
    };
    let length = content.len();
    let body = if head { Bytes::new() } else { content.into() };
    let mut resp = Response::new(Full::new(body));
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type(&path)),
    );
    headers.insert(header::CONTENT_LENGTH, length.into());
    resp
}

/// The file under `root` that a request path names: every segment a plain file or directory
/// name (no `..`, `.`, empty segments, backslashes or NULs; nothing percent-decoded).
fn resolve(root: &Path, request_path: &str) -> Option<PathBuf> {
    let rest = request_path.strip_prefix('/')?;
    if rest.is_empty() {
        return None;
    }
    let mut path = root.to_path_buf();
    for segment in rest.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." || segment.contains(['\\', '\0'])
        {
            return None;
        }
        path.push(segment);
    }
    Some(path)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("tgz") => "application/gzip",
        Some("yaml" | "yml") => "text/yaml",
        Some("prov") => "application/pgp-signature",
        _ => "application/octet-stream",
    }
}

/// An HTTP response read by [`raw_get`].
#[derive(Clone, Debug)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// The header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy).
    pub body: String,
}

impl RawResponse {
    /// The first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET <target>` over HTTP/1.1 to `addr` (`host:port`), the target sent exactly as given (no
/// normalisation of `..`, unlike HTTP clients), with `Connection: close`.
pub async fn raw_get(addr: &str, target: &str, headers: &[(&str, &str)]) -> Result<RawResponse> {
    let mut stream =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
            .await
            .context("connect timed out")??;
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .context("response timed out")??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no HTTP status line in {head:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(RawResponse {
        status,
        headers,
        body: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_under_the_root_resolve() {
        let root = Path::new("/srv/charts");
        assert_eq!(resolve(root, "/index.yaml"), Some(root.join("index.yaml")));
        assert_eq!(
            resolve(root, "/sub/hello-0.1.0.tgz"),
            Some(root.join("sub/hello-0.1.0.tgz"))
        );
        for bad in [
            "",
            "/",
            "index.yaml",
            "/../etc/passwd",
            "/a/../../b",
            "/./index.yaml",
            "//etc/passwd",
            "/a//b",
            "/a\\..\\b",
        ] {
            assert_eq!(resolve(root, bad), None, "{bad:?}");
        }
        // Nothing is percent-decoded: `%2e%2e` is a file name, not `..`.
        assert_eq!(
            resolve(root, "/%2e%2e/x"),
            Some(root.join("%2e%2e").join("x"))
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_type(Path::new("a/hello-0.1.0.tgz")),
            "application/gzip"
        );
        assert_eq!(content_type(Path::new("index.yaml")), "text/yaml");
        assert_eq!(content_type(Path::new("x.bin")), "application/octet-stream");
    }

    #[test]
    fn the_oci_charts_are_public_packages() {
        for chart in OCI_CHARTS {
            assert!(PUBLIC_CHARTS.contains(&chart));
        }
        assert_eq!(PUBLIC_CHARTS[1].archive(), "hello-0.2.0.tgz");
    }
}
