//! A mock TUNE server (wiremock on 127.0.0.1) speaking the documented envelope, plus JSON
//! fixtures. Feature `mock`; meant for tests here and in other crates (offer sync, connection
//! testing):
//!
//! ```ignore
//! let tune = MockTune::start().await;
//! tune.mount_offers(Mode::Network, (1..=7).map(fixtures::network_offer_row).collect()).await;
//! let client = TuneClient::new(tune.config(Mode::Network))?;
//! ```
//!
//! The offer responder behaves like TUNE: it checks the key (`NetworkToken` or `api_key`) and
//! the `NetworkId` the client sends with a custom base URL, pages by the request's `limit` and
//! `page`, applies `filters[status]` / `filters[status][]` and `filters[id][]`, answers
//! `data: []` for an empty page, and echoes the request (key included, as TUNE does) so tests
//! can check it never leaks.

use crate::config::{Mode, RetryPolicy, TuneConfig};
use serde_json::{Map, Value, json};
use std::time::Duration;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

mod reports;
pub use reports::{Reports, report_conversion, set_stat};

pub const NETWORK_ID: &str = "demo";
/// Shaped like a real NetworkToken (`NET` + 27 alphanumerics).
pub const NETWORK_TOKEN: &str = "NETmock0token0abcdefghijklmno";
/// Shaped like a real affiliate api_key (64 hex characters).
pub const AFFILIATE_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
pub const API_PATH: &str = "/Apiv3/json";

/// The key [`MockTune::config`] uses for a mode.
pub fn key_for(mode: Mode) -> &'static str {
    match mode {
        Mode::Network => NETWORK_TOKEN,
        Mode::Affiliate => AFFILIATE_KEY,
    }
}

/// JSON fixtures: offers, pages, envelopes and every error shape TUNE answers with (HTTP 200
/// with `status: -1` and `errors`/`errorMessage`, and transport-level 5xx).
pub mod fixtures {
    use super::*;

    /// Real recorded text, double spaces included.
    pub const RATE_LIMIT_MESSAGE: &str = "API usage exceeded rate limit.  Configured: 50/10s window; Your usage: 51.  See https://help.tune.com/hasoffers/rate-limit-error/ for guidance.";
    pub const NETWORK_ID_INVALID_MESSAGE: &str = "Network id is not valid";
    /// TUNE's documented wording for a disabled affiliate API.
    pub const AFFILIATE_API_DISABLED_MESSAGE: &str = "Affiliate API feature is disabled";
    /// Guessed wording: TUNE does not document this text.
    pub const IP_NOT_WHITELISTED_MESSAGE: &str =
        "IP address 203.0.113.7 is not whitelisted for API access";
    /// Guessed wording: TUNE does not document this text.
    pub const INVALID_API_KEY_MESSAGE: &str = "Invalid api_key";

    /// A network-API Offer object with TUNE's string-typed fields.
    pub fn network_offer(id: u64) -> Value {
        json!({
            "id": id.to_string(),
            "display_advertiser": "1",
            "advertiser_id": (100 + id % 3).to_string(),
            "name": format!("Offer {id}"),
            "description": format!("Description of offer {id}"),
            "require_approval": "0",
            "require_terms_and_conditions": 0,
            "preview_url": format!("https://shop.example/offer-{id}"),
            "offer_url": format!("https://adv.example/click?o={id}&tid={{transaction_id}}"),
            "currency": match id % 2 { 0 => Value::from("EUR"), _ => Value::Null },
            "default_payout": format!("{}.{:05}", id + 1, id * 250 % 100_000),
            "max_payout": null,
            "protocol": "server",
            "status": "active",
            "expiration_date": "2030-12-31 23:59:59",
            "is_private": "0",
            "payout_type": "cpa_flat",
            "tiered_payout": "0",
            "percent_payout": null,
            "revenue_type": "cpa_flat",
            "modified": 1_700_000_000u64 + id,
            "create_date_utc": "0000-00-00 00:00:00",
            "is_expired": "0"
        })
    }

    /// `{"Offer": network_offer(id)}`
    pub fn network_offer_row(id: u64) -> Value {
        json!({"Offer": network_offer(id)})
    }

    /// An affiliate `findMyApprovedOffers` row: `{"Offer": {...}, "AffiliateOffer": {...}}`
    /// (no offer_url, advertiser or revenue fields, as affiliates see it).
    pub fn affiliate_offer_row(id: u64) -> Value {
        json!({
            "Offer": {
                "id": id.to_string(),
                "name": format!("Offer {id}"),
                "description": "",
                "require_approval": "1",
                "preview_url": format!("https://shop.example/offer-{id}"),
                "currency": "USD",
                "default_payout": "2.50000",
                "payout_type": "cpa_both",
                "percent_payout": "10.00",
                "status": "active",
                "expiration_date": "0000-00-00 00:00:00",
                "is_private": "0",
                "approval_status": "approved"
            },
            "AffiliateOffer": {
                "id": (5000 + id).to_string(),
                "affiliate_id": "94",
                "offer_id": id.to_string(),
                "approval_status": "approved",
                "agreed_terms_and_conditions": "1"
            }
        })
    }

    /// `{"<id>": row, ...}` keyed by each row's `Offer.id` (or `Advertiser.id`/`id`), or `[]`
    /// when there are no rows, as TUNE sends it.
    pub fn rows_by_id(rows: &[Value]) -> Value {
        if rows.is_empty() {
            return json!([]);
        }
        let mut map = Map::new();
        for (i, row) in rows.iter().enumerate() {
            map.insert(row_id(row).unwrap_or_else(|| i.to_string()), row.clone());
        }
        Value::Object(map)
    }

    /// Paged `data`: `{page, current, count, pageCount, data}`.
    pub fn paged(page: u64, page_count: u64, count: u64, rows: &[Value]) -> Value {
        json!({"page": page, "current": 0, "count": count, "pageCount": page_count, "data": rows_by_id(rows)})
    }

    /// The empty page: `data: []`.
    pub fn empty_page() -> Value {
        json!({"page": 1, "current": 0, "count": 0, "pageCount": 0, "data": []})
    }

    /// A success envelope with a request echo that contains a key (never to be leaked).
    pub fn success(data: Value) -> Value {
        json!({
            "request": {"Target": "Offer", "Format": "json", "Service": "HasOffers", "Version": "2",
                        "NetworkId": NETWORK_ID, "NetworkToken": NETWORK_TOKEN, "api_key": AFFILIATE_KEY},
            "response": {"status": 1, "httpStatus": 200, "data": data, "errors": [], "errorMessage": null}
        })
    }

    /// The 2012 envelope: no `httpStatus`, no `errorMessage`.
    pub fn legacy_success(data: Value) -> Value {
        json!({"request": {"NetworkToken": NETWORK_TOKEN}, "response": {"status": 1, "data": data, "errors": []}})
    }

    /// The usual in-band error: HTTP 200, `status: -1`, `data: ""`.
    pub fn error(message: &str) -> Value {
        json!({
            "request": {"NetworkId": NETWORK_ID, "NetworkToken": NETWORK_TOKEN, "api_key": AFFILIATE_KEY},
            "response": {"status": -1, "httpStatus": 200, "data": "",
                         "errors": [{"publicMessage": message}], "errorMessage": message}
        })
    }

    /// An old-style in-band error (no `errorMessage`).
    pub fn legacy_error(message: &str) -> Value {
        json!({"request": {}, "response": {"status": -1, "data": "", "errors": [{"publicMessage": message}]}})
    }

    /// The top-level error: no `request`, no `status`, `errors` as an object.
    pub fn top_level_error(message: &str) -> Value {
        json!({"response": {"errors": {"publicMessage": message}, "link": "http://developers.hasoffers.com/"}})
    }

    pub fn rate_limit_error() -> Value {
        error(RATE_LIMIT_MESSAGE)
    }

    /// Wrong NetworkId: the top-level shape.
    pub fn network_id_invalid_error() -> Value {
        top_level_error(NETWORK_ID_INVALID_MESSAGE)
    }

    /// Bad NetworkToken; the wording (with the token in it) comes from a hand-made fixture.
    pub fn bad_network_token_error(token: &str) -> Value {
        error(&format!("NetworkToken {token} is not authenticated"))
    }

    pub fn bad_api_key_error() -> Value {
        error(INVALID_API_KEY_MESSAGE)
    }

    pub fn api_disabled_error() -> Value {
        error(AFFILIATE_API_DISABLED_MESSAGE)
    }

    pub fn ip_not_whitelisted_error() -> Value {
        error(IP_NOT_WHITELISTED_MESSAGE)
    }

    /// `generateTrackingLink` data; `click_url` carries the `params[...]` as TUNE appends them.
    pub fn tracking_link(offer_id: &str, extra_query: &str) -> Value {
        json!({
            "affiliate_id": "94",
            "offer_id": offer_id.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::from(offer_id)),
            "click_url": format!("https://demo.go2cloud.org/aff_c?offer_id={offer_id}&aff_id=94{extra_query}"),
            "impression_pixel": format!("<img src=\"https://demo.go2cloud.org/aff_i?offer_id={offer_id}&aff_id=94\" width=\"0\" height=\"0\" style=\"position:absolute;visibility:hidden;\" border=\"0\" />")
        })
    }

    pub(crate) fn row_id(row: &Value) -> Option<String> {
        let inner = row
            .get("Offer")
            .or_else(|| row.get("Advertiser"))
            .unwrap_or(row);
        match inner.get("id")? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// A running mock TUNE server.
pub struct MockTune {
    server: MockServer,
}

impl MockTune {
    pub async fn start() -> Self {
        MockTune {
            server: MockServer::start().await,
        }
    }

    /// `http://127.0.0.1:PORT`, usable as `api_domain` with allow-private mode.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// A config pointing at this server: allow-private mode, the mock key for `mode`, a 2 s
    /// timeout and fast retries (2 retries, millisecond delays, 20 ms rate-limit wait).
    pub fn config(&self, mode: Mode) -> TuneConfig {
        TuneConfig::new(mode, NETWORK_ID, key_for(mode))
            .with_api_domain(self.uri())
            .with_allow_private_network(true)
            .with_timeout_ms(2_000)
            .with_retry(fast_retry())
    }

    /// Serves the offer list call of `mode` from `rows`, TUNE-style (see the module docs).
    pub async fn mount_offers(&self, mode: Mode, rows: Vec<Value>) {
        let (target, meth) = match mode {
            Mode::Network => ("Offer", "findAll"),
            Mode::Affiliate => ("Affiliate_Offer", "findMyApprovedOffers"),
        };
        self.mount_rows(mode, target, meth, rows).await;
    }

    /// Serves `Advertiser::findAll` from `(id, company)` pairs, paged like offers.
    pub async fn mount_advertisers(&self, advertisers: &[(&str, &str)]) {
        let rows = advertisers
            .iter()
            .map(|(id, company)| json!({"Advertiser": {"id": id, "company": company}}))
            .collect();
        self.mount_rows(Mode::Network, "Advertiser", "findAll", rows)
            .await;
    }

    /// Serves a paged list for any `Target::Method` (checks the key of `mode`).
    pub async fn mount_rows(&self, mode: Mode, target: &str, meth: &str, rows: Vec<Value>) {
        Mock::given(method("GET"))
            .and(path(API_PATH))
            .and(query_param("Target", target))
            .and(query_param("Method", meth))
            .respond_with(RowsResponder { mode, rows })
            .mount(&self.server)
            .await;
    }

    /// Serves `Affiliate_Offer::generateTrackingLink`, appending each `params[k]=v` to the click
    /// URL verbatim (as TUNE documents: "appended as &key=value").
    pub async fn mount_tracking_link(&self) {
        Mock::given(method("GET"))
            .and(path(API_PATH))
            .and(query_param("Target", "Affiliate_Offer"))
            .and(query_param("Method", "generateTrackingLink"))
            .respond_with(TrackingLinkResponder)
            .mount(&self.server)
            .await;
    }

    /// Answers `body` (HTTP 200) to `Target::Method` (any call when `None`). With `times`, only
    /// the first `times` matching calls get it and it takes precedence over other mocks:
    /// mount the failure with `Some(n)`, then the normal answer, to script "fail then succeed".
    pub async fn mount_body(&self, call: Option<(&str, &str)>, body: Value, times: Option<u64>) {
        self.mount_template(call, ResponseTemplate::new(200).set_body_json(body), times)
            .await;
    }

    /// Answers a bare HTTP status (e.g. 502) with an HTML body, like a load balancer would.
    pub async fn mount_status(&self, call: Option<(&str, &str)>, status: u16, times: Option<u64>) {
        let t = ResponseTemplate::new(status).set_body_raw(
            format!("<html><body><h1>{status}</h1></body></html>"),
            "text/html",
        );
        self.mount_template(call, t, times).await;
    }

    /// Answers `body` only after `delay` (for timeout tests).
    pub async fn mount_delayed(
        &self,
        call: Option<(&str, &str)>,
        body: Value,
        delay: Duration,
        times: Option<u64>,
    ) {
        let t = ResponseTemplate::new(200)
            .set_body_json(body)
            .set_delay(delay);
        self.mount_template(call, t, times).await;
    }

    /// Mounts any template (same `call`/`times` rules as [`MockTune::mount_body`]).
    pub async fn mount_template(
        &self,
        call: Option<(&str, &str)>,
        template: ResponseTemplate,
        times: Option<u64>,
    ) {
        let mut mock = Mock::given(method("GET")).and(path(API_PATH));
        if let Some((target, meth)) = call {
            mock = mock
                .and(query_param("Target", target))
                .and(query_param("Method", meth));
        }
        let mut mock = mock.respond_with(template);
        if let Some(n) = times {
            mock = mock.up_to_n_times(n).with_priority(1);
        }
        mock.mount(&self.server).await;
    }

    /// All requests received so far.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// The decoded query pairs of every request received so far.
    pub async fn request_queries(&self) -> Vec<Vec<(String, String)>> {
        self.requests()
            .await
            .iter()
            .map(|r| r.url.query_pairs().into_owned().collect())
            .collect()
    }
}

/// Retries suited to tests: 2 retries, 5–20 ms backoff, 20 ms rate-limit wait.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        rate_limit_delay: Duration::from_millis(20),
    }
}

pub(crate) fn query(req: &Request) -> Vec<(String, String)> {
    req.url.query_pairs().into_owned().collect()
}

pub(crate) fn get<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The echo TUNE puts in `request`: every parameter, plus Format/Service/Version.
fn echo(q: &[(String, String)]) -> Value {
    let mut m = Map::new();
    for (k, v) in q {
        m.insert(k.clone(), Value::from(v.as_str()));
    }
    m.insert("Format".into(), "json".into());
    m.insert("Service".into(), "HasOffers".into());
    m.insert("Version".into(), "2".into());
    Value::Object(m)
}

pub(crate) fn ok_with_echo(q: &[(String, String)], data: Value) -> ResponseTemplate {
    let mut body = fixtures::success(data);
    body["request"] = echo(q);
    ResponseTemplate::new(200).set_body_json(body)
}

/// Checks `NetworkId` and the key like TUNE: a wrong network id wins over a wrong key.
pub(crate) fn auth_failure(mode: Mode, q: &[(String, String)]) -> Option<ResponseTemplate> {
    if get(q, "NetworkId").is_some_and(|id| id != NETWORK_ID) {
        return Some(
            ResponseTemplate::new(200).set_body_json(fixtures::network_id_invalid_error()),
        );
    }
    let sent = get(q, mode.auth_param()).unwrap_or("");
    if sent == key_for(mode) {
        return None;
    }
    let mut body = match mode {
        Mode::Network => fixtures::bad_network_token_error(sent),
        Mode::Affiliate => fixtures::bad_api_key_error(),
    };
    body["request"] = echo(q);
    Some(ResponseTemplate::new(200).set_body_json(body))
}

struct RowsResponder {
    mode: Mode,
    rows: Vec<Value>,
}

impl Respond for RowsResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let q = query(req);
        if let Some(fail) = auth_failure(self.mode, &q) {
            return fail;
        }
        let statuses: Vec<&str> = q
            .iter()
            .filter(|(k, _)| k == "filters[status]" || k == "filters[status][]")
            .map(|(_, v)| v.as_str())
            .collect();
        let ids: Vec<&str> = q
            .iter()
            .filter(|(k, _)| k == "filters[id]" || k == "filters[id][]")
            .map(|(_, v)| v.as_str())
            .collect();
        let rows: Vec<&Value> = self
            .rows
            .iter()
            .filter(|row| {
                // Checked first: large benchmark sets are served without filters.
                if statuses.is_empty() {
                    return true;
                }
                let status = row
                    .get("Offer")
                    .unwrap_or(row)
                    .get("status")
                    .and_then(Value::as_str);
                status.is_some_and(|s| statuses.contains(&s))
            })
            .filter(|row| {
                ids.is_empty() || fixtures::row_id(row).is_some_and(|id| ids.contains(&id.as_str()))
            })
            .collect();
        let Some(limit) = get(&q, "limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0)
        else {
            // No limit: every row, keyed by id, without the paging wrapper.
            let all: Vec<Value> = rows.into_iter().cloned().collect();
            return ok_with_echo(&q, fixtures::rows_by_id(&all));
        };
        let page = get(&q, "page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let count = rows.len();
        let page_count = count.div_ceil(limit);
        let slice: Vec<Value> = rows
            .into_iter()
            .skip((page - 1) * limit)
            .take(limit)
            .cloned()
            .collect();
        let data = fixtures::paged(page as u64, page_count as u64, count as u64, &slice);
        ok_with_echo(&q, data)
    }
}

struct TrackingLinkResponder;

impl Respond for TrackingLinkResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let q = query(req);
        if let Some(fail) = auth_failure(Mode::Affiliate, &q) {
            return fail;
        }
        let Some(offer_id) = get(&q, "offer_id") else {
            return ResponseTemplate::new(200)
                .set_body_json(fixtures::error("Offer ID is required"));
        };
        let extra: String = q
            .iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix("params[")?.strip_suffix(']')?;
                Some(format!("&{key}={v}"))
            })
            .collect();
        ok_with_echo(&q, fixtures::tracking_link(offer_id, &extra))
    }
}
