//! get, list and watch: Manifests read and watched in the parent, rendered as the shadow kind.

use super::*;

pub(super) async fn get(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
) -> Result<Response<Body>, ApiError> {
    let manifest = call.get_manifest(&call.info.name).await?;
    let object = store::from_manifest(&manifest);
    respond(
        StatusCode::OK,
        &rendering.object(&object)?,
        rendering.format.content_type(),
    )
}

pub(super) async fn list_objects(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
) -> Result<Response<Body>, ApiError> {
    let path = format!("{}?{}", call.manifests_path(), call.list_query(false)?);
    let answer = call.state.parent.call(Method::GET, &path, None).await?;
    let (meta, items) = store::objects_from_manifest_list(&answer.body)
        .map_err(|e| ApiError::internal(format!("decoding the parent's answer: {e}")))?;
    drop(answer);
    respond(
        StatusCode::OK,
        &rendering.list(items, meta)?,
        rendering.format.content_type(),
    )
}

pub(super) async fn watch(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
) -> Result<Response<Body>, ApiError> {
    let path = format!("{}?{}", call.manifests_path(), call.list_query(true)?);
    let upstream = call.state.parent.stream(&path).await?;
    let resource = call.resource.clone();
    let mut encoder = rendering.watch_encoder();
    let (tx, rx) =
        tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, body::BodyError>>(16);
    tokio::spawn(async move {
        let mut lines = LineStream::new(upstream);
        while let Some(line) = lines.next().await {
            let line = match line {
                Ok(l) => l,
                Err(err) => {
                    tracing::debug!(error = %err, "shadow watch: upstream ended");
                    break;
                }
            };
            let Ok(mut event) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            let kind = event["type"].as_str().unwrap_or_default().to_string();
            let object = match kind.as_str() {
                "ADDED" | "MODIFIED" | "DELETED" => {
                    encoder.object(&store::from_manifest(&event["object"]))
                }
                // A bookmark of our kind, carrying the Manifest's resourceVersion (and the
                // initial-events-end annotation of watch-list).
                "BOOKMARK" => {
                    let meta = &event["object"]["metadata"];
                    let mut bookmark = json!({"kind": resource.kind, "apiVersion": format!("{}/{}", crate::shadow::GROUP, crate::shadow::VERSION), "metadata": {"resourceVersion": meta["resourceVersion"]}});
                    if meta["annotations"].is_object() {
                        bookmark["metadata"]["annotations"] = meta["annotations"].clone();
                    }
                    encoder.object(&bookmark)
                }
                _ => encoder.object(&event["object"].take()),
            };
            let Some(object) = object else {
                break; // not renderable as asked (kube-apiserver ends such a watch too)
            };
            let mut out =
                serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
            out.push(b'\n');
            if tx
                .send(Ok(http_body::Frame::data(Bytes::from(out))))
                .await
                .is_err()
            {
                break; // the client went away
            }
        }
    });
    let stream = tokio_stream_from(rx);
    let body = http_body_util::StreamBody::new(stream).boxed_unsync();
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache, private"),
    );
    Ok(response)
}

pub(super) fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Newline-delimited frames of a streaming body.
pub(super) struct LineStream {
    body: kube::client::Body,
    buffer: Vec<u8>,
    done: bool,
}

impl LineStream {
    fn new(body: kube::client::Body) -> Self {
        Self {
            body,
            buffer: Vec::new(),
            done: false,
        }
    }

    async fn next(&mut self) -> Option<Result<Vec<u8>, String>> {
        loop {
            if let Some(pos) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=pos).collect();
                return Some(Ok(line));
            }
            if self.done {
                return (!self.buffer.is_empty()).then(|| Ok(std::mem::take(&mut self.buffer)));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(err)) => return Some(Err(err.to_string())),
                None => self.done = true,
            }
        }
    }
}
