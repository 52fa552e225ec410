//! Clicks and reports through the real router on the embedded (SQLite) store, plus what only
//! needs one store: storage faults and the Lambda source address.

mod click_cases;
mod support;

use affnet_store::{ItemStore, SqliteStore};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use click_cases::Env;
use std::sync::Arc;

async fn fresh() -> Arc<dyn ItemStore> {
    Arc::new(SqliteStore::in_memory().expect("in-memory sqlite"))
}

click_suite!(fresh());

/// A failed click write still redirects (the signed ID carries the attribution); only the
/// record and its count are lost.
#[tokio::test]
async fn a_failed_write_still_redirects() {
    let env = Env::new(fresh().await).await;
    let offer = env.offer("Keto").await;
    env.faults.fail_writes(1);
    let reply = env.get(&format!("/c/{offer}?msg=m1"), &[]).await;
    assert_eq!(reply.status, StatusCode::FOUND);
    let id = reply.click_id();
    assert!(affnet_core::clickid::ClickId::verify(&env.state.config.click_key, &id).is_ok());
    assert!(env.state.repo.get_click(&id).await.unwrap().is_none());
    // The next click is stored again.
    let id = env.click(&offer, "msg=m1").await;
    assert!(env.state.repo.get_click(&id).await.unwrap().is_some());
}

/// Without the offer there is nothing to redirect to: 503, so the visitor can retry.
#[tokio::test]
async fn a_failed_offer_read_is_503() {
    let env = Env::new(fresh().await).await;
    let offer = env.offer("Keto").await;
    env.faults.fail_reads(1);
    let reply = env.get(&format!("/c/{offer}"), &[]).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.json["error"]["code"], "storage_unavailable");
    assert!(reply.header("location").is_none());
}

/// On Lambda there is no socket: the address comes from API Gateway's request context.
#[tokio::test]
async fn lambda_source_ip_is_stored() {
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
    use lambda_http::request::RequestContext;
    let env = Env::new(fresh().await).await;
    let offer = env.offer("Keto").await;
    let ctx: ApiGatewayV2httpRequestContext = serde_json::from_value(serde_json::json!({
        "http": {"method": "GET", "path": "/c", "protocol": "HTTP/1.1", "sourceIp": "198.51.100.9", "userAgent": "ua"}
    }))
    .unwrap();
    let mut request = Request::get(format!("/c/{offer}"))
        .body(Body::empty())
        .unwrap();
    request
        .extensions_mut()
        .insert(RequestContext::ApiGatewayV2(ctx));
    let reply = env.send(request).await;
    assert_eq!(reply.status, StatusCode::FOUND);
    let click = env
        .state
        .repo
        .get_click(&reply.click_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(click.ip.as_deref(), Some("198.51.100.9"));
    assert_eq!(click.user_agent, None);
}
