//! Serving HTTP: the middleware stack, per-request drain tracking, and the
//! connection loop that the shutdown phases drive.

pub mod connections;
pub mod layers;
pub mod requests;
pub mod server;
pub mod timeout;

pub use connections::ConnectionLimits;
pub use layers::Limits;
pub use requests::RequestTracker;
pub use server::Server;
