//! The TUNE response envelope.
//!
//! `{"request": <echo>, "response": {"status": 1|-1, "httpStatus": .., "data": .., "errors": [..],
//! "errorMessage": ..}}`. The request echo contains the API key: it is never read, logged or
//! returned. Tolerated variants: the 2012 envelope without `httpStatus`/`errorMessage`; the
//! top-level error with no `status` and `errors` as an object; `status` as `"1"`.

use crate::error::{TuneError, classify_message, redact, redact_value};
use serde_json::Value;

/// Parses a body into `response.data` (`Value::Null` when absent), or a classified error.
/// `secret` is redacted from every message.
pub fn parse_body(body: &[u8], secret: &str) -> Result<Value, TuneError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        TuneError::Malformed(format!(
            "body is not JSON ({e}); starts with {:?}",
            preview(body, secret)
        ))
    })?;
    parse_value(value, secret)
}

/// Like [`parse_body`] for an already-parsed document.
pub fn parse_value(value: Value, secret: &str) -> Result<Value, TuneError> {
    let Value::Object(mut top) = value else {
        return Err(TuneError::Malformed("body is not a JSON object".into()));
    };
    // Drop the echo (with the key) right away.
    top.remove("request");
    let Some(Value::Object(mut response)) = top.remove("response") else {
        return Err(TuneError::Malformed("no `response` object".into()));
    };
    let status_ok = match response.get("status") {
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => s.trim() == "1",
        _ => false,
    };
    if status_ok {
        // Whatever TUNE (or a proxy before it) echoes, the key never leaves this crate.
        let mut data = response.remove("data").unwrap_or(Value::Null);
        redact_value(&mut data, secret);
        return Ok(data);
    }
    let messages = error_messages(&response);
    if messages.is_empty() {
        let detail = match response.get("status") {
            None => "no `status` and no error message".to_string(),
            Some(s) => format!("status {s} without an error message"),
        };
        if response.get("status").is_none() {
            return Err(TuneError::Malformed(detail));
        }
        return Err(TuneError::Api {
            message: format!("TUNE reported a failure ({detail})"),
        });
    }
    Err(classify_message(redact(&messages.join("; "), secret)))
}

/// Every distinct error text, in order: `errorMessage`, then each `errors` entry's
/// `publicMessage`, `err_msg`, `message` (entries may be an array or a single object).
fn error_messages(response: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        let s = s.trim();
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    };
    if let Some(Value::String(s)) = response.get("errorMessage") {
        push(s);
    }
    let mut entry = |e: &Value| match e {
        Value::String(s) => push(s),
        Value::Object(o) => {
            for key in ["publicMessage", "err_msg", "message"] {
                if let Some(Value::String(s)) = o.get(key) {
                    push(s);
                }
            }
        }
        _ => {}
    };
    match response.get("errors") {
        Some(Value::Array(items)) => items.iter().for_each(&mut entry),
        Some(obj @ Value::Object(_)) => entry(obj),
        Some(s @ Value::String(_)) => entry(s),
        _ => {}
    }
    out
}

/// The first 80 characters of a body that is not JSON, the key redacted from the whole body
/// first (so a cut cannot leave part of it).
fn preview(body: &[u8], secret: &str) -> String {
    let text = redact(&String::from_utf8_lossy(body), secret);
    text.chars().filter(|c| !c.is_control()).take(80).collect()
}

/// A find-style result: rows keyed by id, with the paging numbers when TUNE sent them.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged {
    /// 1-based page number TUNE reports (1 when unpaged).
    pub page: u32,
    /// Number of pages (1 when unpaged, 0 when TUNE reports no rows).
    pub page_count: u32,
    /// Total rows over all pages.
    pub count: u64,
    /// `(key, row)` pairs, sorted by numeric key. For array data the key is the row index.
    pub rows: Vec<(String, Value)>,
}

/// Interprets `data` of a find-style call. Accepts `{page, pageCount, count, data: {..}|[..]}`,
/// the unpaged `{"<id>": {...}}` map, an array of rows, and `[]`/`null`/`""` for nothing.
pub fn parse_paged(data: Value) -> Result<Paged, TuneError> {
    match data {
        Value::Object(mut map) if map.contains_key("data") && is_paging(&map) => {
            let page = map.get("page").and_then(as_u64).unwrap_or(1);
            let page_count = map.get("pageCount").and_then(as_u64).unwrap_or(1);
            let rows = rows_of(map.remove("data").unwrap_or(Value::Null))?;
            let count = map
                .get("count")
                .and_then(as_u64)
                .unwrap_or(rows.len() as u64);
            Ok(Paged {
                page: clamp_u32(page),
                page_count: clamp_u32(page_count),
                count,
                rows,
            })
        }
        other => {
            let rows = rows_of(other)?;
            Ok(Paged {
                page: 1,
                page_count: u32::from(!rows.is_empty()),
                count: rows.len() as u64,
                rows,
            })
        }
    }
}

fn is_paging(map: &serde_json::Map<String, Value>) -> bool {
    ["page", "pageCount", "count"]
        .iter()
        .any(|k| map.contains_key(*k))
}

fn rows_of(data: Value) -> Result<Vec<(String, Value)>, TuneError> {
    let mut rows: Vec<(String, Value)> = match data {
        Value::Null => Vec::new(),
        Value::String(s) if s.is_empty() => Vec::new(),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        Value::Object(map) => map.into_iter().collect(),
        other => {
            return Err(TuneError::Malformed(format!(
                "expected rows, got {}",
                kind_name(&other)
            )));
        }
    };
    rows.sort_by(|(a, _), (b, _)| {
        let key = |s: &str| s.parse::<u64>().unwrap_or(u64::MAX);
        key(a).cmp(&key(b)).then_with(|| a.cmp(b))
    });
    Ok(rows)
}

/// An integer sent as a number or a string (`1` or `"1"`).
pub fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn clamp_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;

    const KEY: &str = "NETsecret0123456789abcdefghij";

    fn parse(v: Value) -> Result<Value, TuneError> {
        parse_body(v.to_string().as_bytes(), KEY)
    }

    #[test]
    fn success_returns_data_and_drops_echo() {
        let body = json!({"request": {"NetworkToken": KEY, "Target": "Offer"},
            "response": {"status": 1, "httpStatus": 200, "data": {"a": 1}, "errors": [], "errorMessage": null}});
        assert_eq!(parse(body).unwrap(), json!({"a": 1}));
    }

    #[test]
    fn old_envelope_and_string_status() {
        let old = json!({"request": {}, "response": {"status": 1, "data": [1], "errors": []}});
        assert_eq!(parse(old).unwrap(), json!([1]));
        let s = json!({"response": {"status": "1", "data": null}});
        assert_eq!(parse(s).unwrap(), Value::Null);
    }

    #[test]
    fn in_band_error_is_classified_and_redacted() {
        let body = json!({"request": {"NetworkToken": KEY}, "response": {"status": -1, "httpStatus": 200,
            "data": "", "errors": [{"publicMessage": format!("NetworkToken {KEY} is not authenticated")}],
            "errorMessage": format!("NetworkToken {KEY} is not authenticated")}});
        let err = parse(body).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadCredentials);
        assert_eq!(
            err.tune_message(),
            Some("NetworkToken *** is not authenticated")
        );
        assert!(!format!("{err} {err:?}").contains(KEY));
    }

    /// A proxy's HTML page echoing the request: the key (with `+`, space, `/`, `"`) is gone
    /// from the preview in every form, even where the 80-character cut falls inside it.
    #[test]
    fn non_json_preview_never_holds_the_key() {
        let key = r#"NET+a b/c"d9"#;
        let page = format!(
            "<html><body><h1>502 Bad Gateway</h1><p>GET /Apiv3/json?NetworkToken=NET%2Ba%20b%2Fc%22d9&amp;Target=Offer \
             sent NetworkToken=NET&#43;a&#32;b&#x2f;c&quot;d9 upstream {key}</p></body></html>"
        );
        assert!(page.len() > 80);
        let err = parse_body(page.as_bytes(), key).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Malformed);
        let text = format!("{err} {err:?}");
        for form in ["NET%2B", "NET&#43;", "NET+a", "d9&"] {
            assert!(!text.contains(form), "{form} in {text}");
        }
        let cut_inside = format!("{}{}", "x".repeat(70), "NET%2Ba%20b%2Fc%22d9 tail");
        let err = parse_body(cut_inside.as_bytes(), key).unwrap_err();
        assert!(!err.to_string().contains("NET%2"), "{err}");
    }

    #[test]
    fn top_level_error_with_errors_object() {
        let body = json!({"response": {"errors": {"publicMessage": "Network id is not valid"},
            "link": "http://developers.hasoffers.com/"}});
        let err = parse(body).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WrongNetworkId);
        assert_eq!(err.tune_message(), Some("Network id is not valid"));
        // The same shape as a one-element array.
        let body = json!({"response": {"errors": [{"publicMessage": "Unsupported output format in URL"}]}});
        assert_eq!(
            parse(body).unwrap_err(),
            TuneError::Api {
                message: "Unsupported output format in URL".into()
            }
        );
    }

    #[test]
    fn validation_errors_join_messages() {
        let body = json!({"response": {"status": -1, "data": "", "errors": [{"err_code": 3,
            "err_msg": "Status must be one of: pending, active", "attribute_name": "status",
            "publicMessage": "Could not update affiliate."}], "errorMessage": "Could not update affiliate."}});
        assert_eq!(
            parse(body).unwrap_err().tune_message(),
            Some("Could not update affiliate.; Status must be one of: pending, active")
        );
    }

    #[test]
    fn failures_without_messages_and_garbage() {
        let e = parse(json!({"response": {"status": -1, "data": "", "errors": []}})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Api);
        let e = parse(json!({"response": {"data": 1}})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed);
        assert_eq!(
            parse(json!({"nope": 1})).unwrap_err().kind(),
            ErrorKind::Malformed
        );
        assert_eq!(parse(json!([1])).unwrap_err().kind(), ErrorKind::Malformed);
        let e = parse_body(b"<html>502 Bad Gateway</html>", KEY).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed);
    }

    #[test]
    fn paged_data_with_string_or_int_page() {
        let data = json!({"page": "2", "current": 0, "count": "5", "pageCount": 3,
            "data": {"10": {"Offer": {"id": "10"}}, "9": {"Offer": {"id": "9"}}}});
        let p = parse_paged(data).unwrap();
        assert_eq!((p.page, p.page_count, p.count), (2, 3, 5));
        let keys: Vec<&str> = p.rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["9", "10"]);
    }

    #[test]
    fn empty_page_unpaged_and_null() {
        let p =
            parse_paged(json!({"page": 1, "current": 0, "count": 0, "pageCount": 0, "data": []}))
                .unwrap();
        assert_eq!((p.page, p.page_count, p.count, p.rows.len()), (1, 0, 0, 0));
        let p = parse_paged(json!({"62": {"Offer": {"id": "62"}}})).unwrap();
        assert_eq!((p.page, p.page_count, p.count), (1, 1, 1));
        let p = parse_paged(Value::Null).unwrap();
        assert_eq!((p.page_count, p.rows.len()), (0, 0));
        assert!(parse_paged(json!(true)).is_err());
        let p = parse_paged(json!([{"Stat": {}}, {"Stat": {}}])).unwrap();
        assert_eq!(p.rows.len(), 2);
    }
}
