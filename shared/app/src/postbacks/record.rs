//! Recording a postback: the conversion, its totals and the postback's log entry in one atomic
//! batch, exactly once however often and however concurrently the network delivers it.
//!
//! - **New conversion** (the common case): one batch of `Put conversion (absent)` + the totals
//!   `Add`s + the log entry. On DynamoDB that is one `TransactWriteItems`: one request.
//! - **Known conversion** (the put found the id taken): read it, apply the decision
//!   ([`Conversion::apply`]: the status machine and late attribution), then write the change on
//!   the read version with its totals moved ([`affnet_store::Repo::change_conversion`]); a
//!   version conflict (a concurrent change) reads again under the one retry policy
//!   ([`crate::retry`]). A duplicate or stale postback writes its log entry only.
//!
//! The id is derived from the identity key, so concurrent deliveries race on one item and the
//! store's condition picks exactly one winner; totals move only with a winning write.
//!
//! Attribution needs no read of the click: the click ID is signed and carries offer, message,
//! creative and time, so a postback that races ahead of the click write (or whose click record
//! has expired) is still attributed. A click ID that does not verify (or none) leaves the
//! conversion **unmatched**: kept, counted in the day's totals only. If a later postback for the
//! same identity carries a verified click, the conversion is attributed then and its counts move
//! to the offer, message, creative and click totals in the same batch.

use crate::retry;
use crate::state::AppState;
use affnet_core::conversion::{Applied, ChangeKind, NoOp};
use affnet_core::postback::Decision;
use affnet_core::{Conversion, Integration, PostbackLog};
use affnet_store::RepoError;
use affnet_store::conversions::ConversionWrite;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    Created,
    /// Status or payout changed.
    Changed(ChangeKind),
    /// Only the click was attached to a so far unmatched conversion.
    Attributed,
    Duplicate,
    Stale,
}

impl RecordOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordOutcome::Created => "created",
            RecordOutcome::Changed(_) => "changed",
            RecordOutcome::Attributed => "attributed",
            RecordOutcome::Duplicate => "duplicate",
            RecordOutcome::Stale => "stale",
        }
    }
}

pub struct Recorded {
    pub conversion: Conversion,
    pub outcome: RecordOutcome,
    /// Parameters ignored because the network left its macro in place.
    pub unsubstituted: Vec<&'static str>,
}

/// Records `decision` for `integration`, with `log` (its outcome and conversion id are filled
/// here) in the same batch. Errors are storage failures: nothing of this postback was stored.
pub async fn record(
    state: &AppState,
    integration: &Integration,
    decision: &Decision,
    mut log: PostbackLog,
    now: DateTime<Utc>,
) -> Result<Recorded, RepoError> {
    let log_expiry = now.timestamp() + i64::from(state.config.postback_log_ttl_days) * 86_400;
    let click_ttl_secs = i64::from(state.config.click_ttl_days) * 86_400;
    let currency = integration.postback_currency(decision);
    let created = Conversion::create(
        &integration.id,
        &integration.network,
        decision,
        currency,
        now,
    );
    log.conversion_id = Some(created.id.clone());
    let logged = |outcome: RecordOutcome| PostbackLog {
        outcome: outcome.as_str().to_string(),
        ..log.clone()
    };
    fn with(log: &PostbackLog, expires_at: i64, click_ttl_secs: i64) -> ConversionWrite<'_> {
        ConversionWrite {
            postback_log: Some((log, expires_at)),
            click_ttl_secs,
        }
    }
    let done = |conversion, outcome| Recorded {
        conversion,
        outcome,
        unsubstituted: decision.unsubstituted.clone(),
    };

    let log_created = logged(RecordOutcome::Created);
    match state
        .repo
        .create_conversion(&created, with(&log_created, log_expiry, click_ttl_secs))
        .await
    {
        Ok(stored) => return Ok(done(stored, RecordOutcome::Created)),
        Err(RepoError::Conflict) => {}
        Err(e) => return Err(e),
    }
    // Known conversion: read it, apply the decision, write the change on its version.
    retry::on_conflict(|| async {
        let Some(current) = state.repo.get_conversion(&created.id).await? else {
            return Err(RepoError::Store(affnet_store::StoreError::Unavailable(
                format!(
                    "conversion {} was reported present but cannot be read",
                    created.id
                ),
            )));
        };
        let (next, outcome) = match current.apply(decision, currency, now) {
            Applied::Unchanged(noop) => {
                let outcome = match noop {
                    NoOp::Duplicate => RecordOutcome::Duplicate,
                    NoOp::Stale => RecordOutcome::Stale,
                };
                state
                    .repo
                    .put_postback_log(&logged(outcome), log_expiry)
                    .await?;
                return Ok(done(current, outcome));
            }
            Applied::Changed(next, kind) => (next, RecordOutcome::Changed(kind)),
            Applied::Attributed(next) => (next, RecordOutcome::Attributed),
        };
        let log = logged(outcome);
        let stored = state
            .repo
            .change_conversion(&current, &next, with(&log, log_expiry, click_ttl_secs))
            .await?;
        Ok(done(stored, outcome))
    })
    .await
}
