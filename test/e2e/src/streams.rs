//! Long-running kubectl commands (`logs -f`, `port-forward`, `attach`, `exec` that waits) and
//! local TCP servers for KWOK's port-forward rules, shared by the workloads suite and benchmark.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// How kubectl carries exec, attach, cp and port-forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// kubectl's default: WebSocket (`v5.channel.k8s.io`; port-forward tunnels SPDY inside it).
    WebSocket,
    /// `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`, `KUBECTL_PORT_FORWARD_WEBSOCKETS=false`.
    Spdy,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::WebSocket => "websocket",
            Protocol::Spdy => "spdy",
        })
    }
}

impl Protocol {
    /// Checks in the stderr of a `kubectl -v=7` exec/attach/cp (`port_forward` false) or
    /// port-forward (`true`) that the stream went over this protocol — kubectl silently falls
    /// back from WebSocket to SPDY when the upgrade fails, so output alone does not tell.
    pub fn check(self, verbose_stderr: &str, port_forward: bool) -> Result<()> {
        let websocket = if port_forward {
            "negotiated protocol: portforward.k8s.io"
        } else {
            "\"Subprotocol negotiated\" protocol=\"v5.channel.k8s.io\""
        };
        let spdy = verbose_stderr.contains("verb=\"POST\"")
            && verbose_stderr.contains("101 Switching Protocols");
        let ok = match self {
            Protocol::WebSocket => verbose_stderr.contains(websocket) && !spdy,
            Protocol::Spdy => spdy && !verbose_stderr.contains(websocket),
        };
        if !ok {
            bail!("the stream did not go over {self}; kubectl said:\n{verbose_stderr}");
        }
        Ok(())
    }
}

/// A spawned command whose stdout lines arrive on a channel and whose stderr is collected.
pub struct Running {
    /// The process (killed when dropped).
    pub child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    /// Spawns `cmd` (stdout and stderr must be piped).
    pub fn spawn(mut cmd: tokio::process::Command) -> Result<Self> {
        let mut child = cmd.spawn().context("spawning")?;
        let stdout = child.stdout.take().context("stdout not piped")?;
        let stderr = child.stderr.take().context("stderr not piped")?;
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let collected = Arc::new(Mutex::new(String::new()));
        let sink = collected.clone();
        tokio::spawn(async move {
            let mut stderr = stderr;
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        Ok(Self {
            child,
            lines,
            stderr: collected,
        })
    }

    /// Waits up to `timeout` for a stdout line containing `needle`.
    pub async fn line_containing(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let found = tokio::time::timeout(timeout, async {
            while let Some(line) = self.lines.recv().await {
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => Ok(line),
            Ok(None) => bail!("output ended before {needle:?}; stderr: {}", self.stderr()),
            Err(_) => bail!(
                "{needle:?} not seen within {timeout:?}; stderr: {}",
                self.stderr()
            ),
        }
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// `kubectl port-forward` running, with the local address it listens on.
pub struct PortForward {
    /// The kubectl process.
    pub running: Running,
    /// `127.0.0.1:<port>` kubectl forwards from.
    pub local: SocketAddr,
}

impl PortForward {
    /// Starts `kubectl -v=7 port-forward --address=127.0.0.1 -n <namespace> <pod> :<port>` and
    /// waits until it listens.
    pub async fn start(
        kubectl: &clusternet_test_support::Kubectl,
        namespace: &str,
        pod: &str,
        port: u16,
    ) -> Result<Self> {
        let cmd = kubectl.command([
            "-v=7",
            "port-forward",
            "--address=127.0.0.1",
            "-n",
            namespace,
            pod,
            &format!(":{port}"),
        ])?;
        let mut running = Running::spawn(cmd)?;
        // "Forwarding from 127.0.0.1:41234 -> 8080"
        let line = running
            .line_containing("Forwarding from 127.0.0.1:", Duration::from_secs(30))
            .await?;
        let local = line
            .split_whitespace()
            .nth(2)
            .context("address in the Forwarding line")?
            .parse()
            .with_context(|| format!("parsing {line:?}"))?;
        Ok(Self { running, local })
    }
}

/// A TCP server on 127.0.0.1 that echoes every connection's bytes back.
pub async fn echo_server() -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = conn.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    Ok((addr, task))
}

/// A TCP server on 127.0.0.1 that sends `bytes` bytes (a repeating pattern) on every
/// connection, then closes it.
pub async fn source_server(bytes: u64) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let chunk = pattern(64 * 1024);
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    if conn.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                    left -= n as u64;
                }
                let _ = conn.shutdown().await;
            });
        }
    });
    Ok((addr, task))
}

/// `len` bytes that are not all alike (so a shifted or dropped chunk shows).
pub fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// Resident set size of `pid` in KiB (from /proc), or 0 if it is gone.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Whether every listening TCP socket on `port` (IPv4 and IPv6) is bound to loopback.
pub fn listens_on_loopback_only(port: u16) -> Result<bool> {
    let mut seen = false;
    for (file, loopback) in [
        ("/proc/net/tcp", "0100007F"),
        ("/proc/net/tcp6", "00000000000000000000000001000000"),
    ] {
        let Ok(table) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in table.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (f.get(1), f.get(3)) else {
                continue;
            };
            let Some((ip, p)) = local.split_once(':') else {
                continue;
            };
            // State 0A is LISTEN.
            if *state == "0A" && u16::from_str_radix(p, 16) == Ok(port) {
                seen = true;
                if ip != loopback {
                    return Ok(false);
                }
            }
        }
    }
    if !seen {
        bail!("nothing listens on port {port}");
    }
    Ok(true)
}
