//! Concurrency and fault cases, written once and run on every store: each test file calls
//! [`postback_suite!`] with an async expression giving a fresh `Arc<dyn ItemStore>`.

mod click_formats;

pub use click_formats::every_click_id_format_attributes;

use crate::pb_support::{Pb, click, nonzero};
use affnet_core::Integration;
use affnet_store::ItemStore;
use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

#[macro_export]
macro_rules! postback_suite {
    ($factory:expr) => {
        $crate::postback_suite!(@cases $factory;
            concurrent_deliveries_record_once,
            interleaved_status_changes_settle_consistently,
            failed_writes_answer_5xx_and_the_retry_succeeds,
            failed_change_leaves_the_conversion_as_it_was,
            a_lost_reply_is_neither_doubled_nor_lost_on_retry,
            every_click_id_format_attributes,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store: std::sync::Arc<dyn affnet_store::ItemStore> = $factory.await;
                postback_cases::$case(store).await;
            }
        )*
    };
}

/// Sends every uri at once (each on its own task) and returns the replies' (status, json).
async fn storm(pb: &Pb, uris: Vec<String>) -> Vec<(StatusCode, Value)> {
    let tasks: Vec<_> = uris
        .into_iter()
        .map(|uri| {
            let router = pb.router.clone();
            tokio::spawn(async move {
                let r = crate::support::call(&router, "GET", &uri, None).await;
                (r.status, r.json)
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn uri(i: &Integration, tail: &str) -> String {
    format!(
        "/api/sale/status.json?id={}-{}&{tail}",
        i.id, i.postback_token
    )
}

/// Totals agree with the stored conversion: one conversion, one status, its revenue only.
async fn assert_consistent(pb: &Pb, conversion: &Value) {
    let status = conversion["status"].as_str().unwrap();
    let payout = conversion["payout"].as_str().unwrap_or("0");
    for totals in [pb.day_totals().await, pb.offer_totals().await] {
        let n = nonzero(&totals);
        let counts: Decimal = totals
            .iter()
            .filter(|(k, _)| k.starts_with("count."))
            .map(|(_, v)| *v)
            .sum();
        assert_eq!(counts, Decimal::ONE, "{n:?}");
        assert_eq!(n.get("conversions").map(String::as_str), Some("1"), "{n:?}");
        assert_eq!(
            n.get(&format!("count.{status}")).map(String::as_str),
            Some("1"),
            "{n:?}"
        );
        let revenue: BTreeMap<_, _> = n
            .iter()
            .filter(|(k, _)| k.starts_with("revenue."))
            .collect();
        if payout == "0" {
            assert!(revenue.is_empty(), "{n:?}");
        } else {
            let want = format!("revenue.{status}.USD");
            assert_eq!(revenue.len(), 1, "{n:?}");
            assert_eq!(
                revenue.get(&want).map(|v| v.as_str()),
                Some(payout),
                "{n:?}"
            );
        }
    }
    let history = conversion["history"].as_array().unwrap();
    assert_eq!(history.last().unwrap()["to"], status);
}

pub async fn concurrent_deliveries_record_once(store: Arc<dyn ItemStore>) {
    let pb = Pb::new(store);
    let i = pb.integration("everad", json!({})).await;
    let click = click(&pb.state).await;
    let tail = format!("oid={click}&status=approved&pay=12.50&cc=USD");
    let replies = storm(&pb, vec![uri(&i, &tail); 200]).await;
    let mut outcomes = BTreeMap::<String, usize>::new();
    for (status, json) in &replies {
        assert_eq!(*status, StatusCode::OK, "{json}");
        assert_eq!(json["status"], "ok", "{json}");
        *outcomes
            .entry(json["outcome"].as_str().unwrap().into())
            .or_default() += 1;
    }
    assert_eq!(outcomes.get("created"), Some(&1), "{outcomes:?}");
    assert_eq!(outcomes.get("duplicate"), Some(&199), "{outcomes:?}");
    let all = pb.conversions("").await;
    assert_eq!(all.len(), 1);
    let c = pb.conversion(all[0]["id"].as_str().unwrap()).await;
    assert_eq!(c["history"].as_array().unwrap().len(), 1);
    assert_consistent(&pb, &c).await;
    assert_eq!(pb.logs(&i).await.len(), 100, "a page of logs");
}

/// A small deterministic shuffle (no rand dependency).
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        items.swap(i, (seed >> 33) as usize % (i + 1));
    }
}

pub async fn interleaved_status_changes_settle_consistently(store: Arc<dyn ItemStore>) {
    let pb = Pb::new(store);
    let i = pb.integration("everad", json!({})).await;
    for round in 0..3u64 {
        let click = click(&pb.state).await;
        let mut uris = Vec::new();
        for _ in 0..8 {
            for tail in [
                "status=pending&pay=10&cc=USD",
                "status=approved&pay=10&cc=USD",
                "status=approved&pay=11&cc=USD",
                "status=rejected",
                "status=trash",
            ] {
                uris.push(uri(&i, &format!("oid={click}&{tail}")));
            }
        }
        shuffle(&mut uris, round + 7);
        for (status, json) in storm(&pb, uris).await {
            assert_eq!(status, StatusCode::OK, "{json}");
        }
        let all = pb.conversions(&format!("click={click}")).await;
        assert_eq!(all.len(), 1);
        let c = pb.conversion(all[0]["id"].as_str().unwrap()).await;
        // Pending never wins over a final status that arrived.
        assert_ne!(c["status"], "pending", "{c}");
        // Settle: the network's last word is approved at 11.
        let r = crate::support::call(
            &pb.router,
            "GET",
            &uri(&i, &format!("oid={click}&status=approved&pay=11&cc=USD")),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        let c = pb.conversion(all[0]["id"].as_str().unwrap()).await;
        assert_eq!(
            (c["status"].clone(), c["payout"].clone()),
            (json!("approved"), json!("11"))
        );
        // Each round adds one conversion; check the totals of this round's offer/day by delta.
        if round == 0 {
            assert_consistent(&pb, &c).await;
        }
    }
    let day = pb.day_totals().await;
    assert_eq!(nonzero(&day)["conversions"], "3");
    assert_eq!(nonzero(&day)["count.approved"], "3");
    assert_eq!(nonzero(&day)["revenue.approved.USD"], "33");
    assert_eq!(nonzero(&day).len(), 3, "{day:?}");
}

pub async fn failed_writes_answer_5xx_and_the_retry_succeeds(store: Arc<dyn ItemStore>) {
    let pb = Pb::new(store);
    let i = pb.integration("everad", json!({})).await;
    let click = click(&pb.state).await;
    let native = format!(
        "/postback/{}?token={}&oid={click}&status=approved&pay=5&cc=USD",
        i.id, i.postback_token
    );
    // One failed batch per request (the refusal's own log entry then goes through).
    pb.faults.fail_writes(1);
    let r = pb.get(&native).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "storage_unavailable");
    pb.faults.fail_writes(1);
    let r = pb
        .altercpa(&i, &format!("oid={click}&status=approved&pay=5&cc=USD"))
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.json["status"], "error");
    assert!(pb.conversions("").await.is_empty());
    assert!(pb.day_totals().await.is_empty());
    // A failed read of the integration is a 5xx too.
    pb.faults.fail_reads(1);
    assert_eq!(
        pb.get(&native).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // The network retries: exactly one conversion.
    let r = pb.get(&native).await;
    assert_eq!(
        (r.status, r.json["outcome"].clone()),
        (StatusCode::OK, json!("created")),
        "{}",
        r.text
    );
    let r = pb
        .altercpa(&i, &format!("oid={click}&status=approved&pay=5&cc=USD"))
        .await;
    assert_eq!(r.json["outcome"], "duplicate");
    assert_eq!(pb.conversions("").await.len(), 1);
    let c = pb
        .conversion(r.json["conversion_id"].as_str().unwrap())
        .await;
    assert_consistent(&pb, &c).await;
    let outcomes: Vec<Value> = pb
        .logs(&i)
        .await
        .iter()
        .map(|l| l["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        [
            "duplicate",
            "created",
            "storage_unavailable",
            "storage_unavailable"
        ]
    );
}

pub async fn failed_change_leaves_the_conversion_as_it_was(store: Arc<dyn ItemStore>) {
    let pb = Pb::new(store);
    let i = pb.integration("everad", json!({})).await;
    let click = click(&pb.state).await;
    let r = pb
        .altercpa(&i, &format!("oid={click}&status=pending&pay=5&cc=USD"))
        .await;
    let id = r.json["conversion_id"].as_str().unwrap().to_string();
    // The create attempt fails on its condition (no fault), then the change batch fails.
    pb.faults.fail_writes_after(1, 1);
    let change = format!("oid={click}&status=approved&pay=5&cc=USD");
    let r = pb.altercpa(&i, &change).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    let c = pb.conversion(&id).await;
    assert_eq!(c["status"], "pending");
    assert_consistent(&pb, &c).await;
    let r = pb.altercpa(&i, &change).await;
    assert_eq!(r.json["outcome"], "changed");
    let c = pb.conversion(&id).await;
    assert_eq!(c["status"], "approved");
    assert_consistent(&pb, &c).await;
}

/// The ambiguous failure: the batch landed but its reply was lost, so we answered 503 and the
/// network retries. The retry finds the conversion (duplicate), counts nothing twice, and a
/// status change whose reply was lost is not applied twice either.
pub async fn a_lost_reply_is_neither_doubled_nor_lost_on_retry(store: Arc<dyn ItemStore>) {
    let pb = Pb::new(store);
    let i = pb.integration("everad", json!({})).await;
    let click = click(&pb.state).await;
    let pending = format!("oid={click}&eid=LR-1&status=pending&pay=5&cc=USD");
    pb.faults.lose_replies(1);
    let r = pb.altercpa(&i, &pending).await;
    assert_eq!(r.json["status"], "error", "{}", r.text);
    let r = pb.altercpa(&i, &pending).await;
    assert_eq!(
        r.json["outcome"], "duplicate",
        "the first write had landed: {}",
        r.text
    );
    let approved = format!("oid={click}&eid=LR-1&status=approved&pay=5&cc=USD");
    pb.faults.lose_replies(1);
    let r = pb.altercpa(&i, &approved).await;
    assert_eq!(r.json["status"], "error", "{}", r.text);
    let r = pb.altercpa(&i, &approved).await;
    assert_eq!(r.json["outcome"], "duplicate", "{}", r.text);
    let all = pb.conversions("").await;
    assert_eq!(all.len(), 1);
    let conversion = pb.conversion(all[0]["id"].as_str().unwrap()).await;
    assert_eq!(conversion["status"], "approved");
    assert_eq!(conversion["history"].as_array().unwrap().len(), 2);
    assert_consistent(&pb, &conversion).await;
}
