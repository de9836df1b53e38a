//! The benchmark's baseline: axum's hello world, with no middleware, no
//! database and no drain, served by `axum::serve`. `crates/api/bench/bench.sh`
//! puts the same load on it and on `api` to price the middleware stack.
//!
//! `cargo run --release -p api --example bare_hello -- 127.0.0.1:8081`

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8081".to_owned());
    let app = Router::new().route("/", get(|| async { "Hello, World!" }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("bare_hello listening on {addr}");
    axum::serve(listener, app).await
}
