//! The one error shape every response uses, `{"error": {"code", "message",
//! "field"?}}`, so a client needs a single decoder whatever failed: a
//! handler, an extractor, or a layer in front of both.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// How long a shed or database-starved client should wait before retrying.
const RETRY_AFTER_SECONDS: &str = "1";

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: `invalid_json`, `invalid_body`,
    /// `invalid_parameter`, `bad_request`, `invalid_request`,
    /// `idempotency_key_reused`, `payload_too_large`,
    /// `unsupported_media_type`, `not_found`, `method_not_allowed`,
    /// `timeout`, `overloaded`, `unavailable`, `internal`.
    #[schema(example = "invalid_request")]
    pub code: String,
    /// For people; may change between versions.
    pub message: String,
    /// The input at fault, as a path into the body (`items[0].qty`), or a
    /// header or path parameter name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    /// A 500 that tells the client nothing about the cause; the caller logs it.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Well-formed input whose content is wrong.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message).field(field)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The error for a status a layer produced without a body of ours
    /// (tower-http's 413, axum's 405), so that every error keeps
    /// the one shape.
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "expected Content-Type: application/json",
            ),
            StatusCode::NOT_FOUND => ("not_found", "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("method_not_allowed", "method not allowed on this route")
            }
            StatusCode::SERVICE_UNAVAILABLE => ("unavailable", "unavailable, retry shortly"),
            status if status.is_server_error() => ("internal", "internal error"),
            _ => ("bad_request", "the request was not understood"),
        };
        Self::new(status, code, message)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if service::db::is_unavailable(&error) {
            tracing::warn!(%error, "database unavailable");
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is unavailable, retry shortly",
            );
        }
        tracing::error!(%error, "database error");
        Self::internal()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

/// Whether a response already has a body in our shape (or any JSON body).
pub fn is_json<B>(response: &Response<B>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}
