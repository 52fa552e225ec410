//! One TUNE conversion row, checked: decimals parsed exactly (never through floats), the
//! currency an ISO-4217 code, TUNE's network-time `datetime` converted to UTC. A row that fails
//! is a `bad_row` and changes nothing.
//!
//! Its meaning for the ledger is the postback it stands for: [`TuneConversion::decision`] feeds
//! TUNE's own parameter names (`aff_click_id`, `transaction_id`, `goal_id`, ...) through the
//! postback interpreter, so a reconciled conversion gets exactly the identity, click
//! verification and attribution its postback would have had, and a late postback for it is a
//! duplicate of it.

use crate::catalogue::Network;
use crate::clickid::ClickKey;
use crate::money;
use crate::postback::{Decision, PostbackError, interpret};
use crate::status::Status;
use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

/// A row's fields as TUNE sent them (text; `None` when absent, null or empty).
#[derive(Debug, Clone, Copy, Default)]
pub struct RawConversion<'a> {
    pub ad_id: Option<&'a str>,
    pub tune_event_id: Option<&'a str>,
    pub click_id: Option<&'a str>,
    pub offer_id: Option<&'a str>,
    pub goal_id: Option<&'a str>,
    pub status: Option<&'a str>,
    pub payout: Option<&'a str>,
    pub currency: Option<&'a str>,
    pub sale_amount: Option<&'a str>,
    pub datetime: Option<&'a str>,
}

/// A TUNE conversion that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuneConversion {
    pub transaction_id: Option<String>,
    pub event_id: Option<String>,
    pub click_id: Option<String>,
    /// `None` for the offer's default goal (`"0"`), as postbacks treat it.
    pub goal_id: Option<String>,
    pub remote_offer_id: Option<String>,
    pub status: Status,
    pub raw_status: String,
    pub payout: Option<Decimal>,
    /// Upper-case ISO-4217; `None`: the network's default currency.
    pub currency: Option<&'static str>,
    pub sale_amount: Option<Decimal>,
    /// TUNE's datetime, converted from the network's time zone.
    pub at: DateTime<Utc>,
    /// TUNE's datetime as sent (network time).
    pub local: NaiveDateTime,
}

/// Network time → UTC. An ambiguous time (the hour repeated when daylight saving ends) is
/// read as the first of the two; a time that does not exist (skipped when it starts) as the
/// same wall time an hour later.
pub fn network_to_utc(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            let later = local + chrono::Duration::hours(1);
            tz.from_local_datetime(&later)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|| Utc.from_utc_datetime(&local))
        }
    }
}

/// The network-time day of a UTC instant.
pub fn network_day(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// TUNE's status words (`approved`, `pending`, `rejected`, any case).
fn status_of(word: &str) -> Option<Status> {
    match word.to_ascii_lowercase().as_str() {
        "approved" => Some(Status::Approved),
        "pending" => Some(Status::Pending),
        "rejected" => Some(Status::Rejected),
        _ => None,
    }
}

fn amount(field: &str, text: Option<&str>) -> Result<Option<Decimal>, String> {
    text.map(|t| money::parse_amount(t).map_err(|e| format!("`{field}` `{}`: {e}", cut(t))))
        .transpose()
}

fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

impl TuneConversion {
    /// Checks `raw` and converts its datetime from `tz`; the error says what is wrong.
    pub fn read(raw: &RawConversion<'_>, tz: Tz) -> Result<TuneConversion, String> {
        let own = |s: Option<&str>| s.map(str::to_string);
        if raw.ad_id.is_none() && raw.click_id.is_none() {
            return Err("no transaction ID (Stat.ad_id) and no click ID (aff_click_id)".into());
        }
        let raw_status = raw.status.ok_or("no conversion status")?;
        let status = status_of(raw_status).ok_or_else(|| {
            format!(
                "unknown conversion status `{}` (TUNE's are approved, pending, rejected)",
                cut(raw_status)
            )
        })?;
        let payout = amount("Stat.payout", raw.payout)?;
        let sale_amount = amount("Stat.sale_amount", raw.sale_amount)?;
        let currency = raw
            .currency
            .map(|c| {
                money::currency(c)
                    .ok_or_else(|| format!("`Stat.currency` `{}` is not an ISO-4217 code", cut(c)))
            })
            .transpose()?;
        let text = raw.datetime.ok_or("no datetime (Stat.datetime)")?;
        let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").map_err(|_| {
            format!(
                "`Stat.datetime` `{}` is not a date like 2026-11-30 23:30:00",
                cut(text)
            )
        })?;
        Ok(TuneConversion {
            transaction_id: own(raw.ad_id),
            event_id: own(raw.tune_event_id),
            click_id: own(raw.click_id),
            goal_id: raw.goal_id.filter(|g| *g != "0").map(str::to_string),
            remote_offer_id: own(raw.offer_id),
            status,
            raw_status: raw_status.to_string(),
            payout,
            currency,
            sale_amount,
            at: network_to_utc(local, tz),
            local,
        })
    }

    /// What this conversion's postback would have said, read by the postback interpreter.
    pub fn decision(
        &self,
        network: &Network,
        integration_id: &str,
        key: &ClickKey,
    ) -> Result<Decision, PostbackError> {
        let payout = self.payout.map(|p| p.to_string());
        let sale = self.sale_amount.map(|p| p.to_string());
        let mut params: Vec<(&str, &str)> = vec![("status", self.raw_status.as_str())];
        let optional = [
            ("aff_click_id", self.click_id.as_deref()),
            ("transaction_id", self.transaction_id.as_deref()),
            ("goal_id", self.goal_id.as_deref()),
            ("offer_id", self.remote_offer_id.as_deref()),
            ("payout", payout.as_deref()),
            ("currency", self.currency),
            ("sale_amount", sale.as_deref()),
        ];
        params.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
        interpret(network, integration_id, &params, key)
    }

    pub fn is_rejected(&self) -> bool {
        self.status == Status::Rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(datetime: &'a str) -> RawConversion<'a> {
        RawConversion {
            ad_id: Some("102abc"),
            status: Some("approved"),
            payout: Some("15.00000"),
            currency: Some("usd"),
            datetime: Some(datetime),
            goal_id: Some("0"),
            ..RawConversion::default()
        }
    }

    #[test]
    fn half_past_eleven_in_new_york_is_the_next_utc_day() {
        let c = TuneConversion::read(&raw("2026-11-30 23:30:00"), chrono_tz::America::New_York)
            .unwrap();
        assert_eq!(c.at.to_rfc3339(), "2026-12-01T04:30:00+00:00");
        assert_eq!(c.at.date_naive().to_string(), "2026-12-01");
        assert_eq!(
            network_day(c.at, chrono_tz::America::New_York).to_string(),
            "2026-11-30"
        );
        assert_eq!(c.payout.unwrap().to_string(), "15");
        assert_eq!((c.currency, c.goal_id.as_deref()), (Some("USD"), None));
        // East of UTC, the other way: 00:30 in Berlin is the previous UTC day.
        let c =
            TuneConversion::read(&raw("2026-12-01 00:30:00"), chrono_tz::Europe::Berlin).unwrap();
        assert_eq!(c.at.to_rfc3339(), "2026-11-30T23:30:00+00:00");
    }

    #[test]
    fn daylight_saving_edges() {
        let tz = chrono_tz::America::New_York;
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        // 01:30 happens twice on 2026-11-01: the first (EDT, UTC-4) is taken.
        assert_eq!(
            network_to_utc(t("2026-11-01 01:30:00"), tz).to_rfc3339(),
            "2026-11-01T05:30:00+00:00"
        );
        // 02:30 does not exist on 2026-03-08: read as 03:30 EDT.
        assert_eq!(
            network_to_utc(t("2026-03-08 02:30:00"), tz).to_rfc3339(),
            "2026-03-08T07:30:00+00:00"
        );
    }

    #[test]
    fn bad_rows_say_why() {
        let tz = chrono_tz::UTC;
        let bad = |r: RawConversion<'_>| TuneConversion::read(&r, tz).unwrap_err();
        assert!(
            bad(RawConversion {
                ad_id: None,
                ..raw("2026-11-30 10:00:00")
            })
            .contains("no transaction ID")
        );
        assert!(
            bad(RawConversion {
                payout: Some("12,5"),
                ..raw("2026-11-30 10:00:00")
            })
            .contains("Stat.payout")
        );
        assert!(
            bad(RawConversion {
                payout: Some("1e3"),
                ..raw("2026-11-30 10:00:00")
            })
            .contains("Stat.payout")
        );
        assert!(bad(raw("0000-00-00 00:00:00")).contains("Stat.datetime"));
        assert!(
            bad(RawConversion {
                currency: Some("XYZ"),
                ..raw("2026-11-30 10:00:00")
            })
            .contains("ISO-4217")
        );
        assert!(
            bad(RawConversion {
                status: Some("weird"),
                ..raw("2026-11-30 10:00:00")
            })
            .contains("status")
        );
        // A click ID alone is enough.
        let ok = TuneConversion::read(
            &RawConversion {
                ad_id: None,
                click_id: Some("C"),
                ..raw("2026-11-30 10:00:00")
            },
            tz,
        );
        assert!(ok.is_ok());
    }
}
