//! One sync run of one integration: take the lease, stream TUNE's offer pages, write only what
//! changed, pause what vanished, record everything in the run's log, release the lease.
//!
//! Memory stays flat whatever the offer count: one TUNE page at a time, plus the remote ids
//! (and their fingerprints) this integration imported before.

use super::mapping::MapContext;
use super::write::{Known, Outcome, apply_one, pause_one};
use crate::state::AppState;
use crate::tune_client::{Purpose, client_for};
use affnet_core::Integration;
use affnet_core::sync_log::{SyncLease, SyncLog, SyncStatus, SyncTrigger};
use affnet_store::offers::RemoteEntry;
use affnet_store::{Repo, RepoError};
use affnet_tune::{Mode, OfferPage, OfferQuery, TuneClient, TuneError};
use chrono::Utc;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// Fingerprint remembered for an offer that vanished from TUNE and was paused: the next run
/// neither reads nor writes it again, and any reappearance differs from it.
pub const VANISHED: &str = "vanished";
/// Ids per TUNE request when importing a selection (keeps URLs short).
const IDS_PER_REQUEST: usize = 100;

pub struct SyncRequest {
    pub trigger: SyncTrigger,
    /// Only these TUNE offer ids (a user's selection); `None`: every offer.
    pub offer_ids: Option<Vec<String>>,
    /// Stop after the page that brings the run close to this instant.
    pub deadline: Option<Instant>,
}

#[derive(Debug)]
pub enum RunError {
    /// Another run holds the integration's lease.
    Busy { run_id: String, expires_at: i64 },
    /// The store failed while starting or finishing the run.
    Store(RepoError),
}

/// Runs one sync and returns its finished log. Every run that starts is logged, failures
/// included; only a held lease or a failing store prevent that.
pub async fn run_sync(
    state: &AppState,
    integration: &Integration,
    request: SyncRequest,
) -> Result<SyncLog, RunError> {
    let ttl = state.config.tune.lease_ttl;
    let log = SyncLog::start(
        affnet_core::ids::new_id(),
        &integration.id,
        request.trigger,
        request.offer_ids.clone(),
        Utc::now(),
    );
    let (lease, log) = match state.repo.begin_sync(&log, ttl).await {
        Ok(started) => started,
        Err(RepoError::Conflict) => {
            let holder = state.repo.sync_lease_holder(&integration.id).await;
            let (run_id, expires_at) = holder.ok().flatten().unwrap_or_default();
            return Err(RunError::Busy { run_id, expires_at });
        }
        Err(e) => return Err(RunError::Store(e)),
    };
    tracing::info!(integration = %integration.id, run = %log.id, trigger = ?request.trigger, "sync started");
    let mut run = Run {
        state,
        integration,
        deadline: request.deadline,
        ttl,
        lease,
        log,
    };
    run.execute().await;
    run.finish().await
}

struct Run<'a> {
    state: &'a AppState,
    integration: &'a Integration,
    deadline: Option<Instant>,
    ttl: Duration,
    lease: SyncLease,
    log: SyncLog,
}

impl Run<'_> {
    async fn execute(&mut self) {
        let options = &self.state.config.tune;
        let client = match client_for(
            self.integration,
            options,
            self.state.config.allow_private_network,
            Purpose::Sync,
        ) {
            // Every TUNE call of the run, retries included, ends by the run's deadline.
            Ok(client) => client.with_deadline(self.deadline),
            Err(e) => return self.fail(None, e.kind().as_str(), &e.to_string()),
        };
        let Some(ctx) = self.context(&client).await else {
            return;
        };
        let selection = self.log.offer_ids.clone();
        let mut known = match self.load_known(selection.as_deref()).await {
            Ok(known) => known,
            Err(e) => return self.fail(None, "store", &e.to_string()),
        };
        let limit = options.sync_page_limit;
        let mut returned = HashSet::new();
        let complete = match &selection {
            None => {
                let query = OfferQuery::default().with_limit(limit);
                self.read_pages(&client, &ctx, query, &mut known, None)
                    .await
            }
            Some(ids) => {
                let mut complete = true;
                for chunk in ids.chunks(IDS_PER_REQUEST) {
                    let query = OfferQuery::default()
                        .with_limit(limit)
                        .with_ids(chunk.iter().map(String::as_str));
                    let chunk_done = self
                        .read_pages(&client, &ctx, query, &mut known, Some(&mut returned))
                        .await;
                    if !chunk_done {
                        complete = false;
                        break;
                    }
                }
                complete
            }
        };
        if complete {
            self.pause_vanished(known, selection.as_deref(), &returned)
                .await;
        }
    }

    /// Advertiser names (network API) and the mapping settings.
    async fn context(&mut self, client: &TuneClient) -> Option<MapContext> {
        let advertisers = if client.mode() == Mode::Network {
            match client.advertiser_names().await {
                Ok(names) => names,
                Err(e) => {
                    self.fail(
                        None,
                        e.kind().as_str(),
                        &format!("could not list advertisers: {e}"),
                    );
                    return None;
                }
            }
        } else {
            BTreeMap::new()
        };
        match MapContext::new(self.integration, advertisers) {
            Ok(ctx) => Some(ctx),
            Err(message) => {
                self.fail(None, "invalid_config", &message);
                None
            }
        }
    }

    /// The offers imported before: every one, or those of the selection.
    async fn load_known(
        &self,
        selection: Option<&[String]>,
    ) -> Result<HashMap<String, Known>, RepoError> {
        let repo = &self.state.repo;
        let id = &self.integration.id;
        let mut known = HashMap::new();
        let known_entry = |e: RemoteEntry| {
            (
                e.remote_id,
                Known {
                    offer_id: e.offer_id,
                    fingerprint: e.fingerprint,
                },
            )
        };
        match selection {
            None => {
                let mut cursor = None;
                loop {
                    let (entries, next) = repo.remote_entries(id, 1000, cursor).await?;
                    known.extend(entries.into_iter().map(known_entry));
                    if next.is_none() {
                        break;
                    }
                    cursor = next;
                }
            }
            Some(ids) => {
                // Owned captures: futures borrowing from the closure trip rustc's Send check.
                let found: Vec<_> = futures::stream::iter(ids.to_vec())
                    .map(|remote_id| {
                        let (repo, id) = (repo.clone(), id.clone());
                        async move { repo.remote_entry(&id, &remote_id).await }
                    })
                    .buffer_unordered(16)
                    .collect()
                    .await;
                for entry in found {
                    known.extend(entry?.map(known_entry));
                }
            }
        }
        Ok(known)
    }

    /// Reads every page of `query`; `false` when the run stopped before the last one.
    async fn read_pages(
        &mut self,
        client: &TuneClient,
        ctx: &MapContext,
        query: OfferQuery,
        known: &mut HashMap<String, Known>,
        mut returned: Option<&mut HashSet<String>>,
    ) -> bool {
        let explicit = returned.is_some();
        let mut expected = query.start_page;
        let mut pages = std::pin::pin!(client.offer_pages(query));
        let interval = self.state.config.tune.page_interval;
        let mut last_request: Option<Instant> = None;
        loop {
            // Polling the stream sends the next request: pace it under TUNE's rate limit.
            if let Some(last) = last_request {
                tokio::time::sleep_until((last + interval).into()).await;
            }
            let started = Instant::now();
            last_request = Some(started);
            let page = match pages.next().await {
                None => return true,
                Some(Ok(page)) => page,
                Some(Err(e)) => {
                    self.page_failed(expected, &e);
                    return false;
                }
            };
            self.log.pages_fetched += 1;
            if !explicit {
                self.log.page_count = Some(page.page_count);
            }
            let number = page.page;
            let last = number >= page.page_count || page.offers.is_empty();
            if !self
                .handle_page(page, ctx, known, returned.as_deref_mut(), explicit)
                .await
            {
                self.log.stopped_at_page = Some(number + 1).filter(|_| !last);
                return false;
            }
            expected = number + 1;
            if !self.heartbeat().await {
                self.log.stopped_at_page = Some(expected).filter(|_| !last);
                return false;
            }
            if !last && self.out_of_time(started.elapsed()) {
                self.out_of_budget(expected);
                return false;
            }
        }
    }

    /// Maps and writes one page's offers, a few at a time. `false` when the store failed.
    async fn handle_page(
        &mut self,
        page: OfferPage,
        ctx: &MapContext,
        known: &mut HashMap<String, Known>,
        mut returned: Option<&mut HashSet<String>>,
        explicit: bool,
    ) -> bool {
        let number = page.page;
        for skipped in &page.skipped {
            self.log.counts.skipped += 1;
            self.log.push_error(
                Some(number),
                skipped.remote_id.as_deref(),
                "invalid_offer",
                &skipped.reason,
            );
        }
        let mut jobs = Vec::with_capacity(page.offers.len());
        for remote in &page.offers {
            self.log.counts.seen += 1;
            if let Some(returned) = returned.as_deref_mut() {
                returned.insert(remote.remote_id.clone());
            }
            let prior = known.remove(&remote.remote_id);
            jobs.push((remote.remote_id.clone(), ctx.map(remote), prior));
        }
        let outcomes: Vec<(String, Outcome)> = futures::stream::iter(jobs)
            .map(|(remote_id, mapped, prior)| {
                let (repo, integration_id) = self.owned();
                async move {
                    let outcome = apply_one(&repo, &integration_id, mapped, prior, explicit).await;
                    (remote_id, outcome)
                }
            })
            .buffer_unordered(self.state.config.tune.write_concurrency.max(1))
            .collect()
            .await;
        self.count(Some(number), outcomes)
    }

    /// Pauses imported offers TUNE no longer lists (never deletes them or their clicks), and
    /// reports selected ids TUNE did not return.
    async fn pause_vanished(
        &mut self,
        known: HashMap<String, Known>,
        selection: Option<&[String]>,
        returned: &HashSet<String>,
    ) {
        for id in selection.unwrap_or_default() {
            if !returned.contains(id) && !known.contains_key(id) {
                self.log.counts.skipped += 1;
                let message = format!(
                    "TUNE did not return offer {id}: it does not exist or is not available to this API key"
                );
                self.log.push_error(None, Some(id), "not_found", &message);
            }
        }
        let gone: Vec<(String, Known)> = known
            .into_iter()
            .filter(|(_, k)| k.fingerprint != VANISHED)
            .collect();
        let outcomes: Vec<(String, Outcome)> = futures::stream::iter(gone)
            .map(|(remote_id, known)| {
                let (repo, integration_id) = self.owned();
                async move {
                    let outcome = pause_one(&repo, &integration_id, &remote_id, &known).await;
                    (remote_id, outcome)
                }
            })
            .buffer_unordered(self.state.config.tune.write_concurrency.max(1))
            .collect()
            .await;
        self.count(None, outcomes);
    }

    /// What a concurrent write needs, owned (futures borrowing from a closure trip rustc's
    /// Send check in spawned tasks).
    fn owned(&self) -> (Repo, String) {
        (self.state.repo.clone(), self.integration.id.clone())
    }

    /// Adds outcomes to the log; `false` when the store failed.
    fn count(&mut self, page: Option<u32>, outcomes: Vec<(String, Outcome)>) -> bool {
        let mut store_ok = true;
        for (remote_id, outcome) in outcomes {
            let counts = &mut self.log.counts;
            match outcome {
                Outcome::Created => counts.created += 1,
                Outcome::Updated => counts.updated += 1,
                Outcome::Paused => counts.paused += 1,
                Outcome::Unchanged => counts.unchanged += 1,
                Outcome::NotImported => counts.not_imported += 1,
                Outcome::Quiet => {}
                Outcome::Failed(code, message) => {
                    counts.skipped += 1;
                    self.log.push_error(page, Some(&remote_id), code, &message);
                }
                Outcome::StoreDown(message) => {
                    counts.skipped += 1;
                    if store_ok {
                        self.fail(page, "store", &format!("storage failed: {message}"));
                    }
                    store_ok = false;
                }
            }
        }
        store_ok
    }

    /// Renews the lease (and saves progress) once half of it has passed; `false` if it was lost.
    async fn heartbeat(&mut self) -> bool {
        let now = Utc::now();
        let half = (self.ttl.as_secs() / 2) as i64;
        if self.lease.expires_at - now.timestamp() > half {
            return true;
        }
        self.log.heartbeat_at = now;
        match self
            .state
            .repo
            .renew_sync(&self.lease, &self.log, self.ttl)
            .await
        {
            Ok((lease, log)) => {
                self.lease = lease;
                self.log = log;
                true
            }
            Err(RepoError::Conflict) => {
                self.fail(
                    None,
                    "lease_lost",
                    "the sync lease expired and another run took over; this run stopped",
                );
                false
            }
            Err(e) => {
                self.fail(None, "store", &e.to_string());
                false
            }
        }
    }

    /// Whether another page would risk running past the deadline.
    fn out_of_time(&self, last_page: Duration) -> bool {
        self.deadline.is_some_and(|deadline| {
            let margin = (last_page * 2).max(Duration::from_secs(2));
            Instant::now() + margin >= deadline
        })
    }

    fn out_of_budget(&mut self, next_page: u32) {
        self.log.stopped_at_page = Some(next_page);
        self.log.status = SyncStatus::Partial;
        let of = self
            .log
            .page_count
            .map(|n| format!(" of {n}"))
            .unwrap_or_default();
        self.log.message = Some(format!(
            "stopped before page {next_page}{of}: time budget used up; what was read is saved and the next run continues (unchanged offers cost nothing)"
        ));
    }

    fn page_failed(&mut self, page: u32, error: &TuneError) {
        // Cut short by the deadline (the TUNE client stops there): out of time, not broken.
        let out_of_time = self
            .deadline
            .is_some_and(|d| Instant::now() + Duration::from_secs(1) >= d);
        if out_of_time && error.kind() == affnet_tune::ErrorKind::Timeout {
            return self.out_of_budget(page);
        }
        self.log.stopped_at_page = Some(page);
        let kept = self.log.pages_fetched;
        self.fail(
            Some(page),
            error.kind().as_str(),
            &format!(
                "page {page}: {error} (the offers of the {kept} page(s) read before are kept)"
            ),
        );
    }

    /// Marks the run failed with `message` (the first failure also becomes the summary).
    fn fail(&mut self, page: Option<u32>, code: &str, message: &str) {
        self.log.status = SyncStatus::Failed;
        self.log.push_error(page, None, code, message);
        if self.log.message.is_none() {
            self.log.message = Some(message.chars().take(500).collect());
        }
    }

    async fn finish(mut self) -> Result<SyncLog, RunError> {
        let now = Utc::now();
        self.log.finished_at = Some(now);
        self.log.heartbeat_at = now;
        if self.log.status == SyncStatus::Running {
            let clean = self.log.errors.is_empty() && self.log.errors_dropped == 0;
            self.log.status = if clean {
                SyncStatus::Succeeded
            } else {
                SyncStatus::Partial
            };
        }
        let summary = summary(&self.log);
        self.log.message = Some(match self.log.message.take() {
            Some(reason) => format!("{reason}. {summary}"),
            None => summary,
        });
        let (log, held) = self
            .state
            .repo
            .finish_sync(&self.lease, &self.log)
            .await
            .map_err(RunError::Store)?;
        if !held {
            tracing::warn!(integration = %log.integration_id, run = %log.id, "sync lease was lost before the run ended");
        }
        tracing::info!(integration = %log.integration_id, run = %log.id, status = ?log.status, counts = ?log.counts, "sync finished");
        Ok(log)
    }
}

fn summary(log: &SyncLog) -> String {
    let c = &log.counts;
    format!(
        "{} offer(s) read on {} page(s): {} created, {} updated, {} unchanged, {} paused, {} not imported, {} skipped",
        c.seen,
        log.pages_fetched,
        c.created,
        c.updated,
        c.unchanged,
        c.paused,
        c.not_imported,
        c.skipped
    )
}
