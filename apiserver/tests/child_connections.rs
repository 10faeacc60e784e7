//! The hub's `sockets` handler and [`ChildConnections`] in-process, against a mock apiserver
//! (tower-test behind `kube::Client`, as kube-rs tests its runtime): the parent's registration
//! requests, ManagedClusters and child CAs are listed from the mock, and every way a request
//! for a cluster is refused is checked in milliseconds — the same decisions the hostile e2e
//! suite checks on real control planes.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clusternet_hub::authn::{Method as AuthMethod, UserInfo};
use clusternet_hub::body;
use clusternet_hub::metrics::Metrics;
use clusternet_hub::proxies::Proxies;
use clusternet_hub::proxies::connections::ChildConnections;
use clusternet_hub::request_info::RequestInfo;
use clusternet_hub::router::GroupHandler;
use clusternet_hub::status::ApiError;
use http::{Method, Request, Response};
use kube::client::Body as KubeBody;
use serde_json::{Value, json};

const TUNNELED: &str = "9a7b2e64-1d31-4b71-8c3f-5e0d1a2b3c4d";
const DIRECT: &str = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
/// Approved, but its ManagedCluster carries another id (a child that edited its own object).
const MISMATCHED: &str = "11111111-2222-4333-8444-555555555555";

fn list(kind: &str, api_version: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": api_version, "kind": format!("{kind}List"),
           "metadata": {"resourceVersion": "7"}, "items": items})
}

fn registration(id: &str, ns: &str, mc: &str) -> Value {
    json!({
        "apiVersion": "clusters.clusternet.io/v1beta1", "kind": "ClusterRegistrationRequest",
        "metadata": {"name": format!("clusternet-{id}"), "resourceVersion": "5"},
        "spec": {"clusterId": id, "clusterType": "EdgeCluster", "clusterName": mc},
        "status": {"result": "Approved", "dedicatedNamespace": ns, "managedClusterName": mc},
    })
}

fn managed_cluster(id: &str, ns: &str, name: &str, url: &str, use_socket: bool) -> Value {
    json!({
        "apiVersion": "clusters.clusternet.io/v1beta1", "kind": "ManagedCluster",
        "metadata": {"name": name, "namespace": ns, "resourceVersion": "6"},
        "spec": {"clusterId": id, "clusterType": "EdgeCluster", "syncMode": "Dual"},
        "status": {"apiserverURL": url, "useSocket": use_socket},
    })
}

/// What the mock parent serves for each list; watches are held open without events.
fn answer(path: &str) -> Value {
    if path.contains("/clusterregistrationrequests") {
        list(
            "ClusterRegistrationRequest",
            "clusters.clusternet.io/v1beta1",
            vec![
                registration(TUNNELED, "clusternet-tunneled", "tunneled"),
                registration(DIRECT, "clusternet-direct", "direct"),
                registration(MISMATCHED, "clusternet-mismatched", "mismatched"),
            ],
        )
    } else if path.contains("/managedclusters") {
        list(
            "ManagedCluster",
            "clusters.clusternet.io/v1beta1",
            vec![
                managed_cluster(
                    TUNNELED,
                    "clusternet-tunneled",
                    "tunneled",
                    "https://10.0.0.1:6443",
                    true,
                ),
                managed_cluster(
                    DIRECT,
                    "clusternet-direct",
                    "direct",
                    "https://10.0.0.2:6443",
                    false,
                ),
                managed_cluster(
                    TUNNELED,
                    "clusternet-mismatched",
                    "mismatched",
                    "https://10.0.0.3:6443",
                    true,
                ),
            ],
        )
    } else {
        // Secrets child-cluster-deployer: no child has uploaded its CA yet.
        list("Secret", "v1", vec![])
    }
}

type Pending = Arc<Mutex<Vec<tower_test::mock::SendResponse<Response<KubeBody>>>>>;

/// The hub's connections, fed by a mock parent; returns them with the requests the mock saw.
async fn connections() -> (Arc<ChildConnections>, Arc<Mutex<Vec<String>>>, Pending) {
    let (service, mut handle) = tower_test::mock::pair::<Request<KubeBody>, Response<KubeBody>>();
    let client = kube::Client::new(service, "default");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let pending: Pending = Arc::default();
    let (seen2, pending2) = (seen.clone(), pending.clone());
    tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            let uri = req.uri().to_string();
            seen2
                .lock()
                .unwrap()
                .push(format!("{} {uri}", req.method()));
            if uri.contains("watch=true") {
                pending2.lock().unwrap().push(send);
                continue;
            }
            let body = serde_json::to_vec(&answer(req.uri().path())).unwrap();
            send.send_response(
                Response::builder()
                    .header("content-type", "application/json")
                    .body(KubeBody::from(body))
                    .unwrap(),
            );
        }
    });
    let conns = ChildConnections::start(client, Metrics::new().unwrap(), 10);
    assert!(
        conns.wait_ready(Duration::from_secs(5)).await,
        "caches listed: {:?}",
        seen.lock().unwrap()
    );
    (conns, seen, pending)
}

/// A caller: a cluster's ServiceAccount (its dedicated namespace), or one of the identities
/// that must never open a tunnel.
fn service_account(ns: &str) -> UserInfo {
    let (name, groups) = match ns {
        // A bootstrap token, as the parent's TokenReview names it.
        BOOTSTRAP => (
            "system:bootstrap:07401b".to_string(),
            vec![
                "system:bootstrappers".to_string(),
                "system:authenticated".into(),
            ],
        ),
        ANONYMOUS => (
            "system:anonymous".to_string(),
            vec!["system:unauthenticated".to_string()],
        ),
        _ => (
            format!("system:serviceaccount:{ns}:cluster-bootstrap-use"),
            vec![
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
        ),
    };
    UserInfo {
        name,
        uid: String::new(),
        groups,
        extra: BTreeMap::new(),
        method: AuthMethod::Token,
    }
}

const BOOTSTRAP: &str = "(bootstrap token)";
const ANONYMOUS: &str = "(anonymous)";

async fn call(proxies: &Proxies, path: &str, user: UserInfo, upgrade: bool) -> ApiError {
    let mut req = Request::builder().method(Method::GET).uri(path);
    if upgrade {
        req = req
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-version", "13");
    }
    let mut req = req.body(body::empty()).unwrap();
    req.extensions_mut().insert(user);
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    let info = RequestInfo::parse(&Method::GET, p, Some(q).filter(|q| !q.is_empty()));
    match proxies.handle(req, info).await {
        Ok(resp) => panic!("{path}: expected a refusal, got {}", resp.status()),
        Err(err) => err,
    }
}

fn sockets(tail: &str) -> String {
    format!("/apis/proxies.clusternet.io/v1alpha1/{tail}")
}

/// One refusal: the request (path under the group, caller's namespace, WebSocket upgrade) and
/// the answer (code, a part of the message).
struct Case {
    what: &'static str,
    tail: String,
    caller: &'static str,
    upgrade: bool,
    code: u16,
    says: &'static str,
}

fn case(
    what: &'static str,
    tail: String,
    caller: &'static str,
    upgrade: bool,
    code: u16,
    says: &'static str,
) -> Case {
    Case {
        what,
        tail,
        caller,
        upgrade,
        code,
        says,
    }
}

#[tokio::test]
async fn every_refusal_of_the_socket_handler() {
    let started = std::time::Instant::now();
    let (conns, seen, _pending) = connections().await;
    let proxies = Proxies::new(true, conns.clone());
    let (t, d, m) = (TUNNELED, DIRECT, MISMATCHED);
    let cases = [
        case(
            "another cluster's identity opens this cluster's tunnel",
            format!("sockets/{t}"),
            "clusternet-direct",
            true,
            403,
            "cannot open the tunnel of cluster 9a7b2e64",
        ),
        case(
            "the bootstrap token opens a cluster's tunnel",
            format!("sockets/{t}"),
            BOOTSTRAP,
            true,
            403,
            "User \"system:bootstrap:07401b\" cannot open the tunnel",
        ),
        case(
            "anonymous opens a cluster's tunnel",
            format!("sockets/{t}"),
            ANONYMOUS,
            true,
            403,
            "User \"system:anonymous\" cannot open the tunnel",
        ),
        // Its own identity gets past the identity check; the handshake then needs a real
        // connection, which a request built in-process does not have.
        case(
            "its own identity, without an upgrade",
            format!("sockets/{t}"),
            "clusternet-tunneled",
            false,
            400,
            "WebSocket upgrade",
        ),
        case(
            "an id nobody registered (Go's wording)",
            "sockets/nope/proxy/direct/api".into(),
            "clusternet-tunneled",
            false,
            400,
            "no cluster id is nope",
        ),
        case(
            "a registration whose ManagedCluster carries another id",
            format!("sockets/{m}/proxy/direct/api"),
            "clusternet-tunneled",
            false,
            503,
            "refusing to guess",
        ),
        case(
            "a tunneled cluster whose agent is not connected",
            format!("sockets/{t}/proxy/direct/api"),
            "clusternet-tunneled",
            false,
            503,
            "whose agent is disconnected",
        ),
        // A direct-mode cluster: the hub dials nothing but the cluster's API server…
        case(
            "direct mode, cloud metadata",
            format!("sockets/{d}/proxy/https/169.254.169.254/latest/meta-data"),
            "clusternet-direct",
            false,
            403,
            "sockets/proxy",
        ),
        case(
            "direct mode, the hub's loopback",
            format!("sockets/{d}/proxy/http/127.0.0.1:8080/metrics"),
            "clusternet-direct",
            false,
            403,
            "sockets/proxy",
        ),
        case(
            "direct mode, the kubelet",
            format!("sockets/{d}/proxy/https/10.0.0.2:10250/pods"),
            "clusternet-direct",
            false,
            403,
            "sockets/proxy",
        ),
        // …and not before it has the cluster's CA to verify it with.
        case(
            "direct mode, CA not uploaded yet",
            format!("sockets/{d}/proxy/direct/api"),
            "clusternet-direct",
            false,
            503,
            "not known yet",
        ),
        // Paths nothing serves for a cluster-scoped resource.
        case(
            "a namespaced socket",
            format!("namespaces/default/sockets/{t}/proxy/direct/api"),
            "clusternet-tunneled",
            false,
            404,
            "",
        ),
        case(
            "watch of a socket",
            format!("watch/sockets/{t}"),
            "clusternet-tunneled",
            false,
            404,
            "",
        ),
        case(
            "an unknown subresource",
            format!("sockets/{t}/status"),
            "clusternet-tunneled",
            false,
            404,
            "",
        ),
    ];
    for c in &cases {
        let err = call(
            &proxies,
            &sockets(&c.tail),
            service_account(c.caller),
            c.upgrade,
        )
        .await;
        assert_eq!(err.status_code(), c.code, "{}: {}", c.what, err.message);
        assert!(err.message.contains(c.says), "{}: {}", c.what, err.message);
    }

    // The caches read the parent with one list and one watch per kind, and nothing else.
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|r| r.starts_with("GET ")),
        "only reads: {seen:?}"
    );
    for kind in ["clusterregistrationrequests", "managedclusters", "secrets"] {
        assert_eq!(
            seen.iter().filter(|r| r.contains(kind)).count(),
            2,
            "{kind}: {seen:?}"
        );
    }
    assert!(
        seen.iter()
            .any(|r| r.contains("fieldSelector=metadata.name%3Dchild-cluster-deployer")),
        "{seen:?}"
    );
    eprintln!(
        "{} in-process socket handler checks: {:?}",
        cases.len(),
        started.elapsed()
    );
}

#[tokio::test]
async fn a_hub_without_cluster_information_refuses_plainly() {
    let proxies = Proxies::new(true, ChildConnections::none());
    let err = call(
        &proxies,
        &sockets(&format!("sockets/{TUNNELED}/proxy/direct/api")),
        service_account("clusternet-tunneled"),
        false,
    )
    .await;
    assert_eq!(err.status_code(), 503);
    assert_eq!(err.message, "no cluster information available");
    // With the gate off, no tunnel is accepted at all.
    let off = Proxies::new(false, ChildConnections::none());
    let err = call(
        &off,
        &sockets(&format!("sockets/{TUNNELED}")),
        service_account("clusternet-tunneled"),
        true,
    )
    .await;
    assert_eq!(err.status_code(), 503);
    assert!(err.message.contains("SocketConnection"), "{}", err.message);
}
