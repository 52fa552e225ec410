//! Typed repositories over the item-store port, written once for every adapter.
//!
//! Key design (one table): see the README's access-pattern table.

use crate::port::{Condition, Item, ItemStore, Key, Query, StoreError, Write};
use affnet_core::Integration;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The item changed (or appeared) since it was read: read again and retry.
    #[error("conflict: the item was changed concurrently")]
    Conflict,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RepoError {
    /// A failed write: a condition that did not hold is a [`RepoError::Conflict`].
    pub(crate) fn from_write(e: StoreError) -> RepoError {
        match e {
            StoreError::ConditionFailed { .. } => RepoError::Conflict,
            other => RepoError::Store(other),
        }
    }
}

/// Integrations live in one partition: few items, every access by id or as a whole list, and
/// strongly consistent reads (no index lag after a create).
const INTEGRATIONS_PK: &str = "INTEGRATION";

pub fn integration_key(id: &str) -> Key {
    Key::new(INTEGRATIONS_PK, id)
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub(crate) fn decode<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    serde_json::from_value(item.data.clone())
        .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", item.key.pk, item.key.sk)))
}

/// The storage every use case talks to.
#[derive(Clone)]
pub struct Repo {
    store: Arc<dyn ItemStore>,
}

impl Repo {
    /// The repositories over `store`, whose transaction conflicts are retried
    /// ([`crate::retrying`]).
    pub fn new(store: Arc<dyn ItemStore>) -> Repo {
        Repo {
            store: crate::retrying::RetryConflicts::around(store),
        }
    }

    /// One page of a partition, newest (highest sort key) first, each item read by `read`.
    pub(crate) async fn newest_first<T>(
        &self,
        pk: String,
        limit: usize,
        cursor: Option<String>,
        read: impl Fn(&Item) -> Result<T, StoreError>,
    ) -> Result<(Vec<T>, Option<String>), RepoError> {
        let page = self
            .store
            .query(&Query {
                descending: true,
                limit,
                cursor,
                ..Query::partition(pk)
            })
            .await?;
        let items = page.items.iter().map(read).collect::<Result<_, _>>()?;
        Ok((items, page.next))
    }

    pub fn items(&self) -> &Arc<dyn ItemStore> {
        &self.store
    }

    /// Puts `item` whatever is there (a last-known value: a run's time, a test's result).
    pub(crate) async fn put_unconditionally(&self, item: Item) -> Result<(), RepoError> {
        let put = Write::Put {
            item,
            when: Condition::Always,
        };
        self.store.write(vec![put]).await?;
        Ok(())
    }

    fn integration_from(item: &Item) -> Result<Integration, StoreError> {
        let mut integration: Integration = decode(item)?;
        integration.version = item.version;
        Ok(integration)
    }

    /// Stores a new integration; [`RepoError::Conflict`] if its id exists.
    pub async fn create_integration(
        &self,
        integration: &Integration,
    ) -> Result<Integration, RepoError> {
        let mut item = Item::new(integration_key(&integration.id), encode(integration)?);
        item.version = 1;
        self.store
            .write(vec![Write::Put {
                item,
                when: Condition::Absent,
            }])
            .await
            .map_err(RepoError::from_write)?;
        Ok(Integration {
            version: 1,
            ..integration.clone()
        })
    }

    pub async fn get_integration(&self, id: &str) -> Result<Option<Integration>, RepoError> {
        match self.store.get(&integration_key(id)).await? {
            Some(item) => Ok(Some(Self::integration_from(&item)?)),
            None => Ok(None),
        }
    }

    /// Integrations in id order (ids are time-ordered ULIDs, so oldest first).
    pub async fn list_integrations(
        &self,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<Integration>, Option<String>), RepoError> {
        let page = self
            .store
            .query(&Query {
                limit,
                cursor,
                ..Query::partition(INTEGRATIONS_PK)
            })
            .await?;
        let list = page
            .items
            .iter()
            .map(Self::integration_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((list, page.next))
    }

    /// Writes `integration` if the stored one still has `integration.version`; returns it with
    /// its new version. [`RepoError::Conflict`] means it changed meanwhile: re-read and retry.
    pub async fn update_integration(
        &self,
        integration: &Integration,
    ) -> Result<Integration, RepoError> {
        let next = integration.version + 1;
        let mut item = Item::new(integration_key(&integration.id), encode(integration)?);
        item.version = next;
        self.store
            .write(vec![Write::Put {
                item,
                when: Condition::Version(integration.version),
            }])
            .await
            .map_err(|e| match RepoError::from_write(e) {
                RepoError::Conflict if integration.version == 0 => RepoError::NotFound,
                other => other,
            })?;
        Ok(Integration {
            version: next,
            ..integration.clone()
        })
    }

    /// Deletes an integration; [`RepoError::NotFound`] if there was none.
    pub async fn delete_integration(&self, id: &str) -> Result<(), RepoError> {
        self.store
            .write(vec![Write::Delete {
                key: integration_key(id),
                when: Condition::Exists,
            }])
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => RepoError::NotFound,
                other => RepoError::Store(other),
            })
    }
}
