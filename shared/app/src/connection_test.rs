//! `POST /integrations/{id}/test` (function `connection-test`): tests an integration's TUNE
//! connection and tells the user what to fix.
//!
//! Answers `{ok, checks: [{name, ok, detail, code?}], latency_ms, ...}`. Checks, in order:
//! `integration` (active or not: inactive ones are tested anyway), `settings` (the client can
//! be built), `connection` (DNS, TCP, TLS, timeout, TUNE's servers), `authentication` (key,
//! network id, API access, IP whitelist), `offers` (how many the key sees), and `query` when
//! the body asks for a read-only "Test Query" (one TUNE call with the `target`, `method` and
//! `params` given, refused unless the method only reads). The API key is never returned.

use crate::error::ApiError;
use crate::http::OptionalJsonBody;
use crate::integrations::load as load_integration;
use crate::state::AppState;
use crate::tune_client::{Purpose, client_for, mode_of};
use affnet_core::{InputError, Integration};
use affnet_tune::{ErrorKind, Mode, TuneClient, TuneError};
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use std::time::Instant;

/// Optional calls (account name, test query) are skipped once the test has taken this long, so
/// the answer stays within the function's timeout.
const OPTIONAL_CALLS_UNTIL_MS: u128 = 12_000;

struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
    code: Option<&'static str>,
}

impl Check {
    fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            ok: true,
            detail: detail.into(),
            code: None,
        }
    }

    fn to_json(&self) -> Value {
        let mut v = json!({"name": self.name, "ok": self.ok, "detail": self.detail});
        if let Some(code) = self.code {
            v["code"] = json!(code);
        }
        v
    }
}

/// A read-only call the user asked to run.
struct TestQuery {
    target: String,
    method: String,
    params: Value,
}

/// The body of `POST /integrations/{id}/test`: all optional.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct TestBody {
    query: Option<QueryBody>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object {target, method, params}")]
struct QueryBody {
    target: Option<String>,
    method: Option<String>,
    params: Option<Value>,
}

fn parse_query(body: Option<&Value>) -> Result<Option<TestQuery>, ApiError> {
    let Some(body) = body else {
        return Ok(None);
    };
    let Some(query) = crate::http::from_body::<TestBody>(body)?.query else {
        return Ok(None);
    };
    let text = |field: &str, value: Option<String>| match value {
        Some(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        None => Err(InputError::missing(&format!("query.{field}"))),
        Some(_) => Err(InputError::wrong_type(
            &format!("query.{field}"),
            "a string",
        )),
    };
    let parsed = TestQuery {
        target: text("target", query.target)?,
        method: text("method", query.method)?,
        params: query.params.unwrap_or_else(|| json!({})),
    };
    // Refuse writers and bad parameters before anything is sent.
    TuneClient::check_read_only_query(&parsed.target, &parsed.method, &parsed.params).map_err(
        |e| {
            let field = if e.kind() == ErrorKind::NotReadOnly {
                "query.method"
            } else {
                "query.params"
            };
            let code = if e.kind() == ErrorKind::NotReadOnly {
                "not_read_only"
            } else {
                "invalid_value"
            };
            InputError::new(code, field, e.to_string())
        },
    )?;
    Ok(Some(parsed))
}

pub async fn test(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody,
) -> Result<Json<Value>, ApiError> {
    let answer = run_test(state.clone(), id, body).await?;
    crate::health::keep_connection_test(&state, &answer.0).await;
    Ok(answer)
}

async fn run_test(
    state: AppState,
    id: String,
    body: Option<Value>,
) -> Result<Json<Value>, ApiError> {
    let query = parse_query(body.as_ref())?;
    let integration = load_integration(&state, &id).await?;
    if !integration.is_tune() {
        if query.is_some() {
            return Err(InputError::new(
                "unsupported_field",
                "query",
                "a test query is for TUNE integrations only",
            )
            .into());
        }
        return crate::leads::connection::test(&state, &integration).await;
    }
    let started = Instant::now();
    let mut checks = vec![Check::pass(
        "integration",
        if integration.active {
            "active".to_string()
        } else {
            "inactive: tested anyway; offer sync and postbacks stay off until `active` is true"
                .to_string()
        },
    )];
    let mut answer = json!({
        "integration_id": integration.id,
        "active": integration.active,
        "mode": integration.tune().map(mode_of),
        "network_id": integration.tune().map(|t| t.network_id.as_str()),
        "latency_ms": null,
    });
    let config = &state.config;
    let client = match client_for(
        &integration,
        &config.tune,
        config.allow_private_network,
        Purpose::Interactive,
    ) {
        Ok(client) => {
            checks.push(Check::pass(
                "settings",
                format!(
                    "calls go to {} ({})",
                    client.host(),
                    mode_text(client.mode())
                ),
            ));
            Some(client)
        }
        Err(e) => {
            checks.push(failed_check(&integration, &e));
            None
        }
    };
    if let Some(client) = client {
        run_calls(
            &integration,
            &client,
            query,
            started,
            &mut checks,
            &mut answer,
        )
        .await;
    }
    let ok = checks.iter().all(|c| c.ok);
    answer["ok"] = json!(ok);
    answer["checks"] = checks.iter().map(Check::to_json).collect();
    let kinds: Vec<&str> = checks.iter().filter_map(|c| c.code).collect();
    tracing::info!(integration = %integration.id, ok, failures = ?kinds, "connection tested");
    Ok(Json(answer))
}

/// The network calls: the connection test proper, then the account name and the query.
async fn run_calls(
    integration: &Integration,
    client: &TuneClient,
    query: Option<TestQuery>,
    started: Instant,
    checks: &mut Vec<Check>,
    answer: &mut Value,
) {
    let call_started = Instant::now();
    let result = client.test_connection().await;
    answer["latency_ms"] = json!(call_started.elapsed().as_millis() as u64);
    let info = match result {
        Ok(info) => info,
        Err(e) => {
            if !is_connection_failure(e.kind()) {
                checks.push(Check::pass(
                    "connection",
                    format!("reached {}", client.host()),
                ));
            }
            checks.push(failed_check(integration, &e));
            return;
        }
    };
    checks.push(Check::pass(
        "connection",
        format!(
            "reached {} in {} ms",
            client.host(),
            call_started.elapsed().as_millis()
        ),
    ));
    let time_left = || started.elapsed().as_millis() < OPTIONAL_CALLS_UNTIL_MS;
    let account = if time_left() {
        account_name(client).await
    } else {
        None
    };
    let network_id = integration.tune().map_or("", |t| t.network_id.as_str());
    let mut accepted = format!(
        "TUNE accepted the {} for network `{network_id}`",
        mode_text(client.mode())
    );
    if let Some(name) = &account {
        accepted.push_str(&format!(" ({name})"));
    }
    checks.push(Check::pass("authentication", accepted));
    checks.push(Check::pass(
        "offers",
        format!("{} offer(s) visible to this key", info.offer_count),
    ));
    answer["account"] = json!({"name": account, "offer_count": info.offer_count});
    if let Some(query) = query {
        if !time_left() {
            checks.push(Check {
                name: "query",
                ok: false,
                detail: "not run: the connection test used up the time budget; try again".into(),
                code: Some("timeout"),
            });
            return;
        }
        match client
            .call_read_only(&query.target, &query.method, query.params.clone())
            .await
        {
            Ok(data) => {
                checks.push(Check::pass(
                    "query",
                    format!("{}::{} answered", query.target, query.method),
                ));
                answer["query"] = json!({
                    "target": query.target,
                    "method": query.method,
                    "data": redact_value(data, integration),
                });
            }
            Err(e) => checks.push(Check {
                name: "query",
                ok: false,
                detail: format!("{}::{} failed: {e}", query.target, query.method),
                code: Some(e.kind().as_str()),
            }),
        }
    }
}

fn mode_text(mode: Mode) -> &'static str {
    match mode {
        Mode::Network => "Network API key",
        Mode::Affiliate => "Affiliate API key",
    }
}

fn is_connection_failure(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Dns
            | ErrorKind::Connect
            | ErrorKind::Tls
            | ErrorKind::Timeout
            | ErrorKind::AddressRefused
            | ErrorKind::ServerError
            | ErrorKind::HttpStatus
            | ErrorKind::Malformed
    )
}

fn failed_check(integration: &Integration, error: &TuneError) -> Check {
    let (name, code, detail) = diagnose(integration, error);
    Check {
        name,
        ok: false,
        detail,
        code: Some(code),
    }
}

/// The failed check, its code and an actionable message for a TUNE error (what TUNE's own
/// troubleshooting says to check: the API credentials, the network ID matching the account, API
/// access enabled in TUNE; plus the transport failures).
pub fn diagnose(
    integration: &Integration,
    error: &TuneError,
) -> (&'static str, &'static str, String) {
    let network_id = integration.tune().map_or("", |t| t.network_id.as_str());
    let tune_text = error.tune_message().unwrap_or_default();
    let kind = error.kind();
    let detail = match error {
        TuneError::InvalidConfig(why) => format!(
            "The integration's settings cannot be used ({why}). Check `network_id` (like `demo`), `api_domain` (usually api.hasoffers.com) and the API key."
        ),
        TuneError::AddressRefused { host, reason } => format!(
            "Refused to call {host}: {reason}. `api_domain` must name TUNE's public API (usually api.hasoffers.com)."
        ),
        TuneError::Dns { host, .. } => format!(
            "Host {host} was not found (DNS). Check `api_domain` (usually api.hasoffers.com) and the network ID `{network_id}`, which is part of the host name."
        ),
        TuneError::Connect { host, detail } => format!(
            "Could not connect to {host} ({detail}). Check `api_domain`, and that this server may make outbound HTTPS connections."
        ),
        TuneError::Tls { host, detail } => format!(
            "The secure (TLS) connection to {host} failed ({detail}). Check that `api_domain` is TUNE's API host and that nothing intercepts HTTPS."
        ),
        TuneError::Timeout { timeout_ms } => format!(
            "TUNE did not answer within {timeout_ms} ms. Try again later, or raise the integration's `timeout_ms`."
        ),
        TuneError::ServerError { status } => format!(
            "TUNE's servers answered HTTP {status}: a problem on TUNE's side. Try again in a few minutes."
        ),
        TuneError::HttpStatus { status } => format!(
            "The API domain answered HTTP {status}, which is not TUNE's API. Check `api_domain` (usually api.hasoffers.com)."
        ),
        TuneError::Malformed(why) => format!(
            "The answer is not TUNE's API ({why}). Check `api_domain` (usually api.hasoffers.com)."
        ),
        TuneError::BadCredentials { .. } => format!(
            "TUNE rejected the API key: \"{tune_text}\". Check that the API credentials are correct (TUNE: Settings > API) and that `api_mode` matches the key: a Network API key for `network`, an affiliate API key for `affiliate`."
        ),
        TuneError::WrongNetworkId { .. } => format!(
            "TUNE does not know network ID `{network_id}`: \"{tune_text}\". Check that the network ID matches your account: it is NETWORKID in https://NETWORKID.api.hasoffers.com."
        ),
        TuneError::ApiDisabled { .. } => format!(
            "API access is disabled: \"{tune_text}\". Enable API access in TUNE (Settings > API), or ask the network to enable the Affiliate API for your account."
        ),
        TuneError::IpNotWhitelisted { .. } => format!(
            "TUNE refused this server's IP address: \"{tune_text}\". Add the server's outbound IP address to the API IP whitelist in TUNE (Settings > API)."
        ),
        TuneError::RateLimited { .. } => format!(
            "TUNE's rate limit (50 calls per 10 seconds per network) is used up: \"{tune_text}\". Wait ten seconds and test again."
        ),
        TuneError::Api { .. } => format!("TUNE answered with an error: \"{tune_text}\"."),
        TuneError::NotReadOnly { .. } | TuneError::WrongMode(_) => error.to_string(),
    };
    let check = match kind {
        ErrorKind::InvalidConfig => "settings",
        k if is_connection_failure(k) => "connection",
        _ => "authentication",
    };
    (check, kind.as_str(), detail)
}

/// The network's or the affiliate account's company name, where TUNE gives it.
async fn account_name(client: &TuneClient) -> Option<String> {
    let (target, method) = match client.mode() {
        Mode::Network => ("Application", "getBrandInformation"),
        Mode::Affiliate => ("Affiliate_BrandInformation", "getBrandInformation"),
    };
    let params = affnet_tune::Params::new();
    let data = client.call(target, method, &params).await.ok()?;
    find_text(&data, "company_name", 3)
}

/// The first non-empty string under `key`, searching `depth` levels of objects and arrays
/// (the documented shape is "a Brand Information model object in an array").
fn find_text(value: &Value, key: &str, depth: u8) -> Option<String> {
    match value {
        Value::Object(map) => map
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().to_string())
            .or_else(|| {
                (depth > 0)
                    .then(|| map.values().find_map(|v| find_text(v, key, depth - 1)))
                    .flatten()
            }),
        Value::Array(items) if depth > 0 => items.iter().find_map(|v| find_text(v, key, depth - 1)),
        _ => None,
    }
}

/// The query's data with the integration's credentials redacted wherever TUNE echoed them, in
/// any form (the product's one redaction, [`affnet_netguard::redact`]), in strings and keys.
fn redact_value(mut data: Value, integration: &Integration) -> Value {
    affnet_netguard::redact::redact_value_all(
        &mut data,
        integration.credentials.values().map(String::as_str),
    );
    data
}
