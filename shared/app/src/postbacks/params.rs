//! Reading a postback request: method, query, body (form or JSON, at most 16 KiB), the remote
//! address, and the raw text with the token masked for the log.

use super::reply::Rejection;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use std::net::IpAddr;

/// Largest postback body; the router's general limit (64 KiB) is for management requests.
pub const MAX_BODY: usize = 16 * 1024;
/// Length of a postback token (`ids::new_token`: 40 hex characters).
pub const TOKEN_LEN: usize = 40;

/// One postback request as received.
pub struct RawPostback {
    pub method: String,
    pub route: String,
    pub query: String,
    /// `None` when the body was over [`MAX_BODY`] or could not be read.
    pub body: Option<Bytes>,
    pub body_too_large: bool,
    pub json: bool,
    pub remote_ip: Option<IpAddr>,
    pub headers: HeaderMap,
}

impl RawPostback {
    pub async fn read(request: Request, route: &str) -> RawPostback {
        let (parts, body) = request.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let body = match declared {
            Some(n) if n > MAX_BODY => None,
            // A body that does not fit the limit (or breaks off) is refused as too large.
            _ => axum::body::to_bytes(body, MAX_BODY).await.ok(),
        };
        let json = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
        RawPostback {
            method: parts.method.to_string(),
            route: route.to_string(),
            query: parts.uri.query().unwrap_or("").to_string(),
            body_too_large: body.is_none(),
            body,
            json,
            remote_ip: crate::http::peer_ip(&parts.extensions),
            headers: parts.headers,
        }
    }

    pub fn too_large() -> Rejection {
        Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than {MAX_BODY} bytes"),
        )
    }

    /// The decoded query pairs, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_pairs(self.query.as_bytes())
    }

    /// Query and body parameters merged (query first). A JSON body must be an object of scalar
    /// values; anything else is a form body.
    pub fn params(&self) -> Result<Vec<(String, String)>, Rejection> {
        if self.body_too_large {
            return Err(Self::too_large());
        }
        let mut pairs = self.query_pairs();
        let body = self.body.as_deref().unwrap_or_default();
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(pairs);
        }
        let looks_json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if self.json || looks_json {
            pairs.extend(json_pairs(body)?);
        } else {
            pairs.extend(form_pairs(body));
        }
        Ok(pairs)
    }

    /// The query with the token masked (`token=***`, `id=<integration>-***`), and `secret` (the
    /// integration's real token) removed wherever else it appears.
    pub fn masked_query(&self, secret: Option<&str>) -> String {
        scrub(&mask_form(&self.query), secret)
    }

    pub fn masked_body(&self, secret: Option<&str>) -> Option<String> {
        let body = self.body.as_deref().filter(|b| !b.is_empty())?;
        let text = String::from_utf8_lossy(body);
        let masked = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(mut map)) => {
                for (name, value) in map.iter_mut() {
                    if let Some(s) = value.as_str() {
                        match name.as_str() {
                            "token" => *value = mask_token(s).into(),
                            "id" => *value = mask_id(s).into(),
                            _ => {}
                        }
                    }
                }
                serde_json::Value::Object(map).to_string()
            }
            _ => mask_form(&text),
        };
        Some(scrub(&masked, secret))
    }
}

fn form_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

/// A JSON object's members in order, repeated names kept (so they meet the same conflict
/// rule as a repeated query parameter), each value as its raw JSON text.
struct Members<'a>(Vec<(String, &'a serde_json::value::RawValue)>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of parameters")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    members.push((name, map.next_value()?));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visit)
    }
}

fn json_pairs(body: &[u8]) -> Result<Vec<(String, String)>, Rejection> {
    let bad = |message: String| Rejection::new(StatusCode::BAD_REQUEST, "malformed_body", message);
    let members = match serde_json::from_slice::<Members>(body) {
        Ok(members) => members.0,
        Err(e) if e.is_data() => {
            return Err(bad("a JSON body must be an object of parameters".into()));
        }
        Err(e) => return Err(bad(format!("malformed JSON body: {e}"))),
    };
    let mut pairs = Vec::with_capacity(members.len());
    for (name, raw) in members {
        let raw = raw.get();
        let text = match raw.as_bytes()[0] {
            b'n' => continue,
            b'"' => serde_json::from_str::<String>(raw)
                .map_err(|e| bad(format!("malformed JSON body: {e}")))?,
            // Numbers keep their JSON text exactly: `12.50` stays `12.50`, and a 23-digit
            // lead id stays itself; never a float.
            b't' | b'f' | b'-' | b'0'..=b'9' => raw.to_string(),
            _ => {
                return Err(bad(format!(
                    "`{}`: parameters must be strings, numbers or booleans",
                    truncate(&name, 64)
                )));
            }
        };
        pairs.push((name, text));
    }
    Ok(pairs)
}

/// The token part of `value`, keeping a parameter glued after it (`TOKENoid=1` → `***oid=1`).
fn mask_token(value: &str) -> String {
    match value.get(TOKEN_LEN..).filter(|rest| rest.contains('=')) {
        Some(rest) => format!("***{rest}"),
        None => "***".into(),
    }
}

/// AlterCPA's `INT-TOKEN` → `INT-***` (a glued parameter kept).
fn mask_id(value: &str) -> String {
    match value.split_once('-') {
        Some((integration, token)) => format!("{integration}-{}", mask_token(token)),
        None => "***".into(),
    }
}

/// Masks `token` and `id` in `a=b&c=d` text, leaving everything else as sent.
fn mask_form(text: &str) -> String {
    text.split('&')
        .map(|segment| match segment.split_once('=') {
            Some(("token", value)) => format!("token={}", mask_token(value)),
            Some(("id", value)) => format!("id={}", mask_id(value)),
            _ => segment.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `text` with `secret` redacted in any form a network may send it (percent-, JSON- or
/// HTML-escaped): the product's one redaction, [`affnet_netguard::redact`].
fn scrub(text: &str, secret: Option<&str>) -> String {
    affnet_netguard::redact::redact_all(text, secret)
}

pub fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "3f9c2a7be41d08c65f1e9a2b7c4d3e8f0a1b2c3d";

    #[test]
    fn masks_tokens_and_keeps_glued_parameters() {
        let q = format!("token={TOKEN}&oid=1&status=approve");
        assert_eq!(mask_form(&q), "token=***&oid=1&status=approve");
        let q = format!("id=01J9-{TOKEN}oid=77&status=cancel");
        assert_eq!(mask_form(&q), "id=01J9-***oid=77&status=cancel");
        assert_eq!(mask_form("id=nodash&x=1"), "id=***&x=1");
        assert_eq!(
            scrub(&format!("comment={TOKEN}"), Some(TOKEN)),
            "comment=***"
        );
    }

    /// On Lambda there is no socket: the address comes from API Gateway's request context.
    #[tokio::test]
    async fn source_ip_from_the_lambda_context() {
        use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
        use lambda_http::request::RequestContext;
        let ctx: ApiGatewayV2httpRequestContext = serde_json::from_value(serde_json::json!({
            "http": {"method": "GET", "path": "/postback/x", "sourceIp": "203.0.113.9"}
        }))
        .unwrap();
        let mut request = Request::new(axum::body::Body::empty());
        request
            .extensions_mut()
            .insert(RequestContext::ApiGatewayV2(ctx));
        let raw = RawPostback::read(request, "/postback/{integration_id}").await;
        assert_eq!(raw.remote_ip, Some("203.0.113.9".parse().unwrap()));
        let raw = RawPostback::read(Request::new(axum::body::Body::empty()), "/").await;
        assert_eq!(raw.remote_ip, None);
    }
}
