//! Content negotiation, as kube-apiserver does it for JSON-only servers.
//!
//! Clients put alternatives in `Accept`, most wanted first: kubectl asks for a server-side Table
//! (`application/json;as=Table;v=v1;g=meta.k8s.io, …, application/json`), metadata informers
//! for `PartialObjectMetadata(List)` (often protobuf first), the aggregator for aggregated
//! discovery. We pick the first alternative we can serve and never answer 406 while plain
//! `application/json` (or a wildcard) is among them.

use crate::status::ApiError;

/// A parsed media range from `Accept`.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaRange {
    /// `application`
    pub kind: String,
    /// `json`
    pub subtype: String,
    /// Parameters other than `q`, lower-cased keys, in order.
    pub params: Vec<(String, String)>,
    /// Quality.
    pub q: f32,
}

impl MediaRange {
    /// A parameter value.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn is_json_like(&self) -> bool {
        matches!(
            (self.kind.as_str(), self.subtype.as_str()),
            ("application", "json") | ("application", "*") | ("*", "*")
        )
    }
}

/// Parses an `Accept` header into ranges sorted by quality (stable: equal q keeps order).
pub fn parse_accept(header: &str) -> Vec<MediaRange> {
    let mut ranges: Vec<MediaRange> = header
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let mime = pieces.next()?.trim();
            let (kind, subtype) = mime.split_once('/')?;
            let mut params = Vec::new();
            let mut q = 1.0f32;
            for p in pieces {
                let Some((k, v)) = p.split_once('=') else {
                    continue;
                };
                let k = k.trim().to_ascii_lowercase();
                let v = v.trim().trim_matches('"').to_string();
                if k == "q" {
                    q = v.parse().unwrap_or(0.0);
                } else {
                    params.push((k, v));
                }
            }
            Some(MediaRange {
                kind: kind.trim().to_ascii_lowercase(),
                subtype: subtype.trim().to_ascii_lowercase(),
                params,
                q,
            })
        })
        .filter(|r| r.q > 0.0)
        .collect();
    ranges.sort_by(|a, b| b.q.partial_cmp(&a.q).unwrap_or(std::cmp::Ordering::Equal));
    ranges
}

/// Which `meta.k8s.io` Table version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableVersion {
    /// meta.k8s.io/v1
    V1,
    /// meta.k8s.io/v1beta1
    V1beta1,
}

impl TableVersion {
    /// `v1` / `v1beta1`.
    pub fn as_str(self) -> &'static str {
        match self {
            TableVersion::V1 => "v1",
            TableVersion::V1beta1 => "v1beta1",
        }
    }
}

/// How to render an object or list response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectFormat {
    /// The object(s) as JSON.
    Json,
    /// A server-side Table (kubectl get).
    Table(TableVersion),
    /// `PartialObjectMetadata` / `PartialObjectMetadataList` (metadata clients).
    Metadata(TableVersion),
}

impl ObjectFormat {
    /// The response Content-Type for this format.
    pub fn content_type(self, list: bool) -> String {
        match self {
            ObjectFormat::Json => "application/json".into(),
            ObjectFormat::Table(v) => {
                format!("application/json;as=Table;v={};g=meta.k8s.io", v.as_str())
            }
            ObjectFormat::Metadata(v) => format!(
                "application/json;as={};v={};g=meta.k8s.io",
                if list {
                    "PartialObjectMetadataList"
                } else {
                    "PartialObjectMetadata"
                },
                v.as_str()
            ),
        }
    }
}

/// Picks the object format for a get/list/watch response. `list` tells whether the request is
/// for a collection (metadata clients then ask for `PartialObjectMetadataList`).
pub fn object_format(accept: Option<&str>, list: bool) -> Result<ObjectFormat, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(ObjectFormat::Json);
    };
    let ranges = parse_accept(accept);
    for range in &ranges {
        if !range.is_json_like() {
            continue; // protobuf, yaml, cbor: not served; look further
        }
        let as_ = range.param("as");
        let group = range.param("g");
        let version = match range.param("v") {
            Some("v1") => Some(TableVersion::V1),
            Some("v1beta1") => Some(TableVersion::V1beta1),
            Some(_) => None,
            None => None,
        };
        match (as_, group, version) {
            (None, None, None) => return Ok(ObjectFormat::Json),
            (Some("Table"), Some("meta.k8s.io"), Some(v)) => return Ok(ObjectFormat::Table(v)),
            (Some("PartialObjectMetadata"), Some("meta.k8s.io"), Some(v)) if !list => {
                return Ok(ObjectFormat::Metadata(v));
            }
            (Some("PartialObjectMetadataList"), Some("meta.k8s.io"), Some(v)) if list => {
                return Ok(ObjectFormat::Metadata(v));
            }
            _ => continue,
        }
    }
    Err(ApiError::not_acceptable(format!(
        "only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io, application/json;as=PartialObjectMetadata{};v=v1;g=meta.k8s.io",
        if list { "List" } else { "" }
    )))
}

/// What `/apis` should answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscoveryFormat {
    /// Legacy `APIGroupList`.
    Legacy,
    /// `apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`.
    AggregatedV2,
    /// `apidiscovery.k8s.io/v2beta1` `APIGroupDiscoveryList`.
    AggregatedV2beta1,
}

impl DiscoveryFormat {
    /// Content-Type echoing the GVK parameters exactly (the aggregator checks it).
    pub fn content_type(self) -> &'static str {
        match self {
            DiscoveryFormat::Legacy => "application/json",
            DiscoveryFormat::AggregatedV2 => {
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
            }
            DiscoveryFormat::AggregatedV2beta1 => {
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            }
        }
    }

    /// `apiVersion` of the document.
    pub fn api_version(self) -> &'static str {
        match self {
            DiscoveryFormat::Legacy => "v1",
            DiscoveryFormat::AggregatedV2 => "apidiscovery.k8s.io/v2",
            DiscoveryFormat::AggregatedV2beta1 => "apidiscovery.k8s.io/v2beta1",
        }
    }
}

/// Picks the discovery format for `/apis`.
///
/// Without an `Accept` header the legacy document is served; when every alternative is
/// something we do not serve (e.g. protobuf only), the answer is 406 as from kube-apiserver
/// asked for a type it lacks.
pub fn discovery_format(accept: Option<&str>) -> Result<DiscoveryFormat, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(DiscoveryFormat::Legacy);
    };
    for range in parse_accept(accept) {
        if !range.is_json_like() {
            continue;
        }
        match (range.param("as"), range.param("g"), range.param("v")) {
            (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"), Some("v2")) => {
                return Ok(DiscoveryFormat::AggregatedV2);
            }
            (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"), Some("v2beta1")) => {
                return Ok(DiscoveryFormat::AggregatedV2beta1);
            }
            (None, None, None) => return Ok(DiscoveryFormat::Legacy),
            _ => continue,
        }
    }
    Err(ApiError::not_acceptable(
        "only the following media types are accepted: application/json, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
    ))
}

/// Whether a plain JSON document may be served for `accept` (documents with one
/// representation: group, resource list, version, OpenAPI); 406 otherwise.
pub fn plain_json(accept: Option<&str>) -> Result<(), ApiError> {
    discovery_format(accept).and_then(|f| match f {
        DiscoveryFormat::Legacy => Ok(()),
        _ => Err(ApiError::not_acceptable(
            "only application/json is served here",
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECTL_GET: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    const METADATA_INFORMER: &str = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

    #[test]
    fn kubectl_get_gets_a_table() {
        assert_eq!(
            object_format(Some(KUBECTL_GET), true).unwrap(),
            ObjectFormat::Table(TableVersion::V1)
        );
        assert_eq!(
            ObjectFormat::Table(TableVersion::V1).content_type(true),
            "application/json;as=Table;v=v1;g=meta.k8s.io"
        );
    }

    #[test]
    fn metadata_informers_skip_protobuf() {
        assert_eq!(
            object_format(Some(METADATA_INFORMER), true).unwrap(),
            ObjectFormat::Metadata(TableVersion::V1)
        );
        // The list form on a get falls through to JSON.
        assert_eq!(
            object_format(Some(METADATA_INFORMER), false).unwrap(),
            ObjectFormat::Json
        );
    }

    #[test]
    fn never_406_with_json_in_the_list() {
        for accept in [
            "application/vnd.kubernetes.protobuf, application/json",
            "application/json;as=Table;v=v9;g=meta.k8s.io, application/json",
            "*/*",
            "application/*",
            "",
        ] {
            assert_eq!(
                object_format(Some(accept), false).unwrap(),
                ObjectFormat::Json,
                "{accept}"
            );
        }
        assert_eq!(object_format(None, true).unwrap(), ObjectFormat::Json);
    }

    #[test]
    fn protobuf_only_is_406() {
        let err = object_format(Some("application/vnd.kubernetes.protobuf"), false).unwrap_err();
        assert_eq!(err.status_code(), http::StatusCode::NOT_ACCEPTABLE);
    }

    #[test]
    fn quality_orders_alternatives() {
        let accept = "application/json;q=0.5, application/json;as=Table;v=v1;g=meta.k8s.io";
        assert_eq!(
            object_format(Some(accept), true).unwrap(),
            ObjectFormat::Table(TableVersion::V1)
        );
        let accept = "application/json;as=Table;v=v1;g=meta.k8s.io;q=0, application/json";
        assert_eq!(
            object_format(Some(accept), true).unwrap(),
            ObjectFormat::Json
        );
    }

    #[test]
    fn aggregator_gets_aggregated_discovery() {
        let aggregator = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
        assert_eq!(
            discovery_format(Some(aggregator)).unwrap(),
            DiscoveryFormat::AggregatedV2
        );
        assert_eq!(
            discovery_format(Some("application/vnd.kubernetes.protobuf"))
                .unwrap_err()
                .status_code(),
            http::StatusCode::NOT_ACCEPTABLE
        );
        assert_eq!(
            discovery_format(Some(
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
            ))
            .unwrap(),
            DiscoveryFormat::AggregatedV2beta1
        );
        assert_eq!(
            discovery_format(Some("application/json")).unwrap(),
            DiscoveryFormat::Legacy
        );
        assert_eq!(discovery_format(None).unwrap(), DiscoveryFormat::Legacy);
        assert!(plain_json(Some("application/json, */*")).is_ok());
        assert!(plain_json(Some("application/yaml")).is_err());
    }
}
