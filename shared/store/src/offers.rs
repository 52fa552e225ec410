//! Offers: one item per offer, plus, for synced offers, an index item per (integration, remote
//! id) that makes the remote id unique within an integration and lets sync list what it knows.

use crate::port::{Condition, Index, Item, Key, Query, Write};
use crate::repo::{Repo, RepoError, decode, encode};
use affnet_core::offer::Offer;
use serde::{Deserialize, Serialize};

pub fn offer_key(id: &str) -> Key {
    Key::new(format!("OFFER#{id}"), "META")
}

/// GSI1 partition listing every offer, sorted by integration then id.
const OFFERS_INDEX_PK: &str = "OFFERS";

pub fn remote_key(integration_id: &str, remote_id: &str) -> Key {
    Key::new(format!("INT#{integration_id}#REMOTE"), remote_id)
}

/// What sync remembers of a remote offer without reading the offer itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteEntry {
    pub remote_id: String,
    pub offer_id: String,
    /// A digest of the mapped fields at the last sync: equal means nothing to write.
    pub fingerprint: String,
}

fn offer_item(offer: &Offer, version: u64) -> Result<Item, RepoError> {
    let mut item = Item::new(offer_key(&offer.id), encode(offer)?);
    item.version = version;
    item.index_key = Some(Key::new(
        OFFERS_INDEX_PK,
        format!("{}#{}", offer.integration_id, offer.id),
    ));
    Ok(item)
}

fn offer_from(item: &Item) -> Result<Offer, RepoError> {
    let mut offer: Offer = decode(item)?;
    offer.version = item.version;
    Ok(offer)
}

impl Repo {
    /// Stores a new offer; a synced one also claims its remote id ([`RepoError::Conflict`] if
    /// the integration already has an offer with that remote id).
    pub async fn create_offer(
        &self,
        offer: &Offer,
        fingerprint: Option<&str>,
    ) -> Result<Offer, RepoError> {
        let mut writes = vec![Write::Put {
            item: offer_item(offer, 1)?,
            when: Condition::Absent,
        }];
        if let Some(remote_id) = &offer.remote_id {
            let entry = RemoteEntry {
                remote_id: remote_id.clone(),
                offer_id: offer.id.clone(),
                fingerprint: fingerprint.unwrap_or_default().to_string(),
            };
            writes.push(Write::Put {
                item: Item::new(
                    remote_key(&offer.integration_id, remote_id),
                    encode(&entry)?,
                ),
                when: Condition::Absent,
            });
        }
        self.items()
            .write(writes)
            .await
            .map_err(RepoError::from_write)?;
        Ok(Offer {
            version: 1,
            ..offer.clone()
        })
    }

    pub async fn get_offer(&self, id: &str) -> Result<Option<Offer>, RepoError> {
        match self.items().get(&offer_key(id)).await? {
            Some(item) => Ok(Some(offer_from(&item)?)),
            None => Ok(None),
        }
    }

    /// Writes `offer` if it still has `offer.version` (and refreshes the sync fingerprint when
    /// given, in the same transaction).
    pub async fn update_offer(
        &self,
        offer: &Offer,
        fingerprint: Option<&str>,
    ) -> Result<Offer, RepoError> {
        let next = offer.version + 1;
        let mut writes = vec![Write::Put {
            item: offer_item(offer, next)?,
            when: Condition::Version(offer.version),
        }];
        if let (Some(remote_id), Some(fingerprint)) = (&offer.remote_id, fingerprint) {
            let entry = RemoteEntry {
                remote_id: remote_id.clone(),
                offer_id: offer.id.clone(),
                fingerprint: fingerprint.to_string(),
            };
            writes.push(Write::Put {
                item: Item::new(
                    remote_key(&offer.integration_id, remote_id),
                    encode(&entry)?,
                ),
                when: Condition::Always,
            });
        }
        self.items()
            .write(writes)
            .await
            .map_err(RepoError::from_write)?;
        Ok(Offer {
            version: next,
            ..offer.clone()
        })
    }

    /// Offers sorted by integration then creation, optionally of one integration only.
    pub async fn list_offers(
        &self,
        integration_id: Option<&str>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<Offer>, Option<String>), RepoError> {
        let page = self
            .items()
            .query(&Query {
                index: Index::Gsi1,
                sk_prefix: integration_id.map(|i| format!("{i}#")).unwrap_or_default(),
                limit,
                cursor,
                ..Query::partition(OFFERS_INDEX_PK)
            })
            .await?;
        let offers = page
            .items
            .iter()
            .map(offer_from)
            .collect::<Result<_, _>>()?;
        Ok((offers, page.next))
    }

    /// One page of the remote ids an integration's sync has imported.
    pub async fn remote_entries(
        &self,
        integration_id: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<RemoteEntry>, Option<String>), RepoError> {
        let page = self
            .items()
            .query(&Query {
                limit,
                cursor,
                ..Query::partition(format!("INT#{integration_id}#REMOTE"))
            })
            .await?;
        let entries = page
            .items
            .iter()
            .map(|i| decode(i).map_err(RepoError::from))
            .collect::<Result<_, _>>()?;
        Ok((entries, page.next))
    }
}
