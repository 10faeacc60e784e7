//! Bearer tokens, checked with a TokenReview against the parent and cached briefly (by a hash of
//! the token, never the token itself).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::{Api, PostParams};

use super::{Method, UserInfo};
use crate::cache::TtlCache;
use crate::status::ApiError;

/// How long a successful review is trusted (kube-apiserver's webhook default is 10 s).
const ALLOW_TTL: Duration = Duration::from_secs(10);
/// How long a failed review is remembered (short: a token may have just been created).
const DENY_TTL: Duration = Duration::from_secs(2);

/// Reviews bearer tokens with the parent.
#[derive(Clone)]
pub struct TokenReviewer {
    api: Api<TokenReview>,
    cache: Arc<TtlCache<[u8; 32], Option<UserInfo>>>,
}

impl std::fmt::Debug for TokenReviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenReviewer").finish_non_exhaustive()
    }
}

impl TokenReviewer {
    /// A reviewer using `client` (which needs `create tokenreviews`, e.g. system:auth-delegator).
    pub fn new(client: kube::Client) -> Self {
        Self {
            api: Api::all(client),
            cache: Arc::new(TtlCache::new(10_000)),
        }
    }

    /// The user behind `token`, or 401.
    pub async fn review(&self, token: &str) -> Result<UserInfo, ApiError> {
        use sha2::Digest;
        let key: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Some(cached) = self.cache.get(&key) {
            return cached.ok_or_else(ApiError::unauthorized);
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_string(),
                audiences: None,
            },
            ..Default::default()
        };
        let result = match self.api.create(&PostParams::default(), &review).await {
            Ok(r) => r,
            Err(err) => {
                // Not cached: the parent may be briefly unreachable.
                tracing::warn!(error = %err, "TokenReview failed");
                return Err(ApiError::unavailable(
                    "unable to authenticate the request: token review failed",
                ));
            }
        };
        let status = result.status.unwrap_or_default();
        let user = match (status.authenticated, status.user) {
            (Some(true), Some(u)) => Some(UserInfo {
                name: u.username.unwrap_or_default(),
                uid: u.uid.unwrap_or_default(),
                groups: u.groups.unwrap_or_default(),
                extra: u
                    .extra
                    .unwrap_or_default()
                    .into_iter()
                    .collect::<BTreeMap<_, _>>(),
                method: Method::Token,
            }),
            _ => None,
        };
        let ttl = if user.is_some() { ALLOW_TTL } else { DENY_TTL };
        self.cache.insert(key, user.clone(), ttl);
        user.ok_or_else(ApiError::unauthorized)
    }
}
