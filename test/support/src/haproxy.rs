//! HAProxy (installed by `make haproxy` from Debian's packages) standing in for the hub's
//! Service in front of hub replicas: TCP mode (TLS passes through: every replica serves the
//! same certificate), round robin, a health check every 200 ms, and a failed connect retried
//! on another replica. Runs in the foreground (`-db`) as a child of the test, killed on drop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The HAProxy binary.
pub fn haproxy_bin() -> Result<PathBuf> {
    for candidate in [
        "/usr/sbin/haproxy",
        "/usr/bin/haproxy",
        "/usr/local/sbin/haproxy",
    ] {
        if Path::new(candidate).is_file() {
            return Ok(candidate.into());
        }
    }
    bail!("haproxy not found: install it with `make haproxy` (make test and make up do this)")
}

/// A running HAProxy.
#[derive(Debug)]
pub struct HaProxy {
    /// Where clients connect (127.0.0.1, OS-chosen port).
    pub addr: SocketAddr,
    /// Its configuration file.
    pub config: PathBuf,
    /// Its log (stdout and stderr).
    pub log: PathBuf,
    child: Child,
}

/// The configuration balancing `frontend` over `backends`.
pub fn config(frontend: SocketAddr, backends: &[SocketAddr]) -> String {
    let mut cfg = String::from(
        "global\n  maxconn 4000\n\ndefaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1h\n  timeout server 1h\n  timeout tunnel 1h\n  retries 3\n  option redispatch 1\n\n",
    );
    cfg.push_str(&format!(
        "frontend hub\n  bind {frontend}\n  default_backend replicas\n\nbackend replicas\n  balance roundrobin\n  default-server check inter 200ms fall 1 rise 1 on-marked-down shutdown-sessions\n"
    ));
    for (i, b) in backends.iter().enumerate() {
        cfg.push_str(&format!("  server hub{i} {b}\n"));
    }
    cfg
}

impl HaProxy {
    /// Starts HAProxy in `dir` on a free local port in front of `backends`.
    pub async fn start(dir: &Path, backends: &[SocketAddr]) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = crate::free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let config_path = dir.join("haproxy.cfg");
        std::fs::write(&config_path, config(addr, backends))?;
        let log = dir.join("haproxy.log");
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let child = Command::new(haproxy_bin()?)
            .arg("-f")
            .arg(&config_path)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .context("starting haproxy")?;
        let mut proxy = Self {
            addr,
            config: config_path,
            log,
            child,
        };
        let started = std::time::Instant::now();
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(proxy);
            }
            if let Ok(Some(status)) = proxy.child.try_wait() {
                bail!(
                    "haproxy exited ({status}):\n{}",
                    std::fs::read_to_string(&proxy.log).unwrap_or_default()
                );
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("haproxy did not listen on {addr} within 10s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
