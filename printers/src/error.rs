//! Errors of Table conversion.

/// An error converting to a Table.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An `includeObject` query value other than `None`, `Metadata`, `Object` or empty
    /// (kube-apiserver answers 400 BadRequest with this message).
    #[error(
        "Unable to convert to Table as requested: includeObject: Invalid value: {0:?}: must be 'Metadata', 'Object', 'None', or empty"
    )]
    InvalidIncludeObject(String),
    /// A CRD printer column whose JSONPath does not parse.
    #[error("unrecognized column definition {0:?}")]
    InvalidColumn(String),
    /// The CRD does not define the requested version.
    #[error("version {version} not found in CustomResourceDefinition: {crd}")]
    CrdVersionNotFound {
        /// CRD name.
        crd: String,
        /// Requested version.
        version: String,
    },
}

impl Error {
    /// The HTTP status kube-apiserver uses for the error.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::InvalidIncludeObject(_) => 400,
            Error::InvalidColumn(_) | Error::CrdVersionNotFound { .. } => 500,
        }
    }

    /// The `metav1.Status` reason for the error.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidIncludeObject(_) => "BadRequest",
            Error::InvalidColumn(_) | Error::CrdVersionNotFound { .. } => "InternalError",
        }
    }
}
