//! One reconciliation run of one TUNE integration: take the integration's lease (shared with
//! offer sync), stream the conversion report page by page (each row classified, the ledger made
//! to agree unless a dry run), then the stats report, then the ledger's own conversions of the
//! range (`only_here`, and the ledger's side of the stats), and record it all.
//!
//! Memory stays flat in the number of conversions but for two compact sets (see
//! [`affnet_core::reconcile::classify::Pairs`] and the ids TUNE reported): one TUNE page, the
//! differences waiting for their batch (at most 100), the stats rows (offers × days ×
//! currencies), the default payouts of the offers TUNE's rows name (bounded, see
//! [`super::custom_payout`]).

use super::custom_payout::OfferPayouts;
use super::ledger::{Handled, Ledger, Prepared, our_side};
use crate::state::AppState;
use crate::tune_client::{Purpose, client_for};
use affnet_core::Integration;
use affnet_core::reconcile::classify::Pairs;
use affnet_core::reconcile::row::network_day;
use affnet_core::reconcile::stats::{
    self, Figures, StatsKey, compare_stats, figures_of, read_stats_row,
};
use affnet_core::reconcile::{Action, Class, Difference, ReconRun, RunRange, RunStatus, Trigger};
use affnet_core::sync_log::SyncLease;
use affnet_store::conversions::TimeRange;
use affnet_store::{RepoError, port::MAX_BATCH};
use affnet_tune::reports::{conversion_row, stats_row};
use affnet_tune::{ConversionRow, DateRange, Report, StatsRow, TuneClient, TuneError};
use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Differences stored per run; more are counted only (`differences_dropped`).
pub const MAX_DIFFERENCES: u64 = 10_000;
/// Report rows per TUNE page (TUNE's largest page is said to be 1000).
pub const REPORT_PAGE_LIMIT: u32 = 1000;
/// Rows of one page settled against the ledger at once.
const ROW_CONCURRENCY: usize = 8;

pub struct RunRequest {
    pub trigger: Trigger,
    /// Inclusive network-time days; `None`: the last `days` days up to today.
    pub range: Option<(NaiveDate, NaiveDate)>,
    /// Days of the default range.
    pub days: u32,
    /// `false`: a dry run.
    pub apply: bool,
    /// Stop after the page that brings the run close to this instant.
    pub deadline: Option<Instant>,
}

#[derive(Debug)]
pub enum RunError {
    /// A sync or another reconciliation holds the integration's lease.
    Busy {
        run_id: String,
        expires_at: i64,
    },
    Store(RepoError),
}

/// The range of a request: the one given, else the last `days` days up to today, both in the
/// network's time zone.
pub fn range_of(request: &RunRequest, tz: chrono_tz::Tz) -> RunRange {
    let (from, to) = request.range.unwrap_or_else(|| {
        let today = network_day(Utc::now(), tz);
        let days = i64::from(request.days.max(1));
        (today - chrono::Duration::days(days - 1), today)
    });
    RunRange { from, to, tz }
}

/// Runs one reconciliation and returns its finished record. Every run that starts is recorded,
/// failures included; only a held lease or a failing store prevent that.
pub async fn run_reconcile(
    state: &AppState,
    integration: &Integration,
    request: RunRequest,
) -> Result<ReconRun, RunError> {
    let tz = integration
        .tune()
        .map(|t| t.timezone)
        .unwrap_or(chrono_tz::UTC);
    let range = range_of(&request, tz);
    let ttl = state.config.tune.lease_ttl;
    let record = ReconRun::start(
        affnet_core::ids::new_id(),
        &integration.id,
        request.trigger,
        request.apply,
        range,
        Utc::now(),
    );
    let (lease, record) = match state.repo.begin_reconcile(&record, ttl).await {
        Ok(started) => started,
        Err(RepoError::Conflict) => {
            let holder = state.repo.sync_lease_holder(&integration.id).await;
            let (run_id, expires_at) = holder.ok().flatten().unwrap_or_default();
            return Err(RunError::Busy { run_id, expires_at });
        }
        Err(e) => return Err(RunError::Store(e)),
    };
    tracing::info!(integration = %integration.id, run = %record.id, apply = request.apply, from = %range.from, to = %range.to, "reconciliation started");
    let network = match state.network_of(integration) {
        Ok(n) => n,
        Err(e) => {
            return Err(RunError::Store(RepoError::Store(
                affnet_store::StoreError::Invalid(e.to_string()),
            )));
        }
    };
    let default_currency = integration
        .tune()
        .map_or("USD", |t| t.default_currency.as_str());
    let mut run = Run {
        payouts: OfferPayouts::new(&integration.id, default_currency),
        ledger: Ledger {
            state: state.clone(),
            integration: Arc::new(integration.clone()),
            network,
            tz,
            apply: request.apply,
            now: Utc::now(),
        },
        deadline: request.deadline,
        ttl,
        lease,
        record,
        pending: Vec::new(),
        seen: Vec::new(),
        pairs: Pairs::default(),
        next_seq: 0,
    };
    run.execute(range).await;
    run.finish().await
}

struct Run {
    ledger: Ledger,
    deadline: Option<Instant>,
    ttl: Duration,
    lease: SyncLease,
    record: ReconRun,
    /// Differences waiting for their batch.
    pending: Vec<Difference>,
    /// Ledger conversions TUNE reported: the low 64 bits of their ids (hex of 128 bits), pushed
    /// as met, sorted before the ledger scan looks them up. 8 bytes each.
    seen: Vec<u64>,
    pairs: Pairs,
    /// Default payouts of the offers TUNE's rows name (custom payouts per affiliate).
    payouts: OfferPayouts,
    next_seq: u64,
}

/// Row counts above this are not reserved for at once (TUNE's count is only a hint).
const MAX_RESERVED_ROWS: u64 = 250_000;

fn id_bits(conversion_id: &str) -> Option<u64> {
    let bits = u128::from_str_radix(conversion_id.strip_prefix("cv_")?, 16).ok()?;
    Some(bits as u64)
}

impl Run {
    fn state(&self) -> &AppState {
        &self.ledger.state
    }

    async fn execute(&mut self, range: RunRange) {
        let options = &self.state().config.tune;
        let client = match client_for(
            &self.ledger.integration,
            options,
            self.state().config.allow_private_network,
            Purpose::Sync,
        ) {
            Ok(client) => client.with_deadline(self.deadline),
            Err(e) => return self.record.fail(e.kind().as_str(), &e.to_string()),
        };
        let days = DateRange::new(range.from, range.to);
        if !self.read_conversions(&client, days).await {
            self.flush().await;
            return;
        }
        let tune_stats = self.read_stats(&client, days).await;
        let ours = match self.scan_ledger().await {
            Ok(ours) => ours,
            Err(e) => return self.record.fail("store", &format!("storage failed: {e}")),
        };
        if let Some(tune_stats) = tune_stats {
            let differences = compare_stats(&tune_stats, &ours);
            self.record.stats_differences = differences.len() as u64;
            self.record.stats = differences.into_iter().take(stats::MAX_LISTED).collect();
        }
        self.flush().await;
    }

    /// Every page of the conversion report; `false` when the run stopped before the end.
    async fn read_conversions(&mut self, client: &TuneClient, days: DateRange) -> bool {
        let mut pages = std::pin::pin!(client.report_pages(
            Report::Conversions,
            days,
            REPORT_PAGE_LIMIT,
            conversion_row
        ));
        let mut last_request: Option<Instant> = None;
        loop {
            self.pace(&mut last_request).await;
            let started = Instant::now();
            let page = match pages.next().await {
                None => return true,
                Some(Ok(page)) => page,
                Some(Err(e)) => {
                    self.page_failed("conversion report", &e);
                    return false;
                }
            };
            self.count_page(page.splits);
            if self.record.pages == 1 {
                self.reserve(page.count);
            }
            let (range, number) = (page.range, page.page);
            if !self.handle_page(page.rows, number).await {
                return false;
            }
            if !self.flush().await || !self.heartbeat().await {
                return false;
            }
            if self.out_of_time(started.elapsed()) {
                self.out_of_budget(range.from, number);
                return false;
            }
        }
    }

    /// Room for the report's `rows`, once, so the two growing collections are not doubled.
    fn reserve(&mut self, rows: u64) {
        let rows = rows.min(MAX_RESERVED_ROWS) as usize;
        self.pairs.reserve(rows);
        self.seen.reserve(rows);
    }

    fn count_page(&mut self, splits: u32) {
        self.record.pages += 1;
        self.record.requests += 1 + splits;
        self.record.range_splits += splits;
    }

    /// Waits so that page requests stay `page_interval` apart (TUNE's rate limit, shared with
    /// offer sync through the lease: one run per integration at a time).
    async fn pace(&self, last_request: &mut Option<Instant>) {
        let interval = self.state().config.tune.page_interval;
        if let Some(last) = *last_request {
            tokio::time::sleep_until((last + interval).into()).await;
        }
        *last_request = Some(Instant::now());
    }

    /// Classifies a page's rows (read and paired in order, settled a few at a time, results
    /// kept in order). `false` when the store failed.
    async fn handle_page(&mut self, rows: Vec<ConversionRow>, page: u32) -> bool {
        self.record.rows += rows.len() as u64;
        let prepared: Vec<Prepared> = rows
            .iter()
            .map(|row| self.ledger.prepare(row, &mut self.pairs))
            .collect();
        drop(rows);
        let tunes: Vec<_> = prepared.iter().map(Prepared::tune).collect();
        let custom = self.payouts.check(&self.ledger.state.repo, &tunes).await;
        drop(tunes);
        let custom = match custom {
            Ok(custom) => custom,
            Err(e) => {
                let message = format!("storage failed on page {page}: {e}");
                self.record.fail("store", &message);
                return false;
            }
        };
        let results: Vec<Result<Handled, RepoError>> = futures::stream::iter(prepared)
            .map(|p| {
                let ledger = self.ledger.clone();
                async move { ledger.settle(p).await }
            })
            .buffered(ROW_CONCURRENCY)
            .collect()
            .await;
        let mut store_ok = true;
        for (result, custom) in results.into_iter().zip(custom) {
            match result {
                Ok(handled) => {
                    let conversion_id = handled.seen.clone();
                    self.account(handled, Some(page));
                    if let Some(mut d) = custom {
                        d.conversion_id = conversion_id;
                        d.page = Some(page);
                        self.record.custom_payouts += 1;
                        self.list(d);
                    }
                }
                Err(e) => {
                    if store_ok {
                        self.record
                            .fail("store", &format!("storage failed on page {page}: {e}"));
                    }
                    store_ok = false;
                }
            }
        }
        store_ok
    }

    fn account(&mut self, handled: Handled, page: Option<u32>) {
        self.record.counts.add(handled.class);
        let c = &mut self.record.changed;
        c.created += handled.changed.created;
        c.status_changed += handled.changed.status_changed;
        c.payout_changed += handled.changed.payout_changed;
        c.attributed += handled.changed.attributed;
        if let Some(bits) = handled.seen.as_deref().and_then(id_bits) {
            self.seen.push(bits);
        }
        if let Some(mut d) = handled.difference {
            d.page = page;
            self.list(d);
        }
    }

    fn list(&mut self, mut difference: Difference) {
        if self.record.differences >= MAX_DIFFERENCES {
            self.record.differences_dropped += 1;
            return;
        }
        difference.seq = self.next_seq;
        self.next_seq += 1;
        self.record.differences += 1;
        self.pending.push(difference);
    }

    /// Stores waiting differences once a batch is full (or at the end); `false` on failure.
    async fn flush(&mut self) -> bool {
        while !self.pending.is_empty() {
            let n = self.pending.len().min(MAX_BATCH);
            let batch: Vec<Difference> = self.pending.drain(..n).collect();
            let stored = self
                .state()
                .repo
                .put_differences(&self.record.id, &batch)
                .await;
            if let Err(e) = stored {
                self.record.differences -= batch.len() as u64;
                self.record
                    .fail("store", &format!("differences not stored: {e}"));
                self.pending.clear();
                return false;
            }
        }
        true
    }

    /// The stats report as (offer, day, currency) → figures; `None` when it could not be read
    /// (the run says why and is partial).
    async fn read_stats(
        &mut self,
        client: &TuneClient,
        days: DateRange,
    ) -> Option<BTreeMap<StatsKey, Figures>> {
        let default = self.default_currency();
        let mut pages =
            std::pin::pin!(client.report_pages(Report::Stats, days, REPORT_PAGE_LIMIT, stats_row));
        let mut out: BTreeMap<StatsKey, Figures> = BTreeMap::new();
        let mut last_request = Some(Instant::now());
        loop {
            self.pace(&mut last_request).await;
            let page = match pages.next().await {
                None => return Some(out),
                Some(Ok(page)) => page,
                Some(Err(e)) => {
                    self.record.push_error(
                        e.kind().as_str(),
                        &format!("stats report: {e}; stats not compared"),
                    );
                    return None;
                }
            };
            self.count_page(page.splits);
            for row in &page.rows {
                match stats_figures(row, default) {
                    Ok((key, figures)) => out.entry(key).or_default().add(figures),
                    Err(message) => self.record.push_error("bad_stats_row", &message),
                }
            }
        }
    }

    fn default_currency(&self) -> &'static str {
        self.ledger
            .integration
            .tune()
            .map_or("USD", |t| t.default_currency.as_str())
    }

    /// The ledger's conversions of the integration recorded in the range: those TUNE did not
    /// report are `only_here`; all give the ledger's side of the stats.
    async fn scan_ledger(&mut self) -> Result<BTreeMap<StatsKey, Figures>, RepoError> {
        let integration_id = self.record.integration_id.clone();
        let range = TimeRange {
            from: Some(self.record.from_utc),
            to: Some(self.record.to_utc - chrono::Duration::milliseconds(1)),
        };
        self.seen.sort_unstable();
        self.seen.dedup();
        let mut ours: BTreeMap<StatsKey, Figures> = BTreeMap::new();
        let mut offers: HashMap<String, Option<String>> = HashMap::new();
        let mut cursor = None;
        loop {
            let page = self
                .state()
                .repo
                .list_conversions(&range, |c| c.integration_id == integration_id, 200, cursor)
                .await?;
            for c in &page.items {
                if let Some(figures) = figures_of(c) {
                    let key = StatsKey {
                        remote_offer_id: self.remote_offer(c, &mut offers).await?,
                        date: network_day(c.created_at, self.ledger.tz),
                        currency: c.currency.clone().unwrap_or_default(),
                    };
                    ours.entry(key).or_default().add(figures);
                }
                if id_bits(&c.id).is_some_and(|bits| self.seen.binary_search(&bits).is_err()) {
                    self.record.counts.add(Class::OnlyHere);
                    self.list(only_here(c));
                    if self.pending.len() >= MAX_BATCH && !self.flush().await {
                        return Err(RepoError::Store(affnet_store::StoreError::Unavailable(
                            "differences not stored".into(),
                        )));
                    }
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(ours),
            }
        }
    }

    /// TUNE's offer id of a ledger conversion: the postback's, else its offer's `remote_id`.
    async fn remote_offer(
        &self,
        c: &affnet_core::Conversion,
        cache: &mut HashMap<String, Option<String>>,
    ) -> Result<String, RepoError> {
        if let Some(remote) = &c.remote_offer_id {
            return Ok(remote.clone());
        }
        let Some(offer_id) = &c.offer_id else {
            return Ok(String::new());
        };
        if !cache.contains_key(offer_id) {
            let offer = self.state().repo.get_offer(offer_id).await?;
            cache.insert(offer_id.clone(), offer.and_then(|o| o.remote_id));
        }
        Ok(cache.get(offer_id).cloned().flatten().unwrap_or_default())
    }

    /// Renews the lease (and saves progress) once half of it has passed; `false` if it was lost.
    async fn heartbeat(&mut self) -> bool {
        let now = Utc::now();
        let half = (self.ttl.as_secs() / 2) as i64;
        if self.lease.expires_at - now.timestamp() > half {
            return true;
        }
        self.record.heartbeat_at = now;
        let renewed = self
            .state()
            .repo
            .renew_reconcile(&self.lease, &self.record, self.ttl)
            .await;
        match renewed {
            Ok((lease, record)) => {
                self.lease = lease;
                self.record = record;
                true
            }
            Err(RepoError::Conflict) => {
                self.record.fail(
                    "lease_lost",
                    "the lease expired and another run took over; this run stopped",
                );
                false
            }
            Err(e) => {
                self.record.fail("store", &e.to_string());
                false
            }
        }
    }

    fn out_of_time(&self, last_page: Duration) -> bool {
        self.deadline.is_some_and(|deadline| {
            let margin = (last_page * 2).max(Duration::from_secs(2));
            Instant::now() + margin >= deadline
        })
    }

    fn out_of_budget(&mut self, day: NaiveDate, page: u32) {
        self.record.stopped_at = Some(day);
        self.record.status = RunStatus::Partial;
        self.record.message = Some(format!(
            "stopped after page {page} of the range starting {day}: time budget used up; what was read is applied, stats and only-here were not compared; run again (the same range is idempotent) or from {day}"
        ));
    }

    fn page_failed(&mut self, what: &str, error: &TuneError) {
        let out_of_time = self
            .deadline
            .is_some_and(|d| Instant::now() + Duration::from_secs(1) >= d);
        if out_of_time && error.kind() == affnet_tune::ErrorKind::Timeout {
            let day = self.record.from;
            return self.out_of_budget(day, self.record.pages);
        }
        let kept = self.record.pages;
        self.record.fail(
            error.kind().as_str(),
            &format!("{what}: {error} (what the {kept} page(s) read before changed is kept)"),
        );
    }

    async fn finish(mut self) -> Result<ReconRun, RunError> {
        let now = Utc::now();
        self.record.finished_at = Some(now);
        self.record.heartbeat_at = now;
        if self.record.status == RunStatus::Running {
            let clean = self.record.errors.is_empty() && self.record.differences_dropped == 0;
            self.record.status = if clean {
                RunStatus::Succeeded
            } else {
                RunStatus::Partial
            };
        }
        let summary = self.record.summary();
        self.record.message = Some(match self.record.message.take() {
            Some(reason) => format!("{reason}. {summary}"),
            None => summary,
        });
        let (record, held) = self
            .state()
            .repo
            .finish_reconcile(&self.lease, &self.record)
            .await
            .map_err(RunError::Store)?;
        if !held {
            tracing::warn!(integration = %record.integration_id, run = %record.id, "the lease was lost before the reconciliation ended");
        }
        tracing::info!(integration = %record.integration_id, run = %record.id, status = ?record.status, counts = ?record.counts, "reconciliation finished");
        Ok(record)
    }
}

fn stats_figures(row: &StatsRow, default: &str) -> Result<(StatsKey, Figures), String> {
    read_stats_row(
        row.offer_id.as_deref(),
        row.date.as_deref(),
        row.currency.as_deref(),
        row.conversions.as_deref(),
        row.payout.as_deref(),
        default,
    )
}

fn only_here(c: &affnet_core::Conversion) -> Difference {
    Difference {
        seq: 0,
        class: Class::OnlyHere,
        action: Action::None,
        transaction_id: c.transaction_id.clone(),
        click_id: c.click_id.clone(),
        goal_id: c.goal_id.clone(),
        remote_offer_id: c.remote_offer_id.clone(),
        conversion_id: Some(c.id.clone()),
        linked_transaction_id: None,
        tune: None,
        ours: Some(our_side(c)),
        note: Some(if c.test {
            "a test conversion: TUNE does not report it".to_string()
        } else {
            "not in TUNE's conversion report for the range; kept".to_string()
        }),
        page: None,
    }
}
