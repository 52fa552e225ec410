//! Read-modify-write with optimistic concurrency: retried when another writer got there first.

use crate::error::ApiError;
use affnet_store::RepoError;
use std::future::Future;

/// How often a read-modify-write is retried before answering 409.
const ATTEMPTS: usize = 8;

pub async fn modify_with<T, Load, Loaded, Change, Store, Stored>(
    load: Load,
    change: Change,
    store: Store,
) -> Result<T, ApiError>
where
    Load: Fn() -> Loaded,
    Loaded: Future<Output = Result<T, ApiError>>,
    Change: Fn(&T) -> Result<T, ApiError>,
    Store: Fn(T) -> Stored,
    Stored: Future<Output = Result<T, RepoError>>,
{
    for _ in 0..ATTEMPTS {
        let current = load().await?;
        let next = change(&current)?;
        match store(next).await {
            Ok(stored) => return Ok(stored),
            Err(RepoError::Conflict) => continue,
            Err(RepoError::NotFound) => return Err(ApiError::NotFound("item".into())),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict)
}
