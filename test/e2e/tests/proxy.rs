//! Child clusters reachable through the parent with plain kubectl:
//! `sockets/<id>/proxy/direct` with Clusternet-style credentials, directly and through the
//! agents' tunnels: kubectl, kubectl proxy, watches, upgrades, RBAC, an agent outage.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clusternet_e2e::direct::DirectClient;
use clusternet_test_support::certs::{Pem, TestCa, write_cert_kubeconfig};
use clusternet_test_support::clusternet::{self, ChildCredential, EnvOptions, Environment};
use clusternet_test_support::{Kubectl, paths, wait_for};
use futures::StreamExt;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn direct_mode_kubectl_through_the_parent() -> Result<()> {
    // Agents without the tunnel: the hub dials each child's API server itself.
    let env = Environment::start(
        1,
        EnvOptions {
            agent_gates: "AppPusher=true".into(),
            ..Default::default()
        },
    )
    .await?;
    let token = env.child_token(0, "proxy-admin", "cluster-admin").await?;
    let kubeconfig = env
        .child_kubeconfig(
            0,
            &ChildCredential::Token(token),
            None,
            "child1-via-parent.kubeconfig",
        )
        .await?;
    let child = Kubectl::new(&kubeconfig);
    let ca_known = wait_for(
        "the child's CA on the parent",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async { Ok(child.run(["get", "ns", "-o", "name"]).await.ok()) },
    )
    .await?;
    assert!(ca_known.contains("namespace/kube-system"), "{ca_known}");
    child
        .run(["create", "configmap", "via-parent", "--from-literal=a=b"])
        .await?;
    let direct = env.children[0]
        .kubectl(["get", "configmap", "via-parent", "-o", "jsonpath={.data.a}"])
        .await?;
    assert_eq!(direct, "b");
    Ok(())
}

/// Reads `kubectl get -w` output lines into a channel.
fn watch_lines(
    mut child: tokio::process::Child,
) -> (tokio::process::Child, mpsc::UnboundedReceiver<String>) {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits for a line containing `needle`.
async fn expect_line(rx: &mut mpsc::UnboundedReceiver<String>, needle: &str) -> Result<String> {
    let deadline = Duration::from_secs(20);
    tokio::time::timeout(deadline, async {
        while let Some(line) = rx.recv().await {
            if line.contains(needle) {
                return Ok(line);
            }
        }
        bail!("the watch ended before {needle:?} showed up")
    })
    .await
    .with_context(|| format!("{needle:?} not seen within {deadline:?}"))?
}

/// GET over plain HTTP (what curl does against `kubectl proxy`).
async fn http_get(addr: &str, path: &str) -> Result<(u16, String)> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header(http::header::HOST, addr)
        .body(http_body_util::Empty::<bytes::Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A TLS client to the parent presenting `user`.
fn parent_client(env: &Environment, user: &Pem) -> Result<DirectClient> {
    DirectClient::to_control_plane(&env.parent, Some(user))
}

#[tokio::test]
async fn tunnel_kubectl_watch_upgrades_rbac_metrics_and_agent_outage() -> Result<()> {
    // Agents with the tunnel (the default), a 2 s heartbeat (a Lease of 8 s), and parent RBAC
    // narrowed: only alice may impersonate `clusternet` with the credential extras.
    let mut env = Environment::start(
        2,
        EnvOptions {
            open_socketsproxy: false,
            agent_args: vec![
                "--cluster-status-update-frequency=2s".into(),
                "--cluster-status-collect-frequency=1s".into(),
            ],
            ..Default::default()
        },
    )
    .await?;
    let parent = &env.parent;
    // The controller-manager's leader election runs in `leader-election`, not behind the
    // agents in `workload-low` (FlowSchema clusternet-controller-manager-leader-election); the
    // agents' heartbeat Lease renewals in a level of their own (clusternet-cluster-heartbeats).
    for (what, flow_schema, priority_level, at_least) in [
        (
            "the controller-manager's Lease requests",
            "clusternet-controller-manager-leader-election",
            "leader-election",
            1.0,
        ),
        (
            "the agents' Lease renewals",
            "clusternet-cluster-heartbeats",
            "clusternet-cluster-heartbeats",
            2.0,
        ),
    ] {
        let dispatched = wait_for(
            &format!("{what} dispatched in priority level {priority_level}"),
            Duration::from_secs(30),
            Duration::from_millis(250),
            || async {
                let n = flowcontrol_figure(
                    parent,
                    "apiserver_flowcontrol_dispatched_requests_total",
                    flow_schema,
                    priority_level,
                )
                .await?;
                Ok((n >= at_least).then_some(n))
            },
        )
        .await?;
        eprintln!("{what} dispatched in {priority_level}: {dispatched}");
    }
    let rbac = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "e2e-impersonate-clusternet"},
         "rules": [{"apiGroups": [""], "resources": ["users"], "resourceNames": ["clusternet"], "verbs": ["impersonate"]},
                   {"apiGroups": ["authentication.k8s.io"], "resources": ["userextras/clusternet-token", "userextras/clusternet-certificate", "userextras/clusternet-privatekey"], "verbs": ["impersonate"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "e2e-impersonate-clusternet"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "e2e-impersonate-clusternet"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "e2e-sockets-proxy"},
         "rules": [{"apiGroups": ["proxies.clusternet.io"], "resources": ["sockets/proxy"], "verbs": ["*"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "e2e-sockets-proxy"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "e2e-sockets-proxy"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "clusternet"}]}]});
    parent
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(&rbac.to_string()))
        .await?;
    let parent_ca = TestCa::from_files(&parent.pki("ca.crt"), &parent.pki("ca.key"))?;
    let alice = parent_ca.issue_client("alice", None)?;
    let eve = parent_ca.issue_client("eve", None)?;

    // Child credentials, both kinds: a ServiceAccount token and a client certificate.
    let child1 = &env.children[0];
    let token = env.child_token(0, "proxy-admin", "cluster-admin").await?;
    let carol = TestCa::from_files(&child1.pki("ca.crt"), &child1.pki("ca.key"))?
        .issue_client("carol", Some("system:masters"))?;
    let via_token = Kubectl::new(
        env.child_kubeconfig(
            0,
            &ChildCredential::Token(token.clone()),
            Some(&alice),
            "token.kubeconfig",
        )
        .await?,
    );
    let via_cert = Kubectl::new(
        env.child_kubeconfig(
            0,
            &ChildCredential::Certificate(carol),
            Some(&alice),
            "cert.kubeconfig",
        )
        .await?,
    );
    // The hub learns the child's CA from the Secret its agent uploads.
    let namespaces = wait_for(
        "kubectl get ns through the tunnel",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async { Ok(via_token.run(["get", "ns", "-o", "name"]).await.ok()) },
    )
    .await?;
    assert!(namespaces.contains("namespace/kube-system"), "{namespaces}");
    let namespaces = via_cert.run(["get", "ns"]).await?;
    assert!(
        namespaces.starts_with("NAME") && namespaces.contains("kube-system"),
        "{namespaces}"
    );

    // kubectl apply through the tunnel lands in the child.
    via_token
        .run_with_stdin(
            ["apply", "-f", "-"],
            Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: via-tunnel\n  namespace: default\ndata:\n  a: b\n"),
        )
        .await?;
    assert_eq!(
        child1
            .kubectl(["get", "configmap", "via-tunnel", "-o", "jsonpath={.data.a}"])
            .await?,
        "b"
    );

    // kubectl get -w through the tunnel sees a change made directly on the child.
    let watch = tokio::process::Command::new(paths::kubectl_bin()?)
        .args(["--kubeconfig"])
        .arg(via_cert.kubeconfig())
        .args([
            "get",
            "configmaps",
            "-n",
            "default",
            "-w",
            "--output-watch-events",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let (_watch, mut lines) = watch_lines(watch);
    expect_line(&mut lines, "via-tunnel").await?;
    let changed = Instant::now();
    child1
        .kubectl(["create", "configmap", "made-on-child", "--from-literal=x=y"])
        .await?;
    let line = expect_line(&mut lines, "made-on-child").await?;
    eprintln!(
        "kubectl get -w through the tunnel: {line:?} after {:?}",
        changed.elapsed()
    );
    assert!(line.starts_with("ADDED"), "{line}");

    // kubectl get --raw of a child path.
    let raw = via_token
        .run([
            "get",
            "--raw",
            "/api/v1/namespaces/default/configmaps/via-tunnel",
        ])
        .await?;
    let raw: Value = serde_json::from_str(&raw)?;
    assert_eq!(raw["data"]["a"], "b");

    // kubectl proxy on the parent (as alice, with the extras), then plain HTTP to the socket.
    let proxy_kubeconfig = env.dir.path().join("parent-proxy.kubeconfig");
    let mut config: Value = serde_json::from_slice(&std::fs::read(via_token.kubeconfig())?)?;
    config["clusters"][0]["cluster"]["server"] = json!(parent.server());
    std::fs::write(&proxy_kubeconfig, serde_json::to_vec(&config)?)?;
    let proxy = tokio::process::Command::new(paths::kubectl_bin()?)
        .args(["--kubeconfig"])
        .arg(&proxy_kubeconfig)
        .args(["proxy", "--port=0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let (_proxy, mut proxy_out) = watch_lines(proxy);
    let serving = expect_line(&mut proxy_out, "Starting to serve on").await?;
    let proxy_addr = serving
        .rsplit(' ')
        .next()
        .context("kubectl proxy address")?
        .to_string();
    let id = env.cluster_id(0).await?;
    let (status, body) = http_get(
        &proxy_addr,
        &format!("/apis/proxies.clusternet.io/v1alpha1/sockets/{id}/proxy/direct/api/v1/namespaces/default/configmaps/via-tunnel"),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body)?["data"]["a"], "b");

    // An upgraded connection: a websocket watch, served by the child's kube-apiserver itself.
    let tls = parent_client(&env, &alice)?.connect().await?;
    let ws_url = format!(
        "wss://127.0.0.1/apis/proxies.clusternet.io/v1alpha1/sockets/{id}/proxy/direct/api/v1/namespaces/default/configmaps?watch=true"
    );
    let mut request = ws_url.into_client_request()?;
    let headers = request.headers_mut();
    // kube-apiserver's websocket watch (golang.org/x/net/websocket) refuses a null Origin.
    headers.insert("Origin", "https://127.0.0.1".parse()?);
    headers.insert("Impersonate-User", "clusternet".parse()?);
    headers.insert("Impersonate-Extra-Clusternet-Token", token.parse()?);
    let (mut ws, response) = match tokio_tungstenite::client_async(request, tls).await {
        Ok(ok) => ok,
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => bail!(
            "websocket refused: {} {}",
            resp.status(),
            String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default())
        ),
        Err(err) => return Err(err.into()),
    };
    assert_eq!(response.status(), 101);
    let upgraded = Instant::now();
    child1
        .kubectl([
            "create",
            "configmap",
            "seen-over-websocket",
            "--from-literal=x=y",
        ])
        .await?;
    let event = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(msg) = ws.next().await {
            let msg = msg?;
            let text = String::from_utf8_lossy(&msg.into_data()).into_owned();
            if text.contains("seen-over-websocket") {
                return Ok(text);
            }
        }
        bail!("websocket closed")
    })
    .await
    .context("no websocket watch event")??;
    let event: Value = serde_json::from_str(&event)?;
    assert_eq!(event["type"], "ADDED");
    eprintln!(
        "websocket watch event through the tunnel after {:?}",
        upgraded.elapsed()
    );
    drop(ws);

    // Parent RBAC: eve may neither impersonate nor use sockets/proxy; alice's requests then
    // carry the child credential, and the child's RBAC applies to it.
    let eve_via = Kubectl::new(
        env.child_kubeconfig(
            0,
            &ChildCredential::Token(token.clone()),
            Some(&eve),
            "eve.kubeconfig",
        )
        .await?,
    );
    let out = eve_via
        .output(["get", "--raw", "/api/v1/namespaces"], None)
        .await?;
    assert!(!out.success);
    assert!(
        out.stderr.contains("Forbidden") && out.stderr.contains("cannot impersonate"),
        "{}",
        out.stderr
    );
    let eve_plain = env.dir.path().join("eve-parent.kubeconfig");
    write_cert_kubeconfig(
        &eve_plain,
        parent.server(),
        &parent.pki("ca.crt"),
        &eve,
        "eve",
    )?;
    let out = Kubectl::new(&eve_plain)
        .output(
            [
                "get",
                "--raw",
                &format!("/apis/proxies.clusternet.io/v1alpha1/sockets/{id}/proxy/direct/api"),
            ],
            None,
        )
        .await?;
    assert!(!out.success);
    assert!(
        out.stderr.contains("Forbidden")
            && out.stderr.contains("cannot get resource \"sockets/proxy\""),
        "{}",
        out.stderr
    );
    for ns in ["team-a", "team-b"] {
        child1.kubectl(["create", "namespace", ns]).await?;
    }
    child1
        .kubectl(["create", "serviceaccount", "dev", "-n", "default"])
        .await?;
    child1
        .kubectl([
            "create",
            "rolebinding",
            "dev-edit",
            "-n",
            "team-a",
            "--clusterrole=edit",
            "--serviceaccount=default:dev",
        ])
        .await?;
    let dev_token = child1
        .kubectl(["create", "token", "dev", "-n", "default"])
        .await?;
    let dev = Kubectl::new(
        env.child_kubeconfig(
            0,
            &ChildCredential::Token(dev_token.trim().to_string()),
            Some(&alice),
            "dev.kubeconfig",
        )
        .await?,
    );
    dev.run(["create", "configmap", "allowed", "-n", "team-a"])
        .await?;
    let out = dev
        .output(["create", "configmap", "denied", "-n", "team-b"], None)
        .await?;
    assert!(!out.success);
    assert!(
        out.stderr.contains("configmaps is forbidden")
            && out.stderr.contains("system:serviceaccount:default:dev")
            && out.stderr.contains("team-b"),
        "{}",
        out.stderr
    );

    // The hub's socket metrics: both tunnels up.
    let hub = DirectClient::new(
        env.hub.addr,
        "clusternet-hub.clusternet-system.svc",
        &clusternet::hub_ca_pem(parent).await?,
        Some(
            &TestCa::from_files(
                &parent.pki("front-proxy-ca.crt"),
                &parent.pki("front-proxy-ca.key"),
            )?
            .issue_client("front-proxy-client", None)?,
        ),
    )?;
    let admin = [
        ("x-remote-user", "kubernetes-admin"),
        ("x-remote-group", "system:masters"),
    ];
    let metrics = hub.get("/metrics", &admin).await?;
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        metrics.contains("clusternet_socket_connections_count 2"),
        "{metrics}"
    );
    // The agents opened their tunnels as watches of their own sockets: the parent counts them
    // as long-running and holds no API Priority and Fairness seat for them. (A `sockets/<id>`
    // GET, as Go's agents open it, holds one for the tunnel's life, in `exempt` through
    // FlowSchema clusternet-tunnels, where a thousand of them leave the other priority levels
    // nothing to borrow.)
    let watches: f64 = metrics
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("apiserver_request_total{")
                && l.contains(r#"resource="sockets""#)
                && l.contains(r#"subresource="""#)
                && l.contains(r#"verb="watch""#)
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert!(
        watches >= 2.0,
        "tunnels opened as watches: {watches}\n{metrics}"
    );
    let seats = flowcontrol_figure(
        parent,
        "apiserver_flowcontrol_current_executing_requests",
        "clusternet-tunnels",
        "exempt",
    )
    .await?;
    eprintln!(
        "tunnels opened as watches of their sockets: {watches}; executing in APF on the parent (FlowSchema clusternet-tunnels): {}",
        seats.abs()
    );
    assert_eq!(seats, 0.0, "a tunnel holds an APF seat on the parent");

    // Agent stopped: the proxy answers 503 at once; the cluster goes not ready after its grace
    // period (its Lease, 4 × 2 s); agent back: the proxy works again.
    let stopped = Instant::now();
    env.agents[0].stop();
    let parent = &env.parent;
    let message = wait_for(
        "a 503 from the proxy once the agent is gone",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            let asked = Instant::now();
            let out = via_token
                .output(["get", "ns", "--request-timeout=10s"], None)
                .await?;
            Ok((!out.success && out.stderr.contains("disconnected"))
                .then(|| (out.stderr, asked.elapsed())))
        },
    )
    .await
    .with_context(|| env.logs())?;
    eprintln!(
        "agent stopped → proxy refuses after {:?}; that request took {:?}: {}",
        stopped.elapsed(),
        message.1,
        message.0.trim()
    );
    assert!(
        message.0.contains(&format!(
            "cannot proxy through cluster {id}, whose agent is disconnected"
        )),
        "{}",
        message.0
    );
    assert!(
        message.0.contains("ServiceUnavailable") || message.0.contains("503"),
        "{}",
        message.0
    );
    let state = wait_for(
        "child1 not ready",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let s = parent
                .kubectl(["get", "mcls", "-A", "-o", &format!("jsonpath={{.items[?(@.spec.clusterId==\"{id}\")].status.conditions[?(@.type==\"Ready\")].status}}")])
                .await?;
            Ok((s == "Unknown").then_some(s))
        },
    )
    .await?;
    eprintln!(
        "agent stopped → Ready={state} after {:?}",
        stopped.elapsed()
    );
    let restarted = Instant::now();
    env.agents[0] = env.start_agent(0).await?;
    wait_for(
        "the proxy working again",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || async { Ok(via_token.run(["get", "ns", "-o", "name"]).await.ok()) },
    )
    .await?;
    let back = restarted.elapsed();
    eprintln!("agent restarted → proxy works again after {back:?}");
    assert!(
        back < Duration::from_secs(5),
        "the proxy took {back:?} to work again"
    );
    Ok(())
}

/// The parent's API Priority and Fairness `metric` for one FlowSchema and priority level (0
/// when it has no sample yet).
async fn flowcontrol_figure(
    parent: &clusternet_test_support::ControlPlane,
    metric: &str,
    flow_schema: &str,
    priority_level: &str,
) -> Result<f64> {
    let metrics = parent.kubectl(["get", "--raw", "/metrics"]).await?;
    let series =
        format!(r#"{metric}{{flow_schema="{flow_schema}",priority_level="{priority_level}"}} "#);
    Ok(metrics
        .lines()
        .filter_map(|l| l.strip_prefix(series.as_str()))
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .sum())
}
