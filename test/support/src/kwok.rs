//! Workloads in the local child clusters: kube-scheduler and simulated nodes from KWOK
//! (`controlplane run --kwok`), so pods are scheduled, get IPs from the cluster's pod CIDR and
//! turn Running and Ready; and KWOK's rules for what `kubectl exec`, `logs`, `attach` and
//! `port-forward` reach (see `test/controlplane/kwok.go` for the cluster-wide defaults).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::{ControlPlane, wait_for};

/// The annotation KWOK selects its nodes by (`--manage-nodes-with-annotation-selector`).
pub const NODE_ANNOTATION: (&str, &str) = ("kwok.x-k8s.io/node", "fake");

/// The label every simulated node carries (`type=kwok`, as in KWOK's docs), for node selectors.
pub const NODE_LABEL: (&str, &str) = ("type", "kwok");

/// Per-cluster settings of the workload simulation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workloads {
    /// Where pod IPs come from (KWOK's `--cidr`).
    pub pod_cidr: String,
}

impl Workloads {
    /// The settings of the `n`-th child cluster (1-based): pod CIDR `10.<100+n>.0.0/16`, apart
    /// from the other children's and from the service range 10.96.0.0/16.
    pub fn for_child(n: usize) -> Self {
        Self {
            pod_cidr: format!("10.{}.0.0/16", 100 + n),
        }
    }
}

/// What one simulated node offers (`status.capacity` = `status.allocatable`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeCapacity {
    /// CPUs, as a quantity (`"4"`, `"500m"`).
    pub cpu: String,
    /// Memory, as a quantity (`"8Gi"`).
    pub memory: String,
    /// Pod slots.
    pub pods: u32,
}

impl Default for NodeCapacity {
    /// 4 CPUs, 8 GiB, 110 pods (the kubelet's default pod limit).
    fn default() -> Self {
        Self::new("4", "8Gi", 110)
    }
}

impl NodeCapacity {
    /// A capacity.
    pub fn new(cpu: &str, memory: &str, pods: u32) -> Self {
        Self {
            cpu: cpu.into(),
            memory: memory.into(),
            pods,
        }
    }
}

impl std::fmt::Display for NodeCapacity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} CPU, {} memory, {} pods",
            self.cpu, self.memory, self.pods
        )
    }
}

/// A number of identical simulated nodes per child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePool {
    /// How many (`kwok-node-0` … `kwok-node-<count-1>`).
    pub count: usize,
    /// What each offers.
    pub capacity: NodeCapacity,
}

impl NodePool {
    /// `count` nodes of the default capacity.
    pub fn of(count: usize) -> Self {
        Self {
            count,
            capacity: NodeCapacity::default(),
        }
    }
}

/// The name of the `i`-th node of a [`NodePool`].
pub fn pool_node_name(i: usize) -> String {
    format!("kwok-node-{i}")
}

/// The Node manifest of a simulated node served by KWOK on `port`. Its status is kept on create.
/// KWOK's node-initialize stage adds the conditions (Ready), the node info and the address
/// (InternalIP 127.0.0.1, KWOK's `--node-ip`) — the address must not be given here: with an
/// InternalIP but no Hostname the stage (v0.8.0) replaces the addresses with an empty list.
/// kube-apiserver dials `https://<InternalIP>:<kubelet port>` for exec/logs/port-forward.
pub fn node_manifest(name: &str, capacity: &NodeCapacity, port: u16) -> serde_json::Value {
    let resources =
        json!({"cpu": capacity.cpu, "memory": capacity.memory, "pods": capacity.pods.to_string()});
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {NODE_ANNOTATION.0: NODE_ANNOTATION.1},
            "labels": {
                NODE_LABEL.0: NODE_LABEL.1,
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        },
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        },
    })
}

impl ControlPlane {
    /// The port of KWOK's kubelet-like server (127.0.0.1), when this cluster runs workloads.
    pub fn kwok_port(&self) -> Option<u16> {
        self.ready_info().kwok_port
    }

    /// Where `kubectl exec` runs commands in this cluster's pods (a directory on this host):
    /// relative paths in `exec` and `cp` are relative to it.
    pub fn kwok_root(&self) -> PathBuf {
        self.dir().join("kwok").join("root")
    }

    fn require_kwok(&self) -> Result<u16> {
        self.kwok_port().with_context(|| {
            format!(
                "{} runs no workloads (start it with Workloads / EnvOptions::workloads)",
                self.name()
            )
        })
    }

    /// Adds a simulated node (untainted, like every node here) and waits until it is Ready.
    pub async fn add_kwok_node(&self, name: &str, capacity: &NodeCapacity) -> Result<()> {
        let port = self.require_kwok()?;
        self.create_node(name, &node_manifest(name, capacity, port))
            .await?;
        self.wait_nodes_ready(&[name.to_string()]).await
    }

    /// Makes the simulated nodes exactly `kwok-node-0..count` with `capacity`: creates the
    /// missing ones, points existing ones at KWOK's current port, and deletes the ones beyond
    /// `count` and then their pods (their controllers recreate them on the nodes left).
    /// Returns the node names.
    pub async fn ensure_kwok_nodes(&self, pool: &NodePool) -> Result<Vec<String>> {
        let port = self.require_kwok()?;
        let existing = self
            .kubectl([
                "get",
                "nodes",
                "-o",
                "jsonpath={range .items[*]}{.metadata.name} {.metadata.annotations.kwok\\.x-k8s\\.io/node} {.status.daemonEndpoints.kubeletEndpoint.Port}{\"\\n\"}{end}",
            ])
            .await?;
        let wanted: Vec<String> = (0..pool.count).map(pool_node_name).collect();
        let mut present = Vec::new();
        for line in existing.lines() {
            // Name, annotation value, port; nodes without the annotation are not KWOK's.
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, annotation, rest @ ..] = fields.as_slice() else {
                continue;
            };
            if *annotation != NODE_ANNOTATION.1 {
                continue;
            }
            let (name, node_port) = (*name, rest.first().copied());
            if !wanted.iter().any(|w| w == name) {
                if name.starts_with("kwok-node-") {
                    self.kubectl(["delete", "node", name]).await?;
                }
                continue;
            }
            if node_port != Some(port.to_string().as_str()) {
                // KWOK restarted on another port; only its 10-minute heartbeat would notice.
                let patch =
                    json!({"status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}});
                self.kubectl([
                    "patch",
                    "node",
                    name,
                    "--subresource=status",
                    "--type=merge",
                    "-p",
                    &patch.to_string(),
                ])
                .await?;
            }
            present.push(name.to_string());
        }
        // Pods still bound to a removed node: nothing runs them any more, and a graceful
        // deletion would never finish. Their controllers recreate them on the nodes left.
        let pods = self
            .kubectl([
                "get",
                "pods",
                "-A",
                "-o",
                "jsonpath={range .items[*]}{.metadata.namespace} {.metadata.name} {.spec.nodeName}{\"\\n\"}{end}",
            ])
            .await?;
        for line in pods.lines() {
            if let [namespace, pod, node] = line.split_whitespace().collect::<Vec<_>>()[..]
                && node.starts_with("kwok-node-")
                && !wanted.iter().any(|w| w == node)
            {
                self.kubectl([
                    "delete",
                    "pod",
                    "-n",
                    namespace,
                    pod,
                    "--force",
                    "--grace-period=0",
                ])
                .await?;
            }
        }
        for name in &wanted {
            if !present.contains(name) {
                self.create_node(name, &node_manifest(name, &pool.capacity, port))
                    .await?;
            }
        }
        self.wait_nodes_ready(&wanted).await?;
        Ok(wanted)
    }

    /// Waits until the named nodes report Ready=True.
    pub async fn wait_nodes_ready(&self, names: &[String]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        wait_for(
            &format!("{} nodes {names:?} Ready", self.name()),
            Duration::from_secs(60),
            Duration::from_millis(100),
            || async {
                let out = self
                    .kubectl([
                        "get",
                        "nodes",
                        "-o",
                        "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
                    ])
                    .await?;
                let ready = names
                    .iter()
                    .all(|n| out.lines().any(|l| l == format!("{n}=True")));
                Ok(ready.then_some(()))
            },
        )
        .await
    }

    /// Makes `kubectl logs` of pod `namespace/pod` read `file` (KWOK `Logs`, named after the
    /// pod; every container). The file holds CRI log lines, see [`CriLog`].
    pub async fn kwok_pod_logs(&self, namespace: &str, pod: &str, file: &Path) -> Result<()> {
        self.kwok_rule(
            "Logs",
            namespace,
            pod,
            json!({"logs": [{"logsFile": file}]}),
        )
        .await
    }

    /// Makes `kubectl attach` to pod `namespace/pod` follow `file` from its end (KWOK `Attach`).
    pub async fn kwok_pod_attach(&self, namespace: &str, pod: &str, file: &Path) -> Result<()> {
        self.kwok_rule(
            "Attach",
            namespace,
            pod,
            json!({"attaches": [{"logsFile": file}]}),
        )
        .await
    }

    /// Makes `kubectl port-forward` to `pod_port` of pod `namespace/pod` reach `target` on this
    /// host (KWOK `PortForward`).
    pub async fn kwok_pod_port_forward(
        &self,
        namespace: &str,
        pod: &str,
        pod_port: u16,
        target: std::net::SocketAddr,
    ) -> Result<()> {
        self.kwok_rule(
            "PortForward",
            namespace,
            pod,
            json!({"forwards": [{"ports": [pod_port], "target": {"address": target.ip().to_string(), "port": target.port()}}]}),
        )
        .await
    }

    async fn kwok_rule(
        &self,
        kind: &str,
        namespace: &str,
        pod: &str,
        spec: serde_json::Value,
    ) -> Result<()> {
        self.require_kwok()?;
        let rule = json!({
            "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": kind,
            "metadata": {"name": pod, "namespace": namespace},
            "spec": spec,
        });
        self.kubectl_cmd()
            .run_with_stdin(["apply", "-f", "-"], Some(&rule.to_string()))
            .await
            .with_context(|| format!("KWOK {kind} for pod {namespace}/{pod}"))?;
        Ok(())
    }

    /// Waits until pods matching `selector` in `namespace` number `count`, all Running and
    /// Ready with a pod IP; returns `name ip node` per pod.
    pub async fn wait_pods_running(
        &self,
        namespace: &str,
        selector: &str,
        count: usize,
    ) -> Result<Vec<(String, String, String)>> {
        wait_for(
            &format!("{count} pods {selector} Running and Ready in {}/{namespace}", self.name()),
            Duration::from_secs(60),
            Duration::from_millis(100),
            || async {
                let out = self
                    .kubectl([
                        "get",
                        "pods",
                        "-n",
                        namespace,
                        "-l",
                        selector,
                        "-o",
                        "jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.status.conditions[?(@.type==\"Ready\")].status} {.status.podIP} {.spec.nodeName}{\"\\n\"}{end}",
                    ])
                    .await?;
                let pods: Vec<(String, String, String)> = out
                    .lines()
                    .filter_map(|l| {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        (f.len() == 5 && f[1] == "Running" && f[2] == "True")
                            .then(|| (f[0].to_string(), f[3].to_string(), f[4].to_string()))
                    })
                    .collect();
                Ok((pods.len() == count && out.lines().count() == count).then_some(pods))
            },
        )
        .await
    }
}

/// A log file in CRI format (what the kubelet writes and KWOK reads):
/// `<RFC 3339 time> <stdout|stderr> F <line>` per line.
#[derive(Debug)]
pub struct CriLog {
    path: PathBuf,
}

impl CriLog {
    /// Creates (or truncates) the file.
    pub fn create(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, "")?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `lines` as stdout lines.
    pub fn append<S: AsRef<str>>(&self, lines: &[S]) -> Result<()> {
        let mut out = String::new();
        for line in lines {
            let line = line.as_ref();
            if line.contains('\n') {
                bail!("a CRI log line cannot contain a newline: {line:?}");
            }
            out.push_str(&cri_line(line));
        }
        let mut file = std::fs::OpenOptions::new().append(true).open(&self.path)?;
        file.write_all(out.as_bytes())?;
        file.flush()?;
        Ok(())
    }
}

/// One CRI log line (with its newline) for `text` on stdout, stamped now.
pub fn cri_line(text: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{} stdout F {text}\n", rfc3339_nanos(now))
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` for a time since the Unix epoch.
fn rfc3339_nanos(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since_epoch.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_timestamps() {
        assert_eq!(
            rfc3339_nanos(Duration::new(0, 5)),
            "1970-01-01T00:00:00.000000005Z"
        );
        // 2024-02-29T23:59:59Z, a leap day.
        assert_eq!(
            rfc3339_nanos(Duration::new(1_709_251_199, 123_000_000)),
            "2024-02-29T23:59:59.123000000Z"
        );
        assert!(cri_line("hello").ends_with(" stdout F hello\n"));
    }

    #[test]
    fn node_manifest_points_at_kwok() {
        let node = node_manifest("kwok-node-0", &NodeCapacity::new("2", "4Gi", 20), 4321);
        assert_eq!(
            node["metadata"]["annotations"]["kwok.x-k8s.io/node"],
            "fake"
        );
        assert_eq!(node["status"]["allocatable"]["cpu"], "2");
        assert_eq!(node["status"]["capacity"]["pods"], "20");
        assert_eq!(
            node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"],
            4321
        );
        assert!(node["status"].get("addresses").is_none());
    }
}
