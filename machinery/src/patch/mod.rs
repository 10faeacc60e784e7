//! PATCH bodies: content types, JSON patch, JSON merge patch and strategic merge patch, with
//! kube-apiserver's semantics and error codes.
//!
//! The hub's PATCH handler does, in order:
//!
//! 1. [`negotiate_patch_type`] with the patch types the kind accepts
//!    ([`BUILT_IN_PATCH_TYPES`] for kinds with patch metadata, [`CUSTOM_RESOURCE_PATCH_TYPES`]
//!    for kinds without, as kube-apiserver does for custom resources): a 415 otherwise, with a
//!    message that names server-side apply for `application/apply-patch+yaml|cbor`;
//! 2. [`apply_patch`] on the stored object;
//! 3. its own checks on the result (name, namespace, resourceVersion, ...).
//!
//! ```
//! use clusternet_apimachinery::patch::{
//!     BUILT_IN_PATCH_TYPES, OpenApiPatchMeta, PatchType, apply_patch, negotiate_patch_type,
//! };
//! use serde_json::json;
//!
//! // The shadow kind's schema, from the OpenAPI v3 document the hub serves.
//! let schemas = json!({
//!     "ConfigMap": {"properties": {"metadata": {"allOf": [{"$ref": "#/components/schemas/ObjectMeta"}]}}},
//!     "ObjectMeta": {"properties": {"finalizers": {
//!         "type": "array", "items": {"type": "string"}, "x-kubernetes-patch-strategy": "merge"}}},
//! });
//! let schemas = schemas.as_object().unwrap();
//! let schema = OpenApiPatchMeta::from_ref("#/components/schemas/ConfigMap", schemas).unwrap();
//!
//! let ty = negotiate_patch_type("application/strategic-merge-patch+json; charset=utf-8", BUILT_IN_PATCH_TYPES)
//!     .unwrap();
//! assert_eq!(ty, PatchType::StrategicMerge);
//! let stored = json!({"metadata": {"name": "cm", "finalizers": ["a"]}, "data": {"x": "1"}});
//! let body = br#"{"metadata": {"finalizers": ["b"]}, "data": {"x": null, "y": "2"}}"#;
//! let patched = apply_patch(ty, &stored, body, &schema).unwrap();
//! assert_eq!(patched, json!({"metadata": {"name": "cm", "finalizers": ["b", "a"]}, "data": {"y": "2"}}));
//!
//! // Errors carry the Status kube-apiserver would send.
//! let err = apply_patch(PatchType::Json, &stored, br#"[{"op": "test", "path": "/data/x", "value": "2"}]"#, &schema)
//!     .unwrap_err();
//! assert_eq!((err.code(), err.reason()), (422, "Invalid"));
//! assert_eq!(err.message(), "the server rejected our request due to an error in our request");
//! assert_eq!(err.detail(), "testing value /data/x failed: test failed");
//!
//! let err = negotiate_patch_type("application/apply-patch+yaml", BUILT_IN_PATCH_TYPES).unwrap_err();
//! assert_eq!((err.code(), err.reason()), (415, "UnsupportedMediaType"));
//! ```

mod gosort;
pub mod json;
pub mod meta;
pub mod strategic;

use std::fmt;

use serde_json::Value;

pub use self::json::{
    MAX_JSON_PATCH_OPERATIONS, apply_json_patch, apply_merge_patch, decode_json_patch,
};
pub use self::meta::{
    FnResolver, ListTypes, LookupError, LookupPatchMeta, NoPatchMeta, OpenApiPatchMeta, PatchMeta,
    PathPatchMeta, SchemaResolver, find_schema_by_gvk,
};
pub use self::strategic::{SmpError, strategic_merge_patch};
use crate::gofmt;

/// A PATCH content type (`types.PatchType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902)
    Json,
    /// `application/merge-patch+json` (RFC 7386)
    Merge,
    /// `application/strategic-merge-patch+json`
    StrategicMerge,
    /// `application/apply-patch+yaml` (server-side apply)
    ApplyYaml,
    /// `application/apply-patch+cbor` (server-side apply)
    ApplyCbor,
}

impl PatchType {
    /// All patch types kube-apiserver knows.
    pub const ALL: [PatchType; 5] = [
        PatchType::Json,
        PatchType::Merge,
        PatchType::StrategicMerge,
        PatchType::ApplyYaml,
        PatchType::ApplyCbor,
    ];

    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::ApplyYaml => "application/apply-patch+yaml",
            PatchType::ApplyCbor => "application/apply-patch+cbor",
        }
    }

    /// The patch type of a `Content-Type` header value. Like kube-apiserver, parameters after
    /// the first `;` are dropped and the rest must match exactly (no trimming, case-sensitive).
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media_type = match content_type.find(';') {
            Some(idx) if idx > 0 => &content_type[..idx],
            _ => content_type,
        };
        PatchType::ALL
            .into_iter()
            .find(|t| t.content_type() == media_type)
    }

    /// Whether this is server-side apply.
    pub fn is_apply(self) -> bool {
        matches!(self, PatchType::ApplyYaml | PatchType::ApplyCbor)
    }
}

impl fmt::Display for PatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.content_type())
    }
}

/// What the hub accepts for kinds with patch metadata (built-in kinds): everything
/// kube-apiserver accepts except server-side apply.
pub const BUILT_IN_PATCH_TYPES: &[PatchType] =
    &[PatchType::Json, PatchType::Merge, PatchType::StrategicMerge];

/// What the hub accepts for kinds without patch metadata. kube-apiserver refuses strategic
/// merge patch for custom resources with 415; the hub does the same for such kinds.
pub const CUSTOM_RESOURCE_PATCH_TYPES: &[PatchType] = &[PatchType::Json, PatchType::Merge];

/// The patch types for a kind: strategic merge patch only if the kind has patch metadata.
pub fn accepted_patch_types(has_patch_metadata: bool) -> &'static [PatchType] {
    if has_patch_metadata {
        BUILT_IN_PATCH_TYPES
    } else {
        CUSTOM_RESOURCE_PATCH_TYPES
    }
}

/// The patch type of a PATCH request's `Content-Type`, if it is one of `accepted`; otherwise a
/// 415 `UnsupportedMediaType` error.
///
/// The message is kube-apiserver's ("the body of the request was in an unknown format -
/// accepted media types include: ..."), listing `accepted`; for server-side apply it says that
/// server-side apply is not supported.
pub fn negotiate_patch_type(
    content_type: &str,
    accepted: &[PatchType],
) -> Result<PatchType, PatchError> {
    match PatchType::from_content_type(content_type) {
        Some(t) if accepted.contains(&t) => Ok(t),
        Some(t) if t.is_apply() => Err(PatchError::server_side_apply(t, accepted)),
        _ => Err(PatchError::unsupported_media_type(accepted)),
    }
}

/// The class of a [`PatchError`], which fixes the HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchErrorKind {
    /// 400 `BadRequest`: the body does not decode, or a malformed directive.
    BadRequest,
    /// 422 `Invalid`: a JSON patch operation failed, or strategic merge patch met lists of lists.
    Invalid,
    /// 413 `RequestEntityTooLarge`: too many JSON patch operations.
    RequestEntityTooLarge,
    /// 415 `UnsupportedMediaType`.
    UnsupportedMediaType,
    /// 500 with an empty (unknown) reason: strategic merge patch failed otherwise (kube-apiserver
    /// passes the Go error through, e.g. a list item without its merge key).
    Internal,
}

/// A patch that could not be applied, with the Status kube-apiserver answers.
///
/// | failure | code | reason | message |
/// |---|---|---|---|
/// | body is not JSON / not the expected JSON type | 400 | `BadRequest` | `error decoding patch: ...` (JSON and merge patch), Go's decoding error (strategic) |
/// | `null` merge patch | 400 | `BadRequest` | `Invalid JSON Patch` |
/// | JSON patch operation fails (`test` mismatch, missing path, bad index, unknown `op`) | 422 | `Invalid` | `the server rejected our request due to an error in our request` |
/// | more than 10000 JSON patch operations | 413 | `RequestEntityTooLarge` | `The allowed maximum operations in a JSON patch is 10000, got N` |
/// | malformed `$retainKeys`, `$setElementOrder`, `$deleteFromPrimitiveList` | 400 | `BadRequest` | e.g. `invalid patch format of retainKeys` |
/// | strategic merge patch of lists of lists | 422 | `Invalid` | generic, as above |
/// | other strategic merge patch errors (missing merge key, unknown `$patch`, `$patch: merge` in a list, `$setElementOrder` mismatch, mixed list element types) | 500 | `""` | the Go error text |
/// | unsupported content type | 415 | `UnsupportedMediaType` | `the body of the request was in an unknown format - accepted media types include: ...` |
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct PatchError {
    kind: PatchErrorKind,
    detail: String,
}

const INVALID_MESSAGE: &str = "the server rejected our request due to an error in our request";

impl PatchError {
    pub(crate) fn bad_request(detail: String) -> Self {
        PatchError {
            kind: PatchErrorKind::BadRequest,
            detail,
        }
    }

    pub(crate) fn invalid(detail: String) -> Self {
        PatchError {
            kind: PatchErrorKind::Invalid,
            detail,
        }
    }

    pub(crate) fn internal(detail: String) -> Self {
        PatchError {
            kind: PatchErrorKind::Internal,
            detail,
        }
    }

    pub(crate) fn too_large(detail: String) -> Self {
        PatchError {
            kind: PatchErrorKind::RequestEntityTooLarge,
            detail,
        }
    }

    fn accepted_list(accepted: &[PatchType]) -> String {
        accepted
            .iter()
            .map(|t| t.content_type())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// kube-apiserver's 415 for a content type that is not accepted.
    pub fn unsupported_media_type(accepted: &[PatchType]) -> Self {
        PatchError {
            kind: PatchErrorKind::UnsupportedMediaType,
            detail: format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                Self::accepted_list(accepted)
            ),
        }
    }

    /// A 415 for a server-side apply request.
    pub fn server_side_apply(patch_type: PatchType, accepted: &[PatchType]) -> Self {
        PatchError {
            kind: PatchErrorKind::UnsupportedMediaType,
            detail: format!(
                "server-side apply ({patch_type}) is not supported by this server: use client-side apply (kubectl apply without --server-side) or another patch type - accepted media types include: {}",
                Self::accepted_list(accepted)
            ),
        }
    }

    /// The class of the error.
    pub fn kind(&self) -> PatchErrorKind {
        self.kind
    }

    /// The HTTP status code (and Status `code`).
    pub fn code(&self) -> u16 {
        match self.kind {
            PatchErrorKind::BadRequest => 400,
            PatchErrorKind::Invalid => 422,
            PatchErrorKind::RequestEntityTooLarge => 413,
            PatchErrorKind::UnsupportedMediaType => 415,
            PatchErrorKind::Internal => 500,
        }
    }

    /// The Status `reason` (`""`, i.e. `StatusReasonUnknown`, for 500s, as kube-apiserver sends
    /// them).
    pub fn reason(&self) -> &'static str {
        match self.kind {
            PatchErrorKind::BadRequest => "BadRequest",
            PatchErrorKind::Invalid => "Invalid",
            PatchErrorKind::RequestEntityTooLarge => "RequestEntityTooLarge",
            PatchErrorKind::UnsupportedMediaType => "UnsupportedMediaType",
            PatchErrorKind::Internal => "",
        }
    }

    /// The Status `message` kube-apiserver sends. For 422 it is generic: kube-apiserver does not
    /// return the underlying error (see [`PatchError::detail`]).
    pub fn message(&self) -> String {
        match self.kind {
            PatchErrorKind::Invalid => INVALID_MESSAGE.to_string(),
            _ => self.detail.clone(),
        }
    }

    /// The underlying error text (for logs, or for a more helpful message than kube-apiserver's).
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl From<SmpError> for PatchError {
    fn from(e: SmpError) -> Self {
        match e {
            SmpError::BadRequest(detail) => PatchError {
                kind: PatchErrorKind::BadRequest,
                detail,
            },
            SmpError::Unprocessable(detail) => PatchError {
                kind: PatchErrorKind::Invalid,
                detail,
            },
            SmpError::Internal(detail) => PatchError {
                kind: PatchErrorKind::Internal,
                detail,
            },
        }
    }
}

/// Applies a `application/strategic-merge-patch+json` body to `original`.
pub fn apply_strategic_merge_patch<S: LookupPatchMeta>(
    original: &Value,
    body: &[u8],
    schema: &S,
) -> Result<Value, PatchError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| PatchError::bad_request(gofmt::json_syntax_error(&e)))?;
    Ok(strategic_merge_patch(original, &patch, schema)?)
}

/// Applies a PATCH body of type `patch_type` to `original`. `schema` is used for strategic
/// merge patches only (pass [`NoPatchMeta`] when there is none). Server-side apply is a 415.
pub fn apply_patch<S: LookupPatchMeta>(
    patch_type: PatchType,
    original: &Value,
    body: &[u8],
    schema: &S,
) -> Result<Value, PatchError> {
    match patch_type {
        PatchType::Json => apply_json_patch(original, body),
        PatchType::Merge => apply_merge_patch(original, body),
        PatchType::StrategicMerge => apply_strategic_merge_patch(original, body, schema),
        PatchType::ApplyYaml | PatchType::ApplyCbor => Err(PatchError::server_side_apply(
            patch_type,
            BUILT_IN_PATCH_TYPES,
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json"),
            Some(PatchType::Merge)
        );
        assert_eq!(
            PatchType::from_content_type("application/json-patch+json; charset=UTF-8"),
            Some(PatchType::Json)
        );
        assert_eq!(
            PatchType::from_content_type("application/json-patch+json ;x"),
            None
        );
        assert_eq!(
            PatchType::from_content_type("Application/json-patch+json"),
            None
        );
        assert_eq!(
            PatchType::from_content_type(";application/json-patch+json"),
            None
        );
        assert_eq!(PatchType::from_content_type("application/json"), None);
        for t in PatchType::ALL {
            assert_eq!(PatchType::from_content_type(t.content_type()), Some(t));
        }
    }

    #[test]
    fn negotiation() {
        assert_eq!(
            negotiate_patch_type(
                "application/strategic-merge-patch+json",
                accepted_patch_types(true)
            ),
            Ok(PatchType::StrategicMerge)
        );
        let e = negotiate_patch_type(
            "application/strategic-merge-patch+json",
            accepted_patch_types(false),
        )
        .unwrap_err();
        assert_eq!(e.code(), 415);
        assert_eq!(
            e.message(),
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json"
        );
        let e = negotiate_patch_type("text/plain", BUILT_IN_PATCH_TYPES).unwrap_err();
        assert_eq!(
            e.message(),
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json"
        );
        for apply in [
            "application/apply-patch+yaml",
            "application/apply-patch+cbor",
        ] {
            let e = negotiate_patch_type(apply, BUILT_IN_PATCH_TYPES).unwrap_err();
            assert_eq!((e.code(), e.reason()), (415, "UnsupportedMediaType"));
            assert!(
                e.message()
                    .starts_with(&format!("server-side apply ({apply}) is not supported"))
            );
        }
    }

    #[test]
    fn dispatch() {
        let obj = json!({"a": {"b": 1}});
        assert_eq!(
            apply_patch(PatchType::Merge, &obj, br#"{"a": {"c": 2}}"#, &NoPatchMeta).unwrap(),
            json!({"a": {"b": 1, "c": 2}})
        );
        assert_eq!(
            apply_patch(
                PatchType::StrategicMerge,
                &obj,
                br#"{"a": {"$patch": "replace", "c": 2}}"#,
                &NoPatchMeta
            )
            .unwrap(),
            json!({"a": {"c": 2}})
        );
        assert_eq!(
            apply_patch(
                PatchType::Json,
                &obj,
                br#"[{"op": "remove", "path": "/a/b"}]"#,
                &NoPatchMeta
            )
            .unwrap(),
            json!({"a": {}})
        );
        assert_eq!(
            apply_patch(PatchType::ApplyYaml, &obj, b"a: 1", &NoPatchMeta)
                .unwrap_err()
                .code(),
            415
        );
        let e = apply_patch(PatchType::StrategicMerge, &obj, b"{", &NoPatchMeta).unwrap_err();
        assert_eq!(
            (e.code(), e.message()),
            (400, "unexpected end of JSON input".to_string())
        );
        let e = apply_patch(PatchType::StrategicMerge, &obj, b"[]", &NoPatchMeta).unwrap_err();
        assert_eq!(
            e.message(),
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
        let e = apply_patch(
            PatchType::StrategicMerge,
            &obj,
            br#"{"a": {"$patch": "x"}}"#,
            &NoPatchMeta,
        )
        .unwrap_err();
        assert_eq!((e.code(), e.reason()), (500, ""));
        assert_eq!(e.message(), "unknown patch type: x in map: map[$patch:x]");
    }
}
