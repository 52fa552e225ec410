//! Reconciliation with TUNE's reports (issue #11): by hand (`POST /integrations/{id}/reconcile`)
//! and on a daily schedule.
//!
//! * [`run`]: one run: the lease (shared with offer sync), the conversion report streamed and
//!   each row classified, the stats report, the ledger's side, the record.
//! * [`ledger`]: one TUNE conversion against the ledger, written through the postbacks' own
//!   repository writes and conversion rules.
//! * [`scheduled`]: what a schedule's invocation does with an integration id.
//! * [`api`]: the HTTP routes.
//!
//! The classification itself is pure and lives in [`affnet_core::reconcile`].

pub mod api;
pub mod ledger;
pub mod run;
pub mod scheduled;

pub use api::{get_run, list_runs, reconcile_now};
pub use run::{RunError, RunRequest, run_reconcile};
pub use scheduled::run_scheduled_reconcile;
