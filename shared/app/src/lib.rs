//! affnet use cases and the HTTP routers every host serves.

pub mod error;
pub mod http;
pub mod integrations;
pub mod offers;
pub mod router;
pub mod routes;
pub mod state;
pub mod telemetry;
pub mod update;

pub use error::ApiError;
pub use state::{AppState, Config};
