//! What a test postback sends: the integration's own postback (TUNE's URL, the CPA network's
//! tail for the event, or AffbayAsia's parts) with sample values in place of the network's
//! macros and `test=1` appended. Every candidate is interpreted here first, exactly as the
//! public route will, so a request the route would refuse or record with another status than
//! the one asked for is a 400 before anything is written or sent.

use affnet_core::catalogue::{Network, NetworkKind, PostbackParts};
use affnet_core::clickid::ClickKey;
use affnet_core::postback::{PostbackError, default_stage, interpret, is_macro};
use affnet_core::status::{Stage, Status};
use affnet_core::{InputError, Integration, money};
use rust_decimal::Decimal;
use serde_json::Value;

/// `comment` (and any other macro we have no sample for) in a test postback.
pub const SAMPLE_COMMENT: &str = "affnet test postback";
/// The tail a CPA network without a documented one can still call (our receiving contract).
const GENERIC_TAIL: &str = "&oid={click_id}&status={status}&pay={payout}&cc={currency}";

/// The body of `POST /integrations/{id}/test-postback`, checked.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TestRequest {
    pub event: Option<String>,
    pub status: Option<Status>,
    pub payout: Option<Decimal>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct Body {
    event: Option<String>,
    status: Option<String>,
    payout: Option<Value>,
}

/// Reads the optional body: `status` one of ours, `payout` a decimal string.
pub fn parse(body: Option<&Value>) -> Result<TestRequest, InputError> {
    let Some(body) = body else {
        return Ok(TestRequest::default());
    };
    let body: Body = crate::http::from_body(body)?;
    let status = match body.status {
        None => None,
        Some(word) => Some(Status::parse(&word).ok_or_else(|| {
            InputError::invalid(
                "status",
                format!(
                    "`status` must be one of pending, hold, approved, rejected, trash, not `{}`",
                    cut(&word)
                ),
            )
        })?),
    };
    let payout = match body.payout {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(
            money::parse_amount(&text)
                .map_err(|e| InputError::invalid("payout", format!("`payout`: {e}")))?,
        ),
        Some(_) => {
            return Err(InputError::wrong_type(
                "payout",
                "a decimal string such as \"12.50\" (money is never a float)",
            ));
        }
    };
    let event = body.event.filter(|e| !e.trim().is_empty());
    Ok(TestRequest {
        event,
        status,
        payout,
    })
}

fn cut(text: &str) -> String {
    text.chars().take(40).collect()
}

/// The values put in place of the network's macros.
pub struct Sample<'a> {
    pub click_id: &'a str,
    /// The network's own id of the conversion (`eid`, `transaction_id`): fresh per test.
    pub transaction_id: &'a str,
    /// The request's payout, else the offer's.
    pub payout: Decimal,
    pub currency: &'a str,
    /// TUNE's id of the offer, when it is a synced one.
    pub remote_offer_id: Option<&'a str>,
}

/// One postback to send: its route and parameters (credential and `test=1` included).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The catalogue's event of the tail (`global`, `approve`...); `None` for TUNE.
    pub event: Option<String>,
    pub path: String,
    pub params: Vec<(String, String)>,
    /// The status the route records for it (as interpreted here).
    pub status: Status,
}

impl Plan {
    pub fn url(&self, base: &str) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.params)
            .finish();
        format!("{base}{}?{query}", self.path)
    }
}

/// A possible postback: which event, its parameters, whether it carries a payout.
struct Candidate {
    event: Option<String>,
    path: String,
    params: Vec<(String, String)>,
    sends_payout: bool,
}

/// The postback that tests `request` on `integration`, or why none can.
pub fn plan(
    network: &Network,
    integration: &Integration,
    request: &TestRequest,
    sample: &Sample<'_>,
    key: &ClickKey,
) -> Result<Plan, InputError> {
    let wanted = request.status.unwrap_or(Status::Approved);
    let candidates = match (network.kind, &network.postback_parts) {
        (NetworkKind::Tune, _) => {
            if let Some(event) = &request.event {
                return Err(unknown_event(network, event, &[]));
            }
            vec![tune(integration, request.status, sample)]
        }
        (NetworkKind::Cpa, Some(parts)) => parts_of(parts, integration, sample),
        (NetworkKind::Cpa, None) => tails(network, integration, wanted, sample),
    };
    let mut events: Vec<&str> = candidates
        .iter()
        .filter_map(|c| c.event.as_deref())
        .collect();
    events.dedup();
    let chosen: Vec<&Candidate> = match &request.event {
        None => candidates.iter().collect(),
        Some(event) => {
            let of_event: Vec<&Candidate> = candidates
                .iter()
                .filter(|c| c.event.as_deref() == Some(event.as_str()))
                .collect();
            if of_event.is_empty() {
                return Err(unknown_event(network, event, &events));
            }
            of_event
        }
    };
    pick(network, integration, request, &chosen, key)
}

/// The first candidate the route accepts with the status asked for (any, when none was).
fn pick(
    network: &Network,
    integration: &Integration,
    request: &TestRequest,
    candidates: &[&Candidate],
    key: &ClickKey,
) -> Result<Plan, InputError> {
    let mut refused: Option<PostbackError> = None;
    let mut statuses = Vec::new();
    let with_payout: Vec<&&Candidate> = candidates
        .iter()
        .filter(|c| request.payout.is_none() || c.sends_payout)
        .collect();
    if with_payout.is_empty() {
        let which = match &request.event {
            Some(event) => format!("event `{event}` of {}", network.name),
            None => format!("no postback of {}", network.name),
        };
        return Err(InputError::invalid(
            "payout",
            format!("{which} sends no payout (its tail has no `pay`): leave out `payout`"),
        ));
    }
    for candidate in with_payout {
        match interpret(network, &integration.id, &candidate.params, key) {
            Ok(decision) if request.status.is_none_or(|s| s == decision.status) => {
                return Ok(Plan {
                    event: candidate.event.clone(),
                    path: candidate.path.clone(),
                    params: candidate.params.clone(),
                    status: decision.status,
                });
            }
            Ok(decision) => statuses.push(decision.status.as_str()),
            Err(e) => refused = Some(e),
        }
    }
    if let Some(e) = refused.filter(|_| statuses.is_empty()) {
        let field = e.param().unwrap_or("body").to_string();
        return Err(InputError::invalid(
            &field,
            format!("the postback would be refused: {e}"),
        ));
    }
    statuses.dedup();
    let asked = request.status.map_or("", Status::as_str);
    let which = match &request.event {
        Some(event) => format!("event `{event}` of {} sends", network.name),
        None => format!("the postbacks of {} send", network.name),
    };
    Err(InputError::invalid(
        "status",
        format!(
            "{which} status {}, not {asked}: leave out `status` or choose another event",
            statuses.join(", ")
        ),
    ))
}

fn unknown_event(network: &Network, event: &str, events: &[&str]) -> InputError {
    let message = match events.is_empty() {
        true => format!(
            "{} has one postback URL for every conversion: leave out `event` (not `{}`)",
            network.name,
            cut(event)
        ),
        false => format!(
            "{} has no postback for event `{}`; its events: {}",
            network.name,
            cut(event),
            events.join(", ")
        ),
    };
    InputError::new("unknown_event", "event", message)
}

/// TUNE's URL (`/postback/{id}?token=`), its macros filled in; `status` only when asked for
/// (TUNE's postbacks mean approved without one).
fn tune(integration: &Integration, status: Option<Status>, sample: &Sample<'_>) -> Candidate {
    let mut params = vec![("token".to_string(), integration.postback_token.clone())];
    for (name, _) in crate::postbacks::url::TUNE_MACROS {
        let value = match *name {
            "aff_click_id" => Some(sample.click_id.to_string()),
            "transaction_id" => Some(sample.transaction_id.to_string()),
            "goal_id" => Some("0".to_string()),
            "offer_id" => sample.remote_offer_id.map(str::to_string),
            "payout" => Some(sample.payout.to_string()),
            "currency" => Some(sample.currency.to_string()),
            // Sent for sale-amount offers only: no sample.
            _ => None,
        };
        if let Some(value) = value {
            params.push((name.to_string(), value));
        }
    }
    if let Some(status) = status {
        params.push(("status".into(), status.as_str().into()));
    }
    params.push(("test".into(), "1".into()));
    Candidate {
        event: None,
        path: format!("/postback/{}", integration.id),
        params,
        sends_payout: true,
    }
}

/// Each documented tail (the global ones first), one candidate per status word its `{status}`
/// macro could carry; the generic tail when the catalogue documents none.
fn tails(
    network: &Network,
    integration: &Integration,
    wanted: Status,
    sample: &Sample<'_>,
) -> Vec<Candidate> {
    let mut tails: Vec<(&str, &str)> = network
        .postbacks
        .iter()
        .filter(|p| !p.tail.is_empty())
        .map(|p| (p.event.as_str(), p.tail.as_str()))
        .collect();
    if tails.is_empty() {
        tails.push(("global", GENERIC_TAIL));
    }
    tails.sort_by_key(|(event, _)| *event != "global");
    let mut out = Vec::new();
    for (event, tail) in tails {
        let pairs = tail_pairs(tail);
        let has_status_macro = pairs.iter().any(|(n, v)| *n == "status" && is_macro(v));
        let words = match has_status_macro {
            true => status_words(network, &pairs, wanted),
            false => vec![String::new()],
        };
        for word in words {
            let mut params = vec![(
                "id".to_string(),
                format!("{}-{}", integration.id, integration.postback_token),
            )];
            params.extend(
                pairs
                    .iter()
                    .map(|(n, v)| (n.to_string(), cpa_value(n, v, sample, &word))),
            );
            params.push(("test".into(), "1".into()));
            out.push(Candidate {
                event: Some(event.to_string()),
                path: "/api/sale/status.json".into(),
                params,
                sends_payout: pairs.iter().any(|(n, _)| *n == "pay"),
            });
        }
    }
    out
}

fn tail_pairs(tail: &str) -> Vec<(&str, &str)> {
    tail.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect()
}

/// A CPA parameter's value: kept when the tail fixes it, else the sample for its name.
fn cpa_value(name: &str, value: &str, sample: &Sample<'_>, status: &str) -> String {
    if !is_macro(value) {
        return value.to_string();
    }
    match name {
        "oid" => sample.click_id.to_string(),
        // MonadLead's `eid={click_id}`: the network's id is our click ID there.
        "eid" if value.to_ascii_lowercase().contains("click") => sample.click_id.to_string(),
        "eid" => sample.transaction_id.to_string(),
        "status" => status.to_string(),
        "pay" => sample.payout.to_string(),
        "cc" => sample.currency.to_string(),
        _ => SAMPLE_COMMENT.to_string(),
    }
}

/// Words the network may send for `wanted`, most specific first: the tail's overrides
/// (`sta=11`), the network's `status_map`, then the default dictionary's word.
fn status_words(network: &Network, pairs: &[(&str, &str)], wanted: Status) -> Vec<String> {
    let mut words = Vec::new();
    for (name, value) in pairs {
        let stage = match *name {
            "sta" => Stage::Approve,
            "stc" => Stage::Cancel,
            "stt" => Stage::Trash,
            "stw" => Stage::Wait,
            "sth" => Stage::Hold,
            _ => continue,
        };
        if stage.status() == wanted && !is_macro(value) {
            words.extend(value.split(',').map(str::trim).map(str::to_string));
        }
    }
    for (word, stage) in &network.status_map {
        if Stage::parse(stage).map(Stage::status) == Some(wanted) {
            words.push(word.clone());
        }
    }
    words.push(stage_name(stage_of(wanted)).to_string());
    words.retain(|w| !w.is_empty());
    words
}

fn stage_of(status: Status) -> Stage {
    match status {
        Status::Pending => Stage::Wait,
        Status::Hold => Stage::Hold,
        Status::Approved => Stage::Approve,
        Status::Rejected => Stage::Cancel,
        Status::Trash => Stage::Trash,
    }
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Wait => "wait",
        Stage::Hold => "hold",
        Stage::Approve => "approve",
        Stage::Cancel => "cancel",
        Stage::Trash => "trash",
    }
}

/// AffbayAsia's form: one postback per static `status` value the seed lists ("accept for
/// approved orders postback, cancel for ..."), its event named after the word's stage.
fn parts_of(
    parts: &PostbackParts,
    integration: &Integration,
    sample: &Sample<'_>,
) -> Vec<Candidate> {
    let words = parts
        .params
        .iter()
        .find(|p| p.name == "status")
        .map(|p| static_words(&p.value))
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| vec!["approve".to_string()]);
    words
        .into_iter()
        .map(|word| {
            let mut params: Vec<(String, String)> = parts
                .params
                .iter()
                .map(|p| {
                    let value = match p.name.as_str() {
                        "id" => format!("{}-{}", integration.id, integration.postback_token),
                        "oid" => sample.click_id.to_string(),
                        "status" => word.clone(),
                        _ => SAMPLE_COMMENT.to_string(),
                    };
                    (p.name.clone(), value)
                })
                .collect();
            params.push(("test".into(), "1".into()));
            let event = default_stage(&word).map_or(word.clone(), |s| stage_name(s).into());
            Candidate {
                event: Some(event),
                path: parts.path.clone(),
                params,
                sends_payout: parts.params.iter().any(|p| p.name == "pay"),
            }
        })
        .collect()
}

/// `static value: accept for approved orders postback, cancel for ...` → `[accept, cancel, ...]`.
fn static_words(seed: &str) -> Vec<String> {
    let Some(list) = seed.strip_prefix("static value:") else {
        return Vec::new();
    };
    list.split(',')
        .filter_map(|item| item.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
