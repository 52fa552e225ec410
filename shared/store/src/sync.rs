//! Offer-sync bookkeeping: one log item per run, and one lease per integration so that two runs
//! never overlap.
//!
//! Keys (same table):
//! * `INT#{integration}#SYNCLOG` / `{run id}`: the run's [`SyncLog`] (run ids are ULIDs, so the
//!   partition lists oldest first; the API reads it newest first).
//! * `INT#{integration}#LEASE` / `SYNC`: the lease, with an expiry. Taking it is a conditional
//!   put on "absent" (an expired lease counts as absent); renewing and releasing are checked on
//!   its version, which starts at the acquisition time, so a run that lost its lease can no
//!   longer renew or release its successor's.
//!
//! Starting and finishing a run are one transaction each (lease + log; finishing adds the run's
//! `offer_sync.finished` event, [`crate::events`]), so an unchanged re-sync costs exactly two
//! store writes however many offers it looks at.

use crate::events::outbox;
use crate::offers::{RemoteEntry, remote_key};
use crate::port::{Condition, Item, Key, StoreError, Write};
use crate::repo::{Repo, RepoError, decode, encode};
use affnet_core::Event;
use affnet_core::sync_log::{SyncLease, SyncLog};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LeaseData {
    run_id: String,
    acquired_at: DateTime<Utc>,
}

pub fn sync_log_key(integration_id: &str, run_id: &str) -> Key {
    Key::new(format!("INT#{integration_id}#SYNCLOG"), run_id)
}

pub fn sync_lease_key(integration_id: &str) -> Key {
    Key::new(format!("INT#{integration_id}#LEASE"), "SYNC")
}

/// The lease's expiry in whole seconds, rounded up: a lease taken at x.999 s for 1 s must not
/// expire at x+1 (expiry is compared to the clock's whole seconds).
fn expiry(ttl: Duration) -> i64 {
    let ms = Utc::now().timestamp_millis() + ttl.as_millis().max(1_000) as i64;
    (ms + 999).div_euclid(1_000)
}

fn log_item(log: &SyncLog, version: u64) -> Result<Item, StoreError> {
    let mut item = Item::new(sync_log_key(&log.integration_id, &log.id), encode(log)?);
    item.version = version;
    Ok(item)
}

fn lease_item(lease: &SyncLease, acquired_at: DateTime<Utc>) -> Result<Item, StoreError> {
    let data = LeaseData {
        run_id: lease.run_id.clone(),
        acquired_at,
    };
    let mut item = Item::new(sync_lease_key(&lease.integration_id), encode(&data)?);
    item.version = lease.version;
    item.expires_at = Some(lease.expires_at);
    Ok(item)
}

/// The outbox write of a finished log (none while it runs).
fn finished_event(log: &SyncLog) -> Result<Option<Write>, StoreError> {
    outbox(Event::offer_sync_finished(affnet_core::ids::new_id(), log))
}

fn log_from(item: &Item) -> Result<SyncLog, StoreError> {
    let mut log: SyncLog = decode(item)?;
    log.version = item.version;
    Ok(log)
}

impl Repo {
    /// Takes the integration's lease for `ttl` and stores the running log, in one transaction.
    /// [`RepoError::Conflict`] when another run holds a live lease.
    pub async fn begin_sync(
        &self,
        log: &SyncLog,
        ttl: Duration,
    ) -> Result<(SyncLease, SyncLog), RepoError> {
        let lease = self
            .begin_leased(
                &log.integration_id,
                &log.id,
                log.started_at,
                log_item(log, 1)?,
                ttl,
            )
            .await?;
        Ok((
            lease,
            SyncLog {
                version: 1,
                ..log.clone()
            },
        ))
    }

    /// Extends the lease and saves the log's progress. [`RepoError::Conflict`] means the lease
    /// was lost (it expired and another run took it): stop.
    pub async fn renew_sync(
        &self,
        lease: &SyncLease,
        log: &SyncLog,
        ttl: Duration,
    ) -> Result<(SyncLease, SyncLog), RepoError> {
        let item = log_item(log, log.version + 1)?;
        let next = self
            .renew_leased(lease, log.started_at, item, log.version, ttl)
            .await?;
        Ok((
            next,
            SyncLog {
                version: log.version + 1,
                ..log.clone()
            },
        ))
    }

    /// Saves the final log and releases the lease in one transaction. If the lease was lost
    /// meanwhile, the log is still saved; the flag says whether the lease was still ours.
    pub async fn finish_sync(
        &self,
        lease: &SyncLease,
        log: &SyncLog,
    ) -> Result<(SyncLog, bool), RepoError> {
        let event = finished_event(log)?;
        let held = self
            .finish_leased(lease, log_item(log, log.version + 1)?, log.version, event)
            .await?;
        let stored = SyncLog {
            version: log.version + 1,
            ..log.clone()
        };
        Ok((stored, held))
    }

    /// Takes the integration's one lease (offer syncs and reconciliations share it, so a run of
    /// either never overlaps another and TUNE's rate limit is shared) and puts the run's
    /// `record` (version 1, absent), in one transaction.
    pub(crate) async fn begin_leased(
        &self,
        integration_id: &str,
        run_id: &str,
        started_at: DateTime<Utc>,
        record: Item,
        ttl: Duration,
    ) -> Result<SyncLease, RepoError> {
        // The version starts at the acquisition time (ms), so a run whose lease expired and was
        // taken over can never match (and release or renew) its successor's lease.
        let lease = SyncLease {
            integration_id: integration_id.to_string(),
            run_id: run_id.to_string(),
            version: Utc::now().timestamp_millis().max(1) as u64,
            expires_at: expiry(ttl),
        };
        let writes = vec![
            Write::Put {
                item: lease_item(&lease, started_at)?,
                when: Condition::Absent,
            },
            Write::Put {
                item: record,
                when: Condition::Absent,
            },
        ];
        self.items()
            .write(writes)
            .await
            .map_err(RepoError::from_write)?;
        Ok(lease)
    }

    /// Extends the lease and replaces the run's record stored at `record_version`.
    pub(crate) async fn renew_leased(
        &self,
        lease: &SyncLease,
        started_at: DateTime<Utc>,
        record: Item,
        record_version: u64,
        ttl: Duration,
    ) -> Result<SyncLease, RepoError> {
        let next = SyncLease {
            version: lease.version + 1,
            expires_at: expiry(ttl),
            ..lease.clone()
        };
        let writes = vec![
            Write::Put {
                item: lease_item(&next, started_at)?,
                when: Condition::Version(lease.version),
            },
            Write::Put {
                item: record,
                when: Condition::Version(record_version),
            },
        ];
        self.items()
            .write(writes)
            .await
            .map_err(RepoError::from_write)?;
        Ok(next)
    }

    /// Saves the run's final record (with its `event`, in the same batch) and releases the
    /// lease; `false` when the lease was lost meanwhile (the record is saved all the same).
    pub(crate) async fn finish_leased(
        &self,
        lease: &SyncLease,
        record: Item,
        record_version: u64,
        event: Option<Write>,
    ) -> Result<bool, RepoError> {
        let mut record_writes = vec![Write::Put {
            item: record,
            when: Condition::Version(record_version),
        }];
        record_writes.extend(event);
        let release = Write::Delete {
            key: sync_lease_key(&lease.integration_id),
            when: Condition::Version(lease.version),
        };
        let mut writes = vec![release];
        writes.extend(record_writes.iter().cloned());
        match self.items().write(writes).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed { index: 0 }) => {
                self.items()
                    .write(record_writes)
                    .await
                    .map_err(RepoError::from)?;
                Ok(false)
            }
            Err(StoreError::ConditionFailed { .. }) => Err(RepoError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    /// The run holding the integration's live lease, with its expiry (Unix seconds).
    pub async fn sync_lease_holder(
        &self,
        integration_id: &str,
    ) -> Result<Option<(String, i64)>, RepoError> {
        let Some(item) = self.items().get(&sync_lease_key(integration_id)).await? else {
            return Ok(None);
        };
        let data: LeaseData = decode(&item)?;
        Ok(Some((data.run_id, item.expires_at.unwrap_or_default())))
    }

    /// Stores a finished log of a run that never took the lease (a skipped run), with its
    /// event.
    pub async fn record_sync_log(&self, log: &SyncLog) -> Result<SyncLog, RepoError> {
        let mut writes = vec![Write::Put {
            item: log_item(log, 1)?,
            when: Condition::Absent,
        }];
        writes.extend(finished_event(log)?);
        self.items()
            .write(writes)
            .await
            .map_err(RepoError::from_write)?;
        Ok(SyncLog {
            version: 1,
            ..log.clone()
        })
    }

    pub async fn get_sync_log(
        &self,
        integration_id: &str,
        run_id: &str,
    ) -> Result<Option<SyncLog>, RepoError> {
        match self
            .items()
            .get(&sync_log_key(integration_id, run_id))
            .await?
        {
            Some(item) => Ok(Some(log_from(&item)?)),
            None => Ok(None),
        }
    }

    /// An integration's sync logs, newest first.
    pub async fn list_sync_logs(
        &self,
        integration_id: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<SyncLog>, Option<String>), RepoError> {
        self.newest_first(
            format!("INT#{integration_id}#SYNCLOG"),
            limit,
            cursor,
            log_from,
        )
        .await
    }

    /// What sync remembers of one remote offer.
    pub async fn remote_entry(
        &self,
        integration_id: &str,
        remote_id: &str,
    ) -> Result<Option<RemoteEntry>, RepoError> {
        match self
            .items()
            .get(&remote_key(integration_id, remote_id))
            .await?
        {
            Some(item) => Ok(Some(decode(&item)?)),
            None => Ok(None),
        }
    }

    /// Replaces the remembered fingerprint of a remote offer without touching the offer (e.g. to
    /// remember that it vanished from TUNE and was paused).
    pub async fn put_remote_entry(
        &self,
        integration_id: &str,
        entry: &RemoteEntry,
    ) -> Result<(), RepoError> {
        let item = Item::new(remote_key(integration_id, &entry.remote_id), encode(entry)?);
        self.items()
            .write(vec![Write::Put {
                item,
                when: Condition::Exists,
            }])
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => RepoError::NotFound,
                other => RepoError::Store(other),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_lasts_at_least_its_ttl() {
        for _ in 0..50 {
            let before = Utc::now().timestamp_millis();
            let expires = expiry(Duration::from_secs(1));
            assert!(expires * 1_000 >= before + 1_000, "{expires} vs {before}");
            assert!(expires * 1_000 < before + 3_000);
            std::thread::sleep(Duration::from_millis(7));
        }
    }
}
