//! affnet's domain: pure types and rules, no I/O and no async.

pub mod catalogue;
pub mod clickid;
pub mod conversion;
pub mod error;
pub mod ids;
pub mod integration;
pub mod money;
pub mod offer;
pub mod postback;
pub mod status;

pub use catalogue::{Catalogue, Network, NetworkKind};
pub use error::InputError;
pub use integration::{Integration, IntegrationView};
pub use status::Status;
