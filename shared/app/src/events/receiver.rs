//! A local webhook receiver for tests (feature `testing`; axum on 127.0.0.1): records every
//! request's headers and body and answers 500 to the first `failing` requests, 204 after.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Delivery {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// What the receiver answered.
    pub status: u16,
}

impl Delivery {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

#[derive(Default)]
struct Inner {
    failing: AtomicU32,
    received: Mutex<Vec<Delivery>>,
}

#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Inner>,
    pub url: url::Url,
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let failed = inner
        .failing
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = match failed {
        true => StatusCode::INTERNAL_SERVER_ERROR,
        false => StatusCode::NO_CONTENT,
    };
    inner.received.lock().unwrap().push(Delivery {
        headers,
        body,
        status: status.as_u16(),
    });
    status
}

impl Receiver {
    /// A receiver at `http://127.0.0.1:<port>/hooks/affnet?token=t0k3n`.
    pub async fn start(failing: u32) -> Receiver {
        let inner = Arc::new(Inner::default());
        inner.failing.store(failing, Ordering::SeqCst);
        let app = Router::new()
            .route("/hooks/affnet", axum::routing::post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let url = format!("http://{addr}/hooks/affnet?token=t0k3n")
            .parse()
            .unwrap();
        Receiver { inner, url }
    }

    pub fn received(&self) -> Vec<Delivery> {
        self.inner.received.lock().unwrap().clone()
    }

    /// The deliveries it accepted (2xx).
    pub fn accepted(&self) -> Vec<Delivery> {
        self.received()
            .into_iter()
            .filter(|d| d.status < 300)
            .collect()
    }

    /// Waits until `count` deliveries were accepted (at most 20 s).
    pub async fn wait_for(&self, count: usize) -> Vec<Delivery> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let accepted = self.accepted();
            if accepted.len() >= count || Instant::now() > deadline {
                return accepted;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
