//! affnet's domain: pure types and rules, no I/O and no async.

pub mod base_url;
pub mod catalogue;
pub mod click;
pub mod clickid;
pub mod conversion;
pub mod error;
pub mod event;
pub mod health;
pub mod ids;
pub mod integration;
pub mod lead;
pub mod money;
pub mod offer;
pub mod postback;
pub mod postback_log;
pub mod reconcile;
pub mod settings;
pub mod status;
pub mod sync_log;

pub use catalogue::{Catalogue, Network, NetworkKind};
pub use click::Click;
pub use conversion::{Attribution, Conversion};
pub use error::InputError;
pub use event::{Event, EventType};
pub use integration::{Integration, IntegrationView};
pub use postback_log::PostbackLog;
pub use status::Status;
pub use sync_log::{SyncLease, SyncLog, SyncStatus, SyncTrigger};
