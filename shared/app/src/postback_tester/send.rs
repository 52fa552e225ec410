//! Where the tester sends, and the call itself. Only ever this service's own public route: the
//! base is, in order, the local server's own address ([`AppState::own_url`], known once it has
//! bound), `AFFNET_PUBLIC_URL`, or on Lambda the domain API Gateway received this request on
//! (its request context, which a client cannot set). Nothing in the request's body or headers
//! (`Host` included) names the host called.

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::{Extensions, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// The whole call, connect included: well within the function's 29 s.
pub const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Most bytes of the route's reply read (its replies are a few hundred bytes).
pub const MAX_REPLY: usize = 64 * 1024;

/// Our own base URL (no trailing `/`), or a 409 saying how to set one.
pub fn base_url(state: &AppState, extensions: &Extensions) -> Result<String, ApiError> {
    if let Some(own) = state.own_url() {
        return Ok(own.to_string());
    }
    if let Some(public) = state.config.public_url.as_deref() {
        return Ok(public.trim_end_matches('/').to_string());
    }
    if let Some(domain) = api_gateway_domain(extensions) {
        return Ok(format!("https://{domain}"));
    }
    Err(ApiError::Failed {
        status: StatusCode::CONFLICT,
        code: "public_url_unknown",
        message: "the tester calls this service's own public URL only: set AFFNET_PUBLIC_URL"
            .into(),
    })
}

/// The domain of an API Gateway HTTP API request (`….execute-api.….amazonaws.com` or a custom
/// domain mapped to the API), when it is a plain host name.
fn api_gateway_domain(extensions: &Extensions) -> Option<String> {
    let Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) =
        extensions.get::<lambda_http::request::RequestContext>()
    else {
        return None;
    };
    let domain = ctx.domain_name.as_deref()?;
    let plain = !domain.is_empty()
        && domain.len() <= 253
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    plain.then(|| domain.to_ascii_lowercase())
}

/// What the public route answered.
pub struct Reply {
    pub http_status: u16,
    /// Its JSON body (`null` if it was not JSON).
    pub body: Value,
}

/// `GET url`: no redirects, no proxy, bounded in time and size. A failed call is a 502 naming
/// why (the URL is ours and carries only the postback token, which the answer shows anyway).
pub async fn get(url: &str) -> Result<Reply, ApiError> {
    let failed = |e: reqwest::Error| ApiError::Failed {
        status: StatusCode::BAD_GATEWAY,
        code: "self_call_failed",
        message: format!(
            "calling our own postback route failed: {}",
            error_chain(&e.without_url())
        ),
    };
    let client = affnet_tune::guard::guarded_client_builder(false)
        .timeout(TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| ApiError::internal("building the tester's HTTP client", &e))?;
    let mut response = client.get(url).send().await.map_err(failed)?;
    let http_status = response.status().as_u16();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        let room = MAX_REPLY - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() >= MAX_REPLY {
            break;
        }
    }
    Ok(Reply {
        http_status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    })
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(&format!(": {e}"));
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
    use lambda_http::request::RequestContext;

    fn state(public_url: Option<&str>) -> AppState {
        let store = std::sync::Arc::new(affnet_store::SqliteStore::in_memory().unwrap());
        let config = Config {
            public_url: public_url.map(str::to_string),
            ..Config::for_tests()
        };
        AppState::new(store, config)
    }

    fn api_gateway(domain: &str) -> Extensions {
        let mut ctx = ApiGatewayV2httpRequestContext::default();
        ctx.domain_name = Some(domain.to_string());
        let mut extensions = Extensions::new();
        extensions.insert(RequestContext::ApiGatewayV2(ctx));
        extensions
    }

    #[test]
    fn the_base_is_our_own_address_then_the_public_url_then_api_gateways_domain() {
        let none = Extensions::new();
        let listening: std::net::SocketAddr = "0.0.0.0:3000".parse().unwrap();
        let own = state(Some("https://track.example.com/")).with_own_address(listening);
        assert_eq!(base_url(&own, &none).unwrap(), "http://127.0.0.1:3000");
        let public = state(Some("https://track.example.com/"));
        let aws = api_gateway("abc123.execute-api.eu-west-1.amazonaws.com");
        assert_eq!(
            base_url(&public, &aws).unwrap(),
            "https://track.example.com"
        );
        assert_eq!(
            base_url(&state(None), &aws).unwrap(),
            "https://abc123.execute-api.eu-west-1.amazonaws.com"
        );
        let v6: std::net::SocketAddr = "[::]:3001".parse().unwrap();
        let own6 = state(None).with_own_address(v6);
        assert_eq!(base_url(&own6, &none).unwrap(), "http://[::1]:3001");
    }

    #[test]
    fn no_known_base_is_a_409_and_odd_domains_are_not_used() {
        let e = base_url(&state(None), &Extensions::new()).unwrap_err();
        assert_eq!(
            (e.status(), e.code()),
            (StatusCode::CONFLICT, "public_url_unknown")
        );
        for odd in [
            "evil.example/x",
            "evil.example:8080",
            "user@evil.example",
            "",
        ] {
            let e = base_url(&state(None), &api_gateway(odd)).unwrap_err();
            assert_eq!(e.code(), "public_url_unknown", "{odd}");
        }
    }
}
