//! The `Predictor` plugin: asks a cluster's replica predictor how many replicas of a feed it
//! can take (`POST <predictorAddress>/replicas/predict`, body `ReplicaRequirements`, header
//! `Cluster-ID`, answer `{"replicas": {"default": N}}`).
//!
//! As in Clusternet, a cluster whose `status.predictorEnabled` is false makes the plugin return
//! `Skip`, which the framework counts as a failure: without `FeasibleClustersToleration` the
//! whole cycle fails ("plugin \"Predictor\" failed with: predictor is disabled") and is
//! retried with backoff; with it, the cluster gets no prediction and selection then fails with
//! "unable to get replicas for feed …". Predictors that are not directly reachable are reached
//! through the parent's sockets proxy (`useSocket` required), with the scheduler's own parent
//! credentials.
//!
//! With `predictorDirectAccess: true` the scheduler calls the predictor itself; only `http://`
//! addresses are supported that way (Clusternet also accepts `https://` without verifying the
//! certificate; this scheduler refuses to, and fails prediction with an explicit error).

use std::collections::BTreeMap;
use std::time::Duration;

use clusternet_apis::apps::v1alpha1::{FeedInventory, ReplicaRequirements};
use clusternet_apis::clusters::v1beta1::ManagedCluster;

/// Clusternet's predictor timeout.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Why a prediction failed (the framework's Skip or Error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PredictError {
    /// `status.predictorEnabled` is false.
    #[error("predictor is disabled")]
    Disabled,
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

/// The proxy path of a predictor reached through the hub's sockets
/// (`apis/proxies.clusternet.io/v1alpha1/sockets/<id>/proxy/<http|https>/<host:port>`).
pub fn socket_path(cluster_id: &str, address: &str) -> String {
    let address = address
        .replacen("http://", "http/", 1)
        .replacen("https://", "https/", 1);
    format!(
        "/apis/proxies.clusternet.io/v1alpha1/sockets/{cluster_id}/proxy/{}",
        address.trim_end_matches('/')
    )
}

/// Predicts, for every FeedInventory feed with desired replicas, the max acceptable replicas of
/// `mc` (`None` for feeds without replicas).
pub async fn predict(
    parent: &kube::Client,
    finv: &FeedInventory,
    mc: &ManagedCluster,
) -> Result<Vec<Option<i32>>, PredictError> {
    let status = mc.status.clone().unwrap_or_default();
    if !status.predictor_enabled {
        return Err(PredictError::Disabled);
    }
    if status.predictor_direct_access {
        let mut out = Vec::with_capacity(finv.spec.feeds.len());
        for order in &finv.spec.feeds {
            if order.desired_replicas.is_none() {
                out.push(None);
                continue;
            }
            let replicas = ask_direct(
                &status.predictor_address,
                &mc.spec.cluster_id,
                &order.replica_requirements,
            )
            .await?;
            out.push(Some(replicas.get("default").copied().unwrap_or(0)));
        }
        return Ok(out);
    }
    if !status.use_socket {
        return Err(PredictError::Failed(format!(
            "cluster {} does not enable feature gate SocketConnection",
            mc.spec.cluster_id
        )));
    }
    let base = socket_path(&mc.spec.cluster_id, &status.predictor_address);
    let mut out = Vec::with_capacity(finv.spec.feeds.len());
    for order in &finv.spec.feeds {
        if order.desired_replicas.is_none() {
            out.push(None);
            continue;
        }
        let replicas = ask(
            parent,
            &base,
            &mc.spec.cluster_id,
            &order.replica_requirements,
        )
        .await?;
        out.push(Some(replicas.get("default").copied().unwrap_or(0)));
    }
    Ok(out)
}

#[derive(serde::Deserialize)]
struct PredictorResults {
    #[serde(default)]
    replicas: BTreeMap<String, i32>,
}

async fn ask(
    parent: &kube::Client,
    base: &str,
    cluster_id: &str,
    requirements: &ReplicaRequirements,
) -> Result<BTreeMap<String, i32>, PredictError> {
    let fail = |e: &dyn std::fmt::Display| PredictError::Failed(e.to_string());
    let body = serde_json::to_vec(requirements).map_err(|e| fail(&e))?;
    let request = http::Request::post(format!("{base}/replicas/predict"))
        .header("Content-Type", "application/json")
        .header("Cluster-ID", cluster_id)
        .body(body)
        .map_err(|e| fail(&e))?;
    let text = match tokio::time::timeout(TIMEOUT, parent.request_text(request)).await {
        Err(e) => return Err(fail(&e)),
        Ok(Err(kube::Error::Api(status))) => {
            return Err(PredictError::Failed(format!(
                "predictor answered {}: {}",
                status.code, status.message
            )));
        }
        Ok(Err(e)) => return Err(fail(&e)),
        Ok(Ok(text)) => text,
    };
    let results: PredictorResults = serde_json::from_str(&text).map_err(|e| fail(&e))?;
    Ok(results.replicas)
}

/// Calls an `http://` predictor directly.
async fn ask_direct(
    address: &str,
    cluster_id: &str,
    requirements: &ReplicaRequirements,
) -> Result<BTreeMap<String, i32>, PredictError> {
    use http_body_util::{BodyExt, Full};
    let fail = |e: &dyn std::fmt::Display| PredictError::Failed(e.to_string());
    let url = format!("{}/replicas/predict", address.trim_end_matches('/'));
    if !url.starts_with("http://") {
        return Err(PredictError::Failed(format!(
            "direct access to predictor {address:?} is not supported: only http:// addresses can be reached directly"
        )));
    }
    let body = serde_json::to_vec(requirements).map_err(|e| fail(&e))?;
    let request = http::Request::post(url)
        .header("Content-Type", "application/json")
        .header("Cluster-ID", cluster_id)
        .body(Full::new(bytes::Bytes::from(body)))
        .map_err(|e| fail(&e))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let exchange = async {
        let response = client.request(request).await.map_err(|e| fail(&e))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| fail(&e))?
            .to_bytes();
        if !status.is_success() {
            return Err(PredictError::Failed(format!(
                "predictor answered {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&bytes).trim()
            )));
        }
        let results: PredictorResults = serde_json::from_slice(&bytes).map_err(|e| fail(&e))?;
        Ok(results.replicas)
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|e| fail(&e))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_paths() {
        assert_eq!(
            socket_path("abc", "http://10.0.0.1:8080"),
            "/apis/proxies.clusternet.io/v1alpha1/sockets/abc/proxy/http/10.0.0.1:8080"
        );
        assert_eq!(
            socket_path("abc", "https://p.svc:443/"),
            "/apis/proxies.clusternet.io/v1alpha1/sockets/abc/proxy/https/p.svc:443"
        );
    }
}
