//! Serialized documents with their content hash and strong ETag.
//!
//! The hash is kube-apiserver's: the upper-case hex SHA-512 of the exact bytes served. The
//! `/openapi/v3` discovery document puts it in each group-version URL (`?hash=`), and the ETag is
//! the same hash in quotes, so the aggregator's `If-None-Match` revalidation of `/openapi/v2`
//! and clients' caching of `/openapi/v3/...` behave as they do against kube-apiserver.
//!
//! ```
//! use clusternet_openapi::Document;
//!
//! # fn main() -> Result<(), clusternet_openapi::Error> {
//! let doc = Document::from_json(&serde_json::json!({"swagger": "2.0"}))?;
//! assert_eq!(doc.etag(), format!("\"{}\"", doc.hash()));
//! assert_eq!(doc.hash().len(), 128);
//! // The hub answers 304 Not Modified when this is true.
//! assert!(doc.matches_if_none_match(doc.etag()));
//! assert!(!doc.matches_if_none_match("\"something-else\""));
//! # Ok(())
//! # }
//! ```

use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha512};

use crate::error::Error;

/// The content hash of `body`: upper-case hex SHA-512, as kube-apiserver computes it.
pub fn content_hash(body: &[u8]) -> String {
    hex::encode_upper(Sha512::digest(body))
}

/// The strong ETag of `body`: its [content hash](content_hash) in double quotes.
pub fn etag(body: &[u8]) -> String {
    format!("\"{}\"", content_hash(body))
}

/// Whether an `If-None-Match` header value matches `etag` (so the answer is 304 Not Modified).
///
/// Handles lists (`"a", "b"`), `*`, and weak validators (`W/"a"`), which RFC 9110 §13.1.2
/// compares weakly for this header.
///
/// ```
/// use clusternet_openapi::etag::if_none_match;
///
/// assert!(if_none_match(r#""x", "y""#, r#""y""#));
/// assert!(if_none_match(r#"W/"y""#, r#""y""#));
/// assert!(if_none_match("*", r#""y""#));
/// assert!(!if_none_match(r#""x""#, r#""y""#));
/// ```
pub fn if_none_match(header: &str, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let etag = strip(etag);
    header
        .split(',')
        .map(strip)
        .any(|candidate| candidate == "*" || candidate == etag)
}

/// A serialized document: the bytes to serve, their hash and ETag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    body: Bytes,
    hash: String,
    etag: String,
}

impl Document {
    /// Serializes `value` as compact JSON.
    pub fn from_json<T: Serialize + ?Sized>(value: &T) -> Result<Self, Error> {
        serde_json::to_vec(value)
            .map(Self::from_bytes)
            .map_err(Error::Serialize)
    }

    /// Wraps already serialized bytes.
    pub fn from_bytes(body: impl Into<Bytes>) -> Self {
        let body = body.into();
        let hash = content_hash(&body);
        let etag = format!("\"{hash}\"");
        Self { body, hash, etag }
    }

    /// The bytes (cheap to clone).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The content hash (for `?hash=`).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The strong ETag (for the `ETag` header).
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// Whether a request's `If-None-Match` value matches this document (answer 304).
    pub fn matches_if_none_match(&self, header: &str) -> bool {
        if_none_match(header, &self.etag)
    }
}
