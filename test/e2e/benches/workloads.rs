//! Streams into a child's pods through the hub vs straight to the child, measured side by side
//! in one run: 100 MiB through `kubectl port-forward` (pod → client, from a local TCP server
//! KWOK forwards to) and a 10 MiB `kubectl logs`, for a tunnel-mode child (parent → hub →
//! tunnel → agent → child) and a direct-mode one (parent → hub → child). Bandwidth is bytes over
//! the time from the first to the last byte (connection setup and kubectl's start excluded; the
//! time to first byte is printed apart). Then slow readers: hub and agent RSS while a client
//! reads a large port-forward and a large log at ~1 MiB/s.
//!
//! `make bench-workloads` (release build). `BENCH_ROUNDS` (3, the median is shown),
//! `BENCH_PORT_FORWARD_MIB` (100), `BENCH_LOG_MIB` (10), `BENCH_SLOW_SECONDS` (8).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clusternet_e2e::streams::{self, PortForward, Protocol};
use clusternet_test_support::clusternet::{ChildCredential, EnvOptions, Environment};
use clusternet_test_support::kwok::{CriLog, NodePool};
use clusternet_test_support::{Kubectl, wait_for};
use tokio::io::AsyncReadExt;

const NS: &str = "bench";
const POD: &str = "bench";
const FAST_PORT: u16 = 9000;
const SLOW_PORT: u16 = 9001;
const MIB: u64 = 1024 * 1024;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// One transfer: time to first byte and bandwidth from first to last byte.
#[derive(Clone, Copy)]
struct Transfer {
    first_byte: Duration,
    mib_per_s: f64,
}

fn median(mut runs: Vec<Transfer>) -> Transfer {
    runs.sort_by(|a, b| a.mib_per_s.total_cmp(&b.mib_per_s));
    runs[runs.len() / 2]
}

/// Reads `want` bytes (or to EOF when `want` is None) from `r`; returns the byte count, when the
/// first byte came and when the last did.
async fn drain<R: tokio::io::AsyncRead + Unpin>(
    r: &mut R,
    want: Option<u64>,
) -> Result<(u64, Instant, Instant)> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    let mut first = None;
    let mut last = Instant::now();
    while want.is_none_or(|w| got < w) {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let now = Instant::now();
        first.get_or_insert(now);
        last = now;
        got += n as u64;
    }
    Ok((got, first.context("no byte arrived")?, last))
}

async fn port_forward_once(kubectl: &Kubectl, bytes: u64) -> Result<Transfer> {
    let forward = PortForward::start(kubectl, NS, POD, FAST_PORT).await?;
    let asked = Instant::now();
    let mut conn = tokio::net::TcpStream::connect(forward.local).await?;
    let (got, first, last) =
        tokio::time::timeout(Duration::from_secs(300), drain(&mut conn, Some(bytes)))
            .await
            .context("port-forward transfer timed out")??;
    if got != bytes {
        bail!(
            "port-forward: {got} of {bytes} bytes; kubectl: {}",
            forward.running.stderr()
        );
    }
    Ok(Transfer {
        first_byte: first - asked,
        mib_per_s: got as f64 / MIB as f64 / (last - first).as_secs_f64(),
    })
}

/// `kubectl logs -n bench <pod>` spawned, with its stdout to read.
fn spawn_logs(
    kubectl: &Kubectl,
    pod: &str,
) -> Result<(tokio::process::Child, tokio::process::ChildStdout)> {
    let mut child = kubectl.command(["logs", "-n", NS, pod])?.spawn()?;
    let stdout = child.stdout.take().context("kubectl stdout")?;
    Ok((child, stdout))
}

async fn logs_once(kubectl: &Kubectl, pod: &str, min_bytes: u64) -> Result<Transfer> {
    let asked = Instant::now();
    let (child, mut stdout) = spawn_logs(kubectl, pod)?;
    let (got, first, last) = drain(&mut stdout, None).await?;
    let out = child.wait_with_output().await?;
    if !out.status.success() || got < min_bytes {
        bail!(
            "kubectl logs: {}, {got} bytes; {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(Transfer {
        first_byte: first - asked,
        mib_per_s: got as f64 / MIB as f64 / (last - first).as_secs_f64(),
    })
}

/// RSS samples (KiB) of the named processes while `read` runs.
struct Rss {
    name: &'static str,
    pid: u32,
    start: u64,
    max: u64,
    end: u64,
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

/// Reads `reader` at about 1 MiB/s for `seconds`, sampling RSS of `watched` every 250 ms.
async fn slow_read<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut R,
    seconds: u64,
    watched: &[(&'static str, u32)],
) -> Result<(u64, Vec<Rss>)> {
    let mut rss: Vec<Rss> = watched
        .iter()
        .map(|&(name, pid)| {
            let now = streams::rss_kib(pid);
            Rss {
                name,
                pid,
                start: now,
                max: now,
                end: now,
            }
        })
        .collect();
    let started = Instant::now();
    let mut got = 0u64;
    let mut buf = vec![0u8; 16 * 1024];
    let mut next_sample = started;
    while started.elapsed() < Duration::from_secs(seconds) {
        // 16 KiB every 15 ms ≈ 1 MiB/s.
        let n = tokio::time::timeout(Duration::from_secs(10), reader.read(&mut buf))
            .await
            .context("slow read stalled")??;
        if n == 0 {
            bail!("the stream ended after {got} bytes");
        }
        got += n as u64;
        tokio::time::sleep(Duration::from_millis(15)).await;
        if Instant::now() >= next_sample {
            for r in &mut rss {
                r.end = streams::rss_kib(r.pid);
                r.max = r.max.max(r.end);
            }
            next_sample += Duration::from_millis(250);
        }
    }
    Ok((got, rss))
}

fn print_rss(what: &str, got: u64, total: u64, seconds: u64, rss: &[Rss]) {
    println!(
        "  {what}: read {:.1} of {} MiB in {seconds} s",
        got as f64 / MIB as f64,
        total / MIB
    );
    for r in rss {
        println!(
            "    {:<22} RSS {} at start, {} max (+{}), {} at end",
            r.name,
            mib(r.start),
            mib(r.max),
            mib(r.max.saturating_sub(r.start)),
            mib(r.end)
        );
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let rounds = env_number("BENCH_ROUNDS", 3).max(1);
    let pf_bytes = env_number("BENCH_PORT_FORWARD_MIB", 100) * MIB;
    let log_bytes = env_number("BENCH_LOG_MIB", 10) * MIB;
    let slow_seconds = env_number("BENCH_SLOW_SECONDS", 8);
    eprintln!("starting parent + child1 (tunnel) + child2 (direct mode), one KWOK node each…");
    let env = Environment::start(
        2,
        EnvOptions {
            workloads: Some(NodePool::of(1)),
            child_agent_args: vec![vec![], vec!["--feature-gates=AppPusher=true".into()]],
            ..Default::default()
        },
    )
    .await?;

    // Per child: pods `bench` (fast reads) and `slow`, servers behind their ports, log files.
    let slow_bytes = 1024 * MIB;
    let (fast_src, _fast) = streams::source_server(pf_bytes).await?;
    let (slow_src, _slow) = streams::source_server(slow_bytes).await?;
    let line = "x".repeat(1023);
    let mut paths = Vec::new();
    for (i, mode) in [(0usize, "tunnel"), (1, "direct mode")] {
        let child = &env.children[i];
        child.kubectl(["create", "namespace", NS]).await?;
        for pod in [POD, "slow"] {
            let manifest = format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}, namespace: {NS}}}\nspec:\n  containers:\n  - {{name: c, image: busybox}}\n"
            );
            child
                .kubectl_cmd()
                .run_with_stdin(["apply", "-f", "-"], Some(&manifest))
                .await?;
        }
        child
            .kwok_pod_port_forward(NS, POD, FAST_PORT, fast_src)
            .await?;
        let files = env.dir.path().join(format!("child{}-logs", i + 1));
        for (pod, bytes) in [(POD, log_bytes), ("slow", 100 * MIB)] {
            let log = CriLog::create(&files.join(format!("{pod}.log")))?;
            let lines = vec![line.as_str(); (bytes / 1024) as usize];
            log.append(&lines)?;
            child.kwok_pod_logs(NS, pod, log.path()).await?;
        }
        child
            .kwok_pod_port_forward(NS, "slow", SLOW_PORT, slow_src)
            .await?;
        let token = env.child_token(i, "bench", "cluster-admin").await?;
        let via = Kubectl::new(
            env.child_kubeconfig(
                i,
                &ChildCredential::Token(token),
                None,
                &format!("child{}-via-hub.kubeconfig", i + 1),
            )
            .await?,
        );
        wait_for(
            "the pods Running, through the hub",
            Duration::from_secs(60),
            Duration::from_millis(200),
            || async {
                let out = via
                    .run([
                        "get",
                        "pods",
                        "-n",
                        NS,
                        "-o",
                        "jsonpath={.items[*].status.phase}",
                    ])
                    .await?;
                Ok((out == "Running Running").then_some(()))
            },
        )
        .await?;
        paths.push((i, mode, via));
    }

    println!(
        "kubectl port-forward, {} MiB pod → client, and kubectl logs, {} MiB; median of {rounds} (release build, one machine)",
        pf_bytes / MIB,
        log_bytes / MIB
    );
    println!(
        "{:<44} {:>12} {:>12} {:>8} | {:>10} {:>10}",
        "", "direct", "via hub", "hub/dir", "1st byte", "via hub"
    );
    for (i, mode, via) in &paths {
        let child = &env.children[*i];
        for protocol in [Protocol::WebSocket, Protocol::Spdy] {
            let (direct, hub) = match protocol {
                Protocol::WebSocket => (child.kubectl_cmd(), via.clone()),
                Protocol::Spdy => (child.kubectl_cmd().spdy(), via.clone().spdy()),
            };
            let mut d = Vec::new();
            let mut h = Vec::new();
            for _ in 0..rounds {
                d.push(port_forward_once(&direct, pf_bytes).await?);
                h.push(port_forward_once(&hub, pf_bytes).await?);
            }
            row(
                &format!("child{} {mode}, port-forward {protocol}", i + 1),
                median(d),
                median(h),
            );
        }
        let mut d = Vec::new();
        let mut h = Vec::new();
        // The log prints 1023 characters + newline per KiB of file content.
        let min = log_bytes * 9 / 10;
        for _ in 0..rounds {
            d.push(logs_once(&child.kubectl_cmd(), POD, min).await?);
            h.push(logs_once(via, POD, min).await?);
        }
        row(
            &format!("child{} {mode}, logs", i + 1),
            median(d),
            median(h),
        );
    }

    println!("slow readers (~1 MiB/s) through the hub; RSS sampled every 250 ms:");
    let agent_pid = env.agents[0].pid;
    let hub_pid = env.hub.process.pid;
    let parent_pid = env.parent.ready_info().pid;
    for (i, mode, via) in &paths {
        let mut watched = vec![("clusternet-hub", hub_pid)];
        if *i == 0 {
            watched.push(("clusternet-agent", agent_pid));
        }
        watched.push(("parent kube-apiserver", parent_pid));
        let forward = PortForward::start(via, NS, "slow", SLOW_PORT).await?;
        let mut conn = tokio::net::TcpStream::connect(forward.local).await?;
        let (got, rss) = slow_read(&mut conn, slow_seconds, &watched).await?;
        print_rss(
            &format!(
                "child{} {mode}, port-forward of {} MiB",
                i + 1,
                slow_bytes / MIB
            ),
            got,
            slow_bytes,
            slow_seconds,
            &rss,
        );
        drop(conn);
        drop(forward);
        let (_logs, mut stdout) = spawn_logs(via, "slow")?;
        let (got, rss) = slow_read(&mut stdout, slow_seconds, &watched).await?;
        print_rss(
            &format!("child{} {mode}, logs of 100 MiB", i + 1),
            got,
            100 * MIB,
            slow_seconds,
            &rss,
        );
    }
    Ok(())
}

fn row(what: &str, direct: Transfer, hub: Transfer) {
    println!(
        "{what:<44} {:>6.0} MiB/s {:>6.0} MiB/s {:>7.2}× | {:>7.1} ms {:>7.1} ms",
        direct.mib_per_s,
        hub.mib_per_s,
        hub.mib_per_s / direct.mib_per_s,
        direct.first_byte.as_secs_f64() * 1000.0,
        hub.first_byte.as_secs_f64() * 1000.0,
    );
}
