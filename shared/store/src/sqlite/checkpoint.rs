//! Checkpoints off the writer's path. SQLite's automatic checkpoint runs inside the commit that
//! crosses its threshold: that commit (and every batch queued behind it) waits for the copy and
//! the fsyncs. Here a thread with its own connection copies the WAL into the database shortly
//! after commits (a `PASSIVE` checkpoint, which never blocks the writer), and the writer
//! checkpoints itself only when the WAL keeps growing because it never went quiet long enough
//! for the background checkpoint to finish (a WAL restarts only once fully copied).

use super::ops::unavailable;
use crate::port::StoreError;
use rusqlite::Connection;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the checkpointer lets commits gather before copying them under heavy traffic
/// (measured: short periods leave the writer less to copy when it must checkpoint itself).
const PERIOD: Duration = Duration::from_millis(5);
/// Under light traffic a pass waits for the writer to be idle this long: each pass costs two
/// fsyncs, and the commit that meets one waits on the disk behind them (with a pass every
/// 100 ms, the p99 of sequential `POST /leads` was twice its p50).
const IDLE: Duration = Duration::from_millis(50);
/// ... but no longer than this after the first commit it copies: a WAL of at most
/// `QUIET_FRAMES_PER_SEC` x 2 s (20,000 frames, ~80 MiB) before a pass.
const MAX_GATHER: Duration = Duration::from_secs(2);
/// WAL frames a second below which traffic counts as light. Sequential leads write ~3,000 a
/// second; postbacks at full load many times that, and keep the short period.
const QUIET_FRAMES_PER_SEC: u128 = 10_000;

/// How the checkpointer gathers commits before a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Heavy traffic: a pass [`PERIOD`] after a commit.
    Period,
    /// Light traffic: a pass once the writer was idle for `idle`, or `max` after the first
    /// commit.
    UntilIdle { idle: Duration, max: Duration },
}

const LIGHT: Wait = Wait::UntilIdle {
    idle: IDLE,
    max: MAX_GATHER,
};

impl Wait {
    /// Waits after a commit's nudge as this mode says; consumes the nudges meanwhile.
    fn gather(self, nudges: &mpsc::Receiver<()>) {
        match self {
            Wait::Period => {
                std::thread::sleep(PERIOD);
                while nudges.try_recv().is_ok() {}
            }
            Wait::UntilIdle { idle, max } => {
                let deadline = Instant::now() + max;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    // Disconnected: the writer ended; its last commits get their pass.
                    if left.is_zero() || nudges.recv_timeout(idle.min(left)).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// The mode of the next pass, from how fast the WAL grew since the last one.
struct Pace {
    frames: i64,
    at: Instant,
}

impl Pace {
    /// The mode after a pass that found `frames` in the WAL at `now`.
    fn after(&mut self, frames: i64, now: Instant) -> Wait {
        // A WAL shorter than at the last pass has started over.
        let added = if frames >= self.frames {
            frames - self.frames
        } else {
            frames
        };
        let millis = now.saturating_duration_since(self.at).as_millis().max(1);
        (self.frames, self.at) = (frames, now);
        match u128::try_from(added).unwrap_or(0) * 1000 < QUIET_FRAMES_PER_SEC * millis {
            true => LIGHT,
            false => Wait::Period,
        }
    }
}
/// WAL frames (pages) past which the writer checkpoints itself: a WAL of at most ~256 MiB. The
/// writer's checkpoint stalls every write for its fsyncs (measured 5-25 ms here); a larger WAL
/// makes that rarer (8,000 frames gave a stall every ~0.2 s at full load).
pub(super) const WRITER_LIMIT: i64 = 65536;

/// The writer's side: nudges after commits, and the WAL size the checkpointer last saw.
pub(super) struct Checkpoints {
    nudge: mpsc::SyncSender<()>,
    wal_frames: Arc<AtomicI64>,
    /// [`WRITER_LIMIT`], but for tests.
    limit: i64,
    /// Held while checkpointing: the writer waits for a running background pass on this lock
    /// (woken the moment it ends) instead of SQLite's busy handler, which sleeps in steps of
    /// up to 25 ms.
    running: Arc<Mutex<()>>,
}

impl Checkpoints {
    /// Starts the checkpointer on `conn` (a connection of its own to the database file); the
    /// writer checkpoints itself past `limit` WAL frames.
    pub(super) fn start(conn: Connection, limit: i64) -> Result<Checkpoints, StoreError> {
        let (nudge, nudges) = mpsc::sync_channel(1);
        let wal_frames = Arc::new(AtomicI64::new(0));
        let seen = wal_frames.clone();
        let running = Arc::new(Mutex::new(()));
        let lock = running.clone();
        std::thread::Builder::new()
            .name("affnet-sqlite-checkpoint".into())
            .spawn(move || {
                // Ends when the writer (holding `nudge`) ends.
                let mut wait = Wait::Period;
                let mut pace = Pace {
                    frames: 0,
                    at: Instant::now(),
                };
                while nudges.recv().is_ok() {
                    wait.gather(&nudges);
                    if let Ok(frames) = checkpoint(&lock, &conn) {
                        seen.store(frames, Ordering::Relaxed);
                        wait = pace.after(frames, Instant::now());
                    }
                }
            })
            .map_err(unavailable)?;
        Ok(Checkpoints {
            nudge,
            wal_frames,
            limit,
            running,
        })
    }

    /// After a commit: wakes the checkpointer, or checkpoints here if the WAL got too long.
    pub(super) fn committed(&self, writer: &Connection) {
        if self.wal_frames.load(Ordering::Relaxed) > self.limit {
            // Between transactions nothing else appends: this one completes, and the next
            // transaction starts the WAL over.
            if checkpoint(&self.running, writer).is_ok() {
                self.wal_frames.store(0, Ordering::Relaxed);
            }
        }
        let _ = self.nudge.try_send(());
    }
}

/// A `PASSIVE` checkpoint; returns the frames in the WAL.
fn checkpoint(running: &Mutex<()>, conn: &Connection) -> rusqlite::Result<i64> {
    let _running = running.lock().unwrap_or_else(|e| e.into_inner());
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn light_traffic_waits_for_idle_and_heavy_keeps_the_short_period() {
        let start = Instant::now();
        let mut pace = Pace {
            frames: 0,
            at: start,
        };
        let at = |ms| start + Duration::from_millis(ms);
        // 300 frames in 100 ms: 3,000 a second (sequential leads).
        assert_eq!(pace.after(300, at(100)), LIGHT);
        // 400 more in 5 ms: 80,000 a second (postbacks at full load).
        assert_eq!(pace.after(700, at(105)), Wait::Period);
        // The WAL started over: 50 frames in 100 ms.
        assert_eq!(pace.after(50, at(205)), LIGHT);
        // 2,000 frames at once.
        assert_eq!(pace.after(2_050, at(206)), Wait::Period);
        // 6,000 frames over a 2 s gathering: still light.
        assert_eq!(pace.after(6_000, at(2_206)), LIGHT);
    }

    #[test]
    fn gathering_ends_when_idle_and_when_commits_never_stop() {
        let wait = Wait::UntilIdle {
            idle: Duration::from_millis(20),
            max: Duration::from_millis(200),
        };
        let (nudge, nudges) = mpsc::sync_channel(1);
        // Idle: returns, the nudge sent before consumed.
        nudge.try_send(()).unwrap();
        wait.gather(&nudges);
        assert!(nudges.try_recv().is_err());
        // A writer that commits every millisecond without end: returns anyway (at `max`).
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = nudge.try_send(());
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        wait.gather(&nudges);
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        // The writer gone: returns at once.
        wait.gather(&nudges);
    }
}
