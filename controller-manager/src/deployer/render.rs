//! The objects the deployer derives, named and labelled exactly as Go Clusternet's
//! `controllermanager/deployer` does, and the small pure rules it follows (feed selectors,
//! override ordering, cluster affinity).

use std::collections::BTreeMap;
use std::sync::Arc;

use clusternet_apis::apps::v1alpha1::{
    Base, BaseSpec, ChartReference, Description, DescriptionDeployer, DescriptionSpec, Feed,
    HelmChart, Localization, LocalizationSpec, OverridePolicy, Subscription,
};
use clusternet_apis::known;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use kube::{Resource, ResourceExt};

use super::patch::json_patch_override;

/// Kubernetes' longest label value.
const LABEL_VALUE_MAX_LENGTH: usize = 63;

/// The alphabet of `k8s.io/apimachinery/pkg/util/rand.String`: no vowels or confusable digits.
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `n` characters of [`ALPHANUMS`] derived from `seed`: the same seed gives the same suffix, so
/// an object named with it is found again by whoever derives it next (a repeated or concurrent
/// reconcile) instead of being created twice.
pub fn derived_suffix(seed: &str, n: usize) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(seed.as_bytes());
    digest
        .iter()
        .take(n)
        .map(|b| ALPHANUMS[usize::from(*b) % ALPHANUMS.len()] as char)
        .collect()
}

/// The labels that select the Manifests of a feed (Go: `utils.GetLabelsSelectorFromFeed`).
pub fn feed_selector(feed: &Feed) -> BTreeMap<String, String> {
    let (group, version) = match feed.api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", feed.api_version.as_str()),
    };
    let mut labels = BTreeMap::from([
        (known::CONFIG_GROUP_LABEL.to_string(), group.to_string()),
        (known::CONFIG_VERSION_LABEL.to_string(), version.to_string()),
        (known::CONFIG_KIND_LABEL.to_string(), feed.kind.clone()),
        (known::CONFIG_NAME_LABEL.to_string(), feed.name.clone()),
    ]);
    if !feed.namespace.is_empty() {
        labels.insert(
            known::CONFIG_NAMESPACE_LABEL.to_string(),
            feed.namespace.clone(),
        );
    }
    labels
}

/// Whether `labels` carries every `selector` label with the same value (an equality selector).
pub fn labels_match(
    labels: &BTreeMap<String, String>,
    selector: &BTreeMap<String, String>,
) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

pub use clusternet_apis::apps::v1alpha1::feed_key;

/// `<Kind> [<namespace>/]<name>`, for messages.
pub fn format_feed(feed: &Feed) -> String {
    if feed.namespace.is_empty() {
        format!("{} {}", feed.kind, feed.name)
    } else {
        format!("{} {}/{}", feed.kind, feed.namespace, feed.name)
    }
}

/// Splits `<namespace>/<name>` (a `status.bindingClusters` entry).
pub fn split_binding(binding: &str) -> Option<(&str, &str)> {
    match binding.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.contains('/') => Some((ns, name)),
        _ => None,
    }
}

/// The Base of `sub` for the cluster whose dedicated namespace is `namespace` (labelled
/// `namespace_labels`). `name` is the name to use (an existing Base's, or a new random one).
pub fn base_for(
    sub: &Subscription,
    namespace: &str,
    namespace_labels: &BTreeMap<String, String>,
    name: String,
) -> Base {
    let sub_ns = sub.namespace().unwrap_or_default();
    let sub_uid = sub.uid().unwrap_or_default();
    let mut labels = BTreeMap::from([
        (
            known::OBJECT_CREATED_BY_LABEL.to_string(),
            known::CLUSTERNET_CTRL_MGR_NAME.to_string(),
        ),
        (
            known::CONFIG_KIND_LABEL.to_string(),
            Subscription::kind(&()).to_string(),
        ),
        (known::CONFIG_NAMESPACE_LABEL.to_string(), sub_ns.clone()),
        (known::CONFIG_UID_LABEL.to_string(), sub_uid.clone()),
        (
            known::CONFIG_SUBSCRIPTION_NAMESPACE_LABEL.to_string(),
            sub_ns,
        ),
        (known::CONFIG_SUBSCRIPTION_UID_LABEL.to_string(), sub_uid),
    ]);
    // Go copies both labels whenever the namespace has any labels at all.
    if !namespace_labels.is_empty() {
        for key in [known::CLUSTER_ID_LABEL, known::CLUSTER_NAME_LABEL] {
            labels.insert(
                key.to_string(),
                namespace_labels.get(key).cloned().unwrap_or_default(),
            );
        }
    }
    // The subscription's name only fits in a label when a random suffix could follow it.
    let sub_name = sub.name_any();
    if sub_name.len() < LABEL_VALUE_MAX_LENGTH - known::DEFAULT_RANDOM_ID_LENGTH {
        labels.insert(known::CONFIG_NAME_LABEL.to_string(), sub_name.clone());
        labels.insert(known::CONFIG_SUBSCRIPTION_NAME_LABEL.to_string(), sub_name);
    }
    let mut annotations = BTreeMap::new();
    if let Some(v) = sub
        .annotations()
        .get(known::IS_DEFAULT_CLUSTER_INIT_ANNOTATION)
    {
        annotations.insert(
            known::IS_DEFAULT_CLUSTER_INIT_ANNOTATION.to_string(),
            v.clone(),
        );
    }
    Base {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace.to_string()),
            labels: Some(labels),
            annotations: Some(annotations),
            finalizers: Some(vec![known::APP_FINALIZER.to_string()]),
            ..Default::default()
        },
        spec: BaseSpec {
            feeds: sub.spec.feeds.clone(),
        },
    }
}

/// The name of `sub`'s Base in every cluster namespace: `<sub>-<5 characters>`, shaped like Go's
/// (whose 5 characters are random) but derived from the Subscription's UID, so however many
/// reconciles race, a cluster gets one Base. `attempt` > 0 picks another name when a Base of
/// another Subscription already holds this one.
pub fn base_name(sub: &Subscription, attempt: u32) -> String {
    let uid = sub.uid().unwrap_or_default();
    let seed = if attempt == 0 {
        uid
    } else {
        format!("{uid}/{attempt}")
    };
    format!(
        "{}-{}",
        sub.name_any(),
        derived_suffix(&seed, known::DEFAULT_RANDOM_ID_LENGTH)
    )
}

/// The name of the dividing Localization of `feed` for `base`: `<base>-<5 characters derived
/// from the feed>` (Go: random characters).
pub fn dividing_localization_name(base: &Base, feed: &Feed) -> String {
    format!(
        "{}-{}",
        base.name_any(),
        derived_suffix(&feed_key(feed), known::DEFAULT_RANDOM_ID_LENGTH)
    )
}

/// The labels that select the Descriptions of `base`.
pub fn descriptions_of(base: &Base) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            known::CONFIG_KIND_LABEL.to_string(),
            Base::kind(&()).to_string(),
        ),
        (
            known::CONFIG_NAMESPACE_LABEL.to_string(),
            base.namespace().unwrap_or_default(),
        ),
        (
            known::CONFIG_UID_LABEL.to_string(),
            base.uid().unwrap_or_default(),
        ),
    ])
}

/// The generic Description of `base` holding `raw` (the feeds' objects before overrides):
/// `<base>-generic`, controlled by the Base.
pub fn generic_description(base: &Base, raw: Vec<Vec<u8>>) -> Description {
    let mut desc = description_template(base, format!("{}-generic", base.name_any()));
    desc.spec.raw = raw.into_iter().map(k8s_openapi::ByteString).collect();
    desc
}

/// The Helm Description of `base` for its HelmChart feeds (before overrides): `<base>-helm`,
/// with one chart reference and one HelmChart document per chart (Go: `populateDescriptions`).
///
/// Unlike Go, which stores the whole cached HelmChart (managedFields, resourceVersion and
/// status included, so that every status write re-renders every Description using it), the
/// document keeps what the Helm deployer reads: apiVersion, kind, name, namespace, uid, labels
/// (without the `<uid>: Base|Subscription` back-references), annotations and spec.
pub fn helm_description(base: &Base, charts: &[Arc<HelmChart>]) -> serde_json::Result<Description> {
    let mut desc = description_template(base, format!("{}-helm", base.name_any()));
    desc.spec.deployer = DescriptionDeployer::Helm;
    for chart in charts {
        desc.spec.charts.push(ChartReference {
            namespace: chart.namespace().unwrap_or_default(),
            name: chart.name_any(),
        });
        let labels: BTreeMap<&String, &String> = chart
            .labels()
            .iter()
            .filter(|(k, v)| {
                !(k.len() == 36 && !k.contains('/') && (*v == "Base" || *v == "Subscription"))
            })
            .collect();
        let doc = serde_json::json!({
            "apiVersion": HelmChart::api_version(&()),
            "kind": HelmChart::kind(&()),
            "metadata": {
                "name": chart.name_any(),
                "namespace": chart.namespace(),
                "uid": chart.uid(),
                "labels": labels,
                "annotations": chart.annotations(),
            },
            "spec": chart.spec,
        });
        desc.spec
            .chart_raw
            .push(k8s_openapi::ByteString(serde_json::to_vec(&doc)?));
    }
    Ok(desc)
}

/// A Description of `base` named `name`, without its spec (Go: `descTemplate`).
pub fn description_template(base: &Base, name: String) -> Description {
    let base_label = |key: &str| base.labels().get(key).cloned().unwrap_or_default();
    let mut labels = descriptions_of(base);
    labels.insert(
        known::OBJECT_CREATED_BY_LABEL.to_string(),
        known::CLUSTERNET_CTRL_MGR_NAME.to_string(),
    );
    for key in [
        known::CLUSTER_ID_LABEL,
        known::CLUSTER_NAME_LABEL,
        known::CONFIG_SUBSCRIPTION_NAMESPACE_LABEL,
        known::CONFIG_SUBSCRIPTION_UID_LABEL,
    ] {
        labels.insert(key.to_string(), base_label(key));
    }
    Description {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: base.namespace(),
            labels: Some(labels),
            finalizers: Some(vec![known::APP_FINALIZER.to_string()]),
            owner_references: base.controller_owner_ref(&()).map(|r| vec![r]),
            ..Default::default()
        },
        spec: DescriptionSpec::default(),
        status: None,
    }
}

/// The Localization the deployer populates for Dividing scheduling: it writes the replicas of
/// the cluster at `json_path` of the feed (priority 1000, ApplyNow), controlled by the Base.
pub fn dividing_localization(
    base: &Base,
    sub_uid: &str,
    feed: &Feed,
    json_path: &str,
    replicas: i32,
    name: String,
) -> Localization {
    let labels = BTreeMap::from([
        (
            known::OBJECT_CREATED_BY_LABEL.to_string(),
            known::CLUSTERNET_CTRL_MGR_NAME.to_string(),
        ),
        (sub_uid.to_string(), Subscription::kind(&()).to_string()),
    ]);
    let mut patch = json_patch_override(
        "dividing scheduling replicas",
        &serde_json::json!([{"path": json_path, "value": replicas, "op": "replace"}]),
    );
    // Go writes exactly `[{"path":"…","value":N,"op":"replace"}]` (field order kept).
    patch.value = format!(
        r#"[{{"path":{},"value":{replicas},"op":"replace"}}]"#,
        serde_json::Value::from(json_path)
    );
    Localization {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: base.namespace(),
            labels: Some(labels),
            owner_references: base.controller_owner_ref(&()).map(|r| vec![r]),
            ..Default::default()
        },
        spec: LocalizationSpec {
            override_policy: Some(OverridePolicy::ApplyNow),
            overrides: vec![patch],
            priority: 1000,
            feed: feed.clone(),
        },
    }
}

/// The second-of-minute of a creation timestamp: what Go compares when ordering objects of
/// equal priority (`CreationTimestamp.Second()`, a known quirk kept for identical ordering).
pub fn creation_second(t: Option<&Time>) -> i64 {
    t.map(|t| t.0.as_second().rem_euclid(60)).unwrap_or(0)
}

/// Sorts overrides holders by priority (ascending), ties by [`creation_second`]; stable.
pub fn sort_by_priority<T>(items: &mut [T], key: impl Fn(&T) -> (i32, Option<&Time>)) {
    items.sort_by(|a, b| {
        let (pa, ta) = key(a);
        let (pb, tb) = key(b);
        pa.cmp(&pb)
            .then(creation_second(ta).cmp(&creation_second(tb)))
    });
}

/// Whether a label selector matches `labels` (matchLabels and matchExpressions ANDed).
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector
        .match_labels
        .as_ref()
        .is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let exprs_ok = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusternet_apis::apps::v1alpha1::SubscriptionSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn feed(api_version: &str, kind: &str, ns: &str, name: &str) -> Feed {
        Feed {
            kind: kind.into(),
            api_version: api_version.into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    fn sub(name: &str) -> Subscription {
        let mut sub = Subscription::new(
            name,
            SubscriptionSpec {
                feeds: vec![feed("apps/v1", "Deployment", "default", "web")],
                ..Default::default()
            },
        );
        sub.metadata.namespace = Some("apps".into());
        sub.metadata.uid = Some("0b7f2b87-77b1-4cf4-9a3b-1c8b6a3f1d3e".into());
        sub
    }

    #[test]
    fn feed_keys_and_selectors() {
        let f = feed("apps/v1", "Deployment", "default", "web");
        assert_eq!(feed_key(&f), "apps/v1/Deployment/default/web");
        let ns = feed("v1", "Namespace", "", "foo");
        assert_eq!(feed_key(&ns), "v1/Namespace/foo");
        let sel = feed_selector(&ns);
        assert_eq!(sel[known::CONFIG_GROUP_LABEL], "");
        assert_eq!(sel[known::CONFIG_VERSION_LABEL], "v1");
        assert!(!sel.contains_key(known::CONFIG_NAMESPACE_LABEL));
        assert_eq!(feed_selector(&f)[known::CONFIG_GROUP_LABEL], "apps");
        assert_eq!(feed_selector(&f)[known::CONFIG_NAMESPACE_LABEL], "default");
        assert_eq!(format_feed(&f), "Deployment default/web");
        assert_eq!(
            split_binding("clusternet-abc/child1"),
            Some(("clusternet-abc", "child1"))
        );
        assert_eq!(split_binding("child1"), None);
    }

    #[test]
    fn base_naming_and_labels() {
        let s = sub("app");
        let name = base_name(&s, 0);
        assert!(name.starts_with("app-") && name.len() == 9, "{name}");
        // Derived, not random: every reconcile names the same Base; another attempt another.
        assert_eq!(name, base_name(&s, 0));
        assert_ne!(name, base_name(&s, 1));
        let mut other = s.clone();
        other.metadata.uid = Some("another-uid".into());
        assert_ne!(name, base_name(&other, 0));
        let ns_labels = BTreeMap::from([
            (known::CLUSTER_ID_LABEL.to_string(), "id-1".to_string()),
            ("other".to_string(), "x".to_string()),
        ]);
        let base = base_for(&s, "clusternet-x", &ns_labels, name.clone());
        let l = base.labels();
        assert_eq!(
            l[known::OBJECT_CREATED_BY_LABEL],
            "clusternet-controller-manager"
        );
        assert_eq!(l[known::CONFIG_KIND_LABEL], "Subscription");
        assert_eq!(l[known::CONFIG_NAME_LABEL], "app");
        assert_eq!(l[known::CONFIG_NAMESPACE_LABEL], "apps");
        assert_eq!(l[known::CONFIG_UID_LABEL], s.uid().unwrap());
        assert_eq!(l[known::CONFIG_SUBSCRIPTION_NAME_LABEL], "app");
        assert_eq!(l[known::CLUSTER_ID_LABEL], "id-1");
        assert_eq!(l[known::CLUSTER_NAME_LABEL], "");
        assert_eq!(base.finalizers(), [known::APP_FINALIZER]);
        assert_eq!(base.spec.feeds, s.spec.feeds);
        // names too long for a label value leave the name labels out
        let long = sub(&"a".repeat(58));
        let base = base_for(&long, "ns", &BTreeMap::new(), "x".into());
        assert!(!base.labels().contains_key(known::CONFIG_NAME_LABEL));
        assert!(!base.labels().contains_key(known::CLUSTER_ID_LABEL));
        assert!(
            base_for(&sub(&"a".repeat(57)), "ns", &BTreeMap::new(), "x".into())
                .labels()
                .contains_key(known::CONFIG_SUBSCRIPTION_NAME_LABEL)
        );
    }

    #[test]
    fn description_naming_labels_and_owner() {
        let s = sub("app");
        let ns_labels = BTreeMap::from([
            (known::CLUSTER_ID_LABEL.to_string(), "id-1".to_string()),
            (known::CLUSTER_NAME_LABEL.to_string(), "child1".to_string()),
        ]);
        let mut base = base_for(&s, "clusternet-x", &ns_labels, "app-abcde".into());
        base.metadata.uid = Some("base-uid".into());
        let desc = generic_description(&base, vec![b"{}".to_vec()]);
        assert_eq!(desc.name_any(), "app-abcde-generic");
        assert_eq!(desc.namespace().as_deref(), Some("clusternet-x"));
        let l = desc.labels();
        assert_eq!(l[known::CONFIG_KIND_LABEL], "Base");
        assert_eq!(l[known::CONFIG_UID_LABEL], "base-uid");
        assert_eq!(l[known::CONFIG_NAMESPACE_LABEL], "clusternet-x");
        assert_eq!(l[known::CLUSTER_NAME_LABEL], "child1");
        assert_eq!(l[known::CONFIG_SUBSCRIPTION_UID_LABEL], s.uid().unwrap());
        assert!(
            !l.contains_key(known::CONFIG_NAME_LABEL),
            "Go does not set it"
        );
        let owner = &desc.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("Base", "app-abcde")
        );
        assert_eq!(owner.controller, Some(true));
        assert!(labels_match(l, &descriptions_of(&base)));
    }

    #[test]
    fn dividing_localization_writes_the_replicas() {
        let mut base = base_for(&sub("app"), "ns", &BTreeMap::new(), "app-abcde".into());
        base.metadata.uid = Some("base-uid".into());
        let f = feed("apps/v1", "Deployment", "default", "web");
        let loc = dividing_localization(&base, "sub-uid", &f, "/spec/replicas", 3, "n".into());
        assert_eq!(
            loc.spec.overrides[0].value,
            r#"[{"path":"/spec/replicas","value":3,"op":"replace"}]"#
        );
        assert_eq!(loc.spec.priority, 1000);
        assert_eq!(loc.spec.override_policy, Some(OverridePolicy::ApplyNow));
        assert_eq!(loc.labels()["sub-uid"], "Subscription");
        let doc = serde_json::json!({"spec": {"replicas": 1}});
        let (out, _) = super::super::patch::apply_overrides(
            &serde_json::to_vec(&doc).unwrap(),
            b"",
            &loc.spec.overrides,
        )
        .unwrap();
        let out: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["spec"]["replicas"], 3);
    }

    #[test]
    fn priority_order_uses_creation_seconds() {
        let t = |s: i64| Some(Time(jiff::Timestamp::from_second(s).unwrap()));
        // (name, priority, created)
        let mut items = vec![
            ("late-low", 500, t(1_000_019)), // second-of-minute 59
            ("high", 900, t(1_000_000)),
            ("early-low", 500, t(1_000_030)), // 11 s later, but second 10 < 59: first (quirk)
            ("lowest", 100, t(1_000_100)),
        ];
        sort_by_priority(&mut items, |i| (i.1, i.2.as_ref()));
        let names: Vec<_> = items.iter().map(|i| i.0).collect();
        assert_eq!(names, ["lowest", "early-low", "late-low", "high"]);
    }

    #[test]
    fn label_selectors() {
        let labels = BTreeMap::from([("env".to_string(), "prod".to_string())]);
        let sel = |ml: Option<(&str, &str)>, op: Option<(&str, &str, Vec<&str>)>| LabelSelector {
            match_labels: ml.map(|(k, v)| BTreeMap::from([(k.to_string(), v.to_string())])),
            match_expressions: op.map(|(k, o, vs)| {
                vec![LabelSelectorRequirement {
                    key: k.into(),
                    operator: o.into(),
                    values: Some(vs.into_iter().map(String::from).collect()),
                }]
            }),
        };
        assert!(selector_matches(&LabelSelector::default(), &labels));
        assert!(selector_matches(&sel(Some(("env", "prod")), None), &labels));
        assert!(!selector_matches(&sel(Some(("env", "dev")), None), &labels));
        assert!(selector_matches(
            &sel(None, Some(("env", "In", vec!["prod", "x"]))),
            &labels
        ));
        assert!(!selector_matches(
            &sel(None, Some(("env", "NotIn", vec!["prod"]))),
            &labels
        ));
        assert!(selector_matches(
            &sel(None, Some(("zone", "DoesNotExist", vec![]))),
            &labels
        ));
        assert!(!selector_matches(
            &sel(None, Some(("zone", "Exists", vec![]))),
            &labels
        ));
    }
}
