//! The writes of one offer during a sync: create, update on a change, pause when it vanished.
//! A person may edit the offer at the same time: updates follow the one retry policy.

use super::mapping::MappedOffer;
use super::run::VANISHED;
use crate::retry;
use affnet_core::offer::OfferStatus;
use affnet_store::offers::RemoteEntry;
use affnet_store::{Repo, RepoError};
use chrono::Utc;

/// What sync remembers of an imported offer.
pub(super) struct Known {
    pub offer_id: String,
    pub fingerprint: String,
}

pub(super) enum Outcome {
    Created,
    Updated,
    Paused,
    Unchanged,
    NotImported,
    /// A vanished offer that was already paused: nothing to count.
    Quiet,
    /// This offer could not be imported or updated; the run goes on.
    Failed(&'static str, String),
    /// The store is failing: the run stops.
    StoreDown(String),
}

pub(super) fn store_outcome(e: RepoError) -> Outcome {
    match e {
        RepoError::Store(e) => Outcome::StoreDown(e.to_string()),
        other => Outcome::Failed("store", other.to_string()),
    }
}

/// Creates, updates or leaves one offer. New offers are imported when active at TUNE, or
/// whatever their status when the user selected them.
pub(super) async fn apply_one(
    repo: &Repo,
    integration_id: &str,
    mapped: Result<MappedOffer, String>,
    prior: Option<Known>,
    explicit: bool,
) -> Outcome {
    let mapped = match mapped {
        Ok(mapped) => mapped,
        Err(reason) => return Outcome::Failed("invalid_offer", reason),
    };
    let fingerprint = mapped.fingerprint();
    if let Some(prior) = prior {
        if prior.fingerprint == fingerprint {
            return Outcome::Unchanged;
        }
        return update_existing(repo, &prior.offer_id, &mapped, &fingerprint).await;
    }
    if !explicit && mapped.status != OfferStatus::Active {
        return Outcome::NotImported;
    }
    let offer = mapped.new_offer(integration_id, Utc::now());
    match repo.create_offer(&offer, Some(&fingerprint)).await {
        Ok(_) => Outcome::Created,
        // Imported meanwhile (TUNE listed it twice while pages shifted): compare with that.
        Err(RepoError::Conflict) => {
            match repo.remote_entry(integration_id, &mapped.remote_id).await {
                Ok(Some(entry)) if entry.fingerprint == fingerprint => Outcome::Unchanged,
                Ok(Some(entry)) => {
                    update_existing(repo, &entry.offer_id, &mapped, &fingerprint).await
                }
                Ok(None) => Outcome::Failed("conflict", "the offer could not be created".into()),
                Err(e) => store_outcome(e),
            }
        }
        Err(e) => store_outcome(e),
    }
}

async fn update_existing(
    repo: &Repo,
    offer_id: &str,
    mapped: &MappedOffer,
    fingerprint: &str,
) -> Outcome {
    // A person may edit the offer at the same time: the one retry policy.
    let written = retry::on_conflict(|| async {
        let Some(mut offer) = repo.get_offer(offer_id).await? else {
            return Ok(Outcome::Failed(
                "missing_offer",
                format!("offer {offer_id} imported for this remote offer is gone"),
            ));
        };
        let was_active = offer.status == OfferStatus::Active;
        mapped.apply_to(&mut offer, Utc::now());
        repo.update_offer(&offer, Some(fingerprint)).await?;
        Ok(match was_active && offer.status == OfferStatus::Paused {
            true => Outcome::Paused,
            false => Outcome::Updated,
        })
    })
    .await;
    written.unwrap_or_else(|e| match e {
        RepoError::Conflict => Outcome::Failed(
            "conflict",
            "the offer kept changing while sync wrote it; the next run retries".into(),
        ),
        e => store_outcome(e),
    })
}

/// Pauses one offer that vanished from TUNE and remembers it as [`VANISHED`].
pub(super) async fn pause_one(
    repo: &Repo,
    integration_id: &str,
    remote_id: &str,
    known: &Known,
) -> Outcome {
    let paused = retry::on_conflict(|| async {
        let Some(mut offer) = repo.get_offer(&known.offer_id).await? else {
            return Ok(Outcome::Quiet);
        };
        if offer.status == OfferStatus::Paused {
            let entry = RemoteEntry {
                remote_id: remote_id.to_string(),
                offer_id: known.offer_id.clone(),
                fingerprint: VANISHED.into(),
            };
            // Not a race: a missing entry is not retried.
            return match repo.put_remote_entry(integration_id, &entry).await {
                Ok(()) => Ok(Outcome::Quiet),
                Err(e) => Ok(store_outcome(e)),
            };
        }
        offer.status = OfferStatus::Paused;
        offer.updated_at = Utc::now();
        repo.update_offer(&offer, Some(VANISHED)).await?;
        Ok(Outcome::Paused)
    })
    .await;
    paused.unwrap_or_else(|e| match e {
        RepoError::Conflict => Outcome::Failed(
            "conflict",
            "the offer kept changing while sync paused it; the next run retries".into(),
        ),
        e => store_outcome(e),
    })
}
