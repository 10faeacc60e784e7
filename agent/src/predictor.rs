//! The built-in replica predictor (Clusternet's `pkg/predictor`), served by the agent with gate
//! `Predictor` when no `--predictor-addr` is given: `POST /replicas/predict` takes a
//! FeedInventory's `ReplicaRequirements` and answers `{"replicas": {"default": N}}`, the number of
//! such replicas this cluster can still take; `GET /replicas/unscheduled` answers 500
//! "Not Implemented", as Clusternet does.
//!
//! The computation is Clusternet's default profile:
//! - nodes matching `nodeSelector` exactly (affinity is not considered);
//! - filter `TaintToleration`: nodes with an untolerated NoSchedule/NoExecute taint are dropped;
//! - compute `DefaultComputer`: per node, allocatable minus the requests of its non-terminal pods
//!   (and one pod slot each), divided by the replica's requests (cpu in millis, memory,
//!   ephemeral-storage, extended resources), capped by the free pod slots;
//! - aggregate `DefaultAggregator`: the sum over the feasible nodes.
//!
//! No feasible node is an error ("no feasible nodes found"), and so is a node whose pods
//! request more than it has, as in Clusternet. Clusternet's quirk of taking init-container
//! requests as a maximum against the running total of all pods (not per pod) is kept.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Result, bail};
use bytes::Bytes;
use clusternet_apis::apps::v1alpha1::ReplicaRequirements;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode};
use k8s_openapi::api::core::v1::{Node, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::Api;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;

/// Default port of the built-in predictor (Clusternet's `--predictor-port`).
pub const DEFAULT_PORT: u16 = 8080;

/// The caches the predictor reads (their watches stop when the last clone is dropped).
#[derive(Clone)]
pub struct Caches {
    nodes: Store<Node>,
    pods: Store<Pod>,
    _watches: Arc<Vec<tokio_util::task::AbortOnDropHandle<()>>>,
}

/// Starts node and pod caches of the child cluster.
pub fn caches(child: kube::Client) -> Caches {
    fn reflect<K>(api: Api<K>) -> (Store<K>, tokio_util::task::AbortOnDropHandle<()>)
    where
        K: kube::Resource
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned
            + Send
            + Sync
            + 'static,
        K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    {
        clusternet_component_base::cache::spawn(api, watcher::Config::default(), "predictor")
    }
    let (nodes, n) = reflect(Api::all(child.clone()));
    let (pods, p) = reflect(Api::all(child));
    Caches {
        nodes,
        pods,
        _watches: Arc::new(vec![n, p]),
    }
}

/// Serves the predictor on `addr` until the process ends.
pub async fn serve(child: kube::Client, addr: SocketAddr) -> Result<()> {
    let caches = caches(child);
    caches.nodes.wait_until_ready().await?;
    caches.pods.wait_until_ready().await?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "predictor serving");
    let caches = Arc::new(caches);
    loop {
        let (stream, _) = listener.accept().await?;
        let caches = Arc::clone(&caches);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let caches = Arc::clone(&caches);
                async move { Ok::<_, Infallible>(handle(&caches, req).await) }
            });
            if let Err(err) = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %err, "predictor connection");
            }
        });
    }
}

/// Largest request body the predictor reads.
pub const MAX_REQUEST_BODY: usize = 64 * 1024;

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body + "\n")));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

async fn handle<B>(caches: &Caches, req: Request<B>) -> Response<Full<Bytes>>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/replicas/predict") => {
            // A ReplicaRequirements document is a few hundred bytes; refuse what cannot be one
            // rather than buffer whatever a caller sends.
            let limited = http_body_util::Limited::new(req.into_body(), MAX_REQUEST_BODY);
            let body = match limited.collect().await {
                Ok(b) => b.to_bytes(),
                Err(err)
                    if err
                        .downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some() =>
                {
                    return text(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("request body larger than {MAX_REQUEST_BODY} bytes"),
                    );
                }
                Err(err) => return text(StatusCode::BAD_REQUEST, err.to_string()),
            };
            let requirements: ReplicaRequirements = match serde_json::from_slice(&body) {
                Ok(r) => r,
                Err(err) => return text(StatusCode::BAD_REQUEST, err.to_string()),
            };
            let nodes = caches.nodes.state();
            let pods = caches.pods.state();
            match max_acceptable_replicas(&requirements, &nodes, &pods) {
                Ok(n) => {
                    let body = serde_json::json!({"replicas": {"default": n}}).to_string();
                    let mut resp = Response::new(Full::new(Bytes::from(body)));
                    resp.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    resp
                }
                Err(err) => {
                    tracing::warn!(error = %err, "failed to predict max acceptable replicas");
                    text(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
                }
            }
        }
        (&Method::GET, "/replicas/unscheduled") => {
            text(StatusCode::INTERNAL_SERVER_ERROR, "Not Implemented".into())
        }
        _ => text(StatusCode::NOT_FOUND, "404 page not found".into()),
    }
}

/// The predicted replicas of `requirements` over `nodes` running `pods`.
pub fn max_acceptable_replicas(
    requirements: &ReplicaRequirements,
    nodes: &[Arc<Node>],
    pods: &[Arc<Pod>],
) -> Result<i32> {
    let feasible: Vec<&Arc<Node>> = nodes
        .iter()
        .filter(|n| {
            let labels = n.metadata.labels.clone().unwrap_or_default();
            requirements
                .node_selector
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
        })
        .filter(|n| {
            let taints = n
                .spec
                .as_ref()
                .and_then(|s| s.taints.clone())
                .unwrap_or_default();
            !taints.iter().any(|t| {
                (t.effect == "NoSchedule" || t.effect == "NoExecute")
                    && !requirements
                        .tolerations
                        .iter()
                        .any(|tol| clusternet_apis::taints::tolerates(tol, t))
            })
        })
        .collect();
    if feasible.is_empty() {
        bail!("no feasible nodes found");
    }
    let request = Resources::from_list(requirements.resources.requests.as_ref());
    let mut total: i64 = 0;
    for node in feasible {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        let on_node = pods.iter().filter(|p| {
            p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name)
                && !matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Succeeded") | Some("Failed")
                )
        });
        let mut occupied = Resources::default();
        let mut count = 0;
        for pod in on_node {
            if let Some(spec) = &pod.spec {
                occupied.add_pod_request(spec);
            }
            count += 1;
        }
        occupied.pods += count;
        let mut free =
            Resources::from_list(node.status.as_ref().and_then(|s| s.allocatable.as_ref()));
        free.sub(&occupied)?;
        total += free.max_replicas_divided(&request);
    }
    Ok(total.min(i32::MAX as i64) as i32)
}

/// Clusternet's `utils.Resource`: cpu in millis, the rest in units.
#[derive(Clone, Debug, Default, PartialEq)]
struct Resources {
    milli_cpu: i64,
    memory: i64,
    ephemeral_storage: i64,
    pods: i64,
    scalar: BTreeMap<String, i64>,
}

fn is_scalar(name: &str) -> bool {
    (name.contains('/') && !name.contains("kubernetes.io/") && !name.starts_with("requests."))
        || name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
}

impl Resources {
    fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Self {
        let mut r = Self::default();
        r.add(list);
        r
    }

    fn add(&mut self, list: Option<&BTreeMap<String, Quantity>>) {
        for (name, q) in list.into_iter().flatten() {
            let Some(nano) = nano_value(&q.0) else {
                continue;
            };
            match name.as_str() {
                "cpu" => self.milli_cpu += ceil_div(nano, 1_000_000),
                "memory" => self.memory += ceil_div(nano, 1_000_000_000),
                "ephemeral-storage" => self.ephemeral_storage += ceil_div(nano, 1_000_000_000),
                "pods" => self.pods += ceil_div(nano, 1_000_000_000),
                n if is_scalar(n) => {
                    *self.scalar.entry(n.to_string()).or_default() += ceil_div(nano, 1_000_000_000)
                }
                _ => {}
            }
        }
    }

    fn set_max(&mut self, list: Option<&BTreeMap<String, Quantity>>) {
        let other = Self::from_list(list);
        for (name, _) in list.into_iter().flatten() {
            match name.as_str() {
                "cpu" => self.milli_cpu = self.milli_cpu.max(other.milli_cpu),
                "memory" => self.memory = self.memory.max(other.memory),
                "ephemeral-storage" => {
                    self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage)
                }
                n if is_scalar(n) => {
                    let v = other.scalar.get(n).copied().unwrap_or(0);
                    let cur = self.scalar.entry(n.to_string()).or_default();
                    *cur = (*cur).max(v);
                }
                _ => {}
            }
        }
    }

    fn add_pod_request(&mut self, spec: &PodSpec) {
        for c in &spec.containers {
            self.add(c.resources.as_ref().and_then(|r| r.requests.as_ref()));
        }
        for c in spec.init_containers.iter().flatten() {
            self.set_max(c.resources.as_ref().and_then(|r| r.requests.as_ref()));
        }
        self.add(spec.overhead.as_ref());
    }

    fn sub(&mut self, other: &Resources) -> Result<()> {
        let pairs = [
            ("cpu", &mut self.milli_cpu, other.milli_cpu),
            ("memory", &mut self.memory, other.memory),
            ("allowed pod", &mut self.pods, other.pods),
            (
                "allowed storage",
                &mut self.ephemeral_storage,
                other.ephemeral_storage,
            ),
        ];
        for (what, mine, theirs) in pairs {
            if *mine < theirs {
                bail!("{what} difference is less than 0, remain {mine}, got {theirs}");
            }
            *mine -= theirs;
        }
        for (name, v) in &other.scalar {
            let mine = self.scalar.entry(name.clone()).or_default();
            if *mine < *v {
                bail!("resource {name} difference is less than 0, remain {mine}, got {v}");
            }
            *mine -= v;
        }
        Ok(())
    }

    fn max_replicas_divided(&self, request: &Resources) -> i64 {
        let mut res = i32::MAX as i64;
        for (have, need) in [
            (self.milli_cpu, request.milli_cpu),
            (self.memory, request.memory),
            (self.ephemeral_storage, request.ephemeral_storage),
        ] {
            if need > 0 {
                res = res.min(have / need);
            }
        }
        for (name, need) in &request.scalar {
            if *need > 0 {
                res = res.min(self.scalar.get(name).copied().unwrap_or(0) / need);
            }
        }
        res.min(self.pods)
    }
}

fn ceil_div(a: i128, b: i128) -> i64 {
    let q = a / b;
    let q = if a % b > 0 { q + 1 } else { q };
    q.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// A quantity's value in units of 10⁻⁹.
fn nano_value(q: &str) -> Option<i128> {
    clusternet_component_base::quantity::parse(q).map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, NodeSpec, NodeStatus, PodStatus, ResourceRequirements,
    };
    use k8s_openapi::api::core::v1::{Taint, Toleration};
    use kube::runtime::reflector;
    use serde_json::json;

    fn node(
        name: &str,
        cpu: &str,
        mem: &str,
        pods: &str,
        labels: serde_json::Value,
        taints: Vec<Taint>,
    ) -> Arc<Node> {
        let mut n: Node =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
        n.spec = Some(NodeSpec {
            taints: Some(taints),
            ..Default::default()
        });
        n.status = Some(NodeStatus {
            allocatable: Some(BTreeMap::from([
                ("cpu".into(), Quantity(cpu.into())),
                ("memory".into(), Quantity(mem.into())),
                ("pods".into(), Quantity(pods.into())),
            ])),
            ..Default::default()
        });
        Arc::new(n)
    }

    fn pod(node: &str, cpu: &str, phase: &str) -> Arc<Pod> {
        Arc::new(Pod {
            spec: Some(PodSpec {
                node_name: Some(node.into()),
                containers: vec![Container {
                    name: "c".into(),
                    resources: Some(ResourceRequirements {
                        requests: Some(BTreeMap::from([("cpu".into(), Quantity(cpu.into()))])),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn req(cpu: &str, mem: &str) -> ReplicaRequirements {
        let mut r = ReplicaRequirements::default();
        r.resources.requests = Some(BTreeMap::from([
            ("cpu".into(), Quantity(cpu.into())),
            ("memory".into(), Quantity(mem.into())),
        ]));
        r
    }

    #[test]
    fn sums_over_feasible_nodes() {
        let nodes = vec![
            node("a", "2", "4Gi", "110", json!({"disk": "ssd"}), vec![]),
            node("b", "1", "1Gi", "110", json!({}), vec![]),
            node(
                "c",
                "8",
                "16Gi",
                "110",
                json!({}),
                vec![Taint {
                    key: "dedicated".into(),
                    value: Some("x".into()),
                    effect: "NoSchedule".into(),
                    time_added: None,
                }],
            ),
        ];
        let pods = vec![pod("a", "500m", "Running"), pod("a", "1", "Succeeded")];
        // a: (2000-500)/100=15 cpu, 4096/64=64 mem → 15; b: 10 cpu, 16 mem → 10; c: tainted
        assert_eq!(
            max_acceptable_replicas(&req("100m", "64Mi"), &nodes, &pods).unwrap(),
            25
        );
        // the taint tolerated: c adds min(80, 256) = 80
        let mut r = req("100m", "64Mi");
        r.tolerations = vec![Toleration {
            key: Some("dedicated".into()),
            operator: Some("Exists".into()),
            ..Default::default()
        }];
        assert_eq!(max_acceptable_replicas(&r, &nodes, &pods).unwrap(), 105);
        // node selector
        let mut r = req("100m", "64Mi");
        r.node_selector = BTreeMap::from([("disk".into(), "ssd".into())]);
        assert_eq!(max_acceptable_replicas(&r, &nodes, &pods).unwrap(), 15);
        r.node_selector = BTreeMap::from([("disk".into(), "hdd".into())]);
        assert_eq!(
            max_acceptable_replicas(&r, &nodes, &pods)
                .unwrap_err()
                .to_string(),
            "no feasible nodes found"
        );
        // capped by free pod slots
        let small = vec![node("p", "8", "16Gi", "3", json!({}), vec![])];
        assert_eq!(
            max_acceptable_replicas(&req("100m", "64Mi"), &small, &[pod("p", "100m", "Running")])
                .unwrap(),
            2
        );
        // no requests: only pod slots limit
        assert_eq!(
            max_acceptable_replicas(&ReplicaRequirements::default(), &small, &[]).unwrap(),
            3
        );
    }

    #[test]
    fn overcommitted_node_is_an_error() {
        let nodes = vec![node("a", "1", "1Gi", "110", json!({}), vec![])];
        let err =
            max_acceptable_replicas(&req("100m", "64Mi"), &nodes, &[pod("a", "2", "Running")])
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cpu difference is less than 0, remain 1000, got 2000"
        );
    }

    #[test]
    fn quantities() {
        assert_eq!(nano_value("100m"), Some(100_000_000));
        assert_eq!(nano_value("1Gi"), Some((1i128 << 30) * 1_000_000_000));
        assert_eq!(ceil_div(nano_value("0.5").unwrap(), 1_000_000_000), 1);
    }

    #[tokio::test]
    async fn oversized_requests_are_413() {
        let (nodes, _w1) = reflector::store::<Node>();
        let (pods, _w2) = reflector::store::<Pod>();
        let caches = Caches {
            nodes,
            pods,
            _watches: Arc::new(Vec::new()),
        };
        let big = Request::post("/replicas/predict")
            .body(Full::new(Bytes::from(vec![b' '; MAX_REQUEST_BODY + 1])))
            .unwrap();
        assert_eq!(
            handle(&caches, big).await.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let garbage = Request::post("/replicas/predict")
            .body(Full::new(Bytes::from_static(b"{not json")))
            .unwrap();
        assert_eq!(
            handle(&caches, garbage).await.status(),
            StatusCode::BAD_REQUEST
        );
    }
}
