//! Answers for a mock parent in in-process tests (a `tower_test::mock` pair behind a
//! `kube::Client`).

use http::Response;
use kube::client::Body;

/// Answers one request with `code` and `body` as JSON.
pub fn respond(
    send: tower_test::mock::SendResponse<Response<Body>>,
    code: u16,
    body: serde_json::Value,
) {
    send.send_response(
        Response::builder()
            .status(code)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&body).expect("JSON")))
            .expect("response"),
    );
}
