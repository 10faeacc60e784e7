//! Bearer tokens checked with a TokenReview against the cluster that issued them, cached
//! briefly (by a hash of the token, never the token itself), as k8s.io/apiserver's delegating
//! authenticator does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::{Api, PostParams};

use crate::ttl_cache::TtlCache;

/// How long a successful review is trusted (`--authentication-token-webhook-cache-ttl`'s
/// default: 10 s).
pub const DEFAULT_ALLOW_TTL: Duration = Duration::from_secs(10);
/// How long a failed review is remembered (short: a token may have just been created).
const DENY_TTL: Duration = Duration::from_secs(2);

/// Who a token belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReviewedUser {
    /// User name.
    pub name: String,
    /// User uid (may be empty).
    pub uid: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Extra attributes.
    pub extra: BTreeMap<String, Vec<String>>,
}

/// The review itself could not be made (the apiserver did not answer): not cached.
#[derive(Clone, Debug, thiserror::Error)]
#[error("token review failed: {0}")]
pub struct ReviewFailed(pub String);

/// Reviews bearer tokens.
#[derive(Clone)]
pub struct TokenReviewer {
    api: Api<TokenReview>,
    cache: Arc<TtlCache<[u8; 32], Option<ReviewedUser>>>,
    allow_ttl: Duration,
}

impl std::fmt::Debug for TokenReviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenReviewer").finish_non_exhaustive()
    }
}

impl TokenReviewer {
    /// A reviewer using `client` (which needs `create tokenreviews`, e.g. system:auth-delegator).
    pub fn new(client: kube::Client) -> Self {
        Self::with_ttl(client, DEFAULT_ALLOW_TTL)
    }

    /// A reviewer trusting a successful review for `allow_ttl`.
    pub fn with_ttl(client: kube::Client, allow_ttl: Duration) -> Self {
        Self {
            api: Api::all(client),
            cache: Arc::new(TtlCache::new(10_000)),
            allow_ttl,
        }
    }

    /// The user behind `token`: `Ok(None)` when the token is not valid.
    pub async fn review(&self, token: &str) -> Result<Option<ReviewedUser>, ReviewFailed> {
        use sha2::Digest;
        let key: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Some(cached) = self.cache.get(&key) {
            return Ok(cached);
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_string(),
                audiences: None,
            },
            ..Default::default()
        };
        let result = self
            .api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|err| {
                tracing::warn!(error = %err, "TokenReview failed");
                ReviewFailed(err.to_string())
            })?;
        let status = result.status.unwrap_or_default();
        let user = match (status.authenticated, status.user) {
            (Some(true), Some(u)) => Some(ReviewedUser {
                name: u.username.unwrap_or_default(),
                uid: u.uid.unwrap_or_default(),
                groups: u.groups.unwrap_or_default(),
                extra: u.extra.unwrap_or_default().into_iter().collect(),
            }),
            _ => None,
        };
        let ttl = if user.is_some() {
            self.allow_ttl
        } else {
            DENY_TTL
        };
        self.cache.insert(key, user.clone(), ttl);
        Ok(user)
    }
}
