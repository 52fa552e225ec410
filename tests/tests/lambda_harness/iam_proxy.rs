//! DynamoDB as one function sees it: a proxy in front of moto that enforces the function's IAM
//! grants, read from template.yaml, the way DynamoDB does. It reads the action from
//! `X-Amz-Target: DynamoDB_20120810.<Action>` (a transaction needs the action of each of its
//! elements: PutItem, UpdateItem, DeleteItem, ConditionCheckItem) and answers an action the
//! function is not granted with DynamoDB's `AccessDeniedException` (400); Secrets Manager calls
//! (`X-Amz-Target: secretsmanager.<Action>`) are checked the same way. It can also stall chosen
//! actions: accept the request, read it and never answer (a hanging DynamoDB); or lose replies:
//! let the request reach moto (the write lands) and hold its answer past the SDK's attempt
//! timeout (an answer lost on the way back).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which requests never get an answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Stall {
    #[default]
    Nothing,
    /// These DynamoDB actions (X-Amz-Target names, e.g. `TransactWriteItems`).
    Actions(BTreeSet<String>),
    /// Every request.
    Everything,
    /// The first `times` requests of `action` reach moto, and their answers are held back
    /// for `hold` (the SDK gives up on the attempt and tries again).
    LoseReplies {
        action: String,
        times: u32,
        hold: Duration,
    },
}

struct Inner {
    function: String,
    moto: String,
    granted: BTreeSet<String>,
    http: reqwest::Client,
    stall: Mutex<Stall>,
    /// IAM actions the function asked for, granted or not.
    asked: Mutex<BTreeSet<String>>,
    denied: Mutex<Vec<String>>,
    /// One request at a time into moto (see affnet_store::testing).
    one_at_a_time: tokio::sync::Mutex<()>,
    upstream: Mutex<Upstream>,
}

/// Requests forwarded to moto, and when each request was in the proxy: from its arrival to its
/// answer, or to the moment the function gave up on it (an SDK attempt timeout closes the
/// connection, which drops the request here). Requests still in the proxy are `open`.
#[derive(Default)]
struct Upstream {
    forwarded: u64,
    next: u64,
    open: BTreeMap<u64, Instant>,
    spans: Vec<(Instant, Instant)>,
}

/// One request's stay in the proxy, closed when it is answered or dropped.
struct Stay {
    inner: Arc<Inner>,
    id: u64,
}

impl Stay {
    fn begin(inner: &Arc<Inner>) -> Stay {
        let mut upstream = inner.upstream.lock().unwrap();
        let id = upstream.next;
        upstream.next += 1;
        upstream.open.insert(id, Instant::now());
        Stay {
            inner: inner.clone(),
            id,
        }
    }
}

impl Drop for Stay {
    fn drop(&mut self) {
        let mut upstream = self.inner.upstream.lock().unwrap();
        if let Some(arrived) = upstream.open.remove(&self.id) {
            upstream.spans.push((arrived, Instant::now()));
        }
    }
}

#[derive(Clone)]
pub struct IamProxy {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
}

impl IamProxy {
    /// A proxy to `moto` for `function`, allowing the DynamoDB actions in `granted`
    /// (`dynamodb:GetItem`, ...).
    pub async fn start(function: &str, moto: &str, granted: BTreeSet<String>) -> IamProxy {
        let inner = Arc::new(Inner {
            function: function.to_string(),
            moto: moto.trim_end_matches('/').to_string(),
            granted,
            http: affnet_netguard::tls::client_builder().build().unwrap(),
            stall: Mutex::default(),
            asked: Mutex::default(),
            denied: Mutex::default(),
            one_at_a_time: tokio::sync::Mutex::new(()),
            upstream: Mutex::default(),
        });
        let app = Router::new().fallback(forward).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        IamProxy { inner, addr }
    }

    /// Requests forwarded to moto so far.
    pub fn forwarded(&self) -> u64 {
        self.inner.upstream.lock().unwrap().forwarded
    }

    /// Requests that reached the proxy so far, answered or not.
    pub fn arrived(&self) -> u64 {
        self.inner.upstream.lock().unwrap().next
    }

    /// How long, between `from` and `to`, at least one request was in the proxy (waiting for
    /// moto, or for its turn at moto): the union of the requests' stays, so that an attempt
    /// the function gave up on and its retry are counted once.
    pub fn waited_within(&self, from: Instant, to: Instant) -> Duration {
        let upstream = self.inner.upstream.lock().unwrap();
        let mut stays: Vec<(Instant, Instant)> = upstream
            .spans
            .iter()
            .copied()
            .chain(upstream.open.values().map(|&arrived| (arrived, to)))
            .map(|(start, end)| (start.max(from), end.min(to)))
            .filter(|(start, end)| start < end)
            .collect();
        stays.sort();
        let (mut waited, mut covered) = (Duration::ZERO, from);
        for (start, end) in stays {
            let start = start.max(covered);
            if end > start {
                waited += end - start;
                covered = end;
            }
        }
        waited
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stall(&self, stall: Stall) {
        *self.inner.stall.lock().unwrap() = stall;
    }

    /// Every IAM action the function asked for so far.
    pub fn asked(&self) -> BTreeSet<String> {
        self.inner.asked.lock().unwrap().clone()
    }

    /// Actions refused so far (`dynamodb:DeleteItem`, ...).
    pub fn denied(&self) -> Vec<String> {
        self.inner.denied.lock().unwrap().clone()
    }
}

/// The IAM actions a DynamoDB request needs.
fn iam_actions(action: &str, body: &Value) -> Vec<String> {
    if action != "TransactWriteItems" {
        return vec![format!("dynamodb:{action}")];
    }
    let elements = body["TransactItems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut needed: Vec<String> = elements
        .iter()
        .filter_map(|element| element.as_object()?.keys().next().cloned())
        .map(|kind| match kind.as_str() {
            "ConditionCheck" => "dynamodb:ConditionCheckItem".to_string(),
            other => format!("dynamodb:{other}Item"),
        })
        .collect();
    needed.sort();
    needed.dedup();
    needed
}

async fn forward(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _stay = Stay::begin(&inner);
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let action = target.strip_prefix("DynamoDB_20120810.").map(String::from);
    if let Some(call) = target.strip_prefix("secretsmanager.") {
        let needed = format!("secretsmanager:{call}");
        inner.asked.lock().unwrap().insert(needed.clone());
        if !inner.granted.contains(&needed) {
            inner.denied.lock().unwrap().push(needed.clone());
            return access_denied(&inner.function, &needed, "click-secret");
        }
    }
    let (stalled, lose_reply) = {
        let mut stall = inner.stall.lock().unwrap();
        match (&mut *stall, &action) {
            (Stall::Everything, _) => (true, None),
            (Stall::Actions(set), Some(action)) => (set.contains(action), None),
            (
                Stall::LoseReplies {
                    action: lost,
                    times,
                    hold,
                },
                Some(action),
            ) if lost == action && *times > 0 => {
                *times -= 1;
                (false, Some(*hold))
            }
            _ => (false, None),
        }
    };
    if stalled {
        // Read the request (done: axum read the body) and never answer.
        std::future::pending::<()>().await;
    }
    if let Some(action) = &action {
        let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let table = parsed["TableName"].as_str().unwrap_or("affnet");
        for needed in iam_actions(action, &parsed) {
            inner.asked.lock().unwrap().insert(needed.clone());
            if !inner.granted.contains(&needed) {
                inner.denied.lock().unwrap().push(needed.clone());
                return access_denied(&inner.function, &needed, table);
            }
        }
    }
    let one = inner.one_at_a_time.lock().await;
    let mut request = inner
        .http
        .request(method, format!("{}{}", inner.moto, uri))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("moto: {e}")).into_response(),
    };
    let status = answer.status();
    let mut out = HeaderMap::new();
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            out.insert(name.clone(), value.clone());
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    inner.upstream.lock().unwrap().forwarded += 1;
    if let Some(hold) = lose_reply {
        drop(one);
        tokio::time::sleep(hold).await;
    }
    (status, out, bytes).into_response()
}

fn access_denied(function: &str, action: &str, table: &str) -> Response {
    let body = json!({
        "__type": "com.amazon.coral.service#AccessDeniedException",
        "Message": format!(
            "User: arn:aws:sts::123456789012:assumed-role/{function}-role/{function} is not \
             authorized to perform: {action} on resource: \
             arn:aws:dynamodb:us-east-1:123456789012:table/{table} because no identity-based \
             policy allows the {action} action"
        ),
    });
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}
