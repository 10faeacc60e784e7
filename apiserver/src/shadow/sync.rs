//! Keeps the shadow group current: reads the parent's aggregated discovery, selects what to
//! mirror, and when that changes updates the served set, the hub's discovery and its OpenAPI
//! documents (built from the parent's own schemas), then touches the `v1alpha1.shadow`
//! APIService so the aggregator re-reads discovery now rather than at its next 60 s poll.
//! It re-checks whenever a CRD or an APIService changes on the parent (debounced), and every
//! five minutes regardless.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use futures::StreamExt;
use http::Request;
use http_body_util::BodyExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::Notify;

use crate::discovery::Registry;
use crate::openapi::OpenApi;
use crate::shadow::catalog::{self, ShadowResource};
use crate::shadow::{Mirrored, PatchSchema, Resources};
use clusternet_printers::TableConvertor;

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
/// Annotation on `v1alpha1.shadow` whose change makes the aggregator refresh discovery.
const HASH_ANNOTATION: &str = "clusternet.io/shadow-resources-hash";

/// `components.schemas` of one OpenAPI v3 document, as JSON.
type Schemas = Arc<serde_json::Map<String, serde_json::Value>>;

/// The sync loop's state.
pub struct Sync {
    client: kube::Client,
    resources: Resources,
    registry: Registry,
    openapi: OpenApi,
    ready: Arc<AtomicBool>,
    /// Parsed parent OpenAPI v3 documents by server-relative URL (which carries the hash),
    /// with their `components.schemas` as JSON (for strategic merge patch metadata).
    v3_cache: HashMap<String, (Arc<openapiv3::OpenAPI>, Schemas)>,
    /// The schemas of each source group-version path (`apis/apps/v1`) last fetched.
    v3_schemas: HashMap<String, Schemas>,
    v2_cache: Option<(String, Arc<serde_json::Value>)>,
    /// The resources last published.
    last: Option<Vec<ShadowResource>>,
}

impl std::fmt::Debug for Sync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sync").finish_non_exhaustive()
    }
}

impl Sync {
    /// A sync loop for `client`'s cluster.
    pub fn new(
        client: kube::Client,
        resources: Resources,
        registry: Registry,
        openapi: OpenApi,
    ) -> Self {
        Self {
            client,
            resources,
            registry,
            openapi,
            ready: Arc::new(AtomicBool::new(false)),
            v3_cache: HashMap::new(),
            v3_schemas: HashMap::new(),
            v2_cache: None,
            last: None,
        }
    }

    /// Becomes true after the first successful sync (a readiness check).
    pub fn ready_flag(&self) -> Arc<AtomicBool> {
        self.ready.clone()
    }

    async fn get(
        &self,
        path: &str,
        accept: &str,
        etag: Option<&str>,
    ) -> Result<(u16, Bytes, Option<String>)> {
        let mut builder = Request::get(path).header(http::header::ACCEPT, accept);
        if let Some(etag) = etag {
            builder = builder.header(http::header::IF_NONE_MATCH, etag);
        }
        let response = self
            .client
            .send(builder.body(kube::client::Body::empty())?)
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let body = response
            .into_body()
            .collect()
            .await
            .context("reading body")?
            .to_bytes();
        anyhow::ensure!(
            status == 200 || status == 304,
            "GET {path}: {status} {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(300)
                .collect::<String>()
        );
        Ok((status, body, etag))
    }

    /// What the parent serves now, selected for mirroring, with the CRDs behind custom
    /// resources (by `<plural>.<group>`).
    async fn discover(&self) -> Result<(Vec<ShadowResource>, HashMap<String, serde_json::Value>)> {
        let mut groups = Vec::new();
        for path in ["/api", "/apis"] {
            let (_, body, _) = self.get(path, AGGREGATED, None).await?;
            groups.extend(
                catalog::parse_discovery(&body)
                    .with_context(|| format!("parsing aggregated discovery of {path}"))?,
            );
        }
        let mut resources = catalog::select(&groups);
        let (_, body, _) = self
            .get(
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                "application/json",
                None,
            )
            .await?;
        let list: serde_json::Value =
            serde_json::from_slice(&body).context("parsing the CRD list")?;
        let mut crds = HashMap::new();
        for crd in list["items"].as_array().into_iter().flatten() {
            let key = format!(
                "{}.{}",
                crd["spec"]["names"]["plural"].as_str().unwrap_or_default(),
                crd["spec"]["group"].as_str().unwrap_or_default()
            );
            crds.insert(key, crd.clone());
        }
        for r in &mut resources {
            r.custom = crds.contains_key(&format!("{}.{}", r.plural, r.group));
        }
        Ok((resources, crds))
    }

    /// Rebuilds the OpenAPI documents with the parent's schemas for the mirrored kinds.
    async fn rebuild_openapi(
        &mut self,
        resources: &[ShadowResource],
        gv: &clusternet_openapi::ApiGroupVersion,
    ) -> Result<()> {
        // v3: one document per source group-version, fetched again only when its hash changes.
        let (_, body, _) = self.get("/openapi/v3", "application/json", None).await?;
        let discovery: serde_json::Value = serde_json::from_slice(&body)?;
        let mut wanted: Vec<String> = resources
            .iter()
            .map(|r| {
                if r.group.is_empty() {
                    format!("api/{}", r.version)
                } else {
                    format!("apis/{}/{}", r.group, r.version)
                }
            })
            .collect();
        wanted.sort();
        wanted.dedup();
        let mut docs = Vec::new();
        for path in wanted {
            let Some(url) = discovery["paths"][&path]["serverRelativeURL"].as_str() else {
                continue;
            };
            if let Some((doc, schemas)) = self.v3_cache.get(url) {
                docs.push(doc.clone());
                self.v3_schemas.insert(path.clone(), schemas.clone());
                continue;
            }
            let (_, body, _) = self.get(url, "application/json", None).await?;
            let json: serde_json::Value =
                serde_json::from_slice(&body).with_context(|| format!("parsing {url}"))?;
            let schemas = Arc::new(
                json["components"]["schemas"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            );
            let doc: Arc<openapiv3::OpenAPI> =
                Arc::new(serde_json::from_value(json).with_context(|| format!("parsing {url}"))?);
            self.v3_cache
                .insert(url.to_string(), (doc.clone(), schemas.clone()));
            self.v3_schemas.insert(path.clone(), schemas);
            docs.push(doc);
        }
        // Forget documents of group-versions no longer current.
        let keep: Vec<String> = discovery["paths"]
            .as_object()
            .map(|m| {
                m.values()
                    .filter_map(|v| v["serverRelativeURL"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        self.v3_cache.retain(|url, _| keep.contains(url));

        // v2: one big document, revalidated by ETag.
        let etag = self.v2_cache.as_ref().map(|(e, _)| e.clone());
        let (status, body, new_etag) = self
            .get("/openapi/v2", "application/json", etag.as_deref())
            .await?;
        if status == 200 {
            let doc: serde_json::Value =
                serde_json::from_slice(&body).context("parsing /openapi/v2")?;
            self.v2_cache = Some((new_etag.unwrap_or_default(), Arc::new(doc)));
        }

        let mut v3 = clusternet_openapi::Catalog::new(clusternet_openapi::Dialect::V3)?;
        for doc in &docs {
            v3.add_v3(doc)?;
        }
        let mut v2 = clusternet_openapi::Catalog::new(clusternet_openapi::Dialect::V2)?;
        if let Some((_, doc)) = &self.v2_cache {
            v2.add_json(doc)?;
        }
        let served = self.registry.snapshot().served_with(gv);
        self.openapi.rebuild(&served, &v2, &v3)?;
        Ok(())
    }

    async fn touch_apiservice(&self, hash: &str) {
        let api: Api<APIService> = Api::all(self.client.clone());
        let patch = serde_json::json!({"metadata": {"annotations": {HASH_ANNOTATION: hash}}});
        if let Err(err) = api
            .patch(
                "v1alpha1.shadow",
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            tracing::debug!(error = %err, "touching APIService v1alpha1.shadow");
        }
    }

    /// Each resource with its Table columns (the parent's printer for built-in kinds, the
    /// CRD's printer columns of the served version for custom resources) and, for built-in
    /// kinds, its schema for strategic merge patches.
    fn mirror(
        &self,
        resources: &[ShadowResource],
        crds: &HashMap<String, serde_json::Value>,
    ) -> Vec<Mirrored> {
        resources
            .iter()
            .map(|r| {
                let mut table = TableConvertor::for_kind(&r.group, &r.version, &r.kind);
                if table.is_default()
                    && let Some(crd) = crds.get(&format!("{}.{}", r.plural, r.group))
                {
                    table = TableConvertor::for_crd(crd, &r.version).unwrap_or_else(|err| {
                        tracing::warn!(resource = %r.plural, error = %err, "printer columns of the CRD; using the default columns");
                        TableConvertor::default_convertor()
                    });
                }
                let patch_schema = if r.custom { None } else { self.patch_schema(r) };
                let scale_table = match crds.get(&format!("{}.{}", r.plural, r.group)) {
                    Some(crd) if r.custom => crd_scale_table(crd, &r.version),
                    _ => TableConvertor::for_kind("autoscaling", "v1", "Scale"),
                };
                Mirrored { resource: r.clone(), table, scale_table, patch_schema }
            })
            .collect()
    }

    /// The kind's schema in its group-version's document, found by its GVK.
    fn patch_schema(&self, r: &ShadowResource) -> Option<PatchSchema> {
        let path = if r.group.is_empty() {
            format!("api/{}", r.version)
        } else {
            format!("apis/{}/{}", r.group, r.version)
        };
        let schemas = self.v3_schemas.get(&path)?;
        let name = schemas.iter().find_map(|(name, schema)| {
            let gvks = schema.get("x-kubernetes-group-version-kind")?.as_array()?;
            gvks.iter()
                .any(|g| {
                    g["group"] == r.group.as_str()
                        && g["version"] == r.version.as_str()
                        && g["kind"] == r.kind.as_str()
                })
                .then(|| name.clone())
        })?;
        Some(PatchSchema {
            schemas: schemas.clone(),
            name,
        })
    }

    /// One pass: discover, and publish if anything changed.
    async fn once(&mut self) -> Result<()> {
        let (resources, crds) = self.discover().await?;
        let changed = self.last.as_ref() != Some(&resources);
        let gv = catalog::group_version(&resources);
        if changed || !self.ready.load(Ordering::SeqCst) {
            self.rebuild_openapi(&resources, &gv).await?;
        }
        // Columns and patch schemas follow CRD changes that do not change the resource set.
        // The handlers serve a resource before discovery names it: a client that finds it in
        // discovery must not then get 404 from it.
        self.resources.set(self.mirror(&resources, &crds));
        if changed || !self.ready.load(Ordering::SeqCst) {
            self.registry.set(gv);
            let names: Vec<String> = resources
                .iter()
                .map(|r| format!("{}/{}/{}", r.group, r.version, r.plural))
                .collect();
            let hash = crate::discovery::hex_digest(names.join(",").as_bytes());
            self.touch_apiservice(&hash[..16]).await;
            tracing::info!(
                resources = resources.len(),
                "shadow API serves the parent's resources"
            );
        }
        self.last = Some(resources);
        self.ready.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Runs until the process ends.
    pub async fn run(mut self) {
        let trigger = Arc::new(Notify::new());
        spawn_trigger::<CustomResourceDefinition>(self.client.clone(), trigger.clone());
        spawn_trigger::<APIService>(self.client.clone(), trigger.clone());
        let mut failures = 0u32;
        loop {
            match self.once().await {
                Ok(()) => failures = 0,
                Err(err) => {
                    failures += 1;
                    tracing::warn!(error = %format!("{err:#}"), "syncing the shadow API with the parent");
                }
            }
            let wait = if failures > 0 {
                Duration::from_millis(500 * u64::from(failures.min(10)))
            } else {
                Duration::from_secs(300)
            };
            tokio::select! {
                _ = trigger.notified() => {
                    // Debounce bursts (a CRD's creation and establishment, many CRDs at once).
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// The columns kube-apiserver prints for a custom resource's Scale (apiextensions-apiserver's
/// `getScaleColumnsForVersion`): Desired and Available when the CRD maps those paths, then Age.
fn crd_scale_table(crd: &serde_json::Value, version: &str) -> TableConvertor {
    use clusternet_printers::PrinterColumn;
    let scale = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == version)
        .map(|v| v["subresources"]["scale"].clone())
        .unwrap_or_default();
    let mut columns = Vec::new();
    for (path, name, json_path, description) in [
        (
            "specReplicasPath",
            "Desired",
            ".spec.replicas",
            "Number of desired replicas",
        ),
        (
            "statusReplicasPath",
            "Available",
            ".status.replicas",
            "Number of actual replicas",
        ),
    ] {
        if scale[path].as_str().is_some_and(|p| !p.is_empty()) {
            columns.push(PrinterColumn {
                name: name.into(),
                type_: "integer".into(),
                format: String::new(),
                description: description.into(),
                priority: 0,
                json_path: json_path.into(),
            });
        }
    }
    columns.push(PrinterColumn::default_age());
    TableConvertor::for_printer_columns(&columns).0
}

fn spawn_trigger<K>(client: kube::Client, trigger: Arc<Notify>)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + std::marker::Sync
        + 'static,
{
    tokio::spawn(async move {
        let mut events = watcher(Api::<K>::all(client), watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => trigger.notify_one(),
                Ok(_) => {}
                Err(err) => {
                    tracing::debug!(error = %err, "watching for shadow API changes");
                }
            }
        }
    });
}
