//! Reading replies: dotted paths into JSON, and what a reply means for a lead or a test.

use crate::lead::{SendOutcome, Transient};
use crate::request::RawReply;
use crate::spec::Reply;
use serde_json::Value;

/// The value at a dotted path (`data.id`, `items.0.status`), as text; empty path = the root.
pub fn at<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return Some(root);
    }
    path.split('.').try_fold(root, |v, part| match v {
        Value::Object(map) => map.get(part),
        Value::Array(list) => part.parse::<usize>().ok().and_then(|i| list.get(i)),
        _ => None,
    })
}

/// A scalar as text (`null`, objects and lists are none).
pub fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn first(root: &Value, paths: &[String]) -> Option<String> {
    paths.iter().find_map(|p| text(at(root, p)))
}

/// Whether the reply says success (`ok` is `http` or `PATH=V1|V2`).
fn ok(rule: &str, status: u16, json: &Value) -> bool {
    if !(200..300).contains(&status) {
        return false;
    }
    if rule == "http" {
        return true;
    }
    if let Some(path) = rule.strip_suffix('?') {
        return text(at(json, path)).is_some();
    }
    if let Some((path, value)) = rule.split_once("!=") {
        return !text(at(json, path)).is_some_and(|got| got.eq_ignore_ascii_case(value));
    }
    match rule.split_once('=') {
        None => false,
        Some((path, values)) => {
            let got = text(at(json, path)).unwrap_or_default();
            values.split('|').any(|v| v.eq_ignore_ascii_case(&got))
        }
    }
}

/// The network's code and text of a refusal (its HTTP status when it gives no code). `body` is
/// the redacted text of the reply ([`RawReply::text`]), so its cut cannot keep a piece of a key.
fn error_of(reply: &Reply, status: u16, json: &Value, body: &str) -> (Option<String>, String) {
    let code = first(json, &reply.error_code);
    let text = first(json, &reply.error_text).unwrap_or_else(|| {
        let body = body.trim();
        if body.is_empty() {
            format!("HTTP {status}")
        } else {
            body.chars().take(300).collect()
        }
    });
    (code, text)
}

fn listed(list: &[String], code: Option<&str>, status: u16) -> bool {
    let status = status.to_string();
    list.iter()
        .any(|c| Some(c.as_str()) == code || *c == status)
}

/// Whether a refusal speaks of the caller's IP address (a word `IP`, or a whitelist), not of
/// any word that merely holds the letters (`description`, `recipient`).
fn mentions_ip(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains("whitelist")
        || lower.contains("white list")
        || lower
            .split(|c: char| !c.is_alphanumeric())
            .any(|word| word == "ip" || word == "ips" || word == "ipv4")
}

/// Whether `text` holds one of `words` at the start of a word (`ip` in "IP 1.2.3.4", not in
/// "description"; `дубл` in "дубль"): a refusal of a field must not read as a bad key.
fn has_word(words: &[String], text: &str) -> bool {
    let lower = text.to_lowercase();
    words.iter().any(|w| {
        lower.match_indices(w.as_str()).any(|(at, _)| {
            !lower[..at]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric)
        })
    })
}

/// What a send reply means. Transport failures, 429 and 5xx are transient; duplicates and
/// auth refusals are recognised by the spec's codes and words; any other refusal is final.
pub fn classify_send(reply: &Reply, raw: &RawReply) -> SendOutcome {
    if let Some((kind, message)) = &raw.failure {
        return SendOutcome::Retry {
            kind: *kind,
            message: message.clone(),
        };
    }
    let status = raw.status.unwrap_or_default();
    let json: Value = serde_json::from_str(&raw.body).unwrap_or(Value::Null);
    let order_id = reply.order_id.as_deref().and_then(|p| text(at(&json, p)));
    if ok(&reply.ok, status, &json) {
        return SendOutcome::Sent { order_id };
    }
    let (code, message) = error_of(reply, status, &json, &raw.text);
    if listed(&reply.duplicate_codes, code.as_deref(), status)
        || has_word(&reply.duplicate_words, &message)
    {
        return SendOutcome::Duplicate {
            order_id,
            code,
            message,
        };
    }
    let transient = |kind| SendOutcome::Retry {
        kind,
        message: format!("HTTP {status}: {message}"),
    };
    if status == 429 {
        return transient(Transient::RateLimited);
    }
    if status >= 500 {
        return transient(Transient::Server);
    }
    if status == 401
        || listed(&reply.auth_codes, code.as_deref(), status)
        || has_word(&reply.auth_words, &message)
    {
        return transient(Transient::Authentication);
    }
    SendOutcome::Rejected { code, message }
}

/// What a read-only call's reply means for a connection test.
pub fn classify_test(reply: &Reply, raw: &RawReply) -> crate::lead::TestOutcome {
    use crate::lead::TestOutcome;
    if let Some((_, message)) = &raw.failure {
        return TestOutcome::Connection {
            detail: message.clone(),
        };
    }
    let status = raw.status.unwrap_or_default();
    let json: Value = serde_json::from_str(&raw.body).unwrap_or(Value::Null);
    if ok(&reply.ok, status, &json) {
        return TestOutcome::Ok {
            detail: format!("the network answered HTTP {status} and accepted the key"),
        };
    }
    let (_, message) = error_of(reply, status, &json, &raw.text);
    if status >= 500 || status == 429 {
        return TestOutcome::Connection {
            detail: format!("the network answered HTTP {status}: {message}"),
        };
    }
    let fix = if mentions_ip(&message) {
        "add this server's public IPv4 address to the network's IP whitelist"
    } else {
        "check the credentials of the integration (a new key from the network's account)"
    };
    TestOutcome::Authentication {
        detail: format!("HTTP {status}: {message}"),
        fix: fix.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::TestOutcome;
    use std::time::Duration;

    fn refused(body: &str) -> String {
        let raw = RawReply {
            status: Some(403),
            body: body.into(),
            text: body.into(),
            failure: None,
            duration: Duration::ZERO,
        };
        let reply = Reply {
            error_text: vec!["error".into()],
            ..Reply::default()
        };
        match classify_test(&reply, &raw) {
            TestOutcome::Authentication { fix, .. } => fix,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn words_count_at_the_start_of_a_word_only() {
        let words = |list: &[&str]| list.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        let auth = words(&["ip", "check_sum", "user"]);
        assert!(has_word(&auth, "IP 1.2.3.4 is not allowed"));
        assert!(has_word(&auth, "wrong check_sum"));
        assert!(has_word(&auth, "(user_id) unknown"));
        assert!(!has_word(&auth, "invalid description"));
        assert!(!has_word(&auth, "superuser field too long"));
        assert!(has_word(&words(&["дубл"]), "Это дубль заказа"));
    }

    #[test]
    fn the_ip_hint_is_given_only_when_the_network_speaks_of_the_ip() {
        for body in [
            r#"{"error":"Your IP 1.2.3.4 is not allowed"}"#,
            r#"{"error":"IP-адрес не в белом списке"}"#,
            r#"{"error":"add the server to the whitelist"}"#,
        ] {
            assert!(refused(body).contains("IP whitelist"), "{body}");
        }
        for body in [
            r#"{"error":"invalid description of the key"}"#,
            r#"{"error":"recipient unknown"}"#,
        ] {
            assert!(refused(body).contains("credentials"), "{body}");
        }
    }
}
