//! The DynamoDB adapter: the port's items in one table, with the SQLite adapter's semantics.
//!
//! Table layout: `pk` (S, hash key), `sk` (S, range key), `v` (N, the item's version), `d` (the
//! JSON data as a DynamoDB document), one top-level N attribute `c_<name>` per counter (so `ADD`
//! works), `ttl` (N, unix seconds, the table's TTL attribute) and `gsi1pk`/`gsi1sk` (S), the keys
//! of the one global secondary index `gsi1` (projection ALL).
//!
//! Access patterns (what the adapter asks of DynamoDB, and the items that use them today):
//!
//! | item | key | index | operation |
//! | --- | --- | --- | --- |
//! | any item, by key | `pk`, `sk` | table | `GetItem` (ConsistentRead); items whose `ttl` has passed are hidden |
//! | items of one partition, in sort-key order | `pk` = P, `sk` prefix and/or range | table | `Query` (ConsistentRead, `begins_with`/`BETWEEN`, ScanIndexForward), expired items filtered out |
//! | items of one index partition | `gsi1pk` = P, `gsi1sk` prefix and/or range | `gsi1` | `Query` (eventually consistent), expired items filtered out |
//! | one conditional write (`Put`, `Delete`) | `pk`, `sk` | table | one `UpdateItem` (a `Put` keeps the item's counters) / `PutItem` (create on an absent key) / `DeleteItem`, with a ConditionExpression |
//! | counter increments (`Add`) | `pk`, `sk` | table | one `UpdateItem` `ADD c_<name> :delta` (creates the item) |
//! | a batch of 2 to 100 writes, all or nothing | `pk`, `sk` of each | table | one `TransactWriteItems` (Put/Update/Delete/ConditionCheck) |
//! | a lone `Check` | `pk`, `sk` | table | `GetItem` (ConsistentRead), condition evaluated on the reply |
//! | an expired item still in the table that blocks a write (rare) | `pk`, `sk` | table | `PutItem` of what the write makes from nothing, if `ttl <= now` (never a `DeleteItem`) |
//! | integration | `INTEGRATION` / `<id>` | table | get, list the partition, create (absent), update (version), delete (exists) |
//! | offer | `OFFER#<id>` / `META` | table; `gsi1`: `OFFERS` / `<integration id>#<id>` | get; list all or one integration's (`gsi1` prefix) |
//! | synced offer's remote id | `INT#<integration id>#REMOTE` / `<remote id>` | table | created with its offer in one transaction; list the partition |
//! | sync run log | `INT#<integration id>#SYNCLOG` / `<run id>` | table | written with the lease in one transaction; list the partition (newest first) |
//! | sync lease | `INT#<integration id>#LEASE` / `SYNC` (with `ttl`) | table | take: put if absent (an expired lease counts as absent); renew/release on its version |
//!
//! Expired items: DynamoDB deletes them lazily (within days), so every read hides an item whose
//! `ttl` has passed and every condition treats it as absent. A write that would otherwise inherit
//! something from an expired item (a `Put` keeping counters, an `Add` adding to them) carries a
//! guard condition (the item is absent or live); when the guard fails the adapter overwrites the
//! expired item with what the write makes from nothing (`PutItem` on condition `ttl <= now`),
//! and if that condition fails in turn (someone replaced it meanwhile) writes normally again.
//! Nothing is deleted on this path: functions that never delete need no `dynamodb:DeleteItem`
//! (see [`DynamoStore::actions`]).
//!
//! Item data (it holds network credentials) is never logged, nor put into errors.
//!
//! Parts: [`codec`] (items as attribute maps, cursors), [`expr`] (placeholders, conditions,
//! update expressions), [`plan`] (each write described once), [`write`] (a planned write as a
//! lone request or in a transaction, and what the reply means), [`query`], [`table`] (creation)
//! and [`requests`] (request counting).

mod actions;
mod codec;
mod expr;
mod plan;
mod query;
mod requests;
pub mod stream;
mod table;
mod write;

use crate::port::{Item, ItemStore, Key, Page, Query, StoreError, Write};
pub use actions::{READ_ACTIONS, StoreCall};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use codec::{key_attrs, parse_item};
use requests::RequestCounter;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use write::Round;

/// Attribute names of the table layout.
const PK: &str = "pk";
const SK: &str = "sk";
const VERSION: &str = "v";
const DATA: &str = "d";
const TTL: &str = "ttl";
const GSI1PK: &str = "gsi1pk";
const GSI1SK: &str = "gsi1sk";
const COUNTER_PREFIX: &str = "c_";
/// The one global secondary index.
pub const GSI1: &str = "gsi1";

/// Rounds of a write: retries after finding an expired item in the way.
const MAX_ROUNDS: u32 = 6;

type AttrMap = HashMap<String, AttributeValue>;

/// The store on one DynamoDB table (see the module docs for the layout).
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    requests: Arc<AtomicU64>,
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

fn is_live(item: &Item, now: i64) -> bool {
    item.expires_at.is_none_or(|t| t > now)
}

/// An error from the SDK as the port's error; never carries item data.
fn sdk_error<E>(operation: &str, err: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let SdkError::ServiceError(service) = &err {
        let e = service.err();
        let code = e.code().unwrap_or("unknown");
        let message = e.message().unwrap_or("");
        let text = format!("DynamoDB {operation}: {code}: {message}");
        return match code {
            "ValidationException" | "SerializationException" => StoreError::Invalid(text),
            _ => StoreError::Unavailable(text),
        };
    }
    StoreError::Unavailable(format!(
        "DynamoDB {operation}: {}",
        DisplayErrorContext(&err)
    ))
}

/// Done, or the service error `tolerated` (which leaves things as wanted); other errors as the
/// port's.
fn done_unless<T, E>(
    result: Result<T, SdkError<E>>,
    tolerated: &str,
    operation: &str,
) -> Result<(), StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().and_then(|e| e.code()) == Some(tolerated) => Ok(()),
        Err(e) => Err(sdk_error(operation, e)),
    }
}

fn build_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("DynamoDB request: {e}"))
}

impl DynamoStore {
    /// The store on `table` through `client`; requests are counted from here on.
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        let requests = Arc::new(AtomicU64::new(0));
        let config = client
            .config()
            .to_builder()
            .interceptor(RequestCounter(requests.clone()))
            .build();
        DynamoStore {
            client: Client::from_conf(config),
            table: table.into(),
            requests,
        }
    }

    /// The client this store uses (its requests are counted).
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// DynamoDB HTTP requests sent by this store (and its clones) so far, retries included.
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    async fn get_raw(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        out.item.map(parse_item).transpose()
    }
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let now = now_secs();
        Ok(self.get_raw(key).await?.filter(|i| is_live(i, now)))
    }

    async fn query(&self, q: &Query) -> Result<Page, StoreError> {
        self.query_page(q).await
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        crate::port::check_batch(&writes)?;
        // Writes whose last round found an expired item in their way: planned as overwrites.
        let mut over_expired = HashSet::new();
        for _ in 0..MAX_ROUNDS {
            let now = now_secs();
            let outcome = match writes.as_slice() {
                [one] => self.write_one(one, now, over_expired.contains(&0)).await?,
                many => self.write_many(many, now, &over_expired).await?,
            };
            match outcome {
                Round::Done => return Ok(()),
                Round::Expired(indexes) => {
                    for index in indexes {
                        if !over_expired.remove(&index) {
                            over_expired.insert(index);
                        }
                    }
                }
                // Retried (jittered, bounded) above the adapter, by `retrying`: one policy
                // for every store, and the conflict decorator of the tests goes through it too.
                Round::Conflict => return Err(StoreError::TransactionConflict),
            }
        }
        Err(StoreError::Unavailable(format!(
            "DynamoDB write gave up after {MAX_ROUNDS} rounds (expired items in the way)"
        )))
    }

    fn name(&self) -> &'static str {
        "dynamodb"
    }
}
