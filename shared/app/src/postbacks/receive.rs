//! One postback from request to answer: find the integration, check token, state and source
//! address, read the parameters, interpret them, record, log.

use super::cache;
use super::params::{RawPostback, TOKEN_LEN, truncate};
use super::record;
use super::reply::{Answer, Rejection};
use crate::state::AppState;
use affnet_core::Integration;
use affnet_core::PostbackLog;
use affnet_core::postback::{interpret, split_glued_id};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use std::net::IpAddr;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `/postback/{integration_id}?token=...`
    Native,
    /// `/api/sale/status.json?id={integration_id}-{token}` (and `/api/comp/...`).
    AlterCpa,
}

/// Who the request claims to be: integration, token, and a parameter glued onto the credential
/// by a tail without a leading `&`.
struct Credential {
    integration_id: String,
    token: String,
    glued: Option<(String, String)>,
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn credential(
    dialect: Dialect,
    path_id: Option<&str>,
    pairs: &[(String, String)],
) -> Option<Credential> {
    match dialect {
        Dialect::Native => {
            let value = first(pairs, "token").unwrap_or("");
            let (token, glued) = match value.get(TOKEN_LEN..).and_then(|r| r.split_once('=')) {
                Some((name, v)) if !name.is_empty() => (&value[..TOKEN_LEN], Some((name, v))),
                _ => (value, None),
            };
            Some(Credential {
                integration_id: path_id?.to_string(),
                token: token.to_string(),
                glued: glued.map(|(n, v)| (n.to_string(), v.to_string())),
            })
        }
        Dialect::AlterCpa => {
            let (id, glued) = split_glued_id(first(pairs, "id")?, TOKEN_LEN);
            let (integration, token) = id.split_once('-')?;
            Some(Credential {
                integration_id: integration.to_string(),
                token: token.to_string(),
                glued: glued.map(|(n, v)| (n.to_string(), v.to_string())),
            })
        }
    }
}

/// Handles one postback; the caller renders the answer in its dialect.
pub async fn handle(
    state: &AppState,
    raw: RawPostback,
    dialect: Dialect,
    path_id: Option<&str>,
) -> Answer {
    let parsed = raw.params();
    let query_pairs;
    let auth_pairs = match &parsed {
        Ok(pairs) => pairs.as_slice(),
        Err(_) => {
            query_pairs = raw.query_pairs();
            query_pairs.as_slice()
        }
    };
    let credential = credential(dialect, path_id, auth_pairs);
    // The token may be in the body we did not read: say what is wrong with the request.
    if raw.body_too_large && credential.as_ref().is_none_or(|c| c.token.is_empty()) {
        return Answer::Rejected(RawPostback::too_large());
    }
    let Some(credential) = credential else {
        return Answer::Rejected(Rejection::bad_key(
            StatusCode::FORBIDDEN,
            "bad_token",
            "`id` must be {integration_id}-{postback token}",
        ));
    };
    let integration = match cache::integration(state, &credential.integration_id).await {
        Ok(Some(i)) => i,
        // Unknown integrations are not logged: there is no integration to log them under.
        Ok(None) => {
            return Answer::Rejected(Rejection::bad_key(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such integration",
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "postback: reading the integration failed");
            return Answer::Unavailable;
        }
    };
    let now = state.clock.now();
    let log = log_of(&raw, &integration, now);
    let answer = accept(
        state,
        &raw,
        &integration,
        &credential,
        parsed,
        log.clone(),
        now,
    )
    .await;
    match &answer {
        Answer::Accepted(recorded) => tracing::info!(
            integration = %integration.id,
            conversion = %recorded.conversion.id,
            outcome = recorded.outcome.as_str(),
            status = recorded.conversion.status.as_str(),
            "postback recorded"
        ),
        Answer::Rejected(r) => {
            tracing::info!(integration = %integration.id, code = r.code, "postback rejected");
            let status = match dialect {
                Dialect::Native => r.status,
                Dialect::AlterCpa => StatusCode::OK,
            };
            log_rejection(state, log, r.code, status, Some(r.message.clone())).await;
        }
        Answer::Unavailable => {
            log_rejection(
                state,
                log,
                "storage_unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                None,
            )
            .await;
        }
    }
    answer
}

async fn accept(
    state: &AppState,
    raw: &RawPostback,
    integration: &Integration,
    credential: &Credential,
    parsed: Result<Vec<(String, String)>, Rejection>,
    log: PostbackLog,
    now: DateTime<Utc>,
) -> Answer {
    let presented = credential.token.as_bytes();
    if !bool::from(presented.ct_eq(integration.postback_token.as_bytes())) {
        return Answer::Rejected(Rejection::bad_key(
            StatusCode::FORBIDDEN,
            "bad_token",
            "missing or wrong postback token",
        ));
    }
    if !integration.active {
        return Answer::Rejected(Rejection::new(
            StatusCode::FORBIDDEN,
            "integration_inactive",
            "this integration is inactive and refuses postbacks",
        ));
    }
    if let Err(r) = check_ip(integration, raw.remote_ip) {
        return Answer::Rejected(r);
    }
    let mut params = match parsed {
        Ok(p) => p,
        Err(r) => return Answer::Rejected(r),
    };
    if let Some(glued) = &credential.glued {
        params.push(glued.clone());
    }
    let network = match state.network_of(integration) {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "postback: integration without a catalogue network");
            return Answer::Unavailable;
        }
    };
    let mut decision = match interpret(network, &integration.id, &params, &state.config.click_key) {
        Ok(d) => d,
        Err(e) => return Answer::Rejected(e.into()),
    };
    if let Err(e) = crate::click_labels::resolve_decision(state, &mut decision).await {
        tracing::error!(integration = %integration.id, error = %e, "postback: reading click labels failed");
        return Answer::Unavailable;
    }
    match record::record(state, integration, &decision, log, now).await {
        Ok(recorded) => Answer::Accepted(Box::new(recorded)),
        Err(e) => {
            tracing::error!(integration = %integration.id, error = %e, "postback: storage failed");
            Answer::Unavailable
        }
    }
}

/// The integration's `ip_allowlist`: empty or absent accepts any address; otherwise the
/// source must be in one of its networks, and an unknown source is refused (fail closed).
fn check_ip(integration: &Integration, ip: Option<IpAddr>) -> Result<(), Rejection> {
    match integration.typed.ip_allowlist.allows(ip) {
        true => Ok(()),
        false => Err(Rejection::new(
            StatusCode::FORBIDDEN,
            "ip_not_allowed",
            match ip {
                Some(ip) => format!("{ip} is not in this integration's ip_allowlist"),
                None => "the source address is unknown and this integration has an ip_allowlist"
                    .to_string(),
            },
        )),
    }
}

fn log_of(raw: &RawPostback, integration: &Integration, now: DateTime<Utc>) -> PostbackLog {
    let secret = Some(integration.postback_token.as_str());
    PostbackLog {
        id: affnet_core::ids::new_id(),
        integration_id: integration.id.clone(),
        time: now,
        method: raw.method.clone(),
        route: raw.route.clone(),
        query: raw.masked_query(secret),
        body: raw.masked_body(secret),
        remote_ip: raw.remote_ip.map(|ip| ip.to_string()),
        outcome: String::new(),
        http_status: 200,
        conversion_id: None,
        message: None,
    }
}

/// Logs a refused postback. Best effort: the answer stays the rejection (a 4xx, or AlterCPA's
/// 200 error) even when the log cannot be written, because a retry would not fix the postback
/// and the log is diagnostics, not data.
/// Refused postbacks' logs are kept at most this long (accepted ones: the configured TTL).
pub const REFUSED_LOG_TTL_DAYS: u32 = 3;

/// Logs a refused postback in bounded space (see [`super::refusals`]).
async fn log_rejection(
    state: &AppState,
    log: PostbackLog,
    code: &str,
    status: StatusCode,
    message: Option<String>,
) {
    let days = state.config.postback_log_ttl_days.min(REFUSED_LOG_TTL_DAYS);
    let expires = log.time.timestamp() + i64::from(days) * 86_400;
    let log = PostbackLog {
        outcome: code.to_string(),
        http_status: status.as_u16(),
        message: message.map(|m| truncate(&m, 500)),
        ..log
    };
    let integration = log.integration_id.clone();
    let keep = state
        .refusal_budget
        .take(&integration, code, log.time.timestamp());
    if let Err(e) = state.repo.record_refused_postback(log, keep, expires).await {
        tracing::warn!(%integration, error = %e, "postback log not written");
    }
}
