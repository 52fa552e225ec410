//! Offer-sync runs: the log of one run, and the lease that keeps two runs of one integration
//! from overlapping.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Errors kept in one log; more are only counted (keeps the item far below DynamoDB's 400 KB).
pub const MAX_LOG_ERRORS: usize = 50;
/// Longest error text kept.
const MAX_ERROR_LEN: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncTrigger {
    Manual,
    Scheduled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    Running,
    /// Every page was read and every offer handled.
    Succeeded,
    /// Stopped early (time budget) or some offers could not be imported; what was done is kept.
    Partial,
    /// A page could not be fetched, or the run could not start; what was done is kept.
    Failed,
    /// Not run (inactive integration, another run in progress).
    Skipped,
}

/// What a run did with the offers it saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCounts {
    /// Offer rows read from TUNE.
    pub seen: u64,
    pub created: u64,
    pub updated: u64,
    /// Read and found equal to what is stored: nothing written.
    pub unchanged: u64,
    /// Set to paused: paused at TUNE, or gone from TUNE.
    pub paused: u64,
    /// Not active at TUNE and never imported: left alone.
    pub not_imported: u64,
    /// Rows that could not be mapped or written (see `errors`).
    pub skipped: u64,
}

/// One problem of a run, with TUNE's own text where TUNE gave one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncIssue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    /// Machine-readable (`timeout`, `bad_credentials`, `invalid_offer`, `store`...).
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncLog {
    pub id: String,
    pub integration_id: String,
    pub trigger: SyncTrigger,
    pub status: SyncStatus,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Last time a running run wrote progress; a running log whose heartbeat is older than the
    /// lease was abandoned (the process died).
    pub heartbeat_at: DateTime<Utc>,
    /// Offer ids asked for (`None`: every offer).
    #[serde(default)]
    pub offer_ids: Option<Vec<String>>,
    pub counts: SyncCounts,
    pub pages_fetched: u32,
    /// Pages TUNE reported, once known.
    #[serde(default)]
    pub page_count: Option<u32>,
    /// The page the run stopped at when it did not finish.
    #[serde(default)]
    pub stopped_at_page: Option<u32>,
    /// A one-line summary for people.
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub errors: Vec<SyncIssue>,
    /// Errors beyond [`MAX_LOG_ERRORS`], counted only.
    #[serde(default)]
    pub errors_dropped: u64,
    #[serde(skip)]
    pub version: u64,
}

impl SyncLog {
    pub fn start(
        id: String,
        integration_id: &str,
        trigger: SyncTrigger,
        offer_ids: Option<Vec<String>>,
        now: DateTime<Utc>,
    ) -> SyncLog {
        SyncLog {
            id,
            integration_id: integration_id.to_string(),
            trigger,
            status: SyncStatus::Running,
            started_at: now,
            finished_at: None,
            heartbeat_at: now,
            offer_ids,
            counts: SyncCounts::default(),
            pages_fetched: 0,
            page_count: None,
            stopped_at_page: None,
            message: None,
            errors: Vec::new(),
            errors_dropped: 0,
            version: 0,
        }
    }

    /// Records a problem, keeping at most [`MAX_LOG_ERRORS`].
    pub fn push_error(
        &mut self,
        page: Option<u32>,
        remote_id: Option<&str>,
        code: &str,
        message: &str,
    ) {
        if self.errors.len() >= MAX_LOG_ERRORS {
            self.errors_dropped += 1;
            return;
        }
        self.errors.push(SyncIssue {
            page,
            remote_id: remote_id.map(str::to_string),
            code: code.to_string(),
            message: message.chars().take(MAX_ERROR_LEN).collect(),
        });
    }

    /// The status to show: a `running` log whose heartbeat is older than `stale_after` belongs
    /// to a run that died, and reads as failed.
    pub fn shown_status(&self, now: DateTime<Utc>, stale_after: Duration) -> SyncStatus {
        let stale = chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::MAX);
        if self.status == SyncStatus::Running && now - self.heartbeat_at > stale {
            SyncStatus::Failed
        } else {
            self.status
        }
    }
}

/// Proof that this run holds the integration's sync lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncLease {
    pub integration_id: String,
    pub run_id: String,
    pub version: u64,
    /// Unix seconds.
    pub expires_at: i64,
}
