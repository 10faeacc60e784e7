//! The operations of a group-version, in a form both renderers (Swagger 2.0 and OpenAPI 3) share.
//!
//! This follows kube-apiserver's API installer (`k8s.io/apiserver/pkg/endpoints/installer.go`)
//! and its OpenAPI naming (`GetOperationIDAndTags`): the same paths, operation IDs,
//! descriptions, `x-kubernetes-action`s, parameters and responses, so clients that key on them
//! (kubectl explain finds a resource's kind through the `x-kubernetes-group-version-kind` of its
//! list/get operations) treat the hub like any other apiserver.

use std::collections::{BTreeMap, HashSet};

use crate::builtin::{self, StdParam};
use crate::error::{Error, Warning};
use crate::model::{
    ApiGroupVersion, Connect, GroupVersion, GroupVersionKind, HttpMethod, Options, ParamType,
    PatchType, Resource, Verb,
};
use crate::schemas::SchemaSet;

/// Where a parameter goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Location {
    Path,
    Query,
}

impl Location {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Location::Path => "path",
            Location::Query => "query",
        }
    }
}

/// A path or query parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Param {
    pub name: String,
    pub location: Location,
    pub description: String,
    pub param_type: ParamType,
    pub required: bool,
}

impl Param {
    fn path(name: &str, description: String) -> Self {
        Self {
            name: name.into(),
            location: Location::Path,
            description,
            param_type: ParamType::String,
            required: true,
        }
    }

    fn standard(key: &str, p: &StdParam) -> Self {
        Self {
            name: key.split('@').next().unwrap_or(key).to_string(),
            location: if p.location == "path" {
                Location::Path
            } else {
                Location::Query
            },
            description: p.description.clone(),
            param_type: p.param_type(),
            required: p.required,
        }
    }
}

/// What a response or body carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Payload {
    /// A named schema.
    Schema(String),
    /// An opaque string (connect responses).
    Text,
}

/// Which media types a response or body lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Media {
    /// The object media types ([`Options::media_types`]).
    Objects,
    /// The object media types plus their `;stream=watch` variants.
    Streams,
    /// `*/*`.
    Any,
    /// The patch media types.
    Patch(Vec<PatchType>),
}

impl Media {
    /// The media types, in document order.
    pub(crate) fn types(&self, options: &Options) -> Vec<String> {
        match self {
            Media::Objects => options.media_types.clone(),
            Media::Streams => {
                let streams = options
                    .media_types
                    .iter()
                    .filter(|m| m.ends_with("json") || m.ends_with("protobuf"))
                    .map(|m| format!("{m};stream=watch"));
                options.media_types.iter().cloned().chain(streams).collect()
            }
            Media::Any => vec!["*/*".into()],
            Media::Patch(types) => types.iter().map(|t| t.media_type().to_string()).collect(),
        }
    }
}

/// One response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Response {
    pub code: u16,
    pub payload: Option<Payload>,
    pub media: Media,
}

impl Response {
    pub(crate) fn description(&self) -> &'static str {
        match self.code {
            200 => "OK",
            201 => "Created",
            202 => "Accepted",
            401 => "Unauthorized",
            _ => "",
        }
    }
}

/// A request body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Body {
    pub schema: String,
    pub required: bool,
    pub media: Media,
}

/// One operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Operation {
    pub method: HttpMethod,
    pub id: String,
    pub description: String,
    pub action: Option<&'static str>,
    pub gvk: Option<GroupVersionKind>,
    pub tag: String,
    pub params: Vec<Param>,
    pub body: Option<Body>,
    /// Swagger 2.0 `consumes` (OpenAPI 3 puts these on the body).
    pub consumes: Media,
    pub responses: Vec<Response>,
}

/// One path with its operations, ordered by method.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Route {
    pub params: Vec<Param>,
    pub operations: BTreeMap<HttpMethod, Operation>,
}

/// Routes by path.
pub(crate) type Routes = BTreeMap<String, Route>;

/// kube-apiserver's `ToValidOperationID`: drops non-alphanumerics and capitalizes what follows.
pub(crate) fn operation_id_part(s: &str, capitalize_first: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut capitalize = capitalize_first;
    for (i, c) in s.chars().enumerate() {
        if c.is_alphabetic() || c == '_' || (i != 0 && c.is_numeric()) {
            if capitalize {
                out.extend(c.to_uppercase());
                capitalize = false;
            } else {
                out.push(c);
            }
        } else {
            capitalize = true;
        }
    }
    out
}

/// The operation-ID infix (`AppsV1`, `CoreV1`, `ProxiesClusternetIoV1alpha1`) and tag
/// (`apps_v1`, `proxiesClusternetIo_v1alpha1`) of a group-version.
pub(crate) fn naming(gv: &GroupVersion) -> (String, String) {
    let group = if gv.group.is_empty() {
        "core"
    } else {
        gv.group.strip_suffix(".k8s.io").unwrap_or(&gv.group)
    };
    let infix = format!(
        "{}{}",
        operation_id_part(group, true),
        operation_id_part(&gv.version, true)
    );
    let tag = format!(
        "{}_{}",
        operation_id_part(group, false),
        operation_id_part(&gv.version, false)
    );
    (infix, tag)
}

/// Title case of a one-word name, as Go's `cases.Title` gives it (`status` → `Status`).
fn title(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

const LIST_PARAMS: &[&str] = &[
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
];
const WRITE_PARAMS: &[&str] = &["dryRun", "fieldManager", "fieldValidation"];
const PATCH_PARAMS: &[&str] = &["dryRun", "fieldManager@patch", "fieldValidation", "force"];
const DELETE_PARAMS: &[&str] = &[
    "dryRun",
    "gracePeriodSeconds",
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "orphanDependents",
    "propagationPolicy",
];
const DELETE_COLLECTION_PARAMS: &[&str] = &[
    "continue",
    "dryRun",
    "fieldSelector",
    "gracePeriodSeconds",
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "labelSelector",
    "limit",
    "orphanDependents",
    "propagationPolicy",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
];

/// Builds the routes of group-versions into one table.
pub(crate) struct RouteBuilder<'s, 'c, 'a> {
    set: &'s mut SchemaSet<'c, 'a>,
    options: &'s Options,
    params: &'static std::collections::HashMap<String, StdParam>,
    routes: Routes,
    pub(crate) warnings: Vec<Warning>,
}

impl<'s, 'c, 'a> RouteBuilder<'s, 'c, 'a> {
    pub(crate) fn new(set: &'s mut SchemaSet<'c, 'a>, options: &'s Options) -> Result<Self, Error> {
        Ok(Self {
            set,
            options,
            params: builtin::params()?,
            routes: Routes::new(),
            warnings: Vec::new(),
        })
    }

    pub(crate) fn finish(self) -> (Routes, Vec<Warning>) {
        (self.routes, self.warnings)
    }

    fn std(&self, keys: &[&str]) -> Vec<Param> {
        keys.iter()
            .filter_map(|k| self.params.get(*k).map(|p| Param::standard(k, p)))
            .collect()
    }

    fn add(&mut self, path: String, mut params: Vec<Param>, op: Operation) {
        let route = self.routes.entry(path.clone()).or_default();
        if route.operations.contains_key(&op.method) {
            self.warnings.push(Warning::DuplicateOperation {
                path,
                method: op.method.as_str().into(),
            });
            return;
        }
        if route.params.is_empty() {
            params.sort_by(|a, b| (&a.name, a.location).cmp(&(&b.name, b.location)));
            route.params = params;
        }
        self.set.use_schemas_of(&op);
        route.operations.insert(op.method, op);
    }

    /// Adds a group-version: its `getAPIResources` operation and its resources.
    pub(crate) fn group_version(&mut self, agv: &ApiGroupVersion) {
        let gv = &agv.group_version;
        let (infix, tag) = naming(gv);
        self.add(
            format!("{}/", gv.url_prefix()),
            Vec::new(),
            Operation {
                method: HttpMethod::Get,
                id: format!("get{infix}APIResources"),
                description: "get available resources".into(),
                action: None,
                gvk: None,
                tag: tag.clone(),
                params: Vec::new(),
                body: None,
                consumes: Media::Objects,
                responses: vec![
                    ok(200, builtin::API_RESOURCE_LIST, Media::Objects),
                    unauthorized(),
                ],
            },
        );

        let mut plurals = HashSet::new();
        let mut kinds: BTreeMap<&str, String> = BTreeMap::new();
        for resource in &agv.resources {
            if !plurals.insert(resource.plural.as_str()) {
                self.warnings.push(Warning::DuplicateResource {
                    group_version: gv.api_version(),
                    plural: resource.plural.clone(),
                });
                continue;
            }
            let source = resource.source.clone().unwrap_or_else(|| gv.clone());
            let kind_schema = self.set.resolve(&source.with_kind(&resource.kind), None);
            if let Some(existing) = kinds.get(resource.kind.as_str())
                && *existing != kind_schema
            {
                self.warnings.push(Warning::ConflictingKind {
                    group_version: gv.api_version(),
                    kind: resource.kind.clone(),
                    skipped: format!("resource {}", resource.plural),
                });
                continue;
            }
            kinds.insert(&resource.kind, kind_schema.clone());
            self.set
                .add_kind(&kind_schema, gv.with_kind(&resource.kind));
            if self.options.keep_source_gvk && source != *gv {
                self.set
                    .add_kind(&kind_schema, source.with_kind(&resource.kind));
            }
            self.set.use_schema(&kind_schema);
            let list_schema = if resource.has(Verb::List) {
                let list = self
                    .set
                    .resolve(&source.with_kind(&resource.list_kind), Some(&kind_schema));
                self.set.add_kind(&list, gv.with_kind(&resource.list_kind));
                if self.options.keep_source_gvk && source != *gv {
                    self.set
                        .add_kind(&list, source.with_kind(&resource.list_kind));
                }
                Some(list)
            } else {
                None
            };
            let ctx = Ctx {
                gv,
                infix: &infix,
                tag: &tag,
                resource,
                kind_schema,
                list_schema,
            };
            self.resource(&ctx);
        }
    }

    fn resource(&mut self, ctx: &Ctx<'_>) {
        let r = ctx.resource;
        let prefix = ctx.gv.url_prefix();
        let scope = if r.namespaced {
            "/namespaces/{namespace}"
        } else {
            ""
        };
        let ns = if r.namespaced { "Namespaced" } else { "" };
        let kind = &r.kind;
        let infix = ctx.infix;
        let collection = format!("{prefix}{scope}/{}", r.plural);
        let item = format!("{collection}/{{name}}");
        let gvk = ctx.gv.with_kind(kind);
        let scope_params = if r.namespaced {
            self.std(&["namespace"])
        } else {
            Vec::new()
        };
        let pretty = self.std(&["pretty"]);
        let collection_params: Vec<Param> = scope_params.iter().chain(&pretty).cloned().collect();
        let item_params = |name_of: &str| -> Vec<Param> {
            let mut p = vec![Param::path("name", format!("name of the {name_of}"))];
            p.extend(scope_params.iter().cloned());
            p.extend(pretty.iter().cloned());
            p
        };
        let op = |method, id: String, description: String, action: &'static str| Operation {
            method,
            id,
            description,
            action: Some(action),
            gvk: Some(gvk.clone()),
            tag: ctx.tag.to_string(),
            params: Vec::new(),
            body: None,
            consumes: Media::Any,
            responses: Vec::new(),
        };

        if let Some(list) = &ctx.list_schema
            && r.has(Verb::List)
        {
            let list_params = self.std(LIST_PARAMS);
            let list_op = |id: String| Operation {
                params: list_params.clone(),
                responses: vec![ok(200, list, Media::Streams), unauthorized()],
                ..op(
                    HttpMethod::Get,
                    id,
                    format!("list or watch objects of kind {kind}"),
                    "list",
                )
            };
            let namespaced_list = list_op(format!("list{infix}{ns}{kind}"));
            self.add(
                collection.clone(),
                collection_params.clone(),
                namespaced_list,
            );
            if r.namespaced {
                let all = list_op(format!("list{infix}{kind}ForAllNamespaces"));
                self.add(format!("{prefix}/{}", r.plural), pretty.clone(), all);
            }
        }
        // The resource's own object verbs: create on the collection, the others on the item.
        let own: Vec<(Verb, Operation)> = [
            Verb::Create,
            Verb::Get,
            Verb::Update,
            Verb::Patch,
            Verb::Delete,
        ]
        .into_iter()
        .filter(|verb| r.has(*verb))
        .filter_map(|verb| {
            self.object_operation(
                verb,
                &ctx.kind_schema,
                &r.patch_types,
                &format!("{infix}{ns}{kind}"),
                (&format!("the specified {kind}"), &format!("a {kind}")),
                &op,
            )
            .map(|operation| (verb, operation))
        })
        .collect();
        let (create, on_item): (Vec<_>, Vec<_>) =
            own.into_iter().partition(|(verb, _)| *verb == Verb::Create);
        for (_, create) in create {
            self.add(collection.clone(), collection_params.clone(), create);
        }
        if r.has(Verb::DeleteCollection) {
            let delete = Operation {
                params: self.std(DELETE_COLLECTION_PARAMS),
                body: Some(Body {
                    schema: builtin::DELETE_OPTIONS.into(),
                    required: false,
                    media: Media::Any,
                }),
                responses: vec![ok(200, builtin::STATUS, Media::Objects), unauthorized()],
                ..op(
                    HttpMethod::Delete,
                    format!("delete{infix}Collection{ns}{kind}"),
                    format!("delete collection of {kind}"),
                    "deletecollection",
                )
            };
            self.add(collection.clone(), collection_params.clone(), delete);
        }
        for (_, operation) in on_item {
            self.add(item.clone(), item_params(kind), operation);
        }
        if self.options.legacy_watch_paths && r.has(Verb::Watch) {
            let watch_params: Vec<Param> = self.std(LIST_PARAMS);
            let watch_op = |id: String, description: String, action: &'static str| Operation {
                params: watch_params.clone(),
                responses: vec![
                    ok(200, builtin::WATCH_EVENT, Media::Streams),
                    unauthorized(),
                ],
                ..op(HttpMethod::Get, id, description, action)
            };
            let list_description = format!(
                "watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."
            );
            let watch_collection = format!("{prefix}/watch{scope}/{}", r.plural);
            self.add(
                watch_collection.clone(),
                collection_params.clone(),
                watch_op(
                    format!("watch{infix}{ns}{kind}List"),
                    list_description.clone(),
                    "watchlist",
                ),
            );
            if r.namespaced {
                self.add(
                    format!("{prefix}/watch/{}", r.plural),
                    pretty.clone(),
                    watch_op(
                        format!("watch{infix}{kind}ListForAllNamespaces"),
                        list_description,
                        "watchlist",
                    ),
                );
            }
            self.add(
                format!("{watch_collection}/{{name}}"),
                item_params(kind),
                watch_op(
                    format!("watch{infix}{ns}{kind}"),
                    format!(
                        "watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."
                    ),
                    "watch",
                ),
            );
        }

        for sub in &r.subresources {
            let path = format!("{item}/{}", sub.name);
            let sub_title = title(&sub.name);
            let (sub_gvk, sub_schema) = match &sub.kind {
                Some(k) => (k.clone(), self.set.resolve(k, None)),
                None => (gvk.clone(), ctx.kind_schema.clone()),
            };
            let sub_op =
                |method, id: String, description: String, action: &'static str| Operation {
                    gvk: Some(sub_gvk.clone()),
                    ..op(method, id, description, action)
                };
            let name = &sub.name;
            for verb in &sub.verbs {
                let Some(operation) = self.object_operation(
                    *verb,
                    &sub_schema,
                    &r.patch_types,
                    &format!("{infix}{ns}{kind}{sub_title}"),
                    (
                        &format!("{name} of the specified {kind}"),
                        &format!("{name} of a {kind}"),
                    ),
                    &sub_op,
                ) else {
                    continue;
                };
                self.add(path.clone(), item_params(&sub_gvk.kind), operation);
            }
            if let Some(connect) = &sub.connect {
                self.connect(ctx, &path, Some(name), connect);
            }
        }
        if let Some(connect) = &r.connect {
            self.connect(ctx, &item, None, connect);
        }
    }

    /// The operation of `verb` on one object whose schema is `schema` — the resource's own
    /// create, get, update, patch and delete, and a subresource's: the same parameters, bodies
    /// and responses, named `<verb><id>` and described as kube-apiserver does (`the` for get,
    /// update and patch: "read the specified Foo", "read status of the specified Foo"; `a` for
    /// create and delete). None for other verbs, and for patch without patch types.
    fn object_operation(
        &self,
        verb: Verb,
        schema: &str,
        patch_types: &[PatchType],
        id: &str,
        (the, a): (&str, &str),
        base: &dyn Fn(HttpMethod, String, String, &'static str) -> Operation,
    ) -> Option<Operation> {
        let object_body = || {
            Some(Body {
                schema: schema.to_string(),
                required: true,
                media: Media::Any,
            })
        };
        Some(match verb {
            Verb::Get => Operation {
                responses: vec![ok(200, schema, Media::Objects), unauthorized()],
                ..base(
                    HttpMethod::Get,
                    format!("read{id}"),
                    format!("read {the}"),
                    "get",
                )
            },
            Verb::Update => Operation {
                params: self.std(WRITE_PARAMS),
                body: object_body(),
                responses: vec![
                    ok(200, schema, Media::Objects),
                    ok(201, schema, Media::Objects),
                    unauthorized(),
                ],
                ..base(
                    HttpMethod::Put,
                    format!("replace{id}"),
                    format!("replace {the}"),
                    "put",
                )
            },
            Verb::Patch if !patch_types.is_empty() => Operation {
                params: self.std(PATCH_PARAMS),
                body: Some(Body {
                    schema: builtin::PATCH.into(),
                    required: true,
                    media: Media::Patch(patch_types.to_vec()),
                }),
                consumes: Media::Patch(patch_types.to_vec()),
                responses: vec![
                    ok(200, schema, Media::Objects),
                    ok(201, schema, Media::Objects),
                    unauthorized(),
                ],
                ..base(
                    HttpMethod::Patch,
                    format!("patch{id}"),
                    format!("partially update {the}"),
                    "patch",
                )
            },
            Verb::Create => Operation {
                params: self.std(WRITE_PARAMS),
                body: object_body(),
                responses: vec![
                    ok(200, schema, Media::Objects),
                    ok(201, schema, Media::Objects),
                    ok(202, schema, Media::Objects),
                    unauthorized(),
                ],
                ..base(
                    HttpMethod::Post,
                    format!("create{id}"),
                    format!("create {a}"),
                    "post",
                )
            },
            Verb::Delete => Operation {
                params: self.std(DELETE_PARAMS),
                body: Some(Body {
                    schema: builtin::DELETE_OPTIONS.into(),
                    required: false,
                    media: Media::Any,
                }),
                responses: vec![
                    ok(200, builtin::STATUS, Media::Objects),
                    ok(202, builtin::STATUS, Media::Objects),
                    unauthorized(),
                ],
                ..base(
                    HttpMethod::Delete,
                    format!("delete{id}"),
                    format!("delete {a}"),
                    "delete",
                )
            },
            _ => return None,
        })
    }

    fn connect(&mut self, ctx: &Ctx<'_>, base: &str, subresource: Option<&str>, connect: &Connect) {
        let r = ctx.resource;
        let (infix, kind) = (ctx.infix, &r.kind);
        let ns = if r.namespaced { "Namespaced" } else { "" };
        let options_schema = self.set.resolve(&connect.options_kind, None);
        self.set.use_schema(&options_schema);
        let mut params = vec![Param::path(
            "name",
            format!("name of the {}", connect.options_kind.kind),
        )];
        if r.namespaced {
            params.extend(self.std(&["namespace"]));
        }
        params.extend(connect.query_parameters.iter().map(|q| Param {
            name: q.name.clone(),
            location: Location::Query,
            description: q.description.clone(),
            param_type: q.param_type,
            required: false,
        }));
        let sub_title = subresource.map(title).unwrap_or_default();
        let variants: &[(&str, bool)] = if connect.subpath {
            &[("", false), ("WithPath", true)]
        } else {
            &[("", false)]
        };
        for (suffix, with_path) in variants {
            let (path, mut path_params) = if *with_path {
                (format!("{base}/{{path}}"), params.clone())
            } else {
                (base.to_string(), params.clone())
            };
            if *with_path {
                path_params.extend(self.std(&["path"]));
            }
            for method in &connect.methods {
                let m = method.as_str();
                let description = match subresource {
                    Some(sub) => format!("connect {m} requests to {sub} of {kind}"),
                    None => format!("connect {m} requests to {kind}"),
                };
                let operation = Operation {
                    method: *method,
                    id: format!("connect{infix}{}{ns}{kind}{sub_title}{suffix}", title(m)),
                    description,
                    action: Some("connect"),
                    gvk: Some(connect.options_kind.clone()),
                    tag: ctx.tag.to_string(),
                    params: Vec::new(),
                    body: None,
                    consumes: Media::Any,
                    responses: vec![
                        Response {
                            code: 200,
                            payload: Some(Payload::Text),
                            media: Media::Any,
                        },
                        unauthorized(),
                    ],
                };
                self.add(path.clone(), path_params.clone(), operation);
            }
        }
    }
}

struct Ctx<'r> {
    gv: &'r GroupVersion,
    infix: &'r str,
    tag: &'r str,
    resource: &'r Resource,
    kind_schema: String,
    list_schema: Option<String>,
}

fn ok(code: u16, schema: &str, media: Media) -> Response {
    Response {
        code,
        payload: Some(Payload::Schema(schema.to_string())),
        media,
    }
}

fn unauthorized() -> Response {
    Response {
        code: 401,
        payload: None,
        media: Media::Any,
    }
}

impl SchemaSet<'_, '_> {
    /// Marks every schema an operation names as used.
    fn use_schemas_of(&mut self, op: &Operation) {
        if let Some(body) = &op.body {
            self.use_schema(&body.schema);
        }
        for response in &op.responses {
            if let Some(Payload::Schema(name)) = &response.payload {
                self.use_schema(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_follow_kube_apiserver() {
        assert_eq!(
            naming(&GroupVersion::new("apps", "v1")),
            ("AppsV1".into(), "apps_v1".into())
        );
        assert_eq!(
            naming(&GroupVersion::new("", "v1")),
            ("CoreV1".into(), "core_v1".into())
        );
        assert_eq!(
            naming(&GroupVersion::new("events.k8s.io", "v1")),
            ("EventsV1".into(), "events_v1".into())
        );
        assert_eq!(
            naming(&GroupVersion::new("flowcontrol.apiserver.k8s.io", "v1")),
            (
                "FlowcontrolApiserverV1".into(),
                "flowcontrolApiserver_v1".into()
            )
        );
        assert_eq!(
            naming(&GroupVersion::new("proxies.clusternet.io", "v1alpha1")),
            (
                "ProxiesClusternetIoV1alpha1".into(),
                "proxiesClusternetIo_v1alpha1".into()
            )
        );
        assert_eq!(
            naming(&GroupVersion::new("shadow", "v1alpha1")),
            ("ShadowV1alpha1".into(), "shadow_v1alpha1".into())
        );
        assert_eq!(title("status"), "Status");
        assert_eq!(title("GET"), "Get");
    }
}
