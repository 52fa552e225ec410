//! One TUNE conversion against the ledger: find it by identity, classify it, and (unless a dry
//! run) record or change it through the same repository writes and conversion rules as a
//! postback ([`Repo::create_conversion`] / [`Repo::change_conversion`], the status machine),
//! with history source `reconciliation`. A write that lost a race with a postback reads again
//! under the one retry policy ([`crate::retry`]).

use crate::retry;
use crate::state::AppState;
use affnet_core::conversion::{Applied, ChangeKind, HistorySource, NoOp, conversion_id};
use affnet_core::postback::Decision;
use affnet_core::reconcile::classify::{Pairing, Pairs, compare, pairing};
use affnet_core::reconcile::row::{RawConversion, TuneConversion};
use affnet_core::reconcile::{Action, Changed, Class, Difference, Side};
use affnet_core::{Conversion, Integration, Network, Status};
use affnet_store::RepoError;
use affnet_store::conversions::ConversionWrite;
use affnet_tune::ConversionRow;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// What one row came to.
pub struct Handled {
    pub class: Class,
    /// `None` for a plain match (nothing to list).
    pub difference: Option<Difference>,
    /// The ledger conversion TUNE reported (for `only_here`), if there is one now.
    pub seen: Option<String>,
    /// What was written to the ledger.
    pub changed: Changed,
}

/// What the rows of one run share; cheap to clone (each row's work owns one).
#[derive(Clone)]
pub struct Ledger {
    pub state: AppState,
    pub integration: Arc<Integration>,
    pub network: &'static Network,
    pub tz: chrono_tz::Tz,
    pub apply: bool,
    pub now: DateTime<Utc>,
}

fn raw(row: &ConversionRow) -> RawConversion<'_> {
    RawConversion {
        ad_id: row.ad_id.as_deref(),
        tune_event_id: row.tune_event_id.as_deref(),
        click_id: row.click_id.as_deref(),
        offer_id: row.offer_id.as_deref(),
        goal_id: row.goal_id.as_deref(),
        status: row.status.as_deref(),
        payout: row.payout.as_deref(),
        currency: row.currency.as_deref(),
        sale_amount: row.sale_amount.as_deref(),
        datetime: row.datetime.as_deref(),
    }
}

pub(super) fn tune_side(tune: &TuneConversion, currency: Option<&str>) -> Side {
    Side {
        status: Some(tune.status),
        raw_status: Some(tune.raw_status.clone()),
        payout: tune.payout,
        currency: currency.map(str::to_string),
        at: Some(tune.at),
        local_datetime: Some(tune.local.format("%Y-%m-%d %H:%M:%S").to_string()),
    }
}

pub fn our_side(c: &Conversion) -> Side {
    Side {
        status: Some(c.status),
        raw_status: None,
        payout: c.payout,
        currency: c.currency.clone(),
        at: Some(c.created_at),
        local_datetime: None,
    }
}

pub(super) fn difference(class: Class, action: Action, tune: &TuneConversion) -> Difference {
    Difference {
        seq: 0,
        class,
        action,
        transaction_id: tune.transaction_id.clone(),
        click_id: tune.click_id.clone(),
        goal_id: tune.goal_id.clone(),
        remote_offer_id: tune.remote_offer_id.clone(),
        conversion_id: None,
        linked_transaction_id: None,
        tune: None,
        ours: None,
        note: None,
        page: None,
    }
}

/// A row that cannot be read: listed with what TUNE sent, nothing changed.
fn bad_row(row: &ConversionRow, note: String) -> Handled {
    Handled {
        class: Class::BadRow,
        difference: Some(Difference {
            seq: 0,
            class: Class::BadRow,
            action: Action::None,
            transaction_id: row.ad_id.clone(),
            click_id: row.click_id.clone(),
            goal_id: row.goal_id.clone(),
            remote_offer_id: row.offer_id.clone(),
            conversion_id: None,
            linked_transaction_id: None,
            tune: Some(Side {
                raw_status: row.status.clone(),
                currency: row.currency.clone(),
                local_datetime: row.datetime.clone(),
                ..Side::default()
            }),
            ours: None,
            note: Some(note),
            page: None,
        }),
        seen: None,
        changed: Changed::default(),
    }
}

/// The ledger's conversion for a decision; `ours` is its current state.
struct Found {
    ours: Option<Conversion>,
}

/// A row read and paired, in the order TUNE sent it; the ledger part comes next.
pub enum Prepared {
    Bad(Box<Handled>),
    Row {
        tune: Box<TuneConversion>,
        decision: Box<Decision>,
        pairing: Option<Pairing>,
    },
}

impl Prepared {
    /// The TUNE conversion of a row that could be read.
    pub fn tune(&self) -> Option<&TuneConversion> {
        match self {
            Prepared::Row { tune, .. } => Some(tune),
            Prepared::Bad(_) => None,
        }
    }
}

impl Ledger {
    /// Reads one TUNE row and pairs it with the earlier ones (in TUNE's order, so the first
    /// copy of a conversion is the one counted).
    pub fn prepare(&self, row: &ConversionRow, pairs: &mut Pairs) -> Prepared {
        let tune = match TuneConversion::read(&raw(row), self.tz) {
            Ok(tune) => tune,
            Err(reason) => return Prepared::Bad(Box::new(bad_row(row, reason))),
        };
        let key = &self.state.config.click_key;
        let decision = match tune.decision(self.network, &self.integration.id, key) {
            Ok(d) => d,
            Err(e) => return Prepared::Bad(Box::new(bad_row(row, e.to_string()))),
        };
        let pairing = pairs.observe(&tune);
        Prepared::Row {
            tune: Box::new(tune),
            decision: Box::new(decision),
            pairing,
        }
    }

    /// Classifies a prepared row against the ledger and, when applying, makes the ledger agree
    /// with it.
    pub async fn settle(&self, prepared: Prepared) -> Result<Handled, RepoError> {
        match prepared {
            Prepared::Bad(handled) => Ok(*handled),
            Prepared::Row {
                tune,
                mut decision,
                pairing,
            } => {
                // Message and creative of a format-2 click ID live in its labels item.
                crate::click_labels::resolve_decision(&self.state, &mut decision).await?;
                retry::on_conflict(|| self.attempt(&tune, &decision, pairing)).await
            }
        }
    }

    async fn attempt(
        &self,
        tune: &TuneConversion,
        decision: &Decision,
        pairing: Option<Pairing>,
    ) -> Result<Handled, RepoError> {
        let currency = self.integration.postback_currency(decision);
        let Found { ours } = self.find(tune, decision).await?;
        let Some(ours) = ours else {
            return self.absent(tune, decision, currency, pairing).await;
        };
        if pairing == Some(Pairing::Duplicate) {
            let mut d = difference(Class::DuplicateAtTune, Action::None, tune);
            d.conversion_id = Some(ours.id.clone());
            d.tune = Some(tune_side(tune, currency));
            d.ours = Some(our_side(&ours));
            d.note = Some("a copy at TUNE of an earlier TUNE conversion for this click and goal; the ledger has this one, left as it is".into());
            return Ok(Handled {
                class: Class::DuplicateAtTune,
                difference: Some(d),
                seen: Some(ours.id),
                changed: Changed::default(),
            });
        }
        let mut class = compare(&ours, tune, currency);
        let (action, changed, note) = self.change(&ours, decision, currency).await?;
        if pairing == Some(Pairing::Recreated) {
            class = Class::RejectedRecreated;
        }
        let listed = class != Class::Matched || action != Action::None;
        let difference = listed.then(|| {
            let mut d = difference(class, action, tune);
            d.conversion_id = Some(ours.id.clone());
            d.tune = Some(tune_side(tune, currency));
            d.ours = Some(our_side(&ours));
            d.note = note;
            d
        });
        Ok(Handled {
            class,
            difference,
            seen: Some(ours.id),
            changed,
        })
    }

    /// By transaction ID (the postback's identity), else by click ID and goal (a postback that
    /// came without the transaction ID).
    async fn find(&self, tune: &TuneConversion, decision: &Decision) -> Result<Found, RepoError> {
        let repo = &self.state.repo;
        if let Some(c) = repo
            .get_conversion(&conversion_id(&decision.identity))
            .await?
        {
            return Ok(Found { ours: Some(c) });
        }
        if tune.transaction_id.is_none() || tune.click_id.is_none() {
            return Ok(Found { ours: None });
        }
        let by_click = TuneConversion {
            transaction_id: None,
            ..tune.clone()
        };
        let key = &self.state.config.click_key;
        let Ok(d) = by_click.decision(self.network, &self.integration.id, key) else {
            return Ok(Found { ours: None });
        };
        let ours = repo.get_conversion(&conversion_id(&d.identity)).await?;
        Ok(Found { ours })
    }

    /// A TUNE conversion the ledger does not have: missing (recorded), unless another ledger
    /// conversion of its click and goal makes it a copy (listed) or a recreation (recorded,
    /// linked).
    async fn absent(
        &self,
        tune: &TuneConversion,
        decision: &Decision,
        currency: Option<&'static str>,
        pairing: Option<Pairing>,
    ) -> Result<Handled, RepoError> {
        let other = self.other_of_click(tune).await?;
        // TUNE's own statuses (the run's earlier rows) win over the ledger's, which another row
        // of the same page may be changing right now.
        let pairing = pairing.or_else(|| other.as_ref().map(|o| pairing_with(o, tune)));
        let class = match pairing {
            Some(Pairing::Duplicate) => Class::DuplicateAtTune,
            Some(Pairing::Recreated) => Class::RejectedRecreated,
            None => Class::Missing,
        };
        let mut d = difference(class, Action::None, tune);
        d.tune = Some(tune_side(tune, currency));
        d.linked_transaction_id = other.as_ref().and_then(|o| o.transaction_id.clone());
        if class == Class::DuplicateAtTune {
            d.note = Some("a copy at TUNE of a conversion already counted (same click and goal): not recorded".into());
            if let Some(o) = &other {
                d.conversion_id = Some(o.id.clone());
                d.ours = Some(our_side(o));
            }
            return Ok(Handled {
                class,
                difference: Some(d),
                seen: None,
                changed: Changed::default(),
            });
        }
        let created = self.create(tune, decision, currency);
        d.conversion_id = Some(created.id.clone());
        if !self.apply {
            d.action = Action::WouldCreate;
            return Ok(Handled {
                class,
                difference: Some(d),
                seen: None,
                changed: Changed::default(),
            });
        }
        let with = self.write_options();
        self.state.repo.create_conversion(&created, with).await?;
        d.action = Action::Created;
        Ok(Handled {
            class,
            difference: Some(d),
            seen: Some(created.id),
            changed: Changed {
                created: 1,
                ..Changed::default()
            },
        })
    }

    /// Another ledger conversion of this integration for the same click and goal, with another
    /// transaction ID.
    async fn other_of_click(&self, tune: &TuneConversion) -> Result<Option<Conversion>, RepoError> {
        let Some(click) = tune.click_id.as_deref() else {
            return Ok(None);
        };
        let page = self
            .state
            .repo
            .conversions_of_click(click, 20, None)
            .await?;
        Ok(page.items.into_iter().find(|c| {
            c.integration_id == self.integration.id
                && c.goal_id == tune.goal_id
                && c.transaction_id.is_some()
                && c.transaction_id != tune.transaction_id
        }))
    }

    /// The conversion a missing TUNE conversion becomes: its postback's, dated when TUNE
    /// recorded it (so it counts on that UTC day), history source `reconciliation`.
    fn create(
        &self,
        tune: &TuneConversion,
        decision: &Decision,
        currency: Option<&str>,
    ) -> Conversion {
        let i = &self.integration;
        let mut c = Conversion::create(&i.id, &i.network, decision, currency, tune.at);
        for entry in &mut c.history {
            entry.source = HistorySource::Reconciliation;
            entry.at = self.now;
        }
        c.updated_at = self.now;
        c
    }

    /// Applies TUNE's status and payout to `ours` through the status machine.
    async fn change(
        &self,
        ours: &Conversion,
        decision: &Decision,
        currency: Option<&str>,
    ) -> Result<(Action, Changed, Option<String>), RepoError> {
        let (mut next, kind) = match ours.apply(decision, currency, self.now) {
            Applied::Unchanged(NoOp::Duplicate) => {
                return Ok((Action::None, Changed::default(), None));
            }
            Applied::Unchanged(NoOp::Stale) => {
                let note = format!(
                    "TUNE says {}; a final status is never overwritten by {} (kept {})",
                    decision.status.as_str(),
                    decision.status.as_str(),
                    ours.status.as_str()
                );
                return Ok((Action::None, Changed::default(), Some(note)));
            }
            Applied::Changed(next, kind) => (next, Some(kind)),
            Applied::Attributed(next) => (next, None),
        };
        if let Some(entry) = next.history.last_mut().filter(|_| kind.is_some()) {
            entry.source = HistorySource::Reconciliation;
        }
        let changed = match kind {
            None => Changed {
                attributed: 1,
                ..Changed::default()
            },
            Some(ChangeKind::Payout) => Changed {
                payout_changed: 1,
                ..Changed::default()
            },
            Some(_) => Changed {
                status_changed: 1,
                ..Changed::default()
            },
        };
        if !self.apply {
            return Ok((Action::WouldChange, Changed::default(), None));
        }
        self.state
            .repo
            .change_conversion(ours, &next, self.write_options())
            .await?;
        let action = if kind.is_some() {
            Action::Changed
        } else {
            Action::Attributed
        };
        Ok((action, changed, None))
    }

    fn write_options(&self) -> ConversionWrite<'static> {
        ConversionWrite {
            sync: true,
            along: &[],
            postback_log: None,
            click_ttl_secs: i64::from(self.state.config.click_ttl_days) * 86_400,
            names: Default::default(),
        }
    }
}

/// A TUNE conversion against a ledger conversion of the same click and goal.
fn pairing_with(other: &Conversion, tune: &TuneConversion) -> Pairing {
    let rejected = matches!(other.status, Status::Rejected | Status::Trash);
    pairing(rejected, tune.is_rejected())
}
