//! patch (JSON, merge, strategic merge) and server-side apply of shadow objects.

use super::*;

/// Applies a patch body of `content_type` to `target`.
pub(super) fn apply_patch(
    call: &Call<'_>,
    content_type: &str,
    patch: &[u8],
    target: &Value,
) -> Result<Value, ApiError> {
    use clusternet_apimachinery::patch::{self as p, PatchType};
    // What a 415 lists: the patch types of the kind, server-side apply included (handled by
    // `apply` before this; the scale subresource takes no apply).
    let accepted: &[PatchType] = if call.patch_schema.is_some() {
        &[
            PatchType::Json,
            PatchType::Merge,
            PatchType::StrategicMerge,
            PatchType::ApplyYaml,
        ]
    } else {
        &[PatchType::Json, PatchType::Merge, PatchType::ApplyYaml]
    };
    let kind = match PatchType::from_content_type(content_type) {
        Some(kind) if kind.is_apply() => {
            return Err(ApiError::new(
                crate::status::Reason::UnsupportedMediaType,
                format!(
                    "server-side apply is not supported on the scale subresource of {}.{}",
                    call.resource.plural,
                    crate::shadow::GROUP
                ),
            ));
        }
        _ => p::negotiate_patch_type(content_type, accepted).map_err(patch_error)?,
    };
    let result = match (kind, &call.patch_schema) {
        (PatchType::StrategicMerge, Some(schema)) => {
            let reference = format!("#/components/schemas/{}", schema.name);
            let meta =
                p::OpenApiPatchMeta::from_ref(&reference, &*schema.schemas).ok_or_else(|| {
                    ApiError::internal(format!(
                        "no schema {} for strategic merge patch",
                        schema.name
                    ))
                })?;
            p::apply_patch(kind, target, patch, &meta)
        }
        _ => p::apply_patch(kind, target, patch, &p::NoPatchMeta),
    };
    result.map_err(patch_error)
}

/// Server-side apply. The parent merges the applied configuration into the Manifest, where
/// the template is schemaless: maps merge field by field and lists are atomic (for a manager
/// that owns whole lists — `kubectl apply --server-side` of a file — the same result as on the
/// real kind). The merge is first a dry-run, validated as the real kind like every write, then
/// applied for real; field managers, conflicts and `force` are the parent's.
pub(super) async fn apply(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
    content_type: &str,
    patch: &[u8],
) -> Result<Response<Body>, ApiError> {
    use clusternet_apimachinery::patch::PatchType;
    if PatchType::from_content_type(content_type) != Some(PatchType::ApplyYaml) {
        return Err(ApiError::unsupported_media_type(content_type));
    }
    let mut object: Value = serde_saphyr::from_slice(patch)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be an object",
        ));
    }
    check_object(call, &mut object, Some(&call.info.name))?;
    store::label_created_by_hub(&mut object);
    store::trim(call.resource, &mut object);
    let manifest = store::to_manifest(call.resource, &call.state.reserved_namespace, &object);
    let body = serde_json::to_vec(&manifest).map_err(|e| ApiError::internal(e.to_string()))?;
    let path = |dry_run: bool| {
        let mut q = Vec::new();
        for key in ["fieldManager", "force"] {
            if let Some(v) = call.param(key) {
                q.push((key.to_string(), v.to_string()));
            }
        }
        match (dry_run, call.param("dryRun")) {
            (true, _) => q.push(("dryRun".into(), "All".into())),
            (false, Some(v)) => q.push(("dryRun".into(), v.into())),
            (false, None) => {}
        }
        format!(
            "{}?{}",
            call.manifest_path(&call.info.name),
            encode_query(&q)
        )
    };
    let parent = &call.state.parent;
    let merged = parent
        .call_typed(Method::PATCH, &path(true), Some(body.clone()), content_type)
        .await
        .map_err(|e| apply_error(call, e))?
        .json()?;
    let mut template = merged["template"].clone();
    template["apiVersion"] = call.resource.api_version().into();
    validate(call, &template).await?;
    let applied = parent
        .call_typed(Method::PATCH, &path(false), Some(body), content_type)
        .await
        .map_err(|e| apply_error(call, e))?;
    respond(
        applied.status,
        &rendering.object(&store::from_manifest(&applied.json()?))?,
        rendering.format.content_type(),
    )
}

/// A Manifest apply error as the shadow object's: fields without the `.template` prefix, the
/// object's apiVersion, name and resource.
pub(super) fn apply_error(call: &Call<'_>, mut err: ApiError) -> ApiError {
    let api_version = call.resource.api_version();
    let unwrap = |text: &str| {
        text.replace(".template.", ".").replace(
            "using apps.clusternet.io/v1alpha1",
            &format!("using {api_version}"),
        )
    };
    err.message = unwrap(&err.message);
    for cause in &mut err.causes {
        cause.field = unwrap(&cause.field);
        cause.message = unwrap(&cause.message);
    }
    let manifest = store::manifest_name(call.resource, &call.info.namespace, &call.info.name);
    err.message = err.message.replace(
        &format!("manifests.apps.clusternet.io \"{manifest}\""),
        &format!("{} \"{}\"", call.group_resource(), call.info.name),
    );
    if err.details.is_some() {
        let group_resource = call.group_resource();
        err.details = Some(Box::new((
            call.info.name.clone(),
            group_resource.group,
            group_resource.resource,
        )));
    }
    err
}

/// kube-apiserver's Status for a patch failure.
pub(super) fn patch_error(err: clusternet_apimachinery::patch::PatchError) -> ApiError {
    let reason = crate::status::Reason::parse(err.reason())
        .unwrap_or_else(|| crate::status::Reason::from_code(err.code()));
    ApiError::new(reason, err.message())
}

pub(super) async fn patch_object(
    call: &Call<'_>,
    rendering: &Rendering<'_>,
    content_type: &str,
    patch: &[u8],
) -> Result<Response<Body>, ApiError> {
    let mut attempts = 0;
    loop {
        let current = call.get_manifest(&call.info.name).await?;
        let object = store::from_manifest(&current);
        let mut patched = apply_patch(call, content_type, patch, &object)?;
        // The patched object may not change identity.
        check_object(call, &mut patched, Some(&call.info.name))?;
        patched["metadata"]["resourceVersion"] = object["metadata"]["resourceVersion"].clone();
        match write(call, &current, &patched).await {
            Ok(written) => {
                return respond(
                    StatusCode::OK,
                    &rendering.object(&written)?,
                    rendering.format.content_type(),
                );
            }
            Err(err)
                if err.reason == crate::status::Reason::Conflict && attempts < PATCH_RETRIES =>
            {
                attempts += 1
            }
            Err(err) => return Err(err),
        }
    }
}
