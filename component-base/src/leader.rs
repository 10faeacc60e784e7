//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it
//! (same Lease fields, so Go and Rust replicas of a component can share one lock): acquire when
//! the lease is free or expired, renew every `retry_period`, give up leadership when a renewal
//! has not succeeded for `renew_deadline`, and release on shutdown.
//!
//! The agent also needs the Lease itself: Clusternet derives the cluster ID from its UID.

use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;

/// Lease timings (client-go / component-base defaults: 15s / 10s / 2s).
#[derive(Clone, Debug)]
pub struct Config {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (holderIdentity).
    pub identity: String,
    /// How long a lease is valid after its last renewal.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before giving up.
    pub renew_deadline: Duration,
    /// How often to try to acquire or renew.
    pub retry_period: Duration,
}

impl Config {
    /// Defaults for `namespace/name` with a random identity `<hostname>_<uuid>`.
    pub fn new(namespace: &str, name: &str) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: format!("{host}_{}", uuid_like()),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}-{:x}", std::process::id(), nanos)
}

fn now() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

/// Leadership, once acquired: the Lease as it was when acquired, and a receiver that turns
/// `false` when leadership is lost (the component should then stop, as client-go's
/// OnStoppedLeading typically exits).
pub struct Leadership {
    /// The Lease (its UID is stable for the life of the object).
    pub lease: Lease,
    /// `true` while leading.
    pub leading: watch::Receiver<bool>,
    renewer: tokio::task::JoinHandle<()>,
    api: Api<Lease>,
    config: Config,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership").finish_non_exhaustive()
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

impl Leadership {
    /// Gives the lease up so another replica (or this component restarted) can take it at
    /// once, as client-go does with ReleaseOnCancel: holder cleared, duration 1 s.
    pub async fn release(self) {
        self.renewer.abort();
        let Ok(Some(mut current)) = self.api.get_opt(&self.config.name).await else {
            return;
        };
        let Some(spec) = current.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        spec.acquire_time = Some(now());
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &current)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.config.name, "released leadership"),
            Err(err) => {
                tracing::warn!(lease = %self.config.name, error = %err, "releasing the lease")
            }
        }
    }
}

/// `period` stretched by up to 120 % at random (client-go's JitterUntil with factor 1.2), so
/// replicas waiting for the same lease or server do not knock in step.
fn jittered(period: Duration) -> Duration {
    use rand::Rng;
    period.mul_f64(1.0 + rand::rng().random_range(0.0..1.2))
}

/// Blocks until this replica holds the lease, then keeps renewing it in the background.
pub async fn acquire(client: kube::Client, config: Config) -> Result<Leadership> {
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    let lease = loop {
        match try_acquire(&api, &config).await {
            Ok(Some(lease)) => break lease,
            Ok(None) => tracing::debug!(lease = %config.name, "lease held by another replica"),
            Err(err) => {
                tracing::warn!(lease = %config.name, error = %format!("{err:#}"), "acquiring lease; retrying")
            }
        }
        tokio::time::sleep(jittered(config.retry_period)).await;
    };
    tracing::info!(lease = %format!("{}/{}", config.namespace, config.name), identity = %config.identity, "acquired leadership");
    let (tx, rx) = watch::channel(true);
    let renewer = tokio::spawn(renew(api.clone(), config.clone(), tx));
    Ok(Leadership {
        lease,
        leading: rx,
        renewer,
        api,
        config,
    })
}

/// Runs `lead` while this replica holds the lease `config` names, until `shutdown`.
///
/// When leadership is lost (another replica took the lease, or it could not be renewed — say
/// the API server was down past the renew deadline), `lead`'s future is dropped, so it must own
/// everything it started (tasks in a `JoinSet`): nothing of the old term keeps running. Then
/// the replica campaigns again and, once elected, calls `lead` anew. A component therefore
/// recovers from an outage by itself instead of exiting and waiting for a supervisor (Go's
/// components exit and rely on the kubelet; nothing restarts a process outside a pod).
///
/// Returns when `shutdown` resolves (releasing the lease, as client-go's ReleaseOnCancel) or
/// when `lead` returns.
pub async fn run_elected<F, Fut>(
    client: kube::Client,
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
    mut lead: F,
) -> Result<()>
where
    F: FnMut(Lease) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    tokio::pin!(shutdown);
    loop {
        let leadership = tokio::select! {
            acquired = acquire(client.clone(), config.clone()) => acquired?,
            _ = &mut shutdown => return Ok(()),
        };
        let mut leading = leadership.leading.clone();
        let _status = MasterStatus::leading(&config.name);
        let outcome = tokio::select! {
            result = lead(leadership.lease.clone()) => Some(result),
            _ = leading.wait_for(|leading| !leading) => None,
            _ = &mut shutdown => Some(Ok(())),
        };
        match outcome {
            Some(result) => {
                leadership.release().await;
                return result;
            }
            None => {
                tracing::warn!(lease = %config.name, "leadership lost: everything this replica ran as leader is stopped; campaigning again");
                drop(leadership);
            }
        }
    }
}

/// `leader_election_master_status{name}` (client-go's metric): 1 while this replica leads
/// (set to 0 again when the guard drops).
struct MasterStatus(Option<prometheus::IntGauge>);

impl MasterStatus {
    fn leading(name: &str) -> Self {
        static GAUGE: std::sync::OnceLock<Option<prometheus::IntGaugeVec>> =
            std::sync::OnceLock::new();
        let vec = GAUGE.get_or_init(|| {
            let vec = prometheus::IntGaugeVec::new(
                prometheus::Opts::new(
                    "leader_election_master_status",
                    "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease.",
                ),
                &["name"],
            )
            .ok()?;
            prometheus::register(Box::new(vec.clone())).ok()?;
            Some(vec)
        });
        let gauge = vec.as_ref().map(|v| v.with_label_values(&[name]));
        if let Some(g) = &gauge {
            g.set(1);
        }
        Self(gauge)
    }
}

impl Drop for MasterStatus {
    fn drop(&mut self) {
        if let Some(g) = &self.0 {
            g.set(0);
        }
    }
}

async fn try_acquire(api: &Api<Lease>, config: &Config) -> Result<Option<Lease>> {
    let secs = i32::try_from(config.lease_duration.as_secs()).unwrap_or(15);
    match api.get_opt(&config.name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(config.name.clone()),
                    namespace: Some(config.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(config.identity.clone()),
                    lease_duration_seconds: Some(secs),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(created) => Ok(Some(created)),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
                Err(err) => Err(err).context("creating lease"),
            }
        }
        Some(mut current) => {
            let spec = current.spec.clone().unwrap_or_default();
            let holder = spec.holder_identity.clone().unwrap_or_default();
            let mine = holder == config.identity;
            let expired = match (&spec.renew_time, spec.lease_duration_seconds) {
                (Some(MicroTime(renewed)), Some(d)) => {
                    jiff::Timestamp::now()
                        .duration_since(*renewed)
                        .as_secs_f64()
                        > f64::from(d)
                }
                _ => true,
            };
            if !holder.is_empty() && !mine && !expired {
                return Ok(None);
            }
            let mut new_spec = spec.clone();
            if !mine {
                new_spec.acquire_time = Some(now());
                new_spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
            new_spec.holder_identity = Some(config.identity.clone());
            new_spec.lease_duration_seconds = Some(secs);
            new_spec.renew_time = Some(now());
            current.spec = Some(new_spec);
            // Optimistic concurrency: a competing replica's update makes ours a 409.
            match api
                .replace(&config.name, &PostParams::default(), &current)
                .await
            {
                Ok(updated) => Ok(Some(updated)),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
                Err(err) => Err(err).context("updating lease"),
            }
        }
    }
}

async fn renew(api: Api<Lease>, config: Config, leading: watch::Sender<bool>) {
    let mut last_renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(config.retry_period).await;
        match try_acquire(&api, &config).await {
            Ok(Some(_)) => last_renewed = tokio::time::Instant::now(),
            Ok(None) => {
                tracing::error!(lease = %config.name, "leadership lost to another replica");
                let _ = leading.send(false);
                return;
            }
            Err(err) => {
                tracing::warn!(lease = %config.name, error = %format!("{err:#}"), "renewing lease")
            }
        }
        if last_renewed.elapsed() > config.renew_deadline {
            tracing::error!(lease = %config.name, "failed to renew the lease within the deadline; leadership lost");
            let _ = leading.send(false);
            return;
        }
    }
}
