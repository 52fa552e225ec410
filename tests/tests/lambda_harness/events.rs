//! The events Lambda hands the functions: API Gateway HTTP API (payload format 2.0) requests,
//! and EventBridge Scheduler's payload for a scheduled offer sync.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

/// A request body as API Gateway passes it on.
pub enum Body<'a> {
    None,
    Json(Value),
    /// Form-encoded; API Gateway base64-encodes such bodies (`isBase64Encoded: true`).
    Form(&'a str),
}

/// An HTTP API payload 2.0 event for `method path?query`; `route` is the route key's path
/// (e.g. `/postback/{integration_id}`).
pub fn http(method: &str, route: &str, path: &str, query: &str, body: Body) -> Value {
    let mut headers = Map::new();
    headers.insert(
        "host".into(),
        json!("abc123.execute-api.us-east-1.amazonaws.com"),
    );
    headers.insert("user-agent".into(), json!("affnet-lambda-test"));
    headers.insert("x-forwarded-proto".into(), json!("https"));
    let (body, base64) = match body {
        Body::None => (Value::Null, false),
        Body::Json(value) => {
            headers.insert("content-type".into(), json!("application/json"));
            (json!(value.to_string()), false)
        }
        Body::Form(text) => {
            headers.insert(
                "content-type".into(),
                json!("application/x-www-form-urlencoded"),
            );
            (json!(STANDARD.encode(text)), true)
        }
    };
    let route_key = format!("{method} {route}");
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "requestId": "Aa1Bb2Cc3=",
            "routeKey": route_key,
            "stage": "$default",
            "time": "01/Dec/2026:10:00:00 +0000",
            "timeEpoch": 1_796_119_200_000u64,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "affnet-lambda-test"
            }
        },
        "isBase64Encoded": base64
    });
    if !body.is_null() {
        event["body"] = body;
    }
    event
}

/// A network's form-encoded postback to `POST /postback/{integration}`.
pub fn postback_event(integration: &str, form: &str) -> Value {
    http(
        "POST",
        "/postback/{integration_id}",
        &format!("/postback/{integration}"),
        "",
        Body::Form(form),
    )
}

/// What EventBridge Scheduler sends the offer-sync function (shared/app/src/schedule_aws.rs).
pub fn scheduled_sync(integration_id: &str) -> Value {
    json!({ "integration_id": integration_id })
}

/// An API Gateway response (payload 2.0) as the test reads it.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Map<String, Value>,
    pub body: String,
    pub json: Value,
}

impl HttpResponse {
    pub fn from_lambda(value: &Value) -> HttpResponse {
        let raw = value["body"].as_str().unwrap_or_default();
        let body = match value["isBase64Encoded"].as_bool() {
            Some(true) => String::from_utf8_lossy(&STANDARD.decode(raw).unwrap_or_default()).into(),
            _ => raw.to_string(),
        };
        HttpResponse {
            status: value["statusCode"].as_u64().unwrap_or(0) as u16,
            headers: value["headers"].as_object().cloned().unwrap_or_default(),
            json: serde_json::from_str(&body).unwrap_or(Value::Null),
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    }
}
