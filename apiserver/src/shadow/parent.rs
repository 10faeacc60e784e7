//! Calls to the parent's kube-apiserver on behalf of shadow requests, as the hub's own
//! identity: whole JSON requests, and watches streamed line by line. A Status error from the
//! parent comes back as the same [`ApiError`]; a transport failure as 503.

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;

use crate::status::ApiError;

/// The parent, for shadow storage.
#[derive(Clone)]
pub struct Parent {
    client: kube::Client,
}

impl std::fmt::Debug for Parent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parent").finish_non_exhaustive()
    }
}

/// A successful answer.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status (2xx).
    pub status: StatusCode,
    /// Body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, ApiError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::internal(format!("decoding the parent's answer: {e}")))
    }
}

impl Parent {
    /// A parent reached with `client`.
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    fn request(
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> Result<Request<kube::client::Body>, ApiError> {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::ACCEPT, "application/json");
        if body.is_some() {
            builder = builder.header(http::header::CONTENT_TYPE, content_type);
        }
        builder
            .body(kube::client::Body::from(body.unwrap_or_default()))
            .map_err(|e| ApiError::internal(format!("building a request to the parent: {e}")))
    }

    /// Sends a request and reads the whole answer; non-2xx answers become the parent's error.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ApiError> {
        self.call_typed(method, path, body, "application/json")
            .await
    }

    /// Like [`Parent::call`] with an explicit request content type (patches).
    pub async fn call_typed(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> Result<Answer, ApiError> {
        let response = self
            .client
            .send(Self::request(method, path, body, content_type)?)
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ApiError::unavailable(format!("reading the parent's answer: {e}")))?
            .to_bytes();
        if status.is_success() {
            Ok(Answer { status, body })
        } else {
            Err(ApiError::from_status_response(status.as_u16(), &body))
        }
    }

    /// Opens a watch (or any streaming GET): the response body, once the parent answered 2xx.
    pub async fn stream(&self, path: &str) -> Result<kube::client::Body, ApiError> {
        let response = self
            .client
            .send(Self::request(Method::GET, path, None, "")?)
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.into_body());
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        Err(ApiError::from_status_response(status.as_u16(), &body))
    }
}

fn unreachable(err: kube::Error) -> ApiError {
    tracing::warn!(error = %err, "request to the parent failed");
    ApiError::unavailable("the parent cluster's apiserver is unreachable")
}
