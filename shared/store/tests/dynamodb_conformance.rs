//! The conformance suite on the DynamoDB adapter, each case on its own fresh moto table, and what
//! is specific to DynamoDB: the request counter, the stored attribute layout, expired items that
//! DynamoDB has not deleted yet, transaction cancellation reasons and error mapping.

use affnet_store::testing::{fresh_dynamo_store, test_client};
use affnet_store::{
    Condition, DynamoStore, Index, Item, ItemStore, Key, Query, SqliteStore, StoreError, Write,
};
use aws_sdk_dynamodb::types::AttributeValue;
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

async fn fresh() -> Arc<dyn ItemStore> {
    Arc::new(fresh_dynamo_store().await)
}

affnet_store::conformance_suite!(fresh());

/// The cases that count, with every shared counter deferred to the ledger and folded on read.
mod deferred {
    use super::fresh;
    affnet_store::deferred_counters_suite!(fresh());
}

fn key(pk: &str, sk: &str) -> Key {
    Key::new(pk, sk)
}

fn put(item: Item) -> Write {
    Write::Put {
        item,
        when: Condition::Always,
    }
}

fn add(k: Key, name: &str, delta: i64) -> Write {
    Write::Add {
        key: k,
        deltas: vec![(name.into(), Decimal::from(delta))],
        expires_at: None,
    }
}

async fn raw(store: &DynamoStore, k: &Key) -> HashMap<String, AttributeValue> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(k.pk.clone()))
        .key("sk", AttributeValue::S(k.sk.clone()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("item stored")
}

/// Writes an item whose `ttl` has passed but that DynamoDB has not deleted yet (it deletes lazily).
async fn plant_expired(store: &DynamoStore, k: &Key, counter: &str) {
    let past = chrono::Utc::now().timestamp() - 60;
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("pk", AttributeValue::S(k.pk.clone()))
        .item("sk", AttributeValue::S(k.sk.clone()))
        .item("v", AttributeValue::N("7".into()))
        .item(
            "d",
            AttributeValue::M(HashMap::from([("old".into(), AttributeValue::Bool(true))])),
        )
        .item(format!("c_{counter}"), AttributeValue::N("100".into()))
        .item("ttl", AttributeValue::N(past.to_string()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn request_counter_counts_every_request() {
    let store = fresh_dynamo_store().await;
    assert_eq!(store.request_count(), 0, "table creation is not counted");
    store
        .write(vec![
            put(Item::new(key("P", "a"), json!({}))),
            Write::Put {
                item: Item::new(key("P", "b"), json!({})),
                when: Condition::Absent,
            },
            add(key("T", "totals"), "n", 1),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.request_count(),
        1,
        "a batch of 3 is one TransactWriteItems"
    );
    store
        .write(vec![add(key("T", "totals"), "n", 1)])
        .await
        .unwrap();
    assert_eq!(store.request_count(), 2, "a single write is one request");
    store.get(&key("P", "a")).await.unwrap().unwrap();
    assert_eq!(store.request_count(), 3);
    let page = store.query(&Query::partition("P")).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(
        store.request_count(),
        4,
        "a query that fits one page is one request"
    );
    // Clones share the counter.
    let clone = store.clone();
    clone.get(&key("P", "b")).await.unwrap();
    assert_eq!(store.request_count(), 5);
    // A failed condition is still one request.
    let failed = store
        .write(vec![Write::Put {
            item: Item::new(key("P", "a"), json!({})),
            when: Condition::Absent,
        }])
        .await;
    assert!(
        matches!(failed, Err(StoreError::ConditionFailed { index: 0 })),
        "{failed:?}"
    );
    assert_eq!(store.request_count(), 6);
}

#[tokio::test]
async fn items_use_the_documented_attribute_layout() {
    let store = fresh_dynamo_store().await;
    let k = key("OFFER#1", "META");
    store
        .write(vec![Write::Add {
            key: k.clone(),
            deltas: vec![
                ("conversions".into(), Decimal::ONE),
                ("revenue".into(), Decimal::new(1250, 2)),
            ],
            expires_at: None,
        }])
        .await
        .unwrap();
    let mut item = Item::new(
        k.clone(),
        json!({"name": "Offer", "payout": 1.5, "tags": ["a", "b"], "nested": {"on": true, "none": null}, "n": 3}),
    );
    item.version = 4;
    item.expires_at = Some(4_102_444_800);
    item.index_key = Some(key("OFFERS", "INT1#1"));
    store.write(vec![put(item.clone())]).await.unwrap();

    let attrs = raw(&store, &k).await;
    let mut names: Vec<_> = attrs.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "c_conversions",
            "c_revenue",
            "d",
            "gsi1pk",
            "gsi1sk",
            "pk",
            "sk",
            "ttl",
            "v"
        ]
    );
    assert_eq!(attrs["pk"], AttributeValue::S("OFFER#1".into()));
    assert_eq!(attrs["sk"], AttributeValue::S("META".into()));
    assert_eq!(attrs["v"], AttributeValue::N("4".into()));
    assert_eq!(attrs["ttl"], AttributeValue::N("4102444800".into()));
    assert_eq!(attrs["gsi1pk"], AttributeValue::S("OFFERS".into()));
    assert_eq!(attrs["gsi1sk"], AttributeValue::S("INT1#1".into()));
    assert_eq!(
        attrs["c_conversions"]
            .as_n()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        Decimal::ONE
    );
    assert_eq!(
        attrs["c_revenue"]
            .as_n()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        Decimal::new(125, 1)
    );
    let d = attrs["d"].as_m().expect("data is a map");
    assert_eq!(d["name"], AttributeValue::S("Offer".into()));
    assert_eq!(d["payout"], AttributeValue::N("1.5".into()));
    assert_eq!(
        d["tags"],
        AttributeValue::L(vec![
            AttributeValue::S("a".into()),
            AttributeValue::S("b".into())
        ])
    );
    assert_eq!(
        d["nested"].as_m().unwrap()["none"],
        AttributeValue::Null(true)
    );

    // Read back through the port: the same item, counters kept.
    let got = store.get(&k).await.unwrap().unwrap();
    assert_eq!(got.data, item.data);
    assert_eq!(got.version, 4);
    assert_eq!(got.expires_at, item.expires_at);
    assert_eq!(got.index_key, item.index_key);
    assert_eq!(got.counters["revenue"], Decimal::new(1250, 2));

    // A put without expiry or index key removes those attributes (and keeps the counters).
    store
        .write(vec![put(Item::new(k.clone(), json!({"name": "Plain"})))])
        .await
        .unwrap();
    let attrs = raw(&store, &k).await;
    let mut names: Vec<_> = attrs.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["c_conversions", "c_revenue", "d", "pk", "sk", "v"]);
    let listed = store
        .query(&Query {
            index: Index::Gsi1,
            ..Query::partition("OFFERS")
        })
        .await
        .unwrap();
    assert!(listed.items.is_empty());

    // An item made by an Add alone has version 0 and null data, as on SQLite.
    let attrs = raw(&store, &{
        store
            .write(vec![add(key("T", "day"), "n", 2)])
            .await
            .unwrap();
        key("T", "day")
    })
    .await;
    assert_eq!(attrs["v"], AttributeValue::N("0".into()));
    assert_eq!(attrs["d"], AttributeValue::Null(true));
    assert_eq!(attrs["c_n"], AttributeValue::N("2".into()));
}

/// What a write does next to an expired item, on any store (SQLite: gone at once; DynamoDB:
/// still in the table for a while, which the adapter must not let show through).
async fn writes_next_to_expired_items(store: Arc<dyn ItemStore>, plant: impl AsyncFn(Key, &str)) {
    // An Add starts a new item: it does not add to the expired counters.
    plant(key("RATE", "a"), "hits").await;
    store
        .write(vec![add(key("RATE", "a"), "hits", 1)])
        .await
        .unwrap();
    let item = store.get(&key("RATE", "a")).await.unwrap().unwrap();
    assert_eq!(item.counters["hits"], Decimal::ONE);
    assert_eq!(
        (item.version, &item.data, item.expires_at),
        (0, &serde_json::Value::Null, None)
    );

    // A Put (always) does not keep counters of the expired item.
    plant(key("RATE", "b"), "hits").await;
    store
        .write(vec![put(Item::new(key("RATE", "b"), json!({"b": 1})))])
        .await
        .unwrap();
    let item = store.get(&key("RATE", "b")).await.unwrap().unwrap();
    assert!(item.counters.is_empty(), "{:?}", item.counters);
    assert_eq!(item.expires_at, None);

    // Nor does a create.
    plant(key("RATE", "c"), "hits").await;
    store
        .write(vec![Write::Put {
            item: Item::new(key("RATE", "c"), json!({"c": 1})),
            when: Condition::Absent,
        }])
        .await
        .unwrap();
    let item = store.get(&key("RATE", "c")).await.unwrap().unwrap();
    assert!(item.counters.is_empty(), "{:?}", item.counters);

    // Conditions see an expired item as absent, in a batch too.
    plant(key("RATE", "d"), "hits").await;
    plant(key("RATE", "e"), "hits").await;
    for when in [Condition::Exists, Condition::Version(7)] {
        let result = store
            .write(vec![Write::Check {
                key: key("RATE", "d"),
                when,
            }])
            .await;
        assert!(
            matches!(result, Err(StoreError::ConditionFailed { index: 0 })),
            "{result:?}"
        );
        let result = store
            .write(vec![
                add(key("RATE", "x"), "n", 1),
                Write::Delete {
                    key: key("RATE", "d"),
                    when,
                },
            ])
            .await;
        assert!(
            matches!(result, Err(StoreError::ConditionFailed { index: 1 })),
            "{result:?}"
        );
    }
    store
        .write(vec![
            Write::Check {
                key: key("RATE", "d"),
                when: Condition::Absent,
            },
            add(key("RATE", "e"), "hits", 5),
            put(Item::new(key("RATE", "f"), json!({}))),
        ])
        .await
        .unwrap();
    let item = store.get(&key("RATE", "e")).await.unwrap().unwrap();
    assert_eq!(item.counters["hits"], Decimal::from(5));
    assert!(store.get(&key("RATE", "x")).await.unwrap().is_none());
}

#[tokio::test]
async fn writes_next_to_expired_items_dynamodb() {
    let store = fresh_dynamo_store().await;
    let planter = store.clone();
    writes_next_to_expired_items(Arc::new(store), async |k: Key, counter: &str| {
        plant_expired(&planter, &k, counter).await
    })
    .await;
}

#[tokio::test]
async fn writes_next_to_expired_items_sqlite() {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let planter = store.clone();
    writes_next_to_expired_items(store, async |k: Key, counter: &str| {
        planter
            .write(vec![Write::Add {
                key: k.clone(),
                deltas: vec![(counter.into(), Decimal::from(100))],
                expires_at: None,
            }])
            .await
            .unwrap();
        // A put keeps the counters; its expiry has passed.
        let mut item = Item::new(k, json!({"old": true}));
        item.version = 7;
        item.expires_at = Some(chrono::Utc::now().timestamp() - 60);
        planter.write(vec![put(item)]).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn pages_are_exact_when_expired_items_are_filtered_out() {
    let store = fresh_dynamo_store().await;
    let past = chrono::Utc::now().timestamp() - 60;
    for i in 0..12 {
        let mut item = Item::new(key("LOG", &format!("A#{i:02}")), json!({"i": i}));
        item.index_key = Some(key("BYDAY", &format!("D#{i:02}")));
        if i % 3 == 1 {
            item.expires_at = Some(past);
        }
        store.write(vec![put(item)]).await.unwrap();
    }
    let live: Vec<String> = (0..12)
        .filter(|i| i % 3 != 1)
        .map(|i| format!("A#{i:02}"))
        .collect();
    for (index, pk, descending) in [
        (Index::Table, "LOG", false),
        (Index::Table, "LOG", true),
        (Index::Gsi1, "BYDAY", false),
        (Index::Gsi1, "BYDAY", true),
    ] {
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = store
                .query(&Query {
                    index,
                    descending,
                    limit: 3,
                    cursor: cursor.take(),
                    ..Query::partition(pk)
                })
                .await
                .unwrap();
            pages += 1;
            assert!(page.items.len() == 3 || page.next.is_none());
            seen.extend(page.items.iter().map(|i| i.key.sk.clone()));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut expected = live.clone();
        if descending {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{index:?} descending={descending}");
        assert_eq!(
            pages, 3,
            "8 live items in pages of 3, the last page says it is the last"
        );
    }
    // A cursor of one index is no cursor of the other.
    let page = store
        .query(&Query {
            limit: 1,
            ..Query::partition("LOG")
        })
        .await
        .unwrap();
    let wrong = store
        .query(&Query {
            index: Index::Gsi1,
            cursor: page.next,
            ..Query::partition("BYDAY")
        })
        .await;
    assert!(matches!(wrong, Err(StoreError::Invalid(_))), "{wrong:?}");
}

#[tokio::test]
async fn transaction_reports_the_failing_write() {
    let store = fresh_dynamo_store().await;
    let mut v2 = Item::new(key("P", "v2"), json!({}));
    v2.version = 2;
    store.write(vec![put(v2)]).await.unwrap();
    for (failing, writes) in [
        (
            1,
            vec![
                put(Item::new(key("P", "n1"), json!({}))),
                Write::Check {
                    key: key("P", "v2"),
                    when: Condition::Version(1),
                },
                add(key("P", "n2"), "x", 1),
            ],
        ),
        (
            2,
            vec![
                add(key("P", "n1"), "x", 1),
                Write::Delete {
                    key: key("P", "v2"),
                    when: Condition::Version(2),
                },
                Write::Put {
                    item: Item::new(key("P", "none"), json!({})),
                    when: Condition::Exists,
                },
            ],
        ),
    ] {
        let result = store.write(writes).await;
        assert!(
            matches!(result, Err(StoreError::ConditionFailed { index }) if index == failing),
            "{result:?}"
        );
        assert!(store.get(&key("P", "n1")).await.unwrap().is_none());
        assert!(store.get(&key("P", "n2")).await.unwrap().is_none());
        assert_eq!(
            store.get(&key("P", "v2")).await.unwrap().unwrap().version,
            2
        );
    }
}

#[tokio::test]
async fn data_and_counters_round_trip() {
    let store = fresh_dynamo_store().await;
    let data = json!({
        "s": "text with \"quotes\" and ünïcode ✓", "empty": "", "i": -42, "big": 9_007_199_254_740_993u64,
        "f": 0.1, "list": [1, "two", {"three": [3]}, [], {}], "t": true, "null": null,
        "credentials": {"api_key": "secret"}
    });
    let mut item = Item::new(key("RT", "1"), data.clone());
    item.counters
        .insert("set on put".into(), Decimal::new(-5, 1));
    store.write(vec![put(item)]).await.unwrap();
    store
        .write(vec![Write::Add {
            key: key("RT", "1"),
            deltas: vec![
                ("set on put".into(), Decimal::new(15, 1)),
                ("twice".into(), Decimal::ONE),
                ("twice".into(), Decimal::ONE),
            ],
            expires_at: None,
        }])
        .await
        .unwrap();
    let got = store.get(&key("RT", "1")).await.unwrap().unwrap();
    assert_eq!(got.data, data);
    assert_eq!(got.counters["set on put"], Decimal::ONE);
    assert_eq!(got.counters["twice"], Decimal::from(2));
}

#[tokio::test]
async fn create_table_is_idempotent_and_enables_ttl() {
    let store = fresh_dynamo_store().await;
    let client = test_client(&affnet_store::testing::moto_endpoint().await);
    DynamoStore::create_table(&client, store.table())
        .await
        .unwrap();
    let ttl = client
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("ttl"));
    let table = client
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    let table = table.table().unwrap();
    assert_eq!(
        table.global_secondary_indexes()[0].index_name(),
        Some("gsi1")
    );
}

#[tokio::test]
async fn unreachable_endpoint_is_unavailable() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = test_client(&format!("http://127.0.0.1:{port}"));
    let config = client
        .config()
        .to_builder()
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), "nowhere");
    let got = store.get(&key("P", "a")).await;
    assert!(matches!(got, Err(StoreError::Unavailable(_))), "{got:?}");
    let written = store.write(vec![add(key("P", "a"), "n", 1)]).await;
    assert!(
        matches!(written, Err(StoreError::Unavailable(_))),
        "{written:?}"
    );
    assert_eq!(store.request_count(), 2);
}

#[tokio::test]
async fn missing_table_is_unavailable() {
    let client = test_client(&affnet_store::testing::moto_endpoint().await);
    let store = DynamoStore::new(client, "affnet-test-no-such-table");
    let got = store.get(&key("P", "a")).await;
    assert!(matches!(got, Err(StoreError::Unavailable(_))), "{got:?}");

    let written = store.write(vec![add(key("P", "a"), "n", 1)]).await;
    assert!(
        matches!(written, Err(StoreError::Unavailable(_))),
        "{written:?}"
    );
}

#[tokio::test]
async fn rejected_items_are_invalid() {
    let store = fresh_dynamo_store().await;
    // DynamoDB keys cannot be empty strings (moto checks this on PutItem, not on UpdateItem).
    let result = store
        .write(vec![Write::Put {
            item: Item::new(key("P", ""), json!({})),
            when: Condition::Absent,
        }])
        .await;
    assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}");
    let result = store
        .query(&Query {
            cursor: Some("garbage".into()),
            ..Query::partition("P")
        })
        .await;
    assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}");
}

/// Refuses DeleteItem the way IAM does for a function without `dynamodb:DeleteItem` (issue #9:
/// the postback function is not granted it).
#[derive(Debug)]
struct NoDeleteItem;

impl aws_smithy_runtime_api::client::interceptors::Intercept for NoDeleteItem {
    fn name(&self) -> &'static str {
        "no-delete-item"
    }

    fn read_before_transmit(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        match context.request().headers().get("x-amz-target") {
            Some("DynamoDB_20120810.DeleteItem") => {
                Err("AccessDeniedException: not granted dynamodb:DeleteItem".into())
            }
            _ => Ok(()),
        }
    }
}

#[tokio::test]
async fn guarded_writes_over_expired_items_delete_nothing() {
    let planter = fresh_dynamo_store().await;
    let config = planter
        .client()
        .config()
        .to_builder()
        .interceptor(NoDeleteItem)
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), planter.table());
    // A click's totals that expired but are still in the table: alone and in a transaction.
    plant_expired(&planter, &key("CLICK#1", "TOTALS"), "conversions").await;
    store
        .write(vec![add(key("CLICK#1", "TOTALS"), "conversions", 1)])
        .await
        .expect("an add over an expired item needs no DeleteItem");
    plant_expired(&planter, &key("CLICK#2", "TOTALS"), "conversions").await;
    plant_expired(&planter, &key("CLICK#2", "META"), "x").await;
    store
        .write(vec![
            add(key("CLICK#2", "TOTALS"), "conversions", 2),
            put(Item::new(key("CLICK#2", "META"), json!({"m": 1}))),
        ])
        .await
        .expect("nor in a transaction");
    let one = store.get(&key("CLICK#1", "TOTALS")).await.unwrap().unwrap();
    assert_eq!(one.counters["conversions"], Decimal::ONE);
    assert_eq!((one.version, one.expires_at), (0, None));
    let two = store.get(&key("CLICK#2", "TOTALS")).await.unwrap().unwrap();
    assert_eq!(two.counters["conversions"], Decimal::from(2));
    let meta = store.get(&key("CLICK#2", "META")).await.unwrap().unwrap();
    assert!(meta.counters.is_empty() && meta.data == json!({"m": 1}));
    // A live item is still updated in place (counters kept).
    store
        .write(vec![add(key("CLICK#1", "TOTALS"), "conversions", 1)])
        .await
        .unwrap();
    let one = store.get(&key("CLICK#1", "TOTALS")).await.unwrap().unwrap();
    assert_eq!(one.counters["conversions"], Decimal::from(2));
}
