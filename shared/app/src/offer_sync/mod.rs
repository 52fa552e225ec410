//! Offer sync from TUNE: by hand (`POST /integrations/{id}/sync`) and on schedules.
//!
//! * [`mapping`]: TUNE offer → affnet offer (the field table in its module docs, also the
//!   README's "What syncs") and the change fingerprint.
//! * [`run`]: one run: lease, streamed pages, writes only for changes, vanished offers paused.
//! * `write`: the writes of one offer (create, update on change, pause).
//! * [`scheduled`]: what a schedule's invocation does with an integration id.
//! * [`api`]: the HTTP routes.

pub mod api;
pub mod mapping;
pub mod run;
pub mod scheduled;
mod write;

pub use api::{remote_offers, sync_logs, sync_now};
pub use run::{RunError, SyncRequest, run_sync};
pub use scheduled::run_scheduled;
