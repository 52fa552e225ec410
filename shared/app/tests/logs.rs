//! What is logged: every path that handles a credential, a postback token, the click key or the
//! admin token is run with the log captured at TRACE (every crate: ours, reqwest, hyper), and no
//! secret may appear in it, in any encoding. (The CPA paths: lead_logs.rs.)

mod support;

use affnet_app::{Config, router};
use affnet_tune::Mode;
use affnet_tune::mock::{MockTune, fixtures, key_for};
use axum::http::StatusCode;
use serde_json::json;
use support::{Captured, call, sqlite_state};

/// `secret` as it may appear in a log: raw, percent-encoded, or JSON-escaped.
fn forms(secret: &str) -> Vec<String> {
    vec![
        secret.to_string(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        serde_json::to_string(secret)
            .unwrap()
            .trim_matches('"')
            .to_string(),
    ]
}

#[tokio::test]
async fn no_credential_or_token_is_ever_logged() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test's runtime runs on this thread: everything it logs is captured.
    let _guard = tracing::subscriber::set_default(subscriber);

    let state = sqlite_state(Config::for_tests());
    let app = router::local(state);
    let tune = MockTune::start().await;
    tune.mount_advertisers(&[("100", "Acme")]).await;
    tune.mount_offers(
        Mode::Network,
        (1..=3).map(fixtures::network_offer_row).collect(),
    )
    .await;

    // A TUNE integration: created, tested, listed, synced, its key replaced.
    let tune_key = key_for(Mode::Network);
    let created = call(
        &app,
        "POST",
        "/integrations",
        Some(
            json!({"network": "tune", "name": "T", "credentials": {"api_key": tune_key},
                    "settings": {"network_id": "demo", "api_domain": tune.uri()}}),
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_string();
    let tune_token = created.json["postback_token"].as_str().unwrap().to_string();
    let tested = call(&app, "POST", &format!("/integrations/{id}/test"), None).await;
    assert_eq!(tested.json["ok"], true, "{}", tested.text);
    call(
        &app,
        "GET",
        &format!("/integrations/{id}/remote-offers"),
        None,
    )
    .await;
    let synced = call(&app, "POST", &format!("/integrations/{id}/sync"), None).await;
    assert_eq!(synced.status, StatusCode::OK, "{}", synced.text);
    let new_key = "NETreplaced+key/with\"odd chars";
    let patched = call(
        &app,
        "PATCH",
        &format!("/integrations/{id}"),
        Some(json!({"credentials": {"api_key": new_key}})),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    // The replaced key fails at TUNE: the error path logs too.
    call(&app, "POST", &format!("/integrations/{id}/test"), None).await;

    // A CPA integration and its postbacks: accepted, refused, AlterCPA-style.
    let cpa = call(
        &app,
        "POST",
        "/integrations",
        Some(json!({"network": "leadbit", "name": "L",
                    "credentials": {"api_key": "leadbit-secret-token-4242"}})),
    )
    .await;
    let cpa_id = cpa.json["id"].as_str().unwrap().to_string();
    let cpa_token = cpa.json["postback_token"].as_str().unwrap().to_string();
    for uri in [
        format!("/postback/{cpa_id}?token={cpa_token}&oid=x1&eid=L-1&status=confirm&pay=1&cc=USD"),
        format!("/postback/{cpa_id}?token={cpa_token}x&oid=x1&eid=L-2&status=confirm"),
        format!("/api/sale/status.json?id={cpa_id}-{cpa_token}&oid=x1&eid=L-3&status=reject"),
        format!("/postback/{id}?token={tune_token}&transaction_id=t1&payout=2"),
    ] {
        let r = call(&app, "GET", &uri, None).await;
        assert!(
            r.status.is_success() || r.status.is_client_error(),
            "{uri}: {}",
            r.text
        );
    }

    // A click on a TUNE offer and its postback by click ID: the click key signs and verifies.
    let offer = call(
        &app,
        "POST",
        "/offers",
        Some(
            json!({"integration_id": id, "name": "O", "payout": "1", "currency": "USD",
                    "tracking_url": "https://t.example/c?aff_click_id={click_id}"}),
        ),
    )
    .await;
    assert_eq!(offer.status, StatusCode::CREATED, "{}", offer.text);
    let click = call(
        &app,
        "GET",
        &format!("/c/{}?msg=m1&cr=c1", offer.json["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(click.status, StatusCode::FOUND, "{}", click.text);

    // The admin token: a request with it, and one with a wrong one (what a caller typed is a
    // secret too).
    const ADMIN: &str = "adm1n-s3cret/token+77";
    const WRONG: &str = "adm1n-s3cret/token+78";
    let guarded = router::local(sqlite_state(Config {
        admin_token: Some(ADMIN.into()),
        ..Config::for_tests()
    }));
    for (token, status) in [(ADMIN, StatusCode::OK), (WRONG, StatusCode::UNAUTHORIZED)] {
        let request = axum::http::Request::builder()
            .uri("/integrations")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let reply = support::send(&guarded, request).await;
        assert_eq!(reply.status, status, "{}", reply.text);
    }

    let log = captured.text();
    assert!(log.contains("postback"), "the log was captured: {log}");
    assert!(log.contains("/c/"), "the click was logged: {log}");
    for secret in [
        tune_key,
        new_key,
        "leadbit-secret-token-4242",
        &tune_token,
        &cpa_token,
        affnet_app::config::TEST_CLICK_SECRET,
        ADMIN,
        WRONG,
    ] {
        for form in forms(secret) {
            assert!(!log.contains(&form), "`{form}` appears in the log:\n{log}");
        }
    }
}
