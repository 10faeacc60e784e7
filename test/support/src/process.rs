//! Processes that outlive the command that started them (`make up`): each one has a pid file
//! `<dir>/<component>.pid` and a log `<dir>/<component>.log`; `make down` stops every pid file
//! it finds, checking first that the pid still belongs to the program it started.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

/// A process started in the background with a pid file.
#[derive(Clone, Debug)]
pub struct Detached {
    /// Its pid.
    pub pid: u32,
    /// Its pid file.
    pub pid_file: PathBuf,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

/// Starts `program args...` detached from this process (its own process group, stdin from
/// /dev/null, output appended to `<dir>/<component>.log`) and records its pid.
pub fn spawn_detached(
    dir: &Path,
    component: &str,
    program: &Path,
    args: &[String],
) -> Result<Detached> {
    use std::os::unix::process::CommandExt;
    std::fs::create_dir_all(dir)?;
    let log = dir.join(format!("{component}.log"));
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)?;
    let err = out.try_clone()?;
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let pid_file = dir.join(format!("{component}.pid"));
    std::fs::write(
        &pid_file,
        format!("{}\n{}\n", child.id(), program.display()),
    )?;
    Ok(Detached {
        pid: child.id(),
        pid_file,
        log,
    })
}

/// The pid in a pid file, if the process is alive and still runs the program recorded there.
pub fn running_pid(pid_file: &Path) -> Option<u32> {
    let content = std::fs::read_to_string(pid_file).ok()?;
    let mut lines = content.lines();
    let pid: u32 = lines.next()?.trim().parse().ok()?;
    let program = lines.next().unwrap_or("");
    let name = Path::new(program)
        .file_name()?
        .to_string_lossy()
        .into_owned();
    (alive(pid) && cmdline(pid).contains(&name)).then_some(pid)
}

/// Stops the process of a pid file (SIGTERM, SIGKILL after `grace`) and removes the file.
/// Returns the pid if one was running.
pub fn stop(pid_file: &Path, grace: Duration) -> Option<u32> {
    let pid = running_pid(pid_file);
    if let Some(pid) = pid {
        signal(pid, "TERM");
        let deadline = std::time::Instant::now() + grace;
        while alive(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if alive(pid) {
            signal(pid, "KILL");
        }
    }
    let _ = std::fs::remove_file(pid_file);
    pid
}

/// Every `*.pid` file directly inside `dir`.
pub fn pid_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|ext| ext == "pid"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .unwrap_or_default()
}

/// Sends a signal by name (`TERM`, `KILL`, `STOP`, `CONT`) with the system's `kill`.
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Whether the process of `pid_file` runs an older build of `binary` than the one on disk
/// (the pid file is written when the process starts).
pub fn outdated(pid_file: &Path, binary: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((modified(pid_file), modified(binary)), (Some(started), Some(built)) if built > started)
}

/// The pid of a running, up-to-date `binary` behind `pid_file`; an outdated one is stopped
/// first (so the caller starts the new build).
pub fn running_current(pid_file: &Path, binary: &Path) -> Option<u32> {
    let pid = running_pid(pid_file)?;
    if outdated(pid_file, binary) {
        stop(pid_file, Duration::from_secs(10));
        return None;
    }
    Some(pid)
}

/// How many established TCP connections process `pid` holds to `port` (from /proc: the
/// sockets among its file descriptors whose remote end is that port).
pub fn connections_to(pid: u32, port: u16) -> usize {
    let inodes: std::collections::BTreeSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut n = 0;
    for file in ["tcp", "tcp6"] {
        let Ok(table) = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")) else {
            continue;
        };
        for line in table.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(state), Some(inode)) = (f.get(2), f.get(3), f.get(9)) else {
                continue;
            };
            let remote_port = remote
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            // State 01 is ESTABLISHED.
            if *state == "01" && remote_port == Some(port) && inodes.contains(*inode) {
                n += 1;
            }
        }
    }
    n
}
