//! Moving data of the unsharded layout (totals in `TOT#<dimension>`, the conversions index in
//! one `CONVS` partition) into the sharded one. Idempotent and resumable: each old totals item
//! moves in one atomic batch (deleted there, added here), each conversion is rewritten on its
//! version with its new index key, so a run cut short goes on where it stopped, and a run on
//! migrated data finds nothing to do. The local server runs it at start.

use crate::conversions::{INDEX_SHARDS, UNSHARDED_INDEX_PK, conversions_index_pk};
use crate::port::{Condition, Index, Item, Key, Query, StoreError, Write};
use crate::repo::{Repo, RepoError};
use crate::totals::{Dimension, shard_of, totals_pk, unsharded_totals_pk};

/// What a migration moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    pub totals: u64,
    pub conversions: u64,
}

/// The move of one old totals item: into shard 0 of its dimension (reports sum every shard).
fn totals_move(dimension: Dimension, item: Item) -> Vec<Write> {
    let mut writes = vec![Write::Delete {
        key: item.key.clone(),
        when: Condition::Exists,
    }];
    if !item.counters.is_empty() {
        writes.push(Write::Add {
            key: Key::new(totals_pk(dimension, 0), item.key.sk),
            deltas: item.counters.into_iter().collect(),
            expires_at: item.expires_at,
        });
    }
    writes
}

impl Repo {
    /// Moves every item of the unsharded layout into the sharded one (see the module docs).
    pub async fn migrate_to_sharded(&self) -> Result<Migrated, RepoError> {
        let mut migrated = Migrated::default();
        for dimension in Dimension::ALL {
            migrated.totals += self.migrate_totals(dimension).await?;
        }
        migrated.conversions = self.migrate_conversions_index().await?;
        Ok(migrated)
    }

    async fn migrate_totals(&self, dimension: Dimension) -> Result<u64, RepoError> {
        let mut moved = 0;
        loop {
            // Moved items leave the partition: always read its first page.
            let page = self
                .items()
                .query(&Query::partition(unsharded_totals_pk(dimension)))
                .await?;
            if page.items.is_empty() {
                return Ok(moved);
            }
            for item in page.items {
                match self.items().write(totals_move(dimension, item)).await {
                    // Moved meanwhile by another run: nothing to do.
                    Ok(()) | Err(StoreError::ConditionFailed { .. }) => moved += 1,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }

    /// Rewrites each conversion listed in the old index partition with its sharded index key.
    async fn migrate_conversions_index(&self) -> Result<u64, RepoError> {
        let mut moved = 0;
        let mut cursor = None;
        loop {
            let page = self
                .items()
                .query(&Query {
                    index: Index::Gsi1,
                    cursor,
                    ..Query::partition(UNSHARDED_INDEX_PK)
                })
                .await?;
            for mut item in page.items {
                let Some(id) = item.key.pk.strip_prefix("CONV#").map(str::to_string) else {
                    continue;
                };
                let Some(index) = item.index_key.as_mut() else {
                    continue;
                };
                index.pk = conversions_index_pk(shard_of(&id, INDEX_SHARDS));
                let when = Condition::Version(item.version);
                match self.items().write(vec![Write::Put { item, when }]).await {
                    // Changed meanwhile: its change wrote the new index key already.
                    Ok(()) | Err(StoreError::ConditionFailed { .. }) => moved += 1,
                    Err(e) => return Err(e.into()),
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(moved),
            }
        }
    }
}
