//! The error of a reconcile: kube's controller runtime wants a `std::error::Error`, the
//! controllers work with `anyhow`; this carries one as the other and prints the whole chain.

/// A reconcile error (logged by the error policy, and the object retried).
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct ReconcileError(#[from] pub anyhow::Error);

impl From<kube::Error> for ReconcileError {
    fn from(err: kube::Error) -> Self {
        Self(err.into())
    }
}
