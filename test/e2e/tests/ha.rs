//! High availability (Clusternet #259) on real control planes: three hub replicas behind a real
//! load balancer (HAProxy, `make haproxy`) standing in for the Service, two children, and two
//! replicas each of the controller-manager and the scheduler.
//!
//! - every proxied request of a one-minute loop through the parent succeeds (after the retry a
//!   client does) while the replica holding tunnels is killed and started again; the agents'
//!   tunnels move to the survivors; what the client sees during the switch is printed;
//! - each replica, asked directly, reaches each child (through its own tunnel or a peer's), and
//!   serves discovery and the shadow API;
//! - the peer port refuses anyone who is not a peer: anonymous, an agent's token, the
//!   bootstrap token, a client certificate of the parent's CA, a made-up token;
//! - the controller-manager and scheduler leaders are killed: the other replicas take over
//!   within the lease, and a Subscription created during the switch is delivered exactly once.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clusternet_e2e::direct::DirectClient;
use clusternet_test_support::certs::TestCa;
use clusternet_test_support::clusternet::{
    self, Component, EnvOptions, Environment, Hub, HubOptions, Mode,
};
use clusternet_test_support::haproxy::HaProxy;
use clusternet_test_support::{ControlPlane, free_port, wait_for};
use serde_json::Value;

/// Leader election fast enough for a test (Go's defaults are 15 s / 10 s / 2 s).
const ELECTION: [&str; 3] = [
    "--leader-elect-lease-duration=4s",
    "--leader-elect-renew-deadline=3s",
    "--leader-elect-retry-period=500ms",
];

fn peer_args(port: u16) -> Vec<String> {
    vec![
        format!("--secure-port={port}"),
        "--peer-advertise-address=127.0.0.1".into(),
        "--peer-port=0".into(),
    ]
}

/// A client straight to one replica, as the parent's aggregator is (front-proxy certificate).
struct Replica {
    client: DirectClient,
}

impl Replica {
    async fn new(parent: &ControlPlane, addr: SocketAddr) -> Result<Self> {
        let ca = clusternet::hub_ca_pem(parent).await?;
        let front_proxy = TestCa::from_files(
            &parent.pki("front-proxy-ca.crt"),
            &parent.pki("front-proxy-ca.key"),
        )?
        .issue_client("front-proxy-client", None)?;
        Ok(Self {
            client: DirectClient::new(
                addr,
                "clusternet-hub.clusternet-system.svc",
                &ca,
                Some(&front_proxy),
            )?,
        })
    }

    async fn get(&self, path: &str, child_token: Option<&str>) -> Result<(u16, String)> {
        let mut headers = vec![
            ("x-remote-user", "kubernetes-admin"),
            ("x-remote-group", "system:masters"),
        ];
        if let Some(t) = child_token {
            headers.push(("x-remote-extra-clusternet-token", t));
        }
        let reply = self.client.get(path, &headers).await?;
        Ok((
            reply.status.as_u16(),
            String::from_utf8_lossy(&reply.body).into_owned(),
        ))
    }

    /// The tunnels this replica holds (`clusternet_socket_connections_count`).
    async fn tunnels(&self) -> Result<i64> {
        let (status, body) = self.get("/metrics", None).await?;
        anyhow::ensure!(status == 200, "metrics: {status} {body}");
        Ok(body
            .lines()
            .find(|l| l.starts_with("clusternet_socket_connections_count"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v as i64)
            .unwrap_or(0))
    }
}

/// Starts hub replica `i` (sharing the first replica's kubeconfig) on `port`.
async fn start_replica(env: &Environment, i: usize, port: u16) -> Result<Hub> {
    let dir = env.dir.path().join(format!("hub-{i}"));
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(&env.hub.kubeconfig, dir.join("hub.kubeconfig"))?;
    clusternet::start_hub(
        &env.parent,
        &dir,
        Mode::Owned,
        HubOptions {
            extra_args: peer_args(port),
        },
    )
    .await
}

/// The proxied request of the loop: through the parent (aggregator → HAProxy → a replica), as
/// a kubeconfig made by `child_kubeconfig` sends it.
struct ViaParent {
    client: DirectClient,
    token: String,
    child_tokens: Vec<String>,
    urls: Vec<String>,
}

impl ViaParent {
    async fn get(&self, i: usize) -> Result<(u16, String)> {
        let auth = format!("Bearer {}", self.token);
        let reply = self
            .client
            .get(
                &self.urls[i],
                &[
                    ("authorization", &auth),
                    ("impersonate-user", "clusternet"),
                    ("impersonate-extra-clusternet-token", &self.child_tokens[i]),
                ],
            )
            .await?;
        Ok((
            reply.status.as_u16(),
            String::from_utf8_lossy(&reply.body).into_owned(),
        ))
    }
}

fn whoami_ok(reply: &Result<(u16, String)>, child: &str) -> bool {
    matches!(reply, Ok((200, body)) if serde_json::from_str::<Value>(body).is_ok_and(|v| v["data"]["name"] == child))
}

fn describe(reply: &Result<(u16, String)>) -> String {
    match reply {
        Ok((status, body)) => {
            let msg = serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| body.chars().take(120).collect());
            format!("HTTP {status}: {msg}")
        }
        Err(err) => format!("transport error: {err:#}"),
    }
}

fn log_has(path: &Path, needle: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_replicas_controller_and_scheduler_failover() -> Result<()> {
    clusternet_test_support::install_crypto_provider();
    let ports = [free_port()?, free_port()?, free_port()?];
    let mut cm_args: Vec<String> =
        vec!["--feature-gates=SocketConnection=true,Deployer=true".into()];
    cm_args.extend(ELECTION.iter().map(|s| s.to_string()));
    let options = EnvOptions {
        hub_args: peer_args(ports[0]),
        controller_manager_args: cm_args.clone(),
        scheduler: true,
        scheduler_args: ELECTION.iter().map(|s| s.to_string()).collect(),
        ..EnvOptions::deployer()
    };
    let mut env = Environment::start(2, options).await?;
    let started = Instant::now();

    // Replicas 2 and 3, then HAProxy in front of all three as the hub's Service.
    let mut hubs = vec![
        start_replica(&env, 1, ports[1]).await?,
        start_replica(&env, 2, ports[2]).await?,
    ];
    let backends: Vec<SocketAddr> = ports
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();
    let lb = HaProxy::start(&env.dir.path().join("haproxy"), &backends).await?;
    clusternet::register_local_hub(&env.parent, lb.addr.port()).await?;
    clusternet::wait_apiservices_available(&env.parent, Duration::from_secs(60)).await?;
    let mut replicas = Vec::new();
    for b in &backends {
        replicas.push(Replica::new(&env.parent, *b).await?);
    }
    // Every replica sees the other two as peers.
    wait_for(
        "three peer Leases",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let names = env
                .parent
                .kubectl(["get", "lease", "-n", "clusternet-system", "-o", "name"])
                .await?;
            Ok((names
                .lines()
                .filter(|l| l.contains("clusternet-hub-peer-"))
                .count()
                == 3)
                .then_some(()))
        },
    )
    .await?;

    // The agents' tunnels go through the balancer now: restart the agents so they spread.
    for i in 0..env.agents.len() {
        env.agents[i] = env.start_agent(i).await?;
    }
    wait_for(
        "both tunnels on the replicas",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async { Ok((tunnels_up(&replicas, &[0, 1, 2]).await == 2).then_some(())) },
    )
    .await?;
    let mut placement = Vec::new();
    for r in &replicas {
        placement.push(r.tunnels().await?);
    }
    println!("tunnels per replica after the agents connected through HAProxy: {placement:?}");

    // Each child says who it is.
    let mut ids = Vec::new();
    let mut child_tokens = Vec::new();
    for (i, child) in env.children.iter().enumerate() {
        child
            .kubectl([
                "create",
                "configmap",
                "whoami",
                "-n",
                "default",
                &format!("--from-literal=name={}", child.name()),
            ])
            .await?;
        ids.push(env.cluster_id(i).await?);
        child_tokens.push(env.child_token(i, "ha-admin", "cluster-admin").await?);
    }
    let names: Vec<String> = env.children.iter().map(|c| c.name().to_string()).collect();

    // Each replica, asked directly, reaches each child, and answers discovery and shadow.
    check_all_replicas(&replicas, &ids, &names, &child_tokens).await?;
    println!(
        "each of 3 replicas reached each of 2 children directly; discovery and shadow answered on each"
    );

    // kubectl through the parent (aggregator → HAProxy → any replica) reaches each child.
    for i in 0..env.children.len() {
        let kubeconfig = env
            .child_kubeconfig(
                i,
                &clusternet::ChildCredential::Token(child_tokens[i].clone()),
                None,
                &format!("ha-{}.kubeconfig", names[i]),
            )
            .await?;
        for _ in 0..3 {
            let out = clusternet_test_support::Kubectl::new(&kubeconfig)
                .run([
                    "get",
                    "--raw",
                    "/api/v1/namespaces/default/configmaps/whoami",
                ])
                .await?;
            assert!(out.contains(&names[i]), "{out}");
        }
    }

    // The peer port refuses whoever is not a peer.
    peer_port_refuses_strangers(&env).await?;

    // The one-minute loop, with the busiest replica killed at 10 s and started again at 30 s.
    let via_parent = Arc::new(ViaParent {
        client: DirectClient::to_control_plane(&env.parent, None)?,
        token: env
            .parent
            .kubectl([
                "create",
                "token",
                clusternet::HUB_PROXY_SERVICE_ACCOUNT,
                "-n",
                "clusternet-system",
            ])
            .await?
            .trim()
            .to_string(),
        child_tokens: child_tokens.clone(),
        urls: ids.iter().map(|id| whoami(id)).collect(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let looper = {
        let via = via_parent.clone();
        let stop = stop.clone();
        let names = names.clone();
        tokio::spawn(async move {
            let (mut total, mut ok_first, mut failed_first, mut failed_after_retry) = (0, 0, 0, 0);
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            let mut worst_retry = Duration::ZERO;
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let c = n % names.len();
                n += 1;
                total += 1;
                let first = via.get(c).await;
                if whoami_ok(&first, &names[c]) {
                    ok_first += 1;
                } else {
                    failed_first += 1;
                    *seen.entry(describe(&first)).or_default() += 1;
                    // The client's retry: again every 250 ms, for up to 30 s.
                    let began = Instant::now();
                    let mut recovered = false;
                    while began.elapsed() < Duration::from_secs(30) {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        let again = via.get(c).await;
                        if whoami_ok(&again, &names[c]) {
                            recovered = true;
                            break;
                        }
                        *seen
                            .entry(format!("(retry) {}", describe(&again)))
                            .or_default() += 1;
                    }
                    worst_retry = worst_retry.max(began.elapsed());
                    if !recovered {
                        failed_after_retry += 1;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (
                total,
                ok_first,
                failed_first,
                failed_after_retry,
                seen,
                worst_retry,
            )
        })
    };
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut counts = Vec::new();
    for r in &replicas {
        counts.push(r.tunnels().await?);
    }
    let victim = (0..3).max_by_key(|i| counts[*i]).unwrap_or(0);
    println!("killing replica {victim} (tunnels per replica {counts:?})");
    let killed_at = Instant::now();
    kill_replica(&mut env, &mut hubs, victim);
    let survivors: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
    wait_for(
        "the killed replica's tunnels on the survivors",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async { Ok((tunnels_up(&replicas, &survivors).await == 2).then_some(())) },
    )
    .await?;
    let tunnels_back = killed_at.elapsed();
    println!(
        "tunnels back on the survivors {:.2} s after the kill",
        tunnels_back.as_secs_f64()
    );
    tokio::time::sleep(
        Duration::from_secs(30)
            .saturating_sub(killed_at.elapsed() + Duration::from_secs(10))
            .max(Duration::from_secs(10)),
    )
    .await;
    restart_replica(&mut env, &mut hubs, victim)?;
    wait_for(
        "the restarted replica serving",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            Ok(replicas[victim]
                .get("/readyz", None)
                .await
                .ok()
                .filter(|(s, _)| *s == 200))
        },
    )
    .await?;
    println!("replica {victim} started again");
    tokio::time::sleep(
        Duration::from_secs(60).saturating_sub(killed_at.elapsed() + Duration::from_secs(10)),
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let (total, ok_first, failed_first, failed_after_retry, seen, worst_retry) = looper.await?;
    println!(
        "proxied requests in the 1-minute loop: total {total}, ok {ok_first}, failed before retry {failed_first}, failed after retry {failed_after_retry}; longest retry {:.2} s",
        worst_retry.as_secs_f64()
    );
    for (what, n) in &seen {
        println!("  client saw ×{n}: {what}");
    }
    assert_eq!(failed_after_retry, 0, "requests lost: {seen:?}");
    assert!(total > 100, "the loop ran only {total} requests");

    // After the restart every replica again reaches every child.
    check_all_replicas(&replicas, &ids, &names, &child_tokens).await?;
    let mut placement = Vec::new();
    for r in &replicas {
        placement.push(r.tunnels().await?);
    }
    println!("tunnels per replica at the end: {placement:?}");

    controllers_fail_over(&mut env, &cm_args).await?;
    println!("suite wall time {:.1} s", started.elapsed().as_secs_f64());
    drop(lb);
    Ok(())
}

async fn tunnels_up(replicas: &[Replica], which: &[usize]) -> i64 {
    let mut total = 0;
    for i in which {
        total += replicas[*i].tunnels().await.unwrap_or(0);
    }
    total
}

fn whoami(id: &str) -> String {
    format!(
        "/apis/proxies.clusternet.io/v1alpha1/sockets/{id}/proxy/direct/api/v1/namespaces/default/configmaps/whoami"
    )
}

async fn check_all_replicas(
    replicas: &[Replica],
    ids: &[String],
    names: &[String],
    child_tokens: &[String],
) -> Result<()> {
    for (r, replica) in replicas.iter().enumerate() {
        for c in 0..ids.len() {
            wait_for(
                &format!("replica {r} → {}", names[c]),
                Duration::from_secs(30),
                Duration::from_millis(200),
                || async {
                    let reply = replica.get(&whoami(&ids[c]), Some(&child_tokens[c])).await;
                    Ok(whoami_ok(&reply, &names[c]).then_some(()))
                },
            )
            .await?;
        }
        for path in [
            "/apis",
            "/apis/proxies.clusternet.io/v1alpha1",
            "/apis/shadow/v1alpha1",
        ] {
            let (status, body) = replica.get(path, None).await?;
            anyhow::ensure!(status == 200, "replica {r} {path}: {status} {body}");
        }
        let (status, body) = replica
            .get("/apis/shadow/v1alpha1/namespaces/default/configmaps", None)
            .await?;
        anyhow::ensure!(status == 200, "replica {r} shadow list: {status} {body}");
    }
    Ok(())
}

fn kill_replica(env: &mut Environment, hubs: &mut [Hub], i: usize) {
    match i {
        0 => env.hub.process.kill(),
        n => hubs[n - 1].process.kill(),
    }
}

fn restart_replica(env: &mut Environment, hubs: &mut [Hub], i: usize) -> Result<()> {
    match i {
        0 => env.hub.process.restart(),
        n => hubs[n - 1].process.restart(),
    }
}

/// `curl` to a replica's peer port with the credentials a stranger could hold.
async fn peer_port_refuses_strangers(env: &Environment) -> Result<()> {
    let leases = env
        .parent
        .kubectl(["get", "lease", "-n", "clusternet-system", "-o", "json"])
        .await?;
    let leases: Value = serde_json::from_str(&leases)?;
    let peers: Vec<Value> = leases["items"]
        .as_array()
        .context("items")?
        .iter()
        .filter(|l| {
            l["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("clusternet-hub-peer-"))
        })
        .filter_map(|l| serde_json::from_str(l["spec"]["holderIdentity"].as_str()?).ok())
        .collect();
    anyhow::ensure!(peers.len() == 3, "peer Leases: {peers:?}");
    for p in &peers {
        anyhow::ensure!(
            p.get("token").is_none(),
            "a peer Lease publishes a token: {p}"
        );
    }
    let p = &peers[0];
    let url = format!(
        "https://{}:{}/connect",
        p["host"].as_str().context("host")?,
        p["port"]
    );
    let id = p["id"].as_str().context("id")?.to_string();
    let agent_token = env.agent_token(0).await?;
    let scratch = env.dir.path().join("peer-strangers");
    std::fs::create_dir_all(&scratch)?;
    let stranger = TestCa::from_files(&env.parent.pki("ca.crt"), &env.parent.pki("ca.key"))?
        .issue_client("system:admin", Some("system:masters"))?;
    std::fs::write(scratch.join("c.crt"), &stranger.cert)?;
    std::fs::write(scratch.join("c.key"), &stranger.key)?;
    let cert = scratch.join("c.crt").display().to_string();
    let key = scratch.join("c.key").display().to_string();
    let attempts: Vec<(&str, Vec<String>)> = vec![
        ("anonymous", vec![]),
        (
            "an agent's parent token",
            vec!["-H".into(), format!("Authorization: Bearer {agent_token}")],
        ),
        (
            "the bootstrap token",
            vec![
                "-H".into(),
                format!("Authorization: Bearer {}", env.token.token),
            ],
        ),
        (
            "a made-up token",
            vec!["-H".into(), "Authorization: Bearer Cheugy".into()],
        ),
        (
            "a client certificate of the parent's CA (system:masters)",
            vec!["--cert".into(), cert, "--key".into(), key],
        ),
    ];
    for (who, extra) in attempts {
        let mut args: Vec<String> = vec![
            "-sk".into(),
            "--http1.1".into(),
            "--max-time".into(),
            "5".into(),
            "-o".into(),
            "/dev/null".into(),
            "-w".into(),
            "%{http_code}".into(),
            "-H".into(),
            "Connection: Upgrade".into(),
            "-H".into(),
            "Upgrade: websocket".into(),
            "-H".into(),
            "Sec-WebSocket-Version: 13".into(),
            "-H".into(),
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==".into(),
            "-H".into(),
            "X-Clusternet-Peer-Id: stranger".into(),
            "-H".into(),
            format!("X-Clusternet-Peer-Target: {id}"),
        ];
        args.extend(extra);
        args.push(url.clone());
        let out = tokio::process::Command::new("curl")
            .args(&args)
            .output()
            .await?;
        let code = String::from_utf8_lossy(&out.stdout).to_string();
        if code != "401" {
            bail!(
                "peer port with {who}: HTTP {code:?} (want 401); curl exit {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        println!("peer port refuses {who}: 401");
    }
    Ok(())
}

/// Which of two replicas logged that it holds the lease.
fn leader_of(replicas: &[&Component]) -> Option<usize> {
    // Each replica acquires at most once before it is killed in this suite.
    replicas
        .iter()
        .position(|c| c.is_running() && log_has(&c.log, "acquired leadership"))
}

async fn controllers_fail_over(env: &mut Environment, cm_args: &[String]) -> Result<()> {
    let mut cm2 = clusternet::install_controller_manager(
        &env.parent,
        &env.dir.path().join("controller-manager-2"),
        Mode::Owned,
        cm_args,
    )
    .await?;
    let scheduler_args: Vec<String> = ELECTION.iter().map(|s| s.to_string()).collect();
    let mut sched2 = clusternet::install_scheduler(
        &env.parent,
        &env.dir.path().join("scheduler-2"),
        Mode::Owned,
        &scheduler_args,
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let scheduler = env.scheduler.as_mut().context("scheduler")?;
    let cm_leader =
        leader_of(&[&env.controller_manager, &cm2]).context("a controller-manager leader")?;
    let sched_leader = leader_of(&[scheduler, &sched2]).context("a scheduler leader")?;
    anyhow::ensure!(
        !log_has(
            &[&env.controller_manager, &cm2][1 - cm_leader].log,
            "acquired leadership"
        ),
        "both controller-managers lead"
    );
    println!(
        "controller-manager leader: replica {cm_leader}; scheduler leader: replica {sched_leader}"
    );

    // The feed (a shadow object: its template is what the deployer reads), then kill both
    // leaders and create the Subscription at once.
    clusternet::wait_for_shadow_resource(
        &env.parent,
        "configmaps.shadow",
        true,
        Duration::from_secs(60),
    )
    .await?;
    let feed = r#"{"apiVersion":"shadow/v1alpha1","kind":"ConfigMap",
      "metadata":{"name":"ha-feed","namespace":"default"},"data":{"k":"v"}}"#;
    env.parent
        .kubectl_cmd()
        .run_with_stdin(["create", "-f", "-"], Some(feed))
        .await?;
    let killed = Instant::now();
    if cm_leader == 0 {
        env.controller_manager.kill();
    } else {
        cm2.kill();
    }
    if sched_leader == 0 {
        scheduler.kill();
    } else {
        sched2.kill();
    }
    let sub = r#"{"apiVersion":"apps.clusternet.io/v1alpha1","kind":"Subscription",
      "metadata":{"name":"ha-sub","namespace":"default"},
      "spec":{"subscribers":[{"clusterAffinity":{}}],
              "feeds":[{"apiVersion":"v1","kind":"ConfigMap","namespace":"default","name":"ha-feed"}]}}"#;
    env.parent
        .kubectl_cmd()
        .run_with_stdin(["create", "-f", "-"], Some(sub))
        .await?;
    let cm_new = if cm_leader == 0 {
        &cm2
    } else {
        &env.controller_manager
    };
    let sched_new = if sched_leader == 0 {
        &sched2
    } else {
        env.scheduler.as_ref().context("scheduler")?
    };
    let (mut cm_over, mut sched_over) = (None, None);
    while cm_over.is_none() || sched_over.is_none() {
        if cm_over.is_none() && log_has(&cm_new.log, "acquired leadership") {
            cm_over = Some(killed.elapsed());
        }
        if sched_over.is_none() && log_has(&sched_new.log, "acquired leadership") {
            sched_over = Some(killed.elapsed());
        }
        if killed.elapsed() > Duration::from_secs(30) {
            bail!(
                "no takeover within 30 s (controller-manager {cm_over:?}, scheduler {sched_over:?})"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (cm_over, sched_over) = (cm_over.unwrap_or_default(), sched_over.unwrap_or_default());
    println!(
        "failover (lease 4 s): controller-manager {:.2} s, scheduler {:.2} s after the leader was killed",
        cm_over.as_secs_f64(),
        sched_over.as_secs_f64()
    );
    anyhow::ensure!(cm_over < Duration::from_secs(10) && sched_over < Duration::from_secs(10));

    // Delivered: the object in each child, one Base per cluster, one Description per Base.
    let uid = env
        .parent
        .kubectl([
            "get",
            "subs",
            "ha-sub",
            "-n",
            "default",
            "-o",
            "jsonpath={.metadata.uid}",
        ])
        .await?;
    for child in &env.children {
        let landed = wait_for(
            &format!("ha-feed in {}", child.name()),
            Duration::from_secs(60),
            Duration::from_millis(200),
            || async {
                Ok(child
                    .kubectl([
                        "get",
                        "configmap",
                        "ha-feed",
                        "-n",
                        "default",
                        "-o",
                        "jsonpath={.data.k}",
                    ])
                    .await
                    .ok()
                    .filter(|v| v == "v"))
            },
        )
        .await;
        if landed.is_err() {
            print_delivery_chain(env, cm_new, sched_new).await;
        }
        landed?;
    }
    let delivered = killed.elapsed();
    // Let anything that would run twice do so, then count.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let count = |kind: &'static str| {
        let parent = &env.parent;
        let uid = uid.clone();
        async move {
            let out = parent
                .kubectl([
                    "get",
                    kind,
                    "-A",
                    "-l",
                    &format!("apps.clusternet.io/subs.uid={uid}"),
                    "-o",
                    "name",
                ])
                .await?;
            anyhow::Ok(out.lines().filter(|l| !l.is_empty()).count())
        }
    };
    let bases = count("bases.apps.clusternet.io").await?;
    let descriptions = count("descriptions.apps.clusternet.io").await?;
    println!(
        "Subscription made during the switch: in both children {:.2} s after the kill; {bases} Bases, {descriptions} Descriptions",
        delivered.as_secs_f64()
    );
    assert_eq!(bases, env.children.len(), "one Base per cluster");
    assert_eq!(descriptions, env.children.len(), "one Description per Base");
    Ok(())
}

/// Where the delivery chain stopped, for a reader of a failed CI run: the ManagedClusters, the
/// Subscription's status, Bases and Descriptions, and the new leaders' last log lines.
async fn print_delivery_chain(env: &Environment, cm_new: &Component, sched_new: &Component) {
    for args in [
        &["get", "managedclusters", "-A", "-o", "wide"][..],
        &[
            "get",
            "subs",
            "ha-sub",
            "-n",
            "default",
            "-o",
            "jsonpath={.status}",
        ],
        &[
            "get",
            "bases.apps.clusternet.io,descriptions.apps.clusternet.io",
            "-A",
            "-o",
            "wide",
        ],
        &[
            "get",
            "descriptions.apps.clusternet.io",
            "-A",
            "-o",
            "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}: {.status}{\"\\n\"}{end}",
        ],
    ] {
        let out = env.parent.kubectl(args.iter().copied()).await;
        println!(
            "--- kubectl {}:\n{}",
            args.join(" "),
            out.unwrap_or_else(|e| format!("{e:#}"))
        );
    }
    println!(
        "--- new controller-manager leader:\n{}",
        cm_new.log_tail(60)
    );
    println!("--- new scheduler leader:\n{}", sched_new.log_tail(40));
}
