//! The adapter described entirely by data ([`NetworkApi`]), and the adapter trait.

use crate::lead::{
    Account, Exchange, LeadFields, LeadRef, RemoteStatus, SendOutcome, StatusReport, TestOutcome,
};
use crate::mask::{MAX_REPLY, cut, mask, redact};
use crate::reply::{at, classify_send, classify_test, text};
use crate::request::{ConfigError, RawReply, base_url, prepare, send};
use crate::spec::{LeadRef as By, NetworkApi, StatusCall, StatusMode};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio::time::Instant;

/// Most pages one window-mode status run reads.
const MAX_PAGES: usize = 1_000;

/// One network API: send a lead, load statuses, test the connection (read-only).
#[async_trait]
pub trait LeadApi: Send + Sync {
    async fn send_lead(
        &self,
        api: &NetworkApi,
        account: &Account<'_>,
        lead: &LeadFields,
    ) -> Result<Exchange<SendOutcome>, ConfigError>;

    async fn load_statuses(
        &self,
        api: &NetworkApi,
        account: &Account<'_>,
        leads: &[LeadRef],
        since: DateTime<Utc>,
    ) -> Result<StatusReport, ConfigError> {
        match &api.statuses {
            Some(call) => load_with(call, api, account, leads, since).await,
            None => Err(ConfigError(format!("{} has no status API", api.slug))),
        }
    }

    async fn test_connection(
        &self,
        api: &NetworkApi,
        account: &Account<'_>,
    ) -> Result<Exchange<TestOutcome>, ConfigError> {
        let call = api
            .test
            .as_ref()
            .ok_or_else(|| ConfigError(format!("{} has no read-only call to test", api.slug)))?;
        let base = base_url(api, call, account)?;
        let prepared = prepare(call, &base, None, account, &[])?;
        let raw = send(&prepared, account).await;
        Ok(exchange(classify_test(&call.reply, &raw), &raw, account))
    }
}

pub struct Generic;

#[async_trait]
impl LeadApi for Generic {
    async fn send_lead(
        &self,
        api: &NetworkApi,
        account: &Account<'_>,
        lead: &LeadFields,
    ) -> Result<Exchange<SendOutcome>, ConfigError> {
        let call = api
            .send
            .as_ref()
            .ok_or_else(|| ConfigError(format!("{} has no lead API", api.slug)))?;
        let base = base_url(api, call, account)?;
        let prepared = prepare(call, &base, Some(lead), account, &[])?;
        let raw = send(&prepared, account).await;
        Ok(exchange(classify_send(&call.reply, &raw), &raw, account))
    }
}

/// The credentials, as the masking list.
pub fn secrets<'a>(account: &'a Account<'_>) -> impl Iterator<Item = &'a str> {
    account.credentials.values().map(String::as_str)
}

/// The attempt's record of a call: the reply (or the failure) masked, and the network's texts
/// the result carries (error messages and codes, test details) too.
pub fn exchange<T: Masked>(result: T, raw: &RawReply, account: &Account<'_>) -> Exchange<T> {
    let secrets: Vec<&str> = secrets(account).collect();
    let reply = match &raw.failure {
        Some((_, message)) => mask(message, secrets.iter().copied()),
        // Redacted when it came.
        None => cut(raw.text.clone(), MAX_REPLY),
    };
    Exchange {
        result: result.masked(&secrets),
        http_status: raw.status,
        reply,
        duration: raw.duration,
    }
}

/// A call's result, whose texts came from the network, with every secret masked out of them.
pub trait Masked {
    fn masked(self, secrets: &[&str]) -> Self;
}

impl Masked for () {
    fn masked(self, _: &[&str]) {}
}

impl Masked for SendOutcome {
    fn masked(self, secrets: &[&str]) -> Self {
        let text = |s: String| redact(&s, secrets.iter().copied());
        match self {
            SendOutcome::Sent { order_id } => SendOutcome::Sent { order_id },
            SendOutcome::Duplicate {
                order_id,
                code,
                message,
            } => SendOutcome::Duplicate {
                order_id,
                code: code.map(text),
                message: text(message),
            },
            SendOutcome::Rejected { code, message } => SendOutcome::Rejected {
                code: code.map(text),
                message: text(message),
            },
            SendOutcome::Retry { kind, message } => SendOutcome::Retry {
                kind,
                message: text(message),
            },
        }
    }
}

impl Masked for TestOutcome {
    fn masked(self, secrets: &[&str]) -> Self {
        let text = |s: String| redact(&s, secrets.iter().copied());
        match self {
            TestOutcome::Ok { detail } => TestOutcome::Ok {
                detail: text(detail),
            },
            TestOutcome::Connection { detail } => TestOutcome::Connection {
                detail: text(detail),
            },
            TestOutcome::Authentication { detail, fix } => TestOutcome::Authentication {
                detail: text(detail),
                fix,
            },
        }
    }
}

/// Spaces requests to the network's rate limit.
pub struct Pace {
    interval: Duration,
    last: Option<Instant>,
}

impl Pace {
    pub fn new(requests_per_minute: Option<u32>) -> Pace {
        Pace {
            interval: requests_per_minute
                .filter(|r| *r > 0)
                .map_or(Duration::ZERO, |r| {
                    Duration::from_millis(60_000 / u64::from(r))
                }),
            last: None,
        }
    }

    pub async fn wait(&mut self) {
        if let Some(last) = self.last {
            let due = last + self.interval;
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
        }
        self.last = Some(Instant::now());
    }
}

fn items_of(call: &StatusCall, body: &str) -> Option<Vec<serde_json::Value>> {
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    match at(&json, &call.items)? {
        serde_json::Value::Array(list) => Some(list.clone()),
        serde_json::Value::Object(map) => Some(map.values().cloned().collect()),
        _ => None,
    }
}

fn statuses_of(call: &StatusCall, items: &[serde_json::Value]) -> Vec<RemoteStatus> {
    items
        .iter()
        .filter_map(|item| {
            Some(RemoteStatus {
                id: text(at(item, &call.item_id))?,
                raw_status: text(at(item, &call.item_status))?,
                payout: call
                    .item_payout
                    .as_deref()
                    .and_then(|p| text(at(item, p)))
                    .and_then(|p| p.parse().ok()),
                currency: call
                    .item_currency
                    .as_deref()
                    .and_then(|p| text(at(item, p))),
            })
        })
        .collect()
}

/// One status request; its items, or the failure in words (masked).
async fn ask(
    call: &StatusCall,
    api: &NetworkApi,
    account: &Account<'_>,
    extra: &[(String, String)],
    report: &mut StatusReport,
) -> Result<Option<Vec<serde_json::Value>>, ConfigError> {
    let base = base_url(api, &call.call, account)?;
    let prepared = prepare(&call.call, &base, None, account, extra)?;
    let raw = send(&prepared, account).await;
    report.requests += 1;
    let ok = raw.failure.is_none() && raw.status.is_some_and(|s| (200..300).contains(&s));
    let items = ok.then(|| items_of(call, &raw.body)).flatten();
    if items.is_none() {
        let record = exchange((), &raw, account);
        let status = raw
            .status
            .map_or("no answer".into(), |s| format!("HTTP {s}"));
        report.errors.push(format!("{status}: {}", record.reply));
    }
    Ok(items)
}

/// Loads statuses as `call` describes: by ids in batches, or by pages of a time window.
pub async fn load_with(
    call: &StatusCall,
    api: &NetworkApi,
    account: &Account<'_>,
    leads: &[LeadRef],
    since: DateTime<Utc>,
) -> Result<StatusReport, ConfigError> {
    let mut report = StatusReport::default();
    let mut pace = Pace::new(api.requests_per_minute);
    match call.mode {
        StatusMode::Ids => {
            let param = call.ids_param.clone().unwrap_or_else(|| "ids".into());
            let ids: Vec<String> = leads
                .iter()
                .filter_map(|l| match call.by {
                    By::OrderId => l.order_id.clone(),
                    By::ClickId => Some(l.click_id.clone()),
                })
                .collect();
            for chunk in ids.chunks(call.batch.max(1)) {
                let extra: Vec<(String, String)> = match &call.join {
                    Some(sep) => vec![(param.clone(), chunk.join(sep))],
                    None => chunk.iter().map(|id| (param.clone(), id.clone())).collect(),
                };
                pace.wait().await;
                if let Some(items) = ask(call, api, account, &extra, &mut report).await? {
                    report.statuses.extend(statuses_of(call, &items));
                }
            }
        }
        StatusMode::Window => {
            for page in 1..=MAX_PAGES {
                let mut extra = Vec::new();
                let mut put = |name: &Option<String>, value: String| {
                    if let Some(n) = name {
                        extra.push((n.clone(), value));
                    }
                };
                put(&call.from_param, since.format("%Y-%m-%d").to_string());
                put(&call.page_param, page.to_string());
                put(&call.per_page_param, call.batch.to_string());
                pace.wait().await;
                let Some(items) = ask(call, api, account, &extra, &mut report).await? else {
                    break;
                };
                report.statuses.extend(statuses_of(call, &items));
                if items.len() < call.batch || call.page_param.is_none() {
                    break;
                }
            }
        }
    }
    Ok(report)
}
