//! Child clusters join: agents register with a bootstrap token, the controller-manager approves,
//! heartbeats make them Ready, restarts keep their identity, silence makes them not ready.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::jiff;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clusternet_test_support::clusternet::{self, Mode};
use clusternet_test_support::{ControlPlane, Kubectl, paths, wait_for};

/// `kubectl get mcls -A` rows as (namespace, name, cluster id, sync mode, kubernetes, status).
async fn managed_clusters(parent: &ControlPlane) -> Result<Vec<Vec<String>>> {
    let out = parent.kubectl(["get", "mcls", "-A"]).await?;
    let mut lines = out.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    // Clusternet's printer columns (CLUSTER TYPE and AGENT VERSION are priority 1).
    assert_eq!(
        header,
        [
            "NAMESPACE",
            "NAME",
            "CLUSTER",
            "ID",
            "SYNC",
            "MODE",
            "KUBERNETES",
            "STATUS",
            "AGE"
        ],
        "{out}"
    );
    Ok(lines
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect())
}

#[tokio::test]
async fn children_register_become_ready_and_keep_their_identity() -> Result<()> {
    let [parent, child1, child2] = ControlPlane::start_many(["parent", "child1", "child2"]).await?;
    let dir = paths::scratch_dir("registration")?;
    clusternet::install_crds(&parent).await?;
    clusternet::apply_deploy(&parent, "hub/00-namespaces.yaml").await?;
    clusternet::apply_deploy(&parent, "hub/40-bootstrap-rbac.yaml").await?;
    let token = clusternet::prepare_parent(&parent).await?;
    let _cm =
        clusternet::install_controller_manager(&parent, &dir.path().join("cm"), Mode::Owned, &[])
            .await?;

    let started = Instant::now();
    let mut agent1 = clusternet::install_agent(
        &child1,
        &parent,
        &token,
        &dir.path().join("agent1"),
        Mode::Owned,
        &[],
    )
    .await?;
    let _agent2 = clusternet::install_agent(
        &child2,
        &parent,
        &token,
        &dir.path().join("agent2"),
        Mode::Owned,
        &[],
    )
    .await?;
    let rows = wait_for(
        "both children Ready in kubectl get mcls -A",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            let rows = managed_clusters(&parent).await?;
            let ready = rows
                .iter()
                .filter(|r| r.get(5).map(String::as_str) == Some("True"))
                .count();
            Ok((ready == 2).then_some(rows))
        },
    )
    .await?;
    let elapsed = started.elapsed();
    eprintln!("agents started → both ManagedClusters Ready in {elapsed:?}");
    eprintln!(
        "{}",
        parent.kubectl(["get", "mcls", "-A", "-o", "wide"]).await?
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    for child in ["child1", "child2"] {
        let row = rows
            .iter()
            .find(|r| r[1] == child)
            .with_context(|| format!("{child} missing: {rows:?}"))?;
        assert!(
            row[0].starts_with("clusternet-"),
            "dedicated namespace: {row:?}"
        );
        assert_eq!(row[1], child);
        assert_eq!(row[3], "Dual");
        assert_eq!(row[4], "v1.36.3");
    }

    // The child keeps the credentials in Secret parent-cluster, as Clusternet's agent does.
    let keys = child1
        .kubectl([
            "get",
            "secret",
            "parent-cluster",
            "-n",
            "clusternet-system",
            "-o",
            "go-template={{range $k, $v := .data}}{{$k}} {{end}}",
        ])
        .await?;
    assert_eq!(
        keys.split_whitespace().collect::<Vec<_>>(),
        ["apiserver-advertise-url", "ca.crt", "namespace", "token"]
    );

    // A restart reuses the stored credentials and keeps the same ManagedCluster.
    let before = parent
        .kubectl([
            "get",
            "mcls",
            "-A",
            "-o",
            "jsonpath={range .items[*]}{.metadata.uid} {end}",
        ])
        .await?;
    agent1.stop();
    let agent1_dir = dir.path().join("agent1");
    agent1 =
        clusternet::install_agent(&child1, &parent, &token, &agent1_dir, Mode::Owned, &[]).await?;
    wait_for(
        "the restarted agent to report again",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            Ok(std::fs::read_to_string(&agent1.log)?
                .matches("registered with the parent")
                .count()
                .ge(&2)
                .then_some(()))
        },
    )
    .await?;
    let after = parent
        .kubectl([
            "get",
            "mcls",
            "-A",
            "-o",
            "jsonpath={range .items[*]}{.metadata.uid} {end}",
        ])
        .await?;
    assert_eq!(before, after, "the same ManagedClusters, no new ones");
    assert_eq!(
        parent
            .kubectl(["get", "clsrr", "-o", "name"])
            .await?
            .lines()
            .count(),
        2
    );
    let log = std::fs::read_to_string(&agent1.log)?;
    assert!(
        !log.contains("registering with the bootstrap token"),
        "the restart must reuse stored credentials:\n{log}"
    );

    // The bootstrap token can register a cluster and nothing more.
    let token_kubeconfig = dir.path().join("bootstrap.kubeconfig");
    clusternet::write_token_kubeconfig(
        &token_kubeconfig,
        parent.server(),
        &parent.pki("ca.crt"),
        &token.token,
        "bootstrap",
    )?;
    let as_token = Kubectl::new(&token_kubeconfig);
    for args in [
        vec!["get", "secrets", "-A"],
        vec!["get", "secrets", "-n", "kube-system"],
        vec!["get", "mcls", "-A"],
        vec!["get", "clsrr"],
        vec!["create", "namespace", "evil"],
    ] {
        let out = as_token.output(&args, None).await?;
        assert!(
            !out.success && out.stderr.contains("Forbidden"),
            "bootstrap token: kubectl {args:?}: {}{}",
            out.stdout,
            out.stderr
        );
    }
    assert!(
        as_token
            .output(
                ["auth", "can-i", "create", "clusterregistrationrequests"],
                None
            )
            .await?
            .stdout
            .starts_with("yes")
    );
    Ok(())
}

#[tokio::test]
async fn a_silent_cluster_goes_not_ready_and_recovers() -> Result<()> {
    let [parent, child] = ControlPlane::start_many(["parent", "child1"]).await?;
    let dir = paths::scratch_dir("lifecycle")?;
    clusternet::install_crds(&parent).await?;
    clusternet::apply_deploy(&parent, "hub/00-namespaces.yaml").await?;
    clusternet::apply_deploy(&parent, "hub/40-bootstrap-rbac.yaml").await?;
    let token = clusternet::prepare_parent(&parent).await?;
    let _cm =
        clusternet::install_controller_manager(&parent, &dir.path().join("cm"), Mode::Owned, &[])
            .await?;
    // A 2 s heartbeat: the Lease holds 4 × 2 s.
    let fast = [
        "--cluster-status-update-frequency=2s".to_string(),
        "--cluster-status-collect-frequency=1s".to_string(),
    ];
    let mut agent = clusternet::install_agent(
        &child,
        &parent,
        &token,
        &dir.path().join("agent"),
        Mode::Owned,
        &fast,
    )
    .await?;
    let status = |parent: &ControlPlane| {
        let kubectl = parent.kubectl_cmd();
        async move {
            let out = kubectl
                .run(["get", "mcls", "-A", "-o", "jsonpath={.items[0].status.conditions[?(@.type==\"Ready\")].status}/{.items[0].status.conditions[?(@.type==\"Ready\")].reason}/{.items[0].spec.taints[*].key}"])
                .await?;
            anyhow::Ok(out)
        }
    };
    wait_for(
        "Ready",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async { Ok(status(&parent).await?.starts_with("True/").then_some(())) },
    )
    .await?;

    // Liveness rides on the heartbeat Lease: renewed every 2 s, while the unchanged status is
    // not written again (the lease's first renewal is followed by one status write, which
    // announces the longer status period).
    let lease = || async {
        let out = parent
            .kubectl([
                "get",
                "lease",
                "-A",
                "-l",
                "clusters.clusternet.io/cluster-id",
                "-o",
                "jsonpath={.items[0].spec.renewTime}",
            ])
            .await?;
        anyhow::Ok(out)
    };
    wait_for(
        "the heartbeat Lease",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async { Ok((!lease().await?.is_empty()).then_some(())) },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let written = || {
        parent.kubectl(["get", "mcls", "-A", "-o", "jsonpath={.items[0].metadata.resourceVersion} {.items[0].status.heartbeatFrequencySeconds}"])
    };
    let (before, renewed) = (written().await?, lease().await?);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (after, renewed_again) = (written().await?, lease().await?);
    assert_eq!(
        before, after,
        "an unchanged status is not rewritten every heartbeat"
    );
    assert!(
        before.ends_with(" 180"),
        "the status period it announces: {before}"
    );
    assert_ne!(
        renewed, renewed_again,
        "the Lease is renewed every heartbeat"
    );

    agent.stop();
    let stopped = Instant::now();
    let seen = wait_for(
        "the cluster to go not ready",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            // The condition and the taint are one write; wait for both anyway.
            let s = status(&parent).await?;
            Ok(
                (s == "Unknown/ClusterStatusUnknown/clusters.clusternet.io/unschedulable")
                    .then_some(s),
            )
        },
    )
    .await?;
    let elapsed = stopped.elapsed();
    eprintln!("agent stopped → Ready=Unknown after {elapsed:?}: {seen}");
    // Not before the grace period: measured from the last renewal the parent recorded (a
    // loaded machine may have delayed that renewal, so not from when the agent stopped).
    let went = parent
        .kubectl([
            "get",
            "mcls",
            "-A",
            "-o",
            "jsonpath={.items[0].status.conditions[?(@.type==\"Ready\")].lastTransitionTime}",
        ])
        .await?;
    let last: jiff::Timestamp = lease().await?.parse()?;
    let went: jiff::Timestamp = went.parse()?;
    let after = went.duration_since(last);
    // Timestamps have second resolution: 8 s of grace shows as at least 7 s.
    if after < jiff::SignedDuration::from_secs(7) {
        bail!("went not ready {after:?} after the last heartbeat, before the 8 s Lease ran out");
    }
    let healthz = parent
        .kubectl([
            "get",
            "mcls",
            "-A",
            "-o",
            "jsonpath={.items[0].status.healthz}",
        ])
        .await?;
    assert_eq!(healthz, "false");

    // Back: Ready again, taint removed.
    let _agent = clusternet::install_agent(
        &child,
        &parent,
        &token,
        &dir.path().join("agent"),
        Mode::Owned,
        &fast,
    )
    .await?;
    let back = Instant::now();
    wait_for(
        "Ready again without the taint",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async { Ok((status(&parent).await? == "True/ManagedClusterReady/").then_some(())) },
    )
    .await
    .context("recovery")?;
    eprintln!("agent restarted → Ready again after {:?}", back.elapsed());
    Ok(())
}

/// kube-system Pods shaped as kubeadm's static control-plane pods (mirror pods: objects only,
/// no node runs them), carrying the flags Clusternet's agent reads the CIDRs from.
const CONTROL_PLANE_PODS: &str = r#"
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata:
    name: kube-apiserver-control-plane
    namespace: kube-system
    labels: {component: kube-apiserver, tier: control-plane}
  spec:
    automountServiceAccountToken: false
    containers:
    - name: kube-apiserver
      image: registry.k8s.io/kube-apiserver:v1.36.0
      command:
      - kube-apiserver
      - --advertise-address=172.18.0.2
      - --allow-privileged=true
      - --service-account-issuer=https://kubernetes.default.svc.cluster.local
      - --service-cluster-ip-range=10.96.0.0/12
      - --tls-cert-file=/etc/kubernetes/pki/apiserver.crt
- apiVersion: v1
  kind: Pod
  metadata:
    name: kube-controller-manager-control-plane
    namespace: kube-system
    labels: {component: kube-controller-manager, tier: control-plane}
  spec:
    automountServiceAccountToken: false
    containers:
    - name: kube-controller-manager
      image: registry.k8s.io/kube-controller-manager:v1.36.0
      command:
      - kube-controller-manager
      - --allocate-node-cidrs=true
      - --cluster-cidr=10.244.0.0/16
      - --leader-elect=true
      - --service-cluster-ip-range=10.96.0.0/12
"#;

/// `status.serviceCIDR` / `status.clusterCIDR` as Go's agent discovers them: from the
/// environment (`SERVICE_CIDR`, `CLUSTER_CIDR`) while the child has no control-plane pods, then
/// from the flags of its `component=kube-apiserver` / `kube-controller-manager` pods, which
/// come first.
#[tokio::test]
async fn the_agent_reports_service_and_cluster_cidrs() -> Result<()> {
    let [parent, child] = ControlPlane::start_many(["parent", "child1"]).await?;
    let dir = paths::scratch_dir("cidrs")?;
    clusternet::install_crds(&parent).await?;
    clusternet::apply_deploy(&parent, "hub/00-namespaces.yaml").await?;
    clusternet::apply_deploy(&parent, "hub/40-bootstrap-rbac.yaml").await?;
    let token = clusternet::prepare_parent(&parent).await?;
    let _cm =
        clusternet::install_controller_manager(&parent, &dir.path().join("cm"), Mode::Owned, &[])
            .await?;

    // The agent as install_agent starts it, plus the environment of its Deployment.
    clusternet::apply_deploy(&child, "agent/00-namespace.yaml").await?;
    clusternet::apply_deploy(&child, "agent/10-agent-rbac.yaml").await?;
    for crd in [
        "multicluster.x-k8s.io_serviceexports.yaml",
        "multicluster.x-k8s.io_serviceimports.yaml",
    ] {
        clusternet::apply_deploy(&child, &format!("crds/{crd}")).await?;
    }
    let kubeconfig = clusternet::service_account_kubeconfig(
        &child,
        "clusternet-system",
        "clusternet-agent",
        &dir.path().join("agent.kubeconfig"),
    )
    .await?;
    let log = dir.path().join("agent.log");
    let out = std::fs::File::create(&log)?;
    let _agent = tokio::process::Command::new(paths::cargo_bin("clusternet-agent")?)
        .args([
            format!("--kubeconfig={}", kubeconfig.display()),
            format!("--cluster-reg-parent-url={}", parent.server()),
            format!("--cluster-reg-token={}", token.token),
            format!("--cluster-reg-name={}", child.name()),
            "--feature-gates=SocketConnection=true,AppPusher=true".into(),
            "--cluster-sync-mode=Dual".into(),
            "--cluster-status-update-frequency=2s".into(),
            "--cluster-status-collect-frequency=1s".into(),
            "-v=2".into(),
            "--lifeline".into(),
        ])
        .env("SERVICE_CIDR", "10.32.0.0/16")
        .env("CLUSTER_CIDR", "10.33.0.0/16")
        .stdin(std::process::Stdio::piped())
        .stdout(out.try_clone()?)
        .stderr(out)
        .kill_on_drop(true)
        .spawn()
        .context("starting clusternet-agent")?;
    let cidrs = || async {
        parent
            .kubectl([
                "get",
                "mcls",
                "-A",
                "-o",
                "jsonpath={.items[0].status.serviceCIDR} {.items[0].status.clusterCIDR}",
            ])
            .await
    };
    let want = |expected: &'static str| {
        let (cidrs, log) = (&cidrs, &log);
        async move {
            wait_for(
                &format!("CIDRs {expected}"),
                Duration::from_secs(60),
                Duration::from_millis(200),
                || async { Ok((cidrs().await?.trim() == expected).then_some(())) },
            )
            .await
            .with_context(|| {
                std::fs::read_to_string(log)
                    .map(|l| l.lines().rev().take(20).collect::<Vec<_>>().join("\n"))
                    .unwrap_or_default()
            })
        }
    };
    want("10.32.0.0/16 10.33.0.0/16").await?;

    // Control-plane pods appear: their flags win over the environment (no restart needed).
    wait_for(
        "the control-plane pods created",
        Duration::from_secs(30),
        Duration::from_millis(250),
        || async {
            // The kube-system ServiceAccount admission may need a moment on a fresh cluster.
            Ok(child
                .kubectl_cmd()
                .run_with_stdin(["apply", "-f", "-"], Some(CONTROL_PLANE_PODS))
                .await
                .ok())
        },
    )
    .await?;
    want("10.96.0.0/12 10.244.0.0/16").await?;

    // Without the kube-controller-manager pod, the service CIDR still comes from the
    // kube-apiserver and the pod CIDR from the environment again.
    child
        .kubectl([
            "delete",
            "pod",
            "-n",
            "kube-system",
            "kube-controller-manager-control-plane",
            "--grace-period=0",
            "--force",
        ])
        .await?;
    want("10.96.0.0/12 10.33.0.0/16").await?;
    Ok(())
}
