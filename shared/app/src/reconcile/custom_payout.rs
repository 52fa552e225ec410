//! Custom payouts per affiliate during a run: a TUNE conversion whose offer we hold (the offer
//! offer sync imported for this integration, found by TUNE's offer id) is compared with that
//! offer's default payout ([`affnet_core::reconcile::custom_payout`]); one paid another amount
//! in the same currency is listed as a `custom_payout` difference. Nothing is written for it:
//! the offer keeps TUNE's default (offer sync owns it) and the conversion TUNE's payout.
//!
//! Each distinct TUNE offer id is looked up once per run (two reads when we hold the offer, one
//! when we do not) and remembered, up to [`MAX_CACHED_OFFERS`] ids; past that, a page's new
//! ids are looked up for that page only, so memory stays bounded and only reads grow.

use super::ledger::{difference, tune_side};
use affnet_core::reconcile::custom_payout::{DefaultPayout, comparable, differs_from_default};
use affnet_core::reconcile::row::TuneConversion;
use affnet_core::reconcile::{Action, Class, Difference, Side};
use affnet_store::{Repo, RepoError};
use futures::StreamExt;
use std::collections::HashMap;

/// TUNE offer ids a run remembers (about 100 bytes each).
pub const MAX_CACHED_OFFERS: usize = 10_000;
const LOOKUP_CONCURRENCY: usize = 8;

/// TUNE offer id → the default payout of the offer we hold for it (`None`: none held, or one
/// without a flat default).
type Known = HashMap<String, Option<DefaultPayout>>;

pub struct OfferPayouts {
    integration_id: String,
    /// The integration's, for rows without a currency (offer sync uses it the same way).
    default_currency: &'static str,
    known: Known,
}

impl OfferPayouts {
    pub fn new(integration_id: &str, default_currency: &'static str) -> OfferPayouts {
        OfferPayouts {
            integration_id: integration_id.to_string(),
            default_currency,
            known: HashMap::new(),
        }
    }

    /// The `custom_payout` difference of each row, in order (`None` for rows that are not one,
    /// or could not be read).
    pub async fn check(
        &mut self,
        repo: &Repo,
        rows: &[Option<&TuneConversion>],
    ) -> Result<Vec<Option<Difference>>, RepoError> {
        let page_only = self.look_up_new(repo, rows).await?;
        let found = |id: &str| self.known.get(id).or_else(|| page_only.get(id));
        Ok(rows
            .iter()
            .map(|row| {
                let tune = (*row)?;
                let offer = found(tune.remote_offer_id.as_deref()?)?.as_ref()?;
                differs_from_default(tune, self.default_currency, offer)
                    .then(|| self.difference(tune, offer))
            })
            .collect())
    }

    /// Looks up the offers of `rows` not known yet; those that do not fit in the cache are
    /// returned for this page only.
    async fn look_up_new(
        &mut self,
        repo: &Repo,
        rows: &[Option<&TuneConversion>],
    ) -> Result<Known, RepoError> {
        let mut new: Vec<&str> = rows
            .iter()
            .flatten()
            .filter(|t| comparable(t))
            .filter_map(|t| t.remote_offer_id.as_deref())
            .filter(|id| !self.known.contains_key(*id))
            .collect();
        new.sort_unstable();
        new.dedup();
        // Owned futures: the run's future must stay `Send` for the scheduler's task.
        let lookups: Vec<_> = new
            .into_iter()
            .map(|id| {
                let (repo, integration_id, id) =
                    (repo.clone(), self.integration_id.clone(), id.to_string());
                async move {
                    let offer = default_payout(&repo, &integration_id, &id).await?;
                    Ok::<_, RepoError>((id, offer))
                }
            })
            .collect();
        let found: Vec<_> = futures::stream::iter(lookups)
            .buffer_unordered(LOOKUP_CONCURRENCY)
            .collect()
            .await;
        let mut page_only = Known::new();
        for result in found {
            let (id, offer) = result?;
            if self.known.len() < MAX_CACHED_OFFERS {
                self.known.insert(id, offer);
            } else {
                page_only.insert(id, offer);
            }
        }
        Ok(page_only)
    }

    fn difference(&self, tune: &TuneConversion, offer: &DefaultPayout) -> Difference {
        let currency = tune.currency.unwrap_or(self.default_currency);
        let mut d = difference(Class::CustomPayout, Action::None, tune);
        d.tune = Some(tune_side(tune, Some(currency)));
        d.ours = Some(Side {
            payout: Some(offer.payout),
            currency: Some(offer.currency.clone()),
            ..Side::default()
        });
        d.note = Some(format!(
            "TUNE paid {} {currency}; the default payout of offer {} (TUNE offer {}) is {} {}: a custom payout for this affiliate, listed only (the offer keeps its default, the conversion TUNE's payout)",
            tune.payout.unwrap_or_default(),
            offer.offer_id,
            tune.remote_offer_id.as_deref().unwrap_or_default(),
            offer.payout,
            offer.currency,
        ));
        d
    }
}

/// The default payout of the offer offer sync imported for `remote_id` into this integration.
async fn default_payout(
    repo: &Repo,
    integration_id: &str,
    remote_id: &str,
) -> Result<Option<DefaultPayout>, RepoError> {
    let Some(entry) = repo.remote_entry(integration_id, remote_id).await? else {
        return Ok(None);
    };
    let offer = repo.get_offer(&entry.offer_id).await?;
    Ok(offer
        .filter(|o| o.integration_id == integration_id && o.remote_id.as_deref() == Some(remote_id))
        .and_then(|o| DefaultPayout::of(&o)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offer_sync::mapping::MappedOffer;
    use affnet_core::offer::OfferStatus;
    use affnet_core::reconcile::row::RawConversion;
    use affnet_store::SqliteStore;
    use affnet_store::counting::CountingStore;
    use std::sync::Arc;

    fn tune(offer: &str, payout: &str) -> TuneConversion {
        let raw = RawConversion {
            ad_id: Some("102a"),
            offer_id: Some(offer),
            status: Some("approved"),
            payout: Some(payout),
            currency: Some("USD"),
            datetime: Some("2026-11-30 12:00:00"),
            ..RawConversion::default()
        };
        TuneConversion::read(&raw, chrono_tz::UTC).unwrap()
    }

    async fn store_with_offer_26() -> (Arc<CountingStore>, Repo) {
        let store = Arc::new(CountingStore::new(Arc::new(
            SqliteStore::in_memory().unwrap(),
        )));
        let repo = Repo::new(store.clone());
        let mapped = MappedOffer {
            remote_id: "26".into(),
            name: "Offer 26".into(),
            tracking_url: "https://shop.example/26?aff_click_id={click_id}".into(),
            payout: "15".parse().unwrap(),
            currency: "USD".into(),
            payout_type: "cpa_flat".into(),
            advertiser: None,
            status: OfferStatus::Active,
        };
        let offer = mapped.new_offer("int1", chrono::Utc::now());
        repo.create_offer(&offer, Some("fp")).await.unwrap();
        store.reset();
        (store, repo)
    }

    #[tokio::test]
    async fn each_offer_is_looked_up_once_per_run() {
        let (store, repo) = store_with_offer_26().await;
        let mut payouts = OfferPayouts::new("int1", "USD");
        let (custom, default, unknown) = (tune("26", "18.5"), tune("26", "15"), tune("99", "40"));
        let page = [Some(&custom), Some(&default), Some(&unknown), Some(&custom)];
        let found = payouts.check(&repo, &page).await.unwrap();
        let classes: Vec<bool> = found.iter().map(Option::is_some).collect();
        assert_eq!(classes, [true, false, false, true]);
        let d = found[0].as_ref().unwrap();
        assert_eq!((d.class, d.action), (Class::CustomPayout, Action::None));
        assert_eq!(d.ours.as_ref().unwrap().payout, Some("15".parse().unwrap()));
        assert_eq!(
            d.tune.as_ref().unwrap().payout,
            Some("18.5".parse().unwrap())
        );
        // Offer 26: its remote entry and the offer; offer 99: its (absent) remote entry.
        assert_eq!(store.reads(), 3);
        // The next page reads nothing more for offers already known.
        payouts.check(&repo, &page).await.unwrap();
        assert_eq!(store.reads(), 3);
        // Another integration's offer 26 is not ours.
        let mut other = OfferPayouts::new("int2", "USD");
        let found = other.check(&repo, &page).await.unwrap();
        assert!(found.iter().all(Option::is_none));
    }
}
