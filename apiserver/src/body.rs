//! The one body type of the hub's request path, and small constructors.
//!
//! Requests arrive as hyper's `Incoming` and are boxed once at the edge, so every layer and
//! handler works with `Request<Body>` / `Response<Body>`: whole JSON documents, chunked watch
//! streams and proxied byte streams alike.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};

/// Any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The error a [`Body`] can produce while streaming. A concrete type rather than a boxed trait
/// object in the body's signature: trait objects there defeat rustc's lifetime inference for
/// services built from async closures.
#[derive(Debug)]
pub struct BodyError(pub BoxError);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}

/// A boxed streaming body.
pub type Body = UnsyncBoxBody<Bytes, BodyError>;

/// A body of one chunk.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Boxes any body whose errors convert into [`BoxError`].
pub fn boxed<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(|e| BodyError(e.into())).boxed_unsync()
}

/// `body`, keeping `guard` alive until the body is dropped (e.g. a long-running request's
/// in-flight permit, held for as long as the stream is sent).
pub fn guarded<G: Send + Unpin + 'static>(body: Body, guard: G) -> Body {
    Guarded {
        body,
        _guard: guard,
    }
    .boxed_unsync()
}

struct Guarded<G> {
    body: Body,
    _guard: G,
}

impl<G: Send + Unpin + 'static> http_body::Body for Guarded<G> {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BodyError>>> {
        // `Body` is Unpin (a boxed body), so the projection is safe without pin-project.
        std::pin::Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Reads a whole request body, refusing more than `limit` bytes (413 territory).
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ReadError> {
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err)
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ReadError::TooLarge)
        }
        Err(err) => Err(ReadError::Io(err.to_string())),
    }
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Over the limit.
    #[error("the request body is too large")]
    TooLarge,
    /// The client went away or sent garbage.
    #[error("reading the request body: {0}")]
    Io(String),
}
