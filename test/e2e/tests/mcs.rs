//! Multi-cluster services end to end: Clusternet's `scheduling-with-mcs-api` walkthrough on a
//! parent and three children that run pods. `kubectl clusternet apply -f scheduling/` deploys
//! nginx with a Service and a ServiceExport to two chosen children (1:2 of 6 replicas);
//! `kubectl apply -f service-import.yaml` on the parent; then the derived Service is there with
//! EndpointSlices whose endpoints are the ready pod IPs of both children, under the exported
//! port name. Then what goes wrong in practice (an import matching no export, a port-name
//! mismatch), scaling, a child going offline and back, and deletion of export and import.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use clusternet_e2e::examples::{self, dir_arg, get, user_copy};
use clusternet_test_support::clusternet::{EnvOptions, Environment, service_account_kubeconfig};
use clusternet_test_support::kwok::NodeCapacity;
use clusternet_test_support::{ControlPlane, wait_for};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(250);
const DERIVED: &str = "derived-baz-kl7j74ep4o";

/// Ready pod IPs of `baz/nginx-app` in `child`.
async fn pod_ips(child: &ControlPlane) -> Result<BTreeSet<String>> {
    let pods = get(child, &["pods", "-n", "baz", "-l", "app=nginx"])
        .await?
        .unwrap_or(Value::Null);
    Ok(pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .filter_map(|p| p["status"]["podIP"].as_str().map(String::from))
        .collect())
}

/// The merged slices next to the derived Service on the parent: (address, ready) and port names.
async fn merged(parent: &ControlPlane) -> Result<(BTreeSet<(String, bool)>, BTreeSet<String>)> {
    let slices = get(
        parent,
        &[
            "endpointslices",
            "-n",
            "default",
            "-l",
            &format!("kubernetes.io/service-name={DERIVED}"),
        ],
    )
    .await?
    .unwrap_or(Value::Null);
    let mut endpoints = BTreeSet::new();
    let mut ports = BTreeSet::new();
    for s in slices["items"].as_array().into_iter().flatten() {
        for e in s["endpoints"].as_array().into_iter().flatten() {
            let ready = e["conditions"]["ready"].as_bool().unwrap_or(true);
            for a in e["addresses"].as_array().into_iter().flatten() {
                endpoints.insert((a.as_str().unwrap_or("").to_string(), ready));
            }
        }
        for p in s["ports"].as_array().into_iter().flatten() {
            ports.insert(p["name"].as_str().unwrap_or("").to_string());
        }
    }
    Ok((endpoints, ports))
}

/// Whether `child` has the east-west derived Service, and the endpoint addresses it has for it.
async fn in_child(child: &ControlPlane) -> Result<(bool, BTreeSet<String>)> {
    let svc = get(child, &["svc", DERIVED, "-n", "default"]).await?;
    let slices = get(
        child,
        &[
            "endpointslices",
            "-n",
            "default",
            "-l",
            &format!("kubernetes.io/service-name={DERIVED}"),
        ],
    )
    .await?
    .unwrap_or(Value::Null);
    let ips = slices["items"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .flat_map(|e| e["addresses"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    Ok((svc.is_some(), ips))
}

async fn events_of(parent: &ControlPlane, name: &str) -> Result<String> {
    parent
        .kubectl([
            "get",
            "events",
            "-n",
            "default",
            "--field-selector",
            &format!("involvedObject.name={name}"),
            "-o",
            "custom-columns=REASON:.reason,NOTE:.note,MESSAGE:.message",
        ])
        .await
}

#[tokio::test]
async fn clusternets_mcs_walkthrough_and_what_goes_wrong() -> Result<()> {
    let mut options = EnvOptions::multi_cluster_apps(3)?;
    options.agent_gates.push_str(",MultiClusterService=true");
    options.controller_manager_args = vec![
        "--feature-gates=SocketConnection=true,Deployer=true,FeedInventory=true,MultiClusterService=true"
            .into(),
    ];
    let mut env = Environment::start(3, options).await?;
    for child in &env.children {
        child
            .add_kwok_node("kwok-node-0", &NodeCapacity::new("4", "16Gi", 110))
            .await?;
    }
    let result = walkthrough(&mut env).await;
    result.with_context(|| env.logs())
}

async fn walkthrough(env: &mut Environment) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let parent = &env.parent;
    let children = &env.children;
    let plugin = parent.kubectl_cmd().clusternet();
    eprintln!(
        "kubectl get mcls -A:\n{}",
        parent.kubectl(["get", "mcls", "-A"]).await?
    );
    let registered = examples::children(parent, 3).await?;
    let dir = user_copy(
        scratch.path(),
        "scheduling-with-mcs-api",
        &examples::placeholders(&registered),
    )?;
    let applied = plugin
        .run(["apply", "-f", &dir_arg(&dir.join("scheduling"))])
        .await?;
    eprintln!("kubectl clusternet apply -f scheduling/:\n{applied}");

    // 2 + 4 ready pods in child1 and child2, none in child3.
    let ips = wait_for("nginx-app ready 2 + 4", TIMEOUT, POLL, || async {
        let (a, b) = (pod_ips(&children[0]).await?, pod_ips(&children[1]).await?);
        Ok((a.len() == 2 && b.len() == 4).then_some((a, b)))
    })
    .await?;
    ensure!(
        pod_ips(&children[2]).await?.is_empty(),
        "child3 is not chosen"
    );
    let all: BTreeSet<String> = ips.0.union(&ips.1).cloned().collect();

    // The ServiceExport is Valid in the children.
    let se = get(&children[0], &["serviceexports", "nginx-svc", "-n", "baz"])
        .await?
        .context("ServiceExport in child1")?;
    eprintln!("ServiceExport in child1: {}", se["status"]);

    let import = dir.join("service-import.yaml");
    parent
        .kubectl(["apply", "-f", &import.display().to_string()])
        .await?;
    let (endpoints, ports) = wait_for("the merged slices", TIMEOUT, POLL, || async {
        let (endpoints, ports) = merged(parent).await?;
        let addresses: BTreeSet<String> = endpoints.iter().map(|(a, _)| a.clone()).collect();
        Ok((addresses == all && endpoints.iter().all(|(_, r)| *r)).then_some((endpoints, ports)))
    })
    .await?;
    ensure!(ports == BTreeSet::from(["http".to_string()]), "{ports:?}");
    let svc = get(parent, &["svc", DERIVED, "-n", "default"])
        .await?
        .context("the derived Service")?;
    ensure!(svc["spec"]["selector"].is_null(), "selector-less: {svc}");
    ensure!(svc["spec"]["ports"][0]["name"] == "http", "{svc}");
    // Kubernetes 1.36 refuses status.loadBalancer on a ClusterIP Service: the import says so.
    let said = events_of(parent, "my-svc").await?;
    ensure!(
        svc["status"]["loadBalancer"]["ingress"][0]["ip"] == "42.42.42.42"
            || said.contains("IPsNotPublished"),
        "{svc} {said}"
    );
    eprintln!(
        "derived Service and slices:\n{}\n{}",
        parent
            .kubectl(["get", "svc", DERIVED, "-n", "default"])
            .await?,
        parent
            .kubectl([
                "get",
                "endpointslices",
                "-n",
                "default",
                "-l",
                &format!("kubernetes.io/service-name={DERIVED}")
            ])
            .await?
    );
    eprintln!("endpoints {endpoints:?}");
    let si = get(parent, &["serviceimports", "my-svc", "-n", "default"])
        .await?
        .context("import")?;
    let mut exporting: Vec<&str> = si["status"]["clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["cluster"].as_str())
        .collect();
    exporting.sort();
    ensure!(exporting == ["child1", "child2"], "{si}");

    // Exports that disagree: child3 exports nginx-svc with its pods on port 8080 under the same
    // name; every exporting cluster's ServiceExport then says Conflict, and no longer once it goes.
    let conflicting = r#"
apiVersion: v1
kind: Namespace
metadata: {name: baz}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: nginx-other, namespace: baz}
spec:
  replicas: 1
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers:
      - {name: nginx, image: nginx:1.25, ports: [{containerPort: 8080, name: http}]}
---
apiVersion: v1
kind: Service
metadata: {name: nginx-svc, namespace: baz}
spec:
  selector: {app: nginx}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: multicluster.x-k8s.io/v1alpha1
kind: ServiceExport
metadata: {name: nginx-svc, namespace: baz}
"#;
    children[2]
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(conflicting))
        .await?;
    let conflict = |child: &ControlPlane| {
        let child = child.kubectl_cmd();
        async move {
            let se = child
                .run([
                    "get",
                    "serviceexports",
                    "nginx-svc",
                    "-n",
                    "baz",
                    "-o",
                    "json",
                ])
                .await?;
            let se: Value = serde_json::from_str(&se)?;
            anyhow::Ok(
                se["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["type"] == "Conflict")
                    .map(|c| {
                        (
                            c["status"].as_str().unwrap_or("").to_string(),
                            c["message"].as_str().unwrap_or("").to_string(),
                        )
                    }),
            )
        }
    };
    let said = wait_for("Conflict in child1 and child3", TIMEOUT, POLL, || async {
        let c1 = conflict(&children[0]).await?;
        let c3 = conflict(&children[2]).await?;
        Ok(match (c1, c3) {
            (Some((a, m1)), Some((b, m3))) if a == "True" && b == "True" => {
                Some(format!("{m1}\n{m3}"))
            }
            _ => None,
        })
    })
    .await?;
    eprintln!("Conflict conditions:\n{said}");
    ensure!(
        said.contains("http:8080/TCP") && said.contains("http:80/TCP"),
        "{said}"
    );
    children[2]
        .kubectl_cmd()
        .run_with_stdin(["delete", "-f", "-"], Some(conflicting))
        .await?;
    wait_for(
        "no Conflict once child3's export is gone",
        TIMEOUT,
        POLL,
        || async {
            Ok(conflict(&children[0])
                .await?
                .is_some_and(|(s, _)| s == "False")
                .then_some(()))
        },
    )
    .await?;

    // What users trip on: an import naming no export (as Clusternet's own example does), and a
    // port name that matches none of the exported ports.
    let wrong = r#"
apiVersion: multicluster.x-k8s.io/v1alpha1
kind: ServiceImport
metadata:
  name: no-such-export
  namespace: default
  labels:
    services.clusternet.io/multi-cluster-service-name: my-nginx-svc
    services.clusternet.io/multi-cluster-service-namespace: baz
spec:
  type: ClusterSetIP
  ports:
  - {protocol: TCP, port: 80}
---
apiVersion: multicluster.x-k8s.io/v1alpha1
kind: ServiceImport
metadata:
  name: wrong-port-name
  namespace: default
  labels:
    services.clusternet.io/multi-cluster-service-name: nginx-svc
    services.clusternet.io/multi-cluster-service-namespace: baz
spec:
  type: ClusterSetIP
  ports:
  - {name: web, protocol: TCP, port: 80}
"#;
    parent
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(wrong))
        .await?;
    let said = wait_for(
        "the Events that say what is wrong",
        TIMEOUT,
        POLL,
        || async {
            let a = events_of(parent, "no-such-export").await?;
            let b = events_of(parent, "wrong-port-name").await?;
            Ok(
                (a.contains("NoMatchingExport") && b.contains("PortNameMismatch"))
                    .then_some(format!("{a}{b}")),
            )
        },
    )
    .await?;
    eprintln!("Events:\n{said}");
    ensure!(
        said.contains("my-nginx-svc") && said.contains("\"http\""),
        "{said}"
    );
    parent
        .kubectl_cmd()
        .run_with_stdin(["delete", "-f", "-"], Some(wrong))
        .await?;

    // Only registered clusters export: a slice with the agents' labels in any other namespace
    // (anyone who may create EndpointSlices there) never reaches the derived Service.
    let rogue = format!(
        r#"
apiVersion: v1
kind: Namespace
metadata: {{name: intruder}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: rogue
  namespace: intruder
  labels:
    kubernetes.io/service-name: {DERIVED}
    services.clusternet.io/multi-cluster-service-name: nginx-svc
    services.clusternet.io/multi-cluster-service-namespace: baz
    clusternet.io/created-by: clusternet-agent
addressType: IPv4
endpoints:
- addresses: ["203.0.113.66"]
ports:
- {{name: http, port: 80, protocol: TCP}}
"#
    );
    parent
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(&rogue))
        .await?;

    // East-west: marked for every cluster, each child gets the derived Service and the other
    // clusters' endpoints (child3, which runs none, all of them).
    parent
        .kubectl([
            "annotate",
            "serviceimports",
            "my-svc",
            "-n",
            "default",
            "services.clusternet.io/import-to-clusters=*",
        ])
        .await?;
    wait_for("east-west in every child", TIMEOUT, POLL, || async {
        let c1 = in_child(&children[0]).await?;
        let c2 = in_child(&children[1]).await?;
        let c3 = in_child(&children[2]).await?;
        Ok((c1 == (true, ips.1.clone())
            && c2 == (true, ips.0.clone())
            && c3 == (true, all.clone()))
            .then_some(()))
    })
    .await?;
    eprintln!(
        "east-west, child3:\n{}\n{}",
        children[2]
            .kubectl(["get", "svc", DERIVED, "-n", "default"])
            .await?,
        children[2]
            .kubectl([
                "get",
                "endpointslices",
                "-n",
                "default",
                "-l",
                &format!("kubernetes.io/service-name={DERIVED}")
            ])
            .await?
    );

    // Another child cannot reach past its own namespace: child1's parent identity may not put
    // EndpointSlices or ServiceImports into child2's namespace, and the east-west copy in its
    // own namespace, relabelled as a plain import, is still not served as one.
    let (ns1, ns2) = (&registered[0].namespace, &registered[1].namespace);
    let child1_identity = service_account_kubeconfig(
        parent,
        ns1,
        ns1,
        &scratch.path().join("child1-identity.kubeconfig"),
    )
    .await?;
    let as_child1 = clusternet_test_support::kubectl::Kubectl::new(&child1_identity);
    let intrusions = [
        format!(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: planted\n  namespace: {ns2}\n  labels:\n    clusternet.io/created-by: clusternet-agent\n    services.clusternet.io/multi-cluster-service-name: nginx-svc\n    services.clusternet.io/multi-cluster-service-namespace: baz\naddressType: IPv4\nendpoints:\n- addresses: [\"203.0.113.7\"]\n"
        ),
        format!(
            "apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceImport\nmetadata:\n  name: planted\n  namespace: {ns2}\nspec:\n  type: ClusterSetIP\n  ports: [{{port: 80, protocol: TCP}}]\n"
        ),
    ];
    for doc in &intrusions {
        let out = as_child1.output(["create", "-f", "-"], Some(doc)).await?;
        ensure!(
            !out.success && out.stderr.contains("forbidden"),
            "child1 wrote into child2's namespace: {out:?}"
        );
    }
    as_child1
        .run([
            "label",
            "serviceimports",
            DERIVED,
            "-n",
            ns1.as_str(),
            "services.clusternet.io/imported-for-",
        ])
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    ensure!(
        get(parent, &["svc", DERIVED, "-n", ns1]).await?.is_none(),
        "a relabelled east-west copy was served as an import"
    );

    // Scaling: 9 replicas → 3 + 6, and the merged slices follow (exactly: no rogue endpoint).
    plugin
        .run(["scale", "deploy", "nginx-app", "-n", "baz", "--replicas=9"])
        .await?;
    wait_for("9 endpoints", TIMEOUT, POLL, || async {
        let (a, b) = (pod_ips(&children[0]).await?, pod_ips(&children[1]).await?);
        let (endpoints, _) = merged(parent).await?;
        let want: BTreeSet<(String, bool)> = a.union(&b).map(|ip| (ip.clone(), true)).collect();
        Ok((a.len() == 3 && b.len() == 6 && endpoints == want).then_some(()))
    })
    .await?;

    parent
        .kubectl_cmd()
        .run_with_stdin(["delete", "-f", "-"], Some(&rogue))
        .await?;

    // child1 goes offline: its endpoints stay, not ready, and are ready again when it is back.
    let child1_ips = pod_ips(&children[0]).await?;
    env.agents[0].stop();
    wait_for("child1's endpoints not ready", TIMEOUT, POLL, || async {
        let (endpoints, _) = merged(parent).await?;
        Ok(child1_ips
            .iter()
            .all(|ip| endpoints.contains(&(ip.clone(), false)))
            .then_some(()))
    })
    .await?;
    env.agents[0].restart()?;
    wait_for("child1's endpoints ready again", TIMEOUT, POLL, || async {
        let (endpoints, _) = merged(parent).await?;
        Ok(child1_ips
            .iter()
            .all(|ip| endpoints.contains(&(ip.clone(), true)))
            .then_some(()))
    })
    .await?;

    // Deleting the export (its template, so from every child) removes the slices; deleting
    // the import removes the derived Service.
    plugin
        .run([
            "delete",
            "serviceexports.multicluster.x-k8s.io",
            "nginx-svc",
            "-n",
            "baz",
        ])
        .await?;
    wait_for("the exported slices gone", TIMEOUT, POLL, || async {
        let (endpoints, _) = merged(parent).await?;
        let uploaded = get(
            parent,
            &[
                "endpointslices",
                "-A",
                "-l",
                &format!("kubernetes.io/service-name={DERIVED}"),
            ],
        )
        .await?
        .map(|l| l["items"].as_array().map(Vec::len).unwrap_or(0))
        .unwrap_or(0);
        Ok((endpoints.is_empty() && uploaded == 0).then_some(()))
    })
    .await?;
    parent
        .kubectl(["delete", "-f", &import.display().to_string()])
        .await?;
    wait_for(
        "the derived Service gone, in the parent and the children",
        TIMEOUT,
        POLL,
        || async {
            let mut gone = get(parent, &["svc", DERIVED, "-n", "default"])
                .await?
                .is_none();
            for child in children {
                gone &= get(child, &["svc", DERIVED, "-n", "default"])
                    .await?
                    .is_none();
            }
            Ok(gone.then_some(()))
        },
    )
    .await?;
    Ok(())
}
