//! The conversion status machine: what an incoming postback does to the stored conversion.
//!
//! Statuses have a rank: `pending` (0) < `hold` (1) < the final statuses `approved`, `rejected`,
//! `trash` (2).
//!
//! - No stored conversion: **create** it.
//! - An incoming status of lower rank than the stored one is **stale** (a late or retried
//!   postback: networks retry for days) and changes nothing, its payout included. So pending never
//!   overwrites hold or a final status, and hold never overwrites a final status.
//! - A higher rank, or another final status, **changes the status**: pending → hold → approved is
//!   progress; approved → rejected/trash is a reversal; rejected/trash → approved is a correction;
//!   rejected ↔ trash is a reclassification. All are allowed: networks do send them.
//! - The same status with a different payout or currency **changes the payout**.
//! - The same status and payout again is a **duplicate**: nothing to do (answer OK all the same).
//!
//! A postback without a payout (or currency) keeps the stored one; a reversal does not zero the
//! payout (the status says it is not earned). Every create and change carries one
//! [`HistoryEntry`].

use crate::postback::Decision;
use crate::status::Status;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The stored conversion, as far as the machine cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current<'a> {
    pub status: Status,
    pub payout: Option<Decimal>,
    pub currency: Option<&'a str>,
}

/// What a postback says, as far as the machine cares (see `From<&Decision>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incoming<'a> {
    pub status: Status,
    pub payout: Option<Decimal>,
    pub currency: Option<&'a str>,
    /// The network's word, for the history.
    pub raw_status: &'a str,
}

impl<'a> From<&'a Decision> for Incoming<'a> {
    fn from(d: &'a Decision) -> Self {
        Incoming {
            status: d.status,
            payout: d.payout,
            currency: d.currency,
            raw_status: &d.raw_status,
        }
    }
}

/// What kind of change an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Created,
    /// Up the ranks: pending → hold, pending/hold → a final status.
    Progress,
    /// approved → rejected or trash.
    Reversal,
    /// rejected or trash → approved.
    Correction,
    /// rejected ↔ trash.
    Reclassified,
    /// Same status, new payout or currency.
    Payout,
}

/// What made a change: a network's postback, a reconciliation run that read the network's
/// own reports, a lead sent to the network, or a status loaded from the network's lead API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistorySource {
    #[default]
    Postback,
    Reconciliation,
    Lead,
    Api,
}

/// One line of a conversion's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// `None` when the conversion was created.
    pub from: Option<Status>,
    pub to: Status,
    pub payout_before: Option<Decimal>,
    pub payout_after: Option<Decimal>,
    pub currency_before: Option<String>,
    pub currency_after: Option<String>,
    pub raw_status: String,
    pub kind: ChangeKind,
    pub at: DateTime<Utc>,
    /// Entries stored before sources were recorded came from postbacks.
    #[serde(default)]
    pub source: HistorySource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoOp {
    /// Same status, same payout: already recorded.
    Duplicate,
    /// A status of lower rank than the stored one: a late postback.
    Stale,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Create(HistoryEntry),
    /// The status changes (and the payout too when the entry says so).
    ChangeStatus(HistoryEntry),
    /// Only the payout or currency changes.
    ChangePayout(HistoryEntry),
    NoOp(NoOp),
}

impl Outcome {
    /// The entry to append; it also holds the new state (`to`, `payout_after`, `currency_after`).
    pub fn entry(&self) -> Option<&HistoryEntry> {
        match self {
            Outcome::Create(e) | Outcome::ChangeStatus(e) | Outcome::ChangePayout(e) => Some(e),
            Outcome::NoOp(_) => None,
        }
    }
}

/// 0 pending, 1 hold, 2 final.
pub fn rank(status: Status) -> u8 {
    match status {
        Status::Pending => 0,
        Status::Hold => 1,
        Status::Approved | Status::Rejected | Status::Trash => 2,
    }
}

/// Decides what `incoming` does to `current` (the stored conversion, if any), at time `at`.
pub fn decide(current: Option<Current<'_>>, incoming: Incoming<'_>, at: DateTime<Utc>) -> Outcome {
    let entry = |from: Option<Status>,
                 payout_before: Option<Decimal>,
                 currency_before: Option<&str>,
                 kind: ChangeKind| HistoryEntry {
        from,
        to: incoming.status,
        payout_before,
        payout_after: incoming.payout.or(payout_before),
        currency_before: currency_before.map(str::to_owned),
        currency_after: incoming.currency.or(currency_before).map(str::to_owned),
        raw_status: incoming.raw_status.to_owned(),
        kind,
        at,
        source: HistorySource::Postback,
    };
    let Some(current) = current else {
        return Outcome::Create(entry(None, None, None, ChangeKind::Created));
    };
    let (from, to) = (current.status, incoming.status);
    if rank(to) < rank(from) {
        return Outcome::NoOp(NoOp::Stale);
    }
    let e = |kind| entry(Some(from), current.payout, current.currency, kind);
    if from == to {
        let payout_changed = incoming.payout.is_some_and(|p| Some(p) != current.payout);
        let currency_changed = incoming
            .currency
            .is_some_and(|c| Some(c) != current.currency);
        return if payout_changed || currency_changed {
            Outcome::ChangePayout(e(ChangeKind::Payout))
        } else {
            Outcome::NoOp(NoOp::Duplicate)
        };
    }
    let kind = match (from, to) {
        (Status::Approved, Status::Rejected | Status::Trash) => ChangeKind::Reversal,
        (Status::Rejected | Status::Trash, Status::Approved) => ChangeKind::Correction,
        (Status::Rejected, Status::Trash) | (Status::Trash, Status::Rejected) => {
            ChangeKind::Reclassified
        }
        _ => ChangeKind::Progress,
    };
    Outcome::ChangeStatus(e(kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_760_000_000, 0).unwrap()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn cur(status: Status, payout: Option<&str>) -> Current<'static> {
        Current {
            status,
            payout: payout.map(d),
            currency: payout.map(|_| "USD"),
        }
    }

    fn inc(status: Status, payout: Option<&str>) -> Incoming<'static> {
        Incoming {
            status,
            payout: payout.map(d),
            currency: payout.map(|_| "USD"),
            raw_status: status.as_str(),
        }
    }

    #[derive(Debug, PartialEq)]
    enum Want {
        /// The diagonal: a duplicate.
        Same,
        Status(ChangeKind),
        Stale,
    }

    /// Every stored status × every incoming status (payouts equal or absent).
    #[test]
    fn status_table() {
        use ChangeKind::*;
        let table: [(Status, [Want; 5]); 5] = [
            // from \ to: Pending, Hold, Approved, Rejected, Trash
            (
                Pending,
                [
                    Want::Same,
                    Want::Status(Progress),
                    Want::Status(Progress),
                    Want::Status(Progress),
                    Want::Status(Progress),
                ],
            ),
            (
                Hold,
                [
                    Want::Stale,
                    Want::Same,
                    Want::Status(Progress),
                    Want::Status(Progress),
                    Want::Status(Progress),
                ],
            ),
            (
                Approved,
                [
                    Want::Stale,
                    Want::Stale,
                    Want::Same,
                    Want::Status(Reversal),
                    Want::Status(Reversal),
                ],
            ),
            (
                Rejected,
                [
                    Want::Stale,
                    Want::Stale,
                    Want::Status(Correction),
                    Want::Same,
                    Want::Status(Reclassified),
                ],
            ),
            (
                Trash,
                [
                    Want::Stale,
                    Want::Stale,
                    Want::Status(Correction),
                    Want::Status(Reclassified),
                    Want::Same,
                ],
            ),
        ];
        for (from, row) in table {
            for (to, want) in Status::ALL.into_iter().zip(row) {
                for payout in [None, Some("10")] {
                    let outcome = decide(Some(cur(from, Some("10"))), inc(to, payout), at());
                    assert_eq!(want == Want::Same, from == to);
                    match want {
                        Want::Same => {
                            assert_eq!(
                                outcome,
                                Outcome::NoOp(NoOp::Duplicate),
                                "{from:?} -> {to:?}"
                            )
                        }
                        Want::Stale => {
                            assert_eq!(outcome, Outcome::NoOp(NoOp::Stale), "{from:?} -> {to:?}")
                        }
                        Want::Status(kind) => {
                            let Outcome::ChangeStatus(e) = &outcome else {
                                panic!("{from:?} -> {to:?}: {outcome:?}");
                            };
                            assert_eq!((e.from, e.to, e.kind), (Some(from), to, kind));
                            assert_eq!(
                                (e.payout_before, e.payout_after),
                                (Some(d("10")), Some(d("10")))
                            );
                            assert_eq!(e.raw_status, to.as_str());
                            assert_eq!(e.at, at());
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn create_from_nothing() {
        for to in Status::ALL {
            for payout in [None, Some("4.5")] {
                let outcome = decide(None, inc(to, payout), at());
                let Outcome::Create(e) = outcome else {
                    panic!("{outcome:?}")
                };
                assert_eq!((e.from, e.to, e.kind), (None, to, ChangeKind::Created));
                assert_eq!((e.payout_before, e.payout_after), (None, payout.map(d)));
                assert_eq!(e.currency_after.as_deref(), payout.map(|_| "USD"));
            }
        }
    }

    #[test]
    fn payout_changes_on_same_status() {
        for s in Status::ALL {
            // New amount.
            let o = decide(Some(cur(s, Some("10"))), inc(s, Some("12.50")), at());
            let Outcome::ChangePayout(e) = &o else {
                panic!("{s:?}: {o:?}")
            };
            assert_eq!((e.from, e.to, e.kind), (Some(s), s, ChangeKind::Payout));
            assert_eq!(
                (e.payout_before, e.payout_after),
                (Some(d("10")), Some(d("12.5")))
            );
            // Equal amounts written differently are the same payout.
            assert_eq!(
                decide(Some(cur(s, Some("10"))), inc(s, Some("10.000")), at()),
                Outcome::NoOp(NoOp::Duplicate)
            );
            // A first payout on a conversion that had none.
            assert!(matches!(
                decide(Some(cur(s, None)), inc(s, Some("3")), at()),
                Outcome::ChangePayout(_)
            ));
            // No payout in the postback keeps the stored one.
            assert_eq!(
                decide(Some(cur(s, Some("10"))), inc(s, None), at()),
                Outcome::NoOp(NoOp::Duplicate)
            );
            // Same amount, another currency.
            let other = Incoming {
                currency: Some("EUR"),
                ..inc(s, Some("10"))
            };
            let o = decide(Some(cur(s, Some("10"))), other, at());
            let Outcome::ChangePayout(e) = o else {
                panic!("{o:?}")
            };
            assert_eq!(
                (e.currency_before.as_deref(), e.currency_after.as_deref()),
                (Some("USD"), Some("EUR"))
            );
        }
    }

    #[test]
    fn stale_postbacks_ignore_their_payout() {
        assert_eq!(
            decide(
                Some(cur(Approved, Some("10"))),
                inc(Pending, Some("99")),
                at()
            ),
            Outcome::NoOp(NoOp::Stale)
        );
        assert_eq!(
            decide(Some(cur(Hold, Some("10"))), inc(Pending, Some("99")), at()),
            Outcome::NoOp(NoOp::Stale)
        );
    }

    #[test]
    fn status_and_payout_change_together() {
        let o = decide(Some(cur(Pending, None)), inc(Approved, Some("25")), at());
        let Outcome::ChangeStatus(e) = o else {
            panic!("{o:?}")
        };
        assert_eq!(
            (e.from, e.to, e.kind),
            (Some(Pending), Approved, ChangeKind::Progress)
        );
        assert_eq!((e.payout_before, e.payout_after), (None, Some(d("25"))));
        // A reversal without a payout keeps the stored one.
        let o = decide(Some(cur(Approved, Some("25"))), inc(Rejected, None), at());
        let Outcome::ChangeStatus(e) = o else {
            panic!("{o:?}")
        };
        assert_eq!(
            (e.kind, e.payout_after),
            (ChangeKind::Reversal, Some(d("25")))
        );
    }

    #[test]
    fn a_typical_lifecycle() {
        // new → hold → approved → approved again (retry) → pending (late) → rejected (reversal)
        // → approved (correction)
        let steps = [
            (Pending, None, "new", Some(ChangeKind::Created)),
            (Hold, None, "hold", Some(ChangeKind::Progress)),
            (Approved, Some("12"), "approve", Some(ChangeKind::Progress)),
            (Approved, Some("12"), "approve", None),
            (Pending, None, "new", None),
            (Rejected, None, "cancel", Some(ChangeKind::Reversal)),
            (
                Approved,
                Some("12"),
                "approve",
                Some(ChangeKind::Correction),
            ),
        ];
        let mut state: Option<(Status, Option<Decimal>, Option<String>)> = None;
        let mut history = Vec::new();
        for (status, payout, raw, want) in steps {
            let incoming = Incoming {
                status,
                payout: payout.map(d),
                currency: payout.map(|_| "RUB"),
                raw_status: raw,
            };
            let current = state.as_ref().map(|(s, p, c)| Current {
                status: *s,
                payout: *p,
                currency: c.as_deref(),
            });
            let outcome = decide(current, incoming, at());
            assert_eq!(outcome.entry().map(|e| e.kind), want, "{raw}");
            if let Some(e) = outcome.entry() {
                state = Some((e.to, e.payout_after, e.currency_after.clone()));
                history.push(e.clone());
            }
        }
        assert_eq!(history.len(), 5);
        assert_eq!(state, Some((Approved, Some(d("12")), Some("RUB".into()))));
        assert_eq!(history[3].raw_status, "cancel");
    }

    #[test]
    fn history_entries_serialize() {
        let Outcome::Create(e) = decide(None, inc(Hold, Some("1.5")), at()) else {
            unreachable!()
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["to"], "hold");
        assert_eq!(json["payout_after"], "1.5");
        assert_eq!(json["kind"], "created");
        let back: HistoryEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
    }
}
