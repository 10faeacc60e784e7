//! Bearer tokens, checked with a TokenReview against the parent (component-base's reviewer,
//! shared with the components' metrics servers), as the hub's [`UserInfo`] or a Status.

use clusternet_component_base::serving::token;

use super::{Method, UserInfo};
use crate::status::ApiError;

/// Reviews bearer tokens with the parent.
#[derive(Clone, Debug)]
pub struct TokenReviewer(token::TokenReviewer);

impl TokenReviewer {
    /// A reviewer using `client` (which needs `create tokenreviews`, e.g. system:auth-delegator).
    pub fn new(client: kube::Client) -> Self {
        Self(token::TokenReviewer::new(client))
    }

    /// The user behind `token`, or 401 (503 when the parent could not be asked).
    pub async fn review(&self, token: &str) -> Result<UserInfo, ApiError> {
        match self.0.review(token).await {
            Ok(Some(u)) => Ok(UserInfo {
                name: u.name,
                uid: u.uid,
                groups: u.groups,
                extra: u.extra,
                method: Method::Token,
            }),
            Ok(None) => Err(ApiError::unauthorized()),
            Err(_) => Err(ApiError::unavailable(
                "unable to authenticate the request: token review failed",
            )),
        }
    }
}
