//! `POST /integrations/{id}/test` for CPA integrations: one read-only call of the network's API
//! (offers, balance, a lead list, or a probe that proves the key), answered in the shape of the
//! TUNE test: `{ok, checks: [{name, ok, detail, code?}], latency_ms}`. It never creates a lead.

use super::send::account;
use crate::error::ApiError;
use crate::state::AppState;
use affnet_core::Integration;
use affnet_networks::TestOutcome;
use axum::Json;
use serde_json::{Value, json};
use std::time::Duration;

fn check(name: &str, ok: bool, detail: impl Into<String>, code: Option<&str>) -> Value {
    let mut v = json!({"name": name, "ok": ok, "detail": detail.into()});
    if let Some(code) = code {
        v["code"] = json!(code);
    }
    v
}

pub async fn test(state: &AppState, integration: &Integration) -> Result<Json<Value>, ApiError> {
    let network = state.network_of(integration)?;
    let mut checks = vec![check(
        "integration",
        true,
        if integration.active {
            "active"
        } else {
            "inactive: tested anyway"
        },
        None,
    )];
    let mut latency = None;
    let api = affnet_networks::spec::of(&network.slug).filter(|a| a.test.is_some());
    match api {
        None => checks.push(check(
            "connection",
            false,
            format!(
                "{} has no public read-only API call to test: postbacks only",
                network.name
            ),
            Some("no_test_api"),
        )),
        Some(api) => {
            let timeout = Duration::from_millis(u64::from(integration.timeout_ms));
            let account = account(state, integration, timeout);
            match affnet_networks::adapter(api)
                .test_connection(api, &account)
                .await
            {
                Err(e) => checks.push(check(
                    "settings",
                    false,
                    e.to_string(),
                    Some("invalid_settings"),
                )),
                Ok(exchange) => {
                    latency = Some(exchange.duration.as_millis() as u64);
                    checks.push(check("settings", true, "the API address is valid", None));
                    match exchange.result {
                        TestOutcome::Ok { detail } => {
                            checks.push(check("connection", true, "reached the network", None));
                            checks.push(check("authentication", true, detail, None));
                        }
                        TestOutcome::Connection { detail } => {
                            checks.push(check(
                                "connection",
                                false,
                                detail,
                                Some("connection_failed"),
                            ));
                        }
                        TestOutcome::Authentication { detail, fix } => {
                            checks.push(check("connection", true, "reached the network", None));
                            let mut failed = check(
                                "authentication",
                                false,
                                format!("{detail} ({})", exchange.reply),
                                Some("authentication_failed"),
                            );
                            failed["fix"] = json!(fix);
                            checks.push(failed);
                        }
                    }
                }
            }
        }
    }
    let ok = checks.iter().all(|c| c["ok"] == json!(true));
    tracing::info!(integration = %integration.id, ok, "CPA connection tested");
    Ok(Json(json!({
        "integration_id": integration.id,
        "active": integration.active,
        "network": network.slug,
        "ok": ok,
        "checks": checks,
        "latency_ms": latency,
    })))
}
