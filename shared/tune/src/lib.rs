//! Client for the TUNE (formerly HasOffers) API v3, JSON transport.
//!
//! * [`TuneClient`]: calls `{base}/Apiv3/json?Target=..&Method=..` with `NetworkToken=` (network
//!   mode) or `api_key=` (affiliate mode); retries transient failures; streams offer pages
//!   ([`TuneClient::offer_pages`]); lists advertiser names; generates tracking links; runs a
//!   read-only "Test Query" ([`TuneClient::call_read_only`], rule in [`readonly`]) and a
//!   connection test.
//! * [`TuneError`] / [`ErrorKind`]: failures classified for the user (DNS, TLS, timeout, bad key,
//!   wrong network id, API disabled, IP not whitelisted, rate limit...).
//! * [`guard`]: the SSRF rules for the user-supplied API domain.
//! * [`params::Params`]: PHP bracket parameters. [`envelope`]: the response envelope.
//! * [`offers::RemoteOffer`]: the neutral offer mapping (money as `Decimal`, never `f64`).
//! * `mock` (feature `mock`): a mock TUNE server and fixtures for tests.
//!
//! The API key never appears in `Debug` output, logs or error messages.

pub mod client;
pub mod config;
pub mod envelope;
pub mod error;
pub mod guard;
#[cfg(any(test, feature = "mock"))]
pub mod mock;
pub mod offers;
pub mod params;
pub mod readonly;
pub mod reports;
mod transport;

pub use client::{ConnectionInfo, DEFAULT_PAGE_LIMIT, OfferQuery, TuneClient};
pub use config::{Mode, RetryPolicy, TuneConfig};
pub use error::{ErrorKind, TuneError};
pub use offers::{OfferPage, RemoteOffer, SkippedOffer, TrackingLink};
pub use params::{Operator, Params, SortDir};
pub use reports::{ConversionRow, DateRange, Report, ReportPage, StatsRow};
