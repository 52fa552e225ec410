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
//! | an expired item still in the table that blocks a write (rare) | `pk`, `sk` | table | `DeleteItem` if `ttl <= now`, then the write again |
//! | integration | `INTEGRATION` / `<id>` | table | get, list the partition, create (absent), update (version), delete (exists) |
//! | offer | `OFFER#<id>` / `META` | table; `gsi1`: `OFFERS` / `<integration id>#<id>` | get; list all or one integration's (`gsi1` prefix) |
//! | synced offer's remote id | `INT#<integration id>#REMOTE` / `<remote id>` | table | created with its offer in one transaction; list the partition |
//! | sync run log | `INT#<integration id>#SYNCLOG` / `<run id>` | table | written with the lease in one transaction; list the partition (newest first) |
//! | sync lease | `INT#<integration id>#LEASE` / `SYNC` (with `ttl`) | table | take: put if absent (an expired lease counts as absent); renew/release on its version |
//!
//! Expired items: DynamoDB deletes them lazily (within days), so every read hides an item whose
//! `ttl` has passed and every condition treats it as absent. A write that would otherwise inherit
//! something from an expired item (a `Put` keeping counters, an `Add` adding to them) carries a
//! guard condition (the item is absent or live); when the guard fails the adapter deletes the
//! expired item (`ttl <= now`, which changes nothing anyone can see) and writes again.
//!
//! Item data (it holds network credentials) is never logged, nor put into errors.

use crate::port::{Condition, Index, Item, ItemStore, Key, Page, Query, StoreError, Write};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus, TransactWriteItem, Update,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use base64::Engine as _;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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

/// Rounds of a write: retries after a transaction conflict or after purging an expired item.
const MAX_ROUNDS: u32 = 6;

type AttrMap = HashMap<String, AttributeValue>;

/// The store on one DynamoDB table (see the module docs for the layout).
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    requests: Arc<AtomicU64>,
}

/// Counts every HTTP request the client sends (retries included).
#[derive(Debug)]
struct RequestCounter(Arc<AtomicU64>);

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "affnet-request-counter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key_attrs(key: &Key) -> AttrMap {
    HashMap::from([(PK.to_string(), s(&key.pk)), (SK.to_string(), s(&key.sk))])
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

fn build_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("DynamoDB request: {e}"))
}

/// Placeholders of one request's expressions: DynamoDB rejects unused ones, so they are only
/// registered when an expression uses them.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: AttrMap,
}

impl Expr {
    /// `#name` for one of the layout's attributes.
    fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#{attr}");
        self.names.insert(placeholder.clone(), attr.to_string());
        placeholder
    }

    /// A numbered `#cN` for a counter attribute (any characters may appear in a counter name).
    fn counter(&mut self, counter: &str) -> String {
        let placeholder = format!("#c{}", self.names.len());
        self.names
            .insert(placeholder.clone(), format!("{COUNTER_PREFIX}{counter}"));
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<AttrMap> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    /// The item is absent, or present but expired.
    fn absent(&mut self, now: i64) -> String {
        let (pk, ttl, now) = (self.name(PK), self.name(TTL), self.value(n(now)));
        format!("attribute_not_exists({pk}) OR {ttl} <= {now}")
    }

    /// The item is present and not expired.
    fn live(&mut self, now: i64) -> String {
        let (pk, ttl, now) = (self.name(PK), self.name(TTL), self.value(n(now)));
        format!("attribute_exists({pk}) AND (attribute_not_exists({ttl}) OR {ttl} > {now})")
    }

    /// The item is absent or live: anything but an expired item still in the table.
    fn not_expired(&mut self, now: i64) -> String {
        let (pk, ttl, now) = (self.name(PK), self.name(TTL), self.value(n(now)));
        format!("attribute_not_exists({pk}) OR attribute_not_exists({ttl}) OR {ttl} > {now}")
    }

    /// The port's condition; `None` for [`Condition::Always`].
    fn condition(&mut self, when: Condition, now: i64) -> Option<String> {
        match when {
            Condition::Always => None,
            Condition::Absent => Some(self.absent(now)),
            Condition::Exists => Some(self.live(now)),
            Condition::Version(version) => {
                let v = self.name(VERSION);
                let expected = self.value(n(version));
                Some(format!("{v} = {expected} AND ({})", self.live(now)))
            }
        }
    }
}

/// One write as a DynamoDB operation.
enum Op {
    Put {
        item: AttrMap,
        expr: Expr,
        condition: Option<String>,
    },
    Update {
        key: AttrMap,
        update: String,
        expr: Expr,
        condition: Option<String>,
    },
    Delete {
        key: AttrMap,
        expr: Expr,
        condition: Option<String>,
    },
    Check {
        key: AttrMap,
        expr: Expr,
        condition: String,
    },
}

struct Planned {
    op: Op,
    /// The condition is only the not-expired guard: its failure means an expired item is in the
    /// way (purge it and write again), not that the caller's condition failed.
    guarded: bool,
}

fn data_attr(data: &serde_json::Value) -> Result<AttributeValue, StoreError> {
    serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(data)
        .map_err(|e| StoreError::Invalid(format!("item data not storable in DynamoDB: {e}")))
}

/// Sums deltas of one counter named twice (DynamoDB rejects two `ADD`s on one path).
fn merged_deltas(deltas: &[(String, Decimal)]) -> Result<BTreeMap<&str, Decimal>, StoreError> {
    let mut merged: BTreeMap<&str, Decimal> = BTreeMap::new();
    for (name, delta) in deltas {
        let slot = merged.entry(name.as_str()).or_default();
        *slot = slot
            .checked_add(*delta)
            .ok_or_else(|| StoreError::Invalid(format!("counter `{name}` overflow")))?;
    }
    Ok(merged)
}

fn plan(write: &Write, now: i64) -> Result<Planned, StoreError> {
    let mut expr = Expr::default();
    Ok(match write {
        // Nothing live to keep counters from: replace whatever is there (absent or expired).
        Write::Put {
            item,
            when: Condition::Absent,
        } => {
            let mut attrs = key_attrs(&item.key);
            attrs.insert(VERSION.into(), n(item.version));
            attrs.insert(DATA.into(), data_attr(&item.data)?);
            for (name, value) in &item.counters {
                attrs.insert(format!("{COUNTER_PREFIX}{name}"), n(value));
            }
            if let Some(ttl) = item.expires_at {
                attrs.insert(TTL.into(), n(ttl));
            }
            if let Some(index) = &item.index_key {
                attrs.insert(GSI1PK.into(), s(&index.pk));
                attrs.insert(GSI1SK.into(), s(&index.sk));
            }
            let condition = Some(expr.absent(now));
            Planned {
                op: Op::Put {
                    item: attrs,
                    expr,
                    condition,
                },
                guarded: false,
            }
        }
        // An update, so that counters already on the item stay.
        Write::Put { item, when } => {
            let mut set = Vec::new();
            let mut remove = Vec::new();
            let attr = expr.name(VERSION);
            set.push(format!("{attr} = {}", expr.value(n(item.version))));
            let attr = expr.name(DATA);
            set.push(format!("{attr} = {}", expr.value(data_attr(&item.data)?)));
            let attr = expr.name(TTL);
            match item.expires_at {
                Some(ttl) => set.push(format!("{attr} = {}", expr.value(n(ttl)))),
                None => remove.push(attr),
            }
            let (gpk, gsk) = (expr.name(GSI1PK), expr.name(GSI1SK));
            match &item.index_key {
                Some(index) => {
                    set.push(format!("{gpk} = {}", expr.value(s(&index.pk))));
                    set.push(format!("{gsk} = {}", expr.value(s(&index.sk))));
                }
                None => remove.extend([gpk, gsk]),
            }
            for (name, value) in &item.counters {
                let attr = expr.counter(name);
                set.push(format!("{attr} = {}", expr.value(n(value))));
            }
            let mut update = format!("SET {}", set.join(", "));
            if !remove.is_empty() {
                update.push_str(&format!(" REMOVE {}", remove.join(", ")));
            }
            let (condition, guarded) = match when {
                Condition::Always => (Some(expr.not_expired(now)), true),
                when => (expr.condition(*when, now), false),
            };
            Planned {
                op: Op::Update {
                    key: key_attrs(&item.key),
                    update,
                    expr,
                    condition,
                },
                guarded,
            }
        }
        Write::Delete { key, when } => {
            let condition = expr.condition(*when, now);
            Planned {
                op: Op::Delete {
                    key: key_attrs(key),
                    expr,
                    condition,
                },
                guarded: false,
            }
        }
        Write::Check { key, when } => {
            let condition = expr.condition(*when, now).unwrap_or_else(|| {
                let pk = expr.name(PK);
                format!("attribute_not_exists({pk}) OR attribute_exists({pk})")
            });
            Planned {
                op: Op::Check {
                    key: key_attrs(key),
                    expr,
                    condition,
                },
                guarded: false,
            }
        }
        Write::Add {
            key,
            deltas,
            expires_at,
        } => {
            // A new item gets version 0 and null data, like the SQLite adapter's.
            let (v, d) = (expr.name(VERSION), expr.name(DATA));
            let zero = expr.value(n(0));
            let null = expr.value(AttributeValue::Null(true));
            let mut set = vec![
                format!("{v} = if_not_exists({v}, {zero})"),
                format!("{d} = if_not_exists({d}, {null})"),
            ];
            if let Some(ttl) = expires_at {
                let attr = expr.name(TTL);
                set.push(format!("{attr} = {}", expr.value(n(ttl))));
            }
            let mut update = format!("SET {}", set.join(", "));
            let adds: Vec<String> = merged_deltas(deltas)?
                .into_iter()
                .map(|(name, delta)| format!("{} {}", expr.counter(name), expr.value(n(delta))))
                .collect();
            if !adds.is_empty() {
                update.push_str(&format!(" ADD {}", adds.join(", ")));
            }
            let condition = Some(expr.not_expired(now));
            Planned {
                op: Op::Update {
                    key: key_attrs(key),
                    update,
                    expr,
                    condition,
                },
                guarded: true,
            }
        }
    })
}

/// What one round of a write came to.
enum Round {
    Done,
    /// Expired items (by write index) stood in the way of guarded writes.
    Expired(Vec<usize>),
    /// A concurrent transaction held an item: try again shortly.
    Conflict,
}

fn parse_number<T: FromStr>(attr: &str, value: &AttributeValue) -> Result<T, StoreError> {
    value
        .as_n()
        .ok()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            StoreError::Corrupt(format!("attribute `{attr}` is not the expected number"))
        })
}

fn parse_decimal(attr: &str, value: &AttributeValue) -> Result<Decimal, StoreError> {
    let text = value
        .as_n()
        .map_err(|_| StoreError::Corrupt(format!("attribute `{attr}` is not a number")))?;
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .map_err(|_| StoreError::Corrupt(format!("attribute `{attr}` is not a decimal")))
}

fn parse_string(attr: &str, value: Option<&AttributeValue>) -> Result<String, StoreError> {
    value
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| StoreError::Corrupt(format!("attribute `{attr}` missing or not a string")))
}

/// A stored item back as the port's item. Items made by an `Add` alone may lack `v`/`d` if
/// written by another tool: they read as version 0 and null data.
fn parse_item(mut attrs: AttrMap) -> Result<Item, StoreError> {
    let pk = parse_string(PK, attrs.get(PK))?;
    let sk = parse_string(SK, attrs.get(SK))?;
    let version = match attrs.get(VERSION) {
        Some(v) => parse_number::<u64>(VERSION, v)?,
        None => 0,
    };
    let data = match attrs.remove(DATA) {
        Some(d) => serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(d)
            .map_err(|e| StoreError::Corrupt(format!("{pk}/{sk}: data: {e}")))?,
        None => serde_json::Value::Null,
    };
    let expires_at = match attrs.get(TTL) {
        Some(t) => Some(parse_number::<i64>(TTL, t)?),
        None => None,
    };
    let index_key = match (attrs.get(GSI1PK), attrs.get(GSI1SK)) {
        (Some(_), Some(_)) => Some(Key {
            pk: parse_string(GSI1PK, attrs.get(GSI1PK))?,
            sk: parse_string(GSI1SK, attrs.get(GSI1SK))?,
        }),
        _ => None,
    };
    let mut counters = BTreeMap::new();
    for (attr, value) in &attrs {
        if let Some(name) = attr.strip_prefix(COUNTER_PREFIX) {
            counters.insert(name.to_string(), parse_decimal(attr, value)?);
        }
    }
    Ok(Item {
        key: Key { pk, sk },
        version,
        data,
        counters,
        expires_at,
        index_key,
    })
}

/// The opaque cursor: the last returned item's table key, then (index queries) its index key.
fn encode_cursor(item: &Item, index: Index) -> String {
    let mut parts = vec![item.key.pk.as_str(), item.key.sk.as_str()];
    if index == Index::Gsi1 {
        let k = item.index_key.as_ref();
        parts.push(k.map_or("", |k| k.pk.as_str()));
        parts.push(k.map_or("", |k| k.sk.as_str()));
    }
    let json = serde_json::to_vec(&parts).expect("strings serialize");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(cursor: &str, index: Index) -> Result<AttrMap, StoreError> {
    let bad = || StoreError::Invalid("bad cursor".into());
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let parts: Vec<String> = serde_json::from_slice(&json).map_err(|_| bad())?;
    match (index, parts.as_slice()) {
        (Index::Table, [pk, sk]) => Ok(HashMap::from([(PK.into(), s(pk)), (SK.into(), s(sk))])),
        (Index::Gsi1, [pk, sk, gpk, gsk]) => Ok(HashMap::from([
            (PK.into(), s(pk)),
            (SK.into(), s(sk)),
            (GSI1PK.into(), s(gpk)),
            (GSI1SK.into(), s(gsk)),
        ])),
        _ => Err(bad()),
    }
}

/// The sort-key condition of a query, combined from prefix and bounds as the SQLite adapter does
/// (`max(from, prefix) <= sk <= min(to, prefix + U+10FFFF)`).
enum SkRange {
    All,
    BeginsWith(String),
    Between(String, String),
    AtLeast(String),
    AtMost(String),
    /// No sort key can match.
    Empty,
}

fn sk_range(q: &Query) -> SkRange {
    if q.sk_from.is_none() && q.sk_to.is_none() {
        return match q.sk_prefix.is_empty() {
            true => SkRange::All,
            false => SkRange::BeginsWith(q.sk_prefix.clone()),
        };
    }
    let lower = q
        .sk_from
        .clone()
        .map_or(q.sk_prefix.clone(), |f| f.max(q.sk_prefix.clone()));
    let prefix_end = format!("{}\u{10FFFF}", q.sk_prefix);
    let upper = match (&q.sk_to, q.sk_prefix.is_empty()) {
        (Some(to), _) => Some(to.clone().min(prefix_end)),
        (None, false) => Some(prefix_end),
        (None, true) => None,
    };
    // DynamoDB keys are never empty, so an empty lower bound bounds nothing.
    match (lower.is_empty(), upper) {
        (_, Some(upper)) if upper.is_empty() || lower > upper => SkRange::Empty,
        (true, Some(upper)) => SkRange::AtMost(upper),
        (false, Some(upper)) => SkRange::Between(lower, upper),
        (false, None) => SkRange::AtLeast(lower),
        (true, None) => SkRange::All,
    }
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

    /// The store on the table named by `AFFNET_TABLE` (default `affnet`), with the standard AWS
    /// configuration chain (region, credentials, `AWS_ENDPOINT_URL`, ...).
    pub async fn from_env() -> DynamoStore {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        DynamoStore::from_config(&config)
    }

    /// The store on the table named by `AFFNET_TABLE` (default `affnet`) with an already loaded
    /// AWS configuration, so a host loads it once for all its clients.
    pub fn from_config(config: &aws_config::SdkConfig) -> DynamoStore {
        let table = std::env::var("AFFNET_TABLE")
            .ok()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "affnet".to_string());
        DynamoStore::new(Client::new(config), table)
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

    /// Creates the table (on-demand billing, keys, `gsi1`), waits until it is active and enables
    /// TTL on `ttl`. Does nothing that is already done, so it may run on every start.
    pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(build_error)
        };
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key(GSI1PK, KeyType::Hash)?)
            .key_schema(key(GSI1SK, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(build_error)?;
        let created = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr(PK)?)
            .attribute_definitions(attr(SK)?)
            .attribute_definitions(attr(GSI1PK)?)
            .attribute_definitions(attr(GSI1SK)?)
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            .global_secondary_indexes(gsi)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) => {}
            Err(e) => return Err(sdk_error("CreateTable", e)),
        }
        // A new table is CREATING for a few seconds on DynamoDB (moto makes it ACTIVE at once).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
        loop {
            let described = client
                .describe_table()
                .table_name(name)
                .send()
                .await
                .map_err(|e| sdk_error("DescribeTable", e))?;
            let status = described.table().and_then(|t| t.table_status());
            if status == Some(&TableStatus::Active) {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(StoreError::Unavailable(format!(
                    "table {name} did not become active"
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let ttl = client
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeTimeToLive", e))?;
        let current = ttl.time_to_live_description();
        let status = current.and_then(|d| d.time_to_live_status());
        let enabled = matches!(
            status,
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        );
        if enabled {
            return match current.and_then(|d| d.attribute_name()) {
                Some(TTL) => Ok(()),
                other => Err(StoreError::Invalid(format!(
                    "table {name} has TTL on {other:?}, not on `{TTL}`"
                ))),
            };
        }
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(TTL)
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(|e| sdk_error("UpdateTimeToLive", e))?;
        Ok(())
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

    /// Deletes an item only if it has expired: invisible to every reader already, so this
    /// changes nothing but unblocks a write that must not inherit from it.
    async fn purge_expired(&self, key: &Key) -> Result<(), StoreError> {
        let mut expr = Expr::default();
        let (ttl, now) = (expr.name(TTL), expr.value(n(now_secs())));
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .condition_expression(format!("{ttl} <= {now}"))
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already purged or replaced by someone else: fine too.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error("DeleteItem", e)),
        }
    }

    /// One write, as one request.
    async fn write_one(&self, write: &Write, now: i64) -> Result<Round, StoreError> {
        if let Write::Check { key, when } = write {
            if *when == Condition::Always {
                return Ok(Round::Done);
            }
            // No lone ConditionCheck in DynamoDB: a strongly consistent read decides.
            let current = self.get_raw(key).await?.filter(|i| is_live(i, now));
            return match when.holds(current.map(|i| i.version)) {
                true => Ok(Round::Done),
                false => Err(StoreError::ConditionFailed { index: 0 }),
            };
        }
        let Planned { op, guarded } = plan(write, now)?;
        // (failed condition, transaction conflict) of the reply, or the error as is.
        macro_rules! outcome {
            ($result:expr, $operation:literal) => {
                match $result {
                    Ok(_) => Ok(Round::Done),
                    Err(e) => match e.as_service_error() {
                        Some(se) if se.is_conditional_check_failed_exception() => match guarded {
                            true => Ok(Round::Expired(vec![0])),
                            false => Err(StoreError::ConditionFailed { index: 0 }),
                        },
                        Some(se) if se.is_transaction_conflict_exception() => Ok(Round::Conflict),
                        _ => Err(sdk_error($operation, e)),
                    },
                }
            };
        }
        match op {
            Op::Put {
                item,
                expr,
                condition,
            } => {
                let result = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .send()
                    .await;
                outcome!(result, "PutItem")
            }
            Op::Update {
                key,
                update,
                expr,
                condition,
            } => {
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .update_expression(update)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .send()
                    .await;
                outcome!(result, "UpdateItem")
            }
            Op::Delete {
                key,
                expr,
                condition,
            } => {
                let result = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .send()
                    .await;
                outcome!(result, "DeleteItem")
            }
            Op::Check { .. } => unreachable!("a lone check is a read"),
        }
    }

    /// Several writes, as one transaction.
    async fn write_many(&self, writes: &[Write], now: i64) -> Result<Round, StoreError> {
        let mut guarded = Vec::with_capacity(writes.len());
        let mut items = Vec::with_capacity(writes.len());
        for write in writes {
            let planned = plan(write, now)?;
            guarded.push(planned.guarded);
            let item = match planned.op {
                Op::Put {
                    item,
                    expr,
                    condition,
                } => TransactWriteItem::builder().put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .set_condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?,
                ),
                Op::Update {
                    key,
                    update,
                    expr,
                    condition,
                } => TransactWriteItem::builder().update(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(key))
                        .update_expression(update)
                        .set_condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?,
                ),
                Op::Delete {
                    key,
                    expr,
                    condition,
                } => TransactWriteItem::builder().delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key))
                        .set_condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?,
                ),
                Op::Check {
                    key,
                    expr,
                    condition,
                } => TransactWriteItem::builder().condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key))
                        .condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build_error)?,
                ),
            };
            items.push(item.build());
        }
        // The token makes the SDK's own retries of this request idempotent on DynamoDB.
        let token = ulid::Ulid::new().to_string();
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(Round::Done),
            Err(e) => e,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        else {
            return Err(sdk_error("TransactWriteItems", err));
        };
        let reasons = cancelled.cancellation_reasons();
        let mut expired = Vec::new();
        let mut conflict = false;
        for (index, reason) in reasons.iter().enumerate() {
            match reason.code() {
                None | Some("None") => {}
                Some("ConditionalCheckFailed") => match guarded.get(index) {
                    Some(true) => expired.push(index),
                    // The first failing write in batch order, as the SQLite adapter reports.
                    _ => return Err(StoreError::ConditionFailed { index }),
                },
                Some("TransactionConflict") => conflict = true,
                Some("ValidationError") => {
                    return Err(StoreError::Invalid(format!(
                        "DynamoDB TransactWriteItems: write #{index}: {}",
                        reason.message().unwrap_or("validation error")
                    )));
                }
                Some(code) => {
                    return Err(StoreError::Unavailable(format!(
                        "DynamoDB TransactWriteItems: write #{index}: {code}"
                    )));
                }
            }
        }
        if !expired.is_empty() {
            Ok(Round::Expired(expired))
        } else if conflict {
            Ok(Round::Conflict)
        } else {
            Err(StoreError::Unavailable(format!(
                "DynamoDB TransactWriteItems cancelled without a reason: {}",
                cancelled.message().unwrap_or("")
            )))
        }
    }
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let now = now_secs();
        Ok(self.get_raw(key).await?.filter(|i| is_live(i, now)))
    }

    async fn query(&self, q: &Query) -> Result<Page, StoreError> {
        let limit = q.limit.clamp(1, 1000);
        let range = sk_range(q);
        if matches!(range, SkRange::Empty) {
            return Ok(Page::default());
        }
        let (pk_attr, sk_attr, index_name, consistent) = match q.index {
            Index::Table => (PK, SK, None, Some(true)),
            Index::Gsi1 => (GSI1PK, GSI1SK, Some(GSI1), None),
        };
        let mut start = q
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, q.index))
            .transpose()?;
        let now = now_secs();
        // One more live item than asked for tells whether a next page exists.
        let mut items: Vec<Item> = Vec::with_capacity(limit + 1);
        loop {
            let mut expr = Expr::default();
            let kp = expr.name(pk_attr);
            let mut key_condition = format!("{kp} = {}", expr.value(s(&q.pk)));
            let sk_condition = match &range {
                SkRange::All | SkRange::Empty => None,
                SkRange::BeginsWith(prefix) => {
                    let ks = expr.name(sk_attr);
                    Some(format!("begins_with({ks}, {})", expr.value(s(prefix))))
                }
                SkRange::Between(lo, hi) => {
                    let ks = expr.name(sk_attr);
                    let (lo, hi) = (expr.value(s(lo)), expr.value(s(hi)));
                    Some(format!("{ks} BETWEEN {lo} AND {hi}"))
                }
                SkRange::AtLeast(lo) => {
                    let ks = expr.name(sk_attr);
                    Some(format!("{ks} >= {}", expr.value(s(lo))))
                }
                SkRange::AtMost(hi) => {
                    let ks = expr.name(sk_attr);
                    Some(format!("{ks} <= {}", expr.value(s(hi))))
                }
            };
            if let Some(sk_condition) = sk_condition {
                key_condition = format!("{key_condition} AND {sk_condition}");
            }
            let (ttl, now_value) = (expr.name(TTL), expr.value(n(now)));
            let filter = format!("attribute_not_exists({ttl}) OR {ttl} > {now_value}");
            let want = limit + 1 - items.len();
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index_name.map(str::to_string))
                .set_consistent_read(consistent)
                .key_condition_expression(key_condition)
                .filter_expression(filter)
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .scan_index_forward(!q.descending)
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            for raw in out.items.unwrap_or_default() {
                let item = parse_item(raw)?;
                if is_live(&item, now) {
                    items.push(item);
                }
            }
            if items.len() > limit {
                items.truncate(limit);
                let next = items.last().map(|last| encode_cursor(last, q.index));
                return Ok(Page { items, next });
            }
            match out.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(Page { items, next: None }),
            }
        }
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        crate::port::check_batch(&writes)?;
        for round in 0..MAX_ROUNDS {
            let now = now_secs();
            let outcome = match writes.as_slice() {
                [one] => self.write_one(one, now).await?,
                many => self.write_many(many, now).await?,
            };
            match outcome {
                Round::Done => return Ok(()),
                Round::Expired(indexes) => {
                    for index in indexes {
                        self.purge_expired(writes[index].key()).await?;
                    }
                }
                Round::Conflict => {
                    // Jittered exponential backoff: 10 ms, 20 ms, 40 ms, ... plus up to 10 ms.
                    let jitter = (ulid::Ulid::new().random() % 10) as u64;
                    let wait = 10u64 << round.min(6);
                    tokio::time::sleep(Duration::from_millis(wait + jitter)).await;
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "DynamoDB write gave up after {MAX_ROUNDS} rounds (transaction conflicts or expired items in the way)"
        )))
    }

    fn name(&self) -> &'static str {
        "dynamodb"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(prefix: &str, from: Option<&str>, to: Option<&str>) -> Query {
        Query {
            sk_prefix: prefix.into(),
            sk_from: from.map(Into::into),
            sk_to: to.map(Into::into),
            ..Query::partition("P")
        }
    }

    #[test]
    fn sort_key_ranges_combine_prefix_and_bounds() {
        assert!(matches!(sk_range(&q("", None, None)), SkRange::All));
        assert!(matches!(sk_range(&q("A#", None, None)), SkRange::BeginsWith(p) if p == "A#"));
        assert!(matches!(
            sk_range(&q("A#", Some("A#02"), Some("A#04"))),
            SkRange::Between(lo, hi) if lo == "A#02" && hi == "A#04"
        ));
        assert!(matches!(
            sk_range(&q("A#", Some("0"), None)),
            SkRange::Between(lo, hi) if lo == "A#" && hi == "A#\u{10FFFF}"
        ));
        assert!(matches!(sk_range(&q("", Some("B"), None)), SkRange::AtLeast(lo) if lo == "B"));
        assert!(matches!(sk_range(&q("", None, Some("B"))), SkRange::AtMost(hi) if hi == "B"));
        assert!(matches!(
            sk_range(&q("B#", None, Some("A"))),
            SkRange::Empty
        ));
        assert!(matches!(
            sk_range(&q("", Some("C"), Some("B"))),
            SkRange::Empty
        ));
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let mut item = Item::new(Key::new("P", "S"), serde_json::Value::Null);
        item.index_key = Some(Key::new("G", "H"));
        let table = decode_cursor(&encode_cursor(&item, Index::Table), Index::Table).unwrap();
        assert_eq!(table.len(), 2);
        assert_eq!(table[SK], s("S"));
        let index = decode_cursor(&encode_cursor(&item, Index::Gsi1), Index::Gsi1).unwrap();
        assert_eq!(index[GSI1SK], s("H"));
        assert!(decode_cursor(&encode_cursor(&item, Index::Table), Index::Gsi1).is_err());
        assert!(decode_cursor("not a cursor!", Index::Table).is_err());
    }

    #[test]
    fn items_parse_back_with_counters_and_defaults() {
        let attrs = HashMap::from([
            (PK.to_string(), s("P")),
            (SK.to_string(), s("S")),
            ("c_revenue".to_string(), n("400.4")),
            ("c_big".to_string(), n("1E+3")),
        ]);
        let item = parse_item(attrs).unwrap();
        assert_eq!(item.version, 0);
        assert_eq!(item.data, serde_json::Value::Null);
        assert_eq!(item.counters["revenue"], Decimal::new(40040, 2));
        assert_eq!(item.counters["big"], Decimal::from(1000));
        assert_eq!(item.expires_at, None);
    }
}
