//! Extractors whose rejections are [`ApiError`]s, so that bad input gets the
//! one error shape and names the field at fault.
//!
//! `ApiJson` does what `axum::Json` does (content type, buffering, serde)
//! but keeps serde's path to the failing field, which axum only puts into
//! its message text.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use uuid::Uuid;

use crate::error::ApiError;

/// A JSON body: 415 without a JSON content type, 413 above the body limit,
/// 400 when it is not JSON, 422 when it is JSON of the wrong shape.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !has_json_content_type(request.headers()) {
            return Err(ApiError::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => {
                        ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE)
                    }
                    status => ApiError::new(status, "invalid_body", rejection.body_text()),
                })?;
        let mut json = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut json).map_err(body_error)?;
        json.end().map_err(|error| invalid_json(&error))?;
        Ok(Self(value))
    }
}

fn has_json_content_type(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence
            .rsplit_once('+')
            .is_some_and(|(_, suffix)| suffix.eq_ignore_ascii_case("json"))
}

fn body_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let inner = error.inner();
    if inner.classify() != Category::Data {
        return invalid_json(inner);
    }
    let message = inner.to_string();
    let mut field = match error.path().to_string() {
        root if root == "." => String::new(),
        path => path,
    };
    // serde reports a missing field at its parent; name the field itself.
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        if !field.is_empty() {
            field.push('.');
        }
        field.push_str(name);
    }
    let error = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message);
    if field.is_empty() {
        error
    } else {
        error.field(field)
    }
}

fn invalid_json(error: &serde_json::Error) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_json",
        format!("the body is not valid JSON: {error}"),
    )
}

/// The `{id}` path parameter of an order or an export: 400 when it is not
/// a UUID, because nothing could ever have that id.
#[derive(Debug, Clone, Copy)]
pub struct IdPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ApiError::new(
                    rejection.status(),
                    "invalid_parameter",
                    rejection.body_text(),
                )
            })?;
        id.parse().map(Self).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                format!("`{id}` is not a UUID"),
            )
            .field("id")
        })
    }
}
