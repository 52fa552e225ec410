//! affnet use cases and the HTTP routers every host serves.

pub mod aws;
pub mod click;
pub mod click_labels;
pub mod clock;
pub mod config;
pub mod connection_test;
pub mod conversions;
pub mod error;
pub mod events;
pub mod health;
pub mod http;
pub mod iam;
pub mod integrations;
pub mod lambda_offer_sync;
pub mod leads;
pub mod offer_sync;
pub mod offers;
pub mod postback_tester;
pub mod postbacks;
pub mod reconcile;
pub mod reports;
pub mod retry;
pub mod router;
pub mod routes;
pub mod schedule;
pub mod schedule_aws;
pub mod schedule_local;
pub mod state;
pub mod telemetry;
pub mod tune_client;
pub mod update;

pub use config::Config;
pub use error::ApiError;
pub use state::AppState;
