//! The shadow API's conformance matrix: for every kind the parent serves, every verb, in every
//! representation clients ask for, the same request goes to the parent's real resource and to
//! its shadow twin, and the answers are compared — status code, media type, `kind` /
//! `apiVersion` of the body, of list items, of Table rows and of every watch event, and the
//! shape of errors (reason, code, message, details).
//!
//! The two APIs are [`Endpoint`]s: the parent's own kube-apiserver, and the shadow API either
//! in-process (the hub's router on a real parent) or through the parent's aggregator to a hub
//! process. Only the differences in [`ALLOWED`] are accepted, each by name; the README lists
//! them.

pub mod fixtures;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use http::{Method, Request, Response};
use serde_json::{Map, Value};

/// The shadow group-version.
pub const SHADOW_GV: &str = "shadow/v1alpha1";

/// A streamed response body.
pub type BodyStream = BoxStream<'static, Result<Bytes>>;

type SendFn =
    dyn Fn(Request<Bytes>) -> BoxFuture<'static, Result<Response<BodyStream>>> + Send + Sync;

/// Something that answers Kubernetes API requests.
#[derive(Clone)]
pub struct Endpoint {
    send: Arc<SendFn>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint from a function sending one request.
    pub fn from_fn<F>(f: F) -> Self
    where
        F: Fn(Request<Bytes>) -> BoxFuture<'static, Result<Response<BodyStream>>>
            + Send
            + Sync
            + 'static,
    {
        Self { send: Arc::new(f) }
    }

    /// Requests sent with `client` (to the parent, or through it to the hub).
    pub fn kube(client: kube::Client) -> Self {
        Self::from_fn(move |req: Request<Bytes>| {
            let client = client.clone();
            Box::pin(async move {
                let response = client
                    .send(req.map(kube::client::Body::from))
                    .await
                    .context("sending a request")?;
                Ok(response.map(|body| {
                    http_body_util::BodyDataStream::new(body)
                        .map_err(|e| anyhow::anyhow!("reading a response: {e}"))
                        .boxed()
                }))
            })
        })
    }

    /// Sends one request.
    pub async fn send(&self, req: Request<Bytes>) -> Result<Response<BodyStream>> {
        (self.send)(req).await
    }
}

/// One resource kind as discovery describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kind {
    /// Group (`""` for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Plural.
    pub plural: String,
    /// Singular.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Verbs, sorted.
    pub verbs: Vec<String>,
    /// Short names, sorted.
    pub short_names: Vec<String>,
    /// Categories, sorted.
    pub categories: Vec<String>,
    /// Has a `status` subresource.
    pub status: bool,
    /// Has a `scale` subresource.
    pub scale: bool,
}

impl Kind {
    /// `apps/v1`, `v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, `configmaps`.
    pub fn resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

/// The resources of one legacy discovery document (`APIResourceList`), subresources folded in.
pub fn kinds_of(list: &Value) -> Vec<Kind> {
    let gv = list["groupVersion"].as_str().unwrap_or_default();
    let (group, version) = gv.split_once('/').unwrap_or(("", gv));
    let resources = list["resources"].as_array().cloned().unwrap_or_default();
    let strings = |v: &Value| -> Vec<String> {
        let mut out: Vec<String> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(String::from))
            .collect();
        out.sort();
        out
    };
    resources
        .iter()
        .filter_map(|r| {
            let plural = r["name"].as_str()?;
            if plural.contains('/') {
                return None;
            }
            let sub = |s: &str| {
                resources
                    .iter()
                    .any(|o| o["name"].as_str() == Some(&format!("{plural}/{s}")))
            };
            Some(Kind {
                group: group.to_string(),
                version: version.to_string(),
                plural: plural.to_string(),
                singular: r["singularName"].as_str().unwrap_or_default().to_string(),
                kind: r["kind"].as_str().unwrap_or_default().to_string(),
                namespaced: r["namespaced"].as_bool().unwrap_or(false),
                verbs: strings(&r["verbs"]),
                short_names: strings(&r["shortNames"]),
                categories: strings(&r["categories"]),
                status: sub("status"),
                scale: sub("scale"),
            })
        })
        .collect()
}

/// A representation a client asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rep {
    /// Short name in the report.
    pub name: &'static str,
    /// `Accept`.
    pub accept: &'static str,
    /// A watch-list request (`sendInitialEvents=true`); watch only.
    pub watch_list: bool,
    /// `includeObject` of a Table request (`""`: not sent).
    pub include_object: &'static str,
}

const fn rep(name: &'static str, accept: &'static str, watch_list: bool) -> Rep {
    Rep {
        name,
        accept,
        watch_list,
        include_object: "",
    }
}

/// Plain JSON (kubectl apply, controllers with JSON clients).
pub const JSON: Rep = rep("json", "application/json", false);
/// Protobuf first, JSON as fallback (client-go's typed clients in core components).
pub const PROTOBUF: Rep = rep(
    "protobuf",
    "application/vnd.kubernetes.protobuf,application/json",
    false,
);
/// kubectl get (and get -w).
pub const TABLE: Rep = rep(
    "table",
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
    false,
);
/// client-go's metadata client for get, watch, patch (kube-controller-manager's GC and quota).
pub const METADATA: Rep = rep(
    "metadata",
    "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json",
    false,
);
/// client-go's metadata client for list.
pub const METADATA_LIST: Rep = rep(
    "metadata-list",
    "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
    false,
);
/// A watch-list (`sendInitialEvents=true`) with JSON.
pub const WATCH_LIST: Rep = rep("watch-list", "application/json", true);
/// A watch-list of a metadata informer (client-go's WatchListClient).
pub const WATCH_LIST_METADATA: Rep = rep("watch-list-metadata", METADATA.accept, true);

/// kubectl get's Table with each row's whole object (`includeObject=Object`).
pub const TABLE_OBJECT: Rep = Rep {
    name: "table-object",
    include_object: "Object",
    ..TABLE
};
/// A Table without the rows' objects (`includeObject=None`).
pub const TABLE_NONE: Rep = Rep {
    name: "table-none",
    include_object: "None",
    ..TABLE
};

/// The representations of every verb.
pub const REPS: [Rep; 5] = [JSON, PROTOBUF, TABLE, METADATA, METADATA_LIST];
/// Table options, for the reading verbs (get, list, watch).
pub const TABLE_OPTIONS: [Rep; 2] = [TABLE_OBJECT, TABLE_NONE];
/// The representations of watch.
pub const WATCH_REPS: [Rep; 9] = [
    JSON,
    PROTOBUF,
    TABLE,
    TABLE_OBJECT,
    TABLE_NONE,
    METADATA,
    METADATA_LIST,
    WATCH_LIST,
    WATCH_LIST_METADATA,
];

/// A difference between the shadow API and kube-apiserver that is there on purpose.
#[derive(Clone, Copy, Debug)]
pub struct Allowed {
    /// Name, as in the report.
    pub name: &'static str,
    /// Why (and where the README says so).
    pub why: &'static str,
}

/// Objects, lists and bookmarks of shadow kinds carry `apiVersion: shadow/v1alpha1`.
pub const SHADOW_API_VERSION: Allowed = Allowed {
    name: "shadow-api-version",
    why: "shadow objects are served with apiVersion shadow/v1alpha1, so kubectl follow-ups stay in the shadow API (README: where this differs)",
};
/// Status errors name the shadow resource (`deployments.shadow`), not the parent's.
pub const SHADOW_GROUP: Allowed = Allowed {
    name: "shadow-group",
    why: "the resource is <plural>.shadow, so Status messages and details name group shadow (README: where this differs)",
};
/// JSON where kube-apiserver would answer protobuf (JSON is in every such Accept).
pub const JSON_FOR_PROTOBUF: Allowed = Allowed {
    name: "json-for-protobuf",
    why: "the shadow API serves JSON only; clients that ask for protobuf list JSON as fallback (README: where this differs)",
};
/// Shadow kinds are in category `clusternet.shadow` only.
pub const SHADOW_CATEGORY: Allowed = Allowed {
    name: "shadow-category",
    why: "shadow kinds are in category clusternet.shadow only, so `kubectl get all` lists the parent's objects, not templates (README: where this differs)",
};
/// The status subresource of a shadow kind is read-only.
pub const STATUS_READ_ONLY: Allowed = Allowed {
    name: "status-read-only",
    why: "templates have no status to write: writes to <kind>/status are 405, as in Go Clusternet (README: where this differs)",
};

/// Every allowed difference.
pub const ALLOWED: [Allowed; 5] = [
    SHADOW_API_VERSION,
    SHADOW_GROUP,
    JSON_FOR_PROTOBUF,
    SHADOW_CATEGORY,
    STATUS_READ_ONLY,
];

/// One compared field that differs.
#[derive(Clone, Debug)]
pub struct Diff {
    /// The field (`code`, `media`, `kind`, `items.apiVersion`, `watch.ADDED`, `status.reason`…).
    pub field: String,
    /// The parent's value.
    pub parent: String,
    /// The shadow API's value.
    pub shadow: String,
    /// The allowed difference it is, if it is one.
    pub allowed: Option<&'static str>,
}

/// One cell of the matrix: kind × verb × representation.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Shadow resource (plural).
    pub kind: String,
    /// Verb (with the case: `get`, `get (missing)`, `patch (merge)`…).
    pub verb: String,
    /// Representation.
    pub rep: &'static str,
    /// Differences (allowed ones included).
    pub diffs: Vec<Diff>,
}

impl Cell {
    /// Whether a difference not in [`ALLOWED`] was found.
    pub fn differs(&self) -> bool {
        self.diffs.iter().any(|d| d.allowed.is_none())
    }
}

/// What the matrix found.
#[derive(Debug, Default)]
pub struct Report {
    /// Every cell run.
    pub cells: Vec<Cell>,
    /// Kinds run (shadow plurals), with whether namespaced, built-in or custom, status, scale.
    pub kinds: Vec<String>,
}

impl Report {
    /// Cells with a difference not allowed.
    pub fn differing(&self) -> Vec<&Cell> {
        self.cells.iter().filter(|c| c.differs()).collect()
    }

    /// A human summary: sizes, counts, allowed differences used, and every differing cell.
    pub fn summary(&self) -> String {
        let verbs: BTreeSet<&str> = self.cells.iter().map(|c| c.verb.as_str()).collect();
        let reps: BTreeSet<&str> = self.cells.iter().map(|c| c.rep).collect();
        let mut out = format!(
            "conformance matrix: {} kinds × {} verbs/cases × {} representations = {} cells run; {} differ from the parent's own resources\n",
            self.kinds.len(),
            verbs.len(),
            reps.len(),
            self.cells.len(),
            self.differing().len()
        );
        out.push_str(&format!("kinds: {}\n", self.kinds.join(", ")));
        out.push_str(&format!(
            "verbs: {}\nrepresentations: {}\n",
            verbs.into_iter().collect::<Vec<_>>().join(", "),
            reps.into_iter().collect::<Vec<_>>().join(", ")
        ));
        let mut used: BTreeMap<&str, usize> = BTreeMap::new();
        for d in self.cells.iter().flat_map(|c| &c.diffs) {
            if let Some(a) = d.allowed {
                *used.entry(a).or_default() += 1;
            }
        }
        out.push_str("allowed differences (fields accepted):\n");
        for a in ALLOWED {
            out.push_str(&format!(
                "  {:<20} {:>6}  {}\n",
                a.name,
                used.get(a.name).copied().unwrap_or(0),
                a.why
            ));
        }
        // Differing cells, grouped by the same difference across kinds.
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for c in self.differing() {
            let what: Vec<String> = c
                .diffs
                .iter()
                .filter(|d| d.allowed.is_none())
                .map(|d| format!("{}: parent {} / shadow {}", d.field, d.parent, d.shadow))
                .collect();
            groups
                .entry(format!("{} [{}] {}", c.verb, c.rep, what.join("; ")))
                .or_default()
                .push(c.kind.clone());
        }
        if !groups.is_empty() {
            out.push_str("differences:\n");
            for (what, kinds) in groups {
                out.push_str(&format!("  {what}\n    in {}\n", kinds.join(", ")));
            }
        }
        out
    }
}

/// A reply read whole.
#[derive(Debug)]
struct Reply {
    code: u16,
    content_type: String,
    body: Bytes,
}

/// Names of one side's objects and how they read in a normalised form.
#[derive(Clone, Debug, Default)]
struct Names {
    /// base (`x-json`) → this side's name.
    actual: HashMap<String, String>,
}

impl Names {
    fn normalize(&self, text: &str) -> String {
        let mut out = text.to_string();
        // Longest names first, so one name inside another does not break the other.
        let mut pairs: Vec<(&String, &String)> = self.actual.iter().collect();
        pairs.sort_by_key(|(_, actual)| std::cmp::Reverse(actual.len()));
        for (base, actual) in pairs {
            out = out.replace(actual.as_str(), &format!("<{base}>"));
        }
        out
    }
}

/// One side of the comparison.
#[derive(Clone, Debug)]
struct Side {
    endpoint: Endpoint,
    names: Names,
}

fn media_of(content_type: &str) -> String {
    let mut parts = content_type
        .split(';')
        .map(|p| p.trim().to_ascii_lowercase());
    let media = parts.next().unwrap_or_default();
    let mut params: Vec<String> = content_type
        .split(';')
        .skip(1)
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            let k = k.trim().to_ascii_lowercase();
            matches!(k.as_str(), "as" | "g" | "v" | "stream").then(|| format!("{k}={}", v.trim()))
        })
        .collect();
    params.sort();
    std::iter::once(media)
        .chain(params)
        .collect::<Vec<_>>()
        .join(";")
}

fn is_protobuf(content_type: &str) -> bool {
    content_type.starts_with("application/vnd.kubernetes.protobuf")
}

fn object_name(v: &Value) -> Option<&str> {
    v["metadata"]["name"].as_str()
}

/// The compared fields of a response body.
fn body_fields(names: &Names, reply: &Reply, out: &mut BTreeMap<String, String>) {
    let body: Value = if is_protobuf(&reply.content_type) {
        match wire::envelope(&reply.body) {
            Some(env) if env.kind == "Status" => wire::status_json(&env.raw),
            Some(env) => {
                // Only what the envelope tells; the rest of a protobuf body is not compared.
                out.insert("kind".into(), env.kind.clone());
                out.insert("apiVersion".into(), env.api_version.clone());
                out.insert("partial".into(), "protobuf".into());
                return;
            }
            None => {
                out.insert("body".into(), "not protobuf".into());
                return;
            }
        }
    } else if reply.body.is_empty() {
        out.insert("body".into(), "empty".into());
        return;
    } else {
        match serde_json::from_slice(&reply.body) {
            Ok(v) => v,
            Err(_) => {
                out.insert("body".into(), "not JSON".into());
                return;
            }
        }
    };
    let kind = body["kind"].as_str().unwrap_or("-").to_string();
    out.insert("kind".into(), kind.clone());
    out.insert(
        "apiVersion".into(),
        body["apiVersion"].as_str().unwrap_or("-").into(),
    );
    if kind == "Status" {
        for key in ["status", "reason"] {
            out.insert(
                format!("status.{key}"),
                body[key].as_str().unwrap_or("-").into(),
            );
        }
        out.insert(
            "status.code".into(),
            body["code"]
                .as_u64()
                .map(|c| c.to_string())
                .unwrap_or("-".into()),
        );
        out.insert(
            "status.message".into(),
            names.normalize(body["message"].as_str().unwrap_or("-")),
        );
        let details = &body["details"];
        for key in ["name", "group", "kind"] {
            out.insert(
                format!("status.details.{key}"),
                names.normalize(details[key].as_str().unwrap_or("-")),
            );
        }
        let mut causes: Vec<String> = details["causes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                format!(
                    "{}:{}",
                    c["reason"].as_str().unwrap_or("-"),
                    c["field"].as_str().unwrap_or("-")
                )
            })
            .collect();
        causes.sort();
        out.insert("status.details.causes".into(), causes.join(","));
        return;
    }
    if kind == "Table" {
        table_fields(names, &body, "", out);
        return;
    }
    if let Some(items) = body["items"].as_array() {
        out.insert("items".into(), items.len().to_string());
        let kinds: BTreeSet<String> = items
            .iter()
            .map(|i| {
                format!(
                    "{} {}",
                    i["kind"].as_str().unwrap_or("-"),
                    i["apiVersion"].as_str().unwrap_or("-")
                )
            })
            .collect();
        out.insert(
            "items.kind apiVersion".into(),
            kinds.into_iter().collect::<Vec<_>>().join(","),
        );
        out.insert(
            "metadata.resourceVersion".into(),
            body["metadata"]["resourceVersion"]
                .as_str()
                .map(|_| "set")
                .unwrap_or("-")
                .into(),
        );
        return;
    }
    out.insert(
        "name".into(),
        names.normalize(object_name(&body).unwrap_or("-")),
    );
}

fn table_fields(names: &Names, table: &Value, prefix: &str, out: &mut BTreeMap<String, String>) {
    let columns: Vec<String> = table["columnDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{}:{}:{}",
                c["name"].as_str().unwrap_or("-"),
                c["type"].as_str().unwrap_or("-"),
                c["priority"].as_i64().unwrap_or(0)
            )
        })
        .collect();
    out.insert(format!("{prefix}columns"), columns.join(","));
    let rows = table["rows"].as_array().cloned().unwrap_or_default();
    out.insert(format!("{prefix}rows"), rows.len().to_string());
    let objects: BTreeSet<String> = rows
        .iter()
        .map(|r| {
            let o = &r["object"];
            if o.is_null() {
                "none".to_string()
            } else {
                format!(
                    "{} {}",
                    o["kind"].as_str().unwrap_or("-"),
                    o["apiVersion"].as_str().unwrap_or("-")
                )
            }
        })
        .collect();
    out.insert(
        format!("{prefix}rows.object"),
        objects.into_iter().collect::<Vec<_>>().join(","),
    );
    let cells: BTreeSet<usize> = rows
        .iter()
        .map(|r| r["cells"].as_array().map(Vec::len).unwrap_or(0))
        .collect();
    out.insert(
        format!("{prefix}rows.cells"),
        cells
            .into_iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    let _ = names;
}

/// Fields of a whole reply.
fn reply_fields(names: &Names, reply: &Reply) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    out.insert("code".into(), reply.code.to_string());
    out.insert("media".into(), media_of(&reply.content_type));
    body_fields(names, reply, &mut out);
    out
}

/// One event of a watch stream, reduced to what is compared.
#[derive(Clone, Debug)]
struct Event {
    kind: String,
    object: String,
    name: Option<String>,
    table: Option<BTreeMap<String, String>>,
    initial_events_end: bool,
}

#[derive(Debug, Default)]
struct WatchLog {
    code: u16,
    media: String,
    error: Option<String>,
    events: Vec<Event>,
    /// The server ended the stream.
    ended: bool,
}

/// Fields of a watch stream: the answer, and per event type the kinds of its objects.
fn watch_fields(log: &WatchLog, watch_list: bool) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    out.insert("code".into(), log.code.to_string());
    out.insert("media".into(), media_of(&log.media));
    if let Some(err) = &log.error {
        out.insert("stream".into(), err.clone());
    }
    let mut by_type: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in &log.events {
        by_type
            .entry(e.kind.as_str())
            .or_default()
            .insert(e.object.as_str());
    }
    for (t, objects) in by_type {
        // Bookmarks of a plain watch come when the server decides; only a watch-list has one
        // for sure (the initial-events-end).
        if t == "BOOKMARK" && !watch_list {
            continue;
        }
        out.insert(
            format!("watch.{t}"),
            objects.into_iter().collect::<Vec<_>>().join(","),
        );
    }
    if watch_list {
        out.insert(
            "watch.initialEventsEnd".into(),
            log.events
                .iter()
                .any(|e| e.kind == "BOOKMARK" && e.initial_events_end)
                .to_string(),
        );
    }
    let tables: Vec<&BTreeMap<String, String>> = log
        .events
        .iter()
        .filter(|e| watch_list || e.kind != "BOOKMARK")
        .filter_map(|e| e.table.as_ref())
        .collect();
    if let Some(first) = tables.first() {
        out.insert(
            "watch.first.columns".into(),
            first.get("columns").cloned().unwrap_or_default(),
        );
        let later: BTreeSet<String> = tables[1..]
            .iter()
            .map(|t| t.get("columns").cloned().unwrap_or_default())
            .collect();
        out.insert(
            "watch.later.columns".into(),
            later.into_iter().collect::<Vec<_>>().join("|"),
        );
        let rows: BTreeSet<String> = tables
            .iter()
            .filter_map(|t| t.get("rows.object").cloned())
            .collect();
        out.insert(
            "watch.rows.object".into(),
            rows.into_iter().collect::<Vec<_>>().join("|"),
        );
    }
    out
}

/// One watch event; `name_column` is the index of the Name column of the stream's Tables (from
/// the first event's column definitions), for rows without their object.
fn parse_event(
    names: &Names,
    protobuf: bool,
    frame: &[u8],
    name_column: &mut Option<usize>,
) -> Option<Event> {
    if protobuf {
        let (kind, env) = wire::watch_event(frame)?;
        return Some(Event {
            kind,
            object: format!("{} {}", env.kind, env.api_version),
            name: wire::object_name(&env.raw),
            table: None,
            initial_events_end: wire::object_annotation(&env.raw, "k8s.io/initial-events-end")
                .as_deref()
                == Some("true"),
        });
    }
    let v: Value = serde_json::from_slice(frame).ok()?;
    let object = &v["object"];
    let kind = v["type"].as_str()?.to_string();
    let (name, table) = if object["kind"] == "Table" {
        let mut fields = BTreeMap::new();
        table_fields(names, object, "", &mut fields);
        if let Some(columns) = object["columnDefinitions"].as_array() {
            *name_column = columns.iter().position(|c| c["name"] == "Name");
        }
        // Without row objects (includeObject=None) the Name column says it.
        let row = &object["rows"][0];
        let name = row["object"]["metadata"]["name"]
            .as_str()
            .or_else(|| row["cells"][(*name_column)?].as_str())
            .map(String::from);
        (name, Some(fields))
    } else {
        (object_name(object).map(String::from), None)
    };
    let initial_events_end = object["metadata"]["annotations"]["k8s.io/initial-events-end"]
        == "true"
        || object["rows"][0]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"]
            == "true";
    Some(Event {
        kind,
        object: format!(
            "{} {}",
            object["kind"].as_str().unwrap_or("-"),
            object["apiVersion"].as_str().unwrap_or("-")
        ),
        name,
        table,
        initial_events_end,
    })
}

/// A watch being read in the background.
struct Watcher {
    rep: Rep,
    log: Arc<Mutex<WatchLog>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    fn ended(&self) -> bool {
        self.log.lock().map(|l| l.ended).unwrap_or(true)
    }

    fn deleted(&self) -> BTreeSet<String> {
        self.log
            .lock()
            .map(|l| {
                l.events
                    .iter()
                    .filter(|e| e.kind == "DELETED")
                    .filter_map(|e| e.name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn take(self) -> WatchLog {
        self.task.abort();
        self.log
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }
}

/// The matrix on one pair of endpoints.
#[derive(Clone, Debug)]
pub struct Matrix {
    /// The parent's own API.
    pub parent: Endpoint,
    /// The shadow API.
    pub shadow: Endpoint,
    /// Namespace of namespaced objects (created on the parent by the caller).
    pub namespace: String,
    /// Label value marking this run's objects.
    pub run: String,
    /// Kinds run at the same time.
    pub parallel: usize,
}

/// Label marking the matrix's objects.
const RUN_LABEL: &str = "conformance.clusternet.io/run";
/// Label marking the representation an object was made for.
const REP_LABEL: &str = "conformance.clusternet.io/rep";

/// One request, built up.
struct Req {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    accept: &'static str,
    body: Option<(&'static str, Vec<u8>)>,
}

impl Req {
    /// A request asking for `rep` (its Accept, and `includeObject` if it sets one).
    fn new(method: Method, path: String, rep: Rep) -> Self {
        let req = Self {
            method,
            path,
            query: Vec::new(),
            accept: rep.accept,
            body: None,
        };
        if rep.include_object.is_empty() {
            req
        } else {
            req.query("includeObject", rep.include_object)
        }
    }

    fn get(path: String, rep: Rep) -> Self {
        Self::new(Method::GET, path, rep)
    }

    fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    fn body(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some((content_type, body.into()));
        self
    }

    fn json(self, value: &Value) -> Result<Self> {
        Ok(self.body("application/json", serde_json::to_vec(value)?))
    }

    fn build(self) -> Result<Request<Bytes>> {
        let query: Vec<String> = self
            .query
            .iter()
            .map(|(k, v)| {
                let v =
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC);
                format!("{k}={v}")
            })
            .collect();
        let uri = if query.is_empty() {
            self.path
        } else {
            format!("{}?{}", self.path, query.join("&"))
        };
        let mut builder = Request::builder()
            .method(self.method)
            .uri(uri)
            .header(http::header::ACCEPT, self.accept);
        let body = match self.body {
            Some((content_type, body)) => {
                builder = builder.header(http::header::CONTENT_TYPE, content_type);
                body
            }
            None => Vec::new(),
        };
        Ok(builder.body(Bytes::from(body))?)
    }
}

async fn read_reply(endpoint: &Endpoint, req: Request<Bytes>) -> Result<Reply> {
    let response = endpoint.send(req).await?;
    let code = response.status().as_u16();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let chunks: Vec<Bytes> = response.into_body().try_collect().await?;
    Ok(Reply {
        code,
        content_type,
        body: Bytes::from(chunks.concat()),
    })
}

/// What one kind is on each side: the parent's resource and its shadow twin.
#[derive(Clone, Debug)]
pub struct Pair {
    /// The parent's resource.
    pub real: Kind,
    /// The shadow resource.
    pub shadow: Kind,
    /// A custom resource.
    pub custom: bool,
}

struct KindRun<'a> {
    matrix: &'a Matrix,
    pair: &'a Pair,
    sides: [Side; 2],
    cells: Vec<Cell>,
}

impl KindRun<'_> {
    fn namespace(&self) -> Option<&str> {
        self.pair
            .real
            .namespaced
            .then_some(self.matrix.namespace.as_str())
    }

    fn collection(&self, side: usize) -> String {
        let ns = self
            .namespace()
            .map(|ns| format!("/namespaces/{ns}"))
            .unwrap_or_default();
        if side == 0 {
            format!("{}{ns}/{}", self.pair.real.prefix(), self.pair.real.plural)
        } else {
            format!("/apis/{SHADOW_GV}{ns}/{}", self.pair.shadow.plural)
        }
    }

    fn item(&self, side: usize, base: &str) -> String {
        let name = self.sides[side]
            .names
            .actual
            .get(base)
            .cloned()
            .unwrap_or_else(|| format!("missing-{base}"));
        format!(
            "{}/{}",
            self.collection(side),
            percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC)
        )
    }

    fn api_version(&self, side: usize) -> String {
        if side == 0 {
            self.pair.real.api_version()
        } else {
            SHADOW_GV.to_string()
        }
    }

    fn labels(&self, rep: &str) -> Map<String, Value> {
        let mut labels = Map::new();
        labels.insert(RUN_LABEL.into(), self.matrix.run.clone().into());
        labels.insert(REP_LABEL.into(), rep.into());
        labels
    }

    fn object(&self, side: usize, base: &str, rep: &str) -> Result<Value> {
        let name = self.sides[side]
            .names
            .actual
            .get(base)
            .cloned()
            .unwrap_or_default();
        let mut object =
            fixtures::object(&self.pair.real, &name, self.namespace(), &self.labels(rep))
                .with_context(|| format!("no fixture for {}", self.pair.real.resource()))?;
        object["apiVersion"] = self.api_version(side).into();
        Ok(object)
    }

    /// This run's objects, or those labelled for `rep`.
    fn selector(&self, rep: Option<&str>) -> String {
        match rep {
            Some(rep) => format!("{RUN_LABEL}={},{REP_LABEL}={rep}", self.matrix.run),
            None => format!("{RUN_LABEL}={}", self.matrix.run),
        }
    }

    /// Sends the request `build` makes for each side (parent first), compares, records.
    async fn exchange<F>(&mut self, verb: &str, rep: Rep, build: F) -> Result<[Reply; 2]>
    where
        F: Fn(&Self, usize) -> Result<Req>,
    {
        let parent = self
            .send(0, build(self, 0)?)
            .await
            .with_context(|| format!("{verb} on {}", self.pair.real.resource()))?;
        let shadow = self
            .send(1, build(self, 1)?)
            .await
            .with_context(|| format!("{verb} on {}.shadow", self.pair.shadow.plural))?;
        let a = reply_fields(&self.sides[0].names, &parent);
        let b = reply_fields(&self.sides[1].names, &shadow);
        self.record(verb, rep, a, b);
        Ok([parent, shadow])
    }

    async fn send(&self, side: usize, req: Req) -> Result<Reply> {
        read_reply(&self.sides[side].endpoint, req.build()?).await
    }

    fn record(
        &mut self,
        verb: &str,
        rep: Rep,
        a: BTreeMap<String, String>,
        b: BTreeMap<String, String>,
    ) {
        let diffs = compare(self.pair, verb, &a, &b);
        self.cells.push(Cell {
            kind: self.pair.shadow.plural.clone(),
            verb: verb.to_string(),
            rep: rep.name,
            diffs,
        });
    }

    async fn open_watch(&self, side: usize, rep: Rep, resource_version: &str) -> Result<Watcher> {
        let mut req = Req::get(self.collection(side), rep)
            .query("watch", "true")
            .query("labelSelector", self.selector(None))
            .query("allowWatchBookmarks", "true")
            .query("timeoutSeconds", "120");
        req = if rep.watch_list {
            req.query("sendInitialEvents", "true")
                .query("resourceVersionMatch", "NotOlderThan")
        } else {
            req.query("resourceVersion", resource_version)
        };
        let response = self.sides[side].endpoint.send(req.build()?).await?;
        let log = Arc::new(Mutex::new(WatchLog {
            code: response.status().as_u16(),
            media: response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
            ..Default::default()
        }));
        let names = self.sides[side].names.clone();
        let task_log = log.clone();
        let task = tokio::spawn(async move {
            let (code, media) = task_log
                .lock()
                .map(|l| (l.code, l.media.clone()))
                .unwrap_or_default();
            let protobuf = is_protobuf(&media);
            let mut body = response.into_body();
            let mut buf = Vec::new();
            let mut name_column = None;
            while let Some(chunk) = body.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(err) => {
                        if let Ok(mut l) = task_log.lock() {
                            l.error = Some(format!("{err:#}"));
                            l.ended = true;
                        }
                        return;
                    }
                };
                buf.extend_from_slice(&chunk);
                if code != 200 {
                    continue;
                }
                let frames = if protobuf {
                    wire::take_frames(&mut buf)
                } else {
                    wire::take_lines(&mut buf)
                };
                for frame in frames {
                    let event = parse_event(&names, protobuf, &frame, &mut name_column);
                    if let Ok(mut l) = task_log.lock() {
                        match event {
                            Some(e) => l.events.push(e),
                            None => l.error = Some("an event that does not parse".into()),
                        }
                    }
                }
            }
            if let Ok(mut l) = task_log.lock() {
                l.ended = true;
            }
        });
        Ok(Watcher { rep, log, task })
    }

    async fn get_json(&self, side: usize, req: Req) -> Result<Value> {
        let reply = self.send(side, req).await?;
        serde_json::from_slice(&reply.body)
            .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&reply.body)))
    }

    async fn list_rv(&self, side: usize) -> Result<String> {
        let req = Req::get(self.collection(side), JSON).query("labelSelector", self.selector(None));
        let list = self.get_json(side, req).await?;
        list["metadata"]["resourceVersion"]
            .as_str()
            .map(String::from)
            .with_context(|| format!("list without resourceVersion: {list}"))
    }

    /// Both sides' current object (JSON), of the resource or of a subresource (`/status`).
    async fn current(&self, base: &str, sub: &str) -> Result<[Value; 2]> {
        let mut out: [Value; 2] = Default::default();
        for (side, slot) in out.iter_mut().enumerate() {
            let path = format!("{}{sub}", self.item(side, base));
            *slot = self.get_json(side, Req::get(path, JSON)).await?;
        }
        Ok(out)
    }

    async fn run(mut self) -> Result<Vec<Cell>> {
        let real = self.pair.real.clone();
        self.discovery();

        // Plain watches from now on, in every representation.
        let mut watchers: Vec<(usize, Watcher)> = Vec::new();
        for side in 0..2 {
            let rv = self.list_rv(side).await?;
            for rep in WATCH_REPS.iter().filter(|r| !r.watch_list) {
                watchers.push((side, self.open_watch(side, *rep, &rv).await?));
            }
        }

        // create; the objects deletecollection takes; create again (AlreadyExists).
        for rep in REPS {
            let base = format!("x-{}", rep.name);
            self.exchange("create", rep, |run, side| {
                Req::new(Method::POST, run.collection(side), rep)
                    .json(&run.object(side, &base, rep.name)?)
            })
            .await?;
            // Labelled apart: deletecollection takes only these (a deleted x may still be
            // finishing on the parent, e.g. a CRD's cleanup).
            let (base, label) = (format!("y-{}", rep.name), format!("y-{}", rep.name));
            for side in 0..2 {
                let req = Req::new(Method::POST, self.collection(side), JSON)
                    .json(&self.object(side, &base, &label)?)?;
                let reply = self.send(side, req).await?;
                // A fixture the parent refuses is the test's fault; the shadow API refusing
                // one shows in the create cells.
                if reply.code != 201 && side == 0 {
                    bail!(
                        "creating {base} of {} on the parent: {} {}",
                        real.resource(),
                        reply.code,
                        String::from_utf8_lossy(&reply.body)
                    );
                }
            }
        }
        for rep in REPS {
            let base = format!("x-{}", rep.name);
            self.exchange("create (exists)", rep, |run, side| {
                Req::new(Method::POST, run.collection(side), rep)
                    .json(&run.object(side, &base, rep.name)?)
            })
            .await?;
        }

        // get, a missing object, subresources.
        for rep in REPS.into_iter().chain(TABLE_OPTIONS) {
            // Table options read the Table's object.
            let base = match rep.include_object {
                "" => format!("x-{}", rep.name),
                _ => "x-table".to_string(),
            };
            self.exchange("get", rep, |run, side| {
                Ok(Req::get(run.item(side, &base), rep))
            })
            .await?;
            self.exchange("get (missing)", rep, |run, side| {
                Ok(Req::get(run.item(side, "missing"), rep))
            })
            .await?;
            for (sub, has) in [("status", real.status), ("scale", real.scale)] {
                if has {
                    self.exchange(&format!("get {sub}"), rep, |run, side| {
                        Ok(Req::get(format!("{}/{sub}", run.item(side, &base)), rep))
                    })
                    .await?;
                }
            }
        }

        // A Table with an includeObject it does not know.
        self.exchange("get (bad includeObject)", TABLE, |run, side| {
            Ok(Req::get(run.item(side, "x-table"), TABLE).query("includeObject", "Everything"))
        })
        .await?;

        // list; a bad selector; an invalid watch (sendInitialEvents without its companions).
        for rep in REPS.into_iter().chain(TABLE_OPTIONS) {
            self.exchange("list", rep, |run, side| {
                Ok(Req::get(run.collection(side), rep).query("labelSelector", run.selector(None)))
            })
            .await?;
            self.exchange("list (bad selector)", rep, |run, side| {
                Ok(Req::get(run.collection(side), rep).query("labelSelector", "!!"))
            })
            .await?;
            self.exchange("watch (invalid)", rep, |run, side| {
                Ok(Req::get(run.collection(side), rep)
                    .query("watch", "true")
                    .query("sendInitialEvents", "true"))
            })
            .await?;
        }

        // Watch-lists, now that objects exist.
        for side in 0..2 {
            for rep in WATCH_REPS.iter().filter(|r| r.watch_list) {
                watchers.push((side, self.open_watch(side, *rep, "").await?));
            }
        }

        // update; update with a stale resourceVersion.
        for rep in REPS {
            let base = format!("x-{}", rep.name);
            let current = self.current(&base, "").await?;
            for (verb, value) in [("update", "yes"), ("update (stale)", "again")] {
                self.exchange(verb, rep, |run, side| {
                    let mut object = current[side].clone();
                    object["metadata"]["labels"]["updated"] = value.into();
                    Req::new(Method::PUT, run.item(side, &base), rep).json(&object)
                })
                .await?;
            }
        }

        // patch: JSON, merge, strategic merge, apply; a missing object.
        for rep in REPS {
            let base = format!("x-{}", rep.name);
            for (verb, content_type, body) in [
                (
                    "patch (json)",
                    "application/json-patch+json",
                    r#"[{"op":"add","path":"/metadata/labels/patched","value":"json"}]"#,
                ),
                (
                    "patch (merge)",
                    "application/merge-patch+json",
                    r#"{"metadata":{"labels":{"patched":"merge"}}}"#,
                ),
                (
                    "patch (strategic)",
                    "application/strategic-merge-patch+json",
                    r#"{"metadata":{"labels":{"patched":"strategic"}}}"#,
                ),
            ] {
                self.exchange(verb, rep, |run, side| {
                    Ok(
                        Req::new(Method::PATCH, run.item(side, &base), rep)
                            .body(content_type, body),
                    )
                })
                .await?;
            }
            self.exchange("patch (apply)", rep, |run, side| {
                let mut object = run.object(side, &base, rep.name)?;
                object["metadata"]["labels"]["applied"] = "yes".into();
                Ok(Req::new(Method::PATCH, run.item(side, &base), rep)
                    .query("fieldManager", "conformance")
                    .query("force", "true")
                    .body("application/apply-patch+yaml", serde_json::to_vec(&object)?))
            })
            .await?;
            self.exchange("patch (missing)", rep, |run, side| {
                Ok(
                    Req::new(Method::PATCH, run.item(side, "missing"), rep).body(
                        "application/merge-patch+json",
                        r#"{"metadata":{"labels":{"patched":"merge"}}}"#,
                    ),
                )
            })
            .await?;
        }

        // Subresource writes.
        let base = "x-json";
        if real.status {
            self.exchange("patch status", JSON, |run, side| {
                Ok(Req::new(
                    Method::PATCH,
                    format!("{}/status", run.item(side, base)),
                    JSON,
                )
                .body(
                    "application/merge-patch+json",
                    r#"{"metadata":{"annotations":{"status-patched":"yes"}}}"#,
                ))
            })
            .await?;
            let current = self.current(base, "").await?;
            self.exchange("update status", JSON, |run, side| {
                Req::new(
                    Method::PUT,
                    format!("{}/status", run.item(side, base)),
                    JSON,
                )
                .json(&current[side])
            })
            .await?;
        }
        if real.scale {
            self.exchange("patch scale", JSON, |run, side| {
                Ok(Req::new(
                    Method::PATCH,
                    format!("{}/scale", run.item(side, base)),
                    JSON,
                )
                .body("application/merge-patch+json", r#"{"spec":{"replicas":0}}"#))
            })
            .await?;
            let current = self.current(base, "/scale").await?;
            self.exchange("update scale", JSON, |run, side| {
                Req::new(Method::PUT, format!("{}/scale", run.item(side, base)), JSON)
                    .json(&current[side])
            })
            .await?;
        }

        // Finalizers that admission put on the real objects (pvc-protection, …) have no
        // controller here; remove them on both sides so deletes complete.
        for rep in REPS {
            for base in [format!("x-{}", rep.name), format!("y-{}", rep.name)] {
                for (side, object) in self.current(&base, "").await?.iter().enumerate() {
                    if object["metadata"]["finalizers"]
                        .as_array()
                        .is_some_and(|f| !f.is_empty())
                    {
                        let req = Req::new(Method::PATCH, self.item(side, &base), JSON).body(
                            "application/merge-patch+json",
                            r#"{"metadata":{"finalizers":null}}"#,
                        );
                        self.send(side, req).await?;
                    }
                }
            }
        }

        // delete; a missing object; deletecollection.
        let mut deleted: [BTreeSet<String>; 2] = Default::default();
        let options =
            r#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"}"#;
        for rep in REPS {
            let base = format!("x-{}", rep.name);
            let replies = self
                .exchange("delete", rep, |run, side| {
                    Ok(Req::new(Method::DELETE, run.item(side, &base), rep)
                        .body("application/json", options))
                })
                .await?;
            for (side, reply) in replies.iter().enumerate() {
                if reply.code == 200 || reply.code == 202 {
                    deleted[side].insert(self.sides[side].names.actual[&base].clone());
                }
            }
            self.exchange("delete (missing)", rep, |run, side| {
                Ok(Req::new(Method::DELETE, run.item(side, "missing"), rep)
                    .body("application/json", options))
            })
            .await?;
            let base = format!("y-{}", rep.name);
            let replies = self
                .exchange("deletecollection", rep, |run, side| {
                    Ok(Req::new(Method::DELETE, run.collection(side), rep)
                        .query("labelSelector", run.selector(Some(&base)))
                        .body("application/json", options))
                })
                .await?;
            for (side, reply) in replies.iter().enumerate() {
                // A 406 for a list in PartialObjectMetadata comes after the deletion.
                if reply.code == 200 || reply.code == 406 {
                    deleted[side].insert(self.sides[side].names.actual[&base].clone());
                }
            }
        }

        // The watches: until each saw every deletion of its side, or ended (or 30 s).
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30)
            && !watchers
                .iter()
                .all(|(side, w)| w.ended() || deleted[*side].is_subset(&w.deleted()))
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut logs: [BTreeMap<&'static str, BTreeMap<String, String>>; 2] = Default::default();
        for (side, w) in watchers {
            let rep = w.rep;
            let missed = deleted[side].difference(&w.deleted()).count();
            let log = w.take();
            let mut fields = watch_fields(&log, rep.watch_list);
            fields.insert("watch.deletions seen".into(), (missed == 0).to_string());
            // Whether the server ended the stream early (before the deletions).
            fields.insert("watch.ended".into(), (log.ended && missed > 0).to_string());
            logs[side].insert(rep.name, fields);
        }
        for rep in WATCH_REPS {
            let a = logs[0].remove(rep.name).unwrap_or_default();
            let b = logs[1].remove(rep.name).unwrap_or_default();
            self.record("watch", rep, a, b);
        }
        Ok(self.cells)
    }

    /// The discovery entries of the two resources.
    fn discovery(&mut self) {
        let fields = |k: &Kind| -> BTreeMap<String, String> {
            [
                ("kind", k.kind.clone()),
                ("singularName", k.singular.clone()),
                ("namespaced", k.namespaced.to_string()),
                ("verbs", k.verbs.join(",")),
                ("shortNames", k.short_names.join(",")),
                ("categories", k.categories.join(",")),
                ("status", k.status.to_string()),
                ("scale", k.scale.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
        };
        let (a, b) = (fields(&self.pair.real), fields(&self.pair.shadow));
        self.record("discovery", JSON, a, b);
    }
}

/// The allowed difference a differing field is, if any.
fn allowed(pair: &Pair, field: &str, parent: &str, shadow: &str) -> Option<Allowed> {
    let real = &pair.real;
    let original = real.api_version();
    // apiVersion of objects, lists, items, rows, events.
    let swapped = parent.replace(&format!(" {original}"), &format!(" {SHADOW_GV}"));
    if (field.ends_with("apiVersion") && parent == original && shadow == SHADOW_GV)
        || ((field.starts_with("watch.")
            || field.starts_with("items.")
            || field.ends_with("rows.object"))
            && swapped == shadow)
    {
        return Some(SHADOW_API_VERSION);
    }
    // kube-apiserver's Content-Type names the serializer only (no `as=`), for every
    // representation; a protobuf watch adds `stream=watch`.
    if field == "media" && is_protobuf(parent) && shadow == "application/json" {
        return Some(JSON_FOR_PROTOBUF);
    }
    if field.starts_with("status.") {
        let replaced = if real.group.is_empty() {
            parent.replace(
                &format!("{} \"", real.plural),
                &format!("{}.shadow \"", real.plural),
            )
        } else {
            parent.replace(
                &format!("{}.{}", real.plural, real.group),
                &format!("{}.shadow", real.plural),
            )
        };
        if replaced == shadow || (field == "status.details.group" && shadow == "shadow") {
            return Some(SHADOW_GROUP);
        }
    }
    if field == "categories" && shadow == "clusternet.shadow" {
        return Some(SHADOW_CATEGORY);
    }
    None
}

/// Compares the fields of the two answers.
fn compare(
    pair: &Pair,
    verb: &str,
    parent: &BTreeMap<String, String>,
    shadow: &BTreeMap<String, String>,
) -> Vec<Diff> {
    let partial = parent.contains_key("partial") || shadow.contains_key("partial");
    // A write to a shadow kind's status is refused as a whole (405 Status for the object).
    let status_refused = matches!(verb, "patch status" | "update status")
        && shadow.get("code").map(String::as_str) == Some("405")
        && shadow.get("status.reason").map(String::as_str) == Some("MethodNotAllowed");
    let fields: BTreeSet<&String> = parent.keys().chain(shadow.keys()).collect();
    let mut out = Vec::new();
    for field in fields {
        if field == "partial" {
            continue;
        }
        let a = parent.get(field).map(String::as_str);
        let b = shadow.get(field).map(String::as_str);
        if a == b {
            continue;
        }
        if partial && (a.is_none() || b.is_none()) {
            // A protobuf body was read only as far as its envelope.
            out.push(Diff {
                field: field.clone(),
                parent: a.unwrap_or("(protobuf)").to_string(),
                shadow: b.unwrap_or("(protobuf)").to_string(),
                allowed: Some(JSON_FOR_PROTOBUF.name),
            });
            continue;
        }
        let (a, b) = (a.unwrap_or("(none)"), b.unwrap_or("(none)"));
        let allowed = if status_refused {
            Some(STATUS_READ_ONLY)
        } else {
            allowed(pair, field, a, b)
        };
        out.push(Diff {
            field: field.clone(),
            parent: a.to_string(),
            shadow: b.to_string(),
            allowed: allowed.map(|x| x.name),
        });
    }
    out
}

/// The kinds to run: each shadow resource with the parent resource it mirrors (by plural and
/// kind, in the parent's group priority order).
pub fn pairs(real: &[Kind], shadow: &[Kind], custom_groups: &[String]) -> Result<Vec<Pair>> {
    let mut out = Vec::new();
    for s in shadow {
        let Some(r) = real
            .iter()
            .find(|r| r.plural == s.plural && r.kind == s.kind)
        else {
            bail!(
                "shadow resource {} ({}) mirrors nothing the parent serves",
                s.plural,
                s.kind
            );
        };
        out.push(Pair {
            real: r.clone(),
            shadow: s.clone(),
            custom: custom_groups.contains(&r.group),
        });
    }
    Ok(out)
}

impl Matrix {
    /// Runs every kind of `pairs` (some at the same time).
    pub async fn run(&self, pairs: &[Pair]) -> Result<Report> {
        for p in pairs {
            if fixtures::object(&p.real, "x", Some("x"), &Map::new()).is_none() {
                bail!(
                    "no conformance fixture for {} ({}): add one in test/e2e/src/conformance/fixtures.rs",
                    p.real.resource(),
                    p.real.kind
                );
            }
        }
        let results: Vec<Result<Vec<Cell>>> = futures::stream::iter(pairs.iter())
            .map(|pair| self.run_kind(pair))
            .buffer_unordered(self.parallel.max(1))
            .collect()
            .await;
        let mut report = Report::default();
        for r in results {
            report.cells.extend(r?);
        }
        report.cells.sort_by(|a, b| {
            (a.kind.as_str(), a.verb.as_str(), a.rep).cmp(&(
                b.kind.as_str(),
                b.verb.as_str(),
                b.rep,
            ))
        });
        report.kinds = pairs
            .iter()
            .map(|p| {
                let mut traits = vec![
                    if p.real.namespaced { "ns" } else { "cluster" },
                    if p.custom { "crd" } else { "built-in" },
                ];
                if p.real.status {
                    traits.push("status");
                }
                if p.real.scale {
                    traits.push("scale");
                }
                format!("{}({})", p.shadow.plural, traits.join(","))
            })
            .collect();
        Ok(report)
    }

    async fn run_kind(&self, pair: &Pair) -> Result<Vec<Cell>> {
        let mut sides = [
            Side {
                endpoint: self.parent.clone(),
                names: Names::default(),
            },
            Side {
                endpoint: self.shadow.clone(),
                names: Names::default(),
            },
        ];
        for (side, s) in sides.iter_mut().enumerate() {
            let bases = REPS
                .iter()
                .flat_map(|r| [format!("x-{}", r.name), format!("y-{}", r.name)])
                .chain(["missing".to_string()]);
            for (index, base) in bases.enumerate() {
                let name = fixtures::name(&pair.real, &format!("{}-{base}", self.run), side, index);
                s.names.actual.insert(base, name);
            }
        }
        let run = KindRun {
            matrix: self,
            pair,
            sides,
            cells: Vec::new(),
        };
        let started = Instant::now();
        let cells = run
            .run()
            .await
            .with_context(|| format!("conformance of {}", pair.real.resource()))?;
        eprintln!(
            "conformance: {} in {:.1}s",
            pair.shadow.plural,
            started.elapsed().as_secs_f64()
        );
        Ok(cells)
    }
}
