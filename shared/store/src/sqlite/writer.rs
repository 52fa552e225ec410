//! The writer thread: it owns the one connection that writes, and commits batches in groups.
//!
//! Callers queue their batch and wait for its answer. The thread takes every batch already
//! waiting (up to [`MAX_GROUP`]), opens one `BEGIN IMMEDIATE` transaction, applies each batch
//! to the group's in-memory state (all or nothing per batch: see [`super::group`]), writes each
//! changed item once, commits, and only then answers: a batch is acknowledged once the commit holding
//! it is done, as with one transaction per batch, but a busy server pays one commit per group.
//!
//! The in-memory store has no second connection to read with, so its reads run here too,
//! between groups (never inside a transaction: a read sees committed data only).

use super::checkpoint::Checkpoints;
use super::group::{Group, Prepared};
use super::ops::{now_secs, unavailable};
use crate::port::StoreError;
use rusqlite::Connection;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Most batches committed together.
const MAX_GROUP: usize = 64;

type Reply = oneshot::Sender<Result<(), StoreError>>;

pub(super) enum Job {
    /// A batch answered once its commit is synced to disk (`synchronous=FULL`).
    Write(Vec<Prepared>, Reply),
    /// A batch that may be answered before its commit reaches the disk (`NORMAL`: it survives
    /// a crashed process, not a power loss, until the next synced commit syncs the WAL).
    WriteUnsynced(Vec<Prepared>, Reply),
    /// A read on the writer's connection (the in-memory store), run outside any transaction.
    Read(Box<dyn FnOnce(&Connection) + Send>),
}

/// The handle callers queue jobs on; the thread ends (closing its connection) when the last
/// handle is dropped and the queue is done.
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the thread on `conn`; with `checkpoints`, `conn` must not checkpoint by itself.
    pub(super) fn start(
        conn: Connection,
        checkpoints: Option<Checkpoints>,
    ) -> Result<Writer, StoreError> {
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("affnet-sqlite-writer".into())
            .spawn(move || run(conn, checkpoints, queue))
            .map_err(unavailable)?;
        Ok(Writer { jobs })
    }

    pub(super) async fn write(&self, writes: Vec<Prepared>, sync: bool) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(match sync {
            true => Job::Write(writes, reply),
            false => Job::WriteUnsynced(writes, reply),
        })?;
        answer.await.map_err(|_| stopped())?
    }

    pub(super) fn send(&self, job: Job) -> Result<(), StoreError> {
        self.jobs.send(job).map_err(|_| stopped())
    }
}

/// Runs `sql`, one of the statements that begin and end a group's transaction.
fn execute(conn: &Connection, sql: &'static str) -> rusqlite::Result<()> {
    #[cfg(test)]
    if FAIL_NEXT.with(|next| next.get() == Some(sql) && next.take().is_some()) {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
            Some(format!("{sql} failed (injected by a test)")),
        ));
    }
    conn.execute_batch(sql)
}

#[cfg(test)]
thread_local! {
    /// Tests: the statement ([`BEGIN`] or [`COMMIT`]) that fails, once, the next time the writer
    /// runs it (set on the writer's thread, between transactions), without running it.
    pub(super) static FAIL_NEXT: std::cell::Cell<Option<&'static str>> =
        const { std::cell::Cell::new(None) };
}

pub(super) const BEGIN: &str = "BEGIN IMMEDIATE";
pub(super) const COMMIT: &str = "COMMIT";

pub(super) fn stopped() -> StoreError {
    StoreError::Unavailable("the sqlite writer has stopped".into())
}

fn run(mut conn: Connection, checkpoints: Option<Checkpoints>, queue: mpsc::Receiver<Job>) {
    let mut group: Vec<(Vec<Prepared>, Reply)> = Vec::with_capacity(MAX_GROUP);
    // The connection opens with `synchronous=FULL`.
    let mut syncing = true;
    while let Ok(job) = queue.recv() {
        let mut next = Some(job);
        while let Some(job) = next.take() {
            let mut sync = false;
            let mut add = |job: Job, group: &mut Vec<_>| match job {
                Job::Write(writes, reply) => {
                    sync = true;
                    group.push((writes, reply));
                    None
                }
                Job::WriteUnsynced(writes, reply) => {
                    group.push((writes, reply));
                    None
                }
                Job::Read(read) => Some(read),
            };
            match add(job, &mut group) {
                Some(read) => read(&conn),
                None => {
                    // Take what else is waiting; a read ends the group (it runs after the commit).
                    while group.len() < MAX_GROUP {
                        match queue.try_recv() {
                            Ok(job) => {
                                if let Some(read) = add(job, &mut group) {
                                    next = Some(Job::Read(read));
                                    break;
                                }
                            }
                            Err(_) => break,
                        }
                    }
                    // One synced batch makes the whole group's commit synced.
                    if let Err(e) = set_syncing(&conn, &mut syncing, sync) {
                        for (_, reply) in group.drain(..) {
                            let _ = reply.send(Err(unavailable(&e)));
                        }
                        continue;
                    }
                    commit_group(&mut conn, &mut group);
                    if let Some(checkpoints) = &checkpoints {
                        checkpoints.committed(&conn);
                    }
                }
            }
        }
    }
}

/// Switches the connection's `synchronous` setting between transactions when `sync` differs
/// from what it is. A failure to turn syncing on fails the group; one to turn it off leaves it on.
fn set_syncing(conn: &Connection, syncing: &mut bool, sync: bool) -> rusqlite::Result<()> {
    if *syncing == sync {
        return Ok(());
    }
    match conn.pragma_update(None, "synchronous", if sync { "FULL" } else { "NORMAL" }) {
        Ok(()) => *syncing = sync,
        Err(e) if sync => return Err(e),
        Err(_) => {}
    }
    Ok(())
}

/// Applies `group` (emptied) in one transaction, commits, and answers each caller.
fn commit_group(conn: &mut Connection, group: &mut Vec<(Vec<Prepared>, Reply)>) {
    let batches = std::mem::take(group);
    if let Err(e) = execute(conn, BEGIN) {
        for (_, reply) in batches {
            let _ = reply.send(Err(unavailable(&e)));
        }
        return;
    }
    let mut state = Group::new(conn, now_secs());
    // Each batch's own outcome, sent once the group is committed: a batch that failed on its
    // own (a condition) was checked against the group's uncommitted state.
    let outcomes: Vec<(Reply, Result<(), StoreError>)> = batches
        .into_iter()
        .map(|(batch, reply)| (reply, state.apply(&batch)))
        .collect();
    let committed = state
        .flush()
        .and_then(|()| match conn.is_autocommit() {
            // SQLite dropped the transaction (an I/O error): what was flushed is not one unit.
            true => Err(StoreError::Unavailable(
                "the transaction was rolled back by sqlite".into(),
            )),
            false => execute(conn, COMMIT).map_err(unavailable),
        })
        .inspect_err(|_| {
            let _ = conn.execute_batch("ROLLBACK");
        });
    for (reply, outcome) in outcomes {
        let answer = match &committed {
            Ok(()) => outcome,
            // Nothing committed: every batch of the group may be retried by its caller.
            Err(e) => Err(StoreError::Unavailable(e.to_string())),
        };
        let _ = reply.send(answer);
    }
}
