//! Reconciliation cases, written once and run on every store: each test file calls
//! [`recon_suite!`] with an async expression giving a fresh `Arc<dyn ItemStore>`.
//!
//! Every case gets its own mock TUNE server (its report methods serve the rows the case sets),
//! its own store wrapped in a write-counting decorator, and one TUNE integration created through
//! the API; postbacks and runs go through the real router.

pub mod classes;
pub mod events;
pub mod payouts;
pub mod rules;

use crate::support::{Reply, call};
use affnet_app::{AppState, Config, router};
use affnet_core::clickid::ClickId;
use affnet_store::ItemStore;
use affnet_store::counting::CountingStore;
use affnet_tune::Mode;
use affnet_tune::mock::{MockTune, NETWORK_ID, Reports, key_for, report_conversion, set_stat};
use axum::Router;
use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{Value, json};
use std::sync::Arc;

/// Expands to one `#[tokio::test]` per case, each on a fresh store from `$factory`.
#[macro_export]
macro_rules! recon_suite {
    ($factory:expr) => {
        $crate::recon_suite!(@cases $factory;
            classes::matched_rows_write_nothing,
            classes::missing_is_recorded_and_its_late_postback_is_a_duplicate,
            classes::status_differs_goes_through_the_status_machine,
            classes::payout_differs_tune_wins_with_history,
            classes::duplicate_at_tune_is_counted_once,
            classes::rejected_and_recreated_are_linked_and_counted_once,
            classes::only_here_is_listed_never_deleted,
            classes::bad_rows_are_listed_and_change_nothing,
            payouts::custom_payouts_are_reported_and_change_nothing,
            rules::applied_twice_changes_nothing_the_second_time,
            rules::dry_run_changes_nothing,
            rules::half_past_eleven_network_time_lands_on_the_right_utc_day,
            rules::other_currencies_are_stored_in_their_own,
            rules::long_ranges_are_split_after_a_504,
            rules::affiliate_mode_reads_affiliate_reports,
            rules::runs_never_overlap_with_a_sync,
            rules::bad_requests_change_nothing,
            rules::runs_are_listed_newest_first_with_paged_differences,
            events::changes_and_runs_are_events_with_their_source,
        );
    };
    (@cases $factory:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store: std::sync::Arc<dyn affnet_store::ItemStore> = $factory.await;
                recon_cases::$module::$case(store).await;
            }
        )*
    };
}

/// The offer the test click IDs are minted for (ours; TUNE knows it as offer 26).
pub const OFFER: &str = "01J9ZQ5ZK6F3H2M8N4P7R1S0TV";

pub struct Rc {
    pub router: Router,
    pub state: AppState,
    pub store: Arc<CountingStore>,
    pub tune: MockTune,
    pub reports: Reports,
    pub id: String,
    pub token: String,
    pub tz: chrono_tz::Tz,
}

impl Rc {
    /// A network-mode TUNE integration in `timezone` whose reports serve nothing yet.
    pub async fn new(store: Arc<dyn ItemStore>, timezone: &str) -> Rc {
        Self::with_mode(store, Mode::Network, timezone).await
    }

    pub async fn with_mode(store: Arc<dyn ItemStore>, mode: Mode, timezone: &str) -> Rc {
        let store = Arc::new(CountingStore::new(store));
        let state = AppState::new(store.clone(), Config::for_tests());
        let router = router::local(state.clone());
        let tune = MockTune::start().await;
        let reports = tune.mount_reports(mode, Vec::new()).await;
        let body = json!({
            "network": "tune", "name": "TUNE recon", "credentials": {"api_key": key_for(mode)},
            "settings": {"network_id": NETWORK_ID, "api_domain": tune.uri(), "timezone": timezone,
                         "api_mode": match mode { Mode::Network => "network", Mode::Affiliate => "affiliate" }},
            "timeout_ms": 2000,
        });
        let reply = call(&router, "POST", "/integrations", Some(body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        Rc {
            router,
            state,
            store,
            tune,
            reports,
            id: reply.json["id"].as_str().unwrap().to_string(),
            token: reply.json["postback_token"].as_str().unwrap().to_string(),
            tz: timezone.parse().unwrap(),
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        call(&self.router, method, path, body).await
    }

    /// A fresh click ID of ours (from message m1 and creative c1, whose labels are stored as
    /// a click would have stored them).
    pub async fn click(&self) -> String {
        let random: [u8; 8] = affnet_core::ids::random_hex(4)
            .into_bytes()
            .try_into()
            .unwrap();
        let labels = affnet_core::clickid::Labels::new("m1", "c1");
        let handle = affnet_app::click_labels::register(&self.state, &labels)
            .await
            .expect("labels stored");
        ClickId::mint(
            &self.state.config.click_key,
            OFFER,
            handle,
            Utc::now().timestamp() as u64,
            random,
        )
        .unwrap()
    }

    /// Now, in the network's time zone, as TUNE writes datetimes.
    pub fn now_local(&self) -> String {
        Utc::now()
            .with_timezone(&self.tz)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }

    pub fn today(&self) -> String {
        Utc::now()
            .with_timezone(&self.tz)
            .format("%Y-%m-%d")
            .to_string()
    }

    /// A TUNE row at `now_local` for transaction `txn` (and our `click`), offer 26.
    pub fn row(&self, txn: &str, click: Option<&str>) -> Value {
        let mut row = report_conversion(txn, &self.now_local());
        if let Some(click) = click {
            set_stat(&mut row, "ConversionsMobile", "affiliate_click_id", click);
        }
        row
    }

    /// The postback TUNE fires for a conversion: `payout` USD, approved unless `status`.
    pub async fn postback(
        &self,
        txn: &str,
        click: &str,
        payout: &str,
        status: Option<&str>,
    ) -> Reply {
        let status = status.map(|s| format!("&status={s}")).unwrap_or_default();
        let path = format!(
            "/postback/{}?token={}&aff_click_id={click}&transaction_id={txn}&offer_id=26&payout={payout}&currency=USD{status}",
            self.id, self.token
        );
        let reply = self.call("GET", &path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply
    }

    pub async fn reconcile(&self, body: Value) -> Reply {
        self.call(
            "POST",
            &format!("/integrations/{}/reconcile", self.id),
            Some(body),
        )
        .await
    }

    /// A run over the last two days that must answer 200; returns its record.
    pub async fn run(&self, apply: bool) -> Value {
        let reply = self.reconcile(json!({"apply": apply})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json
    }

    /// Every difference of a run, in order.
    pub async fn differences(&self, run_id: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let path = format!(
                "/integrations/{}/reconciliations/{run_id}?limit=100{cursor}",
                self.id
            );
            let reply = self.call("GET", &path, None).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            out.extend(
                reply.json["differences"]["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .cloned(),
            );
            match reply.json["differences"]["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => return out,
            }
        }
    }

    /// The integration's conversions, newest first.
    pub async fn conversions(&self) -> Vec<Value> {
        let reply = self
            .call(
                "GET",
                &format!("/conversions?integration={}&limit=100", self.id),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json["items"].as_array().unwrap().clone()
    }

    pub async fn conversion(&self, id: &str) -> Value {
        let reply = self.call("GET", &format!("/conversions/{id}"), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json
    }

    /// Items written to the ledger (conversions, their totals and click links) since the last
    /// [`CountingStore::reset`].
    pub fn ledger_writes(&self) -> u64 {
        ["CONV", "TOT", "CLICK"]
            .iter()
            .map(|k| self.store.written_of(k))
            .sum()
    }
}

/// The count of `class` in a run record.
pub fn count(run: &Value, class: &str) -> u64 {
    run["counts"][class]
        .as_u64()
        .unwrap_or_else(|| panic!("no count {class} in {run}"))
}

/// The differences of `class`.
pub fn of_class<'a>(differences: &'a [Value], class: &str) -> Vec<&'a Value> {
    differences.iter().filter(|d| d["class"] == class).collect()
}
