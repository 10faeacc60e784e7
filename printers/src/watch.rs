//! Table output for watches (`kubectl get -w`).
//!
//! kube-apiserver converts each watch event's object into a one-row Table with the request's
//! options; column definitions are sent only with the first event (every later event is
//! encoded with `NoHeaders`, so its `columnDefinitions` is `null`). `metav1.Status` objects
//! (`ERROR` events) pass through unchanged but still count as the first event. Bookmarks are
//! converted like any object (a row of empty cells); with `includeObject=None` the row of the
//! bookmark ending a watch-list's initial events still carries its `PartialObjectMetadata`.

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::convertor::{TableConvertor, TableInput};
use crate::table::TableOptions;

/// Stateful per-watch encoder of event objects into Tables.
///
/// ```
/// use clusternet_printers::{TableConvertor, TableOptions, WatchTableEncoder};
/// use serde_json::json;
///
/// let mut enc = WatchTableEncoder::new(TableConvertor::for_kind("", "v1", "ConfigMap"),
///                                      TableOptions::default());
/// let now = "2024-01-01T00:00:10Z".parse().unwrap();
/// let cm = json!({"metadata": {"name": "a", "resourceVersion": "7",
///                              "creationTimestamp": "2024-01-01T00:00:00Z"}, "data": {"k": "v"}});
/// let first = enc.event("ADDED", &cm, now);
/// assert_eq!(first["object"]["columnDefinitions"].as_array().map(Vec::len), Some(3));
/// assert_eq!(first["object"]["rows"][0]["cells"], json!(["a", 1, "10s"]));
/// let second = enc.event("MODIFIED", &cm, now);
/// assert!(second["object"]["columnDefinitions"].is_null());
/// ```
#[derive(Clone, Debug)]
pub struct WatchTableEncoder {
    convertor: TableConvertor,
    options: TableOptions,
}

impl WatchTableEncoder {
    /// An encoder for one watch request.
    pub fn new(convertor: TableConvertor, options: TableOptions) -> Self {
        WatchTableEncoder { convertor, options }
    }

    /// The options the next event will be encoded with.
    pub fn options(&self) -> &TableOptions {
        &self.options
    }

    /// Converts one event object: a one-row Table, or the object itself if it is a
    /// `metav1.Status`.
    pub fn object(&mut self, object: &Value, now: Timestamp) -> Value {
        let out = if is_status(object) {
            object.clone()
        } else {
            self.convertor
                .table(TableInput::Object(object), &self.options, now)
        };
        self.options.no_headers = true;
        out
    }

    /// A complete watch event `{"type": event_type, "object": …}`.
    pub fn event(&mut self, event_type: &str, object: &Value, now: Timestamp) -> Value {
        let mut ev = Map::new();
        ev.insert("type".into(), Value::from(event_type));
        ev.insert("object".into(), self.object(object, now));
        Value::Object(ev)
    }
}

/// Whether an object is a `metav1.Status` (passed through untransformed).
fn is_status(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some("Status")
        && matches!(
            object.get("apiVersion").and_then(Value::as_str),
            None | Some("v1")
        )
}
