//! clusternet-hub as a real aggregated apiserver on a real parent: registration, discovery,
//! OpenAPI, authentication, authorization, CA rotation, namespace deletion, bad input.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clusternet_e2e::direct::DirectClient;
use clusternet_test_support::certs::{Pem, TestCa, write_cert_kubeconfig};
use clusternet_test_support::clusternet::{self, HubEnv, Mode};
use clusternet_test_support::{ControlPlane, paths, wait_for};
use http::StatusCode;
use serde_json::json;

const ADMIN: [(&str, &str); 2] = [
    ("x-remote-user", "kubernetes-admin"),
    ("x-remote-group", "system:masters"),
];

type Env = HubEnv;

async fn env() -> Result<Env> {
    HubEnv::start("hub", false).await
}

/// What these tests do with a hub on a parent.
trait HubTests {
    async fn direct(&self, cert: Option<&Pem>) -> Result<DirectClient>;
    fn front_proxy_cert(&self, cn: &str) -> Result<Pem>;
    fn user(&self, name: &str) -> Result<(Pem, std::path::PathBuf)>;
}

impl HubTests for Env {
    /// A client straight to the hub (not through the parent), verifying its serving cert.
    async fn direct(&self, cert: Option<&Pem>) -> Result<DirectClient> {
        let ca = clusternet::hub_ca_pem(&self.parent).await?;
        DirectClient::new(
            self.hub.addr,
            "clusternet-hub.clusternet-system.svc",
            &ca,
            cert,
        )
    }

    /// A certificate the parent's aggregator would present (front-proxy CA, allowed CN).
    fn front_proxy_cert(&self, cn: &str) -> Result<Pem> {
        TestCa::from_files(
            &self.parent.pki("front-proxy-ca.crt"),
            &self.parent.pki("front-proxy-ca.key"),
        )?
        .issue_client(cn, None)
    }

    /// A plain user certificate of the parent's client CA, and a kubeconfig for it.
    fn user(&self, name: &str) -> Result<(Pem, std::path::PathBuf)> {
        let pem = TestCa::from_files(&self.parent.pki("ca.crt"), &self.parent.pki("ca.key"))?
            .issue_client(name, None)?;
        let path = self.hub.dir.join(format!("{name}.kubeconfig"));
        write_cert_kubeconfig(
            &path,
            self.parent.server(),
            &self.parent.pki("ca.crt"),
            &pem,
            name,
        )?;
        Ok((pem, path))
    }
}

fn assert_status(
    reply: &clusternet_e2e::direct::Reply,
    code: u16,
    reason: &str,
) -> Result<serde_json::Value> {
    assert_eq!(
        reply.status.as_u16(),
        code,
        "body: {}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        reply
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let status = reply.json()?;
    assert_eq!(status["kind"], "Status", "{status}");
    assert_eq!(status["apiVersion"], "v1");
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], reason, "{status}");
    assert_eq!(status["code"], code);
    Ok(status)
}

#[tokio::test]
async fn apiservices_become_available_and_kubectl_discovers_sockets() -> Result<()> {
    let parent = ControlPlane::start("parent").await?;
    let dir = paths::scratch_dir("hub")?;
    // Install (RBAC, token) first, then time from the hub process starting.
    clusternet::apply_deploy(&parent, "hub/00-namespaces.yaml").await?;
    clusternet::apply_deploy(&parent, "hub/10-hub-rbac.yaml").await?;
    clusternet::service_account_kubeconfig(
        &parent,
        "clusternet-system",
        "clusternet-hub",
        &dir.path().join("hub.kubeconfig"),
    )
    .await?;
    let started = Instant::now();
    let _hub = clusternet::start_hub(&parent, dir.path(), Mode::Owned, Default::default()).await?;
    let elapsed = started.elapsed();
    eprintln!("hub started → both APIServices Available=True in {elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");

    let out = parent.kubectl_cmd().output(["api-resources"], None).await?;
    assert!(out.success, "{}", out.stderr);
    assert!(out.stderr.is_empty(), "discovery errors: {}", out.stderr);
    let sockets = out
        .stdout
        .lines()
        .find(|l| l.starts_with("sockets "))
        .unwrap_or_default()
        .to_string();
    // NAME SHORTNAMES APIVERSION NAMESPACED KIND
    assert_eq!(
        sockets.split_whitespace().collect::<Vec<_>>(),
        [
            "sockets",
            "ss",
            "proxies.clusternet.io/v1alpha1",
            "false",
            "Socket"
        ],
        "{}",
        out.stdout
    );

    // Legacy discovery of the group-version through the parent.
    let raw = parent
        .kubectl(["get", "--raw", "/apis/proxies.clusternet.io/v1alpha1"])
        .await?;
    let list: serde_json::Value = serde_json::from_str(&raw)?;
    assert_eq!(list["kind"], "APIResourceList");
    assert_eq!(list["resources"][0]["name"], "sockets");
    assert_eq!(list["resources"][0]["categories"], json!(["clusternet"]));
    assert_eq!(list["resources"][1]["name"], "sockets/proxy");

    // kubectl explain reads the hub's OpenAPI v3 through the parent, once the aggregator's
    // OpenAPI controller has fetched it (it does so on its own schedule after registration).
    let asked = Instant::now();
    let explain = wait_for(
        "kubectl explain sockets",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async { Ok(Some(parent.kubectl(["explain", "sockets"]).await?)) },
    )
    .await?;
    eprintln!(
        "kubectl explain sockets worked {:?} after registration",
        asked.elapsed()
    );

    assert!(
        explain.contains("GROUP:      proxies.clusternet.io")
            && explain.contains("KIND:       Socket")
            && explain.contains("VERSION:    v1alpha1"),
        "{explain}"
    );
    assert!(explain.contains("path\t<string>"), "{explain}");
    // And the merged OpenAPI v2 of the parent now carries the hub's Socket definition.
    let v2 = parent.kubectl(["get", "--raw", "/openapi/v2"]).await?;
    assert!(v2.contains("com.github.clusternet.clusternet.pkg.apis.proxies.v1alpha1.Socket"));
    Ok(())
}

#[tokio::test]
async fn straight_to_the_hub_only_the_front_proxy_is_trusted() -> Result<()> {
    let env = env().await?;
    let path = "/apis/proxies.clusternet.io/v1alpha1";

    // Health needs no credentials (kubelet probes).
    let anonymous = env.direct(None).await?;
    for health in ["/readyz", "/livez", "/healthz"] {
        let reply = anonymous.get(health, &[]).await?;
        assert_eq!(
            (reply.status, reply.body.as_ref()),
            (StatusCode::OK, b"ok".as_ref()),
            "{health}"
        );
    }

    // No client certificate: 401, even with identity headers.
    assert_status(&anonymous.get(path, &[]).await?, 401, "Unauthorized")?;
    assert_status(&anonymous.get(path, &ADMIN).await?, 401, "Unauthorized")?;

    // A certificate of another CA, with the allowed CN and identity headers: 401.
    let other = TestCa::new("not-the-front-proxy-ca")?.issue_client("front-proxy-client", None)?;
    assert_status(
        &env.direct(Some(&other)).await?.get(path, &ADMIN).await?,
        401,
        "Unauthorized",
    )?;

    // The front-proxy CA, but a CN that is not in requestheader-allowed-names: 401.
    let wrong_cn = env.front_proxy_cert("someone-else")?;
    assert_status(
        &env.direct(Some(&wrong_cn)).await?.get(path, &ADMIN).await?,
        401,
        "Unauthorized",
    )?;

    // The aggregator's identity: trusted.
    let front_proxy = env
        .direct(Some(&env.front_proxy_cert("front-proxy-client")?))
        .await?;
    let reply = front_proxy.get(path, &ADMIN).await?;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()?["kind"], "APIResourceList");

    // A user's own client certificate with forged headers claiming system:masters: the
    // certificate's identity is used and the headers are ignored (eve has no RBAC → 403).
    let (eve, _) = env.user("eve")?;
    let reply = env
        .direct(Some(&eve))
        .await?
        .get("/metrics", &ADMIN)
        .await?;
    let status = assert_status(&reply, 403, "Forbidden")?;
    assert_eq!(
        status["message"],
        "forbidden: User \"eve\" cannot get path \"/metrics\""
    );
    Ok(())
}

#[tokio::test]
async fn authorization_is_asked_of_the_parent() -> Result<()> {
    let env = env().await?;
    let (_, eve_kubeconfig) = env.user("eve")?;
    let (_, sam_kubeconfig) = env.user("sam")?;
    // sam may proxy into clusters and read the hub's metrics; eve may do nothing.
    let rbac = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "e2e-sam"},
         "rules": [{"apiGroups": ["proxies.clusternet.io"], "resources": ["sockets/proxy"], "verbs": ["get"]},
                   {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "e2e-sam"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "e2e-sam"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "sam"}]}]});
    env.parent
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(&rbac.to_string()))
        .await?;

    // Through the parent, as users type it.
    let proxy_path = "/apis/proxies.clusternet.io/v1alpha1/sockets/c1/proxy/direct/version";
    let eve = clusternet_test_support::Kubectl::new(&eve_kubeconfig);
    let out = eve.output(["get", "--raw", proxy_path], None).await?;
    assert!(!out.success);
    assert!(
        out.stderr.contains("Forbidden")
            && out.stderr.contains("cannot get resource \"sockets/proxy\""),
        "{}",
        out.stderr
    );
    // sam gets past the parent's and the hub's authorization: the hub answers (there is no
    // cluster c1, so with its own 400 Status rather than a 403).
    let sam = clusternet_test_support::Kubectl::new(&sam_kubeconfig);
    let out = sam.output(["get", "--raw", proxy_path], None).await?;
    assert!(!out.stderr.contains("Forbidden"), "{}", out.stderr);
    assert!(
        out.stderr.contains("(BadRequest): no cluster id is c1"),
        "{}",
        out.stderr
    );

    // Straight to the hub as the aggregator would forward each user: the hub's own
    // SubjectAccessReview decides.
    let front_proxy = env
        .direct(Some(&env.front_proxy_cert("front-proxy-client")?))
        .await?;
    let as_user = |user: &'static str| {
        [
            ("x-remote-user", user),
            ("x-remote-group", "system:authenticated"),
        ]
    };
    let reply = front_proxy.get("/metrics", &as_user("eve")).await?;
    assert_status(&reply, 403, "Forbidden")?;
    let reply = front_proxy.get("/metrics", &as_user("sam")).await?;
    assert_eq!(reply.status, StatusCode::OK);
    let text = String::from_utf8_lossy(&reply.body);
    assert!(
        text.contains("apiserver_request_total")
            && text.contains("clusternet_socket_connections_count"),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn requestheader_ca_rotation_applies_without_restart() -> Result<()> {
    let env = env().await?;
    let pid = env.hub.process.pid;
    let rotated_ca = TestCa::new("rotated-front-proxy-ca")?;
    let client = env
        .direct(Some(&rotated_ca.issue_client("front-proxy-client", None)?))
        .await?;
    assert_status(&client.get("/metrics", &ADMIN).await?, 401, "Unauthorized")?;

    // Add the new CA to the bundle kube-apiserver publishes, as a CA rotation does.
    let cm = env
        .parent
        .kubectl([
            "get",
            "cm",
            "extension-apiserver-authentication",
            "-n",
            "kube-system",
            "-o",
            "json",
        ])
        .await?;
    let mut cm: serde_json::Value = serde_json::from_str(&cm)?;
    let bundle = cm["data"]["requestheader-client-ca-file"]
        .as_str()
        .context("bundle")?
        .to_string();
    cm["data"]["requestheader-client-ca-file"] =
        json!(format!("{}\n{}", bundle.trim_end(), rotated_ca.cert_pem()));
    env.parent
        .kubectl_cmd()
        .run_with_stdin(["replace", "-f", "-"], Some(&cm.to_string()))
        .await?;
    let changed = Instant::now();
    wait_for(
        "the hub to trust the rotated CA",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            Ok((client.get("/metrics", &ADMIN).await?.status == StatusCode::OK).then_some(()))
        },
    )
    .await?;
    eprintln!(
        "rotated requestheader CA trusted {:?} after the ConfigMap changed",
        changed.elapsed()
    );
    assert_eq!(env.hub.process.pid, pid, "the hub must not have restarted");
    Ok(())
}

async fn namespace_phase(parent: &ControlPlane, name: &str) -> Result<Option<String>> {
    let out = parent
        .kubectl_cmd()
        .output(["get", "ns", name, "-o", "jsonpath={.status.phase}"], None)
        .await?;
    if !out.success {
        if out.stderr.contains("NotFound") {
            return Ok(None);
        }
        bail!("{}", out.stderr);
    }
    Ok(Some(out.stdout))
}

#[tokio::test]
async fn namespace_deletion_completes_with_the_hub_and_waits_for_it_while_down() -> Result<()> {
    let mut env = env().await?;
    let parent = &env.parent;
    // Hub registered and up: deletion completes.
    parent.kubectl(["create", "ns", "doomed-1"]).await?;
    parent
        .kubectl([
            "create",
            "configmap",
            "c",
            "-n",
            "doomed-1",
            "--from-literal=a=b",
        ])
        .await?;
    parent
        .kubectl(["delete", "ns", "doomed-1", "--wait=false"])
        .await?;
    wait_for(
        "doomed-1 to be gone",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            Ok(namespace_phase(parent, "doomed-1")
                .await?
                .is_none()
                .then_some(()))
        },
    )
    .await?;

    // Hub down: the aggregator marks the APIServices unavailable, and the namespace controller
    // cannot be sure it deleted everything in the namespace (it cannot list the hub's
    // resources), so the namespace stays Terminating — as with any aggregated apiserver.
    env.hub.process.stop();
    wait_for(
        "APIServices to become unavailable",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            let status = parent
                .kubectl([
                    "get",
                    "apiservice",
                    "v1alpha1.shadow",
                    "-o",
                    "jsonpath={.status.conditions[?(@.type==\"Available\")].status}",
                ])
                .await?;
            Ok((status == "False").then_some(()))
        },
    )
    .await?;
    parent.kubectl(["create", "ns", "doomed-2"]).await?;
    parent
        .kubectl(["delete", "ns", "doomed-2", "--wait=false"])
        .await?;
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(
        namespace_phase(parent, "doomed-2").await?.as_deref(),
        Some("Terminating")
    );
    let conditions = parent
        .kubectl([
            "get",
            "ns",
            "doomed-2",
            "-o",
            "jsonpath={.status.conditions}",
        ])
        .await?;
    assert!(
        conditions.contains("NamespaceDeletionDiscoveryFailure"),
        "{conditions}"
    );

    // Hub back: the namespace finishes deleting by itself.
    let dir = env.hub.dir.clone();
    env.hub = clusternet::start_hub(parent, &dir, Mode::Owned, Default::default()).await?;
    let back = Instant::now();
    wait_for(
        "doomed-2 to be gone after the hub returned",
        Duration::from_secs(120),
        Duration::from_millis(500),
        || async {
            Ok(namespace_phase(parent, "doomed-2")
                .await?
                .is_none()
                .then_some(()))
        },
    )
    .await?;
    eprintln!(
        "namespace deleted {:?} after the hub came back",
        back.elapsed()
    );
    Ok(())
}

/// 10,000 malformed requests straight at the hub: each gets a Status error, or (for bytes that
/// are not HTTP at all) the plain 4xx every HTTP server sends, or a clean close — never a hang
/// or a crash — and discovery keeps answering through the parent and directly throughout.
#[tokio::test]
async fn malformed_requests_get_status_errors_or_clean_closes() -> Result<()> {
    use clusternet_e2e::direct::RawOutcome;
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let env = env().await?;
    let client = Arc::new(
        env.direct(Some(&env.front_proxy_cert("front-proxy-client")?))
            .await?,
    );
    let admin = "X-Remote-User: kubernetes-admin\r\nX-Remote-Group: system:masters\r\n";

    // Discovery probes run the whole time, direct and through the parent.
    let stop = Arc::new(AtomicBool::new(false));
    let probes_ok = Arc::new(AtomicUsize::new(0));
    let probe = {
        let (client, stop, ok) = (client.clone(), stop.clone(), probes_ok.clone());
        let kubectl = env.parent.kubectl_cmd();
        tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                match client
                    .get("/apis/proxies.clusternet.io/v1alpha1", &ADMIN)
                    .await
                {
                    Ok(r) if r.status == StatusCode::OK => ok.fetch_add(1, Ordering::SeqCst),
                    other => {
                        failures.push(format!("direct: {other:?}"));
                        0
                    }
                };
                match kubectl
                    .run(["get", "--raw", "/apis/proxies.clusternet.io/v1alpha1"])
                    .await
                {
                    Ok(_) => ok.fetch_add(1, Ordering::SeqCst),
                    Err(err) => {
                        failures.push(format!("via parent: {err:#}"));
                        0
                    }
                };
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            failures
        })
    };

    let long_path = format!("/apis/{}", "x/".repeat(8000));
    let huge_header = format!(
        "GET /apis HTTP/1.1\r\nHost: x\r\n{admin}X-Big: {}\r\n\r\n",
        "a".repeat(2 << 20)
    );
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("bad percent-encoding", format!("GET /apis/%zz/%00/../../etc HTTP/1.1\r\nHost: x\r\n{admin}\r\n").into_bytes(), false),
        ("very long path", format!("GET {long_path} HTTP/1.1\r\nHost: x\r\n{admin}\r\n").into_bytes(), false),
        ("bad JSON body", format!("POST /apis/shadow/v1alpha1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n{admin}Content-Type: application/json\r\nContent-Length: 9\r\n\r\n{{\"kind\":[").into_bytes(), false),
        ("unknown method", format!("BREW /apis HTTP/1.1\r\nHost: x\r\n{admin}\r\n").into_bytes(), false),
        ("write to discovery", format!("DELETE /apis/proxies.clusternet.io/v1alpha1 HTTP/1.1\r\nHost: x\r\n{admin}\r\n").into_bytes(), false),
        ("protobuf only on discovery", format!("GET /apis HTTP/1.1\r\nHost: x\r\n{admin}Accept: application/vnd.kubernetes.protobuf\r\n\r\n").into_bytes(), false),
        ("socket without upgrade", format!("GET /apis/proxies.clusternet.io/v1alpha1/sockets/%2e%2e HTTP/1.1\r\nHost: x\r\n{admin}\r\n").into_bytes(), false),
        ("huge header", huge_header.into_bytes(), false),
        ("half-sent headers", b"GET /apis HTTP/1.1\r\nHost: x\r\nX-Remote-Us".to_vec(), true),
        ("short body", format!("POST /apis HTTP/1.1\r\nHost: x\r\n{admin}Content-Length: 100\r\n\r\n{{}}").into_bytes(), true),
        ("not HTTP", b"\x00\x01\x02 hello there\r\n\r\n".to_vec(), false),
        ("bad chunked body", format!("POST /apis HTTP/1.1\r\nHost: x\r\n{admin}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n").into_bytes(), false),
    ];
    // One connection that never finishes its headers: the hub's header-read timeout (30 s)
    // must close it rather than hold it forever.
    let stalled = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .raw(
                    b"GET /apis HTTP/1.1\r\nHost: x\r\n",
                    false,
                    Duration::from_secs(45),
                )
                .await
        })
    };
    let total = 10_000;
    let tally: Arc<std::sync::Mutex<BTreeMap<String, usize>>> = Default::default();
    let started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = Vec::new();
    for i in 0..total {
        let (name, bytes, close) = cases[i % cases.len()].clone();
        let (client, tally, sem) = (client.clone(), tally.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let outcome = client.raw(&bytes, close, Duration::from_secs(40)).await?;
            let class = match &outcome {
                RawOutcome::Response {
                    status,
                    content_type,
                    body,
                } if content_type.as_deref() == Some("application/json") => {
                    let v: serde_json::Value = serde_json::from_slice(body)
                        .with_context(|| format!("{name}: body is not JSON"))?;
                    anyhow::ensure!(
                        v["kind"] == "Status" && v["code"] == *status && *status >= 400,
                        "{name}: not a failure Status: {v}"
                    );
                    format!("{status} Status")
                }
                // hyper's own answer to bytes it cannot parse as HTTP (as Go's net/http does).
                RawOutcome::Response {
                    status: s @ (400 | 431),
                    body,
                    ..
                } if body.is_empty() => format!("{s} (HTTP parse error)"),
                RawOutcome::Response { status, .. } => {
                    anyhow::bail!("{name}: unexpected answer {outcome:?} ({status})")
                }
                RawOutcome::Closed => "clean close".to_string(),
                RawOutcome::Silent => anyhow::bail!("{name}: no answer and no close within 40s"),
            };
            *tally
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .entry(format!("{name}: {class}"))
                .or_default() += 1;
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    let stalled = stalled.await??;
    assert!(
        matches!(
            stalled,
            RawOutcome::Closed | RawOutcome::Response { status: 408, .. }
        ),
        "stalled headers: {stalled:?}"
    );
    stop.store(true, Ordering::SeqCst);
    let failures = probe.await?;
    eprintln!("{total} malformed requests in {elapsed:?}:");
    for (class, n) in tally
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .iter()
    {
        eprintln!("  {n:>5}  {class}");
    }
    eprintln!(
        "discovery probes answered: {} (failures: {})",
        probes_ok.load(Ordering::SeqCst),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "discovery failed during the storm: {failures:?}"
    );
    assert!(probes_ok.load(Ordering::SeqCst) > 10);
    // The hub is still healthy and serving afterwards.
    assert!(env.hub.process.pid > 0);
    assert_eq!(client.get("/readyz", &[]).await?.status, StatusCode::OK);
    Ok(())
}
