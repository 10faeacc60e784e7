//! Go Clusternet's request rewriting (`pkg/wrappers/clientgo/wrapper.go`): resource requests of
//! every group go to the hub's shadow API, so templates are stored as Manifests instead of being
//! created in the parent; the groups `*.clusternet.io` stay where they are, and so does
//! discovery (`/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`, `/openapi/…`), so kinds map
//! as kubectl maps them on the parent.

use clusternet_apis::known::{SHADOW_GROUP, SHADOW_VERSION};

/// The path kubectl's request for `path` goes to.
pub fn shadow_path(path: &str) -> String {
    let shadow = format!("/apis/{SHADOW_GROUP}/{SHADOW_VERSION}");
    // `^/api/v1/(.*)`
    if let Some(rest) = path.strip_prefix("/api/v1/") {
        return join(&shadow, rest);
    }
    let Some(after) = path.strip_prefix("/apis/") else {
        return path.to_string();
    };
    // `^/apis/[^/]+/v\w+(/.*)`: a group, a version starting with `v`, and more.
    let mut parts = after.splitn(3, '/');
    let (Some(group), Some(version), Some(rest)) = (parts.next(), parts.next(), parts.next())
    else {
        return path.to_string();
    };
    let word = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let versioned = version.len() > 1 && version.starts_with('v') && word(&version[1..]);
    if group.is_empty() || !versioned {
        return path.to_string();
    }
    // `^/apis/\w*\.clusternet\.io/v\w*./(.*)`: Clusternet's own groups are not rewritten.
    if group.strip_suffix(".clusternet.io").is_some_and(word) {
        return path.to_string();
    }
    join(&shadow, rest)
}

/// The `apiVersion` of what kubectl asked for, when [`shadow_path`] sends it to the shadow API:
/// `v1` for `/api/v1/…`, `<group>/<version>` for `/apis/<group>/<version>/…`.
pub fn original_group_version(path: &str) -> Option<String> {
    if shadow_path(path) == path {
        return None;
    }
    if path.starts_with("/api/v1/") {
        return Some("v1".into());
    }
    let mut parts = path.strip_prefix("/apis/")?.splitn(3, '/');
    Some(format!("{}/{}", parts.next()?, parts.next()?))
}

/// `doc` (an object, a list, a watch event or a Table, as JSON; a trailing newline is kept)
/// with `apiVersion: shadow/v1alpha1` replaced by `gv` wherever an object carries it. Anything
/// that is not JSON comes back as it was.
pub fn restore_api_version(doc: &[u8], gv: &str) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(doc) else {
        return doc.to_vec();
    };
    let shadow = format!("{SHADOW_GROUP}/{SHADOW_VERSION}");
    fn walk(v: &mut serde_json::Value, shadow: &str, gv: &str) -> bool {
        let Some(map) = v.as_object_mut() else {
            return false;
        };
        let mut changed = false;
        if map.get("apiVersion").and_then(|a| a.as_str()) == Some(shadow) {
            map.insert("apiVersion".into(), gv.into());
            changed = true;
        }
        for key in ["items", "rows"] {
            if let Some(items) = map.get_mut(key).and_then(|i| i.as_array_mut()) {
                for item in items {
                    changed |= walk(item, shadow, gv);
                }
            }
        }
        if let Some(object) = map.get_mut("object") {
            changed |= walk(object, shadow, gv);
        }
        changed
    }
    if !walk(&mut value, &shadow, gv) {
        return doc.to_vec();
    }
    let mut out = serde_json::to_vec(&value).unwrap_or_else(|_| doc.to_vec());
    if doc.ends_with(b"\n") {
        out.push(b'\n');
    }
    out
}

/// `path.Join` of Go for a prefix and a remainder: one slash between, none doubled, and a
/// trailing slash dropped.
fn join(prefix: &str, rest: &str) -> String {
    let rest: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if rest.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}/{}", rest.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::shadow_path;

    #[test]
    fn core_and_groups_go_to_the_shadow_api() {
        for (from, to) in [
            ("/api/v1/namespaces", "/apis/shadow/v1alpha1/namespaces"),
            (
                "/api/v1/namespaces/demo/configmaps/x",
                "/apis/shadow/v1alpha1/namespaces/demo/configmaps/x",
            ),
            (
                "/apis/apps/v1/namespaces/demo/deployments/my-nginx/scale",
                "/apis/shadow/v1alpha1/namespaces/demo/deployments/my-nginx/scale",
            ),
            (
                "/apis/apps/v1/deployments",
                "/apis/shadow/v1alpha1/deployments",
            ),
            (
                "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                "/apis/shadow/v1alpha1/clusterroles",
            ),
            (
                "/apis/multicluster.x-k8s.io/v1alpha1/namespaces/a/serviceexports",
                "/apis/shadow/v1alpha1/namespaces/a/serviceexports",
            ),
            (
                "/apis/shadow/v1alpha1/namespaces",
                "/apis/shadow/v1alpha1/namespaces",
            ),
        ] {
            assert_eq!(shadow_path(from), to, "{from}");
        }
    }

    #[test]
    fn answers_carry_the_requested_api_version() {
        use super::{original_group_version, restore_api_version};
        assert_eq!(
            original_group_version("/apis/apps/v1/namespaces/a/deployments").as_deref(),
            Some("apps/v1")
        );
        assert_eq!(
            original_group_version("/api/v1/namespaces").as_deref(),
            Some("v1")
        );
        assert_eq!(original_group_version("/apis/apps/v1"), None);
        assert_eq!(
            original_group_version("/apis/apps.clusternet.io/v1alpha1/subscriptions"),
            None
        );
        let list = br#"{"apiVersion":"shadow/v1alpha1","kind":"DeploymentList","items":[{"apiVersion":"shadow/v1alpha1","kind":"Deployment"}]}"#;
        let out: serde_json::Value =
            serde_json::from_slice(&restore_api_version(list, "apps/v1")).unwrap();
        assert_eq!(out["apiVersion"], "apps/v1");
        assert_eq!(out["items"][0]["apiVersion"], "apps/v1");
        let event = b"{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"shadow/v1alpha1\"}}\n";
        let out = restore_api_version(event, "apps/v1");
        assert!(out.ends_with(b"}\n"));
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("\"apiVersion\":\"apps/v1\"")
        );
        let status = br#"{"kind":"Status","apiVersion":"v1","code":404}"#;
        assert_eq!(restore_api_version(status, "apps/v1"), status.to_vec());
        assert_eq!(restore_api_version(b"not json", "v1"), b"not json".to_vec());
    }

    #[test]
    fn discovery_and_clusternet_groups_stay() {
        for path in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps/v1",
            "/apis/apps",
            "/openapi/v3/apis/apps/v1",
            "/version",
            "/apis/apps.clusternet.io/v1alpha1/namespaces/default/subscriptions",
            "/apis/clusters.clusternet.io/v1beta1/managedclusters",
            "/apis/proxies.clusternet.io/v1alpha1/sockets/x/proxy/direct/api",
            "/apis/apps/beta/things",
        ] {
            assert_eq!(shadow_path(path), path);
        }
    }
}
