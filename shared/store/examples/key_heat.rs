//! Key heat under load, in simulated time: which item, table partition and index partition
//! takes the most writes in one second, and how often a batch writes an item that another batch
//! still in flight writes too (a `TransactionConflict` on DynamoDB).
//!
//! ```sh
//! cargo run -p affnet-store --example key_heat -- [--seconds 60] [--clicks 10000] \
//!     [--postbacks 2000] [--offers 1000] [--top-share 0.2] [--window-ms 10] [--seed 1] \
//!     [--fold-ms 250] [--inline-counters]
//! ```
//!
//! As on DynamoDB, the shared counters are deferred to the counter ledger
//! ([`affnet_store::ledger`]) and each ledger partition is folded every `--fold-ms` (the table's
//! stream hands a shard's records to one invocation at a time; partitions are staggered over
//! the period), each fold's transactions one after another (`--window-ms` apart).
//! `--inline-counters` measures the counters written in the click's and conversion's own
//! transactions instead (the layout before the ledger).
//!
//! The generator calls the repository methods the click and postback handlers call
//! (`record_click`, `create_conversion`, `change_conversion`, with the postback's log entry), so
//! its batches are theirs, key for key. The store under the recorder ([`affnet_store::heat`])
//! accepts every write and keeps nothing: only the keys are measured. Offer popularity: the top
//! offer takes `--top-share` of the traffic, the rest follows 1/rank. Half the clicks carry a
//! message (one of 5), half a creative (one of 3). Postbacks: 70% a new conversion on a recent
//! click, 10% a new unmatched one (no click), 20% a pending conversion approved.

use affnet_core::clickid::{
    ClaimedLabels, ClickClaims, ClickId, ClickKey, LabelHandle, Labels, VERSION,
};
use affnet_core::conversion::Applied;
use affnet_core::postback::{ClickCheck, Decision, IdentitySource, StatusSource};
use affnet_core::status::Status;
use affnet_core::{Click, Conversion, PostbackLog};
use affnet_store::conversions::ConversionWrite;
use affnet_store::heat::{HeatRecorder, SimClock};
use affnet_store::ledger::{CounterLedger, PARTITIONS};
use affnet_store::{Item, ItemStore, Key, Page, Query, Repo, StoreError, Write};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use ulid::Ulid;

/// Accepts every write and keeps only the ledger's entries (what a fold reads), each visible
/// once the batch that wrote it has committed (`window` after its start): a fold reads only
/// committed entries, so it never meets their transaction.
struct LedgerOnly {
    entries: Mutex<BTreeMap<Key, (u64, Item)>>,
    clock: Arc<SimClock>,
    window: u64,
}

#[async_trait]
impl ItemStore for LedgerOnly {
    async fn get(&self, _: &Key) -> Result<Option<Item>, StoreError> {
        Ok(None)
    }
    async fn query(&self, q: &Query) -> Result<Page, StoreError> {
        let entries = self.entries.lock().expect("entries");
        let from = Key::new(q.pk.clone(), q.cursor.clone().unwrap_or_default());
        let committed = self.clock.micros().saturating_sub(self.window);
        let items: Vec<Item> = entries
            .range(from..)
            .take_while(|(k, _)| k.pk == q.pk)
            .filter(|(k, _)| q.cursor.as_ref() != Some(&k.sk))
            .filter(|(k, _)| q.sk_to.as_ref().is_none_or(|to| &k.sk <= to))
            .filter(|(_, (written, _))| *written <= committed)
            .take(q.limit)
            .map(|(_, (_, item))| item.clone())
            .collect();
        let next = (items.len() == q.limit).then(|| items[items.len() - 1].key.sk.clone());
        Ok(Page { items, next })
    }
    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        affnet_store::port::check_batch(&writes)?;
        let mut entries = self.entries.lock().expect("entries");
        for write in writes {
            match write {
                Write::Put { item, .. } if item.key.pk.starts_with("LEDGER#") => {
                    entries.insert(item.key.clone(), (self.clock.micros(), item));
                }
                Write::Delete { key, .. } => {
                    entries.remove(&key);
                }
                _ => {}
            }
        }
        Ok(())
    }
    fn name(&self) -> &'static str {
        "ledger-only"
    }
}

/// The recorder as a fold sees it: its transactions one after another, each `window` later.
struct Sequential {
    inner: Arc<dyn ItemStore>,
    clock: Arc<SimClock>,
    window: u64,
}

#[async_trait]
impl ItemStore for Sequential {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn query(&self, q: &Query) -> Result<Page, StoreError> {
        self.inner.query(q).await
    }
    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let result = self.inner.write(writes).await;
        self.clock.set(self.clock.micros() + self.window);
        result
    }
    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

struct Args {
    seconds: u64,
    clicks: u64,
    postbacks: u64,
    offers: usize,
    top_share: f64,
    window_ms: f64,
    seed: u64,
    fold_ms: u64,
    inline_counters: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        seconds: 60,
        clicks: 10_000,
        postbacks: 2_000,
        offers: 1_000,
        top_share: 0.2,
        window_ms: 10.0,
        seed: 1,
        fold_ms: 250,
        inline_counters: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--inline-counters" {
            a.inline_counters = true;
            continue;
        }
        let value = args.next().unwrap_or_default();
        let bad = || -> ! {
            eprintln!("bad value {value:?} for {flag}");
            std::process::exit(2)
        };
        match flag.as_str() {
            "--seconds" => a.seconds = value.parse().unwrap_or_else(|_| bad()),
            "--clicks" => a.clicks = value.parse().unwrap_or_else(|_| bad()),
            "--postbacks" => a.postbacks = value.parse().unwrap_or_else(|_| bad()),
            "--offers" => a.offers = value.parse().unwrap_or_else(|_| bad()),
            "--top-share" => a.top_share = value.parse().unwrap_or_else(|_| bad()),
            "--window-ms" => a.window_ms = value.parse().unwrap_or_else(|_| bad()),
            "--seed" => a.seed = value.parse().unwrap_or_else(|_| bad()),
            "--fold-ms" => a.fold_ms = value.parse().unwrap_or_else(|_| bad()),
            _ => bad(),
        }
    }
    a
}

/// splitmix64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Cumulative popularity: the top offer `top`, the others 1/rank of the rest.
fn popularity(offers: usize, top: f64) -> Vec<f64> {
    let tail: f64 = (2..=offers).map(|r| 1.0 / r as f64).sum();
    let mut acc = 0.0;
    (1..=offers)
        .map(|r| {
            acc += match r {
                1 => top,
                _ => (1.0 - top) / r as f64 / tail,
            };
            acc
        })
        .collect()
}

struct World {
    repo: Repo,
    clock: Arc<SimClock>,
    key: ClickKey,
    offers: Vec<String>,
    cumulative: Vec<f64>,
    rng: Rng,
    /// Recent clicks (a ring), for conversions to point at.
    recent: Vec<(String, ClickClaims)>,
    pending: Vec<Conversion>,
    made: u64,
}

const INTEGRATIONS: usize = 10;
const RECENT: usize = 100_000;
const CLICK_TTL: i64 = 30 * 86_400;

impl World {
    fn time(micros: u64) -> DateTime<Utc> {
        // 2026-11-30T00:00:00Z plus the simulated time.
        DateTime::from_timestamp_micros(1_795_996_800_000_000 + micros as i64).expect("time")
    }

    async fn click(&mut self, at: u64) {
        let u = self.rng.unit();
        let offer = self.cumulative.partition_point(|c| *c < u);
        let offer = &self.offers[offer.min(self.offers.len() - 1)];
        let message = ["", "m1", "m2", "m3", "m4", "m5"][match self.rng.below(2) {
            0 => 0,
            _ => 1 + self.rng.below(5),
        }];
        let creative = ["", "c1", "c2", "c3"][match self.rng.below(2) {
            0 => 0,
            _ => 1 + self.rng.below(3),
        }];
        let time = Self::time(at);
        let random = self.rng.next().to_be_bytes();
        let secs = time.timestamp() as u64;
        // The pair's labels item is written once per pair, not per click: left out here.
        let labels = Labels::new(message, creative);
        let handle = LabelHandle::candidates(&labels).next().expect("handle");
        let id = ClickId::mint(&self.key, offer, handle, secs, random).expect("mint");
        let nonempty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        let click = Click {
            id: id.clone(),
            offer_id: offer.clone(),
            integration_id: format!("INT{}", self.made as usize % INTEGRATIONS),
            message_id: nonempty(message),
            creative_id: nonempty(creative),
            subs: BTreeMap::new(),
            time,
            ip: Some("203.0.113.7".into()),
            user_agent: Some("bench".into()),
            expires_at: time.timestamp() + CLICK_TTL,
        };
        self.repo.record_click(&click).await.expect("click");
        let claims = ClickClaims {
            version: VERSION,
            offer_id: Ulid::from_string(offer).expect("ulid"),
            time: secs,
            random,
            labels: ClaimedLabels::Known(labels),
        };
        match self.recent.len() < RECENT {
            true => self.recent.push((id, claims)),
            false => {
                let slot = self.rng.below(RECENT);
                self.recent[slot] = (id, claims);
            }
        }
    }

    fn decision(&mut self, status: Status, click: Option<(String, ClickClaims)>) -> Decision {
        self.made += 1;
        let eid = format!("E{}", self.made);
        let (click_id, check) = match click {
            Some((id, claims)) => (Some(id), ClickCheck::Verified(claims)),
            None => (None, ClickCheck::Absent),
        };
        Decision {
            identity: format!("bench|{eid}"),
            identity_source: IdentitySource::Transaction,
            click_id,
            click: check,
            status,
            status_source: StatusSource::NetworkMap,
            raw_status: status.as_str().into(),
            payout: Some(Decimal::TEN),
            currency: Some("USD"),
            sale_amount: None,
            reason: None,
            duplicate: false,
            comment: None,
            transaction_id: Some(eid),
            goal_id: None,
            remote_offer_id: None,
            test: false,
            unsubstituted: Vec::new(),
        }
    }

    fn log(&self, integration: &str, now: DateTime<Utc>, outcome: &str) -> PostbackLog {
        PostbackLog {
            id: Ulid::from_parts(now.timestamp_millis() as u64, u128::from(self.made)).to_string(),
            integration_id: integration.into(),
            time: now,
            method: "GET".into(),
            route: format!("/postback/{integration}"),
            query: "token=***&status=pending".into(),
            body: None,
            remote_ip: None,
            outcome: outcome.into(),
            http_status: 200,
            conversion_id: None,
            message: None,
        }
    }

    async fn postback(&mut self, at: u64) {
        let now = Self::time(at);
        let roll = self.rng.below(10);
        if roll >= 8 && !self.pending.is_empty() {
            let current = self.pending.swap_remove(self.rng.below(self.pending.len()));
            let decision = self.decision(Status::Approved, None);
            let Applied::Changed(next, _) = current.apply(&decision, Some("USD"), now) else {
                panic!("pending to approved is a change")
            };
            let log = self.log(&current.integration_id, now, "changed");
            self.repo
                .change_conversion(&current, &next, with(&log))
                .await
                .expect("change");
            return;
        }
        let click = match roll {
            7 => None,
            _ => Some(self.recent[self.rng.below(self.recent.len())].clone()),
        };
        let decision = self.decision(Status::Pending, click);
        let integration = format!("INT{}", self.made as usize % INTEGRATIONS);
        let created = Conversion::create(&integration, "everad", &decision, Some("USD"), now);
        let log = self.log(&integration, now, "created");
        let stored = self
            .repo
            .create_conversion(&created, with(&log))
            .await
            .expect("create");
        self.pending.push(stored);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Arrival {
    Click,
    Postback,
    Fold(u32),
}

fn with(log: &PostbackLog) -> ConversionWrite<'_> {
    ConversionWrite {
        sync: true,
        along: &[],
        postback_log: Some((log, log.time.timestamp() + 30 * 86_400)),
        click_ttl_secs: CLICK_TTL,
        names: Default::default(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = parse_args();
    let clock = Arc::new(SimClock::default());
    let window = (args.window_ms * 1000.0) as u64;
    let kept = Arc::new(LedgerOnly {
        entries: Mutex::default(),
        clock: clock.clone(),
        window,
    });
    let recorder = Arc::new(HeatRecorder::new(kept, clock.clone(), window));
    let repo = match args.inline_counters {
        true => Repo::new(recorder.clone()),
        false => Repo::new(CounterLedger::around(recorder.clone())),
    };
    let folder = CounterLedger::around(Arc::new(Sequential {
        inner: recorder.clone(),
        clock: clock.clone(),
        window,
    }));
    let mut rng = Rng(args.seed);
    let offers = (0..args.offers)
        .map(|i| Ulid::from_parts(1_795_000_000_000 + i as u64, u128::from(rng.next())).to_string())
        .collect();
    let mut world = World {
        repo,
        clock,
        key: ClickKey::new(&[7u8; 32]).expect("key"),
        offers,
        cumulative: popularity(args.offers, args.top_share),
        rng,
        recent: Vec::new(),
        pending: Vec::new(),
        made: 0,
    };
    let started = std::time::Instant::now();
    for second in 0..args.seconds {
        // Arrival times inside the second, uniformly random; clicks first in a tie; each
        // partition's folds every fold period, the partitions staggered over it.
        let base = second * 1_000_000;
        let mut events: Vec<(u64, Arrival)> = Vec::new();
        for n in 0..args.clicks + args.postbacks {
            let kind = match n < args.clicks {
                true => Arrival::Click,
                false => Arrival::Postback,
            };
            events.push((base + world.rng.next() % 1_000_000, kind));
        }
        let period = args.fold_ms.max(1) * 1_000;
        if !args.inline_counters {
            for p in 0..PARTITIONS {
                let mut at = base + u64::from(p) * period / u64::from(PARTITIONS);
                while at < base + 1_000_000 {
                    events.push((at, Arrival::Fold(p)));
                    at += period;
                }
            }
        }
        events.sort_unstable_by_key(|(t, kind)| (*t, *kind));
        for (at, kind) in events {
            world.clock.set(at);
            match kind {
                Arrival::Fold(p) => {
                    folder.fold(p).await.expect("fold");
                }
                Arrival::Click => world.click(at).await,
                Arrival::Postback if world.recent.is_empty() => world.click(at).await,
                Arrival::Postback => world.postback(at).await,
            }
        }
    }
    print_report(&args, &recorder, started.elapsed());
}

fn print_report(args: &Args, recorder: &HeatRecorder, took: std::time::Duration) {
    let r = recorder.report(5);
    let pct = |n: u64, of: u64| 100.0 * n as f64 / of.max(1) as f64;
    let counters = match args.inline_counters {
        true => "counters inline".to_string(),
        false => format!("counters via the ledger, folded every {} ms", args.fold_ms),
    };
    println!("{counters}");
    println!(
        "load: {} s simulated, {} clicks/s, {} postbacks/s, {} offers (top {:.0}%), window {} ms ({:.1} s to run)",
        args.seconds,
        args.clicks,
        args.postbacks,
        args.offers,
        args.top_share * 100.0,
        args.window_ms,
        took.as_secs_f64()
    );
    println!("batches: {}, item writes: {}", r.batches, r.item_writes);
    println!("hottest items (writes in their busiest second):");
    for p in &r.hottest_items {
        println!("  {:>6}/s  {}  (second {})", p.writes, p.key, p.second);
    }
    let part = |name: &str, p: &affnet_store::heat::Peak| {
        println!(
            "hottest {name}: {}/s  {}  (second {})",
            p.writes, p.key, p.second
        )
    };
    part("table partition", &r.hottest_partition);
    part("index partition", &r.hottest_index_partition);
    println!(
        "batches overlapping an in-flight batch on an item: {} ({:.3}%)",
        r.overlapped_batches,
        pct(r.overlapped_batches, r.batches)
    );
    println!(
        "item writes overlapping: {} ({:.3}%)",
        r.overlapped_item_writes,
        pct(r.overlapped_item_writes, r.item_writes)
    );
    let kinds: Vec<String> = r
        .overlapped_by_kind
        .iter()
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect();
    println!("overlapping item writes by kind: {}", kinds.join(", "));
    if let Some((key, writes, overlapped)) = &r.worst_item_overlap {
        println!(
            "worst item: {key}: {overlapped} of {writes} writes overlapped ({:.3}%)",
            pct(*overlapped, *writes)
        );
    }
}
