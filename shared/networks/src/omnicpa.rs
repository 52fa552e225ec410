//! OmniCPA (the vendor SDK OmniApi 3.x): `POST {base}/api/User/3.0/{action}` with one form
//! field `request` = `{"token", "data", "dataSign"}`, where `dataSign = sha1(json_encode([secret,
//! data]))` as PHP encodes it; the reply is `{"data": {success, result, error: {code: text}},
//! "dataSign"}`, signed the same way. The server re-encodes what it decoded, so the signature
//! holds only over PHP's own encoding: `/` escaped, non-ASCII as `\uXXXX`, an empty object as `[]`.

use crate::generic::{LeadApi, exchange};
use crate::lead::{Account, Exchange, LeadFields, SendOutcome, TestOutcome, Transient};
use crate::reply::{classify_send, classify_test};
use crate::request::{Body, ConfigError, Prepared, RawReply, base_url, credential, prepare, send};
use crate::spec::{Call, NetworkApi};
use async_trait::async_trait;
use serde_json::Value;
use sha1::{Digest, Sha1};
use std::fmt::Write;

pub struct Omnicpa;

/// `text` as PHP's `json_encode` writes a string with its default flags.
fn php_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || !c.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `value` as PHP's `json_encode` writes the array it decoded it into (keys in order; an
/// empty object or list is `[]`).
pub fn php_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => php_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                php_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("[]"),
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                php_string(k, out);
                out.push(':');
                php_json(v, out);
            }
            out.push('}');
        }
    }
}

/// `sha1(json_encode([secret, data]))`, where `data` is already PHP-encoded.
pub fn sign(secret: &str, data: &str) -> String {
    let mut list = String::from("[");
    php_string(secret, &mut list);
    list.push(',');
    list.push_str(data);
    list.push(']');
    hex::encode(Sha1::digest(list.as_bytes()))
}

/// The call as the SDK sends it: the form field `request`.
fn signed(
    api: &NetworkApi,
    call: &Call,
    account: &Account<'_>,
    lead: Option<&LeadFields>,
) -> Result<Prepared, ConfigError> {
    let token = credential(account, "api_key")?;
    let secret = credential(account, "key")?;
    let base = base_url(api, call, account)?;
    let prepared = prepare(call, &base, lead, account, &[])?;
    let data = match &prepared.body {
        Body::Json(v) => v.clone(),
        _ => Value::Object(Default::default()),
    };
    let mut data_text = String::new();
    php_json(&data, &mut data_text);
    let mut request = String::from("{\"token\":");
    php_string(token, &mut request);
    let _ = write!(
        request,
        ",\"data\":{data_text},\"dataSign\":\"{}\"}}",
        sign(secret, &data_text)
    );
    Ok(Prepared {
        body: Body::Form(vec![("request".into(), request)]),
        ..prepared
    })
}

/// What the reply means once its signature is checked: the signed `data`, with its first
/// error flattened to `error_code` / `error_text` for the spec's reply rules. `None` when a
/// 2xx reply is not signed with the account's secret.
fn unwrap(raw: &RawReply, secret: &str) -> Option<RawReply> {
    #[derive(serde::Deserialize)]
    struct Signed<'a> {
        #[serde(borrow)]
        data: &'a serde_json::value::RawValue,
        #[serde(rename = "dataSign")]
        sign: Option<String>,
    }
    let answered = raw.failure.is_none() && raw.status.is_some_and(|s| (200..300).contains(&s));
    let Ok(signed) = serde_json::from_str::<Signed>(&raw.body) else {
        // Not the SDK's envelope (an HTTP error page): read as it is.
        return (!answered).then(|| raw.clone());
    };
    if answered && signed.sign.as_deref() != Some(sign(secret, signed.data.get()).as_str()) {
        return None;
    }
    let mut data: Value = serde_json::from_str(signed.data.get()).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut data {
        let first = match map.get("error") {
            Some(Value::Object(errors)) => errors
                .iter()
                .next()
                .map(|(k, v)| (Some(k.clone()), v.clone())),
            Some(Value::Array(errors)) => errors.first().map(|v| (None, v.clone())),
            _ => None,
        };
        if let Some((code, text)) = first {
            if let Some(code) = code {
                map.insert("error_code".into(), Value::String(code));
            }
            let text = match text {
                Value::String(s) => s,
                other => other.to_string(),
            };
            map.insert("error_text".into(), Value::String(text));
        }
    }
    Some(RawReply {
        body: data.to_string(),
        ..raw.clone()
    })
}

const UNSIGNED: &str = "the reply's dataSign is not sha1([key, data]): credentials.key is not this account's secret, or something on the way changed the reply";

#[async_trait]
impl LeadApi for Omnicpa {
    async fn send_lead(
        &self,
        api: &NetworkApi,
        account: &Account<'_>,
        lead: &LeadFields,
    ) -> Result<Exchange<SendOutcome>, ConfigError> {
        let call = api
            .send
            .as_ref()
            .ok_or_else(|| ConfigError("no lead API".into()))?;
        let request = signed(api, call, account, Some(lead))?;
        let raw = send(&request, account).await;
        let outcome = match unwrap(&raw, credential(account, "key")?) {
            Some(reply) => classify_send(&call.reply, &reply),
            None => SendOutcome::Retry {
                kind: Transient::Server,
                message: UNSIGNED.into(),
            },
        };
        Ok(exchange(outcome, &raw, account))
    }

    async fn test_connection(
        &self,
        api: &NetworkApi,
        account: &Account<'_>,
    ) -> Result<Exchange<TestOutcome>, ConfigError> {
        let call = api
            .test
            .as_ref()
            .ok_or_else(|| ConfigError("no read-only call".into()))?;
        let request = signed(api, call, account, None)?;
        let raw = send(&request, account).await;
        let outcome = match unwrap(&raw, credential(account, "key")?) {
            Some(reply) => classify_test(&call.reply, &reply),
            None => TestOutcome::Authentication {
                detail: UNSIGNED.into(),
                fix: "set credentials.key to the secret key of the OmniCPA account the token belongs to".into(),
            },
        };
        Ok(exchange(outcome, &raw, account))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What PHP 7+/8 `json_encode` writes for these values with its default flags.
    #[test]
    fn encodes_as_php_does() {
        let mut out = String::new();
        php_json(
            &json!({"fio": "Анна \"A/B\"\n", "x": "😀", "n": null, "e": {}}),
            &mut out,
        );
        assert_eq!(
            out,
            r#"{"e":[],"fio":"\u0410\u043d\u043d\u0430 \"A\/B\"\n","n":null,"x":"\ud83d\ude00"}"#
        );
        assert_eq!(
            sign("s3cr3t", "[]"),
            hex::encode(Sha1::digest(br#"["s3cr3t",[]]"#))
        );
    }
}
