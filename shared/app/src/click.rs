//! `GET /c/{offer_id}?msg=&cr=&sub1=..&sub5=`: records a click and redirects to the offer's
//! tracking URL with a new signed click ID in place of `{click_id}`.
//!
//! Only the stored tracking URL is a redirect target; nothing from the query reaches `Location`
//! but the click ID we mint. Unknown query parameters are ignored: ad platforms append their own
//! (`utm_*`, `fbclid`, `gclid`), and refusing them would lose real visitors.

use crate::click_labels::{self, Assignment};
use crate::error::ApiError;
use crate::http::peer_ip;
use crate::state::AppState;
use affnet_core::Click;
use affnet_core::InputError;
use affnet_core::clickid::{ClickId, LabelHandle, Labels, MAX_PROBES, RANDOM_LEN};
use affnet_core::offer::{Offer, OfferStatus};
use affnet_store::labels::ClickLabelsError;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::DateTime;
use std::collections::BTreeMap;

/// Longest message or creative id.
pub const MAX_ID_LEN: usize = 32;
/// Longest `sub1`..`sub5` value, in bytes.
pub const MAX_SUB_LEN: usize = 256;
/// Longest user agent kept, in bytes.
pub const MAX_USER_AGENT_LEN: usize = 512;
const SUBS: [&str; 5] = ["sub1", "sub2", "sub3", "sub4", "sub5"];

/// What a click link may carry.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ClickParams {
    pub message_id: Option<String>,
    pub creative_id: Option<String>,
    pub subs: BTreeMap<String, String>,
}

fn is_id(value: &str) -> bool {
    value.len() <= MAX_ID_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads `msg`, `cr` and `sub1`..`sub5`; empty values count as absent, a known parameter given
/// twice is refused (which one would count?), anything else is ignored.
pub fn parse_params(query: Option<&str>) -> Result<ClickParams, InputError> {
    let mut params = ClickParams::default();
    let mut seen = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let name: &str = &name;
        let known = matches!(name, "msg" | "cr") || SUBS.contains(&name);
        if !known {
            continue;
        }
        if seen.contains(&name.to_string()) {
            return Err(InputError::invalid(
                name,
                format!("`{name}` is given twice"),
            ));
        }
        seen.push(name.to_string());
        if value.is_empty() {
            continue;
        }
        match name {
            "msg" | "cr" => {
                if !is_id(&value) {
                    return Err(InputError::invalid(
                        name,
                        format!(
                            "`{name}` must be at most {MAX_ID_LEN} characters of A-Z, a-z, 0-9, `_` and `-`"
                        ),
                    ));
                }
                let slot = if name == "msg" {
                    &mut params.message_id
                } else {
                    &mut params.creative_id
                };
                *slot = Some(value.into_owned());
            }
            _ => {
                if value.len() > MAX_SUB_LEN {
                    return Err(InputError::out_of_range(
                        name,
                        format!("`{name}` must be at most {MAX_SUB_LEN} bytes"),
                    ));
                }
                params.subs.insert(name.to_string(), value.into_owned());
            }
        }
    }
    Ok(params)
}

/// `text` cut to at most `max` bytes on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn no_offer(id: &str) -> ApiError {
    // Same answer for unknown and paused offers: a public route need not say which.
    ApiError::NotFound(format!("active offer {id}"))
}

pub async fn click(
    State(state): State<AppState>,
    Path(offer_id): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    let params = parse_params(query.as_deref())?;
    // Offer ids are ULIDs: anything else cannot be one, and costs no read.
    if ulid::Ulid::from_string(&offer_id).is_err() {
        return Err(no_offer(&offer_id));
    }
    let offer = match state.repo.get_offer(&offer_id).await? {
        Some(offer) if offer.status == OfferStatus::Active => offer,
        _ => return Err(no_offer(&offer_id)),
    };
    let now = state.clock.now().timestamp();
    let mut random = [0u8; RANDOM_LEN];
    getrandom::fill(&mut random).map_err(|e| ApiError::internal("OS random source", &e))?;
    let labels = Labels::new(
        params.message_id.clone().unwrap_or_default(),
        params.creative_id.clone().unwrap_or_default(),
    );
    let (parts, _) = request.into_parts();
    let ttl_secs = i64::from(state.config.click_ttl_days) * 86_400;
    let mut record = record_of(&offer, params, &parts, now, ttl_secs);
    let mint = |handle| {
        ClickId::mint(
            &state.config.click_key,
            &offer.id,
            handle,
            now as u64,
            random,
        )
        .map_err(|e| ApiError::internal(&format!("minting a click ID for offer {}", offer.id), &e))
    };
    mint_and_store(&state, &mut record, &labels, mint).await?;
    crate::health::activity::note_click(&state, &record).await;
    let location = location(&offer.redirect_url(&record.id)).ok_or_else(|| {
        ApiError::Internal(format!("offer {} has an unusable tracking URL", offer.id))
    })?;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
    )
        .into_response())
}

/// The click as stored, its id still to mint.
fn record_of(offer: &Offer, params: ClickParams, parts: &Parts, now: i64, ttl_secs: i64) -> Click {
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .map(|v| truncate(&String::from_utf8_lossy(v.as_bytes()), MAX_USER_AGENT_LEN).to_string());
    Click {
        id: String::new(),
        offer_id: offer.id.clone(),
        integration_id: offer.integration_id.clone(),
        message_id: params.message_id,
        creative_id: params.creative_id,
        subs: params.subs,
        time: DateTime::from_timestamp(now, 0).unwrap_or_default(),
        ip: peer_ip(&parts.extensions).map(|ip| ip.to_string()),
        user_agent,
        expires_at: now + ttl_secs,
    }
}

/// Mints the click ID and stores the click in one batch, which also creates the labels' handle
/// when this pair is new (see [`crate::click_labels`]).
///
/// Storage failures are logged, not returned: the visitor is redirected anyway. The click ID is
/// signed and carries offer and time, so conversions still attribute to the offer (and to message
/// and creative when their handle was stored before); only the click record and its count are
/// lost. A 5xx would lose the visitor, and browsers do not retry. If the labels cannot be read,
/// the click ID carries none (handle 0) rather than one that may never be stored.
async fn mint_and_store(
    state: &AppState,
    record: &mut Click,
    labels: &Labels,
    mint: impl Fn(LabelHandle) -> Result<String, ApiError>,
) -> Result<(), ApiError> {
    // Our batch fails when a concurrent click created the handle first: read again, once per
    // candidate at most.
    for _ in 0..=MAX_PROBES {
        let assignment = click_labels::assign(state, labels)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(offer = %record.offer_id, error = %e, "click labels unavailable; the click ID carries none");
                Assignment::NONE
            });
        record.id = mint(assignment.handle)?;
        let written = match assignment.create {
            false => state.repo.record_click(record).await.map_err(Into::into),
            true => {
                let handle = assignment.handle;
                state
                    .repo
                    .record_click_with_labels(record, handle, labels)
                    .await
            }
        };
        match written {
            Ok(()) if assignment.create => click_labels::created(state, assignment.handle, labels),
            Ok(()) => {}
            Err(ClickLabelsError::HandleTaken) => continue,
            Err(e) => {
                tracing::error!(offer = %record.offer_id, error = %e, "click not stored; redirecting anyway");
            }
        }
        return Ok(());
    }
    tracing::error!(offer = %record.offer_id, "click labels kept changing; click not stored");
    Ok(())
}

/// The redirect URL as a header: as stored when it is plain ASCII, else percent-encoded by the
/// URL parser (a tracking URL may hold non-ASCII characters).
fn location(url: &str) -> Option<HeaderValue> {
    if url.is_ascii() {
        return HeaderValue::from_str(url).ok();
    }
    HeaderValue::from_str(url::Url::parse(url).ok()?.as_str()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_checked_and_unknown_ones_ignored() {
        let p = parse_params(Some("msg=spring-sale&cr=b_1&sub1=a%20b&utm_source=x&sub3=")).unwrap();
        assert_eq!(p.message_id.as_deref(), Some("spring-sale"));
        assert_eq!(p.creative_id.as_deref(), Some("b_1"));
        assert_eq!(p.subs.len(), 1);
        assert_eq!(p.subs["sub1"], "a b");
        assert_eq!(parse_params(None).unwrap(), ClickParams::default());

        let err = |q: &str| parse_params(Some(q)).unwrap_err();
        assert_eq!(err("msg=a.b").field.as_deref(), Some("msg"));
        assert_eq!(
            err(&format!("cr={}", "x".repeat(33))).field.as_deref(),
            Some("cr")
        );
        assert!(parse_params(Some(&format!("cr={}", "x".repeat(32)))).is_ok());
        let long = err(&format!("sub2={}", "é".repeat(129)));
        assert_eq!(long.field.as_deref(), Some("sub2"));
        assert!(long.message.contains("256 bytes"));
        assert!(err("msg=a&msg=b").message.contains("twice"));
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn non_ascii_tracking_urls_are_percent_encoded() {
        let v = location("https://ex.com/café?c=1").unwrap();
        assert_eq!(v, "https://ex.com/caf%C3%A9?c=1");
        assert_eq!(
            location("https://ex.com/?c=1").unwrap(),
            "https://ex.com/?c=1"
        );
    }
}
