//! Test support shared by the services' integration tests. Tests here run
//! real binaries and send them real signals; nothing is mocked.

mod db;
pub mod otlp;
mod process;

pub use db::TestDb;
pub use process::{Service, free_addr};
