//! The offers API through the real router.

mod support;

use affnet_app::{Config, router};
use axum::http::StatusCode;
use serde_json::{Value, json};
use support::{call, sqlite_state};

async fn setup() -> (axum::Router, String, String) {
    let router = router::local(sqlite_state(Config::for_tests()));
    let tune = call(&router, "POST", "/integrations", Some(json!({"network": "tune", "name": "T", "credentials": {"api_key": "k"}, "settings": {"network_id": "demo"}}))).await;
    let leadbit = call(
        &router,
        "POST",
        "/integrations",
        Some(json!({"network": "leadbit", "name": "L", "credentials": {"api_key": "k"}})),
    )
    .await;
    (
        router,
        tune.json["id"].as_str().unwrap().into(),
        leadbit.json["id"].as_str().unwrap().into(),
    )
}

fn offer(integration: &str) -> Value {
    json!({
        "integration_id": integration,
        "name": "Keto Diet",
        "tracking_url": "https://demo.go2cloud.org/aff_c?offer_id=26&aff_id=4706&aff_click_id={click_id}",
        "payout": "12.50",
        "currency": "usd",
        "payout_type": "cpa_flat",
        "advertiser": "Acme",
    })
}

#[tokio::test]
async fn create_get_list_and_patch_offers() {
    let (router, tune, leadbit) = setup().await;
    let created = call(&router, "POST", "/offers", Some(offer(&tune))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json["payout"], "12.5");
    assert_eq!(created.json["currency"], "USD");
    assert_eq!(created.json["status"], "active");
    let id = created.json["id"].as_str().unwrap();

    let got = call(&router, "GET", &format!("/offers/{id}"), None).await;
    assert_eq!(got.json, created.json);

    let mut lb = offer(&leadbit);
    lb["params"] = json!({"leadbit": "a1b2", "leadsite": "keto.example"});
    lb["tracking_url"] = json!("https://leadbit.example/a1b2?sub1={click_id}");
    let lb = call(&router, "POST", "/offers", Some(lb)).await;
    assert_eq!(lb.status, StatusCode::CREATED, "{}", lb.text);

    let all = call(&router, "GET", "/offers", None).await;
    assert_eq!(all.json["items"].as_array().unwrap().len(), 2);
    let only = call(
        &router,
        "GET",
        &format!("/offers?integration_id={leadbit}"),
        None,
    )
    .await;
    let items = only.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["params"]["leadsite"], "keto.example");

    let patched = call(
        &router,
        "PATCH",
        &format!("/offers/{id}"),
        Some(json!({"payout": 15, "status": "paused"})),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.json["payout"], "15");
    assert_eq!(patched.json["status"], "paused");
    let history = patched.json["payout_history"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["from"], "12.5");
    assert_eq!(history[0]["to"], "15");
}

#[tokio::test]
async fn leadbit_stream_hash_has_four_characters() {
    let (router, _, leadbit) = setup().await;
    for (hash, ok) in [
        ("toolong", false),
        ("Ab3", false),
        ("", false),
        ("Ab3x", true),
    ] {
        let mut body = offer(&leadbit);
        body["params"] = json!({"leadbit": hash, "leadsite": "keto.example"});
        let reply = call(&router, "POST", "/offers", Some(body)).await;
        if ok {
            assert_eq!(reply.status, StatusCode::CREATED, "{hash}: {}", reply.text);
            continue;
        }
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{hash}: {}",
            reply.text
        );
        assert_eq!(reply.json["error"]["field"], "params.leadbit");
        let message = reply.json["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("exactly 4 characters") && message.contains("four characters"),
            "{message}"
        );
    }
    // The catalogue says the same.
    let networks = call(&router, "GET", "/networks", None).await;
    let lb = networks.json["networks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["slug"] == "leadbit")
        .unwrap();
    assert_eq!(lb["params"][0]["key"], "leadbit");
    assert_eq!(lb["params"][0]["length"], 4);
}

#[tokio::test]
async fn invalid_offers_are_refused_and_nothing_is_stored() {
    let (router, tune, leadbit) = setup().await;
    let with = |field: &str, value: Value| {
        let mut body = offer(&tune);
        body[field] = value;
        body
    };
    let cases = vec![
        (
            with("tracking_url", json!("https://x.example/?aff_click_id=1")),
            "tracking_url",
        ),
        (
            with("tracking_url", json!("javascript:alert(1)//{click_id}")),
            "tracking_url",
        ),
        (
            with("tracking_url", json!("/relative?c={click_id}")),
            "tracking_url",
        ),
        (with("payout", json!("-1")), "payout"),
        (with("payout", json!("1e3")), "payout"),
        (with("payout", json!("2000000")), "payout"),
        (with("currency", json!("XYZ")), "currency"),
        (with("payout_type", json!("cpx")), "payout_type"),
        (with("status", json!("deleted")), "status"),
        (with("integration_id", json!("01NOPE")), "integration_id"),
        (with("colour", json!("red")), "colour"),
        (offer(&leadbit), "params.leadbit"),
        (with("params", json!({"zcpa": "1"})), "params.zcpa"),
    ];
    for (body, field) in cases {
        let reply = call(&router, "POST", "/offers", Some(body.clone())).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.text
        );
        assert_eq!(
            reply.json["error"]["field"], field,
            "{body}: {}",
            reply.text
        );
    }
    let all = call(&router, "GET", "/offers", None).await;
    assert_eq!(all.json["items"].as_array().unwrap().len(), 0);
    let missing = call(&router, "GET", "/offers/01NOPE", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
