//! The workspace's own commands, reached as `cargo xtask …` (see
//! `.cargo/config.toml`). A library as well as a binary so that its tests
//! can drive the PostgreSQL handling directly.

pub mod children;
pub mod ci;
pub mod dev;
pub mod drill;
pub mod image;
pub mod new;
pub mod pg;
pub mod test;
pub mod upgrade;
pub mod with_db;
pub mod workspace;
