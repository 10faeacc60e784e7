//! delete and deletecollection.

use super::*;

pub(super) fn delete_query(
    call: &Call<'_>,
    options: &[u8],
) -> Result<(String, Option<Vec<u8>>), ApiError> {
    let mut q = Vec::new();
    for key in ["dryRun", "gracePeriodSeconds", "propagationPolicy"] {
        if let Some(v) = call.param(key) {
            q.push((key.to_string(), v.to_string()));
        }
    }
    let body = if options.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let v: Value = serde_json::from_slice(options)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?;
        Some(serde_json::to_vec(&v).map_err(|e| ApiError::internal(e.to_string()))?)
    };
    Ok((encode_query(&q), body))
}

pub(super) async fn delete(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
    options: Bytes,
) -> Result<Response<Body>, ApiError> {
    // Make sure the Manifest is of this resource before deleting it.
    let before = call.get_manifest(&call.info.name).await?;
    let (query, body) = delete_query(call, &options)?;
    let path = if query.is_empty() {
        call.manifest_path(&call.info.name)
    } else {
        format!("{}?{query}", call.manifest_path(&call.info.name))
    };
    let answer = call
        .state
        .parent
        .call(Method::DELETE, &path, body)
        .await
        .map_err(|e| match e.reason {
            crate::status::Reason::NotFound => call.not_found(&call.info.name),
            crate::status::Reason::Conflict => ApiError::conflict(
                &call.group_resource(),
                &call.info.name,
                "the precondition failed",
            ),
            _ => e,
        })?;
    let value = answer.json()?;
    // The Manifest itself while its finalizers run, else the object as it was — for the kinds
    // whose deletion answers with the object.
    let deleted = if value["kind"] == "Manifest" {
        Some(value.clone())
    } else {
        call.resource.returns_deleted_object().then_some(before)
    };
    if let Some(manifest) = deleted {
        let object = store::from_manifest(&manifest);
        return respond(
            answer.status,
            &rendering.object(&object)?,
            rendering.format.content_type(),
        );
    }
    let details = json!({"name": call.info.name, "group": crate::shadow::GROUP, "kind": call.resource.plural, "uid": value["details"]["uid"]});
    respond(
        answer.status,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
        "application/json",
    )
}

pub(super) async fn delete_collection(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
    options: Bytes,
) -> Result<Response<Body>, ApiError> {
    let (extra, body) = delete_query(call, &options)?;
    let mut query = format!("labelSelector={}", percent_encode(&call.label_selector()?));
    if !extra.is_empty() {
        query = format!("{query}&{extra}");
    }
    let answer = call
        .state
        .parent
        .call(
            Method::DELETE,
            &format!("{}?{query}", call.manifests_path()),
            body,
        )
        .await?;
    let value = answer.json()?;
    if value["kind"] == "ManifestList" {
        let items: Vec<Value> = value["items"]
            .as_array()
            .map(|a| a.iter().map(store::from_manifest).collect())
            .unwrap_or_default();
        return respond(
            StatusCode::OK,
            &rendering.list(items, value["metadata"].clone())?,
            rendering.format.content_type(),
        );
    }
    respond(
        StatusCode::OK,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
        "application/json",
    )
}
