//! OpenAPI 3.0 documents: one per served group-version (`/openapi/v3/apis/<group>/<version>`),
//! and the `/openapi/v3` discovery document that lists them with content hashes.
//!
//! ```
//! use clusternet_openapi::{proxies, v3, Catalog, Dialect, Options};
//!
//! # fn main() -> Result<(), clusternet_openapi::Error> {
//! let catalog = Catalog::new(Dialect::V3)?;
//! let built = v3::build(&proxies::api_group_version(), &catalog, &Options::default())?;
//! let doc = built.document;
//! assert_eq!(doc.openapi, "3.0.0");
//! assert!(doc.paths.paths.contains_key("/apis/proxies.clusternet.io/v1alpha1/sockets/{name}/proxy/{path}"));
//! assert!(doc.components.is_some_and(|c| c.schemas.contains_key(proxies::SOCKET_SCHEMA)));
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;

use openapiv3::{
    APIKeyLocation, Components, Info, MediaType, OpenAPI, Operation as V3Operation, Parameter,
    ParameterData, ParameterSchemaOrContent, PathItem, PathStyle, QueryStyle, ReferenceOr,
    RequestBody, Response as V3Response, Responses, Schema, SchemaData, SchemaKind, SecurityScheme,
    StatusCode,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::catalog::{Catalog, Dialect};
use crate::error::{Built, Error};
use crate::etag::Document;
use crate::model::{ApiGroupVersion, HttpMethod, Options};
use crate::routes::{Location, Media, Operation, Param, Payload, RouteBuilder, Routes};
use crate::schemas::SchemaSet;

/// The OpenAPI version written.
pub const OPENAPI_VERSION: &str = "3.0.0";

/// Builds the OpenAPI 3 document of one served group-version.
///
/// `catalog` must be a [`Dialect::V3`] catalog; for mirrored (shadow) resources it holds the
/// parent's `/openapi/v3/apis/<group>/<version>` documents of the mirrored group-versions.
pub fn build(
    group_version: &ApiGroupVersion,
    catalog: &Catalog<'_>,
    options: &Options,
) -> Result<Built<OpenAPI>, Error> {
    if catalog.dialect() != Dialect::V3 {
        return Err(Error::DialectMismatch {
            expected: Dialect::V3,
            got: catalog.dialect(),
        });
    }
    let mut set = SchemaSet::new(catalog);
    let mut builder = RouteBuilder::new(&mut set, options)?;
    builder.group_version(group_version);
    let (routes, mut warnings) = builder.finish();
    let (schemas, more) = set.finish(std::slice::from_ref(&group_version.group_version))?;
    warnings.extend(more);
    Ok(Built::new(render(&routes, schemas, options)?, warnings))
}

/// Converts schemas (OpenAPI 3 JSON) to the `openapiv3` model, in name order.
pub(crate) fn to_model(
    schemas: BTreeMap<String, Value>,
) -> Result<BTreeMap<String, ReferenceOr<Schema>>, Error> {
    schemas
        .into_iter()
        .map(|(name, schema)| match serde_json::from_value(schema) {
            Ok(model) => Ok((name, model)),
            Err(source) => Err(Error::Schema { name, source }),
        })
        .collect()
}

fn render(
    routes: &Routes,
    schemas: BTreeMap<String, Value>,
    options: &Options,
) -> Result<OpenAPI, Error> {
    let mut doc = OpenAPI {
        openapi: OPENAPI_VERSION.into(),
        info: Info {
            title: options.title.clone(),
            version: options.version.clone(),
            ..Default::default()
        },
        ..Default::default()
    };
    for (path, route) in routes {
        let mut item = PathItem {
            parameters: route.params.iter().map(parameter).collect(),
            ..Default::default()
        };
        for (method, op) in &route.operations {
            let op = operation(op, options);
            let slot = match method {
                HttpMethod::Get => &mut item.get,
                HttpMethod::Post => &mut item.post,
                HttpMethod::Put => &mut item.put,
                HttpMethod::Patch => &mut item.patch,
                HttpMethod::Delete => &mut item.delete,
                HttpMethod::Head => &mut item.head,
                HttpMethod::Options => &mut item.options,
            };
            *slot = Some(op);
        }
        doc.paths
            .paths
            .insert(path.clone(), ReferenceOr::Item(item));
    }
    let mut components = Components::default();
    components.schemas.extend(to_model(schemas)?);
    components.security_schemes.insert(
        "BearerToken".into(),
        ReferenceOr::Item(SecurityScheme::APIKey {
            location: APIKeyLocation::Header,
            name: "authorization".into(),
            description: Some("Bearer Token authentication".into()),
            extensions: Default::default(),
        }),
    );
    doc.components = Some(components);
    Ok(doc)
}

fn parameter(p: &Param) -> ReferenceOr<Parameter> {
    let schema = Schema {
        schema_data: SchemaData::default(),
        schema_kind: SchemaKind::Any(openapiv3::AnySchema {
            typ: Some(p.param_type.as_str().into()),
            // kube-apiserver marks every parameter so; kept for parity.
            unique_items: Some(true),
            ..Default::default()
        }),
    };
    let parameter_data = ParameterData {
        name: p.name.clone(),
        description: Some(p.description.clone()),
        required: p.required,
        deprecated: None,
        format: ParameterSchemaOrContent::Schema(ReferenceOr::Item(schema)),
        example: None,
        examples: Default::default(),
        explode: None,
        extensions: Default::default(),
    };
    ReferenceOr::Item(match p.location {
        Location::Path => Parameter::Path {
            parameter_data,
            style: PathStyle::Simple,
        },
        Location::Query => Parameter::Query {
            parameter_data,
            allow_reserved: false,
            style: QueryStyle::Form,
            allow_empty_value: None,
        },
    })
}

fn content(payload: &Payload, media: &Media, options: &Options) -> openapiv3::Content {
    let schema = match payload {
        Payload::Schema(name) => ReferenceOr::Reference {
            reference: Dialect::V3.reference(name),
        },
        Payload::Text => ReferenceOr::Item(Schema {
            schema_data: SchemaData::default(),
            schema_kind: SchemaKind::Type(openapiv3::Type::String(Default::default())),
        }),
    };
    media
        .types(options)
        .into_iter()
        .map(|m| {
            (
                m,
                MediaType {
                    schema: Some(schema.clone()),
                    ..Default::default()
                },
            )
        })
        .collect()
}

fn operation(op: &Operation, options: &Options) -> V3Operation {
    let mut out = V3Operation {
        tags: vec![op.tag.clone()],
        description: Some(op.description.clone()),
        operation_id: Some(op.id.clone()),
        parameters: op.params.iter().map(parameter).collect(),
        ..Default::default()
    };
    if let Some(body) = &op.body {
        out.request_body = Some(ReferenceOr::Item(RequestBody {
            content: content(&Payload::Schema(body.schema.clone()), &body.media, options),
            required: body.required,
            ..Default::default()
        }));
    }
    let mut responses = Responses::default();
    for r in &op.responses {
        let response = V3Response {
            description: r.description().into(),
            content: r
                .payload
                .as_ref()
                .map(|p| content(p, &r.media, options))
                .unwrap_or_default(),
            ..Default::default()
        };
        responses
            .responses
            .insert(StatusCode::Code(r.code), ReferenceOr::Item(response));
    }
    out.responses = responses;
    if let Some(action) = op.action {
        out.extensions
            .insert("x-kubernetes-action".into(), json!(action));
    }
    if let Some(gvk) = &op.gvk {
        out.extensions.insert(
            crate::builtin::GVK_EXTENSION.into(),
            json!({"group": gvk.group, "version": gvk.version, "kind": gvk.kind}),
        );
    }
    out
}

/// One entry of the `/openapi/v3` discovery document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryEntry {
    /// `/openapi/v3/<path>?hash=<HASH>`.
    #[serde(rename = "serverRelativeURL")]
    pub server_relative_url: String,
}

/// The `/openapi/v3` discovery document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// Entries by group-version path (`apis/<group>/<version>`).
    pub paths: BTreeMap<String, DiscoveryEntry>,
}

impl Discovery {
    /// The discovery document for serialized group-version documents, keyed by their path
    /// (`apis/<group>/<version>`); each URL carries the document's [hash](Document::hash), as
    /// kube-apiserver's does, so clients re-fetch a document exactly when it changed.
    ///
    /// ```
    /// use clusternet_openapi::{v3::Discovery, Document};
    ///
    /// # fn main() -> Result<(), clusternet_openapi::Error> {
    /// let doc = Document::from_json(&serde_json::json!({"openapi": "3.0.0"}))?;
    /// let discovery = Discovery::new([("apis/shadow/v1alpha1", &doc)]);
    /// let url = &discovery.paths["apis/shadow/v1alpha1"].server_relative_url;
    /// assert_eq!(*url, format!("/openapi/v3/apis/shadow/v1alpha1?hash={}", doc.hash()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn new<'d, P: AsRef<str>>(documents: impl IntoIterator<Item = (P, &'d Document)>) -> Self {
        let paths = documents
            .into_iter()
            .map(|(path, doc)| {
                let path = path.as_ref().trim_matches('/');
                (
                    path.to_string(),
                    DiscoveryEntry {
                        server_relative_url: format!("/openapi/v3/{path}?hash={}", doc.hash()),
                    },
                )
            })
            .collect();
        Self { paths }
    }
}
