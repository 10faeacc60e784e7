//! create and update: validated by a dry-run of the real kind, stored as Manifests.

use super::*;

pub(super) async fn create(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
    mut object: Value,
) -> Result<Response<Body>, ApiError> {
    check_object(call, &mut object, None)?;
    if object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
        && object["metadata"]["generateName"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    {
        return Err(ApiError::invalid(
            &call.resource.kind,
            &call.resource.group,
            "",
            vec![crate::status::FieldError {
                reason: "FieldValueRequired".into(),
                field: "metadata.name".into(),
                message: "Required value: name or generateName is required".into(),
            }],
        ));
    }
    if call.resource.namespaced && call.info.namespace.is_empty() {
        return Err(ApiError::bad_request(
            "a namespace is required to create a namespaced object",
        ));
    }
    let validated = validate(call, &object).await?;
    let name = validated["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let manifest = store::to_manifest(call.resource, &call.state.reserved_namespace, &validated);
    let path = format!("{}{}", call.manifests_path(), manifest_query(call));
    let body = serde_json::to_vec(&manifest).map_err(|e| ApiError::internal(e.to_string()))?;
    let created = call
        .state
        .parent
        .call(Method::POST, &path, Some(body))
        .await
        .map_err(|e| match e.reason {
            crate::status::Reason::AlreadyExists => {
                ApiError::already_exists(&call.group_resource(), &name)
            }
            _ => e,
        })?;
    let object = store::from_manifest(&created.json()?);
    respond(
        StatusCode::CREATED,
        &rendering.object(&object)?,
        rendering.format.content_type(),
    )
}

/// Writes `object` (already checked) over the Manifest `current`, validating it first.
pub(super) async fn write(
    call: &Call<'_>,
    current: &Value,
    object: &Value,
) -> Result<Value, ApiError> {
    check_version(call, current, object)?;
    let validated = validate(call, object).await?;
    store_over(call, current, &validated).await
}

/// A Conflict when `object` names a resourceVersion other than `current`'s (checked before
/// validation, as kube-apiserver's update does).
fn check_version(call: &Call<'_>, current: &Value, object: &Value) -> Result<(), ApiError> {
    let current_rv = current["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default();
    let wanted_rv = object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default();
    if !wanted_rv.is_empty() && wanted_rv != current_rv {
        return Err(ApiError::conflict(
            &call.group_resource(),
            &call.info.name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    Ok(())
}

/// Stores `validated` over the Manifest `current` (its resourceVersion as the precondition).
async fn store_over(
    call: &Call<'_>,
    current: &Value,
    validated: &Value,
) -> Result<Value, ApiError> {
    let name = call.info.name.clone();
    let mut manifest = store::to_manifest(call.resource, &call.state.reserved_namespace, validated);
    // Keep what others put on the Manifest (finalizers, annotations of feed protection).
    for key in ["finalizers", "annotations", "ownerReferences"] {
        if !current["metadata"][key].is_null() {
            manifest["metadata"][key] = current["metadata"][key].clone();
        }
    }
    keep_foreign_labels(current, &mut manifest);
    manifest["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
    let path = format!("{}{}", call.manifest_path(&name), manifest_query(call));
    let body = serde_json::to_vec(&manifest).map_err(|e| ApiError::internal(e.to_string()))?;
    let written = call.state.parent.call(Method::PUT, &path, Some(body)).await.map_err(|e| match e.reason {
        crate::status::Reason::Conflict => ApiError::conflict(&call.group_resource(), &name, "the object has been modified; please apply your changes to the latest version and try again"),
        crate::status::Reason::NotFound => call.not_found(&name),
        _ => e,
    })?;
    Ok(store::from_manifest(&written.json()?))
}

/// Labels on the Manifest that did not come from the object — the controller-manager's
/// `<uid>: Base` / `<uid>: Subscription` back-references — survive an update of the object
/// (Go's hub keeps every old label; here a label removed from the object goes away too).
pub(super) fn keep_foreign_labels(current: &Value, manifest: &mut Value) {
    let (Some(old), Some(new)) = (
        current["metadata"]["labels"].as_object(),
        manifest["metadata"]["labels"].as_object_mut(),
    ) else {
        return;
    };
    let from_object = current["template"]["metadata"]["labels"].as_object();
    for (key, value) in old {
        let ours = key.starts_with("config.apps.clusternet.io/");
        let objects = from_object.is_some_and(|labels| labels.contains_key(key));
        if !ours && !objects && !new.contains_key(key) {
            new.insert(key.clone(), value.clone());
        }
    }
}

pub(super) async fn update(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
    mut object: Value,
) -> Result<Response<Body>, ApiError> {
    check_object(call, &mut object, Some(&call.info.name))?;
    // The object is whole: its validation (a dry-run on the parent) needs nothing from the
    // stored Manifest, so both are asked at once. A missing object or a stale resourceVersion
    // still answers first, as kube-apiserver's update does.
    let (current, validated) =
        tokio::join!(call.get_manifest(&call.info.name), validate(call, &object));
    let current = current?;
    check_version(call, &current, &object)?;
    let written = store_over(call, &current, &validated?).await?;
    respond(
        StatusCode::OK,
        &rendering.object(&written)?,
        rendering.format.content_type(),
    )
}
