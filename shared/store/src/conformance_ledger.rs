//! Conformance cases of the counter ledger ([`crate::ledger`]) on every adapter: deferred adds
//! count exactly once whatever folds race, a failed batch leaves no entry, and an unreadable
//! entry stops nothing else.

use crate::ledger::{CounterLedger, PARTITIONS, ledger_pk};
use crate::port::{Condition, Item, ItemStore, Key, Query, StoreError, Write};
use rust_decimal::Decimal;
use serde_json::json;
use std::sync::Arc;

fn add(pk: &str, sk: &str, cents: i64) -> Write {
    Write::Add {
        key: Key::new(pk, sk),
        deltas: vec![
            ("count".into(), Decimal::ONE),
            ("revenue.approved.USD".into(), Decimal::new(cents, 2)),
        ],
        expires_at: None,
    }
}

async fn entries(store: &dyn ItemStore, partition: u32) -> usize {
    let page = store
        .query(&Query {
            limit: 1000,
            ..Query::partition(ledger_pk(partition))
        })
        .await
        .unwrap();
    page.items.len()
}

async fn all_entries(store: &dyn ItemStore) -> usize {
    let mut n = 0;
    for p in 0..PARTITIONS {
        n += entries(store, p).await;
    }
    n
}

fn counter(item: &Option<Item>, name: &str) -> Decimal {
    item.as_ref()
        .and_then(|i| i.counters.get(name).copied())
        .unwrap_or_default()
}

/// 64 batches of 3 deferred adds each while 3 folders race over every partition: every add
/// counted once, and no entry left.
pub async fn deferred_adds_count_once_under_racing_folds(store: Arc<dyn ItemStore>) {
    let ledger = CounterLedger::around(store.clone());
    let writers: Vec<_> = (0..64)
        .map(|i| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                let shard = i % 40;
                let writes = vec![
                    add(&format!("TOT#day#{shard}"), "2026-12-01", 150),
                    add(&format!("TOT#offer#{}", shard % 64), "2026-12-01#O1", 150),
                    add("INT#01I#ACCEPTED#5", "2026-12-01T10", 1),
                    // Kept in the batch: a click's own totals.
                    add(&format!("CLICK#c{i}"), "TOTALS", 150),
                ];
                ledger.write(writes).await.unwrap();
            })
        })
        .collect();
    let folders: Vec<_> = (0..3)
        .map(|_| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                ledger.fold_all().await.unwrap();
            })
        })
        .collect();
    for task in writers.into_iter().chain(folders) {
        task.await.unwrap();
    }
    ledger.settle().await.unwrap();
    assert_eq!(all_entries(store.as_ref()).await, 0, "every entry folded");
    let mut day = Decimal::ZERO;
    for shard in 0..256 {
        let item = store
            .get(&Key::new(format!("TOT#day#{shard}"), "2026-12-01"))
            .await
            .unwrap();
        day += counter(&item, "count");
        let expected = match shard {
            0..=23 => 2,
            24..=39 => 1,
            _ => 0,
        };
        assert_eq!(
            counter(&item, "count"),
            Decimal::from(expected),
            "day shard {shard}"
        );
    }
    assert_eq!(day, Decimal::from(64));
    let mut offer_revenue = Decimal::ZERO;
    for shard in 0..64 {
        let item = store
            .get(&Key::new(format!("TOT#offer#{shard}"), "2026-12-01#O1"))
            .await
            .unwrap();
        offer_revenue += counter(&item, "revenue.approved.USD");
    }
    assert_eq!(offer_revenue, Decimal::new(9_600, 2));
    let accepted = store
        .get(&Key::new("INT#01I#ACCEPTED#5", "2026-12-01T10"))
        .await
        .unwrap();
    assert_eq!(counter(&accepted, "count"), Decimal::from(64));
    let own = store.get(&Key::new("CLICK#c7", "TOTALS")).await.unwrap();
    assert_eq!(counter(&own, "count"), Decimal::ONE, "written in its batch");
}

/// Deferred adds are not in the counters until a fold, and are after it; a batch whose
/// condition fails leaves no entry, and names the write as the caller numbered it.
pub async fn deferred_adds_wait_for_the_fold_and_fail_with_their_batch(store: Arc<dyn ItemStore>) {
    let ledger = CounterLedger::around(store.clone());
    let day = Key::new("TOT#day#3", "2026-12-01");
    ledger
        .write(vec![
            add("TOT#day#3", "2026-12-01", 100),
            Write::Put {
                item: Item::new(Key::new("CONV", "cv1"), json!({})),
                when: Condition::Absent,
            },
        ])
        .await
        .unwrap();
    assert!(store.get(&day).await.unwrap().is_none(), "deferred");
    assert_eq!(entries(store.as_ref(), 3).await, 1);

    let again = ledger
        .write(vec![
            add("TOT#day#3", "2026-12-01", 100),
            Write::Put {
                item: Item::new(Key::new("CONV", "cv1"), json!({})),
                when: Condition::Absent,
            },
        ])
        .await;
    assert!(
        matches!(again, Err(StoreError::ConditionFailed { index: 1 })),
        "{again:?}"
    );
    assert_eq!(
        entries(store.as_ref(), 3).await,
        1,
        "the failed batch's entry is gone"
    );

    let folded = ledger.fold(3).await.unwrap();
    assert_eq!((folded.entries, folded.batches), (1, 1));
    let item = store.get(&day).await.unwrap();
    assert_eq!(counter(&item, "count"), Decimal::ONE);
    assert_eq!(counter(&item, "revenue.approved.USD"), Decimal::ONE);
    assert_eq!(ledger.fold(3).await.unwrap().entries, 0, "nothing twice");
    assert_eq!(
        counter(&store.get(&day).await.unwrap(), "count"),
        Decimal::ONE
    );
}

/// An entry that cannot be read stays where it is (logged) and the others fold; a partition
/// of more entries than one transaction holds folds in several.
pub async fn unreadable_entries_stay_and_large_partitions_fold_in_batches(
    store: Arc<dyn ItemStore>,
) {
    let ledger = CounterLedger::around(store.clone());
    store
        .write(vec![Write::Put {
            item: Item::new(
                Key::new(ledger_pk(9), "00000000000000000000000000"),
                json!(7),
            ),
            when: Condition::Absent,
        }])
        .await
        .unwrap();
    for i in 0..150 {
        let sk = format!("2026-12-01#O{i}");
        ledger
            .write(vec![add("TOT#offer#9", &sk, 1)])
            .await
            .unwrap();
    }
    let folded = ledger.fold(9).await.unwrap();
    assert_eq!(folded.entries, 150);
    assert_eq!(folded.unreadable, 1);
    assert!(folded.batches >= 3, "{folded:?}: 150 entries and 150 adds");
    assert_eq!(entries(store.as_ref(), 9).await, 1, "the unreadable one");
    for i in [0, 77, 149] {
        let item = store
            .get(&Key::new("TOT#offer#9", format!("2026-12-01#O{i}")))
            .await
            .unwrap();
        assert_eq!(counter(&item, "count"), Decimal::ONE, "O{i}");
    }
}
