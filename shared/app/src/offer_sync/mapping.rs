//! TUNE offer → affnet offer, exactly the field table of TUNE's integration guide ("What Syncs",
//! also in the README):
//!
//! | TUNE | affnet |
//! |---|---|
//! | offer name | `name`, after the integration's `offer_name_prefix` and a space |
//! | preview URL | `tracking_url`: the preview URL plus `aff_click_id={click_id}` |
//! | default payout | `payout` (decimal, never a float) |
//! | payout type | `payout_type` |
//! | advertiser | `advertiser` (the advertiser's company name, network API only) |
//! | status | `status`: `active` stays active, anything else is paused |
//!
//! plus `currency` (TUNE's, or the integration's `default_currency` when TUNE sends none) and
//! `remote_id`. `aff_click_id` is the click parameter TUNE recommends for unique values and
//! returns in postbacks as the `{aff_click_id}` macro, so postbacks find the click.
//!
//! The fingerprint digests every mapped field: equal fingerprints mean nothing to write.

use affnet_core::offer::{self, Offer, OfferStatus};
use affnet_core::{Integration, money};
use affnet_tune::RemoteOffer;
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The parameter that carries our click id through TUNE and back in its postbacks.
pub const CLICK_PARAM: &str = "aff_click_id";
const MAX_NAME_LEN: usize = 255;
const MAX_URL_LEN: usize = 2_048;

/// The fields sync owns, mapped from one TUNE offer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MappedOffer {
    pub remote_id: String,
    pub name: String,
    pub tracking_url: String,
    pub payout: Decimal,
    pub currency: String,
    pub payout_type: String,
    pub advertiser: Option<String>,
    pub status: OfferStatus,
}

/// What mapping needs besides the offer: the integration's settings and advertiser names.
pub struct MapContext {
    pub integration_id: String,
    pub prefix: String,
    pub default_currency: String,
    /// Advertiser id → company (network API); empty in affiliate mode.
    pub advertisers: BTreeMap<String, String>,
}

impl MapContext {
    /// From the integration's settings; `Err` names a bad `default_currency`.
    pub fn new(
        integration: &Integration,
        advertisers: BTreeMap<String, String>,
    ) -> Result<MapContext, String> {
        let tune = integration
            .tune()
            .ok_or_else(|| format!("integration {} is not a TUNE account", integration.id))?;
        Ok(MapContext {
            integration_id: integration.id.clone(),
            prefix: tune.offer_name_prefix.clone(),
            default_currency: tune.default_currency.to_string(),
            advertisers,
        })
    }

    /// Maps one TUNE offer, or says why it cannot be imported.
    pub fn map(&self, remote: &RemoteOffer) -> Result<MappedOffer, String> {
        // Settings are stored trimmed, so the prefix is joined with one space.
        let prefix = self.prefix.trim();
        let full = match prefix.is_empty() {
            true => remote.name.trim().to_string(),
            false => format!("{prefix} {}", remote.name.trim()),
        };
        let name: String = full.chars().take(MAX_NAME_LEN).collect();
        let preview = remote
            .preview_url
            .as_deref()
            .ok_or("the offer has no preview URL to send clicks to")?;
        let tracking_url = tracking_url(preview)?;
        let payout = money::check_amount(remote.default_payout)
            .map_err(|e| format!("default payout {}: {e}", remote.default_payout))?;
        if !offer::PAYOUT_TYPES.contains(&remote.payout_type.as_str()) {
            return Err(format!(
                "payout type `{}` is not one of {}",
                remote.payout_type,
                offer::PAYOUT_TYPES.join(", ")
            ));
        }
        let currency = match &remote.currency {
            Some(code) => money::currency(code)
                .ok_or_else(|| format!("currency `{code}` is not an ISO-4217 code"))?
                .to_string(),
            None => self.default_currency.clone(),
        };
        let advertiser = remote
            .advertiser_name
            .clone()
            .or_else(|| {
                let id = remote.advertiser_id.as_ref()?;
                self.advertisers.get(id).cloned()
            })
            .map(|a| a.chars().take(MAX_NAME_LEN).collect());
        let status = if remote.status == "active" {
            OfferStatus::Active
        } else {
            OfferStatus::Paused
        };
        Ok(MappedOffer {
            remote_id: remote.remote_id.clone(),
            name,
            tracking_url,
            payout,
            currency,
            payout_type: remote.payout_type.clone(),
            advertiser,
            status,
        })
    }
}

/// The preview URL with `aff_click_id={click_id}` (replacing any `aff_click_id` already there),
/// fragment dropped.
pub fn tracking_url(preview: &str) -> Result<String, String> {
    let base = preview.trim().split('#').next().unwrap_or_default();
    let (path, query) = base.split_once('?').unwrap_or((base, ""));
    let mut pairs: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(CLICK_PARAM))
        .collect();
    let ours = format!("{CLICK_PARAM}={}", offer::CLICK_ID_PLACEHOLDER);
    pairs.push(&ours);
    let url = format!("{path}?{}", pairs.join("&"));
    if url.len() > MAX_URL_LEN {
        return Err(format!(
            "the preview URL is longer than {MAX_URL_LEN} characters"
        ));
    }
    offer::check_tracking_url(&url).map_err(|e| format!("preview URL `{preview}`: {}", e.message))
}

impl MappedOffer {
    /// A digest of every mapped field (32 hex characters).
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(&Sha256::digest(&json)[..16])
    }

    /// A new offer holding these fields.
    pub fn new_offer(&self, integration_id: &str, now: chrono::DateTime<chrono::Utc>) -> Offer {
        Offer {
            id: affnet_core::ids::new_id(),
            integration_id: integration_id.to_string(),
            name: self.name.clone(),
            tracking_url: self.tracking_url.clone(),
            payout: self.payout,
            currency: self.currency.clone(),
            payout_type: self.payout_type.clone(),
            advertiser: self.advertiser.clone(),
            status: self.status,
            remote_id: Some(self.remote_id.clone()),
            params: BTreeMap::new(),
            payout_history: Vec::new(),
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// Writes these fields over a stored offer. A payout change is kept in the offer's history
    /// (source `sync`): automatic payout updates ("revenue sync").
    pub fn apply_to(&self, offer: &mut Offer, now: chrono::DateTime<chrono::Utc>) {
        offer.set_payout(self.payout, "sync", now);
        offer.currency = self.currency.clone();
        offer.name = self.name.clone();
        offer.tracking_url = self.tracking_url.clone();
        offer.payout_type = self.payout_type.clone();
        offer.advertiser = self.advertiser.clone();
        offer.status = self.status;
        offer.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn remote() -> RemoteOffer {
        RemoteOffer {
            remote_id: "62".into(),
            name: "Shop".into(),
            description: None,
            preview_url: Some("https://shop.example/p?x=1#top".into()),
            offer_url: None,
            default_payout: Decimal::from_str("15.00000").unwrap(),
            payout_type: "cpa_flat".into(),
            percent_payout: None,
            currency: None,
            advertiser_id: Some("7".into()),
            advertiser_name: None,
            status: "active".into(),
            expiration_date: None,
            require_approval: None,
            is_private: None,
            approval_status: None,
        }
    }

    fn ctx() -> MapContext {
        MapContext {
            integration_id: "01I".into(),
            prefix: "[A]".into(),
            default_currency: "EUR".into(),
            advertisers: [("7".to_string(), "ACME".to_string())].into(),
        }
    }

    #[test]
    fn maps_the_seed_table() {
        let m = ctx().map(&remote()).unwrap();
        assert_eq!(m.name, "[A] Shop");
        assert_eq!(
            m.tracking_url,
            "https://shop.example/p?x=1&aff_click_id={click_id}"
        );
        assert_eq!(m.payout.to_string(), "15");
        assert_eq!(m.currency, "EUR");
        assert_eq!(m.advertiser.as_deref(), Some("ACME"));
        assert_eq!(m.status, OfferStatus::Active);
        let paused = ctx()
            .map(&RemoteOffer {
                status: "expired".into(),
                ..remote()
            })
            .unwrap();
        assert_eq!(paused.status, OfferStatus::Paused);
        assert_ne!(paused.fingerprint(), m.fingerprint());
        assert_eq!(m.fingerprint(), ctx().map(&remote()).unwrap().fingerprint());
    }

    #[test]
    fn the_prefix_is_joined_with_one_space() {
        for prefix in ["[A]", "[A] ", " [A]  "] {
            let ctx = MapContext {
                prefix: prefix.into(),
                ..ctx()
            };
            assert_eq!(ctx.map(&remote()).unwrap().name, "[A] Shop", "{prefix:?}");
        }
        let none = MapContext {
            prefix: String::new(),
            ..ctx()
        };
        assert_eq!(none.map(&remote()).unwrap().name, "Shop");
    }

    #[test]
    fn tracking_urls() {
        assert_eq!(
            tracking_url("https://a.example/").unwrap(),
            "https://a.example/?aff_click_id={click_id}"
        );
        assert_eq!(
            tracking_url("https://a.example/?aff_click_id=old&b=2").unwrap(),
            "https://a.example/?b=2&aff_click_id={click_id}"
        );
        assert!(tracking_url("ftp://a.example/").is_err());
        assert!(tracking_url("not a url").is_err());
    }

    #[test]
    fn refuses_what_cannot_be_imported() {
        let bad = |r: RemoteOffer| ctx().map(&r).unwrap_err();
        assert!(
            bad(RemoteOffer {
                preview_url: None,
                ..remote()
            })
            .contains("preview URL")
        );
        assert!(
            bad(RemoteOffer {
                payout_type: "unknown".into(),
                ..remote()
            })
            .contains("payout type")
        );
        assert!(
            bad(RemoteOffer {
                default_payout: Decimal::from(2_000_000),
                ..remote()
            })
            .contains("default payout")
        );
        assert!(
            bad(RemoteOffer {
                currency: Some("XXX".into()),
                ..remote()
            })
            .contains("currency")
        );
    }
}
