//! HelmChart feeds end to end, with the real Helm (built from helm.sh/helm/v4) installing into
//! real child control planes: child1 in push mode (the controller-manager runs Helm through the
//! hub's socket proxy), child2 in pull mode (its agent runs Helm). The charts come from the
//! repo's fixtures, packaged by Helm and served from a plain HTTP repository, a basic-auth one
//! and a real OCI registry (distribution) on loopback (`test-support::charts`). Everything a
//! user does is typed with kubectl; what lands in the children is read with `helm` and kubectl.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use clusternet_e2e::examples::{Child, children, get};
use clusternet_test_support::charts::{ChartRepos, Helm, USERNAME};
use clusternet_test_support::clusternet::{EnvOptions, Environment};
use clusternet_test_support::{ControlPlane, wait_for};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(300);

async fn apply(parent: &ControlPlane, doc: &Value) -> Result<()> {
    parent
        .kubectl_cmd()
        .run_with_stdin(["apply", "-f", "-"], Some(&doc.to_string()))
        .await
        .map(|_| ())
}

fn helm_chart(name: &str, repo: &str, chart: &str, version: &str, target: &str) -> Value {
    json!({
        "apiVersion": "apps.clusternet.io/v1alpha1",
        "kind": "HelmChart",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"repo": repo, "chart": chart, "version": version, "targetNamespace": target},
    })
}

/// A Replication Subscription of HelmChart `chart` to the clusters named `clusters`.
fn subscription(name: &str, chart: &str, clusters: &[&str]) -> Value {
    json!({
        "apiVersion": "apps.clusternet.io/v1alpha1",
        "kind": "Subscription",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "schedulingStrategy": "Replication",
            "subscribers": [{"clusterAffinity": {"matchExpressions": [{
                "key": "clusters.clusternet.io/cluster-name", "operator": "In", "values": clusters,
            }]}}],
            "feeds": [{"apiVersion": "apps.clusternet.io/v1alpha1", "kind": "HelmChart",
                       "name": chart, "namespace": "default"}],
        },
    })
}

/// `helm <args> --kubeconfig <child>` as the child's admin.
async fn helm_in(helm: &Helm, child: &ControlPlane, args: &[&str]) -> Result<String> {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.push("--kubeconfig".into());
    all.push(child.kubeconfig().display().to_string());
    helm.run(all).await
}

/// The release `name` in namespace `ns` of `child` as `helm list` shows it.
async fn release(helm: &Helm, child: &ControlPlane, ns: &str, name: &str) -> Result<Option<Value>> {
    let out = helm_in(
        helm,
        child,
        &[
            "list",
            "-n",
            ns,
            "--deployed",
            "--failed",
            "--pending",
            "-o",
            "json",
        ],
    )
    .await?;
    let list: Vec<Value> = serde_json::from_str(&out)?;
    Ok(list.into_iter().find(|r| r["name"] == name))
}

/// Waits until release `name` in `ns` of `child` is deployed at `revision` with chart
/// `<chart>`.
async fn until_release(
    helm: &Helm,
    child: &ControlPlane,
    ns: &str,
    name: &str,
    chart: &str,
    revision: &str,
) -> Result<Value> {
    wait_for(
        &format!(
            "release {ns}/{name} {chart} rev {revision} deployed in {}",
            child.name()
        ),
        TIMEOUT,
        POLL,
        || async {
            Ok(release(helm, child, ns, name).await?.filter(|r| {
                r["status"] == "deployed" && r["chart"] == chart && r["revision"] == revision
            }))
        },
    )
    .await
}

/// The HelmRelease of `chart` in `c`'s dedicated namespace (there is one per Description and
/// chart).
async fn helm_release(parent: &ControlPlane, c: &Child, chart: &str) -> Result<Option<Value>> {
    let list = get(parent, &["helmreleases", "-n", &c.namespace])
        .await?
        .context("hr")?;
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|hr| {
            hr["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with(&format!("-default-{chart}")))
        })
        .cloned())
}

/// The Helm Description of Subscription `sub` in `c`'s namespace.
async fn helm_description(parent: &ControlPlane, c: &Child, sub: &str) -> Result<Option<Value>> {
    let list = get(parent, &["descriptions", "-n", &c.namespace])
        .await?
        .context("desc")?;
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| {
            // `<sub>-<5 characters>-helm` (the Base is `<sub>-<5 characters>`).
            let name = d["metadata"]["name"].as_str().unwrap_or_default();
            d["spec"]["deployer"] == "Helm"
                && name
                    .strip_prefix(&format!("{sub}-"))
                    .and_then(|rest| rest.strip_suffix("-helm"))
                    .is_some_and(|mid| mid.len() == 5 && !mid.contains('-'))
        })
        .cloned())
}

async fn until_description(
    parent: &ControlPlane,
    c: &Child,
    sub: &str,
    phase: &str,
) -> Result<Value> {
    wait_for(
        &format!("Helm Description of {sub} in {} {phase}", c.name),
        TIMEOUT,
        POLL,
        || async {
            Ok(helm_description(parent, c, sub)
                .await?
                .filter(|d| d["status"]["phase"] == phase))
        },
    )
    .await
}

async fn chart_status(parent: &ControlPlane, name: &str, phase: &str) -> Result<Value> {
    wait_for(
        &format!("HelmChart {name} {phase}"),
        TIMEOUT,
        POLL,
        || async {
            Ok(get(parent, &["helmchart", name, "-n", "default"])
                .await?
                .filter(|c| c["status"]["phase"] == phase))
        },
    )
    .await
}

#[tokio::test]
async fn helm_charts_to_push_and_pull_children() -> Result<()> {
    let options = EnvOptions {
        scheduler: true,
        controller_manager_args: vec!["--feature-gates=SocketConnection=true,Deployer=true".into()],
        // child2 deploys itself (pull): its agent runs Helm.
        child_agent_args: vec![vec![], vec!["--cluster-sync-mode=Pull".into()]],
        ..Default::default()
    };
    let mut env = Environment::start(2, options).await?;
    let repos = ChartRepos::start(&env.dir.path().join("charts")).await?;
    let result = scenarios(&mut env, &repos).await;
    result.with_context(|| env.logs())
}

async fn scenarios(env: &mut Environment, repos: &ChartRepos) -> Result<()> {
    let parent = &env.parent;
    let helm = repos.helm();
    let cs = children(parent, 2).await?;
    let names = ["child1", "child2"];

    // 1. A HelmChart from the HTTP repository, replicated to both.
    apply(
        parent,
        &helm_chart("hello", &repos.http_url, "hello", "0.1.0", "helm-e2e"),
    )
    .await?;
    apply(parent, &subscription("hello", "hello", &names)).await?;
    let found = chart_status(parent, "hello", "Found").await?;
    println!("HelmChart hello: {}", found["status"]);
    for (child, c) in env.children.iter().zip(&cs) {
        let rel = until_release(helm, child, "helm-e2e", "hello", "hello-0.1.0", "1").await?;
        println!("{}: helm list: {rel}", child.name());
        let cm = get(child, &["cm", "hello-hello", "-n", "helm-e2e"])
            .await?
            .context("cm")?;
        ensure!(cm["data"]["greeting"] == "hello", "{cm}");
        let desc = until_description(parent, c, "hello", "Success").await?;
        ensure!(
            desc["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("-helm"))
        );
        let hr = wait_for("HelmRelease status", TIMEOUT, POLL, || async {
            Ok(helm_release(parent, c, "hello")
                .await?
                .filter(|hr| hr["status"]["phase"] == "deployed"))
        })
        .await?;
        println!(
            "{}: HelmRelease {} status {}",
            c.name, hr["metadata"]["name"], hr["status"]
        );
        ensure!(hr["status"]["version"] == 1, "{}", hr["status"]);
        ensure!(
            hr["status"]["notes"]
                .as_str()
                .is_some_and(|n| n.contains("hello from hello (0.1.0)")),
            "{}",
            hr["status"]
        );
        ensure!(hr["spec"]["releaseName"] == "hello");
    }

    // 2. Helm overrides for child1 only (a Localization in its namespace).
    apply(
        parent,
        &json!({
            "apiVersion": "apps.clusternet.io/v1alpha1",
            "kind": "Localization",
            "metadata": {"name": "hello-values", "namespace": cs[0].namespace},
            "spec": {
                "priority": 500,
                "overridePolicy": "ApplyNow",
                "feed": {"apiVersion": "apps.clusternet.io/v1alpha1", "kind": "HelmChart",
                         "name": "hello", "namespace": "default"},
                "overrides": [{"name": "greeting", "type": "Helm", "value": "greeting: hi\n"}],
            },
        }),
    )
    .await?;
    until_release(
        helm,
        &env.children[0],
        "helm-e2e",
        "hello",
        "hello-0.1.0",
        "2",
    )
    .await?;
    let values = helm_in(
        helm,
        &env.children[0],
        &["get", "values", "hello", "-n", "helm-e2e", "-o", "json"],
    )
    .await?;
    println!("child1: helm get values hello: {}", values.trim());
    ensure!(
        serde_json::from_str::<Value>(&values)? == json!({"greeting": "hi"}),
        "{values}"
    );
    let values2 = helm_in(
        helm,
        &env.children[1],
        &["get", "values", "hello", "-n", "helm-e2e", "-o", "json"],
    )
    .await?;
    println!("child2: helm get values hello: {}", values2.trim());
    ensure!(
        values2.trim() == "null" || values2.trim() == "{}",
        "{values2}"
    );
    let cm = get(&env.children[0], &["cm", "hello-hello", "-n", "helm-e2e"])
        .await?
        .context("cm")?;
    ensure!(cm["data"]["greeting"] == "hi", "{cm}");

    // 3. Nothing changes, nothing is run: the controller-manager and child2's agent restarted
    //    (every release reconciled again) leave the revisions where they are.
    env.controller_manager.stop();
    env.controller_manager.restart()?;
    env.agents[1].stop();
    env.agents[1].restart()?;
    until_logged(&env.controller_manager, "acquired leadership", 2).await?;
    until_logged(&env.agents[1], "deploying Descriptions from the parent", 2).await?;
    env.wait_ready(TIMEOUT).await?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    for (child, rev) in env.children.iter().zip(["2", "1"]) {
        let rel = release(helm, child, "helm-e2e", "hello")
            .await?
            .context("release")?;
        if rel["revision"] != rev {
            let history = helm_in(helm, child, &["history", "hello", "-n", "helm-e2e"]).await?;
            bail!(
                "{}: {rel} after a resync; history:\n{history}",
                child.name()
            );
        }
    }
    println!(
        "controller-manager and child2's agent restarted and leading/deploying again for 10 s: revisions still 2 and 1"
    );

    // 4. A new chart version upgrades every release.
    apply(
        parent,
        &helm_chart("hello", &repos.http_url, "hello", "0.2.0", "helm-e2e"),
    )
    .await?;
    for (child, rev) in env.children.iter().zip(["3", "2"]) {
        let rel = wait_for("hello-0.2.0 deployed", TIMEOUT, POLL, || async {
            Ok(release(helm, child, "helm-e2e", "hello")
                .await?
                .filter(|r| r["status"] == "deployed" && r["chart"] == "hello-0.2.0"))
        })
        .await?;
        let history = helm_in(helm, child, &["history", "hello", "-n", "helm-e2e"]).await?;
        println!(
            "version 0.2.0 in {}: helm history:\n{history}",
            child.name()
        );
        ensure!(
            rel["revision"] == rev,
            "{}: {rel}, one upgrade expected",
            child.name()
        );
    }

    // 5. The same from the OCI registry.
    let mut oci = helm_chart("hello-oci", &repos.oci_url, "hello", "0.1.0", "helm-oci");
    oci["spec"]["plainHTTP"] = json!(true);
    apply(parent, &oci).await?;
    apply(parent, &subscription("hello-oci", "hello-oci", &names)).await?;
    chart_status(parent, "hello-oci", "Found").await?;
    for child in &env.children {
        let rel = until_release(helm, child, "helm-oci", "hello-oci", "hello-0.1.0", "1").await?;
        println!("{} (oci): {rel}", child.name());
    }

    // 6. A basic-auth repository with chartPullSecret (push: the controller-manager reads it).
    apply(
        parent,
        &json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "repo-auth", "namespace": "default"},
            "stringData": {"username": USERNAME, "password": repos.password},
        }),
    )
    .await?;
    let mut private = helm_chart(
        "example",
        &repos.auth_url,
        "example",
        "0.0.1",
        "helm-private",
    );
    private["spec"]["chartPullSecret"] = json!({"name": "repo-auth", "namespace": "default"});
    apply(parent, &private).await?;
    apply(parent, &subscription("example", "example", &["child1"])).await?;
    chart_status(parent, "example", "Found").await?;
    let rel = until_release(
        helm,
        &env.children[0],
        "helm-private",
        "example",
        "example-0.0.1",
        "1",
    )
    .await?;
    println!("child1 (basic auth): {rel}");
    // A hostile child1 points its HelmRelease (its agent may patch it) at a server of its own,
    // keeping the pull secret: the controller-manager must not send the credentials there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let trap = format!("http://{}", listener.local_addr()?);
    let received = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let trap_task = {
        let received = received.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut buf = vec![0u8; 16 * 1024];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                received
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
                let _ = conn
                    .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        })
    };
    let hr = helm_release(parent, &cs[0], "example")
        .await?
        .context("child1's example HelmRelease")?;
    let hr_name = hr["metadata"]["name"].as_str().context("name")?.to_string();
    let child1_agent = agent_kubectl(env, 0).await?;
    child1_agent
        .run([
            "patch",
            "helmrelease",
            hr_name.as_str(),
            "-n",
            cs[0].namespace.as_str(),
            "--type=merge",
            "-p",
            &json!({"spec": {"repo": trap}}).to_string(),
        ])
        .await
        .context("child1's agent patches its HelmRelease")?;
    let refused = wait_for(
        "the controller-manager to refuse the pull secret for another repository",
        TIMEOUT,
        POLL,
        || async {
            // Credentials at the child's server end the wait too (and fail below).
            if received
                .lock()
                .unwrap()
                .to_ascii_lowercase()
                .contains("authorization:")
            {
                return Ok(Some("credentials were sent".to_string()));
            }
            let log = std::fs::read_to_string(&env.controller_manager.log).unwrap_or_default();
            Ok(log
                .lines()
                .find(|l| l.contains("is not the chartPullSecret of a HelmChart for"))
                .map(str::to_string))
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    trap_task.abort();
    let seen = received.lock().unwrap().clone();
    ensure!(
        !seen.to_ascii_lowercase().contains("authorization:"),
        "credentials reached the child's server:\n{seen}"
    );
    println!(
        "child1's agent repointed its HelmRelease at {trap}: no credentials sent ({} bytes reached it); controller-manager: {}",
        seen.len(),
        refused
            .find("chart pull secret")
            .map_or(refused.as_str(), |i| &refused[i..])
    );
    // Without the secret the repository refuses.
    let mut no_auth = helm_chart(
        "example-noauth",
        &repos.auth_url,
        "example",
        "0.0.1",
        "helm-private",
    );
    no_auth["spec"]["chartPullSecret"] = json!({});
    apply(parent, &no_auth).await?;
    let refused = chart_status(parent, "example-noauth", "NotFound").await?;
    println!("example without chartPullSecret: {}", refused["status"]);
    ensure!(
        refused["status"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("401")),
        "{}",
        refused["status"]
    );

    // 7. A chart that fails to install: Failure with Helm's message; a fixed version recovers.
    apply(
        parent,
        &helm_chart("broken", &repos.http_url, "broken", "0.1.0", "helm-broken"),
    )
    .await?;
    apply(parent, &subscription("broken", "broken", &["child1"])).await?;
    let failed = until_description(parent, &cs[0], "broken", "Failure").await?;
    println!("broken 0.1.0: Description {}", failed["status"]);
    ensure!(
        failed["status"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("Invalid_Name")),
        "{}",
        failed["status"]
    );
    apply(
        parent,
        &helm_chart("broken", &repos.http_url, "broken", "0.2.0", "helm-broken"),
    )
    .await?;
    until_description(parent, &cs[0], "broken", "Success").await?;
    until_release(
        helm,
        &env.children[0],
        "helm-broken",
        "broken",
        "broken-0.2.0",
        "2",
    )
    .await?;
    println!("broken 0.2.0: Description Success, release revision 2 deployed");

    // 8. A missing chart version: NotFound with Helm's reason, nothing installed.
    apply(
        parent,
        &helm_chart("nope", &repos.http_url, "hello", "9.9.9", "helm-nope"),
    )
    .await?;
    apply(parent, &subscription("nope", "nope", &names)).await?;
    let nope = chart_status(parent, "nope", "NotFound").await?;
    println!("HelmChart nope: {}", nope["status"]);
    ensure!(
        nope["status"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not found"))
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    for c in &cs {
        ensure!(
            helm_description(parent, c, "nope").await?.is_none(),
            "a Description for a missing chart"
        );
    }

    // 9. Clusternet's replication-scheduling helm-chart-mysql.yaml, repo pointed here.
    apply(
        parent,
        &helm_chart("mysql", &repos.http_url, "mysql", "9.2.0", "abc"),
    )
    .await?;
    apply(parent, &subscription("mysql", "mysql", &names)).await?;
    for child in &env.children {
        until_release(helm, child, "abc", "mysql", "mysql-9.2.0", "1").await?;
        get(child, &["svc", "mysql-mysql", "-n", "abc"])
            .await?
            .context("mysql Service")?;
    }
    println!("mysql 9.2.0 (Clusternet's example shape) deployed in both");

    // 10. The agent's parent identity may manage its HelmReleases, not create them or charts.
    let agent = agent_kubectl(env, 1).await?;
    for args in [
        vec![
            "auth",
            "can-i",
            "create",
            "helmreleases.apps.clusternet.io",
            "-n",
            cs[1].namespace.as_str(),
        ],
        vec![
            "auth",
            "can-i",
            "update",
            "helmcharts.apps.clusternet.io",
            "-n",
            "default",
        ],
        vec!["auth", "can-i", "get", "secrets/repo-auth", "-n", "default"],
    ] {
        let out = agent.output(args.clone(), None).await?;
        ensure!(
            out.stdout.trim() == "no",
            "agent: {args:?} -> {}",
            out.stdout
        );
    }
    println!(
        "child2's agent identity: no create helmreleases, no update helmcharts, no get secret repo-auth"
    );
    // Nor may it touch child1's HelmReleases; the bootstrap token and anonymous callers reach
    // none of it.
    let ca = env.parent.pki("ca.crt");
    let bootstrap_path = env.dir.path().join("bootstrap-helm.kubeconfig");
    clusternet_test_support::clusternet::write_token_kubeconfig(
        &bootstrap_path,
        env.parent.server(),
        &ca,
        &env.token.token,
        "bootstrap",
    )?;
    let bootstrap = clusternet_test_support::kubectl::Kubectl::new(bootstrap_path);
    let other = cs[0].namespace.as_str();
    let refusals: Vec<(&str, &clusternet_test_support::kubectl::Kubectl, Vec<&str>)> = vec![
        (
            "child2's agent",
            &agent,
            vec!["get", "helmreleases", "-n", other],
        ),
        (
            "child2's agent",
            &agent,
            vec!["get", "descriptions", "-n", other],
        ),
        (
            "bootstrap token",
            &bootstrap,
            vec!["get", "helmreleases", "-A"],
        ),
        (
            "bootstrap token",
            &bootstrap,
            vec!["get", "helmcharts", "-n", "default"],
        ),
        (
            "bootstrap token",
            &bootstrap,
            vec!["get", "secret", "repo-auth", "-n", "default"],
        ),
    ];
    for (who, kubectl, args) in refusals {
        let out = kubectl.output(args.clone(), None).await?;
        ensure!(
            out.code != Some(0) && out.stderr.contains("Forbidden"),
            "{who}: kubectl {args:?} was not refused: {} {}",
            out.stdout,
            out.stderr
        );
        println!(
            "{who}: kubectl {} -> {}",
            args.join(" "),
            out.stderr.lines().next().unwrap_or_default()
        );
    }
    // Anonymous (no credentials at all; kubectl would prompt for a password): raw requests.
    let anonymous = clusternet_e2e::direct::DirectClient::to_control_plane(&env.parent, None)?;
    for path in [
        "/apis/apps.clusternet.io/v1alpha1/helmreleases".to_string(),
        format!("/apis/apps.clusternet.io/v1alpha1/namespaces/{other}/helmreleases"),
        "/apis/apps.clusternet.io/v1alpha1/namespaces/default/helmcharts".to_string(),
        "/api/v1/namespaces/default/secrets/repo-auth".to_string(),
    ] {
        let r = anonymous.get(&path, &[]).await?;
        ensure!(
            matches!(r.status.as_u16(), 401 | 403),
            "anonymous GET {path}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        println!("anonymous: GET {path} -> {}", r.status);
    }

    // 11. Deleting the Subscriptions uninstalls every release.
    parent
        .kubectl([
            "delete",
            "subscriptions.apps.clusternet.io",
            "--all",
            "-n",
            "default",
            "--wait=false",
        ])
        .await?;
    for child in &env.children {
        wait_for(
            &format!("releases gone from {}", child.name()),
            TIMEOUT,
            POLL,
            || async {
                let out = helm_in(
                    helm,
                    child,
                    &[
                        "list",
                        "-A",
                        "--deployed",
                        "--failed",
                        "--pending",
                        "--uninstalling",
                        "-o",
                        "json",
                    ],
                )
                .await?;
                let list: Vec<Value> = serde_json::from_str(&out)?;
                Ok(list.is_empty().then_some(()))
            },
        )
        .await?;
        ensure!(
            get(child, &["cm", "hello-hello", "-n", "helm-e2e"])
                .await?
                .is_none()
        );
    }
    wait_for("HelmReleases gone", TIMEOUT, POLL, || async {
        let all = get(parent, &["helmreleases", "-A"]).await?.context("hr")?;
        Ok(all["items"]
            .as_array()
            .is_some_and(|a| a.is_empty())
            .then_some(()))
    })
    .await?;
    println!("Subscriptions deleted: every release uninstalled, no HelmRelease left");
    Ok(())
}

/// Waits until `c`'s log holds `needle` at least `count` times (a restarted process appends).
async fn until_logged(
    c: &clusternet_test_support::clusternet::Component,
    needle: &str,
    count: usize,
) -> Result<()> {
    wait_for(
        &format!("{count}× {needle:?} in {}", c.name),
        TIMEOUT,
        POLL,
        || async {
            let log = std::fs::read_to_string(&c.log).unwrap_or_default();
            Ok((log.matches(needle).count() >= count).then_some(()))
        },
    )
    .await
}

/// kubectl on the parent as child `i`'s agent (its `parent-cluster` credential).
async fn agent_kubectl(
    env: &Environment,
    i: usize,
) -> Result<clusternet_test_support::kubectl::Kubectl> {
    let token = env.agent_token(i).await?;
    let path = env.dir.path().join(format!("agent{i}-parent.kubeconfig"));
    clusternet_test_support::clusternet::write_token_kubeconfig(
        &path,
        env.parent.server(),
        &env.parent.pki("ca.crt"),
        &token,
        "agent",
    )?;
    Ok(clusternet_test_support::kubectl::Kubectl::new(path))
}
