//! `GET /openapi.json`: the OpenAPI 3 document, made by utoipa from the
//! handlers' annotations as the routes are registered (`super::documented`).

use axum::Extension;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi;

/// The document but for its paths and schemas, which `routes!` adds with
/// each route (the schemas its operations name come with it).
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "orders API",
        description = "Orders, created together with their fulfilment job. Every error, from any \
                       route, has the `ErrorBody` shape; unknown routes get 404 and known routes \
                       405 for other methods, in that shape too."
    ),
    tags(
        (name = "orders", description = "The example domain"),
        (name = "exports", description = "The example domain's long job: a customer's orders, written in batches")
    )
)]
pub struct ApiDoc;

/// The whole document as served, rendered once: it is the same for the
/// life of the process.
#[derive(Debug, Clone)]
pub struct Document(Bytes);

impl Document {
    pub fn render(document: &utoipa::openapi::OpenApi) -> Self {
        Self(
            document
                .to_pretty_json()
                .expect("the OpenAPI document serializes")
                .into(),
        )
    }
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json", body = Object))
)]
pub async fn openapi_json(Extension(document): Extension<Document>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document.0)
}
