//! The `data` of each event kind: ids and figures only, never a credential, a postback token or
//! a visitor's data (the conversion's comment, sub values and click details stay out).

use crate::conversion::{ChangeKind, Conversion, HistoryEntry, HistorySource};
use crate::reconcile::{Changed, Counts, ReconRun, RunStatus, Trigger};
use crate::status::Status;
use crate::sync_log::{SyncCounts, SyncLog, SyncStatus, SyncTrigger};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What made a conversion change: a network's postback, a reconciliation run that read the
/// network's reports, a lead sent to the network, or a status loaded from the network's lead
/// API (`api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeSource {
    Postback,
    Api,
    Reconciliation,
    Lead,
}

impl From<HistorySource> for ChangeSource {
    fn from(source: HistorySource) -> ChangeSource {
        match source {
            HistorySource::Postback => ChangeSource::Postback,
            HistorySource::Reconciliation => ChangeSource::Reconciliation,
            HistorySource::Lead => ChangeSource::Lead,
            HistorySource::Api => ChangeSource::Api,
        }
    }
}

/// Whom an event is about; every event's `data` has these four keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub integration_id: String,
    pub offer_id: Option<String>,
    pub message_id: Option<String>,
    pub creative_id: Option<String>,
}

impl Subject {
    fn integration(id: &str) -> Subject {
        Subject {
            integration_id: id.to_string(),
            offer_id: None,
            message_id: None,
            creative_id: None,
        }
    }
}

/// What every conversion event says of the conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionFacts {
    #[serde(flatten)]
    pub subject: Subject,
    pub conversion_id: String,
    pub network: String,
    /// The network's id of the conversion.
    pub transaction_id: Option<String>,
    pub goal_id: Option<String>,
    /// Whether the click ID verified as ours (offer, message, creative known).
    pub matched: bool,
    /// A network's test conversion: never counted in totals.
    pub test: bool,
}

impl ConversionFacts {
    pub fn of(c: &Conversion) -> ConversionFacts {
        ConversionFacts {
            subject: Subject {
                integration_id: c.integration_id.clone(),
                offer_id: c.offer_id.clone(),
                message_id: c.message_id.clone(),
                creative_id: c.creative_id.clone(),
            },
            conversion_id: c.id.clone(),
            network: c.network.clone(),
            transaction_id: c.transaction_id.clone(),
            goal_id: c.goal_id.clone(),
            matched: c.matched,
            test: c.test,
        }
    }
}

/// `conversion.recorded`: a new conversion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversionRecorded {
    #[serde(flatten)]
    pub conversion: ConversionFacts,
    pub status: Status,
    pub payout: Option<Decimal>,
    pub currency: Option<String>,
    pub source: ChangeSource,
    pub created_at: DateTime<Utc>,
}

impl ConversionRecorded {
    pub fn new(facts: ConversionFacts, c: &Conversion, source: ChangeSource) -> Self {
        ConversionRecorded {
            conversion: facts,
            status: c.status,
            payout: c.payout,
            currency: c.currency.clone(),
            source,
            created_at: c.created_at,
        }
    }
}

/// `conversion.status_changed`: the status or the payout changed (`change` says how; for
/// `payout`, the two statuses are the same).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversionStatusChanged {
    #[serde(flatten)]
    pub conversion: ConversionFacts,
    pub old_status: Option<Status>,
    pub new_status: Status,
    pub old_payout: Option<Decimal>,
    pub new_payout: Option<Decimal>,
    pub old_currency: Option<String>,
    pub currency: Option<String>,
    /// `progress`, `reversal`, `correction`, `reclassified` or `payout`.
    pub change: ChangeKind,
    pub source: ChangeSource,
}

impl ConversionStatusChanged {
    pub fn new(facts: ConversionFacts, entry: &HistoryEntry) -> Self {
        ConversionStatusChanged {
            conversion: facts,
            old_status: entry.from,
            new_status: entry.to,
            old_payout: entry.payout_before,
            new_payout: entry.payout_after,
            old_currency: entry.currency_before.clone(),
            currency: entry.currency_after.clone(),
            change: entry.kind,
            source: entry.source.into(),
        }
    }
}

/// `conversion.attributed`: a conversion recorded without a verified click got one; it now
/// counts for the offer, message and creative given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversionAttributed {
    #[serde(flatten)]
    pub conversion: ConversionFacts,
    pub status: Status,
    pub payout: Option<Decimal>,
    pub currency: Option<String>,
}

impl ConversionAttributed {
    pub fn new(facts: ConversionFacts, c: &Conversion) -> Self {
        ConversionAttributed {
            conversion: facts,
            status: c.status,
            payout: c.payout,
            currency: c.currency.clone(),
        }
    }
}

/// `offer_sync.finished`: a sync run ended (or was skipped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferSyncFinished {
    #[serde(flatten)]
    pub subject: Subject,
    pub run_id: String,
    pub trigger: SyncTrigger,
    pub status: SyncStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub counts: SyncCounts,
    pub pages_fetched: u32,
    /// Problems recorded (the run's log lists them: `GET /integrations/{id}/sync-logs`).
    pub errors: u64,
}

impl OfferSyncFinished {
    pub fn of(log: &SyncLog) -> Self {
        OfferSyncFinished {
            subject: Subject::integration(&log.integration_id),
            run_id: log.id.clone(),
            trigger: log.trigger,
            status: log.status,
            started_at: log.started_at,
            finished_at: log.finished_at,
            counts: log.counts.clone(),
            pages_fetched: log.pages_fetched,
            errors: log.errors.len() as u64 + log.errors_dropped,
        }
    }
}

/// `reconciliation.finished`: a reconciliation run ended (or was skipped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconciliationFinished {
    #[serde(flatten)]
    pub subject: Subject,
    pub run_id: String,
    pub trigger: Trigger,
    pub status: RunStatus,
    /// `false`: a dry run, the ledger unchanged.
    pub apply: bool,
    /// The range, inclusive days in `timezone`.
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub timezone: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// TUNE conversion rows read.
    pub rows: u64,
    pub counts: Counts,
    pub changed: Changed,
    pub stats_differences: u64,
    pub errors: u64,
}

impl ReconciliationFinished {
    pub fn of(run: &ReconRun) -> Self {
        ReconciliationFinished {
            subject: Subject::integration(&run.integration_id),
            run_id: run.id.clone(),
            trigger: run.trigger,
            status: run.status,
            apply: run.apply,
            from: run.from,
            to: run.to,
            timezone: run.timezone.clone(),
            started_at: run.started_at,
            finished_at: run.finished_at,
            rows: run.rows,
            counts: run.counts.clone(),
            changed: run.changed.clone(),
            stats_differences: run.stats_differences,
            errors: run.errors.len() as u64 + run.errors_dropped,
        }
    }
}
