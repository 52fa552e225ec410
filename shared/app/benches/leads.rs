//! Benchmarks of leads (`cargo bench -p affnet-app --bench leads -- post|status [N]`):
//!
//! - `post`: `POST /leads` through the local server's router over an SQLite file store, against
//!   a mock WebVork that answers at once; each lead's latency is compared with a bare call to
//!   the same mock (the network's share), and the difference is what affnet adds.
//! - `status`: one status-loading run over N (default 10,000) open leads: its time, the peak
//!   resident memory during the run (VmHWM reset before it), and the requests sent.
//!
//! With the local server's allocator (mimalloc), as the server it stands in for.

use affnet_app::{AppState, Config, router};
use affnet_core::clickid::{ClickId, LabelHandle};
use affnet_store::{ItemStore, SqliteStore};
use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tower::ServiceExt;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate, matchers::path};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Answers `get-lead-status` with `confirmed` for every guid asked.
struct Confirm(Arc<AtomicU64>);

impl Respond for Confirm {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        self.0.fetch_add(1, Ordering::Relaxed);
        let items: Vec<Value> = request
            .url
            .query_pairs()
            .filter(|(k, _)| k == "guids[]")
            .map(|(_, g)| json!({"guid": g, "status": "confirmed", "money": 9, "currency": "EUR"}))
            .collect();
        ResponseTemplate::new(200).set_body_json(items)
    }
}

/// Answers `new-lead` with a fresh guid.
struct NewLead(Arc<AtomicU64>);

impl Respond for NewLead {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        ResponseTemplate::new(200).set_body_string(format!(r#"{{"status":"ok","guid":"G-{n}"}}"#))
    }
}

async fn call(app: &axum::Router, method: &str, uri: &str, body: Value) -> (u16, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

struct Setup {
    app: axum::Router,
    state: AppState,
    mock: MockServer,
    integration: String,
    offer: String,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ItemStore> =
        Arc::new(SqliteStore::open(&dir.path().join("bench.db")).unwrap());
    let state = AppState::new(store, Config::for_tests());
    let app = router::local(state.clone());
    let mock = MockServer::start().await;
    Mock::given(path("/v1/new-lead"))
        .respond_with(NewLead(Arc::default()))
        .mount(&mock)
        .await;
    let (_, integration) = call(
        &app,
        "POST",
        "/integrations",
        json!({"network": "webvork", "name": "W",
        "credentials": {"api_key": "k"}, "settings": {"api_url": mock.uri()}}),
    )
    .await;
    let integration = integration["id"].as_str().unwrap().to_string();
    let (_, offer) = call(&app, "POST", "/offers", json!({"integration_id": integration, "name": "O",
        "payout": "9", "currency": "EUR", "tracking_url": "https://l.example/?c={click_id}", "params": {"webvork": "1"}})).await;
    let offer = offer["id"].as_str().unwrap().to_string();
    Setup {
        app,
        state,
        mock,
        integration,
        offer,
        dir,
    }
}

fn click(state: &AppState, offer: &str, n: u64) -> String {
    ClickId::mint(
        &state.config.click_key,
        offer,
        LabelHandle::NONE,
        chrono::Utc::now().timestamp() as u64,
        n.to_be_bytes(),
    )
    .unwrap()
}

async fn post_lead(s: &Setup, n: u64) -> Duration {
    let body = json!({"click_id": click(&s.state, &s.offer, n), "name": "Bench Mark", "phone": "+48601234567", "country": "PL"});
    let started = Instant::now();
    let (status, reply) = call(&s.app, "POST", "/leads", body).await;
    let took = started.elapsed();
    assert_eq!(status, 201, "{reply}");
    took
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// The disk's share: p50 and p99 of 200 `fdatasync`s of a 4 KiB append in `dir` (each
/// acknowledged lead waits for one, the WAL's), printed beside the figures they explain.
fn disk_sync(dir: &std::path::Path) -> (Duration, Duration) {
    use std::io::Write;
    let mut file = std::fs::File::create(dir.join("fsync-probe")).unwrap();
    let mut took: Vec<Duration> = (0..200)
        .map(|_| {
            file.write_all(&[7u8; 4096]).unwrap();
            let started = Instant::now();
            file.sync_data().unwrap();
            started.elapsed()
        })
        .collect();
    took.sort();
    (percentile(&took, 0.50), percentile(&took, 0.99))
}

async fn bench_post(n: u64) {
    let s = setup().await;
    let (sync_p50, sync_p99) = disk_sync(s.dir.path());
    let client = affnet_netguard::tls::client_builder().build().unwrap();
    let bare = format!("{}/v1/new-lead?token=k", s.mock.uri());
    for i in 0..100 {
        post_lead(&s, 1_000_000 + i).await;
        client
            .get(&bare)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    let (mut leads, mut network) = (Vec::new(), Vec::new());
    for i in 0..n {
        leads.push(post_lead(&s, i).await);
        let started = Instant::now();
        client
            .get(&bare)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        network.push(started.elapsed());
    }
    leads.sort();
    network.sort();
    println!("POST /leads x{n} (sequential, SQLite file store, mock network answering at once)");
    println!(
        "  the disk: fdatasync of 4 KiB p50 {}  p99 {}",
        ms(sync_p50),
        ms(sync_p99)
    );
    for (name, p) in [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)] {
        let (l, b) = (percentile(&leads, p), percentile(&network, p));
        println!(
            "  {name}: POST /leads {}  bare network call {}  added {}",
            ms(l),
            ms(b),
            ms(l.saturating_sub(b))
        );
    }
}

async fn bench_status(n: u64) {
    let s = setup().await;
    let requests = Arc::new(AtomicU64::new(0));
    Mock::given(path("/v1/get-lead-status"))
        .respond_with(Confirm(requests.clone()))
        .mount(&s.mock)
        .await;
    let seeding = Instant::now();
    for i in 0..n {
        post_lead(&s, i).await;
    }
    println!(
        "seeded {n} sent leads in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = hwm_kib();
    let started = Instant::now();
    let (status, run) = call(
        &s.app,
        "POST",
        &format!("/integrations/{}/status-sync", s.integration),
        json!({}),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{run}");
    println!(
        "status run over {} open leads: {:.2} s, {} requests to the network, {} changed, {} errors; peak RSS {} MiB (VmHWM reset before the run; {} MiB before)",
        run["leads_asked"],
        took.as_secs_f64(),
        requests.load(Ordering::Relaxed),
        run["changed"],
        run["errors"].as_array().map_or(0, Vec::len),
        hwm_kib() / 1024,
        before / 1024
    );
}

fn hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let n = |default| args.get(1).and_then(|v| v.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("status") => runtime.block_on(bench_status(n(10_000))),
        _ => runtime.block_on(bench_post(n(2_000))),
    }
}
