//! Taint/toleration matching, as `k8s.io/component-helpers/scheduling/corev1` does it.

use k8s_openapi::api::core::v1::{Taint, Toleration};

/// Whether `toleration` tolerates `taint` (`Toleration.ToleratesTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    if let Some(key) = toleration.key.as_deref().filter(|k| !k.is_empty())
        && key != taint.key
    {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        "Exists" => true,
        _ => false,
    }
}

/// The first taint passing `filter` that no toleration tolerates
/// (`FindMatchingUntoleratedTaint`).
pub fn find_untolerated<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    filter: impl Fn(&Taint) -> bool,
) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| filter(t))
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: Some(value.into()),
            effect: effect.into(),
            time_added: None,
        }
    }
    fn tol(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some(op.into()),
            value: Some(value.into()),
            effect: Some(effect.into()),
            toleration_seconds: None,
        }
    }

    #[test]
    fn matching() {
        let t = taint("clusters.clusternet.io/unschedulable", "x", "NoSchedule");
        assert!(tolerates(&tol("", "Exists", "", ""), &t));
        assert!(tolerates(
            &tol(
                "clusters.clusternet.io/unschedulable",
                "Exists",
                "",
                "NoSchedule"
            ),
            &t
        ));
        assert!(!tolerates(
            &tol(
                "clusters.clusternet.io/unschedulable",
                "Exists",
                "",
                "NoExecute"
            ),
            &t
        ));
        assert!(tolerates(
            &tol("clusters.clusternet.io/unschedulable", "Equal", "x", ""),
            &t
        ));
        assert!(!tolerates(
            &tol("clusters.clusternet.io/unschedulable", "", "y", ""),
            &t
        ));
        let taints = [taint("a", "", "PreferNoSchedule"), t.clone()];
        let hard = |t: &Taint| t.effect == "NoSchedule" || t.effect == "NoExecute";
        assert_eq!(find_untolerated(&taints, &[], hard), Some(&t));
        assert_eq!(
            find_untolerated(&taints, &[tol("", "Exists", "", "")], hard),
            None
        );
    }
}
