//! Strategic merge patches of shadow objects.

use serde_json::Value;

use crate::shadow::catalog::ShadowResource;
use crate::status::{ApiError, Reason};

/// Applies a strategic merge patch to `target`.
pub fn strategic(
    resource: &ShadowResource,
    _target: &Value,
    _patch: &[u8],
) -> Result<Value, ApiError> {
    Err(ApiError::new(
        Reason::UnsupportedMediaType,
        format!(
            "strategic merge patch is not supported for {}.{} yet: use --type=merge or --type=json",
            resource.plural,
            crate::shadow::GROUP
        ),
    ))
}
