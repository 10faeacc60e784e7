//! Running `examples/` as a user does: a copy with the "PLEASE UPDATE" placeholders set to
//! this environment's cluster ids and namespaces, and `kubectl get` for checking the result.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clusternet_test_support::{ControlPlane, paths};
use serde_json::Value;

/// The cluster id placeholders of `examples/`, for child1 and child2.
pub const CLUSTER_ID_PLACEHOLDERS: [&str; 2] = [
    "11111111-1111-4111-8111-111111111111",
    "22222222-2222-4222-8222-222222222222",
];
/// The dedicated-namespace placeholder of `examples/` (child1's).
pub const NAMESPACE_PLACEHOLDER: &str = "clusternet-child1";

/// A registered child: ManagedCluster name, cluster id, dedicated namespace.
#[derive(Clone, Debug)]
pub struct Child {
    /// ManagedCluster name (`child1`…).
    pub name: String,
    /// Cluster id.
    pub id: String,
    /// Dedicated namespace on the parent.
    pub namespace: String,
}

/// `kubectl get <args> -o json` in `cp`, None when not found.
pub async fn get(cp: &ControlPlane, args: &[&str]) -> Result<Option<Value>> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend(["-o", "json"]);
    let out = cp.kubectl_cmd().output(all, None).await?;
    if !out.success {
        if out.stderr.contains("NotFound") {
            return Ok(None);
        }
        bail!("kubectl get {args:?} in {}: {}", cp.name(), out.stderr);
    }
    Ok(Some(serde_json::from_str(&out.stdout)?))
}

/// child1..child`n` as the parent registered them.
pub async fn children(parent: &ControlPlane, n: usize) -> Result<Vec<Child>> {
    let mcls = get(parent, &["mcls", "-A"]).await?.context("mcls")?;
    let items = mcls["items"].as_array().context("items")?;
    (1..=n)
        .map(|i| {
            let name = format!("child{i}");
            let mc = items
                .iter()
                .find(|m| m["metadata"]["name"] == name.as_str())
                .with_context(|| format!("ManagedCluster {name}"))?;
            Ok(Child {
                id: mc["spec"]["clusterId"].as_str().context("id")?.to_string(),
                namespace: mc["metadata"]["namespace"]
                    .as_str()
                    .context("ns")?
                    .to_string(),
                name,
            })
        })
        .collect()
}

/// The placeholders of `examples/` and what they stand for here.
pub fn placeholders(children: &[Child]) -> Vec<(String, String)> {
    let mut out = vec![(
        NAMESPACE_PLACEHOLDER.to_string(),
        children[0].namespace.clone(),
    )];
    for (placeholder, child) in CLUSTER_ID_PLACEHOLDERS.iter().zip(children) {
        out.push((placeholder.to_string(), child.id.clone()));
    }
    out
}

/// A user's copy of `examples/<name>` (recursively) under `scratch`, placeholders replaced.
pub fn user_copy(scratch: &Path, name: &str, replace: &[(String, String)]) -> Result<PathBuf> {
    fn copy(from: &Path, to: &Path, replace: &[(String, String)]) -> Result<()> {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from).with_context(|| format!("{}", from.display()))? {
            let entry = entry?;
            let target = to.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                copy(&entry.path(), &target, replace)?;
                continue;
            }
            let mut text = std::fs::read_to_string(entry.path())?;
            for (a, b) in replace {
                text = text.replace(a.as_str(), b);
            }
            std::fs::write(target, text)?;
        }
        Ok(())
    }
    let to = scratch.join(name);
    copy(
        &paths::workspace_root().join("examples").join(name),
        &to,
        replace,
    )?;
    Ok(to)
}

/// `<dir>/`, as users type it for `apply -f`.
pub fn dir_arg(dir: &Path) -> String {
    format!("{}/", dir.display())
}
