//! Child clusters reachable through the parent with plain kubectl:
//! `sockets/<id>/proxy/direct` with Clusternet-style credentials.

use std::time::Duration;

use anyhow::Result;
use clusternet_test_support::clusternet::{EnvOptions, Environment};
use clusternet_test_support::{Kubectl, wait_for};

#[tokio::test]
async fn direct_mode_kubectl_through_the_parent() -> Result<()> {
    // Agents without the tunnel: the hub dials each child's API server itself.
    let env = Environment::start(
        1,
        EnvOptions {
            agent_gates: "AppPusher=true".into(),
            ..Default::default()
        },
    )
    .await?;
    let token = env.child_token(0, "proxy-admin", "cluster-admin").await?;
    let kubeconfig = env
        .child_kubeconfig_with_token(0, &token, "child1-via-parent.kubeconfig")
        .await?;
    let child = Kubectl::new(&kubeconfig);
    let ca_known = wait_for(
        "the child's CA on the parent",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async { Ok(child.run(["get", "ns", "-o", "name"]).await.ok()) },
    )
    .await?;
    assert!(ca_known.contains("namespace/kube-system"), "{ca_known}");
    child
        .run(["create", "configmap", "via-parent", "--from-literal=a=b"])
        .await?;
    let direct = env.children[0]
        .kubectl(["get", "configmap", "via-parent", "-o", "jsonpath={.data.a}"])
        .await?;
    assert_eq!(direct, "b");
    Ok(())
}
