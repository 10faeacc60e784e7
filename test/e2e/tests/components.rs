//! The components as Go Clusternet's manifests run them: the HTTPS health and metrics servers
//! of the agent, controller-manager and scheduler (what `curl` and Prometheus see, with and
//! without authorization), and Go's flags.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use anyhow::{Context, Result};
use clusternet_test_support::ControlPlane;
use clusternet_test_support::clusternet::{EnvOptions, Environment};

/// `curl -sk` of `https://<addr><path>` with extra arguments: (HTTP code, body).
async fn curl(addr: SocketAddr, path: &str, extra: &[&str]) -> Result<(u16, String)> {
    let out = tokio::process::Command::new("curl")
        .args(["-sk", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(extra)
        .arg(format!("https://{addr}{path}"))
        .output()
        .await
        .context("running curl")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    Ok((code.trim().parse().unwrap_or(0), body.to_string()))
}

/// A token of a new ServiceAccount `default/<name>` in `cp`, allowed `get` on `/metrics`
/// when `metrics` (as a Prometheus scraper is).
async fn token(cp: &ControlPlane, name: &str, metrics: bool) -> Result<String> {
    cp.kubectl(["create", "serviceaccount", name, "-n", "default"])
        .await?;
    if metrics {
        let _ = cp
            .kubectl([
                "create",
                "clusterrole",
                "test-metrics-reader",
                "--verb=get",
                "--non-resource-url=/metrics",
            ])
            .await;
        cp.kubectl([
            "create",
            "clusterrolebinding",
            &format!("{name}-metrics"),
            "--clusterrole=test-metrics-reader",
            &format!("--serviceaccount=default:{name}"),
        ])
        .await?;
    }
    Ok(cp
        .kubectl(["create", "token", name, "-n", "default"])
        .await?
        .trim()
        .to_string())
}

/// Health is open, /metrics needs `get /metrics` in the component's own cluster (the parent
/// for the controller-manager and scheduler, the child for the agent); a bad token is 401, a
/// token of the other cluster too, anonymous and an unprivileged user are 403.
#[tokio::test(flavor = "multi_thread")]
async fn health_and_metrics_over_https_with_delegated_authorization() -> Result<()> {
    let env = Environment::start(
        1,
        EnvOptions {
            scheduler: true,
            ..EnvOptions::deployer()
        },
    )
    .await?;
    env.wait_ready(std::time::Duration::from_secs(60)).await?;
    let parent_reader = token(&env.parent, "prometheus", true).await?;
    let parent_nobody = token(&env.parent, "nobody", false).await?;
    let child_reader = token(&env.children[0], "prometheus", true).await?;
    let child_nobody = token(&env.children[0], "nobody", false).await?;
    let scheduler = env.scheduler.as_ref().context("scheduler")?;
    let components = [
        (
            &env.controller_manager,
            &parent_reader,
            &parent_nobody,
            &child_reader,
            Some("clusternet-controller-manager"),
        ),
        (
            scheduler,
            &parent_reader,
            &parent_nobody,
            &child_reader,
            Some("clusternet-scheduler"),
        ),
        (
            &env.agents[0],
            &child_reader,
            &child_nobody,
            &parent_reader,
            Some("clusternet-agent"),
        ),
    ];
    for (component, reader, nobody, foreign, lease) in components {
        let addr = component.serving_address()?;
        let name = &component.name;
        for path in ["/healthz", "/livez", "/readyz"] {
            let (code, body) = curl(addr, path, &[]).await?;
            assert_eq!((code, body.as_str()), (200, "ok"), "{name} {path}");
        }
        let (code, body) = curl(addr, "/readyz?verbose", &[]).await?;
        assert_eq!(code, 200, "{name}: {body}");
        assert!(body.contains("[+]ping ok"), "{name}: {body}");

        let (code, body) = curl(addr, "/metrics", &[]).await?;
        assert_eq!(code, 403, "{name} anonymous /metrics: {body}");
        assert!(
            body.contains("forbidden: User \"system:anonymous\" cannot get path \"/metrics\""),
            "{name}: {body}"
        );
        let bearer = |t: &str| format!("Authorization: Bearer {t}");
        let (code, _) = curl(addr, "/metrics", &["-H", &bearer("not-a-token")]).await?;
        assert_eq!(code, 401, "{name}: a bad token");
        let (code, _) = curl(addr, "/metrics", &["-H", &bearer(foreign)]).await?;
        assert_eq!(code, 401, "{name}: a token of the other cluster");
        // The bootstrap token authenticates on the parent but has no right here; in a child
        // it is unknown.
        let (code, _) = curl(addr, "/metrics", &["-H", &bearer(&env.token.token)]).await?;
        let want = if name == "clusternet-agent" { 401 } else { 403 };
        assert_eq!(code, want, "{name}: the bootstrap token");
        let (code, body) = curl(addr, "/metrics", &["-H", &bearer(nobody)]).await?;
        assert_eq!(code, 403, "{name}: a user without get /metrics: {body}");
        assert!(
            body.contains("system:serviceaccount:default:nobody"),
            "{name}: {body}"
        );
        let (code, body) = curl(addr, "/metrics", &["-H", &bearer(reader)]).await?;
        assert_eq!(code, 200, "{name}: {body}");
        assert!(
            body.contains("process_resident_memory_bytes"),
            "{name}: {body}"
        );
        if let Some(lease) = lease {
            assert!(
                body.contains(&format!(
                    "leader_election_master_status{{name=\"{lease}\"}} 1"
                )),
                "{name}: {body}"
            );
        }
        let (code, _) = curl(addr, "/nothing", &["-H", &bearer(reader)]).await?;
        assert_eq!(
            code, 403,
            "{name}: other paths are not allowed to the reader"
        );
        println!(
            "{name} at {addr}: health 200 anonymous; /metrics 403 anonymous, 401 bad or foreign token, 403 unprivileged, 200 with get /metrics"
        );
    }
    Ok(())
}

/// The exact argument lists of Go Clusternet v0.18's `deploy/` Deployments and of
/// clusternet/charts' default values (as rendered by `helm template`), one per binary: `$(VAR)`
/// as the kubelet expands it from the Deployment's env. Ports are the one change: a test picks
/// them from the OS (443, 8443 and 8080 are replaced), and our processes listen on loopback
/// (`--bind-address=127.0.0.1`), with `--kubeconfig` (in-cluster configuration in a pod) and the
/// hub's `--cert-dir` (a pod's working directory) added.
mod go_args {
    pub const HUB_DEPLOY: &[&str] = &[
        "--secure-port=443",
        "--feature-gates=SocketConnection=true,ShadowAPI=true",
        "--leader-elect-resource-namespace=$(SYSTEM_NAMESPACE)",
        "--reserved-namespace=$(RESERVED_NAMESPACE)",
        "--peer-port=8123",
    ];
    pub const HUB_CHART: &[&str] = &[
        "--secure-port=443",
        "--leader-elect=true",
        "--leader-elect-resource-namespace=$(SYSTEM_NAMESPACE)",
        "--reserved-namespace=$(RESERVED_NAMESPACE)",
        "--peer-port=8123",
        "--feature-gates=SocketConnection=true,ShadowAPI=true",
        "--kube-api-burst=100",
        "--kube-api-qps=50.0",
    ];
    pub const AGENT_DEPLOY: &[&str] = &[
        "--cluster-reg-token=$(REG_TOKEN)",
        "--cluster-reg-parent-url=$(PARENT_URL)",
        "--leader-elect=true",
        "--leader-elect-resource-namespace=$(AGENT_NAMESPACE)",
        "--feature-gates=SocketConnection=true,AppPusher=true,Recovery=true,Predictor=true",
        "--cluster-sync-mode=Dual",
        "--use-metrics-server=false",
        "--predictor-direct-access=false",
        "--predictor-port=8080",
        "--kube-api-burst=100",
        "--kube-api-qps=50",
    ];
    pub const AGENT_CHART: &[&str] = &[
        "--cluster-reg-token=$(REG_TOKEN)",
        "--cluster-reg-parent-url=$(PARENT_URL)",
        "--leader-elect=true",
        "--leader-elect-resource-namespace=$(AGENT_NAMESPACE)",
        "--feature-gates=SocketConnection=true,AppPusher=true,Recovery=true,Predictor=true",
        "--kube-api-burst=100",
        "--kube-api-qps=50.0",
        "--cluster-sync-mode=Dual",
        "--predictor-direct-access=false",
        "--predictor-port=8080",
        "--use-metrics-server=false",
    ];
    pub const CONTROLLER_MANAGER_DEPLOY: &[&str] = &[
        "--secure-port=8443",
        "--anonymous-auth-supported=true",
        "--leader-elect=true",
        "--leader-elect-resource-namespace=$(SYSTEM_NAMESPACE)",
        "--reserved-namespace=$(RESERVED_NAMESPACE)",
        "--feature-gates=SocketConnection=true,Deployer=true,FeedInUseProtection=true,FeedInventory=true,ClusterInit=false",
        "--controllers=*",
    ];
    pub const CONTROLLER_MANAGER_CHART: &[&str] = &[
        "--secure-port=443",
        "--anonymous-auth-supported=true",
        "--leader-elect=true",
        "--leader-elect-resource-namespace=$(SYSTEM_NAMESPACE)",
        "--reserved-namespace=$(RESERVED_NAMESPACE)",
        "--feature-gates=SocketConnection=true,Deployer=true,FeedInUseProtection=true,FeedInventory=true,ClusterInit=false",
        "--controllers=*",
        "--kube-api-burst=100",
        "--kube-api-qps=50.0",
    ];
    pub const SCHEDULER_DEPLOY: &[&str] = &[
        "--leader-elect=true",
        "--leader-elect-resource-namespace=$(SYSTEM_NAMESPACE)",
        "--feature-gates=FailOver=true,FeasibleClustersToleration=true",
    ];
    pub const SCHEDULER_CHART: &[&str] = &[
        "--leader-elect=true",
        "--leader-elect-resource-namespace=$(SYSTEM_NAMESPACE)",
        "--feature-gates=FailOver=true,FeasibleClustersToleration=true",
        "--kube-api-burst=100",
        "--kube-api-qps=50.0",
    ];
}

/// `args` with `$(VAR)` expanded from `env` and Go's fixed ports replaced by free ones.
fn expand(args: &[&str], env: &[(&str, &str)]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for arg in args {
        let mut arg = arg.to_string();
        for (k, v) in env {
            arg = arg.replace(&format!("$({k})"), v);
        }
        for port in ["443", "8443", "8080"] {
            for flag in ["--secure-port", "--predictor-port"] {
                if arg == format!("{flag}={port}") {
                    arg = format!("{flag}={}", clusternet_test_support::free_port()?);
                }
            }
        }
        out.push(arg);
    }
    Ok(out)
}

/// Each binary started with exactly the flags Go's `deploy/` manifests pass, then with those
/// clusternet/charts' defaults render: the hub becomes Available (behind Go's APIServices,
/// `insecureSkipTLSVerify`), the agent registers and its cluster turns Ready, the
/// controller-manager and scheduler take their Leases and answer /readyz.
#[tokio::test(flavor = "multi_thread")]
async fn go_manifest_and_chart_arguments_start_every_binary() -> Result<()> {
    use clusternet_test_support::clusternet::{self, Component, Mode};
    use clusternet_test_support::paths;
    use std::time::Duration;

    let [parent, child] = ControlPlane::start_many(["parent", "child1"]).await?;
    let dir = tempfile::tempdir()?;
    clusternet::install_crds(&parent).await?;
    clusternet::apply_deploy(&parent, "hub/40-bootstrap-rbac.yaml").await?;
    let token = clusternet::prepare_parent(&parent).await?;
    for file in [
        "hub/00-namespaces.yaml",
        "hub/10-hub-rbac.yaml",
        "hub/11-hub-peers-rbac.yaml",
        "hub/15-tunnel-flowschema.yaml",
        "controller-manager/10-rbac.yaml",
        "controller-manager/15-metrics-auth-rbac.yaml",
        "controller-manager/16-leader-election-flowschema.yaml",
        "controller-manager/17-cluster-heartbeats-flowschema.yaml",
        "controller-manager/20-cluster-identity-policy.yaml",
        "scheduler/10-rbac.yaml",
        "scheduler/15-metrics-auth-rbac.yaml",
        "scheduler/16-leader-election-flowschema.yaml",
    ] {
        clusternet::apply_deploy(&parent, file).await?;
    }
    for file in [
        "agent/00-namespace.yaml",
        "agent/10-agent-rbac.yaml",
        "agent/15-metrics-auth-rbac.yaml",
        "crds/multicluster.x-k8s.io_serviceexports.yaml",
        "crds/multicluster.x-k8s.io_serviceimports.yaml",
    ] {
        clusternet::apply_deploy(&child, file).await?;
    }
    let mut kubeconfigs = Vec::new();
    for (cp, name) in [
        (&parent, "clusternet-hub"),
        (&parent, "clusternet-controller-manager"),
        (&parent, "clusternet-scheduler"),
        (&child, "clusternet-agent"),
    ] {
        let path = dir.path().join(format!("{name}.kubeconfig"));
        kubeconfigs.push(
            clusternet::service_account_kubeconfig(cp, "clusternet-system", name, &path).await?,
        );
    }
    let [hub_kc, cm_kc, sched_kc, agent_kc] = <[_; 4]>::try_from(kubeconfigs).unwrap();
    let system = [
        ("SYSTEM_NAMESPACE", "clusternet-system"),
        ("RESERVED_NAMESPACE", "clusternet-reserved"),
    ];
    let agent_env = [
        ("REG_TOKEN", token.token.as_str()),
        ("PARENT_URL", parent.server()),
        ("AGENT_NAMESPACE", "clusternet-system"),
    ];
    // Go's APIServices: no caBundle, TLS not verified (our hub sets a caBundle only when
    // asked to with --ca-bundle-apiservices, which Go's manifests do not pass).
    let go_apiservices = |port: u16| {
        let parent = &parent;
        async move {
            clusternet::register_local_hub(parent, port).await?;
            for name in clusternet::APISERVICES {
                parent
                    .kubectl([
                        "patch",
                        "apiservice",
                        name,
                        "--type=merge",
                        "-p",
                        r#"{"spec":{"insecureSkipTLSVerify":true,"caBundle":null}}"#,
                    ])
                    .await?;
            }
            clusternet::wait_apiservices_available(parent, Duration::from_secs(60)).await
        }
    };

    for (round, (hub_args, agent_args, cm_args, sched_args)) in [
        (
            go_args::HUB_DEPLOY,
            go_args::AGENT_DEPLOY,
            go_args::CONTROLLER_MANAGER_DEPLOY,
            go_args::SCHEDULER_DEPLOY,
        ),
        (
            go_args::HUB_CHART,
            go_args::AGENT_CHART,
            go_args::CONTROLLER_MANAGER_CHART,
            go_args::SCHEDULER_CHART,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let source = ["deploy/", "chart"][round];
        let start = |name: &str, kc: &std::path::Path, args: Vec<String>, extra: Vec<String>| {
            let mut all = args;
            all.push(format!("--kubeconfig={}", kc.display()));
            all.extend(extra);
            Component::start(
                &dir.path().join(format!("{source}-{name}").replace('/', "")),
                name,
                &paths::cargo_bin(name)?,
                &all,
                Mode::Owned,
            )
        };
        let hub_args = expand(hub_args, &system)?;
        let hub_port: u16 = hub_args
            .iter()
            .find_map(|a| a.strip_prefix("--secure-port="))
            .context("hub port")?
            .parse()?;
        let cert_dir = dir.path().join("hub-certs");
        let hub = start(
            "clusternet-hub",
            &hub_kc,
            hub_args,
            vec![
                "--bind-address=127.0.0.1".into(),
                format!("--cert-dir={}", cert_dir.display()),
            ],
        )?;
        go_apiservices(hub_port)
            .await
            .with_context(|| format!("{source} hub: {}", hub.log_tail(20)))?;
        let cm_args = expand(cm_args, &system)?;
        let cm_port: u16 = cm_args
            .iter()
            .find_map(|a| a.strip_prefix("--secure-port="))
            .context("controller-manager port")?
            .parse()?;
        let cm = start(
            "clusternet-controller-manager",
            &cm_kc,
            cm_args,
            vec!["--bind-address=127.0.0.1".into()],
        )?;
        let scheduler = start(
            "clusternet-scheduler",
            &sched_kc,
            expand(sched_args, &system)?,
            vec![],
        )?;
        let agent = start(
            "clusternet-agent",
            &agent_kc,
            expand(agent_args, &agent_env)?,
            vec!["--bind-address=127.0.0.1".into()],
        )?;
        clusternet_test_support::wait_for(
            &format!("{source}: the child registered and Ready"),
            Duration::from_secs(90),
            Duration::from_millis(500),
            || async {
                let out = parent
                    .kubectl([
                        "get",
                        "mcls",
                        "-A",
                        "-o",
                        "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}",
                    ])
                    .await?;
                Ok((out.trim() == "True").then_some(()))
            },
        )
        .await
        .with_context(|| {
            format!(
                "agent: {}\ncontroller-manager: {}",
                agent.log_tail(20),
                cm.log_tail(20)
            )
        })?;
        // Through the parent, this round's hub and this round's agent's tunnel: both serve.
        let id = parent
            .kubectl([
                "get",
                "mcls",
                "-A",
                "-o",
                "jsonpath={.items[0].spec.clusterId}",
            ])
            .await?;
        let path = format!(
            "/apis/proxies.clusternet.io/v1alpha1/sockets/{}/proxy/direct/version",
            id.trim()
        );
        let version = clusternet_test_support::wait_for(
            &format!("{source}: a request through the hub's tunnel to the child"),
            Duration::from_secs(60),
            Duration::from_millis(500),
            || async { Ok(parent.kubectl(["get", "--raw", &path]).await.ok()) },
        )
        .await
        .with_context(|| format!("hub: {}\nagent: {}", hub.log_tail(20), agent.log_tail(20)))?;
        assert!(version.contains("gitVersion"), "{version}");
        for (component, addr, lease) in [
            (
                &cm,
                SocketAddr::from(([127, 0, 0, 1], cm_port)),
                "clusternet-controller-manager",
            ),
            (
                &scheduler,
                scheduler.serving_address()?,
                "clusternet-scheduler",
            ),
        ] {
            let holder = parent
                .kubectl([
                    "get",
                    "lease",
                    lease,
                    "-n",
                    "clusternet-system",
                    "-o",
                    "jsonpath={.spec.holderIdentity}",
                ])
                .await?;
            assert!(!holder.trim().is_empty(), "{source}: {lease} has no holder");
            let (code, body) = curl(addr, "/readyz", &[]).await?;
            assert_eq!((code, body.as_str()), (200, "ok"), "{source} {lease}");
            assert!(component.is_running(), "{source}: {lease} exited");
        }
        // The flags Go passes that mean nothing here are named once at start.
        let cm_log = std::fs::read_to_string(&cm.log)?;
        assert!(
            cm_log.contains("--anonymous-auth-supported=true is accepted for compatibility with Go Clusternet and has no effect"),
            "{cm_log}"
        );
        let mcls = parent
            .kubectl(["get", "mcls", "-A", "--no-headers"])
            .await?;
        assert_eq!(
            mcls.lines().count(),
            1,
            "{source}: one ManagedCluster: {mcls}"
        );
        println!(
            "{source} arguments: hub Available, agent registered and Ready, its tunnel carries GET /version, controller-manager and scheduler lead and are ready"
        );
        // Stopped as the kubelet stops a pod (SIGTERM: Leases released), so the next round's
        // replicas take them at once; the ManagedCluster stays the same one.
        for mut c in [agent, scheduler, cm, hub] {
            c.stop();
        }
    }
    Ok(())
}

/// `--use-metrics-server=true` in a child without metrics-server (none runs here): the agent
/// says so, leaves status.podStatistics/resourceUsage unset as Go's does, and its cluster is
/// Ready. The sums it reports from metrics.k8s.io are unit-tested in agent/src/status.rs.
#[tokio::test(flavor = "multi_thread")]
async fn use_metrics_server_without_one() -> Result<()> {
    let env = Environment::start(
        1,
        EnvOptions {
            agent_args: vec!["--use-metrics-server=true".into()],
            ..Default::default()
        },
    )
    .await?;
    env.wait_ready(std::time::Duration::from_secs(60)).await?;
    let log = clusternet_test_support::wait_for(
        "the agent's warning",
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(200),
        || async {
            let log = std::fs::read_to_string(&env.agents[0].log)?;
            Ok(log
                .contains("failed to list podMetrics (--use-metrics-server)")
                .then_some(log))
        },
    )
    .await?;
    assert!(
        log.contains("metrics.k8s.io") || log.contains("404"),
        "{log}"
    );
    let status = env
        .parent
        .kubectl(["get", "mcls", "-A", "-o", "jsonpath={.items[0].status}"])
        .await?;
    assert!(!status.contains("podStatistics"), "{status}");
    assert!(!status.contains("resourceUsage"), "{status}");
    Ok(())
}
