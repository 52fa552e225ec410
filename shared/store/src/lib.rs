//! affnet storage: the item-store port, its adapters and the typed repositories.

pub mod clicks;
pub mod conformance;
pub mod conversions;
pub mod counting;
pub mod dynamo;
pub mod faults;
pub mod offers;
pub mod port;
pub mod postback_logs;
pub mod repo;
pub mod reports;
pub mod sqlite;
pub mod sync;
pub mod testing;
pub mod totals;

pub use dynamo::DynamoStore;
pub use port::{Condition, Index, Item, ItemStore, Key, Page, Query, StoreError, Write};
pub use repo::{Repo, RepoError};
pub use sqlite::SqliteStore;
