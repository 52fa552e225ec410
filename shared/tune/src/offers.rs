//! Mapping TUNE offer rows (`Offer::findAll` in network mode, `Affiliate_Offer::findMyApprovedOffers`
//! in affiliate mode) to the neutral [`RemoteOffer`].
//!
//! TUNE sends almost every scalar as a string (`"15.00000"`, `"0"`/`"1"`), sometimes as a number.
//! Money is parsed straight from the text into [`Decimal`]; never through `f64`.
//! Rows are `{"Offer": {...}}` (network `Offer::findAll`) or `{"Offer": {...}, "AffiliateOffer":
//! {...}}` (affiliate `findMyApprovedOffers`); contained models sit next to `Offer` and are ignored.

use crate::envelope::{Paged, parse_paged};
use crate::error::TuneError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::str::FromStr;

/// An offer as the rest of affnet sees it, whatever the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteOffer {
    /// TUNE's offer id, as text.
    pub remote_id: String,
    pub name: String,
    pub description: Option<String>,
    /// The advertiser's landing page preview.
    pub preview_url: Option<String>,
    /// The advertiser's offer URL (network API only; affiliates do not see it).
    pub offer_url: Option<String>,
    /// `default_payout`, zero when TUNE sends none (e.g. pure percentage offers).
    pub default_payout: Decimal,
    /// `cpa_flat`, `cpa_percentage`, `cpa_both`, `cpc`, `cpm`, as TUNE sends it; `unknown` if absent.
    pub payout_type: String,
    /// `percent_payout` ("25.00" = 25 %), as sent; meaningful for cpa_percentage/cpa_both.
    pub percent_payout: Option<Decimal>,
    /// Three-letter code; `None` means the network's default currency.
    pub currency: Option<String>,
    /// Network API only; `None` when absent or `"0"`.
    pub advertiser_id: Option<String>,
    /// Filled by the caller from [`crate::TuneClient::advertiser_names`], never by the parser.
    pub advertiser_name: Option<String>,
    /// `active`, `paused`, `pending`, `expired`, `deleted`, lower-cased; `unknown` if absent.
    pub status: String,
    /// `YYYY-MM-DD HH:MM:SS` in the network's time zone; `None` for absent or zero dates.
    pub expiration_date: Option<String>,
    pub require_approval: Option<bool>,
    pub is_private: Option<bool>,
    /// Affiliate API: `AffiliateOffer.approval_status` (or `Offer.approval_status`).
    pub approval_status: Option<String>,
}

impl RemoteOffer {
    /// Sets `advertiser_name` from an id → company map.
    pub fn fill_advertiser_name(&mut self, names: &BTreeMap<String, String>) {
        if let Some(id) = &self.advertiser_id {
            self.advertiser_name = names.get(id).cloned();
        }
    }
}

/// A row that could not be mapped; the rest of the page is still usable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedOffer {
    pub remote_id: Option<String>,
    pub reason: String,
}

/// One page of offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferPage {
    /// 1-based page number as TUNE reports it.
    pub page: u32,
    /// Total pages (0 when there are no offers at all).
    pub page_count: u32,
    /// Total offers over all pages.
    pub count: u64,
    pub offers: Vec<RemoteOffer>,
    pub skipped: Vec<SkippedOffer>,
}

/// A tracking link from `generateTrackingLink`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingLink {
    pub click_url: String,
    pub impression_pixel: Option<String>,
    pub offer_id: Option<String>,
    pub affiliate_id: Option<String>,
}

/// Maps the `data` of an offer list call.
pub fn parse_offer_page(data: Value) -> Result<OfferPage, TuneError> {
    let Paged {
        page,
        page_count,
        count,
        rows,
    } = parse_paged(data)?;
    let mut offers = Vec::with_capacity(rows.len());
    let mut skipped = Vec::new();
    for (_, row) in rows {
        match parse_offer_row(&row) {
            Ok(o) => offers.push(o),
            Err(s) => skipped.push(s),
        }
    }
    Ok(OfferPage {
        page,
        page_count,
        count,
        offers,
        skipped,
    })
}

/// Maps one row (`{"Offer": {...}, "AffiliateOffer": {...}}` or a bare offer object).
pub fn parse_offer_row(row: &Value) -> Result<RemoteOffer, SkippedOffer> {
    let skip = |id: Option<String>, reason: String| SkippedOffer {
        remote_id: id,
        reason,
    };
    let Some(obj) = row.as_object() else {
        return Err(skip(None, "row is not an object".into()));
    };
    let offer = match obj.get("Offer") {
        Some(Value::Object(o)) => o,
        Some(_) => return Err(skip(None, "`Offer` is not an object".into())),
        None => obj,
    };
    let Some(remote_id) = text(offer.get("id")) else {
        return Err(skip(None, "offer has no id".into()));
    };
    let id = Some(remote_id.clone());
    let Some(name) = text(offer.get("name")) else {
        return Err(skip(id, "offer has no name".into()));
    };
    let money = |key: &str| {
        decimal(offer.get(key))
            .map_err(|bad| skip(id.clone(), format!("`{key}` is not a number: {bad}")))
    };
    let default_payout = money("default_payout")?.unwrap_or(Decimal::ZERO);
    let percent_payout = money("percent_payout")?;
    let affiliate_offer = obj.get("AffiliateOffer").and_then(Value::as_object);
    let approval_status = affiliate_offer
        .and_then(|a| text(a.get("approval_status")))
        .or_else(|| text(offer.get("approval_status")));
    Ok(RemoteOffer {
        remote_id,
        name,
        description: text(offer.get("description")),
        preview_url: text(offer.get("preview_url")),
        offer_url: text(offer.get("offer_url")),
        default_payout,
        payout_type: lower(offer, "payout_type"),
        percent_payout,
        currency: text(offer.get("currency")).map(|c| c.to_ascii_uppercase()),
        advertiser_id: text(offer.get("advertiser_id")).filter(|a| a != "0"),
        advertiser_name: None,
        status: lower(offer, "status"),
        expiration_date: text(offer.get("expiration_date"))
            .filter(|d| !d.starts_with("0000-00-00")),
        require_approval: flag(offer.get("require_approval")),
        is_private: flag(offer.get("is_private")),
        approval_status,
    })
}

/// Maps `Advertiser::findAll` rows to `id → company`.
pub fn parse_advertisers(data: Value) -> Result<(Paged, BTreeMap<String, String>), TuneError> {
    let mut paged = parse_paged(data)?;
    let mut names = BTreeMap::new();
    for (_, row) in std::mem::take(&mut paged.rows) {
        let adv = row.get("Advertiser").unwrap_or(&row);
        if let (Some(id), Some(company)) = (text(adv.get("id")), text(adv.get("company"))) {
            names.insert(id, company);
        }
    }
    Ok((paged, names))
}

/// Maps the `data` of `generateTrackingLink`.
pub fn parse_tracking_link(data: &Value) -> Result<TrackingLink, TuneError> {
    let click_url = text(data.get("click_url"))
        .ok_or_else(|| TuneError::Malformed("generateTrackingLink returned no click_url".into()))?;
    Ok(TrackingLink {
        click_url,
        impression_pixel: text(data.get("impression_pixel")),
        offer_id: text(data.get("offer_id")),
        affiliate_id: text(data.get("affiliate_id")),
    })
}

/// A non-empty trimmed string from a string or a number.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_string),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn lower(offer: &Map<String, Value>, key: &str) -> String {
    text(offer.get(key))
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_else(|| "unknown".into())
}

/// `"1"`/`"0"`, `1`/`0`, `true`/`false`.
fn flag(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.trim() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A decimal from TUNE's text (`"15.00000"`), or from a JSON number's own text. `Ok(None)` for
/// null or empty; `Err(text)` when it is not a number.
pub fn decimal(v: Option<&Value>) -> Result<Option<Decimal>, String> {
    let raw = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => return Err(other.to_string()),
    };
    Decimal::from_str(&raw)
        .or_else(|_| Decimal::from_scientific(&raw))
        .map(|d| Some(d.normalize()))
        .map_err(|_| raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn maps_network_offer() {
        let row = json!({"Offer": {"id": "62", "name": " Shop & Save ", "description": "",
            "preview_url": "https://shop.example/", "offer_url": "https://t.example/?tid={transaction_id}",
            "default_payout": "15.00000", "payout_type": "cpa_both", "percent_payout": "25.50",
            "currency": "eur", "advertiser_id": "7", "status": "Active",
            "expiration_date": "2030-12-31 23:59:59", "require_approval": "1", "is_private": "0"},
            "Country": {"ES": {"code": "ES"}}});
        let o = parse_offer_row(&row).unwrap();
        assert_eq!(o.remote_id, "62");
        assert_eq!(o.name, "Shop & Save");
        assert_eq!(o.description, None);
        assert_eq!(o.preview_url.as_deref(), Some("https://shop.example/"));
        assert_eq!(o.default_payout, dec("15"));
        assert_eq!(o.default_payout.to_string(), "15");
        assert_eq!(o.percent_payout, Some(dec("25.5")));
        assert_eq!(o.payout_type, "cpa_both");
        assert_eq!(o.currency.as_deref(), Some("EUR"));
        assert_eq!(o.advertiser_id.as_deref(), Some("7"));
        assert_eq!(o.status, "active");
        assert_eq!(o.require_approval, Some(true));
        assert_eq!(o.is_private, Some(false));
        assert_eq!(o.approval_status, None);
    }

    #[test]
    fn maps_affiliate_row_and_odd_types() {
        let row = json!({"Offer": {"id": 871, "name": "App", "default_payout": 1.1, "payout_type": "cpa_flat",
            "percent_payout": null, "currency": null, "status": "active", "expiration_date": "0000-00-00 00:00:00",
            "approval_status": "approved"},
            "AffiliateOffer": {"id": "5", "affiliate_id": "94", "offer_id": "871", "approval_status": "approved"}});
        let o = parse_offer_row(&row).unwrap();
        assert_eq!(o.remote_id, "871");
        assert_eq!(o.default_payout, dec("1.1"));
        assert_eq!((o.percent_payout, o.currency.clone()), (None, None));
        assert_eq!((o.offer_url.clone(), o.advertiser_id.clone()), (None, None));
        assert_eq!(o.expiration_date, None);
        assert_eq!(o.approval_status.as_deref(), Some("approved"));
    }

    #[test]
    fn precise_decimals_never_via_float() {
        let d = decimal(Some(&json!("0.10000000000000000001")))
            .unwrap()
            .unwrap();
        assert_eq!(d.to_string(), "0.10000000000000000001");
        assert_eq!(decimal(Some(&json!("1e2"))).unwrap(), Some(dec("100")));
        assert_eq!(decimal(Some(&json!(""))).unwrap(), None);
        assert_eq!(decimal(Some(&json!("abc"))).unwrap_err(), "abc");
    }

    #[test]
    fn bad_rows_are_skipped_not_fatal() {
        let data = json!({"page": 1, "current": 0, "count": 4, "pageCount": 1, "data": {
            "1": {"Offer": {"id": "1", "name": "Good", "default_payout": "2.50000", "status": "active"}},
            "2": {"Offer": {"id": "2", "name": "Bad payout", "default_payout": "n/a"}},
            "3": {"Offer": {"id": "3"}},
            "4": "junk"}});
        let page = parse_offer_page(data).unwrap();
        assert_eq!(page.offers.len(), 1);
        assert_eq!(page.offers[0].default_payout, dec("2.5"));
        assert_eq!(page.offers[0].payout_type, "unknown");
        let reasons: Vec<_> = page
            .skipped
            .iter()
            .map(|s| (s.remote_id.clone(), s.reason.clone()))
            .collect();
        assert_eq!(
            reasons[0],
            (
                Some("2".into()),
                "`default_payout` is not a number: n/a".into()
            )
        );
        assert_eq!(reasons[1], (Some("3".into()), "offer has no name".into()));
        assert_eq!(reasons[2].0, None);
    }

    #[test]
    fn advertisers_and_tracking_link() {
        let (paged, names) = parse_advertisers(json!({"page": 1, "pageCount": 1, "count": 2, "data": {
            "3": {"Advertiser": {"id": "3", "company": "ACME"}}, "4": {"Advertiser": {"id": "4"}}}}))
        .unwrap();
        assert_eq!(paged.count, 2);
        assert_eq!(names.get("3").map(String::as_str), Some("ACME"));
        assert_eq!(names.len(), 1);

        let link = parse_tracking_link(&json!({"affiliate_id": "94", "offer_id": 472,
            "click_url": "http://demo.go2cloud.org/aff_c?offer_id=472&aff_id=94&aff_click_id={click_id}",
            "impression_pixel": "<img src=\"x\"/>"}))
        .unwrap();
        assert_eq!(link.offer_id.as_deref(), Some("472"));
        assert!(link.click_url.ends_with("aff_click_id={click_id}"));
        assert!(parse_tracking_link(&json!({})).is_err());

        let mut o =
            parse_offer_row(&json!({"id": "1", "name": "n", "advertiser_id": "3"})).unwrap();
        o.fill_advertiser_name(&names);
        assert_eq!(o.advertiser_name.as_deref(), Some("ACME"));
    }
}
