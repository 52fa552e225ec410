//! Reconciliation: making the ledger agree with TUNE's own reports, and saying how it differed.
//!
//! A run reads TUNE's conversion report for a range of days (in the network's time zone), finds
//! each TUNE conversion in the ledger by identity (integration and transaction ID, else click
//! ID and goal: the postbacks' [`crate::postback::Decision::identity`]), and puts every row in
//! one [`Class`]. What it changes goes through the same conversion rules as a postback
//! ([`crate::Conversion::create`] / [`crate::Conversion::apply`]), with history source
//! [`crate::conversion::HistorySource::Reconciliation`].
//!
//! * [`row`]: a TUNE row checked and converted (decimals, currency, network time → UTC).
//! * [`classify`]: the pure comparison of a TUNE conversion with the ledger's, and the pairs
//!   of TUNE conversions for one click and goal (retry copies, rejected-and-recreated).
//! * [`stats`]: `getStats` per offer, day and currency against the ledger's figures.
//! * here: the run record and its differences.

pub mod classify;
pub mod row;
pub mod stats;

use crate::status::Status;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Errors kept in one run record; more are only counted.
pub const MAX_RUN_ERRORS: usize = 50;

/// What one TUNE conversion (or, for `only_here`, one ledger conversion) was found to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// In the ledger with TUNE's status and payout.
    Matched,
    /// At TUNE, not here: a postback that never came. Recorded.
    Missing,
    /// Another status here: applied through the status machine (never final → pending).
    StatusDiffers,
    /// The same status, another payout or currency: TUNE's wins.
    PayoutDiffers,
    /// Another TUNE conversion for the same click and goal, both live: a retry copy, counted once.
    DuplicateAtTune,
    /// A rejected TUNE conversion and a live one for the same click and goal: linked, the
    /// revenue counted once, on the live one.
    RejectedRecreated,
    /// In the ledger, not at TUNE for the range: listed, never deleted.
    OnlyHere,
    /// A TUNE row that cannot be read (no transaction and no click ID, a bad payout or date).
    BadRow,
}

impl Class {
    pub const ALL: [Class; 8] = [
        Class::Matched,
        Class::Missing,
        Class::StatusDiffers,
        Class::PayoutDiffers,
        Class::DuplicateAtTune,
        Class::RejectedRecreated,
        Class::OnlyHere,
        Class::BadRow,
    ];
}

/// Rows per class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub matched: u64,
    pub missing: u64,
    pub status_differs: u64,
    pub payout_differs: u64,
    pub duplicate_at_tune: u64,
    pub rejected_recreated: u64,
    pub only_here: u64,
    pub bad_row: u64,
}

impl Counts {
    pub fn add(&mut self, class: Class) {
        let slot = match class {
            Class::Matched => &mut self.matched,
            Class::Missing => &mut self.missing,
            Class::StatusDiffers => &mut self.status_differs,
            Class::PayoutDiffers => &mut self.payout_differs,
            Class::DuplicateAtTune => &mut self.duplicate_at_tune,
            Class::RejectedRecreated => &mut self.rejected_recreated,
            Class::OnlyHere => &mut self.only_here,
            Class::BadRow => &mut self.bad_row,
        };
        *slot += 1;
    }

    /// Rows that were not `matched`.
    pub fn differing(&self) -> u64 {
        self.missing
            + self.status_differs
            + self.payout_differs
            + self.duplicate_at_tune
            + self.rejected_recreated
            + self.only_here
            + self.bad_row
    }
}

/// What a run did about one difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Recorded in the ledger (a missing conversion).
    Created,
    /// Status and/or payout changed in the ledger.
    Changed,
    /// Only the click was attached to a so far unmatched conversion.
    Attributed,
    /// Dry run: would have been created.
    WouldCreate,
    /// Dry run: would have been changed.
    WouldChange,
    /// Left as it is (listed only, or a change the status machine refuses: a final status is
    /// never overwritten by pending).
    None,
}

/// Who started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Manual,
    Scheduled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    /// Every page of both reports was read and every row handled.
    Succeeded,
    /// Stopped early (time budget) or some rows could not be written; what was done is kept.
    Partial,
    /// A report page could not be read, or the run could not start; what was done is kept.
    Failed,
    /// Not run (inactive integration, another run of the integration in progress).
    Skipped,
}

/// One side of a difference: TUNE's figures or ours.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Side {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// TUNE's status word as sent (TUNE side only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// When it happened (TUNE: its datetime converted to UTC; ours: when it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// The network-time text TUNE sent (TUNE side only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_datetime: Option<String>,
}

/// One difference a run found, with both sides and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// Order within the run (also its place in the store).
    pub seq: u64,
    pub class: Class,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal_id: Option<String>,
    /// TUNE's offer id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_offer_id: Option<String>,
    /// The ledger's conversion (ours, created or changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_id: Option<String>,
    /// The other TUNE conversion of a pair (`duplicate_at_tune`, `rejected_recreated`), when
    /// known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tune: Option<Side>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ours: Option<Side>,
    /// Why, in words (a bad row's problem, why a change was refused...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The report page the row came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
}

/// What a run wrote to the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    pub created: u64,
    pub status_changed: u64,
    pub payout_changed: u64,
    pub attributed: u64,
}

impl Changed {
    pub fn total(&self) -> u64 {
        self.created + self.status_changed + self.payout_changed + self.attributed
    }
}

/// One problem of a run, with TUNE's own text where TUNE gave one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunIssue {
    /// Machine-readable (`timeout`, `bad_credentials`, `store`...).
    pub code: String,
    pub message: String,
}

/// A run's record, kept like the offer-sync logs (newest first per integration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconRun {
    pub id: String,
    pub integration_id: String,
    pub trigger: Trigger,
    pub status: RunStatus,
    /// `false`: a dry run, nothing written to the ledger.
    pub apply: bool,
    /// The range, inclusive days in the network's time zone.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The network's time zone the range and TUNE's dates are in.
    pub timezone: String,
    /// The same range in UTC: `[from_utc, to_utc)`.
    pub from_utc: DateTime<Utc>,
    pub to_utc: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Last progress written; a running record older than the lease belongs to a dead run.
    pub heartbeat_at: DateTime<Utc>,
    /// Report pages read (conversions and stats).
    pub pages: u32,
    /// Requests sent to TUNE, retries not included.
    pub requests: u32,
    /// Ranges split after TUNE answered 504.
    pub range_splits: u32,
    /// TUNE conversion rows read.
    pub rows: u64,
    pub counts: Counts,
    pub changed: Changed,
    /// `getStats` rows (offer, day, currency) that still differ after the run.
    pub stats_differences: u64,
    /// The first [`stats::MAX_LISTED`] of them, with both figures.
    #[serde(default)]
    pub stats: Vec<stats::StatsDifference>,
    /// Differences stored with the run (listed by `GET .../reconciliations/{run}`).
    pub differences: u64,
    /// Differences beyond the stored limit, counted only.
    pub differences_dropped: u64,
    /// The day the run stopped before, when it did not finish (the next run covers it).
    #[serde(default)]
    pub stopped_at: Option<NaiveDate>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub errors: Vec<RunIssue>,
    #[serde(default)]
    pub errors_dropped: u64,
    #[serde(skip)]
    pub version: u64,
}

/// A run's range: inclusive network-time days and the time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub tz: chrono_tz::Tz,
}

impl RunRange {
    /// `[from 00:00, to + 1 day 00:00)` network time, in UTC.
    pub fn utc(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let start =
            |day: NaiveDate| row::network_to_utc(day.and_time(chrono::NaiveTime::MIN), self.tz);
        (start(self.from), start(self.to + chrono::Duration::days(1)))
    }
}

impl ReconRun {
    pub fn start(
        id: String,
        integration_id: &str,
        trigger: Trigger,
        apply: bool,
        range: RunRange,
        now: DateTime<Utc>,
    ) -> ReconRun {
        let (from_utc, to_utc) = range.utc();
        ReconRun {
            id,
            integration_id: integration_id.to_string(),
            trigger,
            status: RunStatus::Running,
            apply,
            from: range.from,
            to: range.to,
            timezone: range.tz.name().to_string(),
            from_utc,
            to_utc,
            started_at: now,
            finished_at: None,
            heartbeat_at: now,
            pages: 0,
            requests: 0,
            range_splits: 0,
            rows: 0,
            counts: Counts::default(),
            changed: Changed::default(),
            stats_differences: 0,
            stats: Vec::new(),
            differences: 0,
            differences_dropped: 0,
            stopped_at: None,
            message: None,
            errors: Vec::new(),
            errors_dropped: 0,
            version: 0,
        }
    }

    /// Records a problem, keeping at most [`MAX_RUN_ERRORS`].
    pub fn push_error(&mut self, code: &str, message: &str) {
        if self.errors.len() >= MAX_RUN_ERRORS {
            self.errors_dropped += 1;
            return;
        }
        self.errors.push(RunIssue {
            code: code.to_string(),
            message: message.chars().take(500).collect(),
        });
    }

    /// Marks the run failed; the first failure is also the summary.
    pub fn fail(&mut self, code: &str, message: &str) {
        self.status = RunStatus::Failed;
        self.push_error(code, message);
        if self.message.is_none() {
            self.message = Some(message.chars().take(500).collect());
        }
    }

    /// The status to show: a `running` record whose heartbeat is older than `stale_after`
    /// belongs to a run that died, and reads as failed.
    pub fn shown_status(&self, now: DateTime<Utc>, stale_after: std::time::Duration) -> RunStatus {
        let stale = chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::MAX);
        if self.status == RunStatus::Running && now - self.heartbeat_at > stale {
            RunStatus::Failed
        } else {
            self.status
        }
    }

    /// A one-line summary for people.
    pub fn summary(&self) -> String {
        let c = &self.counts;
        let ch = &self.changed;
        format!(
            "{} TUNE conversion(s) on {} page(s), {}..{} ({}): {} matched, {} missing, {} status differs, {} payout differs, {} duplicate at TUNE, {} rejected and recreated, {} only here, {} bad rows; {} ({} created, {} status changed, {} payout changed, {} attributed); {} stats row(s) still differ",
            self.rows,
            self.pages,
            self.from,
            self.to,
            self.timezone,
            c.matched,
            c.missing,
            c.status_differs,
            c.payout_differs,
            c.duplicate_at_tune,
            c.rejected_recreated,
            c.only_here,
            c.bad_row,
            if self.apply {
                "applied"
            } else {
                "dry run, nothing written"
            },
            ch.created,
            ch.status_changed,
            ch.payout_changed,
            ch.attributed,
            self.stats_differences,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_utc_range_follows_the_network_zone() {
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let range = RunRange {
            from: day("2026-11-02"),
            to: day("2026-11-02"),
            tz: chrono_tz::America::New_York,
        };
        let (from, to) = range.utc();
        assert_eq!(from.to_rfc3339(), "2026-11-02T05:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-11-03T05:00:00+00:00");
        // Across the end of daylight saving time (2026-11-01 in New York): a 25-hour day.
        let range = RunRange {
            from: day("2026-11-01"),
            to: day("2026-11-01"),
            tz: chrono_tz::America::New_York,
        };
        let (from, to) = range.utc();
        assert_eq!((to - from).num_hours(), 25);
    }

    #[test]
    fn counts_add_by_class() {
        let mut c = Counts::default();
        for class in Class::ALL {
            c.add(class);
        }
        c.add(Class::Missing);
        assert_eq!((c.matched, c.missing, c.differing()), (1, 2, 8));
        let json = serde_json::to_value(Class::DuplicateAtTune).unwrap();
        assert_eq!(json, "duplicate_at_tune");
    }
}
