//! Test helpers: drive a router like a client would (through tower, the real router).
#![allow(dead_code)]

use affnet_app::{AppState, Config};
use affnet_store::{ItemStore, SqliteStore};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

pub fn sqlite_state(config: Config) -> AppState {
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::in_memory().unwrap());
    AppState::new(store, config)
}

pub struct Reply {
    pub status: StatusCode,
    pub text: String,
    pub json: Value,
}

pub async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply { status, text, json }
}

pub async fn call(router: &Router, method: &str, path: &str, body: Option<Value>) -> Reply {
    let builder = Request::builder().method(method).uri(path);
    let request = match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .unwrap();
    send(router, request).await
}

/// Every event of the feed (`GET /events?type=...&after=...`, paged until a page is empty),
/// oldest first.
pub async fn events(router: &Router, types: Option<&str>) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let types = types.map(|t| format!("&type={t}")).unwrap_or_default();
        let reply = call(
            router,
            "GET",
            &format!("/events?limit=100{types}{after}"),
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let items = reply.json["items"].as_array().unwrap().clone();
        if items.is_empty() {
            return all;
        }
        all.extend(items);
        let next = reply.json["next_cursor"]
            .as_str()
            .expect("a cursor after items");
        after = format!("&after={next}");
    }
}

/// Log lines written into a shared buffer (a `tracing` writer for tests that check what is
/// logged).
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).to_string()
    }
}
