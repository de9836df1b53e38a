//! `POST /v1/exports` and `GET /v1/exports/{id}`: the example's long job,
//! started by a request and followed by polling.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::db::exports;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, IdPath};
use crate::model::{CreateExport, Export};

/// Starts an export of a customer's orders: the export and its job commit
/// together, and the worker writes it in batches.
#[utoipa::path(
    post,
    path = "/v1/exports",
    tag = "exports",
    request_body = CreateExport,
    responses(
        (status = 202, description = "Accepted, with its job enqueued; follow it at Location", body = Export,
         headers(("Location" = String, description = "The export's URL"))),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 413, description = "Body above API_BODY_LIMIT", body = ErrorBody),
        (status = 415, description = "Content-Type is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid export", body = ErrorBody),
        (status = 503, description = "Overloaded or database unavailable; see Retry-After", body = ErrorBody),
    )
)]
pub async fn create_export(
    State(state): State<AppState>,
    ApiJson(export): ApiJson<CreateExport>,
) -> Result<Response, ApiError> {
    export.validate()?;
    let traceparent = telemetry::current_traceparent();
    let export = exports::create(&state.pool, &export, traceparent).await?;
    let location = HeaderValue::try_from(format!("/v1/exports/{}", export.id))
        .map_err(|_| ApiError::from_status(StatusCode::INTERNAL_SERVER_ERROR))?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(export),
    )
        .into_response())
}

/// An export, with how many batches it has written.
#[utoipa::path(
    get,
    path = "/v1/exports/{id}",
    tag = "exports",
    params(("id" = uuid::Uuid, Path, description = "The export's id")),
    responses(
        (status = 200, body = Export),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 404, description = "No such export", body = ErrorBody),
    )
)]
pub async fn get_export(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Json<Export>, ApiError> {
    exports::find(&state.pool, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no export {id}")))
}
