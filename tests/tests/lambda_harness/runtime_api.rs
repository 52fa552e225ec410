//! A small Lambda Runtime API emulator (the endpoints a custom runtime talks to, as documented in
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>): one per function process,
//! on 127.0.0.1. The test queues an event and waits for the function's response or error; an
//! init failure reported to `/runtime/init/error` is kept for the test to read.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, oneshot};

const PREFIX: &str = "/2018-06-01/runtime";

/// What the function answered to one invocation.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// `POST /invocation/{id}/response`: the handler's value.
    Response(Value),
    /// `POST /invocation/{id}/error`: the error the runtime reported.
    Error { error_type: String, message: String },
}

/// What the function posted to `/init/error`.
#[derive(Debug, Clone)]
pub struct InitFailure {
    /// The `Lambda-Runtime-Function-Error-Type` header.
    pub header_type: Option<String>,
    pub error_type: String,
    pub message: String,
}

struct Pending {
    id: String,
    payload: Value,
    deadline_ms: u64,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Default)]
struct Inner {
    queue: Mutex<VecDeque<Pending>>,
    queued: Notify,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_failure: Mutex<Option<InitFailure>>,
    init_failed: Notify,
    next_id: Mutex<u64>,
    /// When the function first asked for an invocation: its init is over.
    first_poll: Mutex<Option<Instant>>,
}

#[derive(Clone)]
pub struct RuntimeApi {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
    pub function_arn: String,
}

impl RuntimeApi {
    /// Starts the emulator on a free loopback port.
    pub async fn start(function_name: &str) -> RuntimeApi {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route(&format!("{PREFIX}/invocation/next"), get(next))
            .route(
                &format!("{PREFIX}/invocation/{{id}}/response"),
                post(response),
            )
            .route(&format!("{PREFIX}/invocation/{{id}}/error"), post(error))
            .route(&format!("{PREFIX}/init/error"), post(init_error))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        RuntimeApi {
            inner,
            addr,
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
        }
    }

    /// Queues `payload` as the next invocation (its deadline `timeout` from now) and waits for
    /// the function's answer; `None` if none came within `timeout`, as Lambda would then stop
    /// the function.
    pub async fn invoke(&self, payload: Value, timeout: Duration) -> Option<Outcome> {
        let (reply, answer) = oneshot::channel();
        let id = {
            let mut next = self.inner.next_id.lock().unwrap();
            *next += 1;
            format!("req-{:06}", *next)
        };
        let deadline_ms =
            (chrono::Utc::now() + chrono::Duration::from_std(timeout).unwrap()).timestamp_millis();
        self.inner.queue.lock().unwrap().push_back(Pending {
            id,
            payload,
            deadline_ms: deadline_ms as u64,
            reply,
        });
        self.inner.queued.notify_one();
        tokio::time::timeout(timeout, answer).await.ok()?.ok()
    }

    /// When the function first polled `/invocation/next` (the end of its init), if it has.
    pub fn first_poll(&self) -> Option<Instant> {
        *self.inner.first_poll.lock().unwrap()
    }

    /// Waits up to `timeout` for an init failure report.
    pub async fn init_failure(&self, timeout: Duration) -> Option<InitFailure> {
        let wait = async {
            loop {
                let notified = self.inner.init_failed.notified();
                if let Some(failure) = self.inner.init_failure.lock().unwrap().clone() {
                    return failure;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
    }
}

/// `GET /invocation/next`: long-polls until the test queues an event.
async fn next(State(inner): State<Arc<Inner>>) -> Response {
    inner
        .first_poll
        .lock()
        .unwrap()
        .get_or_insert_with(Instant::now);
    let pending = loop {
        let notified = inner.queued.notified();
        if let Some(pending) = inner.queue.lock().unwrap().pop_front() {
            break pending;
        }
        notified.await;
    };
    inner
        .in_flight
        .lock()
        .unwrap()
        .insert(pending.id.clone(), pending.reply);
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", pending.id.parse().unwrap());
    headers.insert(
        "lambda-runtime-deadline-ms",
        pending.deadline_ms.to_string().parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:affnet"
            .parse()
            .unwrap(),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0"
            .parse()
            .unwrap(),
    );
    headers.insert("content-type", "application/json".parse().unwrap());
    (StatusCode::OK, headers, pending.payload.to_string()).into_response()
}

fn answer(inner: &Inner, id: &str, outcome: Outcome) -> StatusCode {
    match inner.in_flight.lock().unwrap().remove(id) {
        Some(reply) => {
            let _ = reply.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    answer(&inner, &id, Outcome::Response(value))
}

/// The `{errorType, errorMessage}` body the runtime posts.
fn diagnostic(body: &[u8]) -> (String, String) {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |key: &str| value[key].as_str().unwrap_or_default().to_string();
    (text("errorType"), text("errorMessage"))
}

async fn error(State(inner): State<Arc<Inner>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let (error_type, message) = diagnostic(&body);
    answer(
        &inner,
        &id,
        Outcome::Error {
            error_type,
            message,
        },
    )
}

async fn init_error(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let (error_type, message) = diagnostic(&body);
    *inner.init_failure.lock().unwrap() = Some(InitFailure {
        header_type: headers
            .get("lambda-runtime-function-error-type")
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        error_type,
        message,
    });
    inner.init_failed.notify_waiters();
    StatusCode::ACCEPTED
}
