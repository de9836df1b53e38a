//! The OpenAPI document and the routes come from one place
//! (`routes::documented`); these tests hold them to it both ways: every
//! documented operation is served, and every served route and method is
//! documented.

mod in_process;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use in_process::app;

/// Routes served only with `API_TEST_ROUTES=1`, for the drain tests, and
/// kept out of the document on purpose.
const UNDOCUMENTED: [&str; 2] = ["/test/slow", "/test/panic"];

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// The paths the router serves, from its `Debug` output: axum has no API
/// to list them. Checked to find the ones everyone knows is served, so a
/// change in that output fails here rather than passing with nothing.
fn served_paths(router: &axum::Router) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    let mut paths = BTreeSet::new();
    for (at, opening) in debug.match_indices("paths: {") {
        // `{RouteId(0): "/v1/orders/{id}", …}`: the quoted values are the
        // paths, and the map ends at the first `}` outside quotes.
        let (mut quoted, mut path) = (false, String::new());
        for c in debug[at + opening.len()..].chars() {
            match (quoted, c) {
                (false, '}') => break,
                (false, '"') => quoted = true,
                (true, '"') => {
                    quoted = false;
                    paths.insert(std::mem::take(&mut path));
                }
                (true, c) => path.push(c),
                (false, _) => {}
            }
        }
    }
    // axum's own catch-all for the fallback is not a route.
    paths.retain(|path| !path.contains("__private__axum"));
    assert!(
        paths.contains("/v1/orders") && paths.contains("/openapi.json"),
        "cannot read the served paths from the router: {debug}"
    );
    paths
}

/// A concrete request path for a route: `{id}` becomes a valid order id.
fn concrete(path: &str) -> String {
    path.replace("{id}", &uuid::Uuid::nil().to_string())
}

async fn document(app: &in_process::App) -> Value {
    let answer = app.get("/openapi.json").await;
    assert_eq!(answer.status, 200);
    answer.body
}

#[tokio::test]
async fn every_served_route_and_method_is_in_the_document_and_every_documented_one_is_served() {
    let app = app().await;
    let document = document(&app).await;
    let documented = document["paths"].as_object().unwrap();

    let served = served_paths(&app.router);
    for path in &served {
        if UNDOCUMENTED.contains(&path.as_str()) {
            assert!(!documented.contains_key(path), "{path} is documented");
            continue;
        }
        for method in METHODS {
            let request = Request::builder()
                .method(method.clone())
                .uri(concrete(path))
                .body(Body::empty())
                .unwrap();
            let answer = app.call(request).await;
            let is_served = answer.status != StatusCode::METHOD_NOT_ALLOWED;
            let operation = &document["paths"][path][method.as_str().to_lowercase()];
            assert_eq!(
                is_served,
                operation.is_object(),
                "{method} {path}: served {is_served} ({}), documented {}",
                answer.status,
                operation.is_object()
            );
        }
    }
    for path in documented.keys() {
        assert!(served.contains(path), "{path} is documented but not served");
    }
}

#[tokio::test]
async fn the_document_states_the_error_shape_and_every_status_of_create_order() {
    let app = app().await;
    let document = document(&app).await;
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(document["info"]["title"], "orders API");
    let error_schema = &document["components"]["schemas"]["ErrorBody"];
    assert_eq!(error_schema["required"], json!(["error"]));
    let detail = &document["components"]["schemas"]["ErrorDetail"]["properties"];
    for field in ["code", "message", "field"] {
        assert!(detail[field].is_object(), "ErrorDetail.{field}");
    }
    let create = &document["paths"]["/v1/orders"]["post"]["responses"];
    for status in ["201", "200", "400", "413", "415", "422", "503"] {
        assert!(create[status].is_object(), "POST /v1/orders {status}");
    }
}

/// The functions under `src/routes` annotated `#[utoipa::path]`: each one
/// written to be a route. The first `fn` after the annotation is its
/// handler.
fn annotated_handlers() -> BTreeSet<String> {
    let routes = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
    let mut handlers = BTreeSet::new();
    for entry in std::fs::read_dir(&routes).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for (at, _) in source.match_indices("#[utoipa::path(") {
            let after = &source[at..];
            let name = after
                .split_once("fn ")
                .and_then(|(_, rest)| {
                    rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                        .next()
                })
                .expect("a function after #[utoipa::path]");
            handlers.insert(name.to_owned());
        }
    }
    handlers
}

/// A handler written and annotated but not added with `routes!` is neither
/// served nor documented, so the test above cannot see it; its annotation
/// can. utoipa names each operation after its function.
#[tokio::test]
async fn every_annotated_handler_is_routed() {
    let app = app().await;
    let document = document(&app).await;
    let operations: BTreeSet<String> = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|methods| methods.as_object().unwrap().values())
        .filter_map(|operation| operation["operationId"].as_str().map(str::to_owned))
        .collect();
    let annotated = annotated_handlers();
    assert!(
        annotated.contains("create_order") && annotated.contains("get_order"),
        "cannot find the annotated handlers: {annotated:?}"
    );
    let unrouted: Vec<&String> = annotated.difference(&operations).collect();
    assert!(
        unrouted.is_empty(),
        "annotated with #[utoipa::path] but missing from `routes::documented()`: {unrouted:?}"
    );
}
