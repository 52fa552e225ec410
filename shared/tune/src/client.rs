//! The TUNE API client: calls with retries, offer paging, advertisers, tracking links, the
//! read-only "Test Query" call and the connection test.

use crate::config::{Mode, RetryPolicy, TuneConfig};
use crate::envelope::parse_paged;
use crate::error::{ErrorKind, TuneError};
use crate::guard::{Endpoint, GuardedResolver, SystemLookup, endpoint};
use crate::offers::{
    OfferPage, TrackingLink, parse_advertisers, parse_offer_page, parse_tracking_link,
};
use crate::params::{Params, SortDir};
use crate::readonly::check_read_only;
use crate::reports::{DateRange, Report, ReportPage, parse_report, report_params};
use crate::transport::Attempt;
use futures::Stream;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default rows per page for offer and advertiser listings.
pub const DEFAULT_PAGE_LIMIT: u32 = 500;

/// What to list in [`TuneClient::offer_pages`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferQuery {
    /// Rows per page (`limit`), default 500.
    pub limit: u32,
    /// `filters[status][]=...` when not empty (e.g. `["active"]`).
    pub statuses: Vec<String>,
    /// `contain[]=...` models (kept in rows, ignored by the mapping).
    pub contain: Vec<String>,
    /// `sort[id]=asc` so pages stay stable while paging (default on).
    pub sort_by_id: bool,
    /// First page to fetch (default 1), e.g. to resume.
    pub start_page: u32,
    /// `filters[id][]=...` when not empty: only these offers (a user's selection).
    pub ids: Vec<String>,
}

impl Default for OfferQuery {
    fn default() -> Self {
        OfferQuery {
            limit: DEFAULT_PAGE_LIMIT,
            statuses: Vec::new(),
            contain: Vec::new(),
            sort_by_id: true,
            start_page: 1,
            ids: Vec::new(),
        }
    }
}

impl OfferQuery {
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = limit.max(1);
        self
    }

    pub fn with_statuses<'a>(mut self, statuses: impl IntoIterator<Item = &'a str>) -> Self {
        self.statuses = statuses.into_iter().map(str::to_string).collect();
        self
    }

    pub fn with_ids<'a>(mut self, ids: impl IntoIterator<Item = &'a str>) -> Self {
        self.ids = ids.into_iter().map(str::to_string).collect();
        self
    }

    fn params(&self, page: u32) -> Params {
        let mut p = Params::new()
            .filter_in("status", self.statuses.iter().map(String::as_str))
            .filter_in("id", self.ids.iter().map(String::as_str));
        for model in &self.contain {
            p = p.contain(model);
        }
        if self.sort_by_id {
            p = p.sort("id", SortDir::Asc);
        }
        p.limit(self.limit.max(1)).page(page)
    }
}

/// What a successful connection test learned.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConnectionInfo {
    pub mode: Mode,
    /// Offers the key can see (`count` of a one-row page).
    pub offer_count: u64,
}

/// A TUNE API client for one network and key. Cheap to clone.
#[derive(Clone)]
pub struct TuneClient {
    inner: Arc<Inner>,
    /// No attempt starts, and none runs, past this instant (see [`TuneClient::with_deadline`]).
    deadline: Option<Instant>,
}

/// Shortest attempt worth starting before a deadline.
const MIN_ATTEMPT: Duration = Duration::from_millis(200);

struct Inner {
    http: reqwest::Client,
    endpoint: Endpoint,
    network_id: String,
    api_key: String,
    mode: Mode,
    timeout: Duration,
    retry: RetryPolicy,
    max_response_bytes: usize,
}

impl fmt::Debug for TuneClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TuneClient")
            .field("mode", &self.inner.mode)
            .field("api_url", &self.inner.endpoint.api_url.as_str())
            .field("api_key", &affnet_netguard::redact::MARKER)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

impl TuneClient {
    /// Validates the configuration (network id, api domain, SSRF rules) and builds the client.
    /// Nothing is sent yet.
    pub fn new(config: TuneConfig) -> Result<Self, TuneError> {
        let api_key = config.api_key.trim().to_string();
        if api_key.is_empty() {
            return Err(TuneError::InvalidConfig("the API key is empty".into()));
        }
        if api_key.chars().any(char::is_control) {
            return Err(TuneError::InvalidConfig(
                "the API key contains control characters".into(),
            ));
        }
        if config.timeout.is_zero() {
            return Err(TuneError::InvalidConfig(
                "the timeout must be positive".into(),
            ));
        }
        let endpoint = endpoint(
            &config.network_id,
            &config.api_domain,
            config.allow_private_network,
        )?;
        let mut builder = affnet_netguard::tls::client_builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("affnet-tune/", env!("CARGO_PKG_VERSION")))
            .https_only(endpoint.strict);
        if endpoint.strict || config.lookup.is_some() {
            builder = builder.dns_resolver(GuardedResolver {
                lookup: config
                    .lookup
                    .clone()
                    .unwrap_or_else(|| Arc::new(SystemLookup)),
                check: endpoint.strict,
            });
        }
        let http = builder
            .build()
            .map_err(|e| TuneError::InvalidConfig(format!("HTTP client: {}", e.without_url())))?;
        let network_id = crate::guard::normalize_network_id(&config.network_id)?;
        Ok(TuneClient {
            inner: Arc::new(Inner {
                http,
                endpoint,
                network_id,
                api_key,
                mode: config.mode,
                timeout: config.timeout,
                retry: config.retry,
                max_response_bytes: config.max_response_bytes,
            }),
            deadline: None,
        })
    }

    pub fn mode(&self) -> Mode {
        self.inner.mode
    }

    /// The same client, bounded by `deadline` as a whole, retries included: each attempt's
    /// timeout is cut to the time left, no attempt or retry starts when too little is left
    /// (the last error, or [`TuneError::Timeout`], is returned instead). `None`: no bound.
    pub fn with_deadline(mut self, deadline: Option<Instant>) -> TuneClient {
        self.deadline = deadline;
        self
    }

    /// The instant this client stops by, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time an attempt may take now: the configured timeout, cut to what is left before the
    /// deadline; `None` when too little is left to start one.
    fn attempt_timeout(&self) -> Option<Duration> {
        let Some(deadline) = self.deadline else {
            return Some(self.inner.timeout);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        (left >= MIN_ATTEMPT).then(|| left.min(self.inner.timeout))
    }

    /// The host calls go to (for messages; never contains the key).
    pub fn host(&self) -> &str {
        &self.inner.endpoint.host
    }

    /// Calls `Target::Method` with `params` and returns `response.data`, retrying transient
    /// failures per the retry policy.
    pub async fn call(
        &self,
        target: &str,
        method: &str,
        params: &Params,
    ) -> Result<Value, TuneError> {
        self.call_with(target, method, params, true).await
    }

    /// [`TuneClient::call`]; with `retry_504` false a 504 is returned at once (a report range
    /// too long for TUNE: the caller splits it instead of asking again).
    async fn call_with(
        &self,
        target: &str,
        method: &str,
        params: &Params,
        retry_504: bool,
    ) -> Result<Value, TuneError> {
        let url = self.url(target, method, params);
        let retry = &self.inner.retry;
        let mut attempt = 0u32;
        loop {
            let started = Instant::now();
            let Some(timeout) = self.attempt_timeout() else {
                tracing::info!(
                    target_name = target,
                    method,
                    "tune call not started: the deadline is too close"
                );
                return Err(TuneError::Timeout {
                    timeout_ms: self
                        .inner
                        .timeout
                        .as_millis()
                        .try_into()
                        .unwrap_or(u64::MAX),
                });
            };
            let result = self.attempt(timeout).run(url.clone()).await;
            match result {
                Ok(data) => {
                    tracing::debug!(
                        target_name = target,
                        method,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "tune call ok"
                    );
                    return Ok(data);
                }
                Err(err)
                    if err.is_retryable()
                        && attempt < retry.max_retries
                        && (retry_504 || err != TuneError::ServerError { status: 504 }) =>
                {
                    let wait = retry.delay(attempt, err.kind() == ErrorKind::RateLimited, jitter());
                    if !self.may_retry_after(wait) {
                        tracing::info!(
                            target_name = target,
                            method,
                            error = err.kind().as_str(),
                            "tune call failed; no time left to retry before the deadline"
                        );
                        return Err(err);
                    }
                    tracing::warn!(
                        target_name = target,
                        method,
                        error = err.kind().as_str(),
                        retry = attempt + 1,
                        wait_ms = wait.as_millis() as u64,
                        "tune call failed, retrying"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(err) => {
                    tracing::info!(
                        target_name = target,
                        method,
                        error = err.kind().as_str(),
                        "tune call failed"
                    );
                    return Err(err);
                }
            }
        }
    }

    /// The generic "Test Query": refuses methods that may change data (see [`crate::readonly`]),
    /// flattens `params` (a JSON object) into PHP brackets and returns `data` as JSON.
    pub async fn call_read_only(
        &self,
        target: &str,
        method: &str,
        params: Value,
    ) -> Result<Value, TuneError> {
        let params = Self::check_read_only_query(target, method, &params)?;
        self.call(target, method, &params).await
    }

    /// What [`TuneClient::call_read_only`] checks before sending anything: a read-only method,
    /// and `params` that flatten to brackets without setting auth or routing keys.
    pub fn check_read_only_query(
        target: &str,
        method: &str,
        params: &Value,
    ) -> Result<Params, TuneError> {
        check_read_only(target, method)?;
        let params = Params::from_json(params).map_err(TuneError::InvalidConfig)?;
        let reserved = [
            "Target",
            "Method",
            "NetworkToken",
            "api_key",
            "NetworkId",
            "Format",
            "Service",
            "Version",
        ];
        if let Some((k, _)) = params.pairs().iter().find(|(k, _)| {
            // PHP reads `Method[x]` as `Method`, and `api.key`/`api key` as `api_key`.
            let base = k
                .split('[')
                .next()
                .unwrap_or_default()
                .replace(['.', ' '], "_");
            reserved.iter().any(|r| r.eq_ignore_ascii_case(&base))
        }) {
            return Err(TuneError::InvalidConfig(format!(
                "`{k}` cannot be set in params"
            )));
        }
        Ok(params)
    }

    /// A cheap authenticated call: the first offer page with one row.
    pub async fn test_connection(&self) -> Result<ConnectionInfo, TuneError> {
        let (target, method) = self.offer_call();
        let data = self
            .call(target, method, &Params::new().field("id").limit(1).page(1))
            .await?;
        let paged = parse_paged(data)?;
        Ok(ConnectionInfo {
            mode: self.inner.mode,
            offer_count: paged.count,
        })
    }

    /// Streams offer pages (`Offer::findAll` in network mode, `Affiliate_Offer::findMyApprovedOffers`
    /// in affiliate mode), one request per page, holding one page at a time. The stream ends after
    /// the last page (`pageCount`), on an empty page, or after the first error.
    pub fn offer_pages(
        &self,
        query: OfferQuery,
    ) -> impl Stream<Item = Result<OfferPage, TuneError>> + Send + 'static {
        let client = self.clone();
        let first = query.start_page.max(1);
        futures::stream::try_unfold(Some(first), move |next| {
            let client = client.clone();
            let query = query.clone();
            async move {
                let Some(page) = next else {
                    return Ok(None);
                };
                let (target, method) = client.offer_call();
                let data = client.call(target, method, &query.params(page)).await?;
                let parsed = parse_offer_page(data)?;
                let empty = parsed.offers.is_empty() && parsed.skipped.is_empty();
                // Stop at the last page, on an empty page, or if TUNE answered an earlier page
                // than asked (clamped), so a changing count can never loop forever.
                let next = if empty || page >= parsed.page_count || parsed.page < page {
                    None
                } else {
                    Some(page + 1)
                };
                if empty && page > first {
                    return Ok(None);
                }
                Ok(Some((parsed, next)))
            }
        })
    }

    /// Streams the pages of `report` over `range` (`Report::getConversions`/`getStats` in
    /// network mode, `Affiliate_Report::...` in affiliate mode), one request per page, one page
    /// held at a time, rows mapped by `map`. A range of two or more days that TUNE answers with
    /// a 504 on its first page is split in halves, read in turn (oldest first); a single day
    /// gets the usual retries. The stream ends after the last page or the first error.
    pub fn report_pages<T: Send + 'static>(
        &self,
        report: Report,
        range: DateRange,
        limit: u32,
        map: fn(&Value) -> T,
    ) -> impl Stream<Item = Result<ReportPage<T>, TuneError>> + Send + 'static {
        let client = self.clone();
        let (target, method) = match (self.inner.mode, report) {
            (Mode::Network, Report::Conversions) => ("Report", "getConversions"),
            (Mode::Network, Report::Stats) => ("Report", "getStats"),
            (Mode::Affiliate, Report::Conversions) => ("Affiliate_Report", "getConversions"),
            (Mode::Affiliate, Report::Stats) => ("Affiliate_Report", "getStats"),
        };
        let start = ReportCursor {
            pending: vec![range],
            current: None,
            splits: 0,
        };
        futures::stream::try_unfold(start, move |mut cursor| {
            let client = client.clone();
            async move {
                loop {
                    let (range, page) = match cursor.current.take() {
                        Some(current) => current,
                        None => match cursor.pending.pop() {
                            Some(range) => (range, 1),
                            None => return Ok(None),
                        },
                    };
                    let splittable = page == 1 && range.split().is_some();
                    let params = report_params(report, &range, limit, page);
                    let data = match client.call_with(target, method, &params, !splittable).await {
                        Err(TuneError::ServerError { status: 504 }) if splittable => {
                            let (first, second) = range.split().expect("splittable");
                            tracing::info!(%range, "tune answered 504 for the range: splitting it");
                            cursor.pending.push(second);
                            cursor.pending.push(first);
                            cursor.splits += 1;
                            continue;
                        }
                        other => other?,
                    };
                    let mut parsed = parse_report(data, range, map)?;
                    parsed.splits = std::mem::take(&mut cursor.splits);
                    let last =
                        parsed.rows.is_empty() || page >= parsed.page_count || parsed.page < page;
                    cursor.current = (!last).then_some((range, page + 1));
                    return Ok(Some((parsed, cursor)));
                }
            }
        })
    }

    /// `Advertiser::findAll` (fields id, company), all pages, as `id → company`.
    /// Network mode only (affiliates cannot list advertisers).
    pub async fn advertiser_names(&self) -> Result<BTreeMap<String, String>, TuneError> {
        if self.inner.mode != Mode::Network {
            return Err(TuneError::WrongMode(
                "advertiser names need a Network API key".into(),
            ));
        }
        let mut names = BTreeMap::new();
        let mut page = 1u32;
        loop {
            let params = Params::new()
                .fields(["id", "company"])
                .sort("id", SortDir::Asc)
                .limit(DEFAULT_PAGE_LIMIT)
                .page(page);
            let (paged, batch) =
                parse_advertisers(self.call("Advertiser", "findAll", &params).await?)?;
            let empty = batch.is_empty();
            names.extend(batch);
            if empty || page >= paged.page_count || paged.page < page {
                return Ok(names);
            }
            page += 1;
        }
    }

    /// `Affiliate_Offer::generateTrackingLink` with `params[key]=value` pairs, e.g.
    /// `[("aff_click_id", "{click_id}")]`. Affiliate mode only. `click_url` is returned as TUNE
    /// sends it.
    pub async fn generate_tracking_link(
        &self,
        offer_id: &str,
        link_params: &[(&str, &str)],
    ) -> Result<TrackingLink, TuneError> {
        if self.inner.mode != Mode::Affiliate {
            return Err(TuneError::WrongMode(
                "tracking links need an Affiliate API key".into(),
            ));
        }
        let mut params = Params::new().raw("offer_id", offer_id);
        for (k, v) in link_params {
            params = params.param(k, v);
        }
        let data = self
            .call("Affiliate_Offer", "generateTrackingLink", &params)
            .await?;
        parse_tracking_link(&data)
    }

    fn offer_call(&self) -> (&'static str, &'static str) {
        match self.inner.mode {
            Mode::Network => ("Offer", "findAll"),
            Mode::Affiliate => ("Affiliate_Offer", "findMyApprovedOffers"),
        }
    }

    fn url(&self, target: &str, method: &str, params: &Params) -> url::Url {
        let inner = &self.inner;
        let mut url = inner.endpoint.api_url.clone();
        {
            let mut q = url.query_pairs_mut();
            if inner.endpoint.custom_base {
                q.append_pair("NetworkId", &inner.network_id);
            }
            q.append_pair(inner.mode.auth_param(), &inner.api_key);
            q.append_pair("Target", target);
            q.append_pair("Method", method);
            q.extend_pairs(params.pairs());
        }
        url
    }

    /// Whether a retry after `wait` would still start before the deadline.
    fn may_retry_after(&self, wait: Duration) -> bool {
        self.deadline
            .is_none_or(|deadline| Instant::now() + wait + MIN_ATTEMPT <= deadline)
    }

    fn attempt(&self, timeout: Duration) -> Attempt<'_> {
        Attempt {
            http: &self.inner.http,
            host: &self.inner.endpoint.host,
            secret: &self.inner.api_key,
            timeout,
            max_bytes: self.inner.max_response_bytes,
        }
    }
}

/// Where [`TuneClient::report_pages`] is: ranges still to read (the next on top), the range and
/// page being read, and the splits since the last page.
struct ReportCursor {
    pending: Vec<DateRange>,
    current: Option<(DateRange, u32)>,
    splits: u32,
}

/// A random number in [0, 1) for backoff jitter, from the std hasher's per-instance random keys
/// (no extra dependency; not for cryptography).
fn jitter() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(mode: Mode, domain: &str, private: bool) -> TuneClient {
        TuneClient::new(
            TuneConfig::new(mode, "demo", "NETsecret123")
                .with_api_domain(domain)
                .with_allow_private_network(private),
        )
        .unwrap()
    }

    #[test]
    fn builds_urls_with_auth_and_brackets() {
        let c = client(Mode::Network, "api.hasoffers.com", false);
        let url = c.url(
            "Offer",
            "findAll",
            &Params::new().field("id").filter_eq("status", "active"),
        );
        assert_eq!(
            url.as_str(),
            "https://demo.api.hasoffers.com/Apiv3/json?NetworkToken=NETsecret123&Target=Offer&Method=findAll\
             &fields%5B%5D=id&filters%5Bstatus%5D=active"
        );
        let c = client(Mode::Affiliate, "http://127.0.0.1:9", true);
        let url = c.url(
            "Affiliate_Offer",
            "findMyApprovedOffers",
            &Params::new().limit(1),
        );
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/Apiv3/json?NetworkId=demo&api_key=NETsecret123\
             &Target=Affiliate_Offer&Method=findMyApprovedOffers&limit=1"
        );
    }

    #[test]
    fn debug_never_shows_key() {
        let c = client(Mode::Network, "api.hasoffers.com", false);
        assert!(!format!("{c:?}").contains("NETsecret123"));
    }

    #[test]
    fn offer_query_params() {
        let q = OfferQuery::default().with_statuses(["active", "paused"]);
        assert_eq!(
            q.params(3).encode(),
            "filters%5Bstatus%5D%5B%5D=active&filters%5Bstatus%5D%5B%5D=paused&sort%5Bid%5D=asc&limit=500&page=3"
        );
    }

    #[test]
    fn offer_query_ids_filter() {
        let q = OfferQuery::default().with_limit(10).with_ids(["7", "9"]);
        assert_eq!(
            q.params(1).encode(),
            "filters%5Bid%5D%5B%5D=7&filters%5Bid%5D%5B%5D=9&sort%5Bid%5D=asc&limit=10&page=1"
        );
    }

    #[test]
    fn config_errors() {
        let bad = |c: TuneConfig| TuneClient::new(c).unwrap_err().kind();
        assert_eq!(
            bad(TuneConfig::new(Mode::Network, "demo", " ")),
            ErrorKind::InvalidConfig
        );
        assert_eq!(
            bad(TuneConfig::new(Mode::Network, "de mo", "k")),
            ErrorKind::InvalidConfig
        );
        assert_eq!(
            bad(TuneConfig::new(Mode::Network, "demo", "k").with_api_domain("http://127.0.0.1:1")),
            ErrorKind::InvalidConfig
        );
        assert_eq!(
            bad(TuneConfig::new(Mode::Network, "demo", "k").with_timeout_ms(0)),
            ErrorKind::InvalidConfig
        );
    }

    #[test]
    fn jitter_in_range() {
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
