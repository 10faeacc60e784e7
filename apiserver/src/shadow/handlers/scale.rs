//! The `scale` subresource: `spec.replicas` as an `autoscaling/v1` Scale.

use super::*;

pub(super) fn scale_of(call: &Call<'_>, object: &Value) -> Value {
    let selector = object["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let meta = &object["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"], "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]},
        "spec": {"replicas": object["spec"]["replicas"].as_i64().unwrap_or(if call.resource.kind == "Deployment" { 1 } else { 0 })},
        "status": {"replicas": object["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

pub(super) async fn get_scale(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
) -> Result<Response<Body>, ApiError> {
    let object = store::from_manifest(&call.get_manifest(&call.info.name).await?);
    respond(
        StatusCode::OK,
        &rendering.object_of_kind(&scale_of(call, &object), "Scale")?,
        rendering.format.content_type(),
    )
}

pub(super) async fn set_replicas(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
    scale: &Value,
) -> Result<Response<Body>, ApiError> {
    let replicas = scale["spec"]["replicas"]
        .as_i64()
        .ok_or_else(|| ApiError::bad_request("spec.replicas of the Scale must be an integer"))?;
    let mut attempts = 0;
    loop {
        let current = call.get_manifest(&call.info.name).await?;
        let mut object = store::from_manifest(&current);
        let wanted_rv = scale["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        if !wanted_rv.is_empty()
            && Some(wanted_rv) != object["metadata"]["resourceVersion"].as_str()
        {
            return Err(ApiError::conflict(
                &call.group_resource(),
                &call.info.name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        object["spec"]["replicas"] = replicas.into();
        // Validated as the original kind, like every write.
        object["apiVersion"] = call.resource.api_version().into();
        match write(call, &current, &object).await {
            Ok(written) => {
                return respond(
                    StatusCode::OK,
                    &rendering.object_of_kind(&scale_of(call, &written), "Scale")?,
                    rendering.format.content_type(),
                );
            }
            Err(err)
                if err.reason == crate::status::Reason::Conflict
                    && wanted_rv.is_empty()
                    && attempts < PATCH_RETRIES =>
            {
                attempts += 1
            }
            Err(err) => return Err(err),
        }
    }
}

pub(super) async fn patch_scale(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
    content_type: &str,
    patch: &[u8],
) -> Result<Response<Body>, ApiError> {
    let object = store::from_manifest(&call.get_manifest(&call.info.name).await?);
    let scale = scale_of(call, &object);
    let media = content_type.split(';').next().unwrap_or("").trim();
    // A Scale has no lists: a strategic merge patch is a merge patch.
    let content_type = if media == "application/strategic-merge-patch+json" {
        "application/merge-patch+json"
    } else {
        content_type
    };
    let mut patched = apply_patch(call, content_type, patch, &scale)?;
    if let Some(meta) = patched["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
    }
    set_replicas(call, rendering, &patched).await
}
