//! Conversions: one item per conversion, `CONV#<id>` / `META`, listed newest first through GSI1
//! (`CONVS` / `<created_at RFC3339 millis>#<id>`).
//!
//! The record and its totals are written by the postback use case (affnet-app
//! `postbacks::record`) in one batch; this module only knows the item shapes and the reads.

use crate::port::{Index, Item, Key, Query, StoreError};
use crate::repo::{Repo, RepoError, decode, encode};
use crate::totals::Attribution;
use affnet_core::Status;
use affnet_core::conversion::HistoryEntry;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// GSI1 partition of every conversion, sorted by creation time.
pub const CONVERSIONS_INDEX_PK: &str = "CONVS";

/// One conversion as stored. Money is decimal; `currency` is the postback's (TUNE: else the
/// integration's `default_currency`), `None` when the network sent none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversion {
    /// `cv_` + 32 hex of SHA-256 of `identity`: the same postback always lands on one id.
    pub id: String,
    pub integration_id: String,
    pub network: String,
    /// The exactly-once key ([`affnet_core::Decision::identity`]).
    pub identity: String,
    /// The network's id of the conversion (`eid`, TUNE `transaction_id`).
    pub transaction_id: Option<String>,
    /// The click ID as sent, verified or not.
    pub click_id: Option<String>,
    /// Whether `click_id` verified as ours: attributed to offer, message and creative.
    pub matched: bool,
    /// Why it is unmatched (`click_id_signature`, `click_absent`...).
    pub unmatched_reason: Option<String>,
    pub offer_id: Option<String>,
    pub message_id: Option<String>,
    pub creative_id: Option<String>,
    /// When the click happened (from the signed click ID).
    pub click_time: Option<DateTime<Utc>>,
    pub goal_id: Option<String>,
    pub remote_offer_id: Option<String>,
    pub status: Status,
    pub raw_status: String,
    pub payout: Option<Decimal>,
    pub currency: Option<String>,
    pub sale_amount: Option<Decimal>,
    pub reason: Option<u32>,
    pub duplicate: bool,
    pub comment: Option<String>,
    /// TUNE's test conversions: kept, never counted in totals.
    pub test: bool,
    /// UTC day of creation: the conversion's totals stay on this day whatever happens later.
    pub day: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub history: Vec<HistoryEntry>,
    #[serde(skip)]
    pub version: u64,
}

impl Conversion {
    /// Who this conversion counts for: nobody for a test, the day only while unmatched.
    pub fn attribution(&self) -> Option<Attribution> {
        if self.test {
            return None;
        }
        if !self.matched {
            return Some(Attribution::default());
        }
        Some(Attribution {
            offer_id: self.offer_id.clone(),
            message_id: self.message_id.clone(),
            creative_id: self.creative_id.clone(),
            click_id: self.click_id.clone(),
        })
    }
}

pub fn conversion_key(id: &str) -> Key {
    Key::new(format!("CONV#{id}"), "META")
}

/// Sort key in the index: creation time to the millisecond, then the id (unique).
pub fn conversion_index_sk(created_at: DateTime<Utc>, id: &str) -> String {
    format!(
        "{}#{id}",
        created_at.to_rfc3339_opts(SecondsFormat::Millis, true)
    )
}

pub fn conversion_item(conversion: &Conversion, version: u64) -> Result<Item, StoreError> {
    let mut item = Item::new(conversion_key(&conversion.id), encode(conversion)?);
    item.version = version;
    item.index_key = Some(Key::new(
        CONVERSIONS_INDEX_PK,
        conversion_index_sk(conversion.created_at, &conversion.id),
    ));
    Ok(item)
}

pub fn conversion_from(item: &Item) -> Result<Conversion, StoreError> {
    let mut conversion: Conversion = decode(item)?;
    conversion.version = item.version;
    Ok(conversion)
}

/// A time window over the creation time, both ends inclusive.
#[derive(Debug, Clone, Default)]
pub struct TimeRange {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One page of conversions: `next` is the index sort key to continue below.
pub struct ConversionPage {
    pub items: Vec<Conversion>,
    pub next: Option<String>,
}

/// At most this many items are read to fill one filtered page; the cursor then continues.
const MAX_SCANNED: usize = 1_000;

impl Repo {
    pub async fn get_conversion(&self, id: &str) -> Result<Option<Conversion>, RepoError> {
        match self.items().get(&conversion_key(id)).await? {
            Some(item) => Ok(Some(conversion_from(&item)?)),
            None => Ok(None),
        }
    }

    /// Conversions newest first within `range`, keeping those `keep` accepts. `cursor` is the
    /// index sort key of the last item of the previous page. A page may come back short with a
    /// cursor when the filter skipped many items.
    pub async fn list_conversions(
        &self,
        range: &TimeRange,
        keep: impl Fn(&Conversion) -> bool,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<ConversionPage, RepoError> {
        let millis = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        let from = range.from.map(millis);
        // `~` sorts after every id character, so the bound includes ids at that instant.
        let mut upper = range.to.map(|t| format!("{}#~", millis(t)));
        if let Some(c) = &cursor {
            upper = Some(match upper {
                Some(u) if u < *c => u,
                _ => c.clone(),
            });
        }
        let mut items = Vec::new();
        let mut scanned = 0;
        let mut store_cursor = None;
        loop {
            let page = self
                .items()
                .query(&Query {
                    index: Index::Gsi1,
                    sk_from: from.clone(),
                    sk_to: upper.clone(),
                    descending: true,
                    limit: (limit + 1).min(200),
                    cursor: store_cursor.take(),
                    ..Query::partition(CONVERSIONS_INDEX_PK)
                })
                .await?;
            for item in &page.items {
                let sk = item.index_key.as_ref().map(|k| k.sk.clone());
                // The cursor item itself was on the previous page.
                if sk.is_some() && sk == cursor {
                    continue;
                }
                scanned += 1;
                let conversion = conversion_from(item)?;
                if keep(&conversion) {
                    items.push(conversion);
                }
                if items.len() == limit || scanned >= MAX_SCANNED {
                    let more = items.len() < limit
                        || page.next.is_some()
                        || !std::ptr::eq(item, page.items.last().expect("non-empty"));
                    return Ok(ConversionPage {
                        items,
                        next: if more { sk } else { None },
                    });
                }
            }
            match page.next {
                Some(next) => store_cursor = Some(next),
                None => return Ok(ConversionPage { items, next: None }),
            }
        }
    }
}
