//! Authorization: may this user do this? Asked of the parent with a SubjectAccessReview (resource
//! or non-resource attributes from request-info), decisions cached for a few seconds, as
//! kube-apiserver's delegating authorizer does; `system:masters` is always allowed (the
//! aggregator's availability probe relies on it).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

use crate::authn::UserInfo;
use crate::cache::TtlCache;
use crate::request_info::RequestInfo;
use crate::status::{ApiError, GroupResource};

/// How long an allow is trusted (k8s.io/apiserver default).
const ALLOW_TTL: Duration = Duration::from_secs(10);
/// How long a deny is remembered (k8s.io/apiserver default).
const DENY_TTL: Duration = Duration::from_secs(10);
/// Groups allowed everything without asking.
const ALWAYS_ALLOW_GROUPS: [&str; 1] = ["system:masters"];

/// A decision with the authorizer's explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Decision {
    allowed: bool,
    reason: String,
}

/// The shared authorizer.
#[derive(Clone)]
pub struct Authorizer {
    api: Api<SubjectAccessReview>,
    cache: Arc<TtlCache<String, Decision>>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer").finish_non_exhaustive()
    }
}

impl Authorizer {
    /// An authorizer using `client` (which needs `create subjectaccessreviews`).
    pub fn new(client: kube::Client) -> Self {
        Self {
            api: Api::all(client),
            cache: Arc::new(TtlCache::new(10_000)),
        }
    }

    /// Ok if allowed; a 403 Status worded as kube-apiserver words it otherwise.
    pub async fn authorize(&self, user: &UserInfo, info: &RequestInfo) -> Result<(), ApiError> {
        if ALWAYS_ALLOW_GROUPS.iter().any(|g| user.in_group(g)) {
            return Ok(());
        }
        let spec = review_spec(user, info);
        let key = serde_json::to_string(&spec).unwrap_or_default();
        let decision = match self.cache.get(&key) {
            Some(d) => d,
            None => {
                let review = SubjectAccessReview {
                    spec,
                    ..Default::default()
                };
                let result = self
                    .api
                    .create(&PostParams::default(), &review)
                    .await
                    .map_err(|err| {
                        tracing::warn!(error = %err, "SubjectAccessReview failed");
                        ApiError::unavailable(
                            "unable to authorize the request: subject access review failed",
                        )
                    })?;
                let status = result.status.unwrap_or_default();
                let decision = Decision {
                    allowed: status.allowed,
                    reason: status.reason.unwrap_or_default(),
                };
                self.cache.insert(
                    key,
                    decision.clone(),
                    if decision.allowed {
                        ALLOW_TTL
                    } else {
                        DENY_TTL
                    },
                );
                decision
            }
        };
        if decision.allowed {
            Ok(())
        } else {
            Err(forbidden(user, info, &decision.reason))
        }
    }
}

/// The SubjectAccessReview spec for a request.
fn review_spec(user: &UserInfo, info: &RequestInfo) -> SubjectAccessReviewSpec {
    let (resource_attributes, non_resource_attributes) = if info.is_resource_request {
        (
            Some(ResourceAttributes {
                namespace: Some(info.namespace.clone()),
                verb: Some(info.verb.clone()),
                group: Some(info.api_group.clone()),
                version: Some(info.api_version.clone()),
                resource: Some(info.resource.clone()),
                subresource: Some(info.subresource.clone()),
                name: Some(info.name.clone()),
                ..Default::default()
            }),
            None,
        )
    } else {
        (
            None,
            Some(NonResourceAttributes {
                path: Some(info.path.clone()),
                verb: Some(info.verb.clone()),
            }),
        )
    };
    SubjectAccessReviewSpec {
        user: Some(user.name.clone()),
        uid: (!user.uid.is_empty()).then(|| user.uid.clone()),
        groups: Some(user.groups.clone()),
        extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
        resource_attributes,
        non_resource_attributes,
    }
}

/// kube-apiserver's forbidden message.
fn forbidden(user: &UserInfo, info: &RequestInfo, reason: &str) -> ApiError {
    let mut why = if !info.is_resource_request {
        format!(
            "User \"{}\" cannot {} path \"{}\"",
            user.name, info.verb, info.path
        )
    } else {
        let mut resource = info.resource.clone();
        if !info.subresource.is_empty() {
            resource = format!("{resource}/{}", info.subresource);
        }
        if info.namespace.is_empty() {
            format!(
                "User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" at the cluster scope",
                user.name, info.verb, info.api_group
            )
        } else {
            format!(
                "User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" in the namespace \"{}\"",
                user.name, info.verb, info.api_group, info.namespace
            )
        }
    };
    if !reason.is_empty() {
        why = format!("{why}: {reason}");
    }
    if info.is_resource_request {
        ApiError::forbidden(
            &GroupResource::new(info.api_group.clone(), info.resource.clone()),
            &info.name,
            &why,
        )
    } else {
        ApiError::forbidden_path(&why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::Method;
    use std::collections::BTreeMap;

    fn user() -> UserInfo {
        UserInfo {
            name: "bob".into(),
            uid: String::new(),
            groups: vec!["system:authenticated".into()],
            extra: BTreeMap::new(),
            method: Method::FrontProxy,
        }
    }

    #[test]
    fn forbidden_messages_match_kube_apiserver() {
        let info = RequestInfo::parse(
            &http::Method::GET,
            "/apis/proxies.clusternet.io/v1alpha1/sockets/c1/proxy/direct/api",
            None,
        );
        let err = forbidden(&user(), &info, "");
        assert_eq!(
            err.message,
            "sockets.proxies.clusternet.io \"c1\" is forbidden: User \"bob\" cannot get resource \"sockets/proxy\" in API group \"proxies.clusternet.io\" at the cluster scope"
        );
        let info = RequestInfo::parse(
            &http::Method::GET,
            "/apis/shadow/v1alpha1/namespaces/default/deployments",
            None,
        );
        let err = forbidden(&user(), &info, "no RBAC policy matched");
        assert_eq!(
            err.message,
            "deployments.shadow is forbidden: User \"bob\" cannot list resource \"deployments\" in API group \"shadow\" in the namespace \"default\": no RBAC policy matched"
        );
        let info = RequestInfo::parse(&http::Method::GET, "/metrics", None);
        assert_eq!(
            forbidden(&user(), &info, "").message,
            "forbidden: User \"bob\" cannot get path \"/metrics\""
        );
    }

    #[test]
    fn review_spec_carries_request_attributes() {
        let info = RequestInfo::parse(
            &http::Method::POST,
            "/apis/shadow/v1alpha1/namespaces/ns1/deployments",
            None,
        );
        let spec = review_spec(&user(), &info);
        let ra = spec.resource_attributes.unwrap();
        assert_eq!(ra.verb.as_deref(), Some("create"));
        assert_eq!(ra.group.as_deref(), Some("shadow"));
        assert_eq!(ra.namespace.as_deref(), Some("ns1"));
        assert!(spec.non_resource_attributes.is_none());
        let info = RequestInfo::parse(&http::Method::GET, "/openapi/v2", None);
        let spec = review_spec(&user(), &info);
        assert_eq!(
            spec.non_resource_attributes.unwrap().path.as_deref(),
            Some("/openapi/v2")
        );
    }
}
