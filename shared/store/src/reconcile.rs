//! Reconciliation runs: one record per run, kept like the sync logs, and the run's differences.
//!
//! Keys (same table):
//! * `INT#{integration}#RECONLOG` / `{run id}`: the run's [`ReconRun`] (ULIDs: listed newest
//!   first by reading the partition backwards).
//! * `RECON#{run id}` / `{seq, 8 digits}`: one item per [`Difference`], in the order the run
//!   found them, written in batches of up to [`MAX_BATCH`] (read only after the run's record,
//!   which names the integration).
//! * The lease is the integration's one lease (`INT#{integration}#LEASE` / `SYNC`), shared with
//!   offer sync: a reconciliation and a sync of one integration never run at once.
//!
//! Conversions a run creates or changes are written by [`Repo::create_conversion`] /
//! [`Repo::change_conversion`] only, like postbacks'.

use crate::events::outbox;
use crate::port::{Condition, Item, Key, MAX_BATCH, Query, StoreError, Write};
use crate::repo::{Repo, RepoError, decode, encode};
use affnet_core::reconcile::{Difference, ReconRun};
use affnet_core::{Event, SyncLease};
use std::time::Duration;

fn runs_pk(integration_id: &str) -> String {
    format!("INT#{integration_id}#RECONLOG")
}

pub fn recon_run_key(integration_id: &str, run_id: &str) -> Key {
    Key::new(runs_pk(integration_id), run_id)
}

fn differences_pk(run_id: &str) -> String {
    format!("RECON#{run_id}")
}

fn run_item(run: &ReconRun, version: u64) -> Result<Item, StoreError> {
    let mut item = Item::new(recon_run_key(&run.integration_id, &run.id), encode(run)?);
    item.version = version;
    Ok(item)
}

fn run_from(item: &Item) -> Result<ReconRun, StoreError> {
    let mut run: ReconRun = decode(item)?;
    run.version = item.version;
    Ok(run)
}

/// The outbox write of a finished run (none while it runs).
fn finished_event(run: &ReconRun) -> Result<Option<Write>, StoreError> {
    outbox(Event::reconciliation_finished(
        affnet_core::ids::new_id(),
        run,
    ))
}

fn difference_from(item: &Item) -> Result<Difference, StoreError> {
    decode(item)
}

fn versioned(run: &ReconRun, version: u64) -> ReconRun {
    ReconRun {
        version,
        ..run.clone()
    }
}

impl Repo {
    /// Takes the integration's lease for `ttl` and stores the running record, in one
    /// transaction. [`RepoError::Conflict`] when a sync or another reconciliation holds it.
    pub async fn begin_reconcile(
        &self,
        run: &ReconRun,
        ttl: Duration,
    ) -> Result<(SyncLease, ReconRun), RepoError> {
        let lease = self
            .begin_leased(
                &run.integration_id,
                &run.id,
                run.started_at,
                run_item(run, 1)?,
                ttl,
            )
            .await?;
        Ok((lease, versioned(run, 1)))
    }

    /// Extends the lease and saves the record's progress; [`RepoError::Conflict`]: the lease
    /// was lost, stop.
    pub async fn renew_reconcile(
        &self,
        lease: &SyncLease,
        run: &ReconRun,
        ttl: Duration,
    ) -> Result<(SyncLease, ReconRun), RepoError> {
        let item = run_item(run, run.version + 1)?;
        let next = self
            .renew_leased(lease, run.started_at, item, run.version, ttl)
            .await?;
        Ok((next, versioned(run, run.version + 1)))
    }

    /// Saves the final record with its `reconciliation.finished` event and releases the
    /// lease; the flag says whether it was still held.
    pub async fn finish_reconcile(
        &self,
        lease: &SyncLease,
        run: &ReconRun,
    ) -> Result<(ReconRun, bool), RepoError> {
        let event = finished_event(run)?;
        let held = self
            .finish_leased(lease, run_item(run, run.version + 1)?, run.version, event)
            .await?;
        Ok((versioned(run, run.version + 1), held))
    }

    /// Stores the record of a run that never took the lease (a skipped run), with its event.
    pub async fn record_recon_run(&self, run: &ReconRun) -> Result<ReconRun, RepoError> {
        let mut writes = vec![Write::Put {
            item: run_item(run, 1)?,
            when: Condition::Absent,
        }];
        writes.extend(finished_event(run)?);
        self.items()
            .write(writes)
            .await
            .map_err(RepoError::from_write)?;
        Ok(versioned(run, 1))
    }

    pub async fn get_recon_run(
        &self,
        integration_id: &str,
        run_id: &str,
    ) -> Result<Option<ReconRun>, RepoError> {
        match self
            .items()
            .get(&recon_run_key(integration_id, run_id))
            .await?
        {
            Some(item) => Ok(Some(run_from(&item)?)),
            None => Ok(None),
        }
    }

    /// An integration's reconciliation runs, newest first.
    pub async fn list_recon_runs(
        &self,
        integration_id: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<ReconRun>, Option<String>), RepoError> {
        self.newest_first(runs_pk(integration_id), limit, cursor, run_from)
            .await
    }

    /// Stores up to [`MAX_BATCH`] differences of a run in one batch (each under its `seq`).
    pub async fn put_differences(
        &self,
        run_id: &str,
        differences: &[Difference],
    ) -> Result<(), RepoError> {
        if differences.is_empty() {
            return Ok(());
        }
        if differences.len() > MAX_BATCH {
            return Err(StoreError::Invalid(format!(
                "at most {MAX_BATCH} differences per batch, not {}",
                differences.len()
            ))
            .into());
        }
        let pk = differences_pk(run_id);
        let writes = differences
            .iter()
            .map(|d| {
                let key = Key::new(pk.clone(), format!("{:08}", d.seq));
                Ok(Write::Put {
                    item: Item::new(key, encode(d)?),
                    when: Condition::Always,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.items().write(writes).await.map_err(RepoError::from)
    }

    /// A run's differences in the order found, `limit` a page.
    pub async fn list_differences(
        &self,
        run_id: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<Difference>, Option<String>), RepoError> {
        let page = self
            .items()
            .query(&Query {
                limit,
                cursor,
                ..Query::partition(differences_pk(run_id))
            })
            .await?;
        let items = page
            .items
            .iter()
            .map(difference_from)
            .collect::<Result<_, _>>()?;
        Ok((items, page.next))
    }
}
