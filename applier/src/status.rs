//! Building `Description.status` from the outcome of one apply pass, in Clusternet's shapes:
//! phase `Success`/`Failure`, `reason` the aggregated error text (one error as it is, several as
//! `[e1, e2]`, as Go's `utilerrors.NewAggregate` prints them), and one `manifestStatuses` entry
//! per object in the child with its `.status`.
//!
//! `manifestStatuses` doubles as the record of what is applied in the child: an entry whose
//! object left `spec.raw` is what the next pass prunes, so an entry stays until its object is
//! gone (a failed prune keeps it, and the next pass tries again).

use clusternet_apis::apps::v1alpha1::{DescriptionPhase, DescriptionStatus, Feed, ManifestStatus};
use serde_json::{Value, json};

/// What happened to one object of `spec.raw`.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredOutcome {
    /// The object's feed (namespace resolved).
    pub feed: Feed,
    /// `Ok(status of the object in the child)` or the child's error message.
    pub result: Result<Option<Value>, String>,
}

/// What happened to one object being pruned.
#[derive(Clone, Debug, PartialEq)]
pub struct PruneOutcome {
    /// The object's feed.
    pub feed: Feed,
    /// `Ok(())` when the object is gone (or is not ours any more), else the error.
    pub result: Result<(), String>,
}

/// Joins errors as Go's `utilerrors.NewAggregate(errs).Error()` does.
pub fn aggregate(errors: &[String]) -> String {
    match errors {
        [] => String::new(),
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// The new status. `previous` is the current status (its entries of objects that failed now are
/// kept: the object is still in the child from an earlier pass); `decode_errors` are entries of
/// `spec.raw` that could not be decoded.
pub fn build(
    previous: &DescriptionStatus,
    decode_errors: &[String],
    desired: &[DesiredOutcome],
    pruned: &[PruneOutcome],
) -> DescriptionStatus {
    let mut errors: Vec<String> = decode_errors.to_vec();
    let mut manifest_statuses = Vec::new();
    for outcome in desired {
        match &outcome.result {
            Ok(observed) => manifest_statuses.push(ManifestStatus {
                feed: outcome.feed.clone(),
                observed_status: observed.clone(),
            }),
            Err(err) => {
                errors.push(err.clone());
                if let Some(old) = previous
                    .manifest_statuses
                    .iter()
                    .find(|m| m.feed == outcome.feed)
                {
                    manifest_statuses.push(old.clone());
                }
            }
        }
    }
    for outcome in pruned {
        if let Err(err) = &outcome.result {
            errors.push(format!(
                "failed to prune {}: {err}",
                describe(&outcome.feed)
            ));
            if let Some(old) = previous
                .manifest_statuses
                .iter()
                .find(|m| m.feed == outcome.feed)
            {
                manifest_statuses.push(old.clone());
            }
        }
    }
    DescriptionStatus {
        phase: Some(if errors.is_empty() {
            DescriptionPhase::Success
        } else {
            DescriptionPhase::Failure
        }),
        reason: aggregate(&errors),
        manifest_statuses,
    }
}

/// A JSON merge patch that makes `.status` exactly `status` (fields left empty are removed, not
/// left over from before: a merge patch only removes what it sets to null).
pub fn merge_patch(status: &DescriptionStatus) -> Value {
    let phase = status
        .phase
        .as_ref()
        .map(|p| serde_json::to_value(p).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    let reason = if status.reason.is_empty() {
        Value::Null
    } else {
        Value::String(status.reason.clone())
    };
    let manifests = if status.manifest_statuses.is_empty() {
        Value::Null
    } else {
        serde_json::to_value(&status.manifest_statuses).unwrap_or(Value::Null)
    };
    json!({"status": {"phase": phase, "reason": reason, "manifestStatuses": manifests}})
}

fn describe(feed: &Feed) -> String {
    if feed.namespace.is_empty() {
        format!("{} {}", feed.kind, feed.name)
    } else {
        format!("{} {}/{}", feed.kind, feed.namespace, feed.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(kind: &str, name: &str) -> Feed {
        Feed {
            kind: kind.into(),
            api_version: "v1".into(),
            namespace: "demo".into(),
            name: name.into(),
        }
    }

    #[test]
    fn aggregate_prints_like_go() {
        assert_eq!(aggregate(&[]), "");
        assert_eq!(aggregate(&["a".into()]), "a");
        assert_eq!(aggregate(&["a".into(), "b".into()]), "[a, b]");
    }

    #[test]
    fn success_lists_every_object_with_its_status() {
        let status = build(
            &DescriptionStatus::default(),
            &[],
            &[
                DesiredOutcome {
                    feed: feed("ConfigMap", "a"),
                    result: Ok(None),
                },
                DesiredOutcome {
                    feed: feed("Deployment", "web"),
                    result: Ok(Some(json!({"replicas": 1}))),
                },
            ],
            &[PruneOutcome {
                feed: feed("ConfigMap", "old"),
                result: Ok(()),
            }],
        );
        assert_eq!(status.phase, Some(DescriptionPhase::Success));
        assert_eq!(status.reason, "");
        assert_eq!(status.manifest_statuses.len(), 2);
        assert_eq!(
            status.manifest_statuses[1].observed_status,
            Some(json!({"replicas": 1}))
        );
        let patch = merge_patch(&status);
        assert_eq!(patch["status"]["phase"], "Success");
        assert!(patch["status"]["reason"].is_null());
        assert_eq!(patch["status"]["manifestStatuses"][0]["kind"], "ConfigMap");
        assert_eq!(patch["status"]["manifestStatuses"][0]["namespace"], "demo");
    }

    #[test]
    fn one_failure_gives_its_reason_and_keeps_the_others() {
        let previous = DescriptionStatus {
            phase: Some(DescriptionPhase::Success),
            reason: String::new(),
            manifest_statuses: vec![
                ManifestStatus {
                    feed: feed("ConfigMap", "was-ok"),
                    observed_status: None,
                },
                ManifestStatus {
                    feed: feed("ConfigMap", "stuck"),
                    observed_status: None,
                },
            ],
        };
        let status = build(
            &previous,
            &[],
            &[
                DesiredOutcome {
                    feed: feed("ConfigMap", "fine"),
                    result: Ok(None),
                },
                DesiredOutcome {
                    feed: feed("ConfigMap", "was-ok"),
                    result: Err("ConfigMap \"was-ok\" is invalid: x".into()),
                },
                DesiredOutcome {
                    feed: feed("ConfigMap", "new-bad"),
                    result: Err("ConfigMap \"new-bad\" is invalid: y".into()),
                },
            ],
            &[PruneOutcome {
                feed: feed("ConfigMap", "stuck"),
                result: Err("forbidden".into()),
            }],
        );
        assert_eq!(status.phase, Some(DescriptionPhase::Failure));
        assert_eq!(
            status.reason,
            "[ConfigMap \"was-ok\" is invalid: x, ConfigMap \"new-bad\" is invalid: y, failed to prune ConfigMap demo/stuck: forbidden]"
        );
        let names: Vec<_> = status
            .manifest_statuses
            .iter()
            .map(|m| m.feed.name.as_str())
            .collect();
        // The failed object that was applied before stays recorded, the new failed one is not
        // (it is not in the child), the failed prune stays for the next attempt.
        assert_eq!(names, ["fine", "was-ok", "stuck"]);
    }

    #[test]
    fn decode_errors_fail_the_description() {
        let status = build(
            &DescriptionStatus::default(),
            &["failed to unmarshal resource: x".into()],
            &[],
            &[],
        );
        assert_eq!(status.phase, Some(DescriptionPhase::Failure));
        assert_eq!(status.reason, "failed to unmarshal resource: x");
        assert!(merge_patch(&status)["status"]["manifestStatuses"].is_null());
    }
}
