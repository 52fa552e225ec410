//! Read-modify-write with optimistic concurrency: retried by the one policy of
//! [`crate::retry`] when another writer got there first, then 409.

use crate::error::ApiError;
use affnet_store::RepoError;
use std::future::Future;

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
    crate::retry::on_conflict(|| async {
        let current = load().await?;
        let next = change(&current)?;
        store(next).await.map_err(|e| match e {
            RepoError::NotFound => ApiError::NotFound("item".into()),
            other => other.into(),
        })
    })
    .await
}
