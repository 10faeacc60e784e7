//! The foundation every other suite stands on: real control planes start in parallel, serve
//! kubectl, run the controllers we need, route the aggregation layer to an extension server, and
//! never outlive their owner.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clusternet_e2e::{
    child_pids,
    extension_server::{self, ExtensionServer},
};
use clusternet_test_support::{ControlPlane, certs::TestCa, paths, process, wait_for};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);

async fn wait_gone(what: &str, pids: &[u32]) -> Result<()> {
    wait_for(what, Duration::from_secs(15), POLL, || async {
        let alive: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|p| process::alive(*p))
            .collect();
        if alive.is_empty() {
            Ok(Some(()))
        } else {
            bail!("still alive: {alive:?}")
        }
    })
    .await
}

#[tokio::test]
async fn control_planes_start_in_parallel_serve_kubectl_and_stop_on_drop() -> Result<()> {
    let planes = ControlPlane::start_many(["parent", "child1", "child2"]).await?;
    let mut pids = Vec::new();
    let mut servers = Vec::new();
    for cp in &planes {
        let ns = cp.kubectl(["get", "ns", "-o", "name"]).await?;
        assert!(ns.contains("namespace/kube-system"), "{}: {ns}", cp.name());
        // The Kubernetes version the Rust side is compiled against (k8s-openapi v1_36).
        let version = cp.kubectl(["version", "-o", "json"]).await?;
        let version: serde_json::Value = serde_json::from_str(&version)?;
        let server = version["serverVersion"]["gitVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            server.starts_with("v1.36."),
            "{}: server version {server}",
            cp.name()
        );
        let client = version["clientVersion"]["gitVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            client, server,
            "kubectl must be the same version as the control planes"
        );
        servers.push(cp.server().to_string());
        let pid = cp.dir().join("ready.json");
        let info: serde_json::Value = serde_json::from_slice(&std::fs::read(pid)?)?;
        let pid = info["pid"].as_u64().context("pid")? as u32;
        let children = child_pids(pid);
        assert_eq!(
            children.len(),
            1,
            "{}: expected kube-controller-manager as the only child",
            cp.name()
        );
        pids.push(pid);
        pids.extend(children);
    }
    // Every control plane got its own OS-chosen port.
    servers.sort();
    servers.dedup();
    assert_eq!(servers.len(), 3);
    drop(planes);
    wait_gone("control planes to stop after drop", &pids).await
}

#[tokio::test]
async fn control_plane_exits_when_its_owner_dies() -> Result<()> {
    // The owner is a `sleep` holding the write end of the control plane's stdin: killing it is
    // what happens to a test process that is killed outright.
    let scratch = paths::scratch_dir("cp-orphan")?;
    let mut owner = Command::new("sleep")
        .arg("600")
        .stdout(Stdio::piped())
        .spawn()?;
    let lifeline = owner.stdout.take().context("sleep stdout")?;
    let mut cp = Command::new(paths::controlplane_bin()?)
        .args(["run", "--lifeline", "--dir"])
        .arg(scratch.path())
        .stdin(Stdio::from(lifeline))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = cp.stdout.take().context("stdout")?;
    let line = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout).lines().next().transpose()
    })
    .await??;
    assert!(
        line.unwrap_or_default().starts_with("ready "),
        "control plane did not become ready"
    );
    let mut pids = vec![cp.id()];
    pids.extend(child_pids(cp.id()));
    assert_eq!(pids.len(), 2, "control plane + kube-controller-manager");

    owner.kill()?;
    owner.wait()?;
    let result = wait_gone("control plane to exit after its owner died", &pids).await;
    let _ = cp.kill();
    let _ = cp.wait();
    result
}

#[tokio::test]
async fn namespace_deletion_and_garbage_collection_complete() -> Result<()> {
    let cp = ControlPlane::start("parent").await?;
    let client = cp.client().await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "e2e-doomed"}}))?;
    namespaces.create(&PostParams::default(), &ns).await?;

    // Controllers that only kube-controller-manager runs: the service-account controller and the
    // root CA publisher fill every new namespace.
    wait_for(
        "default ServiceAccount and kube-root-ca.crt in the new namespace",
        WAIT,
        POLL,
        || async {
            let sa = cp
                .kubectl(["get", "sa", "default", "-n", "e2e-doomed", "-o", "name"])
                .await;
            let cm = cp
                .kubectl([
                    "get",
                    "cm",
                    "kube-root-ca.crt",
                    "-n",
                    "e2e-doomed",
                    "-o",
                    "name",
                ])
                .await;
            Ok((sa.is_ok() && cm.is_ok()).then_some(()))
        },
    )
    .await?;

    // Garbage collection: a dependent goes when its owner goes.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "e2e-doomed");
    let owner = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "owner"}}))?,
        )
        .await?;
    let dependent: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "dependent", "ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
        "uid": owner.metadata.uid.clone().context("uid")?}]}}),
    )?;
    cms.create(&PostParams::default(), &dependent).await?;
    cms.delete("owner", &DeleteParams::default()).await?;
    wait_for(
        "garbage collector to delete the dependent",
        WAIT,
        POLL,
        || async { Ok(cms.get_opt("dependent").await?.is_none().then_some(())) },
    )
    .await?;

    // Namespace deletion runs the namespace controller to the end: the object disappears.
    cp.kubectl([
        "create",
        "configmap",
        "leftover",
        "-n",
        "e2e-doomed",
        "--from-literal=a=b",
    ])
    .await?;
    cp.kubectl(["delete", "ns", "e2e-doomed", "--wait=false"])
        .await?;
    wait_for("namespace e2e-doomed to be gone", WAIT, POLL, || async {
        Ok(namespaces
            .get_opt("e2e-doomed")
            .await?
            .is_none()
            .then_some(()))
    })
    .await
}

#[tokio::test]
async fn aggregation_layer_routes_through_the_parent_to_an_extension_apiserver() -> Result<()> {
    let cp = ControlPlane::start("parent").await?;
    // The extension's serving cert must be valid for <service>.<namespace>.svc: that is the name
    // the aggregator verifies against the APIService caBundle.
    let ca = TestCa::new("e2e-extension-ca")?;
    let serving = ca.issue_server(&["e2e-ext.default.svc", "localhost"])?;
    let front_proxy_ca = std::fs::read_to_string(cp.pki("front-proxy-ca.crt"))?;
    let server = ExtensionServer::start(&serving.cert, &serving.key, &front_proxy_ca).await?;

    // A hub that is not a pod: an ExternalName Service to localhost, and the APIService port
    // is the local port (with aggregator routing off, kube-apiserver dials
    // https://<externalName>:<port>).
    let ca_bundle =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, ca.cert_pem());
    let manifest = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "e2e-ext", "namespace": "default"},
         "spec": {"type": "ExternalName", "externalName": "localhost"}},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
         "metadata": {"name": format!("{}.{}", extension_server::VERSION, extension_server::GROUP)},
         "spec": {"group": extension_server::GROUP, "version": extension_server::VERSION,
                  "groupPriorityMinimum": 1000, "versionPriority": 100, "caBundle": ca_bundle,
                  "service": {"namespace": "default", "name": "e2e-ext", "port": server.addr.port()}}}]});
    cp.kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(&manifest.to_string()))
        .await?;
    cp.kubectl([
        "wait",
        "--for=condition=Available",
        "--timeout=60s",
        &format!(
            "apiservice/{}.{}",
            extension_server::VERSION,
            extension_server::GROUP
        ),
    ])
    .await?;

    // Discovery through the parent lists the extension's resource.
    let resources = cp
        .kubectl([
            "api-resources",
            "--api-group",
            extension_server::GROUP,
            "-o",
            "name",
        ])
        .await?;
    assert!(resources.contains("echoes"), "api-resources: {resources}");

    // A request through the parent arrives with the caller's identity, authenticated by the
    // aggregator's front-proxy client certificate (the server requires one).
    let raw = cp
        .kubectl([
            "get",
            "--raw",
            &format!(
                "/apis/{}/{}/echoes/hello",
                extension_server::GROUP,
                extension_server::VERSION
            ),
        ])
        .await?;
    let echo: serde_json::Value = serde_json::from_str(&raw)?;
    assert_eq!(echo["metadata"]["name"], "hello");
    assert_eq!(echo["user"], "kubernetes-admin", "{echo}");
    assert!(
        echo["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g == "system:masters")),
        "{echo}"
    );
    assert!(
        server
            .seen()
            .iter()
            .any(|s| s.path.ends_with("/echoes/hello"))
    );
    Ok(())
}

/// Every Clusternet CRD installs into a real apiserver; objects in the shape of Clusternet's
/// examples are accepted, malformed ones rejected with a message that says what is wrong.
#[tokio::test]
async fn clusternet_crds_accept_examples_and_reject_malformed_objects() -> Result<()> {
    let cp = ControlPlane::start("parent").await?;
    let crds = paths::workspace_root().join("deploy/crds");
    cp.kubectl(["apply", "--server-side", "-f", &crds.to_string_lossy()])
        .await?;
    cp.kubectl([
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "-f",
        &crds.to_string_lossy(),
    ])
    .await?;
    let listed = cp.kubectl(["get", "crd", "-o", "name"]).await?;
    for file in std::fs::read_dir(&crds)? {
        let name = file?
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".yaml")
            .to_string();
        // <group>_<plural>.yaml → customresourcedefinition.apiextensions.k8s.io/<plural>.<group>
        let (group, plural) = name.split_once('_').context("CRD file name")?;
        assert!(
            listed.contains(&format!("/{plural}.{group}\n")),
            "{plural}.{group} missing from:\n{listed}"
        );
    }

    let fixtures = paths::workspace_root().join("apis/tests/fixtures");
    let mut valid = 0;
    for entry in std::fs::read_dir(fixtures.join("valid"))? {
        let path = entry?.path();
        cp.kubectl(["create", "-f", &path.to_string_lossy()])
            .await
            .with_context(|| format!("valid fixture {} was rejected", path.display()))?;
        valid += 1;
    }
    let mut invalid = 0;
    for entry in std::fs::read_dir(fixtures.join("invalid"))? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)?;
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(
            !expected.is_empty(),
            "{} has no '# expect:' line",
            path.display()
        );
        let out = cp
            .kubectl_cmd()
            .output(["create", "-f", &path.to_string_lossy()], None)
            .await?;
        assert!(
            !out.success,
            "{} was accepted: {}",
            path.display(),
            out.stdout
        );
        assert!(
            expected.iter().any(|e| out.stderr.contains(e)),
            "{}: error {:?} does not contain any of {expected:?}",
            path.display(),
            out.stderr
        );
        invalid += 1;
    }
    eprintln!("{valid} valid fixtures accepted, {invalid} invalid fixtures rejected");
    assert!(valid >= 15 && invalid >= 15);
    Ok(())
}
