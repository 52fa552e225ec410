//! The conformance suite: the same test bodies run against every adapter.
//!
//! An adapter's test file calls [`conformance_suite!`](crate::conformance_suite) with an async
//! expression that yields a fresh, empty `Arc<dyn ItemStore>`; each case gets its own store.
//!
//! A case is a `pub async fn NAME(store: Arc<dyn ItemStore>)` of this file. The suite also
//! expands to a test, `conformance_suite_lists_every_case`, that fails if a case of this file is
//! missing from the macro's list (it would otherwise never run, and being `pub`, nothing warns).

use crate::port::{Condition, Index, Item, ItemStore, Key, Query, StoreError, Write};
use crate::repo::{Repo, RepoError};
use affnet_core::Integration;
use rust_decimal::Decimal;
use serde_json::json;
use std::sync::Arc;

/// Expands to one `#[tokio::test]` per case, each on a fresh store from `$factory`.
#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr) => {
        $crate::conformance_suite!(@cases $factory;
            integration_crud,
            create_fails_on_existing_key,
            stale_update_is_a_conflict,
            concurrent_updates_lose_nothing,
            batch_is_all_or_nothing,
            batch_rejects_duplicate_keys,
            concurrent_counter_adds_are_exact,
            racing_batches_count_once,
            put_keeps_counters,
            add_keeps_data_and_index_key,
            query_pages_prefixes_and_order,
            secondary_index_query,
            expired_items_are_gone,
            delete_and_check_conditions,
            migration_moves_the_unsharded_layout,
            leads_are_unique_per_click_and_key,
            lead_queues_follow_the_lead,
            leads_list_newest_first,
            conversion_names_are_checked_in_the_create,
            labels_are_write_once,
            click_with_new_labels_is_one_batch,
            reconciliation_runs_share_the_sync_lease,
            reconciliation_differences_page_in_order,
            events_feed_merges_the_shards_in_id_order,
            events_come_with_their_changes,
            events_and_changes_fail_together,
            lead_events_come_with_leaving_the_queue,
            event_cursors_move_on_their_version,
            health_postbacks_count_per_hour,
            health_silence_transitions_happen_once,
            health_click_hours_and_connection_tests,
            ledger_adds_count_once_under_racing_folds,
            ledger_adds_wait_for_the_fold_and_fail_with_their_batch,
            ledger_keeps_unreadable_entries_and_folds_in_batches,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let store: std::sync::Arc<dyn $crate::ItemStore> = $factory.await;
                $crate::conformance::$case(store).await;
            }
        )*

        #[test]
        fn conformance_suite_lists_every_case() {
            $crate::conformance::assert_lists_every_case(&[$(stringify!($case)),*]);
        }
    };
}

/// The cases that read counters through a `Repo` (reports' totals, health's accepted
/// postbacks), on a [`crate::ledger::CounterLedger`] over each adapter's fresh store: as the
/// DynamoDB host runs them, every shared counter deferred and folded when read.
#[macro_export]
macro_rules! deferred_counters_suite {
    ($factory:expr) => {
        $crate::deferred_counters_suite!(@cases $factory;
            migration_moves_the_unsharded_layout,
            leads_are_unique_per_click_and_key,
            lead_queues_follow_the_lead,
            conversion_names_are_checked_in_the_create,
            click_with_new_labels_is_one_batch,
            events_come_with_their_changes,
            events_and_changes_fail_together,
            lead_events_come_with_leaving_the_queue,
            health_postbacks_count_per_hour,
            health_silence_transitions_happen_once,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let store: std::sync::Arc<dyn $crate::ItemStore> =
                    $crate::ledger::CounterLedger::around($factory.await);
                $crate::conformance::$case(store).await;
            }
        )*
    };
}

/// This file's source, where the cases are found.
const SOURCE: &str = include_str!("conformance.rs");

/// The names of the cases in [`SOURCE`]: every `pub async fn` taking the store.
fn cases_in_source() -> Vec<&'static str> {
    SOURCE
        .lines()
        .filter_map(|line| line.strip_prefix("pub async fn "))
        .filter_map(|rest| rest.split_once("(store: Arc<dyn ItemStore>)"))
        .map(|(name, _)| name)
        .collect()
}

/// Panics unless `listed` (the suite macro's list) names every case of this file, once.
pub fn assert_lists_every_case(listed: &[&str]) {
    let mut listed = listed.to_vec();
    listed.sort_unstable();
    let mut cases = cases_in_source();
    cases.sort_unstable();
    assert!(!cases.is_empty(), "no conformance case found in the source");
    assert_eq!(
        listed, cases,
        "conformance_suite! must list exactly the cases of conformance.rs (left: listed, right: defined)"
    );
}

fn integration(id: &str, name: &str) -> Integration {
    let now = chrono::Utc::now();
    Integration {
        id: id.into(),
        network: "tune".into(),
        name: name.into(),
        active: true,
        timeout_ms: 10_000,
        settings: serde_json::Map::from_iter([("network_id".to_string(), json!("demo"))]),
        credentials: [("api_key".to_string(), "secret-key".to_string())].into(),
        postback_token: affnet_core::ids::new_token(),
        created_at: now,
        updated_at: now,
        version: 0,
        typed: Default::default(),
    }
    .retype()
    .expect("valid settings")
}

fn key(pk: &str, sk: &str) -> Key {
    Key::new(pk, sk)
}

pub async fn integration_crud(store: Arc<dyn ItemStore>) {
    let repo = Repo::new(store);
    let a = repo
        .create_integration(&integration("01A", "first"))
        .await
        .unwrap();
    assert_eq!(a.version, 1);
    repo.create_integration(&integration("01B", "second"))
        .await
        .unwrap();

    let got = repo.get_integration("01A").await.unwrap().expect("stored");
    assert_eq!(got.name, "first");
    assert_eq!(got.credentials["api_key"], "secret-key");
    assert_eq!(got.version, 1);

    let (list, next) = repo.list_integrations(10, None).await.unwrap();
    assert_eq!(
        list.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["01A", "01B"]
    );
    assert!(next.is_none());
    let (first, next) = repo.list_integrations(1, None).await.unwrap();
    assert_eq!(first[0].id, "01A");
    let (second, _) = repo.list_integrations(1, next).await.unwrap();
    assert_eq!(second[0].id, "01B");

    let mut changed = got.clone();
    changed.name = "renamed".into();
    let updated = repo.update_integration(&changed).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(
        repo.get_integration("01A").await.unwrap().unwrap().name,
        "renamed"
    );

    repo.delete_integration("01A").await.unwrap();
    assert!(repo.get_integration("01A").await.unwrap().is_none());
    assert!(matches!(
        repo.delete_integration("01A").await,
        Err(RepoError::NotFound)
    ));
    let (list, _) = repo.list_integrations(10, None).await.unwrap();
    assert_eq!(list.len(), 1);
}

pub async fn create_fails_on_existing_key(store: Arc<dyn ItemStore>) {
    let repo = Repo::new(store);
    repo.create_integration(&integration("01A", "original"))
        .await
        .unwrap();
    let again = repo
        .create_integration(&integration("01A", "impostor"))
        .await;
    assert!(matches!(again, Err(RepoError::Conflict)), "{again:?}");
    let kept = repo.get_integration("01A").await.unwrap().unwrap();
    assert_eq!(kept.name, "original");
    assert_eq!(kept.version, 1);
}

pub async fn stale_update_is_a_conflict(store: Arc<dyn ItemStore>) {
    let repo = Repo::new(store);
    let v1 = repo
        .create_integration(&integration("01A", "v1"))
        .await
        .unwrap();
    let mut first = v1.clone();
    first.name = "first writer".into();
    repo.update_integration(&first).await.unwrap();
    let mut stale = v1.clone();
    stale.name = "stale writer".into();
    assert!(matches!(
        repo.update_integration(&stale).await,
        Err(RepoError::Conflict)
    ));
    assert_eq!(
        repo.get_integration("01A").await.unwrap().unwrap().name,
        "first writer"
    );
}

/// Many writers increment one field with read-modify-write and retry on conflict: no lost update.
pub async fn concurrent_updates_lose_nothing(store: Arc<dyn ItemStore>) {
    const WRITERS: u64 = 16;
    let repo = Repo::new(store);
    repo.create_integration(&integration("01A", "0"))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|_| {
            let repo = repo.clone();
            tokio::spawn(async move {
                loop {
                    let mut current = repo.get_integration("01A").await.unwrap().unwrap();
                    let n: u64 = current.name.parse().unwrap();
                    current.name = (n + 1).to_string();
                    match repo.update_integration(&current).await {
                        Ok(_) => break,
                        Err(RepoError::Conflict) => tokio::task::yield_now().await,
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let done = repo.get_integration("01A").await.unwrap().unwrap();
    assert_eq!(done.name, WRITERS.to_string());
    assert_eq!(done.version, WRITERS + 1);
}

pub async fn batch_is_all_or_nothing(store: Arc<dyn ItemStore>) {
    store
        .write(vec![Write::Put {
            item: Item::new(key("P", "taken"), json!({"v": "old"})),
            when: Condition::Absent,
        }])
        .await
        .unwrap();
    let result = store
        .write(vec![
            Write::Put {
                item: Item::new(key("P", "fresh"), json!({"v": 1})),
                when: Condition::Absent,
            },
            Write::Add {
                key: key("T", "totals"),
                deltas: vec![("n".into(), Decimal::ONE)],
                expires_at: None,
            },
            Write::Put {
                item: Item::new(key("P", "taken"), json!({"v": "new"})),
                when: Condition::Absent,
            },
        ])
        .await;
    assert!(
        matches!(result, Err(StoreError::ConditionFailed { index: 2 })),
        "{result:?}"
    );
    assert!(store.get(&key("P", "fresh")).await.unwrap().is_none());
    assert!(store.get(&key("T", "totals")).await.unwrap().is_none());
    assert_eq!(
        store.get(&key("P", "taken")).await.unwrap().unwrap().data,
        json!({"v": "old"})
    );
}

pub async fn batch_rejects_duplicate_keys(store: Arc<dyn ItemStore>) {
    let put = Write::Put {
        item: Item::new(key("P", "a"), json!({})),
        when: Condition::Always,
    };
    let result = store.write(vec![put.clone(), put]).await;
    assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}");
    assert!(store.get(&key("P", "a")).await.unwrap().is_none());
}

pub async fn concurrent_counter_adds_are_exact(store: Arc<dyn ItemStore>) {
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .write(vec![Write::Add {
                        key: key("T", "day"),
                        deltas: vec![
                            ("revenue".into(), Decimal::new(1001, 2)),
                            ("count".into(), Decimal::ONE),
                        ],
                        expires_at: None,
                    }])
                    .await
                    .unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let item = store.get(&key("T", "day")).await.unwrap().unwrap();
    assert_eq!(item.counters["revenue"], Decimal::new(40040, 2));
    assert_eq!(item.counters["count"], Decimal::from(40));
}

/// Many batches race to create one item, each adding to shared counters: exactly one wins,
/// and the losers' adds (applied before their condition failed) leave no trace.
pub async fn racing_batches_count_once(store: Arc<dyn ItemStore>) {
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let adds = |name: &str| Write::Add {
                    key: key("T", name),
                    deltas: vec![("count".into(), Decimal::ONE)],
                    expires_at: None,
                };
                let mut writes = vec![adds("day"), adds("offer")];
                // Half put the contested item first, half last: both orders must undo.
                let contested = Write::Put {
                    item: Item::new(key("P", "once"), json!({ "by": i })),
                    when: Condition::Absent,
                };
                match i % 2 {
                    0 => writes.insert(0, contested),
                    _ => writes.push(contested),
                }
                store.write(writes).await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(won, 1);
    for name in ["day", "offer"] {
        let item = store.get(&key("T", name)).await.unwrap().unwrap();
        assert_eq!(item.counters["count"], Decimal::ONE, "{name}");
    }
}

pub async fn add_keeps_data_and_index_key(store: Arc<dyn ItemStore>) {
    let item = Item {
        index_key: Some(key("BY_DAY", "2026-11-30")),
        ..Item::new(key("C", "click"), json!({"offer": "o1"}))
    };
    put_all(&store, vec![item]).await;
    store
        .write(vec![Write::Add {
            key: key("C", "click"),
            deltas: vec![("conversions".into(), Decimal::ONE)],
            expires_at: Some(4_000_000_000),
        }])
        .await
        .unwrap();
    let got = store.get(&key("C", "click")).await.unwrap().unwrap();
    assert_eq!(got.data, json!({"offer": "o1"}));
    assert_eq!(got.version, 1);
    assert_eq!(got.expires_at, Some(4_000_000_000));
    assert_eq!(got.counters["conversions"], Decimal::ONE);
    let page = store
        .query(&Query {
            index: Index::Gsi1,
            ..Query::partition("BY_DAY")
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
}

pub async fn put_keeps_counters(store: Arc<dyn ItemStore>) {
    store
        .write(vec![Write::Add {
            key: key("C", "click"),
            deltas: vec![("conversions".into(), Decimal::ONE)],
            expires_at: None,
        }])
        .await
        .unwrap();
    store
        .write(vec![Write::Put {
            item: Item::new(key("C", "click"), json!({"offer": "o1"})),
            when: Condition::Always,
        }])
        .await
        .unwrap();
    let item = store.get(&key("C", "click")).await.unwrap().unwrap();
    assert_eq!(item.data, json!({"offer": "o1"}));
    assert_eq!(item.counters["conversions"], Decimal::ONE);
}

async fn put_all(store: &Arc<dyn ItemStore>, items: Vec<Item>) {
    for item in items {
        store
            .write(vec![Write::Put {
                item,
                when: Condition::Always,
            }])
            .await
            .unwrap();
    }
}

pub async fn query_pages_prefixes_and_order(store: Arc<dyn ItemStore>) {
    let mut items = Vec::new();
    for i in 0..7 {
        items.push(Item::new(key("LOG", &format!("A#{i:02}")), json!({"i": i})));
    }
    items.push(Item::new(key("LOG", "B#00"), json!({"other": true})));
    items.push(Item::new(key("ELSE", "A#00"), json!({"other": true})));
    put_all(&store, items).await;

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .query(&Query {
                sk_prefix: "A#".into(),
                limit: 3,
                cursor: cursor.take(),
                ..Query::partition("LOG")
            })
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|i| i.key.sk.clone()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).map(|i| format!("A#{i:02}")).collect();
    assert_eq!(seen, expected);

    let desc = store
        .query(&Query {
            sk_prefix: "A#".into(),
            descending: true,
            limit: 2,
            ..Query::partition("LOG")
        })
        .await
        .unwrap();
    let keys: Vec<_> = desc.items.iter().map(|i| i.key.sk.as_str()).collect();
    assert_eq!(keys, ["A#06", "A#05"]);
    assert!(desc.next.is_some());

    let range = store
        .query(&Query {
            sk_prefix: "A#".into(),
            sk_from: Some("A#02".into()),
            sk_to: Some("A#04".into()),
            ..Query::partition("LOG")
        })
        .await
        .unwrap();
    let keys: Vec<_> = range.items.iter().map(|i| i.key.sk.as_str()).collect();
    assert_eq!(keys, ["A#02", "A#03", "A#04"]);
}

pub async fn secondary_index_query(store: Arc<dyn ItemStore>) {
    let mut items = Vec::new();
    for (pk, when) in [
        ("OFFER#3", "2026-01-03"),
        ("OFFER#1", "2026-01-01"),
        ("OFFER#2", "2026-01-02"),
    ] {
        let mut item = Item::new(key(pk, "META"), json!({"pk": pk}));
        item.index_key = Some(key("INT#x#OFFERS", when));
        items.push(item);
    }
    put_all(&store, items).await;
    let page = store
        .query(&Query {
            index: Index::Gsi1,
            limit: 2,
            ..Query::partition("INT#x#OFFERS")
        })
        .await
        .unwrap();
    let pks: Vec<_> = page.items.iter().map(|i| i.key.pk.as_str()).collect();
    assert_eq!(pks, ["OFFER#1", "OFFER#2"]);
    let rest = store
        .query(&Query {
            index: Index::Gsi1,
            limit: 2,
            cursor: page.next,
            ..Query::partition("INT#x#OFFERS")
        })
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].key.pk, "OFFER#3");
    assert_eq!(
        rest.items[0].index_key,
        Some(key("INT#x#OFFERS", "2026-01-03"))
    );
}

pub async fn expired_items_are_gone(store: Arc<dyn ItemStore>) {
    let past = chrono::Utc::now().timestamp() - 60;
    let future = chrono::Utc::now().timestamp() + 3600;
    let mut old = Item::new(key("CLICK", "old"), json!({}));
    old.expires_at = Some(past);
    let mut live = Item::new(key("CLICK", "live"), json!({}));
    live.expires_at = Some(future);
    put_all(&store, vec![old, live]).await;

    assert!(store.get(&key("CLICK", "old")).await.unwrap().is_none());
    let got = store.get(&key("CLICK", "live")).await.unwrap().unwrap();
    assert_eq!(got.expires_at, Some(future));
    let page = store.query(&Query::partition("CLICK")).await.unwrap();
    assert_eq!(page.items.len(), 1);
    // An expired item no longer blocks a create.
    store
        .write(vec![Write::Put {
            item: Item::new(key("CLICK", "old"), json!({"again": true})),
            when: Condition::Absent,
        }])
        .await
        .unwrap();
}

pub async fn delete_and_check_conditions(store: Arc<dyn ItemStore>) {
    let mut item = Item::new(key("P", "a"), json!({}));
    item.version = 3;
    put_all(&store, vec![item]).await;
    let wrong = store
        .write(vec![Write::Delete {
            key: key("P", "a"),
            when: Condition::Version(2),
        }])
        .await;
    assert!(matches!(
        wrong,
        Err(StoreError::ConditionFailed { index: 0 })
    ));
    let check_then_put = store
        .write(vec![
            Write::Check {
                key: key("P", "a"),
                when: Condition::Version(3),
            },
            Write::Put {
                item: Item::new(key("P", "b"), json!({})),
                when: Condition::Absent,
            },
        ])
        .await;
    assert!(check_then_put.is_ok(), "{check_then_put:?}");
    store
        .write(vec![Write::Delete {
            key: key("P", "a"),
            when: Condition::Version(3),
        }])
        .await
        .unwrap();
    assert!(store.get(&key("P", "a")).await.unwrap().is_none());
    let missing = store
        .write(vec![Write::Check {
            key: key("P", "a"),
            when: Condition::Exists,
        }])
        .await;
    assert!(matches!(
        missing,
        Err(StoreError::ConditionFailed { index: 0 })
    ));
}

/// Items of the unsharded layout move into the sharded one: reports and the index find them
/// there, and a second run finds nothing to do.
pub async fn migration_moves_the_unsharded_layout(store: Arc<dyn ItemStore>) {
    use crate::conversions::{INDEX_SHARDS, conversions_index_pk};
    use crate::totals::{Dimension, shard_of};
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let mut writes = Vec::new();
    for (pk, sk, clicks) in [
        ("TOT#day", "2026-11-30", 3),
        ("TOT#offer", "2026-11-30#O1", 2),
    ] {
        writes.push(Write::Add {
            key: key(pk, sk),
            deltas: vec![("clicks".into(), Decimal::from(clicks))],
            expires_at: None,
        });
    }
    let mut conversion = Item::new(key("CONV#cv_old", "META"), json!({"id": "cv_old"}));
    conversion.index_key = Some(key("CONVS", "2026-11-30T10:00:00.000Z#cv_old"));
    writes.push(Write::Put {
        item: conversion,
        when: Condition::Absent,
    });
    store.write(writes).await.unwrap();
    let repo = Repo::new(store.clone());
    let migrated = repo.migrate_to_sharded().await.unwrap();
    assert_eq!((migrated.totals, migrated.conversions), (2, 1));
    let days = repo
        .group_totals(Dimension::Day, day, day, 100)
        .await
        .unwrap();
    assert_eq!(days.groups["2026-11-30"]["clicks"], Decimal::from(3));
    let offers = repo.group_totals(Dimension::Offer, day, day, 100).await;
    assert_eq!(offers.unwrap().groups["O1"]["clicks"], Decimal::from(2));
    assert!(
        store
            .get(&key("TOT#day", "2026-11-30"))
            .await
            .unwrap()
            .is_none()
    );
    let index = Query {
        index: Index::Gsi1,
        ..Query::partition(conversions_index_pk(shard_of("cv_old", INDEX_SHARDS)))
    };
    let moved = store.query(&index).await.unwrap();
    assert_eq!(moved.items.len(), 1);
    assert_eq!(moved.items[0].data, json!({"id": "cv_old"}));
    let again = repo.migrate_to_sharded().await.unwrap();
    assert_eq!(again, crate::migrate::Migrated::default());
}

// Lead repository cases (bodies in `lead_conformance.rs`).
pub async fn leads_are_unique_per_click_and_key(store: Arc<dyn ItemStore>) {
    crate::lead_conformance::leads_are_unique_per_click_and_key(store).await
}

pub async fn lead_queues_follow_the_lead(store: Arc<dyn ItemStore>) {
    crate::lead_conformance::lead_queues_follow_the_lead(store).await
}

pub async fn leads_list_newest_first(store: Arc<dyn ItemStore>) {
    crate::lead_conformance::leads_list_newest_first(store).await
}

pub async fn conversion_names_are_checked_in_the_create(store: Arc<dyn ItemStore>) {
    crate::lead_conformance::conversion_names_are_checked_in_the_create(store).await
}

fn labelled_click(id: &str, labels: &affnet_core::clickid::Labels) -> affnet_core::Click {
    let nonempty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    affnet_core::Click {
        id: id.into(),
        offer_id: "01HZX3J4K5M6N7P8Q9R0S1T2V3".into(),
        integration_id: "01A".into(),
        message_id: nonempty(&labels.message_id),
        creative_id: nonempty(&labels.creative_id),
        subs: Default::default(),
        time: chrono::Utc::now(),
        ip: None,
        user_agent: None,
        expires_at: chrono::Utc::now().timestamp() + 3600,
    }
}

pub async fn labels_are_write_once(store: Arc<dyn ItemStore>) {
    use affnet_core::clickid::{LabelHandle, Labels};
    let repo = Repo::new(store);
    let first = Labels::new("spring-sale", "banner_300x250");
    let handle = LabelHandle::candidates(&first).next().unwrap();
    assert_eq!(repo.get_labels(handle).await.unwrap(), None);
    repo.create_labels(handle, &first).await.unwrap();
    assert_eq!(repo.get_labels(handle).await.unwrap(), Some(first.clone()));
    // A handle never changes its pair, whoever asks.
    let other = Labels::new("другое", "");
    assert!(matches!(
        repo.create_labels(handle, &other).await,
        Err(RepoError::Conflict)
    ));
    assert_eq!(repo.get_labels(handle).await.unwrap(), Some(first));
    let next = LabelHandle::candidates(&other).next().unwrap();
    assert_eq!(repo.get_labels(next).await.unwrap(), None);
}

pub async fn click_with_new_labels_is_one_batch(store: Arc<dyn ItemStore>) {
    use crate::labels::ClickLabelsError;
    use crate::totals::click_totals_key;
    use affnet_core::clickid::{LabelHandle, Labels};
    let repo = Repo::new(store.clone());
    let labels = Labels::new("m1", "c1");
    let handle = LabelHandle::candidates(&labels).next().unwrap();
    repo.record_click_with_labels(&labelled_click("click-1", &labels), handle, &labels)
        .await
        .unwrap();
    assert!(repo.get_click("click-1").await.unwrap().is_some());
    assert_eq!(repo.get_labels(handle).await.unwrap(), Some(labels.clone()));

    // The handle is taken: nothing of the second click is written, and the caller can tell.
    let racing = Labels::new("m2", "");
    let taken = repo
        .record_click_with_labels(&labelled_click("click-2", &racing), handle, &racing)
        .await;
    assert!(
        matches!(taken, Err(ClickLabelsError::HandleTaken)),
        "{taken:?}"
    );
    assert!(repo.get_click("click-2").await.unwrap().is_none());
    assert!(
        store
            .get(&click_totals_key("click-2"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(repo.get_labels(handle).await.unwrap(), Some(labels.clone()));

    // A replayed click is a conflict, and its new labels are not created either.
    let fresh = Labels::new("m3", "c3");
    let fresh_handle = LabelHandle::candidates(&fresh).next().unwrap();
    let replay = repo
        .record_click_with_labels(&labelled_click("click-1", &fresh), fresh_handle, &fresh)
        .await;
    assert!(
        matches!(replay, Err(ClickLabelsError::Repo(RepoError::Conflict))),
        "{replay:?}"
    );
    assert_eq!(repo.get_labels(fresh_handle).await.unwrap(), None);
}

pub async fn reconciliation_runs_share_the_sync_lease(store: Arc<dyn ItemStore>) {
    crate::conformance_recon::runs_share_the_sync_lease(store).await;
}

pub async fn reconciliation_differences_page_in_order(store: Arc<dyn ItemStore>) {
    crate::conformance_recon::differences_page_in_order(store).await;
}

pub async fn events_feed_merges_the_shards_in_id_order(store: Arc<dyn ItemStore>) {
    crate::conformance_events::feed_merges_the_shards_in_id_order(store).await;
}

pub async fn events_come_with_their_changes(store: Arc<dyn ItemStore>) {
    crate::conformance_events::changes_carry_their_events(store).await;
}

pub async fn events_and_changes_fail_together(store: Arc<dyn ItemStore>) {
    crate::conformance_events::a_failed_batch_leaves_neither_change_nor_event(store).await;
}

pub async fn lead_events_come_with_leaving_the_queue(store: Arc<dyn ItemStore>) {
    crate::conformance_events::leads_leaving_the_queue_carry_their_events(store).await;
}

pub async fn event_cursors_move_on_their_version(store: Arc<dyn ItemStore>) {
    crate::conformance_events::event_cursors_move_on_their_version(store).await;
}

pub async fn health_postbacks_count_per_hour(store: Arc<dyn ItemStore>) {
    crate::conformance_health::accepted_and_refused_postbacks_count_per_hour(store).await;
}

pub async fn health_silence_transitions_happen_once(store: Arc<dyn ItemStore>) {
    crate::conformance_health::silence_transitions_happen_once_with_their_event(store).await;
}

pub async fn health_click_hours_and_connection_tests(store: Arc<dyn ItemStore>) {
    crate::conformance_health::click_hours_and_connection_tests_are_kept(store).await;
}

pub async fn ledger_adds_count_once_under_racing_folds(store: Arc<dyn ItemStore>) {
    crate::conformance_ledger::deferred_adds_count_once_under_racing_folds(store).await;
}

pub async fn ledger_adds_wait_for_the_fold_and_fail_with_their_batch(store: Arc<dyn ItemStore>) {
    crate::conformance_ledger::deferred_adds_wait_for_the_fold_and_fail_with_their_batch(store)
        .await;
}

pub async fn ledger_keeps_unreadable_entries_and_folds_in_batches(store: Arc<dyn ItemStore>) {
    crate::conformance_ledger::unreadable_entries_stay_and_large_partitions_fold_in_batches(store)
        .await;
}
