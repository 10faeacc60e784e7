//! Content negotiation, as kube-apiserver does it for JSON-only servers.
//!
//! Clients put alternatives in `Accept`, most wanted first: kubectl asks for a server-side Table
//! (`application/json;as=Table;v=v1;g=meta.k8s.io, …, application/json`), metadata informers
//! for `PartialObjectMetadata(List)` (often protobuf first), the aggregator for aggregated
//! discovery. We pick the first alternative we can serve — protobuf is skipped for the JSON
//! behind it — so nothing is a 406 while plain `application/json` (or a wildcard) is among
//! them; except, as from kube-apiserver, a conversion picked that does not fit the answer
//! (`PartialObjectMetadataList` asked of one object).

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
    // As goautoneg (kube-apiserver's parser) orders them: quality, then concrete types before
    // wildcards; stable otherwise.
    let wild = |r: &MediaRange| (r.kind == "*", r.subtype == "*");
    ranges.sort_by(|a, b| {
        b.q.partial_cmp(&a.q)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| wild(a).cmp(&wild(b)))
    });
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

/// What a resource request asked to get back: the objects themselves, or one of the
/// `meta.k8s.io` conversions kube-apiserver offers on every resource (`as=` in `Accept`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectFormat {
    /// The object(s) as JSON.
    Json,
    /// A server-side Table (kubectl get).
    Table(TableVersion),
    /// `PartialObjectMetadata`: one object's metadata (metadata clients' get, watch, patch).
    PartialObjectMetadata(TableVersion),
    /// `PartialObjectMetadataList`: a list's metadata (metadata clients' list).
    PartialObjectMetadataList(TableVersion),
}

impl ObjectFormat {
    /// The response Content-Type. kube-apiserver names the serializer only, whatever was
    /// converted (`application/json` for a Table too); clients decode by the body's kind.
    pub fn content_type(self) -> &'static str {
        "application/json"
    }
}

/// Picks the representation of a resource response as kube-apiserver does: the first
/// alternative (by quality, then order) whose media type is served (JSON) and whose conversion
/// exists — a `meta.k8s.io/v1` or `v1beta1` Table, PartialObjectMetadata or
/// PartialObjectMetadataList, for any verb. Whether a conversion fits the answer (a list, or
/// one object) is not part of choosing: a mismatch is a 406 when the answer is rendered
/// ([`ObjectFormat`] in `shadow::encode`), as on kube-apiserver. 406 here only when nothing
/// is acceptable.
///
/// `tables` says whether the endpoint can print a Table (some status subresources cannot).
pub fn object_format(accept: Option<&str>, tables: bool) -> Result<ObjectFormat, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(ObjectFormat::Json);
    };
    for range in parse_accept(accept) {
        if !range.is_json_like() {
            continue; // protobuf, yaml, cbor: not served; look further
        }
        if range
            .param("stream")
            .is_some_and(|s| !s.is_empty() && s != "watch")
        {
            continue;
        }
        let (as_, group, version) = (range.param("as"), range.param("g"), range.param("v"));
        if as_.is_none() && group.is_none() && version.is_none() {
            return Ok(ObjectFormat::Json);
        }
        let version = match (group, version) {
            (Some("meta.k8s.io"), Some("v1")) => TableVersion::V1,
            (Some("meta.k8s.io"), Some("v1beta1")) => TableVersion::V1beta1,
            _ => continue,
        };
        match as_ {
            Some("Table") if tables => return Ok(ObjectFormat::Table(version)),
            Some("PartialObjectMetadata") => {
                return Ok(ObjectFormat::PartialObjectMetadata(version));
            }
            Some("PartialObjectMetadataList") => {
                return Ok(ObjectFormat::PartialObjectMetadataList(version));
            }
            _ => continue,
        }
    }
    Err(ApiError::not_acceptable(
        "only the following media types are accepted: application/json",
    ))
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
    const METADATA_WATCH: &str = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

    #[test]
    fn kubectl_get_gets_a_table() {
        assert_eq!(
            object_format(Some(KUBECTL_GET), true).unwrap(),
            ObjectFormat::Table(TableVersion::V1)
        );
        // An endpoint without a Table printer falls through to the next alternative.
        assert_eq!(
            object_format(Some(KUBECTL_GET), false).unwrap(),
            ObjectFormat::Json
        );
        // kube-apiserver's Content-Type names the serializer, not the conversion.
        assert_eq!(
            ObjectFormat::Table(TableVersion::V1).content_type(),
            "application/json"
        );
    }

    #[test]
    fn metadata_clients_skip_protobuf_and_get_what_they_asked_for() {
        // Lists, and every other verb: the conversion asked for, whatever the verb; whether
        // it fits the answer is decided when rendering.
        assert_eq!(
            object_format(Some(METADATA_INFORMER), true).unwrap(),
            ObjectFormat::PartialObjectMetadataList(TableVersion::V1)
        );
        assert_eq!(
            object_format(Some(METADATA_WATCH), true).unwrap(),
            ObjectFormat::PartialObjectMetadata(TableVersion::V1)
        );
        assert_eq!(
            object_format(
                Some("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1"),
                true
            )
            .unwrap(),
            ObjectFormat::PartialObjectMetadata(TableVersion::V1beta1)
        );
    }

    #[test]
    fn never_406_with_json_in_the_list() {
        for accept in [
            "application/vnd.kubernetes.protobuf, application/json",
            "application/json;as=Table;v=v9;g=meta.k8s.io, application/json",
            "application/json;as=Deployment;v=v1;g=apps, application/json",
            "application/json;v=v1, application/json",
            "application/json;stream=watch",
            "*/*",
            "application/*",
            "",
        ] {
            assert_eq!(
                object_format(Some(accept), true).unwrap(),
                ObjectFormat::Json,
                "{accept}"
            );
        }
        assert_eq!(object_format(None, true).unwrap(), ObjectFormat::Json);
    }

    #[test]
    fn protobuf_only_is_406() {
        for accept in [
            "application/vnd.kubernetes.protobuf",
            "application/json;as=Table;v=v2;g=meta.k8s.io",
            "application/yaml",
        ] {
            let err = object_format(Some(accept), true).unwrap_err();
            assert_eq!(
                err.status_code(),
                http::StatusCode::NOT_ACCEPTABLE,
                "{accept}"
            );
        }
    }

    #[test]
    fn quality_then_wildcards_order_alternatives() {
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
        let accept = "*/*, application/json;as=Table;v=v1;g=meta.k8s.io";
        assert_eq!(
            object_format(Some(accept), true).unwrap(),
            ObjectFormat::Table(TableVersion::V1)
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
