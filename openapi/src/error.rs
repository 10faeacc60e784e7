//! Errors (the build failed) and warnings (the build succeeded but had to work around its input).

use crate::catalog::Dialect;
use crate::model::GroupVersionKind;

/// Why a document could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A document of one OpenAPI dialect was given where the other was expected.
    #[error("expected an OpenAPI {expected} document, got {got}")]
    DialectMismatch {
        /// What the catalog or builder works in.
        expected: Dialect,
        /// What was given.
        got: Dialect,
    },
    /// The JSON is neither a Swagger 2.0 document (`definitions`) nor an OpenAPI 3 one
    /// (`components.schemas`).
    #[error("not an OpenAPI v2 or v3 document: {0}")]
    UnknownDocument(&'static str),
    /// A schema could not be converted to or from the `openapiv3` model.
    #[error("schema {name}: {source}")]
    Schema {
        /// Schema name.
        name: String,
        /// The conversion error.
        source: serde_json::Error,
    },
    /// A document could not be serialized.
    #[error("serializing the document: {0}")]
    Serialize(#[source] serde_json::Error),
    /// The definitions embedded in this crate are corrupt (a build defect, caught by its tests).
    #[error("embedded definitions {file}: {message}")]
    Builtin {
        /// Embedded file.
        file: &'static str,
        /// Parse error.
        message: String,
    },
}

/// Something a builder worked around; the document is still complete and consistent.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Warning {
    /// No schema for this (source) kind was found; a permissive object schema stands in.
    MissingSchema {
        /// The kind looked up.
        kind: GroupVersionKind,
    },
    /// A schema refers to a schema that does not exist; a permissive object schema stands in.
    DanglingReference {
        /// Referring schema.
        from: String,
        /// Missing schema.
        to: String,
    },
    /// A resource repeats an earlier resource's plural in the same group-version; it was skipped.
    DuplicateResource {
        /// Group-version (`apiVersion` form).
        group_version: String,
        /// The plural.
        plural: String,
    },
    /// A kind is already served from a different schema in the same group-version (e.g. core
    /// `Event` and `events.k8s.io` `Event` both mirrored into `shadow`); the later one was
    /// skipped, since one kind can only have one schema.
    ConflictingKind {
        /// Served group-version (`apiVersion` form).
        group_version: String,
        /// The kind.
        kind: String,
        /// What was skipped: `resource <plural>` or the source `<group/version>, Kind=<kind>`.
        skipped: String,
    },
    /// Two operations of one path use the same HTTP method; the first was kept.
    DuplicateOperation {
        /// Path.
        path: String,
        /// Method.
        method: String,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::MissingSchema { kind } => {
                write!(f, "no schema for {kind}; using an open object schema")
            }
            Warning::DanglingReference { from, to } => {
                write!(
                    f,
                    "schema {from} refers to missing {to}; using an open object schema"
                )
            }
            Warning::DuplicateResource {
                group_version,
                plural,
            } => {
                write!(
                    f,
                    "{group_version}: resource {plural} listed twice; kept the first"
                )
            }
            Warning::ConflictingKind {
                group_version,
                kind,
                skipped,
            } => {
                write!(
                    f,
                    "{group_version}: kind {kind} is already served from another schema; skipped {skipped}"
                )
            }
            Warning::DuplicateOperation { path, method } => {
                write!(f, "{method} {path} defined twice; kept the first")
            }
        }
    }
}

/// A built document and what was worked around to build it.
#[derive(Clone, Debug, PartialEq)]
pub struct Built<T> {
    /// The document (or schema set).
    pub document: T,
    /// Warnings, sorted and without duplicates.
    pub warnings: Vec<Warning>,
}

impl<T> Built<T> {
    pub(crate) fn new(document: T, mut warnings: Vec<Warning>) -> Self {
        warnings.sort();
        warnings.dedup();
        Self { document, warnings }
    }
}
