//! A hostile child, a bootstrap-token holder and anonymous callers against a parent with two
//! children: every attack refused, and the victim (child2) unaffected each time — its tunnel
//! stays up and a legitimate proxied request to it still succeeds.
//!
//! One environment serves the whole suite ([`Shared`]); the two tests that fill a limit or
//! measure the hub's memory run alone.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use base64::Engine;
use clusternet_e2e::direct::{DirectClient, Reply};
use clusternet_test_support::certs::{Pem, TestCa};
use clusternet_test_support::clusternet::{
    ChildCredential, EnvOptions, Environment, write_token_kubeconfig,
};
use clusternet_test_support::shared::Shared;
use clusternet_test_support::{Kubectl, wait_for};
use futures::{SinkExt, StreamExt};
use http::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

const TESTS: usize = 9;
static SUITE: Shared<Hostile> = Shared::new(TESTS);

/// The long-running limit the suite's hub runs with (the idle-upgrade test fills it).
const LONG_RUNNING_LIMIT: usize = 200;

struct Hostile {
    env: Environment,
    /// Cluster IDs of child1 (the attacker) and child2 (the victim).
    ids: [String; 2],
    /// Their dedicated namespaces on the parent.
    namespaces: [String; 2],
    /// child1's own parent credential (from its `parent-cluster` Secret).
    child1_token: String,
    /// child1's parent credential as kubectl uses it.
    child1: Kubectl,
    /// The shared bootstrap token as kubectl uses it.
    bootstrap: Kubectl,
    /// A parent user allowed to proxy (system:authenticated), and a parent admin.
    alice: Pem,
    admin: Pem,
    /// alice, with a cluster-admin token of child2: the legitimate caller.
    victim: Kubectl,
    child2_admin_token: String,
}

async fn start() -> Result<Hostile> {
    let env = Environment::start(
        2,
        EnvOptions {
            hub_args: vec![format!("--max-long-running-requests={LONG_RUNNING_LIMIT}")],
            ..Default::default()
        },
    )
    .await?;
    let ids = [env.cluster_id(0).await?, env.cluster_id(1).await?];
    let mut namespaces = [String::new(), String::new()];
    for (i, id) in ids.iter().enumerate() {
        namespaces[i] = env
            .parent
            .kubectl([
                "get",
                "clusterregistrationrequests",
                &format!("clusternet-{id}"),
                "-o",
                "jsonpath={.status.dedicatedNamespace}",
            ])
            .await?;
    }
    let child1_token = env.agent_token(0).await?;
    let dir = env.dir.path();
    let ca = env.parent.pki("ca.crt");
    write_token_kubeconfig(
        &dir.join("child1-parent.kubeconfig"),
        env.parent.server(),
        &ca,
        &child1_token,
        "child1",
    )?;
    write_token_kubeconfig(
        &dir.join("bootstrap.kubeconfig"),
        env.parent.server(),
        &ca,
        &env.token.token,
        "bootstrap",
    )?;
    let parent_ca = TestCa::from_files(&ca, &env.parent.pki("ca.key"))?;
    let alice = parent_ca.issue_client("alice", None)?;
    let admin = parent_ca.issue_client("e2e-admin", Some("system:masters"))?;
    let child2_admin_token = env.child_token(1, "victim-admin", "cluster-admin").await?;
    let victim = Kubectl::new(
        env.child_kubeconfig(
            1,
            &ChildCredential::Token(child2_admin_token.clone()),
            Some(&alice),
            "victim.kubeconfig",
        )
        .await?,
    );
    let hostile = Hostile {
        child1: Kubectl::new(dir.join("child1-parent.kubeconfig")),
        bootstrap: Kubectl::new(dir.join("bootstrap.kubeconfig")),
        env,
        ids,
        namespaces,
        child1_token,
        alice,
        admin,
        victim,
        child2_admin_token,
    };
    // Both tunnels up and the child's CA known: the victim answers.
    wait_for(
        "child2 through the hub",
        Duration::from_secs(60),
        Duration::from_millis(250),
        || async { Ok(hostile.victim_answers().await.ok()) },
    )
    .await?;
    Ok(hostile)
}

/// Paths of the proxies group.
fn proxies(path: &str) -> String {
    format!("/apis/proxies.clusternet.io/v1alpha1/{path}")
}

/// The headers of a websocket upgrade.
const WEBSOCKET: [(&str, &str); 4] = [
    ("connection", "Upgrade"),
    ("upgrade", "websocket"),
    ("sec-websocket-version", "13"),
    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
];

impl Hostile {
    /// The name of the ManagedCluster in namespace `ns`.
    async fn managed_cluster(&self, ns: &str) -> Result<String> {
        self.env
            .parent
            .kubectl([
                "get",
                "mcls",
                "-n",
                ns,
                "-o",
                "jsonpath={.items[0].metadata.name}",
            ])
            .await
    }

    /// A TLS client to the parent's kube-apiserver, presenting `cert` if given.
    fn parent(&self, cert: Option<&Pem>) -> Result<DirectClient> {
        DirectClient::to_control_plane(&self.env.parent, cert)
    }

    /// A request to the parent with child1's own credential.
    async fn as_child1(&self, method: Method, path: &str, extra: &[(&str, &str)]) -> Result<Reply> {
        let auth = format!("Bearer {}", self.child1_token);
        let mut headers = vec![("authorization", auth.as_str())];
        headers.extend_from_slice(extra);
        self.parent(None)?
            .request(method, path, &headers, None)
            .await
    }

    /// A client straight to the hub, verifying its serving certificate.
    async fn hub(&self, cert: Option<&Pem>) -> Result<DirectClient> {
        let ca = clusternet_test_support::clusternet::hub_ca_pem(&self.env.parent).await?;
        DirectClient::new(
            self.env.hub.addr,
            "clusternet-hub.clusternet-system.svc",
            &ca,
            cert,
        )
    }

    /// The aggregator's identity towards the hub (front-proxy CA, allowed CN).
    fn front_proxy(&self) -> Result<Pem> {
        TestCa::from_files(
            &self.env.parent.pki("front-proxy-ca.crt"),
            &self.env.parent.pki("front-proxy-ca.key"),
        )?
        .issue_client("front-proxy-client", None)
    }

    /// A legitimate proxied GET to child2 succeeds.
    async fn victim_answers(&self) -> Result<()> {
        let out = self
            .victim
            .run(["get", "--raw", "/api/v1/namespaces/kube-system"])
            .await?;
        ensure!(out.contains("\"name\":\"kube-system\""), "{out}");
        Ok(())
    }

    /// How much of the hub's log exists now (to look only at what an attack makes it log).
    fn hub_log_mark(&self) -> usize {
        std::fs::metadata(&self.env.hub.process.log)
            .map(|m| m.len() as usize)
            .unwrap_or(0)
    }

    /// child2 is unaffected: a proxied request still succeeds, and since `mark` the hub has
    /// neither replaced nor lost its tunnel.
    async fn victim_unaffected(&self, mark: usize) -> Result<()> {
        self.victim_answers().await?;
        let log = std::fs::read(&self.env.hub.process.log)?;
        let since = String::from_utf8_lossy(&log[mark.min(log.len())..]).into_owned();
        let victim = &self.ids[1];
        for line in since.lines().filter(|l| l.contains(victim.as_str())) {
            ensure!(
                !(line.contains("replaces the previous one")
                    || line.contains("tunnel lost")
                    || line.contains("tunnel closed")),
                "child2's tunnel was disturbed: {line}"
            );
        }
        Ok(())
    }
}

/// A TCP listener that counts the connections it accepts (and answers nothing).
async fn counting_listener() -> Result<(u16, Arc<AtomicUsize>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(sock);
        }
    });
    Ok((port, count))
}

fn assert_code(reply: &Reply, codes: &[u16], what: &str) -> Result<Value> {
    ensure!(
        codes.contains(&reply.status.as_u16()),
        "{what}: {} {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    Ok(reply.json().unwrap_or(Value::Null))
}

#[test]
fn namespaced_and_prefixed_socket_paths_are_404() -> Result<()> {
    SUITE.test(start, |h| async move {
        let mark = h.hub_log_mark();
        let [ns1, _] = &h.namespaces;
        let victim = &h.ids[1];
        let namespaced = proxies(&format!("namespaces/{ns1}/sockets/{victim}"));
        let namespaced_proxy = format!("{namespaced}/proxy/direct/api/v1/namespaces");
        // child1's own credential: its namespace holds nothing of the proxies group any more,
        // so the parent refuses before the hub sees it.
        let r = h.as_child1(Method::GET, &namespaced, &WEBSOCKET).await?;
        assert_code(&r, &[403, 404], "child1: namespaced tunnel for child2")?;
        let r = h.as_child1(Method::GET, &namespaced_proxy, &[]).await?;
        assert_code(&r, &[403, 404], "child1: namespaced proxy to child2")?;
        // A caller the parent lets through (an admin): the hub itself serves no such path.
        let admin = h.parent(Some(&h.admin))?;
        for path in [
            namespaced.clone(),
            namespaced_proxy.clone(),
            proxies(&format!("proxy/sockets/{victim}")),
            proxies(&format!("proxy/sockets/{victim}/proxy/direct/api")),
        ] {
            let status = assert_code(&admin.get(&path, &WEBSOCKET).await?, &[404], &path)?;
            assert_eq!(status["reason"], "NotFound", "{path}: {status}");
        }
        // watch/…: authorized as "watch", but it would have forwarded a DELETE.
        h.env.children[1]
            .kubectl(["create", "configmap", "keep-me", "-n", "default"])
            .await?;
        let path = proxies(&format!(
            "watch/sockets/{victim}/proxy/direct/api/v1/namespaces/default/configmaps/keep-me"
        ));
        let alice = h.parent(Some(&h.alice))?;
        let r = alice
            .request(
                Method::DELETE,
                &path,
                &[
                    ("impersonate-user", "clusternet"),
                    ("impersonate-extra-clusternet-token", &h.child2_admin_token),
                ],
                None,
            )
            .await?;
        assert_code(&r, &[403, 404], "DELETE through watch/sockets/…")?;
        let r = admin.request(Method::DELETE, &path, &[], None).await?;
        assert_code(&r, &[404], "admin: DELETE through watch/sockets/…")?;
        h.env.children[1]
            .kubectl(["get", "configmap", "keep-me", "-n", "default"])
            .await
            .context("the configmap must still exist")?;
        h.victim_unaffected(mark).await
    })
}

#[test]
fn a_tunnel_is_accepted_only_from_its_own_cluster() -> Result<()> {
    SUITE.test(start, |h| async move {
        let mark = h.hub_log_mark();
        // Both forms of the tunnel: Go Clusternet's GET of sockets/<id>, and the watch of one
        // socket this project's agents open (authorized as `watch` of that name).
        for victim in [
            proxies(&format!("sockets/{}", h.ids[1])),
            proxies(&format!(
                "sockets?watch=true&fieldSelector=metadata.name%3D{}",
                h.ids[1]
            )),
        ] {
            // child1's credential may open only its own socket: the parent refuses.
            let r = h.as_child1(Method::GET, &victim, &WEBSOCKET).await?;
            let status = assert_code(&r, &[403], "child1 opening child2's tunnel")?;
            eprintln!("child1 → {victim}: {}", status["message"]);
            // An admin passes the parent's RBAC; the hub still accepts child2's tunnel only
            // from child2's own ServiceAccount.
            let r = h.parent(Some(&h.admin))?.get(&victim, &WEBSOCKET).await?;
            let status = assert_code(&r, &[403], "an admin opening child2's tunnel")?;
            let message = status["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("only a ServiceAccount of its dedicated namespace"),
                "{victim}: {status}"
            );
            // The bootstrap token: nothing either.
            let out = h.bootstrap.output(["get", "--raw", &victim], None).await?;
            assert!(
                !out.success && out.stderr.contains("Forbidden"),
                "{victim}: {}",
                out.stderr
            );
            // Nor anonymous.
            let r = h.parent(None)?.get(&victim, &WEBSOCKET).await?;
            assert_code(&r, &[401, 403], "anonymous opening child2's tunnel")?;
        }
        // A watch of sockets that is not a tunnel (no upgrade) is nothing the hub serves.
        let watch = proxies(&format!(
            "sockets?watch=true&fieldSelector=metadata.name%3D{}",
            h.ids[1]
        ));
        let r = h.parent(Some(&h.admin))?.get(&watch, &[]).await?;
        let status = assert_code(&r, &[404], "an admin watching child2's socket")?;
        assert_eq!(status["reason"], "NotFound", "{status}");
        h.victim_unaffected(mark).await
    })
}

#[test]
fn a_decoy_managed_cluster_never_receives_requests() -> Result<()> {
    SUITE.test(start, |h| async move {
        let mark = h.hub_log_mark();
        let [ns1, _] = &h.namespaces;
        let victim = &h.ids[1];
        let (port, hits) = counting_listener().await?;
        let decoy = json!({
            "apiVersion": "clusters.clusternet.io/v1beta1", "kind": "ManagedCluster",
            "metadata": {"name": "decoy", "namespace": ns1,
                         "labels": {"clusters.clusternet.io/cluster-id": victim}},
            "spec": {"clusterId": victim, "syncMode": "Pull"}})
        .to_string();
        // child1 may not create ManagedClusters, labelled with child2's id or otherwise.
        let out = h.child1.output(["create", "-f", "-"], Some(&decoy)).await?;
        assert!(
            !out.success && out.stderr.contains("forbidden"),
            "{}{}",
            out.stdout,
            out.stderr
        );
        // Even a decoy an admin makes, pointing at a listener, draws nothing.
        let parent = &h.env.parent;
        parent
            .kubectl_cmd()
            .run_with_stdin(["create", "-f", "-"], Some(&decoy))
            .await?;
        let status = json!({"status": {"useSocket": false,
                                       "apiserverURL": format!("http://127.0.0.1:{port}")}})
        .to_string();
        parent
            .kubectl([
                "patch",
                "mcls",
                "decoy",
                "-n",
                ns1,
                "--subresource=status",
                "--type=merge",
                "-p",
                &status,
            ])
            .await?;
        // Give the hub's cache time to see it, then ask for child2 again and again.
        tokio::time::sleep(Duration::from_secs(2)).await;
        for _ in 0..5 {
            h.victim_answers().await?;
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0, "the decoy got connections");
        parent
            .kubectl(["delete", "mcls", "decoy", "-n", ns1])
            .await?;
        h.victim_unaffected(mark).await
    })
}

#[test]
fn a_cluster_cannot_escalate_or_change_its_identity() -> Result<()> {
    SUITE.test(start, |h| async move {
        let mark = h.hub_log_mark();
        let [ns1, _] = &h.namespaces;
        let k = &h.child1;
        let refused = |out: clusternet_test_support::kubectl::Output, what: &str| {
            ensure!(
                !out.success && out.stderr.to_lowercase().contains("forbidden"),
                "{what} must be forbidden: {}{}",
                out.stdout,
                out.stderr
            );
            Ok(())
        };
        let sa = h
            .env
            .parent
            .kubectl([
                "get",
                "sa",
                "-n",
                ns1,
                "-l",
                "clusternet.io/created-by=clusternet-agent",
                "-o",
                "jsonpath={.items[0].metadata.name}",
            ])
            .await?;
        for (args, what) in [
            (
                vec!["run", "x", "--image=busybox", "-n", ns1],
                "a pod in its namespace",
            ),
            (
                vec!["create", "serviceaccount", "x", "-n", ns1],
                "a ServiceAccount",
            ),
            (
                vec!["create", "token", sa.as_str(), "-n", ns1],
                "a token of its ServiceAccount",
            ),
            (
                vec![
                    "create",
                    "rolebinding",
                    "x",
                    "--clusterrole=admin",
                    "--user=mallory",
                    "-n",
                    ns1,
                ],
                "a RoleBinding",
            ),
            (
                vec!["create", "deployment", "x", "--image=busybox", "-n", ns1],
                "a Deployment",
            ),
            (vec!["get", "secrets", "-n", ns1], "listing Secrets"),
        ] {
            refused(k.output(&args, None).await?, what)?;
        }
        // Its own ManagedCluster: labels it copies from nodes, yes; its spec and the labels
        // that identify it, no.
        let mc = h.managed_cluster(ns1).await?;
        k.run([
            "label",
            "mcls",
            &mc,
            "-n",
            ns1,
            "node.clusternet.io/e2e=yes",
            "--overwrite",
        ])
        .await?;
        let out = k
            .output(
                [
                    "patch",
                    "mcls",
                    &mc,
                    "-n",
                    ns1,
                    "--type=merge",
                    "-p",
                    r#"{"spec":{"syncMode":"Push"}}"#,
                ],
                None,
            )
            .await?;
        assert!(
            !out.success && out.stderr.contains("cannot change the spec"),
            "{}",
            out.stderr
        );
        let out = k
            .output(
                [
                    "label",
                    "mcls",
                    &mc,
                    "-n",
                    ns1,
                    "--overwrite",
                    &format!("clusters.clusternet.io/cluster-id={}", h.ids[1]),
                ],
                None,
            )
            .await?;
        assert!(
            !out.success
                && out
                    .stderr
                    .contains("cannot change the labels that identify"),
            "{}",
            out.stderr
        );
        // Its heartbeat Lease (named after its ManagedCluster): its agent renews it; it cannot
        // touch another cluster's, and the bootstrap token cannot write one at all.
        let holder = wait_for(
            "child1's heartbeat Lease",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || async {
                let out = h
                    .env
                    .parent
                    .kubectl([
                        "get",
                        "lease",
                        &mc,
                        "-n",
                        ns1,
                        "-o",
                        "jsonpath={.spec.holderIdentity}",
                    ])
                    .await;
                Ok(out.ok().filter(|h| !h.is_empty()))
            },
        )
        .await?;
        assert_eq!(holder, h.ids[0]);
        let ns2 = &h.namespaces[1];
        let victim_mc = h.managed_cluster(ns2).await?;
        let forged = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": victim_mc, "namespace": ns2,
                         "labels": {"clusters.clusternet.io/cluster-id": h.ids[1]}},
            "spec": {"holderIdentity": h.ids[1], "leaseDurationSeconds": 3600,
                     "renewTime": "2030-01-01T00:00:00.000000Z"}})
        .to_string();
        refused(
            k.output(["annotate", "lease", &victim_mc, "-n", ns2, "x=y"], None)
                .await?,
            "changing another cluster's Lease",
        )?;
        refused(
            k.output(["apply", "-f", "-"], Some(&forged)).await?,
            "writing another cluster's Lease",
        )?;
        refused(
            h.bootstrap
                .output(["apply", "-f", "-"], Some(&forged))
                .await?,
            "the bootstrap token writing a Lease",
        )?;
        // The namespace enforces the restricted Pod Security Standard.
        let enforce = h
            .env
            .parent
            .kubectl([
                "get",
                "ns",
                ns1,
                "-o",
                "jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}",
            ])
            .await?;
        assert_eq!(enforce, "restricted");
        h.victim_unaffected(mark).await
    })
}

/// A new, random cluster ID (what an agent's Lease UID looks like).
fn new_cluster_id() -> String {
    let b: [u8; 16] = rand::random();
    let hex = hex::encode(b);
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

#[test]
fn registration_tokens_are_read_once_by_their_own_agent() -> Result<()> {
    SUITE.test(start, |h| async move {
        let mark = h.hub_log_mark();
        let victim_crr = format!("clusternet-{}", h.ids[1]);
        // The bootstrap token (every registering cluster holds it) may read the request, but
        // the token in it is sealed to child2's agent: not a credential.
        let b64 = h
            .bootstrap
            .run(["get", "clusterregistrationrequests", &victim_crr, "-o", "jsonpath={.status.token}"])
            .await?;
        let sealed = base64::engine::general_purpose::STANDARD.decode(b64.trim())?;
        assert!(sealed.starts_with(b"CNSEAL01"), "the token is not sealed");
        // Whatever an attacker makes of it, it authenticates nobody.
        let stolen = format!("Bearer {}", b64.trim());
        let r = h
            .parent(None)?
            .get(
                &format!("/apis/clusters.clusternet.io/v1beta1/namespaces/{}/managedclusters", h.namespaces[1]),
                &[("authorization", stolen.as_str())],
            )
            .await?;
        assert_code(&r, &[401], "the sealed token as a credential")?;
        // child1's credential reads its own request only.
        h.child1
            .run(["get", "clusterregistrationrequests", &format!("clusternet-{}", h.ids[0])])
            .await?;
        let out = h.child1.output(["get", "clusterregistrationrequests", &victim_crr], None).await?;
        assert!(!out.success && out.stderr.contains("forbidden"), "{}", out.stderr);

        // A Go Clusternet agent offers no key: its token is written in plain, read by it once,
        // and removed after its first heartbeat. Reserved label keys it asks for are dropped.
        let id = new_cluster_id();
        let crr = json!({"apiVersion": "clusters.clusternet.io/v1beta1",
            "kind": "ClusterRegistrationRequest",
            "metadata": {"name": format!("clusternet-{id}")},
            "spec": {"clusterId": id, "clusterName": "go-agent", "clusterType": "EdgeCluster",
                     "syncMode": "Pull",
                     "clusterLabels": {"clusters.clusternet.io/cluster-id": h.ids[1], "team": "a"}}})
        .to_string();
        h.bootstrap
            .run_with_stdin(["create", "-f", "-"], Some(&crr))
            .await?;
        let name = format!("clusternet-{id}");
        let status = wait_for("the Go agent's approval", Duration::from_secs(30), Duration::from_millis(200), || async {
            let s = h.bootstrap.run(["get", "clusterregistrationrequests", &name, "-o", "json"]).await?;
            let v: Value = serde_json::from_str(&s)?;
            Ok((v["status"]["result"] == "Approved").then(|| v["status"].clone()))
        })
        .await?;
        let plain = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(status["token"].as_str().context("a plain token")?)?,
        )?;
        let ns = status["dedicatedNamespace"].as_str().unwrap_or_default().to_string();
        let mc = status["managedClusterName"].as_str().unwrap_or_default().to_string();
        assert!(ns.starts_with("clusternet-") && ns != h.namespaces[1], "{ns}");
        let labels = h
            .env
            .parent
            .kubectl(["get", "mcls", &mc, "-n", &ns, "-o", "jsonpath={.metadata.labels}"])
            .await?;
        let labels: Value = serde_json::from_str(&labels)?;
        assert_eq!(labels["clusters.clusternet.io/cluster-id"], id.as_str(), "{labels}");
        assert_eq!(labels["team"], "a", "{labels}");
        let go_agent = h.env.dir.path().join("go-agent.kubeconfig");
        write_token_kubeconfig(&go_agent, h.env.parent.server(), &h.env.parent.pki("ca.crt"), &plain, "go-agent")?;
        let heartbeat = json!({"status": {"lastObservedTime": "2026-01-01T00:00:00Z",
                                          "k8sVersion": "v1.36.3", "platform": "linux/amd64"}})
        .to_string();
        Kubectl::new(&go_agent)
            .run(["patch", "mcls", &mc, "-n", &ns, "--subresource=status", "--type=merge", "-p", &heartbeat])
            .await?;
        wait_for("the used token to leave the request", Duration::from_secs(30), Duration::from_millis(200), || async {
            let t = h.bootstrap.run(["get", "clusterregistrationrequests", &name, "-o", "jsonpath={.status.token}"]).await?;
            Ok(t.trim().is_empty().then_some(()))
        })
        .await?;

        // The approver names the namespace; a requested one must be free and not reserved.
        for (requested, why) in [
            (h.namespaces[1].as_str(), "already exists and does not belong"),
            ("kube-public", "reserved"),
            ("clusternet-system", "reserved"),
        ] {
            let id = new_cluster_id();
            let name = format!("clusternet-{id}");
            let crr = json!({"apiVersion": "clusters.clusternet.io/v1beta1",
                "kind": "ClusterRegistrationRequest", "metadata": {"name": name},
                "spec": {"clusterId": id, "clusterName": "squatter", "clusterNamespace": requested}})
            .to_string();
            h.bootstrap.run_with_stdin(["create", "-f", "-"], Some(&crr)).await?;
            let status = wait_for("the squatter's denial", Duration::from_secs(30), Duration::from_millis(200), || async {
                let s = h.bootstrap.run(["get", "clusterregistrationrequests", &name, "-o", "json"]).await?;
                let v: Value = serde_json::from_str(&s)?;
                Ok(v["status"]["result"].is_string().then(|| v["status"].clone()))
            })
            .await?;
            assert_eq!(status["result"], "Denied", "{requested}: {status}");
            assert!(
                status["errorMessage"].as_str().unwrap_or_default().contains(why),
                "{requested}: {status}"
            );
        }
        h.victim_unaffected(mark).await
    })
}

#[test]
fn anonymous_callers_and_addresses_off_the_allow_list_are_refused() -> Result<()> {
    SUITE.test(start, |h| async move {
        let mark = h.hub_log_mark();
        let (port, hits) = counting_listener().await?;
        let victim = &h.ids[1];
        let anonymous = h.parent(None)?;
        for scheme in ["http", "https"] {
            let path = proxies(&format!(
                "sockets/{victim}/proxy/{scheme}/127.0.0.1:{port}/"
            ));
            let r = anonymous.get(&path, &[]).await?;
            assert_code(&r, &[401, 403], "anonymous")?;
            // alice may use sockets/proxy, but child2's agent dials only its API server (and
            // predictor): the hub answers 403.
            let r = h.parent(Some(&h.alice))?.get(&path, &[]).await?;
            let status = assert_code(&r, &[403], "alice to an address off the allow-list")?;
            assert!(
                status["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("allow-list"),
                "{status}"
            );
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0, "the listener was reached");
        h.victim_unaffected(mark).await
    })
}

#[test]
fn caller_identity_headers_never_reach_the_child() -> Result<()> {
    SUITE.test(start, |h| async move {
        let mark = h.hub_log_mark();
        // Straight to the hub, with the aggregator's own certificate (the strongest position a
        // caller of the hub can have) and forged impersonation headers next to the child
        // credential: the child sees the credential's identity and nothing else.
        let hub = h.hub(Some(&h.front_proxy()?)).await?;
        let path = proxies(&format!(
            "sockets/{}/proxy/direct/apis/authentication.k8s.io/v1/selfsubjectreviews",
            h.ids[1]
        ));
        let review = br#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#;
        let reply = hub
            .request(
                Method::POST,
                &path,
                &[
                    ("x-remote-user", "alice"),
                    ("x-remote-extra-clusternet-token", &h.child2_admin_token),
                    ("impersonate-user", "system:kube-scheduler"),
                    ("impersonate-group", "system:masters"),
                    ("content-type", "application/json"),
                ],
                Some(review),
            )
            .await?;
        let review_out = assert_code(&reply, &[200, 201], "selfsubjectreview through the hub")?;
        assert_eq!(
            review_out["status"]["userInfo"]["username"],
            "system:serviceaccount:default:victim-admin",
            "{review_out}"
        );
        // Only impersonation passes as an extra (the child then checks the token may
        // impersonate); a framing or identity header does not.
        let reply = hub
            .request(
                Method::POST,
                &path,
                &[
                    ("x-remote-user", "alice"),
                    ("x-remote-extra-clusternet-token", &h.child2_admin_token),
                    (
                        "x-remote-extra-clusternet-impersonate-user",
                        "system:kube-scheduler",
                    ),
                    ("content-type", "application/json"),
                ],
                Some(review),
            )
            .await?;
        let review_out = assert_code(&reply, &[200, 201], "child-side impersonation")?;
        assert_eq!(
            review_out["status"]["userInfo"]["username"],
            "system:kube-scheduler"
        );
        for extra in [
            "host",
            "authorization",
            "transfer-encoding",
            "content-length",
            "x-remote-user",
        ] {
            let header = format!("x-remote-extra-clusternet-{extra}");
            let reply = hub
                .request(
                    Method::GET,
                    &proxies(&format!("sockets/{}/proxy/direct/version", h.ids[1])),
                    &[
                        ("x-remote-user", "alice"),
                        ("x-remote-extra-clusternet-token", &h.child2_admin_token),
                        (header.as_str(), "x"),
                    ],
                    None,
                )
                .await?;
            let status = assert_code(&reply, &[400], &header)?;
            assert!(
                status["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("not passed"),
                "{status}"
            );
        }
        h.victim_unaffected(mark).await
    })
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("VmRSS")
}

#[test]
fn a_flooding_agent_is_disconnected_and_the_others_carry_on() -> Result<()> {
    SUITE.test_alone(start, |h| async move {
        let mark = h.hub_log_mark();
        let hub_pid = h.env.hub.process.pid;
        let before = rss_kib(hub_pid)?;
        // child1's own identity opens child1's tunnel (replacing its agent's), then floods
        // Data for streams that do not exist and never reads.
        let url = format!(
            "wss://127.0.0.1{}",
            proxies(&format!("sockets/{}", h.ids[0]))
        );
        let mut request = url.into_client_request()?;
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", h.child1_token).parse()?,
        );
        let tls = h.parent(None)?.connect().await?;
        let (mut ws, response) = tokio_tungstenite::client_async(request, tls).await?;
        assert_eq!(response.status(), 101);
        let started = Instant::now();
        let mut sent = 0u64;
        while sent < 1_000_000 {
            // remotedialer Data: varint id, varint conn id, varint type 1, varint deadline, payload.
            let frame = clusternet_tunnel::wire::encode(
                sent as i64 + 1,
                (sent as i64 % 100_000) + 10_000,
                clusternet_tunnel::wire::MessageType::Data,
                b"x",
            );
            if ws.feed(tungstenite::Message::Binary(frame)).await.is_err() {
                break;
            }
            sent += 1;
            if sent.is_multiple_of(1000) && ws.flush().await.is_err() {
                break;
            }
        }
        let after = rss_kib(hub_pid)?;
        eprintln!(
            "flood: {sent} frames sent before the hub disconnected ({:?}); hub RSS {} MiB → {} MiB",
            started.elapsed(),
            before / 1024,
            after / 1024
        );
        assert!(sent < 1_000_000, "the flooding peer was never disconnected");
        assert!(
            after < before + 64 * 1024,
            "hub RSS grew from {before} to {after} KiB"
        );
        let log = std::fs::read(&h.env.hub.process.log)?;
        let since = String::from_utf8_lossy(&log[mark.min(log.len())..]).into_owned();
        assert!(
            since.contains("streams that do not exist"),
            "the hub did not log the flood"
        );
        h.victim_unaffected(mark).await?;
        // child1's own agent comes back.
        wait_for(
            "child1's agent to reconnect",
            Duration::from_secs(60),
            Duration::from_millis(500),
            || async {
                let log = std::fs::read(&h.env.hub.process.log)?;
                let since = String::from_utf8_lossy(&log[mark.min(log.len())..]).into_owned();
                let back = since
                    .lines()
                    .filter(|l| l.contains(h.ids[0].as_str()) && l.contains("tunnel connected"))
                    .count();
                Ok((back >= 2).then_some(()))
            },
        )
        .await
    })
}

#[test]
fn idle_upgraded_connections_hit_the_long_running_cap() -> Result<()> {
    SUITE.test_alone(start, |h| async move {
        let mark = h.hub_log_mark();
        let victim = &h.ids[1];
        let url = format!(
            "wss://127.0.0.1{}",
            proxies(&format!(
                "sockets/{victim}/proxy/direct/api/v1/namespaces/default/configmaps?watch=true"
            ))
        );
        let parent = h.parent(Some(&h.alice))?;
        let token = h.child2_admin_token.clone();
        let open = |url: String, parent: DirectClient, token: String| async move {
            let mut request = url.into_client_request()?;
            let headers = request.headers_mut();
            headers.insert("origin", "https://127.0.0.1".parse()?);
            headers.insert("impersonate-user", "clusternet".parse()?);
            headers.insert("impersonate-extra-clusternet-token", token.parse()?);
            let tls = parent.connect().await?;
            match tokio_tungstenite::client_async(request, tls).await {
                Ok((ws, _)) => Ok::<_, anyhow::Error>(Ok(ws)),
                Err(tungstenite::Error::Http(resp)) => Ok(Err((
                    resp.status().as_u16(),
                    String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default())
                        .into_owned(),
                ))),
                Err(err) => Err(err.into()),
            }
        };
        let started = Instant::now();
        let results: Vec<_> = futures::stream::iter(0..1000)
            .map(|_| open(url.clone(), parent.clone(), token.clone()))
            .buffer_unordered(32)
            .collect()
            .await;
        let mut held = Vec::new();
        let mut refused = 0;
        for r in results {
            match r? {
                Ok(ws) => held.push(ws),
                Err((429, _)) => refused += 1,
                Err((code, body)) => bail!("unexpected {code}: {body}"),
            }
        }
        eprintln!(
            "1000 upgrades in {:?}: {} held, {refused} answered 429 (limit {LONG_RUNNING_LIMIT})",
            started.elapsed(),
            held.len()
        );
        assert!(
            held.len() <= LONG_RUNNING_LIMIT && held.len() >= LONG_RUNNING_LIMIT / 2,
            "{}",
            held.len()
        );
        assert_eq!(held.len() + refused, 1000);
        // What a refused caller reads.
        let r = parent
            .get(
                &proxies(&format!(
                    "sockets/{victim}/proxy/direct/api/v1/namespaces/default/configmaps?watch=true"
                )),
                &[
                    ("impersonate-user", "clusternet"),
                    ("impersonate-extra-clusternet-token", token.as_str()),
                ],
            )
            .await?;
        let status = assert_code(&r, &[429], "a watch while the limit is full")?;
        assert!(
            status["message"]
                .as_str()
                .unwrap_or_default()
                .contains("too many long-running requests"),
            "{status}"
        );
        // Discovery keeps answering while the streams are held.
        let discovery = h
            .env
            .parent
            .kubectl(["get", "--raw", "/apis/proxies.clusternet.io/v1alpha1"])
            .await?;
        assert!(discovery.contains("APIResourceList"), "{discovery}");
        // /metrics says where the limits are.
        let metrics = h
            .hub(Some(&h.front_proxy()?))
            .await?
            .get(
                "/metrics",
                &[
                    ("x-remote-user", "e2e-admin"),
                    ("x-remote-group", "system:masters"),
                ],
            )
            .await?;
        let text = String::from_utf8_lossy(&metrics.body).into_owned();
        for line in [
            format!("clusternet_hub_limit{{kind=\"longRunning\"}} {LONG_RUNNING_LIMIT}"),
            "clusternet_hub_limit{kind=\"tunnels\"} 10000".to_string(),
            "clusternet_hub_limit{kind=\"connections\"} 20000".to_string(),
        ] {
            assert!(text.contains(&line), "{line} not in /metrics");
        }
        let gauge = |text: &str| {
            text.lines()
                .find_map(|l| {
                    l.strip_prefix(
                        "apiserver_current_inflight_requests{request_kind=\"longRunning\"} ",
                    )
                })
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(-1)
        };
        assert!(gauge(&text) >= held.len() as i64, "{}", gauge(&text));
        // Closed, they give their share back: a new one is accepted again.
        for mut ws in held.drain(..) {
            let _ = ws.close(None).await;
        }
        wait_for(
            "the long-running limit to free up",
            Duration::from_secs(30),
            Duration::from_millis(250),
            || async { Ok(open(url.clone(), parent.clone(), token.clone()).await?.ok()) },
        )
        .await?;
        h.victim_unaffected(mark).await
    })
}
