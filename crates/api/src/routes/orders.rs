//! `POST /v1/orders` and `GET /v1/orders/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::db::orders::{self, Created};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, IdPath};
use crate::model::{CreateOrder, Order};

pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
const MAX_KEY_LEN: usize = 255;

/// Creates an order and its fulfilment job in one transaction.
#[utoipa::path(
    post,
    path = "/v1/orders",
    tag = "orders",
    params(
        ("Idempotency-Key" = Option<String>, Header,
         min_length = 1, max_length = 255, pattern = "^[!-~]+$",
         description = "1 to 255 visible ASCII characters. Repeating a request with the same key \
                        returns the same order and creates nothing; reusing the key for a \
                        different request is refused with 422."),
    ),
    request_body = CreateOrder,
    responses(
        (status = 201, description = "Created, with its job enqueued", body = Order,
         headers(("Location" = String, description = "The order's URL"))),
        (status = 200, description = "A repeat of an earlier request with the same Idempotency-Key", body = Order,
         headers(("Idempotent-Replayed" = String, description = "`true`"))),
        (status = 400, description = "Not JSON, or a malformed Idempotency-Key", body = ErrorBody),
        (status = 413, description = "Body above API_BODY_LIMIT", body = ErrorBody),
        (status = 415, description = "Content-Type is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid order, or Idempotency-Key reused for another request", body = ErrorBody),
        (status = 500, description = "`outcome_unknown`, without an Idempotency-Key: the database did not \
                                      confirm the commit, or the request ran past API_REQUEST_TIMEOUT, and \
                                      the order may exist. No Retry-After: retry only with an \
                                      Idempotency-Key", body = ErrorBody),
        (status = 503, description = "Overloaded or database unavailable, or (`outcome_unknown`, with an \
                                      Idempotency-Key) the commit unconfirmed; see Retry-After, and retry \
                                      with the same key", body = ErrorBody),
    )
)]
pub async fn create_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(order): ApiJson<CreateOrder>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    order.validate()?;
    // The job's span continues this request's trace (see `http::layers`).
    let traceparent = telemetry::current_traceparent();
    match orders::create(&state.pool, &order, key, traceparent).await? {
        Created::New(order) => {
            let location = HeaderValue::try_from(format!("/v1/orders/{}", order.id))
                .map_err(|_| ApiError::from_status(StatusCode::INTERNAL_SERVER_ERROR))?;
            Ok((
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                Json(order),
            )
                .into_response())
        }
        Created::Replayed(order) => Ok((
            StatusCode::OK,
            [(REPLAYED, HeaderValue::from_static("true"))],
            Json(order),
        )
            .into_response()),
        // With a key a retry is safe: it returns the order if it exists. Without
        // one, 500, not 503: no Retry-After, since a retry may create the
        // order twice.
        Created::OutcomeUnknown => Err(match key {
            Some(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "outcome_unknown",
                "the database did not confirm the commit: retry with the same Idempotency-Key",
            ),
            None => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "outcome_unknown",
                "the database did not confirm the commit, and the order may exist: retry only with an Idempotency-Key",
            ),
        }),
        Created::KeyReused => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was already used for a different request",
        )
        .field("Idempotency-Key")),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key)
            if !key.is_empty()
                && key.len() <= MAX_KEY_LEN
                && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(key))
        }
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        )
        .field("Idempotency-Key")),
    }
}

/// An order, with its status and when it was fulfilled.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}",
    tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "The order's id")),
    responses(
        (status = 200, body = Order),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
    )
)]
pub async fn get_order(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Json<Order>, ApiError> {
    orders::find(&state.pool, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no order {id}")))
}
