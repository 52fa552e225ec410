//! Custom payouts per affiliate (seed 000 names them among the payout mismatches): TUNE can pay
//! an affiliate another payout than the offer's default (`Offer::setPayout`, payout groups), so a
//! conversion's payout can differ from the default that offer sync imported. Reconciliation
//! reports such conversions; it never changes the offer or the conversion for it.
//!
//! Only what the default payout speaks for is compared: live conversions (approved or pending)
//! of the offer's default goal, on an offer paid a flat amount (`cpa_flat`). A goal has its own
//! payout, a percentage payout follows each sale, and a rejected conversion earns nothing; offer
//! sync imports none of those, so comparing them would report every such conversion.

use super::row::TuneConversion;
use crate::offer::Offer;
use crate::status::Status;
use rust_decimal::Decimal;

/// What a run keeps of an offer to compare conversions with: its default payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultPayout {
    /// Our offer's id.
    pub offer_id: String,
    pub payout: Decimal,
    pub currency: String,
}

impl DefaultPayout {
    /// The default payout of `offer`, when its conversions are paid it (`cpa_flat`).
    pub fn of(offer: &Offer) -> Option<DefaultPayout> {
        (offer.payout_type == "cpa_flat").then(|| DefaultPayout {
            offer_id: offer.id.clone(),
            payout: offer.payout,
            currency: offer.currency.clone(),
        })
    }
}

/// Whether `tune` can be compared with its offer's default payout at all (see the module docs):
/// a live conversion of the default goal that says its payout.
pub fn comparable(tune: &TuneConversion) -> bool {
    tune.goal_id.is_none()
        && tune.payout.is_some()
        && tune.remote_offer_id.is_some()
        && matches!(tune.status, Status::Approved | Status::Pending)
}

/// `true` when TUNE paid `tune` another amount than `offer`'s default, in the same currency
/// (`default_currency`: the integration's, for a row without one). Another currency is not a
/// custom payout: amounts in different currencies are never compared.
pub fn differs_from_default(
    tune: &TuneConversion,
    default_currency: &str,
    offer: &DefaultPayout,
) -> bool {
    let currency = tune.currency.unwrap_or(default_currency);
    comparable(tune) && currency == offer.currency && tune.payout.is_some_and(|p| p != offer.payout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tune(payout: &str, currency: Option<&'static str>) -> TuneConversion {
        TuneConversion {
            transaction_id: Some("102a".into()),
            event_id: None,
            click_id: None,
            goal_id: None,
            remote_offer_id: Some("26".into()),
            status: Status::Approved,
            raw_status: "approved".into(),
            payout: Some(payout.parse().unwrap()),
            currency,
            sale_amount: None,
            at: chrono::Utc::now(),
            local: chrono::Utc::now().naive_utc(),
        }
    }

    fn offer() -> DefaultPayout {
        DefaultPayout {
            offer_id: "o1".into(),
            payout: "15".parse().unwrap(),
            currency: "USD".into(),
        }
    }

    #[test]
    fn only_another_amount_in_the_same_currency_is_custom() {
        assert!(differs_from_default(
            &tune("18.5", Some("USD")),
            "USD",
            &offer()
        ));
        // Decimals compare by value: 15.00000 is the default.
        assert!(!differs_from_default(
            &tune("15.00000", Some("USD")),
            "USD",
            &offer()
        ));
        assert!(!differs_from_default(
            &tune("18.5", Some("EUR")),
            "USD",
            &offer()
        ));
        // No currency at TUNE: the integration's default currency.
        assert!(differs_from_default(&tune("18.5", None), "USD", &offer()));
        assert!(!differs_from_default(&tune("18.5", None), "EUR", &offer()));
    }

    #[test]
    fn goals_rejections_and_rows_without_payout_are_not_compared() {
        let mut goal = tune("18.5", Some("USD"));
        goal.goal_id = Some("3".into());
        let mut rejected = tune("0", Some("USD"));
        rejected.status = Status::Rejected;
        let mut no_payout = tune("1", Some("USD"));
        no_payout.payout = None;
        for t in [goal, rejected, no_payout] {
            assert!(!differs_from_default(&t, "USD", &offer()), "{t:?}");
        }
        let mut pending = tune("18.5", Some("USD"));
        pending.status = Status::Pending;
        assert!(differs_from_default(&pending, "USD", &offer()));
    }

    #[test]
    fn only_flat_offers_have_a_default_to_compare_with() {
        let mut o = Offer {
            id: "o1".into(),
            integration_id: "i1".into(),
            name: "n".into(),
            tracking_url: "https://x.example/?c={click_id}".into(),
            payout: "15".parse().unwrap(),
            currency: "USD".into(),
            payout_type: "cpa_flat".into(),
            advertiser: None,
            status: crate::offer::OfferStatus::Active,
            remote_id: Some("26".into()),
            params: Default::default(),
            payout_history: Vec::new(),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            version: 1,
        };
        assert_eq!(DefaultPayout::of(&o), Some(offer()));
        o.payout_type = "cpa_percentage".into();
        assert_eq!(DefaultPayout::of(&o), None);
    }
}
