//! Benchmark: reconcile 100,000 TUNE conversions (7 days, pages of 1,000, each with our click ID)
//! from the mock TUNE server against an embedded (SQLite file) ledger.
//!
//! `cargo bench -p affnet-app --bench reconcile_100k` (release profile). Optional: `-- ROWS`.
//!
//! Phases: (1) the empty ledger: every conversion is missing and recorded (this fills the
//! ledger); (2) the ledger holds them all: everything matches; (3) TUNE changed: 1% more
//! conversions the ledger lacks (missing) and 1% now rejected (status differs).
//!
//! The mock runs in a child process (this binary with `--serve-mock`; a line on its stdin swaps
//! in the changed data), so the peak memory reported is the run's own. The peak (VmHWM) is reset
//! before each phase (`/proc/self/clear_refs`), so each figure is that phase's. Ledger writes are
//! the conversion, totals and click-link items written, counted by a decorator around the store.

use affnet_app::reconcile::{RunRequest, run_reconcile};
use affnet_app::{AppState, Config};
use affnet_core::clickid::{ClickId, LabelHandle, Labels};
use affnet_core::reconcile::{ReconRun, Trigger};
use affnet_core::{Catalogue, Integration};
use affnet_store::counting::CountingStore;
use affnet_store::{ItemStore, SqliteStore};
use affnet_tune::Mode;
use affnet_tune::mock::{MockTune, NETWORK_ID, key_for, report_conversion, set_stat};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

const OFFER: &str = "01J9ZQ5ZK6F3H2M8N4P7R1S0TV";

fn bench_labels() -> Labels {
    Labels::new("m", "c")
}

fn bench_handle() -> LabelHandle {
    LabelHandle::candidates(&bench_labels())
        .next()
        .expect("a handle")
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    if args.first().map(String::as_str) == Some("--serve-mock") {
        let rows = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
        runtime.block_on(serve_mock(rows));
        return;
    }
    let rows: u64 = args.first().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let mut child = Command::new(std::env::current_exe().expect("this binary"))
        .args(["--serve-mock", &rows.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the mock TUNE process");
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("mock stdout"));
    stdout.read_line(&mut line).expect("the mock's address");
    let mock = Mock {
        stdin: child.stdin.take().expect("mock stdin"),
        stdout,
    };
    runtime.block_on(bench(line.trim(), rows, mock));
    let _ = child.kill();
    let _ = child.wait();
}

/// `rows` conversions over the last 7 days (UTC), each with a click ID of ours.
fn conversions(rows: u64, changed: bool) -> Vec<Value> {
    let key = Config::for_tests().click_key;
    let handle = bench_handle();
    let now = chrono::Utc::now();
    let extra = if changed { rows / 100 } else { 0 };
    (0..rows + extra)
        .map(|i| {
            let at = now - chrono::Duration::seconds((i % (6 * 86_400)) as i64);
            let random: [u8; 8] = i.to_be_bytes();
            let click =
                ClickId::mint(&key, OFFER, handle, at.timestamp() as u64, random).expect("click");
            let mut row = report_conversion(
                &format!("102{i:027}"),
                &at.format("%Y-%m-%d %H:%M:%S").to_string(),
            );
            set_stat(&mut row, "ConversionsMobile", "affiliate_click_id", &click);
            if changed && i < rows && i % 100 == 50 {
                set_stat(&mut row, "Stat", "conversion_status", "rejected");
            }
            row
        })
        .collect()
}

/// The mock TUNE server with the rows, until killed; a line on stdin swaps in the changed rows.
async fn serve_mock(rows: u64) {
    let tune = MockTune::start().await;
    let reports = tune
        .mount_reports(Mode::Network, conversions(rows, false))
        .await;
    println!("{}", tune.uri());
    let _ = std::io::stdout().flush();
    let swap = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        reports.set_conversions(conversions(rows, true));
        println!("swapped");
    });
    let _ = swap.await;
    std::future::pending::<()>().await;
}

/// The mock process's pipes: a line in swaps its data, "swapped" comes back when done.
struct Mock {
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

async fn bench(uri: &str, rows: u64, mut mock: Mock) {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite: Arc<dyn ItemStore> =
        Arc::new(SqliteStore::open(&dir.path().join("affnet.db")).expect("sqlite file"));
    let store = Arc::new(CountingStore::new(sqlite));
    let mut config = Config::for_tests();
    config.tune = affnet_app::tune_client::TuneOptions {
        // Measure the run, not the pacing real TUNE needs (250 ms between pages by default).
        page_interval: std::time::Duration::ZERO,
        ..Default::default()
    };
    let state = AppState::new(store.clone(), config);
    // The labels item the first click of the bench's click IDs would have written.
    state
        .repo
        .create_labels(bench_handle(), &bench_labels())
        .await
        .expect("labels stored");
    let body = json!({
        "network": "tune", "name": "bench", "credentials": {"api_key": key_for(Mode::Network)},
        "settings": {"network_id": NETWORK_ID, "api_domain": uri, "timezone": "UTC"},
        "timeout_ms": 30000,
    });
    let integration = Integration::create(
        Catalogue::embedded(),
        &body,
        affnet_core::ids::new_id(),
        affnet_core::ids::new_token(),
        chrono::Utc::now(),
    )
    .expect("integration");
    let integration = state
        .repo
        .create_integration(&integration)
        .await
        .expect("stored");
    println!("reconciling {rows} TUNE conversions (7 days, pages of 1000) from {uri}");

    phase(
        "1. empty ledger (all missing, recorded)",
        &state,
        &integration,
        &store,
    )
    .await;
    phase(
        "2. ledger holds them all (all match)",
        &state,
        &integration,
        &store,
    )
    .await;
    writeln!(mock.stdin, "swap").expect("tell the mock");
    let mut done = String::new();
    mock.stdout
        .read_line(&mut done)
        .expect("the mock swapped its data");
    phase(
        "3. TUNE changed (1% missing, 1% rejected)",
        &state,
        &integration,
        &store,
    )
    .await;
}

async fn phase(what: &str, state: &AppState, integration: &Integration, store: &CountingStore) {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    store.reset();
    let started = Instant::now();
    let request = RunRequest {
        trigger: Trigger::Manual,
        range: None,
        days: 7,
        apply: true,
        deadline: None,
    };
    let run: ReconRun = run_reconcile(state, integration, request)
        .await
        .unwrap_or_else(|e| panic!("run: {e:?}"));
    let took = started.elapsed();
    let ledger: u64 = ["CONV", "TOT", "CLICK"]
        .iter()
        .map(|k| store.written_of(k))
        .sum();
    println!(
        "{what}: {:?} in {:.1} s ({:.0} rows/s); {} rows, {} pages, {} requests; counts {:?}; changed {:?}; {} stats rows differ",
        run.status,
        took.as_secs_f64(),
        run.rows as f64 / took.as_secs_f64(),
        run.rows,
        run.pages,
        run.requests,
        run.counts,
        run.changed,
        run.stats_differences,
    );
    println!(
        "  ledger items written {ledger} (conversions {}), all items written by kind {:?}, {} write batches, {} reads; peak RSS of the phase (VmHWM) {}, now RssAnon {}, RssFile {}",
        store.written_of("CONV"),
        store.written(),
        store.batches(),
        store.reads(),
        status("VmHWM"),
        status("RssAnon"),
        status("RssFile"),
    );
}

/// A line of /proc/self/status, e.g. "41236 kB".
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
