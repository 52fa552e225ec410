//! affnet storage: the item-store port, its adapters and the typed repositories.
//!
//! Test support (the conformance suite, moto-backed stores, fault and counting decorators) is
//! behind the `testing` feature: other crates enable it in their dev-dependencies only.

pub mod clicks;
#[cfg(feature = "testing")]
pub mod conformance;
#[cfg(feature = "testing")]
mod conformance_events;
#[cfg(feature = "testing")]
mod conformance_health;
#[cfg(feature = "testing")]
mod conformance_ledger;
#[cfg(feature = "testing")]
mod conformance_recon;
#[cfg(feature = "testing")]
pub mod contention;
pub mod conversions;
mod conversions_list;
#[cfg(feature = "testing")]
pub mod counting;
pub mod dynamo;
pub mod events;
#[cfg(feature = "testing")]
pub mod faults;
pub mod health;
#[cfg(feature = "testing")]
pub mod heat;
pub mod labels;
#[cfg(feature = "testing")]
pub mod lead_conformance;
pub mod leads;
pub mod ledger;
mod merge;
pub mod migrate;
pub mod offers;
pub mod port;
pub mod postback_logs;
pub mod reconcile;
pub mod repo;
pub mod reports;
pub mod retrying;
pub mod sqlite;
pub mod sync;
#[cfg(feature = "testing")]
pub mod testing;
pub mod totals;

pub use dynamo::DynamoStore;
pub use port::{Condition, Index, Item, ItemStore, Key, Page, Query, StoreError, Write};
pub use repo::{Repo, RepoError};
pub use sqlite::SqliteStore;
