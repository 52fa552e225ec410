//! HTTP plumbing shared by every router: JSON bodies with clear errors, admin auth, fallbacks.

use crate::error::ApiError;
use crate::state::AppState;
use affnet_core::InputError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

/// Largest management request body.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// The body, at most [`MAX_JSON_BODY`] bytes (413 beyond).
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let bytes = Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(MAX_JSON_BODY)
        } else {
            ApiError::MalformedJson(format!("could not read the body: {e}"))
        }
    })?;
    if bytes.len() > MAX_JSON_BODY {
        return Err(ApiError::TooLarge(MAX_JSON_BODY));
    }
    Ok(bytes)
}

/// A JSON body read as a `serde_json::Value`, with our error shape for every failure
/// (413 when too large, 400 when malformed).
pub struct JsonBody(pub serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::MalformedJson(
                "the body is empty; send a JSON object".into(),
            ));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::MalformedJson(format!("malformed JSON: {e}")))
    }
}

/// Management routes: when `AFFNET_ADMIN_TOKEN` is set, demand it as a bearer token
/// (compared in constant time).
pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !admin_allowed(&state, request.headers()) {
        return ApiError::Unauthorized.into_response();
    }
    next.run(request).await
}

/// Whether the request may use management routes: no admin token is configured, or it
/// presents it.
fn admin_allowed(state: &AppState, headers: &axum::http::HeaderMap) -> bool {
    let Some(expected) = &state.config.admin_token else {
        return true;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

/// Unknown path: a JSON 404 that says it is the route, not an item, that is missing.
pub async fn route_not_found(method: Method, uri: axum::http::Uri) -> Response {
    let body = serde_json::json!({"error": {
        "code": "route_not_found",
        "message": format!("no route for {method} {}", uri.path()),
    }});
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

/// A method a path does not have. On a management path the token is checked first, so that
/// strangers cannot map the routes by their 405s.
pub async fn method_not_allowed(
    State(state): State<AppState>,
    matched: Option<axum::extract::MatchedPath>,
    headers: axum::http::HeaderMap,
    method: Method,
    uri: axum::http::Uri,
) -> Response {
    // ADMIN_PATHS, not ROUTES: reading ROUTES would link every function's handlers here.
    let admin_path = matched.is_some_and(|m| crate::routes::ADMIN_PATHS.contains(&m.as_str()));
    if admin_path && !admin_allowed(&state, &headers) {
        return ApiError::Unauthorized.into_response();
    }
    let body = serde_json::json!({"error": {
        "code": "method_not_allowed",
        "message": format!("{method} is not allowed on {}", uri.path()),
    }});
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

/// A list request: page size, where to continue, and the filters it named.
pub struct Paging {
    pub limit: usize,
    pub cursor: Option<String>,
    pub filters: std::collections::BTreeMap<String, String>,
}

/// Parses `limit` (1..=100, default 50), `cursor` and the named filters from a query string;
/// anything else is a 400.
pub fn page_params_with(query: Option<String>, filters: &[&str]) -> Result<Paging, ApiError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
            .map_err(|e| InputError::invalid("query", format!("bad query string: {e}")))?;
    let mut limit = 50;
    let mut cursor = None;
    let mut found = std::collections::BTreeMap::new();
    for (key, value) in pairs {
        match key.as_str() {
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| {
                        InputError::out_of_range("limit", "`limit` must be between 1 and 100")
                    })?;
            }
            "cursor" if value.is_empty() => {}
            "cursor" => cursor = Some(decode_cursor(&value)?),
            other if filters.contains(&other) => {
                found.insert(key, value);
            }
            _ => {
                let mut known = vec!["limit", "cursor"];
                known.extend_from_slice(filters);
                return Err(InputError::new(
                    "unknown_field",
                    key.clone(),
                    format!(
                        "unknown query parameter `{key}` (known: {})",
                        known.join(", ")
                    ),
                )
                .into());
            }
        }
    }
    Ok(Paging {
        limit,
        cursor,
        filters: found,
    })
}

/// A list page's body: its items and `next_cursor`, the store's cursor as an opaque URL-safe
/// string (base64url without padding) that goes back into `?cursor=` as is; `null` on the last
/// page. [`page_params_with`] decodes it.
pub fn page_body(
    items: impl serde::Serialize,
    next: Option<String>,
) -> axum::Json<serde_json::Value> {
    use base64::Engine;
    let next = next.map(|c| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c));
    axum::Json(serde_json::json!({ "items": items, "next_cursor": next }))
}

fn decode_cursor(value: &str) -> Result<String, ApiError> {
    decode_cursor_of("cursor", value)
}

/// A cursor [`page_body`] gave, passed back in the query parameter `field`.
pub(crate) fn decode_cursor_of(field: &str, value: &str) -> Result<String, ApiError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            affnet_core::InputError::invalid(
                field,
                format!(
                    "`{field}` is not a cursor this API gave: pass back a `next_cursor` unchanged"
                ),
            )
            .into()
        })
}

/// Like [`JsonBody`], but an empty body is allowed (`None`): for actions whose options are all
/// optional (`POST /integrations/{id}/test`, `POST /integrations/{id}/sync`).
pub struct OptionalJsonBody(pub Option<serde_json::Value>);

impl<S: Send + Sync> FromRequest<S> for OptionalJsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(None));
        }
        serde_json::from_slice(&bytes)
            .map(|v| OptionalJsonBody(Some(v)))
            .map_err(|e| ApiError::MalformedJson(format!("malformed JSON: {e}")))
    }
}

/// The client's address: the socket peer on the local server, API Gateway's `sourceIp` on Lambda
/// (there is no socket there), else none.
pub fn peer_ip(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    use axum::extract::ConnectInfo;
    if let Some(ConnectInfo(addr)) = extensions.get::<ConnectInfo<std::net::SocketAddr>>() {
        return Some(addr.ip().to_canonical());
    }
    match extensions.get::<lambda_http::request::RequestContext>() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx
            .http
            .source_ip
            .as_deref()
            .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
            .map(|ip| ip.to_canonical()),
        _ => None,
    }
}

/// Reads a JSON body into `T` (a type derived with `deny_unknown_fields`), turning serde's first
/// complaint into our error naming the field: `unknown_field`, `missing_field` or `wrong_type`
/// (`invalid_value` for the rest). The root is called `body`.
pub fn from_body<T: serde::de::DeserializeOwned>(
    body: &serde_json::Value,
) -> Result<T, InputError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let parent = match path.as_str() {
            "." | "" => String::new(),
            p => p.to_string(),
        };
        let message = e.inner().to_string();
        let join = |child: &str| match parent.is_empty() {
            true => child.to_string(),
            false => format!("{parent}.{child}"),
        };
        let quoted = |rest: &str| rest.split('`').next().unwrap_or_default().to_string();
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let name = quoted(rest);
            // The path already ends at the unknown key when the deserializer saw it.
            let field = if parent.ends_with(&name) {
                parent.clone()
            } else {
                join(&name)
            };
            return InputError::unknown(&field);
        }
        if let Some(rest) = message.strip_prefix("missing field `") {
            return InputError::missing(&join(&quoted(rest)));
        }
        let field = if parent.is_empty() {
            "body".to_string()
        } else {
            parent
        };
        match message.strip_prefix("invalid type: ") {
            Some(rest) => {
                let expected = rest.split(", expected ").nth(1).unwrap_or("another type");
                InputError::wrong_type(&field, expected)
            }
            None => InputError::invalid(&field, message),
        }
    })
}
