//! API errors and their one rendering: a `metav1.Status`.
//!
//! Every failure the hub answers — from authentication to a bad patch — is an [`ApiError`], and
//! [`ApiError::into_response`] is the only place one becomes an HTTP response. The codes,
//! reasons and message shapes follow kube-apiserver, because client-go maps `reason`/`code` to
//! typed errors (`IsNotFound`, `IsConflict`, …) and kubectl prints `message` verbatim.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};

use crate::body::{Body, full};

/// `metav1.StatusReason` values the hub uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// 400
    BadRequest,
    /// 401
    Unauthorized,
    /// 403
    Forbidden,
    /// 404
    NotFound,
    /// 405
    MethodNotAllowed,
    /// 406
    NotAcceptable,
    /// 409, resource already exists
    AlreadyExists,
    /// 409, optimistic-concurrency conflict
    Conflict,
    /// 410, resource version too old
    Expired,
    /// 410
    Gone,
    /// 413
    RequestEntityTooLarge,
    /// 415
    UnsupportedMediaType,
    /// 422
    Invalid,
    /// 429
    TooManyRequests,
    /// 500
    InternalError,
    /// 503
    ServiceUnavailable,
    /// 504
    Timeout,
    /// 500 without a reason (kube-apiserver's `StatusReasonUnknown`: an error that is not an
    /// API status, answered with its text).
    Unknown,
}

impl Reason {
    /// The reason for a Status `reason` string.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "BadRequest" => Reason::BadRequest,
            "Unauthorized" => Reason::Unauthorized,
            "Forbidden" => Reason::Forbidden,
            "NotFound" => Reason::NotFound,
            "MethodNotAllowed" => Reason::MethodNotAllowed,
            "NotAcceptable" => Reason::NotAcceptable,
            "AlreadyExists" => Reason::AlreadyExists,
            "Conflict" => Reason::Conflict,
            "Expired" => Reason::Expired,
            "Gone" => Reason::Gone,
            "RequestEntityTooLarge" => Reason::RequestEntityTooLarge,
            "UnsupportedMediaType" => Reason::UnsupportedMediaType,
            "Invalid" => Reason::Invalid,
            "TooManyRequests" => Reason::TooManyRequests,
            "InternalError" => Reason::InternalError,
            "ServiceUnavailable" => Reason::ServiceUnavailable,
            "Timeout" => Reason::Timeout,
            _ => return None,
        })
    }

    /// The most fitting reason for an HTTP code without one.
    pub fn from_code(code: u16) -> Self {
        match code {
            400 => Reason::BadRequest,
            401 => Reason::Unauthorized,
            403 => Reason::Forbidden,
            404 => Reason::NotFound,
            405 => Reason::MethodNotAllowed,
            406 => Reason::NotAcceptable,
            409 => Reason::Conflict,
            410 => Reason::Gone,
            413 => Reason::RequestEntityTooLarge,
            415 => Reason::UnsupportedMediaType,
            422 => Reason::Invalid,
            429 => Reason::TooManyRequests,
            503 => Reason::ServiceUnavailable,
            504 => Reason::Timeout,
            _ => Reason::InternalError,
        }
    }

    /// The string clients match on.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadRequest => "BadRequest",
            Reason::Unauthorized => "Unauthorized",
            Reason::Forbidden => "Forbidden",
            Reason::NotFound => "NotFound",
            Reason::MethodNotAllowed => "MethodNotAllowed",
            Reason::NotAcceptable => "NotAcceptable",
            Reason::AlreadyExists => "AlreadyExists",
            Reason::Conflict => "Conflict",
            Reason::Expired => "Expired",
            Reason::Gone => "Gone",
            Reason::RequestEntityTooLarge => "RequestEntityTooLarge",
            Reason::UnsupportedMediaType => "UnsupportedMediaType",
            Reason::Invalid => "Invalid",
            Reason::TooManyRequests => "TooManyRequests",
            Reason::InternalError => "InternalError",
            Reason::ServiceUnavailable => "ServiceUnavailable",
            Reason::Timeout => "Timeout",
            Reason::Unknown => "",
        }
    }

    /// The HTTP status that goes with the reason.
    pub fn code(self) -> u16 {
        match self {
            Reason::BadRequest => 400,
            Reason::Unauthorized => 401,
            Reason::Forbidden => 403,
            Reason::NotFound => 404,
            Reason::MethodNotAllowed => 405,
            Reason::NotAcceptable => 406,
            Reason::AlreadyExists | Reason::Conflict => 409,
            Reason::Expired | Reason::Gone => 410,
            Reason::RequestEntityTooLarge => 413,
            Reason::UnsupportedMediaType => 415,
            Reason::Invalid => 422,
            Reason::TooManyRequests => 429,
            Reason::InternalError | Reason::Unknown => 500,
            Reason::ServiceUnavailable => 503,
            Reason::Timeout => 504,
        }
    }
}

/// A group-qualified resource, as it appears in messages (`deployments.apps`, `sockets.proxies.clusternet.io`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupResource {
    /// API group ("" for core).
    pub group: String,
    /// Plural resource name.
    pub resource: String,
}

impl GroupResource {
    /// `resource` in `group`.
    pub fn new(group: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            resource: resource.into(),
        }
    }
}

impl std::fmt::Display for GroupResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// One field-level problem of an `Invalid` error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, …
    pub reason: String,
    /// The field path, e.g. `metadata.name`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// An error answered as a `metav1.Status`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// Why.
    pub reason: Reason,
    /// Human-readable message, printed by kubectl as is.
    pub message: String,
    /// `details.name`, `details.group`, `details.kind` (boxed: errors travel in `Result`s).
    pub details: Option<Box<(String, String, String)>>,
    /// `details.causes`.
    pub causes: Vec<FieldError>,
    /// `details.retryAfterSeconds` (and the `Retry-After` header).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// An error with only a reason and a message.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            details: None,
            causes: Vec::new(),
            retry_after: None,
        }
    }

    fn with_details(mut self, resource: &GroupResource, name: &str) -> Self {
        self.details = Some(Box::new((
            name.to_string(),
            resource.group.clone(),
            resource.resource.clone(),
        )));
        self
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Reason::BadRequest, message)
    }

    /// 401, as kube-apiserver words it.
    pub fn unauthorized() -> Self {
        Self::new(Reason::Unauthorized, "Unauthorized")
    }

    /// 403 for `resource`/`name` with the authorizer's explanation.
    pub fn forbidden(resource: &GroupResource, name: &str, why: &str) -> Self {
        let subject = if name.is_empty() {
            resource.to_string()
        } else {
            format!("{resource} \"{name}\"")
        };
        Self::new(Reason::Forbidden, format!("{subject} is forbidden: {why}"))
            .with_details(resource, name)
    }

    /// 403 for a non-resource path.
    pub fn forbidden_path(why: &str) -> Self {
        Self::new(Reason::Forbidden, format!("forbidden: {why}"))
    }

    /// 404 for a named object.
    pub fn not_found(resource: &GroupResource, name: &str) -> Self {
        Self::new(Reason::NotFound, format!("{resource} \"{name}\" not found"))
            .with_details(resource, name)
    }

    /// 404 for a path nothing serves.
    pub fn path_not_found() -> Self {
        Self::new(
            Reason::NotFound,
            "the server could not find the requested resource",
        )
    }

    /// 405.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(Reason::MethodNotAllowed, message)
    }

    /// 406.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(Reason::NotAcceptable, message)
    }

    /// 409 AlreadyExists.
    pub fn already_exists(resource: &GroupResource, name: &str) -> Self {
        Self::new(
            Reason::AlreadyExists,
            format!("{resource} \"{name}\" already exists"),
        )
        .with_details(resource, name)
    }

    /// 409 Conflict (stale resourceVersion).
    pub fn conflict(resource: &GroupResource, name: &str, why: &str) -> Self {
        Self::new(
            Reason::Conflict,
            format!("Operation cannot be fulfilled on {resource} \"{name}\": {why}"),
        )
        .with_details(resource, name)
    }

    /// 410 Expired: a resourceVersion or continue token too old to serve.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(Reason::Expired, message)
    }

    /// 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(Reason::RequestEntityTooLarge, message)
    }

    /// 415.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            Reason::UnsupportedMediaType,
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml; got {content_type:?}"
            ),
        )
    }

    /// 422 Invalid with field causes; the message lists them as kube-apiserver does.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<FieldError>) -> Self {
        let list = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect::<Vec<_>>();
        let summary = match list.len() {
            0 => String::new(),
            1 => list[0].clone(),
            _ => format!("[{}]", list.join(", ")),
        };
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let mut err = Self::new(
            Reason::Invalid,
            format!("{qualified} \"{name}\" is invalid: {summary}"),
        );
        err.details = Some(Box::new((
            name.to_string(),
            group.to_string(),
            kind.to_string(),
        )));
        err.causes = causes;
        err
    }

    /// 429 with Retry-After.
    pub fn too_many_requests(message: impl Into<String>, retry_after: u32) -> Self {
        let mut err = Self::new(Reason::TooManyRequests, message);
        err.retry_after = Some(retry_after);
        err
    }

    /// 500. The message must not carry secrets.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            Reason::InternalError,
            format!("Internal error occurred: {}", message.into()),
        )
    }

    /// 503 for a transient condition: clients (client-go honours `Retry-After`) retry after 1 s.
    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut err = Self::new(Reason::ServiceUnavailable, message);
        err.retry_after = Some(1);
        err
    }

    /// 503 for something down for an unknown time (a child cluster whose agent is gone): no
    /// `Retry-After`, so kubectl reports it at once instead of retrying for ten seconds.
    pub fn unreachable(message: impl Into<String>) -> Self {
        Self::new(Reason::ServiceUnavailable, message)
    }

    /// 504, as kube-apiserver's timeout filter words it.
    pub fn timeout() -> Self {
        Self::new(
            Reason::Timeout,
            "the server was unable to return a response in the time allotted, but may still be processing the request",
        )
    }

    /// An error answered by another apiserver (the parent), kept as it was: code, reason,
    /// message, details and causes. A body that is not a Status becomes an error with the code
    /// and the body's first line as message.
    pub fn from_status_response(code: u16, body: &[u8]) -> Self {
        let status: Option<Status> = serde_json::from_slice(body).ok();
        let reason = status
            .as_ref()
            .and_then(|s| s.reason.as_deref())
            .and_then(Reason::parse)
            .unwrap_or_else(|| Reason::from_code(code));
        let message = status
            .as_ref()
            .and_then(|s| s.message.clone())
            .unwrap_or_else(|| {
                String::from_utf8_lossy(body)
                    .lines()
                    .next()
                    .unwrap_or("the server rejected the request")
                    .chars()
                    .take(500)
                    .collect()
            });
        let mut err = Self::new(reason, message);
        if let Some(details) = status.and_then(|s| s.details) {
            err.details = Some(Box::new((
                details.name.unwrap_or_default(),
                details.group.unwrap_or_default(),
                details.kind.unwrap_or_default(),
            )));
            err.causes = details
                .causes
                .unwrap_or_default()
                .into_iter()
                .map(|c| FieldError {
                    reason: c.reason.unwrap_or_default(),
                    field: c.field.unwrap_or_default(),
                    message: c.message.unwrap_or_default(),
                })
                .collect();
            err.retry_after = details
                .retry_after_seconds
                .and_then(|s| u32::try_from(s).ok());
        }
        err
    }

    /// HTTP status of this error.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.reason.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The `metav1.Status` object.
    pub fn to_status(&self) -> Status {
        let has_details =
            self.details.is_some() || !self.causes.is_empty() || self.retry_after.is_some();
        Status {
            status: Some("Failure".into()),
            message: Some(self.message.clone()),
            reason: (self.reason != Reason::Unknown).then(|| self.reason.as_str().into()),
            code: Some(i32::from(self.reason.code())),
            details: has_details.then(|| {
                let (name, group, kind) = self.details.as_deref().cloned().unwrap_or_default();
                StatusDetails {
                    name: (!name.is_empty()).then_some(name),
                    group: (!group.is_empty()).then_some(group),
                    kind: (!kind.is_empty()).then_some(kind),
                    causes: (!self.causes.is_empty()).then(|| {
                        self.causes
                            .iter()
                            .map(|c| StatusCause {
                                reason: Some(c.reason.clone()),
                                message: Some(c.message.clone()),
                                field: Some(c.field.clone()),
                            })
                            .collect()
                    }),
                    retry_after_seconds: self.retry_after.map(|s| s as i32),
                    uid: None,
                }
            }),
            metadata: Default::default(),
        }
    }

    /// The Status serialized as JSON, with `kind` and `apiVersion`.
    pub fn to_json(&self) -> Bytes {
        status_json(&self.to_status())
    }

    /// The HTTP response: the Status as `application/json` with the matching code.
    pub fn into_response(self) -> Response<Body> {
        let mut resp = Response::new(full(self.to_json()));
        *resp.status_mut() = self.status_code();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Serializes a Status with its type meta (k8s-openapi's `Status` has no kind/apiVersion fields).
pub fn status_json(status: &Status) -> Bytes {
    let mut value = serde_json::to_value(status).unwrap_or_else(|_| serde_json::json!({}));
    if let Some(map) = value.as_object_mut() {
        map.insert("kind".into(), "Status".into());
        map.insert("apiVersion".into(), "v1".into());
        map.entry("metadata")
            .or_insert_with(|| serde_json::json!({}));
    }
    Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
}

/// A `status: Success` Status (e.g. for deletecollection).
pub fn success_status(details: Option<StatusDetails>) -> Status {
    Status {
        status: Some("Success".into()),
        details,
        metadata: Default::default(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(err: &ApiError) -> serde_json::Value {
        serde_json::from_slice(&err.to_json()).unwrap()
    }

    #[test]
    fn not_found_matches_kube_apiserver() {
        let err = ApiError::not_found(&GroupResource::new("apps", "deployments"), "web");
        let v = json(&err);
        assert_eq!(v["kind"], "Status");
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["status"], "Failure");
        assert_eq!(v["reason"], "NotFound");
        assert_eq!(v["code"], 404);
        assert_eq!(v["message"], "deployments.apps \"web\" not found");
        assert_eq!(v["details"]["name"], "web");
        assert_eq!(v["details"]["group"], "apps");
        assert_eq!(v["details"]["kind"], "deployments");
        assert_eq!(v["metadata"], serde_json::json!({}));
    }

    #[test]
    fn forbidden_core_group_has_no_group_suffix() {
        let err = ApiError::forbidden(
            &GroupResource::new("", "secrets"),
            "",
            "User \"bob\" cannot list resource",
        );
        assert_eq!(
            err.message,
            "secrets is forbidden: User \"bob\" cannot list resource"
        );
        assert_eq!(err.status_code(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn invalid_lists_causes() {
        let err = ApiError::invalid(
            "Deployment",
            "apps",
            "web",
            vec![
                FieldError {
                    reason: "FieldValueRequired".into(),
                    field: "spec.selector".into(),
                    message: "Required value".into(),
                },
                FieldError {
                    reason: "FieldValueInvalid".into(),
                    field: "spec.replicas".into(),
                    message: "must be >= 0".into(),
                },
            ],
        );
        let v = json(&err);
        assert_eq!(v["code"], 422);
        assert_eq!(
            v["message"],
            "Deployment.apps \"web\" is invalid: [spec.selector: Required value, spec.replicas: must be >= 0]"
        );
        assert_eq!(v["details"]["causes"][1]["field"], "spec.replicas");
    }

    #[test]
    fn retry_after_is_a_header_and_a_detail() {
        let resp = ApiError::too_many_requests("too many requests, please try again later", 1)
            .into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    }
}
