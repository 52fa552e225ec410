//! A lead's personal data never reaches the log: every lead path (sent, queued, retried,
//! rejected, status loading scheduled and on demand, the admin's read, the connection test) runs
//! with the log captured at TRACE, and the name, phone, e-mail and address (and the network's
//! key) may not appear in it, in any encoding.

mod lead_cases;
mod pb_support;
mod support;

use affnet_app::leads::jobs;
use affnet_store::{ItemStore, SqliteStore};
use lead_cases::Env;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::Captured;

#[tokio::test]
async fn personal_data_is_never_logged() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::in_memory().unwrap());
    let env = Env::webvork(store).await;
    env.answer("GET", "/v1/new-lead", 503, "down", Duration::ZERO, Some(1))
        .await;
    env.answer(
        "GET",
        "/v1/new-lead",
        200,
        r#"{"status":"error","msg":"bad phone +48601234567"}"#,
        Duration::ZERO,
        Some(1),
    )
    .await;
    env.answer(
        "GET",
        "/v1/new-lead",
        200,
        r#"{"status":"ok","guid":"G-1"}"#,
        Duration::ZERO,
        None,
    )
    .await;
    env.answer(
        "GET",
        "/v1/get-lead-status",
        200,
        r#"[{"guid":"G-1","status":"confirmed"}]"#,
        Duration::ZERO,
        None,
    )
    .await;
    let queued = env.post_lead(&env.body(&env.click().await), None).await;
    let rejected = env.post_lead(&env.body(&env.click().await), None).await;
    let sent = env.post_lead(&env.body(&env.click().await), None).await;
    assert_eq!(
        [&queued, &rejected, &sent]
            .map(|r| r.json["status"].as_str().unwrap_or_default().to_string()),
        ["queued", "rejected", "sent"]
    );
    jobs::run_lead_jobs(&env.pb.state).await;
    // Status loading as its schedule runs it, and on demand below.
    affnet_app::leads::status_sync::run_scheduled(&env.pb.state, &env.integration.id)
        .await
        .unwrap();
    jobs::run_retries(
        &env.pb.state,
        chrono::Utc::now() + chrono::Duration::hours(1),
    )
    .await
    .unwrap();
    let _ = env
        .pb
        .post(
            &format!("/integrations/{}/status-sync", env.integration.id),
            "application/json",
            "",
        )
        .await;
    let _ = env.lead(sent.json["lead_id"].as_str().unwrap()).await;
    // The connection test sends the key too (WebVork's read-only call).
    let _ = env
        .pb
        .post(
            &format!("/integrations/{}/test", env.integration.id),
            "application/json",
            "",
        )
        .await;
    let bad = env.post_lead(&json!({"click_id": env.click().await, "name": "Zofia Nowak", "phone": "+48 601 234 567", "country": "XX"}), None).await;
    assert_eq!(bad.status, axum::http::StatusCode::BAD_REQUEST);

    let log = captured.text();
    assert!(log.contains("lead attempt"), "the lead paths did log");
    for secret in [
        "Zofia",
        "Nowak",
        "601 234 567",
        "601234567",
        "zofia@example.com",
        "Długa",
        lead_cases::KEY,
    ] {
        for form in [
            secret.to_string(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>(),
            serde_json::to_string(secret)
                .unwrap()
                .trim_matches('"')
                .to_string(),
        ] {
            assert!(!log.contains(&form), "`{form}` is in the log");
        }
    }
}
