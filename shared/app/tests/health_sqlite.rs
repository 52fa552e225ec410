//! Integration health and the silence watch on the embedded (SQLite) store, and the
//! `silence_hours` setting's validation through the integrations API.

mod health_cases;
mod pb_support;
mod support;

use affnet_app::{Config, router};
use affnet_store::{ItemStore, SqliteStore};
use axum::http::StatusCode;
use serde_json::json;
use std::sync::Arc;
use support::{call, sqlite_state};

async fn fresh() -> Arc<dyn ItemStore> {
    Arc::new(SqliteStore::in_memory().expect("in-memory sqlite"))
}

health_suite!(fresh());

/// `settings.silence_hours`: 1 to 720, a whole number, 24 when absent; anything else is a 400
/// naming the field and changes nothing.
#[tokio::test]
async fn silence_hours_is_validated_and_defaults_to_24() {
    let router = router::local(sqlite_state(Config::for_tests()));
    let create = |settings| json!({"network": "leadbit", "name": "L", "credentials": {"api_key": "k"}, "settings": settings});
    for bad in [json!(0), json!(721), json!(-3), json!("24"), json!(2.5)] {
        let r = call(
            &router,
            "POST",
            "/integrations",
            Some(create(json!({ "silence_hours": bad }))),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
        assert_eq!(
            r.json["error"]["field"], "settings.silence_hours",
            "{}",
            r.text
        );
    }
    let listed = call(&router, "GET", "/integrations", None).await;
    assert_eq!(listed.json["items"], json!([]), "nothing was stored");

    let made = call(&router, "POST", "/integrations", Some(create(json!({})))).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let id = made.json["id"].as_str().unwrap();
    let health = call(&router, "GET", &format!("/integrations/{id}/health"), None).await;
    assert_eq!(
        health.json["silence"]["silence_hours"], 24,
        "{}",
        health.text
    );
    for (hours, status) in [
        (1, StatusCode::OK),
        (720, StatusCode::OK),
        (721, StatusCode::BAD_REQUEST),
    ] {
        let r = call(
            &router,
            "PATCH",
            &format!("/integrations/{id}"),
            Some(json!({"settings": {"silence_hours": hours}})),
        )
        .await;
        assert_eq!(r.status, status, "{hours}: {}", r.text);
    }
    let r = call(&router, "GET", &format!("/integrations/{id}"), None).await;
    assert_eq!(
        r.json["settings"]["silence_hours"], 720,
        "the refused patch changed nothing"
    );
    let health = call(&router, "GET", &format!("/integrations/{id}/health"), None).await;
    assert_eq!(health.json["silence"]["silence_hours"], 720);
}
