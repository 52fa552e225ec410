//! Click labels: the write-once table that resolves the handle in a click ID to its message and
//! creative, `LABELS#<handle, 12 hex>` / `META` with `{message_id, creative_id}`.
//!
//! An item is created once, with a condition that no item has its key, by the first click that
//! uses the pair (in that click's own batch) or by [`Repo::create_labels`]; it never changes and
//! never expires, because a network may echo a click ID for as long as it keeps the lead. Only a
//! click with a pair no click had before adds one (~100 bytes).

use crate::clicks::click_writes;
use crate::port::{Condition, Item, Key, StoreError, Write};
use crate::repo::{Repo, RepoError, decode, encode};
use affnet_core::Click;
use affnet_core::clickid::{LabelHandle, Labels};

pub fn labels_key(handle: LabelHandle) -> Key {
    Key::new(format!("LABELS#{handle}"), "META")
}

/// Why a click and its new labels were not written; nothing was.
#[derive(Debug, thiserror::Error)]
pub enum ClickLabelsError {
    /// Another pair (or the same, written concurrently) holds the handle: read it and decide.
    #[error("the labels handle is taken")]
    HandleTaken,
    #[error(transparent)]
    Repo(#[from] RepoError),
}

fn labels_put(handle: LabelHandle, labels: &Labels) -> Result<Write, StoreError> {
    Ok(Write::Put {
        item: Item::new(labels_key(handle), encode(labels)?),
        when: Condition::Absent,
    })
}

impl Repo {
    /// The labels `handle` stands for, if stored (a strongly consistent read by key).
    pub async fn get_labels(&self, handle: LabelHandle) -> Result<Option<Labels>, RepoError> {
        match self.items().get(&labels_key(handle)).await? {
            Some(item) => Ok(Some(decode(&item)?)),
            None => Ok(None),
        }
    }

    /// Stores `labels` under `handle` alone; [`RepoError::Conflict`] if the handle is taken.
    pub async fn create_labels(
        &self,
        handle: LabelHandle,
        labels: &Labels,
    ) -> Result<(), RepoError> {
        self.items()
            .write(vec![labels_put(handle, labels)?])
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => RepoError::Conflict,
                other => RepoError::Store(other),
            })
    }

    /// [`Repo::record_click`] that also creates the labels of a pair first seen: one atomic
    /// batch, so the handle exists exactly when the first click that carries it does.
    pub async fn record_click_with_labels(
        &self,
        click: &Click,
        handle: LabelHandle,
        labels: &Labels,
    ) -> Result<(), ClickLabelsError> {
        let mut writes = click_writes(click)?;
        writes.insert(1, labels_put(handle, labels).map_err(RepoError::Store)?);
        self.items().write(writes).await.map_err(|e| match e {
            StoreError::ConditionFailed { index: 1 } => ClickLabelsError::HandleTaken,
            StoreError::ConditionFailed { .. } => RepoError::Conflict.into(),
            other => RepoError::Store(other).into(),
        })
    }
}
