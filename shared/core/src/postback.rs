//! Postbacks: what a network's status call means, decided without I/O.
//!
//! [`interpret`] reads the query (or form) parameters of one postback for one integration and
//! returns a [`Decision`]: which conversion it is about (its identity key), which click, which
//! status, what money. Storage then applies it with [`crate::conversion::decide`].
//!
//! # Parameters
//!
//! Names are matched exactly (lower case); values are trimmed. An empty value, or one that is
//! still an unsubstituted macro (`{sub1}`, `[status]`, `{{click_id}}`), counts as absent, and the
//! names of such parameters are listed in [`Decision::unsubstituted`]. Unknown parameters
//! (`id`, the integration token, `ran`, `aff_sub2`...) are ignored. Every value (and name) is at
//! most [`MAX_VALUE_LEN`] bytes, and a request has at most [`MAX_PARAMS`] parameters. A known
//! parameter given twice must have the same value both times ([`PostbackError::Conflicting`]);
//! the status overrides may repeat and then add up.
//!
//! **CPA networks** (AlterCPA's `/api/sale/status.json` contract, the one the tails of
//! shared/core/tests/seeds/003_3607e5466890b13a.txt are written for):
//!
//! | name | meaning |
//! |---|---|
//! | `oid` | our click ID (the network got it in a SubID) |
//! | `eid` | the network's id of the lead |
//! | `status` | the raw status word (required) |
//! | `sta` `stc` `stt` `stw` `sth` | a word or comma list meaning approve / cancel / trash / wait / hold |
//! | `pay`, `cc` | payout and its ISO-4217 currency |
//! | `reason` | numeric cancel reason; 7 = duplicate order |
//! | `comment` | free text |
//! | `test` | `1` marks a test conversion (the postback tester's; see below) |
//!
//! One of `oid` and `eid` is required. Without `oid`, an `eid` that verifies as one of our click
//! IDs is used as the click (MonadLead's tail sends `eid={click_id}`).
//!
//! **TUNE** (its postback URL macros: `{aff_click_id}`, `{transaction_id}`, `{goal_id}`...), with generic aliases for trackers' URLs; when
//! both are present the TUNE name wins:
//!
//! | name | alias | meaning |
//! |---|---|---|
//! | `aff_click_id` | `click_id`, then `aff_sub` | our click ID (`{aff_click_id}`) |
//! | `transaction_id` | `txn` | TUNE's transaction id |
//! | `goal_id` | `goal` | the goal; `0` is the offer's base conversion, same as none |
//! | `offer_id` | `offer` | TUNE's offer id |
//! | `payout` | | payout |
//! | `currency` | | ISO-4217 currency of the payout |
//! | `sale_amount` | `sale` | sale amount |
//! | `status` | | optional status word: `approved`, `pending`, `rejected` |
//! | `test` | | `1` marks a test conversion (TUNE's tester, or ours) |
//!
//! One of the click ID and `transaction_id` is required. TUNE has no documented status macro and
//! fires affiliate postbacks for conversions it records as approved (a pending conversion's
//! postback fires when it is approved), so **a TUNE postback without `status` means approved**
//! ([`StatusSource::Implied`], `raw_status` empty).
//!
//! The overrides `sta`...`sth` are accepted from TUNE too: they are our receiving contract, not
//! the network's. So is `test=1`, on every network: a test conversion is kept and listed, and
//! counts in no totals (`POST /integrations/{id}/test-postback` appends it to the URL it calls).
//!
//! # Status
//!
//! The raw word (trimmed, compared case-insensitively) is looked up in order: the request's
//! overrides (a word in two overrides of different stages is [`PostbackError::AmbiguousStatus`]),
//! the network's `status_map`, then [`default_stage`]. An unknown word is
//! [`PostbackError::UnknownStatus`], echoing it. Stages map to [`Status`] with
//! [`Stage::status`]: `hold` is [`Status::Hold`], not pending. The word as sent is kept in
//! [`Decision::raw_status`].
//!
//! `reason=7` on a rejected or trashed conversion, or the raw word `duplicate` or `double`, sets
//! [`Decision::duplicate`]; the status stays what the word says.
//!
//! # Money
//!
//! Payouts and sale amounts are [`Decimal`]s parsed by [`money::parse_amount`]: plain decimal
//! notation, 0 to 1,000,000, at most [`money::MAX_SCALE`] (5) decimal places once trailing zeros
//! are dropped (TUNE sends `15.00000`). Currencies must be active ISO-4217 codes (any case; kept
//! upper-cased). A payout without a currency has `currency: None`: the offer's currency applies.
//!
//! # Identity (exactly-once)
//!
//! [`Decision::identity`] is `"{integration}|t|{transaction}|{goal}"` when the network sends its
//! own id of the conversion (`eid` for CPA, `transaction_id` for TUNE), else
//! `"{integration}|c|{click id}|{goal}"`. CPA networks have no goal (empty). TUNE fires one
//! postback per goal with the same transaction id, hence the goal. `%` and `|` inside parts are
//! escaped (`%25`, `%7C`). A key over [`MAX_IDENTITY_LEN`] bytes (ids are untrusted and may be
//! 2 KiB) keeps its `{integration}|t|` or `|c|` prefix and replaces the rest with `#` and the
//! SHA-256 of it in hex, so keys fit any store's key size. The network's id is preferred because
//! a network may send several conversions for one click; it assumes a network that sends `eid`
//! always sends it.

use crate::catalogue::{Network, NetworkKind};
use crate::clickid::{ClickClaims, ClickId, ClickIdError, ClickKey};
use crate::money::{self, AmountError};
use crate::status::{Stage, Status};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

/// Longest parameter value (and name) accepted, in bytes.
pub const MAX_VALUE_LEN: usize = 2_048;
/// Most parameters in one postback.
pub const MAX_PARAMS: usize = 100;
/// Longest identity key; longer ones are hashed.
pub const MAX_IDENTITY_LEN: usize = 256;
/// `reason` meaning a duplicate order (AlterCPA's cancel reason 7).
pub const REASON_DUPLICATE: u32 = 7;

/// What one postback means.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Stable exactly-once key of the conversion (see the module docs).
    pub identity: String,
    pub identity_source: IdentitySource,
    /// The click ID as sent, verified or not.
    pub click_id: Option<String>,
    /// Whether the click ID is ours; unverified ones are still recorded (unmatched).
    pub click: ClickCheck,
    pub status: Status,
    pub status_source: StatusSource,
    /// The status word as sent (trimmed); empty only for a TUNE postback without `status`.
    pub raw_status: String,
    pub payout: Option<Decimal>,
    /// Upper-case ISO-4217 code.
    pub currency: Option<&'static str>,
    /// TUNE's `sale_amount`.
    pub sale_amount: Option<Decimal>,
    pub reason: Option<u32>,
    /// `reason=7` with a cancel or trash status, or the raw word `duplicate`/`double`.
    pub duplicate: bool,
    pub comment: Option<String>,
    /// The network's id of the conversion: `eid` (CPA) or `transaction_id` (TUNE).
    pub transaction_id: Option<String>,
    /// TUNE's goal; `None` for the base conversion.
    pub goal_id: Option<String>,
    /// TUNE's `offer_id` (the network's id, not ours: ours is in the click claims).
    pub remote_offer_id: Option<String>,
    /// `test=1`: TUNE's tester, or ours (any network).
    pub test: bool,
    /// Known parameters ignored because their value was an unsubstituted macro.
    pub unsubstituted: Vec<&'static str>,
}

impl Decision {
    /// The claims of a verified click ID.
    pub fn claims(&self) -> Option<&ClickClaims> {
        match &self.click {
            ClickCheck::Verified(claims) => Some(claims),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClickCheck {
    /// Ours, unaltered: attribute to its offer, message and creative.
    Verified(ClickClaims),
    /// Present but not ours (or altered, or signed with an old secret): record, unmatched.
    Invalid(ClickIdError),
    /// No click ID in the postback (only the network's id).
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    /// The network's id of the conversion (`eid`, `transaction_id`).
    Transaction,
    /// Our click ID (and goal).
    Click,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusSource {
    /// `sta`/`stc`/`stt`/`stw`/`sth` of the request.
    Override,
    /// The network's `status_map` in the catalogue.
    NetworkMap,
    /// [`default_stage`].
    Default,
    /// TUNE without `status`: approved.
    Implied,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostbackError {
    #[error("too many parameters ({count}); at most {MAX_PARAMS}")]
    TooManyParameters { count: usize },
    #[error("parameter `{param}` is longer than {MAX_VALUE_LEN} bytes")]
    TooLong { param: String },
    #[error("`{param}` is required")]
    Missing { param: &'static str },
    #[error("`{param}` is `{value}`: the network did not substitute its macro")]
    Unsubstituted { param: &'static str, value: String },
    #[error("`{param}` is given more than once with different values")]
    Conflicting { param: &'static str },
    #[error(
        "unknown status `{raw}`: add it to the postback with sta/stc/stt/stw/sth (approve, cancel, trash, wait, hold)"
    )]
    UnknownStatus { raw: String },
    #[error("status `{raw}` is listed in both `{first}` and `{second}`")]
    AmbiguousStatus {
        raw: String,
        first: &'static str,
        second: &'static str,
    },
    #[error("`{param}`: {error}")]
    Amount {
        param: &'static str,
        error: AmountError,
    },
    #[error("`{param}`: `{value}` is not an active ISO-4217 currency code")]
    Currency { param: &'static str, value: String },
    #[error("`reason` must be a whole number, not `{value}`")]
    Reason { value: String },
}

impl PostbackError {
    /// Machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PostbackError::TooManyParameters { .. } => "too_many_parameters",
            PostbackError::TooLong { .. } => "value_too_long",
            PostbackError::Missing { .. } => "missing_parameter",
            PostbackError::Unsubstituted { .. } => "unsubstituted_macro",
            PostbackError::Conflicting { .. } => "conflicting_parameter",
            PostbackError::UnknownStatus { .. } => "unknown_status",
            PostbackError::AmbiguousStatus { .. } => "ambiguous_status",
            PostbackError::Amount { .. } => "invalid_amount",
            PostbackError::Currency { .. } => "unknown_currency",
            PostbackError::Reason { .. } => "invalid_reason",
        }
    }

    /// The parameter at fault, when there is one.
    pub fn param(&self) -> Option<&str> {
        Some(match self {
            PostbackError::TooManyParameters { .. } => return None,
            PostbackError::TooLong { param } => param,
            PostbackError::Missing { param }
            | PostbackError::Unsubstituted { param, .. }
            | PostbackError::Conflicting { param }
            | PostbackError::Amount { param, .. }
            | PostbackError::Currency { param, .. } => param,
            PostbackError::UnknownStatus { .. } | PostbackError::AmbiguousStatus { .. } => "status",
            PostbackError::Reason { .. } => "reason",
        })
    }
}

/// The default dictionary: status words networks send, lower case (AlterCPA's words, plus TUNE's
/// `approved`/`pending`/`rejected`). Numeric and one-letter codes differ between networks and
/// live in each network's `status_map`. `reject` is trash (LeadBit, Shakes: "invalid"), unlike
/// `rejected`; networks where it means cancel say so in their map (TerraLeads).
pub fn default_stage(word: &str) -> Option<Stage> {
    Some(match word {
        "approve" | "approved" | "accept" | "accepted" | "confirm" | "confirmed" | "sale"
        | "paid" | "payed" | "submit" | "submitted" | "lead_approve" => Stage::Approve,
        "cancel" | "canceled" | "cancelled" | "decline" | "declined" | "rejected" | "refused"
        | "aborted" | "lead_cancel" => Stage::Cancel,
        "trash" | "trashed" | "fake" | "invalid" | "spam" | "double" | "duplicate" | "error"
        | "fail" | "failed" | "reject" => Stage::Trash,
        "new" | "wait" | "waiting" | "pending" | "processing" | "in_processing" | "expect"
        | "create" | "created" | "lead" | "lead_add" | "none" => Stage::Wait,
        "hold" => Stage::Hold,
        _ => return None,
    })
}

/// Interprets one postback for integration `integration_id` of `network`. `params` are the
/// decoded query (or form) pairs in order; `key` verifies click IDs.
pub fn interpret<K: AsRef<str>, V: AsRef<str>>(
    network: &Network,
    integration_id: &str,
    params: &[(K, V)],
    key: &ClickKey,
) -> Result<Decision, PostbackError> {
    let p = Params::read(network.kind, params)?;
    let tune = network.kind == NetworkKind::Tune;

    let (click_field, transaction_field) = if tune {
        (
            p.first(&[F::AffClickId, F::ClickId, F::AffSub]),
            p.first(&[F::TransactionId, F::Txn]),
        )
    } else {
        (p.get(F::Oid), p.get(F::Eid))
    };
    let goal = if tune {
        p.first(&[F::GoalId, F::Goal]).filter(|g| *g != "0")
    } else {
        None
    };
    let (click_id, click) = check_click(key, click_field, transaction_field.filter(|_| !tune));
    let (identity_source, identity) = match (transaction_field, click_id) {
        (Some(txn), _) => (
            IdentitySource::Transaction,
            identity(integration_id, 't', txn, goal),
        ),
        (None, Some(click)) => (
            IdentitySource::Click,
            identity(integration_id, 'c', click, goal),
        ),
        (None, None) if tune => return Err(p.missing(&[F::AffClickId, F::TransactionId])),
        (None, None) => return Err(p.missing(&[F::Oid, F::Eid])),
    };

    let raw = p.get(F::Status);
    let (stage, status_source) = match raw {
        Some(raw) => resolve(network, raw, &p)?,
        None if tune => (Stage::Approve, StatusSource::Implied),
        None => return Err(p.missing(&[F::Status])),
    };
    let status = stage.status();
    let raw = raw.unwrap_or("");
    let money = Money::read(&p, tune)?;
    let reason = reason_of(&p)?;
    let duplicate = (reason == Some(REASON_DUPLICATE)
        && matches!(status, Status::Rejected | Status::Trash))
        || raw.eq_ignore_ascii_case("duplicate")
        || raw.eq_ignore_ascii_case("double");

    Ok(Decision {
        identity,
        identity_source,
        click_id: click_id.map(str::to_owned),
        click,
        status,
        status_source,
        raw_status: raw.to_owned(),
        payout: money.payout,
        currency: money.currency,
        sale_amount: money.sale_amount,
        reason,
        duplicate,
        comment: p.get(F::Comment).map(str::to_owned),
        transaction_id: transaction_field.map(str::to_owned),
        goal_id: goal.map(str::to_owned),
        remote_offer_id: p.first(&[F::OfferId, F::Offer]).map(str::to_owned),
        test: p.get(F::Test) == Some("1"),
        unsubstituted: p.unsubstituted(),
    })
}

/// The click ID and whether it is ours. A CPA postback without `oid` whose `eid` is one of our
/// click IDs (`cpa_eid`) has its click there.
fn check_click<'a>(
    key: &ClickKey,
    click_field: Option<&'a str>,
    cpa_eid: Option<&'a str>,
) -> (Option<&'a str>, ClickCheck) {
    match (click_field, cpa_eid) {
        (Some(id), _) => (
            Some(id),
            match ClickId::verify(key, id) {
                Ok(claims) => ClickCheck::Verified(claims),
                Err(e) => ClickCheck::Invalid(e),
            },
        ),
        (None, Some(eid)) => match ClickId::verify(key, eid) {
            Ok(claims) => (Some(eid), ClickCheck::Verified(claims)),
            Err(_) => (None, ClickCheck::Absent),
        },
        (None, None) => (None, ClickCheck::Absent),
    }
}

/// Payout, currency and sale amount, in the dialect's parameter names.
struct Money {
    payout: Option<Decimal>,
    currency: Option<&'static str>,
    sale_amount: Option<Decimal>,
}

impl Money {
    fn read(p: &Params<'_>, tune: bool) -> Result<Money, PostbackError> {
        let (pay, cc) = if tune {
            (F::Payout, F::Currency)
        } else {
            (F::Pay, F::Cc)
        };
        // Checked in this order: payout, currency, sale amount.
        let payout = p.get(pay).map(|v| amount(pay, v)).transpose()?;
        let currency = p
            .get(cc)
            .map(|v| {
                money::currency(v).ok_or_else(|| PostbackError::Currency {
                    param: cc.name(),
                    value: truncate(v, 16),
                })
            })
            .transpose()?;
        let sale_field = if p.get(F::SaleAmount).is_some() {
            F::SaleAmount
        } else {
            F::Sale
        };
        Ok(Money {
            payout,
            currency,
            sale_amount: p
                .get(sale_field)
                .map(|v| amount(sale_field, v))
                .transpose()?,
        })
    }
}

fn reason_of(p: &Params<'_>) -> Result<Option<u32>, PostbackError> {
    p.get(F::Reason)
        .map(|v| {
            v.parse::<u32>().map_err(|_| PostbackError::Reason {
                value: truncate(v, 32),
            })
        })
        .transpose()
}

/// AlterCPA's `id` is `{integration}-{token}`. A tail without a leading `&` (MetaCPA's
/// `oid={sub1}&status=approve...`) appended to a URL ending in `?id=INT-TOKEN` arrives as
/// `id=INT-TOKENoid=123`: this splits such a value into the id and the glued parameter.
/// `token_len` is the postback token's length (40 hex characters). Handing out postback URLs
/// that end with `&` avoids the gluing altogether (`&&` is harmless).
pub fn split_glued_id(value: &str, token_len: usize) -> (&str, Option<(&str, &str)>) {
    let Some(dash) = value.find('-') else {
        return (value, None);
    };
    let end = dash + 1 + token_len;
    if value.len() <= end || !value.is_char_boundary(end) {
        return (value, None);
    }
    let (id, rest) = value.split_at(end);
    match rest.split_once('=') {
        Some((name, glued)) if !name.is_empty() => (id, Some((name, glued))),
        _ => (value, None),
    }
}

fn amount(field: F, value: &str) -> Result<Decimal, PostbackError> {
    money::parse_amount(value).map_err(|error| PostbackError::Amount {
        param: field.name(),
        error,
    })
}

/// The known parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    Status,
    Sta,
    Stc,
    Stt,
    Stw,
    Sth,
    Oid,
    Eid,
    Pay,
    Cc,
    Comment,
    Reason,
    AffClickId,
    ClickId,
    AffSub,
    TransactionId,
    Txn,
    GoalId,
    Goal,
    OfferId,
    Offer,
    Payout,
    Currency,
    SaleAmount,
    Sale,
    Test,
}

const FIELD_COUNT: usize = F::Test as usize + 1;
const OVERRIDES: [(F, Stage); 5] = [
    (F::Sta, Stage::Approve),
    (F::Stc, Stage::Cancel),
    (F::Stt, Stage::Trash),
    (F::Stw, Stage::Wait),
    (F::Sth, Stage::Hold),
];

impl F {
    fn of(kind: NetworkKind, name: &str) -> Option<F> {
        use NetworkKind::{Cpa, Tune};
        Some(match (kind, name) {
            (_, "status") => F::Status,
            (_, "sta") => F::Sta,
            (_, "stc") => F::Stc,
            (_, "stt") => F::Stt,
            (_, "stw") => F::Stw,
            (_, "sth") => F::Sth,
            (Cpa, "oid") => F::Oid,
            (Cpa, "eid") => F::Eid,
            (Cpa, "pay") => F::Pay,
            (Cpa, "cc") => F::Cc,
            (Cpa, "comment") => F::Comment,
            (Cpa, "reason") => F::Reason,
            (Tune, "aff_click_id") => F::AffClickId,
            (Tune, "click_id") => F::ClickId,
            (Tune, "aff_sub") => F::AffSub,
            (Tune, "transaction_id") => F::TransactionId,
            (Tune, "txn") => F::Txn,
            (Tune, "goal_id") => F::GoalId,
            (Tune, "goal") => F::Goal,
            (Tune, "offer_id") => F::OfferId,
            (Tune, "offer") => F::Offer,
            (Tune, "payout") => F::Payout,
            (Tune, "currency") => F::Currency,
            (Tune, "sale_amount") => F::SaleAmount,
            (Tune, "sale") => F::Sale,
            (_, "test") => F::Test,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            F::Status => "status",
            F::Sta => "sta",
            F::Stc => "stc",
            F::Stt => "stt",
            F::Stw => "stw",
            F::Sth => "sth",
            F::Oid => "oid",
            F::Eid => "eid",
            F::Pay => "pay",
            F::Cc => "cc",
            F::Comment => "comment",
            F::Reason => "reason",
            F::AffClickId => "aff_click_id",
            F::ClickId => "click_id",
            F::AffSub => "aff_sub",
            F::TransactionId => "transaction_id",
            F::Txn => "txn",
            F::GoalId => "goal_id",
            F::Goal => "goal",
            F::OfferId => "offer_id",
            F::Offer => "offer",
            F::Payout => "payout",
            F::Currency => "currency",
            F::SaleAmount => "sale_amount",
            F::Sale => "sale",
            F::Test => "test",
        }
    }

    fn is_override(self) -> bool {
        matches!(self, F::Sta | F::Stc | F::Stt | F::Stw | F::Sth)
    }
}

/// The known parameters of one request, borrowed from it.
struct Params<'a> {
    values: [Option<&'a str>; FIELD_COUNT],
    /// The first unsubstituted macro seen for a parameter, for error messages.
    macros: [Option<&'a str>; FIELD_COUNT],
    /// Second and later occurrences of the overrides.
    more_overrides: Vec<(F, &'a str)>,
}

impl<'a> Params<'a> {
    fn read<K: AsRef<str>, V: AsRef<str>>(
        kind: NetworkKind,
        params: &'a [(K, V)],
    ) -> Result<Params<'a>, PostbackError> {
        if params.len() > MAX_PARAMS {
            return Err(PostbackError::TooManyParameters {
                count: params.len(),
            });
        }
        let mut p = Params {
            values: [None; FIELD_COUNT],
            macros: [None; FIELD_COUNT],
            more_overrides: Vec::new(),
        };
        for (name, value) in params {
            let (name, value) = (name.as_ref(), value.as_ref());
            if name.len() > MAX_VALUE_LEN || value.len() > MAX_VALUE_LEN {
                return Err(PostbackError::TooLong {
                    param: truncate(name, 64),
                });
            }
            let Some(field) = F::of(kind, name) else {
                continue;
            };
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let i = field as usize;
            if is_macro(value) {
                p.macros[i].get_or_insert(value);
                continue;
            }
            match p.values[i] {
                None => p.values[i] = Some(value),
                Some(_) if field.is_override() => p.more_overrides.push((field, value)),
                Some(first) if first == value => {}
                Some(_) => {
                    return Err(PostbackError::Conflicting {
                        param: field.name(),
                    });
                }
            }
        }
        Ok(p)
    }

    fn get(&self, field: F) -> Option<&'a str> {
        self.values[field as usize]
    }

    fn first(&self, fields: &[F]) -> Option<&'a str> {
        fields.iter().find_map(|f| self.get(*f))
    }

    /// The error for required `fields` of which none is present: an unsubstituted macro when
    /// one was sent instead.
    fn missing(&self, fields: &[F]) -> PostbackError {
        for f in fields {
            if let Some(value) = self.macros[*f as usize] {
                return PostbackError::Unsubstituted {
                    param: f.name(),
                    value: truncate(value, 64),
                };
            }
        }
        PostbackError::Missing {
            param: fields[0].name(),
        }
    }

    fn unsubstituted(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        for (i, m) in self.macros.iter().enumerate() {
            if m.is_some() && self.values[i].is_none() {
                names.push(ALL_FIELDS[i].name());
            }
        }
        names
    }

    /// Every override value with its stage, in order.
    fn overrides(&self) -> impl Iterator<Item = (F, Stage, &'a str)> + '_ {
        OVERRIDES
            .iter()
            .filter_map(|&(f, stage)| self.get(f).map(|v| (f, stage, v)))
            .chain(self.more_overrides.iter().map(|&(f, v)| {
                let stage = OVERRIDES
                    .iter()
                    .find(|(o, _)| *o == f)
                    .map_or(Stage::Wait, |(_, s)| *s);
                (f, stage, v)
            }))
    }
}

const ALL_FIELDS: [F; FIELD_COUNT] = [
    F::Status,
    F::Sta,
    F::Stc,
    F::Stt,
    F::Stw,
    F::Sth,
    F::Oid,
    F::Eid,
    F::Pay,
    F::Cc,
    F::Comment,
    F::Reason,
    F::AffClickId,
    F::ClickId,
    F::AffSub,
    F::TransactionId,
    F::Txn,
    F::GoalId,
    F::Goal,
    F::OfferId,
    F::Offer,
    F::Payout,
    F::Currency,
    F::SaleAmount,
    F::Sale,
    F::Test,
];

/// `{sub1}`, `{{click_id}}`, `[status]`: a macro the network left in place.
pub fn is_macro(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() >= 3 && matches!((b[0], b[b.len() - 1]), (b'{', b'}') | (b'[', b']'))
}

/// Status word → stage: overrides, then the network's map, then the default dictionary.
fn resolve(
    network: &Network,
    raw: &str,
    p: &Params<'_>,
) -> Result<(Stage, StatusSource), PostbackError> {
    let mut found: Option<(Stage, F)> = None;
    for (field, stage, list) in p.overrides() {
        if list.split(',').any(|w| eq_ignore_case(w.trim(), raw)) {
            match found {
                None => found = Some((stage, field)),
                Some((s, first)) if s != stage => {
                    return Err(PostbackError::AmbiguousStatus {
                        raw: truncate(raw, 64),
                        first: first.name(),
                        second: field.name(),
                    });
                }
                Some(_) => {}
            }
        }
    }
    if let Some((stage, _)) = found {
        return Ok((stage, StatusSource::Override));
    }
    let mut buf = [0u8; 64];
    let owned;
    let word = if raw.len() <= buf.len() && raw.is_ascii() {
        let buf = &mut buf[..raw.len()];
        buf.copy_from_slice(raw.as_bytes());
        buf.make_ascii_lowercase();
        std::str::from_utf8(buf).unwrap_or(raw)
    } else {
        owned = raw.to_lowercase();
        owned.as_str()
    };
    if let Some(stage) = network.status_map.get(word).and_then(|s| Stage::parse(s)) {
        return Ok((stage, StatusSource::NetworkMap));
    }
    default_stage(word)
        .map(|stage| (stage, StatusSource::Default))
        .ok_or_else(|| PostbackError::UnknownStatus {
            raw: truncate(raw, 64),
        })
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
    }
}

/// At most `max` bytes of `s`, cut at a character boundary, for error messages.
fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn escape_into(out: &mut String, part: &str) {
    for c in part.chars() {
        match c {
            '%' => out.push_str("%25"),
            '|' => out.push_str("%7C"),
            c => out.push(c),
        }
    }
}

/// The identity a CPA postback naming only `id` gets (an `eid` for [`IdentitySource::Transaction`],
/// an `oid` for [`IdentitySource::Click`]): a sent lead's conversion is created under it, so that
/// the network's later postback lands on that conversion.
pub fn lead_identity(integration_id: &str, source: IdentitySource, id: &str) -> String {
    let source = match source {
        IdentitySource::Transaction => 't',
        IdentitySource::Click => 'c',
    };
    identity(integration_id, source, id, None)
}

/// The exactly-once key: `{integration}|{t or c}|{id}|{goal}`, hashed past [`MAX_IDENTITY_LEN`].
fn identity(integration: &str, source: char, id: &str, goal: Option<&str>) -> String {
    let goal = goal.unwrap_or("");
    let mut key = String::with_capacity(integration.len() + id.len() + goal.len() + 8);
    escape_into(&mut key, integration);
    key.push('|');
    key.push(source);
    key.push('|');
    let prefix = key.len();
    escape_into(&mut key, id);
    key.push('|');
    escape_into(&mut key, goal);
    if key.len() > MAX_IDENTITY_LEN {
        let digest = Sha256::digest(&key.as_bytes()[prefix..]);
        key.truncate(prefix);
        key.push('#');
        key.push_str(&hex::encode(digest));
    }
    key
}

#[cfg(test)]
#[path = "postback_tests.rs"]
mod tests;
