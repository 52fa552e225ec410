//! Connection-test and offer-sync cases, written once and run on every store: each test file
//! calls [`tune_suite!`] with an async expression giving a fresh `Arc<dyn ItemStore>`.
//!
//! Every case gets its own mock TUNE server (wiremock on 127.0.0.1), its own store wrapped in
//! a write-counting decorator, and a recording scheduler.

pub mod connection;
pub mod events;
pub mod sync;

use crate::support::{Reply, call};
use affnet_app::schedule::{Frequency, ScheduleError, SyncScheduler};
use affnet_app::{AppState, Config, router};
use affnet_store::ItemStore;
use affnet_store::counting::CountingStore;
use affnet_tune::Mode;
use affnet_tune::mock::{MockTune, fixtures, key_for};
use async_trait::async_trait;
use axum::Router;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Expands to one `#[tokio::test]` per case, each on a fresh store from `$factory`.
#[macro_export]
macro_rules! tune_suite {
    ($factory:expr) => {
        $crate::tune_suite!(@cases $factory;
            connection::success_names_account_and_counts_offers,
            connection::affiliate_mode_success,
            connection::inactive_integration_is_tested_and_says_so,
            connection::bad_network_token,
            connection::bad_affiliate_key,
            connection::wrong_network_id,
            connection::api_disabled,
            connection::ip_not_whitelisted,
            connection::timeout_after_timeout_ms,
            connection::server_errors_after_retries,
            connection::unreachable_host,
            connection::tls_failure,
            connection::dns_failure,
            connection::unusable_settings,
            connection::test_query_returns_data,
            connection::test_query_refuses_writers_before_calling,
            connection::only_tune_and_known_integrations,
            sync::maps_seed_table_and_imports_active_offers,
            sync::unchanged_resync_writes_nothing,
            sync::payout_change_is_kept_with_history,
            sync::paused_and_vanished_offers_are_paused_not_deleted,
            sync::selected_offers_only,
            sync::remote_offers_marks_imported,
            sync::failed_page_keeps_imported_and_says_where,
            sync::tune_error_text_is_logged,
            sync::proxy_pages_echoing_the_key_never_leak,
            sync::two_accounts_never_mix,
            sync::runs_never_overlap,
            sync::scheduled_runs_skip_inactive_and_deleted,
            sync::schedules_follow_integration_changes,
            sync::bad_sync_requests_change_nothing,
            sync::sync_logs_newest_first,
            sync::pages_are_paced_under_the_rate_limit,
            sync::http_sync_ends_within_its_budget_retries_included,
            events::every_finished_run_has_an_offer_sync_finished_event,
        );
    };
    (@cases $factory:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store: std::sync::Arc<dyn affnet_store::ItemStore> = $factory.await;
                tune_cases::$module::$case(store).await;
            }
        )*
    };
}

/// A scheduler that remembers what it was told.
#[derive(Default)]
pub struct RecordingScheduler {
    pub schedules: Mutex<BTreeMap<String, Frequency>>,
    pub removals: Mutex<Vec<String>>,
}

#[async_trait]
impl SyncScheduler for RecordingScheduler {
    async fn upsert(&self, id: &str, frequency: Frequency) -> Result<(), ScheduleError> {
        self.schedules.lock().unwrap().insert(id.into(), frequency);
        Ok(())
    }

    async fn remove(&self, id: &str) -> Result<(), ScheduleError> {
        self.schedules.lock().unwrap().remove(id);
        self.removals.lock().unwrap().push(id.into());
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<Frequency>, ScheduleError> {
        Ok(self.schedules.lock().unwrap().get(id).copied())
    }

    fn name(&self) -> &'static str {
        "recording"
    }
}

pub struct Harness {
    pub router: Router,
    pub state: AppState,
    pub store: Arc<CountingStore>,
    pub tune: MockTune,
    pub scheduler: Arc<RecordingScheduler>,
}

impl Harness {
    pub async fn new(store: Arc<dyn ItemStore>) -> Harness {
        Self::with_config(store, Config::for_tests()).await
    }

    pub async fn with_config(store: Arc<dyn ItemStore>, config: Config) -> Harness {
        let store = Arc::new(CountingStore::new(store));
        let scheduler = Arc::new(RecordingScheduler::default());
        let state = AppState::new(store.clone(), config).with_scheduler(scheduler.clone());
        Harness {
            router: router::local(state.clone()),
            state,
            store,
            tune: MockTune::start().await,
            scheduler,
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        call(&self.router, method, path, body).await
    }

    /// Creates a TUNE integration on this harness's mock; `settings` are merged over
    /// `network_id: demo` and the mock's URL.
    pub async fn integration(&self, mode: Mode, settings: Value) -> String {
        self.integration_on(&self.tune, mode, key_for(mode), settings)
            .await
    }

    pub async fn integration_on(
        &self,
        tune: &MockTune,
        mode: Mode,
        key: &str,
        settings: Value,
    ) -> String {
        let mut all = json!({
            "network_id": fixtures_network_id(),
            "api_domain": tune.uri(),
            "api_mode": match mode { Mode::Network => "network", Mode::Affiliate => "affiliate" },
        });
        for (k, v) in settings.as_object().cloned().unwrap_or_default() {
            all[k] = v;
        }
        let body = json!({
            "network": "tune",
            "name": "TUNE test",
            "credentials": {"api_key": key},
            "settings": all,
            "timeout_ms": 2000,
        });
        let reply = self.call("POST", "/integrations", Some(body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.json["id"].as_str().unwrap().to_string()
    }

    /// Serves `rows` as the network API's offers (and the three advertisers of the fixtures).
    pub async fn serve_network_offers(&self, rows: Vec<Value>) {
        self.tune.server().reset().await;
        self.tune
            .mount_advertisers(&[("100", "Acme"), ("101", "Globex"), ("102", "Initech")])
            .await;
        self.tune.mount_offers(Mode::Network, rows).await;
    }

    pub async fn sync(&self, id: &str, body: Option<Value>) -> Reply {
        self.call("POST", &format!("/integrations/{id}/sync"), body)
            .await
    }

    /// A sync that must succeed; returns its log.
    pub async fn sync_ok(&self, id: &str) -> Value {
        let reply = self.sync(id, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json
    }

    /// Every offer of an integration, by remote id.
    pub async fn offers(&self, id: &str) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/offers?integration_id={id}&limit=100");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", urlencode(c)));
            }
            let reply = self.call("GET", &path, None).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            for offer in reply.json["items"].as_array().unwrap() {
                out.insert(
                    offer["remote_id"].as_str().unwrap().to_string(),
                    offer.clone(),
                );
            }
            match reply.json["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }
}

pub fn fixtures_network_id() -> &'static str {
    affnet_tune::mock::NETWORK_ID
}

/// A network offer row with changes applied to its `Offer` object.
pub fn row(id: u64, changes: Value) -> Value {
    let mut offer = fixtures::network_offer(id);
    for (k, v) in changes.as_object().cloned().unwrap_or_default() {
        offer[k] = v;
    }
    json!({ "Offer": offer })
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Fails if either mock key appears in a reply.
pub fn assert_no_key(reply: &Reply) {
    for key in [key_for(Mode::Network), key_for(Mode::Affiliate)] {
        assert!(!reply.text.contains(key), "API key leaked: {}", reply.text);
    }
}

/// A TUNE key with `+`, a space, `/`, `"` and non-ASCII: the forms it is echoed in differ.
pub const ODD_KEY: &str = r#"NET+odd key/"ключ"9"#;

/// The forms a proxy or server may echo `key` in: as is, percent-encoded (upper and lower hex,
/// `%20` or `+` for a space), JSON-escaped (`\"`, `\/`, `\u0022`) and HTML-escaped.
pub fn key_forms(key: &str) -> Vec<String> {
    let hex = |upper: bool, space: &str| -> String {
        key.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
                b' ' if !space.is_empty() => space.to_string(),
                _ if upper => format!("%{b:02X}"),
                _ => format!("%{b:02x}"),
            })
            .collect()
    };
    let json = serde_json::to_string(key).unwrap();
    let json = json.trim_matches('"').to_string();
    vec![
        key.to_string(),
        hex(true, ""),
        hex(false, ""),
        hex(true, "+"),
        json.clone(),
        json.replace('/', "\\/"),
        json.replace("\\\"", "\\u0022").replace('/', "\\u002f"),
        key.replace('"', "&quot;"),
        key.replace('"', "&#34;")
            .replace('/', "&#x2f;")
            .replace('+', "&#43;"),
    ]
}

/// What a proxy in front of TUNE answers instead of JSON: an HTML page (well over 80 bytes)
/// echoing the request with the key percent-encoded, HTML-escaped and JSON-escaped, the first
/// forms within the 80 characters an error quotes, one across that cut.
pub fn proxy_page(key: &str) -> String {
    let forms = key_forms(key);
    let head = format!("<p>NetworkToken={}&amp;k={}&amp;", forms[2], forms[7]);
    let pad = "x".repeat(80usize.saturating_sub(head.chars().count() + 5));
    format!(
        "{head}{pad}&amp;k={}</p><p>echo: {}</p></html>",
        forms[1],
        forms[4..].join(" | ")
    )
}

/// Fails if any form of `key` (or a telling piece of it) is in `text`.
pub fn assert_no_form(text: &str, key: &str, what: &str) {
    for form in key_forms(key) {
        assert!(!text.contains(&form), "{what}: {form:?} leaked in {text}");
    }
    for piece in [
        "odd key",
        "odd+key",
        "odd%20key",
        "%D0%BA",
        "%d0%ba",
        "ключ",
    ] {
        assert!(!text.contains(piece), "{what}: {piece:?} leaked in {text}");
    }
}
