//! The writer thread: it owns the one connection that writes, and commits batches in groups.
//!
//! Callers queue their batch and wait for its answer. The thread takes every batch already
//! waiting (up to [`MAX_GROUP`]), opens one `BEGIN IMMEDIATE` transaction, applies each batch
//! inside its own `SAVEPOINT` (rolled back to on a failed condition or error, so only that batch
//! fails), commits once, and only then answers: a batch is acknowledged once the commit holding
//! it is done, as with one transaction per batch, but a busy server pays one commit per group.
//!
//! The in-memory store has no second connection to read with, so its reads run here too,
//! between groups (never inside a transaction: a read sees committed data only).

use super::checkpoint::Checkpoints;
use super::ops::{apply, unavailable};
use crate::port::{StoreError, Write};
use rusqlite::Connection;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Most batches committed together.
const MAX_GROUP: usize = 64;

type Reply = oneshot::Sender<Result<(), StoreError>>;

pub(super) enum Job {
    Write(Vec<Write>, Reply),
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

    pub(super) async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Write(writes, reply))?;
        answer.await.map_err(|_| stopped())?
    }

    pub(super) fn send(&self, job: Job) -> Result<(), StoreError> {
        self.jobs.send(job).map_err(|_| stopped())
    }
}

pub(super) fn stopped() -> StoreError {
    StoreError::Unavailable("the sqlite writer has stopped".into())
}

fn run(mut conn: Connection, checkpoints: Option<Checkpoints>, queue: mpsc::Receiver<Job>) {
    let mut group: Vec<(Vec<Write>, Reply)> = Vec::with_capacity(MAX_GROUP);
    while let Ok(job) = queue.recv() {
        let mut next = Some(job);
        while let Some(job) = next.take() {
            match job {
                Job::Read(read) => read(&conn),
                Job::Write(writes, reply) => {
                    group.push((writes, reply));
                    // Take what else is waiting; a read ends the group (it runs after the commit).
                    while group.len() < MAX_GROUP {
                        match queue.try_recv() {
                            Ok(Job::Write(writes, reply)) => group.push((writes, reply)),
                            Ok(read) => {
                                next = Some(read);
                                break;
                            }
                            Err(_) => break,
                        }
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

/// Commits `group` (emptied) and answers each caller.
fn commit_group(conn: &mut Connection, group: &mut Vec<(Vec<Write>, Reply)>) {
    let mut pending = std::mem::take(group).into_iter().peekable();
    // Normally one pass; another only if SQLite dropped the transaction mid-group (I/O error,
    // full disk), for the batches not tried yet.
    while pending.peek().is_some() {
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            for (_, reply) in pending.by_ref() {
                let _ = reply.send(Err(unavailable(&e)));
            }
            return;
        }
        // Batches applied so far in this transaction, answered once it commits.
        let mut applied: Vec<Reply> = Vec::new();
        // Batches that failed on their own (rolled back to their savepoint): answered after the
        // commit too, since their condition was checked against the group's uncommitted state.
        let mut refused: Vec<(Reply, StoreError)> = Vec::new();
        let mut lost = false;
        for (writes, reply) in pending.by_ref() {
            match apply_in_savepoint(conn, &writes) {
                Ok(()) => applied.push(reply),
                Err(e) if conn.is_autocommit() => {
                    // The transaction is gone: nothing of this group was written.
                    let _ = reply.send(Err(e));
                    lost = true;
                    break;
                }
                Err(e) => refused.push((reply, e)),
            }
        }
        let outcome = match lost {
            true => Err(StoreError::Unavailable(
                "the transaction was rolled back by sqlite".into(),
            )),
            false => conn.execute_batch("COMMIT").map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                unavailable(e)
            }),
        };
        match outcome {
            Ok(()) => {
                for reply in applied {
                    let _ = reply.send(Ok(()));
                }
                for (reply, e) in refused {
                    let _ = reply.send(Err(e));
                }
            }
            Err(e) => {
                // Nothing committed: every batch of the group may be retried by its caller.
                let message = e.to_string();
                for reply in applied
                    .into_iter()
                    .chain(refused.into_iter().map(|(r, _)| r))
                {
                    let _ = reply.send(Err(StoreError::Unavailable(message.clone())));
                }
            }
        }
    }
}

/// One batch inside the open transaction: all of it or, rolled back to its savepoint, none. If
/// even that fails, the whole transaction is rolled back (the caller sees autocommit again).
fn apply_in_savepoint(conn: &Connection, writes: &[Write]) -> Result<(), StoreError> {
    conn.execute_batch("SAVEPOINT batch").map_err(unavailable)?;
    let result =
        apply(conn, writes).and_then(|()| conn.execute_batch("RELEASE batch").map_err(unavailable));
    if result.is_err()
        && !conn.is_autocommit()
        && conn
            .execute_batch("ROLLBACK TO batch; RELEASE batch")
            .is_err()
    {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}
