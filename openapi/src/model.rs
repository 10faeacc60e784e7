//! What the hub serves, described for the document builders: group-versions, resources,
//! subresources, verbs and connect (proxy) endpoints.
//!
//! The description is plain data with no IO. It mirrors what kube-apiserver's API installer
//! derives from a REST storage (which interfaces it implements, which subresources it has), so
//! the builders can produce the same operations, operation IDs and `x-kubernetes-action`s that
//! kube-apiserver publishes for its own resources.
//!
//! ```
//! use clusternet_openapi::{GroupVersion, Resource, Subresource, Verb};
//!
//! // A shadow of apps/v1 deployments, served as shadow/v1alpha1.
//! let deployments = Resource::new("deployments", "Deployment")
//!     .mirroring(GroupVersion::new("apps", "v1"))
//!     .with_short_names(["deploy"])
//!     .with_subresource(Subresource::scale());
//! assert_eq!(deployments.singular, "deployment");
//! assert_eq!(deployments.list_kind, "DeploymentList");
//! assert!(deployments.namespaced);
//! assert!(deployments.verbs.contains(&Verb::Watch));
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// An API group and version, e.g. `apps/v1`; the core group is the empty string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupVersion {
    /// Group name (`""` for the core group).
    pub group: String,
    /// Version name.
    pub version: String,
}

impl GroupVersion {
    /// A group-version.
    pub fn new(group: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
        }
    }

    /// The `apiVersion` string: `apps/v1`, or `v1` for the core group.
    ///
    /// ```
    /// # use clusternet_openapi::GroupVersion;
    /// assert_eq!(GroupVersion::new("apps", "v1").api_version(), "apps/v1");
    /// assert_eq!(GroupVersion::new("", "v1").api_version(), "v1");
    /// ```
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The URL prefix of the group-version's resources: `/apis/<group>/<version>` (or `/api/v1`).
    pub fn url_prefix(&self) -> String {
        format!("/{}", self.openapi_v3_path())
    }

    /// The key of this group-version in the `/openapi/v3` discovery document and the suffix of its
    /// document's URL: `apis/<group>/<version>` (or `api/v1`).
    ///
    /// ```
    /// # use clusternet_openapi::GroupVersion;
    /// assert_eq!(GroupVersion::new("shadow", "v1alpha1").openapi_v3_path(), "apis/shadow/v1alpha1");
    /// assert_eq!(GroupVersion::new("", "v1").openapi_v3_path(), "api/v1");
    /// ```
    pub fn openapi_v3_path(&self) -> String {
        if self.group.is_empty() {
            format!("api/{}", self.version)
        } else {
            format!("apis/{}/{}", self.group, self.version)
        }
    }

    /// The kind `kind` in this group-version.
    pub fn with_kind(&self, kind: impl Into<String>) -> GroupVersionKind {
        GroupVersionKind {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: kind.into(),
        }
    }
}

impl fmt::Display for GroupVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.api_version())
    }
}

/// A group, version and kind: the value of one `x-kubernetes-group-version-kind` entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupVersionKind {
    /// Group name (`""` for the core group).
    pub group: String,
    /// Version name.
    pub version: String,
    /// Kind name.
    pub kind: String,
}

impl GroupVersionKind {
    /// A group-version-kind.
    pub fn new(
        group: impl Into<String>,
        version: impl Into<String>,
        kind: impl Into<String>,
    ) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
        }
    }

    /// The group-version part.
    pub fn group_version(&self) -> GroupVersion {
        GroupVersion::new(self.group.clone(), self.version.clone())
    }
}

impl fmt::Display for GroupVersionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, Kind={}", self.group_version(), self.kind)
    }
}

/// A Kubernetes API verb on a resource or subresource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verb {
    /// Read one object.
    Get,
    /// List a collection (and watch it with `?watch=true`).
    List,
    /// Watch a collection or one object.
    Watch,
    /// Create an object.
    Create,
    /// Replace an object (PUT).
    Update,
    /// Patch an object.
    Patch,
    /// Delete an object.
    Delete,
    /// Delete a collection.
    DeleteCollection,
}

impl Verb {
    /// All eight standard verbs.
    pub const ALL: [Verb; 8] = [
        Verb::Get,
        Verb::List,
        Verb::Watch,
        Verb::Create,
        Verb::Update,
        Verb::Patch,
        Verb::Delete,
        Verb::DeleteCollection,
    ];

    /// The discovery spelling (`get`, `deletecollection`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

/// A PATCH body format the server accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PatchType {
    /// RFC 6902 JSON patch.
    Json,
    /// RFC 7386 JSON merge patch.
    Merge,
    /// Kubernetes strategic merge patch.
    StrategicMerge,
    /// Server-side apply.
    Apply,
}

impl PatchType {
    /// All four patch types, in kube-apiserver's order.
    pub const ALL: [PatchType; 4] = [
        PatchType::Json,
        PatchType::Merge,
        PatchType::StrategicMerge,
        PatchType::Apply,
    ];

    /// The request `Content-Type` of this patch type.
    pub fn media_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

/// An HTTP method that a connect endpoint forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HttpMethod {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
    /// HEAD
    Head,
    /// OPTIONS
    Options,
}

impl HttpMethod {
    /// The verb discovery lists for a connect endpoint taking this method, as kube-apiserver's
    /// installer maps them (`pods/proxy` shows create, delete, get, patch, update); HEAD and
    /// OPTIONS add none.
    pub fn discovery_verb(self) -> Option<Verb> {
        match self {
            HttpMethod::Get => Some(Verb::Get),
            HttpMethod::Post => Some(Verb::Create),
            HttpMethod::Put => Some(Verb::Update),
            HttpMethod::Patch => Some(Verb::Patch),
            HttpMethod::Delete => Some(Verb::Delete),
            HttpMethod::Head | HttpMethod::Options => None,
        }
    }

    /// The seven methods kube-apiserver proxies (and Clusternet's sockets forward).
    pub const ALL: [HttpMethod; 7] = [
        HttpMethod::Get,
        HttpMethod::Post,
        HttpMethod::Put,
        HttpMethod::Patch,
        HttpMethod::Delete,
        HttpMethod::Head,
        HttpMethod::Options,
    ];

    /// Upper-case method name.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Head => "HEAD",
            HttpMethod::Options => "OPTIONS",
        }
    }

    /// Parses an upper-case method name (`"GET"`).
    pub fn parse(method: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == method)
    }
}

/// The JSON type of a query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamType {
    /// `string`
    String,
    /// `boolean`
    Boolean,
    /// `integer`
    Integer,
}

impl ParamType {
    /// The OpenAPI `type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Boolean => "boolean",
            ParamType::Integer => "integer",
        }
    }
}

/// A query parameter of a connect endpoint (a field of its options kind, e.g. `Socket.path`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryParameter {
    /// Parameter name.
    pub name: String,
    /// Description.
    pub description: String,
    /// JSON type.
    pub param_type: ParamType,
}

/// A connect endpoint: a resource or subresource that forwards whole HTTP requests (kube-apiserver's
/// `rest.Connecter`, e.g. `pods/proxy`). Its operations carry `x-kubernetes-action: connect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connect {
    /// Methods forwarded, in document order.
    pub methods: Vec<HttpMethod>,
    /// Kind of the connect options object (e.g. `proxies.clusternet.io/v1alpha1 Socket`); it is the
    /// operations' `x-kubernetes-group-version-kind`, as `PodProxyOptions` is for `pods/proxy`.
    pub options_kind: GroupVersionKind,
    /// Query parameters (the options kind's fields).
    pub query_parameters: Vec<QueryParameter>,
    /// Whether a trailing path is accepted: adds the `…/{path}` operations (`…WithPath`).
    pub subpath: bool,
}

/// A subresource such as `status`, `scale` or `proxy`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subresource {
    /// Name after the slash.
    pub name: String,
    /// Kind it reads and writes; `None` means the resource's own kind (as for `status`).
    pub kind: Option<GroupVersionKind>,
    /// Verbs (of `get`, `create`, `update`, `patch`, `delete`; others are ignored).
    pub verbs: Vec<Verb>,
    /// Set for a connect-only subresource (`proxy`); then `verbs` is usually empty.
    pub connect: Option<Connect>,
}

impl Subresource {
    /// `status`: get, update and patch of the resource's own kind.
    pub fn status() -> Self {
        Self {
            name: "status".into(),
            kind: None,
            verbs: vec![Verb::Get, Verb::Update, Verb::Patch],
            connect: None,
        }
    }

    /// `scale`: get, update and patch of `autoscaling/v1 Scale`.
    pub fn scale() -> Self {
        Self {
            name: "scale".into(),
            kind: Some(GroupVersionKind::new("autoscaling", "v1", "Scale")),
            verbs: vec![Verb::Get, Verb::Update, Verb::Patch],
            connect: None,
        }
    }

    /// A connect-only subresource.
    pub fn connect(name: impl Into<String>, connect: Connect) -> Self {
        Self {
            name: name.into(),
            kind: None,
            verbs: Vec::new(),
            connect: Some(connect),
        }
    }
}

/// One served resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// Plural name (the URL segment).
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// Kind of the list (`<Kind>List`).
    pub list_kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Verbs on the resource itself.
    pub verbs: Vec<Verb>,
    /// Short names. Not part of OpenAPI; kept so one description can feed discovery too.
    pub short_names: Vec<String>,
    /// Categories (`kubectl get <category>`). Not part of OpenAPI; for discovery.
    pub categories: Vec<String>,
    /// Subresources.
    pub subresources: Vec<Subresource>,
    /// Set when the resource itself is a connect endpoint (`sockets/{name}`).
    pub connect: Option<Connect>,
    /// PATCH body formats accepted (the request content types of `patch` operations).
    pub patch_types: Vec<PatchType>,
    /// The group-version whose schemas describe this resource: its kind's schema is the one the
    /// schema catalog lists under `<source>/<kind>` and its list's under `<source>/<list_kind>`.
    /// `None` means the served group-version itself. Shadow resources set the parent's
    /// group-version (e.g. `apps/v1` for `shadow/v1alpha1` deployments).
    pub source: Option<GroupVersion>,
}

impl Resource {
    /// A namespaced resource with all eight verbs and all four patch types; the singular name is
    /// the lower-cased kind and the list kind is `<kind>List`.
    pub fn new(plural: impl Into<String>, kind: impl Into<String>) -> Self {
        let kind = kind.into();
        Self {
            plural: plural.into(),
            singular: kind.to_lowercase(),
            list_kind: format!("{kind}List"),
            kind,
            namespaced: true,
            verbs: Verb::ALL.to_vec(),
            short_names: Vec::new(),
            categories: Vec::new(),
            subresources: Vec::new(),
            connect: None,
            patch_types: PatchType::ALL.to_vec(),
            source: None,
        }
    }

    /// Makes the resource cluster-scoped.
    pub fn cluster_scoped(mut self) -> Self {
        self.namespaced = false;
        self
    }

    /// Replaces the verbs.
    pub fn with_verbs(mut self, verbs: impl IntoIterator<Item = Verb>) -> Self {
        self.verbs = verbs.into_iter().collect();
        self
    }

    /// Replaces the singular name.
    pub fn with_singular(mut self, singular: impl Into<String>) -> Self {
        self.singular = singular.into();
        self
    }

    /// Replaces the list kind.
    pub fn with_list_kind(mut self, list_kind: impl Into<String>) -> Self {
        self.list_kind = list_kind.into();
        self
    }

    /// Replaces the short names.
    pub fn with_short_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.short_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// Replaces the categories.
    pub fn with_categories<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.categories = names.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a subresource.
    pub fn with_subresource(mut self, subresource: Subresource) -> Self {
        self.subresources.push(subresource);
        self
    }

    /// Makes the resource itself a connect endpoint.
    pub fn with_connect(mut self, connect: Connect) -> Self {
        self.connect = Some(connect);
        self
    }

    /// Replaces the accepted patch types.
    pub fn with_patch_types(mut self, types: impl IntoIterator<Item = PatchType>) -> Self {
        self.patch_types = types.into_iter().collect();
        self
    }

    /// Takes the schemas from `source` (see [`Resource::source`]).
    pub fn mirroring(mut self, source: GroupVersion) -> Self {
        self.source = Some(source);
        self
    }

    /// Whether the resource has `verb`.
    pub fn has(&self, verb: Verb) -> bool {
        self.verbs.contains(&verb)
    }
}

/// The resources of one served group-version: the unit of an `/openapi/v3/apis/<g>/<v>` document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiGroupVersion {
    /// The served group-version.
    pub group_version: GroupVersion,
    /// Its resources. When two share a plural, or two mirror different schemas under one kind,
    /// the first wins and the builders report a [`Warning`](crate::Warning).
    pub resources: Vec<Resource>,
}

impl ApiGroupVersion {
    /// A group-version with its resources.
    pub fn new(group_version: GroupVersion, resources: Vec<Resource>) -> Self {
        Self {
            group_version,
            resources,
        }
    }
}

/// Settings shared by all documents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `info.title`.
    pub title: String,
    /// `info.version`.
    pub version: String,
    /// Response media types the hub serves for objects (default: JSON only; kube-apiserver also
    /// lists YAML and protobuf). Streaming variants (`;stream=watch`) are derived for the JSON and
    /// protobuf ones.
    pub media_types: Vec<String>,
    /// Also publish the deprecated `/watch/…` paths kube-apiserver still serves.
    pub legacy_watch_paths: bool,
    /// Keep the source group-version-kind (e.g. `apps/v1 Deployment`) next to the served one in a
    /// mirrored kind's `x-kubernetes-group-version-kind`. Off by default: shadow objects are
    /// reached as `shadow/v1alpha1`, and the source kind is already described by the parent.
    pub keep_source_gvk: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            title: "Clusternet".into(),
            version: concat!("v", env!("CARGO_PKG_VERSION")).into(),
            media_types: vec!["application/json".into()],
            legacy_watch_paths: false,
            keep_source_gvk: false,
        }
    }
}
