//! `GET /integrations/{id}/postback-url`: what to paste into the network.
//!
//! - TUNE: one URL with TUNE's macros.
//! - CPA networks: the AlterCPA-style base URL `…/api/sale/status.json?id={integration}-{token}&`
//!   (ending with `&`, so tails with or without a leading `&` both work), and each documented tail
//!   of the network from the catalogue with the ready-to-paste URL.
//! - AffbayAsia: the parts its form asks for, filled in.

use affnet_core::Integration;
use affnet_core::catalogue::{Network, NetworkKind};
use axum::http::{HeaderMap, header};
use serde_json::{Value, json};

/// TUNE's macros, in the order of the URL.
pub(crate) const TUNE_MACROS: &[(&str, &str)] = &[
    ("aff_click_id", "{aff_click_id}"),
    ("transaction_id", "{transaction_id}"),
    ("goal_id", "{goal_id}"),
    ("offer_id", "{offer_id}"),
    ("payout", "{payout}"),
    ("currency", "{currency}"),
    ("sale_amount", "{sale_amount}"),
];

/// `AFFNET_PUBLIC_URL`, else the request's scheme (`X-Forwarded-Proto`, default http) and host.
pub fn base_url(public_url: Option<&str>, headers: &HeaderMap) -> Option<String> {
    if let Some(url) = public_url {
        return Some(url.trim_end_matches('/').to_string());
    }
    let host = headers.get(header::HOST)?.to_str().ok()?.trim();
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if !host_ok {
        return None;
    }
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|s| *s == "https" || *s == "http")
        .unwrap_or("http");
    Some(format!("{scheme}://{host}"))
}

pub fn describe(integration: &Integration, network: &Network, base: &str) -> Value {
    let (id, token) = (&integration.id, &integration.postback_token);
    let native = format!("{base}/postback/{id}?token={token}&");
    if network.kind == NetworkKind::Tune {
        let macros: Vec<String> = TUNE_MACROS
            .iter()
            .map(|(name, mac)| format!("{name}={mac}"))
            .collect();
        return json!({
            "integration_id": id,
            "network": network.slug,
            "kind": "tune",
            "postback_url": format!("{base}/postback/{id}?token={token}&{}", macros.join("&")),
            "notes": [
                "Paste postback_url into TUNE (Offers > Tracking / Postbacks, or the affiliate's postback settings) as is: TUNE replaces the {macros}.",
                "If your offers pass our click ID in aff_sub instead of aff_click_id, replace {aff_click_id} with {aff_sub}.",
                "TUNE fires the postback for approved conversions, so a postback without status counts as approved; append &status=pending (or rejected) to a goal's postback to say otherwise.",
                "Keep the token secret: anyone with this URL can report conversions. POST /integrations/{id}/rotate-token replaces it.",
            ],
        });
    }
    let base_url = format!("{base}/api/sale/status.json?id={id}-{token}&");
    let postbacks: Vec<Value> = network
        .postbacks
        .iter()
        .map(|p| {
            json!({
                "event": p.event,
                "label": p.label,
                "tail": p.tail,
                "note": p.note,
                "url": (!p.tail.is_empty()).then(|| format!("{base_url}{}", p.tail)),
            })
        })
        .collect();
    let mut out = json!({
        "integration_id": id,
        "network": network.slug,
        "kind": "cpa",
        "base_url": base_url,
        "postbacks": postbacks,
        "native_url": native,
        "notes": [
            "Add each postback URL at the network for its event; the network replaces its macros.",
            "base_url ends with & on purpose: tails with or without a leading & then both work.",
            "/api/comp/status.json works the same as /api/sale/status.json.",
        ],
    });
    if !network.notes.is_empty() {
        out["network_notes"] = json!(network.notes);
    }
    if network.postbacks.is_empty() && network.postback_parts.is_none() {
        out["notes"]
            .as_array_mut()
            .expect("array")
            .push(json!("The catalogue lists no postback for this network (statuses come from its API); base_url still accepts &oid=...&status=... if the network can call it."));
    }
    if let Some(parts) = &network.postback_parts {
        out["parts"] = parts_of(parts, base, id, token);
    }
    out
}

/// AffbayAsia's form: protocol, domain, path and each parameter, filled in where we know it.
fn parts_of(
    parts: &affnet_core::catalogue::PostbackParts,
    base: &str,
    id: &str,
    token: &str,
) -> Value {
    let (scheme, host) = base.split_once("://").unwrap_or(("https", base));
    let params: Vec<Value> = parts
        .params
        .iter()
        .map(|p| {
            let value = match p.name.as_str() {
                "id" => format!("{id}-{token}"),
                _ => p.value.clone(),
            };
            json!({"name": p.name, "value": value, "seed": p.value})
        })
        .collect();
    json!({
        "protocol": scheme.to_ascii_uppercase(),
        "domain": host,
        "path": parts.path,
        "params": params,
    })
}
