//! Test support shared by the services' integration tests. Tests here run
//! real binaries and send them real signals; nothing is mocked.

mod db;
pub mod otlp;
mod process;
pub mod report;
mod settings_doc;

pub use db::TestDb;
pub use process::{ANY_PORT, Service, bound_addr, free_addr, workspace_binary};
pub use settings_doc::settings_missing_from_doc;
