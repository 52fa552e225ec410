//! A mock network (wiremock) and readers for what it received.

#![allow(dead_code)]

use affnet_networks::{Account, LeadFields};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use wiremock::{Mock, MockServer, Request, ResponseTemplate, matchers::any};

pub const CLICK: &str = "AQGZx3kT_click-Id_0123456789abcdefghijklmnop";
pub const KEY: &str = "KEY-s3cr3t-0001";
pub const SECRET: &str = "SECRET-s3cr3t-0002";
pub const USER: &str = "7731";

pub fn credentials(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn account<'a>(
    credentials: &'a BTreeMap<String, String>,
    base: &'a str,
    timeout_ms: u64,
) -> Account<'a> {
    Account {
        credentials,
        api_url: Some(base),
        timeout: Duration::from_millis(timeout_ms),
        allow_private: true,
    }
}

pub fn lead(params: &[(&str, &str)]) -> LeadFields {
    LeadFields {
        lead_id: "ld_01TEST".into(),
        click_id: CLICK.into(),
        name: "Anna Maria".into(),
        phone: "+491512345678".into(),
        country: "DE".into(),
        email: Some("anna@example.com".into()),
        address: Some("Hauptstr. 1".into()),
        comment: Some("after 6 pm".into()),
        ip: Some("93.159.233.130".into()),
        user_agent: Some("Mozilla/5.0".into()),
        referrer: Some("https://landing.example/keto".into()),
        language: Some("de".into()),
        quantity: Some(2),
        price: Some("49.90".parse().unwrap()),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// A mock answering every request with `status` and `body` after `delay`.
pub async fn network(status: u16, body: &str, delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(status)
                .set_body_string(body)
                .insert_header("content-type", "application/json")
                .set_delay(delay),
        )
        .mount(&server)
        .await;
    server
}

pub async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

/// The query's pairs.
pub fn query(request: &Request) -> Vec<(String, String)> {
    request
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The body's fields: a form's pairs, or a JSON object's leaves by dotted path.
pub fn body(request: &Request) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(&request.body).to_string();
    if let Ok(json) = serde_json::from_str::<Value>(&text) {
        let mut out = Vec::new();
        flatten("", &json, &mut out);
        return out;
    }
    serde_urlencoded::from_str(&text).unwrap_or_default()
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

pub fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// What makes a credential hard to mask: `+`, a space, `/`, `"` and non-ASCII.
pub const ODD: &str = r#"+k y/"ключ"#;

/// `pairs` with every value given the [`ODD`] tail (`KEY-s3cr3t-0001+k y/"ключ`).
pub fn odd_credentials(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), format!("{v}{ODD}")))
        .collect()
}

/// The forms a network or proxy echoes `secret` in: as is, JSON-escaped (`\"`, `\/`,
/// `\u0022`), percent-encoded (lower-case hex, `%20` for a space) and HTML-escaped.
pub fn echoes(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap();
    let json = json.trim_matches('"').replace('/', "\\/");
    let unicode = json.replace("\\\"", "\\u0022").replace("\\/", "\\u002f");
    let percent: String = secret
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02x}"),
        })
        .collect();
    let html = secret.replace('"', "&quot;").replace('+', "&#43;");
    vec![secret.to_string(), json, unicode, percent, html]
}

/// Reply bodies echoing every credential in every form of [`echoes`]: a proxy's text quoting
/// them as they are, and a JSON error whose `message` holds them all (so its text has them
/// JSON-escaped once more, and the decoded message as they are).
pub fn echo_replies(credentials: &BTreeMap<String, String>) -> Vec<String> {
    let mut forms = Vec::new();
    for value in credentials.values() {
        forms.extend(echoes(value));
    }
    let quoted = forms.join("&amp;k=");
    vec![
        format!("<html><p>bad key; you sent ?k={quoted}</p></html>"),
        serde_json::json!({"message": format!("bad key {}", forms.join(" k="))}).to_string(),
    ]
}

/// Fails if `text` holds any form of any credential.
pub fn assert_masked(text: &str, credentials: &BTreeMap<String, String>, what: &str) {
    for value in credentials.values() {
        for form in echoes(value) {
            assert!(!text.contains(&form), "{what}: {form:?} leaked in {text}");
        }
        // Not even a piece: the odd tail in any form.
        for piece in ["k y", "k+y", "k%20y", "%d0%ba", "ключ", "\\u043a"] {
            assert!(!text.contains(piece), "{what}: {piece:?} leaked in {text}");
        }
    }
}
