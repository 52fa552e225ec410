//! Benchmark: sync 100,000 offers (1,000 pages of 100) from the mock TUNE server into a fresh
//! embedded (SQLite file) store, then sync again with nothing changed.
//!
//! `cargo bench -p affnet-app --bench sync_100k` (release profile). Optional:
//! `-- OFFERS PAGE PACING_MS`: PACING_MS is the pause between pages, 0 by default (the sync's own
//! cost); `-- 100000 100 250` runs it as deployed (the default 250 ms TUNE page interval).
//!
//! The mock server runs in a child process (this binary with `--serve-mock`), so the peak
//! memory reported (VmHWM of this process) is the sync's own: runtime, client, store, and the
//! remote ids it remembers. Store writes are counted by a decorator around the store. Resident
//! memory is also shown split into anonymous (RssAnon) and mapped-file (RssFile) pages.

use affnet_app::offer_sync::{SyncRequest, run_sync};
use affnet_app::{AppState, Config};
use affnet_core::sync_log::{SyncLog, SyncTrigger};
use affnet_core::{Catalogue, Integration};
use affnet_store::counting::CountingStore;
use affnet_store::{ItemStore, SqliteStore};
use affnet_tune::Mode;
use affnet_tune::mock::{MockTune, NETWORK_ID, fixtures, key_for};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    if args.first().map(String::as_str) == Some("--serve-mock") {
        let offers = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
        runtime.block_on(serve_mock(offers));
        return;
    }
    let offers: u64 = args.first().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let page: u32 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100);
    let pacing_ms: u64 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(0);
    let mut child = Command::new(std::env::current_exe().expect("this binary"))
        .args(["--serve-mock", &offers.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the mock TUNE process");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("mock stdout"))
        .read_line(&mut line)
        .expect("the mock's address");
    let uri = line.trim().to_string();
    runtime.block_on(bench(&uri, offers, page, pacing_ms));
    let _ = child.kill();
    let _ = child.wait();
}

/// The mock TUNE server with `count` network offers (and three advertisers), until killed.
async fn serve_mock(count: u64) {
    let tune = MockTune::start().await;
    tune.mount_advertisers(&[("100", "Acme"), ("101", "Globex"), ("102", "Initech")])
        .await;
    tune.mount_offers(
        Mode::Network,
        (1..=count).map(fixtures::network_offer_row).collect(),
    )
    .await;
    println!("{}", tune.uri());
    std::future::pending::<()>().await;
}

async fn bench(uri: &str, offers: u64, page: u32, pacing_ms: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite: Arc<dyn ItemStore> =
        Arc::new(SqliteStore::open(&dir.path().join("affnet.db")).expect("sqlite file"));
    let store = Arc::new(CountingStore::new(sqlite));
    let mut config = Config::for_tests();
    config.tune = affnet_app::tune_client::TuneOptions {
        sync_page_limit: page,
        // By default the sync's own cost, without the pacing real TUNE needs (250 ms between
        // pages by default, as deployed).
        page_interval: std::time::Duration::from_millis(pacing_ms),
        ..Default::default()
    };
    let state = AppState::new(store.clone(), config);
    let body = json!({
        "network": "tune", "name": "bench", "credentials": {"api_key": key_for(Mode::Network)},
        "settings": {"network_id": NETWORK_ID, "api_domain": uri, "offer_name_prefix": "[Bench]"},
        "timeout_ms": 30000,
    });
    let now = chrono::Utc::now();
    let integration = Integration::create(
        Catalogue::embedded(),
        &body,
        affnet_core::ids::new_id(),
        affnet_core::ids::new_token(),
        now,
    )
    .expect("integration");
    let integration = state
        .repo
        .create_integration(&integration)
        .await
        .expect("stored");
    println!("syncing {offers} offers, {page} per page, {pacing_ms} ms between pages, from {uri}");
    println!("before: VmRSS {}", status("VmRSS"));

    store.reset();
    let (first, took) = sync(&state, &integration).await;
    report("first sync (empty store)", &first, took, &store);
    store.reset();
    let (second, took) = sync(&state, &integration).await;
    report("second sync (nothing changed)", &second, took, &store);
    println!("peak memory of this process (VmHWM): {}", status("VmHWM"));
}

async fn sync(state: &AppState, integration: &Integration) -> (SyncLog, std::time::Duration) {
    let started = Instant::now();
    let request = SyncRequest {
        trigger: SyncTrigger::Manual,
        offer_ids: None,
        deadline: None,
    };
    let log = run_sync(state, integration, request)
        .await
        .unwrap_or_else(|e| panic!("sync: {e:?}"));
    (log, started.elapsed())
}

fn report(what: &str, log: &SyncLog, took: std::time::Duration, store: &CountingStore) {
    let c = &log.counts;
    println!(
        "{what}: {:?} in {:.1} s ({:.0} offers/s), {} pages; seen {}, created {}, updated {}, unchanged {}, paused {}, skipped {}",
        log.status,
        took.as_secs_f64(),
        c.seen as f64 / took.as_secs_f64(),
        log.pages_fetched,
        c.seen,
        c.created,
        c.updated,
        c.unchanged,
        c.paused,
        c.skipped,
    );
    println!(
        "  store: {} write batches, items written by kind {:?}, {} reads; VmHWM so far {} (now RssAnon {}, RssFile {}); CPU time of this process so far {:.1} s",
        store.batches(),
        store.written(),
        store.reads(),
        status("VmHWM"),
        status("RssAnon"),
        status("RssFile"),
        cpu_seconds(),
    );
}

/// User + system CPU time of this process (the mock server's is not included).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the `(comm)` that may hold spaces: utime and stime are the 12th and 13th.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0 // USER_HZ is 100 on Linux
}

/// A line of /proc/self/status (`VmHWM`, `VmRSS`, `RssAnon`: heap and stacks, `RssFile`: mapped
/// files, the database's memory-mapped pages among them), e.g. "41236 kB".
fn status(key: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .map(|l| l[key.len() + 1..].trim().to_string())
        })
        .unwrap_or_else(|| "n/a".into())
}
