//! The HelmRelease reconciler shared by the controller-manager (push: through the hub, as the
//! rest of the push deployer reaches a child) and the agent (pull: straight to its own cluster),
//! as Clusternet's `utils.ReconcileHelmRelease`. The chart engine is the real Helm CLI
//! ([`Settings::helm`]), run with explicit arguments in a private, short-lived directory that
//! holds the child's kubeconfig (mode 0600), Helm's config/cache/data homes and the values file;
//! the directory is removed when the reconcile ends.
//!
//! Per HelmRelease, as Go:
//!
//! * deleting: status `uninstalling` (Description `Uninstalling`), `helm uninstall`, then the
//!   finalizer `apps.clusternet.io/finalizer` is removed; a lost cluster only drops the finalizer;
//! * otherwise the chart is located (`helm show chart`, with the `chartPullSecret`'s `username`
//!   and `password` given to Helm on stdin: `helm repo add --password-stdin` or `helm registry
//!   login --password-stdin`, never on a command line); a chart that cannot be found makes the
//!   release `failed` with Helm's message;
//! * no release yet → `pending-install` and `helm install`; a release whose name, namespace,
//!   chart, version or values differ → `pending-upgrade` and `helm upgrade` (history kept to 5
//!   revisions, Helm's secret storage driver); otherwise nothing is run, so a resync makes no new
//!   revision; `atomic` and a release left undeployed → uninstalled first, as Go;
//! * the release's revision, times, description, notes and status go into the HelmRelease
//!   status, and its phase into the owning Description (deployed → `Success`, pending-install →
//!   `Installing`, pending-upgrade → `Upgrading`, uninstalling → `Uninstalling`, superseded →
//!   `Superseded`, failed → `Failure` with the reason, else `Unknown`).
//!
//! A failed reconcile is retried with a growing delay ([`crate::queue::backoff`]: 0.5 s doubling
//! up to 1 min), so a release that keeps failing costs one Helm run per delay and no memory
//! beyond its failure count and next-run time (`make bench-helm`). What is retried is what
//! failed before Helm kept a release (the chart or repository, an `atomic` install it rolled
//! back); a failed release Helm kept is, as in Go, left until the spec changes. Every release is
//! also looked at every [`Settings::resync`].
//!
//! As Go, TLS verification of chart repositories is skipped (`--insecure-skip-tls-verify`):
//! Clusternet has no field for a repository CA, and users rely on it for self-signed repos.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clusternet_apis::apps::v1alpha1::{
    CHART_PULL_SECRET_PASSWORD_KEY, CHART_PULL_SECRET_USERNAME_KEY, ChartPullSecret,
    DescriptionPhase, HelmOptions, HelmRelease, HelmReleasePhase, HelmReleaseStatus,
};
use clusternet_apis::known;
use clusternet_component_base::finalizers;
use clusternet_component_base::reconcile::ReconcileError as Error;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::controller::Target;

/// Decides, per HelmRelease, how (and whether) this component reaches its cluster.
pub trait HelmPlacement: Send + Sync + 'static {
    /// The target of `hr`: with `Deploy`, the client configuration Helm gets as its kubeconfig.
    fn target(&self, hr: &HelmRelease)
    -> impl Future<Output = Result<Target<kube::Config>>> + Send;

    /// Whether the chart pull secret `hr` names may be read for it. A HelmRelease lives in a
    /// cluster's namespace, where that cluster's agent may edit it: a component reading
    /// secrets with more rights than the agent must not send any secret to any repository a
    /// child names. By default (a component whose parent identity is the agent's) yes.
    fn may_use_pull_secret(&self, hr: &HelmRelease) -> impl Future<Output = Result<bool>> + Send {
        let _ = hr;
        async { Ok(true) }
    }
}

/// Reconciler settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The Helm CLI.
    pub helm: PathBuf,
    /// Only HelmReleases in this namespace (the agent's dedicated namespace), or all.
    pub namespace: Option<String>,
    /// Concurrent reconciles (each runs Helm processes).
    pub workers: u16,
    /// Every HelmRelease is looked at this often even without changes.
    pub resync: Duration,
    /// The component named in Events (`clusternet-agent`, `clusternet-controller-manager`).
    pub reporter: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            helm: PathBuf::from("helm"),
            namespace: None,
            workers: 4,
            resync: Duration::from_secs(300),
            reporter: "clusternet".into(),
        }
    }
}

/// Go's `release.MaxHistory` for Clusternet's releases.
pub const MAX_HISTORY: u32 = 5;

/// The generation last reconciled, and when Helm may run again for it.
type Gate = (Option<i64>, Instant);

struct Ctx<P> {
    parent: kube::Client,
    placement: P,
    settings: Settings,
    recorder: Recorder,
    /// Consecutive failures per release (reset on success, dropped with the release).
    failures: Mutex<HashMap<ObjectRef<HelmRelease>, u32>>,
    /// Per release, the generation last reconciled and when Helm may run for it again (the
    /// resync after a success, the backoff after a failure): our own status writes trigger
    /// the controller too, and are no reason to run Helm again. A new generation (spec change,
    /// deletion) runs at once.
    gate: Mutex<HashMap<ObjectRef<HelmRelease>, Gate>>,
}

/// Runs the reconciler until its watch ends (it does not, short of a panic).
pub async fn run<P: HelmPlacement>(parent: kube::Client, placement: P, settings: Settings) {
    let api: Api<HelmRelease> = match &settings.namespace {
        Some(ns) => Api::namespaced(parent.clone(), ns),
        None => Api::all(parent.clone()),
    };
    let recorder = Recorder::new(
        parent.clone(),
        Reporter {
            controller: settings.reporter.clone(),
            instance: None,
        },
    );
    let workers = settings.workers.max(1);
    let ctx = Arc::new(Ctx {
        parent,
        placement,
        settings,
        recorder,
        failures: Mutex::new(HashMap::new()),
        gate: Mutex::new(HashMap::new()),
    });
    Controller::new(api, watcher::Config::default())
        .with_config(kube::runtime::controller::Config::default().concurrency(workers))
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn error_policy<P>(hr: Arc<HelmRelease>, err: &Error, ctx: Arc<Ctx<P>>) -> Action {
    let key = ObjectRef::from_obj(hr.as_ref());
    let delay = ctx
        .gate
        .lock()
        .ok()
        .and_then(|g| {
            g.get(&key)
                .map(|(_, at)| at.saturating_duration_since(Instant::now()))
        })
        .unwrap_or(crate::queue::backoff(1));
    tracing::info!(helmrelease = %name_of(&hr), error = %format!("{:#}", err.0), retry_in = ?delay, "reconciling HelmRelease failed");
    Action::requeue(delay)
}

fn name_of(hr: &HelmRelease) -> String {
    format!("{}/{}", hr.namespace().unwrap_or_default(), hr.name_any())
}

async fn reconcile<P: HelmPlacement>(
    hr: Arc<HelmRelease>,
    ctx: Arc<Ctx<P>>,
) -> Result<Action, Error> {
    let key = ObjectRef::from_obj(hr.as_ref());
    let generation = hr.metadata.generation;
    let gated = ctx.gate.lock().ok().and_then(|g| g.get(&key).copied());
    if let Some((g, not_before)) = gated
        && g == generation
        && Instant::now() < not_before
    {
        return Ok(Action::requeue(not_before - Instant::now()));
    }
    let result = reconcile_inner(&hr, &ctx).await;
    let delay = match (&result, ctx.failures.lock()) {
        (Ok(_), Ok(mut f)) => {
            f.remove(&key);
            ctx.settings.resync
        }
        (Err(_), Ok(mut f)) => {
            let n = f.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            crate::queue::backoff(*n)
        }
        (_, Err(_)) => crate::queue::backoff(1),
    };
    let gone = result.is_ok() && hr.metadata.deletion_timestamp.is_some();
    if let Ok(mut g) = ctx.gate.lock() {
        if gone {
            g.remove(&key);
        } else {
            g.insert(key.clone(), (generation, Instant::now() + delay));
        }
    }
    if gone && let Ok(mut f) = ctx.failures.lock() {
        f.remove(&key);
    }
    Ok(result?)
}

async fn reconcile_inner<P: HelmPlacement>(hr: &HelmRelease, ctx: &Ctx<P>) -> Result<Action> {
    let ns = hr.namespace().unwrap_or_default();
    let api: Api<HelmRelease> = Api::namespaced(ctx.parent.clone(), &ns);
    let deleting = hr.metadata.deletion_timestamp.is_some();
    let config = match ctx.placement.target(hr).await? {
        Target::Skip => return Ok(Action::await_change()),
        Target::Lost => {
            if deleting {
                finalizers::remove(&api, hr, &[known::APP_FINALIZER]).await?;
            }
            return Ok(Action::await_change());
        }
        Target::Wait(why) => {
            tracing::info!(helmrelease = %name_of(hr), %why, "waiting for the cluster");
            return Ok(Action::requeue(Duration::from_secs(5)));
        }
        Target::Deploy(config) => config,
    };
    let work = Workspace::new(&ctx.settings.helm, Some(&config))?;
    let release = release_name(hr);
    let target_ns = hr.spec.target_namespace.clone();

    if deleting {
        write_status(ctx, hr, phase_only(HelmReleasePhase::Uninstalling)).await?;
        work.uninstall(hr, &release).await?;
        finalizers::remove(&api, hr, &[known::APP_FINALIZER]).await?;
        return Ok(Action::await_change());
    }
    finalizers::ensure(&api, hr, known::APP_FINALIZER).await?;

    let credentials = chart_credentials(ctx, hr).await?;
    let chart = match work
        .locate(&hr.spec.helm_options, credentials.as_ref())
        .await
    {
        Ok(chart) => chart,
        Err(err) => {
            let message = format!("{err:#}");
            event(ctx, hr, EventType::Warning, "ChartLocateFailure", &message).await;
            write_status(ctx, hr, failed(&message)).await?;
            return Err(err);
        }
    };
    let values = values_of(hr)?;
    let mut current = work.status(&release, &target_ns).await?;

    if hr.spec.helm_options.atomic == Some(true)
        && current
            .as_ref()
            .is_some_and(|r| r.phase() != Some(HelmReleasePhase::Deployed))
    {
        write_status(ctx, hr, phase_only(HelmReleasePhase::Uninstalling)).await?;
        work.uninstall(hr, &release).await?;
        current = None;
    }
    let outcome = match &current {
        None => {
            write_status(ctx, hr, phase_only(HelmReleasePhase::PendingInstall)).await?;
            Some(work.install(hr, &release, &chart, &values).await)
        }
        Some(rel) if needs_upgrade(rel, &release, &target_ns, &chart.metadata, &values) => {
            write_status(ctx, hr, phase_only(HelmReleasePhase::PendingUpgrade)).await?;
            Some(work.upgrade(hr, &release, &chart, &values).await)
        }
        Some(_) => None,
    };
    let (status, result) = match outcome {
        None => (status_of(current.as_ref()), Ok(())),
        Some(Ok(rel)) => (status_of(Some(&rel)), Ok(())),
        Some(Err(err)) => {
            let message = format!("{err:#}");
            event(ctx, hr, EventType::Warning, "HelmReleaseFailure", &message).await;
            // What Helm left behind (a failed revision) is the status; Helm's message says why.
            let mut status = match work.status(&release, &target_ns).await {
                Ok(Some(rel)) => status_of(Some(&rel)),
                _ => HelmReleaseStatus::default(),
            };
            status.phase = Some(HelmReleasePhase::Failed);
            status.notes = message;
            (status, Err(err))
        }
    };
    write_status(ctx, hr, status).await?;
    result?;
    Ok(Action::requeue(ctx.settings.resync))
}

fn phase_only(phase: HelmReleasePhase) -> HelmReleaseStatus {
    HelmReleaseStatus {
        phase: Some(phase),
        ..Default::default()
    }
}

fn failed(notes: &str) -> HelmReleaseStatus {
    HelmReleaseStatus {
        phase: Some(HelmReleasePhase::Failed),
        notes: notes.to_string(),
        ..Default::default()
    }
}

/// The release name: `spec.releaseName`, else the HelmRelease's name (Go's `getReleaseName`).
pub fn release_name(hr: &HelmRelease) -> String {
    hr.spec
        .release_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| hr.name_any())
}

/// The release's values: `spec.overrides` (JSON), or none.
fn values_of(hr: &HelmRelease) -> Result<Value> {
    match &hr.spec.overrides {
        Some(bytes) if !bytes.0.iter().all(u8::is_ascii_whitespace) => {
            let v: Value =
                serde_json::from_slice(&bytes.0).context("spec.overrides is not JSON")?;
            Ok(v)
        }
        _ => Ok(Value::Null),
    }
}

async fn chart_credentials<P: HelmPlacement>(
    ctx: &Ctx<P>,
    hr: &HelmRelease,
) -> Result<Option<(String, String)>> {
    let secret = &hr.spec.helm_options.chart_pull_secret;
    if !secret.name.is_empty() && !ctx.placement.may_use_pull_secret(hr).await? {
        bail!(
            "chart pull secret {}/{} is not the chartPullSecret of a HelmChart for {} {}: not used",
            secret.namespace,
            secret.name,
            hr.spec.helm_options.repository,
            hr.spec.helm_options.chart
        );
    }
    pull_secret_credentials(&ctx.parent, secret).await
}

/// `username` and `password` of a chart pull secret on the parent (Go's
/// `GetHelmRepoCredentials`), if one is named; read with the caller's own parent identity.
pub async fn pull_secret_credentials(
    parent: &kube::Client,
    secret: &ChartPullSecret,
) -> Result<Option<(String, String)>> {
    if secret.name.is_empty() {
        return Ok(None);
    }
    let api: Api<Secret> = Api::namespaced(parent.clone(), &secret.namespace);
    let found = api.get(&secret.name).await.with_context(|| {
        format!(
            "reading chart pull secret {}/{}",
            secret.namespace, secret.name
        )
    })?;
    let data = found.data.unwrap_or_default();
    let field = |key: &str| -> Result<String> {
        let v = data.get(key).with_context(|| {
            format!(
                "secret {}/{} does not contain {key}",
                secret.namespace, secret.name
            )
        })?;
        Ok(String::from_utf8_lossy(&v.0).to_string())
    };
    Ok(Some((
        field(CHART_PULL_SECRET_USERNAME_KEY)?,
        field(CHART_PULL_SECRET_PASSWORD_KEY)?,
    )))
}

/// Writes the HelmRelease status (all of it, as Go's UpdateStatus), then the owning
/// Description's phase.
async fn write_status<P>(ctx: &Ctx<P>, hr: &HelmRelease, status: HelmReleaseStatus) -> Result<()> {
    let ns = hr.namespace().unwrap_or_default();
    let api: Api<HelmRelease> = Api::namespaced(ctx.parent.clone(), &ns);
    let mut body = serde_json::to_value(&status)?;
    if let Some(map) = body.as_object_mut() {
        for field in [
            "firstDeployed",
            "lastDeployed",
            "description",
            "phase",
            "notes",
            "version",
        ] {
            map.entry(field).or_insert(Value::Null);
        }
    }
    api.patch_status(
        &hr.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": body })),
    )
    .await
    .with_context(|| format!("updating status of HelmRelease {}", name_of(hr)))?;

    let Some(owner) = hr
        .owner_references()
        .iter()
        .find(|o| o.controller == Some(true) && o.kind == "Description")
    else {
        return Ok(());
    };
    let (phase, reason) = description_phase(&status);
    let mut desc_status = json!({ "phase": phase });
    if let Some(reason) = reason {
        desc_status["reason"] = json!(reason);
    }
    let descs: Api<clusternet_apis::apps::v1alpha1::Description> =
        Api::namespaced(ctx.parent.clone(), &ns);
    match descs
        .patch_status(
            &owner.name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": desc_status })),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(err) => Err(anyhow!(err).context(format!(
            "updating status of Description {ns}/{}",
            owner.name
        ))),
    }
}

/// The Description phase (and reason, where Go sets one) for a release status.
pub fn description_phase(status: &HelmReleaseStatus) -> (DescriptionPhase, Option<String>) {
    let notes = || Some(status.notes.clone());
    match status.phase {
        Some(HelmReleasePhase::Deployed) => (DescriptionPhase::Success, Some(String::new())),
        Some(HelmReleasePhase::PendingInstall) => (DescriptionPhase::Installing, None),
        Some(HelmReleasePhase::PendingUpgrade) => (DescriptionPhase::Upgrading, None),
        Some(HelmReleasePhase::Uninstalling) => (DescriptionPhase::Uninstalling, None),
        Some(HelmReleasePhase::Superseded) => (DescriptionPhase::Superseded, notes()),
        Some(HelmReleasePhase::Failed) => (DescriptionPhase::Failure, notes()),
        _ => (DescriptionPhase::Unknown, notes()),
    }
}

async fn event<P>(ctx: &Ctx<P>, hr: &HelmRelease, type_: EventType, reason: &str, note: &str) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1024).collect()),
        action: "Deploy".into(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&ev, &hr.object_ref(&())).await {
        tracing::debug!(error = %err, "recording an event failed");
    }
}

// ----------------------------------------------------------------------------------------
// Releases as Helm prints them (`-o json`).

/// A Helm release (`helm status -o json`, `helm install -o json`), the fields used here.
#[derive(Deserialize, Clone, Debug, Default)]
pub struct Release {
    /// Release name.
    #[serde(default)]
    pub name: String,
    /// Release namespace.
    #[serde(default)]
    pub namespace: String,
    /// Revision.
    #[serde(default)]
    pub version: i64,
    /// State.
    #[serde(default)]
    pub info: Option<Info>,
    /// The chart it was made from.
    #[serde(default)]
    pub chart: Option<ReleaseChart>,
    /// The values it was given.
    #[serde(default)]
    pub config: Option<Value>,
}

/// `release.Info`.
#[derive(Deserialize, Clone, Debug, Default)]
pub struct Info {
    /// First deployment (RFC 3339).
    #[serde(default)]
    pub first_deployed: Option<String>,
    /// Last deployment (RFC 3339).
    #[serde(default)]
    pub last_deployed: Option<String>,
    /// Human-readable description.
    #[serde(default)]
    pub description: String,
    /// `deployed`, `failed`, …
    #[serde(default)]
    pub status: String,
    /// Rendered NOTES.txt.
    #[serde(default)]
    pub notes: String,
}

/// The chart of a release.
#[derive(Deserialize, Clone, Debug, Default)]
pub struct ReleaseChart {
    /// Chart.yaml.
    #[serde(default)]
    pub metadata: Option<ChartMetadata>,
}

/// Chart.yaml, the fields used here.
#[derive(Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ChartMetadata {
    /// Chart name.
    #[serde(default)]
    pub name: String,
    /// Chart version.
    #[serde(default)]
    pub version: String,
    /// `application` (or empty) or `library`.
    #[serde(default, rename = "type")]
    pub type_: String,
}

impl Release {
    /// The release's status as a phase.
    pub fn phase(&self) -> Option<HelmReleasePhase> {
        let s = &self.info.as_ref()?.status;
        serde_json::from_value(Value::String(s.clone())).ok()
    }
}

/// The HelmRelease status for a release (Go copies `rel.Version` and `rel.Info`).
pub fn status_of(rel: Option<&Release>) -> HelmReleaseStatus {
    let Some(rel) = rel else {
        return HelmReleaseStatus::default();
    };
    let info = rel.info.clone().unwrap_or_default();
    HelmReleaseStatus {
        first_deployed: go_time(info.first_deployed.as_deref()),
        last_deployed: go_time(info.last_deployed.as_deref()),
        description: info.description,
        phase: rel.phase(),
        notes: info.notes,
        version: rel.version,
    }
}

/// An RFC 3339 time as Go's `time.Time.String()` prints it (UTC), which is what Clusternet
/// writes into `firstDeployed`/`lastDeployed`: `2026-12-04 10:11:12.123456789 +0000 UTC`.
pub fn go_time(rfc3339: Option<&str>) -> String {
    let Some(ts) = rfc3339.and_then(|t| t.parse::<jiff::Timestamp>().ok()) else {
        return String::new();
    };
    let utc = ts.to_zoned(jiff::tz::TimeZone::UTC);
    let mut out = utc.strftime("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = utc.subsec_nanosecond();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

/// Go's `ReleaseNeedsUpgrade`, against the chart Helm resolved (so an empty `version`, "the
/// latest", compares with the version that is the latest now, not with "").
pub fn needs_upgrade(
    rel: &Release,
    name: &str,
    namespace: &str,
    chart: &ChartMetadata,
    values: &Value,
) -> bool {
    let meta = rel
        .chart
        .as_ref()
        .and_then(|c| c.metadata.clone())
        .unwrap_or_default();
    rel.name != name
        || rel.namespace != namespace
        || meta.name != chart.name
        || meta.version != chart.version
        || !same_values(rel.config.as_ref().unwrap_or(&Value::Null), values)
}

/// Values compare as Go's DeepEqual of maps, with "none" and `{}` alike.
fn same_values(a: &Value, b: &Value) -> bool {
    let empty = |v: &Value| v.is_null() || v.as_object().is_some_and(|m| m.is_empty());
    (empty(a) && empty(b)) || a == b
}

// ----------------------------------------------------------------------------------------
// Running Helm.

/// Looks a chart up in its repository or registry with the real Helm (`helm show chart`, the
/// same lookup an install makes), for HelmChart's `Found`/`NotFound`: Chart.yaml of the
/// version found, or Helm's message (e.g. `chart "x" version "1.0" not found in … repository`).
pub async fn find_chart(
    helm: &Path,
    options: &HelmOptions,
    credentials: Option<&(String, String)>,
) -> Result<ChartMetadata> {
    let work = Workspace::new(helm, None)?;
    Ok(work.locate(options, credentials).await?.metadata)
}

/// A private directory for one reconcile: the kubeconfig, Helm's homes and the values file.
struct Workspace {
    helm: PathBuf,
    dir: tempfile::TempDir,
    /// The child's kubeconfig; none when only charts are looked up.
    kubeconfig: Option<PathBuf>,
}

/// The chart ref and flags that locate a chart, as `helm install` and `helm show` take them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// Chart.yaml of the chart found.
    pub metadata: ChartMetadata,
    /// The chart argument (`name`, `repo-alias/name` or `oci://…/name`).
    pub reference: String,
    /// Flags that go with it (`--repo`, `--plain-http`, …), without `--version`.
    pub flags: Vec<String>,
}

/// The repo alias under which a repository with credentials is added.
const REPO_ALIAS: &str = "clusternet-chart-repo";

/// How long Helm may run beyond the release's own timeout before it is killed.
const HELM_GRACE: Duration = Duration::from_secs(60);

impl Workspace {
    fn new(helm: &Path, config: Option<&kube::Config>) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("clusternet-helm-")
            .tempdir()
            .context("creating Helm's working directory")?;
        let kubeconfig = match config {
            Some(config) => {
                let path = dir.path().join("kubeconfig");
                write_private(&path, kubeconfig_json(config)?.as_bytes())?;
                Some(path)
            }
            None => None,
        };
        Ok(Self {
            helm: helm.to_path_buf(),
            dir,
            kubeconfig,
        })
    }

    /// Runs `helm args…` (with `stdin` fed to it), returning stdout; Helm's stderr on failure.
    async fn helm(
        &self,
        args: &[String],
        stdin: Option<&str>,
        timeout: Duration,
    ) -> Result<String> {
        let d = self.dir.path();
        let mut cmd = tokio::process::Command::new(&self.helm);
        cmd.args(args);
        if let Some(kubeconfig) = &self.kubeconfig {
            cmd.arg("--kubeconfig").arg(kubeconfig);
        }
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", d)
            .env("HELM_CONFIG_HOME", d.join("config"))
            .env("HELM_CACHE_HOME", d.join("cache"))
            .env("HELM_DATA_HOME", d.join("data"))
            .env("HELM_DRIVER", "secret")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("running {}", self.helm.display()))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes()).await?;
            drop(pipe);
        }
        let verb = args.first().cloned().unwrap_or_default();
        let out = tokio::time::timeout(timeout, child.wait_with_output())
            .await
            .map_err(|_| anyhow!("helm {verb} did not finish within {timeout:?}"))??;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!("{}", helm_error(&stderr))
    }

    /// Finds the chart (Go's `LocateAuthHelmChart`) and reads its Chart.yaml.
    async fn locate(
        &self,
        o: &HelmOptions,
        credentials: Option<&(String, String)>,
    ) -> Result<Located> {
        let plain_http = o.plain_http == Some(true);
        let oci = o.repository.starts_with("oci://");
        let mut flags = Vec::new();
        let reference = if oci {
            if let Some((user, password)) = credentials {
                let host = oci_host(&o.repository);
                let mut login = strings(&["registry", "login", &host, "--username", user]);
                login.push("--password-stdin".into());
                login.push("--insecure".into());
                if plain_http {
                    login.push("--plain-http".into());
                }
                self.helm(&login, Some(password), Duration::from_secs(60))
                    .await
                    .context("logging in to the chart registry")?;
            }
            if plain_http {
                flags.push("--plain-http".into());
            }
            format!("{}/{}", o.repository.trim_end_matches('/'), o.chart)
        } else if let Some((user, password)) = credentials {
            let add = strings(&[
                "repo",
                "add",
                REPO_ALIAS,
                &o.repository,
                "--username",
                user,
                "--password-stdin",
                "--insecure-skip-tls-verify",
            ]);
            self.helm(&add, Some(password), Duration::from_secs(60))
                .await
                .context("adding the chart repository")?;
            format!("{REPO_ALIAS}/{}", o.chart)
        } else {
            flags.extend(strings(&["--repo", &o.repository]));
            o.chart.clone()
        };
        // Helm lets TLS settings win over --plain-http: only one of them.
        if !plain_http {
            flags.push("--insecure-skip-tls-verify".into());
        }
        let mut show = strings(&["show", "chart", &reference]);
        show.extend(flags.iter().cloned());
        if !o.chart_version.is_empty() {
            show.extend(strings(&["--version", &o.chart_version]));
        }
        let text = self.helm(&show, None, Duration::from_secs(120)).await?;
        let metadata: ChartMetadata =
            serde_saphyr::from_str(&text).context("reading the chart's Chart.yaml")?;
        match metadata.type_.as_str() {
            "" | "application" => {}
            other => bail!(
                "chart {} is {other}, which is not installable",
                metadata.name
            ),
        }
        Ok(Located {
            metadata,
            reference,
            flags,
        })
    }

    /// The last release named `name` (Go's `cfg.Releases.Last`), if any.
    async fn status(&self, name: &str, namespace: &str) -> Result<Option<Release>> {
        let args = strings(&["status", name, "--namespace", namespace, "-o", "json"]);
        let mut rel: Release = match self.helm(&args, None, Duration::from_secs(60)).await {
            Ok(out) => serde_json::from_str(&out).context("reading helm status")?,
            Err(err) if format!("{err}").contains("not found") => return Ok(None),
            Err(err) => return Err(err),
        };
        // Helm 4's status leaves the chart out; its metadata command names it.
        if rel.chart.is_none() {
            let args = strings(&[
                "get",
                "metadata",
                name,
                "--namespace",
                namespace,
                "-o",
                "json",
            ]);
            let out = self.helm(&args, None, Duration::from_secs(60)).await?;
            let meta: Value = serde_json::from_str(&out).context("reading helm get metadata")?;
            let text = |k: &str| meta[k].as_str().unwrap_or_default().to_string();
            rel.chart = Some(ReleaseChart {
                metadata: Some(ChartMetadata {
                    name: text("chart"),
                    version: text("version"),
                    type_: String::new(),
                }),
            });
        }
        Ok(Some(rel))
    }

    fn values_file(&self, values: &Value) -> Result<Option<PathBuf>> {
        if values.is_null() {
            return Ok(None);
        }
        let path = self.dir.path().join("values.json");
        write_private(&path, &serde_json::to_vec(values)?)?;
        Ok(Some(path))
    }

    async fn install(
        &self,
        hr: &HelmRelease,
        name: &str,
        chart: &Located,
        values: &Value,
    ) -> Result<Release> {
        replace_crds_first(hr)?;
        let args = install_args(hr, name, chart, self.values_file(values)?.as_deref());
        let out = self.helm(&args, None, run_timeout(hr)).await?;
        serde_json::from_str(&out).context("reading helm install's output")
    }

    async fn upgrade(
        &self,
        hr: &HelmRelease,
        name: &str,
        chart: &Located,
        values: &Value,
    ) -> Result<Release> {
        replace_crds_first(hr)?;
        let args = upgrade_args(hr, name, chart, self.values_file(values)?.as_deref());
        let out = self.helm(&args, None, run_timeout(hr)).await?;
        serde_json::from_str(&out).context("reading helm upgrade's output")
    }

    /// `helm uninstall`; a release that is not there is not an error (Go: "Release not
    /// loaded").
    async fn uninstall(&self, hr: &HelmRelease, name: &str) -> Result<()> {
        let o = &hr.spec.helm_options;
        let mut args = strings(&[
            "uninstall",
            name,
            "--namespace",
            &hr.spec.target_namespace,
            "--ignore-not-found",
            "--timeout",
            &timeout_flag(hr),
        ]);
        if o.wait == Some(true) {
            args.push("--wait".into());
        }
        self.helm(&args, None, run_timeout(hr)).await.map(|_| ())
    }
}

/// `replaceCRDs` (Go replaces the chart's CRDs itself before install and upgrade) is not done
/// by this reconciler yet: say so rather than install without it.
fn replace_crds_first(hr: &HelmRelease) -> Result<()> {
    let o = &hr.spec.helm_options;
    if o.replace_crds == Some(true) && o.skip_crds != Some(true) {
        bail!("replaceCRDs is not supported by this Clusternet yet; unset it (or set skipCRDs)");
    }
    Ok(())
}

/// The seconds Helm is given (`timeoutSeconds`, 300 when unset as the CRD defaults it).
fn timeout_secs(hr: &HelmRelease) -> u64 {
    match hr.spec.helm_options.timeout_seconds {
        t if t > 0 => t as u64,
        _ => 300,
    }
}

fn timeout_flag(hr: &HelmRelease) -> String {
    format!("{}s", timeout_secs(hr))
}

fn run_timeout(hr: &HelmRelease) -> Duration {
    Duration::from_secs(timeout_secs(hr)) + HELM_GRACE
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `helm install` as Go's `InstallRelease` configures `action.Install`.
pub fn install_args(
    hr: &HelmRelease,
    name: &str,
    chart: &Located,
    values: Option<&Path>,
) -> Vec<String> {
    let o = &hr.spec.helm_options;
    release_args(
        "install",
        hr,
        name,
        chart,
        &[],
        &[
            // The CRD defaults createNamespace to true.
            (
                Some(o.create_namespace.unwrap_or(true)),
                "--create-namespace",
            ),
            (o.atomic, "--rollback-on-failure"),
            (o.replace, "--replace"),
        ],
        values,
    )
}

/// `helm upgrade` as Go's `UpgradeRelease` configures `action.Upgrade`.
pub fn upgrade_args(
    hr: &HelmRelease,
    name: &str,
    chart: &Located,
    values: Option<&Path>,
) -> Vec<String> {
    let o = &hr.spec.helm_options;
    release_args(
        "upgrade",
        hr,
        name,
        chart,
        &["--history-max", &MAX_HISTORY.to_string()],
        &[
            (o.upgrade_atomic, "--rollback-on-failure"),
            (o.force, "--force-replace"),
        ],
        values,
    )
}

/// What install and upgrade share: the chart, version, namespace, timeout and JSON output,
/// then `extra`, the switches of `own` that are on, those of both, and the values file.
fn release_args(
    verb: &str,
    hr: &HelmRelease,
    name: &str,
    chart: &Located,
    extra: &[&str],
    own: &[(Option<bool>, &str)],
    values: Option<&Path>,
) -> Vec<String> {
    let o = &hr.spec.helm_options;
    let mut args = strings(&[verb, name, &chart.reference]);
    args.extend(chart.flags.iter().cloned());
    args.extend(strings(&[
        "--version",
        &chart.metadata.version,
        "--namespace",
        &hr.spec.target_namespace,
        "--timeout",
        &timeout_flag(hr),
    ]));
    args.extend(strings(extra));
    args.extend(strings(&["-o", "json"]));
    let both = [
        (o.wait, "--wait"),
        (o.wait_for_job, "--wait-for-jobs"),
        (o.skip_crds, "--skip-crds"),
        (o.disable_hooks, "--no-hooks"),
    ];
    for (on, flag) in own.iter().chain(both.iter()) {
        if *on == Some(true) {
            args.push(flag.to_string());
        }
    }
    if let Some(values) = values {
        args.push("--values".into());
        args.push(values.display().to_string());
    }
    args
}

/// `host[:port]` of an `oci://host[:port]/path` repository.
fn oci_host(repo: &str) -> String {
    repo.trim_start_matches("oci://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Helm's message from its stderr: the `Error: …` lines (Helm prints warnings before them).
fn helm_error(stderr: &str) -> String {
    let errors: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.starts_with("Error:"))
        .collect();
    let text = if errors.is_empty() {
        stderr.trim().to_string()
    } else {
        errors
            .join("\n")
            .trim_start_matches("Error: ")
            .trim()
            .to_string()
    };
    text.chars().take(4096).collect()
}

/// Writes `bytes` to a new file only the owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}

/// A kubeconfig (JSON, which client-go reads as YAML) for `config`: its URL, CA and the same
/// credentials and impersonation (`as`, `as-user-extra`) the component's own client uses.
pub fn kubeconfig_json(config: &kube::Config) -> Result<String> {
    use kube::config::{
        Cluster, Context as KubeContext, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
    };
    let ca = config.root_cert.as_ref().map(|certs| {
        let pem: String = certs.iter().map(|der| der_to_pem(der)).collect();
        base64_encode(pem.as_bytes())
    });
    let kubeconfig = Kubeconfig {
        clusters: vec![NamedCluster {
            name: "child".into(),
            cluster: Some(Cluster {
                server: Some(config.cluster_url.to_string()),
                insecure_skip_tls_verify: config.accept_invalid_certs.then_some(true),
                certificate_authority_data: ca,
                tls_server_name: config.tls_server_name.clone(),
                ..Default::default()
            }),
            other: Default::default(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: "clusternet".into(),
            auth_info: Some(config.auth_info.clone()),
            other: Default::default(),
        }],
        contexts: vec![NamedContext {
            name: "child".into(),
            context: Some(KubeContext {
                cluster: "child".into(),
                user: Some("clusternet".into()),
                ..Default::default()
            }),
            other: Default::default(),
        }],
        current_context: Some("child".into()),
        ..Default::default()
    };
    Ok(serde_json::to_string(&kubeconfig)?)
}

fn base64_encode(bytes: &[u8]) -> String {
    // k8s-openapi's ByteString serialises as standard base64.
    serde_json::to_value(k8s_openapi::ByteString(bytes.to_vec()))
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn der_to_pem(der: &[u8]) -> String {
    let b64 = base64_encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusternet_apis::apps::v1alpha1::{HelmOptions, HelmReleaseSpec};

    fn hr(options: HelmOptions) -> HelmRelease {
        let mut hr = HelmRelease::new(
            "desc-default-mysql",
            HelmReleaseSpec {
                helm_options: options,
                release_name: Some("mysql".into()),
                target_namespace: "abc".into(),
                overrides: None,
            },
        );
        hr.metadata.namespace = Some("clusternet-x".into());
        hr
    }

    fn located() -> Located {
        Located {
            metadata: ChartMetadata {
                name: "mysql".into(),
                version: "9.2.0".into(),
                type_: String::new(),
            },
            reference: "mysql".into(),
            flags: strings(&["--repo", "http://127.0.0.1:1", "--insecure-skip-tls-verify"]),
        }
    }

    #[test]
    fn install_and_upgrade_take_gos_options() {
        let h = hr(HelmOptions {
            repository: "http://127.0.0.1:1".into(),
            chart: "mysql".into(),
            chart_version: "9.2.0".into(),
            atomic: Some(true),
            upgrade_atomic: Some(true),
            force: Some(true),
            wait: Some(true),
            timeout_seconds: 60,
            ..Default::default()
        });
        let install = install_args(&h, "mysql", &located(), Some(Path::new("/v.json"))).join(" ");
        assert_eq!(
            install,
            "install mysql mysql --repo http://127.0.0.1:1 --insecure-skip-tls-verify --version 9.2.0 \
             --namespace abc --timeout 60s -o json --create-namespace --rollback-on-failure --wait \
             --values /v.json"
        );
        let upgrade = upgrade_args(&h, "mysql", &located(), None).join(" ");
        assert!(upgrade.contains("--history-max 5"), "{upgrade}");
        assert!(
            upgrade.contains("--rollback-on-failure --force-replace --wait"),
            "{upgrade}"
        );
        assert!(!upgrade.contains("create-namespace"), "{upgrade}");
    }

    #[test]
    fn upgrade_only_when_something_changed() {
        let rel: Release = serde_json::from_value(json!({
            "name": "mysql", "namespace": "abc", "version": 1,
            "info": {"status": "deployed", "first_deployed": "2026-12-04T10:11:12.5Z"},
            "chart": {"metadata": {"name": "mysql", "version": "9.2.0"}},
        }))
        .unwrap();
        let meta = located().metadata;
        assert!(!needs_upgrade(&rel, "mysql", "abc", &meta, &Value::Null));
        assert!(!needs_upgrade(&rel, "mysql", "abc", &meta, &json!({})));
        assert!(needs_upgrade(&rel, "mysql", "abc", &meta, &json!({"a": 1})));
        let newer = ChartMetadata {
            version: "9.3.0".into(),
            ..meta.clone()
        };
        assert!(needs_upgrade(&rel, "mysql", "abc", &newer, &Value::Null));
        assert!(needs_upgrade(&rel, "mysql", "other", &meta, &Value::Null));
        assert_eq!(rel.phase(), Some(HelmReleasePhase::Deployed));
        let status = status_of(Some(&rel));
        assert_eq!(status.first_deployed, "2026-12-04 10:11:12.5 +0000 UTC");
        assert_eq!(status.version, 1);
    }

    #[test]
    fn phases_map_as_go() {
        let s = |p| HelmReleaseStatus {
            phase: Some(p),
            notes: "why".into(),
            ..Default::default()
        };
        assert_eq!(
            description_phase(&s(HelmReleasePhase::Deployed)),
            (DescriptionPhase::Success, Some(String::new()))
        );
        assert_eq!(
            description_phase(&s(HelmReleasePhase::Failed)),
            (DescriptionPhase::Failure, Some("why".into()))
        );
        assert_eq!(
            description_phase(&s(HelmReleasePhase::PendingInstall)).0,
            DescriptionPhase::Installing
        );
        assert_eq!(
            description_phase(&s(HelmReleasePhase::PendingUpgrade)).0,
            DescriptionPhase::Upgrading
        );
    }

    #[test]
    fn helm_errors_keep_helms_message() {
        let stderr =
            "WARNING: something\nError: INSTALLATION FAILED: ConfigMap \"Bad\" is invalid\n";
        assert_eq!(
            helm_error(stderr),
            "INSTALLATION FAILED: ConfigMap \"Bad\" is invalid"
        );
        assert_eq!(oci_host("oci://127.0.0.1:5000/charts"), "127.0.0.1:5000");
    }

    #[test]
    fn kubeconfig_carries_impersonation_and_ca() {
        let mut config = kube::Config::new(
            "https://127.0.0.1:6443/apis/x/proxy/direct"
                .parse()
                .unwrap(),
        );
        config.root_cert = Some(vec![vec![1, 2, 3]]);
        config.auth_info.impersonate = Some("clusternet".into());
        config.auth_info.impersonate_user_extra = Some(HashMap::from([(
            "clusternet-token".to_string(),
            vec!["t".to_string()],
        )]));
        let v: Value = serde_json::from_str(&kubeconfig_json(&config).unwrap()).unwrap();
        assert_eq!(v["users"][0]["user"]["as"], "clusternet");
        assert_eq!(
            v["users"][0]["user"]["as-user-extra"]["clusternet-token"][0],
            "t"
        );
        assert_eq!(
            v["clusters"][0]["cluster"]["server"],
            "https://127.0.0.1:6443/apis/x/proxy/direct"
        );
        assert!(v["clusters"][0]["cluster"]["certificate-authority-data"].is_string());
    }
}
