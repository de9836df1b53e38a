//! Test support shared by the services' integration tests. Tests here run
//! real binaries and send them real signals; nothing is mocked.

mod db;
pub mod otlp;
mod process;
mod prometheus;
pub mod report;
mod settings_doc;
mod tcp_proxy;

pub use db::{TestDb, count, enqueue, enqueued, wait_until};

/// The repository's root, where `migrations/`, `deploy/` and the docs live:
/// the one way the tests find it (`xtask::workspace::root` is the tools').
pub fn repo_root() -> &'static std::path::Path {
    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}
pub use process::{ANY_PORT, Service, bound_addr, free_addr, workspace_binary};
pub use prometheus::sample;
pub use settings_doc::settings_missing_from_doc;
pub use tcp_proxy::TcpProxy;
