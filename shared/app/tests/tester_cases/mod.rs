//! The postback tester, written once and run on every store: each test file calls
//! [`tester_suite!`] with an async expression giving a fresh `Arc<dyn ItemStore>`. Every case
//! runs a real server on a loopback port; the tester calls that server's public route over HTTP.

pub mod server;

use affnet_app::Config;
use affnet_store::ItemStore;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::{API_KEY, Server};
use std::sync::Arc;

#[macro_export]
macro_rules! tester_suite {
    ($factory:expr) => {
        $crate::tester_suite!(@cases $factory;
            tune_test_postback_is_recorded_as_a_test,
            cpa_tail_test_postback_is_recorded_as_a_test,
            affbay_parts_test_postback_is_recorded_as_a_test,
            bad_input_is_refused_and_writes_nothing,
            the_tester_calls_only_our_own_url,
            a_refusal_of_the_route_is_reported,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store: std::sync::Arc<dyn affnet_store::ItemStore> = $factory.await;
                tester_cases::$case(store).await;
            }
        )*
    };
}

fn path(integration: &Value) -> String {
    format!(
        "/integrations/{}/test-postback",
        integration["id"].as_str().unwrap()
    )
}

/// A real click and a real postback first, so that reports have something to keep.
async fn real_traffic(server: &Server, integration: &Value, offer: &Value, query: &str) {
    let click = server.click(offer).await;
    let (id, token) = (
        integration["id"].as_str().unwrap(),
        integration["postback_token"].as_str().unwrap(),
    );
    let route = match integration["network"].as_str() {
        Some("tune") => format!("/postback/{id}?token={token}&"),
        _ => format!("/api/sale/status.json?id={id}-{token}&"),
    };
    let r = server
        .ok(
            "GET",
            &format!("{route}{}", query.replace("CLICK", &click)),
            None,
        )
        .await;
    assert_eq!(r["outcome"], "created", "{r}");
}

/// Sends the test postback and checks what every network kind must end in: a conversion
/// created through the public route, marked test, listed, its log entry, reports unchanged.
async fn expect_recorded(
    server: &Server,
    integration: &Value,
    offer: &Value,
    body: Value,
) -> (Value, Value) {
    let before = server.reports().await;
    assert_ne!(before["offer"]["totals"]["conversions"], 0, "{before}");
    let r = server.call("POST", &path(integration), Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let a = r.json;
    assert_eq!(
        (a["http_status"].clone(), a["outcome"].clone()),
        (json!(200), json!("created")),
        "{a}"
    );
    let url = a["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/", server.base)), "{url}");
    assert!(url.ends_with("&test=1"), "{url}");
    assert!(url.contains(integration["postback_token"].as_str().unwrap()));
    assert!(
        !r.text.contains(API_KEY),
        "a credential in the answer: {}",
        r.text
    );
    let id = a["conversion_id"]
        .as_str()
        .expect("a conversion id")
        .to_string();
    assert_eq!(a["reply"]["conversion_id"], id);
    let log = &a["log"];
    assert_eq!(
        (log["outcome"].clone(), log["conversion_id"].clone()),
        (json!("created"), json!(id))
    );
    assert_eq!(log["http_status"], 200);
    let token = integration["postback_token"].as_str().unwrap();
    assert!(!log["query"].as_str().unwrap().contains(token), "{log}");

    let conversion = server.ok("GET", &format!("/conversions/{id}"), None).await;
    assert_eq!(conversion["test"], true, "{conversion}");
    assert_eq!(conversion["matched"], true, "{conversion}");
    assert_eq!(conversion["offer_id"], offer["id"]);
    assert_eq!(conversion["message_id"], "postback-test");
    assert_eq!(conversion["status"], a["status"]);
    assert!(server.conversion_ids(integration).await.contains(&id));
    assert_eq!(server.reports().await, before, "reports moved");
    let recorded = server.events("conversion.recorded").await;
    let event = recorded
        .iter()
        .find(|e| e["data"]["conversion_id"] == id)
        .expect("its conversion.recorded event");
    assert_eq!(event["data"]["test"], true);
    (a, conversion)
}

pub async fn tune_test_postback_is_recorded_as_a_test(store: Arc<dyn ItemStore>) {
    let server = Server::start(store).await;
    let (i, offer) = server
        .integration_with_offer("tune", json!({"network_id": "demo"}))
        .await;
    real_traffic(
        &server,
        &i,
        &offer,
        "aff_click_id=CLICK&transaction_id=real-1&payout=5",
    )
    .await;
    let (a, c) = expect_recorded(&server, &i, &offer, json!({"payout": "12.50"})).await;
    assert_eq!(
        (a["event"].clone(), a["status"].clone()),
        (Value::Null, json!("approved"))
    );
    let url = a["url"].as_str().unwrap();
    assert!(
        url.contains(&format!("/postback/{}?token=", i["id"].as_str().unwrap())),
        "{url}"
    );
    assert_eq!(
        (c["payout"].clone(), c["currency"].clone()),
        (json!("12.5"), json!("EUR"))
    );
    assert!(c["transaction_id"].as_str().unwrap().starts_with("test-"));
    // A pending one: TUNE's URL gets `status` only when asked.
    let (p, _) = expect_recorded(&server, &i, &offer, json!({"status": "pending"})).await;
    assert!(p["url"].as_str().unwrap().contains("&status=pending&"));
    assert_eq!(p["status"], "pending");
}

pub async fn cpa_tail_test_postback_is_recorded_as_a_test(store: Arc<dyn ItemStore>) {
    let server = Server::start(store).await;
    let (i, offer) = server.integration_with_offer("zcpa", json!({})).await;
    real_traffic(
        &server,
        &i,
        &offer,
        "oid=CLICK&status=11&sta=11&stc=12&stt=13",
    )
    .await;
    // ZCPA's global tail: its `[status]` gets the word the tail's overrides name (12 = cancel).
    let (a, c) = expect_recorded(&server, &i, &offer, json!({"status": "rejected"})).await;
    assert_eq!(a["event"], "global");
    let url = a["url"].as_str().unwrap();
    assert!(url.contains("/api/sale/status.json?id="), "{url}");
    assert!(
        url.contains("&status=12&sta=11&stc=12&stt=13&test=1"),
        "{url}"
    );
    assert_eq!(
        (c["status"].clone(), c["raw_status"].clone()),
        (json!("rejected"), json!("12"))
    );
    // Everad's tail carries the payout and its currency.
    let (e, eo) = server.integration_with_offer("everad", json!({})).await;
    let (_, c) = expect_recorded(&server, &e, &eo, json!({"payout": "7.25"})).await;
    assert_eq!(
        (c["payout"].clone(), c["currency"].clone()),
        (json!("7.25"), json!("EUR"))
    );
}

pub async fn affbay_parts_test_postback_is_recorded_as_a_test(store: Arc<dyn ItemStore>) {
    let server = Server::start(store).await;
    let (i, offer) = server.integration_with_offer("affbay", json!({})).await;
    real_traffic(&server, &i, &offer, "oid=CLICK&status=accept").await;
    let (a, c) = expect_recorded(&server, &i, &offer, json!({"event": "cancel"})).await;
    assert_eq!(
        (a["event"].clone(), a["status"].clone()),
        (json!("cancel"), json!("rejected"))
    );
    let url = a["url"].as_str().unwrap();
    assert!(
        url.contains("&status=cancel&comment=affnet+test+postback&test=1"),
        "{url}"
    );
    assert_eq!(c["comment"], "affnet test postback");
    let (a, _) = expect_recorded(&server, &i, &offer, json!({})).await;
    assert_eq!(
        (a["event"].clone(), a["status"].clone()),
        (json!("approve"), json!("approved"))
    );
}

/// What a refusal must say: HTTP status, error code, the field named (if any).
type Expected = (u16, &'static str, Option<&'static str>);
const NO_OFFER: Expected = (409, "no_active_offer", None);

/// A 4xx naming the problem, and not one write.
async fn refused(server: &Server, path: &str, body: Value, (status, code, field): Expected) {
    let writes = server.counting.batches();
    let r = server.call("POST", path, Some(body.clone())).await;
    assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text);
    assert_eq!(r.json["error"]["code"], code, "{body}: {}", r.text);
    if let Some(field) = field {
        assert_eq!(r.json["error"]["field"], field, "{body}: {}", r.text);
    }
    assert_eq!(server.counting.batches(), writes, "{body} wrote something");
}

pub async fn bad_input_is_refused_and_writes_nothing(store: Arc<dyn ItemStore>) {
    let server = Server::start(store).await;
    let (ikon, _) = server.integration_with_offer("ikon", json!({})).await;
    let p = path(&ikon);
    let bad_bodies = [
        (json!({"event": "upsell"}), "unknown_event", "event"),
        (json!({"status": "paid"}), "invalid_value", "status"),
        (json!({"payout": "12,50"}), "invalid_value", "payout"),
        (json!({"payout": 12.5}), "wrong_type", "payout"),
        // IKON's tails carry no payout; its cancel tail sends a cancel.
        (
            json!({"event": "approve", "payout": "5"}),
            "invalid_value",
            "payout",
        ),
        (
            json!({"event": "cancel", "status": "approved"}),
            "invalid_value",
            "status",
        ),
        (json!({"token": "x"}), "unknown_field", "token"),
    ];
    for (body, code, field) in bad_bodies {
        refused(&server, &p, body, (400, code, Some(field))).await;
    }
    let tune = server.integration("tune", json!({"network_id": "demo"}));
    let tune = tune.await;
    let tp = path(&tune);
    refused(&server, &tp, json!({}), NO_OFFER).await;
    let offer = server.offer(&tune).await;
    let event = json!({"event": "approve"});
    refused(&server, &tp, event, (400, "unknown_event", Some("event"))).await;
    let offer_path = format!("/offers/{}", offer["id"].as_str().unwrap());
    let paused = json!({"status": "paused"});
    server.ok("PATCH", &offer_path, Some(paused)).await;
    refused(&server, &tp, json!({}), NO_OFFER).await;
    let ikon_path = format!("/integrations/{}", ikon["id"].as_str().unwrap());
    let inactive = json!({"active": false});
    server.ok("PATCH", &ikon_path, Some(inactive)).await;
    refused(&server, &p, json!({}), (409, "integration_inactive", None)).await;
    let unknown = "/integrations/01J9ZQ4TB1N8V6Q0R3K2W5X7YA/test-postback";
    refused(&server, unknown, json!({}), (404, "not_found", None)).await;
    assert!(server.conversion_ids(&ikon).await.is_empty());
}

pub async fn the_tester_calls_only_our_own_url(store: Arc<dyn ItemStore>) {
    // A host that does not know its own address and has no AFFNET_PUBLIC_URL: the request's
    // Host header is never used as the target.
    let server = Server::start_with(store, Config::for_tests(), false).await;
    let (i, _) = server.integration_with_offer("ikon", json!({})).await;
    let writes = server.counting.batches();
    let r = server.post_with_host(&path(&i), "attacker.example").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "public_url_unknown");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("AFFNET_PUBLIC_URL")
    );
    assert_eq!(server.counting.batches(), writes);
}

pub async fn a_refusal_of_the_route_is_reported(store: Arc<dyn ItemStore>) {
    // The route refuses our own call when the integration allows other addresses only: the
    // answer says so, with the refused postback's log entry.
    let server = Server::start(store).await;
    let (i, _) = server
        .integration_with_offer("ikon", json!({"ip_allowlist": ["203.0.113.0/24"]}))
        .await;
    let r = server.call("POST", &path(&i), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let a = &r.json;
    assert_eq!(
        (a["http_status"].clone(), a["outcome"].clone()),
        (json!(200), json!("ip_not_allowed")),
        "{a}"
    );
    assert_eq!(a["conversion_id"], Value::Null);
    assert_eq!(a["reply"]["status"], "error");
    assert_eq!(
        (a["log"]["outcome"].clone(), a["log"]["http_status"].clone()),
        (json!("ip_not_allowed"), json!(200))
    );
    assert!(server.conversion_ids(&i).await.is_empty());
}
