//! Offers: where clicks are sent. Created by hand or written by offer sync.

use crate::catalogue::Network;
use crate::error::InputError;
use crate::money;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The placeholder a tracking URL must hold; a click replaces it with its click ID.
pub const CLICK_ID_PLACEHOLDER: &str = "{click_id}";
pub const PAYOUT_TYPES: &[&str] = &["cpa_flat", "cpa_percentage", "cpa_both", "cpc", "cpm"];
const MAX_URL_LEN: usize = 2_048;
const MAX_NAME_LEN: usize = 255;
/// Payout changes kept on the offer (the latest ones).
pub const PAYOUT_HISTORY_LEN: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferStatus {
    Active,
    Paused,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayoutChange {
    pub at: DateTime<Utc>,
    pub from: Decimal,
    pub to: Decimal,
    pub currency: String,
    /// `manual` or `sync`.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub id: String,
    pub integration_id: String,
    pub name: String,
    pub tracking_url: String,
    pub payout: Decimal,
    pub currency: String,
    pub payout_type: String,
    pub advertiser: Option<String>,
    pub status: OfferStatus,
    /// The offer's id at the network (TUNE offer id), for synced offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    /// Offer parameters of the network (`zcpa` flow id, `leadbit` + `leadsite`...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payout_history: Vec<PayoutChange>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: u64,
}

const FIELDS: &[&str] = &[
    "integration_id",
    "name",
    "tracking_url",
    "payout",
    "currency",
    "payout_type",
    "advertiser",
    "status",
    "params",
];

impl Offer {
    /// A new offer from a `POST /offers` body; `network` is the integration's catalogue entry.
    pub fn create(
        network: &Network,
        body: &Map<String, Value>,
        id: String,
        now: DateTime<Utc>,
    ) -> Result<Offer, InputError> {
        for required in [
            "integration_id",
            "name",
            "tracking_url",
            "payout",
            "currency",
        ] {
            if body.get(required).is_none_or(Value::is_null) {
                return Err(InputError::missing(required));
            }
        }
        let mut offer = Offer {
            id,
            integration_id: string(body, "integration_id", 64)?.unwrap_or_default(),
            name: String::new(),
            tracking_url: String::new(),
            payout: Decimal::ZERO,
            currency: String::new(),
            payout_type: "cpa_flat".into(),
            advertiser: None,
            status: OfferStatus::Active,
            remote_id: None,
            params: BTreeMap::new(),
            payout_history: Vec::new(),
            created_at: now,
            updated_at: now,
            version: 0,
        };
        offer.apply(network, body, None)?;
        Ok(offer)
    }

    /// Applies a `PATCH /offers/{id}` body.
    pub fn patch(
        &self,
        network: &Network,
        body: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<Offer, InputError> {
        if let Some(v) = body.get("integration_id")
            && v.as_str() != Some(self.integration_id.as_str())
        {
            return Err(InputError::new(
                "immutable_field",
                "integration_id",
                "an offer cannot move to another integration",
            ));
        }
        let mut next = self.clone();
        next.apply(network, body, Some(now))?;
        next.updated_at = now;
        Ok(next)
    }

    fn apply(
        &mut self,
        network: &Network,
        body: &Map<String, Value>,
        changed_at: Option<DateTime<Utc>>,
    ) -> Result<(), InputError> {
        if let Some(k) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(InputError::unknown(k));
        }
        if let Some(name) = string(body, "name", MAX_NAME_LEN)? {
            self.name = name;
        }
        if let Some(url) = string(body, "tracking_url", MAX_URL_LEN)? {
            self.tracking_url = check_tracking_url(&url)?;
        }
        if let Some(currency) = string(body, "currency", 3)? {
            self.currency = money::currency(&currency)
                .ok_or_else(|| {
                    InputError::invalid(
                        "currency",
                        format!("`{currency}` is not an ISO-4217 currency code"),
                    )
                })?
                .to_string();
        }
        if let Some(payout) = body.get("payout") {
            let text = match payout {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => {
                    return Err(InputError::wrong_type(
                        "payout",
                        "a decimal number or string",
                    ));
                }
            };
            let payout = money::parse_amount(&text)
                .map_err(|e| InputError::invalid("payout", format!("`payout`: {e}")))?;
            match changed_at {
                Some(now) => self.set_payout(payout, "manual", now),
                None => self.payout = payout,
            }
        }
        if let Some(kind) = string(body, "payout_type", 20)? {
            if !PAYOUT_TYPES.contains(&kind.as_str()) {
                return Err(InputError::invalid(
                    "payout_type",
                    format!("`payout_type` must be one of: {}", PAYOUT_TYPES.join(", ")),
                ));
            }
            self.payout_type = kind;
        }
        match body.get("advertiser") {
            Some(Value::Null) => self.advertiser = None,
            Some(_) => self.advertiser = string(body, "advertiser", MAX_NAME_LEN)?,
            None => {}
        }
        if let Some(status) = string(body, "status", 10)? {
            self.status = match status.as_str() {
                "active" => OfferStatus::Active,
                "paused" => OfferStatus::Paused,
                _ => {
                    return Err(InputError::invalid(
                        "status",
                        "`status` must be active or paused",
                    ));
                }
            };
        }
        if let Some(params) = body.get("params") {
            self.params = check_params(network, params)?;
        }
        for param in network.params.iter().filter(|p| p.required) {
            if !self.params.contains_key(&param.key) {
                return Err(InputError::new(
                    "missing_field",
                    format!("params.{}", param.key),
                    format!(
                        "{} offers need `params.{}`: {}",
                        network.name, param.key, param.meaning
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Changes the payout of an existing offer, keeping the change in the bounded history.
    pub fn set_payout(&mut self, payout: Decimal, source: &str, now: DateTime<Utc>) {
        if payout == self.payout {
            return;
        }
        self.payout_history.push(PayoutChange {
            at: now,
            from: self.payout,
            to: payout,
            currency: self.currency.clone(),
            source: source.into(),
        });
        let excess = self.payout_history.len().saturating_sub(PAYOUT_HISTORY_LEN);
        self.payout_history.drain(..excess);
        self.payout = payout;
    }

    /// The tracking URL with this click's ID in place of `{click_id}` (URL-encoded).
    pub fn redirect_url(&self, click_id: &str) -> String {
        self.tracking_url.replace(
            CLICK_ID_PLACEHOLDER,
            &url::form_urlencoded::byte_serialize(click_id.as_bytes()).collect::<String>(),
        )
    }
}

fn string(
    body: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<String>, InputError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() || s.chars().count() > max {
                return Err(InputError::out_of_range(
                    field,
                    format!("`{field}` must have 1 to {max} characters"),
                ));
            }
            Ok(Some(s.to_string()))
        }
        Some(_) => Err(InputError::wrong_type(field, "a string")),
    }
}

/// Only absolute http(s) URLs with a `{click_id}` placeholder: they are redirect targets.
pub fn check_tracking_url(text: &str) -> Result<String, InputError> {
    let parsed = url::Url::parse(&text.replace(CLICK_ID_PLACEHOLDER, "CLICKID")).map_err(|e| {
        InputError::invalid("tracking_url", format!("`tracking_url` is not a URL: {e}"))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(InputError::invalid(
            "tracking_url",
            "`tracking_url` must be an absolute http or https URL",
        ));
    }
    if !text.contains(CLICK_ID_PLACEHOLDER) {
        return Err(InputError::invalid(
            "tracking_url",
            "`tracking_url` must contain {click_id} where the network takes our click ID (e.g. aff_click_id={click_id} or sub1={click_id})",
        ));
    }
    Ok(text.to_string())
}

fn check_params(network: &Network, value: &Value) -> Result<BTreeMap<String, String>, InputError> {
    let map = value
        .as_object()
        .ok_or_else(|| InputError::wrong_type("params", "a JSON object"))?;
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let field = format!("params.{key}");
        let Some(spec) = network.params.iter().find(|p| &p.key == key) else {
            let known: Vec<&str> = network.params.iter().map(|p| p.key.as_str()).collect();
            return Err(InputError::new(
                "unknown_field",
                field,
                format!(
                    "{} offers take no parameter `{key}` (known: {})",
                    network.name,
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        };
        let text = match value {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            _ => return Err(InputError::wrong_type(&field, "a string")),
        };
        if let Some(length) = spec.length {
            if text.chars().count() != length {
                return Err(InputError::out_of_range(
                    &field,
                    format!(
                        "`{field}` must have exactly {length} characters: {}",
                        spec.meaning
                    ),
                ));
            }
        } else if text.is_empty() || text.len() > 512 {
            return Err(InputError::out_of_range(
                &field,
                format!("`{field}` must have 1 to 512 characters"),
            ));
        }
        out.insert(key.clone(), text);
    }
    Ok(out)
}
