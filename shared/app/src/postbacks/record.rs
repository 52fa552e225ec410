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
//!
//! A CPA postback naming the order by `eid` lands on the conversion a sent lead made for that
//! order (`affnet_core::lead::twin`): its batch checks that neither its id nor (with our click
//! ID) its click's lead alias is an alias of a lead's conversion; only when a check fails does it
//! read which.

use crate::retry;
use crate::state::AppState;
use affnet_core::conversion::{Applied, ChangeKind, NoOp};
use affnet_core::lead::twin::{is_lead_twin, postback_click_alias};
use affnet_core::postback::{Decision, IdentitySource};
use affnet_core::{Conversion, Integration, PostbackLog};
use affnet_store::RepoError;
use affnet_store::conversions::{ConversionWrite, OtherNames};
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
    log: PostbackLog,
    now: DateTime<Utc>,
) -> Result<Recorded, RepoError> {
    let currency = integration.postback_currency(decision);
    let job = Job {
        state,
        decision,
        log,
        log_expiry: now.timestamp() + i64::from(state.config.postback_log_ttl_days) * 86_400,
        click_ttl_secs: i64::from(state.config.click_ttl_days) * 86_400,
        currency,
        now,
    };
    let created = Conversion::create(
        &integration.id,
        &integration.network,
        decision,
        currency,
        now,
    );
    // A CPA postback may name a sent lead's order by another name than its conversion's: by
    // `eid` when the conversion is keyed by our click ID, by `oid` only when the lead adopted
    // a conversion keyed by `eid` (see `affnet_core::lead::twin`). Its create checks, in its
    // batch, that its id is no alias.
    let may_be_alias = !integration.is_tune();
    let click_alias = (decision.identity_source == IdentitySource::Transaction)
        .then(|| postback_click_alias(&integration.id, decision))
        .flatten();
    job.store(&created, may_be_alias, click_alias.as_deref())
        .await
}

/// One postback being recorded.
struct Job<'a> {
    state: &'a AppState,
    decision: &'a Decision,
    log: PostbackLog,
    log_expiry: i64,
    click_ttl_secs: i64,
    currency: Option<&'a str>,
    now: DateTime<Utc>,
}

impl Job<'_> {
    /// Creates `created`, or applies the decision to the conversion it names: its own, or
    /// (`may_be_alias`) the lead's conversion its id or its click's lead alias leads to.
    async fn store(
        &self,
        created: &Conversion,
        may_be_alias: bool,
        click_alias: Option<&str>,
    ) -> Result<Recorded, RepoError> {
        let own_and_click: Vec<&str> = std::iter::once(created.id.as_str())
            .chain(click_alias)
            .collect();
        let checked = |all: bool| match (may_be_alias, all) {
            (false, _) => &[][..],
            (true, true) => &own_and_click[..],
            (true, false) => &own_and_click[..1],
        };
        let names = |all| OtherNames {
            aliases_absent: checked(all),
            ..OtherNames::default()
        };
        if let Some(recorded) = self.create(created, names(true)).await? {
            return Ok(recorded);
        }
        if let Some(recorded) = self.existing(&created.id, may_be_alias).await? {
            return Ok(recorded);
        }
        if let Some(alias) = click_alias
            && let Some(lead_conversion) = self.state.repo.conversion_alias(alias).await?
            && let Some(recorded) = self.known(&lead_conversion, true).await?
        {
            return Ok(recorded);
        }
        // The click's lead made another order (or none was found): this order is new.
        if let Some(recorded) = self.create(created, names(false)).await? {
            return Ok(recorded);
        }
        self.existing(&created.id, may_be_alias)
            .await?
            .ok_or_else(|| {
                RepoError::Store(affnet_store::StoreError::Unavailable(format!(
                    "conversion {} was reported present but cannot be read",
                    created.id
                )))
            })
    }

    fn logged(&self, outcome: RecordOutcome, conversion_id: &str) -> PostbackLog {
        PostbackLog {
            outcome: outcome.as_str().to_string(),
            conversion_id: Some(conversion_id.to_string()),
            ..self.log.clone()
        }
    }

    fn with<'l>(&self, log: &'l PostbackLog, names: OtherNames<'l>) -> ConversionWrite<'l> {
        ConversionWrite {
            sync: true,
            along: &[],
            postback_log: Some((log, self.log_expiry)),
            click_ttl_secs: self.click_ttl_secs,
            names,
        }
    }

    fn done(&self, conversion: Conversion, outcome: RecordOutcome) -> Recorded {
        Recorded {
            conversion,
            outcome,
            unsubstituted: self.decision.unsubstituted.clone(),
        }
    }

    /// The new conversion; `None` when its id (or another name) is taken: nothing was written.
    async fn create(
        &self,
        created: &Conversion,
        names: OtherNames<'_>,
    ) -> Result<Option<Recorded>, RepoError> {
        let log = self.logged(RecordOutcome::Created, &created.id);
        match self
            .state
            .repo
            .create_conversion(created, self.with(&log, names))
            .await
        {
            Ok(stored) => Ok(Some(self.done(stored, RecordOutcome::Created))),
            Err(RepoError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The conversion stored under `id`, or (`may_be_alias`) the lead's conversion `id` is an alias
    /// of, with the decision applied; `None` when neither is there.
    async fn existing(&self, id: &str, may_be_alias: bool) -> Result<Option<Recorded>, RepoError> {
        if let Some(recorded) = self.known(id, false).await? {
            return Ok(Some(recorded));
        }
        match may_be_alias {
            true => match self.state.repo.conversion_alias(id).await? {
                Some(lead_conversion) => self.known(&lead_conversion, false).await,
                None => Ok(None),
            },
            false => Ok(None),
        }
    }

    /// Known conversion `id`: read it, apply the decision, write the change on its version.
    /// `None` when it is not there (or, with `lead_twin`, is not the lead's twin).
    async fn known(&self, id: &str, lead_twin: bool) -> Result<Option<Recorded>, RepoError> {
        retry::on_conflict(|| async {
            let Some(current) = self.state.repo.get_conversion(id).await? else {
                return Ok(None);
            };
            if lead_twin && !is_lead_twin(&current, self.decision) {
                return Ok(None);
            }
            let (next, outcome) = match current.apply(self.decision, self.currency, self.now) {
                Applied::Unchanged(noop) => {
                    let outcome = match noop {
                        NoOp::Duplicate => RecordOutcome::Duplicate,
                        NoOp::Stale => RecordOutcome::Stale,
                    };
                    let log = self.logged(outcome, id);
                    self.state
                        .repo
                        .put_postback_log(&log, self.log_expiry, !current.matched)
                        .await?;
                    return Ok(Some(self.done(current, outcome)));
                }
                Applied::Changed(next, kind) => (next, RecordOutcome::Changed(kind)),
                Applied::Attributed(next) => (next, RecordOutcome::Attributed),
            };
            let log = self.logged(outcome, id);
            let stored = self
                .state
                .repo
                .change_conversion(&current, &next, self.with(&log, OtherNames::default()))
                .await?;
            Ok(Some(self.done(stored, outcome)))
        })
        .await
    }
}
