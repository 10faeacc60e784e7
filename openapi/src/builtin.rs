//! Definitions embedded in this crate, so documents can be built before (or without) any parent
//! spec: the `meta.k8s.io/v1` types every resource API refers to (ObjectMeta, ListMeta, Status,
//! DeleteOptions, Patch, WatchEvent, APIResourceList and what they reference), `autoscaling/v1`
//! Scale, and Clusternet's `Socket`; plus the descriptions of kube-apiserver's standard query
//! parameters.
//!
//! The JSON files under `src/builtin/` were taken verbatim from a Kubernetes v1.36
//! kube-apiserver's `/openapi/v2` and `/openapi/v3/apis/apps/v1` (see
//! `tests/fixtures/README.md`); the tests check them against those documents. The only edit: the
//! `x-kubernetes-group-version-kind` lists of DeleteOptions and WatchEvent keep just the core
//! `v1` entry, and the builders add the served group-versions (kube-apiserver registers both
//! kinds in every group-version).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::catalog::Dialect;
use crate::error::Error;
use crate::model::ParamType;

/// The extension naming the kinds a schema describes.
pub const GVK_EXTENSION: &str = "x-kubernetes-group-version-kind";
/// `meta.k8s.io/v1` ObjectMeta.
pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
/// `meta.k8s.io/v1` ListMeta.
pub const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
/// `meta.k8s.io/v1` Status.
pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
/// `meta.k8s.io/v1` DeleteOptions.
pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
/// `meta.k8s.io/v1` Patch (the body of every PATCH).
pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
/// `meta.k8s.io/v1` WatchEvent.
pub const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
/// `meta.k8s.io/v1` APIResourceList.
pub const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
/// `autoscaling/v1` Scale.
pub const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";

/// Kinds kube-apiserver registers in every group-version (so their schemas list each served
/// group-version in `x-kubernetes-group-version-kind`).
pub(crate) const PER_GROUP_VERSION_KINDS: [&str; 2] = [DELETE_OPTIONS, WATCH_EVENT];

const META_V2_FILE: &str = "src/builtin/meta.v2.json";
const META_V3_FILE: &str = "src/builtin/meta.v3.json";
const PARAMS_FILE: &str = "src/builtin/params.json";
const META_V2: &str = include_str!("builtin/meta.v2.json");
const META_V3: &str = include_str!("builtin/meta.v3.json");
const PARAMS: &str = include_str!("builtin/params.json");

type Loaded<T> = Result<T, String>;

fn load_meta(text: &str, dialect: Dialect) -> Loaded<Map<String, Value>> {
    let mut map: Map<String, Value> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    map.insert(
        crate::proxies::SOCKET_SCHEMA.to_string(),
        crate::proxies::socket_schema(dialect),
    );
    Ok(map)
}

/// The embedded schemas of `dialect`, by name.
pub(crate) fn schemas(dialect: Dialect) -> Result<&'static Map<String, Value>, Error> {
    static V2: OnceLock<Loaded<Map<String, Value>>> = OnceLock::new();
    static V3: OnceLock<Loaded<Map<String, Value>>> = OnceLock::new();
    let (cell, text, file) = match dialect {
        Dialect::V2 => (&V2, META_V2, META_V2_FILE),
        Dialect::V3 => (&V3, META_V3, META_V3_FILE),
    };
    cell.get_or_init(|| load_meta(text, dialect))
        .as_ref()
        .map_err(|message| Error::Builtin {
            file,
            message: message.clone(),
        })
}

/// One of kube-apiserver's standard parameters.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct StdParam {
    #[serde(rename = "in")]
    pub location: String,
    #[serde(rename = "type")]
    pub param_type: String,
    pub description: String,
    #[serde(default)]
    pub required: bool,
}

impl StdParam {
    pub(crate) fn param_type(&self) -> ParamType {
        match self.param_type.as_str() {
            "boolean" => ParamType::Boolean,
            "integer" => ParamType::Integer,
            _ => ParamType::String,
        }
    }
}

/// kube-apiserver's standard parameters by name (`fieldManager@patch` is the PATCH variant of
/// `fieldManager`, `path` the trailing-path parameter of connect endpoints).
pub(crate) fn params() -> Result<&'static HashMap<String, StdParam>, Error> {
    static PARAMS_MAP: OnceLock<Loaded<HashMap<String, StdParam>>> = OnceLock::new();
    PARAMS_MAP
        .get_or_init(|| serde_json::from_str(PARAMS).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|message| Error::Builtin {
            file: PARAMS_FILE,
            message: message.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_files_parse_and_are_closed_under_ref() {
        for dialect in [Dialect::V2, Dialect::V3] {
            let map = schemas(dialect).unwrap();
            for name in [
                OBJECT_META,
                LIST_META,
                STATUS,
                DELETE_OPTIONS,
                PATCH,
                WATCH_EVENT,
                API_RESOURCE_LIST,
                SCALE,
            ] {
                assert!(map.contains_key(name), "{dialect}: {name}");
            }
            for (name, schema) in map {
                let mut refs = Vec::new();
                crate::schemas::collect_refs(schema, dialect, &mut refs);
                for r in refs {
                    assert!(
                        map.contains_key(&r),
                        "{dialect}: {name} refers to missing {r}"
                    );
                }
            }
        }
        let params = params().unwrap();
        for name in [
            "watch",
            "fieldManager",
            "fieldManager@patch",
            "namespace",
            "path",
            "pretty",
            "dryRun",
        ] {
            assert!(params.contains_key(name), "{name}");
        }
        assert!(params["fieldManager@patch"].description.contains("apply"));
        assert!(params["namespace"].required && params["path"].required);
    }
}
