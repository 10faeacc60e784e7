//! Children that run workloads (kube-scheduler + KWOK nodes), and the streams users open into
//! their pods through the hub with plain kubectl — `exec` (output, exit code, stdin), `logs -f`,
//! `port-forward`, `cp`, `attach` — over WebSocket (kubectl's default) and SPDY, through a child
//! kubeconfig whose server is `sockets/<id>/proxy/direct` with the token and the certificate
//! form, for a tunnel-mode agent (child1) and a direct-mode one (child2). Every answer through the
//! hub is compared with the same command run directly against the child. The child's RBAC still
//! decides; killing the agent mid-exec ends the client's command with an error.
//!
//! One environment for the whole suite (one test): starting it is most of the cost.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clusternet_e2e::streams::{self, PortForward, Protocol, Running};
use clusternet_test_support::certs::TestCa;
use clusternet_test_support::clusternet::{
    ChildCredential, EnvOptions, Environment, write_token_kubeconfig,
};
use clusternet_test_support::kwok::{CriLog, NodePool, Workloads};
use clusternet_test_support::{ControlPlane, Kubectl, wait_for};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NS: &str = "work";
const POD: &str = "web";
const POD_PORT: u16 = 8080;
const NODES: usize = 2;
const TIMEOUT: Duration = Duration::from_secs(30);

const WORKLOAD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: work
  labels: {app: web}
spec:
  containers:
  - name: web
    image: nginx:1.25
    ports: [{containerPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
  namespace: work
spec:
  replicas: 3
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports: [{containerPort: 80}]
        resources:
          requests: {cpu: 100m, memory: 64Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: nginx
  namespace: work
spec:
  selector: {app: nginx}
  ports: [{port: 80}]
"#;

/// What a child's pod `web` serves (set up once per child).
struct Fixture {
    logs: CriLog,
    attach: CriLog,
    /// The bytes of `data/report.bin` under the child's exec root.
    report: Vec<u8>,
    _echo: tokio::task::JoinHandle<()>,
}

#[tokio::test]
async fn workloads_and_streams_through_the_hub() -> Result<()> {
    let started = Instant::now();
    // child1's agent keeps the tunnel (the default); child2's runs without SocketConnection,
    // so the hub dials child2's apiserver itself (direct mode).
    let mut env = Environment::start(
        2,
        EnvOptions {
            workloads: Some(NodePool::of(NODES)),
            child_agent_args: vec![vec![], vec!["--feature-gates=AppPusher=true".into()]],
            ..Default::default()
        },
    )
    .await?;
    eprintln!(
        "environment with 2 × {NODES} KWOK nodes up after {:?}",
        started.elapsed()
    );
    let result = scenarios(&mut env).await;
    eprintln!("suite took {:?}", started.elapsed());
    result.with_context(|| env.logs())
}

async fn scenarios(env: &mut Environment) -> Result<()> {
    let mut fixtures = Vec::new();
    for (i, child) in env.children.iter().enumerate() {
        workloads_run(child, i + 1).await?;
        fixtures.push(fixture(child, env.dir.path()).await?);
    }

    // Child credentials in both forms, and the parent-side kubeconfigs that carry them.
    let mut paths = Vec::new();
    for (i, mode) in [(0usize, "tunnel"), (1, "direct")] {
        let child = &env.children[i];
        let token = env.child_token(i, "streamer", "cluster-admin").await?;
        let carol = TestCa::from_files(&child.pki("ca.crt"), &child.pki("ca.key"))?
            .issue_client("carol", Some("system:masters"))?;
        let via_token = Kubectl::new(
            env.child_kubeconfig(
                i,
                &ChildCredential::Token(token),
                None,
                &format!("{mode}-token.kubeconfig"),
            )
            .await?,
        );
        let via_cert = Kubectl::new(
            env.child_kubeconfig(
                i,
                &ChildCredential::Certificate(carol),
                None,
                &format!("{mode}-cert.kubeconfig"),
            )
            .await?,
        );
        // The hub learns the child's CA from the Secret the agent uploads.
        wait_for(
            &format!("child{} through the hub", i + 1),
            TIMEOUT,
            Duration::from_millis(200),
            || async { Ok(via_token.run(["get", "ns", NS, "-o", "name"]).await.ok()) },
        )
        .await?;
        paths.push((i, mode, "token", via_token));
        paths.push((i, mode, "certificate", via_cert));
    }

    for (i, mode, credential, via) in &paths {
        let child = &env.children[*i];
        for protocol in [Protocol::WebSocket, Protocol::Spdy] {
            let t = Instant::now();
            let (via, direct) = match protocol {
                Protocol::WebSocket => (via.clone(), child.kubectl_cmd()),
                Protocol::Spdy => (via.clone().spdy(), child.kubectl_cmd().spdy()),
            };
            let label = format!("child{} ({mode} mode), {credential}, {protocol}", i + 1);
            streams_through_hub(&via, &direct, &fixtures[*i], protocol, &label)
                .await
                .with_context(|| label.clone())?;
            eprintln!(
                "{label}: exec, exec -i, logs -f, port-forward, cp, attach ok in {:?}",
                t.elapsed()
            );
        }
    }

    for (i, _) in env.children.iter().enumerate() {
        rbac_still_applies(env, i).await?;
    }
    agent_killed_mid_exec(env, &paths[0].3).await
}

/// Pods are scheduled onto KWOK nodes, get IPs from the child's CIDR and turn Running and Ready;
/// the Deployment reports ready replicas; the EndpointSlice lists ready endpoints.
async fn workloads_run(child: &ControlPlane, n: usize) -> Result<()> {
    // KWOK's kubelet-like server has no authentication: it must listen on loopback only.
    let port = child.kwok_port().context("KWOK port")?;
    ensure!(
        streams::listens_on_loopback_only(port)?,
        "KWOK listens beyond 127.0.0.1 on port {port}"
    );
    let nodes = child
        .kubectl([
            "get",
            "nodes",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status} {.status.allocatable.cpu} {.status.allocatable.memory} {.status.allocatable.pods} {.status.addresses[0].address}{\"\\n\"}{end}",
        ])
        .await?;
    ensure!(
        nodes.lines().count() == NODES
            && nodes.lines().all(|l| {
                l.starts_with("kwok-node-") && l.ends_with(" True 4 8Gi 110 127.0.0.1")
            }),
        "child{n} nodes: {nodes}"
    );
    child.kubectl(["create", "namespace", NS]).await?;
    let t = Instant::now();
    child
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(WORKLOAD))
        .await?;
    let pods = child.wait_pods_running(NS, "app=nginx", 3).await?;
    let cidr_prefix = {
        let cidr = Workloads::for_child(n).pod_cidr;
        let mut octets = cidr.split('.');
        format!(
            "{}.{}.",
            octets.next().unwrap_or(""),
            octets.next().unwrap_or("")
        )
    };
    for (name, ip, node) in &pods {
        ensure!(
            ip.starts_with(&cidr_prefix) && node.starts_with("kwok-node-"),
            "child{n} pod {name}: ip {ip} node {node}"
        );
    }
    let ready = wait_for(
        "Deployment nginx 3/3 ready",
        TIMEOUT,
        Duration::from_millis(100),
        || async {
            let out = child
                .kubectl([
                    "get",
                    "deploy",
                    "nginx",
                    "-n",
                    NS,
                    "-o",
                    "jsonpath={.status.readyReplicas}/{.status.availableReplicas}",
                ])
                .await?;
            Ok((out == "3/3").then_some(out))
        },
    )
    .await?;
    let endpoints = wait_for(
        "EndpointSlice of Service nginx with 3 ready endpoints",
        TIMEOUT,
        Duration::from_millis(100),
        || async {
            let out = child
                .kubectl([
                    "get",
                    "endpointslices",
                    "-n",
                    NS,
                    "-l",
                    "kubernetes.io/service-name=nginx",
                    "-o",
                    "json",
                ])
                .await?;
            let list: Value = serde_json::from_str(&out)?;
            let ips: Vec<String> = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
                .filter(|e| e["conditions"]["ready"] == true)
                .filter_map(|e| e["addresses"][0].as_str().map(String::from))
                .collect();
            Ok((ips.len() == 3).then_some(ips))
        },
    )
    .await?;
    let mut pod_ips: Vec<&str> = pods.iter().map(|(_, ip, _)| ip.as_str()).collect();
    let mut slice_ips: Vec<&str> = endpoints.iter().map(String::as_str).collect();
    pod_ips.sort();
    slice_ips.sort();
    assert_eq!(pod_ips, slice_ips, "child{n}: EndpointSlice = pod IPs");
    child.wait_pods_running(NS, "app=web", 1).await?;
    let spread: std::collections::BTreeSet<&str> =
        pods.iter().map(|(_, _, node)| node.as_str()).collect();
    eprintln!(
        "child{n}: Deployment ready {ready} and EndpointSlice {slice_ips:?} {:?} after apply; pods on {spread:?}",
        t.elapsed()
    );
    Ok(())
}

/// KWOK rules for pod `web`: logs and attach from files, port 8080 to a local echo server, and a
/// file to copy out.
async fn fixture(child: &ControlPlane, dir: &Path) -> Result<Fixture> {
    let files = dir.join(format!("{}-pod-files", child.name()));
    let logs = CriLog::create(&files.join("web.log"))?;
    logs.append(&["log line 1", "log line 2", "log line 3"])?;
    child.kwok_pod_logs(NS, POD, logs.path()).await?;
    let attach = CriLog::create(&files.join("web-attach.log"))?;
    child.kwok_pod_attach(NS, POD, attach.path()).await?;
    let (echo, _echo) = streams::echo_server().await?;
    child.kwok_pod_port_forward(NS, POD, POD_PORT, echo).await?;
    let report = streams::pattern(300 * 1024);
    let data = child.kwok_root().join("data");
    std::fs::create_dir_all(&data)?;
    std::fs::write(data.join("report.bin"), &report)?;
    Ok(Fixture {
        logs,
        attach,
        report,
        _echo,
    })
}

/// Runs `kubectl <args>` through the hub and directly; both must exit alike and print the same.
async fn same_as_direct(
    via: &Kubectl,
    direct: &Kubectl,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<clusternet_test_support::kubectl::Output> {
    // KWOK's exec now and then loses a short stdin on either path (seen on the direct one):
    // the two must agree within three tries, each pair run the same way.
    let mut attempt = 0;
    let (through, straight) = loop {
        attempt += 1;
        let through = via.output(args, stdin).await?;
        let straight = direct.output(args, stdin).await?;
        let same = (through.code, &through.stdout, &through.stderr)
            == (straight.code, &straight.stdout, &straight.stderr);
        if same || attempt == 3 {
            break (through, straight);
        }
        eprintln!("  {args:?}: through the hub and directly differ (try {attempt}), again");
    };
    ensure!(
        (through.code, &through.stdout, &through.stderr)
            == (straight.code, &straight.stdout, &straight.stderr),
        "kubectl {args:?} through the hub: {:?} {:?} {:?}; directly: {:?} {:?} {:?}",
        through.code,
        through.stdout,
        through.stderr,
        straight.code,
        straight.stdout,
        straight.stderr
    );
    Ok(through)
}

async fn streams_through_hub(
    via: &Kubectl,
    direct: &Kubectl,
    fixture: &Fixture,
    protocol: Protocol,
    label: &str,
) -> Result<()> {
    let exec = |cmd: &'static [&'static str]| {
        let mut args = vec!["exec", "-n", NS, POD, "--"];
        args.extend_from_slice(cmd);
        args
    };
    // exec: output on both streams and the exit status, as the child gives them.
    let verbose = via
        .output(["-v=7", "exec", "-n", NS, POD, "--", "echo", "hello"], None)
        .await?;
    ensure!(
        verbose.success && verbose.stdout == "hello\n",
        "{verbose:?}"
    );
    protocol.check(&verbose.stderr, false)?;
    let failed = same_as_direct(
        via,
        direct,
        &exec(&["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"]),
        None,
    )
    .await?;
    // KWOK v0.8.0 reports every non-zero exit as an internal error (exit code 1 in kubectl)
    // and never the command's own code: what matters here is that the hub passes on the same.
    ensure!(
        !failed.success
            && failed.stdout == "to-stdout\n"
            && failed.stderr.contains("to-stderr")
            && failed.stderr.contains("exit status 3"),
        "{failed:?}"
    );
    let ok = same_as_direct(via, direct, &exec(&["sh", "-c", "echo fine; exit 0"]), None).await?;
    ensure!(ok.code == Some(0) && ok.stdout == "fine\n", "{ok:?}");

    // exec -i: stdin reaches the command. KWOK never closes the command's stdin, so the command
    // reads what it needs and exits by itself (head) instead of waiting for EOF (cat).
    let line = same_as_direct(
        via,
        direct,
        &["exec", "-i", "-n", NS, POD, "--", "head", "-n1"],
        Some("first line\nsecond line\n"),
    )
    .await?;
    ensure!(line.stdout == "first line\n", "{line:?}");
    let big: String = streams::pattern(256 * 1024)
        .iter()
        .map(|b| char::from(b'a' + b % 26))
        .collect();
    let echoed = via
        .output(
            [
                "exec",
                "-i",
                "-n",
                NS,
                POD,
                "--",
                "head",
                "-c",
                &big.len().to_string(),
            ],
            Some(&big),
        )
        .await?;
    ensure!(
        echoed.success && echoed.stdout == big,
        "256 KiB through exec -i and back: {} bytes back, {}",
        echoed.stdout.len(),
        echoed.stderr
    );

    // logs (not an upgrade: a streamed response) — once per path is enough.
    if protocol == Protocol::WebSocket {
        let all = same_as_direct(via, direct, &["logs", "-n", NS, POD], None).await?;
        ensure!(
            all.stdout
                .starts_with("log line 1\nlog line 2\nlog line 3\n"),
            "{all:?}"
        );
        let mut follow = Running::spawn(via.command(["logs", "-f", "-n", NS, POD])?)?;
        follow.line_containing("log line 3", TIMEOUT).await?;
        let appended = format!("appended for {label}");
        let t = Instant::now();
        fixture.logs.append(&[&appended])?;
        follow.line_containing(&appended, TIMEOUT).await?;
        eprintln!(
            "  logs -f: an appended line arrived after {:?}",
            t.elapsed()
        );
    }

    // port-forward: 1 MiB out and the same 1 MiB back from the echo server.
    let forward = PortForward::start(via, NS, POD, POD_PORT).await?;
    let payload = streams::pattern(1024 * 1024);
    let conn = tokio::net::TcpStream::connect(forward.local).await?;
    let (mut r, mut w) = conn.into_split();
    let sent = payload.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await?;
        w.shutdown().await?;
        anyhow::Ok(())
    });
    let mut back = Vec::with_capacity(payload.len());
    tokio::time::timeout(TIMEOUT, async {
        while back.len() < payload.len() {
            let mut buf = vec![0u8; 64 * 1024];
            let n = r.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            back.extend_from_slice(&buf[..n]);
        }
        anyhow::Ok(())
    })
    .await
    .context("port-forward: echo did not come back")??;
    writer.await??;
    ensure!(
        back == payload,
        "port-forward: {} of {} bytes came back intact",
        back.iter()
            .zip(&payload)
            .take_while(|(a, b)| a == b)
            .count(),
        payload.len()
    );
    protocol.check(&forward.running.stderr(), true)?;
    drop(forward);

    // cp out of the pod (kubectl runs `tar cf - data/report.bin` there).
    let out_dir = tempfile::tempdir()?;
    let copied = out_dir.path().join("report.bin");
    via.run([
        "cp",
        &format!("{NS}/{POD}:data/report.bin"),
        &copied.to_string_lossy(),
    ])
    .await?;
    ensure!(
        std::fs::read(&copied)? == fixture.report,
        "kubectl cp: content differs"
    );

    // attach: lines written to the container's output after attaching arrive.
    let mut attached = Running::spawn(via.command(["-v=7", "attach", "-n", NS, POD])?)?;
    let marker = format!("attached for {label}");
    let t = Instant::now();
    let deadline = Instant::now() + TIMEOUT;
    // Attach follows from the end: keep writing until a line shows (it is attached by then).
    loop {
        fixture.attach.append(&[&marker])?;
        if attached
            .line_containing(&marker, Duration::from_millis(300))
            .await
            .is_ok()
        {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "attach showed no new line within {TIMEOUT:?}: {}",
            attached.stderr()
        );
    }
    protocol.check(&attached.stderr(), false)?;
    eprintln!("  attach: output after {:?}", t.elapsed());
    Ok(())
}

/// A child credential that may only read gets the child's own refusal for exec and
/// port-forward through the hub, word for word.
async fn rbac_still_applies(env: &Environment, i: usize) -> Result<()> {
    let child = &env.children[i];
    let token = env.child_token(i, "viewer", "view").await?;
    let via = Kubectl::new(
        env.child_kubeconfig(
            i,
            &ChildCredential::Token(token.clone()),
            None,
            &format!("child{}-viewer.kubeconfig", i + 1),
        )
        .await?,
    );
    let direct_path = env
        .dir
        .path()
        .join(format!("child{}-viewer-direct.kubeconfig", i + 1));
    write_token_kubeconfig(
        &direct_path,
        child.server(),
        &child.pki("ca.crt"),
        &token,
        "viewer",
    )?;
    let direct = Kubectl::new(&direct_path);
    let denied = same_as_direct(&via, &direct, &["exec", "-n", NS, POD, "--", "id"], None).await?;
    ensure!(
        !denied.success
            && denied.stderr.contains("forbidden")
            && denied.stderr.contains("pods/exec")
            && denied
                .stderr
                .contains("system:serviceaccount:default:viewer"),
        "{denied:?}"
    );
    for kubectl in [&via, &direct] {
        let mut forward = Running::spawn(kubectl.command([
            "port-forward",
            "--address=127.0.0.1",
            "-n",
            NS,
            POD,
            &format!(":{POD_PORT}"),
        ])?)?;
        let status = tokio::time::timeout(TIMEOUT, forward.child.wait()).await??;
        let stderr = forward.stderr();
        ensure!(
            !status.success()
                && stderr.contains("pods \"web\" is forbidden")
                && stderr.contains("pods/portforward"),
            "viewer port-forward: {status} {stderr}"
        );
    }
    eprintln!(
        "child{}: a view-only credential may not exec or port-forward: {}",
        i + 1,
        denied.stderr.trim()
    );
    Ok(())
}

/// The tunnel's agent is killed while `kubectl exec` runs through it: the client's command ends
/// with an error (it does not hang), and says so.
async fn agent_killed_mid_exec(env: &mut Environment, via: &Kubectl) -> Result<()> {
    // The command runs while the marker file exists (10 s at most): KWOK lets a command run on
    // after its client is gone, so the test removes the marker once kubectl has ended.
    let marker = env.children[0].kwok_root().join("exec-running");
    std::fs::write(&marker, "")?;
    let mut exec = Running::spawn(via.command([
        "exec",
        "-n",
        NS,
        POD,
        "--",
        "sh",
        "-c",
        "echo started; i=0; while [ -e exec-running ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; echo finished",
    ])?)?;
    let started = exec.line_containing("started", TIMEOUT).await;
    let killed = Instant::now();
    if started.is_ok() {
        env.agents[0].kill();
    }
    let status = tokio::time::timeout(Duration::from_secs(60), exec.child.wait()).await;
    let took = killed.elapsed();
    std::fs::remove_file(&marker)?;
    started?;
    let status =
        status.context("kubectl exec still running 60 s after its tunnel's agent was killed")??;
    let stderr = exec.stderr();
    if status.success() {
        bail!("kubectl exec succeeded although its agent was killed: {stderr}");
    }
    eprintln!(
        "agent killed mid-exec → kubectl exec ended ({status}) after {took:?}: {}",
        stderr.trim()
    );
    Ok(())
}
