//! The one optimistic-concurrency policy: a read-modify-write that lost a race (the store said
//! [`RepoError::Conflict`]: the item changed since it was read) reads again and retries, up to
//! [`ATTEMPTS`] times, after a short jittered pause that grows with each attempt (1–2 ms, then
//! 1–4, 1–8, capped at 1–16 ms: at most ~150 ms in all), so racing writers spread out instead of
//! colliding again. Every writer of integrations, offers and conversions uses it.

use affnet_store::RepoError;
use std::future::Future;
use std::time::Duration;

/// Attempts before giving up; the caller then answers its own "try again" (409, 503...).
pub const ATTEMPTS: u32 = 12;

/// An error that may mean "lost a race: read again and retry".
pub trait Conflict {
    fn is_conflict(&self) -> bool;
}

impl Conflict for RepoError {
    fn is_conflict(&self) -> bool {
        matches!(self, RepoError::Conflict)
    }
}

impl Conflict for crate::ApiError {
    fn is_conflict(&self) -> bool {
        matches!(self, crate::ApiError::Conflict)
    }
}

/// Runs `attempt` until it does not end in a conflict, at most [`ATTEMPTS`] times; the last
/// conflict is returned when every attempt lost.
pub async fn on_conflict<T, E, F, Fut>(mut attempt: F) -> Result<T, E>
where
    E: Conflict,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(e) if e.is_conflict() && tries < ATTEMPTS => pause(tries).await,
            other => return other,
        }
    }
}

async fn pause(tries: u32) {
    let ceiling = 1u64 << tries.min(4);
    let nanos = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos(),
    );
    tokio::time::sleep(Duration::from_millis(1 + nanos % ceiling)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn retries_conflicts_until_success_or_the_limit() {
        let calls = AtomicU32::new(0);
        let won = on_conflict(|| async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0..=2 => Err(RepoError::Conflict),
                n => Ok(n),
            }
        })
        .await;
        assert_eq!(won.unwrap(), 3);

        calls.store(0, Ordering::SeqCst);
        let lost: Result<(), _> = on_conflict(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(RepoError::Conflict)
        })
        .await;
        assert!(matches!(lost, Err(RepoError::Conflict)));
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = on_conflict(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(RepoError::NotFound)
        })
        .await;
        assert!(matches!(r, Err(RepoError::NotFound)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
